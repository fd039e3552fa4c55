"""Request id, current action context, session timeouts and the current organisation."""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.shortcuts import redirect
from django.utils.functional import SimpleLazyObject

from houqin.core import context

REQUEST_ID_HEADER = "X-Request-ID"


class RequestIdMiddleware:
    """Gives every request an id (kept in the change log and in log lines) and publishes who is acting."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.id = context.new_request_id()
        ctx = context.ActionContext(request_id=request.id)
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


class SessionTimeoutMiddleware:
    """Ends a session after ``SESSION_IDLE_TIMEOUT_S`` without a request, or ``SESSION_ABSOLUTE_TIMEOUT_S``
    after sign-in, whichever comes first."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and hasattr(request, "session"):
            now = int(time.time())
            started = request.session.get("houqin_login_at")
            last = request.session.get("houqin_seen_at", now)
            if started is None:
                request.session["houqin_login_at"] = started = now
            idle = now - last > settings.SESSION_IDLE_TIMEOUT_S
            expired = now - started > settings.SESSION_ABSOLUTE_TIMEOUT_S
            if idle or expired:
                logout(request)
                if request.path.startswith("/api/"):
                    from django.http import JsonResponse

                    return JsonResponse({"error": {"code": "session_expired", "message": "登录已过期，请重新登录。"}},
                                        status=401)
                messages.info(request, "长时间未操作，已自动退出，请重新登录。" if idle else "登录已超过 12 小时，请重新登录。")
                return redirect(f"{settings.LOGIN_URL and '/login/'}?next={request.get_full_path()}")
            # Write the session at most once a minute so that every page view is not a database write.
            if now - last >= 60 or "houqin_seen_at" not in request.session:
                request.session["houqin_seen_at"] = now
        return self.get_response(request)


def _current_org(request):
    from houqin.core.auth import access_for
    from houqin.core.models import Organization

    user = request.user
    if not user.is_authenticated:
        return None
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
