"""Background jobs: enqueue, run, fail, cancel, worker liveness, periodic claims, permissions and the HTMX
progress partial."""

from __future__ import annotations

import io
import threading
import time
from datetime import datetime, timedelta

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection, connections, transaction
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from houqin.core import jobs
from houqin.core.context import current
from houqin.core.jobs import JobError, Schedule, enqueue, job, run_pending
from houqin.core.models import Membership, Organization, OrgKind, Role, User
from houqin.core.models.jobs import Job, JobStatus, PeriodicJobState, WorkerHeartbeat

pytestmark = pytest.mark.django_db

IMMEDIATE = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}


# --- Job definitions used by the tests (module level: the worker imports them by dotted path) -------------------------


@job("测试：逐条处理")
def count_items(ctx, *, n: int):
    ctx.log("准备处理")
    for i in range(1, n + 1):
        ctx.progress(i, n)
    return {"message": f"已处理 {n} 条", "url": "/jobs/"}


@job("测试：程序错误")
def crashes(ctx):
    ctx.log("读取文件")
    raise RuntimeError("internal detail /srv/secret.py")


@job("测试：业务错误")
def rejects_input(ctx):
    raise JobError("第 3 行：资产编号重复")


@job("测试：执行身份")
def reports_actor(ctx):
    action = current()
    return {"user": getattr(action.user, "username", None), "request_id": action.request_id, "org_id": action.org_id}


@job("测试：执行中被取消")
def cancelled_midway(ctx):
    jobs.cancel(ctx.job)
    ctx.progress(1, 2)
    ctx.flush()
    return {"message": "不应执行到这里"}


@job("测试：事务中的进度")
def progress_inside_transaction(ctx):
    seen = []

    def look():
        seen.append(Job.objects.values_list("progress", flat=True).get(pk=ctx.job_id))
        connections.close_all()

    with transaction.atomic():
        ctx.progress(1, 2)
        ctx.flush()
        thread = threading.Thread(target=look)
        thread.start()
        thread.join()
    return {"seen_by_another_connection": seen[0]}


@job("测试：定时任务")
def periodic_probe(ctx):
    return None


# --- People and places ------------------------------------------------------------------------------------------------


def make_org(code: str, name: str) -> Organization:
    return Organization.objects.create(kind=OrgKind.PRIMARY, name=name, code=code)


def make_user(username: str, org: Organization | None = None, perms: tuple[str, ...] = ()) -> User:
    user = User.objects.create_user(username, password="Zx9-long-password", full_name=username)
    if org is not None:
        role = Role.objects.create(code=f"test-{username}", name=f"测试角色{username}")
        role.permissions.set(Permission.objects.filter(content_type__app_label="core", codename__in=perms))
        Membership.objects.create(user=user, org=org, role=role)
    return user


@pytest.fixture
def school():
    return make_org("TEST-S1", "第一小学")


@pytest.fixture
def other_school():
    return make_org("TEST-S2", "第二小学")


@pytest.fixture
def teacher(school):
    return make_user("teacher", school)


def htmx_get(client, url):
    return client.get(url, HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL=f"http://testserver{url}")


# --- Enqueue and run --------------------------------------------------------------------------------------------------


def test_enqueue_creates_a_queued_job_and_a_task(teacher, school):
    job_row = enqueue(count_items, user=teacher, org=school, n=3)

    job_row.refresh_from_db()
    assert job_row.status == JobStatus.QUEUED
    assert job_row.get_status_display() == "排队中"
    assert (job_row.user, job_row.org, job_row.title) == (teacher, school, "测试：逐条处理")
    assert job_row.name == "houqin.core.tests.test_jobs.count_items"
    assert job_row.kwargs == {"n": 3}
    task_row = DBTaskResult.objects.get(pk=job_row.task_result_id)
    assert task_row.status == "READY"
    assert task_row.args_kwargs["kwargs"] == {"job_id": job_row.pk}


