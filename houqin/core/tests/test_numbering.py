"""Document numbers (houqin.core.numbering): format, periods, independence, gap-free rollback and concurrency."""

from __future__ import annotations

import datetime
import os
import threading

import pytest
from django.db import connection, transaction

from houqin.core.models import DocumentSequence
from houqin.core.numbering import next_number
from houqin.core.testing import factories as f

DAY = datetime.date(2026, 3, 1)


@pytest.fixture
def school(db):
    return f.make_school(None, "编号测试学校")


def number(org, doc_type="ZC", **kwargs) -> str:
    with transaction.atomic():
        return next_number(org, doc_type, day=kwargs.pop("day", DAY), **kwargs)


def test_yearly_format(school):
    assert number(school) == "ZC-2026-00001"
    assert number(school) == "ZC-2026-00002"
    assert number(school, "CG", width=4) == "CG-2026-0001"


def test_daily_format(school):
    assert number(school, "BX", per_day=True, width=3) == "BX-20260301-001"
    assert number(school, "BX", per_day=True, width=3) == "BX-20260301-002"
    assert number(school, "BX", per_day=True, width=3, day=DAY + datetime.timedelta(days=1)) == "BX-20260302-001"


def test_today_is_the_default_day(school):
    from django.utils import timezone

    assert number(school, day=None) == f"ZC-{timezone.localdate().year}-00001"


def test_sequences_are_independent_per_school_type_and_year(school):
    other = f.make_school(None, "另一所学校")
    assert number(school) == "ZC-2026-00001"
    assert number(school) == "ZC-2026-00002"
    assert number(other) == "ZC-2026-00001"
    assert number(school, "BX") == "BX-2026-00001"
    assert number(school, day=datetime.date(2027, 1, 5)) == "ZC-2027-00001"
    assert number(school.pk) == "ZC-2026-00003"  # an organisation id works as well as the row
    assert DocumentSequence.objects.count() == 4


def test_a_rolled_back_document_gives_its_number_back(school):
    assert number(school) == "ZC-2026-00001"
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        assert next_number(school, "ZC", day=DAY) == "ZC-2026-00002"
        raise ZeroDivisionError  # the document's save fails after the number was taken
    assert number(school) == "ZC-2026-00002"
    # Also when the very first number of a period is rolled back (the counter row itself goes away).
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        assert next_number(school, "XX", day=DAY) == "XX-2026-00001"
        raise ZeroDivisionError
    assert number(school, "XX") == "XX-2026-00001"


@pytest.mark.django_db(transaction=True)
def test_must_be_called_inside_a_transaction():
    school = f.make_school(None, "事务外学校")
    with pytest.raises(RuntimeError, match="transaction.atomic"):
        next_number(school, "ZC", day=DAY)
    assert not DocumentSequence.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_test_database_gives_each_thread_its_own_connection():
    """The concurrency test below proves something only if threads really open separate connections: on SQLite
    the test database must be a file (settings set TEST NAME), not a shared in-memory database."""
    if connection.vendor == "sqlite":
        name = str(connection.settings_dict["NAME"])
        assert name not in ("", ":memory:") and "mode=memory" not in name
        assert os.path.isfile(name)
    connection.ensure_connection()
    main = connection.connection
    seen = []

    def worker():
        try:
            connection.ensure_connection()
            seen.append(connection.connection)
        finally:
            connection.close()

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen and seen[0] is not main


THREADS = 8
PER_THREAD = 25


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_concurrent_numbers_are_distinct_and_contiguous():
    school = f.make_school(None, "并发编号学校")
    numbers: list[str] = []
    errors: list[str] = []
    connections_seen: list[int] = []
    lock = threading.Lock()
    ready = threading.Barrier(THREADS)

    def worker():
        try:
            connection.ensure_connection()
            with lock:
                connections_seen.append(id(connection.connection))
            ready.wait(timeout=30)  # every thread holds its own open connection before the race starts
            for _ in range(PER_THREAD):
                with transaction.atomic():
                    value = next_number(school.pk, "ZC", day=DAY)
                with lock:
                    numbers.append(value)
        except Exception as exc:  # noqa: BLE001 — collected and reported by the assertion below
            with lock:
                errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors[:5]
    assert len(set(connections_seen)) == THREADS, "threads shared a database connection"
    total = THREADS * PER_THREAD
    assert len(numbers) == len(set(numbers)) == total
    assert sorted(int(n.rsplit("-", 1)[1]) for n in numbers) == list(range(1, total + 1))
    assert DocumentSequence.objects.get(org=school, doc_type="ZC").last_value == total
