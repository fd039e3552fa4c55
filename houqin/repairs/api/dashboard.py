"""API of the repairs dashboard (imported by houqin/repairs/api/views.py).

* ``GET /api/repairs/dashboard/?org=<id>&start=<YYYY-MM-DD>&end=<YYYY-MM-DD>`` — the figures of the page
  ``/repairs/dashboard/`` (houqin.repairs.reports) for one school or a county (``org`` = a bureau); without dates, the
  term in course (else the last six months).

Money, hours and ratios are decimal strings (``"0.8000"`` = 80 %), as everywhere in the API.
"""

from __future__ import annotations

import datetime

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers, viewsets
from rest_framework.exceptions import ErrorDetail
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from houqin.core.api.router import router
from houqin.core.middleware import current_org
from houqin.repairs import reports

TAG = "报修维修 · 维修看板"


def _ratio(**kwargs):
    return serializers.DecimalField(max_digits=12, decimal_places=4, read_only=True, allow_null=True, **kwargs)


def _hours(**kwargs):
    return serializers.DecimalField(max_digits=12, decimal_places=1, read_only=True, allow_null=True, **kwargs)


def _money(**kwargs):
    return serializers.DecimalField(max_digits=18, decimal_places=2, read_only=True, **kwargs)


class DashboardOrgBriefSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    name = serializers.CharField()


class DashboardScopeSerializer(serializers.Serializer):
    org = DashboardOrgBriefSerializer(help_text="所选学校，或教育局（全县）")
    is_county = serializers.BooleanField(help_text="true：教育局所辖全部学校")
    label = serializers.CharField()
    schools = DashboardOrgBriefSerializer(many=True)


class DashboardPeriodSerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()
    label = serializers.CharField(help_text="学期名称；自选日期时为空")


class DashboardSummarySerializer(serializers.Serializer):
    received = serializers.IntegerField(help_text="受理：期间内报修的报修单（不含已合并）")
    done = serializers.IntegerField(help_text="完成：其中已完工、已验收或已回访")
    done_rate = _ratio(help_text="完成率 = 完成 ÷ 受理")
    accept_hours = _hours(help_text="平均响应时间（小时，自然时间）：报修到接单")
    finish_hours = _hours(help_text="平均完成时间（小时，自然时间）：报修到完工")
    accept_rate = _ratio(help_text="受理及时率：按时接单 ÷ 已接单（有时限的）")
    finish_rate = _ratio(help_text="完工及时率：按时完工 ÷ 已完工（有时限的）")
    satisfaction = _ratio(help_text="满意率：4 星及以上 ÷ 已评价")
    rated = serializers.IntegerField()
    satisfied = serializers.IntegerField()
    unrated = serializers.IntegerField(help_text="已完成但未评价（不计入满意率）")
    rating_avg = serializers.DecimalField(max_digits=4, decimal_places=2, allow_null=True, read_only=True)
    late = serializers.IntegerField(help_text="超时：有环节超时完成，或仍未完成且已过时限")
    reopened = serializers.IntegerField(help_text="投诉返修过的报修单")
    labour_hours = _hours()
    cost = _money(help_text="维修费用合计（已完成的报修单）")


class DashboardGroupSerializer(DashboardSummarySerializer):
    key = serializers.SerializerMethodField(help_text="类别、楼栋、维修人员（用户）或学校的编号；月份为 YYYY-MM-01")
    label = serializers.CharField()
    school = serializers.CharField(help_text="全县统计时的学校名称")
    finished_on_time = serializers.IntegerField()

    def get_key(self, obj) -> str | None:
        return None if obj.key is None else str(obj.key)


class DashboardStateRowSerializer(serializers.Serializer):
    state = serializers.CharField()
    label = serializers.CharField()
    count = serializers.IntegerField()
    late = serializers.IntegerField()


