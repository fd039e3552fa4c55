"""The inspection API beyond the isolation matrix: plans with nested checklists, the generate and seed actions,
submitting a run as JSON, ``mine``, and the query budget of the lists."""

from __future__ import annotations

import base64
import datetime
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from houqin.repairs.models.inspections import InspectionPlan, InspectionRun, RunState
from houqin.repairs.tests.factories_inspections import (
    bulk_plans,
    bulk_runs,
    make_plan,
    make_run,
    photo_jpeg,
    signature_png,
)

pytestmark = pytest.mark.django_db

PLANS = "/api/repairs/inspection-plans/"
RUNS = "/api/repairs/inspection-runs/"
SIGNATURE = "data:image/png;base64," + base64.b64encode(signature_png()).decode()
PHOTO = base64.b64encode(photo_jpeg()).decode()


def call(client, method, url, data=None):
    response = getattr(client, method)(url, data=json.dumps(data) if data is not None else None,
                                       content_type="application/json", HTTP_ACCEPT="application/json")
    return response, (response.json() if response.content else None)


def open_run(plan, **fields):
    today = timezone.localdate()
    return make_run(plan, due_date=today, opens_on=today - datetime.timedelta(days=6), **fields)


def plan_body(**overrides):
    body = {"name": "单双杠周检", "target": "操场单双杠", "kind": "weekly", "weekday": 3,
            "start_date": timezone.localdate().isoformat(), "responsible_role": "technician", "lead_days": 7,
            "items": [{"text": "立柱固定牢靠"}, {"text": "横杠无锈蚀", "requires_photo": True}]}
    body.update(overrides)
    return body


# --- Plans ---------------------------------------------------------------------------------------------------------
def test_create_a_plan_with_its_checklist(world, client_for):
    response, data = call(client_for(world.head_a), "post", PLANS, plan_body())
    assert response.status_code == 201, data
    assert [i["text"] for i in data["items"]] == ["立柱固定牢靠", "横杠无锈蚀"]
    assert data["schedule_display"] == "每周四（遇节假日顺延）" and data["responsible_display"] == "维修工（岗位）"
    plan = InspectionPlan.objects.get(pk=data["id"])
    assert plan.org == world.a.org and InspectionRun.objects.filter(plan=plan).exists()


def test_bad_plans_get_field_errors_and_nothing_is_saved(world, client_for):
    response, data = call(client_for(world.head_a), "post", PLANS,
                          plan_body(weekday=None, items=[], responsible_role=""))
    assert response.status_code == 400
    fields = data["error"]["fields"]
    assert fields["items"][0]["message"] == "请至少填写一个检查项目。"
    response, data = call(client_for(world.head_a), "post", PLANS, plan_body(weekday=None))
    fields = data["error"]["fields"]
    assert fields["weekday"][0]["message"] == "请选择星期几。"
    response, data = call(client_for(world.head_a), "post", PLANS,
                          plan_body(items=[{"text": "重复"}, {"text": "重复"}], responsible=world.b.staff.pk))
    fields = data["error"]["fields"]
    assert fields["items"][0]["message"] == "检查项目有重复，请合并或删除重复的一项。"
    assert fields["responsible"][0]["code"] == "does_not_exist"
    assert not InspectionPlan.objects.exists()
    # A teacher may not create plans.
    assert call(client_for(world.teacher_a), "post", PLANS, plan_body())[0].status_code == 403


def test_update_keeps_changes_and_drops_checklist_lines(world, client_for):
    plan = make_plan(world.a.org, name="篮球架周检")
    first, second, third = plan.checklist
    client = client_for(world.head_a)
    response, data = call(client, "patch", f"{PLANS}{plan.pk}/", {"items": [
        {"id": third.pk, "text": third.text, "position": 1}, {"id": first.pk, "text": "改过的第一项"},
        {"text": "新的一项", "urgent": True}]})
    assert response.status_code == 200, data
    assert [(i["text"], i["position"]) for i in data["items"]] == [
        (third.text, 1), ("改过的第一项", 2), ("新的一项", 3)]
    assert not plan.items.filter(pk=second.pk).exists()
    other = make_plan(world.a.org, name="别的计划")
    response, data = call(client, "patch", f"{PLANS}{plan.pk}/", {"items": [{"id": other.checklist[0].pk,
                                                                              "text": "偷来的"}]})
    assert response.status_code == 400 and "不属于此计划" in data["error"]["fields"]["items"][0]["message"]


