"""The dashboard's per-day summary: kept equal to a fresh rebuild by every command, by the overdue scan and by plain
saves; rebuilt after bulk inserts; the local day of a report; late-now counted once whether flagged or not."""

from __future__ import annotations

import datetime
import io
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db.models import Sum
from django.utils import timezone

from houqin.core.testing.factories import bulk_create_indexed
from houqin.repairs import reports, services, sla
from houqin.repairs.models import RepairDaySummary, RepairMonthSummary, RepairOpenCount, State, WorkOrder
from houqin.repairs.summary import rebuild_summary
from houqin.repairs.tests.factories_workorders import category, make_order, make_technician

pytestmark = pytest.mark.django_db




def snapshot():
    """Every summary row — day rows, month rows, open counts — without its id (float sums to the millisecond)."""
    def rows(model):
        names = [f.attname for f in model._meta.concrete_fields if f.attname != "id"]
        return sorted((tuple(round(v, 3) if isinstance(v, float) else v for v in row)
                       for row in model.objects.order_by().values_list(*names)), key=repr)
    return rows(RepairDaySummary), rows(RepairMonthSummary), rows(RepairOpenCount)


def assert_equals_rebuild():
    kept = snapshot()
    rebuild_summary()
    assert snapshot() == kept
    return kept


def totals(org):
    return RepairDaySummary.objects.filter(org=org).aggregate(**{f: Sum(f) for f in (
        "received", "done", "flagged_late", "rated", "satisfied", "unrated", "reopened", "cost")})


def test_every_command_keeps_the_summary_equal_to_a_rebuild(world, teacher_a, head_a):
    org = world.a.org
    tech = make_technician(org, "王师傅", trades=["water_power"])
    first = make_order(org, user=teacher_a, room=world.a.rooms[0])
    second = make_order(org, user=teacher_a, room=world.a.rooms[1], category="门窗", description="门锁坏了")
    assert_equals_rebuild()
    assert totals(org)["received"] == 2
    duplicate = make_order(org, user=teacher_a, room=world.a.rooms[0], allow_duplicate=False)
    assert duplicate.state == State.MERGED
    assert assert_equals_rebuild() and totals(org)["received"] == 2  # a merged duplicate is not counted

    first = services.dispatch(first, head_a, tech)
    first = services.accept(first, tech)
    first = services.start(first, tech)
    first = services.complete(first, head_a, work_done="更换阀芯", labour_hours="1.5", materials=[
        {"name": "阀芯", "quantity": "1", "unit_price": "35"}])
    assert_equals_rebuild()
    assert totals(org)["done"] == 1 and totals(org)["cost"] == first.total_cost > 0
    first = services.sign_off(first, teacher_a, rating=5, comment="很及时")
    assert_equals_rebuild()
    assert (totals(org)["rated"], totals(org)["satisfied"], totals(org)["unrated"]) == (1, 1, 0)
    first = services.complain(first, teacher_a, reason="又漏水了")
    assert_equals_rebuild()
    assert (totals(org)["done"], totals(org)["rated"], totals(org)["reopened"]) == (0, 0, 1)  # open again
    first = services.complete(first, head_a, work_done="重新安装")
    first = services.visit(first, head_a, note="电话回访，满意")
    assert_equals_rebuild()
    assert (totals(org)["done"], totals(org)["unrated"]) == (1, 0)  # the earlier rating stands

    second = services.classify(second, head_a, category=category(org, "电器"), note="其实是电控锁")
    assert_equals_rebuild()
    assert set(RepairDaySummary.objects.filter(org=org).values_list("category__name", flat=True)) == {"水电", "电器"}
    services.reject(second, head_a, reason="不属于维修范围")
    third = make_order(org, user=teacher_a, room=world.a.rooms[1], description="灯不亮", category="电器")
    services.cancel(third, teacher_a)
    assert_equals_rebuild()
    assert totals(org)["received"] == 3  # rejected and cancelled orders were received
    assert not RepairDaySummary.objects.filter(org=world.b.org).exists()


def test_a_refused_command_leaves_the_summary_as_it_was(world, teacher_a, head_a):
    order = make_order(world.a.org, user=teacher_a, room=world.a.rooms[0])
    before = snapshot()
    with pytest.raises(Exception):  # noqa: B017 - refused for its state, whatever the exception class
        services.complete(order, teacher_a, work_done="我自己修好了")
    assert snapshot() == before


