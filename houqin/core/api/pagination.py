"""Keyset (cursor) pagination for API lists, on the same algorithm as the UI lists (houqin.core.pagination).

A page is ``WHERE (sort_key, pk) > (last_value, last_pk) ORDER BY sort_key, pk LIMIT n``: the same cost on the
first page and the ten-thousandth, no COUNT(*), and rows inserted meanwhile never shift a page.
"""

from __future__ import annotations

from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.utils.urls import replace_query_param

from houqin.core.pagination import BadCursor, paginate


class KeysetPagination(BasePagination):
    cursor_query_param = "cursor"
    page_size_query_param = "page_size"
    max_page_size = 500

    @property
    def page_size(self) -> int:
        return api_settings.PAGE_SIZE or 50

    def get_page_size(self, request) -> int:
        try:
            size = int(request.query_params.get(self.page_size_query_param, ""))
        except ValueError:
            return self.page_size
        return min(max(size, 1), self.max_page_size)

    def get_order(self, request, queryset, view) -> str:
        for backend in getattr(view, "filter_backends", ()):
            if hasattr(backend, "get_ordering"):
                ordering = backend().get_ordering(request, queryset, view)
                if ordering:
                    return ordering[0]
        ordering = getattr(view, "ordering", None) or "-pk"
        return ordering if isinstance(ordering, str) else ordering[0]

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        order = self.get_order(request, queryset, view)
        if order.lstrip("-") == "id":
            order = order.replace("id", "pk")  # the keyset's tie-breaker is pk
        try:
            self.page = paginate(queryset, order=order, per_page=self.get_page_size(request),
                                 cursor=request.query_params.get(self.cursor_query_param) or None, count=False)
        except BadCursor:
            raise ValidationError({self.cursor_query_param: [
                ErrorDetail("分页游标无效，请从第一页重新开始。", code="invalid")]}) from None
        return self.page.rows

    def _link(self, cursor: str | None) -> str | None:
        if cursor is None:
            return None
        url = self.request.build_absolute_uri()
        return replace_query_param(url, self.cursor_query_param, cursor)

    def get_paginated_response(self, data):
        return Response({
            "next": self._link(self.page.next_cursor),
            "previous": self._link(self.page.prev_cursor),
            "results": data,
        })

    def get_paginated_response_schema(self, schema):
        link = {"type": "string", "format": "uri", "nullable": True}
        return {
            "type": "object",
            "required": ["next", "previous", "results"],
            "properties": {
                "next": {**link, "description": "下一页的地址；没有更多时为 null"},
                "previous": {**link, "description": "上一页的地址；第一页时为 null"},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {"name": self.cursor_query_param, "required": False, "in": "query",
             "description": "分页游标：取上一次结果中 next / previous 地址里的值", "schema": {"type": "string"}},
            {"name": self.page_size_query_param, "required": False, "in": "query",
             "description": f"每页条数，默认 {self.page_size}，最多 {self.max_page_size}",
             "schema": {"type": "integer", "minimum": 1, "maximum": self.max_page_size}},
        ]
