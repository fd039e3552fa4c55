"""Preventive inspections: generating runs, the overdue flag, plans changing, submitting a run, the object rule of
the responsible person, the common plans (houqin.repairs.inspections)."""

from __future__ import annotations

import datetime

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError

from houqin.core.context import acting_as
from houqin.core.jobs import PERIODIC
from houqin.core.models import Attachment, Notification, Reminder, ReminderState
from houqin.core.models.orgs import TermKind
from houqin.core.testing.factories import grant, make_term, make_user
from houqin.repairs import inspections as services
from houqin.repairs.inspections import Answer
from houqin.repairs.models.inspections import (
    InspectionPlan,
    InspectionResult,
    InspectionRun,
    Outcome,
    RunOutcome,
    RunState,
    ScheduleKind,
)
from houqin.repairs.tests.factories_inspections import all_pass, make_plan, make_run, photo_jpeg, signature_png

pytestmark = pytest.mark.django_db

D = datetime.date
TODAY = D(2026, 11, 18)  # a Wednesday after the world's only term (2025-09-01 … 2026-01-31): no holidays known


def reminders_of(run, state=None):
    ct = ContentType.objects.get_for_model(InspectionRun)
    qs = Reminder.objects.filter(source_type=ct, source_id=str(run.pk))
    return qs.filter(state=state) if state else qs


# --- Generating runs ------------------------------------------------------------------------------------------------
def test_a_new_plan_gets_its_runs_for_the_next_lead_days(world):
    plan = make_plan(world.a.org, weekday=0, lead_days=14)  # Mondays
    done = services.plan_saved(plan, previous=None, was_active=None, today=TODAY)
    runs = list(InspectionRun.objects.filter(plan=plan).order_by("due_date"))
    assert [r.due_date for r in runs] == [D(2026, 11, 23), D(2026, 11, 30)]
    assert [r.period_key for r in runs] == ["2026-W48", "2026-W49"]
    assert [r.opens_on for r in runs] == [D(2026, 11, 17), D(2026, 11, 24)]
    assert {r.state for r in runs} == {RunState.PENDING}
    assert runs[0].number.startswith("XJ-2026-") and runs[0].number != runs[1].number
    assert runs[0].title == plan.name and len(done.created) == 2
    plan.refresh_from_db()
    assert plan.generated_until == D(2026, 12, 2)
    # The responsible role is reminded the day before and on the day; the head only when it is overdue.
    personal = reminders_of(runs[0]).get(key=services.REMINDER_KEY)
    assert personal.roles == ["technician"] and personal.offsets == [86400, 0] and personal.notify_overdue
    supervisor = reminders_of(runs[0]).get(key=services.OVERDUE_KEY)
    assert supervisor.roles == ["logistics_head"] and supervisor.offsets == []


def test_generating_again_never_duplicates_and_continues_later(world):
    plan = make_plan(world.a.org, weekday=2, lead_days=7)  # Wednesdays
    first = services.generate_runs(world.a.org, today=TODAY)
    again = services.generate_runs(world.a.org, today=TODAY)
    assert len(first.created) == 2 and again.created == []  # 18 and 25 November
    later = services.generate_runs(world.a.org, today=TODAY + datetime.timedelta(days=7))
    assert [r.due_date for r in later.created] == [D(2026, 12, 2)]
    assert InspectionRun.objects.filter(plan=plan).count() == 3
    keys = list(InspectionRun.objects.filter(plan=plan).values_list("period_key", flat=True))
    assert len(keys) == len(set(keys))


def test_a_worker_that_was_down_catches_up_and_flags_the_missed_runs(world):
    plan = make_plan(world.a.org, weekday=0, lead_days=7)
    InspectionPlan.objects.filter(pk=plan.pk).update(generated_until=D(2026, 11, 1))
    done = services.generate_runs(world.a.org, today=TODAY)
    runs = {r.due_date: r.state for r in InspectionRun.objects.filter(plan=plan)}
    assert runs == {D(2026, 11, 2): RunState.OVERDUE, D(2026, 11, 9): RunState.OVERDUE,
                    D(2026, 11, 16): RunState.OVERDUE, D(2026, 11, 23): RunState.PENDING}
    assert len(done.created) == 4


