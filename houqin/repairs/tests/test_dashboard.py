"""维修看板: exact figures on a hand-built set across two schools, access, export, API and a constant query count."""

from __future__ import annotations

import datetime
import io
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from houqin.core.testing.factories import bulk_create_indexed, make_user, unique
from houqin.repairs import reports
from houqin.repairs.defaults import ensure_defaults
from houqin.repairs.models import RepairCategory, State, WorkOrder
from houqin.repairs.summary import rebuild_summary

pytestmark = pytest.mark.django_db

START, END = datetime.date(2026, 3, 1), datetime.date(2026, 6, 30)
PERIOD = {"start": "2026-03-01", "end": "2026-06-30"}
H = datetime.timedelta(hours=1)


def at(month, day, hour=9):
    return timezone.make_aware(datetime.datetime(2026, month, day, hour))


def order(school, *, reported, state=State.DONE, category="水电", building=True, **fields):
    org = school.org
    ensure_defaults(org)
    room = school.rooms[0] if building else None
    return WorkOrder.objects.create(
        org=org, number=f"BX-{unique()}", room=room, building=school.building if building else None,
        category=RepairCategory.objects.get(org=org, name=category), description="测试报修", state=state,
        reported_at=reported, place_text=str(room or ""), **fields)


@pytest.fixture
def dataset(world):
    """School A: six orders reported in the period, a merged duplicate, two before it; school B: one."""
    a, b = world.a, world.b
    wang = make_user(full_name="王师傅", org=a.org, roles=("technician",))
    li = make_user(full_name="李师傅", org=a.org, roles=("technician",))
    zhao = make_user(full_name="赵师傅", org=b.org, roles=("technician",))
    far = timezone.now() + datetime.timedelta(days=3)
    r = at(3, 2)
    order(a, reported=r, state=State.VISITED, assignee=wang, accepted_at=r + H, accept_due=r + 2 * H,
          completed_at=r + 5 * H, finish_due=r + 8 * H, rating=5, total_cost=Decimal("100.00"),
          labour_hours=Decimal("2.0"))
    r = at(3, 10)
    order(a, reported=r, state=State.ACCEPTED, assignee=wang, accepted_at=r + 3 * H, accept_due=r + 2 * H,
          completed_at=r + 30 * H, finish_due=r + 8 * H, accept_late=True, finish_late=True, rating=3,
          total_cost=Decimal("50.00"), labour_hours=Decimal("1.5"), reopened_count=1)
    r = at(4, 5, 10)
    order(a, reported=r, category="门窗", state=State.DONE, assignee=li, accepted_at=r + 2 * H, accept_due=r + 4 * H,
          completed_at=r + 10 * H, finish_due=r + 24 * H, total_cost=Decimal("20.00"), labour_hours=Decimal("1.0"))
    r = at(4, 20)
    order(a, reported=r, category="门窗", state=State.DISPATCHED, assignee=li, accept_due=r + 2 * H,
          finish_due=r + 8 * H)
    order(a, reported=at(5, 3), state=State.NEW, building=False, accept_due=far, finish_due=far)
    order(a, reported=at(5, 4), state=State.REJECTED, closed_at=at(5, 4, 10))
    order(a, reported=at(5, 5), state=State.MERGED, total_cost=Decimal("7.00"))
    order(a, reported=at(2, 20), state=State.DONE, completed_at=at(2, 21), total_cost=Decimal("999.00"), rating=1)
    order(a, reported=at(2, 25), state=State.IN_PROGRESS, assignee=li, accepted_at=at(2, 25, 10))
    r = at(3, 3)
    order(b, reported=r, state=State.DONE, assignee=zhao, accepted_at=r + H, accept_due=r + 2 * H,
          completed_at=r + 4 * H, finish_due=r + 8 * H, rating=4, total_cost=Decimal("30.00"),
          labour_hours=Decimal("1.0"))
    return {"wang": wang, "li": li, "zhao": zhao}


