"""Custody commands on asset cards: 领用 (assign), 退库 (return to store), 调拨 (transfer), 借出/归还 (lend/return).

Each command runs in one transaction: it re-reads the card with a row lock (``services.locked``), checks the status
it moves from and that nothing moved the card since the caller saw it (``expected``: a fingerprint of status and
custody, by default the one of the card object passed in), refuses while a transfer of the card waits for approval,
changes the card and appends one ``AssetEvent``. A refusal is a ``ValidationError`` with a Chinese reason (keyed by
field where a field is at fault); nothing is half-saved.

A transfer that changes the using department goes through core's approval engine (request type ``transfer``): the
``AssetTransfer`` waits as 审批中 and ``transfer_approved`` (connected in ``models/custody.py``) applies the whole
move in one step when the last approver agrees.

Loans schedule due-date reminders through core's reminder engine and keep the hand-over signatures as attachments
of the loan (``houqin.core.attachments``).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import io
import re
from datetime import timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from houqin.assets import history
from houqin.assets.choices import AssetEventCode, AssetStatus
from houqin.assets.models import Asset, AssetLoan, AssetTransfer, LoanCondition, TransferStatus
from houqin.assets.models.custody import LOAN_PREFIX, TRANSFER_PREFIX
from houqin.assets.services import locked, record_event
from houqin.core.auth import user_can
from houqin.core.models import Department, Membership, Room
from houqin.core.numbering import next_number

CUSTODY_FACTS = ("department", "room", "custodian")
# From which statuses each command may move a card.
ASSIGNABLE = (AssetStatus.IDLE,)
RETURNABLE = (AssetStatus.IN_USE,)
TRANSFERABLE = (AssetStatus.IN_USE, AssetStatus.IDLE)
LENDABLE = (AssetStatus.IN_USE, AssetStatus.IDLE)
# An approved transfer still applies to a card sent to repair while it waited (a repair may start meanwhile).
APPLICABLE = (*TRANSFERABLE, AssetStatus.REPAIRING)

LOAN_REMINDER = "asset_loan_due"  # to the keeper who lent it (the loan's page)
LOAN_BORROWER_REMINDER = "asset_loan_due_borrower"  # to a borrower who is a member (their 我的资产 page)

SIGNATURE_CAPTION = "借用人签字"
RETURN_SIGNATURE_CAPTION = "归还签字"
SIGNATURE_MAX_BYTES = 512 * 1024
SIGNATURE_MAX_EDGE = 4000
SIGNATURE_MIN_INK = 40  # dark pixels a real signature has at least
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
DATA_URL_PREFIX = "data:image/png;base64,"
PHONE_RE = re.compile(r"^\+?[0-9][0-9\- ]{5,19}$")

UNCHANGED = object()  # transfer(): leave this fact as it is


# --- Small helpers --------------------------------------------------------------------------------------------------
def fingerprint(asset: Asset) -> str:
    """What a caller saw of a card's status and custody; a command refuses when the stored card differs."""
    return f"{asset.status}|{asset.department_id or ''}|{asset.room_id or ''}|{asset.custodian_id or ''}"


def _actor_required(user) -> None:
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        raise PermissionDenied("请先登录。")


def _lock_checked(asset: Asset, user, expected: str | None) -> Asset:
    """The card locked for this transaction, after the permission check and the "nobody moved it" check."""
    _actor_required(user)
    seen = expected if expected is not None else fingerprint(asset)
    card = locked(asset)
    if not user_can(user, "change", card):
        raise PermissionDenied("您没有管理该资产的权限。")
    if seen and fingerprint(card) != seen:
        raise ValidationError("该资产刚刚已被他人变更（状态、使用部门、存放地点或保管人），请刷新页面，核对后再操作。",
                              code="stale")
    return card


