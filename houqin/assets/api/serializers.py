"""API serializers of the assets app."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail

from houqin.assets import services
from houqin.assets.forms import category_choices, room_choices, staff_choices
from houqin.assets.models import Asset, AssetCategory, AssetEvent
from houqin.core.api.serializers import AUDIT_FIELDS, OrgField, TenantSerializer

# Facts of the registration: written when a card is created, changed afterwards only by commands.
REGISTRATION_FIELDS = ("category", "quantity", "unit_price", "is_batch", "acquired_on", "acquisition_method",
                       "useful_life_years", "structure", "room", "department", "custodian")
# Never written by clients.
SYSTEM_FIELDS = ("number", "status", "asset_class", "original_value", "registered_on", "disposed_on")


class AssetCategorySerializer(TenantSerializer):
    """A class of GB/T 14885 (``org`` empty: national, shared by every school) or a school's own sub-class."""

    org = OrgField(read_only=True, allow_null=True)

    class Meta:
        model = AssetCategory
        fields = ["id", "org", "display", "edition", "code", "name", "parent", "level", "path", "is_standard",
                  "is_depreciable", "default_life_years", "min_life_years", "value_class", "default_batch", "basis",
                  "is_active", *AUDIT_FIELDS]
        read_only_fields = fields


def _plain(value):
    """A value in one comparable form: an object read from the API becomes its id or value, numbers compare as
    numbers ("1234.5" = "1234.50"), yes/no as lower-case words."""
    if isinstance(value, dict):
        value = value.get("value", value.get("id"))
    if value in ("", None):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value).strip()
    if text.lower() in ("true", "false"):
        return text.lower()
    try:
        return str(Decimal(text).normalize())
    except (InvalidOperation, ValueError):
        return text


class AssetSerializer(TenantSerializer):
    """An asset card. ``POST`` registers it (number, classification and history are the system's); ``PUT``/``PATCH``
    change its descriptive fields only. Its status, place, department, custodian and value change through commands:
    sending a different value for one of them is refused (``400``, code ``read_only``)."""

    net_value = serializers.DecimalField(max_digits=16, decimal_places=2, read_only=True, label="净值（元）")
    accumulated_depreciation = serializers.DecimalField(max_digits=16, decimal_places=2, read_only=True,
                                                        label="累计折旧（元）")

    class Meta:
        model = Asset
        fields = ["id", "org", "display", "number", "category", "name", "brand", "model", "serial_no", "unit",
                  "quantity", "unit_price", "original_value", "net_value", "accumulated_depreciation", "area_m2",
                  "acquired_on", "acquisition_method", "funding_source", "supplier", "invoice_no", "voucher_no",
                  "warranty_until", "room", "department", "custodian", "status", "asset_class", "is_batch",
                  "useful_life_years", "structure", "attributes", "note", "registered_on", "disposed_on",
                  *AUDIT_FIELDS]
        read_only_fields = list(SYSTEM_FIELDS)

    def narrow_queryset(self, name, queryset, user, org_id):
        org = self.context.get("org") or (self.instance.org if isinstance(self.instance, Asset) else None)
        if name == "category":
            return category_choices(user, org)
        if name == "custodian":
            return staff_choices(org)
        if name == "room":
            return room_choices(user, org)
        return super().narrow_queryset(name, queryset, user, org_id)

    def get_fields(self):
        fields = super().get_fields()
        if isinstance(self.instance, Asset):
            for name in REGISTRATION_FIELDS:
                fields[name].read_only = True
        return fields

    def to_internal_value(self, data):
        if isinstance(self.instance, Asset) and hasattr(data, "get"):
            current = self.to_representation(self.instance)
            errors = {}
            for name in (*REGISTRATION_FIELDS, *SYSTEM_FIELDS):
                if name in data and _plain(data.get(name)) != _plain(current.get(name)):
                    if name == "status":
                        message = "状态只能通过业务操作（领用、借出、维修、处置等）变更。"
                    elif name in SYSTEM_FIELDS:
                        message = "该字段由系统生成，不能修改。"
                    else:
                        message = "已入账资产的这一项不能直接修改，请使用调拨、调账等业务操作。"
                    errors[name] = [ErrorDetail(message, code="read_only")]
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)

    def create(self, validated_data):
        asset = Asset(org=self.context["org"], **validated_data)
        request = self.context.get("request")
        return services.register_asset(asset, getattr(request, "user", None))


class AssetEventSerializer(TenantSerializer):
    """One entry of a card's history (append-only)."""

    changes_display = serializers.CharField(read_only=True, label="变动内容（文字）")

    class Meta:
        model = AssetEvent
        fields = ["id", "org", "display", "asset", "code", "time", "actor", "actor_name", "status_before",
                  "status_after", "changes", "changes_display", "reference", "note", "reverses"]
        read_only_fields = fields

