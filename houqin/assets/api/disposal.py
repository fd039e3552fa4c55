"""API of the disposal part: the commands on a card (``DisposalActions``, mixed into ``AssetViewSet``), the damage
ledger with its compensation commands, and disposal requests.

    POST /api/assets/assets/<id>/damage/      登记损坏  {"occurred_on", "description", "outcome", "responsible_kind",
                                                        "responsible_user"?, "responsible_name"?, "responsible_detail"?,
                                                        "compensation_amount"?, "payer"?, "note"?}  → the damage (201)
    POST /api/assets/assets/<id>/idle/        转为闲置  {"note"?}                → the card
    POST /api/assets/assets/<id>/reuse/       恢复在用  {"note"?}
    POST /api/assets/assets/<id>/lost/        登记丢失  {"note"}
    POST /api/assets/assets/<id>/found/       找回      {"note"?}
    GET  /api/assets/damages/                 损坏赔偿台账 (filters: compensation_status, outcome, …)
    POST /api/assets/damages/<id>/pay/        赔偿款到账 {"paid_on", "receipt_no", "paid_amount"?}
    POST /api/assets/damages/<id>/compensation/ 修改应赔金额 {"compensation_amount", "payer"?}
    GET  /api/assets/disposals/               资产处置单 (with their items)
    POST /api/assets/disposals/               处置申请 (created and submitted for approval at once)
                                              {"assets": [ids], "method", "reason", "recipient"?, "estimated_residual"?,
                                               "meeting_note"?}
    POST /api/assets/disposals/<id>/submit/   修改并重新提交（被退回后） {any of the fields above, "comment"?}
    POST /api/assets/disposals/<id>/withdraw/ 撤回申请 {"comment"?}
    POST /api/assets/disposals/<id>/record/   处置完成 {"disposed_on", "actual_income"?, "buyer"?, "document_no"?,
                                                        "note"?}

Commands need the ``change`` permission on their object; refusals come back in core's error format (400 with
field errors, e.g. ``{"error": {"fields": {"assets": [{"code": "invalid", "message": "…"}]}}}``).
"""

from __future__ import annotations

from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ErrorDetail
from rest_framework.response import Response

from houqin.assets import disposal as commands
from houqin.assets.disposal_views import AssetDamageFilterSet, AssetDisposalFilterSet
from houqin.assets.forms import staff_choices
from houqin.assets.models import Asset, AssetDamage, AssetDisposal, AssetDisposalItem
from houqin.assets.models.disposal import DamageOutcome, DisposalMethod, ResponsibleKind
from houqin.core.api.fields import LabelledChoiceField
from houqin.core.api.router import router
from houqin.core.api.serializers import AUDIT_FIELDS, TenantSerializer
from houqin.core.api.viewsets import TenantReadOnlyViewSet, TenantViewSetMixin

MONEY = {"max_digits": 14, "decimal_places": 2, "min_value": 0}


# --- Read serializers -------------------------------------------------------------------------------------------
class AssetDamageSerializer(TenantSerializer):
    """损坏赔偿：由资产的 damage 操作写入；赔偿到账用 pay 操作登记，此处只读。"""

    asset_display = serializers.CharField(source="asset.__str__", read_only=True, label="资产")
    responsible_display = serializers.CharField(read_only=True, label="责任人（文字）")

    class Meta:
        model = AssetDamage
        fields = ["id", "org", "display", "asset", "asset_display", "occurred_on", "description", "responsible_kind",
                  "responsible_user", "responsible_name", "responsible_detail", "responsible_display", "outcome",
                  "status_before", "status_after", "compensation_status", "compensation_amount", "payer",
                  "paid_amount", "paid_on", "receipt_no", "recorded_by", "note", *AUDIT_FIELDS]
        read_only_fields = fields


class AssetDisposalItemSerializer(serializers.ModelSerializer):
    serializer_choice_field = LabelledChoiceField

    asset_number = serializers.CharField(source="asset.number", read_only=True, label="资产编号")
    asset_name = serializers.CharField(source="asset.name", read_only=True, label="资产名称")

    class Meta:
        model = AssetDisposalItem
        fields = ["id", "asset", "asset_number", "asset_name", "status_before", "original_value",
                  "accumulated_depreciation", "net_value", "age_months", "min_life_years", "under_min_life",
                  "final_net_value"]
        read_only_fields = fields


