"""Commands of preventive inspections (巡检): generate the runs of the plans, flag overdue runs, submit a run's
results, keep the runs in step with a changed plan, and load the common plans (docs/repairs-inspections.md).

* ``generate_runs`` creates the runs due within each active plan's ``lead_days`` — from the hourly job
  ``generate_inspection_runs``, from the 立即生成 button and whenever a plan is saved. A run is unique per (plan,
  period key): each run is inserted in a savepoint, and a concurrent worker that inserted it first makes the insert
  fail with ``IntegrityError``, which is taken as "already there" (its number is given back with the savepoint).
* ``submit_run`` records the answers of a run in one transaction (photos and signature through core's attachments),
  opens a work order for every failed line (``houqin.repairs.services.create_order``, if installed) and calls the
  hooks in ``ON_ITEM_FAILED`` (the seam for the safety app's hazards).
* Reminders go to the plan's responsible person and role holders the day before and on the due day; when a run
  falls overdue they are told again and the 总务主任 is told as well.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from houqin.core import attachments
from houqin.core.jobs import job, periodic
from houqin.core.models import AttachmentKind, Organization, Term
from houqin.core.numbering import next_number
from houqin.core.reminders import cancel_reminder, complete_reminder, schedule_reminder
from houqin.repairs import recurrence
from houqin.repairs.models.inspections import (
    OPEN_STATES,
    HolidayRule,
    InspectionItem,
    InspectionPlan,
    InspectionResult,
    InspectionRun,
    Outcome,
    RunOutcome,
    RunState,
    ScheduleKind,
    Weekday,
    WeekOfMonth,
)

logger = logging.getLogger(__name__)

NUMBER_PREFIX = "XJ"
REMINDER_KEY = "inspection"
OVERDUE_KEY = "inspection-overdue"
# Who hears about overdue runs and failed items besides the responsible people.
SUPERVISOR_ROLES = ("logistics_head",)

# Called for every failed line of a submitted run, inside its transaction: ``hook(run=…, result=…, user=…)``. The
# safety app appends a function here that opens a hazard (隐患) for lines that concern safety. A hook that raises
# rolls the whole submission back, so it must only raise for a reason the inspector should read.
ON_ITEM_FAILED: list[Callable[..., None]] = []


# --- The school calendar ---------------------------------------------------------------------------------------------
_RANGE = re.compile(r"^\s*(\d{4}-\d{2}-\d{2})\s*(?:\.\.|~|至)\s*(\d{4}-\d{2}-\d{2})\s*$")


def _dates(values) -> frozenset[datetime.date]:
    """Dates from a list of ``"2026-10-01"`` and ``"2026-10-01..2026-10-07"`` entries; bad entries are ignored."""
    days: set[datetime.date] = set()
    for value in values if isinstance(values, list | tuple) else ():
        text = str(value)
        try:
            match = _RANGE.match(text)
            if match:
                first, last = (datetime.date.fromisoformat(g) for g in match.groups())
                if 0 <= (last - first).days <= 366:
                    days.update(first + datetime.timedelta(days=i) for i in range((last - first).days + 1))
            else:
                days.add(datetime.date.fromisoformat(text.strip()))
        except ValueError:
            logger.warning("Ignoring a bad date %r in the school's repairs.holidays/workdays setting", text)
    return frozenset(days)


def _setting(org: Organization, name: str):
    data = org.settings or {}
    section = data.get("repairs") if isinstance(data.get("repairs"), dict) else {}
    return section.get(name, data.get(f"repairs.{name}"))


def calendar_for(org: Organization) -> recurrence.SchoolCalendar:
    """The school's terms (core ``Term``), public holidays and make-up working days (school setting
    ``{"repairs": {"holidays": ["2026-10-01..2026-10-07"], "workdays": ["2026-09-27"]}}``)."""
    terms = tuple(recurrence.TermSpan(f"term-{t.pk}", t.start_date, t.end_date, t.name)
                  for t in Term.objects.filter(org=org).order_by("start_date"))
    return recurrence.SchoolCalendar(terms=terms, holidays=_dates(_setting(org, "holidays")),
                                     workdays=_dates(_setting(org, "workdays")))


def occurrences_for(plan: InspectionPlan, start: datetime.date, end: datetime.date,
                    calendar: recurrence.SchoolCalendar | None = None) -> list[recurrence.Occurrence]:
    """The occurrences of a plan due between ``start`` and ``end``, never before its start date."""
    start = max(start, plan.start_date)
    if end < start:
        return []
    return recurrence.occurrences(plan.rule, start, end, calendar=calendar or calendar_for(plan.org),
                                  adjust=plan.holiday_rule, vacations=plan.vacations_are_working_days)


def upcoming_for(plan: InspectionPlan, count: int = 3, today: datetime.date | None = None):
    today = today or timezone.localdate()
    start = max(today, plan.start_date)
    return recurrence.upcoming(plan.rule, start, count, calendar=calendar_for(plan.org), adjust=plan.holiday_rule,
                               vacations=plan.vacations_are_working_days)


# --- Generating runs -------------------------------------------------------------------------------------------------
@dataclass
class Generated:
    created: list[InspectionRun] = field(default_factory=list)
    flagged_overdue: int = 0

    @property
    def message(self) -> str:
        text = f"新生成 {len(self.created)} 项巡检任务" if self.created else "没有需要新生成的巡检任务"
        if self.flagged_overdue:
            text += f"，{self.flagged_overdue} 项已逾期"
        return text


def _remind(run: InspectionRun) -> None:
    plan = run.plan
    title = f"巡检：{run.title}（{run.number}）"
    body = f"检查对象：{plan.target_display}" if plan.target_display else ""
    schedule_reminder(run, key=REMINDER_KEY, title=title, due=run.due_date,
                      before=(datetime.timedelta(days=1), datetime.timedelta(0)), overdue=True,
                      roles=(plan.responsible_role,) if plan.responsible_role else (),
                      users=(plan.responsible,) if plan.responsible_id else (), body=body)
    schedule_reminder(run, key=OVERDUE_KEY, title=f"{title}，负责人：{plan.responsible_display}", due=run.due_date,
                      before=(), overdue=True, roles=SUPERVISOR_ROLES, body=body)


def _create_run(plan: InspectionPlan, occ: recurrence.Occurrence, today: datetime.date) -> InspectionRun | None:
    """Insert the run of one occurrence in a savepoint; None if another worker inserted it first."""
    try:
        with transaction.atomic():
            run = InspectionRun(
                org_id=plan.org_id, plan=plan, title=plan.name, period_key=occ.key, due_date=occ.due,
                opens_on=occ.opens, state=RunState.OVERDUE if occ.due < today else RunState.PENDING,
                number=next_number(plan.org_id, NUMBER_PREFIX, day=occ.due),
            )
            run.save()
            _remind(run)
            return run
    except IntegrityError:
        return None  # the unique (plan, period key) says another worker was first: the number went back with it


def generate_runs(org: Organization | None = None, *, plans: Iterable[InspectionPlan] | None = None,
                  today: datetime.date | None = None) -> Generated:
    """Create the runs due within ``lead_days`` of every active plan (of ``org``, or of every school, or only
    ``plans``), and flag the open runs now past their due date. Idempotent and safe to run in parallel."""
    today = today or timezone.localdate()
    chosen = plans is not None
    if plans is None:
        plans = InspectionPlan.objects.filter(is_active=True, org__is_active=True)
        if org is not None:
            plans = plans.filter(org=org)
        plans = plans.select_related("org", "responsible")
    plans = [p for p in plans if p.is_active]
    result = Generated()
    calendars: dict[int, recurrence.SchoolCalendar] = {}
    for plan in sorted(plans, key=lambda p: (p.org_id, p.pk)):
        horizon = today + datetime.timedelta(days=plan.lead_days)
        if plan.generated_until is not None and plan.generated_until >= horizon:
            continue
        start = plan.generated_until + datetime.timedelta(days=1) if plan.generated_until else today
        if plan.org_id not in calendars:
            calendars[plan.org_id] = calendar_for(plan.org)
        wanted = occurrences_for(plan, start, horizon, calendars[plan.org_id])
        with transaction.atomic():
            existing = set(InspectionRun.objects.filter(plan=plan, period_key__in=[o.key for o in wanted])
                           .values_list("period_key", flat=True))
            for occ in wanted:
                if occ.key not in existing:
                    run = _create_run(plan, occ, today)
                    if run is not None:
                        result.created.append(run)
            # Only ever forwards: two workers that both got here leave the later date.
            InspectionPlan.objects.filter(pk=plan.pk).exclude(generated_until__gte=horizon).update(
                generated_until=horizon)
        plan.generated_until = horizon
    if chosen:
        result.flagged_overdue = flag_overdue(today=today, plans=plans) if plans else 0
    else:
        result.flagged_overdue = flag_overdue(org, today=today)
    return result


def flag_overdue(org: Organization | None = None, *, today: datetime.date | None = None, plans=None) -> int:
    """Mark the pending runs whose due date has passed as 已逾期 (one save each, so the change log shows it)."""
    today = today or timezone.localdate()
    due = InspectionRun.objects.filter(state=RunState.PENDING, due_date__lt=today)
    if org is not None:
        due = due.filter(org=org)
    if plans is not None:
        due = due.filter(plan__in=[p.pk for p in plans])
    flagged = 0
    for pk in list(due.values_list("pk", flat=True)):
        with transaction.atomic():
            run = InspectionRun.objects.select_for_update().filter(pk=pk, state=RunState.PENDING).first()
            if run is None:
                continue
            run.state = RunState.OVERDUE
            run.save(update_fields=["state", "updated_at"])
            flagged += 1
    return flagged


@periodic(datetime.timedelta(hours=1))
@job("生成巡检任务并标记逾期")
def generate_inspection_runs(ctx) -> dict:
    """Hourly (not daily: a school PC that is off at night would miss a daily run): every school's runs due soon,
    and overdue flags. Idempotent, so a run that finds nothing to do costs a few queries per plan."""
    total = Generated()
    for org in Organization.objects.schools().filter(is_active=True).order_by("pk"):
        done = generate_runs(org)
        total.created += done.created
        total.flagged_overdue += done.flagged_overdue
        if done.created or done.flagged_overdue:
            ctx.log(f"{org.name}：{done.message}")
    return {"message": total.message}


# --- Plans changing --------------------------------------------------------------------------------------------------
def _drop_future_pending(plan: InspectionPlan, today: datetime.date) -> int:
    """Delete the runs not yet due and untouched (they are regenerated from the plan as it is now)."""
    count = 0
    for run in InspectionRun.objects.filter(plan=plan, state=RunState.PENDING, due_date__gte=today):
        cancel_reminder(run, REMINDER_KEY)
        cancel_reminder(run, OVERDUE_KEY)
        run.delete()
        count += 1
    return count


def plan_saved(plan: InspectionPlan, *, previous: tuple | None, was_active: bool | None,
               today: datetime.date | None = None) -> Generated:
    """Keep the runs in step with a plan just created or changed (call inside the transaction that saved it).

    ``previous``: the plan's ``schedule_signature()`` before the change (None when created); ``was_active`` its
    ``is_active`` before. A changed schedule regenerates the runs not yet due; a plan switched off drops them and
    cancels its overdue runs; a plan switched (back) on starts again from today.
    """
    today = today or timezone.localdate()
    if previous is not None and not plan.is_active:
        if was_active:
            _drop_future_pending(plan, today)
            for run in InspectionRun.objects.filter(plan=plan, state__in=OPEN_STATES):
                cancel_run(run, reason="巡检计划已停用")
            InspectionPlan.objects.filter(pk=plan.pk).update(generated_until=None)
            plan.generated_until = None
        return Generated()
    if previous is not None and (previous != plan.schedule_signature() or not was_active):
        _drop_future_pending(plan, today)
        yesterday = today - datetime.timedelta(days=1)
        InspectionPlan.objects.filter(pk=plan.pk).update(generated_until=yesterday)
        plan.generated_until = yesterday
    return generate_runs(plans=[plan], today=today)


def cancel_run(run: InspectionRun, *, reason: str) -> None:
    """An open run that no longer applies (its plan was switched off): kept as a record, reminders stopped."""
    run.state = RunState.CANCELLED
    run.cancelled_reason = reason[:200]
    run.save(update_fields=["state", "cancelled_reason", "updated_at"])
    cancel_reminder(run, REMINDER_KEY)
    cancel_reminder(run, OVERDUE_KEY)


def delete_plan(plan: InspectionPlan) -> None:
    """Delete a plan that has no record yet (its untouched runs go with it); otherwise refuse."""
    with transaction.atomic():
        if InspectionRun.objects.filter(plan=plan).exclude(state=RunState.PENDING).exists():
            raise ValidationError("该计划已有巡检记录，不能删除；如不再需要，请编辑计划并取消“启用”。")
        for run in InspectionRun.objects.filter(plan=plan):
            cancel_reminder(run, REMINDER_KEY)
            cancel_reminder(run, OVERDUE_KEY)
            run.delete()
        plan.delete()


# --- Who may fill in a run -------------------------------------------------------------------------------------------
def may_perform(user, run: InspectionRun) -> bool:
    """The plan's responsible person or role holders, and holders of ``repairs.change_inspectionrun`` in the school,
    may fill in an open run (one query)."""
    return InspectionRun.objects.restrict(user, "change").filter(pk=run.pk).exists()


def runs_for(user):
    """The open runs ``user`` is responsible for (by name or role), soonest first."""
    return (InspectionRun.objects.responsible_for(user).filter(state__in=OPEN_STATES)
            .select_related("plan", "org").order_by("due_date", "pk"))


# --- Submitting a run ------------------------------------------------------------------------------------------------
@dataclass
class Answer:
    """The answer to one checklist line: ``item`` (id), ``outcome`` (``Outcome``), an optional note, photo (an
    uploaded file or bytes) and, for a failure, where it is (a room or an asset of the school)."""

    item: int
    outcome: str
    note: str = ""
    photo: object = None
    room: object = None
    asset: object = None


@dataclass
class Submitted:
    run: InspectionRun
    work_orders: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


DATA_URL = re.compile(r"^data:image/[a-z0-9.+-]+;base64,", re.IGNORECASE)


def decode_image(value, *, name: str = "图片") -> bytes | None:
    """The bytes of an image sent as a data URL (``data:image/png;base64,…``, what a signature pad gives) or as
    plain base64; None for an empty value. Raises ValidationError for anything else (the content is checked by the
    attachments service afterwards)."""
    if value in (None, ""):
        return None
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    text = DATA_URL.sub("", str(value).strip(), count=1)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError(f"{name}的数据无法识别，请重新拍照或签名。", code="invalid") from None


SIGNATURE_MIN_INK = 40  # dark pixels a real signature has at least


def check_signature(raw: bytes) -> None:
    """Refuse a signature picture that is not an image or is blank (the pad sends a white picture when nobody
    signed). Raises ValidationError."""
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(raw)) as img:
            if img.width * img.height > 4_000_000:
                raise ValidationError("签名图片过大，请重写后再提交。", code="too_large")
            img.load()
            rgba = img.convert("RGBA")
    except ValidationError:
        raise
    except Exception:  # noqa: BLE001 — any decoding problem is a broken picture
        raise ValidationError("签名图片无法识别，请重写后再提交。", code="invalid") from None
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    ink = Image.alpha_composite(white, rgba).convert("L").point(lambda v: 255 if v < 160 else 0)
    if sum(ink.histogram()[255:]) < SIGNATURE_MIN_INK:
        raise ValidationError("签名框是空白的，请检查人在框内签名。", code="blank")


def _item_label(position: int, text: str) -> str:
    short = text if len(text) <= 20 else f"{text[:20]}…"
    return f"第 {position} 项“{short}”"


def _check_answers(run: InspectionRun, items: list[InspectionItem], answers: list[Answer]) -> dict[str, list]:
    errors: dict[str, list] = {}
    by_item: dict[int, Answer] = {}
    for answer in answers:
        try:
            item_id = int(answer.item)
        except (TypeError, ValueError):
            errors.setdefault("results", []).append(f"检查项目编号“{answer.item}”无效。")
            continue
        if item_id in by_item:
            errors.setdefault("results", []).append(f"检查项目 {item_id} 重复填写。")
        by_item[item_id] = answer
    known = {item.pk for item in items}
    unknown = sorted(set(by_item) - known)
    if unknown:
        errors.setdefault("results", []).append(
            f"检查项目 {', '.join(map(str, unknown))} 不属于本次巡检（检查清单可能已修改，请刷新后重新填写）。")
    for position, item in enumerate(items, start=1):
        key = f"item_{item.pk}"
        answer = by_item.get(item.pk)
        label = _item_label(position, item.text)
        if answer is None or not answer.outcome:
            errors.setdefault(key, []).append(f"{label}还没有选择结果（合格、不合格或不适用）。")
            continue
        if answer.outcome not in Outcome.values:
            errors.setdefault(key, []).append(f"{label}的结果无效。")
            continue
        if answer.outcome == Outcome.FAIL and not answer.photo:
            errors.setdefault(key, []).append(f"{label}不合格，请拍照留证。")
        elif item.requires_photo and answer.outcome == Outcome.PASS and not answer.photo:
            errors.setdefault(key, []).append(f"{label}要求拍照，请拍一张照片。")
        if len(answer.note or "") > 300:
            errors.setdefault(key, []).append(f"{label}的说明不能超过 300 个字。")
        if any(v is not None and getattr(v, "org_id", None) != run.org_id for v in (answer.room, answer.asset)):
            errors.setdefault(key, []).append(f"{label}的问题位置必须是本校的房间或设备。")
        if answer.photo:
            try:
                attachments.check_files([answer.photo])
            except ValidationError as exc:
                errors.setdefault(key, []).extend(f"{label}的照片：{m}" for m in exc.messages)
    return errors


def _decoded(value, key: str, label: str, errors: dict):
    """A data URL or base64 text as bytes (files and bytes as they are); a bad one is an error under ``key``."""
    if not isinstance(value, str):
        return value
    try:
        return decode_image(value, name=label)
    except ValidationError as exc:
        errors.setdefault(key, []).extend(exc.messages)
        return None


def _read(upload) -> bytes:
    if hasattr(upload, "seek"):
        upload.seek(0)
    data = upload.read()
    if hasattr(upload, "seek"):
        upload.seek(0)
    return data


def submit_run(run: InspectionRun, *, user, answers: list[Answer], signature=None, photo=None, note: str = "",
               today: datetime.date | None = None) -> Submitted:
    """Record a run's results (all or nothing): one answer per checklist line, a photo for every failure and every
    line that requires one, the inspector's signature (a PNG: bytes, a data URL or an uploaded file), an optional
    overall photo and note. Opens a work order per failed line and calls ``ON_ITEM_FAILED``.

    Raises PermissionDenied when ``user`` may not fill in the run, ValidationError (messages in Chinese, keyed by
    ``item_<id>``, ``signature``, ``photo``, ``note`` or ``__all__``) for a closed run or bad answers.
    """
    today = today or timezone.localdate()
    if not InspectionRun.objects.restrict(user, "view").filter(pk=run.pk).exists():
        raise PermissionDenied("您无权查看这项巡检。")
    with transaction.atomic():
        locked = InspectionRun.objects.select_for_update().select_related("plan", "org").get(pk=run.pk)
        if locked.state == RunState.DONE:
            who = locked.done_by.get_full_name() if locked.done_by_id else "他人"
            raise ValidationError(f"这项巡检已由{who}于 {timezone.localtime(locked.done_at):%Y-%m-%d %H:%M} 提交，"
                                  "不能重复提交。", code="closed")
        if locked.state == RunState.CANCELLED:
            raise ValidationError("这项巡检已取消，不能再填写。", code="closed")
        if not may_perform(user, locked):
            raise PermissionDenied("您不是这项巡检的负责人，不能填写。")
        if today < locked.opens_on:
            raise ValidationError(f"这项巡检从 {locked.opens_on:%Y-%m-%d} 起才能填写（应检日期 "
                                  f"{locked.due_date:%Y-%m-%d}）。", code="not_open")
        items = list(locked.plan.items.order_by("position", "pk"))
        if not items:
            raise ValidationError("该巡检计划还没有检查项目，请先在巡检计划中添加。", code="empty")
        errors = _check_answers(locked, items, answers)
        signature = _decoded(signature, "signature", "签名", errors)
        photo = _decoded(photo, "photo", "现场照片", errors)
        if "signature" in errors:
            pass
        elif not signature:
            errors["signature"] = ["请检查人在签名框内签名。"]
        else:
            try:
                check_signature(signature if isinstance(signature, bytes) else _read(signature))
                attachments.check_files([signature])
            except ValidationError as exc:
                errors["signature"] = exc.messages
        if photo and "photo" not in errors:
            try:
                attachments.check_files([photo])
            except ValidationError as exc:
                errors.setdefault("photo", []).extend(exc.messages)
        if len(note or "") > 500:
            errors.setdefault("note", []).append("情况说明不能超过 500 个字。")
        if errors:
            raise ValidationError(errors)

        by_item = {int(a.item): a for a in answers}
        results = []
        for position, item in enumerate(items, start=1):
            answer = by_item[item.pk]
            result = InspectionResult(org_id=locked.org_id, run=locked, item=item, position=position, text=item.text,
                                      outcome=answer.outcome, note=(answer.note or "").strip(), room=answer.room,
                                      asset=answer.asset)
            result.save()
            if answer.photo:
                stored = attachments.attach(result, [answer.photo], user=user, caption=f"检查项：{item.text}"[:200],
                                            kind=AttachmentKind.PHOTO, check_permission=False)
                result.photo = stored[0]
                result.save(update_fields=["photo", "updated_at"])
            results.append(result)
        failed = [r for r in results if r.outcome == Outcome.FAIL]
        locked.signature = attachments.attach(locked, [signature], user=user, caption="检查人签名",
                                              kind=AttachmentKind.PHOTO, check_permission=False)[0]
        if photo:
            locked.photo = attachments.attach(locked, [photo], user=user, caption="现场照片",
                                              kind=AttachmentKind.PHOTO, check_permission=False)[0]
        locked.state = RunState.DONE
        locked.done_by = user
        locked.done_at = timezone.now()
        locked.outcome = RunOutcome.FAIL if failed else RunOutcome.PASS
        locked.item_count = len(results)
        locked.failed_count = len(failed)
        locked.note = (note or "").strip()
        locked.save()
        complete_reminder(locked, REMINDER_KEY)
        complete_reminder(locked, OVERDUE_KEY)
        submitted = Submitted(locked)
        for result in failed:
            number = _open_work_order(locked, result, user, submitted)
            if number:
                submitted.work_orders.append(number)
            for hook in list(ON_ITEM_FAILED):
                hook(run=locked, result=result, user=user)
        if failed:
            _notify_failures(locked, failed, submitted.work_orders)
    return submitted


def _create_order_function():
    """``houqin.repairs.services.create_order`` if the work-order part is installed, else None."""
    try:
        from houqin.repairs import services
    except ImportError:
        return None
    return getattr(services, "create_order", None)


def _open_work_order(run: InspectionRun, result: InspectionResult, user, submitted: Submitted) -> str:
    """Open a work order for a failed line (in a savepoint: a refusal is reported, the results are kept). The line's
    photo goes with it; the plan's 报修类别 and the line's 紧急 flag decide its category and urgency."""
    create_order = _create_order_function()
    if create_order is None:
        return ""
    plan = run.plan
    room = result.room
    if room is None and result.asset is None:
        rooms = list(plan.rooms.all()[:2])
        room = rooms[0] if len(rooms) == 1 else None
    description = f"巡检发现问题：{result.text}"
    if result.note:
        description += f"。{result.note}"
    description += f"（{run.title} {run.number}）"
    kwargs = {"user": user, "description": description[:500], "room": room, "asset": result.asset,
              "source": "inspection", "reference": run.number,
              "place": "" if room is not None or result.asset is not None else (plan.target or plan.name)[:100]}
    if result.item is not None and result.item.urgent:
        kwargs["urgency"] = "urgent"
    if result.photo_id:
        try:
            with attachments.open_stored(result.photo.stored_name) as stored:
                kwargs["photos"] = [stored.read()]
        except OSError:
            logger.warning("Inspection %s: the photo of %r could not be read for the work order", run.number,
                           result.text)
    attempts = [{**kwargs, "category": plan.repair_category}] if plan.repair_category else []
    attempts.append(kwargs)  # without the category, should the school have renamed or switched it off
    message = ""
    for attempt in attempts:
        try:
            with transaction.atomic():
                order = create_order(run.org, **attempt)
                result.work_order_number = str(getattr(order, "number", "") or "")[:40]
                result.work_order_id = getattr(order, "pk", None)
                result.save(update_fields=["work_order_number", "work_order_id", "updated_at"])
                return result.work_order_number
        except (ValidationError, PermissionDenied) as exc:
            message = "；".join(getattr(exc, "messages", None) or [str(exc)])
    logger.warning("Inspection %s: no work order for %r: %s", run.number, result.text, message)
    submitted.problems.append(f"“{result.text}”未能自动生成维修单：{message}")
    return ""


def _notify_failures(run: InspectionRun, failed: list[InspectionResult], orders: list[str]) -> None:
    from houqin.core.models import User
    from houqin.core.notifications import notify

    heads = User.objects.filter(memberships__org_id=run.org_id, memberships__role__code__in=SUPERVISOR_ROLES,
                                is_active=True).distinct()
    lines = "；".join(r.text for r in failed[:5]) + (f" 等 {len(failed)} 项" if len(failed) > 5 else "")
    body = f"不合格：{lines}"
    if orders:
        body += f"\n已生成维修单：{'、'.join(orders)}"
    notify(list(heads), org=run.org, title=f"巡检发现问题：{run.title}（{len(failed)} 项不合格）", body=body,
           url=run.get_absolute_url(), kind="alert", source=run, dedupe_key=f"inspection-failed:{run.pk}")


# --- Common plans ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SeedPlan:
    name: str
    target: str
    kind: str
    role: str
    items: tuple[tuple, ...]  # (text, requires photo[, urgent])
    weekday: int | None = None
    month_day: int | None = None
    week_of_month: int | None = None
    month: int | None = None
    category: str = ""
    note: str = ""


SEED_PLANS = (
    SeedPlan("大型玩具与体育器材周检", "操场大型玩具、滑梯、秋千、攀爬架、篮球架、足球门、单双杠", ScheduleKind.WEEKLY,
             "technician", weekday=Weekday.MONDAY, items=(
                 ("滑梯、秋千、攀爬架等大型玩具连接件无松动、无脱落", False, True),
                 ("器材表面无开裂、无尖锐边角、无外露螺栓和毛刺", False),
                 ("金属部件无严重锈蚀，焊点无开焊", False),
                 ("篮球架、足球门、单双杠固定牢靠，无倾斜晃动", True),
                 ("器材下方缓冲地面（软垫、沙坑、塑胶）完好，无积水和杂物", False),
                 ("安全警示标识和使用说明清晰完整", False),
             ), note="依据学校日常安全检查做法：大型玩具与体育器材每周检查，发现问题立即停用并报修。"),
    SeedPlan("风扇与门窗月检", "各教室、办公室的吊扇、壁扇与门窗", ScheduleKind.MONTHLY, "technician",
             weekday=Weekday.MONDAY, week_of_month=WeekOfMonth.FIRST, items=(
                 ("吊扇吊钩、吊杆牢固，防坠落保险装置（防脱钢丝绳）完好", True, True),
                 ("扇叶无变形、无裂纹，运转无异响、无明显晃动", False),
                 ("调速开关和线路完好，无破损、无裸露", False),
                 ("门窗开关灵活，合页、插销、锁具完好", False),
                 ("窗户玻璃无破损、无松动，限位器完好（高层防坠）", False),
                 ("纱窗、窗帘轨道完好，无脱落隐患", False),
             )),
    SeedPlan("燃气与厨房电器周检", "食堂操作间燃气管道、灶具及厨房电器", ScheduleKind.WEEKLY, "canteen_manager",
             weekday=Weekday.FRIDAY, items=(
                 ("燃气管道、阀门、软管无泄漏（用肥皂水检查），软管无老化、龟裂", True, True),
                 ("燃气泄漏报警器和紧急切断阀工作正常", False, True),
                 ("灶具点火、熄火保护装置正常，火焰正常", False),
                 ("排烟罩、烟道无油污堆积", False),
                 ("蒸饭柜、消毒柜、冰箱等电器接地良好，线路和插座无破损、无过热", False),
                 ("下班前关闭燃气总阀和电器电源", False),
                 ("灭火器、灭火毯在位且在有效期内", False),
             ), category="电器",
             note="食堂燃气安全由食堂管理员每周检查；发现泄漏立即关阀、开窗通风、禁止明火，并报修。"),
    SeedPlan("入夏前空调清洗检查", "各教室、办公室、功能室的空调", ScheduleKind.YEARLY, "technician",
             month=6, month_day=1, items=(
                 ("过滤网已清洗，蒸发器、出风口已清洁消毒", True),
                 ("室外机支架牢固、无锈蚀，周围无杂物遮挡", True),
                 ("冷凝水排水管畅通，无滴漏到走廊或窗外行人处", False),
                 ("电源线、插座和空气开关完好，无过热、无破损", False),
                 ("试运行制冷正常，无异响、无异味", False),
             ), category="电器", note="入夏前完成清洗，保证教室通风和师生健康。"),
    SeedPlan("照明设施周检", "教室、走廊、楼梯、卫生间的照明及应急照明", ScheduleKind.WEEKLY, "technician",
             weekday=Weekday.WEDNESDAY, items=(
                 ("教室灯具全部正常发光，无闪烁，黑板灯正常", False),
                 ("走廊、楼梯照明正常，开关完好", False),
                 ("应急照明灯和安全出口指示灯正常（按测试键检查）", True),
                 ("灯具固定牢靠，灯罩无破损、无脱落隐患", False),
                 ("开关、插座面板完好，无破损、无裸露带电部位", False, True),
             ), category="水电"),
)


def seed_plans(org: Organization, *, today: datetime.date | None = None) -> list[InspectionPlan]:
    """载入常用巡检计划: create the common plans the school does not have yet (by name), with their checklists, and
    generate their first runs. Returns the plans created (none when all exist)."""
    today = today or timezone.localdate()
    created = []
    with transaction.atomic():
        existing = set(InspectionPlan.objects.filter(org=org).values_list("name", flat=True))
        for seed in SEED_PLANS:
            if seed.name in existing:
                continue
            plan = InspectionPlan(org=org, name=seed.name, target=seed.target, kind=seed.kind,
                                  responsible_role=seed.role, weekday=seed.weekday, month_day=seed.month_day,
                                  week_of_month=seed.week_of_month, month=seed.month, start_date=today,
                                  holiday_rule=HolidayRule.NEXT, note=seed.note, repair_category=seed.category,
                                  lead_days=30 if seed.kind == ScheduleKind.YEARLY else 7)
            plan.full_clean()
            plan.save()
            for position, (text, photo, *urgent) in enumerate(seed.items, start=1):
                InspectionItem.objects.create(org=org, plan=plan, position=position, text=text, requires_photo=photo,
                                              urgent=bool(urgent and urgent[0]))
            created.append(plan)
        if created:
            generate_runs(plans=created, today=today)
    return created
