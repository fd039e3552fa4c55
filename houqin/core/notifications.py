"""The notification engine: an in-app inbox per user, with optional delivery to the school's WeCom/DingTalk group
robots and to e-mail, a daily digest, and retries.

A domain app raises a notification with::

    from houqin.core.notifications import notify

    notify(approvers, org=request_obj.org, title=f"待审批：{request_obj}", url=request_obj.get_absolute_url(),
           kind="todo", source=request_obj, dedupe_key=f"approval:{step.pk}")

and registers something due later with ``houqin.core.reminders.schedule_reminder``. Nothing here sends inside the
web request: ``notify()`` writes the inbox rows and the ``Delivery`` rows and enqueues a background job
(``houqin.core.jobs``) that posts them; failed posts are retried by the periodic ``dispatch`` job.
See docs/notifications.md.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from houqin.core.channels import DeliveryError, sender
from houqin.core.jobs import enqueue, job, periodic
from houqin.core.models.notifications import (
    ChannelConfig,
    Delivery,
    DeliveryChannel,
    DeliveryPurpose,
    DeliveryStatus,
    Notification,
    NotificationKind,
    Reminder,
    ReminderState,
)

logger = logging.getLogger(__name__)

ALL = "all"
DIGEST_PREFIX = "digest:"
# A queued delivery that no job has sent within this time is picked up again by the periodic scan (its job was
# lost); one stuck in 发送中 this long (its worker stopped mid-send) is tried again.
LEASE = timedelta(minutes=10)
DEFAULT_RETRY_DELAYS = (60, 300, 1800)
MAX_NAMES_IN_ROBOT_MESSAGE = 10
DIGEST_TITLES = 5
DIGEST_OVERDUE_ITEMS = 20
SCAN_LIMIT = 500


def retry_delays() -> tuple[int, ...]:
    """Seconds to wait before the 2nd, 3rd … attempt (``HOUQIN_NOTIFY_RETRY_DELAYS``, default 1, 5, 30 minutes)."""
    return tuple(int(s) for s in getattr(settings, "HOUQIN_NOTIFY_RETRY_DELAYS", DEFAULT_RETRY_DELAYS))


def max_attempts() -> int:
    return len(retry_delays()) + 1


# --- Creating notifications ---------------------------------------------------------------------------------------


def notify(recipients: Iterable, *, org, title: str, body: str = "", url: str = "", kind: str = "info",
           source=None, dedupe_key: str | None = None) -> list[Notification]:
    """Put a notification in each recipient's inbox and queue its delivery to the organisation's channels.

    ``recipients``: users; inactive ones and users with no role in ``org`` (or its bureau) are skipped, so a
    school's notification never reaches another school. ``url``: a path on this site (``obj.get_absolute_url()``).
    ``kind``: a ``NotificationKind`` value. ``source``: the model instance it is about. ``dedupe_key``: a recipient
    never gets two notifications with the same key (a unique constraint: safe with several workers), so the same
    event may be raised again without repeating itself.

    Returns the notifications created now (without those a dedupe key suppressed). Call it inside the
    transaction that made the change: if that rolls back, nothing is sent.
    """
    kind = NotificationKind(kind).value
    return _create(recipients, org=org, title=title, body=body, url=url, kind=kind, source_ref=_source_ref(source),
                   dedupe_key=dedupe_key, deliver=True)


def unread_count(user) -> int:
    if user is None or not getattr(user, "is_authenticated", False):
        return 0
    from houqin.core.pagecache import kept_value

    return kept_value(("unread", user.pk), lambda: Notification.objects.restrict(user).unread().count())


def mark_read(user, ids=ALL) -> int:
    """Mark the user's notifications ``ids`` (or ``ALL`` of them) read. Others' notifications are never touched.
    Returns how many changed."""
    queryset = Notification.objects.restrict(user).unread()
    if ids != ALL:
        queryset = queryset.filter(pk__in=[int(i) for i in ids])
    return queryset.update(read_at=timezone.now())


def mark_read_for(source, *, recipients: Iterable | None = None) -> int:
    """Mark read the notifications about ``source`` (e.g. the other approvers' 待办 once a step is decided)."""
    ct_id, object_id = _source_ref(source)
    queryset = Notification.objects.filter(source_type_id=ct_id, source_id=object_id, read_at__isnull=True)
    if recipients is not None:
        queryset = queryset.filter(recipient__in=[u.pk for u in recipients])
    return queryset.update(read_at=timezone.now())


def _source_ref(source) -> tuple[int | None, str]:
    if source is None:
        return None, ""
    if getattr(source, "pk", None) is None:
        raise ValueError("notify(source=…) needs a saved model instance")
    return ContentType.objects.get_for_model(source, for_concrete_model=True).pk, str(source.pk)


def _is_local_path(url: str) -> bool:
    return url.startswith("/") and not url.startswith("//") and "\\" not in url


def _org(org):
    from houqin.core.models import Organization

    if isinstance(org, Organization):
        return org
    return Organization.objects.only("pk", "name", "short_name", "parent_id").get(pk=org)


def _eligible(recipients: Iterable, org) -> list:
    """The active recipients who belong to ``org`` or to its bureau (superusers always)."""
    from houqin.core.models import Membership

    users = {}
    for user in recipients:
        if user is not None and user.is_active and user.pk not in users:
            users[user.pk] = user
    if not users:
        return []
    org_ids = [org.pk] + ([org.parent_id] if org.parent_id else [])
    members = set(Membership.objects.filter(user_id__in=list(users), org_id__in=org_ids)
                  .values_list("user_id", flat=True))
    kept = [u for pk, u in users.items() if u.is_superuser or pk in members]
    if len(kept) < len(users):
        logger.warning("Notification for org %s skipped %d recipient(s) outside it", org.pk, len(users) - len(kept))
    return kept


def _create(recipients, *, org, title, body, url, kind, source_ref, dedupe_key, deliver) -> list[Notification]:
    if url and not _is_local_path(url):
        raise ValueError(f"Notification url must be a path on this site, not {url!r}")
    org = _org(org)
    users = _eligible(recipients, org)
    if not users:
        return []
    ct_id, object_id = source_ref
    now = timezone.now()
    title = str(title)[:200]
    rows = [Notification(recipient=u, org=org, kind=kind, title=title, body=body or "", url=url or "",
                         source_type_id=ct_id, source_id=object_id, created_at=now,
                         dedupe_key=str(dedupe_key)[:200] if dedupe_key is not None else None) for u in users]
    if dedupe_key is None:
        created = Notification.objects.bulk_create(rows)
    else:
        key = rows[0].dedupe_key
        seen = set(Notification.objects.filter(recipient__in=users, dedupe_key=key)
                   .values_list("recipient_id", flat=True))
        created = []
        for row in rows:
            if row.recipient_id in seen:
                continue
            if _insert_once(row, Notification.objects.filter(recipient_id=row.recipient_id, dedupe_key=key)):
                created.append(row)
    if created and deliver:
        _queue_deliveries(created, org, kind, title, body, url, dedupe_key)
    return created


def _insert_once(row, existing) -> bool:
    """Insert ``row`` unless a concurrent insert of the same dedupe key won (then False)."""
    try:
        with transaction.atomic():
            row.save(force_insert=True)
    except IntegrityError:
        if existing.exists():
            return False
        raise
    return True


# --- Message text -------------------------------------------------------------------------------------------------


def absolute_url(url: str) -> str:
    """``url`` on the installation's public address (``HOUQIN_BASE_URL``), or "" when that is not set."""
    base = (getattr(settings, "HOUQIN_BASE_URL", "") or "").rstrip("/")
    return f"{base}{url}" if base and url else ""


def _inbox_url() -> str:
    try:
        return reverse("notification_list")
    except NoReverseMatch:
        return "/notifications/"


def _org_name(org) -> str:
    return org.short_name or org.name


def robot_text(org, kind: str, body: str, url: str, names: list[str]) -> str:
    lines = [f"> {_org_name(org)} · {NotificationKind(kind).label}"]
    if body:
        lines.append(body.strip())
    if names:
        shown = "、".join(names[:MAX_NAMES_IN_ROBOT_MESSAGE])
        more = f" 等 {len(names)} 人" if len(names) > MAX_NAMES_IN_ROBOT_MESSAGE else ""
        lines.append(f"通知对象：{shown}{more}")
    link = absolute_url(url)
    if link:
        lines.append(f"[查看详情]({link})")
    return "\n\n".join(lines)


def email_text(user, org, title: str, body: str, url: str) -> str:
    parts = [f"{user.get_full_name()}，您好：", title]
    if body:
        parts.append(body.strip())
    link = absolute_url(url)
    if link:
        parts.append(f"查看详情：{link}")
    parts.append(f"—— {org.name} · 智慧后勤（本邮件由系统自动发送，请勿直接回复）")
    return "\n\n".join(parts)


def _subject(kind: str, title: str) -> str:
    return f"【{NotificationKind(kind).label}】{title}"[:200]


# --- Queueing deliveries --------------------------------------------------------------------------------------------


def _queue_deliveries(created, org, kind, title, body, url, dedupe_key) -> list[Delivery]:
    config = ChannelConfig.objects.filter(org=org).first()
    if config is None or not config.sends(kind):
        return []
    now = timezone.now()
    subject = _subject(kind, title)
    deliveries = []
    names = [n.recipient.get_full_name() for n in created]
    for channel in config.robot_channels():
        delivery = Delivery(org=org, channel=channel, notification=created[0], subject=subject,
                            content=robot_text(org, kind, body, url, names), next_retry_at=now + LEASE,
                            dedupe_key=f"n:{dedupe_key}"[:200] if dedupe_key is not None else None)
        if delivery.dedupe_key is None:
            delivery.save(force_insert=True)
            deliveries.append(delivery)
        elif _insert_once(delivery, Delivery.objects.filter(org=org, channel=channel, dedupe_key=delivery.dedupe_key)):
            deliveries.append(delivery)
    if config.email_enabled:
        mails = [Delivery(org=org, channel=DeliveryChannel.EMAIL, notification=n, recipient=n.recipient,
                          to_address=n.recipient.email, subject=subject, next_retry_at=now + LEASE,
                          content=email_text(n.recipient, org, title, body, url))
                 for n in created if n.recipient.email]
        deliveries += Delivery.objects.bulk_create(mails)
    _enqueue_send(org.pk, [d.pk for d in deliveries], f"发送通知：{title}")
    return deliveries


def _enqueue_send(org_id: int, delivery_ids: list[int], title: str):
    if not delivery_ids:
        return None
    try:
        return enqueue(deliver, org=org_id, title=title[:200], delivery_ids=delivery_ids)
    except ImproperlyConfigured:
        # The deliveries stay 待发送; the periodic scan picks them up once a worker runs with a proper backend.
        logger.exception("Could not enqueue the delivery of %d notification message(s)", len(delivery_ids))
        return None


# --- Sending ------------------------------------------------------------------------------------------------------


def send_delivery(delivery_id: int) -> str | None:
    """Make one attempt at a pending delivery and record the outcome. Returns the new status, or None when the
    delivery was not pending (already sent, or being sent by another worker)."""
    now = timezone.now()
    claimed = Delivery.objects.filter(pk=delivery_id, status=DeliveryStatus.PENDING).update(
        status=DeliveryStatus.SENDING, attempts=F("attempts") + 1, claimed_at=now, next_retry_at=None
    )
    if not claimed:
        return None
    delivery = Delivery.objects.select_related("recipient").get(pk=delivery_id)
    config = ChannelConfig.objects.filter(org_id=delivery.org_id).first()
    try:
        result = sender(delivery.channel)(delivery, config)
    except DeliveryError as exc:
        return _record_failure(delivery, str(exc), exc.response_code)
    except Exception:
        logger.exception("Delivery %s (%s) crashed", delivery.pk, delivery.channel)
        return _record_failure(delivery, "发送时出现程序错误，请联系系统管理员", None)
    Delivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.SENT, sent_at=timezone.now(), response_code=result.response_code, last_error=""
    )
    return DeliveryStatus.SENT


