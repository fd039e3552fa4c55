"""Commands on work orders (报修单). Each runs in one transaction, re-reads the order with a row lock, checks who may
do it and from which state, changes the order, writes a ``WorkOrderEvent`` (who, when, from, to, why), keeps the SLA
reminders in step and notifies the people concerned. An illegal move raises ``ValidationError`` (or
``PermissionDenied`` for someone who may not act) with a Chinese reason; nothing is half-saved.

    create_order(org, *, user=None, description, room=None, asset=None, category=None, urgency="normal",
                 source="form", reference="", reporter_name="", reporter_phone="", ...) -> WorkOrder

is the stable entry point for other parts (the inspection plans call it with ``source="inspection"``).

State machine (``MOVES``)::

    待受理 ─派工/我来修→ 已派工 ─开始→ 维修中 ─完工→ 已完工 ─验收→ 已验收 ─回访→ 已回访
                                        ├─待配件→ 待配件 ─继续→ 维修中
                                        └─申请外修(审批)→ 外修 ─(批准后)继续/完工
    已派工/维修中/待配件 ─退回重派→ 待受理      已完工/已验收 ─没修好(投诉)→ 已派工
    待受理 ─驳回→ 已驳回      未完工 ─取消→ 已取消      重复报修 → 已合并
"""

from __future__ import annotations

import datetime
import logging
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from houqin.core.auth import access_for
from houqin.core.numbering import next_number
from houqin.repairs import conf, sla
from houqin.repairs.defaults import default_category, ensure_defaults
from houqin.repairs.models import (
    DONE_STATES,
    OPEN_STATES,
    EventAction,
    RepairCategory,
    Scale,
    Source,
    State,
    Urgency,
    WorkOrder,
    WorkOrderEvent,
    WorkOrderMaterial,
)

logger = logging.getLogger(__name__)

NUMBER_PREFIX = "BX"  # BX-20260301-001: per school and day
MAX_MATERIALS = 30
MAX_HOURS = Decimal("999.9")
MAX_MONEY = Decimal("9999999.99")
PHONE_RE = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8}(-\d{1,6})?|\d{7,8})$")
REPORTER_ROLES = ("logistics_head",)  # who hears of a new report, a hand-back, a complaint


# --- Who may do what ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Move:
    label: str
    from_states: tuple[str, ...]
    to_state: str | None  # None: the state does not change
    who: tuple[str, ...]  # office / technician / assignee / reporter
    icon: str = ""
    style: str = "secondary"
    needs_form: bool = True  # False: one tap (a POST without fields)


MOVES: dict[str, Move] = {
    "take": Move("我来修", (State.NEW,), State.DISPATCHED, ("technician",), "ti ti-hand-grab", "primary", False),
    "dispatch": Move("派工", (State.NEW, State.DISPATCHED), State.DISPATCHED, ("office",), "ti ti-user-share",
                     "primary"),
    "accept": Move("接单", (State.DISPATCHED,), None, ("assignee", "office"), "ti ti-check", "primary", False),
    "start": Move("开始维修", (State.DISPATCHED,), State.IN_PROGRESS, ("assignee", "office"), "ti ti-tool",
                  "primary", False),
    "wait_parts": Move("等配件", (State.IN_PROGRESS,), State.WAITING_PARTS, ("assignee", "office"),
                       "ti ti-package", "warning"),
    "outside": Move("申请外修", (State.IN_PROGRESS, State.WAITING_PARTS), State.OUTSIDE, ("assignee", "office"),
                    "ti ti-building-store", "warning"),
    "resume": Move("继续维修", (State.WAITING_PARTS, State.OUTSIDE), State.IN_PROGRESS, ("assignee", "office"),
                   "ti ti-player-play", "primary", False),
    "complete": Move("完工", (State.DISPATCHED, State.IN_PROGRESS, State.WAITING_PARTS, State.OUTSIDE), State.DONE,
                     ("assignee", "office"), "ti ti-circle-check", "success"),
    "hand_back": Move("退回重派", (State.DISPATCHED, State.IN_PROGRESS, State.WAITING_PARTS), State.NEW,
                      ("assignee",), "ti ti-arrow-back-up", "secondary"),
    "sign_off": Move("验收评价", (State.DONE,), State.ACCEPTED, ("reporter", "office"), "ti ti-star", "success"),
    "complain": Move("没修好", (State.DONE, State.ACCEPTED), State.DISPATCHED, ("reporter", "office"),
                     "ti ti-mood-sad", "danger"),
    "visit": Move("回访", (State.DONE, State.ACCEPTED), State.VISITED, ("office",), "ti ti-phone-call", "primary"),
    "classify": Move("调整分类", OPEN_STATES, None, ("office",), "ti ti-adjustments", "secondary"),
    "reject": Move("驳回", (State.NEW,), State.REJECTED, ("office",), "ti ti-ban", "danger"),
    "cancel": Move("取消报修", OPEN_STATES, State.CANCELLED, ("reporter", "office"), "ti ti-x", "danger"),
}
# A reporter may cancel only before the repair has started.
REPORTER_CANCEL_STATES = (State.NEW, State.DISPATCHED)


def roles_of(order: WorkOrder, user, *, via_token: bool = False) -> set[str]:
    """What ``user`` is to ``order``: office (受理派工), technician, assignee, reporter. ``via_token``: the anonymous
    reporter holding the order's status link."""
    roles = {"reporter"} if via_token else set()
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return roles
    if user.is_superuser:
        roles |= {"office", "technician"}
    else:
        access = access_for(user)
        if access.has("repairs.dispatch_workorder", order.org_id):
            roles.add("office")
        if access.has("repairs.change_workorder", order.org_id):
            roles.add("technician")
        if order.reporter_id == user.pk and order.org_id in access.member_org_ids:
            roles.add("reporter")
    if order.assignee_id is not None and order.assignee_id == user.pk and "technician" in roles:
        roles.add("assignee")
    return roles