def test_overdue_flag_marks_only_open_runs_past_their_day(world):
    plan = make_plan(world.a.org)
    late = make_run(plan, due_date=D(2026, 11, 16), period_key="a")
    today = make_run(plan, due_date=TODAY, period_key="b")
    finished = make_run(plan, due_date=D(2026, 11, 9), period_key="c", state=RunState.DONE)
    other = make_run(make_plan(world.b.org), due_date=D(2026, 11, 16), period_key="d")
    assert services.flag_overdue(world.a.org, today=TODAY) == 1
    states = {r.pk: r.state for r in InspectionRun.objects.all()}
    assert states[late.pk] == RunState.OVERDUE and states[today.pk] == RunState.PENDING
    assert states[finished.pk] == RunState.DONE and states[other.pk] == RunState.PENDING


def test_inactive_plans_and_plans_not_started_yet_get_nothing(world):
    make_plan(world.a.org, name="停用计划", is_active=False)
    make_plan(world.a.org, name="明年计划", start_date=D(2027, 3, 1))
    assert services.generate_runs(world.a.org, today=TODAY).created == []


def test_winter_holiday_drops_weekly_checks(world):
    make_term(world.a.school_year, TermKind.SECOND)  # 2026-02-15 … 2026-07-10; first term ends 2026-01-31
    plan = make_plan(world.a.org, weekday=0, lead_days=30, start_date=D(2026, 1, 1))
    services.generate_runs(world.a.org, today=D(2026, 1, 20))
    # Mondays 26 Jan (term), 2 and 9 Feb (holiday: dropped), 16 Feb (term).
    assert [r.due_date for r in InspectionRun.objects.filter(plan=plan).order_by("due_date")] == [
        D(2026, 1, 26), D(2026, 2, 16)]


def test_public_holidays_from_the_school_settings(world):
    org = world.a.org
    org.settings = {"repairs": {"holidays": ["2026-10-01..2026-10-07", "bad"], "workdays": ["2026-10-10"]}}
    org.save()
    plan = make_plan(org, kind=ScheduleKind.MONTHLY, weekday=0, week_of_month=1, lead_days=30)
    services.generate_runs(org, today=D(2026, 9, 20))
    run = InspectionRun.objects.get(plan=plan)
    assert (run.period_key, run.due_date) == ("2026-10", D(2026, 10, 8))


def test_changing_the_schedule_regenerates_the_runs_not_yet_due(world):
    plan = make_plan(world.a.org, weekday=0, lead_days=14)
    services.plan_saved(plan, previous=None, was_active=None, today=TODAY)
    late = make_run(plan, due_date=D(2026, 11, 9), period_key="2026-W46", state=RunState.OVERDUE)
    done = make_run(plan, due_date=D(2026, 11, 16), period_key="2026-W47", state=RunState.DONE)
    before = plan.schedule_signature()
    plan.weekday = 4  # Fridays from now on
    plan.save()
    services.plan_saved(plan, previous=before, was_active=True, today=TODAY)
    dues = sorted(InspectionRun.objects.filter(plan=plan, state=RunState.PENDING).values_list("due_date", flat=True))
    # Friday 20 November is in week 47, which was already checked: no second run for that week.
    assert dues == [D(2026, 11, 27)]
    assert InspectionRun.objects.filter(pk__in=[late.pk, done.pk]).count() == 2
    # A change that does not touch the dates leaves the runs alone.
    ids = set(InspectionRun.objects.values_list("pk", flat=True))
    before = plan.schedule_signature()
    plan.note = "只改备注"
    plan.save()
    services.plan_saved(plan, previous=before, was_active=True, today=TODAY)
    assert set(InspectionRun.objects.values_list("pk", flat=True)) == ids


