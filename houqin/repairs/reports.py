"""Figures of the repairs dashboard (维修看板) and of the term summary: one school's or a county's work orders.

Every figure comes from aggregate queries (GROUP BY in the database): the dashboard runs four — the open counts per
school and state (``RepairOpenCount``), the few open orders not late yet (the clock-bound part of "late"), one GROUP BY
over the summaries (``RepairMonthSummary`` for whole months, ``RepairDaySummary`` for the days at a period's ends; kept
by ``houqin.repairs.summary``) per school × category × building × assignee, rolled up in Python into the totals and
the per-group tables, and one over the summaries for the months — and Python walks only grouped rows, never the orders.
The definitions are in docs/repairs-dashboard.md.

**The period rule.** A period is a range of local dates ``start``–``end`` (both included). Its orders are the orders
*reported* in it (``reported_at``, on the indexes ``(org, reported_at)``, ``(org, category, reported_at)`` and
``(org, building, reported_at)``), less the duplicates merged into another order (已合并). Every period figure —
done, on time, late, rated, cost — is about those orders, whatever happened to them later: a term's figures are the
fate of that term's reports. Only "open orders by state" is a snapshot of now, not of the period.

**Times are clock time** (wall-clock hours between the report and the acceptance or the completion): the SLA's
working-time calendar (``houqin.repairs.sla.WorkCalendar``) is computed per order in Python and is not stored, so it
cannot be averaged in the database. On-time figures compare against the stored due times, which *are* working time.
"""

from __future__ import annotations

import datetime
import operator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.db import connection
from django.db.models import Case, CharField, Count, DateField, F, Func, Q, Value, When
from django.db.models.functions import TruncDate, TruncMonth
from django.utils import timezone

from houqin.assets.analytics import Scope, pick_scope  # noqa: F401  (re-exported for the views and the API)
from houqin.repairs.models import DONE_STATES, OPEN_STATES, RepairDaySummary, RepairOpenCount, State, WorkOrder
from houqin.repairs.models.workorders import overdue_q

PERM = "repairs.view_workorder"
RATIO = Decimal("0.0001")
CENT = Decimal("0.01")
HOURS = Decimal("0.1")
ZERO = Decimal("0.00")
GOOD_RATING = 4  # 满意: 4 or 5 stars
FALLBACK_MONTHS = 6  # without a term: the last six months
MAX_DAYS = 800  # a period longer than this is refused (two school years and a bit)
TOP_ROWS = 50  # rows of a per-building table

DONE = Q(state__in=DONE_STATES)
ACCEPTED_ON_TIME = Q(accepted_at__isnull=False, accept_due__isnull=False, accepted_at__lte=F("accept_due"))
ACCEPT_CLOCKED = Q(accepted_at__isnull=False, accept_due__isnull=False)
FINISHED_ON_TIME = DONE & Q(completed_at__isnull=False, finish_due__isnull=False, completed_at__lte=F("finish_due"))
FINISH_CLOCKED = DONE & Q(completed_at__isnull=False, finish_due__isnull=False)
RATED = DONE & Q(rating__isnull=False)
SATISFIED = DONE & Q(rating__gte=GOOD_RATING)
UNRATED = DONE & Q(rating__isnull=True)
REOPENED = Q(reopened_count__gt=0)
ACCEPTED = Q(accepted_at__isnull=False)
COMPLETED = DONE & Q(completed_at__isnull=False)
COUNTS = ("received", "done", "late", "accept_clocked", "accepted_on_time", "finish_clocked", "finished_on_time",
          "accept_n", "finish_n", "rated", "satisfied", "unrated", "rating_sum", "reopened")
SUMS = ("accept_sum", "finish_sum", "labour_hours", "cost")
VALUES = COUNTS + SUMS  # a row's figures as a vector (``vector``), summed element-wise when rows roll up


# --- Small helpers --------------------------------------------------------------------------------------------------
def ratio(part, whole) -> Decimal | None:
    """``part / whole`` to four places (0.1234 = 12.34 %), None when ``whole`` is zero."""
    if not whole:
        return None
    return (Decimal(part or 0) / Decimal(whole)).quantize(RATIO, rounding=ROUND_HALF_UP)