def refusal(order: WorkOrder, user, action: str, *, via_token: bool = False) -> str | None:
    """Why ``user`` may not do ``action`` on ``order`` now (None: they may). Used by the buttons and the commands."""
    move = MOVES.get(action)
    if move is None:
        return "不支持的操作。"
    roles = roles_of(order, user, via_token=via_token)
    if not roles & set(move.who):
        return _who_text(move)
    if order.state not in move.from_states:
        return f"报修单当前为“{order.get_state_display()}”，不能{move.label}。"
    if action == "take" and not conf.technicians_self_assign(order.org):
        return "本校不允许维修人员自行接单，请等待派工。"
    if action == "accept" and order.accepted_at is not None:
        return "已经接单。"
    if action == "cancel" and "office" not in roles and order.state not in REPORTER_CANCEL_STATES:
        return "维修已经开始，不能取消；如不需要再修，请联系总务处。"
    if action in ("resume", "complete") and order.state == State.OUTSIDE and not order.outside_approved:
        return "外修申请尚未审批通过。"
    if action == "sign_off" and "reporter" not in roles and "office" not in roles:
        return "只有报修人或总务处可以验收。"
    return None


def allowed_actions(order: WorkOrder, user, *, via_token: bool = False) -> list[str]:
    return [key for key in MOVES if refusal(order, user, key, via_token=via_token) is None]


def _who_text(move: Move) -> str:
    names = {"office": "总务处（受理派工人员）", "technician": "维修人员", "assignee": "派到的维修人员",
             "reporter": "报修人"}
    return f"只有{'或'.join(names[w] for w in move.who)}可以{move.label}。"


def _check(order: WorkOrder, user, action: str, *, via_token: bool = False) -> set[str]:
    reason = refusal(order, user, action, via_token=via_token)
    if reason is None:
        return roles_of(order, user, via_token=via_token)
    move = MOVES.get(action)
    if move is not None and not roles_of(order, user, via_token=via_token) & set(move.who):
        raise PermissionDenied(reason)
    raise ValidationError(reason)


# --- Helpers -----------------------------------------------------------------------------------------------------
def locked(order: WorkOrder) -> WorkOrder:
    """The order re-read under a row lock, with what the commands read. The lock is taken first on the row alone:
    PostgreSQL re-checks a locked row that changed meanwhile, but not the columns of joined rows, so the joined read
    comes after, as a new statement that sees what the other transaction committed."""
    list(WorkOrder.objects.select_for_update().filter(pk=order.pk).values_list("pk", flat=True))
    return (WorkOrder.objects
            .select_related("org", "category", "room__campus", "room__building", "asset", "assignee", "reporter")
            .get(pk=order.pk))


def _actor(user):
    return user if getattr(user, "is_authenticated", False) else None


def record(order: WorkOrder, action: str, user=None, *, from_state: str = "", to_state: str = "", reason: str = "",
           data: dict | None = None, time=None) -> WorkOrderEvent:
    """Append one event to the order's log (inside the caller's transaction)."""
    actor = _actor(user)
    name = actor.get_full_name() if actor else (order.reporter_display if action in ("report", "sign_off",
                                                                                       "complain") else "系统")
    return WorkOrderEvent.objects.create(
        org_id=order.org_id, order=order, time=time or timezone.now(), action=action, from_state=from_state,
        to_state=to_state, actor=actor, actor_name=(name or "系统")[:80], reason=(reason or "")[:300],
        data=data or {},
    )


def _text(value, field: str, label: str, *, required: bool = True, max_length: int = 300) -> str:
    text = " ".join(str(value or "").split()) if field != "description" else str(value or "").strip()
    if required and not text:
        raise ValidationError({field: f"请填写{label}。"})
    if len(text) > max_length:
        raise ValidationError({field: f"{label}不能超过 {max_length} 个字。"})
    return text


def _decimal(value, field: str, label: str, *, maximum: Decimal, places: int = 2, default=None) -> Decimal:
    if value in (None, ""):
        if default is not None:
            return default
        raise ValidationError({field: f"请填写{label}。"})
    try:
        amount = Decimal(str(value).replace(",", "").strip())
    except (InvalidOperation, ValueError):
        raise ValidationError({field: f"{label}必须是数字。"}) from None
    if not amount.is_finite():
        raise ValidationError({field: f"{label}必须是数字。"})
    if amount < 0:
        raise ValidationError({field: f"{label}不能为负数。"})
    if amount > maximum:
        raise ValidationError({field: f"{label}过大。"})
    step = Decimal(1).scaleb(-places)
    if amount != amount.quantize(step):
        raise ValidationError({field: f"{label}最多保留 {places} 位小数。"})
    return amount.quantize(step)


def _phone(value, field: str = "reporter_phone", *, required: bool = False) -> str:
    phone = re.sub(r"[\s()（）]", "", str(value or ""))
    if not phone:
        if required:
            raise ValidationError({field: "请填写联系电话，方便维修人员联系您。"})
        return ""
    if not PHONE_RE.match(phone):
        raise ValidationError({field: "请填写正确的手机号（11 位）或座机号码。"})
    return phone


def users_with_roles(org, roles):
    from houqin.core.models import User

    return User.objects.filter(memberships__org=org, memberships__role__code__in=roles,
                               is_active=True).distinct().order_by("pk")


