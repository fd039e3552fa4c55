"""API of the custody part: the commands on a card (``CustodyActions``, mixed into ``AssetViewSet``) and the
read-only ledgers of loans and transfers.

    POST /api/assets/assets/<id>/assign/            领用      {"department", "room"?, "custodian"?, "note"?}
    POST /api/assets/assets/<id>/return_to_store/   退库      {"room"?, "note"?}
    POST /api/assets/assets/<id>/transfer/          调拨      {"department"?, "room"?, "custodian"?, "reason"?}
    POST /api/assets/assets/<id>/lend/              借出      {"borrower" | "borrower_name" + "borrower_phone",
                                                              "purpose", "due_on", "signature" | "signature_later"}
    POST /api/assets/assets/<id>/return_loan/       归还      {"condition", "note"?, "signature"?}
    GET  /api/assets/loans/, /api/assets/transfers/ (list, retrieve)

The commands need the ``change`` permission on the card; refusals come back in core's error format (400 with field
errors, e.g. ``{"error": {"fields": {"department": [{"code": "invalid", "message": "…"}]}}}``).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from houqin.assets import custody
from houqin.assets.forms import staff_choices
from houqin.assets.forms_custody import AssetLoanFilterSet, AssetTransferFilterSet
from houqin.assets.models import AssetLoan, AssetTransfer, LoanCondition
from houqin.assets.models.custody import RETURN_CONDITIONS
from houqin.core.api.router import router
from houqin.core.api.serializers import AUDIT_FIELDS, TenantSerializer
from houqin.core.api.viewsets import TenantReadOnlyViewSet
from houqin.core.models import Department, Room

VERSION_HELP = ("可选：读取资产时的“状态|使用部门ID|存放地点ID|保管人ID”（如 in_use|3|12|45）。"
                "资产在此之后被他人变更时，操作被拒绝，避免覆盖他人的变更。")


# --- Read-only ledgers ----------------------------------------------------------------------------------------------
class AssetLoanSerializer(TenantSerializer):
    """借用单：借出与归还由资产的 lend / return_loan 操作写入，此处只读。"""

    asset_display = serializers.CharField(source="asset.__str__", read_only=True, label="资产")
    state = serializers.CharField(read_only=True,
                                  label="状态（open 借用中 / overdue 已逾期 / returned 已归还 / lost 借出期间丢失）")
    is_overdue = serializers.BooleanField(read_only=True, label="是否逾期")

    class Meta:
        model = AssetLoan
        fields = ["id", "org", "display", "number", "asset", "asset_display", "borrower", "borrower_name",
                  "borrower_phone", "purpose", "lent_at", "due_on", "lent_by", "status_before", "signature_pending",
                  "signed_at", "returned_at", "returned_to", "return_condition", "return_note", "return_signed_at",
                  "note", "state", "is_overdue", *AUDIT_FIELDS]
        read_only_fields = fields


class AssetTransferSerializer(TenantSerializer):
    """调拨单：由资产的 transfer 操作写入；跨部门调拨审批通过后生效，此处只读。"""

    asset_display = serializers.CharField(source="asset.__str__", read_only=True, label="资产")

    class Meta:
        model = AssetTransfer
        fields = ["id", "org", "display", "number", "asset", "asset_display", "status", "summary", "from_department",
                  "to_department", "from_room", "to_room", "from_custodian", "to_custodian", "reason",
                  "needs_approval", "approval", "approval_number", "requested_by", "applied_at", *AUDIT_FIELDS]
        read_only_fields = fields


class AssetLoanViewSet(TenantReadOnlyViewSet):
    """借用台账：资产的借出与归还记录（含逾期）。筛选 ``state=open|overdue|returned|lost``。"""

    queryset = AssetLoan.objects.all()
    serializer_class = AssetLoanSerializer
    filterset_class = AssetLoanFilterSet
    select_related = ("asset",)
    ordering = "-pk"
    ordering_fields = ("lent_at", "due_on", "returned_at")


class AssetTransferViewSet(TenantReadOnlyViewSet):
    """调拨单：资产在部门、地点、保管人之间的调拨；跨部门调拨须审批。"""

    queryset = AssetTransfer.objects.all()
    serializer_class = AssetTransferSerializer
    filterset_class = AssetTransferFilterSet
    select_related = ("asset",)
    ordering = "-pk"
    ordering_fields = ("created_at", "applied_at")


router.register("assets/loans", AssetLoanViewSet)
router.register("assets/transfers", AssetTransferViewSet)


# --- Command inputs -------------------------------------------------------------------------------------------------
class _CardCommandInput(serializers.Serializer):
    """Related ids are narrowed to the card's school (and what the user may see): another school's id is "not
    found", never a leak."""

    version = serializers.CharField(required=False, allow_blank=True, help_text=VERSION_HELP, label="版本")

    def __init__(self, *args, asset=None, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        org = getattr(asset, "org", None)
        for field in self.fields.values():
            if not isinstance(field, serializers.PrimaryKeyRelatedField):
                continue
            model = field.queryset.model
            if model is Department:
                field.queryset = Department.objects.restrict(user, "view").filter(org=org)
            elif model is Room:
                field.queryset = Room.objects.restrict(user, "view").filter(org=org)
            else:
                field.queryset = staff_choices(org)

    @property
    def expected(self):
        return self.validated_data.get("version") or None


def _related(model, label, **kwargs):
    from houqin.core.models import User

    queryset = {"department": Department, "room": Room, "user": User}[model].objects.all()
    return serializers.PrimaryKeyRelatedField(queryset=queryset, label=label, **kwargs)


class AssignInput(_CardCommandInput):
    """领用：闲置资产交给部门使用（状态变为在用）。须指定保管人或存放地点。"""

    department = _related("department", "领用部门")
    room = _related("room", "存放地点", required=False, allow_null=True)
    custodian = _related("user", "保管人", required=False, allow_null=True)
    note = serializers.CharField(required=False, allow_blank=True, max_length=200, label="备注")


class ReturnToStoreInput(_CardCommandInput):
    """退库：在用资产交回仓库（状态变为闲置，保管人清空）。"""

    room = _related("room", "退回的仓库（存放地点）", required=False, allow_null=True)
    note = serializers.CharField(required=False, allow_blank=True, max_length=200, label="退库原因")


class TransferInput(_CardCommandInput):
    """调拨：未提交的字段保持不变，提交 null 表示清空。改变使用部门须审批（须填写调拨原因）。"""

    department = _related("department", "新使用部门", required=False, allow_null=True)
    room = _related("room", "新存放地点", required=False, allow_null=True)
    custodian = _related("user", "新保管人", required=False, allow_null=True)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=200, label="调拨原因")


