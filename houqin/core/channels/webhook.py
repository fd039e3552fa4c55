"""Posting JSON to a group robot: a 5-second timeout, no redirects, and the robot's own error codes."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

from houqin.core.channels import DeliveryError, SendResult, validate_webhook_url

MAX_RESPONSE_BYTES = 64 * 1024


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A robot answers directly; a redirect is an error (and must not turn the POST into a GET elsewhere)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def timeout() -> float:
    return float(getattr(settings, "HOUQIN_NOTIFY_WEBHOOK_TIMEOUT", 5))


def mask(text: str, *secrets: str) -> str:
    """``text`` with every secret (webhook addresses, keys) replaced, for the delivery log."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def checked_url(url: str, channel: str) -> str:
    """The saved webhook address, checked again at send time (the allowed hosts may have changed since)."""
    try:
        return validate_webhook_url(url, channel)
    except ValidationError as exc:
        raise DeliveryError(f"机器人地址无效：{'；'.join(exc.messages)}") from None


def post_json(url: str, payload: dict, *, secrets: tuple[str, ...] = ()) -> SendResult:
    """POST ``payload`` to ``url`` (already checked with ``checked_url``). Raises ``DeliveryError`` for a network
    error, a non-2xx status or a reply whose ``errcode`` is not 0 (WeCom and DingTalk answer HTTP 200 with an
    error code for a bad key, a missing keyword, a wrong signature or too many messages)."""
    hidden = (url, urlsplit(url).query, *secrets)
    request = urllib.request.Request(  # noqa: S310 — the scheme is checked by validate_webhook_url
        url,
        data=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
        headers={"Content-Type": "application/json; charset=utf-8", "User-Agent": "houqin-notify/1"},
        method="POST",
    )
    try:
        with _opener.open(request, timeout=timeout()) as response:
            status = response.status
            raw = response.read(MAX_RESPONSE_BYTES)
    except urllib.error.HTTPError as exc:
        detail = _errmsg(exc.read(MAX_RESPONSE_BYTES) if exc.fp else b"")
        exc.close()
        message = f"服务器返回 HTTP {exc.code}" + (f"：{detail}" if detail else "")
        raise DeliveryError(mask(message, *hidden), exc.code) from None
    except TimeoutError:
        raise DeliveryError(f"请求超时（{timeout():g} 秒内无响应）") from None
    except urllib.error.URLError as exc:
        raise DeliveryError(mask(f"无法连接机器人服务：{exc.reason}", *hidden)) from None
    except OSError as exc:
        raise DeliveryError(mask(f"无法连接机器人服务：{exc}", *hidden)) from None
    if not 200 <= status < 300:
        raise DeliveryError(f"服务器返回 HTTP {status}", status)
    try:
        body = json.loads(raw.decode("utf-8")) if raw else {}
    except (UnicodeDecodeError, json.JSONDecodeError):
        body = {}
    if isinstance(body, dict) and "errcode" in body and body.get("errcode") not in (0, "0"):
        message = f"机器人返回错误 errcode={body.get('errcode')}：{body.get('errmsg', '')}".rstrip("：")
        raise DeliveryError(mask(message, *hidden), status)
    return SendResult(response_code=status)


def _errmsg(raw: bytes) -> str:
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return ""
    return str(body.get("errmsg", ""))[:200] if isinstance(body, dict) else ""


def truncate_utf8(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes (the robots count bytes, not characters)."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[: limit - len("…".encode())].decode("utf-8", errors="ignore") + "…"
