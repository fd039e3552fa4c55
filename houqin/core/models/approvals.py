"""Approvals: the bands of steps per request type and school (policies), the requests going through them and
their append-only trail, plus ``GeneralRequest``, the one request type core itself owns (通用申请).

The engine (services, request-type registry, approver registry) is ``houqin.core.approvals``; these models hold
state only. Status changes happen through its services, never by editing a row.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey, GenericRelation
from django.contrib.contenttypes.models import ContentType
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.urls import reverse

from houqin.core.models.base import RestrictedQuerySet, TenantModel

MONEY = {"max_digits": 14, "decimal_places": 2}


class ApprovalStatus(models.TextChoices):
    DRAFT = "draft", "草稿"
    PENDING = "pending", "审批中"
    APPROVED = "approved", "已通过"
    REJECTED = "rejected", "已驳回"
    SENT_BACK = "sent_back", "已退回"
    WITHDRAWN = "withdrawn", "已撤回"


# A request in one of these may be (re)submitted by its requester.
SUBMITTABLE_STATUSES = (ApprovalStatus.DRAFT, ApprovalStatus.SENT_BACK)
# Final: the request is closed; submitting its source again starts a new request.
CLOSED_STATUSES = (ApprovalStatus.APPROVED, ApprovalStatus.REJECTED, ApprovalStatus.WITHDRAWN)


class ApprovalActionKind(models.TextChoices):
    SUBMIT = "submit", "提交"
    APPROVE = "approve", "同意"
    REJECT = "reject", "驳回"
    SEND_BACK = "send_back", "退回"
    WITHDRAW = "withdraw", "撤回"
    RESUBMIT = "resubmit", "重新提交"


class StepKind(models.TextChoices):
    # The role holder decides.
    APPROVE = "approve", "审批"
    # The role holder records the decision of a body that has no account (校务会, 财政部门): a comment naming the
    # meeting or document is required.
    RECORD = "record", "录入决议"


class ApprovalPolicy(TenantModel):
    """A school's own bands for one request type. Without a row, the type's defaults from code apply
    (``houqin.core.approvals.bands_for``); saving the editor creates the row with its rules."""

    search_fields = ("request_type",)

    request_type = models.CharField("申请类型", max_length=40)
    flag_label = models.CharField("提示标记", max_length=40, blank=True, help_text="如：需政府采购")
    flag_min_amount = models.DecimalField(
        "标记起点金额（元）",
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        **MONEY,
        help_text="金额达到此数时在申请上显示提示标记；留空表示不标记",
    )
    note = models.CharField("说明", max_length=200, blank=True)

    class Meta:
        verbose_name = "审批设置"
        verbose_name_plural = "审批设置"
        ordering = ["org", "request_type"]
        constraints = [models.UniqueConstraint(fields=["org", "request_type"], name="approvalpolicy_unique_type")]

    def __str__(self):
        from houqin.core.approvals import type_name

        return f"{type_name(self.request_type)}审批设置"


class ApprovalRule(TenantModel):
    """One band of a policy: amounts in [min_amount, max_amount) (and optionally one category) go through
    ``steps`` in order. ``steps`` is a list of ``{"approver": <approver key>, "distinct": bool}``; the approver
    keys are those of ``houqin.core.approvals.APPROVERS``."""

    search_fields = ("category",)

    policy = models.ForeignKey(ApprovalPolicy, verbose_name="审批设置", on_delete=models.CASCADE, related_name="rules")
    min_amount = models.DecimalField("金额下限（含，元）", default=0, validators=[MinValueValidator(0)], **MONEY)
    max_amount = models.DecimalField("金额上限（不含，元）", null=True, blank=True, **MONEY, help_text="留空表示不限")
    category = models.CharField("类别条件", max_length=40, blank=True, help_text="留空表示适用于全部类别")
    steps = models.JSONField("审批步骤", default=list)
    sort_order = models.PositiveSmallIntegerField("排序", default=0)

    class Meta:
        verbose_name = "审批档位"
        verbose_name_plural = "审批档位"
        ordering = ["policy", "category", "min_amount", "sort_order"]

    def __str__(self):
        from houqin.core.approvals import band_text

        return band_text(self.min_amount, self.max_amount)


class ApprovalRequestQuerySet(RestrictedQuerySet):
    def restrict(self, user, action: str = "view"):
        """Holders of ``core.<action>_approvalrequest`` see their organisations' requests (bureau users read
        across their schools). Anyone may also see the requests they filed, acted on, or may act on now."""
        from houqin.core.auth import access_for

        if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        if user.is_superuser:
            return self
        visible = Q(pk__in=self.actionable_by(user).values("pk"))
        org_ids = access_for(user).orgs_for(f"core.{action}_approvalrequest")
        if org_ids:
            visible |= Q(org_id__in=sorted(org_ids))
        if action == "view":
            visible |= Q(requester=user) | Q(pk__in=ApprovalAction.objects.filter(actor=user).values("request_id"))
        return self.filter(visible)

    def actionable_by(self, user):
        """Pending requests whose current step ``user`` may approve, reject or send back now — decided in SQL from
        the user's role memberships (the ``current_*`` columns mirror the current step of the frozen steps)."""
        from houqin.core.models.users import Membership

        if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        holds_role = Membership.objects.filter(
            user=user, org_id=OuterRef("current_org_id"), role__code=OuterRef("current_role"), org__is_active=True
        )
        approved_earlier = ApprovalAction.objects.filter(
            request_id=OuterRef("pk"), round=OuterRef("round"), actor=user, action=ApprovalActionKind.APPROVE
        )
        return (
            self.filter(status=ApprovalStatus.PENDING)
            .filter(Exists(holds_role))
            .exclude(requester=user)
            .exclude(Q(current_distinct=True) & Exists(approved_earlier))
        )