def _notify(recipients, order: WorkOrder, title: str, body: str = "", *, kind: str = "info", key: str = "",
            url: str | None = None) -> None:
    from houqin.core.notifications import notify

    recipients = [u for u in recipients if u is not None]
    if not recipients:
        return
    notify(recipients, org=order.org, title=title, body=body, url=url or order.get_absolute_url(), kind=kind,
           source=order, dedupe_key=f"repairs:{order.pk}:{key}" if key else None)


def _office(order: WorkOrder):
    return list(users_with_roles(order.org, REPORTER_ROLES))


def _asset_hook(name: str, order: WorkOrder, user) -> None:
    """Tell the assets app that the order's asset goes into (``start_repair``) or comes out of (``finish_repair``)
    repair, if that app offers these commands (``houqin.assets.disposal``). A refusal there (e.g. the card was
    disposed of meanwhile) does not stop the repair: it is noted in the order's log."""
    if not order.asset_id:
        return
    try:
        from houqin.assets import disposal
    except ImportError:
        return
    command = getattr(disposal, name, None)
    if command is None:
        return
    try:
        with transaction.atomic():
            command(order.asset, _actor(user), reference=order.number)
    except ValidationError as exc:
        message = "；".join(exc.messages) if hasattr(exc, "messages") else str(exc)
        record(order, EventAction.NOTE, user, reason=f"资产卡片状态未变更：{message}")


def _save(order: WorkOrder, *fields: str) -> None:
    order.save(update_fields=[*fields, "updated_at"])


def _transition(order: WorkOrder, to_state: str | None, now) -> str:
    before = order.state
    if to_state is not None and to_state != before:
        order.state = to_state
        order.state_changed_at = now
    return before


# --- Reporting --------------------------------------------------------------------------------------------------
def resolve_category(org, category) -> RepairCategory:
    if category in (None, ""):
        found = default_category(org)
        if found is None:
            raise ValidationError({"category": "本校还没有报修类别，请联系总务处。"})
        return found
    if isinstance(category, RepairCategory):
        if category.org_id != org.pk:
            raise ValidationError({"category": "报修类别不存在。"})
        if not category.is_active:
            raise ValidationError({"category": f"报修类别“{category.name}”已停用，请选择其他类别。"})
        return category
    ensure_defaults(org)
    found = RepairCategory.objects.filter(org=org, name=str(category).strip(), is_active=True).first()
    if found is None:
        raise ValidationError({"category": f"报修类别“{category}”不存在。"})
    return found


def _check_reporting_right(org, user, source: str) -> None:
    if user is None:
        if source in (Source.INSPECTION, Source.API):
            return  # a system call (a job, an inspection run): its caller decided
        if conf.report_requires_login(org):
            raise PermissionDenied("本校报修需要先登录。")
        return
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        raise PermissionDenied("请先登录。")
    if user.is_superuser:
        return
    access = access_for(user)
    if source == Source.PROXY:
        if not access.has("repairs.dispatch_workorder", org.pk):
            raise PermissionDenied("只有总务处可以代报报修。")
    elif source == Source.INSPECTION:
        if org.pk not in access.member_org_ids:
            raise PermissionDenied("您不是本校人员，不能报修。")
    elif not access.has("repairs.add_workorder", org.pk):
        raise PermissionDenied("您没有在本校报修的权限。")


def _check_rate(org, client_ip: str | None, phone: str) -> None:
    """Reports without signing in: at most ``reports_per_hour`` per IP address and per phone number."""
    limit = conf.reports_per_hour(org)
    since = timezone.now() - datetime.timedelta(hours=1)
    recent = WorkOrder.objects.filter(created_at__gte=since, reporter__isnull=True)
    if client_ip and recent.filter(client_ip=client_ip).count() >= limit:
        raise ValidationError(f"提交太频繁：同一网络一小时内最多报修 {limit} 次，请稍后再试或直接联系总务处。")
    if phone and recent.filter(reporter_phone=phone).count() >= limit:
        raise ValidationError({"reporter_phone": f"提交太频繁：同一电话一小时内最多报修 {limit} 次，请稍后再试。"})


def open_duplicate(org, *, room=None, asset=None, category=None) -> WorkOrder | None:
    """An open order about the same fault: the same asset, or (without an asset) the same room and category."""
    orders = WorkOrder.objects.filter(org=org, state__in=OPEN_STATES).select_related("assignee")
    if asset is not None:
        return orders.filter(asset=asset).order_by("reported_at", "pk").first()
    if room is not None and category is not None:
        return orders.filter(room=room, category=category, asset__isnull=True).order_by("reported_at", "pk").first()
    return None