def _record_failure(delivery: Delivery, error: str, response_code: int | None) -> str:
    delays = retry_delays()
    attempt = delivery.attempts
    if attempt < max_attempts():
        status, retry_at = DeliveryStatus.PENDING, timezone.now() + timedelta(seconds=delays[attempt - 1])
        logger.info("Delivery %s attempt %d failed (%s); retrying at %s", delivery.pk, attempt, error, retry_at)
    else:
        status, retry_at = DeliveryStatus.FAILED, None
        logger.warning("Delivery %s failed after %d attempts: %s", delivery.pk, attempt, error)
    Delivery.objects.filter(pk=delivery.pk).update(status=status, next_retry_at=retry_at, last_error=error[:2000],
                                                   response_code=response_code)
    return status


@job("发送通知")
def deliver(ctx, *, delivery_ids: list[int]) -> dict:
    """Send the given deliveries once each; failures are rescheduled by ``send_delivery``."""
    outcome: dict[str, int] = defaultdict(int)
    for i, delivery_id in enumerate(delivery_ids, 1):
        status = send_delivery(delivery_id)
        outcome[status or "skipped"] += 1
        ctx.progress(i, len(delivery_ids))
    retry, failed = outcome[DeliveryStatus.PENDING], outcome[DeliveryStatus.FAILED]
    message = (f"已发送 {outcome[DeliveryStatus.SENT]} 条" + (f"，{retry} 条稍后重试" if retry else "")
               + (f"，{failed} 条失败" if failed else ""))
    ctx.log(message)
    return {"message": message}


