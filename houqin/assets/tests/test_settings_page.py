"""校产管理设置 (/assets/settings/ and /api/assets/settings/): who may read and change a school's settings, the
validation in Chinese, the change log, and that a new setting takes effect where it is used."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from houqin.assets import conf
from houqin.assets.choices import AssetClass
from houqin.assets.tests.factories import make_asset
from houqin.core.models import ChangeLogEntry, Organization
from houqin.core.testing.factories import make_user

pytestmark = pytest.mark.django_db
URL = "/assets/settings/"
VALID = {"capitalisation_threshold": "1500", "depreciation_start": "next_month", "category_edition": "2010",
         "scan_requires_login": "false"}


def text(response) -> str:
    return response.content.decode()


def stored(org) -> dict:
    return Organization.objects.get(pk=org.pk).settings.get("assets", {})


def test_the_url_and_the_menu(world, client_for):
    assert reverse("assets:settings") == URL
    page = text(client_for(world.head_a).get(reverse("dashboard")))
    assert URL in page and "校产管理设置" in page
    assert URL not in text(client_for(world.teacher_a).get(reverse("dashboard")))


def test_defaults_for_a_school_that_never_saved(world):
    assert conf.current_settings(world.a.org) == {"capitalisation_threshold": "1000",
                                                  "depreciation_start": "same_month", "category_edition": "2010",
                                                  "scan_requires_login": True}


def test_a_logistics_head_changes_the_settings(world, client_for):
    client = client_for(world.head_a)
    page = client.get(URL)
    assert page.status_code == 200 and 'data-testid="settings-form"' in text(page)
    assert page.context["form"].initial["capitalisation_threshold"] == "1000"
    response = client.post(URL, {**VALID, "org": world.a.org.pk})
    assert response.status_code == 302 and response["Location"] == URL
    assert stored(world.a.org) == {"capitalisation_threshold": "1500", "depreciation_start": "next_month",
                                   "category_edition": "2010", "scan_requires_login": False}
    org = Organization.objects.get(pk=world.a.org.pk)
    assert conf.capitalisation_threshold(org) == Decimal("1500")
    assert conf.depreciation_start_offset(org) == 1 and conf.scan_requires_login(org) is False
    assert "已保存" in text(client.get(URL))
    assert stored(world.b.org) == {}


def test_other_sections_and_flat_keys_are_kept_apart(world, client_for):
    Organization.objects.filter(pk=world.a.org.pk).update(
        settings={"repairs": {"report_requires_login": False}, "assets.capitalisation_threshold": "800"})
    org = Organization.objects.get(pk=world.a.org.pk)
    assert conf.capitalisation_threshold(org) == Decimal("800")  # the flat spelling is read
    client_for(world.head_a).post(URL, {**VALID, "capitalisation_threshold": "2000"})
    settings = Organization.objects.get(pk=world.a.org.pk).settings
    assert settings["repairs"] == {"report_requires_login": False}
    assert "assets.capitalisation_threshold" not in settings
    assert settings["assets"]["capitalisation_threshold"] == "2000"


def test_the_change_is_in_the_schools_change_log(world, client_for):
    client_for(world.head_a).post(URL, VALID)
    entry = ChangeLogEntry.objects.filter(content_type=ContentType.objects.get_for_model(Organization),
                                          object_id=str(world.a.org.pk), action="update").latest("pk")
    assert entry.user == world.head_a and entry.org_id == world.a.org.pk
    assert entry.after["settings"]["assets"]["capitalisation_threshold"] == "1500"
    assert entry.before["settings"] == {}
    # Saving the same values again writes nothing.
    count = ChangeLogEntry.objects.count()
    client_for(world.head_a).post(URL, VALID)
    assert ChangeLogEntry.objects.count() == count


@pytest.mark.parametrize(("field", "value", "message"), [
    ("capitalisation_threshold", "0", "固定资产单价起点必须大于 0 元。"),
    ("capitalisation_threshold", "-5", "固定资产单价起点必须大于 0 元。"),
    ("capitalisation_threshold", "10000000", "固定资产单价起点不能超过 1,000,000 元"),
    ("capitalisation_threshold", "abc", "请输入金额"),
    ("capitalisation_threshold", "1000.005", "金额最多保留两位小数。"),
    ("capitalisation_threshold", "", "请填写固定资产单价起点。"),
    ("depreciation_start", "yearly", "请从列表中选择折旧起始月份。"),
    ("category_edition", "1999", "系统中没有这个分类标准版本。"),
    ("scan_requires_login", "maybe", "请从列表中选择扫码是否需要登录。"),
])
def test_bad_input_is_refused_in_chinese_and_nothing_saved(world, client_for, field, value, message):
    response = client_for(world.head_a).post(URL, {**VALID, field: value})
    assert response.status_code == 200 and message in text(response)
    assert 'is-invalid' in text(response)
    assert stored(world.a.org) == {}


def test_readers_see_the_settings_read_only(world, client_for):
    conf.save_settings(world.a.org, {"capitalisation_threshold": "1200"})
    for user in (world.admin_a, world.bureau_admin, make_user("tech_a", org=world.a.org, roles=("technician",))):
        response = client_for(user).get(URL, {"org": world.a.org.pk})
        page = text(response)
        assert response.status_code == 200, user
        assert 'data-testid="settings-readonly"' in page and 'data-testid="settings-form"' not in page
        assert "1200 元" in page and "需要登录（推荐）" in page
        assert client_for(user).post(URL, {**VALID, "org": world.a.org.pk}).status_code == 403
    assert stored(world.a.org) == {"capitalisation_threshold": "1200"}


def test_an_asset_keeper_may_change_them(world, client_for):
    keeper = make_user("keeper_a", org=world.a.org, roles=("asset_keeper",))
    assert client_for(keeper).post(URL, VALID).status_code == 302
    assert stored(world.a.org)["capitalisation_threshold"] == "1500"


def test_who_may_not_read_cards_is_refused(world, client_for):
    for user in (world.teacher_a, world.outsider):
        assert client_for(user).get(URL).status_code == 403
        assert client_for(user).post(URL, VALID).status_code == 403
    response = client_for(None).get(URL)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert stored(world.a.org) == {}


def test_another_school_is_not_found(world, client_for):
    head_b = make_user("head_b", org=world.b.org, roles=("logistics_head",))
    client = client_for(head_b)
    assert client.get(URL, {"org": world.a.org.pk}).status_code == 404
    assert client.post(URL, {**VALID, "org": world.a.org.pk}).status_code == 404
    assert client.get(URL, {"org": "nonsense"}).status_code == 404
    assert stored(world.a.org) == {}
    page = text(client.get(URL))  # their own school
    assert world.b.org.name in page and world.a.org.name not in page


def test_a_bureau_user_picks_a_school(world, client_for):
    client = client_for(world.bureau_admin)
    page = text(client.get(URL, {"org": world.b.org.pk}))
    assert f'<option value="{world.a.org.pk}"' in page and f'<option value="{world.b.org.pk}"' in page
    assert 'data-testid="settings-school">' + world.b.org.name in page


def test_the_threshold_decides_new_cards_only(world, client_for):
    before = make_asset(world.a.org, unit_price="1200.00")
    assert before.asset_class == AssetClass.FIXED
    client_for(world.head_a).post(URL, {**VALID, "capitalisation_threshold": "1500"})
    world.a.org.refresh_from_db()
    after = make_asset(world.a.org, unit_price="1200.00")
    assert after.asset_class == AssetClass.LOW_VALUE
    before.refresh_from_db()
    assert before.asset_class == AssetClass.FIXED


# --- API -----------------------------------------------------------------------------------------------------------
API_LIST = "/api/assets/settings/"


def api_detail(org) -> str:
    return f"/api/assets/settings/{org.pk}/"


def test_api_reads_the_settings(world, client_for):
    response = client_for(world.head_a).get(api_detail(world.a.org), HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert response.json() == {
        "org": {"id": world.a.org.pk, "name": world.a.org.name}, "capitalisation_threshold": "1000.00",
        "depreciation_start": {"value": "same_month", "label": "当月开始计提（默认）"},
        "category_edition": {"value": "2010", "label": "GB/T 14885-2010《固定资产分类与代码》"},
        "scan_requires_login": True, "can_change": True}
    listed = client_for(world.bureau_admin).get(API_LIST, HTTP_ACCEPT="application/json").json()["results"]
    assert {r["org"]["id"] for r in listed} == {world.a.org.pk, world.b.org.pk}
    assert not any(r["can_change"] for r in listed)


def test_api_changes_the_settings(world, client_for):
    client = client_for(world.head_a)
    response = client.patch(api_detail(world.a.org), {"capitalisation_threshold": "1500.50",
                                                      "scan_requires_login": False}, content_type="application/json")
    assert response.status_code == 200, response.json()
    assert response.json()["capitalisation_threshold"] == "1500.50" and response.json()["scan_requires_login"] is False
    assert stored(world.a.org) == {"capitalisation_threshold": "1500.50", "scan_requires_login": False}
    # A client may send back what it read.
    body = client.get(api_detail(world.a.org)).json()
    assert client.put(api_detail(world.a.org), body, content_type="application/json").status_code == 200


def test_api_validation_is_field_by_field(world, client_for):
    response = client_for(world.head_a).patch(api_detail(world.a.org), {"capitalisation_threshold": "0",
                                                                        "depreciation_start": "yearly"},
                                              content_type="application/json")
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert fields["capitalisation_threshold"][0]["message"] == "固定资产单价起点必须大于 0 元。"
    assert fields["depreciation_start"][0]["code"] == "invalid_choice"
    assert stored(world.a.org) == {}
    response = client_for(world.head_a).put(api_detail(world.a.org), {"capitalisation_threshold": "1500"},
                                            content_type="application/json")
    assert response.status_code == 400 and "depreciation_start" in response.json()["error"]["fields"]


def test_api_permissions(world, client_for):
    patch = {"capitalisation_threshold": "2000"}
    for user, status in ((world.admin_a, 403), (world.bureau_admin, 403), (world.teacher_a, 404),
                         (world.admin_b, 404), (world.outsider, 404)):
        response = client_for(user).patch(api_detail(world.a.org), patch, content_type="application/json")
        assert response.status_code == status, user
    assert client_for(None).get(api_detail(world.a.org)).status_code in (401, 403)
    assert client_for(world.teacher_a).get(API_LIST).status_code == 403
    listed = client_for(world.admin_b).get(API_LIST).json()["results"]
    assert [r["org"]["id"] for r in listed] == [world.b.org.pk]
    assert stored(world.a.org) == {}
