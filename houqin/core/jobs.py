"""Background jobs: work that outlives a web request (imports, reports, reminders, notifications).

A domain app defines a job in its ``tasks.py`` and enqueues it from a view::

    from houqin.core.jobs import JobError, enqueue, job

    @job("导入资产台账")
    def import_assets(ctx, *, upload_id: int):
        rows = load_rows(upload_id)
        for i, row in enumerate(rows, 1):
            ...
            ctx.progress(i, len(rows))
        ctx.log(f"共导入 {len(rows)} 条")
        return {"message": f"已导入 {len(rows)} 条资产", "url": "/assets/assets/"}

    job_row = enqueue(import_assets, user=request.user, org=request.org, upload_id=upload.pk)
    return redirect(job_row)            # the job page shows a live progress bar

Every run is a ``Job`` row (status, progress, log, result, error). The work itself goes through django-tasks:
one django-tasks task, ``run_job``, loads the ``Job`` row and calls the definition under ``acting_as`` the user
who asked for it. The default backend keeps tasks in the database (``django_tasks_db``, no broker on a single
PC); a Redis/RQ backend is a setting (docs/jobs.md). Nothing here ever runs a job inside the web request: a
backend that would (django-tasks' ``ImmediateBackend``) is refused unless ``HOUQIN_JOBS_ALLOW_IMMEDIATE`` is
set, which only tests may do. When no worker is running, jobs stay queued and the UI says so.

Periodic jobs are registered with ``@periodic(every=timedelta(...))`` or ``@periodic("daily at 02:00")``; each
worker claims a due run with a conditional UPDATE, so two workers never start the same run.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
import time
import traceback as traceback_module
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import time as dt_time

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import OperationalError, close_old_connections, connections, models, transaction
from django.db.models import F, Value
from django.db.models.functions import Concat
from django.utils import timezone
from django.utils.module_loading import autodiscover_modules, import_string
from django_tasks import DEFAULT_TASK_BACKEND_ALIAS, DEFAULT_TASK_QUEUE_NAME, TaskContext, task, task_backends
from django_tasks.backends.immediate import ImmediateBackend
from django_tasks.signals import task_finished, task_started
from django_tasks.utils import normalize_json

from houqin.core.context import acting_as
from houqin.core.models.jobs import FINISHED_STATUSES, Job, JobStatus, PeriodicJobState, WorkerHeartbeat

logger = logging.getLogger(__name__)

NO_WORKER_MESSAGE = "后台任务服务未运行，任务将在服务启动后执行"
ABANDONED_MESSAGE = "后台任务服务在执行过程中停止，任务未完成，请重新提交。"
SUBMIT_FAILED_MESSAGE = "任务未能提交到后台任务服务，请稍后重试。"
FLUSH_INTERVAL_S = 0.5


def _setting(name: str, default):
    return getattr(settings, name, default)


# --- Errors ------------------------------------------------------------------------------------------------------


class JobError(Exception):
    """Raise inside a job with a message in Chinese that the user should read (e.g. "第 3 行：资产编号重复").
    Any other exception is shown to the user as a generic failure; its traceback goes to administrators."""


class JobCancelled(Exception):
    """Raised by ``ctx.progress()``/``ctx.log()``/``ctx.flush()`` once the job has been cancelled. Let it
    propagate: an enclosing ``transaction.atomic()`` then rolls the job's work back."""


# --- Definitions ---------------------------------------------------------------------------------------------------


class JobDefinition:
    """A function registered with ``@job(title)``. Calling it runs the function directly (for tests and for
    composing jobs); ``enqueue`` runs it in the background."""

    def __init__(self, func, title: str, *, queue_name: str = DEFAULT_TASK_QUEUE_NAME, priority: int = 0):
        if "<locals>" in func.__qualname__:
            raise TypeError("A job must be a module-level function (the worker imports it by its dotted path).")
        self.func = func
        self.title = title
        self.queue_name = queue_name
        self.priority = priority
        self.name = f"{func.__module__}.{func.__qualname__}"
        self.__module__ = func.__module__
        self.__name__ = func.__name__
        self.__qualname__ = func.__qualname__
        self.__doc__ = func.__doc__

    def __call__(self, ctx: JobContext, **kwargs):
        return self.func(ctx, **kwargs)

    def __repr__(self):
        return f"<JobDefinition {self.name} {self.title!r}>"

    def enqueue(self, *, user=None, org=None, title: str | None = None, **kwargs) -> Job:
        return enqueue(self, user=user, org=org, title=title, **kwargs)


