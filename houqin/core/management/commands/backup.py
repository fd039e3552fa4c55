"""``houqin backup``: write one backup archive (database, attachments, media, manifest) and prune old ones.

Safe while ``houqin serve`` and ``houqin worker`` are running. See docs/backup.md.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from houqin.core.backup import BackupError, backup_dir, create_backup, default_keep


class Command(BaseCommand):
    help = "备份数据库和附件到一个备份文件，并删除超出保留份数的旧备份。Back up the database and files."

    def add_arguments(self, parser):
        parser.add_argument(
            "--output", metavar="DIR", default=None,
            help="备份文件保存目录（默认 HOUQIN_BACKUP_DIR，即数据目录下的 backups）. Directory for the archive.",
        )
        parser.add_argument(
            "--keep", type=int, default=None, metavar="N",
            help="该目录中只保留最近 N 份备份，0 表示全部保留（默认 HOUQIN_BACKUP_KEEP=14）. Keep the N newest.",
        )

    def handle(self, *args, output=None, keep=None, **options):
        if keep is not None and keep < 0:
            raise CommandError("--keep 不能为负数。")
        keep = default_keep() if keep is None else keep
        target = output or backup_dir()
        if options.get("verbosity", 1) >= 2:
            self.stdout.write(f"备份目录：{target}；保留最近 {keep or '全部'} 份。")
        log = self.stdout.write if options.get("verbosity", 1) >= 1 else None
        try:
            result = create_backup(output_dir=output, keep=keep, log=log)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(result.summary()))
        for path in result.pruned:
            self.stdout.write(f"  已删除过期备份：{path.name}")
