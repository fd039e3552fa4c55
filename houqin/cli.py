"""The ``houqin`` console command: a friendly front door to Django's management commands.

``houqin migrate``, ``houqin demo``, ``houqin serve`` … are the same as ``python manage.py …``; ``houqin``
alone prints a short bilingual overview, ``houqin help`` lists every command.
"""

from __future__ import annotations

import os
import sys

# (command, 中文说明, English description)
FRIENDLY_COMMANDS = [
    ("demo", "生成演示数据（可重复运行）", "create demo data (safe to run again)"),
    ("serve", "启动网站，默认 http://127.0.0.1:8000", "run the web application (default http://127.0.0.1:8000)"),
    ("worker", "运行后台任务（导入、报表、提醒）", "run background tasks (imports, reports, reminders)"),
    ("backup", "备份数据库和附件", "back up the database and attachments"),
    ("restore", "从备份恢复数据（先停止服务）", "restore from a backup (stop the server first)"),
    ("bench", "性能测试", "performance benchmark"),
    ("createsuperuser", "创建超级管理员账号", "create a superuser account"),
    ("changepassword", "修改账号密码", "change an account's password"),
    ("migrate", "创建或升级数据库表", "create or upgrade the database tables"),
]


def _available_commands() -> set[str] | None:
    """Names of the management commands this installation has, or None if settings cannot be loaded."""
    try:
        import django
        from django.core.management import get_commands

        django.setup()
        return set(get_commands())
    except Exception:  # a broken configuration must not hide the help text
        return None


def usage() -> str:
    available = _available_commands()
    lines = [
        "智慧后勤 — 学校后勤管理系统  (Houqin — school logistics management)",
        "",
        "用法 Usage:  houqin <命令 command> [选项 options]",
        "",
        "常用命令 Common commands:",
    ]
    for name, zh, en in FRIENDLY_COMMANDS:
        if available is not None and name not in available:
            continue
        lines.append(f"  {name:<16}{zh}")
        lines.append(f"  {'':<16}{en}")
    lines += [
        "",
        "快速体验 Quick start:  houqin migrate && houqin demo && houqin serve",
        "全部命令 All commands:  houqin help          某命令的帮助 Help on one command:  houqin help <命令>",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "houqin.settings")
    if not args or args[0] in ("-h", "--help"):
        print(usage())
        return
    from django.core.management import execute_from_command_line

    execute_from_command_line(["houqin", *args])


if __name__ == "__main__":
    main()