# --- Figures ----------------------------------------------------------------------------------------------------------
def test_summary_of_one_school_has_exact_figures(world, dataset):
    s = reports.summary([world.a.org.pk], START, END)
    assert s["received"] == 6  # the merged duplicate and the two February reports are not counted
    assert s["done"] == 3
    assert s["done_rate"] == Decimal("0.5000")
    assert s["accept_hours"] == Decimal("2.0")  # (1 + 3 + 2) / 3, clock hours
    assert s["finish_hours"] == Decimal("15.0")  # (5 + 30 + 10) / 3
    assert s["accept_rate"] == Decimal("0.6667")  # 2 of 3 accepted in time
    assert s["finish_rate"] == Decimal("0.6667")
    assert (s["rated"], s["satisfied"], s["unrated"]) == (2, 1, 1)
    assert s["satisfaction"] == Decimal("0.5000")  # the unrated order is not assumed good
    assert s["rating_avg"] == Decimal("4.00")
    assert s["late"] == 2  # done late; dispatched and never accepted, past its due time
    assert s["reopened"] == 1
    assert s["cost"] == Decimal("170.00")
    assert s["labour_hours"] == Decimal("4.5")


def test_summary_of_two_schools_adds_them_up(world, dataset):
    s = reports.summary([world.a.org.pk, world.b.org.pk], START, END)
    assert (s["received"], s["done"], s["late"]) == (7, 4, 2)
    assert s["satisfaction"] == Decimal("0.6667")
    assert s["cost"] == Decimal("200.00")
    assert s["finish_hours"] == Decimal("12.3")  # (5 + 30 + 10 + 4) / 4 = 12.25 → 12.3


def test_summary_of_an_empty_period_has_no_ratios(world, dataset):
    s = reports.summary([world.a.org.pk], datetime.date(2026, 8, 1), datetime.date(2026, 8, 31))
    assert s["received"] == 0 and s["cost"] == Decimal("0.00")
    assert s["done_rate"] is None and s["satisfaction"] is None and s["accept_hours"] is None


def test_dashboard_groups(world, dataset):
    scope = reports.Scope(world.a.org, (world.a.org,))
    board = reports.build_dashboard(scope, reports.Period(START, END))
    assert [(r.label, r.count, r.late) for r in board.open_states] == [
        ("待受理", 1, 0), ("已派工", 1, 1), ("维修中", 1, 0), ("待配件", 0, 0), ("外修", 0, 0)]
    assert [(m.label, m.received, m.done, m.late) for m in board.months] == [
        ("2026-03", 2, 2, 1), ("2026-04", 2, 1, 1), ("2026-05", 2, 0, 0), ("2026-06", 0, 0, 0)]
    assert [(c.label, c.received, c.done, c.late) for c in board.categories] == [("水电", 4, 2, 1), ("门窗", 2, 1, 1)]
    assert [(b.label, b.received) for b in board.buildings] == [("甲教学楼", 5), ("（室外或未指定楼栋）", 1)]
    techs = {t.label: t for t in board.technicians}
    wang, li = techs["王师傅"], techs["李师傅"]
    assert (wang.done, wang.finished_on_time, wang.finish_rate) == (2, 1, Decimal("0.5000"))
    assert (wang.rated, wang.rating_avg, wang.unrated, wang.reopened) == (2, Decimal("4.00"), 0, 1)
    assert (wang.labour_hours, wang.cost) == (Decimal("3.5"), Decimal("150.00"))
    assert (li.received, li.done, li.rated, li.rating_avg, li.unrated) == (2, 1, 0, None, 1)
    assert techs["（未派工）"].received == 2


def test_default_period_is_the_term_in_course(world):
    from houqin.core.testing.factories import make_school_year, make_term

    today = datetime.date(2027, 3, 15)
    assert reports.default_period([world.a.org.pk], today).label == "近6个月"
    assert reports.default_period([world.a.org.pk], today).start == datetime.date(2026, 10, 1)
    term = make_term(make_school_year(world.a.org, 2026), kind=2)
    period = reports.default_period([world.a.org.pk], today)
    assert (period.start, period.end, period.label) == (term.start_date, term.end_date, term.name)


# --- Page, access, export ---------------------------------------------------------------------------------------------
URL = "/repairs/dashboard/"


def test_url_name():
    assert reverse("repairs:dashboard") == URL


def test_school_head_sees_own_school(client_for, head_a, world, dataset):
    response = client_for(head_a).get(URL, PERIOD)
    assert response.status_code == 200
    html = response.content.decode()
    assert "甲城第一小学" in html and "乙镇中心小学" not in html and "赵师傅" not in html
    assert "王师傅" in html and "170.00" in html and "50.0%" in html
    assert "vendor/echarts/echarts.min.js" in html and "cdn" not in html.lower()