def create_order(org, *, user=None, description, room=None, asset=None, category=None, urgency=Urgency.NORMAL,
                 source=Source.FORM, reference: str = "", reporter_name: str = "", reporter_phone: str = "",
                 reporter=None, place: str = "", photos=(), client_ip: str | None = None,
                 allow_duplicate: bool = False) -> WorkOrder:
    """Report a fault (报修). Returns the new order — or, when the same asset (or the same room and category) already
    has an open order, a record 已合并 into it (``duplicate_of``): the technicians get no second job, and the
    reporter is told which order handles it.

    ``user``: who enters the report (None: a visitor without an account, where the school allows it, or a system
    call with ``source="inspection"``). ``reporter``: the person reporting when someone else enters it (代报).
    ``category``: a RepairCategory of the school or its name (default 其他). ``photos``: uploaded files, checked and
    stored through core's attachments (all or nothing, with the order).
    """
    if org is None or getattr(org, "is_bureau", True):
        raise ValidationError("报修须在学校中提交。")
    if source not in Source.values:
        raise ValidationError({"source": "报修方式无效。"})
    if urgency not in Urgency.values:
        raise ValidationError({"urgency": "请选择紧急程度。"})
    user = user if getattr(user, "is_authenticated", False) else None
    _check_reporting_right(org, user, source)
    description = _text(description, "description", "故障描述", max_length=500)
    if len(description) < 2:
        raise ValidationError({"description": "请把故障说清楚一点（至少 2 个字）。"})
    place = _text(place, "place", "具体位置", required=False, max_length=100)
    reference = _text(reference, "reference", "来源单据", required=False, max_length=60)
    category = resolve_category(org, category)
    if asset is not None:
        if asset.org_id != org.pk:
            raise ValidationError({"asset": "资产不存在。"})
        if getattr(asset, "disposed_on", None) is not None:
            raise ValidationError({"asset": f"资产“{asset.name}”已处置核销，不能报修。"})
        if room is None and asset.room_id:
            room = asset.room
    if room is not None and room.org_id != org.pk:
        raise ValidationError({"room": "报修地点不存在。"})
    if room is None and asset is None and not place and source in (Source.FORM, Source.SCAN, Source.PROXY):
        raise ValidationError({"room": "请选择报修地点，或填写具体位置。"})
    anonymous = user is None and source in (Source.FORM, Source.SCAN)
    reporter_name = _text(reporter_name, "reporter_name", "报修人姓名", required=anonymous, max_length=40)
    if source == Source.PROXY and reporter is None and not reporter_name:
        raise ValidationError({"reporter_name": "请填写报修人姓名。"})
    if reporter is not None and not reporter.memberships.filter(org=org).exists():
        raise ValidationError({"reporter": "报修人必须是本校人员。"})
    if reporter is None and source != Source.PROXY:
        reporter = user
    phone = _phone(reporter_phone, required=anonymous)
    if not phone and reporter is not None:
        phone = _phone(reporter.phone) if PHONE_RE.match(reporter.phone or "") else ""
    if anonymous:
        _check_rate(org, client_ip, phone)
    photos = list(photos or ())

    with transaction.atomic():
        now = timezone.now()
        order = WorkOrder(
            org=org, room=room, building_id=room.building_id if room is not None else None, asset=asset,
            place=place, category=category, description=description, urgency=urgency, source=source,
            reference=reference, reporter=reporter, reporter_name=reporter_name if reporter is None else "",
            reporter_phone=phone, entered_by=user, client_ip=client_ip if anonymous else None, reported_at=now,
            state_changed_at=now,
        )
        order.place_text = order.compute_place_text()
        original = None if allow_duplicate else open_duplicate(org, room=room, asset=asset, category=category)
        order.number = next_number(org, NUMBER_PREFIX, day=timezone.localdate(now), per_day=True, width=3)
        if original is not None:
            order.state = State.MERGED
            order.duplicate_of = original
            order.closed_at = now
            order.close_reason = f"与 {original.number} 为同一故障，已合并处理"
            order.save()
            record(order, EventAction.REPORT, user, to_state=State.NEW, time=now,
                   data={"source": source, "urgency": urgency})
            record(order, EventAction.MERGE, user, from_state=State.NEW, to_state=State.MERGED, time=now,
                   reason=f"合并到 {original.number}")
            record(original, EventAction.MERGE, user, from_state=original.state, to_state=original.state, time=now,
                   reason=f"又收到 {order.reporter_display} 的同一故障报修（{order.number}）",
                   data={"duplicate": order.number})
        else:
            sla.apply_due_times(order)
            order.save()
            record(order, EventAction.REPORT, user, to_state=State.NEW, time=now,
                   reason=("代报" if source == Source.PROXY else ""),
                   data={"source": source, "urgency": urgency, "category": category.name})
        if photos:
            from houqin.core import attachments

            attachments.attach(order, photos, user=user or reporter, caption="报修照片", check_permission=False)
        if original is None:
            sla.sync_reminders(order)
            kind = "alert" if urgency == Urgency.CRITICAL else "todo"
            _notify(_office(order), order, f"新报修：{order.place_text or category.name}",
                    f"{order.get_urgency_display()} · {category.name}：{order.short_description}"
                    f"（{order.reporter_display}）", kind=kind, key="new")
    return order


# --- Dispatch ----------------------------------------------------------------------------------------------------
def _check_assignee(order: WorkOrder, assignee) -> None:
    from houqin.core.auth import user_can

    if assignee is None:
        raise ValidationError({"assignee": "请选择维修人员。"})
    if not assignee.is_active or not (assignee.is_superuser or user_can(assignee, "change", order)):
        raise ValidationError({"assignee": f"{assignee.get_full_name()}不是本校维修人员，不能派工给他。"})


def dispatch(order: WorkOrder, user, assignee, *, note: str = "") -> WorkOrder:
    """派工 (or 改派 before the repair starts): the office gives the job to a technician, who is notified."""
    note = _text(note, "note", "派工说明", required=False, max_length=300)
    with transaction.atomic():
        order = locked(order)
        _check(order, user, "dispatch")
        _check_assignee(order, assignee)
        if order.assignee_id == assignee.pk:
            raise ValidationError({"assignee": f"已经派给{assignee.get_full_name()}了。"})
        now = timezone.now()
        previous = order.assignee
        before = _transition(order, State.DISPATCHED, now)
        order.assignee = assignee
        order.dispatched_at = now
        order.accepted_at = None
        _save(order, "state", "state_changed_at", "assignee", "dispatched_at", "accepted_at")
        reason = note or (f"由{previous.get_full_name()}改派" if previous else "")
        record(order, EventAction.DISPATCH, user, from_state=before, to_state=order.state, reason=reason,
               data={"assignee": assignee.get_full_name(), "assignee_id": assignee.pk})
        sla.sync_reminders(order)
        _notify([assignee], order, f"派工：{order.place_text or order.category.name}",
                f"{order.get_urgency_display()} · {order.category.name}：{order.short_description}"
                + (f"。说明：{note}" if note else ""), kind="todo", key=f"dispatch:{assignee.pk}:{now:%Y%m%d%H%M%S}")
        if previous is not None:
            _notify([previous], order, f"报修单 {order.number} 已改派给{assignee.get_full_name()}",
                     key=f"redispatch:{previous.pk}:{now:%Y%m%d%H%M%S}")
    return order