def test_overdue_scan_updates_the_summary_and_late_is_counted_once(world, teacher_a):
    org = world.a.org
    order = make_order(org, user=teacher_a, room=world.a.rooms[0])
    past = timezone.now() - datetime.timedelta(hours=1)
    WorkOrder.objects.filter(pk=order.pk).update(accept_due=past, start_due=past, finish_due=past)
    today = timezone.localdate()
    scope = reports.Scope(org, (org,))
    period = reports.Period(today - datetime.timedelta(days=1), today)
    board = reports.build_dashboard(scope, period)
    assert (board.totals.received, board.totals.late, board.open_late) == (1, 1, 1)  # late now, from the clock
    assert [m.late for m in board.months][-1] == 1
    assert reports.summary([org.pk], period.start, period.end)["late"] == 1
    assert sla.flag_overdue() == 3
    assert_equals_rebuild()
    assert RepairDaySummary.objects.get(org=org).flagged_late == 1
    board = reports.build_dashboard(scope, period)
    assert (board.totals.received, board.totals.late, board.open_late) == (1, 1, 1)  # flagged now: still once
    assert [c.late for c in board.categories] == [1] and [m.late for m in board.months][-1] == 1
    assert reports.summary([org.pk], period.start, period.end)["late"] == 1


def test_a_report_counts_on_its_local_day(world):
    org = world.a.org
    local = timezone.make_aware(datetime.datetime(2026, 3, 31, 23, 30))  # 15:30 UTC: still 31 March in Beijing
    WorkOrder.objects.create(org=org, number="BX-TZ-1", category=category(org), description="夜里报修",
                             reported_at=local, state=State.NEW)
    row = RepairDaySummary.objects.get(org=org)
    assert row.day == datetime.date(2026, 3, 31)
    assert_equals_rebuild()
    assert RepairDaySummary.objects.get(org=org).day == datetime.date(2026, 3, 31)
    assert reports.summary([org.pk], datetime.date(2026, 3, 31), datetime.date(2026, 3, 31))["received"] == 1
    assert reports.summary([org.pk], datetime.date(2026, 4, 1), datetime.date(2026, 4, 30))["received"] == 0


def test_rebuild_after_bulk_insert_per_school_and_from_a_day(world):
    day = timezone.make_aware(datetime.datetime(2026, 3, 2, 9))
    rows = []
    for school in (world.a, world.b):
        cat = category(school.org)
        rows += [WorkOrder(org=school.org, number=f"BX-BULK-{school.tag}-{i}", category=cat, description="批量",
                           state=State.DONE, reported_at=day + datetime.timedelta(days=i),
                           accepted_at=day + datetime.timedelta(days=i, hours=1),
                           completed_at=day + datetime.timedelta(days=i, hours=2 + i), rating=4,
                           total_cost=Decimal("10.00"))
                 for i in range(5)]
    bulk_create_indexed(WorkOrder, rows)  # bulk_create skips save(): the summary does not know them yet
    assert not RepairDaySummary.objects.exists()
    assert rebuild_summary(org_ids=[world.a.org.pk]) == 5
    assert totals(world.a.org)["received"] == 5 and not RepairDaySummary.objects.filter(org=world.b.org).exists()
    RepairDaySummary.objects.filter(org=world.a.org).update(received=99)
    rebuild_summary(since=datetime.date(2026, 3, 5))  # the 5th and 6th rebuilt, earlier days left alone
    assert sorted(RepairDaySummary.objects.filter(org=world.a.org).values_list("day", "received")) == [
        (datetime.date(2026, 3, d), 99 if d < 5 else 1) for d in range(2, 7)]
    out = io.StringIO()
    call_command("rebuild_repair_summary", stdout=out)
    assert "10 行" in out.getvalue()
    s = reports.summary([world.a.org.pk, world.b.org.pk], datetime.date(2026, 3, 1), datetime.date(2026, 3, 31))
    assert (s["received"], s["done"], s["satisfaction"], s["cost"]) == (10, 10, Decimal("1.0000"), Decimal("100.00"))
    assert (s["accept_hours"], s["finish_hours"]) == (Decimal("1.0"), Decimal("4.0"))  # (2 + 3 + 4 + 5 + 6) / 5