def test_delete_only_without_records(world, client_for):
    client = client_for(world.head_a)
    kept = make_plan(world.a.org, name="有记录")
    open_run(kept, state=RunState.DONE)
    response, data = call(client, "delete", f"{PLANS}{kept.pk}/")
    assert response.status_code == 400 and "不能删除" in json.dumps(data, ensure_ascii=False)
    fresh = make_plan(world.a.org, name="新计划")
    open_run(fresh)
    assert call(client, "delete", f"{PLANS}{fresh.pk}/")[0].status_code == 204


def test_generate_and_seed_actions(world, client_for):
    client = client_for(world.head_a)
    plan = make_plan(world.a.org, lead_days=13)  # any 14 days hold two Mondays, whatever today is
    response, data = call(client, "post", f"{PLANS}{plan.pk}/generate/")
    assert response.status_code == 200 and data["created"] == 2
    assert call(client, "post", f"{PLANS}{plan.pk}/generate/")[1]["created"] == 0
    response, data = call(client, "post", f"{PLANS}seed/", {})
    assert response.status_code == 200 and len(data["created"]) == 5
    assert call(client, "post", f"{PLANS}seed/", {})[1]["created"] == []
    assert call(client_for(world.admin_a), "post", f"{PLANS}{plan.pk}/generate/")[0].status_code == 403
    assert call(client_for(world.admin_b), "post", f"{PLANS}{plan.pk}/generate/")[0].status_code == 404
    assert call(client_for(world.admin_b), "post", f"{PLANS}seed/", {"org": world.a.org.pk})[0].status_code == 403


# --- Runs ----------------------------------------------------------------------------------------------------------
def test_a_run_lists_its_checklist_until_submitted_then_its_results(world, client_for):
    run = open_run(make_plan(world.a.org))
    client = client_for(world.head_a)
    response, data = call(client, "get", f"{RUNS}{run.pk}/")
    assert [i["text"] for i in data["items"]] == ["滑梯、秋千连接件无松动", "器材表面无尖锐边角", "缓冲地面完好"]
    assert data["results"] == [] and data["state"] == {"value": "pending", "label": "待检查"}
    items = [i["id"] for i in data["items"]]
    response, data = call(client, "post", f"{RUNS}{run.pk}/submit/", {
        "signature": SIGNATURE, "note": "接口提交",
        "results": [{"item": items[0], "outcome": "fail", "note": "有松动", "photo": PHOTO,
                     "room": world.a.rooms[0].pk},
                    {"item": items[1], "outcome": "pass"}, {"item": items[2], "outcome": "na"}]})
    assert response.status_code == 200, data
    assert data["state"]["value"] == "done" and data["failed_count"] == 1 and data["items"] == []
    assert [r["outcome"]["value"] for r in data["results"]] == ["fail", "pass", "na"]
    assert data["results"][0]["work_order_number"].startswith("BX-") and data["results"][0]["room"] == \
        world.a.rooms[0].pk
    response, data = call(client, "post", f"{RUNS}{run.pk}/submit/", {"signature": SIGNATURE, "results": []})
    assert response.status_code == 400 and "不能重复提交" in json.dumps(data, ensure_ascii=False)


