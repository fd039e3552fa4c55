"""The benchmark's metrics for one database (see docs/performance.md for the definitions and targets).

Each metric is a dict: ``id``, ``name``, ``db``, ``value``, ``unit``, ``baseline`` (the same-run baseline it is
compared with, or None), ``ratio`` (value ÷ baseline), ``target`` (text) and ``ok``. Metrics whose subject does
not exist yet in this installation (an app not installed) are reported with ``ok`` None and a note.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from django.apps import apps
from django.db import connection
from django.urls import get_resolver

from houqin.bench import county as county_data
from houqin.bench.load import LoadResult, run_wrk
from houqin.bench.scales import Scale
from houqin.bench.server import running_server

LIST_P95_MS = 100.0
DETAIL_P95_MS = 30.0
DASHBOARD_P95_MS = 300.0
LIST_RPS_RATIO = 0.25
DETAIL_RPS_RATIO = 0.30
DEEP_PAGE_RATIO = 2.0
EXPORT_SECONDS = 20.0
EXPORT_PEAK_MB = 200.0
IMPORT_RATIO = 5.0
IMPORT_PEAK_MB = 400.0


def metric(id_, name, value, unit, *, target, ok, baseline=None, ratio=None, note="") -> dict:
    return {"id": id_, "name": name, "db": connection.vendor, "value": _round(value), "unit": unit,
            "baseline": _round(baseline), "ratio": _round(ratio), "target": target, "ok": ok, "note": note}


def _round(value):
    return round(value, 3) if isinstance(value, float) else value


def child_job(*args: str, timeout: int = 1800) -> dict:
    command = [sys.executable, "-m", "houqin.bench.jobs", *args]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)  # noqa: S603
    line = next((ln for ln in completed.stdout.splitlines() if ln.startswith("BENCHJOB ")), None)
    if completed.returncode != 0 or line is None:
        raise RuntimeError(f"benchmark job {args[0]} failed:\n{completed.stdout[-2000:]}\n{completed.stderr[-4000:]}")
    return json.loads(line[len("BENCHJOB "):])


def load_metrics(prefix: str, name: str, result: LoadResult, baseline_rps: float, *, p95_target: float,
                 rps_ratio: float) -> list[dict]:
    bad = result.errors + result.non2xx
    note = f"{result.requests} requests, p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms"
    if result.kept or result.built:
        note += f"; {result.kept} served kept, {result.built} built (p95 {result.built_p95_ms:.0f} ms)"
        if result.waited:
            note += f", {result.waited} waited for a build"
    if bad:
        note += f", {bad} errors/non-2xx {result.statuses}"
    return [
        metric(f"{prefix}.p95", f"{name} p95 server time", result.p95_ms, "ms", target=f"≤ {p95_target:g} ms",
               ok=result.p95_ms <= p95_target and not bad, note=note),
        metric(f"{prefix}.rps", f"{name} throughput", result.rps, "req/s", baseline=baseline_rps,
               ratio=result.rps / baseline_rps if baseline_rps else None, target=f"≥ {rps_ratio:g} × baseline a",
               ok=bool(baseline_rps) and result.rps >= rps_ratio * baseline_rps and not bad),
    ]


def within_one_minute(seconds: float, *, clock=time.time, sleep=time.sleep) -> float:
    """Wait, when needed, so that a load run of ``seconds`` starts and ends within one minute of the clock; returns
    how long it waited.

    Kept pages are keyed by the current minute (houqin.core.pagecache: pages print the time to the minute), so at
    each new minute every page is built once more. Real use spreads that over the minute; a run of a few seconds
    that happens to cross the minute would count it as if every page were rebuilt every few seconds (the quick run
    of 2026-11-23 02:18: the card page built 816 times instead of about 410, 0.25 × instead of 0.35 ×). A run too
    long to fit in a minute starts at once."""
    into = clock() % 60
    if seconds + _MINUTE_MARGIN >= 60 or into + seconds + _MINUTE_MARGIN < 60:
        return 0.0
    wait = 60 - into + 0.1
    sleep(wait)
    return wait


_MINUTE_MARGIN = 1.5  # seconds: wrk's start and end, and the requests still being answered


def deep_cursor(queryset, order: str, depth: int) -> str | None:
    """The list's cursor for the page that starts after row ``depth`` in ``order`` (then pk, same direction)."""
    from houqin.core.pagination import encode_cursor

    field = order.lstrip("-")
    ordering = [order, "-pk" if order.startswith("-") else "pk"]
    row = queryset.order_by(*ordering).values_list(field, "pk")[depth:depth + 1].first()
    if row is None:
        return None
    return encode_cursor(row[0], row[1], "n")