class LendInput(_CardCommandInput):
    """借出：借给本校人员（borrower）或校外人员（borrower_name + borrower_phone）。借用人须签字（signature：
    PNG 图片的 data URL），不在场时提交 signature_later=true（稍后补签）。"""

    borrower = _related("user", "借用人（本校人员）", required=False, allow_null=True)
    borrower_name = serializers.CharField(required=False, allow_blank=True, max_length=60, label="借用人姓名（校外）")
    borrower_phone = serializers.CharField(required=False, allow_blank=True, max_length=30, label="联系电话")
    purpose = serializers.CharField(max_length=200, label="用途")
    due_on = serializers.DateField(label="应还日期")
    signature = serializers.CharField(required=False, allow_blank=True, max_length=800_000,
                                      label="借用人签字（data:image/png;base64,…）")
    signature_later = serializers.BooleanField(required=False, default=False, label="借用人不在场，稍后补签")
    note = serializers.CharField(required=False, allow_blank=True, max_length=200, label="备注")


class ReturnLoanInput(serializers.Serializer):
    """归还：资产恢复借出前的状态；有损坏时须说明，再另行登记损坏。"""

    condition = serializers.ChoiceField(choices=RETURN_CONDITIONS, default=LoanCondition.GOOD, label="归还状况")
    note = serializers.CharField(required=False, allow_blank=True, max_length=200, label="归还说明")
    signature = serializers.CharField(required=False, allow_blank=True, max_length=800_000,
                                      label="归还人签字（可选，data:image/png;base64,…）")


def _as_api_error(exc: DjangoValidationError):
    """A command's refusal as DRF's ValidationError: field errors stay on their fields."""
    return serializers.ValidationError(serializers.as_serializer_error(exc))


