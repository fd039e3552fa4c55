"""SLA clocks: working time across nights, weekends and holidays (exact due times), the rules, lateness flags, and
the reminders and escalation through core's reminder engine."""

from __future__ import annotations

import datetime
from datetime import timedelta

import pytest
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from houqin.core.models.notifications import Reminder, ReminderState
from houqin.repairs import services, sla
from houqin.repairs.models import Scale, SLARule, Urgency, WorkOrder
from houqin.repairs.sla import WorkCalendar
from houqin.repairs.tests.factories_workorders import category, make_order, make_technician

pytestmark = pytest.mark.django_db


def at(text: str) -> datetime.datetime:
    """A local (Asia/Shanghai) time."""
    return timezone.make_aware(datetime.datetime.fromisoformat(text))


def local(moment: datetime.datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")


CAL = WorkCalendar()  # 07:30–17:30, Monday–Friday, cut-off 15:30


# --- Working time ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("start", "minutes", "due"), [
    ("2026-03-03 09:00", 60, "2026-03-03 10:00"),  # within a working day
    ("2026-03-06 16:30", 120, "2026-03-09 08:30"),  # Friday afternoon → Monday morning (1 h + 1 h)
    ("2026-03-03 20:00", 30, "2026-03-04 08:00"),  # reported at night: the clock starts at 07:30
    ("2026-03-02 06:00", 60, "2026-03-02 08:30"),  # before opening
    ("2026-03-07 10:00", 240, "2026-03-09 11:30"),  # Saturday → Monday
    ("2026-03-03 17:30", 1, "2026-03-04 07:31"),  # exactly at closing time
    ("2026-03-03 07:30", 600, "2026-03-03 17:30"),  # one full working day ends at closing time
    ("2026-03-03 07:30", 601, "2026-03-04 07:31"),
    ("2026-03-03 09:00", 600, "2026-03-04 09:00"),
])
def test_working_minutes_skip_nights_and_weekends(start, minutes, due):
    assert local(CAL.add_minutes(at(start), minutes)) == due


def test_holidays_and_make_up_working_days():
    national_day = frozenset(datetime.date(2026, 10, d) for d in range(1, 8))
    calendar = WorkCalendar(holidays=national_day, extra_workdays=frozenset({datetime.date(2026, 9, 26)}))
    # Wednesday 30 September 17:00 + 1 h: 30 min that day, then the holiday week, then Thursday 8 October.
    assert local(calendar.add_minutes(at("2026-09-30 17:00"), 60)) == "2026-10-08 08:00"
    # Friday 25 September 17:00 + 1 h: Saturday 26 September is a 调休 working day.
    assert local(calendar.add_minutes(at("2026-09-25 17:00"), 60)) == "2026-09-26 08:00"
    assert local(calendar.end_of_days(at("2026-09-30 16:00"), 0)) == "2026-10-08 17:30"


@pytest.mark.parametrize(("start", "days", "due"), [
    ("2026-03-02 10:00", 0, "2026-03-02 17:30"),  # 小修不过夜: the same day
    ("2026-03-02 15:29", 0, "2026-03-02 17:30"),
    ("2026-03-02 15:30", 0, "2026-03-03 17:30"),  # after the cut-off: the next working day
    ("2026-03-06 16:00", 0, "2026-03-09 17:30"),  # Friday late → Monday
    ("2026-03-07 09:00", 0, "2026-03-09 17:30"),  # Saturday → Monday
    ("2026-03-02 10:00", 3, "2026-03-05 17:30"),  # 大修不过三天
    ("2026-03-06 16:00", 3, "2026-03-12 17:30"),  # Friday late: Monday is day 0, Thursday day 3
])
def test_day_limits_end_at_closing_time(start, days, due):
    assert local(CAL.end_of_days(at(start), days)) == due


def test_all_hours_counts_the_night():
    calendar = WorkCalendar(all_hours=True)
    assert local(calendar.add_minutes(at("2026-03-06 16:30"), 240)) == "2026-03-06 20:30"


def test_calendar_from_school_settings(world):
    org = world.a.org
    org.settings = {"repairs": {"work_start": "08:00", "work_end": "17:00", "workdays": [1, 2, 3, 4, 5, 6],
                                "holidays": ["2026-03-04", "not a date"], "same_day_cutoff": "14:00"}}
    calendar = WorkCalendar.for_org(org)
    assert (calendar.start, calendar.end) == (datetime.time(8), datetime.time(17))
    assert local(calendar.add_minutes(at("2026-03-03 16:30"), 60)) == "2026-03-05 08:30"  # the 4th is a holiday
    assert local(calendar.add_minutes(at("2026-03-07 16:30"), 60)) == "2026-03-09 08:30"  # Saturday works
    assert local(calendar.end_of_days(at("2026-03-02 14:30"), 0)) == "2026-03-03 17:00"
    org.settings = {"repairs": {"work_start": "18:00", "work_end": "07:00", "workdays": "x"}}  # nonsense: defaults
    calendar = WorkCalendar.for_org(org)
    assert (calendar.start, calendar.end, calendar.weekdays) == (datetime.time(7, 30), datetime.time(17, 30),
                                                                 frozenset({1, 2, 3, 4, 5}))


# --- Rules and due times ---------------------------------------------------------------------------------------------
def test_default_rules_small_and_large_repairs(world):
    org = world.a.org
    water = category(org, "水电")
    due = sla.due_times(org, water, Urgency.NORMAL, Scale.MINOR, at("2026-03-06 16:00"))
    assert (local(due.accept), local(due.start), local(due.finish)) == (
        "2026-03-09 08:00", "2026-03-09 10:00", "2026-03-09 17:30")
    due = sla.due_times(org, water, Urgency.NORMAL, Scale.MAJOR, at("2026-03-02 10:00"))
    assert local(due.finish) == "2026-03-05 17:30"
    # 特急 counts every hour: a gas smell on Friday evening is due that night.
    due = sla.due_times(org, water, Urgency.CRITICAL, Scale.MINOR, at("2026-03-06 18:00"))
    assert (local(due.accept), local(due.start), local(due.finish)) == (
        "2026-03-06 18:15", "2026-03-06 18:30", "2026-03-06 22:00")


