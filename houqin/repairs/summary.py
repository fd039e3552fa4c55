"""Keeping the dashboard's per-day summary (``RepairDaySummary``) right. Design in docs/repairs-dashboard.md.

A school-day's rows are never patched: they are **recomputed** from the orders reported that (local) day in that
school — one ``INSERT … SELECT … GROUP BY`` over a handful of orders — whenever one of them changes:

* ``order_saved`` (the ``post_save`` signal of ``WorkOrder``, connected in ``models/summary.py``): every save of an
  order — each command of ``services`` saves its transition once, ``create_order`` saves the new order — recomputes
  its day, inside the caller's transaction (so a refused or failed command leaves the summary as it was);
* ``touch_orders`` after queryset updates that skip ``save()`` (``sla.flag_overdue``);
* ``rebuild_summary`` rebuilds everything (or some schools, or from a date on) with one statement: after bulk inserts
  (the benchmark, ``bulk_create``), at the end of the demo, or by hand (``manage.py rebuild_repair_summary``).

Concurrency: on PostgreSQL a transaction-scoped advisory lock per school-day serialises two recomputes of the same
day (each then reads what the other committed: READ COMMITTED takes a fresh snapshot per statement); SQLite has a
single writer anyway.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Count, F, FloatField, Func, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from houqin.repairs.models import RepairDaySummary, State, WorkOrder
from houqin.repairs.reports import (
    ACCEPT_CLOCKED,
    ACCEPTED,
    ACCEPTED_ON_TIME,
    COMPLETED,
    DONE,
    FINISH_CLOCKED,
    FINISHED_ON_TIME,
    FLAGGED,
    RATED,
    REOPENED,
    SATISFIED,
    UNRATED,
    local_day,
)

# A save touching none of these cannot change the summary (the notes, photos, approval flag …).
RELEVANT = frozenset({
    "org", "state", "category", "building", "assignee", "reported_at", "accepted_at", "completed_at", "accept_due",
    "finish_due", "accept_late", "start_late", "finish_late", "rating", "reopened_count", "labour_hours",
    "total_cost"})
LOCK_NAMESPACE = 0x5244  # high bits of the advisory-lock key ("RD")


class SecondsSinceReport(Func):
    """Clock seconds from ``reported_at`` to another timestamp, in native SQL (to the millisecond on SQLite, where
    ``julianday`` arithmetic leaves noise in the last digits)."""

    output_field = FloatField()
    arity = 2

    def __init__(self, end: str):
        super().__init__(F(end), F("reported_at"))

    def as_sql(self, compiler, connection, **extra):  # PostgreSQL
        return super().as_sql(compiler, connection,
                              template="CAST(EXTRACT(EPOCH FROM (%(expressions)s)) AS double precision)",
                              arg_joiner=" - ", **extra)

    def as_sqlite(self, compiler, connection, **extra):
        return super().as_sql(compiler, connection, template="ROUND((julianday(%(expressions)s)) * 86400.0, 3)",
                              arg_joiner=") - julianday(", **extra)


def facts() -> dict:
    """The aggregates of one summary row, named as its columns (definitions: docs/repairs-dashboard.md)."""
    zero = Value(0)
    return {
        "received": Count("pk"),
        "done": Count("pk", filter=DONE),
        "flagged_late": Count("pk", filter=FLAGGED),
        "accept_clocked": Count("pk", filter=ACCEPT_CLOCKED),
        "accepted_on_time": Count("pk", filter=ACCEPTED_ON_TIME),
        "finish_clocked": Count("pk", filter=FINISH_CLOCKED),
        "finished_on_time": Count("pk", filter=FINISHED_ON_TIME),
        "accept_n": Count("pk", filter=ACCEPTED),
        "accept_seconds": Coalesce(Sum(SecondsSinceReport("accepted_at"), filter=ACCEPTED), Value(0.0)),
        "finish_n": Count("pk", filter=COMPLETED),
        "finish_seconds": Coalesce(Sum(SecondsSinceReport("completed_at"), filter=COMPLETED), Value(0.0)),
        "rated": Count("pk", filter=RATED),
        "satisfied": Count("pk", filter=SATISFIED),
        "unrated": Count("pk", filter=UNRATED),
        "rating_sum": Coalesce(Sum("rating", filter=RATED), zero),
        "reopened": Count("pk", filter=REOPENED),
        "labour_hours": Coalesce(Sum("labour_hours", filter=DONE), Value(Decimal("0"))),
        "cost": Coalesce(Sum("total_cost", filter=DONE), Value(Decimal("0"))),
    }


def _aware(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def _insert_select(orders) -> int:
    """``INSERT INTO summary (…) SELECT … GROUP BY school, day, category, building, assignee`` over ``orders``:
    one statement, whatever the number of orders. Returns the rows inserted."""
    grouped = (orders.exclude(state=State.MERGED).order_by().annotate(day=local_day())
               .values("org", "day", "category", "building", "assignee").annotate(**facts()))
    compiler = grouped.query.get_compiler(connection=connection)
    select_sql, params = compiler.as_sql()
    # Each selected column is named as the summary's field (Django 5.2 aliases values() fields by their name).
    columns = [RepairDaySummary._meta.get_field(alias or expr.target.name).column for expr, _, alias in compiler.select]
    table = connection.ops.quote_name(RepairDaySummary._meta.db_table)
    names = ", ".join(connection.ops.quote_name(c) for c in columns)
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} ({names}) {select_sql}", params)
        return cursor.rowcount


def _lock(org_id: int, day: datetime.date) -> None:
    if connection.vendor == "postgresql":
        key = (LOCK_NAMESPACE << 48) | (int(org_id) << 20) | (day.toordinal() & 0xFFFFF)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def touch_days(keys) -> None:
    """Recompute the summary rows of each (school id, local date) in ``keys`` from that day's orders."""
    for org_id, day in sorted(set(keys)):  # a fixed order: two callers never wait on each other in a cycle
        with transaction.atomic():
            _lock(org_id, day)
            RepairDaySummary.objects.filter(org_id=org_id, day=day).delete()
            _insert_select(WorkOrder.objects.filter(org_id=org_id, reported_at__gte=_aware(day),
                                                    reported_at__lt=_aware(day + datetime.timedelta(days=1))))


