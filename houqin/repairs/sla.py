"""SLA clocks of work orders: when each step is due, whether it was late, who is reminded and escalated to.

Three clocks start when a fault is reported: 受理 (someone takes the job: ``accepted_at``), 开工 (the repair starts:
``started_at``) and 完工 (``completed_at``). Their limits come from the school's ``SLARule`` for the order's category
and urgency (else the rule for every category, else the code defaults of ``houqin.repairs.defaults``); the finish
limit depends on the job's size (小修不过夜, 大修不过三天).

Time counts in the school's working hours (``WorkCalendar``: e.g. 07:30–17:30, Monday to Friday, less the
holidays in the school's settings, plus 调休 working days), unless the school counts every hour or the rule does
(特急). A "day" limit ends at the end of the working day: 0 = the same day; a report after the school's same-day
cut-off (default 15:30) counts from the next working day.

Reminders go through core's reminder engine (``houqin.core.reminders``), two per order at a time:

* ``sla`` — the clock that runs now: due at its due time, to the 总务主任 (and the assignee), marked done when the
  step is done and moved to the next clock;
* ``sla_escalate`` — the same clock plus ``escalate_after_minutes`` working minutes: to the 校长 (and the 总务主任);

and ``visit`` — the 回访 within ``visit_within_hours`` after completion, to the 总务主任.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from houqin.repairs import conf
from houqin.repairs.defaults import DEFAULT_RULES
from houqin.repairs.models import OPEN_STATES, Scale, SLARule, State, WorkOrder

MAX_DAYS_SCANNED = 800  # a calendar with no working day at all falls back to counting every hour


# --- Calendar -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WorkCalendar:
    """Working time of one school: daily hours, working weekdays, holidays and extra working days."""

    start: datetime.time = datetime.time(7, 30)
    end: datetime.time = datetime.time(17, 30)
    weekdays: frozenset[int] = frozenset({1, 2, 3, 4, 5})
    holidays: frozenset[datetime.date] = frozenset()
    extra_workdays: frozenset[datetime.date] = frozenset()
    all_hours: bool = False
    cutoff: datetime.time = datetime.time(15, 30)

    @classmethod
    def for_org(cls, org, *, all_hours: bool = False) -> WorkCalendar:
        start, end = conf.working_hours(org)
        return cls(start=start, end=end, weekdays=conf.workdays(org), holidays=conf.holidays(org),
                   extra_workdays=conf.extra_workdays(org), all_hours=all_hours or conf.counts_off_hours(org),
                   cutoff=conf.same_day_cutoff(org))

    def is_working_day(self, day: datetime.date) -> bool:
        if self.all_hours:
            return True
        if day in self.extra_workdays:
            return True
        return day.isoweekday() in self.weekdays and day not in self.holidays

    def _aware(self, day: datetime.date, at: datetime.time) -> datetime.datetime:
        return timezone.make_aware(datetime.datetime.combine(day, at))

    def add_minutes(self, moment: datetime.datetime, minutes: int) -> datetime.datetime:
        """``moment`` plus ``minutes`` of working time (of wall-clock time when every hour counts)."""
        if self.all_hours:
            return moment + timedelta(minutes=minutes)
        local = timezone.localtime(moment)
        day = local.date()
        left = timedelta(minutes=minutes)
        for _ in range(MAX_DAYS_SCANNED):
            if self.is_working_day(day):
                opens, closes = self._aware(day, self.start), self._aware(day, self.end)
                begin = max(local, opens)
                if begin < closes:
                    available = closes - begin
                    if left <= available:
                        return begin + left
                    left -= available
            day += timedelta(days=1)
            local = self._aware(day, datetime.time.min)
        return moment + timedelta(minutes=minutes)

    def end_of_days(self, moment: datetime.datetime, days: int) -> datetime.datetime:
        """The end of the working day ``days`` working days after the one the clock starts on (0: that day).

        The clock starts on the day of ``moment`` if it is a working day and ``moment`` is before the cut-off,
        else on the next working day."""
        local = timezone.localtime(moment)
        day = local.date()
        if not self.is_working_day(day) or local.time() >= self.cutoff:
            day = self._next_working_day(day)
        for _ in range(days):
            day = self._next_working_day(day)
        return self._aware(day, self.end)

    def _next_working_day(self, day: datetime.date) -> datetime.date:
        for _ in range(MAX_DAYS_SCANNED):
            day += timedelta(days=1)
            if self.is_working_day(day):
                return day
        return day


# --- Rules --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Limits:
    accept_minutes: int
    start_minutes: int
    finish_minutes: int | None
    finish_days: int | None
    major_finish_days: int
    all_hours: bool
    rule: SLARule | None = None

    @classmethod
    def of(cls, rule: SLARule) -> Limits:
        return cls(rule.accept_minutes, rule.start_minutes, rule.finish_minutes, rule.finish_days,
                   rule.major_finish_days, rule.all_hours, rule)


def limits_for(org, category, urgency: str) -> Limits:
    """The limits for a category and urgency: the category's own rule, the general rule, the code default."""
    scope = Q(category__isnull=True) | (Q(category=category) if category is not None else Q(pk__in=[]))
    rules = list(SLARule.objects.filter(scope, org=org, urgency=urgency))
    own = next((r for r in rules if category is not None and r.category_id == getattr(category, "pk", None)), None)
    general = next((r for r in rules if r.category_id is None), None)
    chosen = own or general
    if chosen is not None:
        return Limits.of(chosen)
    default = DEFAULT_RULES.get(urgency) or DEFAULT_RULES["normal"]
    return Limits(default["accept_minutes"], default["start_minutes"], default["finish_minutes"],
                  default["finish_days"], default["major_finish_days"], default["all_hours"])


