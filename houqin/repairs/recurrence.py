"""When is a preventive inspection due? Pure date arithmetic, no database (docs/repairs-inspections.md).

A ``Rule`` names the nominal dates of a schedule:

* ``weekly``   — one weekday of every week (每周一);
* ``monthly``  — day N of every month, clamped to the month's last day (31 = 每月最后一天), or the n-th / last
  weekday of the month (每月第一个星期一);
* ``term``     — the first day of every term, shifted by ``offset_days`` (开学前 3 天: -3);
* ``yearly``   — one day of every year (入夏前 6 月 1 日; 2 月 29 日 falls on 2 月 28 日 in common years);
* ``interval`` — every N days from an anchor date.

Each nominal date has a **period key** that names the occurrence whatever its due date becomes (``2026-W47``,
``2026-11``, ``2026``, the term's key, the ISO date for intervals): a run is unique per (plan, period key).

A ``SchoolCalendar`` (terms, public holidays, make-up working days) says which days are working days. A nominal
date that is not one is moved to the next working day (``next``, the default), the previous one (``previous``),
kept (``keep``) or dropped (``skip``). A moved date never reaches a neighbouring occurrence: if the next working
day is on or after the next nominal date (a weekly check in the summer holiday), the occurrence is dropped, so two
occurrences never share a date and their order never changes. Winter and summer holidays (寒暑假: the days between
two known terms) are non-working days unless the plan checks in the holidays too (``vacations=True``).

Written by hand rather than with ``dateutil.rrule``: python-dateutil is not a dependency of the project, term
dates and the holiday rule are outside what rrule expresses, and the five rules are a few lines each.
"""

from __future__ import annotations

import calendar as _calendar
import datetime
from collections.abc import Iterable
from dataclasses import dataclass, field

WEEKLY, MONTHLY, TERM, YEARLY, INTERVAL = "weekly", "monthly", "term", "yearly", "interval"
KINDS = (WEEKLY, MONTHLY, TERM, YEARLY, INTERVAL)
NEXT, PREVIOUS, KEEP, SKIP = "next", "previous", "keep", "skip"
ADJUSTMENTS = (NEXT, PREVIOUS, KEEP, SKIP)
LAST = -1
WEEKDAY_NAMES = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")
ORDINALS = {1: "第一个", 2: "第二个", 3: "第三个", 4: "第四个", LAST: "最后一个"}
MAX_INTERVAL_DAYS = 366
MAX_TERM_OFFSET = 60
ONE_DAY = datetime.timedelta(days=1)


def last_day(year: int, month: int) -> int:
    return _calendar.monthrange(year, month)[1]


def clamped(year: int, month: int, day: int) -> datetime.date:
    """Day ``day`` of the month, or its last day when the month is shorter (31 → 30 April, 29 → 28 February)."""
    return datetime.date(year, month, min(day, last_day(year, month)))


def nth_weekday(year: int, month: int, weekday: int, n: int) -> datetime.date:
    """The ``n``-th (1–4) or last (-1) ``weekday`` (0 = Monday) of a month."""
    if n == LAST:
        day = datetime.date(year, month, last_day(year, month))
        return day - datetime.timedelta(days=(day.weekday() - weekday) % 7)
    first = datetime.date(year, month, 1)
    return first + datetime.timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))


def _months(start: datetime.date, end: datetime.date):
    year, month = start.year, start.month
    while (year, month) <= (end.year, end.month):
        yield year, month
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


@dataclass(frozen=True)
class TermSpan:
    """A term of the school: its key (stable, e.g. ``term-12``), first and last day."""

    key: str
    start: datetime.date
    end: datetime.date
    name: str = ""


