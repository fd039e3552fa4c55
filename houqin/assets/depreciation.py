"""Straight-line monthly depreciation of fixed assets, as government accounting prescribes.

The rules (《政府会计准则第3号——固定资产》, 财会〔2016〕12号, chapter 4 section 1, and its 应用指南, 财会〔2017〕4号;
《政府会计制度——行政事业单位会计科目和报表》, 财会〔2017〕25号, account 1602 固定资产累计折旧):

* Depreciation is charged **monthly**, by the **straight-line** method (年限平均法), with **no residual value**.
* **当月增加的固定资产，当月开始计提折旧；当月减少的固定资产，当月不再计提折旧。** A card acquired in March is
  charged for March; a card disposed of in March is charged up to February. (Enterprise accounting starts the month
  after; a school whose books follow that sets ``assets.depreciation_start`` to ``"next_month"``, see conf.py.)
* Not depreciated: 文物和陈列品, 动植物, 图书和档案, land valued on its own — the category's ``is_depreciable``
  flag — and anything that is not a fixed asset (低值易耗品).
* 固定资产提足折旧后，无论能否继续使用，均不再计提折旧: once fully depreciated the charge is zero and the net value
  stays at zero while the card is in use.
* The useful life is the card's ``useful_life_years``, never below the category's minimum (应用指南 表1).

Amounts are in yuan with two decimals. The monthly charge is ``original value / months`` rounded half up to the
cent; the last month takes whatever remains, so the accumulated depreciation ends exactly at the original value.
Nothing is stored: the figures for any month are computed from the card (a few arithmetic operations), so lists
and the monthly table never wait for a month-end job and never disagree with the cards.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from houqin.assets.choices import AssetClass

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def month_number(day: datetime.date) -> int:
    """Months since year 0, so that consecutive months are consecutive integers."""
    return day.year * 12 + day.month - 1


def month_start(number: int) -> datetime.date:
    return datetime.date(number // 12, number % 12 + 1, 1)


def month_end(day: datetime.date) -> datetime.date:
    return month_start(month_number(day) + 1) - datetime.timedelta(days=1)


def parse_month(text: str | None, default: datetime.date) -> datetime.date:
    """``"2026-03"`` → 2026-03-01; anything unreadable → the first of ``default``'s month."""
    try:
        year, month = (int(p) for p in str(text).split("-")[:2])
        return datetime.date(year, month, 1)
    except (TypeError, ValueError):
        return default.replace(day=1)


def monthly_rate(value: Decimal, total_months: int) -> Decimal:
    return (Decimal(value) / total_months).quantize(CENT, rounding=ROUND_HALF_UP)


def accumulated_after(value: Decimal, total_months: int, months: int) -> Decimal:
    """Accumulated depreciation after ``months`` charged months of ``total_months``."""
    value = Decimal(value)
    if months <= 0 or total_months <= 0:
        return ZERO
    if months >= total_months:
        return value.quantize(CENT)
    return min(value, monthly_rate(value, total_months) * months).quantize(CENT)


@dataclass(frozen=True)
class Depreciation:
    """A card's depreciation as of one month."""

    applies: bool  # False: never depreciated (not a fixed asset, a non-depreciable category, no useful life)
    original_value: Decimal
    total_months: int = 0
    months: int = 0  # months charged up to and including the month asked for
    monthly: Decimal = ZERO  # the charge of the month asked for
    accumulated: Decimal = ZERO
    first_month: datetime.date | None = None  # the first month charged
    last_month: datetime.date | None = None  # the last month charged (end of life, or before disposal)

    @property
    def net(self) -> Decimal:
        return (self.original_value - self.accumulated).quantize(CENT)

    @property
    def fully_depreciated(self) -> bool:
        return self.applies and self.total_months > 0 and self.months >= self.total_months

    @property
    def state(self) -> str:
        if not self.applies:
            return "不计提折旧"
        if self.fully_depreciated:
            return "已提足折旧"
        if self.months == 0:
            return "尚未开始计提"
        return "计提中"


