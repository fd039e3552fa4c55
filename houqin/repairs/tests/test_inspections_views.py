"""The inspection pages: the plan form with its checklist, the plan and run pages, the phone form of a run, the
巡检任务 page and its buttons."""

from __future__ import annotations

import base64
import datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from houqin.repairs.models.inspections import InspectionItem, InspectionPlan, InspectionResult, InspectionRun, RunState
from houqin.repairs.tests.factories_inspections import make_plan, make_run, photo_jpeg, signature_png

pytestmark = pytest.mark.django_db

SIGNATURE = "data:image/png;base64," + base64.b64encode(signature_png()).decode()


def plan_data(**overrides):
    data = {"name": "篮球架周检", "target": "篮球场篮球架", "kind": "weekly", "weekday": "2", "offset_days": "0",
            "start_date": timezone.localdate().isoformat(), "holiday_rule": "next", "lead_days": "7",
            "responsible_role": "technician", "is_active": "on",
            "items-TOTAL_FORMS": "3", "items-INITIAL_FORMS": "0", "items-MIN_NUM_FORMS": "0",
            "items-MAX_NUM_FORMS": "1000",
            "items-0-text": "篮球架底座固定牢靠", "items-0-position": "",
            "items-1-text": "篮板无裂纹", "items-1-position": "1", "items-1-requires_photo": "on",
            "items-2-text": ""}
    data.update(overrides)
    return data


def today_run(plan, due_date=None, **fields):
    due_date = due_date or timezone.localdate()
    return make_run(plan, due_date=due_date, opens_on=due_date - datetime.timedelta(days=6), **fields)


# --- Plans ---------------------------------------------------------------------------------------------------------
def test_adding_a_plan_with_its_checklist_generates_its_runs(world, client_for):
    client = client_for(world.head_a)
    page = client.get(reverse("repairs:inspectionplan_add"))
    assert page.status_code == 200 and "检查清单" in page.content.decode()
    response = client.post(reverse("repairs:inspectionplan_add"), plan_data())
    plan = InspectionPlan.objects.get(name="篮球架周检")
    assert response.status_code == 302 and response["Location"] == plan.get_absolute_url()
    # Numbered by 序号: the line with 1 first, the line without one after it.
    assert [(i.position, i.text, i.requires_photo) for i in plan.checklist] == [
        (1, "篮板无裂纹", True), (2, "篮球架底座固定牢靠", False)]
    assert InspectionRun.objects.filter(plan=plan).count() >= 1  # a Wednesday within the next 7 days
    assert plan.org == world.a.org and plan.weekday == 2 and plan.month_day is None


def test_the_plan_form_refuses_bad_input_and_saves_nothing(world, client_for):
    client = client_for(world.head_a)
    response = client.post(reverse("repairs:inspectionplan_add"), plan_data(**{
        "weekday": "", "items-0-text": "", "items-1-text": "", "items-1-position": "", "items-1-requires_photo": "",
        "responsible_role": ""}))
    text = response.content.decode()
    assert response.status_code == 200
    assert "请选择星期几。" in text and "请至少填写一个检查项目。" in text
    assert "请选择负责人或负责岗位（至少一项）。" in text
    assert not InspectionPlan.objects.exists() and not InspectionItem.objects.exists()


def test_fields_of_another_kind_are_cleared(world, client_for):
    client = client_for(world.head_a)
    client.post(reverse("repairs:inspectionplan_add"), plan_data(kind="yearly", month="6", month_day="1",
                                                                 weekday="3", every_days="9"))
    plan = InspectionPlan.objects.get()
    assert (plan.month, plan.month_day, plan.weekday, plan.every_days) == (6, 1, None, None)


def test_editing_the_checklist_and_the_schedule(world, client_for):
    client = client_for(world.head_a)
    plan = make_plan(world.a.org, name="滑梯周检", lead_days=14)
    first, second, third = plan.checklist
    data = plan_data(name="滑梯周检", weekday="4", **{
        "items-TOTAL_FORMS": "4", "items-INITIAL_FORMS": "3",
        "items-0-id": str(first.pk), "items-0-text": first.text, "items-0-position": "1",
        "items-1-id": str(second.pk), "items-1-text": "改写后的第二项", "items-1-position": "2",
        "items-2-id": str(third.pk), "items-2-text": third.text, "items-2-position": "3", "items-2-DELETE": "on",
        "items-3-text": "新增的一项", "items-3-position": "",
        "items-1-requires_photo": ""})
    response = client.post(reverse("repairs:inspectionplan_edit", args=[plan.pk]), data)
    assert response.status_code == 302
    plan.refresh_from_db()
    assert [i.text for i in plan.checklist] == [first.text, "改写后的第二项", "新增的一项"]
    assert plan.weekday == 4 and InspectionRun.objects.filter(plan=plan).exists()
    assert set(InspectionRun.objects.filter(plan=plan).values_list("due_date__week_day", flat=True)) <= {6}


