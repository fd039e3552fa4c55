"""Models of the repairs app: work orders (报修单) and what they need (see houqin/repairs/models/__init__.py).

* ``RepairCategory`` — a school's repair categories (水电, 门窗, 桌椅 …), each with the trade (工种) that fixes it;
  seeded per school by ``houqin.repairs.defaults.ensure_defaults`` and editable.
* ``SLARule`` — time limits per category × urgency (受理, 开工, 完工; 小修不过夜, 大修不过三天); rows without a
  category apply to every category. Code defaults apply where a school has no row (``houqin.repairs.sla``).
* ``Technician`` — a maintenance worker's profile: trades and whether they take jobs now. Anyone holding the
  维修工 role is a technician even without a profile (then of every trade).
* ``WorkOrder`` — one report and its repair: place or asset, category, description, urgency, reporter, the state
  machine's state with a timestamp per state, SLA due times and lateness flags, costs, the reporter's rating.
  Clients never write its state: the commands of ``houqin.repairs.services`` do.
* ``WorkOrderEvent`` — the append-only log of every transition (who, when, from, to, reason).
* ``WorkOrderMaterial`` — materials used (name, quantity, unit, unit price): the seam for the stock app.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from houqin.core.models.base import AppendOnlyModel, RestrictedQuerySet, TenantModel

__all__ = [
    "Trade", "Urgency", "Scale", "Source", "State", "EventAction", "OPEN_STATES", "WORKING_STATES", "DONE_STATES",
    "CLOSED_STATES", "URGENCY_RANK", "RepairCategory", "SLARule", "Technician", "WorkOrderQuerySet", "WorkOrder",
    "WorkOrderEvent", "WorkOrderMaterial",
]

CENT = Decimal("0.01")


# --- Choices -------------------------------------------------------------------------------------------------------
class Trade(models.TextChoices):
    """工种: who fixes what. A category names one; a technician has one or more."""

    PLUMBING_ELECTRIC = "water_power", "水电"
    CARPENTRY = "carpentry", "木工（门窗桌椅）"
    APPLIANCE = "appliance", "电器"
    NETWORK = "network", "网络多媒体"
    CIVIL = "civil", "土建"
    GENERAL = "general", "综合"


class Urgency(models.TextChoices):
    NORMAL = "normal", "一般"
    URGENT = "urgent", "紧急"
    CRITICAL = "critical", "特急（安全隐患）"


URGENCY_RANK = {Urgency.CRITICAL: 0, Urgency.URGENT: 1, Urgency.NORMAL: 2}


class Scale(models.TextChoices):
    """小修不过夜，大修不过三天: the size of the job decides the finish limit."""

    MINOR = "minor", "小修"
    MAJOR = "major", "大修"


class Source(models.TextChoices):
    SCAN = "scan", "扫码报修"
    FORM = "form", "表单报修"
    PROXY = "proxy", "代报"
    INSPECTION = "inspection", "巡检发现"
    API = "api", "接口"


class State(models.TextChoices):
    NEW = "new", "待受理"
    DISPATCHED = "dispatched", "已派工"
    IN_PROGRESS = "in_progress", "维修中"
    WAITING_PARTS = "waiting_parts", "待配件"
    OUTSIDE = "outside", "外修"
    DONE = "done", "已完工"
    ACCEPTED = "accepted", "已验收"
    VISITED = "visited", "已回访"
    REJECTED = "rejected", "已驳回"
    CANCELLED = "cancelled", "已取消"
    MERGED = "merged", "已合并"  # a second report of a fault already being handled (duplicate_of)


OPEN_STATES = (State.NEW, State.DISPATCHED, State.IN_PROGRESS, State.WAITING_PARTS, State.OUTSIDE)
WORKING_STATES = (State.DISPATCHED, State.IN_PROGRESS, State.WAITING_PARTS, State.OUTSIDE)
DONE_STATES = (State.DONE, State.ACCEPTED, State.VISITED)
CLOSED_STATES = (State.REJECTED, State.CANCELLED, State.MERGED)


class EventAction(models.TextChoices):
    REPORT = "report", "报修"
    MERGE = "merge", "重复报修"
    DISPATCH = "dispatch", "派工"
    TAKE = "take", "接单（自领）"
    ACCEPT = "accept", "接单"
    START = "start", "开始维修"
    WAIT_PARTS = "wait_parts", "待配件"
    RESUME = "resume", "继续维修"
    OUTSIDE = "outside", "申请外修"
    OUTSIDE_APPROVED = "outside_approved", "外修审批通过"
    OUTSIDE_REFUSED = "outside_refused", "外修未获批准"
    COMPLETE = "complete", "完工"
    SIGN_OFF = "sign_off", "验收"
    COMPLAIN = "complain", "投诉返修"
    VISIT = "visit", "回访"
    REJECT = "reject", "驳回"
    CANCEL = "cancel", "取消"
    HAND_BACK = "hand_back", "退回派工"
    CLASSIFY = "classify", "调整分类"
    NOTE = "note", "备注"


# --- Categories and SLA rules ------------------------------------------------------------------------------------
class RepairCategory(TenantModel):
    """A repair category of one school (报修类别) and the trade that handles it."""

    name = models.CharField("类别名称", max_length=30)
    trade = models.CharField("工种", max_length=20, choices=Trade.choices, default=Trade.GENERAL,
                             help_text="派工时优先推荐该工种的维修人员")
    sort_order = models.PositiveSmallIntegerField("排序", default=100)
    is_active = models.BooleanField("启用", default=True)
    description = models.CharField("说明", max_length=200, blank=True, help_text="如：水管、水龙头、电灯、开关、插座")

    class Meta:
        verbose_name = "报修类别"
        verbose_name_plural = "报修类别"
        ordering = ["sort_order", "name"]
        constraints = [models.UniqueConstraint(fields=["org", "name"], name="repaircategory_unique_name",
                                               violation_error_message="本校已有同名的报修类别。")]

    def __str__(self):
        return self.name


class SLARule(TenantModel):
    """Time limits of one urgency, for one category (or every category when ``category`` is empty).

    The clocks start when the fault is reported. Minutes count working time only (the school's working hours and
    days, see ``houqin.repairs.conf``), unless the school counts every hour or the rule does (``all_hours``, for
    特急). "Days" mean: by the end of the working day, ``0`` = the same day (小修不过夜); a report made after the
    school's same-day cut-off time counts from the next working day.
    """

    search_fields = ("urgency",)

    category = models.ForeignKey(RepairCategory, verbose_name="报修类别", null=True, blank=True,
                                 on_delete=models.CASCADE, related_name="sla_rules",
                                 help_text="留空表示适用于全部类别")
    urgency = models.CharField("紧急程度", max_length=20, choices=Urgency.choices)
    accept_minutes = models.PositiveIntegerField("受理时限（分钟）", validators=[MinValueValidator(1)],
                                                 help_text="报修后多长时间内须有人接单")
    start_minutes = models.PositiveIntegerField("开工时限（分钟）", validators=[MinValueValidator(1)],
                                                help_text="报修后多长时间内须到场开始维修")
    finish_minutes = models.PositiveIntegerField("小修完工时限（分钟）", null=True, blank=True,
                                                 validators=[MinValueValidator(1)],
                                                 help_text="按分钟计的完工时限；与“小修完工天数”二选一")
    finish_days = models.PositiveSmallIntegerField("小修完工天数", null=True, blank=True,
                                                   validators=[MaxValueValidator(60)],
                                                   help_text="0 表示当天完工（小修不过夜），1 表示次个工作日下班前")
    major_finish_days = models.PositiveSmallIntegerField("大修完工天数", default=3,
                                                         validators=[MaxValueValidator(120)],
                                                         help_text="大修（需配件、外修）完工时限，默认 3 个工作日")
    all_hours = models.BooleanField("全天候计时", default=False,
                                    help_text="夜间、周末和节假日也计时（特急、安全隐患）")
    note = models.CharField("说明", max_length=200, blank=True)

    class Meta:
        verbose_name = "维修时限"
        verbose_name_plural = "维修时限"
        ordering = ["category__sort_order", "urgency"]
        constraints = [
            models.UniqueConstraint(fields=["org", "urgency"], condition=Q(category__isnull=True),
                                    name="slarule_unique_general",
                                    violation_error_message="本校已有该紧急程度的通用时限。"),
            models.UniqueConstraint(fields=["org", "category", "urgency"], name="slarule_unique_category",
                                    violation_error_message="该类别已有此紧急程度的时限。"),
        ]

    def __str__(self):
        return f"{self.category.name if self.category_id else '全部类别'} · {self.get_urgency_display()}"

    def clean(self):
        errors = {}
        if (self.finish_minutes is None) == (self.finish_days is None):
            errors["finish_days"] = "“小修完工时限（分钟）”和“小修完工天数”须填写且只填写其中一项。"
        if self.category_id and self.org_id and self.category.org_id != self.org_id:
            errors["category"] = "必须是本校的报修类别。"
        if self.accept_minutes and self.start_minutes and self.start_minutes < self.accept_minutes:
            errors["start_minutes"] = "开工时限不能短于受理时限。"
        if errors:
            raise ValidationError(errors)

    @property
    def finish_display(self) -> str:
        if self.finish_minutes is not None:
            return minutes_text(self.finish_minutes)
        if self.finish_days == 0:
            return "当天完工（不过夜）"
        return f"{self.finish_days} 个工作日内"

    @property
    def accept_display(self) -> str:
        return minutes_text(self.accept_minutes)

    @property
    def start_display(self) -> str:
        return minutes_text(self.start_minutes)

    @property
    def major_display(self) -> str:
        return f"{self.major_finish_days} 个工作日内"


def minutes_text(minutes: int | None) -> str:
    if not minutes:
        return ""
    hours, rest = divmod(int(minutes), 60)
    if not hours:
        return f"{rest} 分钟"
    return f"{hours} 小时" + (f" {rest} 分钟" if rest else "")


# --- Technicians ---------------------------------------------------------------------------------------------------
class Technician(TenantModel):
    """A maintenance worker of the school: the trades they fix and whether they take jobs now."""

    search_fields = ("name_cache", "phone")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="人员", on_delete=models.PROTECT,
                             related_name="+")
    name_cache = models.CharField("姓名", max_length=40, blank=True, editable=False)
    trades = models.JSONField("工种", default=list, blank=True, help_text="不选表示综合（各类维修都可派给他）")
    phone = models.CharField("联系电话", max_length=20, blank=True, help_text="留空则用账号中的手机号")
    is_active = models.BooleanField("在岗接单", default=True, help_text="请假或离岗时关闭，派工时不再推荐")
    note = models.CharField("备注", max_length=200, blank=True)

    class Meta:
        verbose_name = "维修人员"
        verbose_name_plural = "维修人员"
        ordering = ["name_cache"]
        constraints = [models.UniqueConstraint(fields=["org", "user"], name="technician_unique_user",
                                               violation_error_message="该人员已登记为本校维修人员。")]

    def __str__(self):
        return self.name_cache or str(self.user)

    def save(self, *args, **kwargs):
        if self.user_id:
            self.name_cache = self.user.get_full_name()[:40]
        super().save(*args, **kwargs)

    def clean(self):
        unknown = [t for t in (self.trades or []) if t not in Trade.values]
        if not isinstance(self.trades, list) or unknown:
            raise ValidationError({"trades": "工种无效。"})
        if self.user_id and self.org_id and not self.user.memberships.filter(org_id=self.org_id).exists():
            raise ValidationError({"user": "维修人员必须是本校人员。"})

    @property
    def trades_display(self) -> str:
        labels = dict(Trade.choices)
        return "、".join(labels.get(t, t) for t in self.trades) if self.trades else "综合"


# --- Work orders ---------------------------------------------------------------------------------------------------
class WorkOrderQuerySet(RestrictedQuerySet):
    """The usual tenancy rule, plus the reporter's own orders: a teacher (who may report but not view the school's
    orders) sees the orders they reported in the schools they belong to, with their photos and history."""

    def restrict(self, user, action: str = "view"):
        from houqin.core.auth import access_for

        if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        if user.is_superuser:
            return self
        access = access_for(user)
        org_ids = access.orgs_for(f"repairs.{action}_workorder")
        visible = Q(org_id__in=sorted(org_ids)) if org_ids else Q(pk__in=[])
        # Their own reports in schools where they may not see all orders (a teacher). Left out when those schools'
        # orders are all visible anyway: the OR would keep the database from walking one index in order.
        own_only = set(access.member_org_ids) - set(org_ids)
        if action == "view" and own_only:
            visible |= Q(reporter_id=user.pk, org_id__in=sorted(own_only))
        return self.filter(visible)

    def open(self):
        return self.filter(state__in=OPEN_STATES)

    def overdue(self, now=None):
        """Orders that missed a deadline: flagged when a step was done late (or by the periodic scan), or still
        open past a due time now."""
        now = now or timezone.now()
        return self.filter(overdue_q(now))


def overdue_q(now) -> Q:
    return (Q(accept_late=True) | Q(start_late=True) | Q(finish_late=True)
            | Q(state=State.NEW, accept_due__lt=now)
            | Q(state=State.DISPATCHED, accepted_at__isnull=True, accept_due__lt=now)
            | Q(state=State.DISPATCHED, start_due__lt=now)
            | Q(state__in=OPEN_STATES, finish_due__lt=now))


class WorkOrder(TenantModel):
    """报修单: one fault reported, and its repair from dispatch to the reporter's sign-off and the office's follow-up
    call. Created by ``services.create_order``; its state and timestamps change only through the commands of
    ``houqin.repairs.services``, each of which writes a ``WorkOrderEvent``."""

    search_fields = ("number", "place_text", "description", "reporter_name")

    number = models.CharField("报修单号", max_length=30, editable=False)
    # Where: a room, an asset (whose room fills ``room``), or a place described in words (操场东侧路灯).
    room = models.ForeignKey("core.Room", verbose_name="报修地点", null=True, blank=True, on_delete=models.PROTECT,
                             related_name="+")
    building = models.ForeignKey("core.Building", verbose_name="楼栋", null=True, blank=True,
                                 on_delete=models.PROTECT, related_name="+", editable=False)
    asset = models.ForeignKey("assets.Asset", verbose_name="报修资产", null=True, blank=True,
                              on_delete=models.PROTECT, related_name="+")
    place = models.CharField("具体位置", max_length=100, blank=True, help_text="如：讲台左侧插座、三楼男厕第二格")
    place_text = models.CharField("地点", max_length=200, blank=True, editable=False)
    category = models.ForeignKey(RepairCategory, verbose_name="报修类别", on_delete=models.PROTECT, related_name="+")
    description = models.TextField("故障描述", max_length=500)
    urgency = models.CharField("紧急程度", max_length=20, choices=Urgency.choices, default=Urgency.NORMAL)
    scale = models.CharField("维修规模", max_length=10, choices=Scale.choices, default=Scale.MINOR)
    source = models.CharField("报修方式", max_length=20, choices=Source.choices, default=Source.FORM)
    reference = models.CharField("来源单据", max_length=60, blank=True, help_text="如巡检记录编号")
    # Who: a signed-in reporter, or a name and phone (a visitor scanning a QR code, a report taken by phone).
    reporter = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="报修人账号", null=True, blank=True,
                                 on_delete=models.PROTECT, related_name="+")
    reporter_name = models.CharField("报修人", max_length=40, blank=True)
    reporter_phone = models.CharField("联系电话", max_length=20, blank=True)
    entered_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="录入人", null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="+", editable=False)
    client_ip = models.GenericIPAddressField("报修来源地址", null=True, blank=True, editable=False)
    duplicate_of = models.ForeignKey("self", verbose_name="合并到", null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="duplicates", editable=False)
    # State and its times (the first time of each; the events keep every transition).
    state = models.CharField("状态", max_length=20, choices=State.choices, default=State.NEW, editable=False)
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="维修人员", null=True, blank=True,
                                 on_delete=models.PROTECT, related_name="+", editable=False)
    reported_at = models.DateTimeField("报修时间", default=timezone.now, editable=False)
    dispatched_at = models.DateTimeField("派工时间", null=True, blank=True, editable=False)
    accepted_at = models.DateTimeField("接单时间", null=True, blank=True, editable=False)
    started_at = models.DateTimeField("开工时间", null=True, blank=True, editable=False)
    completed_at = models.DateTimeField("完工时间", null=True, blank=True, editable=False)
    signed_off_at = models.DateTimeField("验收时间", null=True, blank=True, editable=False)
    visited_at = models.DateTimeField("回访时间", null=True, blank=True, editable=False)
    closed_at = models.DateTimeField("关闭时间", null=True, blank=True, editable=False,
                                     help_text="驳回、取消或合并的时间")
    state_changed_at = models.DateTimeField("状态变更时间", default=timezone.now, editable=False)
    # SLA: due times from the rule in force at the report (recomputed when urgency, category or scale change).
    accept_due = models.DateTimeField("受理时限", null=True, blank=True, editable=False)
    start_due = models.DateTimeField("开工时限", null=True, blank=True, editable=False)
    finish_due = models.DateTimeField("完工时限", null=True, blank=True, editable=False)
    accept_late = models.BooleanField("受理超时", default=False, editable=False)
    start_late = models.BooleanField("开工超时", default=False, editable=False)
    finish_late = models.BooleanField("完工超时", default=False, editable=False)
    # The repair.
    work_done = models.TextField("维修内容", max_length=500, blank=True, editable=False)
    labour_hours = models.DecimalField("工时（小时）", max_digits=6, decimal_places=1, default=Decimal("0"),
                                       editable=False)
    labour_rate = models.DecimalField("工时单价（元/小时）", max_digits=8, decimal_places=2, default=Decimal("0"),
                                      editable=False)
    contractor = models.CharField("外修单位", max_length=100, blank=True, editable=False)
    contractor_quote = models.DecimalField("外修报价（元）", max_digits=12, decimal_places=2, null=True, blank=True,
                                           editable=False)
    outside_approved = models.BooleanField("外修已批准", default=False, editable=False)
    material_cost = models.DecimalField("材料费（元）", max_digits=12, decimal_places=2, default=Decimal("0"),
                                        editable=False)
    labour_cost = models.DecimalField("人工费（元）", max_digits=12, decimal_places=2, default=Decimal("0"),
                                      editable=False)
    outside_cost = models.DecimalField("外修费（元）", max_digits=12, decimal_places=2, default=Decimal("0"),
                                       editable=False)
    total_cost = models.DecimalField("维修费用合计（元）", max_digits=12, decimal_places=2, default=Decimal("0"),
                                     editable=False)
    # Feedback.
    rating = models.PositiveSmallIntegerField("评价", null=True, blank=True, editable=False,
                                              validators=[MinValueValidator(1), MaxValueValidator(5)])
    rating_comment = models.CharField("评价意见", max_length=300, blank=True, editable=False)
    signed_off_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="验收人", null=True, blank=True,
                                      on_delete=models.PROTECT, related_name="+", editable=False)
    signed_off_on_behalf = models.BooleanField("代为验收", default=False, editable=False)
    visit_note = models.CharField("回访情况", max_length=300, blank=True, editable=False)
    reopened_count = models.PositiveSmallIntegerField("返修次数", default=0, editable=False)
    close_reason = models.CharField("驳回/取消原因", max_length=300, blank=True, editable=False)

    objects = WorkOrderQuerySet.as_manager()

    class Meta:
        verbose_name = "报修单"
        verbose_name_plural = "报修单"
        ordering = ["-reported_at", "-pk"]
        permissions = [("dispatch_workorder", "受理、派工与回访报修单")]
        constraints = [
            models.UniqueConstraint(fields=["org", "number"], name="workorder_unique_number",
                                    violation_error_message="本校已有此报修单号。"),
            models.CheckConstraint(condition=Q(rating__isnull=True) | Q(rating__gte=1, rating__lte=5),
                                   name="workorder_rating_1_to_5", violation_error_message="评价须为 1 至 5 星。"),
        ]
        indexes = [
            models.Index(fields=["org", "reported_at"], name="workorder_org_reported"),
            models.Index(fields=["reported_at"], name="workorder_reported"),  # a bureau's list across schools
            models.Index(fields=["org", "state", "reported_at"], name="workorder_org_state"),
            models.Index(fields=["org", "assignee", "state"], name="workorder_org_assignee"),
            models.Index(fields=["org", "building", "reported_at"], name="workorder_org_building"),
            models.Index(fields=["org", "category", "reported_at"], name="workorder_org_category"),
            models.Index(fields=["org", "finish_due"], name="workorder_org_finish_due"),
            models.Index(fields=["reporter", "reported_at"], name="workorder_reporter"),
            models.Index(fields=["asset", "state"], name="workorder_asset_state"),
            models.Index(fields=["room", "state"], name="workorder_room_state"),
            models.Index(fields=["client_ip", "created_at"], name="workorder_client_ip"),
            models.Index(fields=["reporter_phone", "created_at"], name="workorder_reporter_phone"),
        ]

    def __str__(self):
        return self.number or "新报修单"

    def get_absolute_url(self):
        from django.urls import reverse

        return reverse("repairs:workorder_detail", args=[self.pk])

    # --- Display helpers -------------------------------------------------------------------------------------
    @property
    def reporter_display(self) -> str:
        name = self.reporter_name or (self.reporter.get_full_name() if self.reporter_id else "")
        return name or "匿名"

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def rating_display(self) -> str:
        if self.rating is None:
            return "未评价" if self.state in DONE_STATES else ""
        return "★" * self.rating + "☆" * (5 - self.rating)

    @property
    def short_description(self) -> str:
        text = " ".join((self.description or "").split())
        return text if len(text) <= 40 else f"{text[:40]}…"

    def overdue_now(self, now=None) -> bool:
        """Late on any clock: a step done late, or a due time passed with the step still not done."""
        now = now or timezone.now()
        if self.accept_late or self.start_late or self.finish_late:
            return True
        if self.state not in OPEN_STATES:
            return False
        return bool((self.accepted_at is None and self.accept_due and self.accept_due < now)
                    or (self.started_at is None and self.start_due and self.start_due < now)
                    or (self.finish_due and self.finish_due < now))

    @property
    def overdue_display(self) -> str:
        return "超时" if self.overdue_now() else ""

    @property
    def current_deadline(self):
        """(label, due) of the clock that runs now, or None."""
        if self.state not in OPEN_STATES:
            return None
        if self.accepted_at is None:
            return "受理", self.accept_due
        if self.started_at is None:
            return "开工", self.start_due
        return "完工", self.finish_due

    @property
    def deadline_display(self) -> str:
        current = self.current_deadline
        if current is None or current[1] is None:
            return ""
        label, due = current
        return f"{label} {timezone.localtime(due):%m-%d %H:%M}"

    def compute_place_text(self) -> str:
        parts = []
        if self.asset_id:
            parts.append(f"{self.asset.name}（{self.asset.number}）" if self.asset.number else self.asset.name)
        if self.room_id:
            parts.append(str(self.room))
        if self.place:
            parts.append(self.place)
        return " · ".join(parts)[:200]

    def compute_costs(self) -> None:
        """人工费 = hours × rate; 合计 = materials + labour + outside (material_cost is set from the materials)."""
        self.labour_cost = (Decimal(self.labour_hours or 0) * Decimal(self.labour_rate or 0)).quantize(CENT)
        self.total_cost = (Decimal(self.material_cost or 0) + self.labour_cost
                           + Decimal(self.outside_cost or 0)).quantize(CENT)


class WorkOrderEvent(AppendOnlyModel):
    """One transition of a work order (append-only): who, when, from which state to which, and why."""

    org_field = "org"

    org = models.ForeignKey("core.Organization", verbose_name="所属单位", on_delete=models.PROTECT, related_name="+")
    order = models.ForeignKey(WorkOrder, verbose_name="报修单", on_delete=models.PROTECT, related_name="events")
    time = models.DateTimeField("时间", default=timezone.now)
    action = models.CharField("操作", max_length=20, choices=EventAction.choices)
    from_state = models.CharField("原状态", max_length=20, choices=State.choices, blank=True)
    to_state = models.CharField("新状态", max_length=20, choices=State.choices, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="操作人", null=True, blank=True,
                              on_delete=models.PROTECT, related_name="+")
    actor_name = models.CharField("操作人姓名", max_length=80, blank=True)
    reason = models.CharField("说明", max_length=300, blank=True)
    data = models.JSONField("详情", default=dict, blank=True)

    ledger_name = "报修单流转记录"

    class Meta:
        verbose_name = "报修流转记录"
        verbose_name_plural = "报修流转记录"
        ordering = ["-time", "-pk"]
        default_permissions = ("view",)
        indexes = [models.Index(fields=["order", "time"], name="workorderevent_order_time"),
                   models.Index(fields=["org", "time"], name="workorderevent_org_time")]

    def __str__(self):
        stamp = timezone.localtime(self.time).strftime("%Y-%m-%d %H:%M") if self.time else ""
        return f"{stamp} {self.get_action_display()}"

    @property
    def owning_org_id(self):
        return self.org_id


class WorkOrderMaterial(models.Model):
    """A material used on a work order. ``stock_ref`` is the seam for the stock app (the stock move that issued
    it); until that app exists the technician types the name and price."""

    org_field = "org"

    org = models.ForeignKey("core.Organization", verbose_name="所属单位", on_delete=models.PROTECT, related_name="+")
    order = models.ForeignKey(WorkOrder, verbose_name="报修单", on_delete=models.CASCADE, related_name="materials")
    name = models.CharField("材料名称", max_length=60)
    spec = models.CharField("规格", max_length=60, blank=True)
    quantity = models.DecimalField("数量", max_digits=10, decimal_places=2,
                                   validators=[MinValueValidator(Decimal("0.01"))])
    unit = models.CharField("单位", max_length=10, default="个")
    unit_price = models.DecimalField("单价（元）", max_digits=10, decimal_places=2, default=Decimal("0"),
                                     validators=[MinValueValidator(Decimal("0"))])
    amount = models.DecimalField("金额（元）", max_digits=12, decimal_places=2, default=Decimal("0"), editable=False)
    stock_ref = models.CharField("出库单据", max_length=60, blank=True, editable=False)
    created_at = models.DateTimeField("登记时间", default=timezone.now, editable=False)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = "维修用料"
        verbose_name_plural = "维修用料"
        ordering = ["pk"]
        default_permissions = ("view",)

    def __str__(self):
        return f"{self.name} {self.quantity.normalize() if self.quantity else ''}{self.unit}".strip()

    def save(self, *args, **kwargs):
        self.amount = (Decimal(self.quantity or 0) * Decimal(self.unit_price or 0)).quantize(CENT)
        super().save(*args, **kwargs)

    @property
    def owning_org_id(self):
        return self.org_id
