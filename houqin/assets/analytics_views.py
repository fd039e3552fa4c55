"""Pages of the assets app: analytics (资产分析). Their routes are spliced into houqin/assets/urls.py (namespace
``assets``).

* ``/assets/analytics/`` — the report for one school or a county (``?org=``), charts with their figures as tables
  below, ``?export=xlsx`` for every table in one workbook (a sheet per table);
* ``/assets/analytics/card/<pk>/`` — the analytics panel of one card, loaded into the card's page (HTMX) or shown as
  a page of its own.

The figures come from houqin.assets.analytics (aggregate queries only).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.safestring import SafeData, mark_safe
from django.views import View
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

from houqin.assets import analytics, analytics_summary
from houqin.assets import views as _views  # noqa: F401  (the app's menu entries come before this page's)
from houqin.assets.analytics import AGE_BANDS, percent
from houqin.assets.panels import viewable_card
from houqin.core import navigation, pagecache
from houqin.core.exporting import _safe, stamped_filename, xlsx_download
from houqin.core.middleware import current_org
from houqin.core.tables import plain


def escape(value) -> str:
    """``conditional_escape`` without its wrappers (called for every cell of the tables)."""
    return value if isinstance(value, SafeData) else html.escape(str(value))


# --- Tables: one definition for the page and the export -----------------------------------------------------------


@dataclass
class Col:
    """A column of an analytics table: ``key`` is an attribute of the row (or a callable), ``kind`` how it is shown
    (text, int, money, percent, date) and exported (numbers stay numbers in Excel)."""

    key: object
    label: str
    kind: str = "text"
    link: object = None  # callable(row) -> URL
    nowrap: bool = False

    def value(self, row):
        return self.key(row) if callable(self.key) else getattr(row, self.key)

    def text(self, row) -> str:
        value = self.value(row)
        if self.kind == "percent":
            return percent(value) if value is not None else "—"
        if self.kind in ("money", "decimal") and value is None:
            return "—"
        if self.kind == "decimal":
            return f"{value:,.2f}"
        if self.kind == "int" and isinstance(value, int) and not isinstance(value, bool):
            return f"{value:,}"
        return plain(value)

    @property
    def numeric(self) -> bool:
        return self.kind in ("int", "money", "percent", "decimal")


@dataclass
class Table:
    key: str
    title: str
    columns: list
    rows: list
    total: object = None
    empty: str = "暂无数据"
    note: str = ""

    def cells(self, row) -> list[dict]:
        return [{"text": c.text(row), "numeric": c.numeric, "nowrap": c.numeric or c.nowrap,
                 "url": c.link(row) if c.link else None} for c in self.columns]

    @property
    def body(self) -> list[list[dict]]:
        return [self.cells(row) for row in self.rows]

    @property
    def footer(self) -> list[dict] | None:
        return self.cells(self.total) if self.total is not None else None

    def html(self) -> str:
        """The ``<table>`` written in one pass (a county's tables have thousands of cells: Django's template loop
        would take most of the page's time). Every text is escaped."""
        end = ' class="text-end"'
        head = "".join(f'<th scope="col"{end if c.numeric else ""}>{escape(c.label)}</th>' for c in self.columns)
        classes = [("text-end text-nowrap" if c.numeric else ("text-nowrap" if c.nowrap else ""))
                   for c in self.columns]
        parts = [f'<table class="table table-vcenter card-table table-striped table-sm" '
                 f'data-testid="table-{escape(self.key)}"><caption class="visually-hidden">{escape(self.title)}'
                 f"</caption><thead><tr>{head}</tr></thead><tbody>"]
        for row in self.rows:
            parts.append("<tr>")
            for column, css in zip(self.columns, classes, strict=True):
                text = escape(column.text(row))
                if column.link:
                    text = f'<a href="{escape(column.link(row))}">{text}</a>'
                parts.append(f'<td class="{css}">{text}</td>')
            parts.append("</tr>")
        if not self.rows:
            parts.append(f'<tr><td colspan="{len(self.columns)}" class="text-center text-secondary py-4">'
                         f"{escape(self.empty)}</td></tr>")
        parts.append("</tbody>")
        if self.rows and self.total is not None:
            parts.append('<tfoot><tr class="fw-bold">')
            for column in self.columns:
                css = ' class="text-end text-nowrap"' if column.numeric else ""
                parts.append(f"<td{css}>{escape(column.text(self.total))}</td>")
            parts.append("</tr></tfoot>")
        parts.append("</table>")
        return mark_safe("".join(parts))  # noqa: S308 — every value above is escaped


@dataclass
class Line:
    """A row of the overview table."""

    label: str
    value: str
    note: str = ""


@dataclass
class TotalRow:
    """A table's 合计 row: the label in the first column, figures in the others."""

    values: dict = field(default_factory=dict)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return self.__dict__.get("values", {}).get(name)  # a column the 合计 row leaves empty


def card_url(row) -> str:
    return reverse("assets:asset_detail", args=[row.id])


def _school_col(county: bool, key="school") -> list:
    return [Col(key, "学校")] if county else []


def report_tables(report: analytics.Report) -> list[Table]:
    county = report.scope.is_county
    totals = report.totals
    tables = []

    lines = [
        Line("账面资产卡片数", f"{totals.cards:,} 张", "未核销（未处置）的资产卡片"),
        Line("账面原值", f"{plain(totals.value)} 元"),
        Line("闲置资产原值", f"{plain(totals.idle_value)} 元",
             f"闲置率 {percent(totals.idle_rate)}（闲置原值 ÷ 账面原值）"),
        Line("超过使用年限的资产原值", f"{plain(totals.past_life_value)} 元",
             f"占有使用年限资产原值的 {percent(totals.past_life_share)}；"
             f"卡片 {totals.past_life_cards:,} 张，占 {percent(totals.past_life_card_share)}"),
        Line("教学仪器设备原值", f"{plain(totals.teaching_value)} 元",
             "通用设备和专用设备，不含车辆、食堂、医疗和安全生产设备"),
        Line("在校学生数", f"{totals.pupils:,} 人" if totals.pupils else "未填写"),
        Line("生均资产值", f"{plain(totals.value_per_pupil)} 元" if totals.value_per_pupil is not None else "—",
             "账面原值 ÷ 在校学生数"),
        Line("生均教学仪器设备值",
             f"{plain(totals.teaching_per_pupil)} 元" if totals.teaching_per_pupil is not None else "—",
             analytics.PER_PUPIL_BASIS),
        Line("已核销资产", f"{totals.off_book_cards:,} 张，{plain(totals.off_book_value)} 元", "已处置，不计入账面"),
        Line("长期闲置资产", f"{report.long_idle.cards:,} 张，{plain(report.long_idle.value)} 元",
             f"闲置 {report.long_idle.months} 个月以上（{plain(report.long_idle.cutoff)} 以前转为闲置）"),
    ]
    tables.append(Table("overview", "总体指标", [Col("label", "指标"), Col("value", "数值", nowrap=True),
                                             Col("note", "说明")], lines))

    band_total = TotalRow({"label": "合计", "cards": totals.cards, "value": totals.value,
                           "share": Decimal(1) if totals.value else None, "past_life_cards": totals.past_life_cards,
                           "past_life_value": totals.past_life_value})
    tables.append(Table("bands", "资产使用年限分布", [
        Col("label", "已使用年限"), Col("cards", "卡片数", "int"), Col("value", "原值（元）", "money"),
        Col("share", "原值占比", "percent"), Col("past_life_cards", "其中超过使用年限（张）", "int"),
        Col("past_life_value", "超过使用年限原值（元）", "money"),
    ], report.bands, band_total, note="已使用年限从取得当月起按月计算；超过使用年限：已使用月数达到使用年限 × 12。"))

    band_cols = [Col((lambda row, i=i: row.band_values[i]), f"{label}（元）", "money")
                 for i, (_low, _high, label) in enumerate(AGE_BANDS)]
    tables.append(Table("category_age", "各类资产使用年限分布", [
        Col("label", "资产大类"), Col("cards", "卡片数", "int"), Col("value", "原值（元）", "money"), *band_cols,
        Col("past_life_share", "超过使用年限占比", "percent"),
    ], report.categories, note="超过使用年限占比：超过使用年限的原值 ÷ 有使用年限（计提折旧）的资产原值。"))

    idle_cols = [Col("cards", "卡片数", "int"), Col("value", "账面原值（元）", "money"),
                 Col("idle_cards", "闲置卡片数", "int"), Col("idle_value", "闲置原值（元）", "money"),
                 Col("idle_rate", "闲置率", "percent")]
    idle_total = TotalRow({"label": "合计", "school": "", "department": "合计", "cards": totals.cards,
                           "value": totals.value, "idle_cards": totals.idle_cards, "idle_value": totals.idle_value,
                           "idle_rate": totals.idle_rate})
    tables.append(Table("category_idle", "各类资产闲置率", [Col("label", "资产大类"), *idle_cols], report.categories,
                        idle_total, note="闲置率 = 状态为“闲置”的资产原值 ÷ 账面原值。"))
    tables.append(Table("department_idle", "各部门资产闲置率",
                        [*_school_col(county), Col("department", "使用部门"), *idle_cols], report.departments,
                        idle_total))

    long_idle = report.long_idle
    shown = f"（显示闲置最久的 {len(long_idle.rows)} 张）" if long_idle.cards > len(long_idle.rows) else ""
    tables.append(Table("long_idle", f"闲置超过 {long_idle.months} 个月的资产", [
        Col("number", "资产编号", link=card_url), Col("name", "资产名称"), *_school_col(county),
        Col("department", "使用部门"), Col("idle_since", "转为闲置日期", "date"),
        Col("idle_months", "已闲置（月）", "int"), Col("value", "原值（元）", "money"),
    ], long_idle.rows, empty=f"没有闲置超过 {long_idle.months} 个月的资产",
        note=f"共 {long_idle.cards:,} 张，原值 {plain(long_idle.value)} 元{shown}。"
             "闲置起始日期取最近一次转为闲置的变动记录；没有记录的按入账日期。"))

    school_total = None
    if county:
        school_total = TotalRow({"rank": None, "name": "全县合计（不含未填写学生数的学校）", "kind_label": "",
                                 "pupils": totals.pupils, "cards": totals.cards, "value": totals.per_pupil_value,
                                 "value_per_pupil": totals.value_per_pupil,
                                 "teaching_value": totals.per_pupil_teaching_value,
                                 "teaching_per_pupil": totals.teaching_per_pupil, "benchmark": None,
                                 "meets_text": ""})
    tables.append(Table("schools", "生均资产值" + ("（学校排名）" if county else ""), [
        *([Col("rank", "排名", "int")] if county else []), Col("name", "学校"), Col("kind_label", "类型"),
        Col("pupils", "在校学生数", "int"), Col("cards", "卡片数", "int"), Col("value", "账面原值（元）", "money"),
        Col("value_per_pupil", "生均资产值（元）", "money"), Col("teaching_value", "教学仪器设备原值（元）", "money"),
        Col("teaching_per_pupil", "生均教学仪器设备值（元）", "money"), Col("benchmark", "参考标准（元）", "money"),
        Col(lambda row: getattr(row, "meets_text", None) if isinstance(row, TotalRow) else _meets(row), "是否达到"),
    ], report.schools, school_total,
        note=analytics.PER_PUPIL_BASIS + "。九年一贯制、完全中学等按学段分别核算，此处不判断。"))

    share_cols = [Col("cards", "卡片数", "int"), Col("value", "原值（元）", "money"),
                  Col("share", "原值占比", "percent")]
    tables.append(Table("statuses", "资产状态构成", [Col("label", "状态"), *share_cols], report.statuses,
                        note="含已处置（已核销）的资产；其余状态的资产都在账面上。"))
    amount_total = TotalRow({"label": "合计", "cards": totals.cards, "value": totals.value,
                             "share": Decimal(1) if totals.value else None})
    tables.append(Table("funding", "按经费来源", [Col("label", "经费来源"), *share_cols], report.funding, amount_total))
    tables.append(Table("years", "按取得年度", [Col("label", "取得年度"), *share_cols], report.years, amount_total))

    repairs = report.repairs
    if repairs is not None:
        recent = f"近{analytics.REPLACE_RECENT_MONTHS}个月维修次数"
        group_cols = [Col("cards_repaired", "维修过的资产（张）", "int"), Col("repairs", "维修次数", "int"),
                      Col("recent_repairs", recent, "int"), Col("cost", "维修费用（元）", "money"),
                      Col("cards", "账面卡片数", "int"), Col("value", "账面原值（元）", "money"),
                      Col("cost_ratio", "维修费用率", "percent")]
        t = repairs.totals
        repair_total = TotalRow({"label": "合计", "cards_repaired": t.cards, "repairs": t.repairs,
                                 "recent_repairs": t.recent_repairs, "cost": t.cost, "cards": totals.cards,
                                 "value": t.value, "cost_ratio": t.cost_ratio})
        tables.append(Table("repair_categories", "各类资产维修情况", [Col("label", "资产大类"), *group_cols],
                            repairs.by_category, repair_total,
                            note="维修费用率 = 账面资产累计维修费用 ÷ 账面原值。"))
        tables.append(Table("repair_models", "各品牌型号维修情况",
                            [Col("label", "品牌型号"), *group_cols,
                             Col("repairs_per_card", "每张卡片维修次数", "decimal")], repairs.by_model,
                            note=f"按维修费用排列，最多显示 {analytics.TOP_ROWS} 个型号。"))
        card_cols = [Col("number", "资产编号", link=card_url), Col("name", "资产名称"), *_school_col(county),
                     Col("brand_model", "品牌型号"), Col("age_display", "已使用"),
                     Col("life_years", "使用年限（年）", "int"), Col("repairs", "维修次数", "int"),
                     Col("recent_repairs", recent, "int"), Col("cost", "累计维修费用（元）", "money"),
                     Col("value", "原值（元）", "money"), Col("cost_ratio", "维修费用占原值", "percent")]
        tables.append(Table("repair_cards", "单件资产维修排行", card_cols, repairs.by_card,
                            note=f"按累计维修费用排列，最多显示 {analytics.TOP_ROWS} 张。"))
        more = (f"共 {repairs.suggestion_count:,} 张，显示维修费用最高的 {len(repairs.suggestions)} 张。"
                if repairs.suggestion_count > len(repairs.suggestions) else f"共 {repairs.suggestion_count:,} 张。")
        tables.append(Table("suggestions", "更换建议", [*card_cols, Col("reasons_display", "建议理由")],
                            repairs.suggestions, empty="暂无需要更换的资产", note=f"{more}{suggestion_rule()}"))
    return tables


def report_kpis(report: analytics.Report) -> list[dict]:
    t = report.totals

    def yuan(value) -> str:
        return "—" if value is None else plain(value)

    return [
        {"key": "value", "label": "账面原值（元）", "value": yuan(t.value), "note": f"{t.cards:,} 张卡片"},
        {"key": "idle-rate", "label": "闲置率", "value": percent(t.idle_rate),
         "note": f"闲置原值 {yuan(t.idle_value)} 元"},
        {"key": "past-life", "label": "超过使用年限", "value": percent(t.past_life_share),
         "note": f"{t.past_life_cards:,} 张，原值 {yuan(t.past_life_value)} 元"},
        {"key": "long-idle", "label": f"闲置 {report.long_idle.months} 个月以上",
         "value": f"{report.long_idle.cards:,} 张", "note": f"原值 {yuan(report.long_idle.value)} 元"},
        {"key": "per-pupil", "label": "生均资产值（元）", "value": yuan(t.value_per_pupil),
         "note": f"在校学生 {t.pupils:,} 人" if t.pupils else "未填写在校学生数"},
        {"key": "teaching-per-pupil", "label": "生均教学仪器设备值（元）", "value": yuan(t.teaching_per_pupil),
         "note": f"教学仪器设备 {yuan(t.teaching_value)} 元"},
    ]


def suggestion_rule() -> str:
    return (f"规则：已超过使用年限且累计维修费用达到原值的 {percent(analytics.REPLACE_COST_RATIO, 0)}，"
            f"或近 {analytics.REPLACE_RECENT_MONTHS} 个月维修 {analytics.REPLACE_RECENT_REPAIRS} 次及以上。")


def _meets(row) -> str:
    if row.meets_benchmark is None:
        return "—"
    return "达到" if row.meets_benchmark else "未达到"


# --- Charts (ECharts, drawn by assets/analytics.js from this data) ---------------------------------------------------
CHART_TOP = 15


def _num(value) -> float:
    return float(value or 0)


def _pct(value) -> float | None:
    return None if value is None else round(float(value) * 100, 2)


def report_charts(report: analytics.Report) -> dict:
    bands = report.bands
    top_categories = sorted(report.categories, key=lambda c: -c.value)[:CHART_TOP]
    idle_categories = [c for c in report.categories if c.value]
    departments = [d for d in report.departments if d.value][:CHART_TOP]
    charts = {
        "bands": {"type": "bar", "stack": True, "unit": "元", "categories": [b.label for b in bands],
                  "series": [{"name": "未超过使用年限", "data": [_num(b.within_life_value) for b in bands]},
                             {"name": "已超过使用年限", "data": [_num(b.past_life_value) for b in bands]}]},
        "category_age": {"type": "hbar", "stack": True, "unit": "元",
                         "categories": [c.label for c in top_categories],
                         "series": [{"name": label, "data": [_num(c.band_values[i]) for c in top_categories]}
                                    for i, (_low, _high, label) in enumerate(AGE_BANDS)]},
        "category_idle": {"type": "bar", "unit": "%", "categories": [c.label for c in idle_categories],
                          "series": [{"name": "闲置率", "data": [_pct(c.idle_rate) for c in idle_categories]}]},
        "department_idle": {"type": "hbar", "unit": "%",
                            "categories": [f"{d.school} {d.department}".strip() if report.scope.is_county
                                           else d.department for d in departments],
                            "series": [{"name": "闲置率", "data": [_pct(d.idle_rate) for d in departments]}]},
        "statuses": {"type": "pie", "unit": "元",
                     "data": [{"name": s.label, "value": _num(s.value)} for s in report.statuses if s.value]},
        "funding_years": {"type": "bar", "stack": True, "unit": "元",
                          "categories": report.funding_by_year["years"],
                          "series": [{"name": name, "data": [_num(v) for v in values]} for name, values in
                                     zip(report.funding_by_year["sources"], report.funding_by_year["values"],
                                         strict=True)]},
    }
    schools = [s for s in report.schools if s.teaching_per_pupil is not None]
    if report.scope.is_county:
        ranked = list(reversed(schools))  # a horizontal bar chart draws its first category at the bottom
        charts["schools"] = {"type": "hbar", "unit": "元", "categories": [s.name for s in ranked],
                             "series": [{"name": "生均教学仪器设备值",
                                         "data": [_num(s.teaching_per_pupil) for s in ranked]},
                                        {"name": "生均资产值", "data": [_num(s.value_per_pupil) for s in ranked]}]}
    else:
        charts["schools"] = {"type": "bar", "unit": "元", "categories": ["生均资产值", "生均教学仪器设备值"],
                             "series": [{"name": "本校", "data": [_num(report.totals.value_per_pupil),
                                                                  _num(report.totals.teaching_per_pupil)]}]}
    if report.repairs is not None:
        groups = [g for g in report.repairs.by_category if g.repairs]
        charts["repair_categories"] = {"type": "bar", "unit": "元", "categories": [g.label for g in groups],
                                       "series": [{"name": "维修费用", "data": [_num(g.cost) for g in groups]}]}
    return charts


# --- Export -----------------------------------------------------------------------------------------------------------
SHEET_FORBIDDEN = str.maketrans(dict.fromkeys("[]:*?/\\", ""))
FORMATS = {"money": "#,##0.00", "percent": "0.00%", "int": "#,##0", "decimal": "0.00"}


def write_tables(tables: list[Table], heading: str, fileobj) -> None:
    """Every table on a sheet of its own (header row in bold, then the rows and the 合计 row); numbers stay numbers."""
    wb = Workbook(write_only=True)
    bold = Font(bold=True)
    used = set()
    for table in tables:
        name = table.title.translate(SHEET_FORBIDDEN)[:31] or table.key
        while name in used:
            name = f"{name[:28]}_{len(used)}"
        used.add(name)
        ws = wb.create_sheet(title=name)
        title = WriteOnlyCell(ws, value=_safe(f"{heading} · {table.title}"))
        title.font = bold
        ws.append([title])
        header = []
        for column in table.columns:
            cell = WriteOnlyCell(ws, value=column.label)
            cell.font = bold
            header.append(cell)
        ws.append(header)
        for row in [*table.rows, *([table.total] if table.total is not None else [])]:
            ws.append([_cell(ws, column, row) for column in table.columns])
        if table.note:
            ws.append([])
            ws.append([_safe(table.note)])
    wb.save(fileobj)


def _cell(ws, column: Col, row):
    value = column.value(row)
    if column.numeric and isinstance(value, int | Decimal) and not isinstance(value, bool):
        cell = WriteOnlyCell(ws, value=value)
        cell.number_format = FORMATS[column.kind]
        return cell
    return _safe(column.text(row))


# --- Pages ------------------------------------------------------------------------------------------------------------
def parse_idle_months(raw) -> int:
    try:
        value = int(str(raw).strip())
    except (TypeError, ValueError):
        return analytics.DEFAULT_IDLE_MONTHS
    return max(1, min(value, analytics.MAX_IDLE_MONTHS))


class AnalyticsView(LoginRequiredMixin, View):
    """资产分析: one school's or a county's figures as charts and tables; ``?export=xlsx`` downloads the tables."""

    template_name = "assets/analytics/report.html"

    def _scope(self, request, raw):
        scopes = analytics.scopes_for(request.user)
        if not scopes:
            raise PermissionDenied("您没有查看资产分析的权限。")
        return scopes, analytics.pick_scope(scopes, raw, current_org(request))

    def post(self, request):
        """刷新: recompute the kept figures of the chosen scope's schools now, then show the page again."""
        _scopes, scope = self._scope(request, request.POST.get("org"))
        analytics_summary.summaries_for(scope.org_ids, force=True)
        messages.success(request, "统计数据已刷新。")
        query = {"org": scope.key}
        if request.POST.get("idle_months"):
            query["idle_months"] = parse_idle_months(request.POST.get("idle_months"))
        return redirect(f"{reverse('assets:analytics')}?{urlencode(query)}")

    @pagecache.cached_page  # kept while the data holds (houqin.core.pagecache)
    def get(self, request):
        scopes, scope = self._scope(request, request.GET.get("org"))
        idle_months = parse_idle_months(request.GET.get("idle_months"))
        report = analytics.build_report(scope, idle_months=idle_months)
        tables = report_tables(report)
        if request.GET.get("export") == "xlsx":
            return self.export(report, tables)
        query = request.GET.copy()
        query.pop("export", None)
        context = {
            "scopes": scopes, "scope": scope, "report": report, "totals": report.totals,
            "tables": {t.key: t for t in tables}, "charts": report_charts(report), "idle_months": idle_months,
            "kpis": report_kpis(report),
            "schools_chart_height": max(260, 60 + 36 * len(report.schools)) if scope.is_county else 260,
            "export_query": query.urlencode(), "no_repair_data": analytics.NO_REPAIR_DATA,
            "suggestion_rule": suggestion_rule(), "per_pupil_basis": analytics.PER_PUPIL_BASIS,
            "list_url": reverse("assets:asset_list"),
            "computed_at": report.computed_at, "outdated": report.outdated,
        }
        return render(request, self.template_name, context)

    def export(self, report, tables):
        heading = f"{report.scope.label}资产分析（{report.today:%Y-%m-%d}）"
        return xlsx_download(lambda fileobj: write_tables(tables, heading, fileobj),
                             stamped_filename(f"{report.scope.org.name}资产分析"))


class CardAnalyticsView(LoginRequiredMixin, View):
    """The analytics panel of one card: its page loads it with HTMX; without JavaScript it is a page of its own."""

    template_name = "assets/analytics/card.html"

    def get(self, request, pk):
        asset = viewable_card(request.user, pk, select_related=("category", "org"))
        figures = analytics.card_figures(asset)
        context = {
            "object": asset, "figures": figures, "no_repair_data": analytics.NO_REPAIR_DATA,
            "suggestion_rule": suggestion_rule(), "recent_months": analytics.REPLACE_RECENT_MONTHS,
            "life_used": percent(figures.life_used, 0), "net_value": plain(figures.net_value) or "0.00",
            "net_share": percent(figures.net_share, 0), "repair_cost": plain(figures.repair_cost) or "0.00",
            "repair_ratio": percent(figures.repair_cost_ratio),
        }
        template = self.template_name
        if getattr(request, "htmx", False) and not request.htmx.boosted:
            template += "#panel"
        return render(request, template, context)


urlpatterns = [
    path("analytics/", AnalyticsView.as_view(), name="analytics"),
    path("analytics/card/<int:pk>/", CardAnalyticsView.as_view(), name="analytics_card"),
]

navigation.add_item("assets", navigation.MenuItem("资产分析", "assets:analytics", analytics.PERM, "ti ti-chart-bar"))
