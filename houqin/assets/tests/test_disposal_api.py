"""The disposal part's API: card commands, the damage ledger, disposal requests (beyond the isolation matrix)."""

from __future__ import annotations

import datetime
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from houqin.assets.choices import AssetStatus
from houqin.assets.models import Asset, AssetDamage, AssetDisposal
from houqin.assets.tests.factories import make_asset
from houqin.assets.tests.factories_disposal import (
    bulk_damages,
    bulk_disposals,
    make_damage,
    make_disposal,
    make_principal,
)
from houqin.assets.tests.test_disposal_services import approve_all
from houqin.core import approvals

pytestmark = pytest.mark.django_db
S = AssetStatus
TODAY = timezone.localdate()
JSON = "application/json"
ASSETS, DAMAGES, DISPOSALS = "/api/assets/assets/", "/api/assets/damages/", "/api/assets/disposals/"


def card(world, school="a", **fields):
    fields.setdefault("acquired_on", datetime.date(2015, 9, 1))
    return make_asset(getattr(world, school).org, name=fields.pop("name", "台式计算机"), **fields)


def post(client, url, data=None):
    return client.post(url, json.dumps(data or {}), content_type=JSON)


def fields(response) -> dict:
    return {k: [e["message"] for e in v] for k, v in response.json()["error"]["fields"].items()}


def test_card_commands(world, client_for):
    asset = card(world)
    client = client_for(world.head_a)
    response = post(client, f"{ASSETS}{asset.pk}/idle/", {"note": "暂存仓库"})
    assert response.status_code == 200 and response.json()["status"] == {"value": "idle", "label": "闲置"}
    refused = post(client, f"{ASSETS}{asset.pk}/idle/")
    assert refused.status_code == 400
    assert refused.json()["error"]["fields"]["non_field_errors"][0]["message"].endswith("不能转为闲置。")
    assert post(client, f"{ASSETS}{asset.pk}/reuse/").json()["status"]["value"] == "in_use"
    no_note = post(client, f"{ASSETS}{asset.pk}/lost/")
    assert no_note.status_code == 400 and fields(no_note) == {"note": ["请说明丢失的经过（何时、何地发现丢失）。"]}
    assert post(client, f"{ASSETS}{asset.pk}/lost/", {"note": "找不到"}).json()["status"]["value"] == "lost"
    assert post(client, f"{ASSETS}{asset.pk}/found/").json()["status"]["value"] == "in_use"
    assert post(client_for(world.admin_a), f"{ASSETS}{asset.pk}/idle/").status_code == 403
    assert post(client_for(world.bureau_admin), f"{ASSETS}{asset.pk}/idle/").status_code == 403
    assert post(client_for(world.admin_b), f"{ASSETS}{asset.pk}/idle/").status_code == 404
    assert Asset.objects.get(pk=asset.pk).status == S.IN_USE


def test_damage_command_and_ledger(world, client_for):
    asset = card(world)
    client = client_for(world.head_a)
    url = f"{ASSETS}{asset.pk}/damage/"
    other = post(client, url, {"occurred_on": TODAY.isoformat(), "description": "碎屏", "outcome": "usable",
                               "responsible_kind": "member", "responsible_user": world.b.staff.pk})
    assert other.status_code == 400
    assert other.json()["error"]["fields"]["responsible_user"][0] == {"code": "does_not_exist",
                                                                       "message": "本校没有该人员。"}
    missing = post(client, url, {"outcome": "usable"})
    assert missing.status_code == 400 and set(fields(missing)) == {"occurred_on", "description"}
    done = post(client, url, {"occurred_on": TODAY.isoformat(), "description": "碎屏", "outcome": "repair",
                              "responsible_kind": "member", "responsible_user": world.a.staff.pk,
                              "compensation_amount": "200.00"})
    assert done.status_code == 201, done.content
    body = done.json()
    assert body["compensation_status"] == {"value": "unpaid", "label": "未赔偿"}
    assert body["responsible_name"] == world.a.staff.full_name and body["status_after"]["value"] == "repairing"
    assert Asset.objects.get(pk=asset.pk).status == S.REPAIRING
    listed = client.get(DAMAGES, {"compensation_status": "unpaid"}).json()["results"]
    assert [d["id"] for d in listed] == [body["id"]]
    assert client.get(DAMAGES, {"compensation_status": "paid"}).json()["results"] == []
    pay = f"{DAMAGES}{body['id']}/pay/"
    bad = post(client, pay, {"paid_on": TODAY.isoformat()})
    assert bad.status_code == 400 and "receipt_no" in fields(bad)
    paid = post(client, pay, {"paid_on": TODAY.isoformat(), "receipt_no": "SJ-77", "paid_amount": "150.00"})
    assert paid.status_code == 200 and paid.json()["paid_amount"] == "150.00"
    assert post(client_for(world.admin_a), pay, {"paid_on": TODAY.isoformat(), "receipt_no": "x"}).status_code == 403
    assert client_for(world.admin_b).get(f"{DAMAGES}{body['id']}/").status_code == 404


