"""Commands of the assets app for damage, compensation, disposal and the plain status changes (docs/assets-disposal.md).

Every command runs in one transaction: it re-reads the card (or record) with a row lock, checks the status it moves
from, changes it and appends the card's history (``services.record_event``) — all or nothing. Refusals are
``ValidationError`` (Chinese message, keyed by field where there is one); a user without the right is refused with
``PermissionDenied``. The caller's instance is brought up to date afterwards.

Status commands (stable signatures; other parts of the system call them):

    mark_idle(asset, user, *, note="", reference="")                 在用 → 闲置            (event ``idle``)
    mark_in_use(asset, user, *, note="", reference="")               闲置 → 在用            (event ``adjust``)
    start_repair(asset, user=None, *, reference="", note="")         在用/闲置 → 维修中      (event ``repair``)
    finish_repair(asset, user=None, *, reference="", outcome="fixed"|"unrepairable", note="")
        维修中 → the status before 送修 (event ``repaired``), or 待处置 when unrepairable (event ``damage``)
    mark_lost(asset, user, *, note="", reference="")                 在用/闲置/借出 → 丢失   (event ``lose``; an open
                                                                     loan is closed as 丢失)
    mark_found(asset, user, *, note="", reference="")                丢失 → 丢失前的状态      (event ``found``)

A transfer of the card waiting for approval refuses idle/reuse/lost/found and a disposal request, and is only noted
by start/finish repair and a damage that keeps the card usable or sends it to repair (docs/assets-lifecycle.md).

``start_repair`` and ``finish_repair`` do not check the user's asset permissions (``check_permission=False`` by
default): the repairs app calls them for its work orders and decides itself who may. The others check that the
user may change the card.

Damage and compensation: ``mark_damaged``, ``update_compensation``, ``mark_compensation_paid``.
Disposal: ``request_disposal`` (creates the request and submits it to core's approval engine, type ``disposal``),
``resubmit_disposal`` (after 退回), the approval hooks ``disposal_approved`` / ``disposal_closed`` and
``record_disposal`` (处置完成: the cards are written off).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from houqin.assets import custody
from houqin.assets.choices import AssetEventCode, AssetStatus
from houqin.assets.models import MIN_LIFE_BASIS, Asset, AssetDamage, AssetDisposal, AssetDisposalItem, AssetEvent
from houqin.assets.models.disposal import (
    METHODS_WITH_RECIPIENT,
    CompensationStatus,
    DamageOutcome,
    DisposalMethod,
    DisposalStatus,
    ResponsibleKind,
)
from houqin.assets.services import lock_rows, locked, record_event
from houqin.core.auth import user_can

S = AssetStatus
CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("999999999999.99")
MAX_DISPOSAL_ITEMS = 1000
NUMBER_PREFIX = "CZ"  # 处置单号: CZ-2026-00001, one sequence per school and year
# 恢复在用 has no event code of its own yet: an ``adjust`` event carries it (a ``reuse`` code, once added to
# AssetEventCode, is picked up here).
REUSE_CODE = getattr(AssetEventCode, "REUSE", AssetEventCode.ADJUST)
# Statuses a card goes back to when a command is undone (found, repaired, disposal refused).
RESTORABLE = (S.IN_USE, S.IDLE, S.LOST, S.PENDING_DISPOSAL)
# A card in one of these may be put on a disposal request.
DISPOSABLE = (S.IN_USE, S.IDLE, S.LOST, S.PENDING_DISPOSAL)
FIXED, UNREPAIRABLE = "fixed", "unrepairable"

HINTS = {
    S.LENT: "借出中的资产请先办理归还。",
    S.REPAIRING: "维修中的资产请先结束维修（修复或确认无法修复）。",
    S.PENDING_DISPOSAL: "该资产正在等待处置。",
    S.DISPOSED: "已处置（核销）的资产不能再办理业务。",
    S.LOST: "丢失的资产请先办理找回。",
}


# --- Helpers -----------------------------------------------------------------------------------------------------
def _require(user, action: str, obj_or_model, org_id: int | None = None) -> None:
    if not user_can(user, action, obj_or_model, org_id=org_id):
        raise PermissionDenied("您没有此操作的权限。")


def _label(status: str) -> str:
    return str(S(status).label) if status in S.values else status


def refusal(card: Asset, what: str) -> str:
    """Why a command ``what`` (e.g. "转为闲置") cannot be done to ``card`` in its status."""
    return f"资产 {card.number} 当前为“{_label(card.status)}”，不能{what}。{HINTS.get(card.status, '')}".strip()


def _sync(target: Asset, card: Asset) -> None:
    """Bring the caller's instance up to date with what the command saved."""
    if target is not card:
        for name in ("status", "disposed_on", "updated_at"):
            setattr(target, name, getattr(card, name))


def _set_status(card: Asset, status: str, *, disposed_on: datetime.date | None = None) -> None:
    card.status = status
    fields = ["status", "updated_at"]
    if disposed_on is not None:
        card.disposed_on = disposed_on
        fields.append("disposed_on")
    card.save(update_fields=fields)


def _status_change(before: str, after: str) -> dict:
    return {"status": [before, after]} if before != after else {}