def status_refusal(card: Asset, allowed, verb: str) -> str | None:
    """Why ``card`` cannot be ``verb``-ed from its status (None: it can)."""
    if card.status in allowed:
        return None
    names = "、".join(f"“{AssetStatus(s).label}”" for s in allowed)
    return f"该资产当前状态为“{card.get_status_display()}”，不能{verb}（只有{names}的资产可以{verb}）。"


def _expect_status(card: Asset, allowed, verb: str) -> None:
    reason = status_refusal(card, allowed, verb)
    if reason:
        raise ValidationError(reason, code="status")


def pending_transfer(asset) -> AssetTransfer | None:
    """The transfer of ``asset`` waiting for approval, if any."""
    return AssetTransfer.objects.filter(asset_id=getattr(asset, "pk", asset), status=TransferStatus.PENDING).first()


def pending_transfers_of(assets) -> dict[int, AssetTransfer]:
    """{asset id: its transfer waiting for approval} for several cards (one query)."""
    ids = [getattr(a, "pk", a) for a in assets]
    return {t.asset_id: t for t in AssetTransfer.objects.filter(asset_id__in=ids, status=TransferStatus.PENDING)}


def pending_number(transfer: AssetTransfer) -> str:
    """The number a keeper looks for: the approval request's (SP-…), else the transfer's own (DB-…)."""
    return transfer.approval_number or transfer.number


def pending_refusal(transfer: AssetTransfer, verb: str = "领用、退库、调拨或借出") -> str:
    """The reason a command refuses a card whose transfer waits for approval (the rule for the whole assets app,
    see docs/assets-lifecycle.md)."""
    return (f"该资产有一项调拨正在审批中（审批单 {pending_number(transfer)}），审批完成前不能{verb}。"
            "如需办理，请先撤回或驳回该调拨申请。")


def pending_note(transfer: AssetTransfer) -> str:
    """A note for a command that is allowed while a transfer waits (送修, 维修结束, 损坏登记)."""
    return f"调拨审批中（审批单 {pending_number(transfer)}）"


def refuse_if_pending(card, verb: str = "领用、退库、调拨或借出") -> None:
    """Refuse (``ValidationError`` code ``pending_transfer``) when a transfer of ``card`` waits for approval.
    Call it after the card's row lock: a transfer is created under the same lock."""
    transfer = pending_transfer(card)
    if transfer is not None:
        raise ValidationError(pending_refusal(transfer, verb), code="pending_transfer")


_refuse_if_pending = refuse_if_pending


def _is_member(user, org_id: int) -> bool:
    return Membership.objects.filter(user=user, org_id=org_id, user__is_active=True).exists()


def _check_custody(card: Asset, department, room, custodian, errors: dict, *, keep: tuple = ()) -> None:
    """The new department, room and custodian belong to the card's school (and are in use, unless unchanged)."""
    if department is not None:
        if department.org_id != card.org_id:
            errors["department"] = "使用部门必须是本校的部门。"
        elif not department.is_active and department.pk not in keep:
            errors["department"] = f"部门“{department}”已停用，请选择其他部门。"
    if room is not None:
        if room.org_id != card.org_id:
            errors["room"] = "存放地点必须是本校的房间。"
        elif not room.is_active and room.pk not in keep:
            errors["room"] = f"房间“{room}”已停用，请选择其他地点。"
    if custodian is not None and not _is_member(custodian, card.org_id):
        errors["custodian"] = "保管人必须是本校在职人员。"


def _facts(card: Asset) -> dict:
    return history.snapshot(card, (*CUSTODY_FACTS, "status"))


