"""Outgoing channels for notifications: WeCom (企业微信) and DingTalk (钉钉) group robots and e-mail.

Each channel module offers ``send(delivery, config) -> SendResult`` and raises ``DeliveryError`` with a message
in Chinese (kept in the delivery log) when the message did not go out. Nothing here is called inside a web
request: ``houqin.core.notifications`` sends from background jobs.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

# The hosts of the public robot services; more (a private deployment, a test receiver) come from
# HOUQIN_NOTIFY_WEBHOOK_HOSTS.
OFFICIAL_HOSTS = {
    "wecom": ("qyapi.weixin.qq.com",),
    "dingtalk": ("oapi.dingtalk.com",),
}
CHANNEL_NAMES = {"wecom": "企业微信", "dingtalk": "钉钉", "email": "电子邮件"}


class DeliveryError(Exception):
    """The message was not delivered. ``str(exc)`` is the reason in Chinese; ``response_code`` the HTTP status,
    when there was one."""

    def __init__(self, message: str, response_code: int | None = None):
        super().__init__(message)
        self.response_code = response_code


@dataclass(frozen=True)
class SendResult:
    response_code: int | None = None


def allowed_hosts(channel: str) -> tuple[str, ...]:
    extra = tuple(h.strip().lower() for h in getattr(settings, "HOUQIN_NOTIFY_WEBHOOK_HOSTS", ()) if h.strip())
    return (*OFFICIAL_HOSTS.get(channel, ()), *extra)


def validate_webhook_url(value: str, channel: str) -> str:
    """The cleaned webhook address of ``channel``, or a ``ValidationError`` in Chinese.

    Only http(s) addresses on the robot service's own host (or a host the installation allows) are accepted, so
    that the server never posts to an arbitrary address on the school's network.
    """
    value = (value or "").strip()
    scheme = urlsplit(value).scheme.lower() if "://" in value else ""
    if scheme and scheme not in ("http", "https"):
        raise ValidationError("仅支持 http:// 或 https:// 开头的地址，当前为 %(scheme)s://。", code="scheme",
                              params={"scheme": scheme})
    try:
        URLValidator(schemes=["http", "https"])(value)
    except ValidationError:
        raise ValidationError("请输入完整的网址，以 http:// 或 https:// 开头。", code="invalid") from None
    parts = urlsplit(value)
    if parts.username or parts.password:
        raise ValidationError("地址中不能包含用户名或密码。", code="userinfo")
    host = (parts.hostname or "").lower()
    hosts = allowed_hosts(channel)
    if host not in hosts:
        name = CHANNEL_NAMES.get(channel, channel)
        raise ValidationError(
            "%(name)s机器人地址应以 https://%(host)s/ 开头；如使用私有化部署，请联系系统管理员放行该地址。",
            code="host", params={"name": name, "host": OFFICIAL_HOSTS.get(channel, ("",))[0]},
        )
    return value


def sender(channel: str):
    """The ``send`` function of a channel."""
    from houqin.core.channels import dingtalk, email, wecom

    return {"wecom": wecom.send, "dingtalk": dingtalk.send, "email": email.send}[channel]