def retry_due_deliveries(now=None) -> int:
    """Enqueue the deliveries whose retry time has come (and those whose job was lost). Each is claimed with a
    conditional UPDATE on ``next_retry_at``, so overlapping scans never send one twice. Returns how many."""
    now = now or timezone.now()
    Delivery.objects.filter(status=DeliveryStatus.SENDING, claimed_at__lt=now - LEASE).update(
        status=DeliveryStatus.PENDING, next_retry_at=now
    )
    due = list(Delivery.objects.filter(status=DeliveryStatus.PENDING, next_retry_at__lte=now)
               .order_by("next_retry_at").values_list("pk", "org_id", "next_retry_at")[:SCAN_LIMIT])
    by_org: dict[int, list[int]] = defaultdict(list)
    for pk, org_id, retry_at in due:
        won = Delivery.objects.filter(pk=pk, status=DeliveryStatus.PENDING, next_retry_at=retry_at).update(
            next_retry_at=now + LEASE
        )
        if won:
            by_org[org_id].append(pk)
    for org_id, ids in by_org.items():
        _enqueue_send(org_id, ids, "重试发送通知")
    return sum(len(ids) for ids in by_org.values())


@periodic(timedelta(minutes=1))
@job("发送到期提醒与重试通知")
def dispatch(ctx) -> dict:
    """Every minute: fire the reminders that are due and retry the deliveries whose time has come."""
    from houqin.core.reminders import fire_due_reminders

    fired = fire_due_reminders()
    retried = retry_due_deliveries()
    return {"message": f"发出到期提醒 {fired} 项，重试发送 {retried} 条"}


