"""List columns (also the Excel export columns) of the assets app."""

from __future__ import annotations

from django.utils.html import format_html

from houqin.assets.choices import AssetStatus
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


class AssetTable(Table):
    columns = (
        Column("number", render=number_link),
        Column("name"),
        Column("category", "资产分类", order_by=False),
        Column("model"),
        Column("quantity_display", "数量", order_by=False),
        Column("original_value"),
        Column("net_value", "净值（元）", order_by=False),
        Column("acquired_on"),
        Column("department.name", "使用部门", order_by=False),
        Column("room", "存放地点", order_by=False),
        Column("custodian_display", "保管人", order_by=False),
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

