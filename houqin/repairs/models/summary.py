"""维修看板的日汇总 (the repairs dashboard's per-day summary): derived data, never edited by hand.

One row per school × day of report (local date) × category × building × assignee that occurs, with the counts and sums
``houqin.repairs.reports`` needs for the period figures. Kept by ``houqin.repairs.summary``: every save of a work
order recomputes its school-day (``touch``), ``sla.flag_overdue`` recomputes the days it flagged, and
``rebuild_summary`` rebuilds everything (after bulk inserts, at the end of the demo). What depends on the clock — open
orders by state, orders late *now* — is not stored: the dashboard reads it live from the open orders.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models.signals import post_save

__all__ = ["RepairDaySummary"]


def _ref(model, label):
    # Derived rows: no database constraint, never in the way of a deletion (rebuild_summary puts them right).
    return models.ForeignKey(model, verbose_name=label, on_delete=models.DO_NOTHING, db_constraint=False,
                             related_name="+")


def _nullable_ref(model, label):
    return models.ForeignKey(model, verbose_name=label, null=True, blank=True, on_delete=models.DO_NOTHING,
                             db_constraint=False, related_name="+")


class RepairDaySummary(models.Model):
    """维修日汇总: the facts of one school-day's orders (reported that day, less merged duplicates) per category ×
    building × assignee, as they stand now. Counts follow the definitions of docs/repairs-dashboard.md; durations are
    clock seconds from the report (sums and counts, so they roll up into exact means)."""

    org_field = "org"

    org = _ref("core.Organization", "所属单位")
    day = models.DateField("报修日期")
    category = _ref("repairs.RepairCategory", "报修类别")
    building = _nullable_ref("core.Building", "楼栋")
    assignee = _nullable_ref(settings.AUTH_USER_MODEL, "维修人员")

    received = models.PositiveIntegerField("受理", default=0)
    done = models.PositiveIntegerField("完成", default=0)
    flagged_late = models.PositiveIntegerField("超时（已记录）", default=0,
                                               help_text="a step done late: accept_late, start_late or finish_late")
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
        verbose_name = "维修日汇总"
        verbose_name_plural = "维修日汇总"
        default_permissions = ()
        indexes = [models.Index(fields=["org", "day"], name="repairdaysummary_org_day")]

    def __str__(self):
        return f"{self.org_id} {self.day}"


def _order_saved(sender, instance, created, update_fields=None, raw=False, **kwargs):
    if raw:
        return
    from houqin.repairs import summary

    summary.order_saved(instance, update_fields)


post_save.connect(_order_saved, sender="repairs.WorkOrder", dispatch_uid="repairs_day_summary")