def test_switching_a_plan_off_cancels_its_open_runs_and_on_again_starts_today(world):
    plan = make_plan(world.a.org, weekday=0, lead_days=14)
    services.plan_saved(plan, previous=None, was_active=None, today=TODAY)
    late = make_run(plan, due_date=D(2026, 11, 9), period_key="2026-W46", state=RunState.OVERDUE)
    services._remind(late)
    before = plan.schedule_signature()
    plan.is_active = False
    plan.save()
    services.plan_saved(plan, previous=before, was_active=True, today=TODAY)
    late.refresh_from_db()
    assert late.state == RunState.CANCELLED and late.cancelled_reason == "巡检计划已停用"
    assert not reminders_of(late, ReminderState.ACTIVE).exists()
    assert not InspectionRun.objects.filter(plan=plan, state=RunState.PENDING).exists()
    plan.is_active = True
    plan.save()
    services.plan_saved(plan, previous=before, was_active=False, today=TODAY + datetime.timedelta(days=14))
    assert sorted(InspectionRun.objects.filter(plan=plan, state=RunState.PENDING)
                  .values_list("due_date", flat=True)) == [D(2026, 12, 7), D(2026, 12, 14)]


def test_the_hourly_job_is_registered_and_covers_every_school(world):
    definition, schedule = PERIODIC["houqin.repairs.inspections.generate_inspection_runs"]
    assert schedule.every == datetime.timedelta(hours=1)
    make_plan(world.a.org, lead_days=10)
    make_plan(world.b.org, lead_days=10)

    class Ctx:
        lines: list = []

        def log(self, text):
            self.lines.append(text)

    result = definition(Ctx())
    assert InspectionRun.objects.filter(org=world.a.org).exists()
    assert InspectionRun.objects.filter(org=world.b.org).exists()
    assert result["message"].startswith("新生成")


# --- Deleting and seeding plans -------------------------------------------------------------------------------------
def test_a_plan_with_records_cannot_be_deleted(world):
    plan = make_plan(world.a.org)
    untouched = make_run(plan)
    services.delete_plan(plan)
    assert not InspectionPlan.objects.filter(pk=plan.pk).exists()
    assert not InspectionRun.objects.filter(pk=untouched.pk).exists()
    kept = make_plan(world.a.org, name="有记录的计划")
    make_run(kept, state=RunState.DONE)
    with pytest.raises(ValidationError) as exc:
        services.delete_plan(kept)
    assert exc.value.messages == ["该计划已有巡检记录，不能删除；如不再需要，请编辑计划并取消“启用”。"]
    assert InspectionPlan.objects.filter(pk=kept.pk).exists()


def test_seeding_the_common_plans_once(world):
    created = services.seed_plans(world.a.org, today=TODAY)
    assert [p.name for p in created] == ["大型玩具与体育器材周检", "风扇与门窗月检", "燃气与厨房电器周检",
                                         "入夏前空调清洗检查", "照明设施周检"]
    by_name = {p.name: p for p in created}
    assert by_name["风扇与门窗月检"].schedule_display == "每月第一个星期一（遇节假日顺延）"
    assert by_name["入夏前空调清洗检查"].schedule_display == "每年 6 月 1 日（遇节假日顺延）"
    assert by_name["燃气与厨房电器周检"].responsible_role == "canteen_manager"
    gas = by_name["燃气与厨房电器周检"].checklist
    assert len(gas) == 7 and gas[0].requires_photo and gas[0].urgent
    assert all(p.items.count() >= 5 for p in created)
    assert InspectionRun.objects.filter(org=world.a.org).exists()  # the weekly ones are due within a week
    assert services.seed_plans(world.a.org, today=TODAY) == []
    assert InspectionPlan.objects.filter(org=world.a.org).count() == 5


# --- Plan validation ------------------------------------------------------------------------------------------------
def test_plan_validation_messages(world):
    plan = InspectionPlan(org=world.a.org, name="无周期", kind=ScheduleKind.WEEKLY, start_date=TODAY)
    with pytest.raises(ValidationError) as exc:
        plan.full_clean()
    assert exc.value.message_dict["weekday"] == ["请选择星期几。"]
    assert exc.value.message_dict["responsible"] == ["请选择负责人或负责岗位（至少一项）。"]
    outsider = make_user("wai", full_name="外校人员", org=world.b.org, roles=("teacher",))
    plan = InspectionPlan(org=world.a.org, name="外校负责人", kind=ScheduleKind.YEARLY, month=2, month_day=30,
                          responsible=outsider, start_date=TODAY)
    with pytest.raises(ValidationError) as exc:
        plan.full_clean()
    assert exc.value.message_dict["responsible"] == ["负责人必须是本校人员。"]
    assert exc.value.message_dict["month_day"] == ["2 月没有 30 日。"]


