"""Reminders: one engine for everything with a due time (certificate expiry, SLA deadlines, scheduled inspections,
overdue loans, sample disposal).

A domain app registers the due time of an object when it saves it::

    from datetime import timedelta
    from houqin.core.reminders import cancel_reminder, schedule_reminder

    schedule_reminder(cert, key="health_certificate", title=f"{cert.person} 健康证", due=cert.valid_until,
                      before=(timedelta(days=30), timedelta(days=7), timedelta(days=1)),
                      roles=("canteen_manager",), users=(cert.person.user,))

and cancels or completes it when the matter is settled (``complete_reminder(cert, key="health_certificate")``).
Calling ``schedule_reminder`` again for the same object and key updates the reminder; a changed due time starts
its reminders afresh. The periodic job ``houqin.core.notifications.dispatch`` calls ``fire_due_reminders()``
every minute; each offset fires once (a conditional UPDATE claims it, and the notification's dedupe key holds
even if two workers got that far).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Iterable
from datetime import timedelta

from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from houqin.core.models.notifications import OVERDUE_TOKEN, NotificationKind, Reminder, ReminderState

logger = logging.getLogger(__name__)

DEFAULT_BEFORE = (timedelta(days=30), timedelta(days=7), timedelta(days=1))
SCAN_LIMIT = 500


def _due(due) -> tuple[dt.datetime, dt.date | None]:
    """(due_at, due_date): a date is due through that whole day, so it is overdue from the next midnight."""
    if isinstance(due, dt.datetime):
        return (due if timezone.is_aware(due) else timezone.make_aware(due)), None
    if isinstance(due, dt.date):
        return timezone.make_aware(dt.datetime.combine(due + timedelta(days=1), dt.time.min)), due
    raise TypeError("due must be a date or a datetime")


def _offsets(before: Iterable[timedelta]) -> list[int]:
    seconds = set()
    for offset in before:
        if not isinstance(offset, timedelta) or offset < timedelta(0):
            raise ValueError("before= takes non-negative timedeltas, e.g. timedelta(days=30)")
        seconds.add(int(offset.total_seconds()))
    return sorted(seconds, reverse=True)


def _check_roles(roles: Iterable[str]) -> list[str]:
    from houqin.core.roles import ROLES_BY_CODE

    roles = list(dict.fromkeys(roles))
    unknown = [r for r in roles if r not in ROLES_BY_CODE]
    if unknown:
        raise ValueError(f"Unknown role code(s): {', '.join(unknown)}")
    return roles


def _default_url(source) -> str:
    try:
        return source.get_absolute_url()
    except Exception:  # noqa: BLE001 — a model without a page: the reminder has no link
        return ""


def schedule_reminder(source, *, title: str, due, org=None, key: str = "", before: Iterable[timedelta] = DEFAULT_BEFORE,
                      overdue: bool = True, roles: Iterable[str] = (), users: Iterable = (), url: str | None = None,
                      body: str = "") -> Reminder:
    """Create or update the reminder ``key`` of ``source`` (a saved model instance).

    ``due``: a date (due through that day; reminders go out at ``HOUQIN_REMINDER_TIME``, default 08:00) or a
    datetime. ``before``: how long before the due time to remind. ``overdue``: remind once more when it falls
    due. ``roles``: role codes whose holders in ``org`` are reminded; ``users``: more people. ``org`` defaults to
    the source's organisation; ``url`` to its page.
    """
    if getattr(source, "pk", None) is None:
        raise ValueError("schedule_reminder() needs a saved model instance")
    due_at, due_date = _due(due)
    org_id = getattr(org, "pk", org) if org is not None else getattr(source, "owning_org_id", None)
    if org_id is None:
        raise ValueError("schedule_reminder() needs org= for a source without an organisation")
    fields = {
        "org_id": org_id, "title": str(title)[:200], "body": body or "", "due_at": due_at, "due_date": due_date,
        "offsets": _offsets(before), "notify_overdue": bool(overdue), "roles": _check_roles(roles),
        "url": (url if url is not None else _default_url(source))[:500],
    }
    ct = ContentType.objects.get_for_model(source, for_concrete_model=True)
    lookup = {"source_type": ct, "source_id": str(source.pk), "key": key}
    users = [u for u in users if u is not None]
    for _attempt in range(2):
        try:
            with transaction.atomic():
                reminder = Reminder.objects.select_for_update().filter(**lookup).first()
                if reminder is None:
                    reminder = Reminder(**lookup, **fields)
                else:
                    restart = (reminder.state != ReminderState.ACTIVE or reminder.due_at != due_at
                               or reminder.offsets != fields["offsets"]
                               or reminder.notify_overdue != fields["notify_overdue"])
                    for name, value in fields.items():
                        setattr(reminder, name, value)
                    if restart:
                        reminder.fired = []
                        reminder.state = ReminderState.ACTIVE
                reminder.next_fire_at = reminder.compute_next_fire_at()
                reminder.save()
                reminder.users.set(users)
                return reminder
        except IntegrityError:
            continue  # a concurrent call created it first: update that row instead
    raise RuntimeError("schedule_reminder() lost the race twice")


def _set_state(source, key: str, state: str) -> int:
    ct = ContentType.objects.get_for_model(source, for_concrete_model=True)
    return Reminder.objects.filter(source_type=ct, source_id=str(source.pk), key=key,
                                   state=ReminderState.ACTIVE).update(state=state, next_fire_at=None)


def complete_reminder(source, key: str = "") -> int:
    """The matter is settled (certificate renewed, loan returned): no more reminders, not listed as overdue."""
    return _set_state(source, key, ReminderState.DONE)


def cancel_reminder(source, key: str = "") -> int:
    """The matter no longer applies (the object was retired or deleted)."""
    return _set_state(source, key, ReminderState.CANCELLED)


def recipients_of(reminder: Reminder) -> list:
    from houqin.core.models import User

    who = Q(pk__in=reminder.users.values("pk"))
    if reminder.roles:
        who |= Q(memberships__org_id=reminder.org_id, memberships__role__code__in=reminder.roles)
    return list(User.objects.filter(who, is_active=True).distinct().order_by("pk"))


def _due_text(reminder: Reminder) -> str:
    if reminder.due_date is not None:
        return f"{reminder.due_date:%Y-%m-%d}"
    return timezone.localtime(reminder.due_at).strftime("%Y-%m-%d %H:%M")


def _message(reminder: Reminder, token: str, now) -> tuple[str, str, str]:
    """(kind, title, body) of the reminder ``token``."""
    if token == OVERDUE_TOKEN:
        kind, title = NotificationKind.OVERDUE, f"已逾期：{reminder.title}"
        text = f"到期时间：{_due_text(reminder)}，已逾期，请尽快处理。"
    else:
        if reminder.due_date is not None:
            days = (reminder.due_date - timezone.localdate(now)).days
        else:
            days = math.ceil((reminder.due_at - now) / timedelta(days=1))
        left = "今天到期" if days <= 0 else f"还有 {days} 天"
        kind, title = NotificationKind.REMINDER, f"即将到期：{reminder.title}"
        text = f"到期时间：{_due_text(reminder)}（{left}）"
    return kind, title, f"{text}\n{reminder.body}".strip()


def fire_due_reminders(now=None, limit: int = SCAN_LIMIT) -> int:
    """Send every reminder whose time has come. When several offsets of one item are due at once (it was
    registered late, or no worker ran for a while) only the most recent one is sent. Returns how many were sent."""
    from houqin.core.notifications import _create

    now = now or timezone.now()
    due = list(Reminder.objects.filter(state=ReminderState.ACTIVE, next_fire_at__lte=now)
               .select_related("org").order_by("next_fire_at", "pk")[:limit])
    sent = 0
    for reminder in due:
        read_next = reminder.next_fire_at
        tokens = [t for t in reminder.tokens() if t not in reminder.fired and reminder.fire_time(t) <= now]
        reminder.fired = [*reminder.fired, *tokens]
        next_at = reminder.compute_next_fire_at()
        with transaction.atomic():
            won = Reminder.objects.filter(pk=reminder.pk, state=ReminderState.ACTIVE, next_fire_at=read_next).update(
                fired=reminder.fired, next_fire_at=next_at, last_fired_at=now if tokens else reminder.last_fired_at
            )
            if not won or not tokens:
                continue  # another worker fired it, or there was nothing left to fire
            token = max(tokens, key=reminder.fire_time)
            kind, title, body = _message(reminder, token, now)
            key = f"reminder:{reminder.pk}:{reminder.due_at:%Y%m%d%H%M}:{token}"
            recipients = recipients_of(reminder)
            if not recipients:
                logger.warning("Reminder %s (%s) has no recipients", reminder.pk, reminder.title)
            _create(recipients, org=reminder.org, title=title, body=body, url=reminder.url, kind=kind,
                    source_ref=(reminder.source_type_id, reminder.source_id), dedupe_key=key, deliver=True)
        sent += 1
    return sent
