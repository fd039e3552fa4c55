"""API of work orders (报修单), on core's shared router:

    /api/repairs/workorders/                    list (filters of the UI list), retrieve, create (= 报修)
    POST /api/repairs/workorders/<id>/<command>/  the commands: take, dispatch, accept, start, wait_parts, outside,
                                                resume, complete, hand_back, sign_off, complain, visit, classify,
                                                reject, cancel (body: the command's fields; photos as multipart)
    /api/repairs/categories/, /api/repairs/sla-rules/, /api/repairs/technicians/   the school's settings rows
    /api/repairs/workorder-events/              the transition log (read-only)

A reporter without the right to view the school's orders (a teacher) lists and reads the orders they reported, and
signs off, complains or cancels through the commands. Whether someone may run a command is decided by the command
itself (``houqin.repairs.services``): 403 with the reason for who may not, 400 with field errors for bad input or a
state that does not allow it (``{"error": {"code": "invalid", "fields": {"reason": [...]}}}``).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from houqin.core.api.permissions import RolePermission
from houqin.core.api.router import router
from houqin.core.api.serializers import AUDIT_FIELDS, TenantSerializer
from houqin.core.api.viewsets import TenantReadOnlyViewSet, TenantViewSet, TenantViewSetMixin
from houqin.core.auth import user_can
from houqin.core.models import Room, User
from houqin.repairs import services
from houqin.repairs.filtersets import (
    RepairCategoryFilterSet,
    SLARuleFilterSet,
    TechnicianFilterSet,
    WorkOrderEventFilterSet,
    WorkOrderFilterSet,
)
from houqin.repairs.forms import school_members
from houqin.repairs.models import (
    RepairCategory,
    Scale,
    SLARule,
    Source,
    Technician,
    Trade,
    Urgency,
    WorkOrder,
    WorkOrderEvent,
    WorkOrderMaterial,
)

ORDER_SELECT = ("room__campus", "room__building", "category", "assignee", "reporter", "asset")


# --- Serializers -------------------------------------------------------------------------------------------------
class MaterialSerializer(serializers.ModelSerializer):
    class Meta:
        model = WorkOrderMaterial
        fields = ["name", "spec", "quantity", "unit", "unit_price", "amount", "stock_ref"]
        read_only_fields = fields


class WorkOrderSerializer(TenantSerializer):
    """报修单 (read-only: orders change through the commands)."""

    materials = MaterialSerializer(many=True, read_only=True, label="维修用料")
    reporter_display = serializers.CharField(read_only=True, label="报修人")
    overdue = serializers.SerializerMethodField(label="超时")
    actions = serializers.SerializerMethodField(label="当前可执行的操作")

    class Meta:
        model = WorkOrder
        fields = ["id", "org", "display", "number", "state", "room", "building", "asset", "place", "place_text",
                  "category", "description", "urgency", "scale", "source", "reference", "reporter",
                  "reporter_display", "reporter_name", "reporter_phone", "entered_by", "duplicate_of", "assignee",
                  "reported_at", "dispatched_at", "accepted_at", "started_at", "completed_at", "signed_off_at",
                  "visited_at", "closed_at", "accept_due", "start_due", "finish_due", "accept_late", "start_late",
                  "finish_late", "overdue", "work_done", "labour_hours", "labour_rate", "material_cost",
                  "labour_cost", "contractor", "contractor_quote", "outside_approved", "outside_cost", "total_cost",
                  "materials", "rating", "rating_comment", "signed_off_by", "signed_off_on_behalf", "visit_note",
                  "reopened_count", "close_reason", "actions", *AUDIT_FIELDS]
        read_only_fields = fields

    def get_overdue(self, obj) -> bool:
        return obj.overdue_now()

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_actions(self, obj) -> list[str]:
        return services.allowed_actions(obj, self.requesting_user)


class WorkOrderCreateSerializer(serializers.Serializer):
    """报修: where (room and/or asset, or a place in words), what, how urgent, and who reports."""

    org = serializers.IntegerField(required=False, label="所属单位", help_text="默认为当前单位")
    room = serializers.PrimaryKeyRelatedField(queryset=Room.objects.none(), required=False, allow_null=True,
                                              label="报修地点")
    asset = serializers.PrimaryKeyRelatedField(queryset=WorkOrder.asset.field.related_model.objects.none(),
                                               required=False, allow_null=True, label="报修资产")
    place = serializers.CharField(required=False, allow_blank=True, max_length=100, label="具体位置")
    category = serializers.PrimaryKeyRelatedField(queryset=RepairCategory.objects.none(), required=False,
                                                  allow_null=True, label="报修类别", help_text="默认“其他”")
    description = serializers.CharField(max_length=500, label="故障描述")
    urgency = serializers.ChoiceField(choices=Urgency.choices, default=Urgency.NORMAL, label="紧急程度")
    source = serializers.ChoiceField(choices=[(s, Source(s).label) for s in (Source.API, Source.FORM, Source.SCAN,
                                                                                Source.PROXY)],
                                     default=Source.API, label="报修方式", help_text="代报（proxy）限总务处")
    reference = serializers.CharField(required=False, allow_blank=True, max_length=60, label="来源单据")
    reporter = serializers.PrimaryKeyRelatedField(queryset=User.objects.none(), required=False, allow_null=True,
                                                  label="报修人（代报时）")
    reporter_name = serializers.CharField(required=False, allow_blank=True, max_length=40, label="报修人姓名")
    reporter_phone = serializers.CharField(required=False, allow_blank=True, max_length=20, label="联系电话")
    allow_duplicate = serializers.BooleanField(default=False, label="不合并重复报修",
                                               help_text="默认：同一资产（或同一房间同一类别）已有未完工报修时自动合并")

    def get_fields(self):
        fields = super().get_fields()
        org = self.context.get("org")
        if org is not None:
            from houqin.assets.models import Asset

            fields["room"].queryset = Room.objects.filter(org=org)
            fields["asset"].queryset = Asset.objects.filter(org=org)
            fields["category"].queryset = RepairCategory.objects.filter(org=org, is_active=True)
            fields["reporter"].queryset = school_members(org)
        return fields


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=300, label="原因")


class NoteSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=300, label="说明")


class EmptySerializer(serializers.Serializer):
    pass


class DispatchSerializer(serializers.Serializer):
    assignee = serializers.IntegerField(label="维修人员（用户编号）")
    note = serializers.CharField(required=False, allow_blank=True, max_length=300, label="派工说明")


class OutsideSerializer(serializers.Serializer):
    contractor = serializers.CharField(required=False, allow_blank=True, max_length=100, label="外修单位")
    quote = serializers.CharField(required=False, allow_blank=True, label="报价（元）")
    reason = serializers.CharField(required=False, allow_blank=True, max_length=300, label="外修原因")


class MaterialInputSerializer(serializers.Serializer):
    name = serializers.CharField(allow_blank=True, max_length=60, label="材料名称")
    spec = serializers.CharField(required=False, allow_blank=True, max_length=60, label="规格")
    quantity = serializers.CharField(label="数量")
    unit = serializers.CharField(required=False, allow_blank=True, max_length=10, label="单位")
    unit_price = serializers.CharField(required=False, allow_blank=True, label="单价（元）")


class CompleteSerializer(serializers.Serializer):
    work_done = serializers.CharField(required=False, allow_blank=True, max_length=500, label="维修内容")
    labour_hours = serializers.CharField(required=False, allow_blank=True, label="工时（小时）")
    outside_cost = serializers.CharField(required=False, allow_blank=True, label="外修实际费用（元）")
    materials = MaterialInputSerializer(many=True, required=False, label="维修用料")
    photos = serializers.ListField(child=serializers.ImageField(), required=False, label="完工照片",
                                   help_text="multipart/form-data 上传")


class SignOffSerializer(serializers.Serializer):
    rating = serializers.IntegerField(required=False, allow_null=True, label="评价（1–5 星）")
    comment = serializers.CharField(required=False, allow_blank=True, max_length=300, label="评价意见")
    reason = serializers.CharField(required=False, allow_blank=True, max_length=300, label="代为验收的原因")


class VisitSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=300, label="回访情况")
    rating = serializers.IntegerField(required=False, allow_null=True, label="报修人口头评价（1–5 星）")


class ClassifySerializer(serializers.Serializer):
    category = serializers.IntegerField(required=False, allow_null=True, label="报修类别")
    urgency = serializers.ChoiceField(choices=Urgency.choices, required=False, label="紧急程度")
    scale = serializers.ChoiceField(choices=Scale.choices, required=False, label="维修规模")
    note = serializers.CharField(required=False, allow_blank=True, max_length=300, label="说明")


COMMAND_INPUT: dict[str, type[serializers.Serializer]] = {
    "take": EmptySerializer, "accept": EmptySerializer, "start": EmptySerializer, "dispatch": DispatchSerializer,
    "wait_parts": ReasonSerializer, "hand_back": ReasonSerializer, "reject": ReasonSerializer,
    "complain": ReasonSerializer, "cancel": ReasonSerializer, "resume": NoteSerializer, "outside": OutsideSerializer,
    "complete": CompleteSerializer, "sign_off": SignOffSerializer, "visit": VisitSerializer,
    "classify": ClassifySerializer,
}


COMMAND_ACTIONS = {f"do_{name}": name for name in COMMAND_INPUT}


# --- Permission ---------------------------------------------------------------------------------------------------
class WorkOrderPermission(RolePermission):
    """Lists and reads: who may view the school's orders, or report (then restrict() leaves their own). Commands:
    any signed-in user reaching a visible order; the command decides (403 with its reason)."""

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if getattr(view, "action", None) in COMMAND_ACTIONS:
            return True
        if view.action == "list":
            return user_can(user, "view", WorkOrder) or user_can(user, "add", WorkOrder)
        return super().has_permission(request, view)

    def has_object_permission(self, request, view, obj):
        if getattr(view, "action", None) in COMMAND_ACTIONS or view.action == "retrieve":
            return True  # the object came through restrict(user, "view"); commands check themselves
        return super().has_object_permission(request, view, obj)


# --- Viewsets ----------------------------------------------------------------------------------------------------
def _command(name: str):
    move = services.MOVES[name]
    input_serializer = COMMAND_INPUT[name]

    @extend_schema(request=input_serializer, responses={200: WorkOrderSerializer},
                   summary=f"{move.label}（{name}）", description=services.COMMANDS[name].__doc__)
    def handler(self, request, pk=None):
        order = self.get_object()
        data = request.data
        payload = input_serializer(data=data)
        payload.is_valid(raise_exception=True)
        kwargs = dict(payload.validated_data)
        if name == "dispatch":
            assignee = school_members(order.org).filter(pk=kwargs["assignee"]).first()
            if assignee is None:
                raise DjangoValidationError({"assignee": "维修人员不存在。"})
            kwargs["assignee"] = assignee
        elif name == "complete":
            kwargs["materials"] = [dict(m) for m in kwargs.get("materials", [])]
            kwargs["photos"] = request.FILES.getlist("photos")
        elif name == "classify" and kwargs.get("category") is not None:
            category = RepairCategory.objects.filter(org=order.org, pk=kwargs["category"]).first()
            if category is None:
                raise DjangoValidationError({"category": "报修类别不存在。"})
            kwargs["category"] = category
        done = services.perform(name, order, request.user, **kwargs)
        done = self.restricted_queryset("view").filter(pk=done.pk).first() or done
        return Response(WorkOrderSerializer(done, context=self.get_serializer_context()).data)

    handler.__name__ = f"do_{name}"  # the viewset's attribute: "dispatch" itself is taken by DRF
    return action(detail=True, methods=["post"], url_path=name.replace("_", "-"), url_name=name.replace("_", "-"))(
        handler)


class WorkOrderViewSet(TenantViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                       mixins.CreateModelMixin, viewsets.GenericViewSet):
    """报修单。POST 报修（自动编号、计算时限、重复报修自动合并）；
    状态只能通过各项操作（派工、开始维修、完工、验收……）变更。"""

    queryset = WorkOrder.objects.all()
    serializer_class = WorkOrderSerializer
    filterset_class = WorkOrderFilterSet
    permission_classes = [WorkOrderPermission]
    select_related = ORDER_SELECT
    prefetch_related = ("materials",)
    ordering = "-reported_at"
    ordering_fields = ("reported_at", "number", "finish_due", "total_cost", "updated_at")

    def get_serializer_class(self):
        if self.action == "create":
            return WorkOrderCreateSerializer
        if self.action in COMMAND_ACTIONS:
            return COMMAND_INPUT[COMMAND_ACTIONS[self.action]]
        return WorkOrderSerializer

    @extend_schema(request=WorkOrderCreateSerializer, responses={201: WorkOrderSerializer})
    def create(self, request, *args, **kwargs):
        payload = WorkOrderCreateSerializer(data=request.data, context=self.get_serializer_context())
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        data.pop("org", None)
        order = services.create_order(self.target_org, user=request.user, photos=request.FILES.getlist("photos"),
                                      **data)
        order = self.restricted_queryset("view").filter(pk=order.pk).first() or order
        return Response(WorkOrderSerializer(order, context=self.get_serializer_context()).data,
                        status=status.HTTP_201_CREATED)

    do_take = _command("take")
    do_dispatch = _command("dispatch")
    do_accept = _command("accept")
    do_start = _command("start")
    do_wait_parts = _command("wait_parts")
    do_outside = _command("outside")
    do_resume = _command("resume")
    do_complete = _command("complete")
    do_hand_back = _command("hand_back")
    do_sign_off = _command("sign_off")
    do_complain = _command("complain")
    do_visit = _command("visit")
    do_classify = _command("classify")
    do_reject = _command("reject")
    do_cancel = _command("cancel")

class RepairCategorySerializer(TenantSerializer):
    class Meta:
        model = RepairCategory
        fields = ["id", "org", "display", "name", "trade", "description", "sort_order", "is_active", *AUDIT_FIELDS]


class RepairCategoryViewSet(TenantViewSet):
    """报修类别：每个学校自己的报修类别及其工种（派工时按工种推荐维修人员）。"""

    queryset = RepairCategory.objects.all()
    serializer_class = RepairCategorySerializer
    filterset_class = RepairCategoryFilterSet
    ordering = "sort_order"
    ordering_fields = ("sort_order", "name", "updated_at")


class SLARuleSerializer(TenantSerializer):
    class Meta:
        model = SLARule
        fields = ["id", "org", "display", "category", "urgency", "accept_minutes", "start_minutes", "finish_minutes",
                  "finish_days", "major_finish_days", "all_hours", "note", *AUDIT_FIELDS]


class SLARuleViewSet(TenantViewSet):
    """维修时限：按类别和紧急程度的受理、开工、完工时限（类别为空表示全部类别）。"""

    queryset = SLARule.objects.all()
    serializer_class = SLARuleSerializer
    filterset_class = SLARuleFilterSet
    select_related = ("category",)
    ordering = "pk"
    ordering_fields = ("urgency", "updated_at")


class TechnicianSerializer(TenantSerializer):
    trades = serializers.ListField(child=serializers.ChoiceField(choices=Trade.choices), required=False,
                                   label="工种", help_text="为空表示综合")

    class Meta:
        model = Technician
        fields = ["id", "org", "display", "user", "name_cache", "trades", "phone", "is_active", "note",
                  *AUDIT_FIELDS]
        read_only_fields = ["name_cache"]

    def narrow_queryset(self, name, queryset, user, org_id):
        if name == "user":
            org = self.context.get("org") or (self.instance.org if isinstance(self.instance, Technician) else None)
            return school_members(org) if org is not None else queryset.none()
        return super().narrow_queryset(name, queryset, user, org_id)


class TechnicianViewSet(TenantViewSet):
    """维修人员：工种与在岗状态（持有“维修工”角色的人员即使未登记也可派工，按综合工种计）。"""

    queryset = Technician.objects.all()
    serializer_class = TechnicianSerializer
    filterset_class = TechnicianFilterSet
    select_related = ("user",)
    ordering = "name_cache"
    ordering_fields = ("name_cache", "updated_at")


class WorkOrderEventSerializer(TenantSerializer):
    class Meta:
        model = WorkOrderEvent
        fields = ["id", "org", "display", "order", "time", "action", "from_state", "to_state", "actor", "actor_name",
                  "reason", "data"]
        read_only_fields = fields


class WorkOrderEventViewSet(TenantReadOnlyViewSet):
    """报修流转记录：只增不改，由报修、派工、完工、验收等操作写入。"""

    queryset = WorkOrderEvent.objects.all()
    serializer_class = WorkOrderEventSerializer
    filterset_class = WorkOrderEventFilterSet
    ordering = "-pk"
    ordering_fields = ("time",)


router.register("repairs/workorders", WorkOrderViewSet)
router.register("repairs/categories", RepairCategoryViewSet)
router.register("repairs/sla-rules", SLARuleViewSet)
router.register("repairs/technicians", TechnicianViewSet)
router.register("repairs/workorder-events", WorkOrderEventViewSet)
