"""The month rows, the period slices and the live "late" part: whatever the period — whole months, half months read as
a month row less some days, a few days, across a year — the dashboard's figures equal the raw aggregates over the
orders, also after orders change; the month rows and the open counts equal a fresh rebuild after every change."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.db.models import Count
from django.utils import timezone

from houqin.core.testing.factories import unique
from houqin.repairs import reports, sla
from houqin.repairs.defaults import ensure_defaults
from houqin.repairs.models import (
    OPEN_STATES,
    RepairCategory,
    RepairDaySummary,
    RepairMonthSummary,
    RepairOpenCount,
    State,
    WorkOrder,
)
from houqin.repairs.models.workorders import overdue_q
from houqin.repairs.summary import facts, rebuild_summary

pytestmark = pytest.mark.django_db

H = datetime.timedelta(hours=1)
D = datetime.date


def at(year, month, day, hour=9, minute=0):
    return timezone.make_aware(datetime.datetime(year, month, day, hour, minute))


# --- Slices ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("start", "end", "months", "plus", "minus"), [
    (D(2026, 1, 1), D(2026, 4, 30), [D(2026, m, 1) for m in (1, 2, 3, 4)], [], []),
    (D(2026, 2, 3), D(2026, 3, 31), [D(2026, 2, 1), D(2026, 3, 1)], [], [(D(2026, 2, 1), D(2026, 2, 2))]),
    (D(2026, 1, 1), D(2026, 1, 20), [D(2026, 1, 1)], [], [(D(2026, 1, 21), D(2026, 1, 31))]),
    (D(2026, 1, 25), D(2026, 2, 10), [], [(D(2026, 1, 25), D(2026, 1, 31)), (D(2026, 2, 1), D(2026, 2, 10))], []),
    (D(2026, 3, 10), D(2026, 3, 12), [], [(D(2026, 3, 10), D(2026, 3, 12))], []),
    (D(2026, 2, 1), D(2026, 2, 14), [], [(D(2026, 2, 1), D(2026, 2, 14))], []),  # half of February: its days
    (D(2026, 2, 1), D(2026, 2, 15), [D(2026, 2, 1)], [], [(D(2026, 2, 16), D(2026, 2, 28))]),
    (D(2026, 3, 5), D(2026, 3, 28), [D(2026, 3, 1)], [], [(D(2026, 3, 1), D(2026, 3, 4)), (D(2026, 3, 29),
                                                                                       D(2026, 3, 31))]),
    (D(2025, 12, 20), D(2026, 1, 5), [], [(D(2025, 12, 20), D(2025, 12, 31)), (D(2026, 1, 1), D(2026, 1, 5))], []),
])
def test_a_period_is_month_rows_plus_and_minus_at_most_half_a_month_of_days_at_each_end(start, end, months, plus,
                                                                                        minus):
    cut = reports.slices(start, end)
    assert (list(cut.months), list(cut.plus), list(cut.minus)) == (months, plus, minus)


def test_a_long_period_reads_month_rows_not_day_rows():
    cut = reports.slices(D(2025, 9, 1), D(2026, 7, 20))  # a school year: 10 months and 20 days
    assert len(cut.months) == 11 and not cut.plus and cut.minus == ((D(2026, 7, 21), D(2026, 7, 31)),)


# --- The figures equal the raw aggregates --------------------------------------------------------------------------
def raw(org_ids, start, end, now) -> dict:
    """The period's figures computed straight from the orders (no summary), as ``reports.summary`` names them."""
    agg = reports.period_orders(org_ids, start, end).aggregate(**facts(), late=Count("pk", filter=overdue_q(now)))
    row = {name: agg[name] for name in reports.COUNTS}
    row.update(accept_sum=agg["accept_seconds"] / 3600.0, finish_sum=agg["finish_seconds"] / 3600.0,
               labour_hours=agg["labour_hours"], cost=agg["cost"])
    return reports.summary_dict(reports.Figures.from_row(row))


def raw_groups(org_ids, start, end, now, field) -> dict:
    rows = (reports.period_orders(org_ids, start, end).order_by().values(field)
            .annotate(received=Count("pk"), done=Count("pk", filter=reports.DONE),
                      late=Count("pk", filter=overdue_q(now))))
    return {r[field]: (r["received"], r["done"], r["late"]) for r in rows}


def raw_open(org_ids, now) -> list:
    rows = {r["state"]: (r["n"], r["late"]) for r in WorkOrder.objects.filter(org_id__in=org_ids, state__in=OPEN_STATES)
            .values("state").annotate(n=Count("pk"), late=Count("pk", filter=overdue_q(now)))}
    return [(s.value, *rows.get(s, (0, 0))) for s in OPEN_STATES]


