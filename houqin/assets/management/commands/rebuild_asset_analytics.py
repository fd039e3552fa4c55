"""``houqin rebuild_asset_analytics``: recompute the kept figures of the asset analytics for every school (after a
bulk load of cards that sent no signals, e.g. a data migration or the benchmark's data)."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "重新统计各学校的资产分析数据（批量写入资产卡片之后使用）"

    def add_arguments(self, parser):
        parser.add_argument("--outdated", action="store_true", help="只统计过期的学校")

    def handle(self, *args, outdated=False, **options):
        from houqin.assets import analytics_summary

        started = time.perf_counter()
        count = analytics_summary.rebuild_all(only_outdated=outdated)
        self.stdout.write(f"已统计 {count} 所学校（{time.perf_counter() - started:.1f} 秒）")
