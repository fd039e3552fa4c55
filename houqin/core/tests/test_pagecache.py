"""Kept pages (houqin.core.pagecache): served again only to the same user, while nothing was written, with the
requesting session's CSRF token; every way of writing (save, update, bulk, raw SQL, another transaction) makes
the next request build the page afresh.

The tests of writing commit (``transaction=True``): PostgreSQL raises the data version after a commit."""

from __future__ import annotations

import pytest
from django.contrib.messages import constants
from django.contrib.messages.storage.fallback import FallbackStorage
from django.contrib.sessions.backends.db import SessionStore
from django.db import connection, transaction
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.urls import reverse

from houqin.core import pagecache
from houqin.core.models import DataVersion, Membership, Room
from houqin.core.testing import factories as f
from houqin.core.testing.pages import TOKEN, keep_pages, without_tokens

# The tests that need PostgreSQL's commit hook to have run commit (``committed``); the others stay inside the
# test's transaction (faster: no table flush after them).
committed = pytest.mark.django_db(transaction=True)
pytestmark = pytest.mark.django_db

@pytest.fixture(autouse=True)
def pages_on(settings, monkeypatch):
    keep_pages(settings, monkeypatch)


def _client(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def _get(client, url, **headers):
    response = client.get(url, headers=headers)
    assert response.status_code == 200, (url, response.status_code)
    return response


def _tokens(response) -> set[str]:
    return {m.group(2) for m in TOKEN.finditer(response.content.decode())}


def _rooms_url() -> str:
    return reverse("core:room_list")


def test_the_same_page_is_served_again_without_building_it(world):
    client = _client(world.admin_a)
    first = _get(client, _rooms_url())
    assert first[pagecache.HEADER] == "miss"
    again = _get(client, _rooms_url())
    assert again[pagecache.HEADER] == "hit"
    assert without_tokens(again) == without_tokens(first)
    assert pagecache.CSRF_PLACEHOLDER not in again.content.decode()


@committed
def test_a_saved_change_shows_at_once(world):
    client = _client(world.admin_a)
    _get(client, _rooms_url())
    f.make_room(floor=world.a.floor, number="909", name="新建的美术室")
    response = _get(client, _rooms_url())
    assert response[pagecache.HEADER] == "miss"
    assert "新建的美术室" in response.content.decode()


@committed
@pytest.mark.parametrize("how", ["update", "bulk_create", "delete", "raw sql", "atomic block"])
def test_every_way_of_writing_raises_the_version(world, how):
    before = pagecache.data_version()
    room = world.a.rooms[0]
    if how == "update":
        Room.objects.filter(pk=room.pk).update(name="改名的教室")
    elif how == "bulk_create":
        Room.objects.bulk_create([Room(org=room.org, campus=room.campus, building=room.building, floor=room.floor,
                                       number="808", name="批量教室")])
    elif how == "delete":
        Room.objects.filter(pk=world.a.rooms[1].pk).delete()
    elif how == "raw sql":
        with connection.cursor() as cursor:
            cursor.execute(f"update {Room._meta.db_table} set name = %s where id = %s", ["手写语句", room.pk])
    else:
        with transaction.atomic():
            Room.objects.filter(pk=room.pk).update(name="事务里改名")
            with transaction.atomic():
                Room.objects.filter(pk=room.pk).update(name="保存点里改名")
    assert pagecache.data_version() != before


@committed
def test_a_rolled_back_savepoint_does_not_lose_the_raise(world):
    room = world.a.rooms[0]
    before = pagecache.data_version()
    with transaction.atomic():
        try:
            with transaction.atomic():
                Room.objects.filter(pk=room.pk).update(name="撤销的改名")
                raise RuntimeError("roll the savepoint back")
        except RuntimeError:
            pass
        Room.objects.filter(pk=room.pk).update(name="留下的改名")
    assert pagecache.data_version() != before


def test_reading_pages_writes_nothing(world):
    client = _client(world.admin_a)
    before = pagecache.data_version()
    for url in (_rooms_url(), reverse("core:room_detail", args=[world.a.rooms[0].pk])):
        _get(client, url)
        _get(client, url)
    assert pagecache.data_version() == before


def test_pages_are_kept_per_user(world):
    detail = reverse("core:room_detail", args=[world.a.rooms[0].pk])
    own, other_school = _client(world.admin_a), _client(world.admin_b)  # signing in writes (last_login)
    _get(own, detail)
    assert other_school.get(detail).status_code == 404
    assert _get(own, detail)[pagecache.HEADER] == "hit"


@committed
@pytest.mark.parametrize("headers", [{}, {"Cache-Control": "no-cache"}], ids=["kept page", "fresh build"])
def test_a_user_who_loses_the_role_no_longer_gets_the_kept_page(world, headers):
    """Neither the kept page nor a fresh build from the kept access map (houqin.core.tests.test_kept_values)."""
    detail = reverse("core:room_detail", args=[world.a.rooms[0].pk])
    client = _client(world.admin_a)
    _get(client, detail, **headers)
    Membership.objects.filter(user=world.admin_a).delete()
    assert client.get(detail, headers=headers).status_code in (403, 404)


def test_a_kept_page_carries_the_token_of_the_session_that_asks(world):
    url = _rooms_url()
    first, second = _client(world.admin_a), _client(world.admin_a)
    _get(first, url)
    page = _get(second, url)
    assert page[pagecache.HEADER] == "hit"
    tokens = _tokens(page)
    assert tokens and pagecache.CSRF_PLACEHOLDER not in tokens
    # The token works for the second session: signing out is a POST checked for CSRF.
    response = second.post(reverse("logout"), {"csrfmiddlewaretoken": tokens.pop()})
    assert response.status_code == 302


def test_a_fragment_and_the_whole_page_are_kept_apart(world):
    client = _client(world.admin_a)
    whole = _get(client, _rooms_url())
    fragment = _get(client, _rooms_url(), **{"HX-Request": "true"})
    assert fragment[pagecache.HEADER] == "miss"
    assert len(fragment.content) < len(whole.content)
    assert _get(client, _rooms_url())[pagecache.HEADER] == "hit"


def test_the_next_minute_builds_the_page_again(world, monkeypatch):
    client = _client(world.admin_a)
    _get(client, _rooms_url())
    monkeypatch.setattr(pagecache, "_minute", lambda: 1001)
    assert _get(client, _rooms_url())[pagecache.HEADER] == "miss"


def test_a_hard_reload_builds_the_page_again(world):
    client = _client(world.admin_a)
    _get(client, _rooms_url())
    assert _get(client, _rooms_url(), **{"Cache-Control": "no-cache"})[pagecache.HEADER] == "miss"
    assert _get(client, _rooms_url(), **{"Pragma": "no-cache"})[pagecache.HEADER] == "miss"
    assert _get(client, _rooms_url(), **{"Cache-Control": "max-age=0"})[pagecache.HEADER] == "hit"


def test_off_when_seconds_is_zero(world, settings):
    settings.HOUQIN_PAGE_CACHE_SECONDS = 0
    client = _client(world.admin_a)
    _get(client, _rooms_url())
    assert pagecache.HEADER not in _get(client, _rooms_url())


def test_without_the_version_row_nothing_is_kept(world):
    DataVersion.objects.all().delete()
    client = _client(world.admin_a)
    _get(client, _rooms_url())
    assert pagecache.HEADER not in _get(client, _rooms_url())


def test_a_page_with_a_message_waiting_is_neither_served_nor_kept(world):
    factory = RequestFactory()
    calls = []

    def render():
        calls.append(1)
        return HttpResponse("<p>页面</p>")

    def request_with(message: str | None):
        request = factory.get("/places/rooms/")
        request.user = world.admin_a
        request.session = SessionStore()
        request._messages = FallbackStorage(request)
        if message:
            request._messages.add(constants.SUCCESS, message)
        return request

    pagecache.serve(request_with("已保存。"), render)
    pagecache.serve(request_with(None), render)
    assert len(calls) == 2  # the first was not kept
    pagecache.serve(request_with("已删除。"), render)
    assert len(calls) == 3  # a kept page is not served over a waiting message


def test_a_page_built_with_the_real_token_is_not_kept(world):
    from django.middleware.csrf import get_token

    factory = RequestFactory()

    def render_with_real_token(request):
        return HttpResponse(f'<input name="csrfmiddlewaretoken" value="{get_token(request)}">')

    for _ in range(2):
        request = factory.get("/places/rooms/")
        request.user = world.admin_a
        request.session = SessionStore()
        response = pagecache.serve(request, lambda request=request: render_with_real_token(request))
        assert pagecache.HEADER not in response


def test_the_watcher_counts_statements_that_write():
    assert pagecache._writes('INSERT INTO "core_room" ("name") VALUES (%s)')
    assert pagecache._writes('UPDATE "core_room" SET "name" = %s')
    assert pagecache._writes("delete from core_room where id = 1")
    assert pagecache._writes('COPY "assets_asset" ("number") FROM STDIN')
    assert pagecache._writes('TRUNCATE "core_room" RESTART IDENTITY CASCADE;')
    assert pagecache._writes('INSERT OR IGNORE INTO "core_room" ("name") VALUES (%s)')
    assert not pagecache._writes('SELECT "core_room"."id" FROM "core_room"')
    assert not pagecache._writes('UPDATE "django_session" SET "session_data" = %s')
    assert not pagecache._writes('INSERT INTO "django_session" ("session_key") VALUES (%s)')
    assert not pagecache._writes("UPDATE core_dataversion SET version = version + 1 WHERE id = 1")


def test_a_process_holds_its_pages_in_memory_as_long_as_their_files(tmp_path, monkeypatch):
    """Pages read or kept by a process are held in its memory too: served again with no file opened, never past
    their files' expiry, forgotten on ``clear()``, and at most ``MEMORY_PAGES`` of them."""
    import time

    cache = pagecache.PageFileCache(str(tmp_path), {})
    page = (b"<html>kept</html>", [("Content-Type", "text/html")])
    cache.set("page:a", page, 60)
    other = pagecache.PageFileCache(str(tmp_path), {})  # another process: reads the file once, then holds it
    assert other.get("page:a") == page
    opened = []
    monkeypatch.setattr("builtins.open", lambda *a, **k: opened.append(a) or pytest.fail("a file was opened"))
    assert cache.get("page:a") == page and other.get("page:a") == page and not opened
    monkeypatch.undo()

    cache.set("page:b", page, 60)
    now = time.time()
    monkeypatch.setattr(pagecache.time, "time", lambda: now + 61)  # both the memory and the file have expired
    assert cache.get("page:b") is None and other.get("page:a") is None
    monkeypatch.undo()

    cache.set("page:c", page, 60)
    cache.clear()
    assert cache.get("page:c") is None

    monkeypatch.setattr(pagecache.PageFileCache, "MEMORY_PAGES", 3)
    for n in range(5):
        cache.set(f"page:{n}", page, 60)
    assert len(cache._memory) == 3


def test_the_page_files_stay_bounded(tmp_path):
    """The file cache counts its files every ``COUNT_EVERY`` writes: it never holds many more than its limit."""
    every = pagecache.PageFileCache.COUNT_EVERY
    cache = pagecache.PageFileCache(str(tmp_path), {"OPTIONS": {"MAX_ENTRIES": 4 * every, "CULL_FREQUENCY": 4}})
    for i in range(12 * every):
        cache.set(f"page:{i}", (b"<html></html>", []), 60)
    assert 0 < len(list(tmp_path.glob("*.djcache"))) <= 5 * every
