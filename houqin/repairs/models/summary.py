"""维修看板的日汇总和月汇总 (the repairs dashboard's per-day and per-month summary): derived data, never edited by hand.

One row per school × day of report (local date) × category × building × assignee that occurs, with the counts and sums
``houqin.repairs.reports`` needs for the period figures, and the same per school × month (the sum of its day rows), so
a long period reads one row per combination for each whole month. Kept by ``houqin.repairs.summary``: every save of a
work order recomputes its school-day and that month (``touch``), ``sla.flag_overdue`` recomputes the days it flagged,
and ``rebuild_summary`` rebuilds everything (after bulk inserts, at the end of the demo). What depends on the clock —
orders late *now* — is not stored: the dashboard subtracts, from the stored open orders without a late flag, those
whose due times are still ahead (a few recent orders, read live on the ``(org, finish_due)`` index).
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models.signals import post_save

__all__ = ["RepairDaySummary", "RepairMonthSummary", "RepairOpenCount"]


def _ref(model, label):
    # Derived rows: no database constraint, never in the way of a deletion (rebuild_summary puts them right).
    return models.ForeignKey(model, verbose_name=label, on_delete=models.DO_NOTHING, db_constraint=False,
                             related_name="+")


def _nullable_ref(model, label):
    return models.ForeignKey(model, verbose_name=label, null=True, blank=True, on_delete=models.DO_NOTHING,
                             db_constraint=False, related_name="+")


class SummaryFacts(models.Model):
    """The dimensions and facts shared by the per-day and the per-month summary: one school's orders (reported in the
    row's day or month, less merged duplicates) per category × building × assignee, as they stand now. Counts follow
    the definitions of docs/repairs-dashboard.md; durations are clock seconds from the report (sums and counts, so
    they roll up into exact means). Every fact is additive: a period's figures are sums of rows."""

    org_field = "org"

    org = _ref("core.Organization", "所属单位")
    category = _ref("repairs.RepairCategory", "报修类别")
    building = _nullable_ref("core.Building", "楼栋")
    assignee = _nullable_ref(settings.AUTH_USER_MODEL, "维修人员")

    received = models.PositiveIntegerField("受理", default=0)
    done = models.PositiveIntegerField("完成", default=0)
    flagged_late = models.PositiveIntegerField("超时（已记录）", default=0,
                                               help_text="a step done late: accept_late, start_late or finish_late")
    open_unflagged = models.PositiveIntegerField(
        "未完成且未记超时", default=0,
        help_text="open now without a late flag: the dashboard subtracts those not late by the clock yet")
    accept_clocked = models.PositiveIntegerField("受理有时限", default=0)
    accepted_on_time = models.PositiveIntegerField("按时受理", default=0)
    finish_clocked = models.PositiveIntegerField("完工有时限", default=0)
    finished_on_time = models.PositiveIntegerField("按时完工", default=0)
    accept_n = models.PositiveIntegerField("已受理", default=0)
    accept_seconds = models.FloatField("受理用时合计（秒）", default=0)
    finish_n = models.PositiveIntegerField("已完工", default=0)
    finish_seconds = models.FloatField("完工用时合计（秒）", default=0)
    rated = models.PositiveIntegerField("已评价", default=0)
    satisfied = models.PositiveIntegerField("满意", default=0)
    unrated = models.PositiveIntegerField("未评价", default=0)
    rating_sum = models.PositiveIntegerField("评分合计", default=0)
    reopened = models.PositiveIntegerField("返修", default=0)
    labour_hours = models.DecimalField("工时合计", max_digits=12, decimal_places=1, default=Decimal("0"))
    cost = models.DecimalField("维修费用合计", max_digits=16, decimal_places=2, default=Decimal("0"))

    class Meta:
        abstract = True


class RepairDaySummary(SummaryFacts):
    """维修日汇总: the facts of one school-day's orders (reported that local day) per category × building ×
    assignee."""

    day = models.DateField("报修日期")

    class Meta:
        verbose_name = "维修日汇总"
        verbose_name_plural = "维修日汇总"
        default_permissions = ()
        indexes = [models.Index(fields=["org", "day"], name="repairdaysummary_org_day")]

    def __str__(self):
        return f"{self.org_id} {self.day}"


class RepairMonthSummary(SummaryFacts):
    """维修月汇总: the sum of a school-month's day rows per category × building × assignee (``month`` is the month's
    first day). Lets a period read one row per combination for each whole month instead of one per day."""

    month = models.DateField("报修月份", help_text="the first day of the month")

    class Meta:
        verbose_name = "维修月汇总"
        verbose_name_plural = "维修月汇总"
        default_permissions = ()
        indexes = [models.Index(fields=["org", "month"], name="repairmonthsummary_org_month")]

    def __str__(self):
        return f"{self.org_id} {self.month:%Y-%m}"


class RepairOpenCount(models.Model):
    """维修未完成数: how many of a school's orders are in each open state now (one row per school and open state that
    has any), so that "open orders by state" reads a few rows per school, not every open order. Recounted by
    ``houqin.repairs.summary.touch`` (one index-only count over the school's open orders) and by
    ``rebuild_summary``."""

    org_field = "org"

    org = _ref("core.Organization", "所属单位")
    state = models.CharField("状态", max_length=20)
    count = models.PositiveIntegerField("报修单数", default=0)

    class Meta:
        verbose_name = "维修未完成数"
        verbose_name_plural = "维修未完成数"
        default_permissions = ()
        constraints = [models.UniqueConstraint(fields=["org", "state"], name="repairopencount_org_state")]

    def __str__(self):
        return f"{self.org_id} {self.state} {self.count}"


def _order_saved(sender, instance, created, update_fields=None, raw=False, **kwargs):
    if raw:
        return
    from houqin.repairs import summary

    summary.order_saved(instance, update_fields)


post_save.connect(_order_saved, sender="repairs.WorkOrder", dispatch_uid="repairs_day_summary")
