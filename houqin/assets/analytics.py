"""Analytics of the asset register (资产分析): age profile, idle rate, value per pupil, status mix, funding and
acquisition year, repairs and replacement suggestions — for one school or a county (all schools of a bureau).

Every figure is an aggregate query (GROUP BY in the database); Python only walks the grouped rows (a few per band,
category, department, school or year), never the cards, so a county with a million cards costs the same dozen
queries as a school with ten. The definitions and formulas are in docs/assets-analytics.md.

**Repairs** come from the repairs app through one seam, ``register_repair_source(func)``:

    func(org_ids: list[int], since: datetime.date | None) -> QuerySet

The queryset holds one row per repair (a completed work order about a card) of the schools ``org_ids`` done on or
after ``since`` (all of them when ``None``). Its rows must expose, as fields or annotations:

* ``asset`` — a foreign key to ``assets.Asset`` (rows without a card are ignored);
* ``cost`` — the repair's cost in yuan (Decimal: materials + labour + outside contractor);
* ``repaired_on`` — the date the repair was done (a DateField or a ``TruncDate`` annotation).

The analytics only ever group and sum that queryset (``values(...).annotate(Count, Sum)``), so the source stays
aggregate-only and the work orders are never loaded. Until a source is registered the repair figures are absent
(``None``) and the pages say so.
"""

from __future__ import annotations