# --- 领用 / 退库 -----------------------------------------------------------------------------------------------------
def assign(asset: Asset, user, *, department: Department, room: Room | None = None, custodian=None, note: str = "",
           expected: str | None = None) -> Asset:
    """领用: an idle card goes into use by a department (and a room and/or a custodian)."""
    with transaction.atomic():
        card = _lock_checked(asset, user, expected)
        _expect_status(card, ASSIGNABLE, "领用")
        _refuse_if_pending(card)
        errors: dict[str, str] = {}
        if department is None:
            errors["department"] = "请选择领用部门。"
        if room is None and custodian is None:
            errors["custodian"] = "请选择保管人或存放地点（不指定保管人时，由存放地点的责任人保管）。"
        _check_custody(card, department, room, custodian, errors)
        if errors:
            raise ValidationError(errors)
        before = _facts(card)
        card.department, card.room, card.custodian = department, room if room is not None else card.room, custodian
        card.status = AssetStatus.IN_USE
        card.save(update_fields=["department", "room", "custodian", "status", "updated_at"])
        record_event(card, AssetEventCode.ASSIGN, user, changes=history.diff(before, _facts(card)),
                     status_before=before["status"], status_after=card.status, note=note)
    _sync(asset, card)
    return card


def return_to_store(asset: Asset, user, *, room: Room | None = None, note: str = "",
                    expected: str | None = None) -> Asset:
    """退库: an in-use card goes back to the store (闲置); nobody keeps it any more; ``room`` is the store room."""
    with transaction.atomic():
        card = _lock_checked(asset, user, expected)
        _expect_status(card, RETURNABLE, "退库")
        _refuse_if_pending(card)
        errors: dict[str, str] = {}
        _check_custody(card, None, room, None, errors)
        if errors:
            raise ValidationError(errors)
        before = _facts(card)
        if room is not None:
            card.room = room
        card.custodian = None
        card.status = AssetStatus.IDLE
        card.save(update_fields=["room", "custodian", "status", "updated_at"])
        record_event(card, AssetEventCode.RETURN_TO_STORE, user, changes=history.diff(before, _facts(card)),
                     status_before=before["status"], status_after=card.status, note=note)
    _sync(asset, card)
    return card


def _sync(caller_copy: Asset, card: Asset) -> None:
    """The caller's object shows the card as it is now (views redirect; tests read it)."""
    if caller_copy is not card:
        for name in ("status", "department_id", "room_id", "custodian_id", "updated_at"):
            setattr(caller_copy, name, getattr(card, name))
        for name in ("department", "room", "custodian"):
            caller_copy._state.fields_cache.pop(name, None)


# --- 调拨 ----------------------------------------------------------------------------------------------------------
def _name(obj) -> str:
    return str(obj) if obj is not None else "（空）"


def transfer_summary(before: dict, after: dict) -> str:
    labels = {"department": "使用部门", "room": "存放地点", "custodian": "保管人"}
    parts = [f"{labels[k]}：{_name(before[k])} → {_name(after[k])}" for k in CUSTODY_FACTS
             if getattr(before[k], "pk", None) != getattr(after[k], "pk", None)]
    return "；".join(parts)[:300]


