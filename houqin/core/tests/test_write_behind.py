"""Writing behind (houqin.core.importing.writebehind): a second thread writes on the importing thread's connection,
inside its transaction; the importing thread's queries wait for the write; the writer's failures reach the importing
thread; nothing is left running when the block ends. And the bulk insert's keys, read as one range or row by row."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import transaction

from houqin.core import context
from houqin.core.importing.bulk import insert_instances, prepare_insert
from houqin.core.importing.writebehind import WriteBehind
from houqin.core.models import ChangeLogEntry, Department

pytestmark = pytest.mark.django_db


@pytest.fixture
def school(world):
    return world.a.org


@pytest.fixture
def admin(world):
    return world.head_a


def test_the_writer_writes_in_the_same_transaction_and_queries_wait_for_it(school):
    threads = []

    def write():
        threads.append(threading.current_thread())
        time.sleep(0.2)  # the importing thread asks before this write is done
        Department.objects.create(org=school, name="写后部门")

    with pytest.raises(RuntimeError), transaction.atomic():
        with WriteBehind() as writer:
            writer.submit(write)
            assert writer.busy()
            # A query of the importing thread waits for the write, so it sees the new row.
            assert Department.objects.filter(org=school, name="写后部门").count() == 1
            assert not writer.busy()
        raise RuntimeError("roll back")
    assert threads and threads[0] is not threading.current_thread()
    # It was written in the importing thread's transaction: rolled back with it.
    assert not Department.objects.filter(org=school, name="写后部门").exists()


def test_the_writer_records_the_importing_user(school, admin):
    with context.acting_as(admin, org_id=school.pk), transaction.atomic(), WriteBehind() as writer:
        writer.submit(lambda: Department.objects.create(org=school, name="记录人"))
    department = Department.objects.get(org=school, name="记录人")
    entry = ChangeLogEntry.objects.get(action="create", object_id=str(department.pk), content_type__model="department")
    assert entry.user == admin and entry.org_id == school.pk


def test_a_failed_write_is_raised_in_the_importing_thread(school):
    def fail():
        raise ValueError("写入失败")

    with pytest.raises(ValueError, match="写入失败"), WriteBehind() as writer:
        writer.submit(fail)
    # Raised at the next hand-over too, before the next write starts.
    ran = []
    with WriteBehind() as writer:
        writer.submit(fail)
        with pytest.raises(ValueError):
            writer.submit(lambda: ran.append(1))
    assert ran == []


def test_the_block_never_ends_with_the_writer_running(school):
    finished = []

    def slow():
        time.sleep(0.3)
        finished.append(True)

    with pytest.raises(KeyError), WriteBehind() as writer:
        writer.submit(slow)
        raise KeyError("the importing thread fails while the writer runs")
    assert finished == [True]  # joined before the block (and the caller's transaction) ended
    assert not any(t.name == "houqin-import-writer" for t in threading.enumerate())


def departments(school, names):
    return [Department(org=school, name=name, code=name) for name in names]


def test_keys_read_as_one_range_match_the_rows(school):
    rows = departments(school, [f"区间{n}" for n in range(5)])
    write = prepare_insert(rows, key_field="code")  # values worked out now; written later
    assert all(d.pk is None for d in rows)
    write()
    assert [d.pk for d in rows] == list(Department.objects.filter(code__startswith="区间").order_by("code")
                                         .values_list("pk", flat=True))


def test_keys_are_read_row_by_row_when_other_rows_are_in_the_range(school):
    floor = Department.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    Department.objects.bulk_create(departments(school, ["别人甲", "别人乙"]))  # above the floor, not ours
    rows = departments(school, ["自己甲", "自己乙", "自己丙"])
    insert_instances(rows, key_field="code", above=floor)
    stored = dict(Department.objects.filter(org=school).values_list("code", "pk"))
    assert [d.pk for d in rows] == [stored["自己甲"], stored["自己乙"], stored["自己丙"]]
