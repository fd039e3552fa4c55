"""Pages of the repairs app: the dashboard (维修看板, ``/repairs/dashboard/``).

One school's or a county's work orders of a period (this term by default): open orders by state, SLA compliance,
mean times, figures per category, building and technician, the technician assessment and the monthly trend — charts
with the same figures as tables below them, and ``?export=xlsx`` for every table in one workbook. The figures come
from houqin.repairs.reports (aggregate queries only). Their routes are spliced into houqin/repairs/urls.py.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from html import escape  # plain str escaping (Django's lazy wrapper costs more per cell)

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.safestring import mark_safe
from django.views import View

from houqin.assets.analytics_views import Col, Line, TotalRow, write_tables
from houqin.assets.analytics_views import Table as BaseTable
from houqin.core import navigation, pagecache
from houqin.core.exporting import stamped_filename, xlsx_download
from houqin.core.middleware import current_org
from houqin.core.tables import plain
from houqin.repairs import reports
from houqin.repairs import workorder_views as _views  # noqa: F401  (the app's menu entries come before this page's)
from houqin.repairs.reports import percent

TIME_NOTE = "时间按自然时间（钟点）计算：从报修到接单、从报修到完工；是否及时按报修单的时限（工作时间）判断。"
PERIOD_NOTE = "统计对象：统计期间内报修的报修单（不含已合并的重复报修），完成、超时、评价和费用都指这些报修单的情况。"


PAGE_ROWS = 50  # rows of a county's per-group table on the page (the export has every row)


@dataclass
class Table(BaseTable):
    """The asset analytics' table, with each cell labelled by its column (a phone shows rows as labelled cards).
    The page's rows are rendered here (``body_html``: escaped, one string) rather than cell by cell in the template —
    a county's tables hold thousands of cells. ``limit`` caps the rows shown on the page (the export has them all)."""

    limit: int | None = None

    def cells(self, row) -> list[dict]:
        cells = super().cells(row)
        for cell, column in zip(cells, self.columns, strict=True):
            cell["label"] = column.label
        return cells

    @property
    def shown(self) -> list:
        return self.rows[:self.limit] if self.limit is not None else self.rows

    @property
    def truncated(self) -> bool:
        return len(self.shown) < len(self.rows)

    @property
    def page_note(self) -> str:
        if not self.truncated:
            return self.note
        cut = f"共 {len(self.rows):,} 行，这里显示受理最多的 {len(self.shown):,} 行，全部数据请导出 Excel 查看。"
        return f"{cut}{self.note}"

    def _tr(self, row) -> str:
        out = []
        for column in self.columns:
            css = ("text-end text-nowrap" if column.numeric else "text-nowrap" if column.nowrap else "")
            text = escape(column.text(row))
            if column.link:
                text = f'<a href="{escape(column.link(row))}">{text}</a>'
            out.append(f'<td data-label="{escape(column.label)}" class="{css}">{text}</td>')
        return f"<tr>{''.join(out)}</tr>"

    @property
    def body_html(self) -> str:
        return mark_safe("".join(self._tr(row) for row in self.shown))  # noqa: S308 (escaped above)

    @property
    def footer_html(self) -> str:
        if self.total is None or not self.rows:
            return ""
        cells = []
        for cell in self.footer:
            css = ' class="text-end text-nowrap"' if cell["numeric"] else ""
            cells.append(f'<td data-label="{escape(cell["label"])}"{css}>{escape(cell["text"])}</td>')
        return mark_safe(f'<tr class="fw-bold">{"".join(cells)}</tr>')  # noqa: S308 (escaped above)


def _hours(value) -> str:
    return "—" if value is None else f"{value} 小时"


def _rating(value) -> str:
    return "—" if value is None else f"{value} 星"


def summary_lines(t: reports.Figures) -> list[Line]:
    return [
        Line("受理", f"{t.received:,} 单", "统计期间内报修的报修单"),
        Line("完成", f"{t.done:,} 单", "其中已完工、已验收或已回访"),
        Line("完成率", percent(t.done_rate), "完成 ÷ 受理"),
        Line("平均响应时间", _hours(t.accept_hours), "报修到接单，自然时间"),
        Line("平均完成时间", _hours(t.finish_hours), "报修到完工，自然时间"),
        Line("受理及时率", percent(t.accept_rate), f"按时接单 {t.accepted_on_time:,} ÷ 已接单 {t.accept_clocked:,}"),
        Line("完工及时率", percent(t.finish_rate), f"按时完工 {t.finished_on_time:,} ÷ 已完工 {t.finish_clocked:,}"),
        Line("满意率", percent(t.satisfaction), f"4 星及以上 {t.satisfied:,} ÷ 已评价 {t.rated:,}"),
        Line("未评价", f"{t.unrated:,} 单", "已完工但报修人未评价，不计入满意率"),
        Line("超时", f"{t.late:,} 单", "有环节超过时限完成，或至今仍未完成且已过时限"),
        Line("返修", f"{t.reopened:,} 单", "报修人投诉后返修过的报修单"),
        Line("维修费用合计", f"{plain(t.cost) or '0.00'} 元", "已完成报修单的材料费、人工费和外修费"),
    ]


