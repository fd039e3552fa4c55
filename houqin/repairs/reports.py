"""Figures of the repairs dashboard (维修看板) and of the term summary: one school's or a county's work orders.

Every figure comes from aggregate queries (GROUP BY in the database): the dashboard runs three — one over the per-day
summary (``RepairDaySummary``, kept by ``houqin.repairs.summary``) per school × category × building × assignee,
rolled up in Python into the totals and the per-group tables, one over the summary for the months, and one live query
over the open orders (by state, and the period's orders late *now*, which depends on the clock) — and Python walks
only grouped rows, never the orders.
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
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.db import connection
from django.db.models import Case, CharField, Count, DateField, F, Func, Q, Sum, When
from django.db.models.functions import TruncDate, TruncMonth
from django.utils import timezone

from houqin.assets.analytics import Scope, pick_scope  # noqa: F401  (re-exported for the views and the API)
from houqin.repairs.models import DONE_STATES, OPEN_STATES, RepairDaySummary, State, WorkOrder
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


class DayMonth(Func):
    """``YYYY-MM`` of a date column, natively (Django's ``TruncMonth`` calls a Python function per row on SQLite)."""

    output_field = CharField()
    arity = 1
    template = "substr(%(expressions)s, 1, 7)"

    def as_postgresql(self, compiler, connection, **extra):
        return super().as_sql(compiler, connection, template="to_char(%(expressions)s, 'YYYY-MM')", **extra)


def month_key(value) -> str | None:
    """``YYYY-MM`` of what ``local_month``/``DayMonth`` gave (a string, a date or an aware datetime)."""
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


def summary_rows(org_ids, start: datetime.date, end: datetime.date):
    """The per-day summary rows of ``org_ids`` for the orders reported from ``start`` to ``end`` (both included):
    a filter on the day column (index ``(org, day)``)."""
    return RepairDaySummary.objects.filter(org_id__in=sorted(org_ids), day__gte=start, day__lte=end)


SUMMED = ("received", "done", "flagged_late", "accept_clocked", "accepted_on_time", "finish_clocked",
          "finished_on_time", "accept_n", "accept_seconds", "finish_n", "finish_seconds", "rated", "satisfied",
          "unrated", "rating_sum", "reopened", "labour_hours", "cost")


def _summed() -> dict:
    return {f"s_{name}": Sum(name) for name in SUMMED}


def _summary_facts(row: dict) -> dict:
    """A row of summed summary columns as the figure keys ``Figures.add`` reads (durations back to hours)."""
    out = {k: v for k, v in row.items() if not k.startswith("s_")}
    out.update({name: row[f"s_{name}"] or 0 for name in SUMMED})
    out["late"] = out.pop("flagged_late")
    out["accept_sum"] = out.pop("accept_seconds") / 3600.0
    out["finish_sum"] = out.pop("finish_seconds") / 3600.0
    return out


LIVE_ONLY_STATES = Q(state__in=OPEN_STATES)
FLAGGED = Q(accept_late=True) | Q(start_late=True) | Q(finish_late=True)  # a step done late (stored, not clock-bound)


def live_late_q(now) -> Q:
    """Late now by the clock only (open past a due time) and not yet flagged: what ``overdue_q(now)`` adds to the
    summary's stored late flags (``FLAGGED``). Only open orders can match."""
    return LIVE_ONLY_STATES & ~FLAGGED & overdue_q(now)


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

    def add(self, row: dict) -> None:
        """Add an aggregate row (a dict of the ``_figures`` keys) to these figures."""
        for name in COUNTS:
            setattr(self, name, getattr(self, name) + (row[name] or 0))
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
    """The period's headline figures for the term summary (two queries: the per-day summary, the orders late now).
    Keys:

    ``received`` 受理 N 单 (reported in the period, less merged duplicates); ``done`` 完成 N 单 (of those, now 已完工,
    已验收 or 已回访); ``done_rate`` 完成率 (done ÷ received); ``accept_hours`` 平均响应时间 (mean clock hours from the
    report to the acceptance, accepted orders); ``finish_hours`` 平均完成时间 (report to completion, done orders);
    ``satisfaction`` 满意率 (ratings ≥ 4 ÷ rated orders); ``rated``; ``unrated`` 未评价 N (done orders without a
    rating — never counted as satisfied); ``late`` 超时 N (a step done late, or open past a due time now);
    ``cost`` 维修费用合计 (total cost of the done orders); plus ``accept_rate`` / ``finish_rate`` (on time).
    Ratios are Decimals to four places (0.8 = 80 %) or None, hours Decimals to one place or None.
    """
    now = now or timezone.now()
    row = _summary_facts(summary_rows(org_ids, start, end).aggregate(**_summed()))
    row["late"] += period_orders(org_ids, start, end).filter(LIVE_ONLY_STATES).aggregate(
        n=Count("pk", filter=live_late_q(now)))["n"]
    return summary_dict(Figures.from_row(row))


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


def fine_rows(rows) -> list[dict]:
    """The period's figures per school × category × building × assignee from the per-day summary: one GROUP BY, a
    row per combination that occurs (a few hundred per school), which the totals and every per-group table roll up
    in Python. The names are joined to the grouped rows, not to every summary row (half the time on SQLite): the
    grouped query is wrapped in ``SELECT g.*, names FROM (…) g LEFT JOIN …``. "late" counts only the steps done
    late; ``live_rows`` adds the orders late now."""
    keys = [pair[0] for pair in GROUPS.values()]
    grouped = rows.order_by().values(*keys).annotate(**_summed())
    compiler = grouped.query.get_compiler(using=rows.db)
    inner, params = compiler.as_sql()
    quote = connection.ops.quote_name
    selects, joins = [], []
    for i, (key, label, _) in enumerate(GROUPS.values()):
        model = RepairDaySummary._meta.get_field(key).related_model
        alias = f"t{i}"
        selects.append(f"{alias}.{quote(model._meta.get_field(label.split('__')[1]).column)} AS {quote(label)}")
        joins.append(f"LEFT JOIN {quote(model._meta.db_table)} {alias} "
                     f"ON {alias}.{quote(model._meta.pk.column)} = g.{quote(key)}")
    sql = f"SELECT g.*, {', '.join(selects)} FROM ({inner}) g {' '.join(joins)}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [c[0] for c in cursor.description]
        found = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
    for row in found:  # raw rows: decimals as the backend gives them (floats on SQLite)
        for name in ("s_labour_hours", "s_cost"):
            row[name] = Decimal(str(row[name] or 0))
    return [_summary_facts(r) for r in found]


def roll_up(rows: list[dict], group: str, *, county: bool) -> list[Figures]:
    field_name, label_field, empty = GROUPS[group]
    per_school = county and group != "school"
    out: dict = {}
    for row in rows:
        key = (row["org"], row[field_name]) if per_school else row[field_name]
        if key not in out:
            out[key] = Figures(key=row[field_name], label=row[label_field] or empty,
                               school=row["org__name"] if per_school else "")
        out[key].add(row)
    result = list(out.values())
    result.sort(key=lambda f: (-f.received, f.school, f.label))
    return result


def open_by_state(org_ids, now) -> list[StateRow]:
    """Open orders now, by state (all open orders, whenever reported), with how many are late. One query."""
    return _state_rows(WorkOrder.objects.filter(org_id__in=sorted(org_ids), state__in=OPEN_STATES).order_by()
                       .values("state").annotate(count=Count("pk"), late=Count("pk", filter=overdue_q(now))))


def _state_rows(rows) -> list[StateRow]:
    found: dict = {}
    for r in rows:
        count, late = found.get(r["state"], (0, 0))
        found[r["state"]] = (count + r["count"], late + r["late"])
    labels = dict(State.choices)
    return [StateRow(s.value, labels[s], *found.get(s, (0, 0))) for s in OPEN_STATES]


def live_rows(org_ids, period: Period, now) -> list[dict]:
    """The one live query, over the open orders of ``org_ids`` (few; index ``(org, state, reported_at)``), per
    state × school × category × building × assignee: how many are open and late now (for "open orders by state"),
    and, grouped apart by their month of report (``live_month``, None for every other order), the period's orders
    late now by the clock without a late flag yet (``live_late_q``) — the clock-bound part of "late" that the
    summary cannot hold."""
    in_period = Q(reported_at__gte=_aware(period.start), reported_at__lt=_aware(period.end + datetime.timedelta(1)))
    rows = list(WorkOrder.objects.filter(org_id__in=sorted(org_ids), state__in=OPEN_STATES).order_by()
                .annotate(live_month=Case(When(in_period & live_late_q(now), then=local_month())))
                .values("state", *(pair[0] for pair in GROUPS.values()), "live_month")
                .annotate(count=Count("pk"), late=Count("pk", filter=overdue_q(now))))
    for row in rows:
        row["live_month"] = month_key(row["live_month"])
    return rows


def month_starts(period: Period) -> list[datetime.date]:
    day, out = period.start.replace(day=1), []
    while day <= period.end:
        out.append(day)
        day = (day + datetime.timedelta(days=32)).replace(day=1)
    return out


def monthly(rows, period: Period, live: list[dict]) -> list[Figures]:
    """受理, 完成, 超时 per month of report, every month of the period (empty months as zeros). One query over the
    per-day summary grouped by the month of its day column, plus the live late counts of ``live_rows``."""
    found = {month_key(r["month"]): r for r in rows.order_by().annotate(month=DayMonth(F("day"))).values("month")
             .annotate(r=Sum("received"), d=Sum("done"), l=Sum("flagged_late"))}
    late_now: dict = {}
    for row in live:
        if row["live_month"]:
            late_now[row["live_month"]] = late_now.get(row["live_month"], 0) + row["count"]
    out = []
    for first in month_starts(period):
        key = f"{first:%Y-%m}"
        row = found.get(key, {})
        out.append(Figures(key=first, label=key, received=row.get("r") or 0, done=row.get("d") or 0,
                           late=(row.get("l") or 0) + late_now.get(key, 0)))
    return out


def build_dashboard(scope: Scope, period: Period, *, now=None) -> Dashboard:
    """Every figure of the dashboard: 3 queries (the fine-grained GROUP BY and the months over the per-day summary,
    the open orders live), whatever the number of orders."""
    now = now or timezone.now()
    org_ids = scope.org_ids
    summarised = summary_rows(org_ids, period.start, period.end)
    live = live_rows(org_ids, period, now)
    rows = fine_rows(summarised)
    labels = {(r["org"], r["category"], r["building"], r["assignee"]): r for r in rows}
    for row in live:
        if row["live_month"]:  # every order of the period has its summary row: the names come from there
            named = labels.get((row["org"], row["category"], row["building"], row["assignee"]), {})
            rows.append({**row, **{pair[1]: named.get(pair[1]) for pair in GROUPS.values()},
                         **dict.fromkeys(COUNTS + SUMS, 0), "late": row["count"]})
    county = scope.is_county
    totals = Figures(label="合计")
    for row in rows:
        totals.add(row)
    board = Dashboard(scope=scope, period=period, now=now, totals=totals, open_states=_state_rows(live),
                      categories=roll_up(rows, "category", county=county),
                      buildings=roll_up(rows, "building", county=county),
                      technicians=roll_up(rows, "technician", county=county),
                      months=monthly(summarised, period, live))
    if county:
        board.schools = roll_up(rows, "school", county=True)
    return board
