"""One builder per page (houqin.core.pagecache): requests asking at once for a page that is not kept wait for the
one building it and serve its page; a build that keeps nothing, a dead build's lock and a build that takes too
long never leave a request without its page."""

from __future__ import annotations

import os
import threading
import time

import pytest
from django.core.cache import caches
from django.http import HttpResponse
from django.test import RequestFactory

from houqin.core import pagecache

KEY = "page:build-lock-test"


@pytest.fixture
def pages(settings, monkeypatch):
    """Kept pages on, every request of these tests asking for the same page."""
    settings.HOUQIN_PAGE_CACHE_SECONDS = 120
    monkeypatch.setattr(pagecache, "page_key", lambda request: KEY)
    cache = caches[pagecache.CACHE_ALIAS]
    cache.clear()
    cache.release_build(KEY)
    yield cache
    cache.clear()
    cache.release_build(KEY)


class SlowPage:
    """A view that takes ``seconds`` to build and counts its builds."""

    def __init__(self, seconds: float = 0.4, keep: bool = True):
        self.seconds, self.keep, self.builds = seconds, keep, 0
        self.lock = threading.Lock()

    def __call__(self):
        with self.lock:
            self.builds += 1
            n = self.builds
        time.sleep(self.seconds)
        response = HttpResponse(f"<p>第 {n} 次生成</p>", content_type="text/html; charset=utf-8")
        if not self.keep:
            response.page_cache = False
        return response


def _at_once(view, n: int = 4, stagger: float = 0.05) -> list:
    """``n`` requests for the page, each started ``stagger`` seconds after the one before."""
    answers = [None] * n

    def ask(i):
        answers[i] = pagecache.serve(RequestFactory().get("/rooms/"), view)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
        time.sleep(stagger)
    for thread in threads:
        thread.join(30)
    return answers


def test_requests_at_once_build_the_page_once_and_all_get_it(pages):
    view = SlowPage()
    answers = _at_once(view)
    assert view.builds == 1
    assert {a.content.decode() for a in answers} == {"<p>第 1 次生成</p>"}
    assert sorted(a[pagecache.HEADER] for a in answers) == ["miss", "waited", "waited", "waited"]
    assert not pages.building(KEY)  # the lock is gone with the build
    again = pagecache.serve(RequestFactory().get("/rooms/"), view)
    assert again[pagecache.HEADER] == "hit" and view.builds == 1


def test_a_build_that_keeps_nothing_lets_the_waiting_requests_build_their_own(pages):
    view = SlowPage(keep=False)
    started = time.monotonic()
    answers = _at_once(view, n=3)
    assert time.monotonic() - started < 5  # they stopped waiting when the build ended, not after BUILD_WAIT_SECONDS
    assert all(a.status_code == 200 for a in answers)
    assert view.builds >= 2  # the first kept nothing: the others did not wait for nothing
    assert not pages.building(KEY)


def test_a_dead_builds_lock_is_taken_over(pages):
    path = pages._lock_path(KEY)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, "w").close()
    an_hour_ago = time.time() - 3600
    os.utime(path, (an_hour_ago, an_hour_ago))
    view = SlowPage(seconds=0)
    started = time.monotonic()
    answer = pagecache.serve(RequestFactory().get("/rooms/"), view)
    assert answer[pagecache.HEADER] == "miss" and view.builds == 1
    assert time.monotonic() - started < 1  # built at once, no waiting
    assert not pages.building(KEY)


def test_waiting_is_bounded(pages, monkeypatch):
    monkeypatch.setattr(pagecache, "BUILD_WAIT_SECONDS", 0.3)
    assert pages.claim_build(KEY)  # a build that is under way and never finishes
    view = SlowPage(seconds=0)
    started = time.monotonic()
    answer = pagecache.serve(RequestFactory().get("/rooms/"), view)
    waited = time.monotonic() - started
    assert answer.status_code == 200 and view.builds == 1
    assert 0.3 <= waited < 5
    assert pages.building(KEY)  # the other build's lock is its own to release


def test_a_hard_reload_neither_waits_nor_locks(pages):
    assert pages.claim_build(KEY)
    view = SlowPage(seconds=0)
    answer = pagecache.serve(RequestFactory().get("/rooms/", headers={"Cache-Control": "no-cache"}), view)
    assert answer.status_code == 200 and view.builds == 1


def test_the_builders_lock_becomes_its_page(pages):
    """The builder writes the page into its lock and renames it: the page is kept, no lock is left behind, and one
    file is all the build made."""
    view = SlowPage(seconds=0)
    first = pagecache.serve(RequestFactory().get("/rooms/"), view)
    assert first[pagecache.HEADER] == "miss"
    assert not pages.building(KEY) and pages.has_page(KEY)
    assert sorted(os.listdir(pages._dir)) == [os.path.basename(pages._key_to_file(KEY))]
    again = pagecache.serve(RequestFactory().get("/rooms/"), view)
    assert again[pagecache.HEADER] == "hit" and again.content == first.content and view.builds == 1


def test_a_build_that_outlived_its_lock_keeps_its_page_and_leaves_the_new_lock_alone(pages):
    """A build slower than STALE_SECONDS had its lock taken over by another build: it keeps its page the ordinary
    way and neither renames nor removes the other build's lock."""
    assert pages.claim_build(KEY)
    path = pages._lock_path(KEY)
    os.remove(path)  # taken over: the stale lock removed, the other build's own created
    with open(path, "w") as other:
        other.write("另一次生成的锁")
    pages.keep_built(KEY, (b"<p>page</p>", []), 60)
    pages.release_build(KEY)
    assert pages.get(KEY) == (b"<p>page</p>", [])
    assert pages.building(KEY)
    with open(path) as other:
        assert other.read() == "另一次生成的锁"
