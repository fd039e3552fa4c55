"""资产分析 (houqin.assets.analytics): exact figures on a small hand-built register, the repair seam with a fake
source, who sees which school, the export, and query counts that do not grow with the register."""

from __future__ import annotations

import datetime
import io
from decimal import Decimal

import pytest
from django.db.models import DecimalField
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, TruncDate
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from houqin.assets import analytics, services
from houqin.assets.analytics import add_months, build_report, card_figures, scopes_for
from houqin.assets.categories import national
from houqin.assets.choices import AssetClass, AssetEventCode, AssetStatus
from houqin.assets.models import Asset, AssetEvent
from houqin.assets.tests.factories import bulk_assets, make_asset
from houqin.core.testing.queries import captured_queries, describe_difference

pytestmark = pytest.mark.django_db
D = Decimal
PAGE = "/assets/analytics/"
API = "/api/assets/analytics/"
JSON = {"HTTP_ACCEPT": "application/json"}


# --- A fake repair source: "修复" events of the cards' history carrying {"cost": "…"} -----------------------------
def fake_repairs(org_ids, since):
    rows = AssetEvent.objects.filter(org_id__in=org_ids, code=AssetEventCode.REPAIRED).annotate(
        cost=Cast(KT("changes__cost"), DecimalField(max_digits=12, decimal_places=2)),
        repaired_on=TruncDate("time"))
    return rows.filter(repaired_on__gte=since) if since else rows


@pytest.fixture(autouse=True)
def _no_repair_source():
    """Each test starts without a repair source (the repairs app registers its own at start-up) and leaves the
    registered one as it found it."""
    previous = analytics.repair_source()
    analytics.register_repair_source(None)
    yield
    analytics.register_repair_source(previous)


@pytest.fixture
def repair_source():
    analytics.register_repair_source(fake_repairs)
    return fake_repairs


def at(day: datetime.date, hour: int = 10) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour)))


def repair(card, cost: str, day: datetime.date):
    return services.record_event(card, AssetEventCode.REPAIRED, changes={"cost": cost}, time=at(day))


def set_status(card, status, *, since: datetime.date | None = None, disposed_on=None):
    """Move a card (tests only: the life-cycle commands belong to other parts) and record the move."""
    Asset.objects.filter(pk=card.pk).update(status=status, disposed_on=disposed_on)
    if since is not None:
        services.record_event(card, AssetEventCode.IDLE, status_before=card.status, status_after=status,
                              time=at(since))
    card.refresh_from_db()
    return card


class Register:
    """School A's hand-built register (values in yuan, dates relative to today):

    c1 computer   5,000   6 months old   life 6   in use        财政拨款   联想 M590     dept A
    c2 computers  2×3,000 7 years old    life 6   idle 2 months 财政拨款   联想 M590     dept A   (past its life)
    c3 desks      40×200  11 years old   life 15  in use        —          —             no dept  (batch)
    c4 projector  3,000   4 years old    life 6   idle 8 months 专项经费   爱普生 CB-X06 dept A
    c5 mouse pad  500     2 years old    —        in use        财政拨款   —             no dept  (低值易耗品)
    c6 computer   4,000   3 years old    disposed (off the books)
    b1 school B   99,999  1 year old     in use
    """

    def __init__(self, world):
        self.today = timezone.localdate()
        today, a, b = self.today, world.a, world.b
        ago = self.ago = lambda months: add_months(today, -months)
        self.c1 = make_asset(a.org, name="教师电脑", unit_price="5000.00", acquired_on=ago(6), brand="联想",
                             model="M590", funding_source="财政拨款", department=a.department)
        self.c2 = make_asset(a.org, name="机房电脑", quantity=2, unit_price="3000.00", acquired_on=ago(84),
                             brand="联想", model="M590", funding_source="财政拨款", department=a.department)
        self.c3 = make_asset(a.org, category="6010200", name="学生课桌", quantity=40, unit_price="200.00",
                             is_batch=True, acquired_on=ago(132), unit="张")
        self.c4 = make_asset(a.org, category="2020200", name="教室投影仪", unit_price="3000.00", acquired_on=ago(48),
                             brand="爱普生", model="CB-X06", funding_source="专项经费", department=a.department)
        self.c5 = make_asset(a.org, name="鼠标垫", unit_price="500.00", acquired_on=ago(24),
                             funding_source="财政拨款")
        self.c6 = make_asset(a.org, name="已报废电脑", unit_price="4000.00", acquired_on=ago(36))
        self.b1 = make_asset(b.org, name="乙校服务器", unit_price="99999.00", acquired_on=ago(12),
                             department=b.department)
        set_status(self.c2, AssetStatus.IDLE, since=ago(2))
        set_status(self.c4, AssetStatus.IDLE, since=ago(8))
        set_status(self.c6, AssetStatus.DISPOSED, disposed_on=ago(1))

    def add_repairs(self):
        ago = self.ago
        repair(self.c2, "2000.00", ago(20))
        repair(self.c2, "1500.00", ago(5))
        for months, cost in ((1, "100.00"), (3, "200.00"), (11, "300.00")):
            repair(self.c1, cost, ago(months))
        repair(self.c4, "2800.00", ago(2))
        repair(self.c6, "999.00", ago(13))  # off the books: not in the report
        repair(self.b1, "5.00", ago(1))  # another school


