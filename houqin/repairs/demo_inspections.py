"""Demo data of the repairs app: preventive inspections (imported by houqin/repairs/demo.py).

The demo primary school gets the common plans (大型玩具与体育器材, 风扇与门窗, 燃气与厨房电器, 空调清洗, 照明)
with named responsible people, and a term of history: every occurrence from the start of the current term (the last one,
in the holidays) to yesterday is a run — done by its responsible person on the day, signed, all lines 合格 — except
three recent failures, each with its photo and the work order it opened, and the fans-and-windows check of this
month, left 已逾期. The runs due in the coming days are generated as the hourly job would.

Idempotent: plans by name, lines by position, runs by (plan, period key); a second run the same day creates
nothing, a run on a later day adds the days since. Deterministic: the outcomes are chosen, not drawn.
"""

from __future__ import annotations

import datetime
import io

from django.utils import timezone

from houqin.core import attachments
from houqin.core.demo import PRIMARY, DemoContext, demo_step
from houqin.core.models import AttachmentKind, Term
from houqin.core.numbering import next_number
from houqin.repairs import inspections as services
from houqin.repairs.models.inspections import (
    HolidayRule,
    InspectionItem,
    InspectionPlan,
    InspectionResult,
    InspectionRun,
    Outcome,
    RunOutcome,
    RunState,
    ScheduleKind,
)

# Who does which plan (demo accounts, docs/demo.md).
RESPONSIBLE = {
    "大型玩具与体育器材周检": "weixiu1",
    "风扇与门窗月检": "weixiu1",
    "燃气与厨房电器周检": "shitang",
    "入夏前空调清洗检查": "weixiu2",
    "照明设施周检": "weixiu2",
}
# The three recent failures: (plan, line position, note, where).
FAILURES = (
    ("大型玩具与体育器材周检", 4, "东侧篮球架底座螺栓松动，已拉警戒线暂停使用", "篮球场"),
    ("照明设施周检", 3, "明德楼二楼东侧安全出口指示灯不亮", None),
    ("燃气与厨房电器周检", 1, "二号灶台燃气软管有细小裂纹，已关闭阀门", None),
)
OVERDUE_PLAN = "风扇与门窗月检"  # its latest occurrence is left undone: the demo shows an overdue run


def history_start(org, today: datetime.date) -> datetime.date:
    """The first day of the term we are in, or of the last term (in the holidays); else 16 weeks back."""
    term = (Term.objects.filter(org=org, start_date__lte=today).order_by("-start_date").first())
    return term.start_date if term is not None else today - datetime.timedelta(weeks=16)