class AssetDisposalSerializer(TenantSerializer):
    """资产处置单。``POST`` 即提交处置申请（自动编号、送审批，审批金额为资产原值合计）；审批通过后用 record 操作
    登记处置完成。状态、金额合计、审批与处置结果由系统写入。"""

    assets = serializers.PrimaryKeyRelatedField(queryset=Asset.objects.all(), many=True, write_only=True,
                                                label="资产", help_text="要处置的资产 ID（可多项）")
    items = AssetDisposalItemSerializer(many=True, read_only=True, label="处置资产明细")
    approval_status = serializers.SerializerMethodField(label="审批状态")

    class Meta:
        model = AssetDisposal
        fields = ["id", "org", "display", "number", "method", "reason", "meeting_note", "recipient",
                  "estimated_residual", "assets", "item_count", "total_value", "total_net_value", "warnings", "status",
                  "requested_by", "requested_on", "approval", "approval_status", "disposed_on", "actual_income",
                  "buyer", "document_no", "record_note", "recorded_by", "items", *AUDIT_FIELDS]
        read_only_fields = ["number", "item_count", "total_value", "total_net_value", "warnings", "status",
                            "requested_by", "requested_on", "approval", "disposed_on", "actual_income", "buyer",
                            "document_no", "record_note", "recorded_by"]

    def get_approval_status(self, obj) -> str | None:
        return obj.approval.status if obj.approval_id else None

    def validate(self, attrs):
        return attrs  # the command validates (with the cards locked)

    def create(self, validated_data):
        request = self.context["request"]
        return commands.request_disposal(
            validated_data.pop("assets"), request.user, org=self.context["org"], method=validated_data["method"],
            reason=validated_data.get("reason", ""), recipient=validated_data.get("recipient", ""),
            estimated_residual=validated_data.get("estimated_residual"),
            meeting_note=validated_data.get("meeting_note", ""))


# --- Command inputs -----------------------------------------------------------------------------------------------
class NoteInput(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=200, label="说明")


class DamageInput(serializers.Serializer):
    occurred_on = serializers.DateField(label="损坏日期")
    description = serializers.CharField(max_length=500, label="损坏情况")
    outcome = serializers.ChoiceField(choices=DamageOutcome.choices, label="处理方式")
    responsible_kind = serializers.ChoiceField(choices=ResponsibleKind.choices, default=ResponsibleKind.NONE,
                                               label="责任人类型")
    responsible_user = serializers.IntegerField(required=False, allow_null=True, label="本校责任人（用户ID）")
    responsible_name = serializers.CharField(required=False, allow_blank=True, max_length=80, label="责任人姓名")
    responsible_detail = serializers.CharField(required=False, allow_blank=True, max_length=100, label="班级/单位")
    compensation_amount = serializers.DecimalField(required=False, allow_null=True, label="应赔金额（元）", **MONEY)
    payer = serializers.CharField(required=False, allow_blank=True, max_length=80, label="赔偿人")
    note = serializers.CharField(required=False, allow_blank=True, max_length=200, label="备注")


class PaymentInput(serializers.Serializer):
    paid_on = serializers.DateField(label="收款日期")
    receipt_no = serializers.CharField(max_length=60, label="收据号")
    paid_amount = serializers.DecimalField(required=False, allow_null=True, label="实收金额（元，默认应赔金额）",
                                           **MONEY)


class CompensationInput(serializers.Serializer):
    compensation_amount = serializers.DecimalField(allow_null=True, label="应赔金额（元，空或 0 为无需赔偿）", **MONEY)
    payer = serializers.CharField(required=False, allow_blank=True, max_length=80, label="赔偿人")


