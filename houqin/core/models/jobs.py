"""Background jobs: one ``Job`` row per run, worker heartbeats and the schedule of periodic jobs.

The API that domain apps use lives in ``houqin.core.jobs``; these models only hold state. Jobs are not domain
rows (no change log, no pinyin search): a job's own log is its history.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from houqin.core.models.base import RestrictedQuerySet


class JobStatus(models.TextChoices):
    QUEUED = "queued", "排队中"
    RUNNING = "running", "运行中"
    SUCCEEDED = "succeeded", "已完成"
    FAILED = "failed", "失败"
    CANCELLED = "cancelled", "已取消"


FINISHED_STATUSES = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


class JobQuerySet(RestrictedQuerySet):
    def restrict(self, user, action: str = "view"):
        """A user sees (and may cancel) the jobs they started; holders of ``core.<action>_job`` in an
        organisation see that organisation's jobs. System jobs (no organisation) are for superusers only."""
        from houqin.core.auth import access_for

        if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        if user.is_superuser:
            return self
        visible = Q(user=user)
        org_ids = access_for(user).orgs_for(f"core.{action}_job")
        if org_ids:
            visible |= Q(org_id__in=sorted(org_ids))
        return self.filter(visible)

    def unfinished(self):
        return self.filter(status__in=(JobStatus.QUEUED, JobStatus.RUNNING))


class Job(models.Model):
    """One run of a background job: who asked for it, for which organisation, how far it got and how it ended.

    ``name`` is the dotted path of the job definition (``houqin.assets.tasks.import_assets``); ``kwargs`` are
    the JSON arguments it runs with. ``error`` is the message shown to the user; ``traceback`` is for
    administrators only.
    """

    org_field = "org"

    org = models.ForeignKey(
        "core.Organization",
        verbose_name="所属单位",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="提交人",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    name = models.CharField("任务类型", max_length=200, db_index=True)
    title = models.CharField("任务名称", max_length=200)
    kwargs = models.JSONField("参数", default=dict, blank=True)
    status = models.CharField("状态", max_length=20, choices=JobStatus.choices, default=JobStatus.QUEUED)
    progress = models.PositiveSmallIntegerField("进度（%）", default=0)
    done = models.PositiveIntegerField("已处理", default=0)
    total = models.PositiveIntegerField("总数", null=True, blank=True)
    log = models.TextField("日志", blank=True, default="")
    result = models.JSONField("结果", null=True, blank=True)
    error = models.TextField("错误信息", blank=True, default="")
    traceback = models.TextField("错误详情", blank=True, default="")
    task_result_id = models.CharField("队列任务编号", max_length=64, blank=True, default="", db_index=True)
    worker_id = models.CharField("执行进程", max_length=64, blank=True, default="")
    created_at = models.DateTimeField("提交时间", auto_now_add=True, db_index=True)
    started_at = models.DateTimeField("开始时间", null=True, blank=True)
    finished_at = models.DateTimeField("结束时间", null=True, blank=True)

    objects = JobQuerySet.as_manager()

    class Meta:
        verbose_name = "后台任务"
        verbose_name_plural = "后台任务"
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="job_user_created_idx"),
            models.Index(fields=["org", "-created_at"], name="job_org_created_idx"),
            models.Index(fields=["status", "started_at"], name="job_status_started_idx"),
        ]
        constraints = [models.CheckConstraint(condition=Q(progress__lte=100), name="job_progress_lte_100")]

    def __str__(self):
        return f"{self.title} #{self.pk}"

    def get_absolute_url(self):
        return reverse("job_detail", args=[self.pk])

    @property
    def owning_org_id(self) -> int | None:
        return self.org_id

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    @property
    def duration(self):
        if self.started_at is None:
            return None
        return (self.finished_at or timezone.now()) - self.started_at

    @property
    def status_color(self) -> str:
        return {
            JobStatus.QUEUED: "secondary",
            JobStatus.RUNNING: "primary",
            JobStatus.SUCCEEDED: "success",
            JobStatus.FAILED: "danger",
            JobStatus.CANCELLED: "warning",
        }[JobStatus(self.status)]


class WorkerHeartbeat(models.Model):
    """A running ``houqin worker`` process. It refreshes ``seen_at`` every few seconds and deletes its row on a
    clean shutdown; the UI treats the task service as down when no row is fresher than
    ``HOUQIN_WORKER_STALE_AFTER_S``."""

    worker_id = models.CharField("进程编号", max_length=64, unique=True)
    hostname = models.CharField("主机", max_length=200, blank=True, default="")
    pid = models.PositiveIntegerField("进程号", null=True, blank=True)
    backend = models.CharField("队列后端", max_length=200, blank=True, default="")
    queues = models.CharField("队列", max_length=200, blank=True, default="")
    started_at = models.DateTimeField("启动时间")
    seen_at = models.DateTimeField("最近心跳", db_index=True)

    class Meta:
        verbose_name = "后台任务进程"
        verbose_name_plural = "后台任务进程"
        ordering = ["-seen_at"]

    def __str__(self):
        return f"{self.hostname}:{self.pid} ({self.worker_id})"


class PeriodicJobState(models.Model):
    """When a registered periodic job runs next. A worker claims a due run with a conditional UPDATE on
    ``next_run_at`` (``WHERE id = … AND next_run_at = <the value it read>``), so however many workers run,
    exactly one of them enqueues each run."""

    name = models.CharField("任务类型", max_length=200, unique=True)
    schedule = models.CharField("执行计划", max_length=100)
    enabled = models.BooleanField("启用", default=True)
    next_run_at = models.DateTimeField("下次执行", db_index=True)
    last_run_at = models.DateTimeField("上次执行", null=True, blank=True)
    last_job = models.ForeignKey(
        Job, verbose_name="上次任务", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = "定时任务"
        verbose_name_plural = "定时任务"
        ordering = ["name"]

    def __str__(self):
        return f"{self.name} ({self.schedule})"