def transfer(asset: Asset, user, *, department=UNCHANGED, room=UNCHANGED, custodian=UNCHANGED, reason: str = "",
             expected: str | None = None) -> AssetTransfer:
    """调拨: move a card to another department, room and/or custodian in one command.

    Facts left ``UNCHANGED`` stay as they are; ``None`` clears one. Within the card's department the move applies
    at once; a new department needs approval (``transfer`` request, submitted here by ``user``): the transfer then
    waits as 审批中 and nothing else may move the card until it is decided.
    """
    reason = (reason or "").strip()
    with transaction.atomic():
        card = _lock_checked(asset, user, expected)
        _expect_status(card, TRANSFERABLE, "调拨")
        _refuse_if_pending(card)
        current = {"department": card.department, "room": card.room, "custodian": card.custodian}
        target = dict(current)
        for name, value in (("department", department), ("room", room), ("custodian", custodian)):
            if value is not UNCHANGED:
                target[name] = value
        if all(getattr(current[k], "pk", None) == getattr(target[k], "pk", None) for k in CUSTODY_FACTS):
            raise ValidationError("调拨后的使用部门、存放地点和保管人与现在相同，无需调拨。", code="no_change")
        errors: dict[str, str] = {}
        keep = tuple(getattr(current[k], "pk", None) for k in ("department", "room") if current[k] is not None)
        _check_custody(card, target["department"], target["room"],
                       target["custodian"] if getattr(target["custodian"], "pk", None) != card.custodian_id else None,
                       errors, keep=keep)
        crosses = getattr(target["department"], "pk", None) != card.department_id
        if crosses and not reason:
            errors["reason"] = "跨部门调拨须经审批，请填写调拨原因。"
        if errors:
            raise ValidationError(errors)
        move = AssetTransfer(
            org_id=card.org_id, number=next_number(card.org, TRANSFER_PREFIX), asset=card,
            from_department=current["department"], to_department=target["department"],
            from_room=current["room"], to_room=target["room"],
            from_custodian=current["custodian"], to_custodian=target["custodian"],
            summary=transfer_summary(current, target), reason=reason[:200], needs_approval=crosses,
            requested_by=user, status=TransferStatus.PENDING if crosses else TransferStatus.DONE,
        )
        try:
            with transaction.atomic():
                move.save()
        except IntegrityError:
            # Another transfer of the card became pending in between (the constraint holds even without the lock).
            raise ValidationError("该资产已有待审批的调拨申请，请刷新页面。", code="pending_transfer") from None
        if crosses:
            from houqin.core import approvals

            title = (f"资产调拨：{card.number} {card.name}（{_name(current['department'])} → "
                     f"{_name(target['department'])}）")[:200]
            request = approvals.submit(move, user, amount=card.original_value, title=title, comment=reason)
            move.approval, move.approval_number = request, request.number
            move.save(update_fields=["approval", "approval_number", "updated_at"])
        else:
            _apply_transfer(card, move, user, note=reason)
    if not crosses:
        _sync(asset, card)
    return move


BATCH_LIMIT = 200


def transfer_batch(assets, user, *, department=UNCHANGED, room=UNCHANGED, custodian=UNCHANGED,
                   reason: str = "") -> list[AssetTransfer]:
    """调拨 several cards (of one room or department) to the same place, all or nothing: one ``transfer`` per card
    (each with its own number and event; one approval request per card when the department changes). A card that
    cannot move refuses the whole batch, with its number in the reason."""
    assets = list(assets)
    if not assets:
        raise ValidationError({"assets": "请选择要调拨的资产。"})
    if len(assets) > BATCH_LIMIT:
        raise ValidationError({"assets": f"一次最多调拨 {BATCH_LIMIT} 件资产。"})
    moves = []
    with transaction.atomic():
        for asset in assets:
            try:
                moves.append(transfer(asset, user, department=department, room=room, custodian=custodian,
                                      reason=reason, expected=""))
            except ValidationError as exc:
                if getattr(exc, "code", None) == "no_change":
                    continue  # already where the batch goes
                if hasattr(exc, "error_dict") and set(exc.error_dict) - {"__all__"}:
                    raise  # the target itself is wrong: the same for every card
                raise ValidationError(f"{asset.number} {asset.name}：{'；'.join(exc.messages)}（本批均未调拨）",
                                      code="batch") from None
        if not moves:
            raise ValidationError("所选资产已在调拨目标处，无需调拨。", code="no_change")
    return moves


def _apply_transfer(card: Asset, move: AssetTransfer, actor, *, note: str = "", reference: str = "") -> None:
    before = _facts(card)
    card.department_id, card.room_id, card.custodian_id = move.to_department_id, move.to_room_id, move.to_custodian_id
    for name in CUSTODY_FACTS:
        card._state.fields_cache.pop(name, None)
    card.save(update_fields=["department", "room", "custodian", "updated_at"])
    record_event(card, AssetEventCode.TRANSFER, actor, changes=history.diff(before, _facts(card)),
                 status_before=card.status, status_after=card.status, note=note,
                 reference=reference or move.number)
    move.status = TransferStatus.DONE
    move.applied_at = timezone.now()
    move.save(update_fields=["status", "applied_at", "updated_at"])