def _group_cols() -> list[Col]:
    return [Col("received", "受理", "int"), Col("done", "完成", "int"), Col("done_rate", "完成率", "percent"),
            Col("late", "超时", "int"), Col("accept_rate", "受理及时率", "percent"),
            Col("finish_rate", "完工及时率", "percent"), Col("accept_hours", "平均响应（小时）", "decimal"),
            Col("finish_hours", "平均完成（小时）", "decimal"),
            Col("cost", "维修费用（元）", "money")]


def _total(t: reports.Figures, label_key: str = "label") -> TotalRow:
    values = {name: getattr(t, name) for name in (
        "received", "done", "done_rate", "late", "accept_rate", "finish_rate", "finish_hours", "cost", "rated",
        "satisfaction", "rating_avg", "unrated", "reopened", "labour_hours", "finished_on_time", "accept_hours")}
    values.update({"label": "", "school": "", label_key: "合计"})
    return TotalRow(values)


def dashboard_tables(board: reports.Dashboard) -> list[Table]:
    county = board.scope.is_county
    t = board.totals
    school = [Col("school", "学校")] if county else []
    tables = [Table("summary", "总体指标", [Col("label", "指标"), Col("value", "数值", nowrap=True),
                                          Col("note", "说明")], summary_lines(t), note=PERIOD_NOTE)]
    tables.append(Table("open_states", "未完成的报修单（当前）", [
        Col("label", "状态"), Col("count", "报修单数", "int"), Col("late", "其中已超时", "int"),
    ], board.open_states, TotalRow({"label": "合计", "count": board.open_total, "late": board.open_late}),
        note="当前所有未完成的报修单，不限统计期间。"))
    tables.append(Table("months", "每月受理、完成和超时", [
        Col("label", "报修月份"), Col("received", "受理", "int"), Col("done", "完成", "int"),
        Col("done_rate", "完成率", "percent"), Col("late", "超时", "int")], board.months,
                        _total(t), note="按报修月份统计；完成和超时指这些报修单至今的情况。"))
    if county:
        tables.append(Table("schools", "各学校", [Col("label", "学校"), *_group_cols(),
                                                Col("satisfaction", "满意率", "percent")], board.schools, _total(t)))
    limit = PAGE_ROWS if county else None  # a county's per-school rows: the page shows the largest, the export all
    tables.append(Table("categories", "按报修类别", [*school, Col("label", "报修类别"), *_group_cols()],
                        board.categories, _total(t), limit=limit))
    tables.append(Table("buildings", "按楼栋", [*school, Col("label", "楼栋"), *_group_cols()], board.buildings,
                        _total(t), limit=limit))
    tables.append(Table("technicians", "维修人员考核", [
        *school, Col("label", "维修人员"), Col("done", "完成", "int"), Col("finish_rate", "按时完工率", "percent"),
        Col("finish_hours", "平均完成（小时）", "decimal"),
        Col("rated", "已评价", "int"), Col("rating_avg", "平均评分（星）", "decimal"),
        Col("satisfaction", "满意率", "percent"), Col("unrated", "未评价", "int"),
        Col("reopened", "投诉返修", "int"), Col("labour_hours", "工时（小时）", "decimal"),
        Col("cost", "维修费用（元）", "money"), Col("received", "派给他的报修单", "int"),
    ], board.technicians, _total(t), empty="统计期间内没有派工的报修单",
        note="平均评分和满意率只算已评价的报修单，未评价的单独列出，不当作满意。"
             "按时完工率 = 按时完工 ÷ 已完工（有时限的）。", limit=limit))
    return tables


def _pct(value) -> float | None:
    return None if value is None else round(float(value) * 100, 1)


def dashboard_charts(board: reports.Dashboard) -> dict:
    t = board.totals
    months = board.months
    cats = board.categories[:15]
    blds = board.buildings[:15]
    techs = [x for x in board.technicians if x.key is not None][:15]

    def label(row):
        return f"{row.school} {row.label}".strip() if board.scope.is_county else row.label

    charts = {
        "open_states": {"type": "bar", "unit": "单", "categories": [r.label for r in board.open_states],
                        "series": [{"name": "未完成", "data": [r.count for r in board.open_states]},
                                   {"name": "其中已超时", "data": [r.late for r in board.open_states]}]},
        "sla": {"type": "bar", "unit": "%", "categories": ["受理及时率", "完工及时率", "完成率", "满意率"],
                "series": [{"name": "比例", "data": [_pct(t.accept_rate), _pct(t.finish_rate), _pct(t.done_rate),
                                                     _pct(t.satisfaction)]}]},
        "months": {"type": "line", "unit": "单", "categories": [m.label for m in months],
                   "series": [{"name": "受理", "data": [m.received for m in months]},
                              {"name": "完成", "data": [m.done for m in months]},
                              {"name": "超时", "data": [m.late for m in months]}]},
        "categories": {"type": "bar", "unit": "单", "categories": [label(c) for c in cats],
                       "series": [{"name": "受理", "data": [c.received for c in cats]},
                                  {"name": "完成", "data": [c.done for c in cats]},
                                  {"name": "超时", "data": [c.late for c in cats]}]},
        "buildings": {"type": "hbar", "unit": "单", "categories": [label(b) for b in reversed(blds)],
                      "series": [{"name": "受理", "data": [b.received for b in reversed(blds)]},
                                 {"name": "超时", "data": [b.late for b in reversed(blds)]}]},
        "technicians": {"type": "bar", "unit": "单", "categories": [label(x) for x in techs],
                        "series": [{"name": "完成", "data": [x.done for x in techs]},
                                   {"name": "按时完工", "data": [x.finished_on_time for x in techs]}]},
    }
    if board.scope.is_county:
        schools = list(reversed(board.schools))
        charts["schools"] = {"type": "hbar", "unit": "%", "categories": [s.label for s in schools],
                             "series": [{"name": "完工及时率", "data": [_pct(s.finish_rate) for s in schools]},
                                        {"name": "完成率", "data": [_pct(s.done_rate) for s in schools]}]}
    return charts