REGISTRY: dict[str, JobDefinition] = {}


def job(title: str, *, queue_name: str = DEFAULT_TASK_QUEUE_NAME, priority: int = 0):
    """Declare a background job. The function takes a ``JobContext`` and keyword arguments that are JSON values
    (ids, strings, numbers — never model instances or files; pass the id of an upload instead) and may return a
    JSON value. A returned dict may carry ``message`` (shown on the job page) and ``url`` (a link to the
    result, a path on this site)."""

    def decorator(func) -> JobDefinition:
        definition = JobDefinition(func, title, queue_name=queue_name, priority=priority)
        REGISTRY[definition.name] = definition
        return definition

    return decorator


def resolve(name: str) -> JobDefinition:
    """The definition registered under ``name``, importing its module if needed."""
    definition = REGISTRY.get(name)
    if definition is None:
        definition = import_string(name)
    if not isinstance(definition, JobDefinition):
        raise LookupError(f"{name} is not a job (decorate it with @job)")
    return definition


# --- Backend guard -------------------------------------------------------------------------------------------------


def _backend(alias: str = DEFAULT_TASK_BACKEND_ALIAS):
    return task_backends[alias]


def is_database_backend(backend) -> bool:
    from django_tasks_db import DatabaseBackend

    return isinstance(backend, DatabaseBackend)


def runs_synchronously(backend) -> bool:
    return isinstance(backend, ImmediateBackend)


def ensure_not_synchronous(backend=None) -> None:
    """Refuse a backend that would run the job inside the current request (tests may opt in explicitly)."""
    backend = backend or _backend()
    if runs_synchronously(backend) and not _setting("HOUQIN_JOBS_ALLOW_IMMEDIATE", False):
        raise ImproperlyConfigured(
            "The task backend runs jobs synchronously inside the request (django_tasks ImmediateBackend). "
            "Configure TASKS with the database backend (django_tasks_db.DatabaseBackend) and run `houqin worker`."
        )


@checks.register()
def check_task_backend(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    try:
        backend = _backend()
    except Exception as exc:  # noqa: BLE001 — a broken TASKS setting is reported, not raised
        return [checks.Error(f"The default task backend cannot be loaded: {exc}", id="houqin.E020")]
    if runs_synchronously(backend) and not _setting("HOUQIN_JOBS_ALLOW_IMMEDIATE", False):
        return [checks.Error(
            "TASKS uses a backend that runs jobs synchronously in the web request.",
            hint="Set TASKS to django_tasks_db.DatabaseBackend (see docs/jobs.md) and run `houqin worker`.",
            id="houqin.E021",
        )]
    return []


# --- Enqueueing ----------------------------------------------------------------------------------------------------


def _pk(value):
    if value is None or isinstance(value, int):
        return value
    return getattr(value, "pk", None)  # also unwraps a lazy request.org / request.user that evaluates to None


def enqueue(definition: JobDefinition, *, user=None, org=None, title: str | None = None, **kwargs) -> Job:
    """Create the ``Job`` row (status 排队中) and hand the run to the task backend.

    With the database backend the task row is written in the same transaction as the ``Job`` row, so both
    commit or neither does. With a broker, the hand-over waits for the commit so that a worker never picks up a
    job whose row it cannot see yet.
    """
    if not isinstance(definition, JobDefinition):
        raise TypeError("enqueue() takes a function decorated with @job(...)")
    backend = _backend()
    ensure_not_synchronous(backend)
    try:
        arguments = normalize_json(kwargs)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"Job arguments must be JSON values (ids, strings, numbers): {exc}") from exc
    user_id = _pk(user) if getattr(user, "is_authenticated", False) else None
    job_row = Job.objects.create(
        org_id=_pk(org), user_id=user_id, name=definition.name, title=(title or definition.title)[:200],
        kwargs=arguments,
    )
    if is_database_backend(backend) or runs_synchronously(backend):
        _submit(job_row, definition)
    else:
        transaction.on_commit(lambda: _submit_after_commit(job_row, definition))
    return job_row