def compute(*, value: Decimal, life_years: int | None, acquired_on: datetime.date,
            disposed_on: datetime.date | None = None, month: datetime.date, offset: int = 0,
            depreciable: bool = True) -> Depreciation:
    """Depreciation of one card as of ``month`` (any day of it). ``offset``: 0 = from the month of acquisition,
    1 = from the month after."""
    value = Decimal(value).quantize(CENT)
    if not depreciable or not life_years:
        return Depreciation(False, value)
    total = int(life_years) * 12
    first = month_number(acquired_on) + offset
    last = first + total - 1
    if disposed_on is not None:
        last = min(last, month_number(disposed_on) - 1)  # 当月减少的固定资产，当月不再计提折旧
    asked = month_number(month)
    charged = max(0, min(asked, last) - first + 1)
    before = max(0, min(asked - 1, last) - first + 1)
    accumulated = accumulated_after(value, total, charged)
    monthly = accumulated - accumulated_after(value, total, before)
    return Depreciation(True, value, total, charged, monthly, accumulated, month_start(first),
                        month_start(last) if last >= first else None)


def depreciation_for(asset, month: datetime.date | None = None) -> Depreciation:
    """``compute`` for an Asset (its category and organisation should be loaded with it)."""
    from django.utils import timezone

    from houqin.assets.conf import depreciation_start_offset

    depreciable = asset.asset_class == AssetClass.FIXED and asset.category.is_depreciable
    return compute(value=asset.original_value, life_years=asset.useful_life_years, acquired_on=asset.acquired_on,
                   disposed_on=asset.disposed_on, month=month or timezone.localdate(),
                   offset=depreciation_start_offset(asset.org), depreciable=depreciable)


# --- The monthly table ---------------------------------------------------------------------------------------------
GROUPINGS = {"category": "按资产分类", "department": "按使用部门", "both": "按分类和部门"}
NO_DEPARTMENT = "（未指定部门）"


@dataclass
class TableRow:
    category: str = ""
    department: str = ""
    count: int = 0
    original_value: Decimal = ZERO
    monthly: Decimal = ZERO
    accumulated: Decimal = ZERO
    net: Decimal = ZERO

    def add(self, value: Decimal, dep: Depreciation) -> None:
        self.count += 1
        self.original_value += value
        self.monthly += dep.monthly
        self.accumulated += dep.accumulated
        self.net += dep.net


@dataclass
class MonthlyTable:
    month: datetime.date
    group_by: str
    rows: list[TableRow] = field(default_factory=list)
    total: TableRow = field(default_factory=lambda: TableRow(category="合计"))


def table_queryset(org, month: datetime.date):
    """The cards on the books in ``month`` that are depreciated: fixed assets of depreciable categories, acquired by
    the month's end and not written off by then."""
    from django.db.models import Q

    from houqin.assets.models import Asset

    end = month_end(month)
    return (Asset.objects.filter(org=org, asset_class=AssetClass.FIXED, category__is_depreciable=True,
                                 acquired_on__lte=end)
            .filter(Q(disposed_on__isnull=True) | Q(disposed_on__gt=end)))


def monthly_table(org, month: datetime.date, group_by: str = "category") -> MonthlyTable:
    """Depreciation of ``month`` for one school, summed per category (大类) and/or using department.

    One query for the cards (plain values, no model instances) and one for the category names; the arithmetic is
    the same ``compute`` as each card's page uses, so the table's total is the sum of the cards' charges."""
    from houqin.assets.conf import depreciation_start_offset
    from houqin.assets.models import AssetCategory

    if group_by not in GROUPINGS:
        group_by = "category"
    offset = depreciation_start_offset(org)
    month = month.replace(day=1)
    rows = (table_queryset(org, month)
            .values_list("original_value", "useful_life_years", "acquired_on", "disposed_on", "category__path",
                         "department__name")
            .order_by())
    groups: dict[tuple, TableRow] = defaultdict(TableRow)
    table = MonthlyTable(month, group_by)
    codes = set()
    for value, life, acquired_on, disposed_on, path, department in rows.iterator(chunk_size=2000):
        dep = compute(value=value, life_years=life, acquired_on=acquired_on, disposed_on=disposed_on, month=month,
                      offset=offset)
        parts = [p for p in path.split("/") if p]
        code = parts[min(len(parts), 2) - 1]  # the 大类 (second level), or the 门类 for a card filed at the top
        codes.add(code)
        key = (code if group_by != "department" else "",
               (department or NO_DEPARTMENT) if group_by != "category" else "")
        groups[key].add(Decimal(value), dep)
        table.total.add(Decimal(value), dep)
    names = dict(AssetCategory.objects.for_org(org).filter(code__in=codes).values_list("code", "name"))
    for (code, department), row in sorted(groups.items()):
        row.category = f"{code} {names.get(code, '')}".strip() if code else ""
        row.department = department
        table.rows.append(row)
    return table