def test_the_worker_loop_runs_a_job_and_records_progress_log_and_result(teacher, school):
    job_row = enqueue(count_items, user=teacher, org=school, n=5)

    assert run_pending(max_tasks=1) == 1

    job_row.refresh_from_db()
    assert job_row.status == JobStatus.SUCCEEDED
    assert job_row.get_status_display() == "已完成"
    assert (job_row.progress, job_row.done, job_row.total) == (100, 5, 5)
    assert "准备处理" in job_row.log and "已完成" in job_row.log
    assert job_row.result == {"message": "已处理 5 条", "url": "/jobs/"}
    assert job_row.started_at <= job_row.finished_at
    assert DBTaskResult.objects.get(pk=job_row.task_result_id).status == "SUCCESSFUL"
    assert run_pending(max_tasks=1) == 0


def test_a_job_runs_as_the_user_who_asked_for_it(teacher, school):
    job_row = enqueue(reports_actor, user=teacher, org=school)
    run_pending()
    job_row.refresh_from_db()
    assert job_row.result == {"user": "teacher", "request_id": f"job-{job_row.pk}", "org_id": school.pk}


def test_a_crash_fails_the_job_without_showing_the_traceback_to_the_user(teacher, school):
    job_row = enqueue(crashes, user=teacher, org=school)
    run_pending()

    job_row.refresh_from_db()
    assert job_row.status == JobStatus.FAILED
    assert job_row.error == f"任务执行出错，请联系系统管理员（任务编号 {job_row.pk}）。"
    assert "secret" not in job_row.error and "secret" not in job_row.log
    assert "读取文件" in job_row.log
    assert "RuntimeError: internal detail /srv/secret.py" in job_row.traceback
    assert job_row.finished_at is not None


def test_a_job_error_message_is_shown_as_written(teacher, school):
    job_row = enqueue(rejects_input, user=teacher, org=school)
    run_pending()
    job_row.refresh_from_db()
    assert (job_row.status, job_row.error) == (JobStatus.FAILED, "第 3 行：资产编号重复")
    assert "第 3 行：资产编号重复" in job_row.log


def test_only_superusers_see_the_traceback(client, teacher, school):
    job_row = enqueue(crashes, user=teacher, org=school)
    run_pending()
    client.force_login(teacher)
    page = client.get(reverse("job_detail", args=[job_row.pk])).content.decode()
    assert "任务执行出错" in page and "RuntimeError" not in page

    admin = User.objects.create_superuser("root", password="Zx9-long-password")
    client.force_login(admin)
    assert "RuntimeError" in client.get(reverse("job_detail", args=[job_row.pk])).content.decode()


def test_job_arguments_must_be_json(teacher, school):
    with pytest.raises(TypeError):
        enqueue(count_items, user=teacher, org=school, n=school)
    assert not Job.objects.exists()


def test_a_plain_function_cannot_be_enqueued(teacher, school):
    with pytest.raises(TypeError):
        enqueue(count_items.func, user=teacher, org=school, n=1)


def test_an_unknown_job_type_fails_cleanly(teacher, school):
    job_row = enqueue(count_items, user=teacher, org=school, n=1)
    Job.objects.filter(pk=job_row.pk).update(name="houqin.core.tests.test_jobs.no_such_job")
    run_pending()
    job_row.refresh_from_db()
    assert job_row.status == JobStatus.FAILED
    assert "no_such_job" not in job_row.error


# --- Never synchronous ------------------------------------------------------------------------------------------------


def test_a_synchronous_backend_is_refused(teacher, school):
    with override_settings(TASKS=IMMEDIATE):
        with pytest.raises(ImproperlyConfigured):
            enqueue(count_items, user=teacher, org=school, n=1)
        assert [e.id for e in jobs.check_task_backend()] == ["houqin.E021"]
    assert not Job.objects.exists()
    assert jobs.check_task_backend() == []


def test_a_synchronous_backend_runs_only_when_a_test_asks_for_it(teacher, school):
    with override_settings(TASKS=IMMEDIATE, HOUQIN_JOBS_ALLOW_IMMEDIATE=True):
        job_row = enqueue(count_items, user=teacher, org=school, n=2)
    job_row.refresh_from_db()
    assert job_row.status == JobStatus.SUCCEEDED


def test_the_worker_refuses_a_synchronous_backend():
    with override_settings(TASKS=IMMEDIATE), pytest.raises(ImproperlyConfigured):
        jobs.Worker(interval=0).run(burst=True)


# --- Cancelling -------------------------------------------------------------------------------------------------------