@pytest.fixture
def register(world):
    return Register(world)


def school_scope(org):
    return analytics.Scope(org, (org,))


def county_scope(world):
    return analytics.Scope(world.bureau, (world.a.org, world.b.org))


# --- Figures --------------------------------------------------------------------------------------------------------
def test_register_facts_the_figures_rest_on(register):
    assert register.c5.asset_class == AssetClass.LOW_VALUE and register.c5.useful_life_years is None
    assert register.c3.asset_class == AssetClass.FIXED and register.c3.useful_life_years == 15
    assert register.c2.useful_life_years == 6 and register.c2.original_value == D("6000.00")


def test_totals_age_profile_and_past_life(world, register):
    report = build_report(school_scope(world.a.org), today=register.today)
    t = report.totals
    assert (t.cards, t.value) == (5, D("22500.00"))
    assert (t.idle_cards, t.idle_value, t.idle_rate) == (2, D("9000.00"), D("0.4000"))
    # Past the useful life: c2 only; the share is of the cards that have a useful life (not c5, a 低值易耗品).
    assert (t.life_cards, t.life_value, t.past_life_cards, t.past_life_value) == (4, D("22000.00"), 1, D("6000.00"))
    assert t.past_life_share == D("0.2727") and t.past_life_card_share == D("0.2500")
    assert (t.off_book_cards, t.off_book_value) == (1, D("4000.00"))
    assert [(b.label, b.cards, b.value, b.past_life_value) for b in report.bands] == [
        ("不满1年", 1, D("5000.00"), D("0")), ("1–3年", 1, D("500.00"), D("0")), ("3–5年", 1, D("3000.00"), D("0")),
        ("5–8年", 1, D("6000.00"), D("6000.00")), ("8–10年", 0, D("0"), D("0")), ("10年以上", 1, D("8000.00"), D("0"))]
    assert [b.share for b in report.bands] == [D("0.2222"), D("0.0222"), D("0.1333"), D("0.2667"), D("0.0000"),
                                               D("0.3556")]
    cats = {c.code: c for c in report.categories}
    assert set(cats) == {"2010000", "2020000", "6010000"}
    computers = cats["2010000"]
    assert (computers.name, computers.cards, computers.value, computers.idle_value) == (
        "计算机设备及软件", 3, D("11500.00"), D("6000.00"))
    assert computers.idle_rate == D("0.5217") and computers.past_life_share == D("0.5455")  # 6000 / 11000
    assert computers.band_values == [D("5000.00"), D("500.00"), D("0"), D("6000.00"), D("0"), D("0")]
    assert (cats["2020000"].idle_rate, cats["6010000"].idle_rate) == (D("1.0000"), D("0.0000"))
    assert cats["6010000"].band_cards == [0, 0, 0, 0, 0, 1]