def test_submit_errors_are_keyed_by_line(world, client_for):
    run = open_run(make_plan(world.a.org))
    items = [i.pk for i in run.plan.checklist]
    response, data = call(client_for(world.head_a), "post", f"{RUNS}{run.pk}/submit/", {
        "signature": "data:image/png;base64,!!!",
        "results": [{"item": items[0], "outcome": "fail"}, {"item": items[1], "outcome": "pass",
                                                              "room": world.b.rooms[0].pk}]})
    assert response.status_code == 400
    assert data["error"]["fields"][f"item_{items[1]}"][0]["message"] == f"房间“{world.b.rooms[0].pk}”不存在。"
    response, data = call(client_for(world.head_a), "post", f"{RUNS}{run.pk}/submit/", {
        "signature": "data:image/png;base64,!!!",
        "results": [{"item": items[0], "outcome": "fail"}, {"item": items[1], "outcome": "maybe"}]})
    assert response.status_code == 400 and "results" in data["error"]["fields"]
    response, data = call(client_for(world.head_a), "post", f"{RUNS}{run.pk}/submit/", {
        "signature": "data:image/png;base64,!!!", "results": [{"item": items[0], "outcome": "fail"}]})
    fields = data["error"]["fields"]
    assert fields[f"item_{items[0]}"][0]["message"] == "第 1 项“滑梯、秋千连接件无松动”不合格，请拍照留证。"
    assert response.status_code == 400 and fields["signature"][0]["message"] == "签名的数据无法识别，请重新拍照或签名。"
    assert InspectionRun.objects.get(pk=run.pk).state == RunState.PENDING


def test_who_may_submit_and_mine(world, client_for):
    run = open_run(make_plan(world.a.org, responsible=world.teacher_a, responsible_role=""))
    other = open_run(make_plan(world.a.org, name="别人的巡检"))
    items = [{"item": i.pk, "outcome": "pass"} for i in run.plan.checklist]
    body = {"signature": SIGNATURE, "results": items}
    assert call(client_for(world.admin_b), "post", f"{RUNS}{run.pk}/submit/", body)[0].status_code == 404
    response, data = call(client_for(world.admin_a), "post", f"{RUNS}{run.pk}/submit/", body)
    assert response.status_code == 403  # reads every run of the school, fills in none
    teacher = client_for(world.teacher_a)  # no repairs permission: the plan names them
    response, data = call(teacher, "get", f"{RUNS}mine/")
    assert [r["id"] for r in data] == [run.pk]
    assert call(teacher, "get", f"{RUNS}{run.pk}/")[0].status_code == 200
    assert call(teacher, "get", f"{RUNS}{other.pk}/")[0].status_code == 404
    assert call(teacher, "get", RUNS)[0].status_code == 403
    response, data = call(teacher, "post", f"{RUNS}{run.pk}/submit/", body)
    assert response.status_code == 200 and data["done_by"]["id"] == world.teacher_a.pk
    assert call(teacher, "get", f"{RUNS}mine/")[1] == []
    assert call(client_for(None), "get", f"{RUNS}mine/")[0].status_code in (401, 403)


def test_run_filters(world, client_for):
    plan = make_plan(world.a.org)
    failed = open_run(plan, period_key="f", state=RunState.DONE, failed_count=1)
    open_run(plan, period_key="d", state=RunState.DONE)
    late = open_run(plan, period_key="o", state=RunState.OVERDUE)
    client = client_for(world.head_a)
    assert [r["id"] for r in call(client, "get", f"{RUNS}?status=failed")[1]["results"]] == [failed.pk]
    assert [r["id"] for r in call(client, "get", f"{RUNS}?status=overdue")[1]["results"]] == [late.pk]
    response, data = call(client, "get", f"{RUNS}?status=nonsense")
    assert response.status_code == 400


@pytest.mark.parametrize(("url", "bulk"), [(RUNS, bulk_runs), (PLANS, bulk_plans)])
def test_list_queries_do_not_grow_with_the_page_size(world, client_for, url, bulk):
    bulk(world.a, 120)
    client = client_for(world.head_a)
    counts = []
    for size in (10, 100):
        client.get(url, {"page_size": size}, HTTP_ACCEPT="application/json")  # warm the session
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url, {"page_size": size}, HTTP_ACCEPT="application/json")
        assert response.status_code == 200 and len(response.json()["results"]) == size
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1], counts