def _money(value, field: str, errors: dict, *, required: bool = False, positive: bool = False) -> Decimal | None:
    """An amount in 元 (two decimals, not negative) or None; problems go to ``errors[field]``."""
    if value in (None, ""):
        if required:
            errors[field] = "请填写金额。"
        return None
    try:
        amount = Decimal(str(value).replace(",", "").strip())
    except (InvalidOperation, ValueError):
        errors[field] = "金额必须是数字。"
        return None
    if not amount.is_finite():
        errors[field] = "金额必须是数字。"
    elif amount < 0:
        errors[field] = "金额不能为负数。"
    elif amount != amount.quantize(CENT):
        errors[field] = "金额最多保留两位小数。"
    elif amount > MAX_AMOUNT:
        errors[field] = "金额过大。"
    elif positive and amount == 0:
        errors[field] = "金额必须大于 0。"
    else:
        return amount.quantize(CENT)
    return None


def _day(value, field: str, errors: dict, *, required: bool = True, label: str = "日期") -> datetime.date | None:
    if value in (None, ""):
        if required:
            errors[field] = f"请填写{label}。"
        return None
    if isinstance(value, datetime.datetime):
        value = value.date()
    if not isinstance(value, datetime.date):
        try:
            value = datetime.date.fromisoformat(str(value))
        except ValueError:
            errors[field] = f"{label}格式不正确（例如 2026-03-01）。"
            return None
    if value > timezone.localdate():
        errors[field] = f"{label}不能晚于今天。"
        return None
    return value


def _text(value) -> str:
    return (value or "").strip()


def _too_long(errors: dict, field: str, value: str, limit: int, label: str) -> None:
    if len(value) > limit:
        errors[field] = f"{label}不能超过 {limit} 个字。"


def _previous_status(card: Asset, code: str) -> str:
    """The status the card had before its latest ``code`` event (送修, 丢失), if it may go back to it; else 在用."""
    event = card.events.filter(code=code).order_by("-time", "-pk").only("status_before").first()
    if event is not None and event.status_before in (S.IN_USE, S.IDLE):
        return event.status_before
    return S.IN_USE


def _with(note: str, extra: str) -> str:
    return "；".join(p for p in (_text(note), extra) if p)


def _move(asset: Asset, user, *, allowed: tuple, to, code: str, what: str, note: str = "", reference: str = "",
          check_permission: bool = True, while_pending: str = "refuse", then=None) -> Asset:
    """Lock the card, check it is in one of ``allowed``, move it to ``to`` (a status, or a callable of the locked
    card giving it) and record ``code``.

    ``while_pending``: what a transfer waiting for approval means for this command — ``"refuse"`` (the reason
    names the request) or ``"note"`` (allowed; the event's note names the request). ``then(card, user, note)``
    runs after the status change, inside the transaction, and returns the event's note and reference (mark_lost
    closes the open loan with it)."""
    with transaction.atomic():
        card = locked(asset)
        if check_permission:
            _require(user, "change", card)
        if card.status not in allowed:
            raise ValidationError(refusal(card, what))
        note, reference = _text(note), _text(reference)
        waiting = custody.pending_transfer(card)
        if waiting is not None:
            if while_pending == "refuse":
                raise ValidationError(custody.pending_refusal(waiting, what), code="pending_transfer")
            note = _with(note, custody.pending_note(waiting))
        before = card.status
        after = to(card) if callable(to) else to
        _set_status(card, after)
        if then is not None:
            note, reference = then(card, user, note, reference)
        record_event(card, code, user, changes=_status_change(before, after), status_before=before,
                     status_after=after, note=note, reference=reference)
    _sync(asset, card)
    return card


# --- Status commands -----------------------------------------------------------------------------------------------
def mark_idle(asset: Asset, user, *, note: str = "", reference: str = "") -> Asset:
    """转为闲置: an asset in use is no longer used (stored away, replaced). 在用 → 闲置."""
    return _move(asset, user, allowed=(S.IN_USE,), to=S.IDLE, code=AssetEventCode.IDLE, what="转为闲置",
                 note=note, reference=reference)


def mark_in_use(asset: Asset, user, *, note: str = "", reference: str = "") -> Asset:
    """恢复在用: an idle asset is used again (keeping its place and custodian). 闲置 → 在用."""
    return _move(asset, user, allowed=(S.IDLE,), to=S.IN_USE, code=REUSE_CODE, what="恢复在用",
                 note=_text(note) or "恢复在用", reference=reference)


def start_repair(asset: Asset, user=None, *, reference: str = "", note: str = "",
                 check_permission: bool = False) -> Asset:
    """送修: the card goes to repair (在用/闲置 → 维修中), e.g. with the repairs app's work-order number as
    ``reference``. The caller decides who may (no asset permission is checked unless ``check_permission``)."""
    return _move(asset, user, allowed=(S.IN_USE, S.IDLE), to=S.REPAIRING, code=AssetEventCode.REPAIR, what="送修",
                 note=note, reference=reference, check_permission=check_permission, while_pending="note")


def finish_repair(asset: Asset, user=None, *, reference: str = "", outcome: str = FIXED, note: str = "",
                  check_permission: bool = False) -> Asset:
    """修复 / 无法修复: the repair of a card in 维修中 ends.

    ``outcome="fixed"``: back to the status it had when it was sent (在用 or 闲置), event ``repaired``.
    ``outcome="unrepairable"``: 待处置 (the disposal request is the next step), event ``damage`` noting the verdict.
    """
    if outcome not in (FIXED, UNREPAIRABLE):
        raise ValidationError({"outcome": "维修结果只能是“已修复”或“无法修复”。"})
    if outcome == FIXED:
        return _move(asset, user, allowed=(S.REPAIRING,), to=lambda card: _previous_status(card, AssetEventCode.REPAIR),
                     code=AssetEventCode.REPAIRED, what="办理修复", note=note, reference=reference,
                     check_permission=check_permission, while_pending="note")
    verdict = "维修结论：无法修复，待处置" + (f"。{_text(note)}" if _text(note) else "")
    # A repair's verdict is a fact the repairs app must be able to record; the waiting transfer will then be
    # refused at approval (a card 待处置 cannot be transferred) and the note tells the keeper why.
    return _move(asset, user, allowed=(S.REPAIRING,), to=S.PENDING_DISPOSAL, code=AssetEventCode.DAMAGE,
                 what="登记无法修复", note=verdict, reference=reference, check_permission=check_permission,
                 while_pending="note")