def touch(order: WorkOrder) -> None:
    """Recompute the summary of ``order``'s school-day (call after saving a change to it)."""
    touch_days([(order.org_id, timezone.localdate(order.reported_at))])


def touch_orders(ids) -> None:
    """Recompute the school-days of the orders ``ids`` (after a queryset ``update()``, which skips ``save()``)."""
    ids = list(ids)
    if not ids:
        return
    rows = WorkOrder.objects.filter(pk__in=ids).order_by().values_list("org_id", "reported_at")
    touch_days({(org_id, timezone.localdate(reported)) for org_id, reported in rows})


def order_saved(order: WorkOrder, update_fields=None) -> None:
    """``post_save`` of a work order: recompute its day unless the save could not change a figure."""
    if update_fields is not None and not RELEVANT.intersection(update_fields):
        return
    if order.reported_at is None or order.org_id is None:
        return
    touch(order)


def rebuild_summary(org_ids=None, since: datetime.date | None = None) -> int:
    """Rebuild the summary of the schools ``org_ids`` (all when None) from the day ``since`` on (all days when None):
    one DELETE and one INSERT … SELECT … GROUP BY, in one transaction. Returns the rows written."""
    rows = RepairDaySummary.objects.all()
    orders = WorkOrder.objects.all()
    if org_ids is not None:
        org_ids = sorted(org_ids)
        rows, orders = rows.filter(org_id__in=org_ids), orders.filter(org_id__in=org_ids)
    if since is not None:
        rows, orders = rows.filter(day__gte=since), orders.filter(reported_at__gte=_aware(since))
    with transaction.atomic():
        rows.delete()  # derived rows: no signals, no relations — one DELETE statement
        written = _insert_select(orders)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(RepairDaySummary._meta.db_table)}")
    return written