# --- The actions on the card viewset --------------------------------------------------------------------------------
class CustodyActions:
    """领用、退库、调拨、借出、归还 on ``AssetViewSet`` (``change`` permission on the card)."""

    # DRF accepts ``@action(required_action=...)`` only for attributes the viewset has; core's RolePermission reads
    # it (None: the HTTP method decides, as for the standard actions).
    required_action = None

    def _command_input(self, serializer_class, asset):
        serializer = serializer_class(data=self.request.data, asset=asset, user=self.request.user)
        serializer.is_valid(raise_exception=True)
        return serializer

    def _card_response(self, card, http_status=status.HTTP_200_OK):
        card.refresh_from_db()
        return Response(self.get_serializer(card).data, status=http_status)

    @extend_schema(request=AssignInput, summary="领用资产")
    @action(detail=True, methods=["post"], required_action="change")
    def assign(self, request, pk=None):
        """领用：闲置资产交给部门（及存放地点、保管人）使用，状态变为“在用”。"""
        asset = self.get_object()
        data = self._command_input(AssignInput, asset)
        try:
            card = custody.assign(asset, request.user, department=data.validated_data["department"],
                                  room=data.validated_data.get("room"), custodian=data.validated_data.get("custodian"),
                                  note=data.validated_data.get("note", ""), expected=data.expected)
        except DjangoValidationError as exc:
            raise _as_api_error(exc) from None
        return self._card_response(card)

    @extend_schema(request=ReturnToStoreInput, summary="资产退库")
    @action(detail=True, methods=["post"], required_action="change")
    def return_to_store(self, request, pk=None):
        """退库：在用资产交回仓库，状态变为“闲置”，保管人清空。"""
        asset = self.get_object()
        data = self._command_input(ReturnToStoreInput, asset)
        try:
            card = custody.return_to_store(asset, request.user, room=data.validated_data.get("room"),
                                           note=data.validated_data.get("note", ""), expected=data.expected)
        except DjangoValidationError as exc:
            raise _as_api_error(exc) from None
        return self._card_response(card)

    @extend_schema(request=TransferInput, responses={201: AssetTransferSerializer}, summary="资产调拨")
    @action(detail=True, methods=["post"], required_action="change")
    def transfer(self, request, pk=None):
        """调拨：一次调整使用部门、存放地点和保管人。同部门内立即生效（status=done）；改变使用部门时提交审批
        （status=pending，approval_number 为审批单号），审批通过后一次调拨到位。"""
        asset = self.get_object()
        data = self._command_input(TransferInput, asset)
        moves = {k: data.validated_data[k] for k in ("department", "room", "custodian") if k in data.validated_data}
        try:
            move = custody.transfer(asset, request.user, reason=data.validated_data.get("reason", ""),
                                    expected=data.expected, **moves)
        except DjangoValidationError as exc:
            raise _as_api_error(exc) from None
        return Response(AssetTransferSerializer(move, context=self.get_serializer_context()).data,
                        status=status.HTTP_201_CREATED)

    @extend_schema(request=LendInput, responses={201: AssetLoanSerializer}, summary="借出资产")
    @action(detail=True, methods=["post"], required_action="change")
    def lend(self, request, pk=None):
        """借出：在用或闲置的资产借给本校人员或校外人员，状态变为“借出”；到期前一天和逾期时提醒经办人和借用人。"""
        asset = self.get_object()
        data = self._command_input(LendInput, asset).validated_data
        try:
            loan = custody.lend(asset, request.user, borrower=data.get("borrower"),
                                borrower_name=data.get("borrower_name", ""),
                                borrower_phone=data.get("borrower_phone", ""), purpose=data["purpose"],
                                due_on=data["due_on"], signature=data.get("signature") or None,
                                signature_later=data.get("signature_later", False), note=data.get("note", ""),
                                expected=data.get("version") or None)
        except DjangoValidationError as exc:
            raise _as_api_error(exc) from None
        return Response(AssetLoanSerializer(loan, context=self.get_serializer_context()).data,
                        status=status.HTTP_201_CREATED)

    @extend_schema(request=ReturnLoanInput, responses={200: AssetLoanSerializer}, summary="归还借用的资产")
    @action(detail=True, methods=["post"], required_action="change")
    def return_loan(self, request, pk=None):
        """归还：借出的资产交回，恢复借出前的状态（在用/闲置）。有损坏时 condition=damaged 并在 note 中说明。"""
        asset = self.get_object()
        serializer = ReturnLoanInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        loan = custody.open_loan(asset)
        if loan is None:
            raise serializers.ValidationError({"non_field_errors": ["该资产没有未归还的借用记录。"]})
        try:
            loan = custody.return_loan(loan, request.user, condition=data["condition"], note=data.get("note", ""),
                                       signature=data.get("signature") or None)
        except DjangoValidationError as exc:
            raise _as_api_error(exc) from None
        return Response(AssetLoanSerializer(loan, context=self.get_serializer_context()).data)