# --- Test message ---------------------------------------------------------------------------------------------------


def send_test_message(config: ChannelConfig, user) -> list[Delivery]:
    """Queue a test message to every channel the organisation configured (e-mail: to ``user``)."""
    org = config.org
    now = timezone.now()
    stamp = timezone.localtime(now).strftime("%Y-%m-%d %H:%M")
    subject = "测试消息"
    deliveries = []
    for channel in config.robot_channels():
        label = DeliveryChannel(channel).label
        content = (f"> {_org_name(org)}\n\n这是一条来自智慧后勤的测试消息，收到即表示{label}群机器人配置正确。\n\n"
                   f"发送人：{user.get_full_name()}，时间：{stamp}")
        deliveries.append(Delivery.objects.create(org=org, channel=channel, purpose=DeliveryPurpose.TEST,
                                                  subject=subject, content=content, next_retry_at=now + LEASE))
    if config.email_enabled and user.email:
        content = email_text(user, org, "这是一条来自智慧后勤的测试邮件，收到即表示邮件通知配置正确。", "", "")
        deliveries.append(Delivery.objects.create(
            org=org, channel=DeliveryChannel.EMAIL, purpose=DeliveryPurpose.TEST, recipient=user,
            to_address=user.email, subject=subject, content=content, next_retry_at=now + LEASE,
        ))
    _enqueue_send(org.pk, [d.pk for d in deliveries], "发送测试消息")
    return deliveries


# --- Daily digest ---------------------------------------------------------------------------------------------------