def test_bureau_sees_the_county_and_each_school(client_for, bureau_admin, world, dataset):
    client = client_for(bureau_admin)
    county = client.get(URL, {**PERIOD, "org": world.bureau.pk}).content.decode()
    assert "全部 2 所学校" in county and "赵师傅" in county and "200.00" in county
    school_b = client.get(URL, {**PERIOD, "org": world.b.org.pk}).content.decode()
    assert "30.00" in school_b and "王师傅" not in school_b


def test_county_page_shows_the_largest_rows_and_the_export_all(client_for, bureau_admin, world, dataset,
                                                                 monkeypatch):
    from houqin.repairs import dashboard_views

    monkeypatch.setattr(dashboard_views, "PAGE_ROWS", 2)  # a county of many schools: 3 school × category rows here
    client = client_for(bureau_admin)
    html = client.get(URL, {**PERIOD, "org": world.bureau.pk}).content.decode()
    table = html.split('data-testid="table-categories"')[1].split("</table>")[0]
    body = table.split("<tbody>")[1].split("</tbody>")[0]
    # 甲 水电 (4 received), 甲 门窗 (2) and 乙 水电 (1): the page shows the two largest
    assert body.count("<tr>") == 2 and "门窗" in body and "乙镇中心小学" not in body
    assert "合计" in table and "共 3 行，这里显示受理最多的 2 行" in html
    schools = html.split('data-testid="table-schools"')[1].split("</tbody>")[0]
    assert schools.count("<tr>") == 2 + 1  # every school (and the header row)
    response = client.get(URL, {**PERIOD, "org": world.bureau.pk, "export": "xlsx"})
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    rows = list(book["按报修类别"].iter_rows(values_only=True))[2:]
    assert [r[:3] for r in rows[:4]] == [("甲城第一小学", "水电", 4), ("甲城第一小学", "门窗", 2),
                                         ("乙镇中心小学", "水电", 1), (None, "合计", 7)]
    assert "这里显示" not in str(list(book["按报修类别"].iter_rows(values_only=True)))


def test_other_school_cannot_pick_school_a(client_for, admin_b, world, dataset):
    response = client_for(admin_b).get(URL, {**PERIOD, "org": world.a.org.pk})
    html = response.content.decode()
    assert response.status_code == 200 and "乙镇中心小学" in html
    assert "王师傅" not in html and "甲城第一小学" not in html


def test_teacher_and_outsider_are_refused(client_for, teacher_a, outsider, world):
    assert client_for(teacher_a).get(URL).status_code == 403
    assert client_for(outsider).get(URL).status_code == 403
    assert client_for(None).get(URL).status_code == 302


def test_bad_period_falls_back_with_a_message(client_for, head_a, world):
    html = client_for(head_a).get(URL, {"start": "2026-06-30", "end": "2026-03-01"}).content.decode()
    assert "结束日期不能早于开始日期" in html
    html = client_for(head_a).get(URL, {"start": "not-a-date", "end": "2026-06-30"}).content.decode()
    assert "日期格式不正确" in html
    html = client_for(head_a).get(URL, {"start": "2026-03-01"}).content.decode()
    assert "请同时填写开始日期和结束日期" in html


def test_export_has_every_table_with_numbers(client_for, head_a, world, dataset):
    response = client_for(head_a).get(URL, {**PERIOD, "export": "xlsx"})
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    assert book.sheetnames == ["总体指标", "未完成的报修单（当前）", "每月受理、完成和超时", "按报修类别", "按楼栋",
                               "维修人员考核"]
    rows = list(book["按报修类别"].iter_rows(values_only=True))
    assert rows[1][:4] == ("报修类别", "受理", "完成", "完成率")
    assert rows[2][:3] == ("水电", 4, 2)
    assert rows[4][0] == "合计" and rows[4][1] == 6
    techs = {r[0]: r for r in book["维修人员考核"].iter_rows(values_only=True)}
    header = list(book["维修人员考核"].iter_rows(values_only=True))[1]
    avg, unrated = header.index("平均评分（星）"), header.index("未评价")
    assert techs["王师傅"][1] == 2  # 完成
    assert techs["王师傅"][avg] == 4  # 平均评分, a number
    assert techs["李师傅"][avg] == "—" and techs["李师傅"][unrated] == 1  # no rating yet; one 未评价


# --- API --------------------------------------------------------------------------------------------------------------
API = "/api/repairs/dashboard/"


