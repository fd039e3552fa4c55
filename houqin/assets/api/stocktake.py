"""API of the assets app: stocktake. Imported by houqin/assets/api/views.py; StocktakeActions is mixed into
``AssetViewSet`` (command endpoints on a card), other viewsets register themselves on the router here.

* ``assets/stocktakes``: plans — list, retrieve, create, update (a 草稿 only), delete (a 草稿 only); commands
  ``start``, ``scan``, ``finish`` and ``cancel`` (POST, need the change permission).
* ``assets/stocktake-lines``: the frozen expected lists with their count results (read-only).
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Count, OuterRef, Prefetch, Subquery
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.response import Response

from houqin.assets import stocktake as services
from houqin.assets.forms import category_choices, staff_choices
from houqin.assets.models import (
    FOUND_STATUS_CHOICES,
    CountMethod,
    Stocktake,
    StocktakeCounter,
    StocktakeLine,
    StocktakeStatus,
)
from houqin.assets.stocktake_views import StocktakeFilterSet, StocktakeLineFilterSet
from houqin.core.api.router import router
from houqin.core.api.serializers import AUDIT_FIELDS, TenantSerializer
from houqin.core.api.viewsets import TenantReadOnlyViewSet, TenantViewSetMixin
from houqin.core.models import Room, User


class StocktakeActions:
    """Commands on an asset card for stocktaking: none (a card is counted through its plan's ``scan``)."""


class StocktakeSerializer(TenantSerializer):
    """A stocktaking plan. The scope (campuses, buildings, rooms, departments, categories) and the counters (user
    ids, members of the school) can be changed while it is a 草稿; number, status and figures are the system's."""

    counters = serializers.PrimaryKeyRelatedField(many=True, queryset=User.objects.all(), required=False,
                                                  label="盘点人", help_text="本校人员的用户编号")
    counted = serializers.IntegerField(source="counted_count", read_only=True, default=0, label="已盘数量")

    class Meta:
        model = Stocktake
        fields = ["id", "org", "display", "number", "name", "status", "campuses", "buildings", "rooms", "departments",
                  "categories", "scope_summary", "allow_self_audit", "counters", "planned_start", "planned_end", "note",
                  "expected_count", "expected_value", "counted", "difference_value", "started_at", "finished_at",
                  "completed_at", "cancelled_at", "cancel_reason", *AUDIT_FIELDS]
        read_only_fields = ["number", "status", "scope_summary", "expected_count", "expected_value",
                            "difference_value", "started_at", "finished_at", "completed_at", "cancelled_at",
                            "cancel_reason"]

    def narrow_queryset(self, name, queryset, user, org_id):
        org = self.context.get("org") or (self.instance.org if isinstance(self.instance, Stocktake) else None)
        if name == "categories":
            return category_choices(user, org)
        if name == "counters":
            return staff_choices(org)
        return super().narrow_queryset(name, queryset, user, org_id)

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["counters"] = [c.user_id for c in instance.counters.all()]
        return data

    def validate(self, attrs):
        if isinstance(self.instance, Stocktake) and self.instance.status != StocktakeStatus.DRAFT:
            raise ValidationError({"non_field_errors": [ErrorDetail(
                f"该盘点{self.instance.get_status_display()}，只有草稿状态的盘点可以修改。", code="invalid_state")]})
        counters = attrs.pop("counters", None)
        attrs = super().validate(attrs)
        if counters is not None:
            attrs["counters"] = counters
        return attrs

    def create(self, validated_data):
        counters = validated_data.pop("counters", [])
        with transaction.atomic():
            stocktake = super().create(validated_data)
            services.set_counters(stocktake, counters)
            services.refresh_scope(stocktake)
        return stocktake

    def update(self, instance, validated_data):
        counters = validated_data.pop("counters", None)
        with transaction.atomic():
            stocktake = super().update(instance, validated_data)
            if counters is not None:
                services.set_counters(stocktake, counters)
            services.refresh_scope(stocktake)
        return stocktake


class StocktakeLineSerializer(TenantSerializer):
    """One card of a plan's frozen expected list (账面) with its count (实物)."""

    class Meta:
        model = StocktakeLine
        fields = ["id", "org", "display", "stocktake", "asset", "asset_number", "asset_name", "spec", "category_name",
                  "quantity", "unit", "original_value", "book_status", "expected_room", "expected_room_name",
                  "department", "department_name", "custodian", "custodian_name", "result", "found_room",
                  "found_status", "counted_at", "counted_by", "counted_by_name", "method", "note"]
        read_only_fields = fields


class ScanSerializer(serializers.Serializer):
    room = serializers.PrimaryKeyRelatedField(queryset=Room.objects.all(), label="所在房间")
    code = serializers.CharField(max_length=300, label="扫描内容", help_text="资产二维码网址、二维码令牌或资产编号")
    found_status = serializers.ChoiceField(choices=[("", "与账面一致"), *FOUND_STATUS_CHOICES],
                                           required=False, default="", label="实物状态")


SCAN_RESULT = inline_serializer("StocktakeScanResult", {
    "kind": serializers.CharField(help_text="matched 相符 / moved 位置不符 / status 状态不符 / already 已盘过 / "
                                            "out_of_scope 不在本次盘点范围 / unknown 未找到 / invalid 无法识别 / "
                                            "room 房间"),
    "title": serializers.CharField(),
    "detail": serializers.CharField(),
    "counted": serializers.BooleanField(help_text="本次请求是否计入盘点"),
    "line": StocktakeLineSerializer(allow_null=True),
})


class StocktakeViewSet(TenantViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                       mixins.UpdateModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """资产盘点计划。草稿可修改范围和盘点人；start 开始盘点（冻结账面清单），scan 扫码盘点，finish 结束盘点并提交
    差异审批（审批通过后才调整资产卡片），cancel 取消。"""

    queryset = Stocktake.objects.all()
    serializer_class = StocktakeSerializer
    required_action = None  # DRF accepts @action(required_action=…) only for an attribute the viewset has
    filterset_class = StocktakeFilterSet
    ordering = "-pk"
    ordering_fields = ("number", "planned_start", "updated_at")
    prefetch_related = (Prefetch("counters", queryset=StocktakeCounter.objects.only("pk", "stocktake_id", "user_id")),
                        "campuses", "buildings", "rooms", "departments", "categories")

    def restricted_queryset(self, action: str = "view"):
        counted = (StocktakeLine.objects.filter(stocktake=OuterRef("pk"), counted_at__isnull=False)
                   .values("stocktake").annotate(n=Count("pk")).values("n"))
        return super().restricted_queryset(action).annotate(counted_count=Subquery(counted))

    def perform_destroy(self, instance):
        if instance.status != StocktakeStatus.DRAFT:
            raise ValidationError({"non_field_errors": [ErrorDetail(
                f"该盘点{instance.get_status_display()}，不能删除；如不再进行，请取消盘点。", code="invalid_state")]})
        super().perform_destroy(instance)

    def _answer(self, stocktake):
        stocktake = self.restricted_queryset().get(pk=stocktake.pk)
        return Response(self.get_serializer(stocktake).data)

    @extend_schema(request=None, responses=StocktakeSerializer)
    @action(detail=True, methods=["post"], required_action="change")
    def start(self, request, pk=None):
        """开始盘点：按当前账面冻结盘点清单。"""
        return self._answer(services.start(self.get_object(), request.user))

    @extend_schema(request=inline_serializer("StocktakeFinish", {"comment": serializers.CharField(required=False)}),
                   responses=StocktakeSerializer)
    @action(detail=True, methods=["post"], required_action="change")
    def finish(self, request, pk=None):
        """结束盘点：未盘到的记为盘亏，差异处理提交审批。"""
        comment = str(request.data.get("comment", "")) if hasattr(request.data, "get") else ""
        return self._answer(services.finish(self.get_object(), request.user, comment))

    @extend_schema(request=inline_serializer("StocktakeCancel", {"reason": serializers.CharField(required=False)}),
                   responses=StocktakeSerializer)
    @action(detail=True, methods=["post"], required_action="change")
    def cancel(self, request, pk=None):
        """取消盘点（草稿或进行中）。"""
        reason = str(request.data.get("reason", "")) if hasattr(request.data, "get") else ""
        return self._answer(services.cancel(self.get_object(), request.user, reason))

    @extend_schema(request=ScanSerializer, responses=SCAN_RESULT)
    @action(detail=True, methods=["post"], required_action="change")
    def scan(self, request, pk=None):
        """扫码盘点：在 room 房间扫到 code（资产二维码网址、令牌或资产编号）。同一资产只计一次。"""
        stocktake = self.get_object()
        body = ScanSerializer(data=request.data)
        body.fields["room"].queryset = services.scope_rooms(stocktake).select_related("campus", "building")
        body.is_valid(raise_exception=True)
        outcome = services.scan(stocktake, request.user, body.validated_data["room"], body.validated_data["code"],
                                found_status=body.validated_data["found_status"], method=CountMethod.API)
        context = self.get_serializer_context()
        line = StocktakeLineSerializer(outcome.line, context=context).data if outcome.line else None
        return Response({"kind": outcome.kind, "title": outcome.title, "detail": outcome.detail,
                         "counted": outcome.counted, "line": line})


class StocktakeLineViewSet(TenantReadOnlyViewSet):
    """盘点明细：开始盘点时冻结的账面清单及盘点结果（只读）。"""

    queryset = StocktakeLine.objects.all()
    serializer_class = StocktakeLineSerializer
    filterset_class = StocktakeLineFilterSet
    ordering = "pk"
    ordering_fields = ("asset_number", "counted_at")


router.register("assets/stocktakes", StocktakeViewSet)
router.register("assets/stocktake-lines", StocktakeLineViewSet)
