"""Stocktaking (清查盘点): a plan over a scope of the register, its expected list frozen when counting starts, the
counts made on phones, the items found that are not on the books (盘盈) and the adjustments proposed when counting
ends, which are posted to the cards only after approval (houqin.assets.stocktake holds the commands).

* ``Stocktake`` — the plan and where it stands: 草稿 → 进行中 → 待审核 → 已完成, or 已取消.
* ``StocktakeCounter`` — a member of the school who counts, optionally limited to some rooms (分工).
* ``StocktakeLine`` — one card of the frozen expected list (账面) with its count result (实物).
* ``StocktakeSurplus`` — an item found in a room that is not on the books (no label, unknown number): 盘盈.
* ``StocktakeAdjustment`` — one change a difference calls for (盘亏 → 丢失, 位置不符 → move, 状态不符 → status,
  盘盈 → register a card), proposed at the end of counting and posted on approval.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models, transaction
from django.db.models import Q
from django.urls import reverse

from houqin.assets.choices import AssetStatus
from houqin.core.models.base import RestrictedQuerySet, TenantModel

__all__ = [
    "NUMBER_PREFIX", "StocktakeStatus", "LineResult", "CountMethod", "AdjustmentKind", "FOUND_STATUS_CHOICES",
    "Stocktake", "StocktakeCounter", "StocktakeLine", "StocktakeSurplus", "StocktakeAdjustment",
]

NUMBER_PREFIX = "PD"  # 盘点单号: PD-2026-00001, one sequence per school and year


class StocktakeStatus(models.TextChoices):
    DRAFT = "draft", "草稿"
    COUNTING = "counting", "进行中"
    REVIEW = "review", "待审核"
    DONE = "done", "已完成"
    CANCELLED = "cancelled", "已取消"


class LineResult(models.TextChoices):
    """The result of one card of the expected list. ``pending`` while counting; an uncounted card becomes
    ``missing`` (盘亏) when counting ends."""

    PENDING = "pending", "未盘"
    MATCHED = "matched", "相符"
    MOVED = "moved", "位置不符"
    STATUS = "status", "状态不符"
    MISSING = "missing", "盘亏"


class CountMethod(models.TextChoices):
    CAMERA = "camera", "摄像头扫码"
    WEDGE = "wedge", "扫码枪/输入编号"
    LIST = "list", "清单勾选"
    CARD = "card", "资产页面"
    API = "api", "接口"


class AdjustmentKind(models.TextChoices):
    LOSE = "lose", "盘亏（转为丢失）"
    MOVE = "move", "位置调整"
    STATUS = "status", "状态调整"
    REGISTER = "register", "盘盈（补登卡片）"


# The conditions a counter may record for an item found (a subset of the card statuses).
FOUND_STATUS_CHOICES = (
    (AssetStatus.IN_USE, "在用"),
    (AssetStatus.IDLE, "闲置"),
    (AssetStatus.REPAIRING, "损坏待修"),
    (AssetStatus.PENDING_DISPOSAL, "报废待处置"),
)


class Stocktake(TenantModel):
    """A stocktaking plan (盘点计划) and its session. Scope: the cards kept in the chosen campuses, buildings or
    rooms (none chosen: the whole school), of the chosen using departments (none: all) and categories with their
    sub-categories (none: all); cards already 已处置 are never counted."""

    search_fields = ("number", "name")

    number = models.CharField("盘点单号", max_length=30, blank=True, editable=False)
    name = models.CharField("盘点名称", max_length=100, help_text="如：2026年春季学期资产清查")
    status = models.CharField("状态", max_length=20, choices=StocktakeStatus.choices, default=StocktakeStatus.DRAFT,
                              editable=False)
    campuses = models.ManyToManyField("core.Campus", verbose_name="校区", blank=True, related_name="+")
    buildings = models.ManyToManyField("core.Building", verbose_name="楼栋", blank=True, related_name="+")
    rooms = models.ManyToManyField("core.Room", verbose_name="房间", blank=True, related_name="+")
    departments = models.ManyToManyField("core.Department", verbose_name="使用部门", blank=True, related_name="+")
    categories = models.ManyToManyField("assets.AssetCategory", verbose_name="资产分类", blank=True,
                                        related_name="+", help_text="含下级分类")
    scope_summary = models.CharField("盘点范围", max_length=300, blank=True, editable=False,
                                     help_text="由所选校区、楼栋、房间、部门和分类生成")
    allow_self_audit = models.BooleanField("允许房间责任人自盘", default=False,
                                           help_text="勾选后，房间的责任人（如班主任）可以盘点自己负责的房间")
    planned_start = models.DateField("计划开始日期")
    planned_end = models.DateField("计划结束日期")
    note = models.CharField("说明", max_length=200, blank=True)
    # Set by the commands.
    expected_count = models.PositiveIntegerField("账面数量", default=0, editable=False)
    expected_value = models.DecimalField("账面原值（元）", max_digits=16, decimal_places=2, default=Decimal("0"),
                                         editable=False)
    difference_value = models.DecimalField("差异金额（元）", max_digits=16, decimal_places=2, default=Decimal("0"),
                                           editable=False, help_text="盘亏原值与盘盈估值之和，用于确定审批档位")
    started_at = models.DateTimeField("开始盘点时间", null=True, blank=True, editable=False)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="开始盘点人", null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="+", editable=False)
    finished_at = models.DateTimeField("结束盘点时间", null=True, blank=True, editable=False)
    finished_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="结束盘点人", null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="+", editable=False)
    completed_at = models.DateTimeField("完成时间", null=True, blank=True, editable=False)
    cancelled_at = models.DateTimeField("取消时间", null=True, blank=True, editable=False)
    cancel_reason = models.CharField("取消原因", max_length=200, blank=True, editable=False)

    class Meta:
        verbose_name = "资产盘点"
        verbose_name_plural = "资产盘点"
        ordering = ["-planned_start", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["org", "number"], condition=~Q(number=""),
                                    name="stocktake_unique_number", violation_error_message="本校已有此盘点单号。"),
        ]
        indexes = [models.Index(fields=["org", "status"], name="stocktake_org_status")]

    def __str__(self):
        return f"{self.number} {self.name}".strip()

    def get_absolute_url(self):
        return reverse("assets:stocktake_detail", args=[self.pk])

    def clean(self):
        errors = {}
        if self.planned_start and self.planned_end and self.planned_end < self.planned_start:
            errors["planned_end"] = "计划结束日期不能早于开始日期。"
        if errors:
            raise ValidationError(errors)

    def save(self, *args, **kwargs):
        if self._state.adding and not self.number and self.org_id:
            from houqin.core.numbering import next_number

            with transaction.atomic():  # the number is taken in the transaction that saves the plan
                self.number = next_number(self.org_id, NUMBER_PREFIX, day=self.planned_start)
                super().save(*args, **kwargs)
            return
        super().save(*args, **kwargs)

    # For the approval engine (houqin.core.approvals.submit): amount and title of the request.
    @property
    def amount(self) -> Decimal:
        return self.difference_value

    @property
    def approval_title(self) -> str:
        return f"{self.number} {self.name} 盘点差异处理"

    @property
    def scope(self) -> str:
        """The scope in words (kept in ``scope_summary`` by houqin.assets.stocktake.refresh_scope)."""
        return self.scope_summary or "全校 · 全部部门 · 全部分类"

    @property
    def progress(self) -> str:
        """“已盘 / 账面” (the lists annotate ``counted_count``)."""
        if self.status == StocktakeStatus.DRAFT:
            return "—"
        return f"{getattr(self, 'counted_count', None) or 0} / {self.expected_count}"

    @property
    def is_active(self) -> bool:
        return self.status == StocktakeStatus.COUNTING

    @property
    def status_badge(self) -> str:
        return {
            StocktakeStatus.DRAFT: "bg-secondary-lt", StocktakeStatus.COUNTING: "bg-blue-lt",
            StocktakeStatus.REVIEW: "bg-yellow-lt", StocktakeStatus.DONE: "bg-green-lt",
            StocktakeStatus.CANCELLED: "bg-dark-lt",
        }.get(self.status, "bg-secondary-lt")


class StocktakeCounter(models.Model):
    """A counter (盘点人) of a plan: a member of the school. With rooms, they count those rooms only (分工);
    without, any room of the scope."""

    org_field = "org"

    org = models.ForeignKey("core.Organization", verbose_name="所属单位", on_delete=models.PROTECT, related_name="+")
    stocktake = models.ForeignKey(Stocktake, verbose_name="盘点", on_delete=models.CASCADE, related_name="counters")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="盘点人", on_delete=models.PROTECT,
                             related_name="+")
    rooms = models.ManyToManyField("core.Room", verbose_name="负责房间", blank=True, related_name="+")

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = "盘点人"
        verbose_name_plural = "盘点人"
        default_permissions = ()
        ordering = ["stocktake", "pk"]
        constraints = [models.UniqueConstraint(fields=["stocktake", "user"], name="stocktakecounter_unique_user")]

    def __str__(self):
        return str(self.user)


class StocktakeLineQuerySet(RestrictedQuerySet):
    def recent_counts(self, limit: int = 5):
        """A card's latest counts, newest first (its page: ``asset.stocktake_lines.recent_counts``)."""
        return (self.filter(counted_at__isnull=False)
                .select_related("stocktake", "found_room__campus", "found_room__building")
                .order_by("-counted_at", "-pk")[:limit])

    def awaiting(self):
        """Lines of plans being counted now that have not been counted yet."""
        return (self.filter(counted_at__isnull=True, stocktake__status=StocktakeStatus.COUNTING)
                .select_related("stocktake").order_by("-pk")[:3])


