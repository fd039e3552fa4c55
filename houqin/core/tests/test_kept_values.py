"""What each request needs before its page (the session, the user, the access map, the school worked in, the unread
count) is read once per data version (houqin.core.pagecache.kept_value, houqin.core.sessions), and a kept page is
served without loading the user at all. None of it may outlive a change: a write anywhere reads them again.

The tests of writing commit (``transaction=True``): PostgreSQL raises the data version after a commit."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from houqin.core import pagecache
from houqin.core.models import Room
from houqin.core.notifications import notify
from houqin.core.sessions import SessionStore
from houqin.core.testing.pages import keep_pages

committed = pytest.mark.django_db(transaction=True)
pytestmark = pytest.mark.django_db
BELL = re.compile(r'data-testid="unread-count">(\d+)<')


@pytest.fixture(autouse=True)
def pages_on(settings, monkeypatch):
    keep_pages(settings, monkeypatch)


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _rooms_url() -> str:
    return reverse("core:room_list")


def _tables(queries) -> list[str]:
    return [q["sql"] for q in queries]


def _fresh(client, url):
    """The page built afresh (a hard reload), with the statements it ran."""
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, headers={"Cache-Control": "no-cache"})
    assert response.status_code == 200
    return response, _tables(ctx.captured_queries)


# --- Sessions --------------------------------------------------------------------------------------------------
def test_a_session_is_read_back_and_an_expired_one_is_not():
    session = SessionStore()
    session["note"] = "值"
    session.create()
    key = session.session_key
    assert SessionStore(key)["note"] == "值"
    Session.objects.filter(session_key=key).update(expire_date=timezone.now() - timedelta(seconds=1))
    expired = SessionStore(key)
    assert expired.get("note") is None
    assert expired.session_key is None  # a new session is made on the next save, as with Django's own store
    assert SessionStore("nosuchsessionkey00000000000000").get("note") is None


# --- A kept page loads no user -----------------------------------------------------------------------------------
def test_a_kept_page_is_served_from_the_session_and_the_version_alone(world):
    client = _client(world.admin_a)
    assert client.get(_rooms_url())[pagecache.HEADER] == "miss"
    with CaptureQueriesContext(connection) as ctx:
        again = client.get(_rooms_url())
    assert again[pagecache.HEADER] == "hit"
    statements = _tables(ctx.captured_queries)
    assert not any("core_user" in sql or "core_membership" in sql for sql in statements), statements
    assert len(statements) == 1, statements  # the session and the data version, read together
    assert "django_session" in statements[0] and pagecache.TABLE in statements[0]


def test_an_unknown_session_still_brings_the_version_along(world):
    """The version is read with the session even when there is no such session (signed out, expired): the sign-in
    page is answered and the next signed-in request reads its own."""
    client = Client()
    client.cookies["sessionid"] = "nosuchsessionkey00000000000000"
    response = client.get(_rooms_url())
    assert response.status_code == 302 and "/login" in response["Location"]
    signed_in = _client(world.admin_a)
    assert signed_in.get(_rooms_url()).status_code == 200


@committed
def test_a_session_whose_password_changed_elsewhere_gets_no_kept_page(world):
    user = world.admin_a
    old = _client(user)
    assert old.get(_rooms_url()).status_code == 200
    user.set_password("Another@2026pw")
    user.save()
    new = _client(user)  # signed in with the new password: builds and keeps the page for its own session
    assert new.get(_rooms_url())[pagecache.HEADER] == "miss"
    response = old.get(_rooms_url())
    assert response.status_code == 302 and reverse("login") in response["Location"]


@committed
def test_a_deactivated_user_is_signed_out_at_the_next_request(world):
    client = _client(world.admin_a)
    assert client.get(_rooms_url()).status_code == 200
    world.admin_a.is_active = False
    world.admin_a.save(update_fields=["is_active"])
    response = client.get(_rooms_url())
    assert response.status_code == 302 and reverse("login") in response["Location"]


# --- Values kept while the data holds -----------------------------------------------------------------------------
def test_a_second_build_reads_no_user_access_or_school_again(world):
    client = _client(world.admin_a)
    _, first = _fresh(client, _rooms_url())
    assert any("core_membership" in sql for sql in first)
    _, second = _fresh(client, _rooms_url())
    again = [sql for sql in second if "core_membership" in sql or 'FROM "core_user" WHERE' in sql]
    assert not again, again
    assert len(second) < len(first)


@committed
def test_after_any_write_the_access_map_is_read_again(world):
    client = _client(world.admin_a)
    _fresh(client, _rooms_url())
    _fresh(client, _rooms_url())
    Room.objects.filter(pk=world.a.rooms[0].pk).update(name="改名的教室")
    _, after = _fresh(client, _rooms_url())
    assert any("core_membership" in sql for sql in after)


@committed
def test_a_new_notification_shows_in_the_bell_at_once(world):
    client = _client(world.admin_a)
    before = client.get(_rooms_url()).content.decode()
    assert BELL.search(before) is None
    notify([world.admin_a], org=world.a.org, title="新的提醒")
    after = client.get(_rooms_url()).content.decode()
    assert BELL.search(after).group(1) == "1"


def test_outside_a_web_request_nothing_is_kept(world):
    calls = []
    for _ in range(2):
        pagecache.kept_value(("probe",), lambda: calls.append(1) or len(calls))
    assert len(calls) == 2


def test_off_with_the_page_cache(world, settings):
    settings.HOUQIN_PAGE_CACHE_SECONDS = 0
    client = _client(world.admin_a)
    _, first = _fresh(client, _rooms_url())
    _, second = _fresh(client, _rooms_url())
    assert any("core_membership" in sql for sql in first)
    assert any("core_membership" in sql for sql in second)
