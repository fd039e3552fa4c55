"""Isolation/query-count factories of the assets app: stocktake (imported by factories.py)."""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from houqin.assets import stocktake as services
from houqin.assets.choices import AssetStatus
from houqin.assets.models import (
    Asset,
    LineResult,
    Stocktake,
    StocktakeLine,
    StocktakeStatus,
    StocktakeSurplus,
)
from houqin.core.testing import register_factory
from houqin.core.testing.factories import bulk_create_indexed

START = datetime.date(2026, 6, 20)


def make_stocktake(org, name: str = "2026年春季学期资产清查", *, rooms=(), buildings=(), campuses=(), departments=(),
                   categories=(), counters=(), **fields) -> Stocktake:
    """A 草稿 plan (numbered PD-…) with its scope and counters."""
    fields.setdefault("planned_start", START)
    fields.setdefault("planned_end", START + datetime.timedelta(days=10))
    with transaction.atomic():
        stocktake = Stocktake(org=org, name=name, **fields)
        stocktake.full_clean()
        stocktake.save()
        for relation, values in (("rooms", rooms), ("buildings", buildings), ("campuses", campuses),
                                 ("departments", departments), ("categories", categories)):
            if values:
                getattr(stocktake, relation).set(values)
        services.set_counters(stocktake, counters)
        services.refresh_scope(stocktake)
    return stocktake


def started_stocktake(org, user, name: str = "2026年春季学期资产清查", **kwargs) -> Stocktake:
    """A plan started by ``user`` (a manager): its expected list is frozen."""
    return services.start(make_stocktake(org, name, **kwargs), user)


def _counting_plan(school, name: str) -> Stocktake:
    plan = make_stocktake(school.org, name, rooms=[school.rooms[0]])
    Stocktake.objects.filter(pk=plan.pk).update(status=StocktakeStatus.COUNTING, started_at=timezone.now())
    plan.refresh_from_db()
    return plan


# --- Plans ---------------------------------------------------------------------------------------------------------
def bulk_stocktakes(school, n: int) -> None:
    with transaction.atomic():
        rows = [Stocktake(org=school.org, number=f"PD-2026-{90000 + i}", name=f"批量盘点{i:04d}",
                          planned_start=START, planned_end=START, status=StocktakeStatus.COUNTING, expected_count=3,
                          scope_summary="甲教学楼 · 全部部门 · 全部分类")
                for i in range(n)]
        bulk_create_indexed(Stocktake, rows)
        created = list(Stocktake.objects.filter(org=school.org, number__startswith="PD-2026-9").order_by("pk"))
        Stocktake.rooms.through.objects.bulk_create([
            Stocktake.rooms.through(stocktake_id=s.pk, room_id=school.rooms[0].pk) for s in created])
        Stocktake.departments.through.objects.bulk_create([
            Stocktake.departments.through(stocktake_id=s.pk, department_id=school.department.pk) for s in created])


@register_factory(Stocktake, bulk=bulk_stocktakes, list_persona="head_a")
def stocktake(school, label):
    return make_stocktake(school.org, label, rooms=[school.rooms[0]], counters=[school.staff])


# --- Lines ---------------------------------------------------------------------------------------------------------
def _line(plan, card: Asset, school, **fields) -> StocktakeLine:
    return StocktakeLine(org_id=plan.org_id, stocktake=plan, asset=card, asset_number=card.number,
                         asset_name=card.name, category_name="台式计算机", quantity=card.quantity, unit=card.unit,
                         original_value=card.original_value, book_status=AssetStatus.IN_USE,
                         expected_room=school.rooms[0], expected_room_name=school.rooms[0].full_name,
                         department=school.department, department_name=school.department.name,
                         custodian=school.staff, custodian_name=school.staff.get_full_name(), **fields)


def bulk_lines(school, n: int) -> None:
    from houqin.assets.tests.factories import bulk_assets

    plan = _counting_plan(school, "批量明细盘点")
    before = set(Asset.objects.filter(org=school.org).values_list("pk", flat=True))
    bulk_assets(school, n)
    cards = Asset.objects.filter(org=school.org).exclude(pk__in=before).order_by("pk")
    now = timezone.now()
    StocktakeLine.objects.bulk_create([
        _line(plan, card, school, result=LineResult.MOVED, found_room=school.rooms[1], counted_at=now,
              counted_by=school.staff, counted_by_name="批量盘点人", found_status=AssetStatus.IDLE)
        for card in cards])


@register_factory(StocktakeLine, bulk=bulk_lines, list_persona="head_a")
def stocktake_line(school, label):
    from houqin.assets.tests.factories import make_asset

    plan = _counting_plan(school, "明细测试盘点")
    card = make_asset(school.org, name=label, room=school.rooms[0], department=school.department)
    line = _line(plan, card, school)
    line.save()
    return line


# --- Surpluses -----------------------------------------------------------------------------------------------------
def bulk_surpluses(school, n: int) -> None:
    plan = _counting_plan(school, "批量盘盈盘点")
    bulk_create_indexed(StocktakeSurplus, [
        StocktakeSurplus(org=school.org, stocktake=plan, room=school.rooms[1], name=f"批量盘盈{i:04d}", quantity=1,
                         unit="把", estimated_value=Decimal("120.00"), found_at=timezone.now(), found_by=school.staff,
                         found_by_name="批量盘点人") for i in range(n)])


@register_factory(StocktakeSurplus, bulk=bulk_surpluses, list_persona="head_a")
def stocktake_surplus(school, label):
    plan = _counting_plan(school, "盘盈测试盘点")
    return StocktakeSurplus.objects.create(org=school.org, stocktake=plan, room=school.rooms[0], name=label,
                                           description="无标签", quantity=2, unit="把",
                                           estimated_value=Decimal("300.00"), found_at=timezone.now(),
                                           found_by=school.staff, found_by_name=school.staff.get_full_name())
