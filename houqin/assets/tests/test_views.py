"""Pages of the assets app beyond what the generic views and the isolation matrix already cover."""

from __future__ import annotations

import datetime
import io
from decimal import Decimal

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from houqin.assets.categories import national
from houqin.assets.choices import AssetEventCode, AssetStatus
from houqin.assets.models import Asset, AssetCategory, AssetEvent
from houqin.assets.tests.factories import bulk_assets, make_asset
from houqin.core.auth import clear_access_cache
from houqin.core.testing.factories import grant
from houqin.core.testing.isolation import LOGIN, Recorder, check_import_isolation, import_groups
from houqin.core.testing.queries import captured_queries, describe_difference
from houqin.core.testing.routes import discover

pytestmark = pytest.mark.django_db
LIST = "/assets/assets/"


def register_data(world, **overrides):
    data = {"category": national("2010100").pk, "name": "台式计算机", "brand": "联想", "model": "M590", "unit": "台",
            "quantity": "1", "unit_price": "4980.00", "acquired_on": "2025-09-01", "acquisition_method": "purchase",
            "room": world.a.rooms[1].pk, "department": world.a.department.pk, "custodian": world.a.staff.pk}
    data.update(overrides)
    return data


def test_add_page_registers_a_card(world, client_for):
    client = client_for(world.head_a)
    page = client.get(reverse("assets:asset_add"))
    assert page.status_code == 200
    form = page.context["form"]
    assert "status" not in form.fields and "number" not in form.fields and "original_value" not in form.fields
    # Any member of the school may be the custodian, though a logistics head cannot open the accounts list.
    assert world.a.staff in form.fields["custodian"].queryset and world.b.staff not in form.fields["custodian"].queryset
    assert national("2010100") in form.fields["category"].queryset
    response = client.post(reverse("assets:asset_add"), register_data(world, quantity="2", status="disposed"))
    assert response.status_code == 302
    card = Asset.objects.get(org=world.a.org)
    assert response["Location"] == card.get_absolute_url()
    assert card.number.startswith("ZC-") and card.status == AssetStatus.IN_USE  # a posted status is ignored
    assert card.original_value == Decimal("9960.00")
    event = card.events.get()
    assert event.code == AssetEventCode.REGISTER and event.actor == world.head_a


def test_add_page_refuses_a_short_life_with_the_reason(world, client_for):
    client = client_for(world.head_a)
    response = client.post(reverse("assets:asset_add"), register_data(world, useful_life_years="3"))
    assert response.status_code == 200 and not Asset.objects.exists()
    assert "使用年限不能低于“计算机设备”类资产的最低折旧年限 6 年" in response.content.decode()


def test_edit_page_changes_descriptive_fields_only(world, client_for):
    card = make_asset(world.a.org, room=world.a.rooms[0])
    client = client_for(world.head_a)
    url = reverse("assets:asset_edit", args=[card.pk])
    form = client.get(url).context["form"]
    assert set(form.fields) == {"name", "brand", "model", "serial_no", "unit", "funding_source", "supplier",
                                "invoice_no", "voucher_no", "warranty_until", "area_m2", "note"}
    response = client.post(url, {"name": card.name, "brand": "惠普", "unit": "台", "status": "disposed",
                                 "quantity": "9", "room": world.a.rooms[1].pk, "unit_price": "1"})
    assert response.status_code == 302
    card.refresh_from_db()
    assert card.brand == "惠普"
    assert (card.status, card.quantity, card.room, card.unit_price) == (
        AssetStatus.IN_USE, 1, world.a.rooms[0], Decimal("4980.00"))