def _close_loan_as_lost(card: Asset, user, note: str, reference: str) -> tuple[str, str]:
    """A lent card is reported lost: its open loan ends as 丢失 (no longer 借用中 nor overdue) and its due-date
    reminders are completed. Returns the ``lose`` event's note and reference (the loan number)."""
    loan = custody.open_loan(card)
    if loan is None:
        return note, reference
    from houqin.assets.models import LoanCondition
    from houqin.core.reminders import complete_reminder

    loan = type(loan).objects.select_for_update().get(pk=loan.pk)
    loan.returned_at = timezone.now()
    loan.returned_to = user if getattr(user, "is_authenticated", False) else None
    loan.return_condition = LoanCondition.LOST
    loan.return_note = (f"借出期间丢失：{note}" if note else "借出期间丢失")[:200]
    loan.save(update_fields=["returned_at", "returned_to", "return_condition", "return_note", "updated_at",
                             "search_index"])
    complete_reminder(loan, key=custody.LOAN_REMINDER)
    complete_reminder(loan, key=custody.LOAN_BORROWER_REMINDER)
    text = f"借出期间丢失（借用单 {loan.number}，借用人 {loan.borrower_display}），借用记录已结束"
    return _with(note, text), reference or loan.number


def mark_lost(asset: Asset, user, *, note: str = "", reference: str = "") -> Asset:
    """登记丢失: the asset cannot be found. 在用/闲置/借出 → 丢失 (a write-off is a disposal with the method 报损).
    A lent card's open loan is closed as 丢失 in the same transaction (``_close_loan_as_lost``)."""
    if not _text(note):
        raise ValidationError({"note": "请说明丢失的经过（何时、何地发现丢失）。"})
    return _move(asset, user, allowed=(S.IN_USE, S.IDLE, S.LENT), to=S.LOST, code=AssetEventCode.LOSE,
                 what="登记丢失", note=note, reference=reference, then=_close_loan_as_lost)


def _status_before_loss(card: Asset) -> str:
    """The status a found card goes back to: the one before 丢失; for a card lost while lent, the status it had
    before it was lent (its loan is closed)."""
    event = card.events.filter(code=AssetEventCode.LOSE).order_by("-time", "-pk").only(
        "status_before", "reference").first()
    if event is not None and event.status_before == S.LENT:
        from houqin.assets.models import AssetLoan

        loan = AssetLoan.objects.filter(asset=card, number=event.reference).only("status_before").first()
        return loan.status_before if loan is not None and loan.status_before in (S.IN_USE, S.IDLE) else S.IN_USE
    return _previous_status(card, AssetEventCode.LOSE)


def mark_found(asset: Asset, user, *, note: str = "", reference: str = "") -> Asset:
    """找回: a lost asset is back, in the status it had before it was lost (before it was lent, for a card lost
    while lent). 丢失 → 在用/闲置."""
    return _move(asset, user, allowed=(S.LOST,), to=_status_before_loss,
                 code=AssetEventCode.FOUND, what="办理找回", note=note, reference=reference)


# --- Damage and compensation ----------------------------------------------------------------------------------------
def _is_member(user, org_id: int) -> bool:
    return user.is_active and user.memberships.filter(org_id=org_id).exists()


def _attach(obj, photos, user, caption: str) -> None:
    photos = [p for p in (photos or ()) if p]
    if not photos:
        return
    from houqin.core import attachments

    try:
        attachments.attach(obj, photos, user=user, caption=caption, check_permission=False)
    except ValidationError as exc:
        raise ValidationError({"photos": exc.messages}) from None