def take(order: WorkOrder, user) -> WorkOrder:
    """我来修: a technician takes an unassigned order of the pool (where the school allows it)."""
    with transaction.atomic():
        order = locked(order)
        if order.state != State.NEW and order.assignee_id:
            raise ValidationError(f"该报修单已由{order.assignee.get_full_name()}接单。")
        _check(order, user, "take")
        now = timezone.now()
        before = _transition(order, State.DISPATCHED, now)
        order.assignee = user
        order.dispatched_at = order.accepted_at = now
        sla.mark_lateness(order, now)
        _save(order, "state", "state_changed_at", "assignee", "dispatched_at", "accepted_at", "accept_late")
        record(order, EventAction.TAKE, user, from_state=before, to_state=order.state)
        sla.sync_reminders(order)
    return order


def accept(order: WorkOrder, user) -> WorkOrder:
    """接单: the technician confirms they have the job (the 受理 clock stops)."""
    with transaction.atomic():
        order = locked(order)
        _check(order, user, "accept")
        now = timezone.now()
        order.accepted_at = now
        sla.mark_lateness(order, now)
        _save(order, "accepted_at", "accept_late")
        record(order, EventAction.ACCEPT, user, from_state=order.state, to_state=order.state)
        sla.sync_reminders(order)
    return order


def start(order: WorkOrder, user) -> WorkOrder:
    """开始维修: on site (accepts the job too if not yet done). The asset, if any, goes into repair."""
    with transaction.atomic():
        order = locked(order)
        _check(order, user, "start")
        now = timezone.now()
        before = _transition(order, State.IN_PROGRESS, now)
        order.accepted_at = order.accepted_at or now
        order.started_at = now
        sla.mark_lateness(order, now)
        _save(order, "state", "state_changed_at", "accepted_at", "started_at", "accept_late", "start_late")
        record(order, EventAction.START, user, from_state=before, to_state=order.state)
        _asset_hook("start_repair", order, user)
        sla.sync_reminders(order)
    return order


def _make_major(order: WorkOrder) -> list[str]:
    """Waiting for parts or an outside firm makes it a 大修: the finish limit becomes the 大修 one."""
    if order.scale == Scale.MAJOR:
        return []
    order.scale = Scale.MAJOR
    due = sla.due_times(order.org, order.category, order.urgency, order.scale, order.reported_at)
    order.finish_due = max(due.finish, order.finish_due) if order.finish_due else due.finish
    return ["scale", "finish_due"]


def wait_parts(order: WorkOrder, user, *, reason: str) -> WorkOrder:
    """待配件: the repair waits for parts (named in ``reason``); the job becomes a 大修."""
    reason = _text(reason, "reason", "需要的配件", max_length=300)
    with transaction.atomic():
        order = locked(order)
        _check(order, user, "wait_parts")
        now = timezone.now()
        before = _transition(order, State.WAITING_PARTS, now)
        changed = _make_major(order)
        _save(order, "state", "state_changed_at", *changed)
        record(order, EventAction.WAIT_PARTS, user, from_state=before, to_state=order.state, reason=reason)
        sla.sync_reminders(order)
        _notify(_office(order), order, f"报修单 {order.number} 等待配件", f"{order.place_text}：{reason}",
                key=f"parts:{now:%Y%m%d%H%M%S}")
    return order


def resume(order: WorkOrder, user, *, note: str = "") -> WorkOrder:
    """继续维修: parts arrived, or the outside repair was approved and the firm is done with its part."""
    note = _text(note, "note", "说明", required=False)
    with transaction.atomic():
        order = locked(order)
        _check(order, user, "resume")
        now = timezone.now()
        before = _transition(order, State.IN_PROGRESS, now)
        _save(order, "state", "state_changed_at")
        record(order, EventAction.RESUME, user, from_state=before, to_state=order.state, reason=note)
    return order


def go_outside(order: WorkOrder, user, *, contractor: str, quote, reason: str) -> WorkOrder:
    """申请外修: an outside firm is needed. The quote goes to core's approval engine (``outside_repair``, bands by
    amount); the order waits in 外修 until it is approved (then 继续维修 or 完工) or refused (back to 维修中)."""
    from houqin.core import approvals

    contractor = _text(contractor, "contractor", "外修单位", max_length=100)
    quote = _decimal(quote, "quote", "外修报价", maximum=MAX_MONEY)
    reason = _text(reason, "reason", "外修原因", max_length=300)
    if not getattr(user, "is_authenticated", False):
        raise PermissionDenied("请先登录。")
    with transaction.atomic():
        order = locked(order)
        _check(order, user, "outside")
        now = timezone.now()
        before = _transition(order, State.OUTSIDE, now)
        order.contractor, order.contractor_quote, order.outside_approved = contractor, quote, False
        changed = _make_major(order)
        _save(order, "state", "state_changed_at", "contractor", "contractor_quote", "outside_approved", *changed)
        title = f"外修：{order.number} {order.place_text or order.category.name}（{contractor}）"[:200]
        request = approvals.submit(order, user, amount=quote, category="", title=title, request_type="outside_repair",
                                   comment=reason)
        record(order, EventAction.OUTSIDE, user, from_state=before, to_state=order.state, reason=reason,
               data={"contractor": contractor, "quote": str(quote), "approval": request.number})
        sla.sync_reminders(order)
    return order


