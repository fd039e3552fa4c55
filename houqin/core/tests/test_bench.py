"""The benchmark's building blocks (houqin.bench): data generation on both databases, the deep-page cursor,
server-time percentiles from the access log, the importer metric's jobs and the report. The benchmark itself
(gunicorn + wrk, minutes) runs with ``houqin bench``, not in the test suite."""

from __future__ import annotations

import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.urls import NoReverseMatch, reverse

from houqin.assets.models import Asset
from houqin.bench import county as county_data
from houqin.bench import importing, report
from houqin.bench.load import percentile, run_wrk
from houqin.bench.metrics import deep_cursor, metric, within_one_minute
from houqin.bench.server import read_access_log
from houqin.core.models import Department, Room
from houqin.core.pagination import paginate

pytestmark = pytest.mark.django_db


@pytest.fixture
def small_county():
    county = county_data.build_county(2, log=lambda *_: None)
    county_data.insert_cards(county, 30, log=lambda *_: None)
    return county


def test_county_cards_are_deterministic_and_valid(small_county):
    assert Asset.objects.count() == 60
    school = small_county.schools[0]
    cards = list(Asset.objects.filter(org=school).order_by("pk"))
    assert len(cards) == 30
    again = list(county_data.card_rows(small_county, 30))
    assert [row["number"] for row in again[:30]] == [c.number for c in cards]
    for card in cards[:10]:
        card.full_clean(exclude=["number"])  # every generated card passes the model's own validation
        assert card.original_value == card.quantity * card.unit_price
        assert card.room.org_id == school.pk and card.department.org_id == school.pk
    # The search index is the model's own (pinyin initials: 台式计算机 → tsjsj).
    assert Asset.objects.filter(org=school, search_index__contains="tsjsj").exists()


def test_county_users_see_their_school_and_the_county(small_county, client):
    from houqin.core.models import User

    keeper = User.objects.get(username=small_county.keepers[small_county.schools[0].pk])
    bureau = User.objects.get(username=small_county.bureau_user)
    assert Asset.objects.restrict(keeper).count() == 30
    assert Asset.objects.restrict(bureau).count() == 60


def test_deep_cursor_opens_the_page_after_that_row(small_county):
    qs = Asset.objects.all()
    ordered = list(qs.order_by("-acquired_on", "-pk").values_list("pk", flat=True))
    cursor = deep_cursor(qs, "-acquired_on", 40)
    page = paginate(qs, order="-acquired_on", per_page=10, cursor=cursor, count=False)
    assert [a.pk for a in page.rows] == ordered[41:51]
    assert deep_cursor(qs, "-acquired_on", 500) is None


def test_percentiles_and_access_log(tmp_path):
    assert percentile([], 0.95) == 0.0
    assert percentile(list(range(1, 101)), 0.95) == 95
    assert percentile([7], 0.5) == 7
    log = tmp_path / "access.log"
    log.write_text("200 1500 miss /assets/assets/\n200 300 hit /assets/assets/\n302 900 - /login/\nnot a line\n",
                   encoding="utf-8")
    rows, offset = read_access_log(log, 0)
    assert rows == [(200, 1500, "/assets/assets/", "miss"), (200, 300, "/assets/assets/", "hit"),
                    (302, 900, "/login/", "-")]
    with log.open("a", encoding="utf-8") as fh:
        fh.write("200 42 /bench/noop/\n")  # a line without the page cache's answer
    more, _ = read_access_log(log, offset)
    assert more == [(200, 42, "/bench/noop/", "-")]


def test_the_baseline_view_is_mounted_only_for_the_benchmark():
    with pytest.raises(NoReverseMatch):
        reverse("bench_noop")


