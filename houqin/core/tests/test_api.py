"""The JSON API: tenancy (404 for another school, 403 without the permission), validation and the error format,
token auth, bureau read-only access, keyset pagination cost, the schema and the offline docs page."""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import include, path
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from houqin import api_urls
from houqin import urls as root_urls
from houqin.core.models import (
    Building,
    Campus,
    ChangeLogEntry,
    Membership,
    Organization,
    OrgKind,
    Role,
    Room,
    SchoolYear,
    User,
)

# Serve the API at /api/ whether or not the project URLconf already mounts it.
urlpatterns = list(root_urls.urlpatterns)
if not any(getattr(p, "urlconf_name", None) is api_urls for p in urlpatterns):
    urlpatterns.append(path("api/", include("houqin.api_urls")))

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

PASSWORD = "Api-test-2026!"


@dataclass
class Bureau:
    bureau: Organization
    a: Organization
    b: Organization
    campus_a: Campus
    campus_b: Campus
    admin_a: User  # 系统管理员 of A
    teacher_a: User  # 教师 of A: sees places, may not edit them
    admin_b: User
    inspector: User  # 教育局督查: reads A and B, writes nothing
    admin_ab: User  # 系统管理员 of both A and B


def _user(username: str, *memberships: tuple[Organization, str]) -> User:
    user = User.objects.create_user(username, password=PASSWORD, full_name=username,
                                    default_org=memberships[0][0] if memberships else None)
    for org, role in memberships:
        Membership.objects.create(user=user, org=org, role=Role.objects.get(code=role))
    return user


@pytest.fixture
def w(db) -> Bureau:
    bureau = Organization.objects.create(kind=OrgKind.BUREAU, name="测试区教育局", code="API-BUREAU")
    a = Organization.objects.create(kind=OrgKind.PRIMARY, name="甲城第一小学", code="API-A", parent=bureau)
    b = Organization.objects.create(kind=OrgKind.PRIMARY, name="乙镇中心小学", code="API-B", parent=bureau)
    return Bureau(
        bureau=bureau, a=a, b=b,
        campus_a=Campus.objects.create(org=a, name="南园"),
        campus_b=Campus.objects.create(org=b, name="北园"),
        admin_a=_user("admin_a", (a, "school_admin")),
        teacher_a=_user("teacher_a", (a, "teacher")),
        admin_b=_user("admin_b", (b, "school_admin")),
        inspector=_user("inspector", (bureau, "bureau_inspector")),
        admin_ab=_user("admin_ab", (a, "school_admin"), (b, "school_admin")),
    )


