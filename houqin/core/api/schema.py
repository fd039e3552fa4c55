"""OpenAPI (drf-spectacular) descriptions of the API's own serializer fields.

Requests and responses differ for these fields (a choice is sent as its value and returned with its label; a
related object is sent as its id and returned as a small object), so each extension answers per direction.
Choice sets become named components ``<Model><Field>Enum`` so that two models' ``kind`` fields never collide.
"""

from __future__ import annotations

import inspect

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent, build_choice_field

SUMMARIES = {
    "list": "{name}列表",
    "retrieve": "{name}详情",
    "create": "新增{name}",
    "update": "修改{name}",
    "partial_update": "修改{name}（部分字段）",
    "destroy": "删除{name}",
}


def _own_doc(obj) -> str:
    """The docstring written on ``obj`` itself: a viewset or serializer does not show its base class's notes."""
    doc = obj.__dict__.get("__doc__") if inspect.isclass(obj) else getattr(obj, "__doc__", None)
    return inspect.cleandoc(doc) if doc else ""


class TenantAutoSchema(AutoSchema):
    """Groups operations by model (tag "基础平台 · 房间") and names the standard actions in Chinese.

    Descriptions come only from docstrings written on the viewset, action or serializer itself.
    """

    def get_description(self):
        action = getattr(self.view, getattr(self.view, "action", None) or self.method.lower(), None)
        return _own_doc(action) if action is not None and _own_doc(action) else _own_doc(type(self.view))

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        schema.pop("description", None)
        if doc := _own_doc(type(serializer)):
            schema["description"] = doc
        return schema

    def _model(self):
        return getattr(getattr(self.view, "queryset", None), "model", None)

    def get_tags(self):
        model = self._model()
        if model is None:
            return super().get_tags()
        return [f"{model._meta.app_config.verbose_name} · {model._meta.verbose_name}"]

    def get_summary(self):
        model = self._model()
        template = SUMMARIES.get(getattr(self.view, "action", None) or "")
        if model is None or template is None:
            return super().get_summary()
        return template.format(name=model._meta.verbose_name)


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def _enum_component_name(field) -> str:
    parent = field.parent
    while parent is not None and not hasattr(getattr(parent, "Meta", None), "model"):
        parent = getattr(parent, "parent", None)
    owner = parent.Meta.model.__name__ if parent is not None else _camel(type(field.root).__name__)
    return f"{owner}{_camel(field.source or field.field_name)}Enum"


class LabelledChoiceFieldExtension(OpenApiSerializerFieldExtension):
    target_class = "houqin.core.api.fields.LabelledChoiceField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        field = self.target
        enum = build_choice_field(field)
        enum.pop("x-spec-enum-id", None)
        enum["description"] = "\n".join(f"* `{value}` - {label}" for value, label in field.choices.items())
        name = _enum_component_name(field)
        component = ResolvedComponent(name=name, type=ResolvedComponent.SCHEMA, object=name, schema=enum)
        auto_schema.registry.register_on_missing(component)
        if direction == "request":
            return component.ref
        return {
            "type": "object",
            "properties": {"value": component.ref, "label": {"type": "string", "description": "显示名称"}},
            "required": ["value", "label"],
        }


class BriefRelatedFieldExtension(OpenApiSerializerFieldExtension):
    target_class = "houqin.core.api.fields.BriefMixin"
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        if direction == "request":
            return auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        return auto_schema.resolve_serializer(self.target.brief_serializer, direction).ref