# --- Who sees and fills in a run ------------------------------------------------------------------------------------
def test_the_responsible_person_and_role_holders_see_and_fill_in_the_run(world):
    cook = make_user("cook", full_name="食堂管理员", org=world.a.org, roles=("canteen_manager",))
    gas = make_run(make_plan(world.a.org, name="燃气周检", responsible_role="canteen_manager"))
    by_name = make_run(make_plan(world.a.org, name="班级门窗", responsible_role="", responsible=world.teacher_a))
    assert set(InspectionRun.objects.restrict(cook).values_list("pk", flat=True)) == {gas.pk}
    assert set(InspectionRun.objects.restrict(world.teacher_a).values_list("pk", flat=True)) == {by_name.pk}
    assert services.may_perform(cook, gas) and not services.may_perform(cook, by_name)
    assert services.may_perform(world.head_a, gas)  # 总务主任 holds repairs.*
    assert not InspectionRun.objects.restrict(world.teacher_b).exists()
    assert not InspectionRun.objects.restrict(world.admin_b).exists()
    # A teacher of school B named on a plan of A (a plan cannot name them, but the rule holds even then).
    InspectionPlan.objects.filter(pk=by_name.plan_id).update(responsible=world.teacher_b)
    assert not InspectionRun.objects.restrict(world.teacher_b).exists()
    # A submitted run is a record: nobody may change it any more, the head included.
    InspectionRun.objects.filter(pk=gas.pk).update(state=RunState.DONE)
    assert not services.may_perform(world.head_a, gas)
    assert InspectionRun.objects.restrict(world.head_a, "view").filter(pk=gas.pk).exists()
    # A role held in school B does not reach school A's runs.
    grant(world.teacher_b, world.b.org, "canteen_manager")
    assert not InspectionRun.objects.restrict(world.teacher_b).filter(pk=gas.pk).exists()


# --- Submitting a run -----------------------------------------------------------------------------------------------
def test_submitting_an_all_pass_run(world):
    plan = make_plan(world.a.org, lead_days=7)
    services.generate_runs(world.a.org, today=TODAY)
    run = InspectionRun.objects.filter(plan=plan).order_by("due_date").first()
    with acting_as(world.head_a):
        done = services.submit_run(run, user=world.head_a, answers=all_pass(run), signature=signature_png(),
                                   note="一切正常", today=TODAY)
    run.refresh_from_db()
    assert run.state == RunState.DONE and run.outcome == RunOutcome.PASS and run.done_by == world.head_a
    assert (run.item_count, run.failed_count, run.note) == (3, 0, "一切正常")
    assert run.signature.caption == "检查人签名" and run.signature.object_id == run.pk
    results = list(run.results.order_by("position"))
    assert [r.text for r in results] == ["滑梯、秋千连接件无松动", "器材表面无尖锐边角", "缓冲地面完好"]
    assert done.work_orders == [] and done.problems == []
    assert set(reminders_of(run).values_list("state", flat=True)) == {ReminderState.DONE}
    # The record keeps the text of the checklist as it was.
    plan.items.filter(position=1).update(text="改过的检查内容")
    assert run.results.get(position=1).text == "滑梯、秋千连接件无松动"


