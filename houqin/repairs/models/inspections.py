"""Models of the repairs app: preventive inspections (巡检, see houqin/repairs/models/__init__.py).

* ``InspectionPlan`` — what is checked (rooms, a building, assets or a free 检查对象 text), by whom (a person and/or
  everyone holding a role), how often (``houqin.repairs.recurrence``), with its checklist.
* ``InspectionItem`` — one line of a plan's checklist.
* ``InspectionRun`` — one occurrence of a plan (XJ number, period key, due date); unique per (plan, period key),
  so two workers generating at once never create it twice. Filled in once: after submission it is a record
  (append-only: no edit, no delete, no new attachments).
* ``InspectionResult`` — the answer to one checklist line in a run (合格/不合格/不适用, note, photo); the line's text is
  copied so that a later change of the checklist leaves old records as they were.

State changes (generate, submit, cancel) are commands in ``houqin/repairs/inspections.py``.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Exists, OuterRef, Q

from houqin.core.models.base import RestrictedQuerySet, TenantModel
from houqin.repairs import recurrence

__all__ = [
    "ScheduleKind",
    "Weekday",
    "WeekOfMonth",
    "HolidayRule",
    "RunState",
    "Outcome",
    "RunOutcome",
    "OPEN_STATES",
    "responsible_role_choices",
    "InspectionPlan",
    "InspectionItem",
    "InspectionRunQuerySet",
    "InspectionRun",
    "InspectionResultQuerySet",
    "InspectionResult",
]


class ScheduleKind(models.TextChoices):
    WEEKLY = recurrence.WEEKLY, "每周"
    MONTHLY = recurrence.MONTHLY, "每月"
    TERM = recurrence.TERM, "每学期开学"
    YEARLY = recurrence.YEARLY, "每年固定日期"
    INTERVAL = recurrence.INTERVAL, "每隔若干天"


class Weekday(models.IntegerChoices):
    MONDAY = 0, "星期一"
    TUESDAY = 1, "星期二"
    WEDNESDAY = 2, "星期三"
    THURSDAY = 3, "星期四"
    FRIDAY = 4, "星期五"
    SATURDAY = 5, "星期六"
    SUNDAY = 6, "星期日"


class WeekOfMonth(models.IntegerChoices):
    FIRST = 1, "第一个"
    SECOND = 2, "第二个"
    THIRD = 3, "第三个"
    FOURTH = 4, "第四个"
    LAST = recurrence.LAST, "最后一个"


class HolidayRule(models.TextChoices):
    NEXT = recurrence.NEXT, "顺延到下一个工作日"
    PREVIOUS = recurrence.PREVIOUS, "提前到前一个工作日"
    KEEP = recurrence.KEEP, "照常检查，不调整"
    SKIP = recurrence.SKIP, "跳过这一次"


class RunState(models.TextChoices):
    PENDING = "pending", "待检查"
    OVERDUE = "overdue", "已逾期"
    DONE = "done", "已完成"
    CANCELLED = "cancelled", "已取消"


OPEN_STATES = (RunState.PENDING, RunState.OVERDUE)


class Outcome(models.TextChoices):
    PASS = "pass", "合格"
    FAIL = "fail", "不合格"
    NA = "na", "不适用"


class RunOutcome(models.TextChoices):
    PASS = "pass", "全部合格"
    FAIL = "fail", "有不合格"


def responsible_role_choices() -> list[tuple[str, str]]:
    """The school roles a plan may name as responsible (every holder of the role in the school may do the runs)."""
    from houqin.core.roles import ROLES

    return [(r.code, r.name) for r in ROLES if r.scope == "school"]


def _role_label(code: str) -> str:
    return dict(responsible_role_choices()).get(code, code)


# --- Plans ---------------------------------------------------------------------------------------------------------
class InspectionPlan(TenantModel):
    """A preventive inspection plan (巡检计划): what, who, how often, and the checklist (``items``)."""

    search_fields = ("name", "target")

    name = models.CharField("计划名称", max_length=60, help_text="如：大型玩具与体育器材周检")
    target = models.CharField("检查对象", max_length=100, blank=True,
                              help_text="如：操场大型玩具、篮球架、单双杠；也可以在下面选择楼栋、房间或设备")
    building = models.ForeignKey("core.Building", verbose_name="楼栋", null=True, blank=True,
                                 on_delete=models.PROTECT, related_name="+")
    rooms = models.ManyToManyField("core.Room", verbose_name="房间/区域", blank=True, related_name="+")
    assets = models.ManyToManyField("assets.Asset", verbose_name="设备/资产", blank=True, related_name="+")
    responsible = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="负责人", null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="+")
    responsible_role = models.CharField("负责岗位", max_length=30, blank=True,
                                        help_text="该岗位的每个人都能完成检查并收到提醒")
    kind = models.CharField("检查周期", max_length=20, choices=ScheduleKind.choices, default=ScheduleKind.WEEKLY)
    weekday = models.PositiveSmallIntegerField("星期几", choices=Weekday.choices, null=True, blank=True,
                                               help_text="每周检查，或“每月第几个星期几”时填写")
    month_day = models.PositiveSmallIntegerField("日期（几日）", null=True, blank=True,
                                                 validators=[MinValueValidator(1), MaxValueValidator(31)],
                                                 help_text="每月或每年检查的日期；31 表示每月最后一天")
    week_of_month = models.SmallIntegerField("每月第几个", choices=WeekOfMonth.choices, null=True, blank=True,
                                             help_text="如“每月第一个星期一”：选“第一个”和“星期一”，日期留空")
    month = models.PositiveSmallIntegerField("月份", null=True, blank=True,
                                             validators=[MinValueValidator(1), MaxValueValidator(12)],
                                             help_text="每年检查的月份，如入夏前清洗空调填 6")
    every_days = models.PositiveSmallIntegerField("间隔天数", null=True, blank=True,
                                                  validators=[MinValueValidator(1),
                                                              MaxValueValidator(recurrence.MAX_INTERVAL_DAYS)])
    offset_days = models.SmallIntegerField("开学前后天数", default=0,
                                           validators=[MinValueValidator(-recurrence.MAX_TERM_OFFSET),
                                                       MaxValueValidator(recurrence.MAX_TERM_OFFSET)],
                                           help_text="每学期开学检查：0 为开学第一天，-3 为开学前 3 天")
    start_date = models.DateField("开始日期", help_text="从这一天起安排检查；“每隔若干天”从这一天算起")
    holiday_rule = models.CharField("遇周末或节假日", max_length=20, choices=HolidayRule.choices,
                                    default=HolidayRule.NEXT)
    check_in_vacation = models.BooleanField("寒暑假照常检查", default=False,
                                            help_text="不勾选则寒暑假期间不安排（需已录入学期）")
    lead_days = models.PositiveSmallIntegerField("提前生成天数", default=7,
                                                 validators=[MinValueValidator(1), MaxValueValidator(60)],
                                                 help_text="在应检日期前几天生成检查任务")
    repair_category = models.CharField("报修类别", max_length=20, blank=True,
                                       help_text="不合格项自动生成维修单时的类别，如：水电、门窗、电器；留空为“其他”")
    is_active = models.BooleanField("启用", default=True)
    note = models.CharField("备注", max_length=200, blank=True)
    generated_until = models.DateField("已生成至", null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "巡检计划"
        verbose_name_plural = "巡检计划"
        ordering = ["org", "name"]
        constraints = [
            models.UniqueConstraint(fields=["org", "name"], name="inspectionplan_unique_name",
                                    violation_error_message="本校已有同名的巡检计划。"),
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        from django.urls import reverse

        return reverse("repairs:inspectionplan_detail", args=[self.pk])

    # Schedule ------------------------------------------------------------------------------------------------------
    RULE_FIELDS = ("kind", "weekday", "month_day", "week_of_month", "month", "every_days", "offset_days",
                   "start_date", "holiday_rule", "check_in_vacation")

    @property
    def rule(self) -> recurrence.Rule:
        kind = self.kind
        return recurrence.Rule(
            kind,
            weekday=self.weekday if kind in (ScheduleKind.WEEKLY, ScheduleKind.MONTHLY) else None,
            month_day=self.month_day if kind in (ScheduleKind.YEARLY, ScheduleKind.MONTHLY) and (
                kind == ScheduleKind.YEARLY or self.week_of_month is None) else None,
            week_of_month=self.week_of_month if kind == ScheduleKind.MONTHLY else None,
            month=self.month if kind == ScheduleKind.YEARLY else None,
            every_days=self.every_days if kind == ScheduleKind.INTERVAL else None,
            anchor=self.start_date if kind == ScheduleKind.INTERVAL else None,
            offset_days=self.offset_days or 0 if kind == ScheduleKind.TERM else 0,
        )

    @property
    def vacations_are_working_days(self) -> bool:
        """A term check sits at the edge of the holidays by nature (开学前检查): the holidays never drop it."""
        return self.check_in_vacation or self.kind == ScheduleKind.TERM

    @property
    def schedule_display(self) -> str:
        text = self.rule.describe()
        if self.holiday_rule == HolidayRule.NEXT:
            return f"{text}（遇节假日顺延）"
        if self.holiday_rule == HolidayRule.PREVIOUS:
            return f"{text}（遇节假日提前）"
        if self.holiday_rule == HolidayRule.SKIP:
            return f"{text}（遇节假日跳过）"
        return text

    def schedule_signature(self) -> tuple:
        """What decides the dates: a change of any of these regenerates the runs not yet due."""
        return tuple(getattr(self, name) for name in self.RULE_FIELDS)

    # Who -----------------------------------------------------------------------------------------------------------
    @property
    def responsible_display(self) -> str:
        parts = []
        if self.responsible_id:
            parts.append(str(self.responsible))
        if self.responsible_role:
            parts.append(f"{_role_label(self.responsible_role)}（岗位）")
        return "、".join(parts)

    @property
    def target_display(self) -> str:
        parts = [self.target] if self.target else []
        if self.building_id:
            parts.append(str(self.building))
        return "；".join(parts)

    @property
    def checklist(self):
        """The checklist in order (one query: for the plan's page)."""
        return list(self.items.order_by("position", "pk"))

    def clean(self):
        errors: dict[str, str] = {}
        field_of = {"anchor": "start_date"}
        for name, message in self.rule.errors().items():
            errors[field_of.get(name, name)] = message
        if self.kind == ScheduleKind.MONTHLY and self.week_of_month is not None and self.month_day is not None:
            errors["month_day"] = "“每月第几个星期几”时请把日期留空。"
        if not self.responsible_id and not self.responsible_role:
            errors["responsible"] = "请选择负责人或负责岗位（至少一项）。"
        if self.responsible_role and self.responsible_role not in dict(responsible_role_choices()):
            errors["responsible_role"] = "请选择本校的岗位。"
        if self.building_id and self.org_id and self.building.org_id != self.org_id:
            errors["building"] = "必须属于本校。"
        if (self.responsible_id and self.org_id and getattr(self, "_responsible_org_id", None) != self.org_id
                and not self.responsible.memberships.filter(org_id=self.org_id).exists()):
            errors["responsible"] = "负责人必须是本校人员。"
        if errors:
            raise ValidationError(errors)


class InspectionItem(TenantModel):
    """One line of a plan's checklist. Runs copy its text into their results."""

    search_fields = ("text",)

    plan = models.ForeignKey(InspectionPlan, verbose_name="巡检计划", on_delete=models.CASCADE, related_name="items")
    position = models.PositiveSmallIntegerField("序号", default=0)
    text = models.CharField("检查内容", max_length=200)
    requires_photo = models.BooleanField("必须拍照", default=False,
                                         help_text="勾选后，合格也要拍一张照片留存（不合格总是要拍照）")
    urgent = models.BooleanField("不合格时紧急报修", default=False,
                                 help_text="如燃气泄漏：生成的维修单为“紧急”")

    class Meta:
        verbose_name = "检查项目"
        verbose_name_plural = "检查项目"
        ordering = ["plan", "position", "pk"]

    def __str__(self):
        return self.text


# --- Runs ----------------------------------------------------------------------------------------------------------
def responsible_q(user, prefix: str = "") -> Q:
    """Rows whose plan names ``user`` as responsible, or a role the user holds in the row's school."""
    from houqin.core.models import Membership

    holds_role = Membership.objects.filter(user_id=user.pk, org_id=OuterRef(f"{prefix}org_id"),
                                           org__is_active=True,
                                           role__code=OuterRef(f"{prefix}plan__responsible_role"))
    is_member = Membership.objects.filter(user_id=user.pk, org_id=OuterRef(f"{prefix}org_id"), org__is_active=True)
    return (Q(**{f"{prefix}plan__responsible_id": user.pk}) & Q(Exists(is_member))) | Q(Exists(holds_role))


class InspectionRunQuerySet(RestrictedQuerySet):
    """The role rule of every tenant row, plus an object rule: the plan's responsible person, and everyone holding
    its responsible role in the school, see and may fill in its runs (a canteen manager doing the weekly gas
    check holds no repairs permission). A submitted or cancelled run is a record: nobody may change it."""

    def restrict(self, user, action: str = "view"):
        from houqin.core.auth import access_for

        if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        qs = self
        if action != "view":
            qs = qs.filter(state__in=OPEN_STATES)
        if user.is_superuser:
            return qs
        perm = f"{self.model._meta.app_label}.{action}_{self.model._meta.model_name}"
        allowed = Q(org_id__in=sorted(access_for(user).orgs_for(perm)))
        if action in ("view", "change"):
            allowed |= responsible_q(user)
        return qs.filter(allowed)

    def responsible_for(self, user):
        """The runs ``user`` is responsible for (by name or by role), whatever their permissions."""
        if user is None or not getattr(user, "is_authenticated", False):
            return self.none()
        return self.filter(responsible_q(user))


class InspectionRun(TenantModel):
    """One occurrence of a plan: due on ``due_date``, open from ``opens_on``; filled in once (``submit_run``)."""

    search_fields = ("number", "title")

    plan = models.ForeignKey(InspectionPlan, verbose_name="巡检计划", on_delete=models.PROTECT, related_name="runs")
    number = models.CharField("巡检编号", max_length=30, editable=False)
    title = models.CharField("巡检名称", max_length=60, editable=False)
    period_key = models.CharField("周期", max_length=20, editable=False,
                                  help_text="如 2026-W47（第 47 周）、2026-11（11 月）")
    due_date = models.DateField("应检日期", editable=False)
    opens_on = models.DateField("可检日期", editable=False, help_text="从这一天起可以填写")
    state = models.CharField("状态", max_length=20, choices=RunState.choices, default=RunState.PENDING,
                             editable=False)
    done_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="检查人", null=True, blank=True,
                                on_delete=models.PROTECT, related_name="+", editable=False)
    done_at = models.DateTimeField("检查时间", null=True, blank=True, editable=False)
    outcome = models.CharField("检查结论", max_length=10, choices=RunOutcome.choices, blank=True, editable=False)
    item_count = models.PositiveSmallIntegerField("检查项数", default=0, editable=False)
    failed_count = models.PositiveSmallIntegerField("不合格项数", default=0, editable=False)
    note = models.CharField("情况说明", max_length=500, blank=True, editable=False)
    signature = models.ForeignKey("core.Attachment", verbose_name="签名", null=True, blank=True,
                                  on_delete=models.SET_NULL, related_name="+", editable=False)
    photo = models.ForeignKey("core.Attachment", verbose_name="现场照片", null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="+", editable=False)
    cancelled_reason = models.CharField("取消原因", max_length=200, blank=True, editable=False)

    objects = InspectionRunQuerySet.as_manager()

    class Meta:
        verbose_name = "巡检记录"
        verbose_name_plural = "巡检记录"
        ordering = ["-due_date", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "period_key"], name="inspectionrun_unique_period",
                                    violation_error_message="该计划在这一周期已有巡检任务。"),
            models.UniqueConstraint(fields=["org", "number"], name="inspectionrun_unique_number"),
        ]
        indexes = [
            models.Index(fields=["org", "state", "due_date"], name="inspectionrun_org_state_due"),
            models.Index(fields=["plan", "due_date"], name="inspectionrun_plan_due"),
        ]

    def __str__(self):
        return f"{self.number} {self.title}".strip()

    def get_absolute_url(self):
        # Defined here, not left to the ModelUI registry: reminders built in the worker (which loads no views
        # until a URL is reversed) need the link too.
        from django.urls import reverse

        return reverse("repairs:inspectionrun_detail", args=[self.pk])

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def has_failures(self) -> bool:
        return self.failed_count > 0

    @property
    def period_display(self) -> str:
        key = self.period_key
        if "-W" in key:
            year, week = key.split("-W")
            return f"{year}年第{int(week)}周"
        if len(key) == 7 and key[4] == "-":
            return f"{key[:4]}年{int(key[5:])}月"
        if len(key) == 4 and key.isdigit():
            return f"{key}年"
        if key.startswith("term-"):
            return "本学期"
        return key

    @property
    def result_rows(self):
        """The results in checklist order, with what they point at (one query: for the run's page)."""
        return list(self.results.select_related("photo", "room__campus", "room__building", "asset")
                    .order_by("position", "pk"))