def outside_approved(request) -> None:
    """Approval hook (``outside_repair`` approved): the order may continue."""
    order = locked(request.source)
    if order.state != State.OUTSIDE:
        return
    order.outside_approved = True
    _save(order, "outside_approved")
    record(order, EventAction.OUTSIDE_APPROVED, None, from_state=order.state, to_state=order.state,
           reason=f"审批单 {request.number}", data={"approval": request.number})
    if order.assignee_id:
        _notify([order.assignee], order, f"外修已批准：{order.number}",
                f"{order.contractor}，报价 {order.contractor_quote} 元。", key=f"outside_ok:{request.pk}")


def outside_refused(request) -> None:
    """Approval hook (rejected or withdrawn): the repair goes back to 维修中 with the reason in its log."""
    order = locked(request.source)
    if order.state != State.OUTSIDE:
        return
    now = timezone.now()
    before = _transition(order, State.IN_PROGRESS, now)
    order.outside_approved = False
    _save(order, "state", "state_changed_at", "outside_approved")
    last = request.actions.order_by("-time", "-pk").first()
    comment = getattr(last, "comment", "") or request.get_status_display()
    record(order, EventAction.OUTSIDE_REFUSED, None, from_state=before, to_state=order.state,
           reason=f"审批单 {request.number}：{comment}", data={"approval": request.number})
    if order.assignee_id:
        _notify([order.assignee], order, f"外修未获批准：{order.number}", comment, key=f"outside_no:{request.pk}")


def _parse_materials(rows) -> list[dict]:
    cleaned, errors = [], []
    rows = list(rows or ())
    if len(rows) > MAX_MATERIALS:
        raise ValidationError({"materials": f"材料最多登记 {MAX_MATERIALS} 行。"})
    for index, row in enumerate(rows, start=1):
        row = row or {}
        name = " ".join(str(row.get("name") or "").split())
        if not name and not row.get("quantity") and not row.get("unit_price"):
            continue  # an empty line of the form
        try:
            if not name:
                raise ValidationError("请填写材料名称。")
            if len(name) > 60:
                raise ValidationError("材料名称不能超过 60 个字。")
            quantity = _decimal(row.get("quantity"), "materials", "数量", maximum=Decimal("99999999"))
            if quantity <= 0:
                raise ValidationError("数量必须大于 0。")
            price = _decimal(row.get("unit_price"), "materials", "单价", maximum=MAX_MONEY, default=Decimal("0"))
        except ValidationError as exc:
            message = exc.message_dict["materials"][0] if hasattr(exc, "error_dict") else exc.messages[0]
            errors.append(f"第 {index} 行：{message}")
            continue
        cleaned.append({"name": name, "spec": str(row.get("spec") or "").strip()[:60], "quantity": quantity,
                        "unit": (str(row.get("unit") or "").strip() or "个")[:10], "unit_price": price})
    if errors:
        raise ValidationError({"materials": errors})
    return cleaned


def complete(order: WorkOrder, user, *, work_done: str, labour_hours=None, materials=(), outside_cost=None,
             photos=()) -> WorkOrder:
    """完工: what was done, the materials and hours (→ cost), the outside firm's bill, completion photos. The
    reporter is asked to sign off; the office gets the 回访 task; the asset, if any, comes out of repair."""
    from houqin.core import attachments

    work_done = _text(work_done, "work_done", "维修内容", max_length=500)
    hours = _decimal(labour_hours, "labour_hours", "工时", maximum=MAX_HOURS, places=1, default=Decimal("0"))
    rows = _parse_materials(materials)
    photos = list(photos or ())
    with transaction.atomic():
        order = locked(order)
        roles = _check(order, user, "complete")
        was_started = order.started_at is not None
        if not photos and conf.completion_photo_required(order.org) and "office" not in roles:
            raise ValidationError({"photos": "请拍一张修好后的照片。"})
        outside = None
        if order.contractor:
            outside = _decimal(outside_cost, "outside_cost", "外修费用", maximum=MAX_MONEY,
                               default=order.contractor_quote or Decimal("0"))
        now = timezone.now()
        before = _transition(order, State.DONE, now)
        order.work_done, order.labour_hours = work_done, hours
        order.labour_rate = conf.labour_rate(order.org)
        order.completed_at = now
        order.accepted_at = order.accepted_at or now
        order.started_at = order.started_at or now
        order.materials.all().delete()
        WorkOrderMaterial.objects.bulk_create([
            WorkOrderMaterial(org_id=order.org_id, order=order, amount=(r["quantity"] * r["unit_price"]).quantize(
                Decimal("0.01")), **r) for r in rows])
        order.material_cost = sum(((r["quantity"] * r["unit_price"]).quantize(Decimal("0.01")) for r in rows),
                                  Decimal("0"))
        order.outside_cost = outside if outside is not None else Decimal("0")
        order.compute_costs()
        sla.mark_lateness(order, now)
        _save(order, "state", "state_changed_at", "work_done", "labour_hours", "labour_rate", "completed_at",
              "accepted_at", "started_at", "material_cost", "outside_cost", "labour_cost", "total_cost",
              "accept_late", "start_late", "finish_late")
        record(order, EventAction.COMPLETE, user, from_state=before, to_state=order.state, reason=work_done,
               data={"labour_hours": str(hours), "materials": len(rows), "total_cost": str(order.total_cost)})
        if photos:
            attachments.attach(order, photos, user=user, caption="完工照片", check_permission=False)
        if was_started:  # a job done on the spot never put the asset into repair
            _asset_hook("finish_repair", order, user)
        sla.sync_reminders(order)
        sla.schedule_visit(order)
        title = f"已修好，请验收：{order.place_text or order.category.name}"
        _notify([order.reporter], order, title, f"{order.short_description}。维修内容：{work_done}", kind="todo",
                key=f"done:{order.reopened_count}")
        duplicates = WorkOrder.objects.filter(duplicate_of=order).exclude(reporter=None).select_related("reporter")
        reporters = {d.reporter_id: d.reporter for d in duplicates if d.reporter_id != order.reporter_id}
        _notify(list(reporters.values()), order, f"您报修的故障已修好：{order.place_text or order.category.name}",
                f"您的报修已合并到 {order.number}，现已修好。", key=f"done_dup:{order.reopened_count}")
    return order