def _submit(job_row: Job, definition: JobDefinition) -> None:
    options = {"queue_name": definition.queue_name}
    if definition.priority:
        options["priority"] = definition.priority
    result = run_job.using(**options).enqueue(job_id=job_row.pk)
    job_row.task_result_id = str(result.id)[:64]
    Job.objects.filter(pk=job_row.pk).update(task_result_id=job_row.task_result_id)


def _submit_after_commit(job_row: Job, definition: JobDefinition) -> None:
    try:
        _submit(job_row, definition)
    except Exception:
        logger.exception("Could not hand job %s (%s) to the task backend", job_row.pk, job_row.name)
        Job.objects.filter(pk=job_row.pk, status=JobStatus.QUEUED).update(
            status=JobStatus.FAILED, error=SUBMIT_FAILED_MESSAGE, finished_at=timezone.now()
        )


def cancel(job_row: Job, *, by=None) -> bool:
    """Cancel a queued or running job. A queued job never starts; a running job stops at its next
    ``ctx.progress()``/``ctx.log()`` (cancellation is cooperative). Returns False when it had already finished."""
    who = str(by) if by is not None else "系统"
    cancelled = Job.objects.filter(pk=job_row.pk, status__in=(JobStatus.QUEUED, JobStatus.RUNNING)).update(
        status=JobStatus.CANCELLED, finished_at=timezone.now(), log=_append(_log_line(f"已由 {who} 取消。")),
    )
    return bool(cancelled)


# --- Running -------------------------------------------------------------------------------------------------------


def _log_line(message: str) -> str:
    return f"[{timezone.localtime():%H:%M:%S}] {message}\n"


def _append(text: str):
    return Concat(F("log"), Value(text), output_field=models.TextField())


def _in_own_connection(func, *args) -> None:
    """Run ``func`` in a short-lived thread. Django gives each thread its own database connection, so the write
    commits at once instead of staying invisible inside (and being rolled back with) the job's transaction."""
    errors: list[BaseException] = []

    def target():
        try:
            func(*args)
        except Exception as exc:  # noqa: BLE001 — progress is best effort; reported below
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=target, name="houqin-job-progress", daemon=True)
    thread.start()
    thread.join()
    if errors:
        logger.warning("Could not record job progress: %s", errors[0])