def send_daily_digest(now=None) -> dict:
    """Each user with unread notifications gets one summary per organisation (in the inbox, and by e-mail where
    the school turned e-mail on); each organisation's robots get the list of overdue items. Idempotent per day
    (dedupe keys), so a second run the same day sends nothing new."""
    from houqin.core.models import Organization, User

    now = now or timezone.now()
    day = timezone.localdate(now)
    key = f"{DIGEST_PREFIX}{day.isoformat()}"
    unread = (Notification.objects.filter(read_at__isnull=True, recipient__is_active=True)
              .exclude(dedupe_key__startswith=DIGEST_PREFIX))
    groups = list(unread.values("recipient_id", "org_id").order_by("org_id", "recipient_id").annotate(
        total=Count("pk"),
        todo=Count("pk", filter=Q(kind=NotificationKind.TODO)),
        overdue=Count("pk", filter=Q(kind=NotificationKind.OVERDUE)),
        alert=Count("pk", filter=Q(kind=NotificationKind.ALERT)),
    ))
    orgs = Organization.objects.in_bulk({g["org_id"] for g in groups})
    users = User.objects.in_bulk({g["recipient_id"] for g in groups})
    configs = {c.org_id: c for c in ChannelConfig.objects.select_related("org")}
    inbox = _inbox_url()
    digests = 0
    mails: dict[int, list[int]] = defaultdict(list)
    for group in groups:
        org, user = orgs[group["org_id"]], users[group["recipient_id"]]
        counts = [f"{label} {group[name]} 条" for name, label in (("todo", "待办"), ("overdue", "逾期"),
                                                                  ("alert", "告警")) if group[name]]
        titles = list(unread.filter(recipient_id=user.pk, org_id=org.pk).order_by("-created_at")
                      .values_list("title", flat=True)[:DIGEST_TITLES])
        title = f"每日摘要：您有 {group['total']} 条未读通知"
        body = "；".join(counts) + ("\n" if counts else "") + "\n".join(f"· {t}" for t in titles)
        created = _create([user], org=org, title=title, body=body, url=inbox, kind=NotificationKind.INFO,
                          source_ref=(None, ""), dedupe_key=f"{key}:{org.pk}", deliver=False)
        if not created:
            continue
        digests += 1
        config = configs.get(org.pk)
        if config is not None and config.email_enabled and user.email:
            delivery = Delivery(org=org, channel=DeliveryChannel.EMAIL, purpose=DeliveryPurpose.DIGEST,
                                notification=created[0], recipient=user, to_address=user.email,
                                subject=f"每日通知摘要（{day:%Y-%m-%d}）", next_retry_at=now + LEASE,
                                dedupe_key=f"{key}:u{user.pk}", content=email_text(user, org, title, body, inbox))
            if _insert_once(delivery, Delivery.objects.filter(org=org, channel=DeliveryChannel.EMAIL,
                                                              dedupe_key=delivery.dedupe_key)):
                mails[org.pk].append(delivery.pk)
    summaries = 0
    for org_id, config in configs.items():
        ids = _queue_overdue_summary(config, now, key) if config.robot_digest else []
        summaries += bool(ids)
        mails[org_id] += ids
    for org_id, ids in mails.items():
        _enqueue_send(org_id, ids, "发送每日摘要")
    return {"message": f"已生成个人摘要 {digests} 份，逾期汇总 {summaries} 个单位"}


def _queue_overdue_summary(config: ChannelConfig, now, key: str) -> list[int]:
    channels = config.robot_channels()
    if not channels:
        return []
    overdue = Reminder.objects.filter(org_id=config.org_id, state=ReminderState.ACTIVE, due_at__lte=now)
    total = overdue.count()
    if not total:
        return []
    org = config.org
    lines = []
    for reminder in overdue.order_by("due_at", "pk")[:DIGEST_OVERDUE_ITEMS]:
        due_day = reminder.due_date or timezone.localdate(reminder.due_at)
        days = (timezone.localdate(now) - due_day).days
        lines.append(f"- {reminder.title}（到期 {due_day:%Y-%m-%d}" + (f"，已逾期 {days} 天）" if days > 0 else "）"))
    if total > len(lines):
        lines.append(f"- ……另有 {total - len(lines)} 项")
    stamp = timezone.localtime(now).strftime("%Y-%m-%d %H:%M")
    content = f"> {_org_name(org)} · 截至 {stamp}\n\n共有 **{total}** 项已逾期未处理：\n\n" + "\n".join(lines)
    link = absolute_url(_inbox_url())
    if link:
        content += f"\n\n[登录系统查看]({link})"
    ids = []
    for channel in channels:
        delivery = Delivery(org=org, channel=channel, purpose=DeliveryPurpose.DIGEST, subject="每日逾期事项汇总",
                            content=content, dedupe_key=key, next_retry_at=now + LEASE)
        if _insert_once(delivery, Delivery.objects.filter(org=org, channel=channel, dedupe_key=key)):
            ids.append(delivery.pk)
    return ids


def prune(now=None) -> tuple[int, int]:
    """Delete read notifications and finished deliveries older than ``HOUQIN_NOTIFICATION_RETENTION_DAYS``
    (default 365). Unread notifications are kept however old. Returns (notifications, deliveries) deleted."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=int(getattr(settings, "HOUQIN_NOTIFICATION_RETENTION_DAYS", 365)))
    deliveries, _ = Delivery.objects.filter(
        created_at__lt=cutoff, status__in=(DeliveryStatus.SENT, DeliveryStatus.FAILED)
    ).delete()
    notifications, _ = Notification.objects.filter(read_at__isnull=False, created_at__lt=cutoff).delete()
    return notifications, deliveries


@periodic("daily at 07:30")
@job("发送每日通知摘要")
def daily_digest(ctx) -> dict:
    result = send_daily_digest()
    notifications, deliveries = prune()
    ctx.log(f"清理过期的已读通知 {notifications} 条、发送记录 {deliveries} 条")
    return result