def test_disposal_request_through_the_api(world, client_for):
    principal = make_principal(world.a.org)
    first, second = card(world), card(world)
    client = client_for(world.head_a)
    created = post(client, DISPOSALS, {"assets": [first.pk, second.pk], "method": "scrap", "reason": "老化",
                                       "status": "done", "number": "X"})
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["number"].startswith(f"CZ-{TODAY.year}-") and body["status"]["value"] == "pending"
    assert body["approval_status"] == "pending" and body["total_value"] == "9960.00"
    assert [i["asset"] for i in body["items"]] == sorted([first.pk, second.pk], key=lambda pk: Asset.objects.get(
        pk=pk).number)
    url = f"{DISPOSALS}{body['id']}/"
    early = post(client, f"{url}record/", {"disposed_on": TODAY.isoformat()})
    assert early.status_code == 400
    assert early.json()["error"]["fields"]["non_field_errors"][0]["message"].startswith("处置申请尚未审批通过")
    disposal = AssetDisposal.objects.get(pk=body["id"])
    approve_all(disposal, principal, world.bureau_admin)
    done = post(client, f"{url}record/", {"disposed_on": TODAY.isoformat(), "actual_income": "60"})
    assert done.status_code == 200 and done.json()["status"]["value"] == "done"
    assert {i["final_net_value"] for i in done.json()["items"]} == {"0.00"}
    assert Asset.objects.get(pk=first.pk).status == S.DISPOSED
    # Cards of another school are "not found"; a disposed card is refused with its reason.
    other = post(client, DISPOSALS, {"assets": [card(world, "b").pk], "method": "scrap", "reason": "x"})
    assert other.status_code == 400 and other.json()["error"]["fields"]["assets"][0]["code"] == "does_not_exist"
    again = post(client, DISPOSALS, {"assets": [first.pk], "method": "scrap", "reason": "x"})
    assert again.status_code == 400 and "当前为“已处置”" in fields(again)["assets"][0]
    assert post(client_for(world.admin_a), DISPOSALS, {"assets": [second.pk], "method": "scrap",
                                                       "reason": "x"}).status_code == 403


def test_withdraw_and_resubmit_through_the_api(world, client_for):
    principal = make_principal(world.a.org)
    first, second = card(world), card(world)
    client = client_for(world.head_a)
    disposal = make_disposal([first, second], world.head_a)
    approvals.send_back(disposal.approval, principal, "去掉一台")
    url = f"{DISPOSALS}{disposal.pk}/"
    resubmitted = post(client, f"{url}submit/", {"assets": [first.pk], "comment": "已修改"})
    assert resubmitted.status_code == 200, resubmitted.content
    assert resubmitted.json()["item_count"] == 1 and resubmitted.json()["approval_status"] == "pending"
    assert Asset.objects.get(pk=second.pk).status == S.IN_USE
    withdrawn = post(client, f"{url}withdraw/", {"comment": "不处置了"})
    assert withdrawn.status_code == 200 and withdrawn.json()["status"]["value"] == "withdrawn"
    assert Asset.objects.get(pk=first.pk).status == S.IN_USE
    assert post(client, f"{url}withdraw/").status_code == 400


@pytest.mark.parametrize(("url", "bulk"), [(DAMAGES, bulk_damages), (DISPOSALS, bulk_disposals)])
def test_list_query_count_does_not_grow_with_page_size(world, client_for, url, bulk):
    bulk(world.a, 110)
    if url == DAMAGES:
        make_damage(card(world), world.head_a)
    else:
        make_disposal([card(world)], world.head_a)
    client = client_for(world.head_a)
    client.get(url, {"page_size": 5})
    counts = {}
    for size in (10, 100):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url, {"page_size": size})
        assert len(response.json()["results"]) == size
        counts[size] = len(queries)
    assert counts[10] == counts[100], counts
    assert AssetDamage.objects.exists() or AssetDisposal.objects.exists()