class InspectionResultQuerySet(RestrictedQuerySet):
    """A result is visible and changeable exactly when its run is (so photos follow the run's rules too)."""

    def restrict(self, user, action: str = "view"):
        return self.filter(run__in=InspectionRun.objects.restrict(user, action).values("pk"))


class InspectionResult(TenantModel):
    """The answer to one checklist line in a run. The line's text and order are copied from the plan."""

    search_fields = ("text", "note")

    run = models.ForeignKey(InspectionRun, verbose_name="巡检记录", on_delete=models.CASCADE, related_name="results")
    item = models.ForeignKey(InspectionItem, verbose_name="检查项目", null=True, blank=True,
                             on_delete=models.SET_NULL, related_name="+")
    position = models.PositiveSmallIntegerField("序号", default=0)
    text = models.CharField("检查内容", max_length=200)
    outcome = models.CharField("结果", max_length=10, choices=Outcome.choices)
    note = models.CharField("说明", max_length=300, blank=True)
    photo = models.ForeignKey("core.Attachment", verbose_name="照片", null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="+")
    room = models.ForeignKey("core.Room", verbose_name="问题位置", null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+")
    asset = models.ForeignKey("assets.Asset", verbose_name="问题设备", null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="+")
    work_order_number = models.CharField("维修单号", max_length=40, blank=True)
    work_order_id = models.PositiveBigIntegerField("维修单", null=True, blank=True)

    objects = InspectionResultQuerySet.as_manager()

    class Meta:
        verbose_name = "检查结果"
        verbose_name_plural = "检查结果"
        ordering = ["run", "position", "pk"]

    def __str__(self):
        return f"{self.text}：{self.get_outcome_display()}"

    @property
    def work_order_url(self) -> str:
        """The page of the work order this failure opened ("" when none, or the work orders have no page)."""
        if not self.work_order_id:
            return ""
        from django.apps import apps
        from django.urls import NoReverseMatch, reverse

        try:
            model = apps.get_model("repairs", "WorkOrder")
        except LookupError:
            return ""
        from houqin.core.ui import ui_for

        ui = ui_for(model)
        if ui is None:
            return ""
        try:
            return reverse(ui.url_name("detail"), args=[self.work_order_id])
        except NoReverseMatch:
            return ""