@pytest.mark.django_db(transaction=True)
def test_import_jobs_on_a_generated_register(tmp_path):
    county = county_data.build_county(1, log=lambda *_: None)
    school = county.schools[0]

    rooms = list(Room.objects.filter(org=school).values_list("name", flat=True)[:5])
    departments = list(Department.objects.filter(org=school).values_list("name", flat=True))
    path = tmp_path / "register.xlsx"
    importing.write_register(path, 120, rooms=rooms, departments=departments)
    bare = importing.bare_import(str(path))
    assert bare["rows"] == 120
    real = importing.real_import(county.keepers[school.pk], str(path))
    assert real["errors"] == 0, real["first_errors"]
    assert real["created"] == 120 and real["committed"]
    assert Asset.objects.filter(org=school).count() == 120


def test_report_table_and_json(tmp_path):
    phases = [{"db": "sqlite", "metrics": [
        {"id": "P5.detail.p95", "name": "asset card page p95", "db": "sqlite", "value": 12.5, "unit": "ms",
         "baseline": None, "ratio": None, "target": "≤ 30 ms", "ok": True, "note": ""},
        {"id": "P4.deep", "name": "deep page", "db": "sqlite", "value": 80.0, "unit": "ms", "baseline": 30.0,
         "ratio": 2.67, "target": "≤ 2 × first page", "ok": False, "note": ""},
    ]}]
    text = report.table(phases)
    assert "PASS" in text and "FAIL" in text and "P4.deep" in text
    assert "**FAIL**" in report.markdown(phases)
    out = tmp_path / "out.json"
    report.write_json(out, phases, scale="tiny", started="2026-11-21T00:00:00+00:00", seconds=1.0)
    payload = json.loads(out.read_text(encoding="utf-8"))
    assert payload["ok"] is False and len(payload["metrics"]) == 2
    assert {"id", "value", "unit", "baseline", "ratio", "target"} <= set(payload["metrics"][0])
    assert payload["machine"]["cores"] >= 1


@pytest.mark.parametrize("into, seconds, waited", [
    (20.0, 5, 0.0),  # 20 s into a minute: a 5 s run ends in it
    (54.0, 5, 6.1),  # 54 s in: it would cross the minute, so it waits for the next one
    (30.0, 20, 0.0), (45.0, 20, 15.1),
    (50.0, 60, 0.0),  # too long for any minute: at once
])
def test_a_load_run_does_not_cross_a_minute(into, seconds, waited):
    """Kept pages are keyed by the minute: a run crossing one would build every page twice."""
    now = 60 * 28_000_000 + into
    slept = []
    assert within_one_minute(seconds, clock=lambda: now, sleep=slept.append) == pytest.approx(waited)
    assert slept == ([pytest.approx(waited)] if waited else [])
    start = now + waited
    if seconds < 60:
        assert start // 60 == (start + seconds + 1.5) // 60


def test_metric_rounds_and_names_its_database():
    m = metric("x", "name", 1.23456, "ms", target="≤ 2 ms", ok=True, baseline=2.0, ratio=0.61728)
    assert m["value"] == 1.235 and m["ratio"] == 0.617 and m["db"] in ("sqlite", "postgresql")


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (scripts/ensure_wrk.sh)")
def test_each_load_client_has_a_session_of_its_own(tmp_path):
    """Real users each have their own session: with a list of cookies, every one of them is sent (each wrk thread
    takes its share in turn)."""
    seen: set[tuple[str, str]] = set()  # (path, cookie): the server may still answer the first run's last requests

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 — the http.server API
            seen.add((self.path, self.headers.get("Cookie", "")))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        cookies = [f"sessionid=s{i}" for i in range(4)]
        result = run_wrk(base, ["/a/", "/b/"], cookie=cookies, access_log=tmp_path / "none.log", workdir=tmp_path,
                         seconds=1, connections=4, name="sessions")
        assert result.requests > 0 and result.non2xx == 0
        assert {cookie for path, cookie in seen if path in ("/a/", "/b/")} == set(cookies)
        run_wrk(base, ["/c/"], cookie="sessionid=one", access_log=tmp_path / "none.log", workdir=tmp_path,
                seconds=1, connections=4, name="shared")
        assert {cookie for path, cookie in seen if path == "/c/"} == {"sessionid=one"}
    finally:
        server.shutdown()
