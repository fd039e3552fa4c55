"""The page behind an asset label's QR code (/q/a/<token>/): who sees what under both settings of
``assets.scan_requires_login``, the stable scan URL, the action seams and the page's cost."""

from __future__ import annotations

import io
import re
import sys
import types

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import NoReverseMatch, path, reverse

from houqin.assets import actions, conf
from houqin.assets.models import Asset
from houqin.assets.scan_views import asset_label, visitor_access
from houqin.assets.tests.factories import make_asset
from houqin.core import qr
from houqin.core.testing.factories import make_user
from houqin.core.views import printing

pytestmark = pytest.mark.django_db


# --- The scan route: mounted for these tests if the project's URLconf does not have it yet --------------------------
def _urlconf_with_scan() -> str | None:
    try:
        reverse("scan", args=["a", "x"])
        return None
    except NoReverseMatch:
        pass
    import houqin.urls as root_urls

    module = types.ModuleType("houqin_test_asset_scan_urls")
    module.urlpatterns = [*root_urls.urlpatterns, path("q/<str:kind>/<str:token>/", printing.scan, name="scan")]
    sys.modules[module.__name__] = module
    return module.__name__


@pytest.fixture(autouse=True)
def scan_urls():
    name = _urlconf_with_scan()
    if name is None:
        yield
        return
    with override_settings(ROOT_URLCONF=name):
        yield
    sys.modules.pop(name, None)


@pytest.fixture
def card(world):
    """A computer of school A in a classroom, kept by A's teacher."""
    return make_asset(world.a.org, name="甲校教师机", brand="联想", model="M590", room=world.a.rooms[0],
                      department=world.a.department, custodian=world.a.staff, unit_price="4980.00")


@pytest.fixture
def public_scan(world):
    """School A lets anyone scan (scan_requires_login false)."""
    conf.save_settings(world.a.org, {"scan_requires_login": False})
    world.a.org.refresh_from_db()


@pytest.fixture
def no_other_actions(monkeypatch):
    """An empty action registry: what this page does, whatever the other parts of the app register."""
    monkeypatch.setattr(actions, "_REGISTRY", {})


@pytest.fixture
def test_actions(no_other_actions):
    """A public action (like the repairs app's 报修), a phone action for viewers and a card-only one."""
    registered = [
        actions.register(actions.AssetAction(
            "test_report", "测试报修", "ti ti-tool", url=lambda a: f"/test/report/{a.pk}/",
            available=lambda a, u: True, where=("card", "mobile", actions.PUBLIC), hint="发现故障点这里")),
        actions.register(actions.AssetAction(
            "test_lend", "测试借出", "ti ti-arrow-up-right", url=lambda a: f"/test/lend/{a.pk}/",
            available=lambda a, u: u.is_authenticated, where=("card", "mobile"), method="post", confirm="确定借出？")),
        actions.register(actions.AssetAction(
            "test_card_only", "测试卡片按钮", "ti ti-x", url=lambda a: "/test/card/",
            available=lambda a, u: True, where=("card",))),
    ]
    yield registered
    for action in registered:
        actions.unregister(action.key)


def scan_path(asset) -> str:
    return reverse("scan", args=["a", qr.token_for(asset)])


def forged_path(asset) -> str:
    token = qr.token_for(asset)
    return reverse("scan", args=["a", token[:-1] + ("a" if token[-1] != "a" else "b")])


def html(response) -> str:
    return response.content.decode()


def without_csrf(text: str) -> str:
    return re.sub(r"[A-Za-z0-9]{64}", "", text)  # masked CSRF tokens differ on every page


def keeper(world):
    return make_user("keeper_a", full_name="甲校资产管理员", org=world.a.org, roles=("asset_keeper",))


FULL_ONLY = ("资产分类", "保管人", "净值", "原值", "查看完整卡片", "甲校老师")


# --- Stable URL ------------------------------------------------------------------------------------------------------
def test_the_scan_url_survives_a_new_number(world, client_for, card, rf):
    before = scan_path(card)
    label_url = asset_label(rf.get("/"), card)["url"]
    assert label_url.endswith(before) and before.startswith("/q/a/")
    Asset.objects.filter(pk=card.pk).update(number="ZC-2020-00999")
    card.refresh_from_db()
    assert scan_path(card) == before
    assert asset_label(rf.get("/"), card)["url"] == label_url
    page = client_for(world.head_a).get(before)
    assert page.status_code == 200 and "ZC-2020-00999" in html(page)


