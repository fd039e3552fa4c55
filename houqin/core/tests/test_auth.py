"""Sign-in, sign-in throttling, sign-out, session timeouts and password changes."""

from __future__ import annotations

import datetime
import time
from importlib import import_module

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import SESSION_KEY
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from houqin.core.models import LoginAttempt, Membership, Organization, OrgKind, Role, User
from houqin.core.throttling import authenticate_throttled, check_login_allowed, client_ip, record_failure

PASSWORD = "Hq-test-2026!"
WRONG = "not-the-password"


@pytest.fixture(autouse=True)
def fast_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def school(db):
    return Organization.objects.create(kind=OrgKind.PRIMARY, name="测试第一小学", code="AUTH-TEST-PS1")


@pytest.fixture
def staff(school):
    user = User.objects.create_user("zhangsan", password=PASSWORD, full_name="张三", default_org=school)
    Membership.objects.create(user=user, org=school, role=Role.objects.get(code="school_admin"))
    return user


@pytest.fixture
def low_limits(settings):
    settings.LOGIN_FAILURES_PER_ACCOUNT_PER_HOUR = 3
    settings.LOGIN_FAILURES_PER_IP_PER_HOUR = 5


def login(client, username="zhangsan", password=PASSWORD, ip="10.0.0.1", **extra):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ip, **extra)


def signed_in(client) -> bool:
    return SESSION_KEY in client.session


def set_session(client, **values):
    session = client.session
    session.update(values)
    session.save()


def follow_messages(client, response) -> str:
    """The page a redirect leads to (with its flash messages)."""
    return client.get(response["Location"]).content.decode()


# --- Sign-in ---------------------------------------------------------------------------------------------------


def test_login_page_is_in_chinese(client, db):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "账号登录" in html and 'autocomplete="current-password"' in html and "form-control-lg" in html


def test_login_redirects_to_the_dashboard(client, staff):
    response = login(client)
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard")
    assert signed_in(client)
    assert client.get(reverse("dashboard")).status_code == 200


def test_login_follows_a_safe_next_only(client, staff):
    response = client.post(reverse("login") + "?next=/password/", {"username": "zhangsan", "password": PASSWORD,
                                                                   "next": "/password/"})
    assert response["Location"] == "/password/"
    client.post(reverse("logout"))
    response = client.post(reverse("login"), {"username": "zhangsan", "password": PASSWORD,
                                              "next": "https://evil.example.com/"})
    assert response["Location"] == reverse("dashboard")


def test_signed_in_user_visiting_login_goes_to_dashboard(client, staff):
    client.force_login(staff)
    response = client.get(reverse("login"))
    assert response.status_code == 302 and response["Location"] == reverse("dashboard")


def test_wrong_password_shows_a_chinese_error_and_opens_no_session(client, staff):
    response = login(client, password=WRONG)
    assert response.status_code == 200
    assert "账号或密码错误，请重新输入。" in response.content.decode()
    assert not signed_in(client)
    assert list(LoginAttempt.objects.values_list("username", "ip_address")) == [("zhangsan", "10.0.0.1")]


def test_unknown_account_looks_like_a_wrong_password(client, staff):
    response = login(client, username="nobody")
    assert response.status_code == 200
    assert "账号或密码错误，请重新输入。" in response.content.decode()
    assert LoginAttempt.objects.filter(username="nobody").count() == 1


def test_disabled_account_is_told_so_only_with_the_right_password(client, staff):
    staff.is_active = False
    staff.save()
    html = login(client).content.decode()
    assert "该账号已停用" in html
    assert not signed_in(client)
    html = login(client, password=WRONG).content.decode()
    assert "该账号已停用" not in html and "账号或密码错误" in html


def test_missing_password_is_a_field_error_and_not_counted(client, staff):
    response = login(client, password="")
    assert response.status_code == 200
    assert "该字段是必填项。" in response.content.decode()
    assert not LoginAttempt.objects.exists()


def test_session_key_changes_at_login(client, staff):
    session = client.session  # an anonymous session, as a fixation attacker would plant it
    session["planted"] = "1"
    session.save()
    old_key = session.session_key
    login(client)
    assert signed_in(client)
    assert client.session.session_key != old_key
    store = import_module(django_settings.SESSION_ENGINE).SessionStore()
    assert not store.exists(old_key)


def test_login_starts_both_session_clocks(client, staff):
    before = int(time.time())
    login(client)
    session = client.session
    assert before <= session["houqin_login_at"] <= int(time.time())
    assert session["houqin_seen_at"] == session["houqin_login_at"]


# --- Throttling ------------------------------------------------------------------------------------------------


def test_default_limits():
    assert django_settings.LOGIN_FAILURES_PER_ACCOUNT_PER_HOUR == 100
    assert django_settings.LOGIN_FAILURES_PER_IP_PER_HOUR >= 100