def test_a_cancelled_queued_job_never_runs(teacher, school):
    job_row = enqueue(count_items, user=teacher, org=school, n=2)
    assert jobs.cancel(job_row, by=teacher) is True
    run_pending()
    job_row.refresh_from_db()
    assert job_row.status == JobStatus.CANCELLED
    assert "开始执行" not in job_row.log and "已由 teacher 取消" in job_row.log
    assert jobs.cancel(job_row) is False


def test_a_running_job_stops_at_its_next_report_after_cancel(teacher, school):
    job_row = enqueue(cancelled_midway, user=teacher, org=school)
    run_pending()
    job_row.refresh_from_db()
    assert job_row.status == JobStatus.CANCELLED
    assert job_row.result is None


def test_cancel_view(client, teacher, school, other_school):
    job_row = enqueue(count_items, user=teacher, org=school, n=2)
    outsider = make_user("outsider", other_school, ("view_job", "change_job"))
    client.force_login(outsider)
    assert client.post(reverse("job_cancel", args=[job_row.pk])).status_code == 404

    client.force_login(teacher)
    response = client.post(reverse("job_cancel", args=[job_row.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert 'data-status="cancelled"' in response.content.decode()
    job_row.refresh_from_db()
    assert job_row.status == JobStatus.CANCELLED


# --- Worker liveness and the no-worker message ------------------------------------------------------------------------


def test_without_a_worker_the_job_stays_queued_and_the_pages_say_so(client, teacher, school):
    job_row = enqueue(count_items, user=teacher, org=school, n=2)
    client.force_login(teacher)

    page = client.get(reverse("job_detail", args=[job_row.pk])).content.decode()
    assert jobs.NO_WORKER_MESSAGE in page
    assert "排队中" in page
    badge = client.get(reverse("job_worker_status")).content.decode()
    assert jobs.NO_WORKER_MESSAGE in badge and "排队中 1 个" in badge
    job_row.refresh_from_db()
    assert job_row.status == JobStatus.QUEUED

    jobs.beat("worker-a", started_at=timezone.now())
    assert jobs.NO_WORKER_MESSAGE not in client.get(reverse("job_detail", args=[job_row.pk])).content.decode()
    assert client.get(reverse("job_worker_status")).content.decode().strip() == ""


def test_a_heartbeat_goes_stale_after_30_seconds():
    now = timezone.now()
    assert not jobs.worker_is_running(now)
    jobs.beat("worker-a", started_at=now)
    assert jobs.worker_is_running()
    assert jobs.worker_is_running(now + timedelta(seconds=25))
    assert not jobs.worker_is_running(now + timedelta(seconds=31))
    jobs.forget_worker("worker-a")
    assert not jobs.worker_is_running()


def test_jobs_left_running_by_a_dead_worker_are_failed(teacher, school):
    long_ago = timezone.now() - timedelta(minutes=10)
    dead = enqueue(count_items, user=teacher, org=school, n=1)
    alive = enqueue(count_items, user=teacher, org=school, n=1)
    Job.objects.filter(pk=dead.pk).update(status=JobStatus.RUNNING, started_at=long_ago, worker_id="gone")
    Job.objects.filter(pk=alive.pk).update(status=JobStatus.RUNNING, started_at=long_ago, worker_id="busy")
    jobs.beat("busy", started_at=long_ago)

    assert jobs.reap_abandoned_jobs() == 1
    dead.refresh_from_db()
    alive.refresh_from_db()
    assert (dead.status, dead.error) == (JobStatus.FAILED, jobs.ABANDONED_MESSAGE)
    assert alive.status == JobStatus.RUNNING


# --- Permissions ------------------------------------------------------------------------------------------------------


def test_a_user_of_another_school_gets_404(client, teacher, school, other_school):
    job_row = enqueue(count_items, user=teacher, org=school, n=1)
    outsider = make_user("outsider", other_school, ("view_job",))
    client.force_login(outsider)
    assert client.get(reverse("job_detail", args=[job_row.pk])).status_code == 404
    assert htmx_get(client, reverse("job_detail", args=[job_row.pk])).status_code == 404
    assert "测试：逐条处理" not in client.get(reverse("job_list") + "?scope=all").content.decode()


def test_who_sees_which_jobs(client, teacher, school):
    mine = enqueue(count_items, user=teacher, org=school, n=1)
    colleague = make_user("colleague", school)
    theirs = enqueue(count_items, user=colleague, org=school, n=1, title="同事的任务")
    manager = make_user("manager", school, ("view_job",))
    system_job = enqueue(periodic_probe)

    assert set(Job.objects.restrict(teacher)) == {mine}
    assert set(Job.objects.restrict(colleague)) == {theirs}
    assert set(Job.objects.restrict(manager)) == {mine, theirs}
    assert system_job.org_id is None and system_job.user_id is None

    client.force_login(teacher)
    assert client.get(reverse("job_detail", args=[theirs.pk])).status_code == 404
    page = client.get(reverse("job_list")).content.decode()
    assert "测试：逐条处理" in page and "同事的任务" not in page

    client.force_login(manager)
    assert client.get(reverse("job_detail", args=[theirs.pk])).status_code == 200
    assert client.get(reverse("job_detail", args=[system_job.pk])).status_code == 404
    assert client.post(reverse("job_cancel", args=[theirs.pk])).status_code == 403
    page = client.get(reverse("job_list") + "?scope=all").content.decode()
    assert "同事的任务" in page


def test_anonymous_users_are_sent_to_sign_in(client, teacher, school):
    job_row = enqueue(count_items, user=teacher, org=school, n=1)
    for url in (reverse("job_list"), reverse("job_detail", args=[job_row.pk]), reverse("job_worker_status")):
        response = client.get(url)
        assert response.status_code == 302 and reverse("login") in response["Location"]


# --- The progress partial ---------------------------------------------------------------------------------------------


def test_htmx_gets_only_the_progress_partial_which_polls_until_finished(client, teacher, school):
    job_row = enqueue(count_items, user=teacher, org=school, n=4)
    client.force_login(teacher)
    url = reverse("job_detail", args=[job_row.pk])

    full = client.get(url).content.decode()
    assert "<html" in full and 'id="job-progress"' in full

    partial = htmx_get(client, url).content.decode()
    assert "<html" not in partial and "<body" not in partial
    assert partial.lstrip().startswith('<div id="job-progress"')
    assert 'hx-trigger="every 1s"' in partial and f'hx-get="{url}"' in partial

    run_pending()
    finished = htmx_get(client, url).content.decode()
    assert 'data-status="succeeded"' in finished
    assert "hx-trigger" not in finished  # swapping this in stops the polling
    assert "已处理 4 条" in finished and 'href="/jobs/"' in finished
    assert 'aria-valuenow="100"' in finished


def test_the_list_partial_polls_only_while_a_job_is_unfinished(client, teacher, school):
    enqueue(count_items, user=teacher, org=school, n=1)
    client.force_login(teacher)
    partial = htmx_get(client, reverse("job_list")).content.decode()
    assert "<html" not in partial and 'hx-trigger="every 3s"' in partial
    run_pending()
    assert "hx-trigger" not in htmx_get(client, reverse("job_list")).content.decode()


def test_a_result_link_must_stay_on_this_site(client, teacher, school):
    job_row = enqueue(count_items, user=teacher, org=school, n=1)
    run_pending()
    Job.objects.filter(pk=job_row.pk).update(result={"message": "完成", "url": "//evil.example/x"})
    client.force_login(teacher)
    assert "evil.example" not in client.get(reverse("job_detail", args=[job_row.pk])).content.decode()


# --- Periodic jobs ----------------------------------------------------------------------------------------------------


@pytest.fixture
def registered_periodic(monkeypatch):
    # Only the probe is scheduled, so that the built-in periodic jobs' wall-clock times cannot interfere.
    monkeypatch.setattr(jobs, "PERIODIC", {})
    return jobs.periodic(timedelta(hours=1))(periodic_probe)


def test_schedules():
    tz = timezone.get_current_timezone()
    daily = Schedule.parse("daily at 02:00")
    assert daily.describe() == "每天 02:00"
    before = datetime(2026, 3, 1, 1, 0, tzinfo=tz)
    after = datetime(2026, 3, 1, 2, 0, tzinfo=tz)
    assert daily.first_run(before) == datetime(2026, 3, 1, 2, 0, tzinfo=tz)
    assert daily.next_run(after, after) == datetime(2026, 3, 2, 2, 0, tzinfo=tz)

    hourly = Schedule.parse(timedelta(hours=1))
    assert hourly.describe() == "每 1 小时"
    assert hourly.first_run(before) == before
    # A worker that was down for a while skips the missed runs instead of replaying them.
    assert hourly.next_run(before, before + timedelta(hours=5, minutes=10)) == before + timedelta(hours=6)
    for bad in ("every day", "daily at 25:00", timedelta(seconds=5), 60):
        with pytest.raises(ImproperlyConfigured):
            Schedule.parse(bad)


def test_a_due_periodic_job_is_enqueued_once_and_rescheduled(registered_periodic):
    now = timezone.now()
    jobs.sync_periodic_states(now)
    state = PeriodicJobState.objects.get(name=registered_periodic.name)
    assert state.next_run_at == now and state.schedule == "每 1 小时"

    (job_row,) = jobs.claim_due_periodic(now)
    assert (job_row.name, job_row.user, job_row.org) == (registered_periodic.name, None, None)
    state.refresh_from_db()
    assert state.next_run_at == now + timedelta(hours=1) and state.last_job == job_row
    assert jobs.claim_due_periodic(now + timedelta(minutes=59)) == []
    assert len(jobs.claim_due_periodic(now + timedelta(hours=1))) == 1


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_claim_each_periodic_run_once(registered_periodic):
    jobs.sync_periodic_states()
    rounds, racers = 5, 2
    claimed: list[int] = []
    errors: list[BaseException] = []
    for _ in range(rounds):
        PeriodicJobState.objects.filter(name=registered_periodic.name).update(
            next_run_at=timezone.now() - timedelta(minutes=1)
        )
        barrier = threading.Barrier(racers)

        def race(barrier=barrier):
            try:
                barrier.wait(timeout=10)
                claimed.extend(j.pk for j in jobs.claim_due_periodic())
            except BaseException as exc:  # noqa: BLE001 — reported by the assertion below
                errors.append(exc)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=race) for _ in range(racers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert errors == []
    assert len(claimed) == rounds
    assert Job.objects.filter(name=registered_periodic.name).count() == rounds


@pytest.mark.django_db(transaction=True)
def test_progress_inside_a_jobs_transaction(teacher, school):
    job_row = enqueue(progress_inside_transaction, user=teacher, org=school)
    run_pending()
    job_row.refresh_from_db()
    assert job_row.status == JobStatus.SUCCEEDED
    # PostgreSQL: written through a second connection, so the bar moves during the transaction. SQLite has one
    # writer at a time: the progress becomes visible when the job's transaction commits.
    expected = 0 if connection.vendor == "sqlite" else 50
    assert job_row.result == {"seen_by_another_connection": expected}


# --- The worker process -----------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_worker_command_runs_queued_jobs_and_signs_off(teacher, school):
    first = enqueue(count_items, user=teacher, org=school, n=2)
    second = enqueue(crashes, user=teacher, org=school)

    call_command("worker", "--burst", "--interval", "0", stdout=io.StringIO())

    assert Job.objects.get(pk=first.pk).status == JobStatus.SUCCEEDED
    assert Job.objects.get(pk=second.pk).status == JobStatus.FAILED
    assert Job.objects.get(pk=first.pk).worker_id  # recorded, so a dead worker's jobs can be found
    assert not WorkerHeartbeat.objects.exists()  # a clean stop removes the heartbeat at once


def wait_until(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.django_db(transaction=True)
def test_a_running_worker_beats_and_picks_up_new_jobs(teacher, school):
    worker = jobs.Worker(interval=0.05, heartbeat_every=0.05)

    def work():
        try:
            worker.run()
        finally:
            connections.close_all()

    thread = threading.Thread(target=work)
    thread.start()
    try:
        assert wait_until(jobs.worker_is_running)
        job_row = enqueue(count_items, user=teacher, org=school, n=1)
        assert wait_until(lambda: Job.objects.get(pk=job_row.pk).status == JobStatus.SUCCEEDED)
    finally:
        worker.stop()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert not jobs.worker_is_running()
