"""The benchmark's repairs part: a million work orders county-wide (bulk, COPY on PostgreSQL), the open-orders
list (P6), the dashboards (P8, with the assets analytics), and the SQLite lock test (P7): clients doing
read-then-write transactions (lend/return of assets, work-order transitions) through the API."""

from __future__ import annotations

import datetime
import http.client
import json
import random
import threading
import time
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from houqin.bench.county import BATCH, PASSWORD, SEED

OPEN_STATES = ("new", "dispatched", "in_progress", "waiting_parts")


def prepare(county) -> dict:
    """Repair categories of every school (the app's defaults) and a 总务主任 of the first school."""
    from houqin.core.models import User
    from houqin.core.testing.factories import grant
    from houqin.repairs.defaults import ensure_defaults
    from houqin.repairs.models import RepairCategory

    with transaction.atomic():
        for school in county.schools:
            ensure_defaults(school)
        head = User(username="bench_head", full_name="总务主任", default_org=county.schools[0])
        head.set_password(PASSWORD)
        head.save()
        grant(head, county.schools[0], "logistics_head")
    categories = {}
    for org_id, pk in RepairCategory.objects.values_list("org_id", "pk").order_by("org_id", "pk"):
        categories.setdefault(org_id, []).append(pk)
    return {"head": head.username, "categories": categories}


def order_rows(county, per_school: int, categories: dict, *, seed: int = SEED):
    rng = random.Random(seed + 7)
    now = timezone.now().replace(microsecond=0)
    for school in county.schools:
        rooms = county.rooms[school.pk]
        cats = categories[school.pk]
        for n in range(per_school):
            reported = now - datetime.timedelta(minutes=rng.randrange(365 * 24 * 60))
            open_order = n % 20 == 0  # 5 % still open
            state = OPEN_STATES[n % len(OPEN_STATES)] if open_order else "closed"
            accepted = reported + datetime.timedelta(minutes=rng.randrange(5, 240))
            completed = None if open_order else accepted + datetime.timedelta(minutes=rng.randrange(30, 4000))
            cost = Decimal(rng.randrange(0, 800))
            number = f"BX-{reported.year}-{n + 1:06d}"
            description = "教室灯管不亮" if n % 3 else "水龙头漏水"
            yield {
                "created_at": reported, "updated_at": reported,
                "search_index": f"{number.lower()} | {description}", "org_id": school.pk, "number": number,
                "room_id": rooms[n % len(rooms)], "building_id": None, "asset_id": None, "place": "",
                "place_text": "", "category_id": cats[n % len(cats)], "description": description,
                "urgency": "normal", "scale": "minor", "source": "form", "reference": "", "reporter_id": None,
                "reporter_name": "王老师", "reporter_phone": "", "entered_by_id": None, "client_ip": None,
                "duplicate_of_id": None, "state": state, "assignee_id": None, "reported_at": reported,
                "dispatched_at": accepted, "accepted_at": accepted, "started_at": None if open_order else accepted,
                "completed_at": completed, "signed_off_at": completed, "visited_at": None,
                "closed_at": completed, "state_changed_at": completed or accepted,
                "accept_due": reported + datetime.timedelta(hours=2), "start_due": None,
                "finish_due": reported + datetime.timedelta(hours=10), "accept_late": False, "start_late": False,
                "finish_late": bool(completed and completed > reported + datetime.timedelta(hours=10)),
                "work_done": "" if open_order else "已修复", "labour_hours": Decimal("1.0"),
                "labour_rate": Decimal("0"), "contractor": "", "contractor_quote": None, "outside_approved": False,
                "material_cost": cost, "labour_cost": Decimal("0"), "outside_cost": Decimal("0"), "total_cost": cost,
                "rating": None if open_order or n % 4 == 0 else 3 + n % 3, "rating_comment": "",
                "signed_off_by_id": None, "signed_off_on_behalf": False, "visit_note": "", "reopened_count": 0,
                "close_reason": "",
            }


def insert_orders(county, per_school: int, categories: dict, *, log=print) -> float:
    from houqin.bench.county import _prepared
    from houqin.repairs.models import WorkOrder

    columns = [f for f in WorkOrder._meta.concrete_fields if f.column != "id"]
    names = [f.column for f in columns]
    table = WorkOrder._meta.db_table
    started = time.perf_counter()
    total = 0
    rows = order_rows(county, per_school, categories)
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f'COPY "{table}" ({", ".join(names)}) FROM STDIN') as copy:
                for values in rows:
                    copy.write_row(tuple(values[f.attname] for f in columns))
                    total += 1
        else:
            sql = f'INSERT INTO "{table}" ({", ".join(names)}) VALUES ({", ".join(["%s"] * len(names))})'
            batch = []
            for values in rows:
                batch.append(_prepared(columns, values))
                if len(batch) >= BATCH:
                    cursor.executemany(sql, batch)
                    total += len(batch)
                    batch.clear()
            if batch:
                cursor.executemany(sql, batch)
                total += len(batch)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f'ANALYZE "{table}"')
    seconds = time.perf_counter() - started
    log(f"  维修工单：{total:,} 张（{seconds:.1f} 秒）")
    return seconds