def test_101st_attempt_with_the_default_limit_is_refused(client, staff):
    LoginAttempt.objects.bulk_create(LoginAttempt(username="zhangsan", ip_address="10.9.9.9") for _ in range(99))
    assert login(client, password=WRONG, ip="10.0.0.1").status_code == 200  # the 100th failure
    response = login(client, ip="10.0.0.2")
    assert response.status_code == 429
    assert not signed_in(client)


def test_account_limit_refuses_even_the_right_password(client, staff, low_limits):
    for username in ("zhangsan", "ZhangSan", " ZHANGSAN "):  # one account, however it is typed
        assert login(client, username=username, password=WRONG).status_code == 200
    response = login(client, ip="10.0.0.2")
    assert response.status_code == 429
    html = response.content.decode()
    assert "登录失败次数过多，请 60 分钟后再试。" in html
    assert 3500 <= int(response["Retry-After"]) <= 3600
    assert not signed_in(client)
    # A refused attempt never reached the password check and is not counted.
    assert login(client, password=WRONG).status_code == 429
    assert LoginAttempt.objects.count() == 3


def test_account_limit_is_a_rolling_hour(client, staff, low_limits):
    for _ in range(3):
        login(client, password=WRONG)
    oldest = LoginAttempt.objects.order_by("pk").first()
    LoginAttempt.objects.filter(pk=oldest.pk).update(attempted_at=timezone.now() - datetime.timedelta(minutes=50))
    assert login(client).status_code == 429
    LoginAttempt.objects.update(attempted_at=timezone.now() - datetime.timedelta(minutes=50))
    assert "请 10 分钟后再试" in login(client).content.decode()
    LoginAttempt.objects.update(attempted_at=timezone.now() - datetime.timedelta(minutes=61))
    response = login(client)
    assert response.status_code == 302
    assert signed_in(client)


def test_ip_limit_counts_failures_across_accounts(client, staff, low_limits):
    for name in ("lisi", "wangwu", "zhaoliu", "sunqi", "zhouba"):
        assert login(client, username=name, password=WRONG, ip="10.0.0.7").status_code == 200
    response = login(client, ip="10.0.0.7")
    assert response.status_code == 429
    assert "登录失败次数过多" in response.content.decode()
    assert login(client, ip="10.0.0.8").status_code == 302


def test_success_clears_the_accounts_failures_from_that_address_only(client, staff, low_limits):
    login(client, password=WRONG, ip="10.0.0.1")
    login(client, password=WRONG, ip="10.0.0.2")
    login(client, username="lisi", password=WRONG, ip="10.0.0.1")
    assert login(client, ip="10.0.0.1").status_code == 302
    assert sorted(LoginAttempt.objects.values_list("username", "ip_address")) == [
        ("lisi", "10.0.0.1"), ("zhangsan", "10.0.0.2")]


def test_old_failures_are_purged(db):
    record_failure("old", "10.0.0.1")
    LoginAttempt.objects.update(attempted_at=timezone.now() - datetime.timedelta(hours=25))
    record_failure("new", "10.0.0.1")
    assert list(LoginAttempt.objects.values_list("username", flat=True)) == ["new"]


