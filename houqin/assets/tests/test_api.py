"""The assets API beyond the isolation matrix: registering, what may and may not be changed, validation."""

from __future__ import annotations

import json

import pytest

from houqin.assets.categories import national
from houqin.assets.choices import AssetEventCode, AssetStatus
from houqin.assets.models import Asset, AssetCategory
from houqin.assets.tests.factories import make_asset, make_category

pytestmark = pytest.mark.django_db
ASSETS = "/api/assets/assets/"
JSON = "application/json"


def body(world, **overrides):
    data = {"category": national("2010100").pk, "name": "台式计算机", "quantity": 2, "unit_price": "4980.00",
            "acquired_on": "2025-09-01", "room": world.a.rooms[0].pk, "department": world.a.department.pk,
            "custodian": world.a.staff.pk}
    data.update(overrides)
    return data


def post(client, url, data):
    return client.post(url, json.dumps(data), content_type=JSON)


def patch(client, url, data):
    return client.patch(url, json.dumps(data), content_type=JSON)


def test_post_registers_a_card(world, client_for):
    client = client_for(world.head_a)
    response = post(client, ASSETS, body(world, status="disposed", number="X-1", original_value="1.00"))
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["number"].startswith("ZC-") and data["status"] == {"value": "in_use", "label": "在用"}
    assert data["original_value"] == "9960.00" and data["net_value"] is not None
    assert data["asset_class"]["label"] == "固定资产" and data["useful_life_years"] == 6
    card = Asset.objects.get(pk=data["id"])
    assert card.events.get().code == AssetEventCode.REGISTER and card.events.get().actor == world.head_a


def test_post_validation_errors_are_chinese_field_errors(world, client_for):
    client = client_for(world.head_a)
    short = post(client, ASSETS, body(world, useful_life_years=2))
    assert short.status_code == 400
    field = short.json()["error"]["fields"]["useful_life_years"][0]
    assert field["message"].startswith("使用年限不能低于“计算机设备”类资产的最低折旧年限 6 年")
    other = post(client, ASSETS, body(world, room=world.b.rooms[0].pk,
                                      category=make_category(world.b.org, "乙校分类").pk))
    assert other.status_code == 400
    fields = other.json()["error"]["fields"]
    assert fields["room"][0]["code"] == "does_not_exist" and fields["category"][0]["code"] == "does_not_exist"
    assert not Asset.objects.exists()


def test_patch_changes_descriptive_fields_only(world, client_for):
    card = make_asset(world.a.org, room=world.a.rooms[0])
    client = client_for(world.head_a)
    url = f"{ASSETS}{card.pk}/"
    ok = patch(client, url, {"brand": "惠普", "supplier": "某科技公司"})
    assert ok.status_code == 200 and ok.json()["brand"] == "惠普"
    for field, value, message in (
        ("status", "disposed", "状态只能通过业务操作（领用、借出、维修、处置等）变更。"),
        ("room", world.a.rooms[1].pk, "已入账资产的这一项不能直接修改，请使用调拨、调账等业务操作。"),
        ("quantity", 5, "已入账资产的这一项不能直接修改，请使用调拨、调账等业务操作。"),
        ("number", "ZC-1999-00001", "该字段由系统生成，不能修改。"),
    ):
        response = patch(client, url, {field: value})
        assert response.status_code == 400, field
        error = response.json()["error"]["fields"][field][0]
        assert (error["code"], error["message"]) == ("read_only", message)
    card.refresh_from_db()
    assert (card.status, card.room, card.quantity, card.brand) == (AssetStatus.IN_USE, world.a.rooms[0], 1, "惠普")
    # Sending back what was read is fine (a client may PUT the object it got).
    current = client.get(url).json()
    current["note"] = "整理"
    put = client.put(url, json.dumps(current), content_type=JSON)
    assert put.status_code == 200, put.content
    assert put.json()["note"] == "整理"


def test_cards_are_never_deleted_and_categories_are_read_only(world, client_for):
    card = make_asset(world.a.org)
    client = client_for(world.head_a)
    assert client.delete(f"{ASSETS}{card.pk}/").status_code == 405
    assert Asset.objects.filter(pk=card.pk).exists()
    categories = "/api/assets/categories/"
    assert post(client, categories, {"code": "x", "name": "y"}).status_code == 405
    listing = client.get(categories, {"page_size": 500, "ordering": "path"}).json()["results"]
    assert listing[0]["code"] == "1000000" and listing[0]["org"] is None
    assert len(listing) == AssetCategory.objects.filter(org__isnull=True).count()
    events = client.get("/api/assets/events/").json()["results"]
    assert events[0]["code"]["value"] == "register" and "数量：1" in events[0]["changes_display"]
    assert post(client, "/api/assets/events/", {}).status_code == 405


def test_roles(world, client_for):
    card = make_asset(world.a.org)
    assert client_for(world.teacher_a).get(ASSETS).status_code == 403
    assert client_for(world.admin_a).get(f"{ASSETS}{card.pk}/").status_code == 200  # 系统管理员 reads
    assert patch(client_for(world.admin_a), f"{ASSETS}{card.pk}/", {"brand": "x"}).status_code == 403
    assert post(client_for(world.bureau_admin), ASSETS, body(world, org=world.a.org.pk)).status_code == 403
    assert client_for(None).get(ASSETS).status_code in (401, 403)


def test_filters_are_the_lists(world, client_for):
    make_asset(world.a.org, name="台式计算机")
    make_asset(world.a.org, category="5010000", name="图书", quantity=100, unit_price="30")
    client = client_for(world.head_a)
    names = [r["name"] for r in client.get(ASSETS, {"category": national("5000000").pk}).json()["results"]]
    assert names == ["图书"]
    assert [r["name"] for r in client.get(ASSETS, {"q": "tsjsj"}).json()["results"]] == ["台式计算机"]
    bad = client.get(ASSETS, {"room": world.b.rooms[0].pk})
    assert bad.status_code == 400


def test_a_national_category_reads_like_it_lists(world, client_for):
    """A shared row (no school owns it) that the list shows opens as a detail too; another school's own category
    stays unseen (404)."""
    client = client_for(world.head_a)
    row = national("2010100")
    listed = client.get("/api/assets/categories/", {"q": row.name}, HTTP_ACCEPT=JSON).json()["results"]
    assert row.pk in [r["id"] for r in listed]
    response = client.get(f"/api/assets/categories/{row.pk}/", HTTP_ACCEPT=JSON)
    assert response.status_code == 200 and response.json()["code"] == "2010100"
    foreign = make_category(world.b.org, "乙校分类")
    assert client.get(f"/api/assets/categories/{foreign.pk}/", HTTP_ACCEPT=JSON).status_code == 404
    assert client.get("/api/assets/categories/", HTTP_ACCEPT=JSON).status_code == 200
