"""WeCom (企业微信) group robot: ``{"msgtype": "markdown", "markdown": {"content": ...}}``."""

from __future__ import annotations

from houqin.core.channels import DeliveryError, SendResult
from houqin.core.channels.webhook import checked_url, post_json, truncate_utf8

# WeCom refuses markdown content over 4096 bytes.
MAX_CONTENT_BYTES = 4096


def payload(subject: str, content: str) -> dict:
    text = f"**{subject}**\n{content}".strip() if content else f"**{subject}**"
    return {"msgtype": "markdown", "markdown": {"content": truncate_utf8(text, MAX_CONTENT_BYTES)}}


def send(delivery, config) -> SendResult:
    if config is None or not config.wecom_webhook:
        raise DeliveryError("本单位未配置企业微信群机器人，消息未发送")
    url = checked_url(config.wecom_webhook, "wecom")
    return post_json(url, payload(delivery.subject, delivery.content))