def _approver_of(request):
    from houqin.core.models.approvals import ApprovalActionKind

    action = (request.actions.filter(round=request.round, action=ApprovalActionKind.APPROVE)
              .select_related("actor").order_by("-time", "-pk").first())
    return action.actor if action is not None else None


def transfer_approved(request) -> None:
    """The ``transfer`` request was approved: apply the whole move now (inside the approval's transaction).

    Refuses the decision (ValidationError, the approver sees it) when the card can no longer move as requested:
    disposed or lost meanwhile, or its custody changed by some other way."""
    move = AssetTransfer.objects.select_for_update().filter(pk=request.object_id).first()
    if move is None or move.status != TransferStatus.PENDING:
        raise ValidationError("该调拨单已不在审批中，不能再审批通过。")
    card = locked(move.asset_id)
    if card.status not in APPLICABLE:
        raise ValidationError(f"资产“{card}”当前状态为“{card.get_status_display()}”，不能调拨，请驳回该申请。")
    if (card.department_id, card.room_id, card.custodian_id) != (
            move.from_department_id, move.from_room_id, move.from_custodian_id):
        raise ValidationError("资产的使用部门、存放地点或保管人在申请后已发生变化，不能按原申请调拨，"
                              "请驳回后重新申请。")
    errors: dict[str, str] = {}
    _check_custody(card, move.to_department, move.to_room,
                   move.to_custodian if move.to_custodian_id != card.custodian_id else None, errors,
                   keep=tuple(x for x in (card.department_id, card.room_id) if x))
    if errors:
        raise ValidationError(f"调拨目标已不可用：{'；'.join(errors.values())}请驳回后重新申请。")
    note = f"审批单 {request.number} 审批通过" + (f"；{move.reason}" if move.reason else "")
    _apply_transfer(card, move, _approver_of(request) or move.requested_by, note=note[:200])


def transfer_closed(request, status: str) -> None:
    """The ``transfer`` request was rejected or withdrawn: the card stays where it is, free to move again."""
    move = AssetTransfer.objects.select_for_update().filter(pk=request.object_id).first()
    if move is None or move.status != TransferStatus.PENDING:
        return
    move.status = status
    move.save(update_fields=["status", "updated_at"])


# --- Signatures ------------------------------------------------------------------------------------------------------
def decode_signature(data_url: str | None) -> bytes | None:
    """The PNG of a signature drawn on the screen (``data:image/png;base64,…``), checked: a PNG by its first
    bytes, not too large, a sane size, and not blank. ``None``/empty: no signature. Raises ValidationError."""
    if not data_url:
        return None
    data_url = data_url.strip()
    if not data_url.startswith(DATA_URL_PREFIX):
        raise ValidationError("签字图片格式不正确，请重新签字。", code="invalid")
    encoded = data_url[len(DATA_URL_PREFIX):]
    if len(encoded) > (SIGNATURE_MAX_BYTES * 4) // 3 + 8:
        raise ValidationError("签字图片过大，请清除后重新签字。", code="too_large")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError("签字图片已损坏，请重新签字。", code="invalid") from None
    if not raw.startswith(PNG_MAGIC):
        raise ValidationError("签字图片格式不正确，请重新签字。", code="invalid")
    if len(raw) > SIGNATURE_MAX_BYTES:
        raise ValidationError("签字图片过大，请清除后重新签字。", code="too_large")
    from PIL import Image

    try:
        with Image.open(io.BytesIO(raw), formats=["PNG"]) as img:
            width, height = img.size
            if width > SIGNATURE_MAX_EDGE or height > SIGNATURE_MAX_EDGE or width < 20 or height < 20:
                raise ValidationError("签字图片尺寸不正确，请重新签字。", code="invalid")
            img.load()
            rgba = img.convert("RGBA")
    except ValidationError:
        raise
    except Exception:  # noqa: BLE001 — any decoding problem is a broken picture
        raise ValidationError("签字图片已损坏，请重新签字。", code="invalid") from None
    # Ink: opaque enough and dark enough (the pad draws dark strokes on white or on transparent).
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    gray = Image.alpha_composite(white, rgba).convert("L")
    ink = gray.point(lambda v: 255 if v < 160 else 0)
    box = ink.getbbox()
    count = sum(ink.histogram()[255:])
    if box is None or count < SIGNATURE_MIN_INK or max(box[2] - box[0], box[3] - box[1]) < 15:
        raise ValidationError("签字区域是空白的，请借用人在框内签字。", code="blank")
    return raw