def metrics(scale, county, load, baseline, *, log) -> list[dict]:
    from houqin.bench.metrics import DASHBOARD_P95_MS, LIST_P95_MS, LIST_RPS_RATIO, load_metrics, metric
    from houqin.bench.phase import browser_cookie

    results = []
    info = prepare(county)
    insert_orders(county, scale.orders_per_school, info["categories"], log=log)
    from houqin.repairs.summary import rebuild_summary  # bulk COPY/executemany skip save(): rebuild the summary

    started = time.perf_counter()
    log(f"  维修日汇总：{rebuild_summary():,} 行（{time.perf_counter() - started:.1f} 秒）")
    cookies = {"head": [browser_cookie(info["head"]) for _ in range(scale.connections)]}
    log(f"[{connection.vendor}] P6 未完成工单列表……")
    open_list = load("orders_open", ["/repairs/workorders/?state=open", "/repairs/workorders/?state=new",
                                     "/repairs/workorders/?state=open&overdue=true"], "head", cookies)
    results += load_metrics("P6.school", "open work orders list, one school", open_list, baseline,
                            p95_target=LIST_P95_MS, rps_ratio=LIST_RPS_RATIO)
    county_list = load("orders_county", ["/repairs/workorders/?state=open", "/repairs/workorders/"], "bureau",
                       cookies)
    results += load_metrics("P6.county", "work orders list, county-wide", county_list, baseline,
                            p95_target=LIST_P95_MS, rps_ratio=LIST_RPS_RATIO)
    log(f"[{connection.vendor}] P8 看板……")
    # The cards were inserted in bulk (no signals): bring the assets analytics summaries up to date as the nightly
    # job does; the repairs summaries were rebuilt after the bulk insert of the orders.
    from houqin.assets.analytics_summary import rebuild_all

    rebuild_all()
    for key, path, who, name in (
        ("P8.assets.school", "/assets/analytics/", "keeper", "assets analytics, one school"),
        ("P8.assets.county", "/assets/analytics/", "bureau", "assets analytics, county"),
        ("P8.repairs.school", "/repairs/dashboard/", "head", "repairs dashboard, one school"),
        ("P8.repairs.county", "/repairs/dashboard/", "bureau", "repairs dashboard, county"),
    ):
        result = load(key.replace(".", "_"), [path], who, cookies)
        bad = result.errors + result.non2xx
        results.append(metric(f"{key}.p95", f"{name} p95 server time", result.p95_ms, "ms",
                              target=f"≤ {DASHBOARD_P95_MS:g} ms", ok=result.p95_ms <= DASHBOARD_P95_MS and not bad,
                              note=f"{result.requests} requests; statuses {result.statuses}"))
    return results


# --- P7: read-then-write transactions on SQLite -------------------------------------------------------------------
def lock_test(base: str, county, seconds: int, clients: int, *, log=print) -> dict:
    """``clients`` threads for ``seconds``: each lends a card of its own and returns it, over and over, through the
    API (token auth). Counts answers 5xx and "database is locked" errors."""
    from rest_framework.authtoken.models import Token

    from houqin.assets.models import Asset
    from houqin.core.models import User

    keeper = User.objects.get(username=county.keepers[county.schools[0].pk])
    token = Token.objects.get_or_create(user=keeper)[0].key
    cards = list(Asset.objects.filter(org=county.schools[0], status="in_use").order_by("pk")
                 .values_list("pk", flat=True)[:clients])
    host, port = base.removeprefix("http://").split(":")
    stop = time.monotonic() + seconds
    counts = {"ok": 0, "refused": 0, "server_errors": 0, "locked": 0}
    lock = threading.Lock()
    due = (timezone.localdate() + datetime.timedelta(days=7)).isoformat()

    def post(conn, path, body):
        conn.request("POST", path, body=json.dumps(body), headers={
            "Authorization": f"Token {token}", "Content-Type": "application/json", "Accept": "application/json"})
        response = conn.getresponse()
        text = response.read().decode(errors="replace")
        return response.status, text

    def client(card_id):
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        while time.monotonic() < stop:
            for path, body in ((f"/api/assets/assets/{card_id}/lend/",
                                {"borrower_name": "基准借用人", "borrower_phone": "13800000000", "purpose": "基准测试",
                                 "due_on": due, "signature_later": True}),
                               (f"/api/assets/assets/{card_id}/return_loan/", {"condition": "good"})):
                try:
                    status, text = post(conn, path, body)
                except (OSError, http.client.HTTPException):
                    conn.close()
                    conn = http.client.HTTPConnection(host, int(port), timeout=30)
                    status, text = 599, ""
                with lock:
                    if status < 300:
                        counts["ok"] += 1
                    elif status < 500:
                        counts["refused"] += 1
                    else:
                        counts["server_errors"] += 1
                    if "database is locked" in text:
                        counts["locked"] += 1
        conn.close()

    threads = [threading.Thread(target=client, args=(pk,)) for pk in cards]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return counts