def make(org, reported, *, state=State.DONE, category="水电", **fields):
    ensure_defaults(org)
    return WorkOrder.objects.create(
        org=org, number=f"BX-{unique()}", category=RepairCategory.objects.get(org=org, name=category),
        description="测试报修", state=state, reported_at=reported, **fields)


@pytest.fixture
def spread(world):
    """Orders of two schools from December to April, many on the days a month row is cut at: done on time, done
    late (flagged), rated or not, open and late now by the clock (no flag), open and flagged, open and not late yet
    (due in three days), open without due times, rejected, merged."""
    a, b = world.a.org, world.b.org
    ahead = timezone.now() + datetime.timedelta(days=3)
    days = [at(2025, 12, 31, 23, 30), at(2026, 1, 1, 0, 10), at(2026, 1, 5), at(2026, 1, 21), at(2026, 1, 31, 22),
            at(2026, 2, 1, 7), at(2026, 2, 2), at(2026, 2, 14), at(2026, 2, 16), at(2026, 2, 28, 23, 50),
            at(2026, 3, 4), at(2026, 3, 11), at(2026, 3, 29), at(2026, 3, 31), at(2026, 4, 1, 0, 5), at(2026, 4, 30)]
    orders = []
    for i, r in enumerate(days):
        org = a if i % 3 else b
        category = ("水电", "门窗", "电器")[i % 3]
        kind = i % 8
        if kind == 0:
            orders.append(make(org, r, category=category, accepted_at=r + H, accept_due=r + 2 * H,
                               completed_at=r + 4 * H, finish_due=r + 8 * H, rating=5,
                               total_cost=Decimal("100.50"), labour_hours=Decimal("1.5")))
        elif kind == 1:
            orders.append(make(org, r, category=category, state=State.VISITED, accepted_at=r + 3 * H,
                               accept_due=r + 2 * H, completed_at=r + 30 * H, finish_due=r + 8 * H,
                               accept_late=True, finish_late=True, rating=2, reopened_count=1,
                               total_cost=Decimal("20.25"), labour_hours=Decimal("0.5")))
        elif kind == 2:
            orders.append(make(org, r, category=category, state=State.NEW, accept_due=r + 2 * H,
                               finish_due=r + 8 * H))  # late now by the clock, no flag
        elif kind == 3:
            orders.append(make(org, r, category=category, state=State.IN_PROGRESS, accepted_at=r + H,
                               accept_due=ahead, start_due=ahead, finish_due=ahead))  # not late yet
        elif kind == 4:
            orders.append(make(org, r, category=category, state=State.DISPATCHED, accept_due=r + H,
                               finish_due=ahead, accept_late=True))  # flagged, still open
        elif kind == 5:
            orders.append(make(org, r, category=category, state=State.NEW))  # no due times at all
        elif kind == 6:
            orders.append(make(org, r, category=category, state=State.REJECTED, closed_at=r + H))
        else:
            orders.append(make(org, r, category=category, state=State.ACCEPTED, accepted_at=r + H,
                               accept_due=r + 2 * H, completed_at=r + 5 * H, finish_due=r + 8 * H,
                               total_cost=Decimal("7.00")))
            make(org, r + H, category=category, state=State.MERGED, total_cost=Decimal("99.00"))
    return orders


PERIODS = [(D(2026, 1, 1), D(2026, 4, 30)), (D(2026, 2, 3), D(2026, 3, 31)), (D(2026, 1, 1), D(2026, 1, 20)),
           (D(2026, 1, 25), D(2026, 2, 10)), (D(2026, 3, 10), D(2026, 3, 12)), (D(2026, 2, 1), D(2026, 2, 15)),
           (D(2026, 3, 5), D(2026, 3, 30)), (D(2025, 12, 20), D(2026, 1, 5)), (D(2025, 12, 31), D(2025, 12, 31)),
           (D(2026, 1, 15), timezone.localdate() + datetime.timedelta(days=10))]