def test_bad_answers_are_refused_and_nothing_is_saved(world):
    plan = make_plan(world.a.org, items=("连接件无松动", ("软垫完好", True), "标识清晰"))
    run = make_run(plan, due_date=TODAY)
    items = list(plan.items.order_by("position"))
    answers = [Answer(item=items[0].pk, outcome=Outcome.FAIL), Answer(item=items[1].pk, outcome=Outcome.PASS)]
    with pytest.raises(ValidationError) as exc:
        services.submit_run(run, user=world.head_a, answers=answers, signature=signature_png(ink=False),
                            today=TODAY)
    errors = exc.value.message_dict
    assert errors[f"item_{items[0].pk}"] == ["第 1 项“连接件无松动”不合格，请拍照留证。"]
    assert errors[f"item_{items[1].pk}"] == ["第 2 项“软垫完好”要求拍照，请拍一张照片。"]
    assert errors[f"item_{items[2].pk}"] == ["第 3 项“标识清晰”还没有选择结果（合格、不合格或不适用）。"]
    assert errors["signature"] == ["签名框是空白的，请检查人在框内签名。"]
    run.refresh_from_db()
    assert run.state == RunState.PENDING and not InspectionResult.objects.exists() and not Attachment.objects.exists()
    with pytest.raises(ValidationError) as exc:
        services.submit_run(run, user=world.head_a, answers=[*all_pass(run), Answer(item=999999, outcome="pass")],
                            signature=signature_png(), today=TODAY)
    assert "不属于本次巡检" in exc.value.message_dict["results"][0]
    with pytest.raises(ValidationError) as exc:
        services.submit_run(run, user=world.head_a, answers=all_pass(run), signature=None, today=TODAY)
    assert exc.value.message_dict["signature"] == ["请检查人在签名框内签名。"]
    na = [Answer(item=i.pk, outcome=Outcome.NA) for i in items]  # 不适用 needs no photo
    services.submit_run(run, user=world.head_a, answers=na, signature=signature_png(), today=TODAY)
    assert InspectionRun.objects.get(pk=run.pk).outcome == RunOutcome.PASS


def test_a_run_is_submitted_once_and_not_before_it_opens(world):
    plan = make_plan(world.a.org)
    early = make_run(plan, due_date=D(2026, 12, 7), opens_on=D(2026, 12, 1), period_key="x")
    with pytest.raises(ValidationError) as exc:
        services.submit_run(early, user=world.head_a, answers=all_pass(early), signature=signature_png(),
                            today=TODAY)
    assert exc.value.messages == ["这项巡检从 2026-12-01 起才能填写（应检日期 2026-12-07）。"]
    run = make_run(plan, due_date=TODAY, period_key="y")
    services.submit_run(run, user=world.head_a, answers=all_pass(run), signature=signature_png(), today=TODAY)
    with pytest.raises(ValidationError) as exc:
        services.submit_run(run, user=world.head_a, answers=all_pass(run), signature=signature_png(), today=TODAY)
    assert exc.value.messages[0].startswith("这项巡检已由甲校总务主任于 ") and exc.value.messages[0].endswith(
        "提交，不能重复提交。")
    cancelled = make_run(plan, due_date=TODAY, period_key="z", state=RunState.CANCELLED)
    with pytest.raises(ValidationError):
        services.submit_run(cancelled, user=world.head_a, answers=all_pass(cancelled), signature=signature_png(),
                            today=TODAY)


def test_only_the_responsible_may_submit(world):
    run = make_run(make_plan(world.a.org, responsible_role="canteen_manager"), due_date=TODAY)
    with pytest.raises(PermissionDenied):
        services.submit_run(run, user=world.teacher_a, answers=all_pass(run), signature=signature_png(), today=TODAY)
    with pytest.raises(PermissionDenied):
        services.submit_run(run, user=world.admin_b, answers=all_pass(run), signature=signature_png(), today=TODAY)
    cook = make_user("cook2", full_name="食堂王师傅", org=world.a.org, roles=("canteen_manager",))
    services.submit_run(run, user=cook, answers=all_pass(run), signature=signature_png(), today=TODAY)
    assert InspectionRun.objects.get(pk=run.pk).done_by == cook