def mark_damaged(asset: Asset, user, *, occurred_on, description: str, outcome: str,
                 responsible_kind: str = ResponsibleKind.NONE, responsible_user=None, responsible_name: str = "",
                 responsible_detail: str = "", compensation_amount=None, payer: str = "", note: str = "",
                 reference: str = "", photos: Iterable = ()) -> AssetDamage:
    """损坏登记: record a damage of ``asset`` with who is responsible, what follows and the compensation owed.

    ``outcome``: ``repair`` (送修 → 维修中, a ``repair`` event follows the ``damage`` event), ``unrepairable``
    (→ 待处置, the disposal request is the next step) or ``usable`` (可继续使用, status unchanged). The card may
    be 在用, 闲置 or 借出 (借出: only 可继续使用 — the loan is returned first). ``photos`` (uploaded files) are
    attached to the damage record. A compensation amount makes the record 未赔偿 until ``mark_compensation_paid``.
    """
    errors: dict[str, str] = {}
    description = _text(description)
    if not description:
        errors["description"] = "请填写损坏情况。"
    _too_long(errors, "description", description, 500, "损坏情况")
    if outcome not in DamageOutcome.values:
        errors["outcome"] = "请选择处理方式。"
    if responsible_kind not in ResponsibleKind.values:
        errors["responsible_kind"] = "请选择责任人类型。"
    day = _day(occurred_on, "occurred_on", errors, label="损坏日期")
    if day is not None and asset.acquired_on and day < asset.acquired_on:
        errors["occurred_on"] = f"损坏日期不能早于资产的取得日期（{asset.acquired_on:%Y-%m-%d}）。"
    name, detail = _text(responsible_name), _text(responsible_detail)
    if responsible_kind == ResponsibleKind.MEMBER:
        if responsible_user is None:
            errors["responsible_user"] = "请选择本校的责任人。"
        elif not _is_member(responsible_user, asset.org_id):
            errors["responsible_user"] = "责任人必须是本校人员。"
        else:
            name = responsible_user.get_full_name() or responsible_user.username
    elif responsible_kind in (ResponsibleKind.PUPIL, ResponsibleKind.OUTSIDER):
        responsible_user = None
        if not name:
            errors["responsible_name"] = "请填写责任人姓名。"
    else:
        responsible_user, name, detail = None, "", ""
    _too_long(errors, "responsible_name", name, 80, "责任人")
    _too_long(errors, "responsible_detail", detail, 100, "班级/单位")
    amount = _money(compensation_amount, "compensation_amount", errors)
    if amount == 0:
        amount = None
    if amount and responsible_kind == ResponsibleKind.NONE:
        errors["compensation_amount"] = "无责任人（自然损耗）时不需要赔偿；如需赔偿，请填写责任人。"
    payer = _text(payer) or (name if amount else "")
    _too_long(errors, "payer", payer, 80, "赔偿人")
    _too_long(errors, "note", _text(note), 200, "备注")
    if errors:
        raise ValidationError(errors)

    with transaction.atomic():
        card = locked(asset)
        _require(user, "change", card)
        _require(user, "add", AssetDamage, org_id=card.org_id)
        if card.status not in (S.IN_USE, S.IDLE, S.LENT):
            raise ValidationError(refusal(card, "登记损坏"))
        if card.status == S.LENT and outcome != DamageOutcome.USABLE:
            raise ValidationError({"outcome": "借出中的资产请先办理归还，再登记送修或待处置。"})
        reference, extra = _text(reference), []
        waiting = custody.pending_transfer(card)
        if waiting is not None:
            if outcome == DamageOutcome.UNREPAIRABLE:  # 待处置 would leave the transfer unappliable
                raise ValidationError({"outcome": custody.pending_refusal(waiting, "登记为无法修复（待处置）")
                                       + "也可先登记为“送修”。"}, code="pending_transfer")
            extra.append(custody.pending_note(waiting))
        if card.status == S.LENT:
            loan = custody.open_loan(card)
            if loan is not None:  # the damage is the borrower's matter: the loan is named on both records
                extra.insert(0, f"借出期间损坏（借用单 {loan.number}，借用人 {loan.borrower_display}）")
                reference = reference or loan.number
        extra = "；".join(extra)
        before = card.status
        after = {DamageOutcome.UNREPAIRABLE: S.PENDING_DISPOSAL, DamageOutcome.REPAIR: S.REPAIRING}.get(outcome, before)
        damage = AssetDamage(
            org_id=card.org_id, asset=card, occurred_on=day, description=description,
            responsible_kind=responsible_kind, responsible_user=responsible_user, responsible_name=name,
            responsible_detail=detail, outcome=outcome, status_before=before, status_after=after,
            compensation_status=CompensationStatus.UNPAID if amount else CompensationStatus.NONE,
            compensation_amount=amount, payer=payer, recorded_by=user if getattr(user, "is_authenticated", False)
            else None, note=_with(note, extra)[:200],
        )
        damage.save()
        # The card's history is read by everyone who may view the card: who is responsible and what they owe stay
        # in the damage ledger (损坏赔偿台账), which has its own permission.
        summary = _with(f"{description[:150]}（{DamageOutcome(outcome).label}）", extra)[:200]
        damage_after = S.PENDING_DISPOSAL if outcome == DamageOutcome.UNREPAIRABLE else before
        record_event(card, AssetEventCode.DAMAGE, user, changes=_status_change(before, damage_after),
                     status_before=before, status_after=damage_after, note=summary, reference=reference)
        if outcome == DamageOutcome.REPAIR:
            record_event(card, AssetEventCode.REPAIR, user, changes=_status_change(before, after),
                         status_before=before, status_after=after, note=_with("损坏送修", extra)[:200],
                         reference=reference)
        if after != before:
            _set_status(card, after)
        _attach(damage, photos, user, "损坏照片")
    _sync(asset, card)
    return damage


def _locked_damage(damage: AssetDamage) -> AssetDamage:
    lock_rows(AssetDamage.objects.filter(pk=damage.pk))  # the row alone, then re-read with its joins
    return AssetDamage.objects.select_related("asset").get(pk=damage.pk)


def update_compensation(damage: AssetDamage, user, *, amount, payer: str = "") -> AssetDamage:
    """Set (or clear, with no amount) the compensation owed for a damage, until it is paid."""
    errors: dict[str, str] = {}
    value = _money(amount, "compensation_amount", errors)
    payer = _text(payer)
    _too_long(errors, "payer", payer, 80, "赔偿人")
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        row = _locked_damage(damage)
        _require(user, "change", row)
        if row.compensation_status == CompensationStatus.PAID:
            raise ValidationError("赔偿款已收取，不能再修改应赔金额。")
        if value and row.responsible_kind == ResponsibleKind.NONE:
            raise ValidationError({"compensation_amount": "无责任人（自然损耗）时不需要赔偿。"})
        row.compensation_amount = value or None
        row.compensation_status = CompensationStatus.UNPAID if value else CompensationStatus.NONE
        row.payer = (payer or row.payer or row.responsible_name) if value else ""
        row.save()
    _copy_damage(damage, row)
    return row