@pytest.fixture
def api():
    """``api(user)``: an API client signed in as ``user`` (a session, as the browser has)."""

    def make(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_login(user)
        return client

    return make


def error_of(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}, body
    assert {"code", "message"} <= set(body["error"]), body
    return body["error"]


def ids(response) -> set[int]:
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


# --- Tenancy ------------------------------------------------------------------------------------------------------
def test_list_shows_only_own_school(w, api):
    assert ids(api(w.admin_a).get("/api/core/campuses/")) == {w.campus_a.pk}
    assert ids(api(w.admin_b).get("/api/core/campuses/")) == {w.campus_b.pk}
    # Filtering by the other school does not reach it either: the filter's choices are the visible schools.
    response = api(w.admin_a).get("/api/core/campuses/", {"org": w.b.pk})
    assert response.status_code in (200, 400)
    if response.status_code == 200:
        assert ids(response) <= {w.campus_a.pk}


def test_other_schools_row_is_not_found(w, api):
    client = api(w.admin_a)
    url = f"/api/core/campuses/{w.campus_b.pk}/"
    for response in (client.get(url), client.patch(url, {"name": "改名"}, format="json"), client.delete(url)):
        assert response.status_code == 404
        assert error_of(response) == {"code": "not_found", "message": "未找到。"}
    w.campus_b.refresh_from_db()
    assert w.campus_b.name == "北园"


def test_visible_row_without_permission_is_forbidden(w, api):
    client = api(w.teacher_a)
    url = f"/api/core/campuses/{w.campus_a.pk}/"
    assert client.get(url).status_code == 200
    for response in (client.patch(url, {"name": "改名"}, format="json"), client.delete(url),
                     client.post("/api/core/campuses/", {"name": "东园"}, format="json")):
        assert response.status_code == 403
        assert error_of(response)["code"] == "permission_denied"
    assert Campus.objects.filter(org=w.a).count() == 1


def test_anonymous_is_refused(w, api):
    response = api().get("/api/core/campuses/")
    assert response.status_code == 401
    assert error_of(response) == {"code": "not_authenticated", "message": "请先登录。"}


def test_bureau_reads_both_schools_and_writes_neither(w, api):
    client = api(w.inspector)
    assert ids(client.get("/api/core/campuses/")) == {w.campus_a.pk, w.campus_b.pk}
    assert ids(client.get("/api/core/campuses/", {"org": w.b.pk})) == {w.campus_b.pk}
    assert client.get(f"/api/core/campuses/{w.campus_b.pk}/").status_code == 200
    assert client.post("/api/core/campuses/", {"name": "东园", "org": w.a.pk}, format="json").status_code == 403
    assert client.patch(f"/api/core/campuses/{w.campus_a.pk}/", {"name": "改名"}, format="json").status_code == 403
    assert client.delete(f"/api/core/campuses/{w.campus_b.pk}/").status_code == 403
    assert Campus.objects.count() == 2


# --- Creating -----------------------------------------------------------------------------------------------------
def test_create_goes_to_the_current_school(w, api):
    response = api(w.admin_a).post("/api/core/campuses/", {"name": "东园", "code": "E"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["org"] == {"id": w.a.pk, "name": "甲城第一小学"}
    assert Campus.objects.get(pk=body["id"]).org == w.a
    # The change log records who did it, in the same transaction.
    entry = ChangeLogEntry.objects.get(content_type__model="campus", object_id=str(body["id"]), action="create")
    assert entry.user == w.admin_a and entry.org == w.a


def test_create_in_a_named_school(w, api):
    response = api(w.admin_ab).post("/api/core/campuses/", {"name": "东园", "org": w.b.pk}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["org"]["id"] == w.b.pk
    # A school the user cannot see does not exist for them …
    response = api(w.admin_a).post("/api/core/campuses/", {"name": "西园", "org": w.b.pk}, format="json")
    assert response.status_code == 400
    assert error_of(response)["fields"]["org"][0]["code"] == "does_not_exist"
    # … and a school they see but may not add to is 403.
    admin_a_teacher_b = _user("admin_a_teacher_b", (w.a, "school_admin"), (w.b, "teacher"))
    response = api(admin_a_teacher_b).post("/api/core/campuses/", {"name": "西园", "org": w.b.pk}, format="json")
    assert response.status_code == 403
    assert error_of(response)["message"] == "您没有在该单位新增此类记录的权限。"
    response = api(w.inspector).post("/api/core/campuses/", {"name": "西园", "org": w.a.pk}, format="json")
    assert response.status_code == 403
    assert not Campus.objects.filter(name="西园").exists()


def test_foreign_key_to_another_school_is_a_field_error(w, api):
    payload = {"name": "教学楼", "campus": w.campus_b.pk}
    response = api(w.admin_a).post("/api/core/buildings/", payload, format="json")
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid"
    assert error["fields"]["campus"][0]["code"] == "does_not_exist"
    assert "北园" not in response.content.decode()
    # Even a user of both schools cannot point a row of A at a campus of B.
    response = api(w.admin_ab).post("/api/core/buildings/", {**payload, "org": w.a.pk}, format="json")
    assert response.status_code == 400
    assert "campus" in error_of(response)["fields"]
    assert not Building.objects.exists()


def test_invalid_input_gives_chinese_field_errors_and_saves_nothing(w, api):
    client = api(w.admin_a)
    response = client.post("/api/core/school-years/", {"name": "", "start_date": "2025-09-01",
                                                       "end_date": "2025-08-01"}, format="json")
    assert response.status_code == 400
    fields = error_of(response)["fields"]
    assert fields["name"][0]["message"] == "该字段不能为空。"
    # The model's clean() rule runs too, in Chinese, on its field.
    response = client.post("/api/core/school-years/", {"name": "2025-2026学年", "start_date": "2025-09-01",
                                                       "end_date": "2025-08-01"}, format="json")
    assert response.status_code == 400
    assert error_of(response)["fields"]["end_date"] == [{"code": "invalid", "message": "结束日期必须晚于开始日期。"}]
    response = client.post("/api/core/rooms/", {"name": "101", "campus": w.campus_a.pk, "room_type": "castle",
                                                "capacity": -1}, format="json")
    assert response.status_code == 400
    fields = error_of(response)["fields"]
    assert fields["room_type"][0]["code"] == "invalid_choice"
    assert re.search(r"[\u4e00-\u9fff]", fields["capacity"][0]["message"])
    # Unique constraints answer in Chinese instead of a 500.
    response = client.post("/api/core/campuses/", {"name": "南园"}, format="json")
    assert response.status_code == 400
    assert re.search(r"[\u4e00-\u9fff]", error_of(response)["fields"]["non_field_errors"][0]["message"])
    assert not SchoolYear.objects.exists()
    assert not Room.objects.exists()
    assert Campus.objects.filter(org=w.a).count() == 1


def test_org_cannot_be_changed(w, api):
    response = api(w.admin_ab).patch(f"/api/core/campuses/{w.campus_a.pk}/", {"org": w.b.pk}, format="json")
    assert response.status_code == 400
    assert error_of(response)["fields"]["org"][0]["code"] == "immutable"


def test_saving_a_row_out_of_ones_own_reach_is_rolled_back(w, api):
    # Switching off one's own school would leave the editor unable to change it: refused, nothing saved.
    response = api(w.admin_a).patch(f"/api/core/organizations/{w.a.pk}/", {"is_active": False}, format="json")
    assert response.status_code == 403
    assert "已取消保存" in error_of(response)["message"]
    w.a.refresh_from_db()
    assert w.a.is_active
    response = api(w.admin_a).patch(f"/api/core/organizations/{w.a.pk}/", {"phone": "0571-1234567"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["kind"] == {"value": "primary", "label": "小学"}


def test_choices_read_as_value_and_label_and_accept_either(w, api):
    client = api(w.admin_a)
    response = client.post("/api/core/buildings/", {"name": "实验楼", "campus": w.campus_a.pk, "use": "lab"},
                           format="json")
    assert response.status_code == 201, response.content
    assert response.json()["use"] == {"value": "lab", "label": "实验楼"}
    url = f"/api/core/buildings/{response.json()['id']}/"
    assert client.patch(url, {"use": {"value": "office", "label": "办公楼"}}, format="json").status_code == 200
    assert Building.objects.get().use == "office"


# --- Lists: filters, ordering, pagination -------------------------------------------------------------------------
def test_filters_are_the_ui_filter_sets(w, api):
    Room.objects.create(org=w.a, campus=w.campus_a, name="音乐教室", room_type="function")
    Room.objects.create(org=w.a, campus=w.campus_a, name="食堂", room_type="canteen")
    client = api(w.admin_a)
    names = [r["name"] for r in client.get("/api/core/rooms/", {"q": "yyjs"}).json()["results"]]
    assert names == ["音乐教室"]
    assert len(client.get("/api/core/rooms/", {"room_type": "canteen"}).json()["results"]) == 1
    # A filter value naming another school's row is refused, not answered.
    response = client.get("/api/core/rooms/", {"campus": w.campus_b.pk})
    assert response.status_code == 400
    assert "campus" in error_of(response)["fields"]


def test_ordering_is_limited_to_declared_fields(w, api):
    for name in ("丙", "甲", "乙"):
        Campus.objects.create(org=w.a, name=name)
    client = api(w.admin_a)
    response = client.get("/api/core/campuses/", {"ordering": "-name"})
    names = [r["name"] for r in response.json()["results"]]
    assert names == sorted(names, reverse=True)
    response = client.get("/api/core/campuses/", {"ordering": "search_index"})
    assert response.status_code == 400
    assert error_of(response)["fields"]["ordering"][0]["code"] == "invalid_choice"


def test_cursor_pagination_walks_every_row_once(w, api):
    for i in range(25):
        Room.objects.create(org=w.a, campus=w.campus_a, name=f"教室{i % 7}", number=f"{i:03d}")
    client = api(w.admin_a)
    seen, url = [], "/api/core/rooms/?page_size=10&ordering=name"
    while url:
        body = client.get(url).json()
        seen += [r["id"] for r in body["results"]]
        url = body["next"]
    assert len(seen) == len(set(seen)) == 25
    response = client.get("/api/core/rooms/", {"cursor": "garbage"})
    assert response.status_code == 400
    assert "cursor" in error_of(response)["fields"]


def _query_counts(client, url: str) -> dict[int, int]:
    client.get(url, {"page_size": 5})  # warm caches (content types, sessions)
    counts = {}
    for size in (10, 100):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url, {"page_size": size})
        assert len(response.json()["results"]) == size
        counts[size] = len(queries)
    return counts


def test_list_query_count_does_not_grow_with_page_size(w, api):
    for i in range(120):
        Room.objects.create(org=w.a, campus=w.campus_a, name=f"房间{i}", number=str(i), responsible=w.teacher_a)
        _user(f"staff{i:03d}", (w.a, "teacher"), (w.a, "asset_keeper"))
    client = api(w.admin_a)
    for url in ("/api/core/rooms/", "/api/core/users/", "/api/core/memberships/", "/api/core/changelog/"):
        counts = _query_counts(client, url)
        assert counts[10] == counts[100], (url, counts)


# --- Users, memberships, me, change log ---------------------------------------------------------------------------
def test_user_create_validates_password_and_never_returns_it(w, api):
    client = api(w.admin_a)
    response = client.post("/api/core/users/", {"username": "lisi", "password": "123", "roles": ["teacher"]},
                           format="json")
    assert response.status_code == 400
    messages = [e["message"] for e in error_of(response)["fields"]["password"]]
    assert messages and all(re.search(r"[\u4e00-\u9fff]", message) for message in messages), messages
    response = client.post("/api/core/users/", {"username": "lisi", "password": PASSWORD}, format="json")
    assert response.status_code == 400
    assert "roles" in error_of(response)["fields"]
    assert not User.objects.filter(username="lisi").exists()
    response = client.post("/api/core/users/", {"username": "lisi", "full_name": "李四", "password": PASSWORD,
                                                "roles": ["teacher"]}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert "password" not in body and PASSWORD not in response.content.decode()
    assert body["memberships"][0]["org"]["id"] == w.a.pk
    assert body["memberships"][0]["role"] == {"code": "teacher", "name": "教师/班主任"}
    assert User.objects.get(username="lisi").check_password(PASSWORD)
    # Users of another school are not listed; a school cannot reset the password of a shared administrator.
    assert w.admin_b.pk not in ids(client.get("/api/core/users/"))
    response = client.patch(f"/api/core/users/{w.admin_ab.pk}/", {"password": "Another-2026!"}, format="json")
    assert response.status_code == 403
    assert client.delete(f"/api/core/users/{body['id']}/").status_code == 405


def test_memberships_grant_and_withdraw_roles(w, api):
    client = api(w.admin_a)
    response = client.post("/api/core/memberships/", {"user": w.teacher_a.pk, "role": "asset_keeper"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["role"] == {"code": "asset_keeper", "name": "资产管理员"}
    response = client.post("/api/core/memberships/", {"user": w.teacher_a.pk, "role": "asset_keeper"}, format="json")
    assert response.status_code == 400  # already held
    response = client.post("/api/core/memberships/", {"user": w.admin_b.pk, "role": "teacher"}, format="json")
    assert response.status_code == 400 and "user" in error_of(response)["fields"]
    response = client.post("/api/core/memberships/", {"user": w.teacher_a.pk, "role": "bureau_admin"}, format="json")
    assert response.status_code == 400 and "role" in error_of(response)["fields"]
    membership = Membership.objects.get(user=w.teacher_a, role__code="asset_keeper")
    assert client.delete(f"/api/core/memberships/{membership.pk}/").status_code == 204
    assert not Membership.objects.filter(pk=membership.pk).exists()


def test_me(w, api):
    body = api(w.admin_ab).get("/api/me/").json()
    assert body["username"] == "admin_ab"
    assert {m["org"]["id"] for m in body["memberships"]} == {w.a.pk, w.b.pk}
    assert body["memberships"][0]["roles"][0]["code"] == "school_admin"
    assert sorted(body["permissions"]["core.add_campus"]) == sorted([w.a.pk, w.b.pk])
    assert body["current_org"]["id"] in (w.a.pk, w.b.pk)


def test_change_log_is_read_only_and_scoped(w, api):
    api(w.admin_b).patch(f"/api/core/campuses/{w.campus_b.pk}/", {"name": "北园新区"}, format="json")
    entry = ChangeLogEntry.objects.get(org=w.b, action="update", content_type__model="campus")
    assert entry.user == w.admin_b
    assert api(w.admin_a).get(f"/api/core/changelog/{entry.pk}/").status_code == 404
    body = api(w.admin_b).get(f"/api/core/changelog/{entry.pk}/").json()
    assert body["content_type"] == "core.campus" and body["after"] == {"name": "北园新区"}
    assert api(w.admin_b).delete(f"/api/core/changelog/{entry.pk}/").status_code == 405
    assert api(w.admin_b).post("/api/core/changelog/", {}, format="json").status_code == 405
    assert ChangeLogEntry.objects.filter(pk=entry.pk).exists()


def test_endpoints_offer_only_their_actions(w, api):
    client = api(w.admin_a)
    response = client.post("/api/core/organizations/", {"name": "新学校", "kind": "primary", "code": "X"},
                           format="json")
    assert response.status_code == 405
    error = error_of(response)
    assert error["code"] == "method_not_allowed" and re.search(r"[\u4e00-\u9fff]", error["message"])
    assert client.delete(f"/api/core/organizations/{w.a.pk}/").status_code == 405
    membership = Membership.objects.get(user=w.teacher_a)
    assert client.patch(f"/api/core/memberships/{membership.pk}/", {"role": "school_admin"},
                        format="json").status_code == 405
    assert Organization.objects.count() == 3 and membership.role.code == "teacher"


# --- Tokens -------------------------------------------------------------------------------------------------------
def test_token_auth(w, api):
    client = APIClient()
    response = client.post("/api/auth/token/", {"username": "admin_a", "password": "wrong"}, format="json")
    assert response.status_code == 400
    assert error_of(response)["fields"]["non_field_errors"][0]["message"] == "用户名或密码不正确。"
    response = client.post("/api/auth/token/", {"username": "admin_a", "password": PASSWORD}, format="json")
    assert response.status_code == 200, response.content
    token = response.json()["token"]
    assert Token.objects.get(user=w.admin_a).key == token
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert ids(client.get("/api/core/campuses/")) == {w.campus_a.pk}
    response = client.post("/api/core/campuses/", {"name": "东园"}, format="json")
    assert response.status_code == 201
    created = ChangeLogEntry.objects.get(content_type__model="campus", object_id=str(response.json()["id"]))
    assert created.user == w.admin_a
    assert client.delete("/api/auth/token/").status_code == 204
    assert client.get("/api/core/campuses/").status_code == 401
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert error_of(client.get("/api/core/campuses/"))["code"] == "authentication_failed"


# --- Schema and docs ----------------------------------------------------------------------------------------------
def test_schema_and_offline_docs(w, api):
    response = api().get("/api/schema/")
    assert response.status_code == 200
    assert b"/api/core/rooms/" in response.content
    response = api().get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    external = re.findall(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", html, flags=re.IGNORECASE)
    assert external == []
    assert '"validatorUrl": null' in html


def test_sidecar_files_are_served_locally():
    from django.contrib.staticfiles import finders

    assert finders.find("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js"), (
        "add 'drf_spectacular_sidecar' to INSTALLED_APPS")


def test_schema_generates_without_warnings_and_check_detects_drift(tmp_path):
    from houqin.core.management.commands.apischema import generate_schema

    text, problems = generate_schema()
    assert problems == []
    target = tmp_path / "openapi.yaml"
    call_command("apischema", file=str(target))
    assert target.read_text(encoding="utf-8") == text
    call_command("apischema", "--check", file=str(target))
    target.write_text(text.replace("智慧后勤 API", "Old API"), encoding="utf-8")
    with pytest.raises(CommandError, match="was not regenerated"):
        call_command("apischema", "--check", file=str(target))


def test_dates_are_iso(w, api):
    response = api(w.admin_a).post("/api/core/school-years/", {"name": "2025-2026学年", "start_date": "2025-09-01",
                                                               "end_date": "2026-07-15"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["start_date"] == datetime.date(2025, 9, 1).isoformat()


def test_base_viewset_must_come_before_drf_mixins():
    from rest_framework import mixins, viewsets

    from houqin.core.api.viewsets import TenantViewSetMixin

    with pytest.raises(TypeError, match="before DRF's mixins"):
        type("Shadowed", (mixins.CreateModelMixin, TenantViewSetMixin, viewsets.GenericViewSet), {})