@dataclass(frozen=True)
class Rule:
    """A schedule. Which fields matter depends on ``kind`` (see the module docstring); ``errors()`` checks them."""

    kind: str
    weekday: int | None = None  # 0 = Monday … 6 = Sunday (weekly; monthly by weekday)
    month_day: int | None = None  # 1–31 (monthly by day; yearly)
    week_of_month: int | None = None  # 1–4 or -1 = last (monthly by weekday)
    month: int | None = None  # 1–12 (yearly)
    every_days: int | None = None  # interval
    anchor: datetime.date | None = None  # interval: the first nominal date
    offset_days: int = 0  # term: days after (negative: before) the term's first day

    @property
    def monthly_by_weekday(self) -> bool:
        return self.kind == MONTHLY and self.week_of_month is not None

    def errors(self) -> dict[str, str]:
        """Field errors in Chinese (empty: the rule is complete and valid)."""
        errors: dict[str, str] = {}
        if self.kind not in KINDS:
            return {"kind": "请选择周期。"}
        if self.kind == WEEKLY or self.monthly_by_weekday:
            if self.weekday is None:
                errors["weekday"] = "请选择星期几。"
            elif not 0 <= self.weekday <= 6:
                errors["weekday"] = "星期几只能是星期一到星期日。"
        if self.kind == MONTHLY:
            if self.week_of_month is not None:
                if self.week_of_month not in ORDINALS:
                    errors["week_of_month"] = "只能选第一个到第四个，或最后一个。"
            elif self.month_day is None:
                errors["month_day"] = "请填写每月几日，或选择“每月第几个星期几”。"
            elif not 1 <= self.month_day <= 31:
                errors["month_day"] = "日期只能是 1 到 31 日（31 日表示每月最后一天）。"
        if self.kind == YEARLY:
            if self.month is None or not 1 <= self.month <= 12:
                errors["month"] = "请选择月份。"
            if self.month_day is None:
                errors["month_day"] = "请填写日期。"
            elif self.month is not None and 1 <= self.month <= 12 and not 1 <= self.month_day <= last_day(
                    2000, self.month):  # 2000 is a leap year: 2 月 29 日 is allowed
                errors["month_day"] = f"{self.month} 月没有 {self.month_day} 日。"
        if self.kind == INTERVAL:
            if self.every_days is None or not 1 <= self.every_days <= MAX_INTERVAL_DAYS:
                errors["every_days"] = f"间隔天数只能是 1 到 {MAX_INTERVAL_DAYS} 天。"
            if self.anchor is None:
                errors["anchor"] = "请填写从哪一天开始。"
        if self.kind == TERM and not -MAX_TERM_OFFSET <= self.offset_days <= MAX_TERM_OFFSET:
            errors["offset_days"] = f"只能在开学前后 {MAX_TERM_OFFSET} 天之内。"
        return errors

    def describe(self) -> str:
        """The schedule in words: 每周一, 每月最后一天, 每月第一个星期一, 每学期开学前 3 天, 每年 6 月 1 日."""
        if self.errors():
            return "周期设置不完整"
        if self.kind == WEEKLY:
            return f"每周{WEEKDAY_NAMES[self.weekday][2:]}"
        if self.kind == MONTHLY:
            if self.monthly_by_weekday:
                return f"每月{ORDINALS[self.week_of_month]}{WEEKDAY_NAMES[self.weekday]}"
            return "每月最后一天" if self.month_day == 31 else f"每月 {self.month_day} 日"
        if self.kind == YEARLY:
            return f"每年 {self.month} 月 {self.month_day} 日"
        if self.kind == INTERVAL:
            return f"每 {self.every_days} 天（{self.anchor:%Y-%m-%d} 起）"
        if self.offset_days == 0:
            return "每学期开学第一天"
        if self.offset_days < 0:
            return f"每学期开学前 {-self.offset_days} 天"
        return f"每学期开学后 {self.offset_days} 天"

    def span(self) -> int:
        """An upper bound of the days between two consecutive nominal dates (0: terms, unbounded)."""
        return {WEEKLY: 7, MONTHLY: 35, YEARLY: 366, INTERVAL: self.every_days or 1}.get(self.kind, 0)

    def key_of(self, day: datetime.date) -> str:
        """The period key of a nominal date (terms are keyed by the term, see ``nominal_dates``)."""
        if self.kind == WEEKLY:
            iso = day.isocalendar()
            return f"{iso.year}-W{iso.week:02d}"
        if self.kind == MONTHLY:
            return f"{day:%Y-%m}"
        if self.kind == YEARLY:
            return f"{day:%Y}"
        return day.isoformat()

    def nominal_dates(self, start: datetime.date, end: datetime.date,
                      terms: Iterable[TermSpan] = ()) -> list[tuple[str, datetime.date]]:
        """(period key, nominal date) of every occurrence with ``start <= date <= end``, in date order."""
        if self.errors() or end < start:
            return []
        found: list[tuple[str, datetime.date]] = []
        if self.kind == WEEKLY:
            day = start + datetime.timedelta(days=(self.weekday - start.weekday()) % 7)
            while day <= end:
                found.append((self.key_of(day), day))
                day += datetime.timedelta(days=7)
        elif self.kind == MONTHLY:
            for year, month in _months(start, end):
                day = (nth_weekday(year, month, self.weekday, self.week_of_month) if self.monthly_by_weekday
                       else clamped(year, month, self.month_day))
                if start <= day <= end:
                    found.append((self.key_of(day), day))
        elif self.kind == YEARLY:
            for year in range(start.year, end.year + 1):
                day = clamped(year, self.month, self.month_day)
                if start <= day <= end:
                    found.append((self.key_of(day), day))
        elif self.kind == INTERVAL:
            step = self.every_days
            first = max(0, -((self.anchor - start).days // step))  # the first k with anchor + k·step >= start
            day = self.anchor + datetime.timedelta(days=first * step)
            while day <= end:
                found.append((self.key_of(day), day))
                day += datetime.timedelta(days=step)
        else:  # TERM
            days = {}
            for term in terms:
                day = term.start + datetime.timedelta(days=self.offset_days)
                if start <= day <= end:
                    days[term.key] = day
            found = sorted(days.items(), key=lambda kv: (kv[1], kv[0]))
        return found


@dataclass(frozen=True)
class SchoolCalendar:
    """Which days are working days: Monday to Friday, except public holidays (``holidays``), plus make-up working
    days on a weekend (``workdays``, 调休). The winter and summer holidays — days after one known term and before
    the next, outside every term — are not, unless a plan checks in the holidays (``vacations=True``)."""

    terms: tuple[TermSpan, ...] = ()
    holidays: frozenset[datetime.date] = field(default_factory=frozenset)
    workdays: frozenset[datetime.date] = field(default_factory=frozenset)

    def term_of(self, day: datetime.date) -> TermSpan | None:
        return next((t for t in self.terms if t.start <= day <= t.end), None)

    def is_vacation(self, day: datetime.date) -> bool:
        """Between two known terms and in neither (before the first or after the last known term: unknown, no)."""
        if self.term_of(day) is not None:
            return False
        return any(t.end < day for t in self.terms) and any(t.start > day for t in self.terms)

    def is_working_day(self, day: datetime.date, *, vacations: bool = False) -> bool:
        if not vacations and self.is_vacation(day):
            return False
        if day in self.workdays:
            return True
        return day.weekday() < 5 and day not in self.holidays


@dataclass(frozen=True)
class Occurrence:
    """One occurrence of a rule: its period key, nominal date, due date (after the holiday rule) and the first day
    it may be done (the day after the previous nominal date)."""

    key: str
    nominal: datetime.date
    due: datetime.date
    opens: datetime.date


def _adjusted(day, low, high, cal: SchoolCalendar, adjust: str, vacations: bool) -> datetime.date | None:
    """``day`` moved by ``adjust`` to a working day strictly between ``low`` and ``high`` (None: dropped)."""
    if adjust == KEEP or cal.is_working_day(day, vacations=vacations):
        return day
    if adjust == SKIP:
        return None
    step = ONE_DAY if adjust == NEXT else -ONE_DAY
    bound = high if adjust == NEXT else low
    candidate = day + step
    while candidate != bound:
        if cal.is_working_day(candidate, vacations=vacations):
            return candidate
        candidate += step
    return None


def occurrences(rule: Rule, start: datetime.date, end: datetime.date, *, calendar: SchoolCalendar | None = None,
                adjust: str = NEXT, vacations: bool = False) -> list[Occurrence]:
    """The occurrences of ``rule`` whose *due* date is between ``start`` and ``end`` (inclusive), in order.

    ``calendar`` supplies terms (for ``term`` rules and the holidays between them), public holidays and make-up
    working days; ``adjust`` is what happens to a nominal date that is not a working day; ``vacations`` makes the
    winter and summer holidays working days for this rule.
    """
    if adjust not in ADJUSTMENTS:
        raise ValueError(f"unknown adjustment {adjust!r}")
    cal = calendar or SchoolCalendar()
    if end < start or rule.errors():
        return []
    span = rule.span()
    if span:
        margin = datetime.timedelta(days=2 * span + 1)  # enough to see both neighbours of every candidate
        nominal = rule.nominal_dates(start - margin, end + margin)
    else:
        nominal = rule.nominal_dates(datetime.date.min, datetime.date.max, cal.terms)
    found = []
    for i, (key, day) in enumerate(nominal):
        previous = nominal[i - 1][1] if i > 0 else None
        following = nominal[i + 1][1] if i + 1 < len(nominal) else None
        reach = datetime.timedelta(days=span or 31)  # no neighbour (the first term, an interval's anchor)
        low = previous or day - reach
        high = following or day + reach
        due = _adjusted(day, low, high, cal, adjust, vacations)
        if due is None or not start <= due <= end:
            continue
        opens = min(due, previous + ONE_DAY if previous else day - reach + ONE_DAY)
        found.append(Occurrence(key, day, due, opens))
    return found


def upcoming(rule: Rule, after: datetime.date, count: int = 3, *, calendar: SchoolCalendar | None = None,
             adjust: str = NEXT, vacations: bool = False, horizon_days: int = 800) -> list[Occurrence]:
    """The next ``count`` occurrences due on or after ``after`` (within ``horizon_days``), e.g. for a plan's page."""
    found = occurrences(rule, after, after + datetime.timedelta(days=horizon_days), calendar=calendar,
                        adjust=adjust, vacations=vacations)
    return found[:count]