def _attach_signature(loan: AssetLoan, png: bytes, user, caption: str) -> None:
    from houqin.core import attachments

    stamp = timezone.localtime().strftime("%Y%m%d%H%M")
    upload = ContentFile(png, name=f"{caption}-{loan.number}-{stamp}.png")
    attachments.attach(loan, [upload], user=user, caption=caption, check_permission=False)


def signatures_of(loan: AssetLoan) -> list:
    """The loan's signature pictures (借用人签字, 归还签字), oldest first."""
    from houqin.core.attachments import content_type_id_of
    from houqin.core.models.attachments import Attachment

    return list(Attachment.objects.filter(content_type_id=content_type_id_of(loan), object_id=loan.pk,
                                          caption__in=(SIGNATURE_CAPTION, RETURN_SIGNATURE_CAPTION))
                .order_by("pk"))


# --- 借出 / 归还 -----------------------------------------------------------------------------------------------------
def _schedule_loan_reminders(loan: AssetLoan, card: Asset) -> None:
    from houqin.core.reminders import schedule_reminder

    title = f"资产借用到期：{card.number} {card.name}（借用人 {loan.borrower_name}）"
    body = f"借用单 {loan.number}，应还日期 {loan.due_on:%Y-%m-%d}。用途：{loan.purpose}"
    schedule_reminder(loan, key=LOAN_REMINDER, title=title, due=loan.due_on, before=(timedelta(days=1),),
                      overdue=True, users=[u for u in (loan.lent_by,) if u is not None], body=body)
    if loan.borrower_id and loan.borrower_id != loan.lent_by_id:
        try:
            url = reverse("assets:my_assets")
        except NoReverseMatch:  # pragma: no cover — the page is part of this app
            url = ""
        schedule_reminder(loan, key=LOAN_BORROWER_REMINDER, title=f"请按时归还借用的{card.name}（{card.number}）",
                          due=loan.due_on, before=(timedelta(days=1),), overdue=True, users=[loan.borrower],
                          url=url, body=f"应还日期 {loan.due_on:%Y-%m-%d}，请按时交还资产管理员。")


