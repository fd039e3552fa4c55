"""``houqin serve``: run the application with gunicorn (production-grade WSGI server).

Static files are served by WhiteNoise (configured in settings), so no separate web server is needed on a
single school PC. Behind a reverse proxy or a load balancer, run one ``houqin serve`` per app server.
"""

from __future__ import annotations

import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor

WSGI_APP = "houqin.wsgi:application"


def _display_url(bind: str) -> str:
    if bind.startswith(("unix:", "fd://")):
        return bind
    host, _, port = bind.rpartition(":")
    if not host:
        host, port = bind, "8000"
    if host in ("0.0.0.0", "", "[::]", "::"):  # noqa: S104 - only used to build the URL shown to the user
        host = "127.0.0.1"
    return f"http://{host}:{port}"


def _listens_beyond_loopback(bind: str) -> bool:
    if bind.startswith(("unix:", "fd://")):
        return False
    host = bind.rpartition(":")[0] or bind
    return host not in ("127.0.0.1", "localhost", "[::1]")


class Command(BaseCommand):
    help = "启动智慧后勤网站（gunicorn）。Run the web application with gunicorn."

    def add_arguments(self, parser):
        parser.add_argument(
            "--bind",
            default="127.0.0.1:8000",
            help="监听地址 HOST:PORT（默认 127.0.0.1:8000；局域网访问用 0.0.0.0:8000）. Address to listen on.",
        )
        parser.add_argument("--workers", type=int, default=2, help="工作进程数 Worker processes (default 2).")
        parser.add_argument("--threads", type=int, default=4, help="每进程线程数 Threads per worker (default 4).")
        parser.add_argument(
            "--timeout", type=int, default=120, help="请求超时秒数 Worker timeout in seconds (default 120)."
        )
        parser.add_argument(
            "--access-log", action="store_true", help="输出访问日志 Write an access log line per request to stdout."
        )
        parser.add_argument(
            "--log-level",
            default="warning",
            choices=["debug", "info", "warning", "error", "critical"],
            help="gunicorn log level (default warning).",
        )

    def handle(self, *args, **options):
        from gunicorn.app.base import BaseApplication
        from gunicorn.util import import_app

        if options["workers"] < 1 or options["threads"] < 1:
            raise CommandError("--workers and --threads must be at least 1")

        bind = options["bind"]
        self._warn_about_setup(bind)
        url = _display_url(bind)
        stdout = self.stdout
        style = self.style

        def when_ready(server):
            stdout.write(style.SUCCESS(f"智慧后勤已启动：{url}"))
            stdout.write(f"Houqin is running at {url}")
            stdout.write("按 Ctrl+C 停止。Press Ctrl+C to stop.")
            stdout.flush()

        config = {
            "bind": [bind],
            "workers": options["workers"],
            "threads": options["threads"],
            "timeout": options["timeout"],
            "graceful_timeout": 30,
            "accesslog": "-" if options["access_log"] else None,
            "errorlog": "-",
            "loglevel": options["log_level"],
            "proc_name": "houqin",
            "when_ready": when_ready,
            # gunicorn >= 24 opens a control socket in the user's home directory by default; two instances
            # on one machine would fight over it and a school PC does not need it.
            "control_socket_disable": True,
        }

        class HouqinApplication(BaseApplication):
            def load_config(self):
                for key, value in config.items():
                    if key in self.cfg.settings:
                        self.cfg.set(key, value)

            def load(self):
                return import_app(WSGI_APP)

        # Workers are forked from this process: do not hand them an open database connection.
        connections.close_all()
        HouqinApplication().run()

    def _warn_about_setup(self, bind: str) -> None:
        try:
            connection = connections[DEFAULT_DB_ALIAS]
            executor = MigrationExecutor(connection)
            pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
        except Exception as exc:  # any database problem: report it in plain words, then stop
            raise CommandError(f"无法连接数据库 Cannot use the database: {exc}") from exc
        finally:
            connections.close_all()
        if pending:
            self.stderr.write(
                self.style.WARNING(
                    f"数据库有 {len(pending)} 个迁移尚未执行，请先运行：houqin migrate\n"
                    f"The database has {len(pending)} unapplied migration(s); run: houqin migrate"
                )
            )
        if _listens_beyond_loopback(bind) and not any(
            host not in ("127.0.0.1", "localhost", "[::1]") for host in settings.ALLOWED_HOSTS
        ):
            self.stderr.write(
                self.style.WARNING(
                    "提示：其他电脑访问时，请在 HOUQIN_ALLOWED_HOSTS 中填写本机的 IP 或域名。\n"
                    "Note: to accept requests from other computers, list this machine's address in "
                    "HOUQIN_ALLOWED_HOSTS."
                )
            )
        sys.stdout.flush()