def test_idle_per_department_and_long_idle(world, register):
    report = build_report(school_scope(world.a.org), today=register.today)
    assert [(d.department, d.cards, d.value, d.idle_value, d.idle_rate) for d in report.departments] == [
        ("甲总务处", 3, D("14000.00"), D("9000.00"), D("0.6429")),
        ("（未指定部门）", 2, D("8500.00"), D("0.00"), D("0.0000"))]
    # Idle for 6 months or more: the projector (idle for 8 months), not the computers (2 months).
    long = report.long_idle
    assert (long.months, long.cards, long.value) == (6, 1, D("3000.00"))
    assert [(r.number, r.idle_since, r.idle_months) for r in long.rows] == [
        (register.c4.number, register.ago(8), 8)]
    shorter = build_report(school_scope(world.a.org), today=register.today, idle_months=1).long_idle
    assert (shorter.cards, shorter.value) == (2, D("9000.00"))
    assert [r.number for r in shorter.rows] == [register.c4.number, register.c2.number]  # longest idle first


def test_a_card_registered_idle_counts_from_its_registration(world):
    card = services.register_asset(Asset(org=world.a.org, category=national("2010100"), name="库存电脑",
                                         unit_price=D("4000"), acquired_on=datetime.date(2020, 1, 1)),
                                   status=AssetStatus.IDLE)
    today = timezone.localdate()
    assert build_report(school_scope(world.a.org), today=today).long_idle.cards == 0
    later = add_months(today, 7)  # seven months after its registration it is long idle
    report = build_report(school_scope(world.a.org), today=later)
    assert [(r.number, r.idle_since) for r in report.long_idle.rows] == [(card.number, today)]


def test_value_per_pupil_status_funding_and_years(world, register):
    report = build_report(school_scope(world.a.org), today=register.today)
    t = report.totals
    # Teaching equipment: the fixed assets among computers and office equipment (c1, c2, c4); not the desks, not the
    # 低值易耗品 mouse pad.
    assert (t.pupils, t.teaching_value) == (600, D("14000.00"))
    assert (t.value_per_pupil, t.teaching_per_pupil) == (D("37.50"), D("23.33"))
    (school,) = report.schools
    assert (school.name, school.value, school.teaching_per_pupil, school.benchmark, school.meets_benchmark) == (
        "甲城第一小学", D("22500.00"), D("23.33"), D("2000"), False)
    statuses = {s.status: (s.cards, s.value) for s in report.statuses}
    assert statuses == {"in_use": (3, D("13500.00")), "idle": (2, D("9000.00")), "lent": (0, D("0")),
                        "repairing": (0, D("0")), "pending_disposal": (0, D("0")), "disposed": (1, D("4000.00")),
                        "lost": (0, D("0"))}
    assert [(f.label, f.cards, f.value) for f in report.funding] == [
        ("财政拨款", 3, D("11500.00")), ("（未填写）", 1, D("8000.00")), ("专项经费", 1, D("3000.00"))]
    expected_years: dict[str, Decimal] = {}
    for card in (register.c1, register.c2, register.c3, register.c4, register.c5):
        year = str(card.acquired_on.year)
        expected_years[year] = expected_years.get(year, D("0")) + card.original_value
    assert {y.label: y.value for y in report.years} == expected_years
    assert [y.label for y in report.years] == sorted(expected_years)
    matrix = report.funding_by_year
    assert sum(sum(row) for row in matrix["values"]) == D("22500.00")
    assert report.repairs is None  # no repair source registered


def test_county_adds_up_its_schools_and_ranks_them(world, register):
    report = build_report(county_scope(world), today=register.today)
    t = report.totals
    assert (t.cards, t.value, t.pupils) == (6, D("122499.00"), 1200)
    assert (t.value_per_pupil, t.teaching_per_pupil) == (D("102.08"), D("95.00"))  # 122499/1200, 113999/1200
    assert [(s.rank, s.name, s.teaching_per_pupil) for s in report.schools] == [
        (1, "乙镇中心小学", D("166.67")), (2, "甲城第一小学", D("23.33"))]
    assert {d.school for d in report.departments} == {"甲校", "乙校"}


def test_a_school_without_pupils_has_no_per_pupil_figure(world, register):
    world.b.org.pupil_count = 0
    world.b.org.save()
    report = build_report(county_scope(world), today=register.today)
    assert report.totals.pupils == 600 and report.totals.teaching_per_pupil == D("23.33")
    assert [(s.name, s.rank, s.teaching_per_pupil) for s in report.schools] == [
        ("甲城第一小学", 1, D("23.33")), ("乙镇中心小学", None, None)]