def lend(asset: Asset, user, *, purpose: str, due_on: datetime.date, borrower=None, borrower_name: str = "",
         borrower_phone: str = "", signature: str | bytes | None = None, signature_later: bool = False,
         note: str = "", lent_at: datetime.datetime | None = None, expected: str | None = None) -> AssetLoan:
    """借出: lend an in-use or idle card to a member of the school (``borrower``) or an outside person (name and
    phone). The borrower signs on the screen (``signature``: the PNG data URL, or its bytes already checked);
    without a signature the keeper must tick ``signature_later`` (借用人不在场，稍后补签)."""
    purpose = (purpose or "").strip()
    borrower_name = (borrower_name or "").strip()
    borrower_phone = (borrower_phone or "").strip()
    png = signature if isinstance(signature, bytes) else None
    errors: dict[str, str] = {}
    if png is None and signature:
        try:
            png = decode_signature(signature)
        except ValidationError as exc:
            errors["signature"] = exc.messages[0]
    with transaction.atomic():
        card = _lock_checked(asset, user, expected)
        _expect_status(card, LENDABLE, "借出")
        _refuse_if_pending(card)
        if borrower is not None:
            if not _is_member(borrower, card.org_id):
                errors["borrower"] = "借用人必须是本校在职人员；校外人员请选择“校外人员”并填写姓名和电话。"
            borrower_name = borrower.get_full_name()
        else:
            if not borrower_name:
                errors["borrower_name"] = "请填写借用人姓名。"
            if not borrower_phone:
                errors["borrower_phone"] = "校外借用人须填写联系电话。"
        if borrower_phone and not PHONE_RE.match(borrower_phone):
            errors["borrower_phone"] = "请填写正确的电话号码（如 13812345678 或 0571-88886666）。"
        if not purpose:
            errors["purpose"] = "请填写借用用途。"
        lent_at = lent_at or timezone.now()
        if due_on is None:
            errors["due_on"] = "请选择应还日期。"
        elif due_on < timezone.localdate(lent_at):
            errors["due_on"] = "应还日期不能早于借出日期。"
        if png is None and not signature_later and "signature" not in errors:
            errors["signature"] = "请借用人在屏幕上签字；借用人不在场时，请勾选“借用人不在场，稍后补签”。"
        if errors:
            raise ValidationError(errors)
        if card.loans.filter(returned_at__isnull=True).exists():
            raise ValidationError("该资产已有未归还的借用记录，请先办理归还。", code="open_loan")
        loan = AssetLoan.objects.create(
            org_id=card.org_id, number=next_number(card.org, LOAN_PREFIX, day=timezone.localdate(lent_at)),
            asset=card, borrower=borrower, borrower_name=borrower_name[:60], borrower_phone=borrower_phone[:30],
            purpose=purpose[:200], lent_at=lent_at, due_on=due_on, lent_by=user, status_before=card.status,
            signature_pending=png is None, signed_at=timezone.now() if png is not None else None, note=note[:200],
        )
        before = card.status
        card.status = AssetStatus.LENT
        card.save(update_fields=["status", "updated_at"])
        text = f"借用人：{loan.borrower_display}；应还日期：{due_on:%Y-%m-%d}；用途：{purpose}"
        if png is None:
            text += "；借用人不在场，稍后补签"
        record_event(card, AssetEventCode.LEND, user, changes={"status": [before, card.status]},
                     status_before=before, status_after=card.status, note=text[:200], reference=loan.number,
                     time=lent_at)
        _schedule_loan_reminders(loan, card)
        if png is not None:
            _attach_signature(loan, png, user, SIGNATURE_CAPTION)
    _sync(asset, card)
    loan.asset = asset  # the caller's card: a later return updates the object the caller holds
    return loan


def _locked_loan(loan: AssetLoan) -> AssetLoan:
    return AssetLoan.objects.select_for_update().get(pk=loan.pk)


