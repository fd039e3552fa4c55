"""Request id, current action context, session timeouts and the current organisation."""

from __future__ import annotations

import copy
import logging
import time
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import SESSION_KEY, logout
from django.contrib.auth.signals import user_logged_in
from django.contrib.messages.storage import default_storage
from django.dispatch import receiver
from django.http import JsonResponse
from django.utils.functional import SimpleLazyObject, empty
from django_htmx.http import HttpResponseClientRedirect

from houqin.core import context, pagecache

REQUEST_ID_HEADER = "X-Request-ID"


class RequestIdMiddleware:
    """Gives every request an id (kept in the change log and in log lines) and publishes who is acting."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.id = context.new_request_id()
        ctx = context.ActionContext(request_id=request.id, writes_at_start=pagecache.writes_seen())
        token = context.set_current(ctx)
        request._houqin_ctx = ctx
        try:
            response = self.get_response(request)
        finally:
            context.reset(token)
        response[REQUEST_ID_HEADER] = request.id
        return response


class RequestIdLogFilter(logging.Filter):
    def filter(self, record):
        record.request_id = context.current().request_id or "-"
        return True


SESSION_LOGIN_AT = "houqin_login_at"
SESSION_SEEN_AT = "houqin_seen_at"
SEEN_AT_RESOLUTION_S = 60
IDLE_MESSAGE = "长时间未操作，已自动退出，请重新登录。"
API_PREFIX = "/api/"
# Sent by polling elements (hx-headers) so that their requests do not count as activity.
BACKGROUND_HEADER = "X-Houqin-Background"


def _absolute_timeout_message() -> str:
    hours = settings.SESSION_ABSOLUTE_TIMEOUT_S / 3600
    span = f"{hours:g} 小时" if hours >= 1 else f"{max(1, round(settings.SESSION_ABSOLUTE_TIMEOUT_S / 60))} 分钟"
    return f"登录已超过 {span}，为了安全请重新登录。"


def _page_path(url: str | None) -> str:
    """Path and query of a browser-supplied URL (the host is dropped, so it can only point at this site)."""
    parts = urlsplit(url or "")
    path = parts.path if parts.path.startswith("/") and not parts.path.startswith("//") else "/"
    return path + (f"?{parts.query}" if parts.query else "")


@receiver(user_logged_in, dispatch_uid="houqin_session_login_at")
def _stamp_session_at_login(sender, request, user, **kwargs):
    """Start both session clocks at sign-in (the session key was just cycled by ``login()``)."""
    session = getattr(request, "session", None)
    if session is not None:
        now = int(time.time())
        session[SESSION_LOGIN_AT] = now
        session[SESSION_SEEN_AT] = now


class SessionTimeoutMiddleware:
    """Ends a session after ``SESSION_IDLE_TIMEOUT_S`` without a request, or ``SESSION_ABSOLUTE_TIMEOUT_S``
    after sign-in, whichever comes first.

    Both clocks are set at sign-in (``user_logged_in``). An expired session is flushed; a page request is
    redirected to the sign-in page with a message, an HTMX request gets ``HX-Redirect`` (so the browser loads
    the sign-in page instead of swapping it into a fragment), and an API request a 401 JSON error.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        session = getattr(request, "session", None)
        # Signed in as far as the session says (the user is loaded only if the page needs it; a session whose
        # user is no longer valid is ended when the user is loaded).
        if session is not None and session.get(SESSION_KEY) is not None:
            now = int(time.time())
            started = session.get(SESSION_LOGIN_AT)
            last = session.get(SESSION_SEEN_AT)
            if started is None:  # a session from before these clocks existed: start them now
                session[SESSION_LOGIN_AT] = started = now
            if last is None:
                last = now
            idle = now - last > settings.SESSION_IDLE_TIMEOUT_S
            expired = now - started > settings.SESSION_ABSOLUTE_TIMEOUT_S
            if idle or expired:
                return self._expired(request, IDLE_MESSAGE if idle else _absolute_timeout_message())
            # Background refreshes (badges polling on an open page) are not the user at work: they must not
            # keep an unattended session alive. Write the session at most once a minute otherwise.
            background = request.headers.get(BACKGROUND_HEADER) == "1"
            if not background and (now - last >= SEEN_AT_RESOLUTION_S or SESSION_SEEN_AT not in session):
                session[SESSION_SEEN_AT] = now
        return self.get_response(request)

    def _expired(self, request, message: str):
        from django.contrib.auth.views import redirect_to_login  # needs the app registry (this module does not)

        logout(request)
        if request.path.startswith(API_PREFIX):
            return JsonResponse({"error": {"code": "session_expired", "message": "登录已过期，请重新登录。"}},
                                status=401)
        if request.headers.get("HX-Request") == "true":
            # Come back to the page the user was looking at, not to the fragment URL that HTMX asked for.
            response = HttpResponseClientRedirect(redirect_to_login(_page_path(request.headers.get("HX-Current-URL")))
                                                  .url)
        elif request.method in ("GET", "HEAD"):
            response = redirect_to_login(request.get_full_path())
        else:
            # After a form POST come back to the page the form was on (the POST URL itself may not answer GET).
            response = redirect_to_login(_page_path(request.headers.get("Referer")))
        # This middleware may run before MessageMiddleware; then store the message on the response ourselves.
        storage = getattr(request, "_messages", None)
        own_storage = storage is None
        if own_storage:
            storage = request._messages = default_storage(request)
        storage.add(messages.INFO, message)
        if own_storage:
            storage.update(response)
        return response


def _current_org(request):
    user = request.user
    if not user.is_authenticated:
        return None
    org = pagecache.kept_value(("org", user.pk, request.session.get("houqin_org_id")), lambda: _find_org(request))
    return copy.copy(org) if org is not None else None  # the kept instance is shared: each request its own


def _find_org(request):
    from houqin.core.auth import access_for
    from houqin.core.models import Organization

    user = request.user
    access = access_for(user)
    candidates = access.member_org_ids
    wanted = request.session.get("houqin_org_id") or user.default_org_id
    if user.is_superuser and wanted:
        return Organization.objects.filter(pk=wanted).first()
    if wanted in candidates:
        return Organization.objects.filter(pk=wanted).first()
    if candidates:
        return Organization.objects.filter(pk__in=candidates).order_by("kind", "pk").first()
    if user.is_superuser:
        return Organization.objects.schools().order_by("pk").first()
    return None


def current_org(request):
    """``request.org`` unwrapped: the Organization, or None (the lazy wrapper itself is never ``None``).

    It stays lazy so that API requests authenticated by token (after the middleware ran) still resolve it."""
    org = getattr(request, "org", None)
    if isinstance(org, SimpleLazyObject):
        if org._wrapped is empty:
            org._setup()
        org = org._wrapped
    return org


class CurrentOrgMiddleware:
    """``request.org``: the organisation the user is working in now (new records are created there)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.org = SimpleLazyObject(lambda: _current_org(request))
        ctx = getattr(request, "_houqin_ctx", None)
        if ctx is not None:
            ctx.user = request.user
        return self.get_response(request)