class StocktakeLine(models.Model):
    """One card of a plan's expected list. The book values (账面) are frozen when counting starts: later changes
    to the card do not change them. The count (实物) is written once per line — the first count wins; a second
    scan is answered 已盘过 (see houqin.assets.stocktake.count_line)."""

    org_field = "org"

    org = models.ForeignKey("core.Organization", verbose_name="所属单位", on_delete=models.PROTECT, related_name="+")
    stocktake = models.ForeignKey(Stocktake, verbose_name="盘点", on_delete=models.CASCADE, related_name="lines")
    asset = models.ForeignKey("assets.Asset", verbose_name="资产", on_delete=models.PROTECT,
                              related_name="stocktake_lines")
    # The book, frozen at the start.
    asset_number = models.CharField("资产编号", max_length=30)
    asset_name = models.CharField("资产名称", max_length=100)
    spec = models.CharField("品牌型号", max_length=160, blank=True)
    category_name = models.CharField("资产分类", max_length=90, blank=True)
    quantity = models.PositiveIntegerField("数量", default=1)
    unit = models.CharField("计量单位", max_length=10, blank=True)
    original_value = models.DecimalField("原值（元）", max_digits=16, decimal_places=2, default=Decimal("0"))
    book_status = models.CharField("账面状态", max_length=20, choices=AssetStatus.choices)
    expected_room = models.ForeignKey("core.Room", verbose_name="账面位置", null=True, blank=True,
                                      on_delete=models.SET_NULL, related_name="+")
    expected_room_name = models.CharField("账面位置名称", max_length=160, blank=True)
    department = models.ForeignKey("core.Department", verbose_name="使用部门", null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    department_name = models.CharField("使用部门名称", max_length=60, blank=True)
    custodian = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="保管人", null=True, blank=True,
                                  on_delete=models.SET_NULL, related_name="+")
    custodian_name = models.CharField("保管人姓名", max_length=80, blank=True)
    # The count.
    result = models.CharField("盘点结果", max_length=20, choices=LineResult.choices, default=LineResult.PENDING)
    found_room = models.ForeignKey("core.Room", verbose_name="实存位置", null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    found_status = models.CharField("实物状态", max_length=20, choices=AssetStatus.choices, blank=True)
    counted_at = models.DateTimeField("盘点时间", null=True, blank=True)
    counted_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="盘点人", null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="+")
    counted_by_name = models.CharField("盘点人姓名", max_length=80, blank=True)
    method = models.CharField("盘点方式", max_length=20, choices=CountMethod.choices, blank=True)
    note = models.CharField("备注", max_length=200, blank=True)

    objects = StocktakeLineQuerySet.as_manager()

    class Meta:
        verbose_name = "盘点明细"
        verbose_name_plural = "盘点明细"
        default_permissions = ("view",)
        ordering = ["stocktake", "expected_room_name", "asset_number"]
        constraints = [
            # One line per card and plan: two counters scanning the same card can never make two results.
            models.UniqueConstraint(fields=["stocktake", "asset"], name="stocktakeline_unique_asset"),
        ]
        indexes = [
            models.Index(fields=["stocktake", "expected_room"], name="stocktakeline_room"),
            models.Index(fields=["stocktake", "result"], name="stocktakeline_result"),
            models.Index(fields=["stocktake", "asset_number"], name="stocktakeline_number"),
            models.Index(fields=["asset", "counted_at"], name="stocktakeline_asset_counted"),
        ]

    def __str__(self):
        return f"{self.asset_number} {self.asset_name}"

    def get_absolute_url(self):
        return reverse("assets:stocktakeline_detail", args=[self.pk])

    @property
    def owning_org_id(self):
        return self.org_id

    @property
    def is_counted(self) -> bool:
        return self.counted_at is not None

    @property
    def found_status_display(self) -> str:
        return dict(FOUND_STATUS_CHOICES).get(self.found_status, self.get_found_status_display()) if (
            self.found_status) else ""

    @property
    def result_badge(self) -> str:
        return {
            LineResult.PENDING: "bg-secondary-lt", LineResult.MATCHED: "bg-green-lt", LineResult.MOVED: "bg-orange-lt",
            LineResult.STATUS: "bg-yellow-lt", LineResult.MISSING: "bg-red-lt",
        }.get(self.result, "bg-secondary-lt")


