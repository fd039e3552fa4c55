"""API of preventive inspections (巡检), on core's shared router:

    /api/repairs/inspection-plans/                 plans with their checklist (``items``): list, create, retrieve,
                                                    update, delete (only while the plan has no record)
    POST /api/repairs/inspection-plans/<id>/generate/   立即生成: the runs due soon of this plan
    POST /api/repairs/inspection-plans/seed/            载入常用巡检计划 in the current school (or ``{"org": id}``)
    /api/repairs/inspection-runs/                  runs: list, retrieve (with ``items`` to answer and ``results``)
    GET  /api/repairs/inspection-runs/mine/        the open runs the caller is responsible for
    POST /api/repairs/inspection-runs/<id>/submit/ the answers of a run (JSON; photos and the signature as base64 or
                                                    ``data:image/…;base64,`` strings)

Refusals come back in core's error format; the answers' errors are keyed ``item_<item id>``, ``signature``,
``photo`` and ``note``.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import ErrorDetail
from rest_framework.response import Response

from houqin.core.api.fields import LabelledChoiceField
from houqin.core.api.permissions import RolePermission
from houqin.core.api.router import router
from houqin.core.api.serializers import AUDIT_FIELDS, TenantSerializer, UserBriefSerializer
from houqin.core.api.viewsets import TenantReadOnlyViewSet, TenantViewSet
from houqin.core.models import Room
from houqin.repairs import inspections as services
from houqin.repairs.forms_inspections import (
    KIND_FIELDS,
    SCHEDULE_FIELDS,
    InspectionPlanFilterSet,
    InspectionRunFilterSet,
    asset_choices,
    room_choices,
    staff_choices,
)
from houqin.repairs.models.inspections import (
    InspectionItem,
    InspectionPlan,
    InspectionResult,
    InspectionRun,
    Outcome,
    responsible_role_choices,
)

MAX_IMAGE_TEXT = 16_000_000  # a base64 photo of about 12 MB; the attachments service enforces the real limit


# --- Plans -----------------------------------------------------------------------------------------------------------
class InspectionItemSerializer(serializers.ModelSerializer):
    """One checklist line. On update, send the ``id`` of a line to keep it; lines left out are removed."""

    id = serializers.IntegerField(required=False, label="编号")

    class Meta:
        model = InspectionItem
        fields = ["id", "position", "text", "requires_photo", "urgent"]
        extra_kwargs = {"position": {"required": False}}


class InspectionPlanSerializer(TenantSerializer):
    """巡检计划 with its checklist (``items``). Saving regenerates the runs not yet due when the schedule changed."""

    responsible_role = serializers.ChoiceField(choices=responsible_role_choices(), required=False,
                                               allow_blank=True, label="负责岗位")
    items = InspectionItemSerializer(many=True, label="检查清单")
    schedule_display = serializers.CharField(read_only=True, label="检查周期（文字）")
    responsible_display = serializers.CharField(read_only=True, label="负责人/岗位（文字）")

    class Meta:
        model = InspectionPlan
        fields = ["id", "org", "display", "name", "target", "building", "rooms", "assets", "responsible",
                  "responsible_role", "responsible_display", "kind", "weekday", "week_of_month", "month_day", "month",
                  "every_days", "offset_days", "start_date", "holiday_rule", "check_in_vacation", "lead_days",
                  "repair_category", "is_active", "note", "schedule_display", "generated_until", "items",
                  *AUDIT_FIELDS]
        read_only_fields = ["generated_until"]

    def _org(self):
        return self.context.get("org") or (self.instance.org if isinstance(self.instance, InspectionPlan) else None)

    def narrow_queryset(self, name, queryset, user, org_id):
        org = self._org()
        if name == "responsible":
            return staff_choices(org)
        if name == "rooms":
            return room_choices(user, org)
        if name == "assets":
            return asset_choices(user, org)
        return super().narrow_queryset(name, queryset, user, org_id)

    def validate_items(self, items):
        texts = [str(i.get("text", "")).strip() for i in items]
        if not [t for t in texts if t]:
            raise serializers.ValidationError("请至少填写一个检查项目。", code="required")
        if len(set(texts)) != len(texts):
            raise serializers.ValidationError("检查项目有重复，请合并或删除重复的一项。", code="unique")
        if len(items) > 40:
            raise serializers.ValidationError("检查项目最多 40 项。", code="max_length")
        if isinstance(self.instance, InspectionPlan):
            known = set(self.instance.items.values_list("pk", flat=True))
            unknown = sorted(i["id"] for i in items if i.get("id") is not None and i["id"] not in known)
            if unknown:
                raise serializers.ValidationError(f"检查项目 {', '.join(map(str, unknown))} 不属于此计划。",
                                                  code="does_not_exist")
        return items

    def validate(self, attrs):
        kind = attrs.get("kind", getattr(self.instance, "kind", None))
        for name in SCHEDULE_FIELDS:
            if name not in KIND_FIELDS.get(kind, ()):
                attrs[name] = 0 if name == "offset_days" else None
        return super().validate(attrs)

    def _save_items(self, plan, items):
        existing = {i.pk: i for i in plan.items.all()}
        keep = set()
        ordered = sorted(enumerate(items), key=lambda t: (t[1].get("position") is None, t[1].get("position") or 0,
                                                          t[0]))
        for position, (_index, data) in enumerate(ordered, start=1):
            item = existing.get(data.get("id")) or InspectionItem(org_id=plan.org_id, plan=plan)
            item.position = position
            item.text = str(data["text"]).strip()
            item.requires_photo = data.get("requires_photo", False)
            item.urgent = data.get("urgent", False)
            item.save()
            keep.add(item.pk)
        for pk, item in existing.items():
            if pk not in keep:
                item.delete()

    def create(self, validated_data):
        items = validated_data.pop("items")
        plan = super().create(validated_data)
        self._save_items(plan, items)
        services.plan_saved(plan, previous=None, was_active=None)
        return plan

    def update(self, instance, validated_data):
        items = validated_data.pop("items", None)
        before = InspectionPlan.objects.get(pk=instance.pk)
        plan = super().update(instance, validated_data)
        if items is not None:
            self._save_items(plan, items)
        services.plan_saved(plan, previous=before.schedule_signature(), was_active=before.is_active)
        return plan


class GenerateOutput(serializers.Serializer):
    created = serializers.IntegerField(label="新生成的巡检任务数")
    message = serializers.CharField(label="说明")


class SeedInput(serializers.Serializer):
    org = serializers.IntegerField(required=False, label="学校编号（默认为当前单位）")


class SeedOutput(serializers.Serializer):
    created = serializers.ListField(child=serializers.CharField(), label="新载入的计划名称")


class InspectionPlanViewSet(TenantViewSet):
    """巡检计划及其检查清单。保存后自动生成近期的巡检任务；计划变更检查周期时，尚未到期的任务按新周期重新生成。
    已有巡检记录的计划不能删除（请停用）。"""

    queryset = InspectionPlan.objects.all()
    serializer_class = InspectionPlanSerializer
    filterset_class = InspectionPlanFilterSet
    select_related = ("responsible",)
    prefetch_related = ("items", "rooms", "assets")
    ordering = "name"
    ordering_fields = ("name", "start_date", "updated_at")
    required_action = None

    def perform_destroy(self, instance):
        services.delete_plan(instance)

    @extend_schema(request=None, responses={200: GenerateOutput}, summary="立即生成巡检任务")
    @action(detail=True, methods=["post"], required_action="change")
    def generate(self, request, pk=None):
        """立即生成：为该计划生成近期应检的巡检任务（已有的不会重复生成）。"""
        plan = self.get_object()
        if not plan.is_active:
            raise serializers.ValidationError({"is_active": [ErrorDetail("该计划已停用，不会生成巡检任务。",
                                                                         code="inactive")]})
        done = services.generate_runs(plans=[plan])
        return Response({"created": len(done.created), "message": done.message})

    @extend_schema(request=SeedInput, responses={200: SeedOutput}, summary="载入常用巡检计划")
    @action(detail=False, methods=["post"], required_action="add")
    def seed(self, request):
        """载入常用巡检计划：大型玩具与体育器材、风扇与门窗、燃气与厨房电器、入夏前空调清洗、照明设施（已有同名计划的跳过）。"""
        org = self.get_target_org()
        created = services.seed_plans(org)
        return Response({"created": [p.name for p in created]})


# --- Runs ------------------------------------------------------------------------------------------------------------
class RunItemSerializer(serializers.ModelSerializer):
    class Meta:
        model = InspectionItem
        fields = ["id", "position", "text", "requires_photo", "urgent"]
        read_only_fields = fields


class InspectionResultSerializer(serializers.ModelSerializer):
    serializer_choice_field = LabelledChoiceField

    class Meta:
        model = InspectionResult
        fields = ["id", "item", "position", "text", "outcome", "note", "photo", "room", "asset", "work_order_number",
                  "work_order_id"]
        read_only_fields = fields


class InspectionRunSerializer(TenantSerializer):
    """巡检记录（只读）：由巡检计划生成，通过 submit 提交检查结果。``items`` 是要回答的检查清单（当前计划的），
    ``results`` 是已提交的结果。"""

    done_by = UserBriefSerializer(read_only=True, label="检查人")
    items = serializers.SerializerMethodField(label="检查清单")
    results = InspectionResultSerializer(many=True, read_only=True, label="检查结果")

    class Meta:
        model = InspectionRun
        fields = ["id", "org", "display", "number", "title", "plan", "period_key", "due_date", "opens_on", "state",
                  "done_by", "done_at", "outcome", "item_count", "failed_count", "note", "signature", "photo",
                  "cancelled_reason", "items", "results", *AUDIT_FIELDS]
        read_only_fields = fields

    @extend_schema_field(RunItemSerializer(many=True))
    def get_items(self, run):
        if not run.is_open:
            return []
        items = sorted(run.plan.items.all(), key=lambda i: (i.position, i.pk))
        return RunItemSerializer(items, many=True).data


class AnswerInput(serializers.Serializer):
    item = serializers.IntegerField(label="检查项目编号")
    outcome = serializers.ChoiceField(choices=Outcome.choices, label="结果（pass 合格 / fail 不合格 / na 不适用）")
    note = serializers.CharField(required=False, allow_blank=True, max_length=300, label="说明")
    photo = serializers.CharField(required=False, allow_blank=True, max_length=MAX_IMAGE_TEXT,
                                  label="照片（base64 或 data:image/jpeg;base64,…）；不合格时必填")
    room = serializers.IntegerField(required=False, allow_null=True, label="问题位置：房间编号")
    asset = serializers.IntegerField(required=False, allow_null=True, label="问题位置：资产编号")


class SubmitInput(serializers.Serializer):
    results = AnswerInput(many=True, label="每个检查项目的结果")
    signature = serializers.CharField(max_length=MAX_IMAGE_TEXT, label="检查人签名（PNG：data:image/png;base64,…）")
    photo = serializers.CharField(required=False, allow_blank=True, max_length=MAX_IMAGE_TEXT, label="现场照片")
    note = serializers.CharField(required=False, allow_blank=True, max_length=500, label="情况说明")


class RunPermission(RolePermission):
    """Core's role rule, plus the runs' object rule: the plan's responsible person and role holders may read a run
    and submit it without any repairs permission; ``mine`` is open to every signed-in user."""

    def has_permission(self, request, view):
        if getattr(view, "action", None) == "mine":
            return bool(request.user and request.user.is_authenticated)
        return super().has_permission(request, view)

    def has_object_permission(self, request, view, obj):
        if super().has_object_permission(request, view, obj):
            return True
        if getattr(view, "action", None) not in ("retrieve", "submit"):
            return False
        if view.action == "submit":
            self.message = "您不是这项巡检的负责人，不能填写。"
        return InspectionRun.objects.responsible_for(request.user).filter(pk=obj.pk).exists()


class InspectionRunViewSet(TenantReadOnlyViewSet):
    """巡检记录：由巡检计划按周期生成（每小时检查一次，也可在计划上“立即生成”），负责人提交检查结果后成为记录，
    不能修改或删除。不合格项自动生成维修单。"""

    queryset = InspectionRun.objects.all()
    serializer_class = InspectionRunSerializer
    filterset_class = InspectionRunFilterSet
    select_related = ("plan", "done_by")
    prefetch_related = ("results", "plan__items")
    ordering = "-due_date"
    ordering_fields = ("due_date", "number", "done_at")
    required_action = None
    permission_classes = [RunPermission]

    @extend_schema(responses={200: InspectionRunSerializer(many=True)}, summary="我要做的巡检")
    @action(detail=False, methods=["get"])
    def mine(self, request):
        """我要做的巡检：本人负责（本人或所在岗位）、尚未完成的巡检任务，按应检日期排列（最多 100 项）。"""
        runs = services.runs_for(request.user).prefetch_related("results", "plan__items")[:100]
        return Response(self.get_serializer(runs, many=True).data)

    @extend_schema(request=SubmitInput, responses={200: InspectionRunSerializer}, summary="提交巡检结果")
    @action(detail=True, methods=["post"], required_action="change")
    def submit(self, request, pk=None):
        """提交巡检结果：每个检查项目一条（合格/不合格/不适用），不合格和要求拍照的项目须附照片，检查人签名必填。
        不合格项自动生成维修单。"""
        run = self.get_object()
        data = SubmitInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        answers, errors = [], {}
        for index, answer in enumerate(values["results"]):
            key = f"item_{answer['item']}"
            try:
                room = asset = None
                if answer.get("room"):
                    room = Room.objects.filter(org_id=run.org_id, pk=answer["room"]).first()
                    if room is None:
                        raise DjangoValidationError(f"房间“{answer['room']}”不存在。")
                if answer.get("asset"):
                    from houqin.assets.models import Asset

                    asset = Asset.objects.filter(org_id=run.org_id, pk=answer["asset"]).first()
                    if asset is None:
                        raise DjangoValidationError(f"资产“{answer['asset']}”不存在。")
                photo = services.decode_image(answer.get("photo"), name=f"第 {index + 1} 条结果的照片")
            except DjangoValidationError as exc:
                errors.setdefault(key, []).extend(exc.messages)
                continue
            answers.append(services.Answer(item=answer["item"], outcome=answer["outcome"],
                                           note=answer.get("note", ""), photo=photo, room=room, asset=asset))
        if errors:
            raise serializers.ValidationError(errors)
        try:
            photo = services.decode_image(values.get("photo"), name="现场照片")
            with transaction.atomic():
                done = services.submit_run(run, user=request.user, answers=answers, signature=values["signature"],
                                           photo=photo, note=values.get("note", ""))
        except DjangoValidationError as exc:
            raise serializers.ValidationError(serializers.as_serializer_error(exc)) from None
        run = self.restricted_queryset("view").get(pk=done.run.pk)
        return Response(self.get_serializer(run).data, status=status.HTTP_200_OK)


router.register("repairs/inspection-plans", InspectionPlanViewSet)
router.register("repairs/inspection-runs", InspectionRunViewSet)
