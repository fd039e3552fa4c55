"""List columns (also the Excel export columns) of the assets app."""

from __future__ import annotations

from types import SimpleNamespace

from django.utils import timezone
from django.utils.html import format_html

from houqin.assets.choices import AssetClass, AssetStatus
from houqin.core.tables import Column, Table

STATUS_BADGES = {
    AssetStatus.IN_USE: "bg-green-lt",
    AssetStatus.IDLE: "bg-secondary-lt",
    AssetStatus.LENT: "bg-blue-lt",
    AssetStatus.REPAIRING: "bg-orange-lt",
    AssetStatus.PENDING_DISPOSAL: "bg-yellow-lt",
    AssetStatus.DISPOSED: "bg-dark-lt",
    AssetStatus.LOST: "bg-red-lt",
}


def number_link(asset):
    return format_html('<a href="{}" class="fw-medium text-nowrap">{}</a>', asset.get_absolute_url(), asset.number)


def status_badge(asset):
    return format_html('<span class="badge {}">{}</span>', STATUS_BADGES.get(asset.status, "bg-secondary-lt"),
                       asset.get_status_display())


# --- The card columns from plain values (the .xlsx export reads 100,000 cards without model instances) -------------
# Each function gives exactly what the model's property or __str__ gives (AssetCategory.__str__,
# Asset.quantity_display, Asset.net_value, Room.full_name, User.__str__, Asset.custodian_display);
# houqin/core/tests/test_exporting_speed.py compares the two ways cell by cell.
def _category_text():
    return lambda code, name: None if code is None else f"{code} {name}"


def _quantity_text():
    return lambda quantity, unit: f"{quantity} {unit}".strip()


def _net_value():
    from houqin.assets.conf import depreciation_start_offset
    from houqin.assets.depreciation import compute
    from houqin.core.models import Organization

    month = timezone.localdate()
    offsets: dict[int, int] = {}

    def net(org_id, asset_class, is_depreciable, value, life, acquired_on, disposed_on):
        offset = offsets.get(org_id)
        if offset is None:  # one query per school of the export, not per card
            settings = Organization.objects.filter(pk=org_id).values_list("settings", flat=True).first()
            offset = offsets[org_id] = depreciation_start_offset(SimpleNamespace(settings=settings))
        return compute(value=value, life_years=life, acquired_on=acquired_on, disposed_on=disposed_on, month=month,
                       offset=offset, depreciable=asset_class == AssetClass.FIXED and is_depreciable).net

    return net


def _room_text(room_id, campus_name, building_id, building_name, number, name):
    if room_id is None:
        return None
    parts = [campus_name or ""]
    if building_id is not None:
        parts.append(building_name)
    parts.append(f"{number} {name}".strip() if number and number not in name else name)
    return " ".join(p for p in parts if p)


def _person_text(full_name, username):
    return full_name or username


def _custodian_text():
    def custodian(custodian_id, full_name, username, responsible_id, responsible_full_name, responsible_username):
        if custodian_id is not None:
            return _person_text(full_name, username)
        if responsible_id is not None:
            return f"{_person_text(responsible_full_name, responsible_username)}（房间责任人）"
        return ""

    return custodian


class AssetTable(Table):
    columns = (
        Column("number", render=number_link),
        Column("name"),
        Column("category", "资产分类", order_by=False, values=("category__code", "category__name"),
               from_values=_category_text),
        Column("model"),
        Column("quantity_display", "数量", order_by=False, values=("quantity", "unit"), from_values=_quantity_text),
        Column("original_value"),
        Column("net_value", "净值（元）", order_by=False,
               values=("org_id", "asset_class", "category__is_depreciable", "original_value", "useful_life_years",
                       "acquired_on", "disposed_on"), from_values=_net_value),
        Column("acquired_on"),
        Column("department.name", "使用部门", order_by=False),
        Column("room", "存放地点", order_by=False,
               values=("room_id", "room__campus__name", "room__building_id", "room__building__name", "room__number",
                       "room__name"), from_values=lambda: _room_text),
        Column("custodian_display", "保管人", order_by=False,
               values=("custodian_id", "custodian__full_name", "custodian__username", "room__responsible_id",
                       "room__responsible__full_name", "room__responsible__username"), from_values=_custodian_text),
        Column("asset_class", order_by=False),
        Column("status", render=status_badge),
    )
    default_order = "-acquired_on"


class AssetCategoryTable(Table):
    columns = (
        Column("code", link=True),
        Column("indented_name", "分类名称", order_by=False),
        Column("default_life_years"),
        Column("min_life_years"),
        Column("is_depreciable"),
        Column("value_class", order_by=False),
        Column("scope_display", "来源", order_by=False),
        Column("is_active"),
    )
    default_order = "path"


class AssetEventTable(Table):
    columns = (
        Column("time", link=True),
        Column("asset.number", "资产编号", order_by=False),
        Column("asset.name", "资产名称", order_by=False),
        Column("code"),
        Column("status_after", order_by=False),
        Column("changes_display", "变动内容", order_by=False),
        Column("actor_name"),
        Column("reference"),
        Column("note"),
    )
    default_order = "-time"


class AssetHistoryTable(Table):
    """A card's own history on its page."""

    columns = (
        Column("time", link=True),
        Column("code"),
        Column("changes_display", "变动内容", order_by=False),
        Column("actor_name"),
        Column("note"),
    )
    default_order = "-time"

