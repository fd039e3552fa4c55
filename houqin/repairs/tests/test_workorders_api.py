"""The work-order API beyond the isolation matrix: reporting, the commands with their field errors and refusals,
a reporter's own list, and the settings rows."""

from __future__ import annotations

import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from houqin.repairs.defaults import ensure_defaults
from houqin.repairs.models import RepairCategory, State, Technician, WorkOrder
from houqin.repairs.tests.factories_workorders import make_order, make_technician

pytestmark = pytest.mark.django_db
BASE = "/api/repairs/workorders/"


def post(client, url, data=None):
    return client.post(url, data=json.dumps(data or {}), content_type="application/json",
                       HTTP_ACCEPT="application/json")


def fields(response) -> dict:
    return {k: [e["message"] for e in v] for k, v in response.json()["error"]["fields"].items()}


@pytest.fixture
def tech(world):
    return make_technician(world.a.org, "王师傅", trades=["water_power"])


def test_a_teacher_reports_through_the_api_and_reads_only_their_own(world, teacher_a, client_for):
    ensure_defaults(world.a.org)
    water = RepairCategory.objects.get(org=world.a.org, name="水电")
    client = client_for(teacher_a)
    response = post(client, BASE, {"room": world.a.rooms[0].pk, "category": water.pk, "description": "灯管闪烁",
                                   "urgency": "urgent", "source": "form"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["state"] == {"value": "new", "label": "待受理"} and body["number"].startswith("BX-")
    assert body["actions"] == ["cancel"] and body["urgency"]["value"] == "urgent"
    other = make_order(world.a.org, room=world.a.rooms[1], category="门窗")
    listed = client.get(BASE, HTTP_ACCEPT="application/json").json()["results"]
    assert [o["id"] for o in listed] == [body["id"]]
    assert client.get(f"{BASE}{other.pk}/", HTTP_ACCEPT="application/json").status_code == 404
    assert client.get(f"{BASE}{body['id']}/", HTTP_ACCEPT="application/json").status_code == 200


def test_report_errors_are_field_errors(world, teacher_a, client_for):
    client = client_for(teacher_a)
    response = post(client, BASE, {"description": "", "room": world.b.rooms[0].pk})
    assert response.status_code == 400
    errors = fields(response)
    assert set(errors) == {"description", "room"}
    response = post(client, BASE, {"description": "坏了", "place": "", "source": "form"})
    assert response.status_code == 400 and fields(response) == {"room": ["请选择报修地点，或填写具体位置。"]}
    response = post(client, BASE, {"description": "坏了", "place": "操场", "source": "proxy", "reporter_name": "某"})
    assert response.status_code == 403 and response.json()["error"]["message"] == "只有总务处可以代报报修。"
    assert not WorkOrder.objects.exists()
    assert post(client_for(world.bureau_admin), BASE, {"description": "坏了", "place": "操场"}).status_code == 403


def test_commands_through_the_api(world, teacher_a, head_a, tech, client_for):
    order = make_order(world.a.org, user=teacher_a, room=world.a.rooms[0])
    head, technician, teacher = client_for(head_a), client_for(tech), client_for(teacher_a)
    response = post(head, f"{BASE}{order.pk}/dispatch/", {"assignee": teacher_a.pk})
    assert response.status_code == 400 and fields(response) == {
        "assignee": ["甲校老师不是本校维修人员，不能派工给他。"]}
    response = post(head, f"{BASE}{order.pk}/dispatch/", {"assignee": world.admin_b.pk})
    assert response.status_code == 400 and fields(response) == {"assignee": ["维修人员不存在。"]}
    response = post(teacher, f"{BASE}{order.pk}/dispatch/", {"assignee": tech.pk})
    assert response.status_code == 403
    response = post(head, f"{BASE}{order.pk}/dispatch/", {"assignee": tech.pk, "note": "带梯子"})
    assert response.status_code == 200 and response.json()["assignee"] == tech.pk
    assert post(technician, f"{BASE}{order.pk}/start/").json()["state"]["value"] == "in_progress"
    response = post(technician, f"{BASE}{order.pk}/wait-parts/", {"reason": ""})
    assert response.status_code == 400 and fields(response) == {"reason": ["请填写需要的配件。"]}
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (20, 20), (0, 200, 0)).save(buffer, format="PNG")
    photo = SimpleUploadedFile("好了.png", buffer.getvalue(), content_type="image/png")
    response = technician.post(f"{BASE}{order.pk}/complete/", {"work_done": "换灯管", "labour_hours": "1",
                                                                "photos": [photo]}, HTTP_ACCEPT="application/json")
    assert response.status_code == 200, response.content
    assert response.json()["total_cost"] == "50.00"
    response = post(technician, f"{BASE}{order.pk}/sign-off/", {"rating": 5})
    assert response.status_code == 403  # only the reporter or the office
    response = post(teacher, f"{BASE}{order.pk}/sign-off/", {"rating": 9})
    assert response.status_code == 400 and fields(response) == {"rating": ["评价须为 1 至 5 星。"]}
    response = post(teacher, f"{BASE}{order.pk}/sign-off/", {"rating": 4, "comment": "好"})
    assert response.status_code == 200 and response.json()["rating"] == 4
    response = post(head, f"{BASE}{order.pk}/visit/", {"note": "满意"})
    assert response.json()["state"]["value"] == "visited"
    response = post(head, f"{BASE}{order.pk}/reject/", {"reason": "晚了"})
    assert response.status_code == 400
    assert fields(response) == {"non_field_errors": ["报修单当前为“已回访”，不能驳回。"]}
    order.refresh_from_db()
    assert order.state == State.VISITED
    events = client_for(head_a).get("/api/repairs/workorder-events/", {"order": order.pk},
                                    HTTP_ACCEPT="application/json").json()["results"]
    assert len(events) == 6


def test_settings_rows_through_the_api(world, head_a, teacher_a, client_for):
    client = client_for(head_a)
    response = post(client, "/api/repairs/categories/", {"name": "消防设施", "trade": "civil"})
    assert response.status_code == 201
    duplicate = post(client, "/api/repairs/categories/", {"name": "消防设施", "trade": "civil"})
    assert duplicate.status_code == 400
    response = post(client, "/api/repairs/sla-rules/", {"urgency": "urgent", "accept_minutes": 30,
                                                         "start_minutes": 60})
    assert response.status_code == 400 and "finish_days" in fields(response)
    response = post(client, "/api/repairs/technicians/", {"user": teacher_a.pk, "trades": ["carpentry"]})
    assert response.status_code == 201 and Technician.objects.get().trades == ["carpentry"]
    response = post(client, "/api/repairs/technicians/", {"user": world.teacher_b.pk})
    assert response.status_code == 400 and "user" in fields(response)
    assert post(client_for(teacher_a), "/api/repairs/categories/", {"name": "x"}).status_code == 403
