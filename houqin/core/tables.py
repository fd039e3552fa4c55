"""Declarative list tables: which columns a list shows, how each cell renders, and which are sortable.

Kept deliberately small (no django-tables2): lists page by keyset (houqin.core.pagination) and export the
same columns to .xlsx (houqin.core.exporting), which a general table library does not do the way we need.
"""

from __future__ import annotations

import datetime
import decimal
from collections.abc import Callable

from django.db import models
from django.utils import timezone
from django.utils.html import format_html


def resolve(obj, accessor: str):
    """Follow 'campus.name'-style accessors; call get_FOO_display for choice fields."""
    value = obj
    parts = accessor.split(".")
    for i, part in enumerate(parts):
        if value is None:
            return None
        display = getattr(value, f"get_{part}_display", None)
        if display is not None and i == len(parts) - 1:
            return display()
        value = getattr(value, part)
        if callable(value) and not isinstance(value, models.Manager):
            value = value()
    return value


def plain(value) -> str:
    """The text of a cell, as shown and as exported."""
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, datetime.datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if timezone.is_aware(value) else value.strftime(
            "%Y-%m-%d %H:%M")
    if isinstance(value, datetime.date):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, decimal.Decimal):
        return f"{value:,.2f}"
    return str(value)


class Column:
    def __init__(self, accessor: str, label: str | None = None, *, order_by: str | None | bool = None,
                 link: bool = False, export: bool = True, render: Callable | None = None, css: str = ""):
        self.accessor = accessor
        self.label = label
        # order_by=None → derive from the accessor when it is a concrete field; False → not sortable.
        self._order_by = order_by
        self.link = link
        self.export = export
        self.render_fn = render
        self.css = css
        self.name = accessor.replace(".", "__")

    def bind(self, model) -> Column:
        if self.label is None or self._order_by is None:
            field = _field_for(model, self.accessor)
            if self.label is None:
                self.label = str(field.verbose_name) if field is not None else self.accessor
            if self._order_by is None:
                self._order_by = self.name if field is not None and field.concrete and not field.null else False
        return self

    @property
    def order_by(self) -> str | None:
        return self._order_by or None

    def value(self, obj):
        return resolve(obj, self.accessor)

    def text(self, obj) -> str:
        return plain(self.value(obj))

    def html(self, obj):
        if self.render_fn is not None:
            return self.render_fn(obj)
        value = self.value(obj)
        if isinstance(value, bool):
            return format_html('<span class="badge {}">{}</span>', "bg-green-lt" if value else "bg-secondary-lt",
                               "是" if value else "否")
        text = plain(value)
        if self.link and hasattr(obj, "get_absolute_url"):
            return format_html('<a href="{}" class="fw-medium">{}</a>', obj.get_absolute_url(), text or "（未命名）")
        return text


def _field_for(model, accessor: str):
    current = model
    field = None
    for part in accessor.split("."):
        try:
            field = current._meta.get_field(part)
        except Exception:  # noqa: BLE001 — a property or method, not a field
            return None
        if field.is_relation and field.related_model is not None:
            current = field.related_model
    return field


class Table:
    """Subclass and set ``columns``; ``default_order`` is a column name, '-' for descending."""

    columns: tuple[Column, ...] = ()
    default_order: str = "-pk"

    def __init__(self, model):
        self.model = model
        self.bound_columns = [c.bind(model) for c in self.columns]

    def export_columns(self):
        return [c for c in self.bound_columns if c.export]

    def orderable(self) -> dict[str, str]:
        return {c.name: c.order_by for c in self.bound_columns if c.order_by}


# --- Tables of core models ----------------------------------------------------------------------------------------
class OrganizationTable(Table):
    columns = (Column("name", link=True), Column("kind"), Column("parent.name", "上级教育局", order_by=False),
               Column("code"), Column("pupil_count"), Column("is_active"))
    default_order = "name"


class CampusTable(Table):
    columns = (Column("name", link=True), Column("code"), Column("org.name", "学校", order_by=False),
               Column("address"), Column("area_m2"))
    default_order = "name"


class BuildingTable(Table):
    columns = (Column("name", link=True), Column("campus.name", "校区", order_by=False), Column("use"),
               Column("floors_above"), Column("floors_below"), Column("built_year"), Column("floor_area_m2"))
    default_order = "name"


class FloorTable(Table):
    columns = (Column("name", link=True), Column("building", "楼栋", order_by=False), Column("level"))
    default_order = "level"


class RoomTable(Table):
    columns = (Column("name", link=True), Column("number"), Column("room_type"),
               Column("campus.name", "校区", order_by=False), Column("building.name", "楼栋", order_by=False),
               Column("floor.name", "楼层", order_by=False), Column("area_m2"), Column("capacity"),
               Column("responsible", "责任人", order_by=False), Column("department.name", "使用部门", order_by=False),
               Column("note"))
    default_order = "number"


class DepartmentTable(Table):
    columns = (Column("name", link=True), Column("kind"), Column("code"), Column("head", "负责人", order_by=False),
               Column("phone"), Column("is_active"))
    default_order = "name"


class SchoolClassTable(Table):
    columns = (Column("name", link=True), Column("grade"), Column("number"), Column("pupil_count"),
               Column("head_teacher", "班主任", order_by=False), Column("home_room", "教室", order_by=False),
               Column("is_active"))
    default_order = "grade"


class SchoolYearTable(Table):
    columns = (Column("name", link=True), Column("start_date"), Column("end_date"))
    default_order = "-start_date"


class TermTable(Table):
    columns = (Column("name", link=True), Column("school_year.name", "学年", order_by=False), Column("kind"),
               Column("start_date"), Column("end_date"))
    default_order = "-start_date"


class UserTable(Table):
    columns = (Column("username", "账号", link=True), Column("full_name"), Column("phone"),
               Column("roles_display", "角色", order_by=False), Column("is_active"), Column("last_login"))
    default_order = "username"


class MembershipTable(Table):
    columns = (Column("user", "用户", order_by=False, link=True), Column("role.name", "角色", order_by=False),
               Column("org.name", "单位", order_by=False), Column("created_at", "分配时间"))
    default_order = "-created_at"


class ChangeLogTable(Table):
    columns = (Column("time", link=True), Column("user_name", "操作人"), Column("action"),
               Column("model_label", "对象类型", order_by=False),
               Column("object_repr"), Column("request_id"))
    default_order = "-time"