class JobContext:
    """What a running job uses to report: ``progress(done, total)`` and ``log(message)``.

    Writes are batched (at most two a second) so a job may call both once per row. Inside a
    ``transaction.atomic()`` opened by the job, PostgreSQL gets the writes through a separate connection so the
    progress bar moves during the transaction; on SQLite (one writer at a time) they become visible when the
    transaction commits — validate rows outside the transaction, then write them in one.
    """

    def __init__(self, job_row: Job):
        self.job = job_row
        self.job_id = job_row.pk
        self.user = job_row.user
        self.org_id = job_row.org_id
        self.done = job_row.done
        self.total = job_row.total
        self.percent = job_row.progress
        self._pending: list[str] = []
        self._log_chars = len(job_row.log)
        self._log_full = False
        self._dirty = False
        self._last_flush = 0.0
        self._db = Job.objects.db
        self._base_depth = len(connections[self._db].atomic_blocks)

    def progress(self, done: int, total: int | None = None) -> None:
        """``done`` of ``total`` items processed (``total`` may be given once and omitted afterwards)."""
        if total is not None:
            self.total = max(0, int(total))
        self.done = max(0, int(done))
        if self.total:
            self.percent = min(100, self.done * 100 // self.total)
        self._dirty = True
        self._maybe_flush(force=bool(self.total) and self.done >= self.total)

    def log(self, message: str) -> None:
        """Append a line (with the time) to the job's log, which the user reads on the job page."""
        if self._log_full:
            return
        line = _log_line(str(message))
        limit = _setting("HOUQIN_JOB_LOG_MAX_CHARS", 100_000)
        if self._log_chars + len(line) > limit:
            line = _log_line("……日志过长，后续内容省略。")
            self._log_full = True
        self._log_chars += len(line)
        self._pending.append(line)
        self._maybe_flush()

    def _maybe_flush(self, force: bool = False) -> None:
        if force or time.monotonic() - self._last_flush >= FLUSH_INTERVAL_S:
            self.flush()

    def flush(self) -> None:
        """Write pending progress and log lines now (raises ``JobCancelled`` if the job was cancelled)."""
        if not self._dirty and not self._pending:
            return
        fields = {"progress": self.percent, "done": self.done, "total": self.total}
        if self._pending:
            fields["log"] = _append("".join(self._pending))
        self._pending = []
        self._dirty = False
        self._last_flush = time.monotonic()
        connection = connections[self._db]
        if connection.vendor != "sqlite" and len(connection.atomic_blocks) > self._base_depth:
            _in_own_connection(self._write, fields)
            return
        if not self._write(fields):
            raise JobCancelled(self.job_id)

    def _write(self, fields: dict) -> int:
        return Job.objects.filter(pk=self.job_id, status=JobStatus.RUNNING).update(**fields)

    def final_fields(self) -> dict:
        fields = {"progress": self.percent, "done": self.done, "total": self.total}
        if self._pending:
            fields["log"] = "".join(self._pending)
        self._pending = []
        return fields


def _user_message(exc: BaseException, job_id: int) -> str:
    if isinstance(exc, JobError):
        return str(exc)
    if isinstance(exc, ValidationError):
        return "；".join(exc.messages)
    return f"任务执行出错，请联系系统管理员（任务编号 {job_id}）。"


def _finish(ctx: JobContext, status: str, *, closing_line: str, **extra) -> None:
    fields = ctx.final_fields()
    text = fields.pop("log", "") + _log_line(closing_line)
    if status == JobStatus.SUCCEEDED:
        fields["progress"] = 100
        if fields["total"] is not None:
            fields["done"] = max(fields["done"], fields["total"])
    # Unconditional: a job that finished before it noticed a cancel request did finish.
    Job.objects.filter(pk=ctx.job_id).update(status=status, finished_at=timezone.now(), log=_append(text),
                                             **fields, **extra)


def execute_job(job_id: int, *, worker_id: str = "") -> str:
    """Run one queued job in this thread and record how it ended. Returns the final status.

    The job is claimed with a conditional UPDATE (``status = 排队中``), so a job that was cancelled — or that a
    second delivery of the same task already ran — is skipped.
    """
    claimed = Job.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING, started_at=timezone.now(), worker_id=worker_id[:64]
    )
    if not claimed:
        status = Job.objects.filter(pk=job_id).values_list("status", flat=True).first()
        logger.info("Job %s not run: status is %s", job_id, status or "missing")
        return status or ""
    job_row = Job.objects.select_related("user").get(pk=job_id)
    ctx = JobContext(job_row)
    with acting_as(job_row.user, request_id=f"job-{job_row.pk}", org_id=job_row.org_id):
        try:
            definition = resolve(job_row.name)
            ctx.log("开始执行")
            value = definition.func(ctx, **job_row.kwargs)
            result = normalize_json(value) if value is not None else None
        except JobCancelled:
            _finish(ctx, JobStatus.CANCELLED, closing_line="任务已停止。")
            return JobStatus.CANCELLED
        except Exception as exc:
            logger.exception("Job %s (%s) failed", job_row.pk, job_row.name)
            message = _user_message(exc, job_row.pk)
            _finish(ctx, JobStatus.FAILED, closing_line=f"失败：{message}", error=message,
                    traceback="".join(traceback_module.format_exception(exc)))
            return JobStatus.FAILED
        except BaseException as exc:  # the worker is being stopped hard (second Ctrl+C, SystemExit)
            _finish(ctx, JobStatus.FAILED, closing_line=ABANDONED_MESSAGE, error=ABANDONED_MESSAGE,
                    traceback="".join(traceback_module.format_exception(exc)))
            raise
        _finish(ctx, JobStatus.SUCCEEDED, closing_line="已完成", result=result)
        return JobStatus.SUCCEEDED


@task(takes_context=True)
def run_job(context: TaskContext, job_id: int) -> str:
    """The one django-tasks task: runs the ``Job`` row ``job_id`` (the definition is named on the row)."""
    worker_ids = context.task_result.worker_ids
    return execute_job(job_id, worker_id=worker_ids[-1] if worker_ids else "")


# --- The database worker loop ----------------------------------------------------------------------------------------


def _claim_next_task(backend, queues, worker_id: str):
    from django_tasks_db.models import DBTaskResult
    from django_tasks_db.utils import exclusive_transaction, is_locked_database_exception

    tasks = DBTaskResult.objects.ready().filter(backend_name=backend.alias, queue_name__in=sorted(queues))
    try:
        with exclusive_transaction(tasks.db):
            db_result = tasks.get_locked()
            if db_result is not None:
                db_result.claim(worker_id)
            return db_result
    except OperationalError as exc:
        if is_locked_database_exception(exc):  # another worker holds the lock: try again next round
            return None
        raise