# --- Repairs ----------------------------------------------------------------------------------------------------------
def test_repairs_section_waits_for_a_source(world, register, client_for):
    register.add_repairs()
    assert build_report(school_scope(world.a.org), today=register.today).repairs is None
    html = client_for(world.head_a).get(PAGE).content.decode()
    assert "暂无维修数据（报修维修模块启用后自动统计）" in html


def test_repair_figures_and_replacement_suggestions(world, register, repair_source):
    register.add_repairs()
    repairs = build_report(school_scope(world.a.org), today=register.today).repairs
    t = repairs.totals
    assert (t.repairs, t.recent_repairs, t.cost, t.cards, t.value) == (6, 5, D("6900.00"), 3, D("22500.00"))
    assert t.cost_ratio == D("0.3067")
    assert [(g.label, g.cards_repaired, g.repairs, g.recent_repairs, g.cost, g.value, g.cost_ratio)
            for g in repairs.by_category] == [
        ("2010000 计算机设备及软件", 2, 5, 4, D("4100.00"), D("11500.00"), D("0.3565")),
        ("2020000 办公设备", 1, 1, 1, D("2800.00"), D("3000.00"), D("0.9333"))]
    assert [(g.label, g.cards_repaired, g.repairs, g.cost, g.cards, g.value, g.cost_ratio)
            for g in repairs.by_model] == [
        ("联想 M590", 2, 5, D("4100.00"), 2, D("11000.00"), D("0.3727")),
        ("爱普生 CB-X06", 1, 1, D("2800.00"), 1, D("3000.00"), D("0.9333"))]
    assert [(c.number, c.repairs, c.recent_repairs, c.cost) for c in repairs.by_card] == [
        (register.c2.number, 2, 1, D("3500.00")), (register.c4.number, 1, 1, D("2800.00")),
        (register.c1.number, 3, 3, D("600.00"))]
    # c2: past its 6-year life and repairs = 58 % of its value; c1: 3 repairs in 12 months. c4's repairs reach 93 %
    # of its value, but it is within its useful life.
    assert [(c.number, c.reasons) for c in repairs.suggestions] == [
        (register.c2.number, ["已超过使用年限，累计维修费用达原值的58.3%"]),
        (register.c1.number, ["近12个月维修3次"])]
    assert repairs.suggestion_count == 2


def test_the_sql_rule_and_the_python_rule_agree_at_the_thresholds(world, repair_source):
    today = timezone.localdate()
    old = {"acquired_on": add_months(today, -73), "unit_price": "1000.00"}  # 6-year life, past it
    at_half = make_asset(world.a.org, name="恰好一半", **old)
    below = make_asset(world.a.org, name="差一分", **old)
    young = make_asset(world.a.org, name="未到年限", acquired_on=add_months(today, -71), unit_price="1000.00")
    two = make_asset(world.a.org, name="两次", acquired_on=add_months(today, -10), unit_price="1000.00")
    repair(at_half, "500.00", add_months(today, -13))
    repair(below, "499.99", add_months(today, -13))
    repair(young, "900.00", add_months(today, -13))
    repair(two, "1.00", add_months(today, -1))
    repair(two, "1.00", add_months(today, -12))  # exactly 12 months ago counts as recent
    repair(two, "1.00", add_months(today, -13))  # 13 months ago does not
    repairs = build_report(school_scope(world.a.org), today=today).repairs
    assert [c.name for c in repairs.suggestions] == ["恰好一半"]
    for card in (at_half, below, young, two):
        card = Asset.objects.select_related("category", "org").get(pk=card.pk)
        assert card_figures(card, today).replace_suggested == (card.name == "恰好一半"), card.name
    three = Asset.objects.select_related("category", "org").get(pk=two.pk)
    repair(three, "1.00", add_months(today, -2))
    assert card_figures(three, today).reasons == ["近12个月维修3次"]
    assert "两次" in [c.name for c in build_report(school_scope(world.a.org), today=today).repairs.suggestions]