@dataclass(frozen=True)
class DueTimes:
    accept: datetime.datetime
    start: datetime.datetime
    finish: datetime.datetime


def due_times(org, category, urgency: str, scale: str, reported_at: datetime.datetime,
              limits: Limits | None = None) -> DueTimes:
    limits = limits or limits_for(org, category, urgency)
    calendar = WorkCalendar.for_org(org, all_hours=limits.all_hours)
    accept = calendar.add_minutes(reported_at, limits.accept_minutes)
    start = calendar.add_minutes(reported_at, limits.start_minutes)
    if scale == Scale.MAJOR:
        finish = calendar.end_of_days(reported_at, limits.major_finish_days)
    elif limits.finish_minutes is not None:
        finish = calendar.add_minutes(reported_at, limits.finish_minutes)
    else:
        finish = calendar.end_of_days(reported_at, limits.finish_days or 0)
    return DueTimes(accept, max(start, accept), max(finish, start))


def apply_due_times(order: WorkOrder) -> None:
    """Set the order's due times from its category, urgency and scale (clocks from ``reported_at``)."""
    due = due_times(order.org, order.category, order.urgency, order.scale, order.reported_at)
    order.accept_due, order.start_due, order.finish_due = due.accept, due.start, due.finish


def mark_lateness(order: WorkOrder, now=None) -> None:
    """Set the late flags of the steps that are done late or overdue now (flags are never cleared)."""
    now = now or timezone.now()
    if order.accept_due and (order.accepted_at or now) > order.accept_due and (
            order.accepted_at or order.state in OPEN_STATES):
        order.accept_late = True
    if order.start_due and (order.started_at or now) > order.start_due and (
            order.started_at or order.state in OPEN_STATES):
        order.start_late = True
    if order.finish_due and (order.completed_at or now) > order.finish_due and (
            order.completed_at or order.state in OPEN_STATES):
        order.finish_late = True


# --- Reminders and escalation -------------------------------------------------------------------------------------
REMINDER = "sla"
ESCALATION = "sla_escalate"
VISIT = "visit"
CLOCK_LABELS = {"accept": "受理", "start": "开工", "finish": "完工"}