def mark_compensation_paid(damage: AssetDamage, user, *, paid_on, receipt_no: str, amount=None) -> AssetDamage:
    """赔偿到账: the compensation of an 未赔偿 record was received (date, amount — default the amount owed — and
    the receipt number). The change log records who entered it."""
    errors: dict[str, str] = {}
    day = _day(paid_on, "paid_on", errors, label="收款日期")
    receipt_no = _text(receipt_no)
    if not receipt_no:
        errors["receipt_no"] = "请填写收据号。"
    _too_long(errors, "receipt_no", receipt_no, 60, "收据号")
    value = _money(amount, "paid_amount", errors, positive=True)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        row = _locked_damage(damage)
        _require(user, "change", row)
        if row.compensation_status == CompensationStatus.PAID:
            raise ValidationError(f"该记录已于 {row.paid_on:%Y-%m-%d} 登记收款（收据号 {row.receipt_no}）。")
        if row.compensation_status != CompensationStatus.UNPAID:
            raise ValidationError("该记录无需赔偿，请先填写应赔金额。")
        if day < row.occurred_on:
            raise ValidationError({"paid_on": f"收款日期不能早于损坏日期（{row.occurred_on:%Y-%m-%d}）。"})
        row.paid_amount = value if value is not None else row.compensation_amount
        row.paid_on, row.receipt_no = day, receipt_no
        row.compensation_status = CompensationStatus.PAID
        row.save()
    _copy_damage(damage, row)
    return row


def _copy_damage(target: AssetDamage, row: AssetDamage) -> None:
    if target is not row:
        for name in ("compensation_status", "compensation_amount", "payer", "paid_amount", "paid_on", "receipt_no",
                     "updated_at"):
            setattr(target, name, getattr(row, name))


# --- Disposal: checks and figures -------------------------------------------------------------------------------
def months_between(start: datetime.date, end: datetime.date) -> int:
    months = (end.year - start.year) * 12 + end.month - start.month - (1 if end.day < start.day else 0)
    return max(0, months)


def _age_text(months: int) -> str:
    years, rest = divmod(months, 12)
    return f"{years} 年 {rest} 个月" if years and rest else (f"{years} 年" if years else f"{rest} 个月")


def life_warning(card: Asset, today: datetime.date) -> str:
    """A warning (not a refusal) when the card has been in use for less than its category's minimum useful life."""
    minimum = card.min_life()
    if not minimum or not card.acquired_on:
        return ""
    age = months_between(card.acquired_on, today)
    if age >= minimum * 12:
        return ""
    return (f"{card.number} {card.name}：已使用 {_age_text(age)}，未达到最低使用年限 {minimum} 年"
            f"（{card.category.name}）")


def disposal_problem(card: Asset, open_item: AssetDisposalItem | None = None, waiting=None) -> str:
    """Why ``card`` cannot be put on a disposal request ("" if it can). ``waiting``: its transfer pending approval
    (``custody.pending_transfers_of``) — a card being transferred is not disposed of until that is decided."""
    if card.status not in DISPOSABLE:
        return f"当前为“{_label(card.status)}”。{HINTS.get(card.status, '')}".strip()
    if open_item is not None:
        return f"已在处置单 {open_item.disposal.number}（{open_item.disposal.get_status_display()}）中。"
    if waiting is not None:
        return (f"有一项调拨正在审批中（审批单 {custody.pending_number(waiting)}），审批完成前不能申请处置；"
                "请先撤回或驳回该调拨申请。")
    return ""


def open_items_of(cards, exclude_disposal: AssetDisposal | None = None) -> dict[int, AssetDisposalItem]:
    """The open disposal item of each card that has one (one query)."""
    items = AssetDisposalItem.objects.filter(asset__in=[c.pk for c in cards], is_open=True).select_related("disposal")
    if exclude_disposal is not None:
        items = items.exclude(disposal=exclude_disposal)
    return {item.asset_id: item for item in items}


def preview(cards: list[Asset], today: datetime.date | None = None) -> dict:
    """What the request form shows before anything is saved: each card with its values, age, warning and (if it
    cannot be added) the problem; the totals. Cards need ``category`` loaded."""
    today = today or timezone.localdate()
    open_items = open_items_of(cards)
    waiting = custody.pending_transfers_of(cards)
    rows, total, net = [], Decimal("0"), Decimal("0")
    for card in cards:
        dep = card.depreciation(today)
        rows.append({"card": card, "net": dep.net, "age": _age_text(months_between(card.acquired_on, today)),
                     "warning": life_warning(card, today), "problem": disposal_problem(card, open_items.get(card.pk),
                                                                                    waiting.get(card.pk))})
        total += card.original_value
        net += dep.net
    return {"rows": rows, "total": total, "net": net, "warnings": [r["warning"] for r in rows if r["warning"]],
            "problems": [r for r in rows if r["problem"]]}


