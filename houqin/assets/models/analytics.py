"""The kept figures of the asset analytics (资产分析): one row per school, written by houqin.assets.analytics_summary.

Not a register of the school's and never edited by a person: a cache of the school's aggregates as of a day, with a
change counter. ``generation`` is raised (after the commit) whenever a card, a card event or a department of the
school is saved or deleted; the figures are current when they were computed today from the generation they
recorded (``computed_generation == generation``). See docs/assets-analytics.md.
"""

from __future__ import annotations

from django.db import models

__all__ = ["AnalyticsSummary"]


class AnalyticsSummary(models.Model):
    org = models.OneToOneField("core.Organization", verbose_name="学校", on_delete=models.CASCADE, primary_key=True,
                               related_name="+")
    as_of = models.DateField("统计日期", null=True, blank=True)
    computed_at = models.DateTimeField("统计时间", null=True, blank=True)
    generation = models.PositiveBigIntegerField("变动计数", default=0)
    computed_generation = models.PositiveBigIntegerField("统计时的变动计数", default=0)
    data = models.JSONField("统计数据", default=dict, blank=True)

    class Meta:
        verbose_name = "资产分析统计"
        verbose_name_plural = "资产分析统计"

    def __str__(self):
        return f"{self.org_id} @ {self.as_of}"
