"""资产分析的统计数据 (houqin.assets.analytics_summary): the kept per-school figures are the same numbers as the live
aggregates — after a card is added, changed and written off — a committed change makes them out of date, a new day
recomputes them, out-of-date figures say since when and 刷新 recomputes them, and a county with current figures reads
no card."""

from __future__ import annotations

import dataclasses
import datetime
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from houqin.assets import analytics, analytics_summary, services
from houqin.assets.analytics import build_report
from houqin.assets.choices import AssetEventCode, AssetStatus
from houqin.assets.models import AnalyticsSummary
from houqin.assets.tests.factories import bulk_assets, make_asset
from houqin.assets.tests.test_analytics import Register, county_scope, school_scope

pytestmark = pytest.mark.django_db
PAGE = "/assets/analytics/"


@pytest.fixture(autouse=True)
def _clean():
    """No repair source (the repair figures are live, not kept) and no change marks left by another test."""
    previous = analytics.repair_source()
    analytics.register_repair_source(None)
    analytics_summary._pending.orgs = set()
    yield
    analytics_summary._pending.orgs = set()
    analytics.register_repair_source(previous)


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run a block as if its transaction committed: the change marks are flushed (generation raised)."""
    def run(func, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            result = func(*args, **kwargs)
        return result
    return run


@pytest.fixture
def register(world, committed):
    return committed(Register, world)


def figures(report) -> dict:
    """Every number of a report, comparable (the repairs are live and not kept)."""
    rows = lambda items: [dataclasses.asdict(i) for i in items]  # noqa: E731
    return {
        "totals": dataclasses.asdict(report.totals), "bands": rows(report.bands), "categories": rows(report.categories),
        "departments": rows(report.departments), "schools": rows(report.schools), "statuses": rows(report.statuses),
        "funding": rows(report.funding), "years": rows(report.years), "funding_by_year": report.funding_by_year,
        "long_idle": (report.long_idle.cards, report.long_idle.value, rows(report.long_idle.rows)),
    }


def same_as_live(scope, idle_months=analytics.DEFAULT_IDLE_MONTHS):
    kept = build_report(scope, idle_months=idle_months)
    assert figures(kept) == figures(build_report(scope, idle_months=idle_months, live=True))
    return kept


def card_reads(scope) -> int:
    """Queries on the cards table while building the report (0: every figure came from the kept summaries)."""
    with CaptureQueriesContext(connection) as ctx:
        build_report(scope)
    return sum('FROM "assets_asset"' in q["sql"] for q in ctx.captured_queries)


def test_kept_figures_are_the_live_ones_after_a_card_is_added_changed_and_written_off(world, register, committed):
    a, county = school_scope(world.a.org), county_scope(world)
    before = same_as_live(a)
    assert (before.totals.cards, before.totals.value) == (5, Decimal("22500.00"))
    same_as_live(county)
    assert card_reads(a) == 0 and card_reads(county) == 0  # kept: nothing recomputed

    card = committed(make_asset, world.a.org, name="新购电脑", unit_price="6000.00",
                     acquired_on=timezone.localdate(), department=world.a.department, funding_source="专项经费")
    added = same_as_live(a)
    assert (added.totals.cards, added.totals.value) == (6, Decimal("28500.00"))
    assert same_as_live(county).totals.cards == 7

    def make_idle():
        card.refresh_from_db()
        card.status = AssetStatus.IDLE
        card.save()
        services.record_event(card, AssetEventCode.IDLE, status_before=AssetStatus.IN_USE,
                              status_after=AssetStatus.IDLE)
    committed(make_idle)
    idle = same_as_live(a)
    assert idle.totals.idle_value == before.totals.idle_value + Decimal("6000.00")
    short = same_as_live(a, idle_months=1).long_idle  # idle since today: not yet idle for a month
    assert short.cards == 2 and card.pk not in [r.id for r in short.rows]

    def write_off():
        card.refresh_from_db()
        card.status, card.disposed_on = AssetStatus.DISPOSED, timezone.localdate()
        card.save()
    committed(write_off)
    gone = same_as_live(a)
    assert (gone.totals.cards, gone.totals.value, gone.totals.idle_value) == (5, Decimal("22500.00"),
                                                                             before.totals.idle_value)
    assert gone.totals.off_book_value == before.totals.off_book_value + Decimal("6000.00")
    assert same_as_live(county).totals.off_book_cards == 2
    assert card_reads(county) == 0


def test_long_idle_for_every_threshold_matches_the_live_figures(world, register):
    for months in (1, 2, 3, 6, 8, 9, 120):
        same_as_live(school_scope(world.a.org), idle_months=months)
    assert build_report(school_scope(world.a.org), idle_months=6).long_idle.cards == 1  # the projector, 8 months


def test_a_committed_change_makes_the_kept_figures_out_of_date(world, register, committed):
    build_report(school_scope(world.a.org))
    row = AnalyticsSummary.objects.get(org=world.a.org)
    assert analytics_summary._is_current(row, timezone.localdate())
    committed(make_asset, world.a.org, unit_price="10.00", acquired_on=timezone.localdate())
    row.refresh_from_db()
    assert row.generation > row.computed_generation and not analytics_summary._is_current(row, timezone.localdate())
    untouched = AnalyticsSummary.objects.filter(org=world.b.org).first()
    assert untouched is None or untouched.generation == untouched.computed_generation  # school B not marked
    assert build_report(school_scope(world.a.org)).totals.cards == 6
    row.refresh_from_db()
    assert analytics_summary._is_current(row, timezone.localdate())


def test_a_change_not_yet_committed_shows_in_the_same_transaction(world, register):
    assert build_report(school_scope(world.a.org)).totals.cards == 5
    make_asset(world.a.org, unit_price="10.00", acquired_on=timezone.localdate())  # no commit (the test's transaction)
    assert build_report(school_scope(world.a.org)).totals.cards == 6


def test_a_new_day_recomputes(world, register):
    build_report(school_scope(world.a.org))
    yesterday = timezone.localdate() - datetime.timedelta(days=1)
    AnalyticsSummary.objects.filter(org=world.a.org).update(as_of=yesterday, data={"v": analytics.SUMMARY_VERSION,
                                                                                    **analytics._empty_summary()})
    assert card_reads(school_scope(world.a.org)) > 0
    assert AnalyticsSummary.objects.get(org=world.a.org).as_of == timezone.localdate()
    same_as_live(school_scope(world.a.org))


def test_out_of_date_figures_say_since_when_and_refresh_recomputes(world, register, committed, client_for,
                                                                    monkeypatch):
    client = client_for(world.bureau_admin)
    page = client.get(PAGE, {"org": world.bureau.pk})
    assert page.status_code == 200 and "统计时间" in page.content.decode()
    assert 'data-testid="analytics-outdated"' not in page.content.decode()
    committed(make_asset, world.a.org, name="刚登记的电脑", unit_price="7777.00", acquired_on=timezone.localdate())
    monkeypatch.setattr(analytics_summary, "SYNC_SECONDS", 0)  # no time to recompute in the view
    page = client.get(PAGE, {"org": world.bureau.pk})
    text = page.content.decode()
    assert 'data-testid="analytics-outdated"' in text and (world.a.org.short_name or world.a.org.name) in text
    assert build_report(county_scope(world)).totals.cards == 6  # the old figures, flagged
    answer = client.post(PAGE, {"org": world.bureau.pk, "refresh": "1", "idle_months": "6"})
    assert answer.status_code == 302 and f"org={world.bureau.pk}" in answer["Location"]
    page = client.get(answer["Location"])
    assert 'data-testid="analytics-outdated"' not in page.content.decode()
    assert build_report(county_scope(world)).totals.cards == 7


def test_refresh_needs_the_permission(world, register, client_for):
    assert client_for(world.teacher_a).post(PAGE, {"refresh": "1"}).status_code == 403


def test_rebuild_all_and_the_command(world, register):
    assert analytics_summary.rebuild_all() >= 2
    today = timezone.localdate()
    assert all(analytics_summary._is_current(r, today) for r in AnalyticsSummary.objects.all())
    assert analytics_summary.rebuild_all(only_outdated=True) == 0
    call_command("rebuild_asset_analytics")
    same_as_live(county_scope(world))


def test_a_county_with_current_figures_reads_no_card_whatever_the_register(world, committed):
    committed(bulk_assets, world.a, 10)
    committed(analytics_summary.mark_changed, [world.a.org.pk])  # bulk rows send no signals
    county = county_scope(world)
    build_report(county)
    small = CaptureQueriesContext(connection)
    with small:
        build_report(county)
    committed(bulk_assets, world.a, 190)
    analytics_summary.rebuild_all()
    big = CaptureQueriesContext(connection)
    with big:
        build_report(county)
    assert len(small.captured_queries) == len(big.captured_queries) <= 3
    assert not any('FROM "assets_asset"' in q["sql"] for q in big.captured_queries)
