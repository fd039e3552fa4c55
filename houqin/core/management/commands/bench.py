"""``houqin bench``: the county-scale benchmark (docs/performance.md).

For each database (SQLite, then a throwaway PostgreSQL cluster started from the installed server binaries) it
runs houqin.bench.phase in a child process against an empty database of its own — never the installation's —
then prints one table and, with ``--json PATH``, writes every metric with its same-run baseline and target.
Exits 1 when a target is missed.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from houqin.bench import report
from houqin.bench.scales import SCALES

DATABASES = ("sqlite", "postgresql")


class Command(BaseCommand):
    help = "性能基准测试（县域规模，同次运行的基线对比）。Run the county-scale benchmark."

    def add_arguments(self, parser):
        parser.add_argument("--quick", action="store_true", help="缩小规模，2 核 10 分钟内完成 (scale 'quick').")
        parser.add_argument("--scale", choices=sorted(SCALES), help="规模 scale (default: full, or quick).")
        parser.add_argument("--json", dest="json_path", help="把结果写入 JSON 文件 Write the metrics to PATH.")
        parser.add_argument("--db", choices=[*DATABASES, "both"], default="both", help="数据库 (default both).")
        parser.add_argument("--keep", action="store_true", help="保留临时目录（数据与日志）Keep the work directory.")

    def handle(self, *args, **options):
        scale_name = options["scale"] or ("quick" if options["quick"] else "full")
        scale = SCALES[scale_name]
        if not shutil.which("wrk"):
            raise CommandError("需要 wrk 压测工具：apt-get install wrk（或运行 scripts/ensure_wrk.sh）。")
        databases = DATABASES if options["db"] == "both" else (options["db"],)
        started_at = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        started = time.perf_counter()
        self.stdout.write(f"基准测试 {scale.describe()}")
        root = Path(tempfile.mkdtemp(prefix="houqin-bench-"))
        phases = []
        try:
            for db in databases:
                phases.append(self.run_phase(db, scale_name, root / db))
        finally:
            if options["keep"]:
                self.stdout.write(f"工作目录保留在 {root}")
            else:
                shutil.rmtree(root, ignore_errors=True)
        seconds = time.perf_counter() - started
        self.stdout.write("")
        self.stdout.write(report.table(phases))
        self.stdout.write(f"\n共用时 {seconds:.0f} 秒。")
        if options["json_path"]:
            report.write_json(Path(options["json_path"]), phases, scale=scale.describe(), started=started_at,
                              seconds=seconds)
            self.stdout.write(f"结果已写入 {options['json_path']}")
        failed = [m["id"] for p in phases for m in p["metrics"] if m["ok"] is False]
        if failed:
            self.stderr.write(f"未达标：{', '.join(failed)}")
            sys.exit(1)

    def run_phase(self, db: str, scale_name: str, workdir: Path) -> dict:
        workdir.mkdir(parents=True)
        out = workdir / "result.json"
        env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
        env.update({"HOUQIN_DATA_DIR": str(workdir / "data"), "HOUQIN_DEBUG": "0", "HOUQIN_PRODUCTION": "0",
                    "DJANGO_SETTINGS_MODULE": "houqin.settings"})
        command = [sys.executable, "-m", "houqin.bench.phase", "--scale", scale_name, "--out", str(out),
                   "--workdir", str(workdir)]
        if db == "postgresql":
            script = Path(settings.PROJECT_DIR) / "scripts" / "pg_throwaway.sh"
            if not script.exists():
                raise CommandError(f"找不到 {script}：请在项目目录（git clone）中运行基准测试。")
            if not shutil.which("initdb"):
                raise CommandError("需要 PostgreSQL 服务器程序（initdb、pg_ctl、postgres）。")
            command = ["bash", str(script), *command]
        self.stdout.write(f"\n== {db} ==")
        completed = subprocess.run(command, env=env, check=False)  # noqa: S603 — our own arguments
        if completed.returncode != 0 or not out.exists():
            raise CommandError(f"{db} 基准测试失败（退出码 {completed.returncode}）。")
        return json.loads(out.read_text(encoding="utf-8"))