def _validate_request(errors: dict, *, method, reason, recipient, estimated_residual, meeting_note) -> dict:
    values = {"method": method, "reason": _text(reason), "recipient": _text(recipient),
              "meeting_note": _text(meeting_note)}
    if method not in DisposalMethod.values:
        errors["method"] = "请选择处置方式。"
    if not values["reason"]:
        errors["reason"] = "请填写处置原因。"
    _too_long(errors, "reason", values["reason"], 500, "处置原因")
    _too_long(errors, "recipient", values["recipient"], 100, "拟接收方")
    _too_long(errors, "meeting_note", values["meeting_note"], 200, "集体决策")
    if method in (DisposalMethod.TRANSFER_OUT, DisposalMethod.DONATE) and not values["recipient"]:
        errors["recipient"] = "调拨、捐赠须填写接收单位。"
    values["estimated_residual"] = _money(estimated_residual, "estimated_residual", errors) or Decimal("0.00")
    return values


def _lock_cards(ids: list[int], org=None) -> list[Asset]:
    rows = Asset.objects.filter(pk__in=ids)
    if org is not None:
        rows = rows.filter(org=org)  # another school's card is "not found", never named
    locked_ids = lock_rows(rows)  # the rows alone (pk order), then re-read with their joins
    return list(Asset.objects.select_related("category").filter(pk__in=locked_ids).order_by("number", "pk"))


def _check_cards(cards: list[Asset], wanted: list[int], org, user, exclude: AssetDisposal | None = None) -> None:
    problems = []
    found = {c.pk for c in cards}
    missing = [str(pk) for pk in wanted if pk not in found]
    if missing:
        problems.append(f"找不到资产（编号 {'、'.join(missing[:10])}）。")
    open_items = open_items_of(cards, exclude)
    waiting = custody.pending_transfers_of(cards)
    for card in cards:
        if not user_can(user, "change", card):
            raise PermissionDenied("您没有处置这些资产的权限。")
        problem = disposal_problem(card, open_items.get(card.pk), waiting.get(card.pk))
        if problem:
            problems.append(f"{card.number} {card.name}：{problem}")
    if problems:
        raise ValidationError({"assets": problems})


def _add_items(disposal: AssetDisposal, cards: list[Asset], user, today: datetime.date) -> None:
    """Freeze each card's values on an item, move the card to 待处置 and record ``disposal_request``."""
    method = disposal.get_method_display()
    for card in cards:
        dep = card.depreciation(today)
        minimum = card.min_life()
        age = months_between(card.acquired_on, today)
        AssetDisposalItem.objects.create(
            org_id=disposal.org_id, disposal=disposal, asset=card, status_before=card.status,
            original_value=card.original_value, accumulated_depreciation=dep.accumulated, net_value=dep.net,
            age_months=age, min_life_years=minimum, under_min_life=bool(minimum and age < minimum * 12))
        before = card.status
        if before != S.PENDING_DISPOSAL:
            _set_status(card, S.PENDING_DISPOSAL)
        record_event(card, AssetEventCode.DISPOSAL_REQUEST, user, changes=_status_change(before, S.PENDING_DISPOSAL),
                     status_before=before, status_after=S.PENDING_DISPOSAL, reference=disposal.number,
                     note=f"{method}：{disposal.reason[:150]}")


def _restore(item: AssetDisposalItem, card: Asset, user, note: str) -> None:
    """Give a card back the status it had before the request (the request was refused, withdrawn or trimmed)."""
    if card.status == S.PENDING_DISPOSAL:
        after = item.status_before if item.status_before in RESTORABLE else S.IN_USE
        if after != card.status:
            _set_status(card, after)
        record_event(card, AssetEventCode.ADJUST, user, changes=_status_change(S.PENDING_DISPOSAL, after),
                     status_before=S.PENDING_DISPOSAL, status_after=after, reference=item.disposal.number, note=note)


def _refresh_totals(disposal: AssetDisposal, today: datetime.date) -> list[str]:
    items = list(disposal.items.select_related("asset__category").order_by("asset__number", "pk"))
    disposal.item_count = len(items)
    disposal.total_value = sum((i.original_value for i in items), Decimal("0.00"))
    disposal.total_net_value = sum((i.net_value for i in items), Decimal("0.00"))
    warnings = [w for w in (life_warning(i.asset, today) for i in items if i.under_min_life) if w]
    disposal.warnings = "\n".join(warnings)
    return warnings


def _title(disposal: AssetDisposal, first: Asset | None) -> str:
    what = f"{first.name} 等 {disposal.item_count} 项" if first is not None and disposal.item_count > 1 else (
        first.name if first is not None else "")
    return f"资产处置（{disposal.get_method_display()}）：{what}"[:200]


def _comment(warnings: list[str]) -> str:
    if not warnings:
        return ""
    head = f"提示：{len(warnings)} 项资产未达到最低使用年限（{MIN_LIFE_BASIS}），请审慎审批：\n"
    shown = warnings[:20]
    more = f"\n……另有 {len(warnings) - len(shown)} 项" if len(warnings) > len(shown) else ""
    return head + "\n".join(shown) + more


def _ids(assets) -> list[int]:
    ids = []
    for item in assets or ():
        pk = item.pk if isinstance(item, Asset) else item
        try:
            pk = int(pk)
        except (TypeError, ValueError):
            raise ValidationError({"assets": f"资产编号“{pk}”无效。"}) from None
        if pk not in ids:
            ids.append(pk)
    return ids