def test_card_figures(world, register, repair_source):
    register.add_repairs()
    card = Asset.objects.select_related("category", "org").get(pk=register.c2.pk)
    figures = card_figures(card, register.today)
    assert (figures.age_months, figures.life_years, figures.life_used, figures.past_life) == (84, 6, D("1.1667"), True)
    assert figures.net_value == D("0.00") and figures.depreciation_state == "已提足折旧"
    assert (figures.repairs, figures.recent_repairs, figures.repair_cost, figures.repair_cost_ratio) == (
        2, 1, D("3500.00"), D("0.5833"))
    assert figures.reasons == ["已超过使用年限，累计维修费用达原值的58.3%"]
    # A written-off card still shows its repairs, and is never suggested for replacement.
    gone = card_figures(Asset.objects.select_related("category", "org").get(pk=register.c6.pk), register.today)
    assert (gone.repairs, gone.repair_cost, gone.reasons) == (1, D("999.00"), [])


def test_card_figures_without_a_source_use_no_query(world, register, django_assert_num_queries):
    card = Asset.objects.select_related("category", "org").get(pk=register.c1.pk)
    with django_assert_num_queries(0):
        figures = card_figures(card, register.today)
    assert (figures.age_months, figures.life_used, figures.has_repair_source, figures.repair_cost_ratio) == (
        6, D("0.0833"), False, None)
    assert figures.net_value == D("5000.00") - D("69.44") * 7  # 7 months charged, the month of acquisition included


# --- Pages and who sees what ------------------------------------------------------------------------------------------
def test_page_shows_the_school_with_charts_and_tables(world, register, client_for):
    response = client_for(world.head_a).get(PAGE)
    assert response.status_code == 200
    html = response.content.decode()
    assert "甲城第一小学" in html and "乙镇中心小学" not in html and "乙校服务器" not in html
    assert "vendor/echarts/echarts.min.js" in html and "assets/analytics.js" in html and "cdn" not in html.lower()
    for key in ("bands", "category_age", "category_idle", "department_idle", "long_idle", "schools", "statuses",
                "funding", "years"):
        assert f'data-testid="table-{key}"' in html, key
    assert response.context["tables"]["category_idle"].footer[-1]["text"] == "40.0%"
    assert 'id="analytics-charts"' in html and register.c4.number in html  # the long idle projector is listed


def test_permissions_and_scopes(world, register, client_for):
    assert client_for(world.teacher_a).get(PAGE).status_code == 403
    assert client_for(world.outsider).get(PAGE).status_code == 403
    assert client_for(None).get(PAGE).status_code == 302
    # Another school's id falls back to the user's own school: nobody sees a school they cannot view.
    other = client_for(world.admin_b).get(PAGE, {"org": world.a.org.pk})
    assert other.status_code == 200 and other.context["scope"].org == world.b.org
    assert "甲城第一小学" not in other.content.decode() and register.c4.number not in other.content.decode()
    assert [s.key for s in scopes_for(world.admin_b)] == [str(world.b.org.pk)]
    # The bureau picks the county or one of its schools.
    bureau = client_for(world.bureau_admin)
    scopes = scopes_for(world.bureau_admin)
    assert scopes[0].org == world.bureau and scopes[0].is_county
    assert {s.org for s in scopes[1:]} == {world.a.org, world.b.org}
    county = bureau.get(PAGE, {"org": world.bureau.pk})
    assert county.context["report"].totals.value == D("122499.00") and "乙镇中心小学" in county.content.decode()
    one = bureau.get(PAGE, {"org": world.a.org.pk})
    assert one.context["report"].totals.value == D("22500.00")
    assert {s.org for s in scopes_for(world.superuser)} >= {world.bureau, world.a.org, world.b.org}