def return_loan(loan: AssetLoan, user, *, condition: str = LoanCondition.GOOD, note: str = "",
                signature: str | bytes | None = None, returned_at: datetime.datetime | None = None) -> AssetLoan:
    """归还: the card comes back and takes the status it had before (在用/闲置), also when it comes back damaged —
    the damage is then recorded with the damage command (the loan says so)."""
    _actor_required(user)
    note = (note or "").strip()
    png = signature if isinstance(signature, bytes) else None
    errors: dict[str, str] = {}
    if png is None and signature:
        try:
            png = decode_signature(signature)
        except ValidationError as exc:
            errors["signature"] = exc.messages[0]
    if condition not in (LoanCondition.GOOD, LoanCondition.DAMAGED):
        errors["condition"] = "请选择归还时资产的状况。"
    elif condition == LoanCondition.DAMAGED and not note:
        errors["note"] = "资产有损坏，请说明损坏情况。"
    with transaction.atomic():
        card = locked(loan.asset)
        if not user_can(user, "change", card):
            raise PermissionDenied("您没有管理该资产的权限。")
        current = _locked_loan(loan)
        if current.returned_at is not None:
            when = timezone.localtime(current.returned_at).strftime("%Y-%m-%d %H:%M")
            if current.return_condition == LoanCondition.LOST:
                raise ValidationError(f"该借用已于 {when} 因资产丢失结束，不能办理归还；"
                                      "资产找回后请在资产卡片上办理“找回”。", code="returned")
            raise ValidationError(f"该借用已于 {when} 归还，不能重复办理。", code="returned")
        if card.status != AssetStatus.LENT:
            raise ValidationError(f"该资产当前状态为“{card.get_status_display()}”，不是“借出”，不能办理归还。"
                                  "请核对资产状态。", code="status")
        returned_at = returned_at or timezone.now()
        if returned_at < current.lent_at:
            errors["returned_at"] = "归还时间不能早于借出时间。"
        if errors:
            raise ValidationError(errors)
        current.returned_at = returned_at
        current.returned_to = user
        current.return_condition = condition
        current.return_note = note[:200]
        if png is not None:
            current.return_signed_at = timezone.now()
        current.save(update_fields=["returned_at", "returned_to", "return_condition", "return_note",
                                    "return_signed_at", "updated_at", "search_index"])
        before = card.status
        card.status = current.status_before if current.status_before in LENDABLE else AssetStatus.IN_USE
        card.save(update_fields=["status", "updated_at"])
        text = (f"借用单 {current.number}，借用人：{current.borrower_display}；"
                f"归还状况：{current.get_return_condition_display()}")
        if current.due_on < timezone.localdate(returned_at):
            text += f"（逾期 {(timezone.localdate(returned_at) - current.due_on).days} 天）"
        if note:
            text += f"；{note}"
        record_event(card, AssetEventCode.RETURN, user, changes={"status": [before, card.status]},
                     status_before=before, status_after=card.status, note=text[:200], reference=current.number,
                     time=returned_at)
        from houqin.core.reminders import complete_reminder

        complete_reminder(current, key=LOAN_REMINDER)
        complete_reminder(current, key=LOAN_BORROWER_REMINDER)
        if png is not None:
            _attach_signature(current, png, user, RETURN_SIGNATURE_CAPTION)
    for name in ("returned_at", "returned_to_id", "return_condition", "return_note", "return_signed_at"):
        setattr(loan, name, getattr(current, name))
    loan._state.fields_cache.pop("returned_to", None)
    _sync(loan.asset, card)
    return current


def sign_loan(loan: AssetLoan, user, *, signature: str | bytes) -> AssetLoan:
    """补签: the borrower who was not there at the hand-over signs afterwards."""
    _actor_required(user)
    png = signature if isinstance(signature, bytes) else None
    if png is None:
        try:
            png = decode_signature(signature)
        except ValidationError as exc:
            raise ValidationError({"signature": exc.messages[0]}) from None
    if png is None:
        raise ValidationError({"signature": "请借用人在屏幕上签字。"})
    with transaction.atomic():
        current = _locked_loan(loan)
        if not user_can(user, "change", current.asset):
            raise PermissionDenied("您没有管理该资产的权限。")
        if not current.signature_pending:
            raise ValidationError("该借用已有借用人签字，无需补签。", code="signed")
        current.signature_pending = False
        current.signed_at = timezone.now()
        current.save(update_fields=["signature_pending", "signed_at", "updated_at", "search_index"])
        _attach_signature(current, png, user, SIGNATURE_CAPTION)
    loan.signature_pending, loan.signed_at = current.signature_pending, current.signed_at
    return current


def open_loan(asset) -> AssetLoan | None:
    return AssetLoan.objects.filter(asset_id=getattr(asset, "pk", asset), returned_at__isnull=True).first()


def damage_url(asset) -> str | None:
    """The damage command's page for ``asset`` (built by the damage part of the app), if it is installed."""
    try:
        return reverse("assets:asset_damage", kwargs={"pk": getattr(asset, "pk", asset)})
    except NoReverseMatch:
        return None
