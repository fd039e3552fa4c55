"""Ordering for API lists: one field out of those the viewset declares, then the primary key.

Lists page by keyset (houqin.core.api.pagination), which walks ``(field, pk)``; so exactly one sort field is
allowed, and an undeclared one is refused with a field error instead of being silently ignored.
"""

from __future__ import annotations

from rest_framework import filters
from rest_framework.exceptions import ErrorDetail, ValidationError


class OrderingFilter(filters.OrderingFilter):
    ordering_param = "ordering"

    @staticmethod
    def allowed_fields(view) -> tuple[str, ...]:
        return tuple(dict.fromkeys(("id", *(getattr(view, "ordering_fields", None) or ()))))

    @staticmethod
    def default_ordering(view) -> str:
        ordering = getattr(view, "ordering", None) or "-pk"
        return ordering if isinstance(ordering, str) else ordering[0]

    def get_ordering(self, request, queryset, view) -> list[str]:
        raw = request.query_params.get(self.ordering_param, "").strip()
        if not raw:
            return [self.default_ordering(view)]
        if "," in raw:
            raise ValidationError({self.ordering_param: [ErrorDetail("只能按一个字段排序。", code="invalid")]})
        name = raw.removeprefix("-")
        allowed = self.allowed_fields(view)
        if name not in allowed:
            choices = "、".join(allowed)
            raise ValidationError({self.ordering_param: [
                ErrorDetail(f"不支持按“{name}”排序，可选：{choices}（前加 - 表示倒序）。", code="invalid_choice")]})
        if name == "id":
            name = "pk"
        return [("-" if raw.startswith("-") else "") + name]

    def filter_queryset(self, request, queryset, view):
        term = self.get_ordering(request, queryset, view)[0]
        descending = term.startswith("-")
        if term.lstrip("-") == "pk":
            return queryset.order_by(term)
        return queryset.order_by(term, "-pk" if descending else "pk")

    def get_schema_operation_parameters(self, view):
        values = []
        for name in self.allowed_fields(view):
            values += [name, f"-{name}"]
        return [{
            "name": self.ordering_param,
            "required": False,
            "in": "query",
            "description": "排序字段（只能一个），前加 - 表示倒序；相同值再按 id 排序。",
            "schema": {"type": "string", "enum": values},
        }]