class DashboardSerializer(serializers.Serializer):
    scope = DashboardScopeSerializer()
    period = DashboardPeriodSerializer()
    summary = serializers.SerializerMethodField()
    open_states = DashboardStateRowSerializer(many=True, help_text="当前未完成的报修单（不限期间）")
    months = DashboardGroupSerializer(many=True, help_text="按报修月份")
    categories = DashboardGroupSerializer(many=True)
    buildings = DashboardGroupSerializer(many=True)
    technicians = DashboardGroupSerializer(many=True, help_text="维修人员考核（key 为用户编号，null 为未派工）")
    schools = DashboardGroupSerializer(many=True, help_text="全县统计时各学校；单校为空")
    times = serializers.SerializerMethodField(help_text="时间口径说明")

    def get_summary(self, obj) -> DashboardSummarySerializer:
        return DashboardSummarySerializer(reports.summary_dict(obj.totals)).data

    def get_times(self, obj) -> str:
        return "clock"


def _invalid(field: str, code: str, message: str):
    return exceptions.ValidationError({field: [ErrorDetail(message, code=code)]})


def scope_from_request(request) -> reports.Scope:
    scopes = reports.scopes_for(request.user)
    if not scopes:
        raise exceptions.PermissionDenied("您没有查看维修看板的权限。")
    raw = request.query_params.get("org")
    if raw in (None, ""):
        return reports.pick_scope(scopes, None, current_org(request))
    try:
        pk = int(raw)
    except (TypeError, ValueError):
        raise _invalid("org", "incorrect_type", "单位编号必须是整数。") from None
    chosen = next((s for s in scopes if s.org.pk == pk), None)
    if chosen is None:  # another school's id answers exactly like one that does not exist
        raise _invalid("org", "does_not_exist", f"单位“{pk}”不存在。")
    return chosen


def period_from_request(request, scope) -> reports.Period:
    raw_start, raw_end = request.query_params.get("start") or "", request.query_params.get("end") or ""
    if not raw_start and not raw_end:
        return reports.default_period(scope.org_ids)
    errors = {}
    dates = {}
    for name, raw in (("start", raw_start), ("end", raw_end)):
        if not raw:
            errors[name] = [ErrorDetail("请同时填写开始日期和结束日期。", code="required")]
            continue
        try:
            dates[name] = datetime.date.fromisoformat(raw.strip())
        except ValueError:
            errors[name] = [ErrorDetail("日期格式应为 YYYY-MM-DD。", code="invalid")]
    if errors:
        raise exceptions.ValidationError(errors)
    message = reports.period_errors(dates["start"], dates["end"])
    if message:
        raise _invalid("end", "invalid", message)
    return reports.Period(dates["start"], dates["end"])


class ReportSchema(AutoSchema):
    """The dashboard is one object, though DRF's router serves it as the collection's ``list``."""

    def _is_list_view(self, serializer=None) -> bool:
        return False


class RepairsDashboardViewSet(viewsets.ViewSet):
    """维修看板：与页面“维修看板”相同的统计数字。`org` 为学校编号，或教育局编号（全县所辖学校）；不填则为当前单位。"""

    permission_classes = [IsAuthenticated]
    schema = ReportSchema()

    def get_view_name(self):
        return "维修看板"

    @extend_schema(
        summary="维修看板", tags=[TAG], responses=DashboardSerializer,
        parameters=[
            OpenApiParameter("org", int, description="学校编号，或教育局编号（统计所辖全部学校）；不填为当前单位"),
            OpenApiParameter("start", datetime.date, description="开始日期（含）；与 end 同时填写，不填为本学期"),
            OpenApiParameter("end", datetime.date, description="结束日期（含）"),
        ],
    )
    def list(self, request):
        scope = scope_from_request(request)
        board = reports.build_dashboard(scope, period_from_request(request, scope))
        return Response(DashboardSerializer(board).data)


router.register("repairs/dashboard", RepairsDashboardViewSet, basename="repairs-dashboard")