def dashboard_kpis(board: reports.Dashboard) -> list[dict]:
    t = board.totals
    return [
        {"key": "received", "label": "受理", "value": f"{t.received:,} 单", "note": f"完成 {t.done:,} 单"},
        {"key": "done-rate", "label": "完成率", "value": percent(t.done_rate), "note": f"超时 {t.late:,} 单"},
        {"key": "finish-rate", "label": "完工及时率", "value": percent(t.finish_rate),
         "note": f"受理及时率 {percent(t.accept_rate)}"},
        {"key": "accept-hours", "label": "平均响应时间", "value": _hours(t.accept_hours),
         "note": f"平均完成 {_hours(t.finish_hours)}"},
        {"key": "satisfaction", "label": "满意率", "value": percent(t.satisfaction),
         "note": f"已评价 {t.rated:,} 单，未评价 {t.unrated:,} 单"},
        {"key": "cost", "label": "维修费用合计（元）", "value": plain(t.cost) or "0.00",
         "note": f"工时 {t.labour_hours} 小时"},
    ]


def parse_date(raw) -> datetime.date | None:
    try:
        return datetime.date.fromisoformat(str(raw or "").strip())
    except ValueError:
        return None


def period_from(raw_start, raw_end, scope) -> tuple[reports.Period, str | None]:
    """The period the page shows: both dates given and valid, else the default (this term), with a message."""
    start, end = parse_date(raw_start), parse_date(raw_end)
    if start and end:
        error = reports.period_errors(start, end)
        if error is None:
            return reports.Period(start, end), None
        return reports.default_period(scope.org_ids), error
    message = None
    if raw_start or raw_end:
        message = ("请同时填写开始日期和结束日期，已显示默认期间。" if not (raw_start and raw_end)
                   else "日期格式不正确，已显示默认期间。")
    return reports.default_period(scope.org_ids), message


class DashboardView(LoginRequiredMixin, View):
    """维修看板: one school's or a county's figures as charts and tables; ``?export=xlsx`` downloads the tables."""

    template_name = "repairs/dashboard/dashboard.html"

    @pagecache.cached_page  # kept while the data holds (houqin.core.pagecache)
    def get(self, request):
        scopes = reports.scopes_for(request.user)
        if not scopes:
            raise PermissionDenied("您没有查看维修看板的权限。")
        scope = reports.pick_scope(scopes, request.GET.get("org"), current_org(request))
        period, message = period_from(request.GET.get("start"), request.GET.get("end"), scope)
        board = reports.build_dashboard(scope, period)
        tables = dashboard_tables(board)
        if request.GET.get("export") == "xlsx":
            return self.export(board, tables)
        query = request.GET.copy()
        query.pop("export", None)
        county = scope.is_county
        context = {
            "scopes": scopes, "scope": scope, "board": board, "period": period, "message": message,
            "tables": {t.key: t for t in tables}, "charts": dashboard_charts(board), "kpis": dashboard_kpis(board),
            "export_query": query.urlencode(), "time_note": TIME_NOTE, "county": county,
            "schools_chart_height": max(260, 60 + 32 * len(board.schools)),
            "buildings_chart_height": max(240, 60 + 30 * min(len(board.buildings), 15)),
            "list_url": reverse("repairs:workorder_list") if _has_list() else "",
        }
        return render(request, self.template_name, context)

    def export(self, board, tables):
        heading = f"{board.scope.label}维修统计（{board.period.text}）"
        return xlsx_download(lambda fileobj: write_tables(tables, heading, fileobj),
                             stamped_filename(f"{board.scope.org.name}维修统计"))


def _has_list() -> bool:
    from django.urls import NoReverseMatch

    try:
        reverse("repairs:workorder_list")
    except NoReverseMatch:
        return False
    return True


urlpatterns = [
    path("dashboard/", DashboardView.as_view(), name="dashboard"),
]

navigation.add_item("repairs", navigation.MenuItem("维修看板", "repairs:dashboard", reports.PERM, "ti ti-chart-bar"))
