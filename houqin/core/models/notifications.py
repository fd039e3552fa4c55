"""Notifications, reminders and their delivery to group robots and e-mail.

The API that domain apps use lives in ``houqin.core.notifications`` (``notify()``) and ``houqin.core.reminders``
(``schedule_reminder()``); these models hold state. None of them is a domain row with a change log except the
channel settings, which record who changed which switch (but never the webhook addresses or the signing secret).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_time

from houqin.core.models.base import ChangeLoggedModel, RestrictedQuerySet


class NotificationKind(models.TextChoices):
    INFO = "info", "信息"
    REMINDER = "reminder", "提醒"
    TODO = "todo", "待办"
    OVERDUE = "overdue", "逾期"
    ALERT = "alert", "告警"


KIND_COLORS = {
    NotificationKind.INFO: "secondary",
    NotificationKind.REMINDER: "azure",
    NotificationKind.TODO: "primary",
    NotificationKind.OVERDUE: "orange",
    NotificationKind.ALERT: "red",
}

# Kinds a new channel configuration sends out (the school may change them).
DEFAULT_CHANNEL_KINDS = [NotificationKind.REMINDER.value, NotificationKind.OVERDUE.value, NotificationKind.ALERT.value]


def _anonymous(user) -> bool:
    return user is None or not getattr(user, "is_authenticated", False) or not user.is_active


# --- In-app notifications ----------------------------------------------------------------------------------------


class NotificationQuerySet(RestrictedQuerySet):
    def restrict(self, user, action: str = "view"):
        """A notification is its recipient's alone: nobody else sees, counts or marks it, superusers included."""
        if _anonymous(user):
            return self.none()
        return self.filter(recipient=user)

    def unread(self):
        return self.filter(read_at__isnull=True)


class Notification(models.Model):
    """One message in one user's inbox. ``source`` is the object it is about (a certificate, a work order …);
    ``dedupe_key`` makes a notification idempotent per recipient (a unique constraint, so it holds across
    processes)."""

    org_field = "org"

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="接收人", on_delete=models.CASCADE, related_name="notifications"
    )
    org = models.ForeignKey("core.Organization", verbose_name="所属单位", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField("类型", max_length=20, choices=NotificationKind.choices, default=NotificationKind.INFO)
    title = models.CharField("标题", max_length=200)
    body = models.TextField("内容", blank=True, default="")
    url = models.CharField("链接", max_length=500, blank=True, default="")
    source_type = models.ForeignKey(
        "contenttypes.ContentType",
        verbose_name="来源类型",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    source_id = models.CharField("来源编号", max_length=40, blank=True, default="")
    source = GenericForeignKey("source_type", "source_id")
    dedupe_key = models.CharField("去重键", max_length=200, null=True, blank=True)
    created_at = models.DateTimeField("时间", default=timezone.now)
    read_at = models.DateTimeField("已读时间", null=True, blank=True)

    objects = NotificationQuerySet.as_manager()

    class Meta:
        verbose_name = "通知"
        verbose_name_plural = "通知"
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["recipient", "read_at"], name="notification_unread_idx"),
            models.Index(fields=["recipient", "-created_at"], name="notification_inbox_idx"),
            models.Index(fields=["source_type", "source_id"], name="notification_source_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["recipient", "dedupe_key"],
                condition=Q(dedupe_key__isnull=False),
                name="notification_recipient_dedupe_key",
            )
        ]

    def __str__(self):
        return self.title

    @property
    def owning_org_id(self) -> int | None:
        return self.org_id

    @property
    def is_read(self) -> bool:
        return self.read_at is not None

    @property
    def kind_color(self) -> str:
        return KIND_COLORS.get(self.kind, "secondary")


# --- Reminders -----------------------------------------------------------------------------------------------------


class ReminderState(models.TextChoices):
    ACTIVE = "active", "进行中"
    DONE = "done", "已完成"
    CANCELLED = "cancelled", "已取消"


OVERDUE_TOKEN = "overdue"  # noqa: S105 — a marker in Reminder.fired, not a secret


