"""Rendered pages kept while the data behind them has not changed (docs/performance.md, "Page cache").

A list or record page costs 10–40 ms of Python to build (session, access map, a dozen ORM queries, templates).
The same user asking for the same page again gets the page built last time, as long as nothing in the database
has changed since, at the price of one small query.

What decides whether a kept page may be served again:

* **The data version** (``DataVersion``, one row). Every statement that writes (INSERT, UPDATE, DELETE, COPY)
  through any Django connection, in any process (web workers, jobs, management commands, imports), raises it
  once per transaction. The statements are seen by an execute wrapper on every connection, so ``.update()``,
  ``bulk_create`` and raw SQL count as much as ``save()``. SQLite raises it inside the writing transaction (it
  has one writer at a time, and the version then commits with the data). PostgreSQL raises it right after
  the commit, in its own statement, so concurrent writers never queue on the version row (nor deadlock on
  it). Sessions and the version row itself do not count.
* **A hard reload** (``Cache-Control: no-cache``, Ctrl+F5) builds the page afresh (and keeps the new one).
* **The key**: the user as the session names it (id and password hash: serving a kept page loads no user), the
  organisation chosen in the session, the full path with its query, the HTMX
  headers that choose a fragment, the data version with its database's random ``epoch`` (a new or restored
  database never meets another's pages) and the current minute (pages print the time to the minute, and
  "overdue" and "today" move with the clock). A kept page lives ``HOUQIN_PAGE_CACHE_SECONDS`` at most.
* **What is kept**: only 200 HTML answers to GET from views that opt in (``cached_page``, ``UIView.page_cache``),
  never a page with a message waiting to be shown, never an answer that sets cookies or says
  ``response.page_cache = False``. Permission checks need no repeating: a page is
  kept per user, and any change to roles, memberships or the record itself is a write that changes the version.

**One builder per page.** When several requests ask at once for a page that is not kept (the start of the day, a
county-wide list after a write), the first builds it and the others wait for it (a lock file beside the page's
file, ``PageFileCache.claim_build``) and serve it kept (``X-Page-Cache: waited``); a build that ends without
keeping its page, or takes longer than ``BUILD_WAIT_SECONDS``, lets them build their own.

The same version keeps, per process, what every request needs before its page: the signed-in user, the access
map, the school worked in, the unread count (``kept_value``).

The CSRF token is the one per-session value in a page: pages are built with a placeholder in its place, and each
answer, kept or fresh, gets the requesting session's token.

Edits made to the database outside the application (psql, a restored backup) are not seen by the wrapper:
``houqin restore`` clears the kept pages, and otherwise they expire within ``HOUQIN_PAGE_CACHE_SECONDS``.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import logging
import os
import pickle
import secrets
import time
import zlib
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY
from django.core.cache import caches
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.filebased import FileBasedCache
from django.db import DatabaseError, connections
from django.http import HttpResponse
from django.middleware.csrf import get_token
from django.utils.functional import lazy

from houqin.core import context

logger = logging.getLogger(__name__)

CACHE_ALIAS = "pages"
TABLE = "core_dataversion"
# Stands for the CSRF token while a page that may be kept is built; only letters and digits, so no escaping
# changes it. Replaced by the session's own token in every answer.
CSRF_PLACEHOLDER = "hqcsrfplaceholder7f3a9c21e8"
_PLACEHOLDER_BYTES = CSRF_PLACEHOLDER.encode()
HEADER = "X-Page-Cache"
_RENDERING = "_houqin_page_render"
_WRITE_VERBS = ("INSERT", "UPDATE", "DELETE", "REPLACE", "COPY", "TRUNCATE")
# Writes that change no page: sessions (the "last seen" stamp) and the version row itself.
_IGNORED_TABLES = ('"django_session"', '"core_dataversion"', "django_session", "core_dataversion")


def seconds() -> int:
    return int(getattr(settings, "HOUQIN_PAGE_CACHE_SECONDS", 0) or 0)


# --- The data version ----------------------------------------------------------------------------------------
def _writes(sql) -> bool:
    if not isinstance(sql, str):
        sql = str(sql)
    head = sql[:80].lstrip()
    if head[:8].upper().startswith(_WRITE_VERBS):
        target = head.split(None, 3)
        # INSERT INTO t / DELETE FROM t / UPDATE t / COPY t
        name = target[2] if len(target) > 2 and target[1].upper() in ("INTO", "FROM") else \
            (target[1] if len(target) > 1 else "")
        return name not in _IGNORED_TABLES
    return False


def _raise_version(connection) -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE {TABLE} SET version = version + 1 WHERE id = 1")  # noqa: S608 — constant
    except DatabaseError:  # the table does not exist yet (migrations running): there are no pages to keep
        logger.debug("data version not raised", exc_info=True)


class _Watcher:
    """The execute wrapper of one connection: raises the version once per transaction that writes.

    SQLite: at its first write, inside the transaction (one writer at a time; a rolled-back savepoint takes its
    raise with it, and the next write raises again). PostgreSQL: after its commit. Outside a transaction: after
    each statement that writes."""

    def __init__(self, connection):
        self.connection = connection
        self.after_commit = self._after_commit  # one bound method, found again in run_on_commit by identity
        self.writes = 0  # statements seen writing (tests: a page that may be kept must not write)

    def __call__(self, execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if _writes(sql):
            self.wrote()
        return result

    def wrote(self) -> None:
        self.writes += 1
        connection = self.connection
        if not connection.in_atomic_block:
            _raise_version(connection)
            return
        # In a transaction: once. The mark is a commit hook, so it goes when the transaction ends, and with a
        # rolled-back savepoint (which takes the raise made inside it along).
        if any(entry[1] is self.after_commit for entry in connection.run_on_commit):
            return
        if connection.vendor != "postgresql":
            _raise_version(connection)
        connection.on_commit(self.after_commit)

    def _after_commit(self) -> None:
        if self.connection.vendor == "postgresql":
            _raise_version(self.connection)


def watch(sender=None, connection=None, **kwargs) -> None:
    """``connection_created`` receiver: put the write watcher on the connection (once)."""
    if connection is None:
        return
    if not any(isinstance(w, _Watcher) for w in connection.execute_wrappers):
        connection.execute_wrappers.append(_Watcher(connection))


def ensure_version_row(sender=None, using: str = "default", **kwargs) -> None:
    """``post_migrate`` receiver: the version row exists (created by migration core 0006; again after a flush)."""
    from houqin.core.models import DataVersion

    DataVersion.objects.using(using).get_or_create(pk=1, defaults={"version": 0, "epoch": secrets.token_hex(8)})


def writes_seen(using: str = "default") -> int:
    """How many writing statements this process's connection has made (0 when it is not watched)."""
    connection = connections[using]
    return sum(w.writes for w in connection.execute_wrappers if isinstance(w, _Watcher))


