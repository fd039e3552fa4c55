"""API of the assets app: analytics. Imported by houqin/assets/api/views.py; AnalyticsActions is mixed into
``AssetViewSet`` (command endpoints on a card), other viewsets register themselves on the router here.

* ``GET /api/assets/analytics/?org=<id>&idle_months=<n>`` — the report of houqin.assets.analytics for one school or
  a county (``org`` = a bureau), the same figures as the page ``/assets/analytics/``;
* ``GET /api/assets/assets/{id}/analytics/`` — one card's figures (age, useful life used, net value, repairs,
  replacement suggestion).

Money and ratios are decimal strings (``"0.1234"`` = 12.34 %), as everywhere in the API.
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ErrorDetail
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from houqin.assets import analytics
from houqin.core.api.router import router
from houqin.core.middleware import current_org

TAG = "校产管理 · 资产分析"


def _money(**kwargs):
    return serializers.DecimalField(max_digits=18, decimal_places=2, read_only=True, **kwargs)


def _amount(**kwargs):
    """Money that may be missing (a figure per pupil of a school without a pupil count)."""
    return serializers.DecimalField(max_digits=18, decimal_places=2, read_only=True, allow_null=True, **kwargs)


def _ratio(**kwargs):
    return serializers.DecimalField(max_digits=12, decimal_places=4, read_only=True, allow_null=True, **kwargs)


class AnalyticsOrgBriefSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    name = serializers.CharField()


class AnalyticsScopeSerializer(serializers.Serializer):
    org = AnalyticsOrgBriefSerializer(help_text="所选学校，或教育局（全县）")
    is_county = serializers.BooleanField(help_text="true：教育局所辖全部学校")
    label = serializers.CharField()
    schools = AnalyticsOrgBriefSerializer(many=True)


class AnalyticsTotalsSerializer(serializers.Serializer):
    cards = serializers.IntegerField(help_text="账面资产卡片数")
    value = _money(help_text="账面原值")
    idle_cards = serializers.IntegerField()
    idle_value = _money()
    idle_rate = _ratio(help_text="闲置原值 ÷ 账面原值")
    life_cards = serializers.IntegerField(help_text="有使用年限（计提折旧）的卡片数")
    life_value = _money()
    past_life_cards = serializers.IntegerField()
    past_life_value = _money()
    past_life_share = _ratio(help_text="超过使用年限的原值 ÷ 有使用年限的原值")
    past_life_card_share = _ratio()
    teaching_value = _money(help_text="教学仪器设备原值")
    pupils = serializers.IntegerField(help_text="在校学生数（已填写的学校）")
    value_per_pupil = _amount(help_text="生均资产值（元）")
    teaching_per_pupil = _amount(help_text="生均教学仪器设备值（元）")
    off_book_cards = serializers.IntegerField()
    off_book_value = _money()


class AnalyticsBandSerializer(serializers.Serializer):
    band = serializers.IntegerField()
    label = serializers.CharField()
    cards = serializers.IntegerField()
    value = _money()
    share = _ratio()
    past_life_cards = serializers.IntegerField()
    past_life_value = _money()


class AnalyticsCategorySerializer(serializers.Serializer):
    code = serializers.CharField(help_text="资产大类代码")
    name = serializers.CharField()
    cards = serializers.IntegerField()
    value = _money()
    idle_cards = serializers.IntegerField()
    idle_value = _money()
    idle_rate = _ratio()
    life_value = _money()
    past_life_cards = serializers.IntegerField()
    past_life_value = _money()
    past_life_share = _ratio()
    band_values = serializers.ListField(child=serializers.DecimalField(max_digits=18, decimal_places=2),
                                        help_text="各使用年限段的原值，顺序同 age_bands")


class AnalyticsDepartmentSerializer(serializers.Serializer):
    school = serializers.CharField()
    department = serializers.CharField()
    cards = serializers.IntegerField()
    value = _money()
    idle_cards = serializers.IntegerField()
    idle_value = _money()
    idle_rate = _ratio()


class AnalyticsIdleCardSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    name = serializers.CharField()
    school = serializers.CharField()
    department = serializers.CharField()
    idle_since = serializers.DateField(allow_null=True)
    idle_months = serializers.IntegerField()
    value = _money()


class AnalyticsLongIdleSerializer(serializers.Serializer):
    months = serializers.IntegerField(help_text="闲置时长阈值（月）")
    cutoff = serializers.DateField(help_text="此日期以前转为闲置的计入")
    cards = serializers.IntegerField()
    value = _money()
    rows = AnalyticsIdleCardSerializer(many=True, help_text=f"闲置最久的卡片，最多 {analytics.TOP_ROWS} 张")


class AnalyticsSchoolSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.CharField()
    pupils = serializers.IntegerField()
    cards = serializers.IntegerField()
    value = _money()
    teaching_value = _money()
    value_per_pupil = _amount()
    teaching_per_pupil = _amount()
    benchmark = _amount(help_text="生均教学仪器设备值参考标准（小学 2000、初中 2500）")
    meets_benchmark = serializers.BooleanField(allow_null=True)
    rank = serializers.IntegerField(allow_null=True, help_text="按生均教学仪器设备值排名")


class AnalyticsStatusSerializer(serializers.Serializer):
    status = serializers.CharField()
    label = serializers.CharField()
    cards = serializers.IntegerField()
    value = _money()
    share = _ratio()


class AnalyticsAmountSerializer(serializers.Serializer):
    label = serializers.CharField()
    cards = serializers.IntegerField()
    value = _money()
    share = _ratio()


class AnalyticsRepairTotalsSerializer(serializers.Serializer):
    repairs = serializers.IntegerField()
    recent_repairs = serializers.IntegerField(help_text="近 12 个月")
    cost = _money()
    cards = serializers.IntegerField(help_text="维修过的卡片数")
    value = _money(help_text="账面原值")
    cost_ratio = _ratio(help_text="维修费用 ÷ 账面原值")


class AnalyticsRepairGroupSerializer(serializers.Serializer):
    label = serializers.CharField()
    cards_repaired = serializers.IntegerField()
    repairs = serializers.IntegerField()
    recent_repairs = serializers.IntegerField()
    cost = _money()
    cards = serializers.IntegerField()
    value = _money()
    cost_ratio = _ratio()


class AnalyticsRepairCardSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    name = serializers.CharField()
    school = serializers.CharField()
    brand_model = serializers.CharField()
    acquired_on = serializers.DateField()
    age_months = serializers.IntegerField()
    life_years = serializers.IntegerField(allow_null=True)
    value = _money()
    repairs = serializers.IntegerField()
    recent_repairs = serializers.IntegerField()
    cost = _money()
    cost_ratio = _ratio()
    reasons = serializers.ListField(child=serializers.CharField())


class AnalyticsRepairsSerializer(serializers.Serializer):
    totals = AnalyticsRepairTotalsSerializer()
    by_category = AnalyticsRepairGroupSerializer(many=True)
    by_model = AnalyticsRepairGroupSerializer(many=True)
    by_card = AnalyticsRepairCardSerializer(many=True)
    suggestions = AnalyticsRepairCardSerializer(many=True)
    suggestion_count = serializers.IntegerField()


class AnalyticsRulesSerializer(serializers.Serializer):
    replace_cost_ratio = serializers.DecimalField(max_digits=4, decimal_places=2)
    replace_recent_repairs = serializers.IntegerField()
    replace_recent_months = serializers.IntegerField()


class AnalyticsReportSerializer(serializers.Serializer):
    """资产分析：一所学校或全县（教育局所辖学校）的资产年限、闲置率、生均资产值、状态构成、经费来源、取得年度和维修统计。"""

    scope = AnalyticsScopeSerializer()
    as_of = serializers.DateField(source="today")
    totals = AnalyticsTotalsSerializer()
    age_bands = AnalyticsBandSerializer(source="bands", many=True)
    categories = AnalyticsCategorySerializer(many=True)
    departments = AnalyticsDepartmentSerializer(many=True)
    long_idle = AnalyticsLongIdleSerializer()
    schools = AnalyticsSchoolSerializer(many=True)
    statuses = AnalyticsStatusSerializer(many=True)
    funding = AnalyticsAmountSerializer(many=True)
    years = AnalyticsAmountSerializer(many=True)
    repairs = AnalyticsRepairsSerializer(allow_null=True, help_text="null：尚无维修数据（报修维修模块启用后自动统计）")
    rules = serializers.SerializerMethodField()

    def get_rules(self, report) -> AnalyticsRulesSerializer:
        return AnalyticsRulesSerializer({"replace_cost_ratio": analytics.REPLACE_COST_RATIO,
                                "replace_recent_repairs": analytics.REPLACE_RECENT_REPAIRS,
                                "replace_recent_months": analytics.REPLACE_RECENT_MONTHS}).data


class CardAnalyticsSerializer(serializers.Serializer):
    """一张资产卡片的分析：已使用时间、使用年限已用比例、净值、维修次数与费用、更换建议。"""

    acquired_on = serializers.DateField()
    age_months = serializers.IntegerField(help_text="自取得当月起的整月数")
    life_years = serializers.IntegerField(allow_null=True)
    life_used = _ratio(help_text="已使用月数 ÷ (使用年限 × 12)；大于 1 表示已超过使用年限")
    past_life = serializers.BooleanField()
    original_value = _money()
    net_value = _money()
    depreciation_state = serializers.CharField()
    has_repair_source = serializers.BooleanField(help_text="false：尚无维修数据，维修字段为 0")
    repairs = serializers.IntegerField()
    recent_repairs = serializers.IntegerField(help_text="近 12 个月")
    repair_cost = _money()
    repair_cost_ratio = _ratio()
    replace_suggested = serializers.BooleanField()
    reasons = serializers.ListField(child=serializers.CharField())


# --- The report -------------------------------------------------------------------------------------------------------
def _invalid(field: str, code: str, message: str):
    return exceptions.ValidationError({field: [ErrorDetail(message, code=code)]})


def scope_from_request(request) -> analytics.Scope:
    """The scope named by ``?org=`` (a school or a bureau the user may view cards of), else the current one."""
    scopes = analytics.scopes_for(request.user)
    if not scopes:
        raise exceptions.PermissionDenied("您没有查看资产分析的权限。")
    raw = request.query_params.get("org")
    if raw in (None, ""):
        return analytics.pick_scope(scopes, None, current_org(request))
    try:
        pk = int(raw)
    except (TypeError, ValueError):
        raise _invalid("org", "incorrect_type", "单位编号必须是整数。") from None
    chosen = next((s for s in scopes if s.org.pk == pk), None)
    if chosen is None:  # another school's id answers exactly like one that does not exist
        raise _invalid("org", "does_not_exist", f"单位“{pk}”不存在。")
    return chosen


def idle_months_from_request(request) -> int:
    raw = request.query_params.get("idle_months")
    if raw in (None, ""):
        return analytics.DEFAULT_IDLE_MONTHS
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise _invalid("idle_months", "invalid", "闲置月数必须是整数。") from None
    if not 1 <= value <= analytics.MAX_IDLE_MONTHS:
        raise _invalid("idle_months", "invalid", f"闲置月数必须在 1 到 {analytics.MAX_IDLE_MONTHS} 之间。")
    return value


class ReportSchema(AutoSchema):
    """The report is one object, though DRF's router serves it as the collection's ``list``."""

    def _is_list_view(self, serializer=None) -> bool:
        return False


class AssetAnalyticsViewSet(viewsets.ViewSet):
    """资产分析：与页面“资产分析”相同的统计数字。`org` 为学校编号，或教育局编号（全县所辖学校）；不填则为当前单位。"""

    permission_classes = [IsAuthenticated]
    schema = ReportSchema()

    def get_view_name(self):
        return "资产分析"

    @extend_schema(
        summary="资产分析", tags=[TAG], responses=AnalyticsReportSerializer,
        parameters=[
            OpenApiParameter("org", int, description="学校编号，或教育局编号（统计所辖全部学校）；不填为当前单位"),
            OpenApiParameter("idle_months", int, description=(
                f"长期闲置的月数阈值，1–{analytics.MAX_IDLE_MONTHS}，默认 {analytics.DEFAULT_IDLE_MONTHS}")),
        ],
    )
    def list(self, request):
        scope = scope_from_request(request)
        report = analytics.build_report(scope, idle_months=idle_months_from_request(request))
        return Response(AnalyticsReportSerializer(report).data)


router.register("assets/analytics", AssetAnalyticsViewSet, basename="assets-analytics")


# --- One card ---------------------------------------------------------------------------------------------------------
class AnalyticsActions:
    """``GET /api/assets/assets/{id}/analytics/``: the card's figures (whoever may view the card)."""

    @extend_schema(summary="资产卡片分析", tags=[TAG], responses=CardAnalyticsSerializer)
    @action(detail=True, methods=["get"], url_path="analytics", url_name="analytics")
    def card_analytics(self, request, pk=None):
        """一张资产卡片的分析：已使用时间、使用年限已用比例、净值、维修次数与费用、更换建议。"""
        asset = self.get_object()
        return Response(CardAnalyticsSerializer(analytics.card_figures(asset)).data)