def _png(seed: int) -> bytes:
    """A signature-like stroke, different per person (deterministic)."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (360, 120), "white")
    points = [(20 + 40 * i, 60 + ((seed * (i + 3) * 37) % 70) - 35) for i in range(9)]
    ImageDraw.Draw(img).line(points, fill=(20, 20, 60), width=4)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _photo(seed: int) -> bytes:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (320, 240), (150 + seed * 20 % 100, 140, 120))
    ImageDraw.Draw(img).rectangle([60, 50, 260, 190], outline=(200, 30, 30), width=6)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=80)
    return buf.getvalue()


@demo_step("巡检计划", order=310)
def inspection_plans(ctx: DemoContext) -> None:
    school = ctx.org(PRIMARY)
    today = ctx.today
    start = history_start(school, today)
    plans = []
    for seed in services.SEED_PLANS:
        person = ctx.user(RESPONSIBLE[seed.name])
        plan = ctx.upsert(InspectionPlan, {"org": school, "name": seed.name}, {
            "target": seed.target, "kind": seed.kind, "responsible": person, "responsible_role": seed.role,
            "weekday": seed.weekday, "month_day": seed.month_day, "week_of_month": seed.week_of_month,
            "month": seed.month, "repair_category": seed.category, "note": seed.note, "is_active": True,
        }, create_only={"start_date": start, "holiday_rule": HolidayRule.NEXT,
                        "lead_days": 30 if seed.kind == ScheduleKind.YEARLY else 7})
        for position, (text, photo, *urgent) in enumerate(seed.items, start=1):
            ctx.upsert(InspectionItem, {"plan": plan, "position": position}, {
                "org": school, "text": text, "requires_photo": photo, "urgent": bool(urgent and urgent[0])})
        plans.append(plan)
    _history(ctx, school, plans, start, today)
    services.generate_runs(plans=[p for p in plans if p.is_active], today=today)


def _history(ctx: DemoContext, school, plans, start, today) -> None:
    calendar = services.calendar_for(school)
    yesterday = today - datetime.timedelta(days=1)
    signatures: dict[int, bytes] = {}
    for plan in plans:
        occurrences = services.occurrences_for(plan, start, yesterday, calendar)
        if not occurrences:
            continue
        existing = set(InspectionRun.objects.filter(plan=plan).values_list("period_key", flat=True))
        items = plan.checklist
        # One failure and one overdue run per plan at most, however often the demo runs (a later day adds days).
        failure = next(((pos, note, where) for name, pos, note, where in FAILURES if name == plan.name), None)
        if failure is not None and InspectionRun.objects.filter(plan=plan, failed_count__gt=0).exists():
            failure = None
        overdue_left = (plan.name == OVERDUE_PLAN
                        and not InspectionRun.objects.filter(plan=plan, state=RunState.OVERDUE).exists())
        for index, occ in enumerate(occurrences):
            if occ.key in existing:
                continue
            last = index == len(occurrences) - 1
            if overdue_left and last and (today - occ.due).days <= 31:
                run = ctx.upsert(InspectionRun, {"plan": plan, "period_key": occ.key}, {
                    "org": school, "title": plan.name, "due_date": occ.due, "opens_on": occ.opens,
                    "state": RunState.OVERDUE, "number": next_number(school, services.NUMBER_PREFIX, day=occ.due)})
                services._remind(run)
                continue
            person = plan.responsible
            minute = (index * 47 + plan.pk * 13) % 420
            done_at = timezone.make_aware(datetime.datetime.combine(occ.due, datetime.time(9, 0))
                                          + datetime.timedelta(minutes=minute))
            fails = failure if failure is not None and last else None
            run = ctx.upsert(InspectionRun, {"plan": plan, "period_key": occ.key}, {
                "org": school, "title": plan.name, "due_date": occ.due, "opens_on": occ.opens,
                "state": RunState.DONE, "done_by": person, "done_at": done_at, "item_count": len(items),
                "failed_count": 1 if fails else 0, "outcome": RunOutcome.FAIL if fails else RunOutcome.PASS,
                "number": next_number(school, services.NUMBER_PREFIX, day=occ.due)})
            rows = []
            for item in items:
                failed = fails is not None and item.position == fails[0]
                row = InspectionResult(org=school, run=run, item=item, position=item.position, text=item.text,
                                       outcome=Outcome.FAIL if failed else Outcome.PASS,
                                       note=fails[1] if failed else "")
                row.refresh_search_index()
                rows.append(row)
            InspectionResult.objects.bulk_create(rows)
            if person.pk not in signatures:
                signatures[person.pk] = _png(person.pk)
            run.signature = attachments.attach(run, [signatures[person.pk]], user=person, caption="检查人签名",
                                               kind=AttachmentKind.PHOTO, check_permission=False)[0]
            run.save(update_fields=["signature", "updated_at"])
            if fails is not None:
                _failure(ctx, school, run, next(r for r in rows if r.outcome == Outcome.FAIL), person, fails[2])


def _failure(ctx: DemoContext, school, run, result, person, where: str | None) -> None:
    """The photo of a failed line and the work order it opened (through the work-order part, when installed)."""
    from houqin.core.models import Room

    if where:
        result.room = Room.objects.filter(org=school, name=where).first()
    result.photo = attachments.attach(result, [_photo(result.position)], user=person,
                                      caption=f"检查项：{result.text}"[:200], kind=AttachmentKind.PHOTO,
                                      check_permission=False)[0]
    result.save(update_fields=["room", "photo", "updated_at"])
    submitted = services.Submitted(run)
    number = services._open_work_order(run, result, person, submitted)
    ctx.stats[("维修单（巡检发现）", "created")] += 1 if number else 0
