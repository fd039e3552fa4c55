"""Inspections under real concurrency: two workers generating the same runs, two people submitting the same run.
Real transactions and one connection per thread (SQLite file database or PostgreSQL)."""

from __future__ import annotations

import datetime
import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction

from houqin.core.models import DocumentSequence
from houqin.repairs import inspections as services
from houqin.repairs.models.inspections import InspectionResult, InspectionRun, RunState
from houqin.repairs.tests.factories_inspections import all_pass, make_plan, make_run, signature_png

TODAY = datetime.date(2026, 11, 18)


def race(*targets):
    """Run the targets in threads started together; return the exceptions raised (and the results)."""
    barrier = threading.Barrier(len(targets))
    errors, results = [], []

    def run(target):
        try:
            barrier.wait(timeout=10)
            results.append(target())
        except Exception as exc:  # noqa: BLE001 — collected and asserted on
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(t,)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return errors, results


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("workers", [2, 4])
def test_workers_generating_at_once_create_each_run_once(world, workers):
    org = world.a.org
    plans = [make_plan(org, name=f"并发计划{i}", weekday=i % 5, lead_days=20) for i in range(4)]
    errors, _ = race(*[lambda: services.generate_runs(org, today=TODAY)] * workers)
    assert errors == []
    runs = list(InspectionRun.objects.filter(org=org))
    expected = sum(len(services.occurrences_for(p, TODAY, TODAY + datetime.timedelta(days=20))) for p in plans)
    assert len(runs) == expected == 12
    assert len({(r.plan_id, r.period_key) for r in runs}) == len(runs)
    # Numbers are unique and gap-free: a run that lost the race gave its number back.
    numbers = sorted(int(r.number.rsplit("-", 1)[1]) for r in runs)
    assert numbers == list(range(1, len(runs) + 1))
    assert DocumentSequence.objects.get(org=org, doc_type="XJ", period="2026").last_value == len(runs)


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_two_people_submitting_the_same_run_at_once(world):
    run = make_run(make_plan(world.a.org), due_date=TODAY)
    head, admin = world.head_a, world.superuser

    def submit(user):
        return lambda: services.submit_run(run, user=user, answers=all_pass(run), signature=signature_png(),
                                           today=TODAY)

    errors, results = race(submit(head), submit(admin))
    assert len(results) == 1 and len(errors) == 1
    assert isinstance(errors[0], ValidationError) and "不能重复提交" in errors[0].messages[0]
    run.refresh_from_db()
    assert run.state == RunState.DONE and InspectionResult.objects.filter(run=run).count() == 3


@pytest.mark.django_db
def test_losing_the_insert_race_gives_the_number_back(world):
    """What the loser of a race sees (on PostgreSQL; SQLite serialises the writers before it gets that far): the
    unique (plan, period key) refuses its insert, the savepoint rolls back, the number is not used up."""
    plan = make_plan(world.a.org)
    occ = services.occurrences_for(plan, TODAY, TODAY + datetime.timedelta(days=7))[0]
    with transaction.atomic():
        first = services._create_run(plan, occ, TODAY)
        second = services._create_run(plan, occ, TODAY)
    assert first is not None and second is None
    assert InspectionRun.objects.filter(plan=plan).count() == 1
    assert DocumentSequence.objects.get(org=world.a.org, doc_type="XJ").last_value == 1
