"""Timing of the dashboard on 50,000 bulk-created orders (SQLite). Not part of the suite: run with HOUQIN_BENCH=1.

    HOUQIN_BENCH=1 HOUQIN_DATA_DIR=$(mktemp -d) .venv/bin/pytest -q -s --nomigrations \
        houqin/repairs/tests/test_dashboard_bench.py
"""

from __future__ import annotations

import datetime
import os
import statistics
import time
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from houqin.core.testing.factories import bulk_create_indexed, make_user
from houqin.repairs import reports
from houqin.repairs.defaults import ensure_defaults
from houqin.repairs.models import RepairCategory, State, WorkOrder
from houqin.repairs.summary import rebuild_summary

pytestmark = [pytest.mark.django_db,
              pytest.mark.skipif(not os.environ.get("HOUQIN_BENCH"), reason="benchmark: set HOUQIN_BENCH=1")]

N = int(os.environ.get("HOUQIN_BENCH_ORDERS", "50000"))
STATES = [State.NEW, State.DISPATCHED, State.IN_PROGRESS, State.DONE, State.ACCEPTED, State.VISITED,
          State.VISITED, State.VISITED, State.REJECTED, State.CANCELLED]


def test_dashboard_timings(world, client_for, bureau_admin):
    h = datetime.timedelta(hours=1)
    base = timezone.make_aware(datetime.datetime(2025, 9, 1, 8))
    schools = [world.a, world.b]
    cats, techs = {}, {}
    for s in schools:
        ensure_defaults(s.org)
        cats[s.tag] = list(RepairCategory.objects.filter(org=s.org))
        techs[s.tag] = [make_user(full_name=f"{s.tag}师傅{i}", org=s.org, roles=("technician",)) for i in range(8)]
    rows = []
    for i in range(N):
        s = schools[i % 2]
        reported = base + datetime.timedelta(minutes=(i * 523) % (365 * 24 * 60))
        rows.append(WorkOrder(
            org=s.org, number=f"BX-B-{i}", room=s.rooms[i % 2], building=s.building if i % 7 else None,
            category=cats[s.tag][i % len(cats[s.tag])], description="批量", state=STATES[i % len(STATES)],
            assignee=techs[s.tag][i % 8], reported_at=reported, accepted_at=reported + h, accept_due=reported + 2 * h,
            completed_at=reported + (i % 30) * h, finish_due=reported + 8 * h, finish_late=i % 11 == 0,
            rating=(i % 5) + 1 if i % 3 else None, total_cost=Decimal("35.50"), labour_hours=Decimal("1.5")))
    with transaction.atomic():
        bulk_create_indexed(WorkOrder, rows)
    rebuild_summary()  # bulk_create skips the saves that keep the summary
    client = client_for(bureau_admin)
    params = {"org": world.bureau.pk, "start": "2026-02-15", "end": "2026-07-10"}
    for label, url, extra in (("page, county, one term", "/repairs/dashboard/", {}),
                              ("page, one school, one term", "/repairs/dashboard/", {"org": world.a.org.pk}),
                              ("API, county, one term", "/api/repairs/dashboard/", {}),
                              ("page, county, a whole year", "/repairs/dashboard/",
                               {"start": "2025-09-01", "end": "2026-08-31"})):
        times = []
        for _ in range(10):
            started = time.perf_counter()
            response = client.get(url, {**params, **extra})
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
        times.sort()
        print(f"{label}: median {statistics.median(times):.0f} ms, p95 {times[int(len(times) * 0.95) - 1]:.0f} ms")
    started = time.perf_counter()
    s = reports.summary([world.a.org.pk, world.b.org.pk], datetime.date(2026, 2, 15), datetime.date(2026, 7, 10))
    print(f"summary(): {(time.perf_counter() - started) * 1000:.0f} ms, {s['received']} orders")
    scope = reports.scopes_for(bureau_admin)[0]
    period = reports.Period(datetime.date(2026, 2, 15), datetime.date(2026, 7, 10))
    now = timezone.now()
    not_late, _ = reports.late_now(scope.org_ids, period, now)
    for label, call in (("summary()", lambda: reports.summary(scope.org_ids, period.start, period.end, now=now)),
                        ("fine GROUP BY", lambda: reports.fine_rows(scope.org_ids, period.start, period.end)),
                        ("open counts + orders not late yet", lambda: reports.late_now(scope.org_ids, period, now)),
                        ("months", lambda: reports.monthly(scope.org_ids, period, not_late)),
                        ("build_dashboard", lambda: reports.build_dashboard(scope, period, now=now))):
        started = time.perf_counter()
        call()
        print(f"  {label}: {(time.perf_counter() - started) * 1000:.0f} ms")
