"""``houqin restore ARCHIVE``: verify a backup archive, then restore the database and files from it.

Stop ``houqin serve`` and ``houqin worker`` first. The archive is checked completely before anything changes; what
is replaced is kept beside it as ``<name>.before-restore-<time>``. See docs/backup.md.
"""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from houqin.core import backup
from houqin.core.backup import VENDOR_NAMES, BackupError, vendor_of


def _worker_running() -> bool:
    try:
        from houqin.core.jobs import worker_is_running

        return worker_is_running()
    except Exception:  # noqa: BLE001 — an empty or damaged database has no heartbeat table to read
        return False


class Command(BaseCommand):
    help = "从备份文件恢复数据库和附件（请先停止 houqin serve 和 houqin worker）。Restore from a backup archive."

    def add_arguments(self, parser):
        parser.add_argument("archive", help="备份文件（houqin-backup-….zip）. The backup archive.")
        parser.add_argument(
            "--yes", action="store_true",
            help="不再询问，直接恢复（非交互环境必须加此参数）. Do not ask for confirmation.",
        )

    def handle(self, *args, archive, yes=False, **options):
        interactive = sys.stdin is not None and sys.stdin.isatty()
        if not yes and not interactive:
            raise CommandError("恢复会覆盖当前数据，需要确认；当前不是交互终端，无法询问。"
                               "确认要恢复请加上 --yes 参数。未做任何更改。")
        database = connections["default"].settings_dict
        try:
            self.stdout.write(f"正在校验备份文件 {archive} ……")
            manifest = backup.verify_archive(archive, log=self.stdout.write)
            vendor = vendor_of(database)
            archived = manifest["database"]["vendor"]
            if archived != vendor:
                raise BackupError(
                    f"这个备份来自 {VENDOR_NAMES.get(archived, archived)} 数据库，"
                    f"而当前配置的是 {VENDOR_NAMES[vendor]} 数据库，不能直接恢复（见 docs/backup.md）。未做任何更改。")
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        if _worker_running():
            raise CommandError("后台任务服务（houqin worker）正在运行。"
                               "请先停止 houqin serve 和 houqin worker，再恢复。未做任何更改。")

        tables = manifest["database"]["tables"]
        rows = sum(t["rows"] for t in tables.values())
        files = sum(r.get("files", 0) for r in manifest["files"].values())
        target = database["NAME"] if vendor == "sqlite" else f"PostgreSQL 数据库 {database['NAME']}"
        roots = {name: path for name, path in backup.file_roots().items() if path is not None}
        self.stdout.write(
            f"备份时间：{manifest['created_at']}，程序版本 {manifest['app_version']}，"
            f"{VENDOR_NAMES[manifest['database']['vendor']]} 数据库 {len(tables)} 张表共 {rows} 行，{files} 个文件。"
        )
        self.stdout.write(f"将恢复到：{target}；" + "；".join(f"{name} → {path}" for name, path in roots.items()))
        if not yes:
            self.stdout.write("当前数据库和附件将被备份中的内容替换（原有数据会另存为 *.before-restore-*）。"
                              "请确认已停止 houqin serve 和 houqin worker。")
            answer = input("输入 yes 继续恢复：").strip().lower()
            if answer not in ("yes", "y", "是"):
                raise CommandError("已取消，未做任何更改。")
        try:
            result = backup.restore_backup(archive, manifest=manifest, log=self.stdout.write)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        if result.ok:
            self.stdout.write(self.style.SUCCESS(result.summary()))
        else:
            self.stderr.write(result.summary())
            raise CommandError("恢复后的检查未通过，请查看上面的说明，必要时换用另一个备份重新恢复。")