def data_version(using: str = "default") -> str | None:
    """``epoch:version`` of the database, or None when it cannot be read (then nothing is kept)."""
    try:
        with connections[using].cursor() as cursor:
            cursor.execute(f"SELECT epoch, version FROM {TABLE} WHERE id = 1")  # noqa: S608 — constant
            row = cursor.fetchone()
    except DatabaseError:
        return None
    return _version_text(row)


def _version_text(row) -> str | None:
    """``epoch:version`` from the version row's (epoch, version), or None when there is no row."""
    return f"{row[0]}:{row[1]}" if row else None


# --- Values kept while the data holds ----------------------------------------------------------------------
# Per process: what a page's frame needs on every request (the user's access map, the school being worked in,
# the schools to switch to, the unread count), derived from rows whose every change raises the version.
_VALUES: dict[tuple, tuple[str, object]] = {}
_VALUES_MAX = 20_000


def request_version() -> str | None:
    """The data version as this web request first read it (one read per request), or None: outside a web
    request, with keeping off, or once this request has written (what it reads after may be uncommitted)."""
    ctx = context.current()
    if not _may_keep(ctx):
        return None
    if not ctx.version_read:
        ctx.data_version, ctx.version_read = data_version(), True
    return ctx.data_version


def _may_keep(ctx) -> bool:
    """A web request, with keeping on, that has not written yet (see ``request_version``)."""
    return ctx.writes_at_start is not None and seconds() > 0 and writes_seen() == ctx.writes_at_start