class StocktakeSurplus(TenantModel):
    """An item found during counting that is not on the books (盘盈): no label, or a number the register does not
    know. Its photo is an attachment. After approval it is registered as a new card (``asset``)."""

    search_fields = ("name", "description")

    stocktake = models.ForeignKey(Stocktake, verbose_name="盘点", on_delete=models.CASCADE, related_name="surpluses")
    room = models.ForeignKey("core.Room", verbose_name="发现位置", null=True, blank=True, on_delete=models.PROTECT,
                             related_name="+")
    name = models.CharField("物品名称", max_length=100)
    description = models.CharField("描述", max_length=200, blank=True, help_text="品牌、型号、外观、标签上的字等")
    quantity = models.PositiveIntegerField("数量", default=1, validators=[MinValueValidator(1)])
    unit = models.CharField("计量单位", max_length=10, default="台")
    estimated_value = models.DecimalField("估计价值（元）", max_digits=14, decimal_places=2, default=Decimal("0"),
                                          validators=[MinValueValidator(Decimal("0"))], help_text="合计金额，可估填")
    found_status = models.CharField("实物状态", max_length=20, choices=AssetStatus.choices,
                                    default=AssetStatus.IN_USE)
    found_at = models.DateTimeField("发现时间", null=True, blank=True)
    found_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="发现人", null=True, blank=True,
                                 on_delete=models.PROTECT, related_name="+")
    found_by_name = models.CharField("发现人姓名", max_length=80, blank=True)
    asset = models.ForeignKey("assets.Asset", verbose_name="补登的资产卡片", null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="+")

    class Meta:
        verbose_name = "盘盈记录"
        verbose_name_plural = "盘盈记录"
        ordering = ["stocktake", "pk"]

    def __str__(self):
        return f"盘盈：{self.name}"

    def get_absolute_url(self):
        return reverse("assets:stocktakesurplus_detail", args=[self.pk])


