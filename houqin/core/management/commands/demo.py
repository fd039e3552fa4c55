"""``manage.py demo``: create (or bring up to date) the demo bureau, schools and accounts. Idempotent."""

from __future__ import annotations

import unicodedata

from django.core.management.base import BaseCommand, CommandError

from houqin.core.demo import (
    DEMO_PASSWORD,
    DEMO_URL,
    KINDERGARTEN,
    KINDERGARTEN_CLASSES,
    ORG_CODES,
    PRIMARY,
    PRIMARY_CLASSES,
    head_teacher_username,
    run_demo,
)
from houqin.core.models import Organization


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


def format_table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(_width(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(_pad(h, w) for h, w in zip(headers, widths, strict=True)).rstrip(), line]
    out += ["  ".join(_pad(str(c), w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(out)


class Command(BaseCommand):
    help = "创建演示数据：一个县教育局、一所小学和一所幼儿园，以及每个角色的演示账号（可重复运行）。"

    def add_arguments(self, parser):
        parser.add_argument("--reset-passwords", action="store_true",
                            help=f"把所有演示账号的密码重置为 {DEMO_PASSWORD}")
        parser.add_argument("--quiet", action="store_true", help="不输出进度和账号表")
        parser.add_argument("--force", action="store_true",
                            help="数据库中已有非演示单位时仍然创建演示数据（演示账号的密码是公开的，勿用于正式系统）")

    def handle(self, *args, reset_passwords=False, quiet=False, force=False, **options):
        others = Organization.objects.exclude(code__in=ORG_CODES.values())
        if others.exists() and not force:
            raise CommandError(
                f"数据库中已有 {others.count()} 个非演示单位（如：{others.order_by('pk').first().name}）。"
                "演示账号使用公开的密码，不应出现在正式系统中；如确需创建，请加 --force。"
            )
        say = (lambda message: None) if quiet else self.stdout.write
        say("正在创建演示数据……")
        result = run_demo(reset_passwords=reset_passwords, log=say)
        if quiet:
            return
        ctx = result.context
        created = sum(n for (_, kind), n in ctx.stats.items() if kind == "created")
        updated = sum(n for (_, kind), n in ctx.stats.items() if kind == "updated")
        if created or updated:
            details = "、".join(f"{label} {n}" for (label, kind), n in sorted(ctx.stats.items()) if kind == "created")
            say(f"新建 {created} 条记录{f'（{details}）' if details else ''}，更新 {updated} 条记录。")
        else:
            say("演示数据已是最新，没有任何改动。")
        say(f"用时 {result.seconds:.1f} 秒。")
        say("")
        say("演示账号：")
        rows = [[a.username, a.full_name, a.title, a.org_name, DEMO_PASSWORD] for a in ctx.accounts]
        say(format_table(["用户名", "姓名", "角色", "单位", "密码"], rows))
        say("")
        say(f"另有 {head_teacher_username(PRIMARY, 2)} … {head_teacher_username(PRIMARY, _count(PRIMARY_CLASSES))}"
            f"（小学各班班主任）和 {head_teacher_username(KINDERGARTEN, 2)} … "
            f"{head_teacher_username(KINDERGARTEN, _count(KINDERGARTEN_CLASSES))}（幼儿园各班班主任），密码相同。")
        if not reset_passwords:
            say("已存在的账号不会改密码；如密码被改过，请加 --reset-passwords 重新运行。")
        say("")
        say(f"启动服务（make demo 或 houqin serve）后访问：{DEMO_URL}")


def _count(layout: dict) -> int:
    return sum(layout.values())
