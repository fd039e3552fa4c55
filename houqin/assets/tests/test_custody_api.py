"""The custody commands over the API: field errors in core's format, refusals, and the loan/transfer ledgers."""

from __future__ import annotations

import datetime
import json

import pytest
from django.utils import timezone

from houqin.assets.choices import AssetStatus
from houqin.assets.models import AssetLoan, AssetTransfer, TransferStatus
from houqin.assets.tests.factories_custody import keeper_of, make_loan
from houqin.assets.tests.test_custody import card, png_data_url
from houqin.core.testing import factories as f

pytestmark = pytest.mark.django_db
ASSETS = "/api/assets/assets/"
TODAY = timezone.localdate()


def post(client, path, data):
    return client.post(path, json.dumps(data), content_type="application/json")


@pytest.fixture
def keeper(world):
    return keeper_of(world.a.org)


def test_assign_and_return_to_store(world, client_for, keeper):
    idle = card(world, status=AssetStatus.IDLE, custodian=None)
    client = client_for(keeper)
    bad = post(client, f"{ASSETS}{idle.pk}/assign/", {"department": world.b.department.pk,
                                                     "custodian": world.b.staff.pk})
    assert bad.status_code == 400
    fields = bad.json()["error"]["fields"]
    assert fields["department"][0]["code"] == "does_not_exist" and fields["custodian"][0]["code"] == "does_not_exist"
    missing = post(client, f"{ASSETS}{idle.pk}/assign/", {"department": world.a.department.pk, "room": None})
    assert missing.status_code == 400
    assert missing.json()["error"]["fields"]["custodian"][0]["message"].startswith("请选择保管人或存放地点")
    ok = post(client, f"{ASSETS}{idle.pk}/assign/", {"department": world.a.department.pk,
                                                    "custodian": world.a.staff.pk})
    assert ok.status_code == 200, ok.content
    assert ok.json()["status"] == {"value": "in_use", "label": "在用"} and ok.json()["custodian"] == world.a.staff.pk
    again = post(client, f"{ASSETS}{idle.pk}/assign/", {"department": world.a.department.pk,
                                                       "custodian": world.a.staff.pk})
    assert again.status_code == 400
    assert again.json()["error"]["fields"]["non_field_errors"][0]["message"] == (
        "该资产当前状态为“在用”，不能领用（只有“闲置”的资产可以领用）。")
    back = post(client, f"{ASSETS}{idle.pk}/return_to_store/", {"note": "学期结束"})
    assert back.status_code == 200 and back.json()["status"]["value"] == "idle" and back.json()["custodian"] is None


def test_commands_need_the_change_permission(world, client_for):
    asset = card(world)
    for persona, expected in (("admin_a", 403), ("bureau_admin", 403), ("teacher_a", 404), ("admin_b", 404)):
        response = post(client_for(world.persona(persona)), f"{ASSETS}{asset.pk}/return_to_store/", {})
        assert response.status_code == expected, persona
    asset.refresh_from_db()
    assert asset.status == AssetStatus.IN_USE


def test_transfer_changes_only_what_is_sent(world, client_for, keeper):
    asset = card(world)
    client = client_for(keeper)
    moved = post(client, f"{ASSETS}{asset.pk}/transfer/", {"custodian": None, "room": world.a.rooms[1].pk})
    assert moved.status_code == 201, moved.content
    assert moved.json()["status"] == {"value": "done", "label": "已调拨"}
    asset.refresh_from_db()
    assert (asset.custodian, asset.room, asset.department) == (None, world.a.rooms[1], world.a.department)
    other = f.make_department(world.a.org, "甲教务处")
    pending = post(client, f"{ASSETS}{asset.pk}/transfer/", {"department": other.pk, "reason": "调岗"})
    assert pending.status_code == 201
    body = pending.json()
    assert body["status"]["value"] == TransferStatus.PENDING and body["approval_number"].startswith("SP-")
    blocked = post(client, f"{ASSETS}{asset.pk}/return_to_store/", {})
    assert blocked.status_code == 400 and body["approval_number"] in blocked.content.decode()
    listed = client.get("/api/assets/transfers/", {"status": "pending"}).json()
    assert [row["id"] for row in listed["results"]] == [body["id"]]


def test_lend_and_return_over_the_api(world, client_for, keeper):
    asset = card(world)
    client = client_for(keeper)
    data = {"borrower": world.a.staff.pk, "purpose": "外出赛课", "due_on": (TODAY + datetime.timedelta(days=3))
            .isoformat()}
    unsigned = post(client, f"{ASSETS}{asset.pk}/lend/", data)
    assert unsigned.status_code == 400
    assert unsigned.json()["error"]["fields"]["signature"][0]["message"].startswith("请借用人在屏幕上签字")
    blank = post(client, f"{ASSETS}{asset.pk}/lend/", {**data, "signature": png_data_url(blank=True)})
    assert blank.json()["error"]["fields"]["signature"][0]["message"] == "签字区域是空白的，请借用人在框内签字。"
    assert not AssetLoan.objects.exists()
    lent = post(client, f"{ASSETS}{asset.pk}/lend/", {**data, "signature": png_data_url()})
    assert lent.status_code == 201, lent.content
    loan = lent.json()
    assert loan["state"] == "open" and loan["borrower_name"] == "甲校老师" and not loan["signature_pending"]
    back = post(client, f"{ASSETS}{asset.pk}/return_loan/", {"condition": "good"})
    assert back.status_code == 200 and back.json()["state"] == "returned"
    asset.refresh_from_db()
    assert asset.status == AssetStatus.IN_USE
    nothing = post(client, f"{ASSETS}{asset.pk}/return_loan/", {})
    assert nothing.status_code == 400
    assert nothing.json()["error"]["fields"]["non_field_errors"][0]["message"] == "该资产没有未归还的借用记录。"


def test_loan_ledger_filters_overdue(world, client_for, keeper):
    late = make_loan(card(world, name="逾期电脑"), keeper=keeper, borrower=world.a.staff)
    AssetLoan.objects.filter(pk=late.pk).update(lent_at=timezone.now() - datetime.timedelta(days=9),
                                                due_on=TODAY - datetime.timedelta(days=1))
    make_loan(card(world, name="按期电脑"), keeper=keeper)
    client = client_for(world.head_a)
    rows = client.get("/api/assets/loans/", {"state": "overdue"}).json()["results"]
    assert [(r["id"], r["is_overdue"], r["state"]) for r in rows] == [(late.pk, True, "overdue")]
    assert len(client.get("/api/assets/loans/").json()["results"]) == 2
    assert client_for(world.teacher_a).get("/api/assets/loans/").status_code == 403
    assert not AssetTransfer.objects.exists()
