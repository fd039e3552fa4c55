"""Declarative list tables: which columns a list shows, how each cell renders, and which are sortable.

Kept deliberately small (no django-tables2): lists page by keyset (houqin.core.pagination) and export the
same columns to .xlsx (houqin.core.exporting), which a general table library does not do the way we need.
"""

from __future__ import annotations

import datetime
import decimal
from collections.abc import Callable

from django.db import models
from django.db.models.base import Model
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
    """One column of a list. ``values``/``from_values`` let the export read the column from plain database values
    instead of model instances (see ``values_plan``): ``values`` names the ORM lookups it needs, ``from_values`` is
    called once per export and returns a function of those values giving what ``value(obj)`` would give."""

    def __init__(self, accessor: str, label: str | None = None, *, order_by: str | None | bool = None,
                 link: bool = False, export: bool = True, render: Callable | None = None, css: str = "",
                 values: tuple[str, ...] | None = None, from_values: Callable[[], Callable] | None = None):
        self.accessor = accessor
        self.label = label
        # order_by=None → derive from the accessor when it is a concrete field; False → not sortable.
        self._order_by = order_by
        self.link = link
        self.export = export
        self.render_fn = render
        self.css = css
        self.name = accessor.replace(".", "__")
        self.values = values
        self.from_values = from_values

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

    def values_plan(self, model) -> tuple[tuple[str, ...], Callable] | None:
        """(ORM lookups, function of their values → cell text), the same text as ``text(obj)``; None when the column
        needs model instances (a property or a related object's ``__str__`` without ``values``/``from_values``)."""
        if self.values is not None and self.from_values is not None:
            value_of = self.from_values()
            return self.values, lambda *values: plain(value_of(*values))
        if type(self).value is not Column.value or type(self).text is not Column.text:
            return None  # a subclass computes its cells itself
        field = _plain_field(model, self.accessor)
        if field is None:
            return None
        lookup = self.accessor.replace(".", "__")
        if field.choices:
            texts = {key: plain(str(label)) for key, label in field.flatchoices}
            return (lookup,), lambda value: texts[value] if value in texts else plain(value)
        return (lookup,), _plain_for(field)


_TEXT_FIELDS = (models.CharField, models.TextField, models.EmailField, models.SlugField, models.URLField)
_INTEGER_FIELDS = (models.IntegerField, models.SmallIntegerField, models.BigIntegerField, models.PositiveIntegerField,
                   models.PositiveSmallIntegerField, models.PositiveBigIntegerField, models.AutoField,
                   models.BigAutoField, models.SmallAutoField)


def _plain_for(field) -> Callable:
    """``plain`` specialised to the values a field of this exact class reads from the database (str, int, Decimal,
    date or None): the same text with fewer checks per cell — an export formats over a million cells."""
    kind = type(field)
    if kind in _TEXT_FIELDS:
        return lambda value: value or ""
    if kind in _INTEGER_FIELDS:
        return lambda value: "" if value is None else str(value)
    if kind is models.DecimalField:
        return lambda value: "" if value is None else f"{value:,.2f}"
    if kind is models.DateField:
        dates: dict = {}  # a list has few distinct dates

        def date_text(value):
            text = dates.get(value)
            if text is None:
                text = dates[value] = plain(value)
            return text

        return date_text
    return plain


def _plain_field(model, accessor: str):
    """The concrete, non-relational field ``accessor`` ends at when every step before it is a forward to-one
    relation and the value would be shown as is (or by Django's own ``get_FOO_display``); else None."""
    parts = accessor.split(".")
    current = model
    for i, part in enumerate(parts):
        try:
            field = current._meta.get_field(part)
        except Exception:  # noqa: BLE001 — a property or method, not a field
            return None
        if i < len(parts) - 1:
            if not (field.many_to_one or field.one_to_one) or not field.concrete or field.related_model is None:
                return None
            current = field.related_model
            continue
        if not field.concrete or field.is_relation:
            return None
        display = getattr(current, f"get_{part}_display", None)
        if display is not None and not (field.choices and _is_django_display(display)):
            return None  # a hand-written get_FOO_display
        return field
    return None


def _is_django_display(method) -> bool:
    # Django sets get_FOO_display as partialmethod(_get_FIELD_display, field=…) unless the model defines its own.
    partial = getattr(method, "_partialmethod", None)
    return partial is not None and partial.func is Model._get_FIELD_display


def values_reader(model, columns) -> tuple[list[str], Callable] | None:
    """For an export from ``.values_list(*lookups)``: (lookups, function of one such row → the cells' texts), or
    None when a column needs model instances. The row's first value is the primary key (keeps rows distinct)."""
    plans = []
    for column in columns:
        plan = column.values_plan(model)
        if plan is None:
            return None
        plans.append(plan)
    lookups = ["pk"]
    getters = []
    for names, fn in plans:
        start = len(lookups)
        lookups.extend(names)
        getters.append((start, start + len(names), fn))
    if all(end - start == 1 for start, end, _ in getters):
        pairs = [(start, fn) for start, _, fn in getters]
        return lookups, lambda row: [fn(row[i]) for i, fn in pairs]
    return lookups, lambda row: [fn(*row[start:end]) for start, end, fn in getters]


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
