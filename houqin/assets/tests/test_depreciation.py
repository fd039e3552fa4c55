"""Straight-line monthly depreciation (houqin.assets.depreciation) and the monthly table."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from houqin.assets.depreciation import (
    accumulated_after,
    compute,
    month_end,
    monthly_table,
    parse_month,
    table_queryset,
)
from houqin.assets.models import Asset
from houqin.assets.tests.factories import make_asset

D = datetime.date


MARCH_15 = D(2024, 3, 15)
MARCH = D(2024, 3, 1)


def dep(value="7200.00", life=6, acquired=MARCH_15, month=MARCH, **kw):
    return compute(value=Decimal(value), life_years=life, acquired_on=acquired, month=month, **kw)


def test_charged_from_the_month_of_acquisition():
    # 当月增加的固定资产，当月开始计提折旧: bought on 15 March, March is the first month charged.
    first = dep(month=D(2024, 3, 1))
    assert (first.months, first.monthly, first.accumulated, first.net) == (1, Decimal("100.00"), Decimal("100.00"),
                                                                           Decimal("7100.00"))
    assert first.first_month == D(2024, 3, 1) and first.last_month == D(2030, 2, 1)
    before = dep(month=D(2024, 2, 1))
    assert (before.months, before.monthly, before.accumulated) == (0, Decimal("0.00"), Decimal("0.00"))
    assert before.state == "尚未开始计提"
    # A school whose books start the month after sets assets.depreciation_start = "next_month".
    later = dep(month=D(2024, 3, 1), offset=1)
    assert (later.months, later.monthly) == (0, Decimal("0.00"))
    assert dep(month=D(2024, 4, 1), offset=1).monthly == Decimal("100.00")


def test_fully_depreciated_stops_and_the_total_is_exact():
    # 1000 / 72 = 13.888…: 13.89 a month, the last month takes the rest, so the total is exactly 1000.00.
    value, total = Decimal("1000.00"), Decimal("0")
    month = D(2020, 1, 1)
    charges = []
    for _ in range(80):
        d = compute(value=value, life_years=6, acquired_on=D(2020, 1, 31), month=month)
        charges.append(d.monthly)
        total += d.monthly
        month = month_end(month) + datetime.timedelta(days=1)
    assert total == value
    assert charges[0] == Decimal("13.89") and charges[70] == Decimal("13.89")
    assert charges[71] == value - Decimal("13.89") * 71  # the last month: 13.81
    assert charges[72:] == [Decimal("0.00")] * 8  # 提足折旧后不再计提
    done = compute(value=value, life_years=6, acquired_on=D(2020, 1, 31), month=D(2030, 6, 1))
    assert done.fully_depreciated and done.net == Decimal("0.00") and done.state == "已提足折旧"
    assert done.last_month == D(2025, 12, 1)


def test_rounding_never_exceeds_the_value():
    # A tiny value over a long life: the rounded rate (0.01) would overshoot; the accumulated amount is capped.
    assert accumulated_after(Decimal("3.00"), 600, 599) == Decimal("3.00")
    assert accumulated_after(Decimal("3.00"), 600, 600) == Decimal("3.00")
    assert accumulated_after(Decimal("100"), 72, 0) == Decimal("0.00")


def test_disposal_stops_the_charge_in_its_month():
    # 当月减少的固定资产，当月不再计提折旧: disposed in May, charged up to April.
    april = dep(month=D(2025, 4, 1), disposed_on=D(2025, 5, 20))
    may = dep(month=D(2025, 5, 1), disposed_on=D(2025, 5, 20))
    assert april.monthly == Decimal("100.00") and may.monthly == Decimal("0.00")
    assert may.accumulated == april.accumulated == Decimal("100.00") * 14
    # Disposed in the month of acquisition: never charged.
    assert dep(month=D(2024, 3, 1), disposed_on=D(2024, 3, 30)).accumulated == Decimal("0.00")


def test_non_depreciable_categories_and_low_value_items(world):
    books = make_asset(world.a.org, category="5010000", name="图书", quantity=3000, unit_price="28.50", unit="册")
    state = Asset.objects.select_related("category", "org").get(pk=books.pk).depreciation(D(2026, 1, 1))
    assert not state.applies and state.net == Decimal("85500.00") and state.state == "不计提折旧"
    land = make_asset(world.a.org, category="1010000", name="校园土地", unit_price="1.00", unit="宗")
    assert not land.depreciation().applies and land.useful_life_years is None
    fan = make_asset(world.a.org, category="2200000", name="吊扇", unit_price="260.00")
    assert fan.asset_class == "low_value" and not fan.depreciation().applies


def test_a_batch_card_depreciates_its_whole_value(world):
    desks = make_asset(world.a.org, category="6010000.01", name="课桌椅", quantity=48, unit_price="280.00",
                       unit="套", is_batch=True, acquired_on=D(2024, 8, 20))
    assert desks.useful_life_years == 5  # pupils' furniture, practice
    state = desks.depreciation(D(2024, 8, 1))
    assert state.monthly == Decimal("224.00")  # 13,440.00 / 60
    assert desks.depreciation(D(2029, 7, 1)).fully_depreciated
    assert desks.depreciation(D(2029, 6, 1)).net == Decimal("224.00")


def test_parse_month():
    today = D(2026, 3, 17)
    assert parse_month("2025-11", today) == D(2025, 11, 1)
    assert parse_month("2025-13", today) == D(2026, 3, 1)
    assert parse_month(None, today) == D(2026, 3, 1)
    assert parse_month("abc", today) == D(2026, 3, 1)


# --- The monthly table ---------------------------------------------------------------------------------------------
@pytest.fixture
def register(world):
    org, rooms = world.a.org, world.a.rooms
    other = world.a.department
    cards = [
        make_asset(org, name="电脑", unit_price="4980.00", acquired_on=D(2024, 9, 2), department=other),
        make_asset(org, name="电脑", unit_price="6000.00", acquired_on=D(2025, 1, 10)),
        make_asset(org, category="2020800", name="一体机", unit_price="14800.00", acquired_on=D(2023, 8, 1),
                   room=rooms[0], department=other),
        make_asset(org, category="6010000.01", name="课桌椅", quantity=45, unit_price="268.00", is_batch=True,
                   acquired_on=D(2020, 8, 1), department=other),
        make_asset(org, category="5010000", name="图书", quantity=500, unit_price="30.00",
                   acquired_on=D(2024, 4, 1)),                                    # not depreciated
        make_asset(org, category="2200000", name="吊扇", unit_price="260.00", acquired_on=D(2024, 4, 1)),  # low value
        make_asset(org, name="旧电脑", unit_price="3000.00", acquired_on=D(2018, 9, 1)),  # fully depreciated
        make_asset(org, name="本月之后购入", unit_price="5000.00", acquired_on=D(2025, 6, 1)),
    ]
    written_off = make_asset(org, name="已核销", unit_price="5000.00", acquired_on=D(2022, 1, 1))
    Asset.objects.filter(pk=written_off.pk).update(disposed_on=D(2025, 3, 10), status="disposed")
    make_asset(world.b.org, name="乙校电脑", unit_price="9999.00", acquired_on=D(2024, 1, 1))
    return cards


def test_monthly_table_sums_the_cards(world, register):
    month = D(2025, 3, 1)
    table = monthly_table(world.a.org, month, "category")
    cards = [Asset.objects.select_related("category", "org").get(pk=c.pk) for c in register]
    charged = [c for c in cards if c.depreciation(month).applies and c.acquired_on <= month_end(month)]
    assert {c.name for c in charged} == {"电脑", "一体机", "课桌椅", "旧电脑"}
    # 电脑 ×2, 一体机, 课桌椅, 旧电脑; not the books, the fan, the later card or the written-off one.
    assert table.total.count == 5
    assert table.total.monthly == sum(c.depreciation(month).monthly for c in charged)
    assert table.total.accumulated == sum(c.depreciation(month).accumulated for c in charged)
    assert table.total.original_value == sum(c.original_value for c in charged)
    assert table.total.net == table.total.original_value - table.total.accumulated
    by_category = {row.category: row for row in table.rows}
    assert set(by_category) == {"2010000 计算机设备及软件", "2020000 办公设备", "6010000 家具用具"}
    computers = by_category["2010000 计算机设备及软件"]
    assert computers.count == 3 and computers.monthly == Decimal("69.17") + Decimal("83.33")  # 旧电脑 is done
    assert sum(r.monthly for r in table.rows) == table.total.monthly
    assert table_queryset(world.a.org, month).count() == 5


def test_monthly_table_by_department_and_both(world, register):
    month = D(2025, 3, 1)
    by_department = monthly_table(world.a.org, month, "department")
    names = {row.department: row for row in by_department.rows}
    assert set(names) == {"甲总务处", "（未指定部门）"}
    assert names["甲总务处"].count == 3
    both = monthly_table(world.a.org, month, "both")
    assert {(r.category, r.department) for r in both.rows} == {
        ("2010000 计算机设备及软件", "甲总务处"), ("2010000 计算机设备及软件", "（未指定部门）"),
        ("2020000 办公设备", "甲总务处"), ("6010000 家具用具", "甲总务处")}
    assert both.total.monthly == by_department.total.monthly == monthly_table(world.a.org, month).total.monthly
    assert monthly_table(world.a.org, month, "nonsense").group_by == "category"