def test_a_failed_line_opens_a_work_order_with_its_photo_and_tells_the_head(world):
    from houqin.repairs.models import WorkOrder

    plan = make_plan(world.a.org, items=(("燃气软管无老化", True, True), "报警器正常"), repair_category="电器",
                     responsible=world.teacher_a, responsible_role="")
    plan.rooms.add(world.a.rooms[1])
    run = make_run(plan, due_date=TODAY)
    items = list(plan.items.order_by("position"))
    hooked = []
    services.ON_ITEM_FAILED.append(lambda **kw: hooked.append(kw["result"].text))
    try:
        with acting_as(world.teacher_a):
            done = services.submit_run(run, user=world.teacher_a, today=TODAY, signature=signature_png(), answers=[
                Answer(item=items[0].pk, outcome=Outcome.FAIL, note="软管有裂纹", photo=photo_jpeg()),
                Answer(item=items[1].pk, outcome=Outcome.PASS)])
    finally:
        services.ON_ITEM_FAILED.pop()
    run.refresh_from_db()
    assert run.outcome == RunOutcome.FAIL and run.failed_count == 1
    failed = run.results.get(position=1)
    assert failed.photo is not None and failed.photo.object_id == failed.pk
    order = WorkOrder.objects.get(pk=failed.work_order_id)
    assert done.work_orders == [order.number] == [failed.work_order_number]
    assert order.source == "inspection" and order.reference == run.number and order.urgency == "urgent"
    assert order.room == world.a.rooms[1] and order.category.name == "电器"
    assert "燃气软管无老化" in order.description and "软管有裂纹" in order.description
    assert Attachment.objects.for_object(order).count() == 1
    assert hooked == ["燃气软管无老化"]
    alert = Notification.objects.get(recipient=world.head_a, kind="alert")
    assert alert.title == f"巡检发现问题：{run.title}（1 项不合格）" and order.number in alert.body


def test_without_the_work_order_part_the_results_are_kept(world, monkeypatch):
    monkeypatch.setattr(services, "_create_order_function", lambda: None)
    run = make_run(make_plan(world.a.org), due_date=TODAY)
    items = list(run.plan.items.order_by("position"))
    answers = [Answer(item=items[0].pk, outcome=Outcome.FAIL, photo=photo_jpeg()),
               *[Answer(item=i.pk, outcome=Outcome.PASS) for i in items[1:]]]
    done = services.submit_run(run, user=world.head_a, answers=answers, signature=signature_png(), today=TODAY)
    assert done.work_orders == [] and done.run.failed_count == 1


def test_a_refused_work_order_is_reported_not_fatal(world, monkeypatch):
    def refuse(org, **kwargs):
        raise ValidationError({"room": "请选择报修地点，或填写具体位置。"})

    monkeypatch.setattr(services, "_create_order_function", lambda: refuse)
    run = make_run(make_plan(world.a.org), due_date=TODAY)
    items = list(run.plan.items.order_by("position"))
    answers = [Answer(item=items[0].pk, outcome=Outcome.FAIL, photo=photo_jpeg()),
               *[Answer(item=i.pk, outcome=Outcome.PASS) for i in items[1:]]]
    done = services.submit_run(run, user=world.head_a, answers=answers, signature=signature_png(), today=TODAY)
    assert done.run.state == RunState.DONE
    assert done.problems == ["“滑梯、秋千连接件无松动”未能自动生成维修单：请选择报修地点，或填写具体位置。"]


def test_a_photo_that_is_not_a_picture_is_refused_with_the_line(world):
    run = make_run(make_plan(world.a.org), due_date=TODAY)
    items = list(run.plan.items.order_by("position"))
    answers = [Answer(item=items[0].pk, outcome=Outcome.FAIL, photo=b"MZ\x90\x00 not a photo"),
               *[Answer(item=i.pk, outcome=Outcome.PASS) for i in items[1:]]]
    with pytest.raises(ValidationError) as exc:
        services.submit_run(run, user=world.head_a, answers=answers, signature=signature_png(), today=TODAY)
    assert exc.value.message_dict[f"item_{items[0].pk}"][0].startswith("第 1 项“滑梯、秋千连接件无松动”的照片：")


def test_decode_image():
    assert services.decode_image("") is None
    assert services.decode_image("data:image/png;base64,aGVsbG8=") == b"hello"
    assert services.decode_image("aGVsbG8=") == b"hello"
    with pytest.raises(ValidationError) as exc:
        services.decode_image("data:image/png;base64,@@@", name="签名")
    assert exc.value.messages == ["签名的数据无法识别，请重新拍照或签名。"]