def running_clock(order: WorkOrder) -> tuple[str, datetime.datetime] | None:
    """(clock, due) of the clock that runs now, or None once the repair is done or the order closed."""
    if order.state not in OPEN_STATES:
        return None
    if order.accepted_at is None:
        return "accept", order.accept_due
    if order.started_at is None:
        return "start", order.start_due
    return "finish", order.finish_due


def sync_reminders(order: WorkOrder) -> None:
    """Point the order's SLA reminders at the clock that runs now, or mark them done (inside the command's
    transaction). The 总务主任 hears when a step falls due, the 校长 when it stays undone for the escalation time."""
    from houqin.core.reminders import complete_reminder, schedule_reminder

    clock = running_clock(order)
    if clock is None or clock[1] is None:
        complete_reminder(order, key=REMINDER)
        complete_reminder(order, key=ESCALATION)
        return
    name, due = clock
    label = CLOCK_LABELS[name]
    where = order.place_text or order.category.name
    title = f"报修单 {order.number}（{where}）{label}时限"
    body = f"故障：{order.short_description}；紧急程度：{order.get_urgency_display()}。"
    if order.assignee_id:
        body += f"维修人员：{order.assignee.get_full_name()}。"
    users = [order.assignee] if order.assignee_id and name != "accept" else []
    schedule_reminder(order, key=REMINDER, title=title, due=due, before=(), overdue=True,
                      roles=("logistics_head",), users=users, body=body)
    limits = limits_for(order.org, order.category, order.urgency)
    calendar = WorkCalendar.for_org(order.org, all_hours=limits.all_hours)
    escalate_at = calendar.add_minutes(due, conf.escalate_after_minutes(order.org))
    schedule_reminder(order, key=ESCALATION, title=f"督办：{title}", due=escalate_at, before=(), overdue=True,
                      roles=("principal", "logistics_head"),
                      body=f"{label}时限 {timezone.localtime(due):%Y-%m-%d %H:%M} 已过仍未办理。{body}")


def schedule_visit(order: WorkOrder) -> None:
    """The 回访 task for the office: within ``visit_within_hours`` of completion."""
    from houqin.core.reminders import schedule_reminder

    hours = conf.visit_within_hours(order.org)
    due = (order.completed_at or timezone.now()) + timedelta(hours=hours)
    schedule_reminder(order, key=VISIT, title=f"回访报修单 {order.number}（{order.reporter_display}）", due=due,
                      before=(timedelta(hours=max(1, hours // 4)),), overdue=True, roles=("logistics_head",),
                      body=f"{order.place_text}：{order.short_description}。请在完工后 {hours} 小时内回访报修人。")


def complete_visit(order: WorkOrder) -> None:
    from houqin.core.reminders import cancel_reminder, complete_reminder

    if order.state == State.VISITED:
        complete_reminder(order, key=VISIT)
    else:
        cancel_reminder(order, key=VISIT)


def flag_overdue(now=None, limit: int = 5000) -> int:
    """Set the late flags of open orders whose running clock has passed its due time (the periodic scan, so that
    lists and reports need no time arithmetic). Returns how many orders were flagged."""
    now = now or timezone.now()
    flagged = 0
    base = WorkOrder.objects.filter(state__in=OPEN_STATES)
    updates = (
        (base.filter(accepted_at__isnull=True, accept_due__lt=now, accept_late=False), {"accept_late": True}),
        (base.filter(started_at__isnull=True, start_due__lt=now, start_late=False), {"start_late": True}),
        (base.filter(finish_due__lt=now, finish_late=False), {"finish_late": True}),
    )
    touched = set()
    for queryset, values in updates:
        ids = list(queryset.values_list("pk", flat=True)[:limit])
        if ids:
            flagged += WorkOrder.objects.filter(pk__in=ids).update(**values)
            touched.update(ids)
    from houqin.repairs import summary  # dashboard summary: update() skips save(), so recompute the days flagged

    summary.touch_orders(touched)
    return flagged