def test_a_category_rule_overrides_the_general_one_and_the_school_may_count_every_hour(world):
    org = world.a.org
    network = category(org, "网络多媒体")
    SLARule.objects.create(org=org, category=network, urgency=Urgency.NORMAL, accept_minutes=60, start_minutes=600,
                           finish_days=1)
    due = sla.due_times(org, network, Urgency.NORMAL, Scale.MINOR, at("2026-03-02 10:00"))
    assert (local(due.accept), local(due.start), local(due.finish)) == (
        "2026-03-02 11:00", "2026-03-03 10:00", "2026-03-03 17:30")
    water = category(org, "水电")  # still the general rule
    assert local(sla.due_times(org, water, Urgency.NORMAL, Scale.MINOR, at("2026-03-02 10:00")).accept) == (
        "2026-03-02 12:00")
    org.settings = {"repairs": {"sla_counts_off_hours": True}}
    assert local(sla.due_times(org, water, Urgency.NORMAL, Scale.MINOR, at("2026-03-06 17:00")).accept) == (
        "2026-03-06 19:00")


def test_a_rule_needs_exactly_one_finish_limit(world):
    from django.core.exceptions import ValidationError

    rule = SLARule(org=world.a.org, urgency=Urgency.URGENT, accept_minutes=30, start_minutes=60)
    with pytest.raises(ValidationError) as exc:
        rule.full_clean()
    assert exc.value.message_dict["finish_days"] == ["“小修完工时限（分钟）”和“小修完工天数”须填写且只填写其中一项。"]
    rule = SLARule(org=world.a.org, urgency=Urgency.URGENT, accept_minutes=60, start_minutes=30, finish_days=0)
    with pytest.raises(ValidationError) as exc:
        rule.full_clean()
    assert exc.value.message_dict["start_minutes"] == ["开工时限不能短于受理时限。"]


# --- Lateness ---------------------------------------------------------------------------------------------------------
def test_late_steps_are_flagged_when_done_and_by_the_periodic_scan(world, head_a):
    org = world.a.org
    order = make_order(org, room=world.a.rooms[0])
    technician = make_technician(org)
    past = timezone.now() - timedelta(hours=1)
    WorkOrder.objects.filter(pk=order.pk).update(accept_due=past, start_due=past + timedelta(days=3),
                                                 finish_due=past + timedelta(days=3))
    order.refresh_from_db()
    assert order.overdue_now() and not order.accept_late
    assert WorkOrder.objects.overdue().filter(pk=order.pk).exists()
    order = services.dispatch(order, head_a, technician)
    order = services.accept(order, technician)
    assert order.accept_late and not order.start_late  # accepted after its due time
    other = make_order(org, room=world.a.rooms[1], description="门锁坏了", category="门窗")
    WorkOrder.objects.filter(pk=other.pk).update(accept_due=past, start_due=past, finish_due=past)
    assert sla.flag_overdue() >= 1
    other.refresh_from_db()
    assert (other.accept_late, other.start_late, other.finish_late) == (True, True, True)
    on_time = make_order(org, room=world.a.rooms[1], description="灯不亮", category="电器")
    assert not WorkOrder.objects.overdue().filter(pk=on_time.pk).exists()


# --- Reminders and escalation ------------------------------------------------------------------------------------
def reminders_of(order):
    ct = ContentType.objects.get_for_model(WorkOrder)
    return {r.key: r for r in Reminder.objects.filter(source_type=ct, source_id=str(order.pk))}


def test_reminders_follow_the_running_clock_and_escalate_to_the_principal(world, head_a):
    org = world.a.org
    order = make_order(org, room=world.a.rooms[0])
    reminders = reminders_of(order)
    assert reminders["sla"].due_at == order.accept_due
    assert reminders["sla"].roles == ["logistics_head"]
    assert reminders["sla_escalate"].roles == ["principal", "logistics_head"]
    # Escalation: 240 working minutes after the missed deadline.
    calendar = WorkCalendar.for_org(org)
    assert reminders["sla_escalate"].due_at == calendar.add_minutes(order.accept_due, 240)
    technician = make_technician(org)
    order = services.dispatch(order, head_a, technician)
    order = services.accept(order, technician)
    reminders = reminders_of(order)
    assert reminders["sla"].due_at == order.start_due
    assert list(reminders["sla"].users.all()) == [technician]
    order = services.start(order, technician)
    assert reminders_of(order)["sla"].due_at == order.finish_due
    order = services.complete(order, head_a, work_done="更换阀芯")
    reminders = reminders_of(order)
    assert reminders["sla"].state == ReminderState.DONE and reminders["sla_escalate"].state == ReminderState.DONE
    assert reminders["visit"].due_at == order.completed_at + timedelta(hours=24)
    order = services.visit(order, head_a, note="电话回访，已正常使用")
    assert reminders_of(order)["visit"].state == ReminderState.DONE


def test_an_overdue_reminder_reaches_the_logistics_head(world, head_a):
    from houqin.core.models.notifications import Notification
    from houqin.core.reminders import fire_due_reminders

    order = make_order(world.a.org, room=world.a.rooms[0])
    fire_due_reminders(now=order.accept_due + timedelta(minutes=1))
    notes = Notification.objects.filter(recipient=head_a, title__contains=order.number)
    assert notes.filter(title__startswith="已逾期：").exists()
