"""Serializer fields shared by every API serializer.

- ``LabelledChoiceField``: a choice is written as its value and read as ``{"value": ..., "label": "中文"}``.
- ``BriefRelatedField`` / ``BriefSlugRelatedField``: a related object is written as its id (or code) and read as a
  small object (``{"id": 3, "name": "第一中学"}``), so clients need no second request to show a name.

Their OpenAPI shapes (different for requests and responses) are declared in ``houqin.core.api.schema``.
"""

from __future__ import annotations

from rest_framework import serializers

from houqin.core.api import schema as _schema  # noqa: F401  (registers the OpenAPI extensions of these fields)


class LabelledChoiceField(serializers.ChoiceField):
    def to_representation(self, value):
        if value in ("", None):
            return None
        value = super().to_representation(value)
        return {"value": value, "label": str(self.choices.get(value, value))}

    def to_internal_value(self, data):
        # Accept what a GET returned, so a client can send an object back unchanged.
        if isinstance(data, dict) and "value" in data:
            data = data["value"]
        return super().to_internal_value(data)


class BriefMixin:
    """Reads as ``brief_serializer(obj).data`` instead of the bare key."""

    brief_serializer: type[serializers.Serializer] | None = None

    def __init__(self, *args, brief_serializer=None, **kwargs):
        if brief_serializer is not None:
            self.brief_serializer = brief_serializer
        assert self.brief_serializer is not None, f"{type(self).__name__} needs a brief_serializer"
        super().__init__(*args, **kwargs)

    def use_pk_only_optimization(self):
        return False

    def to_representation(self, value):
        return self.brief_serializer(value, context=self.context).data

    def to_internal_value(self, data):
        if isinstance(data, dict):  # what a GET returned
            data = data.get(getattr(self, "slug_field", "id"), data)
        return super().to_internal_value(data)

    def get_choices(self, cutoff=None):
        # The browsable API keys its <select> by the written form (id or code), not by the read object.
        queryset = self.get_queryset()
        if queryset is None:
            return {}
        if cutoff is not None:
            queryset = queryset[:cutoff]
        key = getattr(self, "slug_field", "pk")
        return {getattr(item, key): self.display_value(item) for item in queryset}


class BriefRelatedField(BriefMixin, serializers.PrimaryKeyRelatedField):
    pass


class BriefSlugRelatedField(BriefMixin, serializers.SlugRelatedField):
    pass
