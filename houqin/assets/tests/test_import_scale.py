"""How the asset import scales: database queries grow with batches, not rows; and a benchmark to run by hand.

``write_register(path, n, school)`` writes a deterministic n-row 资产登记表 (.xlsx) for a world school. The benchmark
(skipped unless ``HOUQIN_IMPORT_BENCH_ROWS`` is set) times a full import of such a file against a bare parse with
python-calamine plus one ``executemany`` INSERT of the same rows, and reports the peak memory:

    HOUQIN_IMPORT_BENCH_ROWS=20000 HOUQIN_DATA_DIR=$(mktemp -d) .venv/bin/pytest -q -s -p no:cacheprovider \
        --nomigrations houqin/assets/tests/test_import_scale.py -k benchmark
"""

from __future__ import annotations

import datetime
import os
import resource
import time
import tracemalloc
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from houqin.assets.importers import AssetImporter
from houqin.assets.models import Asset, AssetEvent
from houqin.core.importing import commit, load_data, validate
from houqin.core.models import ChangeLogEntry, Room

pytestmark = pytest.mark.django_db

HEADER = ["序号", "资产编号", "资产名称", "分类代码", "规格型号", "品牌", "数量", "单位", "单价", "金额", "取得日期",
          "取得方式", "使用部门", "存放地点", "使用人", "经费来源", "备注"]
ITEMS = (  # name, category code, model, brand, unit, unit price
    ("台式计算机", "2010100", "启天M590", "联想", "台", Decimal("4980.00")),
    ("笔记本电脑", "2010100", "ThinkPad E14", "联想", "台", Decimal("5600.00")),
    ("投影仪", "2020200", "CB-X05", "爱普生", "台", Decimal("3650.50")),
    ("复印机", "2020100", "MP 2014", "理光", "台", Decimal("8200.00")),
    ("学生课桌椅", "6010000.01", "升降式", "", "套", Decimal("268.00")),
    ("交换机", "2010200", "S1730", "华为", "台", Decimal("1299.00")),
)
METHODS = ("购置", "调拨", "捐赠")


def register_rows(n: int, school, *, unknown: bool = False) -> list[list]:
    """n data rows, the same for the same n (names, prices and dates cycle; 数量 × 单价 = 金额). With ``unknown``,
    every seventh row names a department and places the school does not have."""
    rooms = [r.name for r in school.rooms] + [f"{school.building.name}{r.number}" for r in school.rooms]
    new_places = [f"{school.building.name}30{k}" for k in range(1, 4)] + ["科技楼205"]
    rows = []
    for i in range(n):
        name, code, model, brand, unit, price = ITEMS[i % len(ITEMS)]
        quantity = 40 if unit == "套" else 1 + (i % 3 == 0)
        acquired = datetime.date(2015 + i % 10, 1 + i % 12, 1 + i % 28)
        strange = unknown and i % 7 == 0
        rows.append([i + 1, "", f"{name}", code, model, brand, quantity, unit, float(price),
                     float(price * quantity), acquired, METHODS[i % len(METHODS)],
                     "信息中心" if strange else school.department.name,
                     new_places[i % len(new_places)] if strange else rooms[i % len(rooms)],
                     school.staff.full_name if i % 2 else "", "财政拨款", f"第{i + 1}行"])
    return rows


def write_register(path, n: int, school, *, unknown: bool = False) -> None:
    """An n-row register with a title row above the header, as schools keep it (openpyxl, write-only)."""
    import openpyxl

    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("资产登记表")
    sheet.append([f"{school.org.name}固定资产登记表"])
    sheet.append(HEADER)
    for row in register_rows(n, school, unknown=unknown):
        sheet.append(row)
    workbook.save(path)


def import_file(path, world, options=None):
    data = load_data(path, ".xlsx", AssetImporter.fields)
    return commit(AssetImporter, data, world.head_a, world.a.org, options=options)


def import_as_the_job_does(path, world):
    """What the background job does (houqin.core.importing.tasks.run_import): read the file, check every row
    outside the transaction, then check again and write in one transaction."""
    data = load_data(path, ".xlsx", AssetImporter.fields)
    assert validate(AssetImporter, data, world.head_a, world.a.org).ok
    return commit(AssetImporter, data, world.head_a, world.a.org)


def queries_for(n: int, world, tmp_path, **kwargs) -> int:
    path = tmp_path / f"register-{n}.xlsx"
    write_register(path, n, world.a, **kwargs)
    with CaptureQueriesContext(connection) as queries:
        result = import_file(path, world, {"create_missing": True})
    assert result.committed and result.created == n, result.errors[:3]
    return len(queries)


