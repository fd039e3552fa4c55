"""Background job pages: my jobs, one job with a live progress bar, cancel, and the worker-status badge."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.db import OperationalError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View

from houqin.core import jobs
from houqin.core.auth import access_for
from houqin.core.models.jobs import Job, JobStatus
from houqin.core.views.generic import render_page

LIST_LIMIT = 100
LOG_TAIL_LINES = 200


def _can_see_org_jobs(user) -> bool:
    return user.is_superuser or bool(access_for(user).orgs_for("core.view_job"))


def _result_link(job_row: Job) -> str:
    """The result's link, only if it is a path on this site."""
    url = (job_row.result or {}).get("url") if isinstance(job_row.result, dict) else None
    if isinstance(url, str) and url.startswith("/") and url_has_allowed_host_and_scheme(url, allowed_hosts=None):
        return url
    return ""


def _result_message(job_row: Job) -> str:
    message = (job_row.result or {}).get("message") if isinstance(job_row.result, dict) else None
    return str(message) if message else ""


class JobListView(LoginRequiredMixin, View):
    """The jobs I started (or, with ``core.view_job``, my organisations' jobs), newest first."""

    def get(self, request):
        user = request.user
        queryset = Job.objects.restrict(user).select_related("user", "org")
        scope = "all" if request.GET.get("scope") == "all" and _can_see_org_jobs(user) else "mine"
        if scope == "mine":
            queryset = queryset.filter(user=user)
        status = request.GET.get("status", "")
        if status in JobStatus.values:
            queryset = queryset.filter(status=status)
        else:
            status = ""
        rows = list(queryset[: LIST_LIMIT + 1])
        context = {
            "jobs": rows[:LIST_LIMIT],
            "more": len(rows) > LIST_LIMIT,
            "scope": scope,
            "status": status,
            "statuses": JobStatus.choices,
            "can_see_org_jobs": _can_see_org_jobs(user),
            "any_unfinished": any(not j.is_finished for j in rows),
            "worker_running": jobs.worker_is_running(),
        }
        return render_page(request, "core/job_list.html", context, partial="jobs")


class JobDetailView(LoginRequiredMixin, View):
    """One job. An HTMX request gets only the progress partial, which polls itself every second until the job
    has finished."""

    def get(self, request, pk):
        job_row = get_object_or_404(Job.objects.restrict(request.user).select_related("user", "org"), pk=pk)
        return render_page(request, "core/job_detail.html", self.context(request, job_row), partial="progress")

    @staticmethod
    def context(request, job_row: Job) -> dict:
        log_lines = job_row.log.splitlines()
        return {
            "job": job_row,
            "log_lines": log_lines[-LOG_TAIL_LINES:],
            "log_truncated": len(log_lines) > LOG_TAIL_LINES,
            "worker_running": True if job_row.is_finished else jobs.worker_is_running(),
            "no_worker_message": jobs.NO_WORKER_MESSAGE,
            "can_cancel": not job_row.is_finished
            and Job.objects.restrict(request.user, "change").filter(pk=job_row.pk).exists(),
            "show_traceback": request.user.is_superuser and bool(job_row.traceback),
            "result_message": _result_message(job_row),
            "result_link": _result_link(job_row),
        }


class JobCancelView(LoginRequiredMixin, View):
    def post(self, request, pk):
        job_row = get_object_or_404(Job.objects.restrict(request.user), pk=pk)
        if not Job.objects.restrict(request.user, "change").filter(pk=pk).exists():
            raise PermissionDenied("您没有此操作的权限。")
        try:
            cancelled = jobs.cancel(job_row, by=request.user)
        except OperationalError:  # SQLite busy beyond its timeout while a long job holds the write lock
            cancelled = None
        if getattr(request, "htmx", False):
            # The progress partial shows the new status; a message would only surface on some later page.
            job_row.refresh_from_db()
            context = JobDetailView.context(request, job_row)
            context["busy"] = cancelled is None
            return render(request, "core/job_detail.html#progress", context)
        if cancelled is None:
            messages.error(request, "系统繁忙，请稍后再试。")
        elif cancelled:
            messages.success(request, "任务已取消。正在执行的任务会在当前步骤结束后停止。")
        else:
            messages.info(request, "任务已经结束，无需取消。")
        return redirect(job_row)


@login_required
def worker_status(request):
    """A small badge that warns when no worker is running (empty when all is well)."""
    return render(request, "core/job_worker_status.html", {
        "worker_running": jobs.worker_is_running(),
        "no_worker_message": jobs.NO_WORKER_MESSAGE,
        "queued": Job.objects.restrict(request.user).filter(user=request.user, status=JobStatus.QUEUED).count(),
    })