def hand_back(order: WorkOrder, user, *, reason: str) -> WorkOrder:
    """退回重派: the technician cannot do it (wrong trade, needs two people…): the order goes back to 待受理."""
    reason = _text(reason, "reason", "退回原因", max_length=300)
    with transaction.atomic():
        order = locked(order)
        _check(order, user, "hand_back")
        now = timezone.now()
        before = _transition(order, State.NEW, now)
        previous = order.assignee
        order.assignee = None
        order.dispatched_at = order.accepted_at = order.started_at = None
        _save(order, "state", "state_changed_at", "assignee", "dispatched_at", "accepted_at", "started_at")
        record(order, EventAction.HAND_BACK, user, from_state=before, to_state=order.state, reason=reason,
               data={"assignee": previous.get_full_name() if previous else ""})
        sla.sync_reminders(order)
        _notify(_office(order), order, f"报修单被退回，请重新派工：{order.number}",
                f"{previous.get_full_name() if previous else ''}：{reason}", kind="todo",
                key=f"handback:{now:%Y%m%d%H%M%S}")
    return order


# --- Sign-off, complaints, follow-up -----------------------------------------------------------------------------
def _rating(value) -> int | None:
    if value in (None, ""):
        return None
    try:
        rating = int(value)
    except (TypeError, ValueError):
        raise ValidationError({"rating": "评价须为 1 至 5 星。"}) from None
    if not 1 <= rating <= 5:
        raise ValidationError({"rating": "评价须为 1 至 5 星。"})
    return rating


def sign_off(order: WorkOrder, user, *, rating=None, comment: str = "", reason: str = "",
             via_token: bool = False) -> WorkOrder:
    """验收: the reporter confirms the repair on the phone and rates it (1–5 stars, optional: no rating stays
    未评价, never assumed good); or the office signs off on the reporter's behalf, giving the reason."""
    rating = _rating(rating)
    comment = _text(comment, "comment", "评价意见", required=False)
    with transaction.atomic():
        order = locked(order)
        roles = _check(order, user, "sign_off", via_token=via_token)
        as_reporter = "reporter" in roles
        if not as_reporter:
            reason = _text(reason, "reason", "代为验收的原因")
            if rating is not None:
                raise ValidationError({"rating": "评价只能由报修人本人填写。"})
        now = timezone.now()
        before = _transition(order, State.ACCEPTED, now)
        order.signed_off_at = now
        order.signed_off_by = _actor(user)
        order.signed_off_on_behalf = not as_reporter
        order.rating, order.rating_comment = rating, comment if as_reporter else ""
        _save(order, "state", "state_changed_at", "signed_off_at", "signed_off_by", "signed_off_on_behalf", "rating",
              "rating_comment")
        record(order, EventAction.SIGN_OFF, user, from_state=before, to_state=order.state,
               reason=(comment if as_reporter else f"代为验收：{reason}"),
               data={"rating": rating, "on_behalf": not as_reporter})
    return order


def complain(order: WorkOrder, user, *, reason: str, via_token: bool = False) -> WorkOrder:
    """没修好: a complaint at sign-off (or at the follow-up call) reopens the order for its technician (or for
    dispatch if they can no longer take it), with fresh start and finish limits from now."""
    from houqin.core.auth import user_can

    reason = _text(reason, "reason", "没修好的情况", max_length=300)
    with transaction.atomic():
        order = locked(order)
        _check(order, user, "complain", via_token=via_token)
        now = timezone.now()
        keep = order.assignee if order.assignee_id and order.assignee.is_active and (
            order.assignee.is_superuser or user_can(order.assignee, "change", order)) else None
        before = _transition(order, State.DISPATCHED if keep else State.NEW, now)
        order.assignee = keep
        order.dispatched_at = now if keep else None
        order.accepted_at = now if keep else None
        order.started_at = order.completed_at = order.signed_off_at = order.signed_off_by = None
        order.signed_off_on_behalf = False
        order.reopened_count += 1
        limits = sla.limits_for(order.org, order.category, order.urgency)
        due = sla.due_times(order.org, order.category, order.urgency, order.scale, now, limits)
        order.accept_due = due.accept if not keep else order.accept_due
        order.start_due, order.finish_due = due.start, due.finish
        _save(order, "state", "state_changed_at", "assignee", "dispatched_at", "accepted_at", "started_at",
              "completed_at", "signed_off_at", "signed_off_by", "signed_off_on_behalf", "reopened_count",
              "accept_due", "start_due", "finish_due")
        record(order, EventAction.COMPLAIN, user, from_state=before, to_state=order.state, reason=reason,
               data={"reopened": order.reopened_count})
        sla.sync_reminders(order)
        sla.complete_visit(order)
        body = f"{order.place_text}：{reason}"
        _notify([keep, *_office(order)], order, f"返修：{order.number} 报修人反映没修好", body, kind="alert",
                key=f"complain:{order.reopened_count}")
    return order