def assert_figures_equal_raw(world):
    now = timezone.now()
    a, b = world.a.org, world.b.org
    for scope in (reports.Scope(a, (a,)), reports.Scope(world.bureau, (a, b))):
        ids = list(scope.org_ids)
        for start, end in PERIODS:
            expected = raw(ids, start, end, now)
            assert reports.summary(ids, start, end, now=now) == expected, (scope, start, end)
            board = reports.build_dashboard(scope, reports.Period(start, end), now=now)
            assert reports.summary_dict(board.totals) == expected, (scope, start, end)
            months = {}
            for first in reports.month_starts(reports.Period(start, end)):
                last = (first + datetime.timedelta(days=32)).replace(day=1) - datetime.timedelta(days=1)
                got = raw(ids, max(start, first), min(end, last), now)
                months[f"{first:%Y-%m}"] = (got["received"], got["done"], got["late"])
            assert {m.label: (m.received, m.done, m.late) for m in board.months} == months, (scope, start, end)
            categories: dict = {}
            for cat in board.categories:
                figures = categories.get(cat.key, (0, 0, 0))
                categories[cat.key] = tuple(x + y for x, y in zip(figures, (cat.received, cat.done, cat.late),
                                                                   strict=True))
            assert categories == raw_groups(ids, start, end, now, "category"), (scope, start, end)
            schools = {s.key: (s.received, s.done, s.late) for s in board.schools}
            if scope.is_county:
                assert schools == raw_groups(ids, start, end, now, "org"), (start, end)
        board = reports.build_dashboard(scope, reports.Period(*PERIODS[0]), now=now)
        assert [(r.state, r.count, r.late) for r in board.open_states] == raw_open(ids, now)


def test_figures_equal_the_raw_aggregates_for_any_period_and_after_changes(world, spread):
    assert_figures_equal_raw(world)
    assert RepairMonthSummary.objects.filter(org=world.a.org).exists()

    # An order is done: it leaves the open counts, its month row changes with its day row.
    not_late = next(o for o in spread if o.state == State.IN_PROGRESS)
    not_late.state, not_late.completed_at = State.DONE, not_late.reported_at + 50 * H
    not_late.rating, not_late.total_cost = 4, Decimal("12.00")
    not_late.save()
    assert_figures_equal_raw(world)

    # A new order on a day that a period subtracts from its month row (1 February).
    make(world.a.org, at(2026, 2, 1, 10), state=State.NEW, accept_due=at(2026, 2, 1, 12), finish_due=at(2026, 2, 2))
    # Open orders become due: late now, though not flagged yet; then the overdue scan flags them.
    WorkOrder.objects.filter(state=State.IN_PROGRESS).update(finish_due=timezone.now() - H)
    assert_figures_equal_raw(world)
    assert sla.flag_overdue() > 0
    assert_figures_equal_raw(world)


# --- Month rows and open counts are kept like the day rows ---------------------------------------------------------
def snapshot():
    def rows(model, *keys):
        names = [f.attname for f in model._meta.concrete_fields if f.attname != "id"]
        return sorted((tuple(round(v, 3) if isinstance(v, float) else v for v in row)
                       for row in model.objects.values_list(*names)), key=repr)
    return rows(RepairDaySummary), rows(RepairMonthSummary), rows(RepairOpenCount)


def test_month_rows_and_open_counts_equal_a_rebuild_after_changes(world, spread):
    kept = snapshot()
    rebuild_summary()
    assert snapshot() == kept
    day_sum = {f: sum(getattr(r, f) for r in RepairDaySummary.objects.filter(org=world.a.org, day__month=2))
               for f in ("received", "done", "flagged_late", "open_unflagged", "cost")}
    month_rows = RepairMonthSummary.objects.filter(org=world.a.org, month=D(2026, 2, 1))
    assert {f: sum(getattr(r, f) for r in month_rows) for f in day_sum} == day_sum and day_sum["received"] > 0
    open_a = dict(RepairOpenCount.objects.filter(org=world.a.org).values_list("state", "count"))
    assert open_a == dict(WorkOrder.objects.filter(org=world.a.org, state__in=OPEN_STATES).values("state")
                          .annotate(n=Count("pk")).values_list("state", "n"))

    order = next(o for o in spread if o.state == State.NEW and o.org_id == world.a.org.pk)
    order.state = State.CANCELLED
    order.save()
    assert RepairOpenCount.objects.get(org=world.a.org, state=State.NEW).count == open_a[State.NEW] - 1
    kept = snapshot()
    rebuild_summary()
    assert snapshot() == kept

    # A rebuild from a day on recomputes that whole month's rows from its day rows.
    RepairMonthSummary.objects.filter(org=world.a.org).update(received=999)
    RepairOpenCount.objects.all().delete()
    rebuild_summary(org_ids=[world.a.org.pk], since=D(2026, 2, 16))
    assert set(RepairMonthSummary.objects.filter(org=world.a.org, month__lt=D(2026, 2, 1))
               .values_list("received", flat=True)) == {999}  # before the month of ``since``: left alone
    assert 999 not in set(RepairMonthSummary.objects.filter(org=world.a.org, month__gte=D(2026, 2, 1))
                          .values_list("received", flat=True))
    assert RepairOpenCount.objects.filter(org=world.a.org).exists()
    rebuild_summary()
    assert snapshot() == kept
