"""Factories of preventive inspections (imported by factories.py): plain ``make_*`` functions for the tests, and
the isolation/query-count factories of the plan and run pages and API."""

from __future__ import annotations

import datetime
import io

from django.db import transaction

from houqin.core.numbering import next_number
from houqin.core.testing import register_factory
from houqin.core.testing.factories import bulk_create_indexed
from houqin.repairs.models.inspections import (
    InspectionItem,
    InspectionPlan,
    InspectionRun,
    RunOutcome,
    RunState,
    ScheduleKind,
)

DEFAULT_ITEMS = ("滑梯、秋千连接件无松动", "器材表面无尖锐边角", "缓冲地面完好")


def make_plan(org, *, name: str = "大型玩具周检", items=DEFAULT_ITEMS, kind: str = ScheduleKind.WEEKLY,
              weekday: int | None = 0, responsible_role: str = "technician",
              start_date: datetime.date = datetime.date(2025, 9, 1), **fields) -> InspectionPlan:
    """A plan with its checklist (``items``: texts, or (text, requires photo[, urgent]) tuples); no runs yet."""
    plan = InspectionPlan(org=org, name=name, kind=kind, weekday=weekday, responsible_role=responsible_role,
                          start_date=start_date, **fields)
    plan.full_clean()
    plan.save()
    for position, entry in enumerate(items, start=1):
        text, photo, urgent = (entry, False, False) if isinstance(entry, str) else (*entry, False)[:3]
        InspectionItem.objects.create(org=org, plan=plan, position=position, text=text, requires_photo=photo,
                                      urgent=urgent)
    return plan


def make_run(plan: InspectionPlan, *, due_date: datetime.date = datetime.date(2026, 11, 23),
             period_key: str | None = None, state: str = RunState.PENDING, opens_on: datetime.date | None = None,
             **fields) -> InspectionRun:
    """One run of ``plan`` written directly (no generation, no reminders)."""
    with transaction.atomic():
        run = InspectionRun(org_id=plan.org_id, plan=plan, title=fields.pop("title", plan.name),
                            period_key=period_key or due_date.isoformat(), due_date=due_date,
                            opens_on=opens_on or due_date - datetime.timedelta(days=6), state=state,
                            number=next_number(plan.org_id, "XJ", day=due_date), **fields)
        run.save()
    return run


def all_pass(run, **outcomes):
    """An answer for every line of the run's checklist: 合格, or ``{position: outcome}``."""
    from houqin.repairs.inspections import Answer
    from houqin.repairs.models.inspections import Outcome

    return [Answer(item=i.pk, outcome=outcomes.get(i.position, Outcome.PASS))
            for i in run.plan.items.order_by("position")]


def signature_png(ink: bool = True) -> bytes:
    """A signature as the pad sends it: a white PNG with (or without) a stroke."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (300, 120), "white")
    if ink:
        ImageDraw.Draw(img).line([(20, 60), (120, 30), (200, 90), (280, 40)], fill="black", width=4)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def photo_jpeg(color: str = "orange") -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(buf, "JPEG")
    return buf.getvalue()


# --- Isolation matrix and query budgets ------------------------------------------------------------------------------
def bulk_plans(school, n: int) -> None:
    rows = [InspectionPlan(org=school.org, name=f"批量巡检计划{i:04d}", target="操场", building=school.building,
                           responsible=school.staff, responsible_role="technician", kind=ScheduleKind.WEEKLY,
                           weekday=i % 7, start_date=datetime.date(2025, 9, 1)) for i in range(n)]
    bulk_create_indexed(InspectionPlan, rows)


@register_factory(InspectionPlan, bulk=bulk_plans, list_persona="head_a")
def inspection_plan(school, label):
    return make_plan(school.org, name=label, building=school.building, target="操场大型玩具")


def bulk_runs(school, n: int) -> None:
    plan = make_plan(school.org, name="批量巡检记录的计划", responsible=school.staff)
    now = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC)
    with transaction.atomic():
        rows = []
        for i in range(n):
            due = datetime.date(2024, 1, 1) + datetime.timedelta(days=7 * i)
            rows.append(InspectionRun(
                org=school.org, plan=plan, title=f"批量巡检{i:04d}", period_key=f"bulk-{i:04d}", due_date=due,
                opens_on=due - datetime.timedelta(days=6), number=next_number(school.org, "XJ", day=due),
                state=RunState.DONE if i % 2 else RunState.OVERDUE, done_by=school.staff if i % 2 else None,
                done_at=now if i % 2 else None, outcome=RunOutcome.PASS if i % 2 else "", item_count=3))
        bulk_create_indexed(InspectionRun, rows)


@register_factory(InspectionRun, bulk=bulk_runs, list_persona="head_a")
def inspection_run(school, label):
    plan = make_plan(school.org, name=f"{label}的计划")
    return make_run(plan, title=label)