def percent(value: Decimal | None, places: int = 1) -> str:
    if value is None:
        return "—"
    return f"{(value * 100).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)}%"


def hours(value) -> Decimal | None:
    """A mean number of hours to one place, None when there was nothing to average."""
    if value is None:
        return None
    return Decimal(str(value)).quantize(HOURS, rounding=ROUND_HALF_UP)


def money(value) -> Decimal:
    return Decimal(value or 0).quantize(CENT, rounding=ROUND_HALF_UP)


def _aware(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


# --- Local dates in native SQL ---------------------------------------------------------------------------------------
class FixedOffsetDay(Func):
    """SQLite: the local date of ``reported_at`` (stored as UTC text) in a zone of fixed offset, natively (Django's
    ``TruncDate`` calls a Python function per row there)."""

    output_field = DateField()
    arity = 1

    def __init__(self, minutes: int):
        self.minutes = minutes
        super().__init__(F("reported_at"))

    def as_sql(self, compiler, connection, **extra):
        return super().as_sql(compiler, connection, template=f"date(%(expressions)s, '{self.minutes:+d} minutes')",
                              **extra)


def _fixed_offset_minutes() -> int | None:
    """The default zone's UTC offset in minutes if it has not changed since 2000 (Asia/Shanghai: +480), else None."""
    tz = timezone.get_default_timezone()
    offsets = {datetime.datetime(year, month, 1, 12, tzinfo=tz).utcoffset()
               for year in range(2000, 2041) for month in (1, 4, 7, 10)}
    if len(offsets) != 1:
        return None
    return int(offsets.pop().total_seconds() // 60)


def local_day():
    """The local date of ``reported_at``, as an expression native to the database."""
    if connection.vendor == "sqlite":
        minutes = _fixed_offset_minutes()
        if minutes is not None:
            return FixedOffsetDay(minutes)
    return TruncDate("reported_at", tzinfo=timezone.get_default_timezone())


class FixedOffsetMonth(FixedOffsetDay):
    """SQLite: ``YYYY-MM`` of ``reported_at`` in a zone of fixed offset, natively."""

    output_field = CharField()

    def as_sql(self, compiler, connection, **extra):
        return Func.as_sql(self, compiler, connection,
                           template=f"substr(datetime(%(expressions)s, '{self.minutes:+d} minutes'), 1, 7)", **extra)


def local_month():
    """The local month of ``reported_at`` (``YYYY-MM`` on SQLite, the month's first instant elsewhere: see
    ``month_key``), natively."""
    if connection.vendor == "sqlite":
        minutes = _fixed_offset_minutes()
        if minutes is not None:
            return FixedOffsetMonth(minutes)
    return TruncMonth("reported_at", tzinfo=timezone.get_default_timezone())


def month_key(value) -> str | None:
    """``YYYY-MM`` of what ``local_month`` gave (a string, a date or an aware datetime)."""
    if value is None or isinstance(value, str):
        return value and value[:7]
    if isinstance(value, datetime.datetime) and timezone.is_aware(value):
        value = timezone.localtime(value)
    return f"{value:%Y-%m}"




# --- Scope and period -----------------------------------------------------------------------------------------------
def scopes_for(user) -> list[Scope]:
    """Each school where ``user`` may view work orders, and each bureau where they may (the county: its active
    schools), counties first. One query."""
    from houqin.core.auth import access_for
    from houqin.core.models import Organization

    orgs = Organization.objects.filter(is_active=True)
    if not user.is_superuser:
        orgs = orgs.filter(pk__in=sorted(access_for(user).orgs_for(PERM)))
    orgs = list(orgs.order_by("name"))
    schools = [o for o in orgs if not o.is_bureau]
    counties = []
    for bureau in (o for o in orgs if o.is_bureau):
        members = tuple(s for s in schools if s.parent_id == bureau.pk)
        if members:
            counties.append(Scope(bureau, members))
    return [*counties, *(Scope(s, (s,)) for s in schools)]


@dataclass(frozen=True)
class Period:
    start: datetime.date
    end: datetime.date
    label: str = ""

    @property
    def text(self) -> str:
        span = f"{self.start:%Y-%m-%d} 至 {self.end:%Y-%m-%d}"
        return f"{self.label}（{span}）" if self.label else span


def default_period(org_ids, today: datetime.date | None = None) -> Period:
    """The term in course today (core's ``Term``; in a county the earliest-starting one of its schools), else the
    last six months up to today. One query."""
    from houqin.core.models import Term

    today = today or timezone.localdate()
    term = (Term.objects.filter(org_id__in=list(org_ids), start_date__lte=today, end_date__gte=today)
            .order_by("start_date", "pk").first())
    if term is not None:
        return Period(term.start_date, term.end_date, term.name or "本学期")
    month = today.month - FALLBACK_MONTHS + 1
    year = today.year + (month - 1) // 12
    month = (month - 1) % 12 + 1
    return Period(datetime.date(year, month, 1), today, f"近{FALLBACK_MONTHS}个月")


def period_errors(start, end) -> str | None:
    if start is None or end is None:
        return None
    if end < start:
        return "结束日期不能早于开始日期。"
    if (end - start).days > MAX_DAYS:
        return f"统计期间最长 {MAX_DAYS} 天，请缩短。"
    return None


# --- Queries --------------------------------------------------------------------------------------------------------
def period_orders(org_ids, start: datetime.date, end: datetime.date):
    """The orders reported in ``org_ids`` from ``start`` to ``end`` (local dates, both included), less merged
    duplicates. A range on ``reported_at`` (not ``__date``) so the ``(org, reported_at)`` indexes serve it."""
    return (WorkOrder.objects.filter(org_id__in=sorted(org_ids), reported_at__gte=_aware(start),
                                     reported_at__lt=_aware(end + datetime.timedelta(days=1)))
            .exclude(state=State.MERGED))


SUMMED = ("received", "done", "flagged_late", "open_unflagged", "accept_clocked", "accepted_on_time",
          "finish_clocked", "finished_on_time", "accept_n", "accept_seconds", "finish_n", "finish_seconds", "rated",
          "satisfied", "unrated", "rating_sum", "reopened", "labour_hours", "cost")
MONTH_SUMMED = ("received", "done", "flagged_late", "open_unflagged")
DIMENSIONS = ("org_id", "category_id", "building_id", "assignee_id")


def _summary_facts(row: dict) -> dict:
    """A row of summed summary columns (``s_<fact>``, other keys kept) as the figure keys ``Figures.add`` reads:
    durations back to hours, decimals as Decimals; "late" is the stored late flags plus the open unflagged orders,
    less those not late by the clock yet (``late_now``) — the caller subtracts those."""
    out = {k: v for k, v in row.items() if k[:2] != "s_"}
    for name in SUMMED:
        out[name] = row[f"s_{name}"] or 0
    out["late"] = out.pop("flagged_late") + out.pop("open_unflagged")
    out["accept_sum"] = out.pop("accept_seconds") / 3600.0
    out["finish_sum"] = out.pop("finish_seconds") / 3600.0
    # Raw rows: decimals as the backend gives them (floats on SQLite, with noise in the last digits).
    out["labour_hours"] = Decimal(str(out["labour_hours"])).quantize(HOURS, rounding=ROUND_HALF_UP)
    out["cost"] = Decimal(str(out["cost"])).quantize(CENT, rounding=ROUND_HALF_UP)
    return out


def vector(row: dict) -> list:
    """The figures of an aggregate row in the order of ``VALUES``."""
    return [row[name] or 0 for name in VALUES]


OPEN = Q(state__in=OPEN_STATES)
FLAGGED = Q(accept_late=True) | Q(start_late=True) | Q(finish_late=True)  # a step done late (stored, not clock-bound)
OPEN_UNFLAGGED = OPEN & ~FLAGGED  # stored in the summary; those of them late now are the clock-bound part of "late"


@dataclass(frozen=True)
class Slices:
    """Which summary rows make a period: the month rows of ``months`` (a contiguous run of first days, or none), plus
    the day rows of the ranges ``plus``, less the day rows of the ranges ``minus`` (days of a month row outside the
    period). A partly covered month is read as day rows when the period covers at most half of it, else as its
    month row less the days outside the period — so a period reads at most about half a month of day rows at each
    end, however long it is (and none after today: no order is reported in the future)."""

    months: tuple = ()
    plus: tuple = ()
    minus: tuple = ()


def _next_month(day: datetime.date) -> datetime.date:
    return (day.replace(day=1) + datetime.timedelta(days=32)).replace(day=1)


def slices(start: datetime.date, end: datetime.date) -> Slices:
    months, plus, minus = [], [], []
    first = start.replace(day=1)
    one = datetime.timedelta(days=1)
    while first <= end:
        last = _next_month(first) - one
        lo, hi = max(start, first), min(end, last)
        covered, total = (hi - lo).days + 1, (last - first).days + 1
        if covered == total:
            months.append(first)
        elif covered * 2 <= total:
            plus.append((lo, hi))
        else:
            months.append(first)
            if lo > first:
                minus.append((first, lo - one))
            if hi < last:
                minus.append((hi + one, last))
        first = _next_month(first)
    return Slices(tuple(months), tuple(plus), tuple(minus))


def _month_text(column: str) -> str:
    """SQL for ``YYYY-MM`` of a date column (no per-row Python function on SQLite)."""
    if connection.vendor == "postgresql":
        return f"to_char({column}, 'YYYY-MM')"
    return f"substr({column}, 1, 7)"


def summed_sql(org_ids, start: datetime.date, end: datetime.date, *, by_month: bool = False) -> tuple[str, list]:
    """``SELECT <group>, SUM(fact) AS s_fact … FROM (<the period's summary rows>) GROUP BY <group>``: per school ×
    category × building × assignee, or per month of report (``month``, ``YYYY-MM``) with ``by_month``. The rows are a
    ``UNION ALL`` of the month rows and the day rows of ``slices`` (subtracted ones negated), each on its index
    (``(org, month)``, ``(org, day)``)."""
    from houqin.repairs.models import RepairMonthSummary

    quote = connection.ops.quote_name
    cut = slices(start, end)
    facts = MONTH_SUMMED if by_month else SUMMED
    orgs = sorted(org_ids) or [0]
    in_orgs = f"{quote('org_id')} IN ({', '.join(['%s'] * len(orgs))})"
    date = connection.ops.adapt_datefield_value
    branches, params = [], []

    def branch(table: str, column: str, lo, hi, sign: str):
        group = _month_text(quote(column)) + " AS month" if by_month else ", ".join(quote(c) for c in DIMENSIONS)
        values = ", ".join(f"{sign}{quote(RepairDaySummary._meta.get_field(f).column)} AS {quote(f)}" for f in facts)
        branches.append(f"SELECT {group}, {values} FROM {quote(table)} "
                        f"WHERE {in_orgs} AND {quote(column)} >= %s AND {quote(column)} <= %s")
        params.extend([*orgs, date(lo), date(hi)])

    if cut.months:
        branch(RepairMonthSummary._meta.db_table, "month", cut.months[0], cut.months[-1], "")
    for lo, hi in cut.plus:
        branch(RepairDaySummary._meta.db_table, "day", lo, hi, "")
    for lo, hi in cut.minus:
        branch(RepairDaySummary._meta.db_table, "day", lo, hi, "-")
    keys = "month" if by_month else ", ".join(quote(c) for c in DIMENSIONS)
    sums = ", ".join(f"SUM({quote(f)}) AS {quote('s_' + f)}" for f in facts)
    # A combination whose orders all fall on the days subtracted from a month row sums to nothing: not a row.
    return (f"SELECT {keys}, {sums} FROM ({' UNION ALL '.join(branches)}) u GROUP BY {keys} "
            f"HAVING SUM({quote('received')}) <> 0", params)


def _fetch(sql: str, params) -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [c[0] for c in cursor.description]
        return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]


class CompiledQuery:
    """A query compiled once per process and shape, then bound to new values: the ORM takes ~10 ms to compile the
    not-late query (its ``overdue_q`` and cases), the database ~1 ms to run it. Built with sentinel values (dates in
    1901, negative ids) that no real parameter can equal; ``bind`` puts the real ones in their places."""

    SENTINELS = {"now": datetime.datetime(1901, 1, 1, 1, tzinfo=datetime.UTC),
                 "start": datetime.datetime(1901, 1, 2, 2, tzinfo=datetime.UTC),
                 "end": datetime.datetime(1901, 1, 3, 3, tzinfo=datetime.UTC)}

    def __init__(self, build, n_orgs: int):
        orgs = [-(i + 1) for i in range(n_orgs)]
        queryset = build(orgs=orgs, **self.SENTINELS)
        self.sql, params = queryset.query.sql_with_params()
        field = WorkOrder._meta.get_field("reported_at")
        marks = {self._key(field.get_db_prep_value(value, connection)): name for name, value in self.SENTINELS.items()}
        self.slots = []
        for value in params:
            if isinstance(value, int) and not isinstance(value, bool) and value < 0:
                self.slots.append(("org", -value - 1))
            else:
                self.slots.append((marks.get(self._key(value)), value))

    @staticmethod
    def _key(value):
        return value.isoformat() if isinstance(value, datetime.datetime) else value

    def bind(self, *, orgs, **values) -> tuple[str, list]:
        field = WorkOrder._meta.get_field("reported_at")
        prepared = {name: field.get_db_prep_value(value, connection) for name, value in values.items()}
        params = []
        for slot, value in self.slots:
            params.append(orgs[value] if slot == "org" else prepared[slot] if slot else value)
        return self.sql, params


_COMPILED: dict = {}


def _not_late_query(*, orgs, now, start, end):
    """The open orders that may still be on time, grouped (see ``late_now``)."""
    in_period = Q(reported_at__gte=start, reported_at__lt=end)
    # The candidates by id — finish due ahead, or none (in practice none: due times are set together) — each on the
    # (org, finish_due) index; the state only in the counts: else SQLite prefers an index serving the GROUP BY and
    # reads every open order of the school.
    ahead = WorkOrder.objects.filter(org_id__in=orgs, finish_due__gte=now).order_by().values("pk")
    no_due = WorkOrder.objects.filter(org_id__in=orgs, finish_due__isnull=True).order_by().values("pk")
    return (WorkOrder.objects.filter(pk__in=ahead.union(no_due, all=True)).order_by()
            .annotate(p_in=Case(When(in_period, then=Value(1)), default=Value(0)), p_month=local_month())
            .values("state", "org", "category", "building", "assignee", "p_in", "p_month")
            .annotate(n=Count("pk", filter=OPEN), late=Count("pk", filter=OPEN & overdue_q(now))))


def _not_late_sql(n_orgs: int) -> CompiledQuery:
    key = (connection.vendor, timezone.get_default_timezone_name(), n_orgs)
    if key not in _COMPILED:
        _COMPILED[key] = CompiledQuery(_not_late_query, n_orgs)
    return _COMPILED[key]


def late_now(org_ids, period: Period, now) -> tuple[dict, list[StateRow]]:
    """The clock-bound part of the figures, live: two queries over the open orders only.

    1. Open orders by state now (all open orders, whenever reported): the kept counts per school and state
       (``RepairOpenCount``, a few rows per school).
    2. The open orders that may still be on time — those whose finish due time (the latest of their due times) is
       ahead, or that have none (a few: the orders of the last days, on the ``(org, finish_due)`` index) — per
       state, and — for the period's — per school × category × building × assignee × month of report: how many are
       **not** late now. The summary stores the open orders without a late flag (``open_unflagged``); those less the
       ones not late now are exactly the orders late now by the clock only (open, no flag, past a due time).

    Returns ``({(org, category, building, assignee): n, ("month", "YYYY-MM"): n}, open_states)`` where ``n`` counts the
    period's orders not late now, to subtract from ``late``."""
    orgs = sorted(org_ids)
    open_counts: dict = {}
    for state, count in RepairOpenCount.objects.filter(org_id__in=orgs).values_list("state", "count"):
        open_counts[state] = open_counts.get(state, 0) + count
    sql, params = _not_late_sql(len(orgs)).bind(orgs=orgs, now=now, start=_aware(period.start),
                                                 end=_aware(period.end + datetime.timedelta(1)))
    rows = _fetch(sql, params)
    not_late: dict = {}
    state_ok: dict = {}
    for row in rows:
        n = row["n"] - row["late"]
        if not n:
            continue
        state_ok[row["state"]] = state_ok.get(row["state"], 0) + n
        if row["p_in"]:
            key = (row["org"], row["category"], row["building"], row["assignee"])
            not_late[key] = not_late.get(key, 0) + n
            month = ("month", month_key(row["p_month"]))
            not_late[month] = not_late.get(month, 0) + n
    labels = dict(State.choices)
    states = [StateRow(s.value, labels[s], open_counts.get(s, 0), open_counts.get(s, 0) - state_ok.get(s, 0))
              for s in OPEN_STATES]
    return not_late, states


@dataclass
class Figures:
    """One row of figures: the period's totals, or a group's (category, building, technician, month)."""

    key: object = None
    label: str = ""
    received: int = 0
    done: int = 0
    late: int = 0
    accept_clocked: int = 0
    accepted_on_time: int = 0
    finish_clocked: int = 0
    finished_on_time: int = 0
    accept_n: int = 0
    accept_sum: float = 0.0
    finish_n: int = 0
    finish_sum: float = 0.0
    rated: int = 0
    satisfied: int = 0
    unrated: int = 0
    rating_sum: int = 0
    reopened: int = 0
    labour_hours: Decimal = Decimal("0.0")
    cost: Decimal = ZERO
    school: str = ""

    @classmethod
    def from_row(cls, row: dict, key=None, label: str = "", school: str = "") -> Figures:
        figures = cls(key=key, label=label, school=school)
        figures.add(row)
        return figures

    @classmethod
    def from_vector(cls, values: list, key=None, label: str = "", school: str = "") -> Figures:
        """Figures from the element-wise sum of ``vector``s (the same as adding their rows one by one)."""
        figures = cls(key=key, label=label, school=school)
        figures.__dict__.update(zip(VALUES, values, strict=True))
        figures.accept_sum, figures.finish_sum = float(figures.accept_sum), float(figures.finish_sum)
        figures.labour_hours = Decimal(figures.labour_hours).quantize(HOURS)
        figures.cost = money(figures.cost)
        return figures

    def add(self, row: dict) -> None:
        """Add an aggregate row (a dict of the ``_figures`` keys) to these figures."""
        values = self.__dict__  # (a dataclass without slots: the plain dict is the fastest way, many rows roll up)
        for name in COUNTS:
            values[name] += row[name] or 0
        self.accept_sum += float(row["accept_sum"] or 0)
        self.finish_sum += float(row["finish_sum"] or 0)
        self.labour_hours = (self.labour_hours + Decimal(row["labour_hours"] or 0)).quantize(HOURS)
        self.cost = money(self.cost + Decimal(row["cost"] or 0))

    @property
    def accept_hours(self) -> Decimal | None:
        """Mean clock hours from the report to the acceptance (accepted orders)."""
        return hours(self.accept_sum / self.accept_n) if self.accept_n else None

    @property
    def finish_hours(self) -> Decimal | None:
        """Mean clock hours from the report to the completion (done orders)."""
        return hours(self.finish_sum / self.finish_n) if self.finish_n else None

    @property
    def rating_avg(self) -> Decimal | None:
        if not self.rated:
            return None
        return (Decimal(self.rating_sum) / Decimal(self.rated)).quantize(CENT, rounding=ROUND_HALF_UP)

    @property
    def done_rate(self):
        return ratio(self.done, self.received)

    @property
    def accept_rate(self):
        """受理及时率: accepted by the accept due time ÷ accepted orders with a due time."""
        return ratio(self.accepted_on_time, self.accept_clocked)

    @property
    def finish_rate(self):
        """完工及时率: done by the finish due time ÷ done orders with a due time."""
        return ratio(self.finished_on_time, self.finish_clocked)

    @property
    def satisfaction(self):
        """满意率: rated 4 or 5 stars ÷ rated orders (unrated orders are neither)."""
        return ratio(self.satisfied, self.rated)


@dataclass
class StateRow:
    state: str
    label: str
    count: int
    late: int


@dataclass
class Dashboard:
    scope: Scope
    period: Period
    now: datetime.datetime
    totals: Figures
    open_states: list[StateRow] = field(default_factory=list)
    categories: list[Figures] = field(default_factory=list)
    buildings: list[Figures] = field(default_factory=list)
    technicians: list[Figures] = field(default_factory=list)
    months: list[Figures] = field(default_factory=list)
    schools: list[Figures] = field(default_factory=list)

    @property
    def open_total(self) -> int:
        return sum(r.count for r in self.open_states)

    @property
    def open_late(self) -> int:
        return sum(r.late for r in self.open_states)


def summary(org_ids, start: datetime.date, end: datetime.date, *, now=None) -> dict:
    """The period's headline figures for the term summary (three queries: the summary rows, the open orders by state
    and those not late yet — see ``late_now``). Keys:

    ``received`` 受理 N 单 (reported in the period, less merged duplicates); ``done`` 完成 N 单 (of those, now 已完工,
    已验收 or 已回访); ``done_rate`` 完成率 (done ÷ received); ``accept_hours`` 平均响应时间 (mean clock hours from the
    report to the acceptance, accepted orders); ``finish_hours`` 平均完成时间 (report to completion, done orders);
    ``satisfaction`` 满意率 (ratings ≥ 4 ÷ rated orders); ``rated``; ``unrated`` 未评价 N (done orders without a
    rating — never counted as satisfied); ``late`` 超时 N (a step done late, or open past a due time now);
    ``cost`` 维修费用合计 (total cost of the done orders); plus ``accept_rate`` / ``finish_rate`` (on time).
    Ratios are Decimals to four places (0.8 = 80 %) or None, hours Decimals to one place or None.
    """
    now = now or timezone.now()
    not_late, _ = late_now(org_ids, Period(start, end), now)
    totals = Figures()
    for row in fine_rows(org_ids, start, end, names=False):
        totals.add(row)
    totals.late -= sum(n for key, n in not_late.items() if key[0] != "month")
    return summary_dict(totals)


def summary_dict(f: Figures) -> dict:
    return {
        "received": f.received, "done": f.done, "done_rate": f.done_rate, "accept_hours": f.accept_hours,
        "finish_hours": f.finish_hours, "satisfaction": f.satisfaction, "rated": f.rated, "satisfied": f.satisfied,
        "unrated": f.unrated, "rating_avg": f.rating_avg, "late": f.late, "reopened": f.reopened,
        "accept_rate": f.accept_rate, "finish_rate": f.finish_rate, "labour_hours": f.labour_hours, "cost": f.cost,
    }


GROUPS = {
    # key → (grouped field, label field, label when empty)
    "category": ("category", "category__name", "（未分类）"),
    "building": ("building", "building__name", "（室外或未指定楼栋）"),
    "technician": ("assignee", "assignee__full_name", "（未派工）"),
    "school": ("org", "org__name", ""),
}


def fine_rows(org_ids, start: datetime.date, end: datetime.date, *, names: bool = True) -> list[dict]:
    """The period's figures per school × category × building × assignee from the summary (``summed_sql``): one
    GROUP BY, a row per combination that occurs (a few dozen per school), which the totals and every per-group table
    roll up in Python. With ``names`` the names are joined to the grouped rows, not to every summary row
    (``SELECT g.*, names FROM (…) g LEFT JOIN …``). "late" counts the late flags and the open unflagged orders:
    subtract those not late now (``late_now``)."""
    sql, params = summed_sql(org_ids, start, end)
    if names:
        quote = connection.ops.quote_name
        selects, joins = [], []
        for i, (key, label, _) in enumerate(GROUPS.values()):
            model = RepairDaySummary._meta.get_field(key).related_model
            alias = f"t{i}"
            selects.append(f"{alias}.{quote(model._meta.get_field(label.split('__')[1]).column)} AS {quote(label)}")
            joins.append(f"LEFT JOIN {quote(model._meta.db_table)} {alias} "
                         f"ON {alias}.{quote(model._meta.pk.column)} = g.{quote(key + '_id')}")
        sql = f"SELECT g.*, {', '.join(selects)} FROM ({sql}) g {' '.join(joins)}"
    rows = [_summary_facts(r) for r in _fetch(sql, params)]
    for row in rows:
        for key, _, _ in GROUPS.values():
            row[key] = row.pop(f"{key}_id")
    return rows


def roll_up(rows: list[dict], group: str, *, county: bool) -> list[Figures]:
    """The rows (each with its ``vector`` under ``"_v"``) summed per group: a county's per school and group."""
    field_name, label_field, empty = GROUPS[group]
    per_school = county and group != "school"
    out: dict = {}
    for row in rows:
        key = (row["org"], row[field_name]) if per_school else row[field_name]
        entry = out.get(key)
        if entry is None:
            out[key] = [row, row["_v"]]
        else:
            entry[1] = list(map(operator.add, entry[1], row["_v"]))
    result = [Figures.from_vector(values, key=row[field_name], label=row[label_field] or empty,
                                  school=row["org__name"] if per_school else "") for row, values in out.values()]
    result.sort(key=lambda f: (-f.received, f.school, f.label))
    return result


def month_starts(period: Period) -> list[datetime.date]:
    day, out = period.start.replace(day=1), []
    while day <= period.end:
        out.append(day)
        day = (day + datetime.timedelta(days=32)).replace(day=1)
    return out


def monthly(org_ids, period: Period, not_late: dict) -> list[Figures]:
    """受理, 完成, 超时 per month of report, every month of the period (empty months as zeros). One query over the
    summary grouped by month (``summed_sql(by_month=True)``), less the orders not late now of ``late_now``."""
    found = {r["month"]: r for r in _fetch(*summed_sql(org_ids, period.start, period.end, by_month=True))}
    out = []
    for first in month_starts(period):
        key = f"{first:%Y-%m}"
        row = found.get(key, {})
        late = (row.get("s_flagged_late") or 0) + (row.get("s_open_unflagged") or 0) - not_late.get(("month", key), 0)
        out.append(Figures(key=first, label=key, received=row.get("s_received") or 0, done=row.get("s_done") or 0,
                           late=late))
    return out


def build_dashboard(scope: Scope, period: Period, *, now=None) -> Dashboard:
    """Every figure of the dashboard: 4 queries (the fine-grained GROUP BY and the months over the summary, the open
    orders by state and those not late yet), whatever the number of orders."""
    now = now or timezone.now()
    org_ids = scope.org_ids
    not_late, states = late_now(org_ids, period, now)
    rows = fine_rows(org_ids, period.start, period.end)
    total = [0] * len(VALUES)
    for row in rows:
        row["late"] -= not_late.get((row["org"], row["category"], row["building"], row["assignee"]), 0)
        row["_v"] = vector(row)
        total = list(map(operator.add, total, row["_v"]))
    county = scope.is_county
    totals = Figures.from_vector(total, label="合计")
    board = Dashboard(scope=scope, period=period, now=now, totals=totals, open_states=states,
                      categories=roll_up(rows, "category", county=county),
                      buildings=roll_up(rows, "building", county=county),
                      technicians=roll_up(rows, "technician", county=county),
                      months=monthly(org_ids, period, not_late))
    if county:
        board.schools = roll_up(rows, "school", county=True)
    return board
