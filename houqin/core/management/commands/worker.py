"""``houqin worker``: run background jobs (imports, reports, reminders) and periodic jobs.

Run one beside ``houqin serve`` on a single PC; run one or more per server in a larger installation — periodic
jobs are claimed so that each run happens once however many workers there are.
"""

from __future__ import annotations

import signal
import sys

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from houqin.core.jobs import Worker


class Command(BaseCommand):
    help = "运行后台任务服务（导入、报表、提醒、定时任务）。Run background jobs and periodic jobs."

    def add_arguments(self, parser):
        parser.add_argument(
            "--queue", action="append", dest="queues", metavar="NAME",
            help="只处理这些队列（可重复；默认全部已配置的队列）. Queues to process (repeatable; default: all).",
        )
        parser.add_argument(
            "--interval", type=float, default=1.0,
            help="队列为空时的轮询间隔秒数（默认 1）. Seconds between polls when the queue is empty (default 1).",
        )
        parser.add_argument(
            "--burst", action="store_true",
            help="处理完当前排队的任务后退出. Run the queued jobs, then exit.",
        )
        parser.add_argument(
            "--max-tasks", type=int, default=None,
            help="最多处理这么多任务后退出. Exit after this many jobs.",
        )
        parser.add_argument(
            "--worker-id", default=None, help="进程编号（默认自动生成）. Worker id (default: generated)."
        )

    def handle(self, *args, queues=None, interval=1.0, burst=False, max_tasks=None, worker_id=None, **options):
        if interval < 0:
            raise CommandError("--interval must not be negative")
        if max_tasks is not None and max_tasks < 1:
            raise CommandError("--max-tasks must be at least 1")
        if worker_id is not None and not 0 < len(worker_id) <= 64:
            raise CommandError("--worker-id must be 1 to 64 characters")
        try:
            worker = Worker(queues=queues, interval=interval, worker_id=worker_id)
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc

        def on_signal(signum, frame):
            if worker.stopping.is_set() and worker.running_task:
                self.stderr.write("再次收到停止信号，立即退出（当前任务将标记为失败）。Stopping now.")
                raise KeyboardInterrupt
            self.stdout.write("正在停止：完成当前任务后退出。Stopping after the current job…")
            worker.stop()

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        self.stdout.write(self.style.SUCCESS(f"后台任务服务已启动（{worker.worker_id}）。"))
        self.stdout.write(f"Background worker {worker.worker_id} is running; queues: {', '.join(worker.queues)}; "
                          f"backend: {worker.backend_path}.")
        self.stdout.write("按 Ctrl+C 停止。Press Ctrl+C to stop.")
        self.stdout.flush()
        try:
            ran = worker.run(max_tasks=max_tasks, burst=burst)
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        except KeyboardInterrupt:
            sys.exit(1)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self.stdout.write(f"后台任务服务已停止，本次共处理 {ran} 个任务。Worker stopped after {ran} job(s).")