def test_queries_grow_with_batches_not_rows(world, tmp_path):
    queries_for(20, world, tmp_path)  # the year's number counter and other rows made once
    small = queries_for(200, world, tmp_path)  # one batch
    large = queries_for(2000, world, tmp_path)  # four batches of 500, each written while the next is checked
    # Ten times the rows: three more batches, a few queries each (and on PostgreSQL the foreign keys checked as the
    # batches are written, then deferred again: two; and for each copy of 500 rows or more — a batch's cards, its
    # events — the rows they reference checked in one statement, then the per-row checks turned on again:
    # houqin.core.importing.bulk; the small file's batch has fewer rows).
    bulk_checks = 4 * 4 if connection.vendor == "postgresql" else 0
    assert small <= 30 and large - small <= 3 * 4 + 2 + bulk_checks, (small, large)
    assert queries_for(8000, world, tmp_path) == large  # still four batches (of 2,000)
    assert Asset.objects.filter(org=world.a.org).count() == 10_220
    assert AssetEvent.objects.filter(org=world.a.org, note="导入登记").count() == 10_220
    # One change-log entry per batch, naming its cards.
    entries = ChangeLogEntry.objects.filter(org=world.a.org, action="create", content_type__model="asset")
    assert entries.count() == 1 + 1 + 4 + 4 and sum(len(e.after["number"]) for e in entries) == 10_220


def test_the_asset_import_leaves_no_cyclic_garbage(world, tmp_path):
    """The asset importer pauses the cycle collector while it runs (``pause_collector``): that is safe only while
    an import makes no reference cycles, or a large register's would pile up until it ends. Collected by hand
    after an import of 600 rows with the collector off, there is next to nothing (a cycle per row would be 600)."""
    import gc

    assert AssetImporter.pause_collector
    path = tmp_path / "register-600.xlsx"
    write_register(path, 600, world.a, unknown=True)
    data = load_data(path, ".xlsx", AssetImporter.fields)
    gc.collect()
    gc.disable()
    try:
        result = commit(AssetImporter, data, world.head_a, world.a.org, options={"create_missing": True})
        found = gc.collect()
    finally:
        gc.enable()
    assert result.committed and result.created == 600, result.errors[:3]
    assert gc.isenabled() and found < 60, found


def test_each_batch_costs_a_few_queries(world, tmp_path, monkeypatch):
    monkeypatch.setattr(AssetImporter, "batch_size", 100)
    queries_for(20, world, tmp_path)
    two = queries_for(200, world, tmp_path)
    twenty = queries_for(2000, world, tmp_path)
    # Per batch: the cards (one executemany), their ids read back, their events, their change-log entries.
    assert twenty - two <= 18 * 4, (two, twenty)


def test_creating_places_costs_queries_per_place_not_per_row(world, tmp_path):
    known = queries_for(210, world, tmp_path)
    # 300 of 2,100 rows name a new department and four new places (one in a new building "待整理").
    creating = queries_for(2100, world, tmp_path, unknown=True)
    # Each new row and its log entry, the holding campus; and three more batches (of 525 rows) than for 210 rows.
    # On PostgreSQL also, for each copy of 500 rows or more (each batch's cards and events), the rows referenced
    # checked in one statement and the per-row checks turned on again.
    bulk_checks = 4 * 4 if connection.vendor == "postgresql" else 0
    assert creating - known <= 2 * 7 + 6 + 3 * 4 + 2 + bulk_checks, (known, creating)
    assert Room.objects.filter(org=world.a.org, building__name="待整理", name="科技楼205").count() == 1
    assert Asset.objects.filter(org=world.a.org, department__name="信息中心").count() == 300


# --- Benchmark (by hand) -------------------------------------------------------------------------------------------
def bare_parse_and_insert(path) -> int:
    """The baseline: read the sheet with python-calamine and insert its rows with one executemany."""
    from python_calamine import CalamineWorkbook

    workbook = CalamineWorkbook.from_path(str(path))
    rows = workbook.get_sheet_by_index(0).to_python()[2:]
    workbook.close()
    columns = ("org_id", "number", "name", "brand", "model", "serial_no", "unit", "quantity", "unit_price",
               "original_value", "acquired_on", "acquisition_method", "funding_source", "supplier", "invoice_no",
               "voucher_no", "status", "asset_class", "is_batch", "attributes", "note", "search_index", "structure",
               "created_at", "updated_at", "category_id")
    now = datetime.datetime.now().isoformat()
    params = [(1, f"B-{r[0]}", r[2], r[5], r[4], "", r[7], int(r[6]), str(r[8]), str(r[9]), str(r[10])[:10],
               "purchase", r[15], "", "", "", "in_use", "fixed", False, "{}", r[16], "", "", now, now, 1)
              for r in rows]
    sql = (f"INSERT INTO {Asset._meta.db_table} ({', '.join(columns)}) "
           f"VALUES ({', '.join(['%s'] * len(columns))})")
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)
    return len(params)