def test_api_gives_the_summary(client_for, head_a, world, dataset):
    data = client_for(head_a).get(API, PERIOD, HTTP_ACCEPT="application/json").json()
    assert data["scope"]["org"]["id"] == world.a.org.pk
    assert data["period"] == {"start": "2026-03-01", "end": "2026-06-30", "label": ""}
    s = data["summary"]
    assert (s["received"], s["done"], s["unrated"], s["late"]) == (6, 3, 1, 2)
    assert (s["done_rate"], s["satisfaction"], s["accept_hours"], s["cost"]) == ("0.5000", "0.5000", "2.0", "170.00")
    assert [m["received"] for m in data["months"]] == [2, 2, 2, 0]
    assert data["schools"] == [] and data["times"] == "clock"


def test_api_refuses_other_schools_and_bad_dates(client_for, admin_b, bureau_admin, teacher_a, world, dataset):
    other = client_for(admin_b).get(API, {"org": world.a.org.pk})
    missing = client_for(admin_b).get(API, {"org": 999999})
    assert other.status_code == missing.status_code == 400
    assert other.json()["error"]["fields"]["org"] == [
        {"code": "does_not_exist", "message": f"单位“{world.a.org.pk}”不存在。"}]
    bad = client_for(admin_b).get(API, {"start": "2026-13-01", "end": "2026-06-30"})
    assert bad.status_code == 400 and bad.json()["error"]["fields"]["start"][0]["code"] == "invalid"
    half = client_for(admin_b).get(API, {"start": "2026-03-01"})
    assert half.status_code == 400 and half.json()["error"]["fields"]["end"][0]["code"] == "required"
    reversed_ = client_for(admin_b).get(API, {"start": "2026-06-30", "end": "2026-03-01"})
    assert reversed_.status_code == 400 and "end" in reversed_.json()["error"]["fields"]
    assert client_for(teacher_a).get(API).status_code == 403
    county = client_for(bureau_admin).get(API, {**PERIOD, "org": world.bureau.pk}).json()
    assert county["summary"]["received"] == 7
    assert {s["label"]: s["received"] for s in county["schools"]} == {"甲城第一小学": 6, "乙镇中心小学": 1}


# --- Speed: a constant number of queries ------------------------------------------------------------------------------
def bulk(world, n):
    org = world.a.org
    ensure_defaults(org)
    categories = list(RepairCategory.objects.filter(org=org))
    techs = [make_user(full_name=f"批量师傅{i}", org=org, roles=("technician",)) for i in range(3)]
    states = [State.NEW, State.DISPATCHED, State.DONE, State.ACCEPTED, State.VISITED, State.REJECTED]
    rows = []
    for i in range(n):
        reported = at(3 + i % 4, 1 + i % 28, 8 + i % 9)
        rows.append(WorkOrder(
            org=org, number=f"BX-Q-{unique()}", room=world.a.rooms[i % 2], building=world.a.building,
            category=categories[i % len(categories)], description="批量", state=states[i % len(states)],
            assignee=techs[i % 3], reported_at=reported, accepted_at=reported + H, accept_due=reported + 2 * H,
            completed_at=reported + 5 * H, finish_due=reported + (4 + i % 3) * H, rating=(i % 5) + 1 if i % 3 else None,
            total_cost=Decimal("10.00")))
    with transaction.atomic():
        bulk_create_indexed(WorkOrder, rows)
    rebuild_summary([org.pk])  # bulk_create skips save(): the dashboard's per-day summary is rebuilt after it


def _queries(client, url, params):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, params)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_query_count_is_constant(client_for, bureau_admin, world):
    client = client_for(bureau_admin)
    county = {**PERIOD, "org": world.bureau.pk}
    bulk(world, 100)
    small = [_queries(client, URL, county), _queries(client, URL, {**county, "export": "xlsx"}),
             _queries(client, API, county)]
    bulk(world, 1900)
    assert WorkOrder.objects.count() == 2000
    large = [_queries(client, URL, county), _queries(client, URL, {**county, "export": "xlsx"}),
             _queries(client, API, county)]
    assert small == large
    scope = reports.scopes_for(bureau_admin)[0]
    assert scope.is_county
    with CaptureQueriesContext(connection) as ctx:
        board = reports.build_dashboard(scope, reports.Period(START, END))
    assert len(ctx.captured_queries) == 4  # open counts, orders not late yet, the fine GROUP BY, the months
    assert board.totals.received == 2000
    assert sum(m.received for m in board.months) == 2000
    assert sum(t.received for t in board.technicians) == sum(c.received for c in board.categories) == 2000
