"""``houqin rebuild_repair_summary``: rebuild the repairs dashboard's per-day summary from the work orders (after a
bulk insert or a restore). Safe to run any number of times; see docs/repairs-dashboard.md."""

import datetime
import time

from django.core.management.base import BaseCommand, CommandError

from houqin.repairs.summary import rebuild_summary


class Command(BaseCommand):
    help = "Rebuild the repairs dashboard's per-day summary from the work orders (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--org", type=int, action="append", dest="orgs",
                            help="Id of a school to rebuild (repeatable; default: every school).")
        parser.add_argument("--since", help="Rebuild only the days from this date on (YYYY-MM-DD).")

    def handle(self, *args, orgs=None, since=None, **options):
        day = None
        if since:
            try:
                day = datetime.date.fromisoformat(since)
            except ValueError as exc:
                raise CommandError("--since 须为 YYYY-MM-DD 格式的日期。") from exc
        started = time.perf_counter()
        rows = rebuild_summary(orgs, day)
        self.stdout.write(f"维修日汇总已重建：{rows} 行（{time.perf_counter() - started:.1f} 秒）")