def _timed(function, *args):
    """(wall seconds, CPU seconds of this process, result) of one call, rolled back afterwards."""
    with connection.cursor() as cursor:
        cursor.execute("SAVEPOINT bench")
    wall, cpu = time.perf_counter(), time.process_time()
    result = function(*args)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    with connection.cursor() as cursor:
        cursor.execute("ROLLBACK TO SAVEPOINT bench")
    return wall, cpu, result


@pytest.mark.skipif(not os.environ.get("HOUQIN_IMPORT_BENCH_ROWS"), reason="benchmark: set HOUQIN_IMPORT_BENCH_ROWS")
def test_benchmark(world, tmp_path, settings):
    """Prints the time of an import against the bare baseline and the peak memory. Wall and CPU time (the CPU
    time of this process is steadier on a busy machine) are the best of ``HOUQIN_IMPORT_BENCH_REPEAT`` runs
    (default 1). ``HOUQIN_IMPORT_BENCH_P1=1`` uses the register and baseline (b) of ``houqin bench`` instead
    (houqin/bench/importing.py). ``HOUQIN_IMPORT_BENCH_PROFILE=<file>`` writes a cProfile of the import;
    ``HOUQIN_IMPORT_BENCH_TRACE=1`` measures the peak of Python allocations with tracemalloc (slower)."""
    n = int(os.environ["HOUQIN_IMPORT_BENCH_ROWS"])
    repeat = int(os.environ.get("HOUQIN_IMPORT_BENCH_REPEAT", "1"))
    settings.HOUQIN_IMPORT_MAX_ROWS = max(n, 100_000)
    path = tmp_path / "register.xlsx"
    baseline = bare_parse_and_insert
    if os.environ.get("HOUQIN_IMPORT_BENCH_P1"):  # the register and baseline (b) of `houqin bench` (P1)
        from houqin.bench.importing import bare_import
        from houqin.bench.importing import write_register as bench_register

        bench_register(path, n, rooms=[r.name for r in world.a.rooms], departments=[world.a.department.name])

        def baseline(path):
            return bare_import(str(path))["rows"]
    else:
        write_register(path, n, world.a)
    profile = os.environ.get("HOUQIN_IMPORT_BENCH_PROFILE")
    trace = bool(os.environ.get("HOUQIN_IMPORT_BENCH_TRACE"))

    bare, imported, job = [], [], []
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peak = None
    for _ in range(repeat):
        wall, cpu, count = _timed(baseline, path)
        assert count == n
        bare.append((wall, cpu))
        if trace:
            tracemalloc.start()
        if profile:
            import cProfile

            profiler = cProfile.Profile()
            wall, cpu, result = _timed(profiler.runcall, import_file, path, world)
            profiler.dump_stats(profile)
        else:
            wall, cpu, result = _timed(import_file, path, world)
        if trace:
            peak = max(peak or 0, tracemalloc.get_traced_memory()[1] / 2**20)
            tracemalloc.stop()
        assert result.committed and result.created == n, result.errors[:3]
        imported.append((wall, cpu))
        if not profile and not trace:
            wall, cpu, result = _timed(import_as_the_job_does, path, world)
            assert result.committed
            job.append((wall, cpu))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    def best(times):
        return min(w for w, _ in times), min(c for _, c in times)

    (bare_wall, bare_cpu), (wall, cpu) = best(bare), best(imported)
    print(f"\n{n} rows: bare calamine + executemany {bare_wall:.2f} s wall / {bare_cpu:.2f} s CPU; "
          f"commit() {wall:.2f} s wall / {cpu:.2f} s CPU = {wall / bare_wall:.1f} × (wall), "
          f"{cpu / bare_cpu:.1f} × (CPU)")
    if job:
        wall, cpu = best(job)
        print(f"as the job does (check, then check and write): {wall:.2f} s wall / {cpu:.2f} s CPU = "
              f"{wall / bare_wall:.1f} × (wall), {cpu / bare_cpu:.1f} × (CPU)")
    print(f"peak RSS of the process {rss:.0f} MB (before the import {rss_before:.0f} MB)"
          + (f", peak traced Python memory {peak:.0f} MB" if peak is not None else ""))