class ApprovalRequest(TenantModel):
    """One request going through approval: what is asked (title, amount, category), by whom, the steps frozen at
    submission and where it stands. The domain object it is about is ``source`` (a generic link)."""

    search_fields = ("number", "title")
    # The trail (ApprovalAction) is this row's history; the current_* mirror columns would only repeat it.
    changelog_exclude = (*TenantModel.changelog_exclude, "current_org", "current_role", "current_distinct")

    request_type = models.CharField("申请类型", max_length=40, db_index=True)
    number = models.CharField("审批单号", max_length=40)
    title = models.CharField("事由", max_length=200)
    amount = models.DecimalField("金额（元）", default=0, validators=[MinValueValidator(0)], **MONEY)
    category = models.CharField("类别", max_length=40, blank=True)
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="申请人", on_delete=models.PROTECT, related_name="approval_requests"
    )
    status = models.CharField(
        "状态", max_length=12, choices=ApprovalStatus.choices, default=ApprovalStatus.DRAFT, db_index=True
    )
    # Each (re)submission starts a new round at step 0; the trail keeps every round.
    round = models.PositiveSmallIntegerField("轮次", default=0)
    current_step = models.PositiveSmallIntegerField("当前步骤", default=0)
    steps = models.JSONField("审批步骤", default=list, help_text="提交时冻结，之后修改审批设置不影响本申请")
    band = models.CharField("适用档位", max_length=100, blank=True)
    flags = models.JSONField("提示标记", default=list, blank=True)
    # Mirror of steps[current_step] while pending (empty otherwise), so the inbox is one indexed query.
    current_org = models.ForeignKey(
        "core.Organization",
        verbose_name="当前审批单位",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    current_role = models.CharField("当前审批角色", max_length=40, blank=True)
    current_distinct = models.BooleanField("当前步骤须不同审批人", default=False)
    content_type = models.ForeignKey(
        ContentType, verbose_name="业务对象类型", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    object_id = models.PositiveBigIntegerField("业务对象编号", null=True, blank=True)
    source = GenericForeignKey("content_type", "object_id")
    submitted_at = models.DateTimeField("提交时间", null=True, blank=True)
    decided_at = models.DateTimeField("办结时间", null=True, blank=True)

    objects = ApprovalRequestQuerySet.as_manager()

    class Meta:
        verbose_name = "审批申请"
        verbose_name_plural = "审批申请"
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["org", "number"], name="approvalrequest_unique_number")]
        indexes = [
            models.Index(fields=["status", "current_org", "current_role"], name="approval_inbox"),
            models.Index(fields=["requester", "-created_at"], name="approval_requester"),
            models.Index(fields=["content_type", "object_id"], name="approval_source"),
        ]

    def __str__(self):
        return f"{self.number} {self.title}"

    def get_absolute_url(self):
        return reverse("approvals:detail", args=[self.pk])

    @property
    def type_name(self) -> str:
        from houqin.core.approvals import type_name

        return type_name(self.request_type)

    @property
    def category_name(self) -> str:
        from houqin.core.approvals import category_name

        return category_name(self.request_type, self.category)

    @property
    def current(self) -> dict | None:
        """The current step (a dict of the frozen steps) while pending, else None."""
        if self.status != ApprovalStatus.PENDING or self.current_step >= len(self.steps):
            return None
        return self.steps[self.current_step]

    @property
    def is_open(self) -> bool:
        return self.status not in CLOSED_STATUSES