def version_pending(using: str = "default") -> bool:
    """Whether this web request will want the data version (``request_version``) and has not read it yet: the
    first read of the request — its session — then brings it along in the same statement (houqin.core.sessions),
    one round trip to the database fewer on every signed-in page."""
    ctx = context.current()
    return using == "default" and not ctx.version_read and _may_keep(ctx)


def version_read_along(row) -> None:
    """Record the data version read along with another row at the start of this request (see ``version_pending``):
    ``row`` is the version row's (epoch, version), or None when there is none, as ``data_version`` reads it."""
    ctx = context.current()
    if ctx.writes_at_start is not None and not ctx.version_read:
        ctx.data_version, ctx.version_read = _version_text(row), True


def keeping() -> bool:
    """Whether this request may use kept values (see ``request_version``); callers that would otherwise ask more
    than they save check it first."""
    return request_version() is not None


def kept_value(key: tuple, build):
    """``build()``, or the value it gave in this process for ``key`` at the current data version.

    Only for values that depend on database rows alone (not on the clock or the request); a kept value is shared
    by the requests of this process, so it must not be changed by whoever gets it."""
    version = request_version()
    if version is None:
        return build()
    entry = _VALUES.get(key)
    if entry is not None and entry[0] == version:
        return entry[1]
    value = build()
    if request_version() == version:  # nothing written meanwhile by this request
        if len(_VALUES) >= _VALUES_MAX:
            _VALUES.clear()
        _VALUES[key] = (version, value)
    return value


def kept_row(model, pk, related: tuple[str, ...] = ()):
    """Row ``pk`` of ``model`` (with ``related`` selected), read once per data version by this process: for the
    small tables many records point at (schools, rooms, categories, people). Each call gets its own copy."""
    row = kept_value(("row", model._meta.label_lower, pk, related),
                     lambda: model._base_manager.select_related(*related).filter(pk=pk).order_by().first())
    return copy_row(row) if row is not None else None


def copy_row(row):
    """A shallow copy of a model instance, as ``copy.copy`` makes it (its own state and cache of related rows),
    without the app registry lookup of unpickling that ``copy.copy`` goes through."""
    state = row.__getstate__()
    if "_memoryview_attrs" in state:  # a binary field: let pickling's path restore it
        return copy.copy(row)
    new = row.__class__.__new__(row.__class__)
    new.__dict__.update(state)
    return new