def test_detail_page_shows_value_history_and_photos_tab(world, client_for):
    card = make_asset(world.a.org, acquired_on=datetime.date(2020, 1, 10), unit_price="7200.00", room=world.a.rooms[0])
    page = client_for(world.head_a).get(reverse("assets:asset_detail", args=[card.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert 'data-testid="net-value"' in html and 'data-testid="asset-history"' in html and "照片与附件" in html
    # The history comes after the card, from its own address (and without JavaScript, through the link).
    history_url = reverse("assets:asset_history", args=[card.pk])
    assert f'hx-get="{history_url}"' in html and "登记入账" not in html
    assert "甲校老师（房间责任人）" not in html  # room 101 has no responsible person
    assert "删除" not in html.split('data-testid="object-title"')[1].split("</div>")[0]
    # A teacher may not see cards at all.
    assert client_for(world.teacher_a).get(card.get_absolute_url()).status_code == 404


def test_history_panel_lists_the_newest_events_first(world, client_for):
    card = make_asset(world.a.org, name="甲校投影仪")
    AssetEvent.objects.create(org=world.a.org, asset=card, code=AssetEventCode.ADJUST, note="改存放地点",
                              time=card.events.get().time + datetime.timedelta(days=2))
    client = client_for(world.admin_a)
    url = reverse("assets:asset_history", args=[card.pk])
    panel = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in panel and 'data-testid="asset-history"' in panel
    assert panel.index("改存放地点") < panel.index("登记入账")
    assert 'data-testid="history-more"' not in panel
    # Without JavaScript the same history is a page of its own, with the way back to the card.
    page = client.get(url).content.decode()
    assert "<html" in page and "改存放地点" in page and card.get_absolute_url() in page


def test_history_panel_shows_the_newest_200_and_points_to_the_ledger(world, client_for):
    card = make_asset(world.a.org, name="甲校常借相机")
    first = card.events.get().time
    AssetEvent.objects.bulk_create([
        AssetEvent(org=world.a.org, asset=card, code=AssetEventCode.ADJUST, note=f"第{i}次调整",
                   time=first + datetime.timedelta(hours=i)) for i in range(1, 201)])
    panel = client_for(world.admin_a).get(reverse("assets:asset_history", args=[card.pk]),
                                          HTTP_HX_REQUEST="true").content.decode()
    assert panel.count('class="timeline-event"') == 200
    # Its queries do not grow with the events (the card, its events; kept pages, the data version).
    few = make_asset(world.a.org, name="甲校新相机")
    client = client_for(world.admin_a)
    assert len(captured_queries(client, reverse("assets:asset_history", args=[few.pk]), HTTP_HX_REQUEST="true")) == \
        len(captured_queries(client, reverse("assets:asset_history", args=[card.pk]), HTTP_HX_REQUEST="true"))
    assert "第200次调整" in panel and "登记入账" not in panel
    more = panel.split('data-testid="history-more"')[1]
    assert reverse("assets:assetevent_list") in more and card.number in more


def test_list_filters_and_pinyin_search(world, client_for):
    org = world.a.org
    make_asset(org, name="台式计算机", acquired_on=datetime.date(2019, 5, 1))
    make_asset(org, category="2020800", name="触控一体机", unit_price="14800", acquired_on=datetime.date(2023, 5, 1),
               room=world.a.rooms[0])
    make_asset(org, category="6010000.01", name="课桌椅", quantity=40, unit_price="280", is_batch=True,
               acquired_on=datetime.date(2023, 8, 1))
    client = client_for(world.head_a)

    def names(**params):
        response = client.get(LIST, params)
        assert response.status_code == 200
        return sorted(obj.name for obj in response.context["page"].rows)

    assert names(category=national("2000000").pk) == ["台式计算机", "触控一体机"]  # the whole subtree
    assert names(acquired_year=2023) == ["触控一体机", "课桌椅"]
    assert names(q="kzy") == ["课桌椅"]
    assert names(q="chukong") == ["触控一体机"]
    assert names(room=world.a.rooms[0].pk) == ["触控一体机"]
    assert names(asset_class="fixed", is_batch="true") == ["课桌椅"]
    assert names(status="idle") == []
    # Another school's room is not a choice: the filter refuses it instead of leaking.
    assert names(room=world.b.rooms[0].pk) == []


def test_export_is_the_filtered_list(world, client_for):
    make_asset(world.a.org, name="台式计算机")
    make_asset(world.a.org, category="2020800", name="触控一体机", unit_price="14800")
    response = client_for(world.head_a).get(reverse("assets:asset_export"), {"q": "chukong"})
    rows = list(load_workbook(io.BytesIO(b"".join(response.streaming_content))).active.iter_rows(values_only=True))
    assert rows[0][:3] == ("资产编号", "资产名称", "资产分类") and "净值（元）" in rows[0]
    assert len(rows) == 2 and rows[1][1] == "触控一体机" and rows[1][5] == "14,800.00"


def test_event_ledger_pages(world, client_for):
    card = make_asset(world.a.org)
    event = card.events.get()
    client = client_for(world.head_a)
    listing = client.get(reverse("assets:assetevent_list")).content.decode()
    assert card.number in listing and "登记入账" in listing
    assert client.get(reverse("assets:assetevent_detail", args=[event.pk])).status_code == 200
    # A ledger: no add, edit or delete pages.
    for name in ("assets:assetevent_add", "assets:assetevent_edit", "assets:assetevent_delete"):
        with pytest.raises(Exception):  # noqa: B017 — NoReverseMatch: the routes do not exist
            reverse(name, args=[event.pk] if not name.endswith("add") else [])
    assert AssetEvent.objects.count() == 1


def test_a_school_adds_its_own_category(world, client_for):
    client = client_for(world.head_a)
    data = {"parent": national("2010100").pk, "code": "2010100.01", "name": "学生机房电脑", "default_life_years": "6",
            "min_life_years": "6", "is_depreciable": "on", "value_class": "threshold", "is_active": "on"}
    response = client.post(reverse("assets:assetcategory_add"), data)
    assert response.status_code == 302
    category = AssetCategory.objects.get(org=world.a.org, code="2010100.01")
    assert (category.edition, category.level, category.parent.code) == ("2010", 4, "2010100")
    weaker = client.post(reverse("assets:assetcategory_add"), {**data, "code": "2010100.02", "min_life_years": "3"})
    assert weaker.status_code == 200
    assert "不能低于上级分类“2010100 计算机设备”的最低折旧年限 6 年" in weaker.content.decode()
    # A national row is not editable by a school.
    assert client.get(reverse("assets:assetcategory_edit", args=[national("2010100").pk])).status_code == 403
    # The new category is offered when registering a card of school A only.
    assert category in client.get(reverse("assets:asset_add")).context["form"].fields["category"].queryset
    assert "学生机房电脑" not in client_for(world.admin_b).get(reverse("assets:assetcategory_list")).content.decode()


# --- Depreciation table -------------------------------------------------------------------------------------------
def test_depreciation_page_and_export(world, client_for):
    make_asset(world.a.org, unit_price="7200.00", acquired_on=datetime.date(2025, 1, 5))
    make_asset(world.a.org, category="2020800", name="一体机", unit_price="14400.00",
               acquired_on=datetime.date(2025, 1, 5), department=world.a.department)
    client = client_for(world.head_a)
    page = client.get(reverse("assets:depreciation"), {"month": "2025-02", "group": "both"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "2010000 计算机设备及软件" in html and "2020000 办公设备" in html and "甲总务处" in html
    assert page.context["total"][-3:] == ["300.00", "600.00", "21,000.00"]  # 100 + 200 a month, two months
    export = client.get(reverse("assets:depreciation"), {"month": "2025-02", "export": "xlsx"})
    assert export["Content-Type"].startswith("application/vnd.openxmlformats")
    rows = list(load_workbook(io.BytesIO(b"".join(export.streaming_content))).active.iter_rows(values_only=True))
    assert rows[0] == ("资产分类", "卡片数", "原值（元）", "本月折旧（元）", "累计折旧（元）", "净值（元）")
    assert rows[-1] == ("合计", "2", "21,600.00", "300.00", "600.00", "21,000.00")


def test_depreciation_page_isolation(world, client_for):
    """What test_isolation.OTHER_ROUTES must say about assets:depreciation: each school sees its own table only."""
    card = make_asset(world.a.org, name="甲校折旧测试资产", department=world.a.department)
    url = reverse("assets:depreciation")
    rec = Recorder(world, client_for, "assets:depreciation")
    hidden = "甲总务处"  # school A's department, a row of its table grouped by department
    both = f"{url}?group=both"
    of_a = f"{both}&org={world.a.org.pk}"
    for persona, expected in {"anonymous": LOGIN, "teacher_a": 403, "outsider": 403}.items():
        rec.expect(persona, "GET", both, expected, unchanged=card)
    rec.expect("admin_a", "GET", both, 200, contains=hidden)
    rec.expect("head_a", "GET", both, 200, contains=hidden)
    rec.expect("admin_b", "GET", both, 200, absent=hidden)
    rec.expect("admin_b", "GET", of_a, 200, absent=hidden)  # school A cannot be picked
    rec.expect("admin_b", "GET", f"{of_a}&export=xlsx", 200, absent=hidden)
    rec.expect("bureau_admin", "GET", of_a, 200, contains=hidden)
    rec.expect("superuser", "GET", of_a, 200, contains=hidden)
    rec.expect("bureau_admin", "GET", f"{of_a}&export=xlsx", 200, contains=hidden)
    assert not rec.failures, "\n".join(rec.failures)
    # admin_b's page names only school B.
    page = client_for(world.admin_b).get(url).content.decode()
    assert world.a.org.name not in page and world.b.org.name in page


def test_import_pages_isolation(world, client_for, settings, tmp_path):
    """The generic import check uploads as admin_a and expects admin_b (who may import in school B) to be told
    "not found": give both the asset keeper's role in their schools, so that the check tests the staged upload's
    isolation, not the role."""
    settings.DATA_DIR = tmp_path
    grant(world.admin_a, world.a.org, "asset_keeper")
    grant(world.admin_b, world.b.org, "asset_keeper")
    clear_access_cache(world.admin_a)
    clear_access_cache(world.admin_b)
    groups = import_groups(discover({}).imports)
    failures = check_import_isolation("assets:import_assets", groups["assets:import_assets"], world, client_for)
    assert not failures, "\n".join(failures)


def test_menu(world, client_for):
    html = client_for(world.head_a).get("/").content.decode()
    for label in ("校产管理", "资产卡片", "资产分类", "资产变动记录", "折旧明细表", "导入资产"):
        assert label in html, label
    assert reverse("assets:asset_list") not in client_for(world.teacher_a).get("/").content.decode()


# --- Query budgets ------------------------------------------------------------------------------------------------
def test_list_costs_the_same_at_10_and_100_rows(world, client_for):
    client = client_for(world.head_a)
    bulk_assets(world.a, 120)
    captured_queries(client, LIST, {"per_page": 10})  # warm the caches
    small = captured_queries(client, LIST, {"per_page": 10})
    big = captured_queries(client, LIST, {"per_page": 100})
    assert len(small) == len(big), describe_difference(small, big)
    api_small = captured_queries(client, "/api/assets/assets/", {"page_size": 10})
    api_big = captured_queries(client, "/api/assets/assets/", {"page_size": 100})
    assert len(api_small) == len(api_big), describe_difference(api_small, api_big)