def run_all(scale: Scale, workdir: Path, *, log=print) -> dict:
    from django.core.management import call_command

    from houqin.assets.models import Asset
    from houqin.bench.phase import browser_cookie
    from houqin.core import qr

    started = time.perf_counter()
    log(f"[{connection.vendor}] 建表……")
    call_command("migrate", verbosity=0, interactive=False)
    log(f"[{connection.vendor}] 生成县域数据（{scale.describe()}）")
    county = county_data.build_county(scale.schools, log=log)
    insert_seconds = county_data.insert_cards(county, scale.cards_per_school, log=log)
    results: list[dict] = [
        metric("data.cards", "asset cards inserted", float(scale.cards), "rows", target="", ok=None,
               note=f"{insert_seconds:.1f} s ({'COPY' if connection.vendor == 'postgresql' else 'executemany'})"),
    ]
    first_school = county.schools[0]
    keeper = county.keepers[first_school.pk]
    bureau = county.bureau_user

    # P3: export (child process: its own time and peak memory).
    log(f"[{connection.vendor}] P3 导出 {scale.export_rows:,} 张卡片……")
    exported = child_job("export", "--username", bureau, "--rows", str(min(scale.export_rows, scale.cards)))
    results += [
        metric("P3.seconds", f"export {exported['rows']:,} assets to .xlsx", exported["seconds"], "s",
               target=f"≤ {EXPORT_SECONDS:g} s", ok=exported["seconds"] <= EXPORT_SECONDS),
        metric("P3.peak", "export peak memory", exported["peak_mb"], "MB", target=f"≤ {EXPORT_PEAK_MB:g} MB",
               ok=exported["peak_mb"] <= EXPORT_PEAK_MB),
    ]

    # P1: import (child processes), when the bench importer helpers are present.
    from houqin.bench import importing

    results += _guarded("P1", "import", importing.import_metrics, scale, workdir, keeper, log=log)
    if connection.vendor == "postgresql":
        # The imports added tens of thousands of cards, events and log entries: autovacuum would vacuum and analyze
        # those tables within its next minute, in the middle of the load runs below (a run of 19:29 built its card
        # pages with a p95 of 158 ms against 49 ms in the run before). Done now, as after any bulk load.
        log(f"[{connection.vendor}] VACUUM ANALYZE（导入之后）……")
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")

    # Web metrics under gunicorn + wrk.
    # One session per client, as real users each have their own (sixteen clients sharing one session all record
    # its "last seen" time at once, which real use never does).
    cookies = {who: [browser_cookie(name) for _ in range(scale.connections)]
               for who, name in (("keeper", keeper), ("bureau", bureau))}
    school_ids = list(Asset.objects.filter(org=first_school).order_by("pk").values_list("pk", flat=True)[:400])
    env = {"HOUQIN_BENCH": "1", "HOUQIN_DEBUG": "0"}
    seconds = scale.load_seconds
    with running_server(env, workdir) as (base, access_log):
        def load(name, paths, who, extra_cookies=None, fresh=False):
            jar = {**cookies, **(extra_cookies or {})}
            within_one_minute(seconds)
            return run_wrk(base, paths, cookie=jar[who] if who else "", access_log=access_log,
                           workdir=workdir, seconds=seconds, connections=scale.connections, name=name, fresh=fresh)

        log(f"[{connection.vendor}] 基线 a：无数据库访问的页面……")
        noop = load("noop", ["/bench/noop/"], None)
        baseline = noop.rps
        results.append(metric("baseline.a", "trivial view, no database (same server)", baseline, "req/s",
                              target="", ok=None, note=f"p95 {noop.p95_ms:.2f} ms"))

        log(f"[{connection.vendor}] P4 资产列表……")
        school_list = load("list_school", ["/assets/assets/", "/assets/assets/?status=idle",
                                           "/assets/assets/?q=%E7%94%B5%E8%84%91", "/assets/assets/?sort=number"],
                           "keeper")
        results += load_metrics("P4.school", "asset list, one school", school_list, baseline,
                                p95_target=LIST_P95_MS, rps_ratio=LIST_RPS_RATIO)
        county_list = load("list_county", ["/assets/assets/", "/assets/assets/?status=idle"], "bureau")
        results += load_metrics("P4.county", "asset list, county-wide", county_list, baseline,
                                p95_target=LIST_P95_MS, rps_ratio=LIST_RPS_RATIO)
        depth = min(990_000, max(scale.cards - 100, 0))
        cursor = deep_cursor(Asset.objects.all(), "-acquired_on", depth)
        # Both pages built on every request (not served kept): this compares what the database does at depth.
        first = load("list_first", ["/assets/assets/"], "bureau", fresh=True)
        deep = load("list_deep", [f"/assets/assets/?cursor={cursor}"], "bureau", fresh=True)
        ratio = deep.p95_ms / first.p95_ms if first.p95_ms else None
        results.append(metric("P4.deep", f"county list page at depth {depth:,} vs first page (p95, built)",
                              deep.p95_ms, "ms", baseline=first.p95_ms, ratio=ratio,
                              target=f"≤ {DEEP_PAGE_RATIO:g} × first page",
                              ok=ratio is not None and ratio <= DEEP_PAGE_RATIO and not deep.non2xx,
                              note=f"{deep.requests} and {first.requests} requests, none served kept"
                              if not (deep.kept or first.kept) else f"{deep.kept + first.kept} served kept"))

        log(f"[{connection.vendor}] P5 资产卡片与扫码页……")
        detail = load("detail", [f"/assets/assets/{pk}/" for pk in school_ids], "keeper")
        results += load_metrics("P5.detail", "asset card page", detail, baseline, p95_target=DETAIL_P95_MS,
                                rps_ratio=DETAIL_RPS_RATIO)
        _ = get_resolver().url_patterns  # the views register their QR kinds when the URLs load (as in the server)
        if "a" in qr.KINDS:
            scan = load("scan", [qr.scan_path("a", qr.make_token("assets.asset", pk)) for pk in school_ids],
                        "keeper")
            results += load_metrics("P5.qr", "asset QR page", scan, baseline, p95_target=DETAIL_P95_MS,
                                    rps_ratio=DETAIL_RPS_RATIO)

        results += _guarded("repairs", "repairs metrics", _optional_metrics, scale, county, load, baseline, log=log)
        if connection.vendor == "sqlite":
            results += _guarded("P7", "lock test", _lock_metric, base, county, scale, log=log)
    results.append(metric("phase.seconds", "this database's benchmark", time.perf_counter() - started, "s",
                          target="", ok=None))
    return {"db": connection.vendor, "scale": scale.describe(), "metrics": results}