class StocktakeAdjustment(models.Model):
    """One change a difference calls for, proposed when counting ends and posted to the card on approval
    (``posted_at``; the card's ``adjust`` event in ``event``)."""

    org_field = "org"

    org = models.ForeignKey("core.Organization", verbose_name="所属单位", on_delete=models.PROTECT, related_name="+")
    stocktake = models.ForeignKey(Stocktake, verbose_name="盘点", on_delete=models.CASCADE,
                                  related_name="adjustments")
    kind = models.CharField("调整类型", max_length=20, choices=AdjustmentKind.choices)
    line = models.ForeignKey(StocktakeLine, verbose_name="盘点明细", null=True, blank=True, on_delete=models.CASCADE,
                             related_name="adjustments")
    surplus = models.ForeignKey(StocktakeSurplus, verbose_name="盘盈记录", null=True, blank=True,
                                on_delete=models.CASCADE, related_name="adjustments")
    asset = models.ForeignKey("assets.Asset", verbose_name="资产", null=True, blank=True, on_delete=models.PROTECT,
                              related_name="+")
    room_before = models.ForeignKey("core.Room", verbose_name="原位置", null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="+")
    room_after = models.ForeignKey("core.Room", verbose_name="调整后位置", null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    status_before = models.CharField("原状态", max_length=20, choices=AssetStatus.choices, blank=True)
    status_after = models.CharField("调整后状态", max_length=20, choices=AssetStatus.choices, blank=True)
    value = models.DecimalField("涉及金额（元）", max_digits=16, decimal_places=2, default=Decimal("0"))
    description = models.CharField("说明", max_length=200, blank=True)
    posted_at = models.DateTimeField("入账时间", null=True, blank=True)
    event = models.ForeignKey("assets.AssetEvent", verbose_name="资产变动记录", null=True, blank=True,
                              on_delete=models.PROTECT, related_name="+")

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = "盘点调整"
        verbose_name_plural = "盘点调整"
        default_permissions = ("view",)
        ordering = ["stocktake", "kind", "pk"]

    def __str__(self):
        return f"{self.get_kind_display()} {self.description}".strip()