def test_client_ip_trusts_forwarded_for_only_behind_configured_proxies(settings):
    factory = RequestFactory()
    request = factory.get("/", REMOTE_ADDR="192.168.1.10", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.5, 10.1.1.1")
    settings.HOUQIN_TRUSTED_PROXY_COUNT = 0
    assert client_ip(request) == "192.168.1.10"
    settings.HOUQIN_TRUSTED_PROXY_COUNT = 1
    assert client_ip(request) == "10.1.1.1"
    settings.HOUQIN_TRUSTED_PROXY_COUNT = 2
    assert client_ip(request) == "203.0.113.5"
    settings.HOUQIN_TRUSTED_PROXY_COUNT = 5  # fewer entries than proxies: the header is not what we expect
    assert client_ip(request) == "192.168.1.10"
    settings.HOUQIN_TRUSTED_PROXY_COUNT = 1
    assert client_ip(factory.get("/", REMOTE_ADDR="192.168.1.10", HTTP_X_FORWARDED_FOR="junk")) == "192.168.1.10"


def test_authenticate_throttled_for_the_api(staff, low_limits):
    request = RequestFactory().post("/api/auth/token/", REMOTE_ADDR="10.0.0.3")
    for _ in range(3):
        user, decision = authenticate_throttled(request, "zhangsan", WRONG)
        assert user is None and decision
    user, decision = authenticate_throttled(request, "zhangsan", PASSWORD)
    assert user is None and not decision
    assert decision.scope == "account" and decision.message.startswith("登录失败次数过多")
    LoginAttempt.objects.all().delete()
    user, decision = authenticate_throttled(request, "zhangsan", PASSWORD)
    assert user == staff and decision
    assert check_login_allowed("zhangsan", "10.0.0.3")


# --- Sign-out --------------------------------------------------------------------------------------------------


def test_logout_by_post(client, staff):
    client.force_login(staff)
    response = client.post(reverse("logout"))
    assert response.status_code == 302 and response["Location"] == reverse("login")
    assert not signed_in(client)
    assert "您已安全退出。" in follow_messages(client, response)


def test_logout_by_get_does_nothing(client, staff):
    client.force_login(staff)
    assert client.get(reverse("logout")).status_code == 405
    assert signed_in(client)


# --- Session timeouts ------------------------------------------------------------------------------------------


def test_active_session_stays_and_is_stamped(client, staff):
    login(client)
    set_session(client, houqin_seen_at=int(time.time()) - 29 * 60)
    assert client.get(reverse("dashboard")).status_code == 200
    assert client.session["houqin_seen_at"] >= int(time.time()) - 5


def test_background_polling_does_not_keep_an_idle_session_alive(client, staff):
    login(client)
    stale = int(time.time()) - 29 * 60
    set_session(client, houqin_seen_at=stale)
    badge = client.get(reverse("job_worker_status"), HTTP_HX_REQUEST="true", HTTP_X_HOUQIN_BACKGROUND="1")
    assert badge.status_code == 200
    assert client.session["houqin_seen_at"] == stale  # a badge refresh is not the user at work
    set_session(client, houqin_seen_at=int(time.time()) - 31 * 60)
    response = client.get(reverse("job_worker_status"), HTTP_HX_REQUEST="true", HTTP_X_HOUQIN_BACKGROUND="1")
    assert "HX-Redirect" in response.headers and not signed_in(client)


def test_idle_timeout(client, staff):
    login(client)
    set_session(client, houqin_seen_at=int(time.time()) - 31 * 60)
    response = client.get(reverse("dashboard") + "?tab=1")
    assert response.status_code == 302
    assert response["Location"] == reverse("login") + "?next=/%3Ftab%3D1"
    assert not signed_in(client)
    assert "长时间未操作，已自动退出，请重新登录。" in follow_messages(client, response)


def test_absolute_timeout(client, staff):
    login(client)
    now = int(time.time())
    set_session(client, houqin_login_at=now - 12 * 3600 - 1, houqin_seen_at=now)
    response = client.get(reverse("dashboard"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert not signed_in(client)
    assert "登录已超过 12 小时" in follow_messages(client, response)


def test_idle_timeout_on_a_form_post_returns_to_the_page(client, staff):
    login(client)
    set_session(client, houqin_seen_at=int(time.time()) - 31 * 60)
    response = client.post(reverse("org_switch"), {"org": "1"}, HTTP_REFERER="http://testserver/core/rooms/?q=a")
    assert response.status_code == 302
    assert response["Location"] == reverse("login") + "?next=/core/rooms/%3Fq%3Da"


def test_htmx_request_after_timeout_gets_hx_redirect(client, staff):
    login(client)
    set_session(client, houqin_seen_at=int(time.time()) - 31 * 60)
    response = client.get("/core/rooms/?page=2", HTTP_HX_REQUEST="true",
                          HTTP_HX_CURRENT_URL="http://testserver/core/rooms/?q=a")
    assert response.status_code == 200
    assert response["HX-Redirect"] == reverse("login") + "?next=/core/rooms/%3Fq%3Da"
    assert response.content == b""
    assert not signed_in(client)
    assert "长时间未操作" in client.get(response["HX-Redirect"]).content.decode()


def test_api_request_after_timeout_gets_401_json(client, staff):
    login(client)
    set_session(client, houqin_seen_at=int(time.time()) - 31 * 60)
    response = client.get("/api/anything/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "session_expired"
    assert not signed_in(client)


# --- Passwords -------------------------------------------------------------------------------------------------


def test_password_change_needs_login(client, db):
    response = client.get(reverse("password_change"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_password_validators_answer_in_chinese(client, staff):
    client.force_login(staff)
    response = client.post(reverse("password_change"), {
        "old_password": PASSWORD, "new_password1": "1234567", "new_password2": "1234567"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "这个密码太常见了。" in html
    assert "密码只包含数字。" in html
    assert "This password" not in html, "a password validator message is not translated"
    assert "至少" in html
    response = client.post(reverse("password_change"), {
        "old_password": WRONG, "new_password1": "Gx7-rooftop-lamp", "new_password2": "Gx7-rooftop-lamp"})
    assert "你的旧密码不正确" in response.content.decode()


def test_password_change_keeps_the_user_signed_in(client, staff):
    login(client)
    response = client.post(reverse("password_change"), {
        "old_password": PASSWORD, "new_password1": "Gx7-rooftop-lamp", "new_password2": "Gx7-rooftop-lamp"})
    assert response.status_code == 302 and response["Location"] == reverse("password_change_done")
    assert "密码已修改" in client.get(response["Location"]).content.decode()
    staff.refresh_from_db()
    assert staff.check_password("Gx7-rooftop-lamp")