def _guarded(id_, name, func, *args, **kwargs) -> list[dict]:
    """Run a group of metrics; an exception becomes one failed metric (the rest of the run still reports)."""
    try:
        return func(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 — reported, not hidden: the metric fails with the error
        return [metric(id_, name, None, "", target="runs", ok=False, note=f"{type(exc).__name__}: {exc}"[:300])]


def _lock_metric(base, county, scale, *, log) -> list[dict]:
    from houqin.bench.repairs import lock_test

    log(f"[sqlite] P7 {scale.connections} 个客户端并发借出/归还 {scale.lock_seconds} 秒……")
    counts = lock_test(base, county, scale.lock_seconds, scale.connections, log=log)
    bad = counts["locked"] + counts["server_errors"]
    return [metric("P7.locked", f"'database is locked' errors, {scale.connections} clients lending/returning",
                   float(counts["locked"]), "errors", target="0", ok=bad == 0 and counts["ok"] > 0,
                   note=f"{counts['ok']} transactions done, {counts['refused']} refused (4xx), "
                        f"{counts['server_errors']} server errors")]


def _optional_metrics(scale, county, load, baseline, *, log) -> list[dict]:
    """Metrics of parts that may not be installed (repairs) or not built yet; each returns [] when absent."""
    found = []
    if apps.is_installed("houqin.repairs"):
        try:
            from houqin.bench import repairs as repairs_bench
        except ImportError:
            repairs_bench = None
        if repairs_bench is not None:
            found += repairs_bench.metrics(scale, county, load, baseline, log=log)
    return found
