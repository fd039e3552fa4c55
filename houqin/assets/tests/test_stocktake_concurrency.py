"""Several counters at once, on real separate connections (SQLite file database and PostgreSQL): the same card
scanned by two phones at the same moment is counted once; starting twice freezes one list; counts racing the end of
counting leave a consistent result."""

from __future__ import annotations

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from houqin.assets import stocktake as services
from houqin.assets.models import LineResult, Stocktake, StocktakeAdjustment, StocktakeLine, StocktakeStatus
from houqin.assets.tests.factories import make_asset
from houqin.assets.tests.factories_stocktake import make_stocktake
from houqin.core.testing.factories import make_user
from houqin.core.testing.world import build_world

pytestmark = [pytest.mark.concurrency, pytest.mark.django_db(transaction=True)]


def race(worker, n: int) -> list[str]:
    """Run ``worker(i)`` in ``n`` threads that start together; return the errors."""
    errors: list[str] = []
    lock = threading.Lock()
    ready = threading.Barrier(n)

    def run(i):
        try:
            connection.ensure_connection()
            ready.wait(timeout=30)
            worker(i)
        except Exception as exc:  # noqa: BLE001 — reported by the caller's assertion
            with lock:
                errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return errors


def setting(cards: int = 1):
    world = build_world()
    a = world.a
    counters = [make_user(f"counter{i}", full_name=f"盘点员{i}", org=a.org, roles=("teacher",)) for i in range(6)]
    made = [make_asset(a.org, name=f"并发盘点资产{i}", room=a.rooms[0]) for i in range(cards)]
    draft = make_stocktake(a.org, rooms=a.rooms, counters=counters)
    return world, counters, made, draft


def test_the_same_card_scanned_by_six_counters_at_once_is_counted_once():
    world, counters, (card,), draft = setting()
    stocktake = services.start(draft, world.head_a)
    outcomes: list[str] = []

    def scan(i):
        room = world.a.rooms[i % 2]  # some in the expected room, some in the other: one count stands either way
        outcome = services.scan(stocktake, counters[i], room, card.number)
        outcomes.append(outcome.kind)

    errors = race(scan, 6)
    assert errors == []
    assert len(outcomes) == 6
    assert sum(kind != "already" for kind in outcomes) == 1
    assert outcomes.count("already") == 5
    line = StocktakeLine.objects.get(stocktake=stocktake, asset=card)
    assert line.counted_at is not None and line.counted_by_id in {c.pk for c in counters}
    assert StocktakeLine.objects.filter(stocktake=stocktake).count() == 1


def test_starting_twice_at_once_freezes_one_list():
    world, counters, cards, draft = setting(cards=3)
    results: list[str] = []

    def start(i):
        try:
            services.start(Stocktake.objects.get(pk=draft.pk), world.head_a)
            results.append("started")
        except ValidationError as exc:
            results.append(exc.messages[0])

    assert race(start, 4) == []
    assert results.count("started") == 1
    assert StocktakeLine.objects.filter(stocktake=draft).count() == 3


def test_counts_racing_the_end_of_counting_stay_consistent():
    world, counters, cards, draft = setting(cards=12)
    stocktake = services.start(draft, world.head_a)
    refused: list[str] = []

    def work(i):
        if i == 0:
            services.finish(Stocktake.objects.get(pk=stocktake.pk), world.head_a)
            return
        for card in cards[(i - 1) * 3:(i - 1) * 3 + 3]:
            try:
                services.scan(Stocktake.objects.get(pk=stocktake.pk), counters[i], world.a.rooms[0], card.number)
            except ValidationError as exc:
                refused.append(exc.messages[0])

    assert race(work, 5) == []
    assert all("不能再盘点" in message for message in refused)
    assert Stocktake.objects.get(pk=stocktake.pk).status == StocktakeStatus.REVIEW
    lines = StocktakeLine.objects.filter(stocktake=stocktake)
    # Every line is either counted (before the end) or 盘亏 — never counted after being declared missing.
    assert not lines.filter(counted_at__isnull=False, result=LineResult.MISSING).exists()
    assert not lines.filter(counted_at__isnull=True).exclude(result=LineResult.MISSING).exists()
    missing = lines.filter(result=LineResult.MISSING).count()
    assert StocktakeAdjustment.objects.filter(stocktake=stocktake).count() == missing
    assert lines.filter(counted_at__isnull=False).count() + missing == 12