def visit(order: WorkOrder, user, *, note: str, rating=None) -> WorkOrder:
    """回访: the office calls the reporter back and notes what they said. On an order not yet signed off, the visit
    signs it off on the reporter's behalf. A rating the reporter gives on the phone may be recorded if none was."""
    note = _text(note, "note", "回访情况", max_length=300)
    rating = _rating(rating)
    with transaction.atomic():
        order = locked(order)
        _check(order, user, "visit")
        now = timezone.now()
        if order.state == State.DONE:
            order.signed_off_at, order.signed_off_by, order.signed_off_on_behalf = now, _actor(user), True
            record(order, EventAction.SIGN_OFF, user, from_state=State.DONE, to_state=State.ACCEPTED,
                   reason="回访时代为验收", data={"on_behalf": True})
            order.state = State.ACCEPTED
        if rating is not None and order.rating is None:
            order.rating, order.rating_comment = rating, f"回访时报修人口头评价：{note}"[:300]
        before = _transition(order, State.VISITED, now)
        order.visited_at, order.visit_note = now, note
        _save(order, "state", "state_changed_at", "signed_off_at", "signed_off_by", "signed_off_on_behalf",
              "rating", "rating_comment", "visited_at", "visit_note")
        record(order, EventAction.VISIT, user, from_state=before, to_state=order.state, reason=note,
               data={"rating": rating})
        sla.complete_visit(order)
    return order


# --- Office corrections and closing ------------------------------------------------------------------------------
def classify(order: WorkOrder, user, *, category=None, urgency=None, scale=None, note: str = "") -> WorkOrder:
    """调整分类: the office corrects the category, urgency or size; the time limits are computed again from the
    report time with the new values."""
    note = _text(note, "note", "说明", required=False)
    with transaction.atomic():
        order = locked(order)
        _check(order, user, "classify")
        changes = {}
        if category not in (None, ""):
            category = resolve_category(order.org, category)
            if category.pk != order.category_id:
                changes["category"] = [order.category.name, category.name]
                order.category = category
        if urgency not in (None, "") and urgency != order.urgency:
            if urgency not in Urgency.values:
                raise ValidationError({"urgency": "紧急程度无效。"})
            changes["urgency"] = [order.get_urgency_display(), Urgency(urgency).label]
            order.urgency = urgency
        if scale not in (None, "") and scale != order.scale:
            if scale not in Scale.values:
                raise ValidationError({"scale": "维修规模无效。"})
            changes["scale"] = [order.get_scale_display(), Scale(scale).label]
            order.scale = scale
        if not changes:
            raise ValidationError("没有需要调整的内容。")
        sla.apply_due_times(order)
        _save(order, "category", "urgency", "scale", "accept_due", "start_due", "finish_due")
        record(order, EventAction.CLASSIFY, user, from_state=order.state, to_state=order.state, reason=note,
               data=changes)
        sla.sync_reminders(order)
    return order


def reject(order: WorkOrder, user, *, reason: str) -> WorkOrder:
    """驳回: not a repair for the office (not school property, not a fault…); the reporter is told why."""
    reason = _text(reason, "reason", "驳回原因", max_length=300)
    return _close(order, user, "reject", State.REJECTED, EventAction.REJECT, reason)


def cancel(order: WorkOrder, user, *, reason: str = "", via_token: bool = False) -> WorkOrder:
    """取消: the reporter withdraws (before the repair starts) or the office cancels (with the reason)."""
    reason = _text(reason, "reason", "取消原因", required=False, max_length=300)
    return _close(order, user, "cancel", State.CANCELLED, EventAction.CANCEL, reason, via_token=via_token)


def _close(order, user, action, to_state, event, reason, *, via_token=False) -> WorkOrder:
    with transaction.atomic():
        order = locked(order)
        roles = _check(order, user, action, via_token=via_token)
        if "office" in roles and "reporter" not in roles and not reason:
            raise ValidationError({"reason": "请填写原因，报修人会看到。"})
        now = timezone.now()
        before = _transition(order, to_state, now)
        order.closed_at, order.close_reason = now, reason
        _save(order, "state", "state_changed_at", "closed_at", "close_reason")
        record(order, event, user, from_state=before, to_state=order.state, reason=reason)
        sla.sync_reminders(order)
        verb = "驳回" if to_state == State.REJECTED else "取消"
        actor = _actor(user)
        if order.reporter_id and (actor is None or actor.pk != order.reporter_id):
            _notify([order.reporter], order, f"报修已{verb}：{order.place_text or order.category.name}",
                    reason, key=f"closed:{to_state}")
        if order.assignee_id and (actor is None or actor.pk != order.assignee_id) and before in OPEN_STATES:
            _notify([order.assignee], order, f"报修单 {order.number} 已{verb}", reason, key=f"closed_a:{to_state}")
    return order


# --- One entry for the pages and the API -------------------------------------------------------------------------
COMMANDS = {
    "take": take, "dispatch": dispatch, "accept": accept, "start": start, "wait_parts": wait_parts,
    "outside": go_outside, "resume": resume, "complete": complete, "hand_back": hand_back, "sign_off": sign_off,
    "complain": complain, "visit": visit, "classify": classify, "reject": reject, "cancel": cancel,
}


def perform(action: str, order: WorkOrder, user, **data) -> WorkOrder:
    """Run the command ``action`` with the fields of its form (the pages and the API share it)."""
    command = COMMANDS.get(action)
    if command is None:
        raise ValidationError("不支持的操作。")
    if action == "dispatch":
        return command(order, user, data.get("assignee"), note=data.get("note", ""))
    return command(order, user, **data)


def is_done(order: WorkOrder) -> bool:
    return order.state in DONE_STATES
