"""Keeping the dashboard's summaries right. Design in docs/repairs-dashboard.md.

Three derived tables: ``RepairDaySummary`` (per school × local day of report × category × building × assignee),
``RepairMonthSummary`` (the same per month: the sum of the month's day rows) and ``RepairOpenCount`` (open orders per
school and state). They are never patched: a school-day's rows are **recomputed** from the orders reported that day —
one ``INSERT … SELECT … GROUP BY`` over a handful of orders — then that school-month's rows from its day rows, then the
school's open counts, whenever one of its orders changes:

* ``order_saved`` (the ``post_save`` signal of ``WorkOrder``, connected in ``models/summary.py``): every save of an
  order — each command of ``services`` saves its transition once, ``create_order`` saves the new order — recomputes
  its day, inside the caller's transaction (so a refused or failed command leaves the summary as it was);
* ``touch_orders`` after queryset updates that skip ``save()`` (``sla.flag_overdue``);
* ``rebuild_summary`` rebuilds everything (or some schools, or from a date on) with one statement per table: after
  bulk inserts (the benchmark, ``bulk_create``), at the end of the demo, or by hand (``manage.py
  rebuild_repair_summary``).

Concurrency: on PostgreSQL a transaction-scoped advisory lock per school serialises two recomputes in one school
(each then reads what the other committed: READ COMMITTED takes a fresh snapshot per statement); SQLite has a single
writer anyway.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Count, F, FloatField, Func, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from houqin.repairs.models import OPEN_STATES, RepairDaySummary, RepairMonthSummary, RepairOpenCount, State, WorkOrder
from houqin.repairs.reports import (
    ACCEPT_CLOCKED,
    ACCEPTED,
    ACCEPTED_ON_TIME,
    COMPLETED,
    DONE,
    FINISH_CLOCKED,
    FINISHED_ON_TIME,
    FLAGGED,
    OPEN_UNFLAGGED,
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
        "open_unflagged": Count("pk", filter=OPEN_UNFLAGGED),
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


def _insert_from(model, grouped) -> int:
    """``INSERT INTO <model's table> (…) <grouped's SELECT>``: each selected column is named as the model's field
    (Django 5.2 aliases values() fields by their name). One statement. Returns the rows inserted."""
    compiler = grouped.query.get_compiler(connection=connection)
    select_sql, params = compiler.as_sql()
    columns = [model._meta.get_field(alias or expr.target.name).column for expr, _, alias in compiler.select]
    table = connection.ops.quote_name(model._meta.db_table)
    names = ", ".join(connection.ops.quote_name(c) for c in columns)
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} ({names}) {select_sql}", params)
        return cursor.rowcount


def _insert_select(orders) -> int:
    """``INSERT INTO summary (…) SELECT … GROUP BY school, day, category, building, assignee`` over ``orders``:
    one statement, whatever the number of orders. Returns the rows inserted."""
    return _insert_from(RepairDaySummary, orders.exclude(state=State.MERGED).order_by().annotate(day=local_day())
                        .values("org", "day", "category", "building", "assignee").annotate(**facts()))


def _recount_open(org_ids=None) -> None:
    """Recount the open orders per school and state (``RepairOpenCount``): one DELETE and one
    ``INSERT … SELECT COUNT(*) … GROUP BY`` on the ``(org, state, reported_at)`` index alone."""
    counts, orders = RepairOpenCount.objects.all(), WorkOrder.objects.filter(state__in=OPEN_STATES)
    if org_ids is not None:
        counts, orders = counts.filter(org_id__in=org_ids), orders.filter(org_id__in=org_ids)
    counts.delete()
    _insert_from(RepairOpenCount, orders.order_by().values("org", "state").annotate(count=Count("*")))


def month_start(day: datetime.date) -> datetime.date:
    return day.replace(day=1)


def next_month(day: datetime.date) -> datetime.date:
    return (day.replace(day=1) + datetime.timedelta(days=32)).replace(day=1)


FACT_COLUMNS = [f.column for f in RepairDaySummary._meta.concrete_fields
                if f.name not in ("id", "org", "day", "category", "building", "assignee")]
DIMENSIONS = ["org_id", "category_id", "building_id", "assignee_id"]


def _sql_date(day: datetime.date):
    return connection.ops.adapt_datefield_value(day)


def _months_from_days(org_ids=None, start: datetime.date | None = None, end: datetime.date | None = None) -> int:
    """``INSERT INTO month summary SELECT … SUM(…) FROM day summary GROUP BY school, month, category, building,
    assignee`` over the day rows of ``org_ids`` (all when None) from ``start`` (a month's first day) to before ``end``.
    The caller deleted the month rows first."""
    quote = connection.ops.quote_name
    where, params = [], []
    if org_ids is not None:
        where.append(f"{quote('org_id')} IN ({', '.join(['%s'] * len(org_ids))})")
        params += list(org_ids)
    if start is not None:
        where.append(f"{quote('day')} >= %s")
        params.append(_sql_date(start))
    if end is not None:
        where.append(f"{quote('day')} < %s")
        params.append(_sql_date(end))
    month_sql = ("CAST(date_trunc('month', {0}) AS date)" if connection.vendor == "postgresql"
                 else "date({0}, 'start of month')").format(quote("day"))
    dims = ", ".join(quote(c) for c in DIMENSIONS)
    sql = (f"INSERT INTO {quote(RepairMonthSummary._meta.db_table)} "
           f"({dims}, {quote('month')}, {', '.join(quote(c) for c in FACT_COLUMNS)}) "
           f"SELECT {dims}, {month_sql}, {', '.join(f'SUM({quote(c)})' for c in FACT_COLUMNS)} "
           f"FROM {quote(RepairDaySummary._meta.db_table)} {'WHERE ' + ' AND '.join(where) if where else ''} "
           f"GROUP BY {dims}, {month_sql}")
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _lock(org_id: int) -> None:
    """PostgreSQL: serialise the recomputes of one school (its days, months and open counts) until the transaction
    ends. One lock per school, taken before anything else: no two transactions wait on each other in a cycle."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [(LOCK_NAMESPACE << 48) | int(org_id)])


def touch_days(keys) -> None:
    """Recompute the summary rows of each (school id, local date) in ``keys`` from that day's orders, then the month
    rows of each school-month touched from its day rows, then the school's open counts."""
    schools: dict = {}
    for org_id, day in set(keys):
        schools.setdefault(org_id, {}).setdefault(month_start(day), set()).add(day)
    for org_id, months in sorted(schools.items()):  # a fixed order: no two callers wait on each other in a cycle
        with transaction.atomic():
            _lock(org_id)
            for month, days in sorted(months.items()):
                for day in sorted(days):
                    RepairDaySummary.objects.filter(org_id=org_id, day=day).delete()
                    _insert_select(WorkOrder.objects.filter(
                        org_id=org_id, reported_at__gte=_aware(day),
                        reported_at__lt=_aware(day + datetime.timedelta(days=1))))
                RepairMonthSummary.objects.filter(org_id=org_id, month=month).delete()
                _months_from_days([org_id], month, next_month(month))
            _recount_open([org_id])


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
    the day rows with one DELETE and one INSERT … SELECT … GROUP BY over the orders, then the month rows (from the
    month of ``since``) the same way over the day rows, in one transaction. Returns the day rows written."""
    rows, months = RepairDaySummary.objects.all(), RepairMonthSummary.objects.all()
    orders = WorkOrder.objects.all()
    if org_ids is not None:
        org_ids = sorted(org_ids)
        rows, months, orders = rows.filter(org_id__in=org_ids), months.filter(org_id__in=org_ids), \
            orders.filter(org_id__in=org_ids)
    first = None
    if since is not None:
        first = month_start(since)
        rows, months = rows.filter(day__gte=since), months.filter(month__gte=first)
        orders = orders.filter(reported_at__gte=_aware(since))
    with transaction.atomic():
        rows.delete()  # derived rows: no signals, no relations — one DELETE statement
        months.delete()
        written = _insert_select(orders)
        _months_from_days(org_ids, first)
        _recount_open(org_ids)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for model in (RepairDaySummary, RepairMonthSummary, RepairOpenCount):
                cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
    return written
