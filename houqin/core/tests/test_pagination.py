"""Keyset pages (houqin.core.pagination): every row once, in order, both ways, also where the sort column may hold
NULLs; and on a column that cannot, the page after a cursor is an index range, not a walk over the rows before it."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.db.models import F

from houqin.assets.models import Asset
from houqin.assets.tests.test_custody import card
from houqin.core.pagination import nullable, paginate

pytestmark = pytest.mark.django_db


def test_which_sort_columns_may_be_null():
    assert not nullable(Asset, "acquired_on")  # 取得日期 is required
    assert not nullable(Asset, "number")
    assert not nullable(Asset, "category__name")  # a required relation's required column
    assert nullable(Asset, "custodian")  # optional
    assert nullable(Asset, "department__name")  # through an optional relation: the join gives NULL
    assert nullable(Asset, "no_such_field") and nullable(Asset, "name__no_such_part")


def _walk(queryset, order, per_page=3):
    """The pks of every page, following next cursors from the first page, then prev cursors back."""
    pages, cursor = [], None
    while True:
        page = paginate(queryset, order=order, per_page=per_page, cursor=cursor, count=False)
        pages.append([row.pk for row in page.rows])
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    back, cursor = [pages[-1]], page.prev_cursor
    while cursor:
        page = paginate(queryset, order=order, per_page=per_page, cursor=cursor, count=False)
        back.append([row.pk for row in page.rows])
        cursor = page.prev_cursor
    return pages, back[::-1]


@pytest.mark.parametrize("order", ["-acquired_on", "acquired_on", "-custodian", "custodian"])
def test_pages_hold_every_row_once_in_order_both_ways(world, order):
    cards = [card(world, name=f"分页{i}", custodian="staff" if i % 3 else None) for i in range(11)]
    for i, c in enumerate(cards):  # a few dates shared: the pk breaks the ties
        Asset.objects.filter(pk=c.pk).update(acquired_on=datetime.date(2024, 1, 1 + i // 2))
    queryset = Asset.objects.filter(pk__in=[c.pk for c in cards])
    expected = list(queryset.order_by(*_explicit(order)))  # NULLs first ascending, last descending
    pages, back = _walk(queryset, order)
    assert [pk for page in pages for pk in page] == [a.pk for a in expected]
    assert back == pages


def _explicit(order):
    field = order.lstrip("-")
    if order.startswith("-"):
        return [F(field).desc(nulls_last=True), "-pk"]
    return [F(field).asc(nulls_first=True), "pk"]


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's query plan")
def test_the_page_after_a_cursor_is_an_index_range(world):
    """As the statement is run, with its values as parameters (SQLite plans a statement with written-in values
    differently)."""
    for i in range(4):
        card(world, name=f"范围{i}")
    queryset = Asset.objects.filter(org=world.a.org)
    first = paginate(queryset, order="-acquired_on", per_page=2, cursor=None, count=False)
    statements = []

    def keep(execute, sql, params, many, context):
        statements.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(keep):
        paginate(queryset, order="-acquired_on", per_page=2, cursor=first.next_cursor, count=False)
    sql, params = next((sql, params) for sql, params in statements if "ORDER BY" in sql)
    assert "IS NULL" not in sql
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
        plan = " | ".join(str(row[-1]) for row in cursor.fetchall())
    assert "acquired_on<?" in plan.replace(" ", "") and "MULTI-INDEX OR" not in plan, plan