class ResubmitInput(serializers.Serializer):
    assets = serializers.ListField(child=serializers.IntegerField(), required=False, label="资产 ID（新的完整列表）")
    method = serializers.ChoiceField(choices=DisposalMethod.choices, required=False, label="处置方式")
    reason = serializers.CharField(required=False, max_length=500, label="处置原因")
    meeting_note = serializers.CharField(required=False, allow_blank=True, max_length=200, label="集体决策")
    recipient = serializers.CharField(required=False, allow_blank=True, max_length=100, label="拟接收方")
    estimated_residual = serializers.DecimalField(required=False, label="预计残值（元）", **MONEY)
    comment = serializers.CharField(required=False, allow_blank=True, label="重新提交说明")


class RecordInput(serializers.Serializer):
    disposed_on = serializers.DateField(label="处置日期")
    actual_income = serializers.DecimalField(required=False, allow_null=True, label="实际残值/处置收入（元）", **MONEY)
    buyer = serializers.CharField(required=False, allow_blank=True, max_length=100, label="接收方/买受人")
    document_no = serializers.CharField(required=False, allow_blank=True, max_length=60, label="处置文件号")
    note = serializers.CharField(required=False, allow_blank=True, max_length=200, label="处置说明")


class CommentInput(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, label="说明")