def test_export_downloads_every_table(world, register, repair_source, client_for):
    register.add_repairs()
    response = client_for(world.head_a).get(PAGE, {"export": "xlsx", "idle_months": "1"})
    assert response.status_code == 200 and response["Content-Type"].startswith("application/vnd.openxmlformats")
    wb = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    assert wb.sheetnames == ["总体指标", "资产使用年限分布", "各类资产使用年限分布", "各类资产闲置率",
                             "各部门资产闲置率", "闲置超过 1 个月的资产", "生均资产值", "资产状态构成", "按经费来源",
                             "按取得年度", "各类资产维修情况", "各品牌型号维修情况", "单件资产维修排行", "更换建议"]
    idle = list(wb["各类资产闲置率"].iter_rows(values_only=True))
    assert idle[1] == ("资产大类", "卡片数", "账面原值（元）", "闲置卡片数", "闲置原值（元）", "闲置率")
    assert idle[2] == ("2010000 计算机设备及软件", 3, 11500, 1, 6000, 0.5217)  # numbers stay numbers
    assert idle[5] == ("合计", 5, 22500, 2, 9000, 0.4)
    suggestions = list(wb["更换建议"].iter_rows(values_only=True))
    assert suggestions[2][0] == register.c2.number and suggestions[2][-1] == "已超过使用年限，累计维修费用达原值的58.3%"


def test_export_of_another_school_is_not_possible(world, register, client_for):
    response = client_for(world.admin_b).get(PAGE, {"export": "xlsx", "org": world.a.org.pk})
    wb = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    text = " ".join(str(v) for ws in wb for row in ws.iter_rows(values_only=True) for v in row if v is not None)
    assert "乙镇中心小学" in text and "甲城第一小学" not in text and register.c4.number not in text


def test_card_panel(world, register, repair_source, client_for):
    register.add_repairs()
    url = reverse("assets:analytics_card", args=[register.c2.pk])
    detail = client_for(world.head_a).get(register.c2.get_absolute_url()).content.decode()
    assert f'hx-get="{url}"' in detail
    partial = client_for(world.head_a).get(url, HTTP_HX_REQUEST="true")
    html = partial.content.decode()
    assert partial.status_code == 200 and "<html" not in html
    assert "7年" in html and "已超过使用年限" in html and "建议更换" in html and "58.3%" in html
    page = client_for(world.head_a).get(url)
    assert "<html" in page.content.decode() and register.c2.number in page.content.decode()
    for persona in ("admin_b", "teacher_a", "outsider"):
        assert client_for(getattr(world, persona)).get(url).status_code == 404, persona
    assert client_for(world.bureau_admin).get(url).status_code == 200


def test_card_panel_without_a_source(world, register, client_for):
    html = client_for(world.head_a).get(reverse("assets:analytics_card", args=[register.c1.pk]),
                                        HTTP_HX_REQUEST="true").content.decode()
    assert "暂无维修数据（报修维修模块启用后自动统计）" in html and "更换建议" not in html


# --- API --------------------------------------------------------------------------------------------------------------
def test_api_report(world, register, repair_source, client_for):
    register.add_repairs()
    data = client_for(world.head_a).get(API, **JSON).json()
    assert data["scope"]["org"] == {"id": world.a.org.pk, "name": "甲城第一小学"} and not data["scope"]["is_county"]
    assert data["totals"]["value"] == "22500.00" and data["totals"]["idle_rate"] == "0.4000"
    assert data["totals"]["teaching_per_pupil"] == "23.33"
    assert [b["value"] for b in data["age_bands"]] == ["5000.00", "500.00", "3000.00", "6000.00", "0.00", "8000.00"]
    assert data["long_idle"]["rows"][0]["number"] == register.c4.number
    assert [c["number"] for c in data["repairs"]["suggestions"]] == [register.c2.number, register.c1.number]
    assert data["rules"] == {"replace_cost_ratio": "0.50", "replace_recent_repairs": 3, "replace_recent_months": 12}
    county = client_for(world.bureau_admin).get(API, {"org": world.bureau.pk, "idle_months": 1}, **JSON).json()
    assert county["scope"]["is_county"] and county["totals"]["value"] == "122499.00"
    assert county["long_idle"]["cards"] == 2


def test_api_refuses_what_it_cannot_show(world, register, client_for):
    other = client_for(world.admin_b).get(API, {"org": world.a.org.pk}, **JSON)
    missing = client_for(world.admin_b).get(API, {"org": 999999}, **JSON)
    assert other.status_code == missing.status_code == 400
    assert other.json()["error"]["fields"]["org"] == [
        {"code": "does_not_exist", "message": f"单位“{world.a.org.pk}”不存在。"}]
    assert client_for(world.admin_b).get(API, {"org": "甲"}, **JSON).json()["error"]["fields"]["org"][0]["code"] == (
        "incorrect_type")
    bad = client_for(world.head_a).get(API, {"idle_months": "0"}, **JSON)
    assert bad.status_code == 400 and bad.json()["error"]["fields"]["idle_months"][0]["message"] == (
        "闲置月数必须在 1 到 120 之间。")
    assert client_for(world.teacher_a).get(API, **JSON).status_code == 403
    assert client_for(None).get(API, **JSON).status_code in (401, 403)
    assert client_for(world.admin_b).get(API, **JSON).json()["totals"]["value"] == "99999.00"


