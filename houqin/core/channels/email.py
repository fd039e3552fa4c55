"""E-mail to one recipient through Django's mail settings (``EMAIL_*``)."""

from __future__ import annotations

import smtplib

from django.conf import settings
from django.core.mail import send_mail

from houqin.core.channels import DeliveryError, SendResult

SUBJECT_PREFIX = "【智慧后勤】"


def available() -> bool:
    """Whether the installation can send e-mail at all (an SMTP server is configured, or another backend)."""
    backend = getattr(settings, "EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
    return not backend.endswith("smtp.EmailBackend") or bool(getattr(settings, "EMAIL_HOST", ""))


def send(delivery, config) -> SendResult:
    if config is None or not config.email_enabled:
        raise DeliveryError("本单位未开启邮件通知，邮件未发送")
    if not available():
        raise DeliveryError("服务器未配置邮件发送（EMAIL_HOST），请联系系统管理员")
    if not delivery.to_address:
        raise DeliveryError("接收人没有登记邮箱")
    try:
        sent = send_mail(f"{SUBJECT_PREFIX}{delivery.subject}", delivery.content, None, [delivery.to_address],
                         fail_silently=False)
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"邮件发送失败：{exc}") from None
    if not sent:
        raise DeliveryError("邮件服务器未接受该邮件")
    return SendResult()