class PageFileCache(FileBasedCache):
    """Django's file cache (``CACHES["pages"]``), counting its files at every 50th write of a process instead of at
    every write: listing 5,000 kept pages takes about 10 ms, more than serving one. The limit may be passed by a
    few dozen files per server process until the next count culls."""

    COUNT_EVERY = 50
    # zlib's fastest level: a page is written once per build and read many times; level 1 compresses an HTML page
    # about three times faster than the default (6) into a file a few per cent larger, and reads as fast.
    COMPRESS_LEVEL = 1

    # Pages this process read or wrote are also kept in its memory, with their file's expiry: serving a page again
    # then opens no file and unpacks nothing (a tenth of serving a kept card page). Its key names its data
    # version, so a page held in memory is the page its file holds, however long it stays there; ``clear()`` empties
    # this process's memory too. At most MEMORY_PAGES pages and MEMORY_BYTES of them, the oldest going first.
    MEMORY_PAGES = 400
    MEMORY_BYTES = 16 * 1024 * 1024

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._memory: dict[str, tuple[float | None, object, int]] = {}  # file → (expiry, value, size)
        self._memory_bytes = 0
        self._writes = 0
        self._claimed: dict[str, int] = {}  # key -> the open build lock this instance created
        # Keys with nothing left to release: the lock became the page, or was another build's (keep_built).
        self._turned: set[str] = set()

    def _write_content(self, file, timeout, value):
        file.write(pickle.dumps(self.get_backend_timeout(timeout), self.pickle_protocol))
        file.write(zlib.compress(pickle.dumps(value, self.pickle_protocol), self.COMPRESS_LEVEL))

    def get(self, key, default=None, version=None):
        path = self._key_to_file(key, version)
        held = self._memory.get(path)
        if held is not None:
            if held[0] is None or time.time() < held[0]:
                return held[1]
            self._forget(path)
        try:
            with open(path, "rb") as file:
                expiry = pickle.load(file)  # noqa: S301 — this cache's own files, read as Django's file cache does
                if expiry is not None and expiry < time.time():
                    file.close()
                    self._delete(path)
                    return default
                value = pickle.loads(zlib.decompress(file.read()))  # noqa: S301 — as above
        except FileNotFoundError:
            return default
        self._remember(path, expiry, value)
        return value

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        path = self._key_to_file(key, version)
        expiry = self.get_backend_timeout(timeout)  # a moment before the file's own
        self._forget(path)
        super().set(key, value, timeout, version)
        self._remember(path, expiry, value)

    def delete(self, key, version=None):
        self._forget(self._key_to_file(key, version))
        return super().delete(key, version)

    def clear(self):
        self._memory.clear()
        self._memory_bytes = 0
        super().clear()

    def _remember(self, path: str, expiry, value) -> None:
        size = len(value[0]) if isinstance(value, tuple) and value and isinstance(value[0], bytes) else 0
        self._forget(path)
        if size > self.MEMORY_BYTES // 8:
            return
        self._memory[path] = (expiry, value, size)
        self._memory_bytes += size
        while len(self._memory) > self.MEMORY_PAGES or self._memory_bytes > self.MEMORY_BYTES:
            self._forget(next(iter(self._memory)))

    def _forget(self, path: str) -> None:
        held = self._memory.pop(path, None)
        if held is not None:
            self._memory_bytes -= held[2]

    def _cull(self):
        self._writes += 1
        if self._writes % self.COUNT_EVERY == 1:
            super()._cull()

    # --- One builder per page ---------------------------------------------------------------------------------
    # A lock file beside the page's file (``….building``, not counted or culled as a kept page), created with
    # O_EXCL: whoever creates it builds the page; the others wait for the page to appear. A lock older than
    # STALE_SECONDS was left by a build that died (a killed worker) and is taken over. The builder writes the page
    # into its lock and renames the lock to the page's file (``keep_built``): the lock goes as the page comes, and a
    # page costs one new file, not two (creating a file costs this server more than writing 50 kB into one).
    STALE_SECONDS = 60

    def _lock_path(self, key: str) -> str:
        return self._key_to_file(key).removesuffix(self.cache_suffix) + ".building"

    def claim_build(self, key: str) -> bool:
        """Whether this request builds the page of ``key`` (it then calls ``release_build``); False when another
        request is building it now."""
        path = self._lock_path(key)
        try:
            for _ in range(3):
                try:
                    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
                    previous = self._claimed.pop(key, None)
                    if previous is not None:  # this instance's own earlier lock, taken over as stale
                        os.close(previous)
                    self._claimed[key] = fd
                    self._turned.discard(key)
                    return True
                except FileExistsError:
                    try:
                        if time.time() - os.path.getmtime(path) < self.STALE_SECONDS:
                            return False
                        os.remove(path)  # a dead build's lock: take it over (O_EXCL settles a race between takers)
                    except FileNotFoundError:
                        pass  # released meanwhile: try again
                except FileNotFoundError:
                    os.makedirs(self._dir, 0o700, exist_ok=True)
        except OSError:
            logger.warning("page cache build lock failed", exc_info=True)
        return True  # no lock to be had: build without one, as before there were locks

    def keep_built(self, key: str, value, timeout) -> None:
        """Keep the page of a build this instance claimed: written into its lock, which is then renamed to the
        page's file. Without a claim of its own (or when its lock was taken over as stale meanwhile) it is an
        ordinary ``set``."""
        fd = self._claimed.pop(key, None)
        if fd is None:
            self.set(key, value, timeout)
            return
        expiry = self.get_backend_timeout(timeout)
        path = self._lock_path(key)
        try:
            with open(fd, "wb") as file:  # closes the descriptor
                self._write_content(file, timeout, value)
                file.flush()
                ours = os.fstat(file.fileno()).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            ours = False
        if not ours:  # a build that outlived STALE_SECONDS: the lock at the path is another build's now
            self._turned.add(key)  # … and not this build's to release
            self.set(key, value, timeout)
            return
        self._createdir()
        self._cull()
        page = self._key_to_file(key)
        os.replace(path, page)
        self._remember(page, expiry, value)
        self._turned.add(key)

    def release_build(self, key: str) -> None:
        if key in self._turned:
            self._turned.discard(key)
            return
        fd = self._claimed.pop(key, None)
        if fd is not None:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.remove(self._lock_path(key))

    def building(self, key: str) -> bool:
        return os.path.exists(self._lock_path(key))

    def has_page(self, key: str) -> bool:
        return os.path.exists(self._key_to_file(key))