def test_api_card_figures(world, register, repair_source, client_for):
    register.add_repairs()
    url = f"/api/assets/assets/{register.c2.pk}/analytics/"
    data = client_for(world.head_a).get(url, **JSON).json()
    assert (data["age_months"], data["life_used"], data["past_life"], data["repairs"], data["repair_cost"]) == (
        84, "1.1667", True, 2, "3500.00")
    assert data["replace_suggested"] and data["reasons"] == ["已超过使用年限，累计维修费用达原值的58.3%"]
    assert client_for(world.admin_b).get(url, **JSON).status_code == 404
    assert client_for(world.bureau_admin).get(url, **JSON).status_code == 200


def test_api_schema_has_no_warnings():
    from houqin.core.management.commands.apischema import generate_schema

    text, problems = generate_schema()
    assert not [p for p in problems if "analytics" in p.lower() or "Analytics" in p], problems
    assert "/api/assets/analytics/" in text and "/api/assets/assets/{id}/analytics/" in text


# --- Query counts -----------------------------------------------------------------------------------------------------
def grow_register(world, n: int):
    """``n`` more cards, a third of them idle (with an event) and a tenth repaired twice."""
    bulk_assets(world.a, n)
    cards = list(Asset.objects.filter(org=world.a.org, name__startswith="批量资产").order_by("pk"))
    today = timezone.localdate()
    for i, card in enumerate(cards):
        if i % 3 == 0:
            set_status(card, AssetStatus.IDLE, since=add_months(today, -(i % 20) - 1))
        if i % 10 == 0:
            repair(card, "100.00", add_months(today, -1))
            repair(card, "2600.00", add_months(today, -2))


def _counts(world, client_for):
    from houqin.assets import analytics_summary

    client = client_for(world.bureau_admin)
    card = Asset.objects.filter(org=world.a.org).order_by("pk").first()
    analytics_summary._flush()  # as if the writes above had committed (PostgreSQL marks schools at the commit)
    client.get(PAGE, {"org": world.bureau.pk})
    analytics_summary.mark_changed(None)  # every school's kept figures out of date: all recomputed
    analytics_summary._flush()
    recomputed = captured_queries(client, PAGE, {"org": world.bureau.pk})
    return {
        "page_recomputing": recomputed,
        "page": captured_queries(client, PAGE, {"org": world.bureau.pk}),  # the kept figures
        "export": captured_queries(client, PAGE, {"org": world.bureau.pk, "export": "xlsx"}),
        "api": captured_queries(client, API, {"org": world.bureau.pk}, **JSON),
        "card": captured_queries(client, reverse("assets:analytics_card", args=[card.pk]), HTTP_HX_REQUEST="true"),
        "card_api": captured_queries(client, f"/api/assets/assets/{card.pk}/analytics/", **JSON),
    }


@pytest.mark.parametrize("with_source", [False, True], ids=["no-repair-source", "repair-source"])
def test_query_count_does_not_grow_with_the_register(world, client_for, with_source, monkeypatch):
    from houqin.assets import analytics_summary

    monkeypatch.setattr(analytics_summary, "SYNC_SECONDS", 3600)  # every out-of-date school recomputed in the view
    analytics.register_repair_source(fake_repairs if with_source else None)
    grow_register(world, 10)
    small = _counts(world, client_for)
    grow_register(world, 190)
    big = _counts(world, client_for)
    assert Asset.objects.filter(org=world.a.org).count() == 200
    for name in small:
        assert len(small[name]) == len(big[name]), (
            f"{name}: {len(small[name])} → {len(big[name])} queries\n    {describe_difference(small[name], big[name])}")
    assert len(big["page"]) <= 30 and len(big["card"]) <= 8