def _valid(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


# --- Commands on a card (mixed into AssetViewSet) ----------------------------------------------------------------
class DisposalActions:
    """登记损坏、转为闲置、恢复在用、登记丢失、找回 on ``/api/assets/assets/<id>/…``."""

    # DRF accepts ``@action(required_action=...)`` only for attributes the viewset has (core's RolePermission reads
    # it); core's TenantViewSetMixin does not declare it yet.
    required_action = None

    def _card_command(self, request, command):
        asset = self.get_object()
        data = _valid(NoteInput, request)
        command(asset, request.user, note=data.get("note", ""))
        return Response(self.get_serializer(asset).data)

    @extend_schema(summary="登记损坏", request=DamageInput, responses={201: AssetDamageSerializer})
    @action(detail=True, methods=["post"], required_action="change")
    def damage(self, request, pk=None):
        asset = self.get_object()
        data = _valid(DamageInput, request)
        user_id = data.get("responsible_user")
        person = None
        if user_id is not None:
            person = staff_choices(asset.org).filter(pk=user_id).first()
            if person is None:
                raise serializers.ValidationError(
                    {"responsible_user": [ErrorDetail("本校没有该人员。", code="does_not_exist")]})
        damage = commands.mark_damaged(
            asset, request.user, occurred_on=data["occurred_on"], description=data["description"],
            outcome=data["outcome"], responsible_kind=data["responsible_kind"], responsible_user=person,
            responsible_name=data.get("responsible_name", ""), responsible_detail=data.get("responsible_detail", ""),
            compensation_amount=data.get("compensation_amount"), payer=data.get("payer", ""),
            note=data.get("note", ""))
        body = AssetDamageSerializer(damage, context=self.get_serializer_context()).data
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(summary="转为闲置（在用 → 闲置）", request=NoteInput)
    @action(detail=True, methods=["post"], required_action="change")
    def idle(self, request, pk=None):
        return self._card_command(request, commands.mark_idle)

    @extend_schema(summary="恢复在用（闲置 → 在用）", request=NoteInput)
    @action(detail=True, methods=["post"], required_action="change")
    def reuse(self, request, pk=None):
        return self._card_command(request, commands.mark_in_use)

    @extend_schema(summary="登记丢失（在用/闲置 → 丢失；须说明经过）", request=NoteInput)
    @action(detail=True, methods=["post"], required_action="change")
    def lost(self, request, pk=None):
        return self._card_command(request, commands.mark_lost)

    @extend_schema(summary="找回（丢失 → 丢失前的状态）", request=NoteInput)
    @action(detail=True, methods=["post"], required_action="change")
    def found(self, request, pk=None):
        return self._card_command(request, commands.mark_found)


# --- Damages ------------------------------------------------------------------------------------------------------
class AssetDamageViewSet(TenantReadOnlyViewSet):
    """损坏赔偿台账：资产损坏、责任人与赔偿情况。筛选 ``compensation_status=unpaid|paid|none``。"""

    queryset = AssetDamage.objects.all()
    serializer_class = AssetDamageSerializer
    filterset_class = AssetDamageFilterSet
    select_related = ("asset",)
    ordering = "-pk"
    ordering_fields = ("occurred_on", "paid_on", "created_at")
    required_action = None  # set per action (see DisposalActions)

    @extend_schema(summary="登记赔偿款到账", request=PaymentInput, responses={200: AssetDamageSerializer})
    @action(detail=True, methods=["post"], required_action="change")
    def pay(self, request, pk=None):
        damage = self.get_object()
        data = _valid(PaymentInput, request)
        commands.mark_compensation_paid(damage, request.user, paid_on=data["paid_on"], receipt_no=data["receipt_no"],
                                        amount=data.get("paid_amount"))
        return Response(self.get_serializer(damage).data)

    @extend_schema(summary="修改应赔金额（到账前）", request=CompensationInput, responses={200: AssetDamageSerializer})
    @action(detail=True, methods=["post"], required_action="change")
    def compensation(self, request, pk=None):
        damage = self.get_object()
        data = _valid(CompensationInput, request)
        commands.update_compensation(damage, request.user, amount=data.get("compensation_amount"),
                                     payer=data.get("payer", ""))
        return Response(self.get_serializer(damage).data)


# --- Disposals ------------------------------------------------------------------------------------------------------
class AssetDisposalViewSet(TenantViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                           mixins.CreateModelMixin, viewsets.GenericViewSet):
    """资产处置单。POST 提交处置申请（一张单可含多项资产，按原值合计分档审批）；被退回后用 submit 修改并重新提交；
    审批通过后用 record 登记处置完成，资产随之核销。处置单不能修改或删除。"""

    queryset = AssetDisposal.objects.all()
    serializer_class = AssetDisposalSerializer
    filterset_class = AssetDisposalFilterSet
    select_related = ("approval",)
    prefetch_related = (Prefetch("items", queryset=AssetDisposalItem.objects.select_related("asset")
                                 .order_by("asset__number", "pk")),)
    ordering = "-pk"
    ordering_fields = ("requested_on", "number", "total_value", "disposed_on")
    required_action = None  # set per action (see DisposalActions)

    def _fresh(self, disposal):
        return self.get_serializer(self.restricted_queryset("view").get(pk=disposal.pk)).data

    @extend_schema(summary="修改并重新提交（被退回后）", request=ResubmitInput,
                   responses={200: AssetDisposalSerializer})
    @action(detail=True, methods=["post"], required_action="change")
    def submit(self, request, pk=None):
        disposal = self.get_object()
        data = dict(_valid(ResubmitInput, request))
        comment = data.pop("comment", "")
        commands.resubmit_disposal(disposal, request.user, comment=comment, **data)
        return Response(self._fresh(disposal))

    @extend_schema(summary="撤回申请（申请人，审批完成前）", request=CommentInput,
                   responses={200: AssetDisposalSerializer})
    @action(detail=True, methods=["post"], required_action="change")
    def withdraw(self, request, pk=None):
        from houqin.core import approvals

        disposal = self.get_object()
        data = _valid(CommentInput, request)
        if disposal.approval is None:
            raise serializers.ValidationError({"non_field_errors": ["该处置单没有审批申请。"]})
        approvals.withdraw(disposal.approval, request.user, data.get("comment", ""))
        return Response(self._fresh(disposal))

    @extend_schema(summary="登记处置完成（审批通过后；资产核销）", request=RecordInput,
                   responses={200: AssetDisposalSerializer})
    @action(detail=True, methods=["post"], required_action="change")
    def record(self, request, pk=None):
        disposal = self.get_object()
        data = _valid(RecordInput, request)
        commands.record_disposal(disposal, request.user, disposed_on=data["disposed_on"],
                                 actual_income=data.get("actual_income"), buyer=data.get("buyer", ""),
                                 document_no=data.get("document_no", ""), note=data.get("note", ""))
        return Response(self._fresh(disposal))


router.register("assets/damages", AssetDamageViewSet)
router.register("assets/disposals", AssetDisposalViewSet)