# --- Disposal: commands ---------------------------------------------------------------------------------------------
def request_disposal(assets, user, *, org=None, method: str, reason: str, recipient: str = "",
                     estimated_residual=0, meeting_note: str = "") -> AssetDisposal:
    """处置申请: one request for one or several cards, submitted at once to the approval engine (type ``disposal``,
    amount = the cards' total original value). Each card is frozen on an item (value, net value, age, status) and
    moves to 待处置. A card younger than its minimum useful life gives a warning, recorded on the request and in the
    submission comment the approvers read — not a refusal. Refused: cards 已处置, 借出, 维修中, in another open
    disposal, or of another school.
    """
    from houqin.core import approvals
    from houqin.core.numbering import next_number

    ids = _ids(assets)
    if org is None:
        first = Asset.objects.filter(pk__in=ids[:1]).select_related("org").first()
        org = first.org if first is not None else None
    if org is None:
        raise ValidationError({"assets": "请至少选择一项资产。"})
    _require(user, "add", AssetDisposal, org_id=org.pk)
    errors: dict[str, str] = {}
    values = _validate_request(errors, method=method, reason=reason, recipient=recipient,
                               estimated_residual=estimated_residual, meeting_note=meeting_note)
    if not ids:
        errors["assets"] = "请至少选择一项资产。"
    elif len(ids) > MAX_DISPOSAL_ITEMS:
        errors["assets"] = f"一张处置单最多 {MAX_DISPOSAL_ITEMS} 项资产，请分批申请。"
    if errors:
        raise ValidationError(errors)
    today = timezone.localdate()
    with transaction.atomic():
        cards = _lock_cards(ids, org)
        _check_cards(cards, ids, org, user)
        disposal = AssetDisposal(org=org, number=next_number(org, NUMBER_PREFIX), requested_on=today,
                                 requested_by=user if getattr(user, "is_authenticated", False) else None,
                                 status=DisposalStatus.PENDING, **values)
        disposal.save()
        _add_items(disposal, cards, user, today)
        warnings = _refresh_totals(disposal, today)
        disposal.save()
        disposal.approval = approvals.submit(disposal, user, amount=disposal.total_value,
                                             title=_title(disposal, cards[0]), comment=_comment(warnings))
        disposal.save(update_fields=["approval", "updated_at"])
    return disposal


def _locked_disposal(disposal: AssetDisposal) -> AssetDisposal:
    lock_rows(AssetDisposal.objects.filter(pk=disposal.pk))  # the row alone, then re-read with its joins
    return AssetDisposal.objects.select_related("org", "approval").get(pk=disposal.pk)


def resubmit_disposal(disposal: AssetDisposal, user, *, assets=None, method: str | None = None,
                      reason: str | None = None, recipient: str | None = None, estimated_residual=None,
                      meeting_note: str | None = None, comment: str = "") -> AssetDisposal:
    """修改并重新提交: the requester changes a request that was sent back (退回) — its cards (``assets``: the new
    list; removed cards get their status back, added ones are checked and frozen like at the first request) and
    its fields (``None`` keeps a field) — and submits it again; approval restarts at the first step with the band
    of the new total."""
    from houqin.core import approvals
    from houqin.core.models.approvals import ApprovalStatus

    today = timezone.localdate()
    with transaction.atomic():
        row = _locked_disposal(disposal)
        _require(user, "change", row)
        approval = row.approval
        if row.status != DisposalStatus.PENDING or approval is None or approval.status != ApprovalStatus.SENT_BACK:
            raise ValidationError("只有被退回的处置申请可以修改后重新提交。")
        if approval.requester_id != getattr(user, "pk", None):
            raise ValidationError("只有申请人本人可以修改并重新提交该申请。")
        errors: dict[str, str] = {}
        values = _validate_request(
            errors, method=row.method if method is None else method, reason=row.reason if reason is None else reason,
            recipient=row.recipient if recipient is None else recipient,
            estimated_residual=row.estimated_residual if estimated_residual is None else estimated_residual,
            meeting_note=row.meeting_note if meeting_note is None else meeting_note)
        ids = None if assets is None else _ids(assets)
        if ids is not None and not ids:
            errors["assets"] = "请至少选择一项资产。"
        elif ids is not None and len(ids) > MAX_DISPOSAL_ITEMS:
            errors["assets"] = f"一张处置单最多 {MAX_DISPOSAL_ITEMS} 项资产，请分批申请。"
        if errors:
            raise ValidationError(errors)
        for name, value in values.items():
            setattr(row, name, value)
        if ids is not None:
            items = {i.asset_id: i for i in row.items.select_related("disposal")}
            removed = [items[pk] for pk in items if pk not in ids]
            added = [pk for pk in ids if pk not in items]
            if removed:
                cards = {c.pk: c for c in _lock_cards([i.asset_id for i in removed])}
                for item in removed:
                    _restore(item, cards[item.asset_id], user, f"已从处置申请 {row.number} 中移除，恢复原状态")
                    item.delete()
            if added:
                new_cards = _lock_cards(added, row.org)
                _check_cards(new_cards, added, row.org, user, exclude=row)
                _add_items(row, new_cards, user, today)
        warnings = _refresh_totals(row, today)
        row.save()
        first = row.items.select_related("asset").order_by("asset__number", "pk").first()
        approvals.submit(approval, user, amount=row.total_value, title=_title(row, first.asset if first else None),
                         comment="\n".join(p for p in (_text(comment), _comment(warnings)) if p))
    disposal.refresh_from_db()
    return row


def _decider(request):
    action = request.actions.order_by("-pk").select_related("actor").first()
    return action.actor if action is not None else None