def test_plan_page_shows_schedule_checklist_and_buttons(world, client_for):
    plan = make_plan(world.a.org, name="灯具周检", lead_days=7)
    run = today_run(plan, state=RunState.DONE, failed_count=1)
    page = client_for(world.head_a).get(plan.get_absolute_url()).content.decode()
    assert "每周一（遇节假日顺延）" in page and "滑梯、秋千连接件无松动" in page
    assert "立即生成" in page and run.number in page and "1 项不合格" in page
    assert "维修工（岗位）" in page
    other = client_for(world.admin_a).get(plan.get_absolute_url()).content.decode()  # reads, does not act
    assert "立即生成" not in other and "灯具周检" in other


def test_a_plan_with_records_is_not_deleted(world, client_for):
    plan = make_plan(world.a.org)
    today_run(plan, state=RunState.DONE)
    response = client_for(world.head_a).post(reverse("repairs:inspectionplan_delete", args=[plan.pk]), follow=True)
    assert "该计划已有巡检记录，不能删除" in response.content.decode()
    assert InspectionPlan.objects.filter(pk=plan.pk).exists()
    fresh = make_plan(world.a.org, name="刚建的计划")
    today_run(fresh)
    client_for(world.head_a).post(reverse("repairs:inspectionplan_delete", args=[fresh.pk]))
    assert not InspectionPlan.objects.filter(pk=fresh.pk).exists()


def test_generate_button_on_a_plan(world, client_for):
    plan = make_plan(world.a.org, lead_days=13)  # any 14 days hold two Mondays, whatever today is
    response = client_for(world.head_a).post(reverse("repairs:inspectionplan_generate", args=[plan.pk]),
                                             follow=True)
    assert "新生成 2 项巡检任务" in response.content.decode()
    response = client_for(world.head_a).post(reverse("repairs:inspectionplan_generate", args=[plan.pk]),
                                             follow=True)
    assert "没有需要新生成的巡检任务" in response.content.decode()
    assert InspectionRun.objects.filter(plan=plan).count() == 2


# --- Runs ----------------------------------------------------------------------------------------------------------
def test_run_list_filters(world, client_for):
    plan = make_plan(world.a.org)
    pending = today_run(plan, period_key="p", title="待检查的巡检")
    overdue = today_run(plan, period_key="o", state=RunState.OVERDUE, title="逾期的巡检")
    failed = today_run(plan, period_key="f", state=RunState.DONE, failed_count=2, title="有问题的巡检")
    passed = today_run(plan, period_key="d", state=RunState.DONE, title="合格的巡检")
    client = client_for(world.head_a)
    url = reverse("repairs:inspectionrun_list")

    def shown(**query):
        text = client.get(url, query).content.decode()
        return {r.title for r in (pending, overdue, failed, passed) if r.title in text}

    assert shown(status="pending") == {"待检查的巡检"}
    assert shown(status="overdue") == {"逾期的巡检"}
    assert shown(status="done") == {"有问题的巡检", "合格的巡检"}
    assert shown(status="failed") == {"有问题的巡检"}
    assert shown() == {"待检查的巡检", "逾期的巡检", "有问题的巡检", "合格的巡检"}
    assert shown(mine="true") == set()  # the head is not the technician the plan names


def test_doing_a_run_on_the_phone(world, client_for):
    from houqin.repairs.models import WorkOrder

    plan = make_plan(world.a.org, name="厨房燃气周检", responsible=world.teacher_a, responsible_role="")
    plan.rooms.add(world.a.rooms[0], world.a.rooms[1])
    run = today_run(plan)
    client = client_for(world.teacher_a)  # a teacher without any repairs permission, named on the plan
    page = client.get(reverse("repairs:inspectionrun_do", args=[run.pk]))
    text = page.content.decode()
    assert page.status_code == 200 and text.count('class="btn-check"') == 9  # 3 lines × 合格/不合格/不适用
    assert "signature_pad.umd.min.js" in text and "问题位置" in text
    items = plan.checklist
    data = {f"item_{items[0].pk}_outcome": "fail", f"item_{items[0].pk}_note": "滑梯螺丝松动",
            f"item_{items[0].pk}_where": f"room:{world.a.rooms[1].pk}",
            f"item_{items[0].pk}_photo": SimpleUploadedFile("松动.jpg", photo_jpeg(), "image/jpeg"),
            f"item_{items[1].pk}_outcome": "pass", f"item_{items[2].pk}_outcome": "na",
            "signature": SIGNATURE, "note": "总体良好"}
    response = client.post(reverse("repairs:inspectionrun_do", args=[run.pk]), data, follow=True)
    run.refresh_from_db()
    assert run.state == RunState.DONE and run.done_by == world.teacher_a and run.failed_count == 1
    result = run.results.get(position=1)
    order = WorkOrder.objects.get(pk=result.work_order_id)
    assert order.room == world.a.rooms[1]
    text = response.content.decode()
    assert f"已提交巡检 {run.number}，发现 1 项不合格，已生成维修单 {order.number}" in text
    assert "滑梯螺丝松动" in text and reverse("attachments:thumb", args=[result.photo_id]) in text
    # A submitted run is a record: the form is gone.
    again = client.get(reverse("repairs:inspectionrun_do", args=[run.pk]), follow=True)
    assert "这项巡检已完成，不能再填写。" in again.content.decode()
    assert "开始检查" not in client.get(run.get_absolute_url()).content.decode()


