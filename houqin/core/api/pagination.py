from rest_framework.pagination import CursorPagination


class KeysetPagination(CursorPagination):
    """Cursor (keyset) pagination: constant cost at any depth, no COUNT(*) over the table."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
    ordering = "-pk"
