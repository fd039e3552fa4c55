from django.conf import settings
from django.contrib.auth import views as django_auth
from django.http import HttpResponse
from django.urls import include, path

from houqin.core.views import auth, jobs, notifications, pages, printing

urlpatterns = [
    path("", pages.DashboardView.as_view(), name="dashboard"),
    path("login/", auth.LoginView.as_view(), name="login"),
    path("logout/", auth.LogoutView.as_view(), name="logout"),
    path("password/", django_auth.PasswordChangeView.as_view(template_name="registration/password_change.html"),
         name="password_change"),
    path("password/done/", django_auth.PasswordChangeDoneView.as_view(
        template_name="registration/password_change_done.html"), name="password_change_done"),
    path("org/switch/", pages.OrgSwitchView.as_view(), name="org_switch"),
    path("jobs/", jobs.JobListView.as_view(), name="job_list"),
    path("jobs/worker-status/", jobs.worker_status, name="job_worker_status"),
    path("jobs/<int:pk>/", jobs.JobDetailView.as_view(), name="job_detail"),
    path("jobs/<int:pk>/cancel/", jobs.JobCancelView.as_view(), name="job_cancel"),
    path("healthz/", pages.healthz, name="healthz"),
    # What a QR label points to (houqin.core.qr): short, stable, signed.
    path("q/<str:kind>/<str:token>/", printing.scan, name="scan"),
    path("core/", include("houqin.core.urls")),
    path("assets/", include("houqin.assets.urls")),
    path("repairs/", include("houqin.repairs.urls")),
    path("api/", include("houqin.api_urls")),
    path("notifications/", include(notifications.urls())),
    path("approvals/", include("houqin.core.views.approvals")),
    path("attachments/", include("houqin.core.views.attachments")),
]


def bench_noop(request):
    """The benchmark's baseline (a): the full middleware stack, no database access (houqin bench)."""
    return HttpResponse("ok", content_type="text/plain")


if settings.HOUQIN_BENCH:
    urlpatterns.append(path("bench/noop/", bench_noop, name="bench_noop"))