# --- Keeping pages ---------------------------------------------------------------------------------------------
def clear() -> None:
    """Forget every kept page, and this process's kept values."""
    caches[CACHE_ALIAS].clear()
    _VALUES.clear()


def _has_messages(request) -> bool:
    try:
        return len(messages.get_messages(request)) > 0
    except Exception:  # noqa: BLE001 — no message storage on this request: nothing to show either
        return False


def _minute() -> int:
    return int(time.time() // 60)


def _who(request) -> tuple:
    """Whose page it is, as the session says: the signed-in user (id and password hash), the school worked in, the
    language. Part of the key of a kept page and of a kept part of the layout."""
    session = request.session
    return (str(session.get(SESSION_KEY)), session.get(HASH_SESSION_KEY, ""), session.get("houqin_org_id"),
            getattr(request, "LANGUAGE_CODE", ""))


def page_key(request) -> str | None:
    """The key of this request's page, or None when it may not be kept.

    The user comes from the session (the signed-in user's id and password hash), so serving a kept page loads no
    user: the page was built for a request of this user with this hash, and any change to the user since (signed
    out elsewhere, deactivated, password changed, roles changed) is a write that changed the version."""
    session = getattr(request, "session", None)
    if request.method != "GET" or session is None:
        return None
    user_id = session.get(SESSION_KEY)
    if user_id is None:
        return None
    version = request_version()
    if version is None:
        return None
    headers = request.headers
    parts = (
        settings.HOUQIN_PAGE_CACHE_RELEASE, version, _minute(), *_who(request), request.get_full_path(),
        headers.get("HX-Request", ""), headers.get("HX-Boosted", ""), headers.get("HX-History-Restore-Request", ""),
        headers.get("HX-Target", ""),
    )
    return "page:" + hashlib.blake2b(repr(parts).encode(), digest_size=20).hexdigest()


def _keepable(response) -> bool:
    # ``Cache-Control: no-store`` speaks to browsers and proxies (they must not keep a per-user page); kept here
    # the page is per user already. A view that must never be kept sets ``response.page_cache = False``.
    return (response.status_code == 200 and not response.streaming and not response.cookies
            and getattr(response, "page_cache", True)
            and response.get("Content-Type", "").startswith("text/html"))


def _with_token(request, content: bytes) -> bytes:
    if _PLACEHOLDER_BYTES in content:
        content = content.replace(_PLACEHOLDER_BYTES, get_token(request).encode())
    return content


def _wants_fresh(request) -> bool:
    """A hard reload (Ctrl+F5) asks for the page afresh: ``Cache-Control: no-cache`` (or ``Pragma: no-cache``)."""
    return "no-cache" in request.headers.get("Cache-Control", "") or \
        "no-cache" in request.headers.get("Pragma", "")


def serve(request, render):
    """The page ``render()`` builds, kept for the next identical request of this user while the data holds."""
    ttl = seconds()
    key = page_key(request) if ttl > 0 and not _has_messages(request) else None
    if key is None:
        return render()
    cache = caches[CACHE_ALIAS]
    kept = _read(cache, key)
    fresh = _wants_fresh(request)
    if kept is not None and not fresh:
        return _kept_response(request, kept, "hit")
    locking = not fresh and hasattr(cache, "claim_build")
    owner = locking and cache.claim_build(key)
    if locking and not owner:
        kept = _wait_for_page(cache, key)
        if kept is not None:
            return _kept_response(request, kept, "waited")
    try:
        return _build(request, render, cache, key, ttl, claimed=owner)
    finally:
        if owner:
            cache.release_build(key)


# How long a request waits for the page another request is building before it builds the page itself, and how
# often it looks: every millisecond at first (most pages take a few: a waiter must not answer much later than the
# builder), less often as the build proves long (a county-wide list takes seconds). A look is one stat() call.
BUILD_WAIT_SECONDS = 15.0


def _poll_interval(waited: float) -> float:
    return 0.001 if waited < 0.05 else 0.005 if waited < 0.5 else 0.02


def _wait_for_page(cache, key: str):
    """The page another request is building, once it is kept; None when that build ended without keeping one (a
    page that may not be kept) or took longer than BUILD_WAIT_SECONDS."""
    started = time.monotonic()
    while (waited := time.monotonic() - started) < BUILD_WAIT_SECONDS:
        time.sleep(_poll_interval(waited))
        building = cache.building(key)  # asked first: a build keeps its page before it releases its lock
        kept = _read(cache, key) if cache.has_page(key) else None
        if kept is not None or not building:
            return kept
    return None


def _read(cache, key: str):
    try:
        return cache.get(key)
    except Exception:  # noqa: BLE001 — an unreadable cache file is a miss, never an error page
        logger.warning("page cache read failed", exc_info=True)
        return None


def _kept_response(request, kept, how: str):
    content, headers = kept
    response = HttpResponse(_with_token(request, content))
    for name, value in headers:
        response[name] = value
    response[HEADER] = how
    return response


def _build(request, render, cache, key: str, ttl: int, claimed: bool = False):
    token_used = request.META.get("CSRF_COOKIE_NEEDS_UPDATE", False)
    setattr(request, _RENDERING, True)
    try:
        response = render()
    finally:
        setattr(request, _RENDERING, False)
    if response.streaming:
        return response
    # A page that asked for the real token (rendered without the placeholder) holds this session's token: keep
    # it and another session of the same user would post a token that is not its own.
    token_used = not token_used and request.META.get("CSRF_COOKIE_NEEDS_UPDATE", False)
    if _keepable(response) and not token_used and not _has_messages(request):
        headers = [(name, value) for name, value in response.items()
                   if name.lower() not in ("content-length", "set-cookie", "vary")]
        try:
            if claimed:
                cache.keep_built(key, (response.content, headers), ttl)
            else:
                cache.set(key, (response.content, headers), ttl)
        except Exception:  # noqa: BLE001 — a full disk or a cache error only costs the next request a render
            logger.warning("page cache write failed", exc_info=True)
        response[HEADER] = "miss"
    response.content = _with_token(request, response.content)
    return response


def cached_page(view):
    """Decorator of a function view (or a view method taking ``self, request``) whose GET pages may be kept."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        request = args[1] if len(args) > 1 and hasattr(args[1], "method") else args[0]
        return serve(request, lambda: view(*args, **kwargs))

    return wrapper


def building_to_keep(request) -> bool:
    """Whether this request is building a page to keep (its CSRF token a placeholder, kept values in use)."""
    return bool(getattr(request, _RENDERING, False)) and keeping()


def kept_part(request, name: str, vary: tuple, render):
    """A part of the layout (``{% keptpart %}``), rendered once per process for this user, school worked in and
    ``vary`` at the current data version while pages are built to be kept; otherwise ``render()``."""
    if request is None or not building_to_keep(request):
        return render()
    return kept_value(("part", name, *_who(request), *vary), render)


def csrf_token(request):
    """The CSRF token for a template rendered without the request's context processors."""
    if getattr(request, _RENDERING, False):
        return CSRF_PLACEHOLDER
    return lazy(get_token, str)(request)


def csrf_placeholder(request):
    """Context processor: the placeholder instead of the token while a page that may be kept is built."""
    return {"csrf_token": CSRF_PLACEHOLDER} if getattr(request, _RENDERING, False) else {}
