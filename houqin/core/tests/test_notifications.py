"""Notifications, reminders, channel delivery and the daily digest.

Webhooks are tested against a local HTTP receiver (``http.server`` on 127.0.0.1, an ephemeral port) that records
every request; nothing here talks to any other address.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import Permission
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import connections
from django.urls import include, path, reverse
from django.utils import timezone

from houqin import urls as root_urls
from houqin.core import notifications as engine
from houqin.core import reminders
from houqin.core.channels import dingtalk, validate_webhook_url
from houqin.core.jobs import run_pending
from houqin.core.models import ChangeLogEntry, Role
from houqin.core.models.jobs import Job
from houqin.core.models.notifications import (
    ChannelConfig,
    Delivery,
    DeliveryChannel,
    DeliveryPurpose,
    DeliveryStatus,
    Notification,
    NotificationKind,
    Reminder,
    ReminderState,
)
from houqin.core.notifications import ALL, mark_read, notify, unread_count
from houqin.core.views import notifications as views

# Serve the notification pages under /notifications/ even where the root URLconf does not mount them yet.
urlpatterns = list(root_urls.urlpatterns)
if not any(str(p.pattern) == "notifications/" for p in urlpatterns):
    urlpatterns.append(path("notifications/", include(views.urlpatterns)))

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

SECRET = "SEC0123456789abcdef0123456789abcdef"
ADMIN_PERMS = ("core.view_channelconfig", "core.add_channelconfig", "core.change_channelconfig", "core.view_delivery")


# --- Fixtures -------------------------------------------------------------------------------------------------------


class Receiver:
    """Records requests; answers each with the next queued (status, JSON body), then with ``default``."""

    def __init__(self):
        self.requests: list[dict] = []
        self.responses: list[tuple[int, dict]] = []
        self.default = (200, {"errcode": 0, "errmsg": "ok"})
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 — http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                with receiver.lock:
                    parts = urlsplit(self.path)
                    receiver.requests.append({"path": parts.path, "query": parse_qs(parts.query),
                                              "headers": dict(self.headers), "json": json.loads(raw or b"{}")})
                    status, body = receiver.responses.pop(0) if receiver.responses else receiver.default
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


@pytest.fixture(autouse=True)
def notify_settings(settings, monkeypatch):
    settings.HOUQIN_NOTIFY_WEBHOOK_HOSTS = ["127.0.0.1"]
    settings.HOUQIN_BASE_URL = "https://houqin.example.cn"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "127.0.0.1,localhost")


@pytest.fixture(autouse=True)
def admin_channel_perms(db):
    """The school_admin role holds the channel permissions (houqin.core.roles grants them after integration)."""
    role = Role.objects.filter(code="school_admin").first()
    if role is not None:
        for name in ADMIN_PERMS:
            app_label, codename = name.split(".")
            role.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


@pytest.fixture
def school(world):
    return world.a.org


def configure(org, **fields) -> ChannelConfig:
    config, _ = ChannelConfig.objects.update_or_create(org=org, defaults={
        "kinds": [k.value for k in NotificationKind], **fields})
    return config


def run_jobs() -> int:
    return run_pending(max_tasks=None)


# --- notify(), dedupe, unread count, mark read ------------------------------------------------------------------------


def test_notify_creates_one_per_recipient_and_dedupes(world, school):
    created = notify([world.teacher_a, world.head_a, world.teacher_a], org=school, title="请审批采购单",
                     body="金额 1,200 元", url="/core/rooms/", kind="todo", source=world.a.rooms[0],
                     dedupe_key="approval:1")
    assert sorted(n.recipient_id for n in created) == sorted([world.teacher_a.pk, world.head_a.pk])
    n = created[0]
    assert (n.kind, n.org_id, n.source, n.read_at) == ("todo", school.pk, world.a.rooms[0], None)
    again = notify([world.teacher_a, world.head_a], org=school, title="请审批采购单", dedupe_key="approval:1")
    assert again == []
    assert Notification.objects.filter(dedupe_key="approval:1").count() == 2
    # Without a key every call is a new notification.
    notify([world.teacher_a], org=school, title="一般通知")
    notify([world.teacher_a], org=school, title="一般通知")
    assert Notification.objects.filter(recipient=world.teacher_a, title="一般通知").count() == 2


def test_notify_skips_users_outside_the_organisation(world, school):
    created = notify([world.teacher_b, world.admin_b, world.outsider, world.bureau_admin], org=school, title="甲校")
    # Only the bureau's user belongs to school A's hierarchy.
    assert [n.recipient_id for n in created] == [world.bureau_admin.pk]


def test_notify_rejects_bad_arguments(world, school):
    with pytest.raises(ValueError):
        notify([world.teacher_a], org=school, title="外链", url="https://evil.example.com/")
    with pytest.raises(ValueError):
        notify([world.teacher_a], org=school, title="类型", kind="urgent")
    assert not Notification.objects.exists()


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_two_threads_racing_on_one_dedupe_key_notify_once(world, school):
    racers, rounds = 4, 3
    created: list[int] = []
    errors: list[BaseException] = []
    users = [world.teacher_a, world.head_a]
    for round_no in range(rounds):
        barrier = threading.Barrier(racers)

        def race(barrier=barrier, key=f"race:{round_no}"):
            try:
                barrier.wait(timeout=10)
                created.extend(n.pk for n in notify(users, org=school, title="并发", dedupe_key=key))
            except BaseException as exc:  # noqa: BLE001 — reported by the assertion below
                errors.append(exc)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=race) for _ in range(racers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert errors == []
    assert len(created) == len(set(created)) == rounds * len(users)
    assert Notification.objects.filter(title="并发").count() == rounds * len(users)


def test_unread_count_and_mark_read(world, school):
    mine = [notify([world.teacher_a], org=school, title=f"通知{i}")[0] for i in range(3)]
    theirs = notify([world.head_a], org=school, title="别人的")[0]
    assert unread_count(world.teacher_a) == 3
    assert unread_count(None) == 0
    assert mark_read(world.teacher_a, [mine[0].pk, theirs.pk]) == 1  # never someone else's
    assert unread_count(world.teacher_a) == 2
    assert unread_count(world.head_a) == 1
    assert mark_read(world.teacher_a, ALL) == 2
    assert unread_count(world.teacher_a) == 0
    assert unread_count(world.head_a) == 1


def test_notifications_are_visible_to_their_recipient_only(world, school):
    n = notify([world.teacher_a], org=school, title="私信")[0]
    assert list(Notification.objects.restrict(world.teacher_a)) == [n]
    for persona in ("admin_a", "head_a", "bureau_admin", "superuser", "admin_b"):
        assert not Notification.objects.restrict(world.persona(persona)).exists(), persona


# --- Pages ------------------------------------------------------------------------------------------------------------


def test_inbox_lists_unread_first_and_marks_read_with_htmx(world, school, client_for):
    old = notify([world.teacher_a], org=school, title="旧的已读通知")[0]
    mark_read(world.teacher_a, [old.pk])
    new = notify([world.teacher_a], org=school, title="新的未读通知", kind="overdue")[0]
    client = client_for(world.teacher_a)
    page = client.get(reverse("notification_list")).content.decode()
    assert page.index("新的未读通知") < page.index("旧的已读通知")
    response = client.post(reverse("notification_read", args=[new.pk]), HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert f'id="notification-{new.pk}"' in html and "已读" in html
    assert 'id="notification-bell"' in html and 'hx-swap-oob="true"' in html
    assert 'data-testid="unread-count"' not in html  # nothing unread any more
    new.refresh_from_db()
    assert new.read_at is not None


def test_mark_all_read_returns_inbox_and_bell(world, school, client_for):
    for i in range(3):
        notify([world.teacher_a], org=school, title=f"批量{i}")
    response = client_for(world.teacher_a).post(reverse("notification_read_all"), HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert 'id="inbox"' in html and 'hx-swap-oob="true"' in html
    assert unread_count(world.teacher_a) == 0
    # Without HTMX: back to the list.
    response = client_for(world.teacher_a).post(reverse("notification_read_all"))
    assert response.status_code == 302


def test_opening_a_notification_marks_it_read_and_follows_its_link(world, school, client_for):
    n = notify([world.teacher_a], org=school, title="去看看", url="/core/rooms/")[0]
    response = client_for(world.teacher_a).get(reverse("notification_open", args=[n.pk]))
    assert response.status_code == 302 and response["Location"] == "/core/rooms/"
    n.refresh_from_db()
    assert n.read_at is not None


@pytest.mark.parametrize("persona", ["teacher_b", "admin_b", "admin_a", "bureau_admin"])
def test_another_user_cannot_read_or_mark_a_notification(world, school, client_for, persona):
    n = notify([world.teacher_a], org=school, title="甲校私信")[0]
    client = client_for(world.persona(persona))
    assert client.get(reverse("notification_open", args=[n.pk])).status_code == 404
    assert client.post(reverse("notification_read", args=[n.pk])).status_code == 404
    assert client.post(reverse("notification_read", args=[n.pk]), HTTP_HX_REQUEST="true").status_code == 404
    client.post(reverse("notification_read_all"))
    assert "甲校私信" not in client.get(reverse("notification_list")).content.decode()
    n.refresh_from_db()
    assert n.read_at is None


ROUTES = {
    # name: (method, {persona: status})
    "notification_list": ("GET", {"admin_a": 200, "teacher_a": 200, "admin_b": 200, "bureau_admin": 200,
                                  "superuser": 200, "outsider": 200}),
    "notification_read_all": ("POST", {"admin_a": 302, "teacher_a": 302, "outsider": 302}),
    "notification_channels": ("GET", {"admin_a": 200, "admin_b": 200, "superuser": 200, "teacher_a": 403,
                                      "bureau_admin": 403, "outsider": 403}),
    "notification_channel_test": ("POST", {"admin_a": 302, "teacher_a": 403, "bureau_admin": 403, "outsider": 403}),
    "delivery_list": ("GET", {"admin_a": 200, "admin_b": 200, "bureau_admin": 200, "superuser": 200,
                              "teacher_a": 403, "outsider": 403}),
}


@pytest.mark.parametrize("name", sorted(ROUTES))
def test_route_permissions(world, client_for, name):
    method, expected = ROUTES[name]
    url = reverse(name)
    response = getattr(client_for(None), method.lower())(url)
    assert response.status_code == 302 and "/login/" in response["Location"]
    for persona, status in expected.items():
        response = getattr(client_for(world.persona(persona)), method.lower())(url)
        assert response.status_code == status, (name, persona, response.status_code)
        if status == 200 and persona in ("admin_b", "outsider"):
            assert world.a.org.name not in response.content.decode(), (name, persona)


def test_menu_entries_come_with_the_urls(monkeypatch):
    from houqin.core import navigation

    group = navigation.GROUPS["system"]
    monkeypatch.setattr(group, "items", list(group.items))  # leave the real menu as the URLconf made it
    views.urls()
    views.urls()
    names = [i.url_name for i in navigation.GROUPS["system"].items]
    assert names.count("notification_channels") == 1 and names.count("delivery_list") == 1


def test_anonymous_is_sent_to_sign_in(world, client_for):
    for name in ("notification_list", "notification_channels", "delivery_list"):
        response = client_for(None).get(reverse(name))
        assert response.status_code == 302 and "/login/" in response["Location"], name


def test_bell_shows_the_unread_count(world, school, rf):
    for i in range(3):
        notify([world.teacher_a], org=school, title=f"铃铛{i}")
    request = rf.get("/")
    request.user = world.teacher_a
    html = views.render_bell(request)
    assert 'data-testid="unread-count">3<' in html and "hx-swap-oob" not in html
    assert 'hx-swap-oob="true"' in views.bell_oob(request)
    context = views.notification_context(request)
    assert context["notification_unread_count"]() == 3
    Notification.objects.bulk_create(Notification(recipient=world.teacher_a, org=school, title=f"多{i}")
                                     for i in range(100))
    assert ">99+<" in views.render_bell(request)


# --- Webhook channels ---------------------------------------------------------------------------------------------


def test_wecom_receives_a_markdown_message_from_a_background_job(world, school, receiver):
    configure(school, wecom_webhook=f"{receiver.url}/cgi-bin/webhook/send?key=wecom-key")
    notify([world.teacher_a, world.head_a], org=school, title="灭火器检查逾期", body="教学楼一层 3 具",
           url="/core/rooms/", kind="overdue")
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.PENDING and receiver.requests == []  # never sent inline
    assert Job.objects.filter(name="houqin.core.notifications.deliver").count() == 1
    run_jobs()
    [request] = receiver.requests
    assert request["path"] == "/cgi-bin/webhook/send" and request["query"] == {"key": ["wecom-key"]}
    assert request["headers"]["Content-Type"].startswith("application/json")
    body = request["json"]
    assert set(body) == {"msgtype", "markdown"} and body["msgtype"] == "markdown"
    content = body["markdown"]["content"]
    assert set(body["markdown"]) == {"content"}
    assert content.startswith("**【逾期】灭火器检查逾期**")
    assert "教学楼一层 3 具" in content and "[查看详情](https://houqin.example.cn/core/rooms/)" in content
    assert "甲校老师" in content  # the people notified
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_code) == (DeliveryStatus.SENT, 1, 200)
    assert delivery.sent_at is not None


def test_a_group_robot_gets_one_message_per_event_and_none_for_a_repeat(world, school, receiver):
    configure(school, wecom_webhook=f"{receiver.url}/cgi-bin/webhook/send?key=k")
    notify([world.teacher_a, world.head_a], org=school, title="告警", kind="alert", dedupe_key="alarm:1")
    notify([world.teacher_a, world.head_a], org=school, title="告警", kind="alert", dedupe_key="alarm:1")
    run_jobs()
    assert len(receiver.requests) == 1


def test_dingtalk_is_signed_with_hmac_sha256(world, school, receiver):
    configure(school, dingtalk_webhook=f"{receiver.url}/robot/send?access_token=ding-token", dingtalk_secret=SECRET)
    notify([world.teacher_a], org=school, title="健康证即将到期", body="还有 7 天", kind="reminder")
    run_jobs()
    [request] = receiver.requests
    query = request["query"]
    assert query["access_token"] == ["ding-token"]
    timestamp = query["timestamp"][0]
    expected = base64.b64encode(hmac.new(SECRET.encode(), f"{timestamp}\n{SECRET}".encode(),
                                         hashlib.sha256).digest()).decode()
    assert query["sign"] == [expected]  # parse_qs has undone the URL encoding
    assert abs(int(timestamp) - timezone.now().timestamp() * 1000) < 60_000
    body = request["json"]
    assert body["msgtype"] == "markdown" and set(body["markdown"]) == {"title", "text"}
    assert body["markdown"]["title"] == "【提醒】健康证即将到期" and "还有 7 天" in body["markdown"]["text"]
    assert Delivery.objects.get().status == DeliveryStatus.SENT


def test_dingtalk_without_a_secret_is_not_signed(world, school, receiver):
    configure(school, dingtalk_webhook=f"{receiver.url}/robot/send?access_token=t")
    notify([world.teacher_a], org=school, title="提醒", kind="reminder")
    run_jobs()
    assert set(receiver.requests[0]["query"]) == {"access_token"}
    assert dingtalk.signed_url("https://oapi.dingtalk.com/robot/send?access_token=t", "") == \
        "https://oapi.dingtalk.com/robot/send?access_token=t"


def test_retry_on_500_then_success(world, school, receiver):
    configure(school, wecom_webhook=f"{receiver.url}/send?key=k")
    receiver.responses = [(500, {"error": "busy"})]
    notify([world.teacher_a], org=school, title="重试", kind="alert")
    start = timezone.now()
    run_jobs()
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.response_code) == (DeliveryStatus.PENDING, 1, 500)
    assert "HTTP 500" in delivery.last_error
    assert timedelta(seconds=55) < delivery.next_retry_at - start < timedelta(seconds=70)
    assert engine.retry_due_deliveries(now=start + timedelta(seconds=30)) == 0  # not yet
    assert engine.retry_due_deliveries(now=start + timedelta(seconds=61)) == 1
    assert engine.retry_due_deliveries(now=start + timedelta(seconds=62)) == 0  # claimed once
    run_jobs()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == (DeliveryStatus.SENT, 2, "")
    assert len(receiver.requests) == 2


def test_errcode_other_than_zero_is_a_failure(world, school, receiver):
    configure(school, wecom_webhook=f"{receiver.url}/send?key=k")
    receiver.default = (200, {"errcode": 93000, "errmsg": "invalid webhook url"})
    notify([world.teacher_a], org=school, title="错误码", kind="alert")
    run_jobs()
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.PENDING and delivery.attempts == 1
    assert "93000" in delivery.last_error and "invalid webhook url" in delivery.last_error
    assert delivery.response_code == 200


def test_gives_up_after_max_attempts_with_the_error_logged(world, school, receiver):
    configure(school, wecom_webhook=f"{receiver.url}/send?key=secret-key")
    receiver.default = (500, {"errcode": -1, "errmsg": "system busy"})
    notify([world.teacher_a], org=school, title="放弃", kind="alert")
    run_jobs()
    now = timezone.now()
    for delay in (60, 300, 1800):
        now += timedelta(seconds=delay + 1)
        assert engine.retry_due_deliveries(now=now) == 1
        run_jobs()
    delivery = Delivery.objects.get()
    assert delivery.attempts == engine.max_attempts() == 4
    assert delivery.status == DeliveryStatus.FAILED and delivery.next_retry_at is None
    assert "HTTP 500" in delivery.last_error and "system busy" in delivery.last_error
    assert "secret-key" not in delivery.last_error
    assert engine.retry_due_deliveries(now=now + timedelta(days=1)) == 0
    assert len(receiver.requests) == 4


def test_an_unreachable_robot_is_a_failure_not_a_crash(world, school):
    with Receiver() as closed:
        url = closed.url
    configure(school, wecom_webhook=f"{url}/send?key=k")
    notify([world.teacher_a], org=school, title="连不上", kind="alert")
    run_jobs()
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.PENDING and "无法连接" in delivery.last_error


def test_only_the_configured_kinds_go_out(world, school, receiver):
    configure(school, wecom_webhook=f"{receiver.url}/send?key=k", kinds=["overdue"])
    notify([world.teacher_a], org=school, title="普通信息", kind="info")
    assert not Delivery.objects.exists()
    assert Job.objects.filter(name="houqin.core.notifications.deliver").count() == 0
    notify([world.teacher_a], org=school, title="逾期", kind="overdue")
    assert Delivery.objects.count() == 1


def test_a_school_without_channels_sends_nothing(world, school):
    notify([world.teacher_a], org=school, title="只在站内", kind="alert")
    assert not Delivery.objects.exists()


def test_email_goes_to_each_recipient_with_an_address(world, school):
    world.teacher_a.email = "teacher@example.cn"
    world.teacher_a.save()
    configure(school, email_enabled=True)
    notify([world.teacher_a, world.head_a], org=school, title="邮件通知", body="正文", url="/core/rooms/",
           kind="todo")
    assert len(mail.outbox) == 0
    run_jobs()
    [message] = mail.outbox
    assert message.to == ["teacher@example.cn"] and message.subject == "【智慧后勤】【待办】邮件通知"
    assert "正文" in message.body and "https://houqin.example.cn/core/rooms/" in message.body
    delivery = Delivery.objects.get()
    assert (delivery.channel, delivery.status, delivery.recipient_id) == ("email", "sent", world.teacher_a.pk)


def test_a_lost_job_is_picked_up_by_the_scan(world, school, receiver):
    configure(school, wecom_webhook=f"{receiver.url}/send?key=k")
    notify([world.teacher_a], org=school, title="丢失的任务", kind="alert")
    from django_tasks_db.models import DBTaskResult

    DBTaskResult.objects.all().delete()
    assert engine.retry_due_deliveries(now=timezone.now() + timedelta(minutes=5)) == 0
    assert engine.retry_due_deliveries(now=timezone.now() + engine.LEASE + timedelta(seconds=1)) == 1
    run_jobs()
    assert Delivery.objects.get().status == DeliveryStatus.SENT


# --- Webhook address validation ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("value, message", [
    ("ftp://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=1", "仅支持 http:// 或 https://"),
    ("not a url", "请输入完整的网址"),
    ("qyapi.weixin.qq.com/cgi-bin/webhook/send", "请输入完整的网址"),
    ("javascript:alert(1)", "请输入完整的网址"),
    ("https://user:pw@qyapi.weixin.qq.com/x", "不能包含用户名或密码"),
    ("https://intranet.school.local/hook", "企业微信机器人地址应以 https://qyapi.weixin.qq.com/ 开头"),
])
def test_webhook_validation_refuses_bad_addresses_in_chinese(value, message):
    with pytest.raises(ValidationError) as info:
        validate_webhook_url(value, "wecom")
    assert message in " ".join(info.value.messages)


def test_webhook_validation_accepts_the_official_hosts(settings):
    settings.HOUQIN_NOTIFY_WEBHOOK_HOSTS = []
    url = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc"
    assert validate_webhook_url(f"  {url} ", "wecom") == url
    assert validate_webhook_url("https://oapi.dingtalk.com/robot/send?access_token=x", "dingtalk")
    with pytest.raises(ValidationError):
        validate_webhook_url("https://oapi.dingtalk.com/robot/send?access_token=x", "wecom")
    with pytest.raises(ValidationError):
        validate_webhook_url("http://127.0.0.1:8000/admin/", "wecom")


# --- Channel settings page --------------------------------------------------------------------------------------------


def test_channel_settings_validate_and_save(world, school, client_for):
    client = client_for(world.admin_a)
    url = reverse("notification_channels")
    assert client.get(url).status_code == 200
    response = client.post(url, {"wecom_webhook": "ftp://qyapi.weixin.qq.com/x", "dingtalk_webhook": "不是网址",
                                 "kinds": ["alert"]})
    html = response.content.decode()
    assert response.status_code == 200
    assert "仅支持 http:// 或 https://" in html and "请输入完整的网址" in html
    assert not ChannelConfig.objects.exists()
    response = client.post(url, {"wecom_webhook": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc",
                                 "dingtalk_webhook": "https://oapi.dingtalk.com/robot/send?access_token=t",
                                 "dingtalk_secret": SECRET, "kinds": ["alert", "overdue"], "robot_digest": "on"})
    assert response.status_code == 302
    config = ChannelConfig.objects.get(org=school)
    assert config.dingtalk_secret == SECRET and config.kinds == ["alert", "overdue"]
    page = client.get(url).content.decode()
    assert SECRET not in page  # a saved secret is never shown again
    # Leaving the secret empty keeps it.
    client.post(url, {"wecom_webhook": config.wecom_webhook, "dingtalk_webhook": config.dingtalk_webhook,
                      "kinds": ["alert"]})
    config.refresh_from_db()
    assert config.dingtalk_secret == SECRET and config.kinds == ["alert"]
    # The change log records the change, but never the addresses or the secret.
    entries = ChangeLogEntry.objects.filter(object_id=str(config.pk), content_type__model="channelconfig")
    assert entries.exists()
    dumped = json.dumps([[e.before, e.after] for e in entries], ensure_ascii=False)
    assert SECRET not in dumped and "key=abc" not in dumped


def test_email_cannot_be_turned_on_without_a_mail_server(world, school, client_for, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = ""
    response = client_for(world.admin_a).post(reverse("notification_channels"), {"email_enabled": "on"})
    assert "服务器尚未配置邮件发送" in response.content.decode()
    assert not ChannelConfig.objects.exists()


@pytest.mark.parametrize("persona", ["teacher_a", "head_a", "bureau_admin", "outsider"])
def test_only_school_admins_configure_channels(world, school, client_for, persona):
    configure(school, wecom_webhook="https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc")
    client = client_for(world.persona(persona))
    assert client.get(reverse("notification_channels")).status_code == 403
    assert client.post(reverse("notification_channel_test")).status_code == 403
    assert not ChannelConfig.objects.restrict(world.persona(persona)).exists()


def test_channel_settings_are_per_school(world, school, client_for):
    configure(school, wecom_webhook="https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=school-a-key")
    assert not ChannelConfig.objects.restrict(world.admin_b).exists()
    assert list(ChannelConfig.objects.restrict(world.admin_a)) == [ChannelConfig.objects.get(org=school)]
    page = client_for(world.admin_b).get(reverse("notification_channels")).content.decode()
    assert "school-a-key" not in page


def test_test_button_queues_a_message_and_the_job_sends_it(world, school, client_for, receiver):
    configure(school, wecom_webhook=f"{receiver.url}/send?key=k")
    response = client_for(world.admin_a).post(reverse("notification_channel_test"))
    assert response.status_code == 302
    delivery = Delivery.objects.get()
    assert delivery.purpose == DeliveryPurpose.TEST and receiver.requests == []
    run_jobs()
    assert "测试消息" in receiver.requests[0]["json"]["markdown"]["content"]
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT
    page = client_for(world.admin_a).get(reverse("notification_channels")).content.decode()
    assert "已发送" in page


def test_delivery_log_is_per_school(world, school, client_for):
    configure(school, wecom_webhook="https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k")
    notify([world.teacher_a], org=school, title="甲校告警消息", kind="alert")
    url = reverse("delivery_list")
    assert "甲校告警消息" in client_for(world.admin_a).get(url).content.decode()
    assert "甲校告警消息" in client_for(world.bureau_admin).get(url).content.decode()  # bureaus read their schools
    assert "甲校告警消息" not in client_for(world.admin_b).get(url).content.decode()
    assert client_for(world.teacher_a).get(url).status_code == 403
    filtered = client_for(world.admin_a).get(url, {"status": "sent"}).content.decode()
    assert "甲校告警消息" not in filtered


# --- Reminders --------------------------------------------------------------------------------------------------------


def _at(day: dt.date, hour: int = 12):
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))


def test_a_reminder_fires_once_at_each_offset(world, school):
    room = world.a.rooms[0]
    today = timezone.localdate()
    due = today + timedelta(days=40)
    reminder = reminders.schedule_reminder(room, key="inspection", title="教室消防检查", due=due,
                                           roles=("logistics_head",), users=(world.teacher_a,))
    assert reminder.next_fire_at == _at(due - timedelta(days=30), 8)

    def inbox(user):
        return list(Notification.objects.filter(recipient=user).order_by("pk").values_list("title", flat=True))

    assert reminders.fire_due_reminders(now=_at(today)) == 0
    assert reminders.fire_due_reminders(now=_at(due - timedelta(days=30))) == 1
    assert reminders.fire_due_reminders(now=_at(due - timedelta(days=30), 13)) == 0  # once per offset
    assert inbox(world.head_a) == inbox(world.teacher_a) == ["即将到期：教室消防检查"]
    assert reminders.fire_due_reminders(now=_at(due - timedelta(days=7))) == 1
    assert reminders.fire_due_reminders(now=_at(due - timedelta(days=1))) == 1
    assert reminders.fire_due_reminders(now=_at(due)) == 0  # due through that day
    assert reminders.fire_due_reminders(now=_at(due + timedelta(days=1))) == 1
    assert reminders.fire_due_reminders(now=_at(due + timedelta(days=5))) == 0
    titles = inbox(world.head_a)
    assert titles == ["即将到期：教室消防检查"] * 3 + ["已逾期：教室消防检查"]
    kinds = list(Notification.objects.filter(recipient=world.head_a).order_by("pk").values_list("kind", flat=True))
    assert kinds == ["reminder"] * 3 + ["overdue"]
    bodies = Notification.objects.filter(recipient=world.head_a).order_by("pk").values_list("body", flat=True)
    assert "还有 7 天" in bodies[1] and "还有 1 天" in bodies[2]
    assert Notification.objects.filter(recipient=world.teacher_b).count() == 0
    assert all(n.source == room for n in Notification.objects.all())
    reminder.refresh_from_db()
    assert reminder.next_fire_at is None and len(reminder.fired) == 4


def test_a_late_registration_sends_only_the_latest_offset(world, school):
    now = timezone.now()
    reminders.schedule_reminder(world.a.rooms[0], title="借用归还", due=now + timedelta(days=3),
                                users=(world.teacher_a,))
    assert reminders.fire_due_reminders(now=now) == 1
    [n] = Notification.objects.all()
    assert "还有 3 天" in n.body
    assert reminders.fire_due_reminders(now=now + timedelta(days=2, hours=1)) == 1  # the 1-day offset


def test_rescheduling_restarts_and_completing_stops(world, school):
    room = world.a.rooms[0]
    today = timezone.localdate()
    reminders.schedule_reminder(room, title="健康证", due=today + timedelta(days=5), users=(world.teacher_a,))
    assert reminders.fire_due_reminders(now=_at(today, 9)) == 1
    # Renewed: a new due date starts the offsets afresh (same row).
    reminder = reminders.schedule_reminder(room, title="健康证", due=today + timedelta(days=365),
                                           users=(world.teacher_a,))
    assert Reminder.objects.count() == 1 and reminder.fired == []
    assert reminders.fire_due_reminders(now=_at(today + timedelta(days=335), 9)) == 1
    assert reminders.complete_reminder(room) == 1
    assert Reminder.objects.get().state == ReminderState.DONE
    assert reminders.fire_due_reminders(now=_at(today + timedelta(days=400), 9)) == 0


def test_schedule_reminder_rejects_bad_arguments(world):
    room = world.a.rooms[0]
    with pytest.raises(ValueError):
        reminders.schedule_reminder(room, title="x", due=timezone.now(), roles=("nobody",))
    with pytest.raises(ValueError):
        reminders.schedule_reminder(room, title="x", due=timezone.now(), before=(7,))
    with pytest.raises(TypeError):
        reminders.schedule_reminder(room, title="x", due="2026-01-01")


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_two_workers_firing_reminders_send_each_offset_once(world, school):
    now = timezone.now()
    for i in range(5):
        reminders.schedule_reminder(world.a.rooms[0], key=f"k{i}", title=f"并发提醒{i}", due=now + timedelta(days=2),
                                    users=(world.teacher_a,), roles=("logistics_head",))
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []
    fired: list[int] = []

    def race():
        try:
            barrier.wait(timeout=10)
            fired.append(reminders.fire_due_reminders(now=now))
        except BaseException as exc:  # noqa: BLE001 — reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=race) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sum(fired) == 5
    assert Notification.objects.count() == 10  # 5 items × 2 recipients


def test_reminders_feed_the_robots_through_notify(world, school, receiver):
    configure(school, wecom_webhook=f"{receiver.url}/send?key=k")
    now = timezone.now()
    reminders.schedule_reminder(world.a.rooms[0], title="校车年检", due=now - timedelta(hours=1),
                                roles=("logistics_head",))
    reminders.fire_due_reminders(now=now)
    run_jobs()
    assert "已逾期：校车年检" in receiver.requests[0]["json"]["markdown"]["content"]


# --- Daily digest -----------------------------------------------------------------------------------------------------


def test_daily_digest(world, school, receiver):
    world.teacher_a.email = "teacher@example.cn"
    world.teacher_a.save()
    configure(school, wecom_webhook=f"{receiver.url}/send?key=k", email_enabled=True, kinds=[])
    notify([world.teacher_a], org=school, title="待审批：采购单", kind="todo")
    notify([world.teacher_a], org=school, title="水表读数异常", kind="alert")
    read = notify([world.head_a], org=school, title="已处理")[0]
    mark_read(world.head_a, [read.pk])
    now = timezone.now()
    reminders.schedule_reminder(world.a.rooms[0], title="灭火器年检", due=now - timedelta(days=3), users=())
    reminders.schedule_reminder(world.b.rooms[0], title="乙校逾期事项", due=now - timedelta(days=3), users=())
    assert not Delivery.objects.exists()  # kinds=[]: nothing went out as it happened

    result = engine.send_daily_digest(now=now)
    assert "个人摘要 1 份" in result["message"]
    digest = Notification.objects.get(recipient=world.teacher_a, dedupe_key__startswith="digest:")
    assert digest.title == "每日摘要：您有 2 条未读通知"
    assert "待办 1 条" in digest.body and "告警 1 条" in digest.body and "水表读数异常" in digest.body
    assert not Notification.objects.filter(recipient=world.head_a, dedupe_key__startswith="digest:").exists()
    run_jobs()
    [message] = mail.outbox
    assert message.to == ["teacher@example.cn"] and "每日通知摘要" in message.subject
    [robot] = receiver.requests
    content = robot["json"]["markdown"]["content"]
    assert "每日逾期事项汇总" in content and "灭火器年检" in content and "乙校逾期事项" not in content
    assert "共有 **1** 项已逾期" in content

    # A second run the same day sends nothing new; the digest itself is not counted in the next one. (An hour later,
    # or the day's last second when the test runs late in the evening, school time.)
    local = timezone.localtime(now)
    days_end = local.replace(hour=23, minute=59, second=59, microsecond=999_999)
    engine.send_daily_digest(now=now + min(timedelta(hours=1), days_end - local))
    run_jobs()
    assert len(mail.outbox) == 1 and len(receiver.requests) == 1
    assert Notification.objects.filter(dedupe_key__startswith="digest:").count() == 1
    engine.send_daily_digest(now=now + timedelta(days=1))
    tomorrow = Notification.objects.filter(recipient=world.teacher_a, dedupe_key__startswith="digest:").first()
    assert tomorrow.title == "每日摘要：您有 2 条未读通知"


def test_old_read_notifications_and_deliveries_are_pruned(world, school, settings):
    settings.HOUQIN_NOTIFICATION_RETENTION_DAYS = 30
    configure(school, wecom_webhook="https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k")
    old_read, old_unread, recent = (notify([world.teacher_a], org=school, title=t, kind="alert")[0]
                                    for t in ("旧已读", "旧未读", "新已读"))
    mark_read(world.teacher_a, [old_read.pk, recent.pk])
    long_ago = timezone.now() - timedelta(days=31)
    Notification.objects.filter(pk__in=[old_read.pk, old_unread.pk]).update(created_at=long_ago)
    Delivery.objects.filter(notification=old_read).update(created_at=long_ago, status=DeliveryStatus.SENT)
    Delivery.objects.filter(notification=old_unread).update(created_at=long_ago)  # still pending: kept
    assert engine.prune() == (1, 1)
    assert set(Notification.objects.values_list("title", flat=True)) == {"旧未读", "新已读"}
    assert Delivery.objects.count() == 2


def test_mark_read_for_a_source(world, school):
    room = world.a.rooms[0]
    notify([world.teacher_a, world.head_a], org=school, title="待审批", kind="todo", source=room)
    notify([world.teacher_a], org=school, title="别的事")
    assert engine.mark_read_for(room, recipients=[world.head_a]) == 1
    assert engine.mark_read_for(room) == 1
    assert unread_count(world.teacher_a) == 1 and unread_count(world.head_a) == 0


def test_periodic_jobs_are_registered():
    from houqin.core.jobs import PERIODIC

    assert PERIODIC["houqin.core.notifications.dispatch"][1].describe() == "每 1 分钟"
    assert PERIODIC["houqin.core.notifications.daily_digest"][1].describe() == "每天 07:30"


def test_dispatch_job_fires_reminders_and_retries(world, school):
    from houqin.core.jobs import JobContext, enqueue

    reminders.schedule_reminder(world.a.rooms[0], title="立即到期", due=timezone.now() - timedelta(minutes=1),
                                users=(world.teacher_a,))
    job_row = enqueue(engine.dispatch)
    result = engine.dispatch(JobContext(job_row))
    assert "发出到期提醒 1 项" in result["message"]
    assert Notification.objects.filter(recipient=world.teacher_a, kind="overdue").count() == 1


def test_delivery_channel_labels_are_chinese():
    assert DeliveryChannel.WECOM.label == "企业微信" and DeliveryChannel.DINGTALK.label == "钉钉"
    assert [k.label for k in NotificationKind] == ["信息", "提醒", "待办", "逾期", "告警"]