def test_the_kind_is_registered_with_a_view():
    kind = qr.KINDS["a"]
    assert kind.model_label == "assets.asset" and kind.view is not None and qr.kind_for(Asset) is kind


# --- Login required (the default) ------------------------------------------------------------------------------------
def test_default_requires_login(world, card):
    assert conf.scan_requires_login(world.a.org) is True


def test_anonymous_signs_in_first_and_comes_back(world, client_for, card):
    response = client_for(None).get(scan_path(card))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login")) and "next=/q/a/" in response["Location"]
    # A forged token gets exactly the same answer.
    forged = client_for(None).get(forged_path(card))
    assert forged.status_code == 302 and forged["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("persona", ["head_a", "bureau_admin", "superuser", "admin_a"])
def test_who_may_view_the_card_gets_the_full_page(world, client_for, card, persona):
    response = client_for(world.persona(persona)).get(scan_path(card))
    page = html(response)
    assert response.status_code == 200, persona
    assert 'data-access="full"' in page
    for text in ("甲校教师机", card.number, world.a.rooms[0].name, "在用", card.category.name, "甲校老师", "净值",
                 "4,980.00", "查看完整卡片"):
        assert text in page, (persona, text)
    assert reverse("assets:asset_detail", args=[card.pk]) in page
    assert response["Cache-Control"].startswith("max-age=0") or "no-cache" in response["Cache-Control"]


def test_an_asset_keeper_gets_the_full_page(world, client_for, card):
    page = html(client_for(keeper(world)).get(scan_path(card)))
    assert 'data-access="full"' in page and 'data-testid="scan-net-value"' in page


def test_a_member_who_may_not_view_the_card_sees_the_minimal_page(world, client_for, card, test_actions):
    """A teacher of the school (no card rights) scans to report a fault: name, number, location, public actions."""
    response = client_for(world.teacher_a).get(scan_path(card))
    page = html(response)
    assert response.status_code == 200 and 'data-access="minimal"' in page
    assert "甲校教师机" in page and card.number in page and world.a.rooms[0].name in page
    for hidden in (*FULL_ONLY, "4980", "在用", "联想", "M590", world.a.department.name):
        assert hidden not in page, hidden
    assert 'data-testid="action-test_report"' in page and "发现故障点这里" in page
    assert 'data-testid="action-test_lend"' not in page and 'data-testid="action-test_card_only"' not in page


def test_another_schools_user_gets_not_found_like_a_forged_token(world, client_for, card):
    for user in (world.admin_b, world.teacher_b, world.outsider):
        client = client_for(user)
        real, forged = client.get(scan_path(card)), client.get(forged_path(card))
        assert real.status_code == forged.status_code == 404, user
        assert "甲校教师机" not in html(real) and card.number not in html(real)
        assert without_csrf(html(real)) == without_csrf(html(forged))


def test_forged_guessed_and_unknown_tokens(world, client_for, card):
    other = make_asset(world.a.org, name="甲校另一台电脑")
    guessed = reverse("scan", args=["a", qr.b62encode(other.pk) + qr.token_for(card)[-qr.SIGNATURE_LENGTH:]])
    room_token = reverse("scan", args=["a", qr.token_for(world.a.rooms[0])])  # a token of another kind
    for url in (forged_path(card), guessed, room_token, "/q/a/0000000000000/", "/q/a/%E4%B8%AD/"):
        assert client_for(world.head_a).get(url).status_code == 404, url
        assert client_for(None).get(url).status_code == 302, url


# --- Anyone may scan (scan_requires_login false) ---------------------------------------------------------------------
def test_public_setting_shows_anonymous_visitors_the_minimal_page(world, client_for, card, public_scan, test_actions):
    response = client_for(None).get(scan_path(card))
    page = html(response)
    assert response.status_code == 200 and 'data-access="minimal"' in page
    assert "甲校教师机" in page and card.number in page and world.a.rooms[0].name in page
    for hidden in (*FULL_ONLY, "4980", "在用", "联想", reverse("assets:asset_detail", args=[card.pk])):
        assert hidden not in page, hidden
    assert 'data-testid="action-test_report"' in page and 'data-testid="action-test_lend"' not in page
    assert 'data-testid="scan-login"' in page and "next=%2Fq%2Fa%2F" in page
    assert response["X-Robots-Tag"] == "noindex"
    # A forged token still sends to the sign-in page: the setting opens real labels, not guesses.
    assert client_for(None).get(forged_path(card)).status_code == 302


def test_public_setting_other_school_and_members_see_the_minimal_page(world, client_for, card, public_scan):
    for user in (world.admin_b, world.outsider, world.teacher_a):
        page = html(client_for(user).get(scan_path(card)))
        assert 'data-access="minimal"' in page and "甲校教师机" in page, user
        assert "净值" not in page and "甲校老师" not in page
    assert client_for(world.admin_b).get(forged_path(card)).status_code == 404
    # Who may view the card still gets everything.
    assert 'data-access="full"' in html(client_for(world.head_a).get(scan_path(card)))


def test_the_setting_is_per_school(world, client_for, card, public_scan):
    b_card = make_asset(world.b.org, name="乙校电脑", room=world.b.rooms[0])
    assert client_for(None).get(scan_path(card)).status_code == 200
    assert client_for(None).get(scan_path(b_card)).status_code == 302  # school B keeps the default
    assert client_for(world.admin_a).get(scan_path(b_card)).status_code == 404


def test_minimal_page_without_actions_says_whom_to_ask(world, client_for, card, public_scan, no_other_actions):
    world.a.org.phone = "0571-88886666"
    world.a.org.save()
    page = html(client_for(None).get(scan_path(card)))
    assert 'data-testid="scan-actions"' not in page  # no 报修 until the repairs app registers it
    assert "联系学校总务处" in page and "0571-88886666" in page


# --- Actions, photo ---------------------------------------------------------------------------------------------------
def test_viewers_get_the_mobile_actions(world, client_for, card, test_actions):
    page = html(client_for(world.head_a).get(scan_path(card)))
    assert 'data-testid="action-test_report"' in page and 'data-testid="action-test_lend"' in page
    assert 'data-testid="action-test_card_only"' not in page
    assert 'data-testid="action-print_label"' not in page  # printing belongs on the card's page
    assert "csrfmiddlewaretoken" in page and "确定借出？" in page  # a post action carries its token and question


def test_print_buttons_are_on_the_cards_page(world, client_for, card):
    page = html(client_for(world.head_a).get(reverse("assets:asset_detail", args=[card.pk])))
    assert reverse("assets:asset_label", args=[card.pk]) in page
    assert reverse("assets:asset_print", args=[card.pk]) in page


def test_public_where_is_opt_in():
    action = actions.AssetAction("x", "x", "", url=lambda a: "", available=lambda a, u: True)
    assert actions.PUBLIC not in action.where and actions.PUBLIC in actions.ALL_WHERES


def _photo(card, user):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image

    from houqin.core.attachments import attach

    buffer = io.BytesIO()
    Image.new("RGB", (60, 40), (20, 120, 200)).save(buffer, format="PNG")
    return attach(card, [SimpleUploadedFile("电脑.png", buffer.getvalue(), content_type="image/png")], user=user)[0]


def test_the_photo_is_for_viewers_only(world, client_for, card, public_scan, settings, tmp_path):
    settings.HOUQIN_ATTACHMENTS_DIR = str(tmp_path)
    photo = _photo(card, world.head_a)
    thumb = reverse("attachments:thumb", args=[photo.pk])
    assert thumb in html(client_for(world.head_a).get(scan_path(card)))
    assert thumb not in html(client_for(None).get(scan_path(card)))
    assert thumb not in html(client_for(world.teacher_a).get(scan_path(card)))


def test_visitor_access_rules(world, card):
    from django.contrib.auth.models import AnonymousUser

    assert visitor_access(card, world.head_a) == "full"
    assert visitor_access(card, world.teacher_a) == "minimal"
    assert visitor_access(card, AnonymousUser()) is None
    assert visitor_access(card, world.admin_b) is None
    world.a.org.settings = {"assets.scan_requires_login": "false"}  # the flat spelling is read too
    assert visitor_access(card, AnonymousUser()) == "minimal"
    world.a.org.is_active = False  # a school switched off: its labels open nothing
    assert visitor_access(card, AnonymousUser()) is None


def test_scan_is_read_only(world, client_for, card):
    assert client_for(world.head_a).post(scan_path(card)).status_code == 405
    assert client_for(world.head_a).head(scan_path(card)).status_code == 200


# --- Cost -------------------------------------------------------------------------------------------------------------
def _queries(client, url) -> list[str]:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return [q["sql"] for q in ctx.captured_queries]


def test_the_page_costs_one_or_two_queries_beyond_sign_in(world, client_for, card, public_scan, test_actions):
    """Anonymous: the card alone (with its school, category, room and custodian: one join). Signed in: the session,
    the user and the access map (memberships, role permissions) first; then the card, and its photo for who may view
    it. The registered actions' ``available`` must add nothing (see houqin.assets.actions)."""
    url = scan_path(card)
    anonymous, teacher, head = client_for(None), client_for(world.teacher_a), client_for(world.head_a)
    for client in (anonymous, teacher, head):
        client.get(url)  # warm-up: content types, templates
    assert len(_queries(anonymous, url)) == 1
    teacher_queries, head_queries = _queries(teacher, url), _queries(head, url)
    assert len(teacher_queries) == 5, teacher_queries
    assert len(head_queries) == 6, head_queries
    assert len([q for q in head_queries if 'FROM "assets_asset"' in q]) == 1


def test_scans_draw_no_code_and_read_the_card_once(world, client_for, card, public_scan, monkeypatch):
    """A scan is a phone opening the page behind a label: nothing on it draws a QR code (finding a code's mask costs
    ~10 ms in pure Python), and ten scans in a row read the card ten times, once each. Timings are measured by
    ``houqin bench`` (P5.qr) and in docs/assets-labels.md, not here."""
    drawn = []
    real_make = qr.make
    monkeypatch.setattr(qr, "make", lambda data: drawn.append(data) or real_make(data))
    for user in (None, world.teacher_a, world.head_a):
        client = client_for(user)
        url = scan_path(card)
        client.get(url)
        with CaptureQueriesContext(connection) as ctx:
            for _ in range(10):
                assert client.get(url).status_code == 200
        reads = [q for q in ctx.captured_queries if 'FROM "assets_asset"' in q["sql"]]
        assert len(reads) == 10, (user, len(reads))
    assert drawn == []


# --- API: the card's QR code ------------------------------------------------------------------------------------------
def test_api_gives_the_scan_url_and_the_qr(world, client_for, card):
    client = client_for(world.head_a)
    url = reverse("api:assets-asset-qr", kwargs={"pk": card.pk})
    data = client.get(url, HTTP_ACCEPT="application/json").json()
    assert data["id"] == card.pk and data["number"] == card.number and data["token"] == qr.token_for(card)
    assert data["scan_url"] == f"http://testserver{scan_path(card)}"
    assert data["svg"].startswith("<svg") and "viewBox" in data["svg"]
    png = client.get(url, {"image": "png", "scale": "4"}, HTTP_ACCEPT="image/png")
    assert png.status_code == 200 and png["Content-Type"] == "image/png" and png.content.startswith(b"\x89PNG")
    from PIL import Image

    assert Image.open(io.BytesIO(png.content)).size[0] % 4 == 0
    svg = client.get(url, {"image": "svg"})
    assert svg["Content-Type"] == "image/svg+xml" and b"<svg" in svg.content and b"xmlns" in svg.content


def test_api_qr_refuses_bad_parameters_and_other_schools(world, client_for, card):
    url = reverse("api:assets-asset-qr", kwargs={"pk": card.pk})
    bad = client_for(world.head_a).get(url, {"image": "gif"}, HTTP_ACCEPT="application/json")
    assert bad.status_code == 400 and bad.json()["error"]["fields"]["image"][0]["code"] == "invalid_choice"
    bad = client_for(world.head_a).get(url, {"image": "png", "scale": "99"})
    assert bad.status_code == 400 and "scale" in bad.json()["error"]["fields"]
    assert client_for(world.admin_b).get(url).status_code == 404
    assert client_for(world.teacher_a).get(url).status_code == 404
    assert client_for(world.bureau_admin).get(url).status_code == 200
    assert client_for(None).get(url).status_code in (401, 403)
