"""The inspections demo step: a term of history by the rules of the app, idempotent."""

from __future__ import annotations

import datetime

import pytest
from django.db import transaction

from houqin.core.context import acting_as
from houqin.core.demo import PRIMARY, DemoContext, registered_steps
from houqin.repairs.models.inspections import InspectionPlan, InspectionResult, InspectionRun, RunState

pytestmark = pytest.mark.django_db


def run_steps(today):
    """The core steps (organisations, accounts, places, terms) and this one — not the whole demo (it is slow)."""
    ctx = DemoContext(today=today, log=lambda message: None)
    with transaction.atomic(), acting_as(None, request_id="demo"):
        for step in registered_steps():
            if step.order < 100 or step.label == "巡检计划":
                step.func(ctx)
    return ctx


def counts():
    return (InspectionPlan.objects.count(), InspectionRun.objects.count(), InspectionResult.objects.count())


def test_demo_inspections(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    today = datetime.date(2026, 11, 20)
    ctx = run_steps(today)
    school = ctx.org(PRIMARY)
    plans = {p.name: p for p in InspectionPlan.objects.filter(org=school)}
    assert len(plans) == 5 and plans["燃气与厨房电器周检"].responsible.username == "shitang"
    runs = InspectionRun.objects.filter(org=school)
    done = runs.filter(state=RunState.DONE)
    assert done.count() > 30 and min(r.due_date for r in done) >= datetime.date(2026, 9, 1)
    assert all(r.done_by_id == r.plan.responsible_id and r.signature_id for r in done.select_related("plan"))
    failed = list(done.filter(failed_count__gt=0))
    assert len(failed) == 3
    for run in failed:
        result = run.results.get(outcome="fail")
        assert result.photo_id and result.work_order_number.startswith("BX-")
    assert runs.filter(state=RunState.OVERDUE, plan__name="风扇与门窗月检").count() == 1
    assert runs.filter(state=RunState.PENDING, due_date__gte=today).exists()  # the coming days, generated
    assert not runs.filter(due_date__gte=today).exclude(state=RunState.PENDING).exists()
    before = counts()
    run_steps(today)
    assert counts() == before
    run_steps(today + datetime.timedelta(days=7))  # a week later: the week is added, nothing duplicated
    assert InspectionRun.objects.filter(state=RunState.DONE, failed_count__gt=0).count() == 3
    keys = list(InspectionRun.objects.values_list("plan_id", "period_key"))
    assert len(keys) == len(set(keys))