def _run_db_task(db_result) -> None:
    from django.core.exceptions import SuspiciousOperation

    try:
        task_obj = db_result.task
        task_result = db_result.task_result
        sender = type(task_obj.get_backend())
        task_started.send(sender=sender, task_result=task_result)
        if task_obj.takes_context:
            value = task_obj.call(TaskContext(task_result=task_result), *task_result.args, **task_result.kwargs)
        else:
            value = task_obj.call(*task_result.args, **task_result.kwargs)
        db_result.set_successful(value)
        task_finished.send(sender=sender, task_result=db_result.task_result)
    except BaseException as exc:
        db_result.set_failed(exc)
        try:
            task_finished.send(sender=type(db_result.task.get_backend()), task_result=db_result.task_result)
        except (ImportError, SuspiciousOperation):
            logger.exception("Task %s failed and cannot be loaded", db_result.id)
        if not isinstance(exc, Exception):
            raise


def run_pending(max_tasks: int | None = 1, *, queues=None, worker_id: str | None = None,
                backend_alias: str = DEFAULT_TASK_BACKEND_ALIAS) -> int:
    """Run up to ``max_tasks`` queued tasks (all, if None) in this thread and return how many ran. This is the
    database worker's inner loop; tests call it directly."""
    backend = _backend(backend_alias)
    if not is_database_backend(backend):
        raise ImproperlyConfigured("run_pending() needs the database task backend; a broker's worker runs its tasks")
    worker_id = worker_id or make_worker_id()
    queues = set(queues or backend.queues)
    ran = 0
    while max_tasks is None or ran < max_tasks:
        db_result = _claim_next_task(backend, queues, worker_id)
        if db_result is None:
            break
        _run_db_task(db_result)
        ran += 1
    return ran


# --- Worker liveness -------------------------------------------------------------------------------------------------


def make_worker_id() -> str:
    return f"{socket.gethostname()[:40]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"[:64]


def beat(worker_id: str, *, started_at: datetime, backend: str = "", queues: str = "") -> None:
    """Record that this worker is alive (one row per worker, refreshed every few seconds)."""
    now = timezone.now()
    if not WorkerHeartbeat.objects.filter(worker_id=worker_id).update(seen_at=now):
        WorkerHeartbeat.objects.create(
            worker_id=worker_id, hostname=socket.gethostname()[:200], pid=os.getpid(), backend=backend[:200],
            queues=queues[:200], started_at=started_at, seen_at=now,
        )


def forget_worker(worker_id: str) -> None:
    WorkerHeartbeat.objects.filter(worker_id=worker_id).delete()


def worker_is_running(now: datetime | None = None) -> bool:
    """True when some worker has sent a heartbeat within ``HOUQIN_WORKER_STALE_AFTER_S`` (default 30 s)."""
    now = now or timezone.now()
    fresh_since = now - timedelta(seconds=_setting("HOUQIN_WORKER_STALE_AFTER_S", 30))
    return WorkerHeartbeat.objects.filter(seen_at__gte=fresh_since).exists()