class Reminder(models.Model):
    """Something due at a time: a certificate expiring, an inspection to perform, a loan to return.

    ``offsets`` are how long before ``due_at`` to remind, in seconds (e.g. 30, 7 and 1 days); ``notify_overdue``
    adds one more reminder when the item falls due. ``fired`` lists the offsets already sent (``"overdue"`` for
    the last one) and ``next_fire_at`` is when the next one is due, so the periodic scan reads only due rows
    through an index. For an all-day item (``due_date`` set) reminders go out at ``HOUQIN_REMINDER_TIME`` local
    time on the day, and ``due_at`` is the start of the day after ``due_date`` (the moment it is overdue).
    """

    org_field = "org"

    org = models.ForeignKey("core.Organization", verbose_name="所属单位", on_delete=models.CASCADE, related_name="+")
    source_type = models.ForeignKey(
        "contenttypes.ContentType",
        verbose_name="来源类型",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    source_id = models.CharField("来源编号", max_length=40, blank=True, default="")
    source = GenericForeignKey("source_type", "source_id")
    key = models.CharField(
        "提醒项", max_length=60, blank=True, default="", help_text="区分同一对象的多个到期事项，如 health_certificate"
    )
    title = models.CharField("事项", max_length=200)
    body = models.TextField("说明", blank=True, default="")
    url = models.CharField("链接", max_length=500, blank=True, default="")
    due_at = models.DateTimeField("到期时间")
    due_date = models.DateField("到期日", null=True, blank=True)
    offsets = models.JSONField("提前提醒（秒）", default=list, blank=True)
    notify_overdue = models.BooleanField("逾期提醒", default=True)
    roles = models.JSONField("接收角色", default=list, blank=True)
    users = models.ManyToManyField(settings.AUTH_USER_MODEL, verbose_name="接收人", blank=True, related_name="+")
    state = models.CharField("状态", max_length=20, choices=ReminderState.choices, default=ReminderState.ACTIVE)
    fired = models.JSONField("已发送", default=list, blank=True)
    next_fire_at = models.DateTimeField("下次提醒", null=True, blank=True)
    last_fired_at = models.DateTimeField("上次提醒", null=True, blank=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = "到期提醒"
        verbose_name_plural = "到期提醒"
        ordering = ["due_at", "pk"]
        indexes = [
            models.Index(fields=["state", "next_fire_at"], name="reminder_due_idx"),
            models.Index(fields=["org", "state", "due_at"], name="reminder_org_due_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["source_type", "source_id", "key"],
                condition=Q(source_type__isnull=False),
                name="reminder_source_key",
            )
        ]

    def __str__(self):
        return self.title

    @property
    def owning_org_id(self) -> int | None:
        return self.org_id

    def tokens(self) -> list[str]:
        """Every reminder this item sends, earliest first: offsets as seconds (strings), then ``overdue``."""
        tokens = [str(int(s)) for s in sorted({int(s) for s in self.offsets}, reverse=True)]
        if self.notify_overdue:
            tokens.append(OVERDUE_TOKEN)
        return tokens

    def fire_time(self, token: str):
        """When the reminder ``token`` is due."""
        if self.due_date is None:
            if token == OVERDUE_TOKEN:
                return self.due_at
            return self.due_at - timedelta(seconds=int(token))
        at = parse_time(getattr(settings, "HOUQIN_REMINDER_TIME", "08:00"))
        if token == OVERDUE_TOKEN:
            day = self.due_date + timedelta(days=1)
        else:
            day = self.due_date - timedelta(days=round(int(token) / 86400))
        return timezone.make_aware(datetime.combine(day, at))

    def compute_next_fire_at(self):
        pending = [self.fire_time(t) for t in self.tokens() if t not in self.fired]
        return min(pending) if pending and self.state == ReminderState.ACTIVE else None

    @property
    def is_overdue(self) -> bool:
        return self.state == ReminderState.ACTIVE and self.due_at <= timezone.now()


# --- Channels ---------------------------------------------------------------------------------------------------


class ChannelConfigQuerySet(RestrictedQuerySet):
    def restrict(self, user, action: str = "view"):
        """The settings hold webhook keys and a signing secret: only those who may change them may see them."""
        from houqin.core.auth import access_for

        if _anonymous(user):
            return self.none()
        if user.is_superuser:
            return self
        perm = "core.change_channelconfig" if action == "view" else f"core.{action}_channelconfig"
        org_ids = access_for(user).orgs_for(perm)
        return self.filter(org_id__in=sorted(org_ids)) if org_ids else self.none()


class ChannelConfig(ChangeLoggedModel):
    """Where a school's notifications go besides the in-app inbox: a WeCom (企业微信) group robot, a DingTalk
    (钉钉) group robot (optionally signed), and e-mail to each recipient. ``kinds`` chooses which notification
    kinds go out; ``robot_digest`` sends the daily summary of overdue items to the robots."""

    org_field = "org"
    changelog_exclude = (*ChangeLoggedModel.changelog_exclude, "wecom_webhook", "dingtalk_webhook", "dingtalk_secret")

    org = models.OneToOneField("core.Organization", verbose_name="所属单位", on_delete=models.CASCADE, related_name="+")
    wecom_webhook = models.CharField(
        "企业微信群机器人地址",
        max_length=500,
        blank=True,
        default="",
        help_text="群聊 → 添加群机器人 → 复制 Webhook 地址（https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…）",
    )
    dingtalk_webhook = models.CharField(
        "钉钉群机器人地址",
        max_length=500,
        blank=True,
        default="",
        help_text="群设置 → 机器人 → 自定义机器人 → 复制 Webhook 地址（https://oapi.dingtalk.com/robot/send?access_token=…）",
    )
    dingtalk_secret = models.CharField(
        "钉钉加签密钥",
        max_length=200,
        blank=True,
        default="",
        help_text="机器人安全设置选择“加签”时填写（以 SEC 开头）；留空表示不加签",
    )
    email_enabled = models.BooleanField("同时发送电子邮件", default=False, help_text="发送到接收人账号中登记的邮箱")
    kinds = models.JSONField("发送的通知类型", default=list, blank=True)
    robot_digest = models.BooleanField("每日逾期汇总发送到群", default=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    objects = ChannelConfigQuerySet.as_manager()

    class Meta:
        verbose_name = "通知渠道设置"
        verbose_name_plural = "通知渠道设置"

    def __str__(self):
        return f"{self.org} 通知渠道"

    @property
    def owning_org_id(self) -> int | None:
        return self.org_id

    def robot_channels(self) -> list[str]:
        channels = []
        if self.wecom_webhook:
            channels.append(DeliveryChannel.WECOM.value)
        if self.dingtalk_webhook:
            channels.append(DeliveryChannel.DINGTALK.value)
        return channels

    def sends(self, kind: str) -> bool:
        return kind in (self.kinds or [])


# --- Delivery log ------------------------------------------------------------------------------------------------


class DeliveryChannel(models.TextChoices):
    WECOM = "wecom", "企业微信"
    DINGTALK = "dingtalk", "钉钉"
    EMAIL = "email", "电子邮件"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "待发送"
    SENDING = "sending", "发送中"
    SENT = "sent", "已发送"
    FAILED = "failed", "失败"


class DeliveryPurpose(models.TextChoices):
    NOTIFICATION = "notification", "通知"
    DIGEST = "digest", "每日摘要"
    TEST = "test", "测试消息"


class Delivery(models.Model):
    """One message to one channel, with its attempts. A failed attempt is retried after the delays of
    ``HOUQIN_NOTIFY_RETRY_DELAYS`` (1, 5 and 30 minutes); after the last one the delivery is 失败 with the error
    kept. ``next_retry_at`` is when a pending delivery is (re)tried; the periodic scan reads it through an index.
    The message text is stored so that a retry sends exactly what the first attempt sent."""

    org_field = "org"

    org = models.ForeignKey("core.Organization", verbose_name="所属单位", on_delete=models.CASCADE, related_name="+")
    channel = models.CharField("渠道", max_length=20, choices=DeliveryChannel.choices)
    purpose = models.CharField(
        "用途", max_length=20, choices=DeliveryPurpose.choices, default=DeliveryPurpose.NOTIFICATION
    )
    notification = models.ForeignKey(
        Notification, verbose_name="通知", null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="接收人",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    to_address = models.CharField("收件地址", max_length=254, blank=True, default="")
    subject = models.CharField("标题", max_length=200)
    content = models.TextField("内容", blank=True, default="")
    dedupe_key = models.CharField("去重键", max_length=200, null=True, blank=True)
    status = models.CharField("状态", max_length=20, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField("尝试次数", default=0)
    last_error = models.TextField("错误信息", blank=True, default="")
    response_code = models.PositiveIntegerField("响应码", null=True, blank=True)
    next_retry_at = models.DateTimeField("下次尝试", null=True, blank=True)
    claimed_at = models.DateTimeField("开始发送", null=True, blank=True)
    sent_at = models.DateTimeField("发送时间", null=True, blank=True)
    created_at = models.DateTimeField("创建时间", default=timezone.now)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = "发送记录"
        verbose_name_plural = "发送记录"
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["status", "next_retry_at"], name="delivery_retry_idx"),
            models.Index(fields=["org", "-created_at"], name="delivery_org_created_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["org", "channel", "dedupe_key"],
                condition=Q(dedupe_key__isnull=False),
                name="delivery_org_channel_dedupe_key",
            )
        ]

    def __str__(self):
        return f"{self.get_channel_display()} · {self.subject}"

    @property
    def owning_org_id(self) -> int | None:
        return self.org_id

    @property
    def status_color(self) -> str:
        return {
            DeliveryStatus.PENDING: "secondary",
            DeliveryStatus.SENDING: "primary",
            DeliveryStatus.SENT: "success",
            DeliveryStatus.FAILED: "danger",
        }[DeliveryStatus(self.status)]