class ApprovalActionQuerySet(models.QuerySet):
    """Append-only, like the change log: bulk update and delete are refused."""

    def update(self, **kwargs):
        raise PermissionError("审批记录不可修改")

    def delete(self):
        raise PermissionError("审批记录不可删除")

    def restrict(self, user, action: str = "view"):
        if action != "view":
            return self.none()
        return self.filter(request__in=ApprovalRequest.objects.restrict(user, "view"))


class ApprovalAction(models.Model):
    """One entry of a request's trail: who did what at which step, with the comment and time. Never edited."""

    org_field = "org"

    request = models.ForeignKey(
        ApprovalRequest, verbose_name="审批申请", on_delete=models.PROTECT, related_name="actions"
    )
    org = models.ForeignKey("core.Organization", verbose_name="所属单位", on_delete=models.PROTECT, related_name="+")
    round = models.PositiveSmallIntegerField("轮次", default=1)
    step = models.PositiveSmallIntegerField("步骤", null=True, blank=True, help_text="从 0 起；提交、撤回为空")
    step_label = models.CharField("步骤名称", max_length=60, blank=True)
    action = models.CharField("操作", max_length=12, choices=ApprovalActionKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="操作人", on_delete=models.PROTECT, related_name="+"
    )
    actor_name = models.CharField("操作人姓名", max_length=80)
    # Roles the actor acted under, as named then (e.g. 校长/园长 @ 甲城第一小学).
    acting_as = models.CharField("审批身份", max_length=120, blank=True)
    comment = models.TextField("意见", blank=True)
    time = models.DateTimeField("时间", auto_now_add=True, db_index=True)

    objects = ApprovalActionQuerySet.as_manager()

    class Meta:
        verbose_name = "审批记录"
        verbose_name_plural = "审批记录"
        ordering = ["time", "id"]
        indexes = [models.Index(fields=["request", "round", "action"], name="approvalaction_round")]

    def __str__(self):
        return f"{self.actor_name} {self.get_action_display()} {self.step_label}".strip()

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionError("审批记录不可修改")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("审批记录不可删除")


class GeneralRequestCategory(models.TextChoices):
    EXPENSE = "expense", "经费开支"
    VENUE = "venue", "场所使用与变更"
    EQUIPMENT = "equipment", "设备借用"
    OTHER = "other", "其他事项"


class GeneralOutcome(models.TextChoices):
    OPEN = "open", "办理中"
    APPROVED = "approved", "已同意"
    REJECTED = "rejected", "未同意"
    WITHDRAWN = "withdrawn", "已撤回"


class GeneralRequestQuerySet(RestrictedQuerySet):
    def restrict(self, user, action: str = "view"):
        """Role holders see their organisations' general requests; a requester always sees their own."""
        visible = super().restrict(user, action)
        if action != "view" or user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
            return visible
        return self.filter(Q(pk__in=visible.values("pk")) | Q(requester=user))


class GeneralRequest(TenantModel):
    """通用申请: a request that needs no domain app (a venue change, a small expense, borrowing equipment).
    It is the engine's own demo type: its page is its approval's page, and the approval hooks set ``outcome``."""

    search_fields = ("title",)

    title = models.CharField("事由", max_length=200)
    category = models.CharField(
        "类别", max_length=20, choices=GeneralRequestCategory.choices, default=GeneralRequestCategory.OTHER
    )
    amount = models.DecimalField(
        "金额（元）", default=0, validators=[MinValueValidator(0)], **MONEY, help_text="不涉及经费填 0"
    )
    description = models.TextField("说明", blank=True)
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="申请人", on_delete=models.PROTECT, related_name="+"
    )
    approvals = GenericRelation("core.ApprovalRequest", related_query_name="general_request")
    outcome = models.CharField("办理结果", max_length=12, choices=GeneralOutcome.choices, default=GeneralOutcome.OPEN)
    decided_at = models.DateTimeField("办结时间", null=True, blank=True)

    objects = GeneralRequestQuerySet.as_manager()

    class Meta:
        verbose_name = "通用申请"
        verbose_name_plural = "通用申请"
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        approval = self.approvals.order_by("-pk").first()
        return approval.get_absolute_url() if approval else reverse("approvals:mine")