def reap_abandoned_jobs(now: datetime | None = None) -> int:
    """Mark as failed the jobs left 运行中 by a worker that has stopped sending heartbeats (killed, power cut)."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=_setting("HOUQIN_WORKER_DEAD_AFTER_S", 300))
    live = WorkerHeartbeat.objects.filter(seen_at__gte=cutoff).values("worker_id")
    stale = Job.objects.filter(status=JobStatus.RUNNING, started_at__lt=cutoff).exclude(worker_id__in=live)
    count = stale.update(status=JobStatus.FAILED, finished_at=now, error=ABANDONED_MESSAGE,
                         log=_append(_log_line(ABANDONED_MESSAGE)))
    WorkerHeartbeat.objects.filter(seen_at__lt=now - timedelta(days=1)).delete()
    if count:
        logger.warning("Marked %d abandoned job(s) as failed", count)
    return count


# --- Periodic jobs ---------------------------------------------------------------------------------------------------

_DAILY = re.compile(r"^\s*daily\s+at\s+(\d{1,2}):(\d{2})\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Schedule:
    """Either a fixed interval (``every``) or a local wall-clock time each day (``daily_at``)."""

    every: timedelta | None = None
    daily_at: dt_time | None = None

    @classmethod
    def parse(cls, spec) -> Schedule:
        if isinstance(spec, timedelta):
            if spec < timedelta(minutes=1):
                raise ImproperlyConfigured("A periodic job runs at most once a minute")
            return cls(every=spec)
        match = _DAILY.match(spec) if isinstance(spec, str) else None
        if match and int(match[1]) < 24 and int(match[2]) < 60:
            return cls(daily_at=dt_time(int(match[1]), int(match[2])))
        raise ImproperlyConfigured(f"Unknown schedule {spec!r}: use a timedelta or 'daily at HH:MM'")

    def describe(self) -> str:
        if self.daily_at is not None:
            return f"每天 {self.daily_at:%H:%M}"
        minutes = int(self.every.total_seconds() // 60)
        if minutes % (24 * 60) == 0:
            return f"每 {minutes // (24 * 60)} 天"
        if minutes % 60 == 0:
            return f"每 {minutes // 60} 小时"
        return f"每 {minutes} 分钟"

    def _next_daily(self, after: datetime) -> datetime:
        local = timezone.localtime(after)
        candidate = local.replace(hour=self.daily_at.hour, minute=self.daily_at.minute, second=0, microsecond=0)
        if candidate <= local:
            candidate = timezone.make_aware(datetime.combine(local.date() + timedelta(days=1), self.daily_at))
        return candidate

    def first_run(self, now: datetime) -> datetime:
        """Interval jobs run as soon as a worker sees them; daily jobs at their next wall-clock time."""
        return now if self.every is not None else self._next_daily(now)

    def next_run(self, previous: datetime, now: datetime) -> datetime:
        """The next run after ``now``; runs missed while no worker was up are skipped, not replayed."""
        if self.daily_at is not None:
            return self._next_daily(now)
        steps = (now - previous) // self.every + 1 if now >= previous else 1
        return previous + self.every * steps


PERIODIC: dict[str, tuple[JobDefinition, Schedule]] = {}


def periodic(every):
    """Run a job on a schedule, as a system job (no user, no organisation): ``@periodic(timedelta(hours=1))`` or
    ``@periodic("daily at 02:00")`` (local time), placed above ``@job(...)``."""
    schedule = Schedule.parse(every)

    def decorator(definition: JobDefinition) -> JobDefinition:
        if not isinstance(definition, JobDefinition):
            raise TypeError("@periodic(...) goes above @job(...)")
        PERIODIC[definition.name] = (definition, schedule)
        return definition

    return decorator


def sync_periodic_states(now: datetime | None = None) -> None:
    """Make sure every registered periodic job has a schedule row (and that a changed schedule takes effect)."""
    now = now or timezone.now()
    for name, (_definition, schedule) in PERIODIC.items():
        state, created = PeriodicJobState.objects.get_or_create(
            name=name, defaults={"schedule": schedule.describe(), "next_run_at": schedule.first_run(now)}
        )
        if not created and state.schedule != schedule.describe():
            PeriodicJobState.objects.filter(pk=state.pk, schedule=state.schedule).update(
                schedule=schedule.describe(), next_run_at=schedule.first_run(now)
            )


def claim_due_periodic(now: datetime | None = None) -> list[Job]:
    """Enqueue every periodic job whose time has come. Each run is claimed with
    ``UPDATE … SET next_run_at = <next> WHERE id = … AND next_run_at = <as read>``: only the worker whose UPDATE
    changes the row enqueues the job, in the same transaction as the claim."""
    now = now or timezone.now()
    jobs = []
    due = PeriodicJobState.objects.filter(enabled=True, next_run_at__lte=now, name__in=sorted(PERIODIC))
    for state in list(due):
        definition, schedule = PERIODIC[state.name]
        with transaction.atomic():
            won = PeriodicJobState.objects.filter(pk=state.pk, next_run_at=state.next_run_at).update(
                next_run_at=schedule.next_run(state.next_run_at, now), last_run_at=now
            )
            if won != 1:
                continue  # another worker claimed this run
            job_row = enqueue(definition, user=None, org=None)
            PeriodicJobState.objects.filter(pk=state.pk).update(last_job=job_row)
        jobs.append(job_row)
    return jobs


# --- The worker ------------------------------------------------------------------------------------------------------


class Worker:
    """``houqin worker``: runs queued jobs, sends heartbeats, enqueues due periodic jobs and fails jobs abandoned
    by dead workers. Heartbeats and periodic claims run in a thread of their own so that a long job does not make
    the worker look dead."""

    def __init__(self, *, queues=None, interval: float = 1.0, worker_id: str | None = None,
                 backend_alias: str = DEFAULT_TASK_BACKEND_ALIAS, heartbeat_every: float = 5.0):
        self.backend = _backend(backend_alias)
        self.queues = sorted(set(queues or self.backend.queues))
        self.interval = interval
        self.worker_id = worker_id or make_worker_id()
        self.heartbeat_every = heartbeat_every
        self.started_at = timezone.now()
        self.stopping = threading.Event()
        self.running_task = False
        self._last_reap = 0.0

    @property
    def backend_path(self) -> str:
        cls = type(self.backend)
        return f"{cls.__module__}.{cls.__qualname__}"

    def housekeeping(self) -> None:
        beat(self.worker_id, started_at=self.started_at, backend=self.backend_path, queues=",".join(self.queues))
        sync_periodic_states()
        claim_due_periodic()
        if time.monotonic() - self._last_reap >= 60:
            self._last_reap = time.monotonic()
            reap_abandoned_jobs()

    def _housekeeping_loop(self) -> None:
        try:
            while not self.stopping.is_set():
                try:
                    close_old_connections()
                    self.housekeeping()
                except Exception:
                    logger.exception("Worker housekeeping failed; retrying")
                self.stopping.wait(self.heartbeat_every)
        finally:
            connections.close_all()

    def run(self, *, max_tasks: int | None = None, burst: bool = False) -> int:
        """Work until ``stop()`` (or, with ``burst``, until the queue is empty). Returns the number of tasks run."""
        ensure_not_synchronous(self.backend)
        autodiscover_modules("tasks")
        self.housekeeping()
        thread = threading.Thread(target=self._housekeeping_loop, name="houqin-worker-housekeeping", daemon=True)
        thread.start()
        ran = 0
        try:
            if is_database_backend(self.backend):
                ran = self._run_database(max_tasks=max_tasks, burst=burst)
            else:
                self._run_broker(burst=burst)
        finally:
            self.stopping.set()
            thread.join(timeout=self.heartbeat_every + 5)
            forget_worker(self.worker_id)
        return ran

    def _run_database(self, *, max_tasks: int | None, burst: bool) -> int:
        ran = 0
        while not self.stopping.is_set() and (max_tasks is None or ran < max_tasks):
            close_old_connections()
            self.running_task = True
            try:
                count = run_pending(1, queues=self.queues, worker_id=self.worker_id,
                                    backend_alias=self.backend.alias)
            finally:
                self.running_task = False
            ran += count
            if not count:
                if burst:
                    break
                self.stopping.wait(self.interval)
        return ran

    def _run_broker(self, *, burst: bool) -> None:
        if type(self.backend).__module__.startswith("django_tasks_rq"):
            import django_rq

            connections.close_all()  # RQ forks a process per job; it must not share this process's connection
            rq_worker = django_rq.get_worker(*self.queues, job_class="django_tasks_rq.Job", name=self.worker_id)
            rq_worker.work(burst=burst, with_scheduler=True)
            return
        raise ImproperlyConfigured(f"houqin worker does not know how to run tasks for {self.backend_path}")

    def stop(self) -> None:
        self.stopping.set()


# --- Built-in periodic jobs -------------------------------------------------------------------------------------------


@periodic("daily at 03:30")
@job("清理过期的后台任务记录")
def prune_finished_jobs(ctx: JobContext) -> dict:
    """Delete finished jobs (and the task backend's finished results) older than ``HOUQIN_JOB_RETENTION_DAYS``."""
    cutoff = timezone.now() - timedelta(days=_setting("HOUQIN_JOB_RETENTION_DAYS", 90))
    jobs_deleted, _ = Job.objects.filter(status__in=FINISHED_STATUSES, finished_at__lt=cutoff).delete()
    results_deleted = 0
    if is_database_backend(_backend()):
        from django_tasks_db.models import DBTaskResult

        results_deleted, _ = DBTaskResult.objects.finished().filter(finished_at__lt=cutoff).delete()
    ctx.log(f"删除任务记录 {jobs_deleted} 条，队列记录 {results_deleted} 条")
    return {"message": f"已清理 {jobs_deleted} 条过期任务记录"}
