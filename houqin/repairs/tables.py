"""List columns (also the Excel export columns) of the work-order part of the repairs app."""

from __future__ import annotations

from django.utils.html import format_html

from houqin.core.tables import Column, Table
from houqin.repairs.models import State, Urgency

STATE_BADGES = {
    State.NEW: "bg-red-lt",
    State.DISPATCHED: "bg-orange-lt",
    State.IN_PROGRESS: "bg-blue-lt",
    State.WAITING_PARTS: "bg-yellow-lt",
    State.OUTSIDE: "bg-purple-lt",
    State.DONE: "bg-teal-lt",
    State.ACCEPTED: "bg-green-lt",
    State.VISITED: "bg-green-lt",
    State.REJECTED: "bg-secondary-lt",
    State.CANCELLED: "bg-secondary-lt",
    State.MERGED: "bg-secondary-lt",
}
URGENCY_BADGES = {Urgency.NORMAL: "", Urgency.URGENT: "bg-orange-lt", Urgency.CRITICAL: "bg-red"}


def number_link(order):
    return format_html('<a href="{}" class="fw-medium text-nowrap">{}</a>', order.get_absolute_url(), order.number)


def state_badge(order):
    return format_html('<span class="badge {}">{}</span>', STATE_BADGES.get(order.state, "bg-secondary-lt"),
                       order.get_state_display())


def urgency_badge(order):
    css = URGENCY_BADGES.get(order.urgency, "")
    if not css:
        return order.get_urgency_display()
    return format_html('<span class="badge {}">{}</span>', css, order.get_urgency_display())


def overdue_badge(order):
    if not order.overdue_now():
        return ""
    return format_html('<span class="badge bg-red-lt">{}</span>', "超时")


class WorkOrderTable(Table):
    columns = (
        Column("number", render=number_link),
        Column("reported_at"),
        Column("place_text", "地点"),
        Column("category.name", "类别", order_by=False),
        Column("description", "故障描述", order_by=False, render=lambda o: o.short_description),
        Column("urgency", render=urgency_badge),
        Column("state", render=state_badge),
        Column("assignee", "维修人员", order_by=False),
        Column("deadline_display", "当前时限", order_by=False),
        Column("overdue_display", "超时", order_by=False, render=overdue_badge),
        Column("reporter_display", "报修人", order_by=False),
        Column("total_cost", order_by=False),
        Column("rating_display", "评价", order_by=False),
    )
    default_order = "-reported_at"


class MyOrderTable(Table):
    """A reporter's own orders (also the phone list)."""

    columns = (
        Column("number", render=number_link),
        Column("reported_at"),
        Column("place_text", "地点"),
        Column("short_description", "故障描述", order_by=False),
        Column("state", render=state_badge),
    )
    default_order = "-reported_at"


class RepairCategoryTable(Table):
    columns = (
        Column("name", link=True),
        Column("trade"),
        Column("description"),
        Column("sort_order"),
        Column("is_active"),
    )
    default_order = "sort_order"


def _category_name(rule):
    return rule.category.name if rule.category_id else "全部类别"


class SLARuleTable(Table):
    columns = (
        Column("urgency", link=True),
        Column("category", "报修类别", order_by=False, render=_category_name),
        Column("accept_display", "受理时限", order_by=False),
        Column("start_display", "开工时限", order_by=False),
        Column("finish_display", "小修完工", order_by=False),
        Column("major_display", "大修完工", order_by=False),
        Column("all_hours"),
    )
    default_order = "urgency"


class TechnicianTable(Table):
    columns = (
        Column("name_cache", "姓名", link=True),
        Column("trades_display", "工种", order_by=False),
        Column("phone"),
        Column("is_active"),
        Column("note"),
    )
    default_order = "name_cache"