def test_a_failed_line_without_a_photo_is_sent_back(world, client_for):
    plan = make_plan(world.a.org)
    run = today_run(plan)
    items = plan.checklist
    data = {f"item_{items[0].pk}_outcome": "fail", f"item_{items[1].pk}_outcome": "pass", "signature": ""}
    response = client_for(world.head_a).post(reverse("repairs:inspectionrun_do", args=[run.pk]), data)
    text = response.content.decode()
    assert response.status_code == 200
    assert "第 1 项“滑梯、秋千连接件无松动”不合格，请拍照留证。" in text
    assert "第 3 项“缓冲地面完好”还没有选择结果" in text and "请检查人在签名框内签名。" in text
    assert not InspectionResult.objects.exists()
    assert InspectionRun.objects.get(pk=run.pk).state == RunState.PENDING


def test_a_run_not_open_yet_shows_its_checklist_only(world, client_for):
    plan = make_plan(world.a.org)
    today = timezone.localdate()
    run = make_run(plan, due_date=today + datetime.timedelta(days=9), opens_on=today + datetime.timedelta(days=3))
    text = client_for(world.head_a).get(reverse("repairs:inspectionrun_do", args=[run.pk])).content.decode()
    assert f"这项巡检从 {run.opens_on:%Y-%m-%d} 起才能提交" in text and "disabled" in text


def test_the_responsible_teacher_reaches_the_run_but_not_the_lists(world, client_for):
    run = today_run(make_plan(world.a.org, responsible=world.teacher_a, responsible_role=""))
    client = client_for(world.teacher_a)
    assert client.get(run.get_absolute_url()).status_code == 200
    assert "开始检查" in client.get(run.get_absolute_url()).content.decode()
    assert client.get(reverse("repairs:inspectionrun_list")).status_code == 403
    assert client.get(run.plan.get_absolute_url()).status_code == 404


# --- 巡检任务 ------------------------------------------------------------------------------------------------------
def test_home_shows_my_runs_and_the_managers_counts(world, client_for):
    mine = today_run(make_plan(world.a.org, name="我的门窗检查", responsible=world.teacher_a, responsible_role=""))
    late = today_run(make_plan(world.a.org, name="逾期的照明检查"), state=RunState.OVERDUE,
                     due_date=timezone.localdate() - datetime.timedelta(days=3), period_key="late")
    teacher = client_for(world.teacher_a).get(reverse("repairs:inspection_home")).content.decode()
    assert "我的门窗检查" in teacher and reverse("repairs:inspectionrun_do", args=[mine.pk]) in teacher
    assert "逾期的照明检查" not in teacher and "载入常用巡检计划" not in teacher
    head = client_for(world.head_a).get(reverse("repairs:inspection_home")).content.decode()
    assert "暂时没有需要您完成的巡检" in head and "逾期的照明检查" in head and "已逾期 3 天" in head
    assert "载入常用巡检计划" in head and "立即生成" in head
    assert late.get_absolute_url() in head
    other = client_for(world.admin_b).get(reverse("repairs:inspection_home")).content.decode()
    assert "我的门窗检查" not in other and "逾期的照明检查" not in other


def test_seed_and_generate_buttons(world, client_for):
    client = client_for(world.head_a)
    response = client.post(reverse("repairs:inspection_seed"), follow=True)
    assert "已载入 5 项常用巡检计划" in response.content.decode()
    assert InspectionPlan.objects.filter(org=world.a.org).count() == 5
    response = client.post(reverse("repairs:inspection_seed"), follow=True)
    assert "常用巡检计划都已存在，没有新增。" in response.content.decode()
    response = client.post(reverse("repairs:inspection_generate"), follow=True)
    assert "没有需要新生成的巡检任务" in response.content.decode()
    assert client_for(world.admin_a).post(reverse("repairs:inspection_seed")).status_code == 403


def test_print_sheet_of_a_run(world, client_for):
    plan = make_plan(world.a.org, name="打印用计划")
    run = today_run(plan)
    from houqin.repairs import inspections as services
    from houqin.repairs.tests.factories_inspections import all_pass

    services.submit_run(run, user=world.head_a, answers=all_pass(run), signature=signature_png())
    text = client_for(world.head_a).get(reverse("repairs:inspectionrun_print", args=[run.pk]),
                                        {"sign": "1"}).content.decode()
    assert "巡检记录表" in text and "检查结果" in text and "缓冲地面完好" in text and "合格" in text