import bisect
import datetime
import heapq
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import (
    Case,
    Count,
    DateField,
    DecimalField,
    ExpressionWrapper,
    F,
    IntegerField,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, ExtractMonth, ExtractYear
from django.utils import timezone

from houqin.assets.choices import OFF_BOOK_STATUSES, AssetClass, AssetStatus
from houqin.assets.depreciation import month_number, month_start

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
RATIO = Decimal("0.0001")
PERM = "assets.view_asset"

# --- Rules and their reasons -----------------------------------------------------------------------------------------
# Age bands (years since the month of acquisition), as (from, to) in months.
AGE_BANDS: tuple[tuple[int, int | None, str], ...] = (
    (0, 12, "不满1年"),
    (12, 36, "1–3年"),
    (36, 60, "3–5年"),
    (60, 96, "5–8年"),
    (96, 120, "8–10年"),
    (120, None, "10年以上"),
)

# A card counts as long idle when it has stood 闲置 for at least this many months (the page lets the user change it).
# Six months: a term and a summer holiday without use — the point at which a school should lend, transfer or
# dispose of it rather than keep it (行政事业性国有资产管理条例 calls for putting idle assets to use, 盘活闲置资产).
DEFAULT_IDLE_MONTHS = 6
MAX_IDLE_MONTHS = 120

# Replacement suggestion (更换建议), two rules, either suffices:
# 1. The card is past its useful life AND its repairs have cost at least half its original value: a fully
#    depreciated item whose upkeep has reached half the price of a new one is cheaper to replace than to keep
#    repairing (the “维修费用超过原值 50%” test many schools and equipment managers use; practice, not law).
REPLACE_COST_RATIO = Decimal("0.50")
# 2. At least 3 repairs in the last 12 months, whatever its age: an item that fails every term is unreliable in
#    class and costs labour each time (practice).
REPLACE_RECENT_REPAIRS = 3
REPLACE_RECENT_MONTHS = 12

# Teaching equipment (教学仪器设备) for the value-per-pupil indicator: the 通用设备 (2) and 专用设备 (3) classes of
# GB/T 14885, less what serves no teaching — vehicles, canteen machines, the infirmary's and the safety equipment.
# Buildings, furniture, books and heritage items are not equipment; 低值易耗品 are not counted (the indicator is a
# value of fixed assets).
TEACHING_EQUIPMENT_ROOTS = ("2000000", "3000000")
TEACHING_EQUIPMENT_EXCLUDED = {
    "2030000": "车辆",
    "3140000": "食品加工专用设备",
    "3220000": "医疗设备",
    "3240000": "安全生产设备",
}
# 生均教学仪器设备值 of 《县域义务教育优质均衡发展督导评估办法》(教督〔2017〕6号): 小学 ≥ 2,000 元, 初中 ≥ 2,500 元.
PER_PUPIL_BENCHMARK = {"primary": Decimal("2000"), "middle": Decimal("2500")}
PER_PUPIL_BASIS = ("依据：《县域义务教育优质均衡发展督导评估办法》（教督〔2017〕6号）：生均教学仪器设备值"
                   "小学2000元以上、初中2500元以上")

TOP_ROWS = 50  # rows of a card list (long idle, repairs per card, suggestions) and of the per-model table
NO_DEPARTMENT = "（未指定部门）"
NO_FUNDING = "（未填写）"
NO_MODEL = "（未填写品牌型号）"
NO_REPAIR_DATA = "暂无维修数据（报修维修模块启用后自动统计）"


# --- The repair seam -------------------------------------------------------------------------------------------------
RepairSource = Callable[[Sequence[int], "datetime.date | None"], QuerySet]
_repair_source: RepairSource | None = None


def register_repair_source(func: RepairSource | None) -> RepairSource | None:
    """Make ``func`` the source of repair figures (see the module docstring); ``None`` removes it. Returns ``func``,
    so it may be used as a decorator. The repairs app calls it from its ``AppConfig.ready()``."""
    global _repair_source
    _repair_source = func
    return func


def repair_source() -> RepairSource | None:
    return _repair_source


def repair_rows(org_ids: Sequence[int], since: datetime.date | None = None, *, on_book_only: bool = True):
    """The registered source's repairs of cards of ``org_ids`` (by default only of cards still on the books), or
    None without a source."""
    if _repair_source is None:
        return None
    ids = sorted(org_ids)
    rows = _repair_source(ids, since).filter(asset__isnull=False, asset__org_id__in=ids)
    if on_book_only:
        rows = rows.filter(asset__disposed_on__isnull=True).exclude(asset__status__in=OFF_BOOK_STATUSES)
    return rows


# --- Helpers ----------------------------------------------------------------------------------------------------------
def add_months(day: datetime.date, months: int) -> datetime.date:
    """``day`` moved by ``months`` (negative: back), the day clamped to the month's length."""
    first = month_start(month_number(day) + months)
    following = month_start(month_number(first) + 1)
    return first.replace(day=min(day.day, (following - datetime.timedelta(days=1)).day))


def ratio(part, whole) -> Decimal | None:
    """``part / whole`` to four places (0.1234 = 12.34 %), None when ``whole`` is zero or missing."""
    if not whole:
        return None
    return (Decimal(part or 0) / Decimal(whole)).quantize(RATIO, rounding=ROUND_HALF_UP)


def per_head(value, heads) -> Decimal | None:
    if not heads:
        return None
    return (Decimal(value or 0) / Decimal(heads)).quantize(CENT, rounding=ROUND_HALF_UP)


def money(value) -> Decimal:
    return Decimal(value or 0).quantize(CENT, rounding=ROUND_HALF_UP)


def age_months(acquired_on: datetime.date, today: datetime.date) -> int:
    """Whole months since the month of acquisition (0 in that month)."""
    return max(0, month_number(today) - month_number(acquired_on))


def age_display(months: int) -> str:
    years, rest = divmod(months, 12)
    if not years:
        return f"{rest}个月"
    return f"{years}年{rest}个月" if rest else f"{years}年"


def is_past_life(months: int, life_years: int | None) -> bool:
    return bool(life_years) and months >= life_years * 12


def replacement_reasons(*, past_life: bool, cost, value, recent_repairs: int) -> list[str]:
    """Why a card should be replaced (empty: it should not). The same rule as ``suggestion_filter`` in SQL."""
    reasons = []
    share = ratio(cost, value)
    if past_life and cost and (not value or Decimal(cost) >= Decimal(value) * REPLACE_COST_RATIO):
        reasons.append(f"已超过使用年限，累计维修费用达原值的{percent(share)}")
    if recent_repairs >= REPLACE_RECENT_REPAIRS:
        reasons.append(f"近{REPLACE_RECENT_MONTHS}个月维修{recent_repairs}次")
    return reasons


def percent(value: Decimal | None, places: int = 1) -> str:
    if value is None:
        return "—"
    return f"{(value * 100).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)}%"


def category_group(path: str) -> str:
    """The 大类 code of a category path (its second level), or the 门类 for a card filed at the top."""
    parts = [p for p in (path or "").split("/") if p]
    return parts[min(len(parts), 2) - 1] if parts else ""


def on_book(queryset):
    """Cards on the books (账面): not written off and not in an off-book status."""
    return queryset.filter(disposed_on__isnull=True).exclude(status__in=OFF_BOOK_STATUSES)


def _life_end(prefix: str = ""):
    """Month number (``month_number``) in which a card's useful life is over: acquisition month + life × 12."""
    return ExpressionWrapper(ExtractYear(f"{prefix}acquired_on") * 12 + ExtractMonth(f"{prefix}acquired_on") - 1
                             + F(f"{prefix}useful_life_years") * 12, output_field=IntegerField())


def _band_expression(today: datetime.date):
    current = month_number(today)
    whens = [When(acquired_on__gte=month_start(current - high + 1), then=Value(index))
             for index, (_low, high, _label) in enumerate(AGE_BANDS) if high is not None]
    return Case(*whens, default=Value(len(AGE_BANDS) - 1), output_field=IntegerField())


def _value_sum(q: Q | None = None):
    return Coalesce(Sum("original_value", filter=q), Value(ZERO),
                    output_field=DecimalField(max_digits=18, decimal_places=2))


# --- Scope: one school, or a county ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scope:
    """What a report covers: one school, or a bureau's schools the user may view (a county)."""

    org: object  # the school, or the bureau
    schools: tuple = ()

    @property
    def is_county(self) -> bool:
        return self.org.is_bureau

    @property
    def org_ids(self) -> list[int]:
        return [s.pk for s in self.schools]

    @property
    def key(self) -> str:
        return str(self.org.pk)

    @property
    def label(self) -> str:
        if self.is_county:
            return f"{self.org.name}（全部 {len(self.schools)} 所学校）"
        return self.org.name


def scopes_for(user) -> list[Scope]:
    """The scopes ``user`` may report on: each school where they may view cards, and each bureau where they may view
    cards (the county: its active schools). One query."""
    from houqin.core.auth import access_for
    from houqin.core.models import Organization

    orgs = Organization.objects.filter(is_active=True)
    if not user.is_superuser:
        orgs = orgs.filter(pk__in=sorted(access_for(user).orgs_for(PERM)))
    orgs = list(orgs.order_by("name"))
    schools = [o for o in orgs if not o.is_bureau]
    counties = []
    for bureau in (o for o in orgs if o.is_bureau):
        members = tuple(s for s in schools if s.parent_id == bureau.pk)
        if members:
            counties.append(Scope(bureau, members))
    return [*counties, *(Scope(s, (s,)) for s in schools)]


def pick_scope(scopes: list[Scope], raw, current=None) -> Scope | None:
    """The scope named by ``raw`` (an organisation id), else the current organisation's, else the first."""
    by_key = {s.key: s for s in scopes}
    chosen = by_key.get(str(raw or "").strip())
    if chosen is None and current is not None:
        chosen = by_key.get(str(current.pk))
    return chosen or (scopes[0] if scopes else None)


# --- Report rows ------------------------------------------------------------------------------------------------------
@dataclass
class Totals:
    cards: int = 0
    value: Decimal = ZERO
    idle_cards: int = 0
    idle_value: Decimal = ZERO
    life_cards: int = 0  # cards with a useful life (depreciated fixed assets)
    life_value: Decimal = ZERO
    past_life_cards: int = 0
    past_life_value: Decimal = ZERO
    teaching_value: Decimal = ZERO
    pupils: int = 0  # pupils of the schools counted in the per-pupil figures (those with a pupil count)
    per_pupil_value: Decimal = ZERO  # value of the schools with a pupil count
    per_pupil_teaching_value: Decimal = ZERO
    off_book_cards: int = 0
    off_book_value: Decimal = ZERO

    @property
    def idle_rate(self):
        return ratio(self.idle_value, self.value)

    @property
    def past_life_share(self):
        return ratio(self.past_life_value, self.life_value)

    @property
    def past_life_card_share(self):
        return ratio(self.past_life_cards, self.life_cards)

    @property
    def value_per_pupil(self):
        return per_head(self.per_pupil_value, self.pupils)

    @property
    def teaching_per_pupil(self):
        return per_head(self.per_pupil_teaching_value, self.pupils)


@dataclass
class BandRow:
    band: int
    label: str
    cards: int = 0
    value: Decimal = ZERO
    life_value: Decimal = ZERO
    past_life_cards: int = 0
    past_life_value: Decimal = ZERO
    share: Decimal | None = None  # of the total value

    @property
    def within_life_value(self) -> Decimal:
        return self.value - self.past_life_value


@dataclass
class CategoryRow:
    code: str
    name: str = ""
    cards: int = 0
    value: Decimal = ZERO
    idle_cards: int = 0
    idle_value: Decimal = ZERO
    life_cards: int = 0
    life_value: Decimal = ZERO
    past_life_cards: int = 0
    past_life_value: Decimal = ZERO
    band_values: list = field(default_factory=lambda: [ZERO] * len(AGE_BANDS))
    band_cards: list = field(default_factory=lambda: [0] * len(AGE_BANDS))

    @property
    def label(self) -> str:
        return f"{self.code} {self.name}".strip()

    @property
    def idle_rate(self):
        return ratio(self.idle_value, self.value)

    @property
    def past_life_share(self):
        return ratio(self.past_life_value, self.life_value)


@dataclass
class DepartmentRow:
    school: str
    department: str
    cards: int = 0
    value: Decimal = ZERO
    idle_cards: int = 0
    idle_value: Decimal = ZERO

    @property
    def idle_rate(self):
        return ratio(self.idle_value, self.value)


@dataclass
class IdleCard:
    id: int
    number: str
    name: str
    school: str
    department: str
    idle_since: datetime.date | None
    idle_months: int
    value: Decimal


@dataclass
class LongIdle:
    months: int
    cutoff: datetime.date
    cards: int = 0
    value: Decimal = ZERO
    rows: list = field(default_factory=list)


@dataclass
class SchoolRow:
    id: int
    name: str
    kind: str
    kind_label: str
    pupils: int
    cards: int = 0
    value: Decimal = ZERO
    teaching_value: Decimal = ZERO
    rank: int | None = None

    @property
    def value_per_pupil(self):
        return per_head(self.value, self.pupils)

    @property
    def teaching_per_pupil(self):
        return per_head(self.teaching_value, self.pupils)

    @property
    def benchmark(self) -> Decimal | None:
        return PER_PUPIL_BENCHMARK.get(self.kind)

    @property
    def meets_benchmark(self) -> bool | None:
        per = self.teaching_per_pupil
        if self.benchmark is None or per is None:
            return None
        return per >= self.benchmark


@dataclass
class StatusRow:
    status: str
    label: str
    cards: int = 0
    value: Decimal = ZERO
    share: Decimal | None = None


@dataclass
class AmountRow:
    label: str
    cards: int = 0
    value: Decimal = ZERO
    share: Decimal | None = None


@dataclass
class RepairTotals:
    repairs: int = 0
    recent_repairs: int = 0
    cost: Decimal = ZERO
    cards: int = 0  # cards repaired at least once
    value: Decimal = ZERO  # value on the books (the denominator)

    @property
    def cost_ratio(self):
        return ratio(self.cost, self.value)


@dataclass
class RepairGroupRow:
    label: str
    cards_repaired: int = 0
    repairs: int = 0
    recent_repairs: int = 0
    cost: Decimal = ZERO
    cards: int = 0  # cards of the group on the books
    value: Decimal = ZERO  # their original value
    key: tuple = ()  # (brand, model) for a row per model

    @property
    def cost_ratio(self):
        return ratio(self.cost, self.value)

    @property
    def repairs_per_card(self):
        return ratio(self.repairs, self.cards)


@dataclass
class RepairCardRow:
    id: int
    number: str
    name: str
    school: str
    brand_model: str
    acquired_on: datetime.date
    age_months: int
    life_years: int | None
    value: Decimal
    repairs: int
    recent_repairs: int
    cost: Decimal
    reasons: list = field(default_factory=list)

    @property
    def cost_ratio(self):
        return ratio(self.cost, self.value)

    @property
    def age_display(self) -> str:
        return age_display(self.age_months)

    @property
    def past_life(self) -> bool:
        return is_past_life(self.age_months, self.life_years)

    @property
    def reasons_display(self) -> str:
        return "；".join(self.reasons)


@dataclass
class Repairs:
    totals: RepairTotals
    by_category: list
    by_model: list
    by_card: list
    suggestions: list
    suggestion_count: int = 0


@dataclass
class Report:
    scope: Scope
    today: datetime.date
    totals: Totals
    bands: list
    categories: list
    departments: list
    long_idle: LongIdle
    schools: list
    statuses: list
    funding: list
    years: list
    funding_by_year: dict
    repairs: Repairs | None
    computed_at: datetime.datetime | None = None  # when the oldest school summary was computed (None: just now)
    outdated: list = field(default_factory=list)  # schools whose figures are older than their data (names)

    @property
    def has_repair_source(self) -> bool:
        return self.repairs is not None


# --- The report -------------------------------------------------------------------------------------------------------
# The report is assembled from one *summary* per school: the school's aggregates as of a day (a JSON-ready dict,
# ``compute_summaries``). The county adds up its schools' summaries, so what a report costs grows with the number
# of schools, not of cards. houqin.assets.analytics_summary keeps them (table ``AnalyticsSummary``) and recomputes
# a school's when its cards changed or the day did; ``build_report(..., live=True)`` (or a ``today`` other than the
# current date) computes them from the cards for this report only.
SUMMARY_VERSION = 3  # raise when the summary's layout or a definition changes: kept summaries are then recomputed


def build_report(scope: Scope, *, today: datetime.date | None = None, idle_months: int = DEFAULT_IDLE_MONTHS,
                 live: bool = False) -> Report:
    """Every figure of the analytics page for ``scope``, as of ``today``: the schools' kept summaries (recomputed
    when out of date, see analytics_summary) plus the repair figures. A constant number of queries while the
    summaries are current."""
    from houqin.assets import analytics_summary

    current_day = timezone.localdate()
    today = today or current_day
    idle_months = max(1, min(int(idle_months), MAX_IDLE_MONTHS))
    org_ids = scope.org_ids
    if live or today != current_day:
        summaries, state = compute_summaries(org_ids, today), analytics_summary.State(live=True)
    else:
        summaries, state = analytics_summary.summaries_for(org_ids, today)
    report = assemble_report(scope, today, idle_months, summaries)
    report.computed_at, report.outdated = state.computed_at, [
        s.short_name or s.name for s in scope.schools if s.pk in state.outdated]
    return report


def _is_teaching(path: str, asset_class: str) -> bool:
    """A fixed asset (固定资产, not 低值易耗品) of the teaching-equipment classes."""
    if asset_class != AssetClass.FIXED:
        return False
    if not any(path.startswith(f"/{root}/") for root in TEACHING_EQUIPMENT_ROOTS):
        return False
    return not any(path.startswith(f"/{code[0]}000000/{code}/") for code in TEACHING_EQUIPMENT_EXCLUDED)


MAX_LIFE_YEARS = 150  # longer useful lives end before 1876: no card acquired since can be past one


def _life_end_expression(today: datetime.date):
    """The first day of the month after a card's useful life ends (``acquired_on`` before it: past its life), as a
    CASE over the useful life (NULL without one) — a plain date comparison, no date function per row."""
    current = month_number(today)
    whens = [When(useful_life_years=life, then=Value(month_start(current - life * 12 + 1)))
             for life in range(1, MAX_LIFE_YEARS + 1) if current - life * 12 + 1 >= 12]
    return Case(*whens, default=Value(None), output_field=DateField())


def _year_expression(first: datetime.date, last: datetime.date):
    """The acquisition year as comparisons with 1 January of each year between ``first`` and ``last``."""
    whens = [When(acquired_on__lt=datetime.date(year + 1, 1, 1), then=Value(year))
             for year in range(first.year, last.year)]
    return Case(*whens, default=Value(last.year), output_field=IntegerField()) if whens else Value(last.year)


def _empty_summary() -> dict:
    return {"v": SUMMARY_VERSION, "bc": [], "teaching": "0.00", "dept": [], "status": [], "yf": [], "idle": [],
            "idle_top": []}


def compute_summaries(org_ids: Sequence[int], today: datetime.date) -> dict[int, dict]:
    """Each school's aggregates as of ``today``, from its cards (one scan per kind of figure for all the schools
    together, grouped by school; no date function per row). Amounts are decimal strings, dates ISO strings:

    * ``bc`` — per age band and 大类: ``[band, code, cards, value, idle_cards, idle_value, life_cards, life_value,
      past_cards, past_value]`` (cards on the books); ``teaching`` — value of the teaching equipment;
    * ``dept`` — ``[department_id, name, cards, value, idle_cards, idle_value]``; ``status`` — ``[status, cards,
      value]`` (all cards); ``yf`` — ``[year, funding source, cards, value]``;
    * ``idle`` — idle cards ``[k, cards, value]``: long idle for a threshold of 1 … k months; ``idle_top`` — the
      ``TOP_ROWS`` longest idle ``[day, id, number, name, department, value]``.
    """
    from houqin.assets.models import Asset, AssetEvent

    ids = sorted(set(org_ids))
    result = {pk: _empty_summary() for pk in ids}
    if not ids:
        return result
    cards = Asset.objects.filter(org_id__in=ids)
    books = on_book(cards)

    def s(value) -> str:
        return str(money(value))

    # One pass over the cards on the books, grouped by every dimension of the figures below (a few hundred groups
    # per school): age band × 大类 (with idle, useful life, past it, teaching equipment) and department.
    past = Case(When(acquired_on__lt=_life_end_expression(today), then=Value(1)), default=Value(0),
                output_field=IntegerField())
    merged: dict[tuple, list] = {}
    departments: dict[tuple, list] = {}
    teaching: dict[int, Decimal] = defaultdict(Decimal)
    for row in (books.annotate(band=_band_expression(today), past=past)
                .values("org_id", "band", "category__path", "asset_class", "department_id", "department__name",
                        "status", "useful_life_years", "past")
                .annotate(cards=Count("pk"), value=_value_sum()).order_by()):
        org_id, n, value = row["org_id"], row["cards"], money(row["value"])
        path = row["category__path"] or ""
        idle = row["status"] == AssetStatus.IDLE
        sums = merged.setdefault((org_id, row["band"], category_group(path)), [0, ZERO, 0, ZERO, 0, ZERO, 0, ZERO])
        dept = departments.setdefault((org_id, row["department_id"] is None, row["department_id"] or 0),
                                      [row["department_id"], row["department__name"] or NO_DEPARTMENT, 0, ZERO, 0,
                                       ZERO])
        sums[0] += n
        sums[1] += value
        dept[2] += n
        dept[3] += value
        if idle:
            sums[2] += n
            sums[3] += value
            dept[4] += n
            dept[5] += value
        if row["useful_life_years"] is not None:
            sums[4] += n
            sums[5] += value
            if row["past"]:
                sums[6] += n
                sums[7] += value
        if _is_teaching(path, row["asset_class"]):
            teaching[org_id] += value
    for (org_id, band, code), sums in sorted(merged.items()):
        result[org_id]["bc"].append([band, code, *(s(v) if isinstance(v, Decimal) else v for v in sums)])
    for org_id, value in teaching.items():
        result[org_id]["teaching"] = s(value)
    for (org_id, _none, _pk), (dept_id, name, n, value, idle_n, idle_value) in sorted(departments.items()):
        result[org_id]["dept"].append([dept_id, name, n, s(value), idle_n, s(idle_value)])

    # Status mix (all cards, including those written off).
    for row in cards.values("org_id", "status").annotate(cards=Count("pk"), value=_value_sum()).order_by():
        result[row["org_id"]]["status"].append([row["status"], row["cards"], s(row["value"])])

    # Acquisition year × funding source.
    span = cards.aggregate(first=Min("acquired_on"), last=Max("acquired_on"))  # covered by an index
    yf: dict[tuple, list] = {}
    for row in (books.annotate(year=_year_expression(span["first"] or today, span["last"] or today))
                .values("org_id", "year", "funding_source").annotate(cards=Count("pk"), value=_value_sum())
                .order_by()):
        key = (row["org_id"], int(row["year"]), (row["funding_source"] or "").strip() or NO_FUNDING)
        sums = yf.setdefault(key, [0, ZERO])
        sums[0] += row["cards"]
        sums[1] += money(row["value"])
    for (org_id, year, source), (n, value) in sorted(yf.items()):
        result[org_id]["yf"].append([year, source, n, s(value)])

    # Idle cards: since when (the last event that made them 闲置, else registration, else acquisition).
    last_idle = (AssetEvent.objects.filter(asset=OuterRef("pk"), status_after=AssetStatus.IDLE)
                 .order_by("-time", "-pk").values("time")[:1])
    idle_cards: dict[int, list] = defaultdict(list)
    for row in (books.filter(status=AssetStatus.IDLE).annotate(idle_at=Subquery(last_idle))
                .values("pk", "number", "name", "org_id", "department__name", "idle_at", "registered_on",
                        "acquired_on", "original_value").order_by()):
        since = (timezone.localtime(row["idle_at"]).date() if row["idle_at"]
                 else row["registered_on"] or row["acquired_on"])
        idle_cards[row["org_id"]].append((since, row["pk"], row["number"], row["name"],
                                          row["department__name"] or NO_DEPARTMENT, money(row["original_value"])))
    # Long idle for every threshold the page offers: k = the largest N (months) with "idle since" before
    # today − N months; the card counts as long idle for N = 1 … k.
    cutoffs = [add_months(today, -n).isoformat() for n in range(MAX_IDLE_MONTHS, 0, -1)]  # ascending dates
    for org_id, rows in idle_cards.items():
        rows.sort(key=lambda r: (r[0], r[1]))
        per_k: dict[int, list] = {}
        for row in rows:
            k = len(cutoffs) - bisect.bisect_right(cutoffs, row[0].isoformat())  # cutoffs after the day
            if k:
                sums = per_k.setdefault(k, [0, ZERO])
                sums[0] += 1
                sums[1] += row[5]
        result[org_id]["idle"] = [[k, n, s(value)] for k, (n, value) in sorted(per_k.items())]
        result[org_id]["idle_top"] = [[r[0].isoformat(), r[1], r[2], r[3], r[4], s(r[5])] for r in rows[:TOP_ROWS]]
    return result


def assemble_report(scope: Scope, today: datetime.date, idle_months: int, summaries: dict[int, dict]) -> Report:
    """The report of ``scope`` from its schools' summaries (``compute_summaries``), plus the repair figures."""
    D = Decimal
    org_ids = scope.org_ids
    school_names = {s.pk: (s.short_name or s.name) for s in scope.schools}
    totals = Totals()
    bands = [BandRow(i, label) for i, (_low, _high, label) in enumerate(AGE_BANDS)]
    categories: dict[str, CategoryRow] = {}
    schools = {s.pk: SchoolRow(s.pk, s.name, s.kind, s.get_kind_display(), s.pupil_count) for s in scope.schools}
    departments = []
    statuses = {s: StatusRow(s, label) for s, label in AssetStatus.choices}
    funding: dict[str, AmountRow] = {}
    years: dict[int, AmountRow] = {}
    matrix: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
    cutoff = add_months(today, -idle_months)
    long_idle = LongIdle(idle_months, cutoff)
    cutoff_day = cutoff.isoformat()
    idle_top = []

    for org_id in org_ids:
        data = summaries.get(org_id) or _empty_summary()
        school = schools[org_id]
        # 1. Age band × category.
        for band_no, code, cards, value, idle_cards, idle_value, life_cards, life_value, past_cards, past_value in (
                data["bc"]):
            value, idle_value, life_value, past_value = D(value), D(idle_value), D(life_value), D(past_value)
            cat = categories.setdefault(code, CategoryRow(code))
            band = bands[band_no]
            for target in (cat, totals):
                target.cards += cards
                target.value += value
                target.idle_cards += idle_cards
                target.idle_value += idle_value
                target.life_cards += life_cards
                target.life_value += life_value
                target.past_life_cards += past_cards
                target.past_life_value += past_value
            cat.band_values[band_no] += value
            cat.band_cards[band_no] += cards
            band.cards += cards
            band.value += value
            band.life_value += life_value
            band.past_life_cards += past_cards
            band.past_life_value += past_value
            school.cards += cards
            school.value += value
        # 2. Per school: teaching equipment.
        school.teaching_value = D(data["teaching"])
        # 3. Per department.
        for _dept_id, name, cards, value, idle_cards, idle_value in data["dept"]:
            departments.append(DepartmentRow(school_names.get(org_id, ""), name, cards, D(value), idle_cards,
                                             D(idle_value)))
        # 4. Long idle: idle since before the cutoff (count and value; the longest idle of each school).
        for k, cards, value in data["idle"]:
            if k >= idle_months:
                long_idle.cards += cards
                long_idle.value += D(value)
        idle_top.append(data["idle_top"])
        # 5. Status mix.
        for status, cards, value in data["status"]:
            if status in statuses:
                statuses[status].cards += cards
                statuses[status].value += D(value)
        # 6. Funding source × acquisition year.
        for year, source, cards, value in data["yf"]:
            value = D(value)
            for target in (funding.setdefault(source, AmountRow(source)), years.setdefault(year, AmountRow(str(year)))):
                target.cards += cards
                target.value += value
            matrix[(year, source)] += value

    for band in bands:
        band.share = ratio(band.value, totals.value)
    for school in schools.values():
        totals.teaching_value += school.teaching_value
        if school.pupils:
            totals.pupils += school.pupils
            totals.per_pupil_value += school.value
            totals.per_pupil_teaching_value += school.teaching_value
    ranked = sorted(schools.values(), key=lambda s: (s.teaching_per_pupil is None, -(s.teaching_per_pupil or 0),
                                                     s.name))
    for rank, school in enumerate(ranked, 1):
        school.rank = rank if school.teaching_per_pupil is not None else None
    departments.sort(key=lambda d: (-(d.idle_rate or 0), -d.idle_value, d.school, d.department))
    # Each school's list runs from the longest idle: merge them and stop at the cutoff or at TOP_ROWS cards.
    def tagged(rows, org_id):
        for row in rows:
            yield (*row, org_id)

    top = heapq.merge(*[tagged(rows, org_id) for org_id, rows in zip(org_ids, idle_top, strict=True)],
                      key=lambda r: (r[0], r[1]))
    for day, pk, number, name, department, value, org_id in top:
        if day >= cutoff_day or len(long_idle.rows) >= TOP_ROWS:
            break
        since = datetime.date.fromisoformat(day)
        long_idle.rows.append(IdleCard(pk, number, name, school_names.get(org_id, ""), department, since,
                                       age_months(since, today), D(value)))
    off_book = [statuses[s] for s in OFF_BOOK_STATUSES]
    totals.off_book_cards = sum(s.cards for s in off_book)
    totals.off_book_value = sum((s.value for s in off_book), ZERO)
    all_value = sum((s.value for s in statuses.values()), ZERO)
    for row in statuses.values():
        row.share = ratio(row.value, all_value)
    funding_rows = sorted(funding.values(), key=lambda r: (-r.value, r.label))
    year_rows = [years[y] for y in sorted(years)]
    for row in (*funding_rows, *year_rows):
        row.share = ratio(row.value, totals.value)
    funding_by_year = {
        "years": [str(y) for y in sorted(years)],
        "sources": [r.label for r in funding_rows],
        "values": [[matrix.get((y, r.label), ZERO) for y in sorted(years)] for r in funding_rows],
    }

    # 7. Repairs (when the repairs app provides them): live, a few grouped queries on the repairs.
    repairs = _repairs(org_ids, today, categories, school_names)

    _name_categories(categories.values(), org_ids, repairs)
    category_rows = sorted(categories.values(), key=lambda c: c.code)
    return Report(scope, today, totals, bands, category_rows, departments, long_idle,
                  sorted(schools.values(), key=lambda s: (s.rank is None, s.rank or 0, s.name)),
                  list(statuses.values()), funding_rows, year_rows, funding_by_year, repairs)


def _repair_aggregates(recent_since: datetime.date) -> dict:
    return {
        "repairs": Count("pk"),
        "recent": Count("pk", filter=Q(repaired_on__gte=recent_since)),
        "repair_cost": Coalesce(Sum("cost"), Value(ZERO), output_field=DecimalField(max_digits=18, decimal_places=2)),
    }


def suggestion_filter(today: datetime.date) -> Q:
    """The replacement rule (``replacement_reasons``) as a HAVING condition on repairs grouped per card."""
    return (Q(recent__gte=REPLACE_RECENT_REPAIRS)
            | Q(life_end__lte=month_number(today), repair_cost__gt=0,
                repair_cost__gte=F("asset__original_value") * REPLACE_COST_RATIO))


def _repairs(org_ids, today: datetime.date, categories: dict, school_names: dict) -> Repairs | None:
    from houqin.assets.models import Asset

    rows = repair_rows(org_ids)
    if rows is None:
        return None
    recent_since = add_months(today, -REPLACE_RECENT_MONTHS)
    aggs = _repair_aggregates(recent_since)

    totals = RepairTotals(value=sum((c.value for c in categories.values()), ZERO))
    by_category: dict[str, RepairGroupRow] = {}
    for row in (rows.values("asset__category__path")
                .annotate(cards_repaired=Count("asset", distinct=True), **aggs).order_by()):
        code = category_group(row["asset__category__path"])
        group = by_category.setdefault(code, RepairGroupRow(code))
        group.cards_repaired += row["cards_repaired"]  # a card has one category: no double counting
        group.repairs += row["repairs"]
        group.recent_repairs += row["recent"]
        group.cost += money(row["repair_cost"])
    for code, group in by_category.items():
        cat = categories.get(code)
        if cat is not None:
            group.cards, group.value = cat.cards, cat.value
        # The totals are the categories' sums (a card has one category: its repairs are counted once).
        totals.repairs += group.repairs
        totals.recent_repairs += group.recent_repairs
        totals.cost += group.cost
        totals.cards += group.cards_repaired
    if not totals.repairs:  # nothing repaired: no model, card or suggestion to group
        return Repairs(totals, sorted(by_category.values(), key=lambda g: g.label), [], [], [], 0)

    by_model = []
    for row in (rows.values("asset__brand", "asset__model")
                .annotate(cards_repaired=Count("asset", distinct=True), **aggs)
                .order_by("-repair_cost", "-repairs", "asset__brand", "asset__model")[:TOP_ROWS]):
        label = " ".join(p for p in (row["asset__brand"], row["asset__model"]) if p) or NO_MODEL
        group = RepairGroupRow(label, row["cards_repaired"], row["repairs"], row["recent"], money(row["repair_cost"]),
                               key=(row["asset__brand"], row["asset__model"]))
        by_model.append(group)
    if by_model:
        pairs = Q()
        for group in by_model:
            pairs |= Q(brand=group.key[0], model=group.key[1])
        values = {(r["brand"], r["model"]): r for r in (
            on_book(Asset.objects.filter(org_id__in=org_ids)).filter(pairs).values("brand", "model")
            .annotate(cards=Count("pk"), value=_value_sum()).order_by())}
        for group in by_model:
            found = values.get(group.key)
            if found:
                group.cards, group.value = found["cards"], money(found["value"])

    card_fields = ("asset_id", "asset__number", "asset__name", "asset__org_id", "asset__brand", "asset__model",
                   "asset__acquired_on", "asset__useful_life_years", "asset__original_value")
    per_card = rows.annotate(life_end=_life_end("asset__")).values(*card_fields, "life_end").annotate(**aggs)

    def card_row(row) -> RepairCardRow:
        months = age_months(row["asset__acquired_on"], today)
        card = RepairCardRow(
            row["asset_id"], row["asset__number"], row["asset__name"], school_names.get(row["asset__org_id"], ""),
            " ".join(p for p in (row["asset__brand"], row["asset__model"]) if p), row["asset__acquired_on"], months,
            row["asset__useful_life_years"], money(row["asset__original_value"]), row["repairs"], row["recent"],
            money(row["repair_cost"]))
        card.reasons = replacement_reasons(past_life=card.past_life, cost=card.cost, value=card.value,
                                           recent_repairs=card.recent_repairs)
        return card

    by_card = [card_row(r) for r in per_card.order_by("-repair_cost", "-repairs", "asset_id")[:TOP_ROWS]]
    suggested = per_card.filter(suggestion_filter(today))
    suggestions = [card_row(r) for r in suggested.order_by("-repair_cost", "-recent", "asset_id")[:TOP_ROWS]]
    return Repairs(totals, sorted(by_category.values(), key=lambda g: g.label), by_model, by_card, suggestions,
                   suggested.count())  # always counted: the number of queries must not depend on the data


def _name_categories(rows, org_ids, repairs: Repairs | None) -> None:
    """Fill in the 大类 names (one query for all the codes on the page)."""
    from houqin.assets.models import AssetCategory

    rows = list(rows)
    codes = {r.code for r in rows} | ({g.label for g in repairs.by_category} if repairs else set())
    if not codes:
        return
    names = {}
    for code, name in (AssetCategory.objects.filter(code__in=sorted(codes))
                       .filter(Q(org__isnull=True) | Q(org_id__in=org_ids)).order_by("-org_id")
                       .values_list("code", "name")):
        names.setdefault(code, name)
    for row in rows:
        row.name = names.get(row.code, "")
    if repairs:
        for group in repairs.by_category:
            group.label = f"{group.label} {names.get(group.label, '')}".strip()


# --- One card ---------------------------------------------------------------------------------------------------------
@dataclass
class CardFigures:
    """The analytics of one card (its page and ``GET /api/assets/assets/{id}/analytics/``)."""

    acquired_on: datetime.date
    age_months: int
    life_years: int | None
    net_value: Decimal
    original_value: Decimal
    depreciation_state: str
    has_repair_source: bool = False
    repairs: int = 0
    recent_repairs: int = 0
    repair_cost: Decimal = ZERO
    reasons: list = field(default_factory=list)

    @property
    def age_display(self) -> str:
        return age_display(self.age_months)

    @property
    def life_used(self) -> Decimal | None:
        """Share of the useful life elapsed (1.0 = the whole life; above 1 = past it)."""
        return ratio(self.age_months, self.life_years * 12) if self.life_years else None

    @property
    def past_life(self) -> bool:
        return is_past_life(self.age_months, self.life_years)

    @property
    def repair_cost_ratio(self) -> Decimal | None:
        return ratio(self.repair_cost, self.original_value) if self.has_repair_source else None

    @property
    def replace_suggested(self) -> bool:
        return bool(self.reasons)

    @property
    def net_share(self) -> Decimal | None:
        return ratio(self.net_value, self.original_value)


def card_figures(asset, today: datetime.date | None = None) -> CardFigures:
    """Age, useful life used, net value, repairs and the replacement suggestion of one card (at most one query: the
    repair aggregate; the card should come with its category and organisation)."""
    today = today or timezone.localdate()
    dep = asset.depreciation(today)
    months = age_months(asset.acquired_on, today)
    figures = CardFigures(asset.acquired_on, months, asset.useful_life_years, dep.net, money(asset.original_value),
                          dep.state)
    rows = repair_rows([asset.org_id], on_book_only=False)
    if rows is not None:
        agg = rows.filter(asset_id=asset.pk).aggregate(**_repair_aggregates(add_months(today, -REPLACE_RECENT_MONTHS)))
        figures.has_repair_source = True
        figures.repairs, figures.recent_repairs = agg["repairs"], agg["recent"]
        figures.repair_cost = money(agg["repair_cost"])
        if asset.is_on_book and asset.status not in OFF_BOOK_STATUSES:
            figures.reasons = replacement_reasons(past_life=figures.past_life, cost=figures.repair_cost,
                                                  value=figures.original_value,
                                                  recent_repairs=figures.recent_repairs)
    return figures


# The kept summaries watch the cards' changes from the moment the analytics are imported (the repairs app imports
# this module in its ready()); houqin.assets.analytics_summary uses the functions above.
from houqin.assets import analytics_summary as _summary  # noqa: E402,F401
