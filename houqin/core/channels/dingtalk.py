"""DingTalk (钉钉) group robot: ``{"msgtype": "markdown", "markdown": {"title": ..., "text": ...}}``, signed with
HMAC-SHA256 over ``"<timestamp>\\n<secret>"`` when the robot uses 加签."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from urllib.parse import quote_plus

from houqin.core.channels import DeliveryError, SendResult
from houqin.core.channels.webhook import checked_url, post_json, truncate_utf8

MAX_TEXT_BYTES = 18000


def signature(secret: str, timestamp_ms: int) -> str:
    """The base64 HMAC-SHA256 of ``"<timestamp>\\n<secret>"`` keyed with the secret (not yet URL-encoded)."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def signed_url(url: str, secret: str, timestamp_ms: int | None = None) -> str:
    if not secret:
        return url
    timestamp_ms = timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}timestamp={timestamp_ms}&sign={quote_plus(signature(secret, timestamp_ms))}"


def payload(subject: str, content: str) -> dict:
    text = f"#### {subject}\n\n{content}".strip() if content else f"#### {subject}"
    return {"msgtype": "markdown", "markdown": {"title": subject[:60], "text": truncate_utf8(text, MAX_TEXT_BYTES)}}


def send(delivery, config) -> SendResult:
    if config is None or not config.dingtalk_webhook:
        raise DeliveryError("本单位未配置钉钉群机器人，消息未发送")
    secret = config.dingtalk_secret.strip()
    url = signed_url(checked_url(config.dingtalk_webhook, "dingtalk"), secret)
    return post_json(url, payload(delivery.subject, delivery.content), secrets=(secret,))