def disposal_approved(request) -> None:
    """Approval hook (inside the approval's transaction): the request is approved — nothing is written off yet;
    the keeper carries the disposal out and records it (``record_disposal``)."""
    disposal = AssetDisposal.objects.select_for_update(of=("self",)).get(pk=request.object_id)
    if disposal.status != DisposalStatus.PENDING:
        raise ValidationError(f"处置单 {disposal.number} 当前为“{disposal.get_status_display()}”，不能审批通过。")
    disposal.status = DisposalStatus.APPROVED
    disposal.save(update_fields=["status", "updated_at"])


def disposal_closed(request, status: str) -> None:
    """Approval hook: the request was rejected or withdrawn — the disposal is closed and every card gets back the
    status it had before the request."""
    disposal = AssetDisposal.objects.select_for_update(of=("self",)).get(pk=request.object_id)
    if disposal.status != DisposalStatus.PENDING:
        raise ValidationError(f"处置单 {disposal.number} 当前为“{disposal.get_status_display()}”，不能关闭。")
    user = _decider(request)
    items = list(disposal.items.select_related("disposal"))
    cards = {c.pk: c for c in _lock_cards([i.asset_id for i in items])}
    what = "未获批准" if status == DisposalStatus.REJECTED else "已撤回"
    for item in items:
        _restore(item, cards[item.asset_id], user, f"处置申请 {disposal.number} {what}，恢复原状态")
        item.is_open = False
        item.save(update_fields=["is_open", "updated_at"])
    disposal.status = status
    disposal.save(update_fields=["status", "updated_at"])


def record_disposal(disposal: AssetDisposal, user, *, disposed_on, actual_income=None, buyer: str = "",
                    document_no: str = "", note: str = "", photos: Iterable = ()) -> AssetDisposal:
    """处置完成: the approved disposal was carried out. Each card becomes 已处置 with ``disposed_on`` (its
    depreciation stops that month) and a ``dispose`` event; the item keeps its net value at write-off. Refused
    unless the approval request is 已通过 (no disposal without approval)."""
    from houqin.core.models.approvals import ApprovalRequest, ApprovalStatus

    errors: dict[str, str] = {}
    day = _day(disposed_on, "disposed_on", errors, label="处置日期")
    income = _money(actual_income, "actual_income", errors)
    buyer, document_no, note = _text(buyer), _text(document_no), _text(note)
    _too_long(errors, "buyer", buyer, 100, "接收方/买受人")
    _too_long(errors, "document_no", document_no, 60, "处置文件号")
    _too_long(errors, "note", note, 200, "处置说明")
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        row = _locked_disposal(disposal)
        _require(user, "change", row)
        approval = ApprovalRequest.objects.filter(pk=row.approval_id).first()
        if row.status == DisposalStatus.DONE:
            raise ValidationError(f"处置单 {row.number} 已于 {row.disposed_on:%Y-%m-%d} 办理完成。")
        if approval is None or approval.status != ApprovalStatus.APPROVED or row.status != DisposalStatus.APPROVED:
            state = approval.get_status_display() if approval is not None else "未提交审批"
            raise ValidationError(f"处置申请尚未审批通过（审批状态：{state}），不能办理处置。")
        approved_on = timezone.localdate(approval.decided_at) if approval.decided_at else None
        if approved_on and day < approved_on:
            raise ValidationError({"disposed_on": f"处置日期不能早于审批通过的日期（{approved_on:%Y-%m-%d}）。"})
        buyer = buyer or row.recipient
        if row.method in METHODS_WITH_RECIPIENT and not buyer:
            raise ValidationError({"buyer": "调拨、捐赠、出售须填写接收方或买受人。"})
        items = list(row.items.select_related("disposal"))
        cards = {c.pk: c for c in _lock_cards([i.asset_id for i in items])}
        wrong = [f"{c.number} {c.name}：当前为“{_label(c.status)}”" for c in cards.values()
                 if c.status != S.PENDING_DISPOSAL]
        if wrong:
            raise ValidationError({"assets": [f"{w}，不能核销。" for w in wrong]})
        method = row.get_method_display()
        event_note = method + (f"，接收方：{buyer}" if buyer else "") + (f"。{note}" if note else "")
        for item in items:
            card = cards[item.asset_id]
            _set_status(card, S.DISPOSED, disposed_on=day)
            record_event(card, AssetEventCode.DISPOSE, user,
                         changes={"status": [S.PENDING_DISPOSAL, S.DISPOSED], "disposed_on": [None, day.isoformat()]},
                         status_before=S.PENDING_DISPOSAL, status_after=S.DISPOSED, reference=row.number,
                         note=event_note)
            item.final_net_value = card.depreciation(day).net
            item.is_open = False
            item.save(update_fields=["final_net_value", "is_open", "updated_at"])
        row.status = DisposalStatus.DONE
        row.disposed_on, row.actual_income, row.buyer = day, income or Decimal("0.00"), buyer
        row.document_no, row.record_note = document_no, note
        row.recorded_by = user if getattr(user, "is_authenticated", False) else None
        row.save()
        _attach(row, photos, user, "处置照片")
    disposal.refresh_from_db()
    return row


def last_repair_reference(card: Asset) -> str | None:
    """The reference of the card's latest 送修 event (None: no such event): a work order number when the repairs
    app sent it, empty when it was sent from the damage page."""
    event = AssetEvent.objects.filter(asset=card, code=AssetEventCode.REPAIR).order_by("-time", "-pk").first()
    return None if event is None else event.reference
