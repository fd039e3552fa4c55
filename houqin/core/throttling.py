"""Sign-in throttling: failed attempts per account and per client IP address over a rolling hour.

Every place that checks a password (the login page, the API token endpoint) uses the same three calls::

    decision = check_login_allowed(username, ip)
    if not decision:                       # refused: do not even check the password
        ... answer 429 with decision.message and a Retry-After of decision.retry_after_s ...
    user = authenticate(request, username=username, password=password)
    if user is None:
        record_failure(username, ip)
    else:
        record_success(username, ip)

or simply ``authenticate_throttled(request, username, password)``, which does all of that.

Rules (see docs/security.md):

* at most ``LOGIN_FAILURES_PER_ACCOUNT_PER_HOUR`` failures per account (username, case-insensitive) and
  ``LOGIN_FAILURES_PER_IP_PER_HOUR`` per client IP address within any rolling hour; once reached, every
  attempt (even with the right password) is refused until the oldest counted failure is an hour old;
* refused attempts are not recorded (they never reach the password check), so a locked account unlocks on
  schedule instead of staying locked while someone keeps trying;
* a successful sign-in clears that account's failures from the same IP address only: a user who mistyped
  gets a clean slate, but failures that someone else caused from elsewhere still count;
* rows older than 24 hours are purged opportunistically whenever a failure is recorded.
"""

from __future__ import annotations

import datetime
import ipaddress
import math
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

WINDOW = datetime.timedelta(hours=1)
KEEP = datetime.timedelta(hours=24)
USERNAME_MAX_LENGTH = 150


@dataclass(frozen=True)
class LoginDecision:
    """Whether a sign-in attempt may go ahead. Truthy when allowed."""

    allowed: bool
    retry_after_s: int = 0
    scope: str = ""  # "account" or "ip" when refused

    def __bool__(self) -> bool:
        return self.allowed

    @property
    def retry_after_minutes(self) -> int:
        return max(1, math.ceil(self.retry_after_s / 60))

    @property
    def message(self) -> str:
        return f"登录失败次数过多，请 {self.retry_after_minutes} 分钟后再试。" if not self.allowed else ""


ALLOWED = LoginDecision(True)


def normalize_username(username: str | None) -> str:
    """The throttling key of an account: trimmed, case-folded, cut to the column length."""
    return (username or "").strip().casefold()[:USERNAME_MAX_LENGTH]


def _valid_ip(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_ip(request) -> str | None:
    """The client's IP address.

    ``REMOTE_ADDR`` unless ``settings.HOUQIN_TRUSTED_PROXY_COUNT`` (default 0) says how many reverse proxies
    of our own stand in front of the application; then the address that the outermost of them saw, which is
    the N-th entry from the right of ``X-Forwarded-For`` (entries further left are whatever the client sent
    and cannot be trusted).
    """
    remote = _valid_ip(request.META.get("REMOTE_ADDR"))
    trusted = int(getattr(settings, "HOUQIN_TRUSTED_PROXY_COUNT", 0) or 0)
    if trusted > 0:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if len(forwarded) >= trusted:
            return _valid_ip(forwarded[-trusted]) or remote
    return remote


def _retry_after(rows, limit: int, now: datetime.datetime) -> int | None:
    """Seconds until fewer than ``limit`` of these failures are inside the window, or None if already so."""
    if limit <= 0:
        return None
    since = now - WINDOW
    oldest_counted = list(
        rows.filter(attempted_at__gt=since).order_by("-attempted_at").values_list("attempted_at", flat=True)[
            limit - 1 : limit
        ]
    )
    if not oldest_counted:
        return None
    return max(1, math.ceil((oldest_counted[0] + WINDOW - now).total_seconds()))


def check_login_allowed(username: str | None, ip: str | None) -> LoginDecision:
    """May someone try to sign in as ``username`` from ``ip`` now? Call before checking the password."""
    from houqin.core.models import LoginAttempt

    now = timezone.now()
    key = normalize_username(username)
    if key:
        wait = _retry_after(LoginAttempt.objects.filter(username=key), settings.LOGIN_FAILURES_PER_ACCOUNT_PER_HOUR,
                            now)
        if wait is not None:
            return LoginDecision(False, wait, "account")
    if ip:
        wait = _retry_after(LoginAttempt.objects.filter(ip_address=ip), settings.LOGIN_FAILURES_PER_IP_PER_HOUR, now)
        if wait is not None:
            return LoginDecision(False, wait, "ip")
    return ALLOWED


def purge_old_attempts(now: datetime.datetime | None = None) -> int:
    """Delete failures older than 24 hours; returns how many."""
    from houqin.core.models import LoginAttempt

    deleted, _ = LoginAttempt.objects.filter(attempted_at__lt=(now or timezone.now()) - KEEP).delete()
    return deleted


def record_failure(username: str | None, ip: str | None) -> None:
    """Record a failed password check (call only when a password was actually checked)."""
    from houqin.core.models import LoginAttempt

    LoginAttempt.objects.create(username=normalize_username(username), ip_address=_valid_ip(ip))
    purge_old_attempts()


def record_success(username: str | None, ip: str | None) -> None:
    """A successful sign-in clears that account's failures from the same address."""
    from houqin.core.models import LoginAttempt

    key = normalize_username(username)
    if key:
        LoginAttempt.objects.filter(username=key, ip_address=_valid_ip(ip)).delete()


def authenticate_throttled(request, username: str | None, password: str | None):
    """Throttled ``authenticate``: returns ``(user or None, decision)``.

    When ``decision`` is falsy the password was not checked; answer HTTP 429 with ``decision.message`` and a
    ``Retry-After: decision.retry_after_s`` header. When ``user`` is None the credentials were wrong (the
    failure is already recorded). Inactive users are refused by the authentication backend like a wrong
    password.
    """
    from django.contrib.auth import authenticate

    ip = client_ip(request)
    decision = check_login_allowed(username, ip)
    if not decision:
        return None, decision
    user = authenticate(request, username=username, password=password)
    if user is None:
        if username and password:
            record_failure(username, ip)
    else:
        record_success(username, ip)
    return user, decision
