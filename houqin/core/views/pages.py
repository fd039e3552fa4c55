"""Pages outside the model registry: dashboard, organisation switcher, change-log entry, health check."""

from __future__ import annotations

from django.contrib.auth.mixins import LoginRequiredMixin
from django.db import connection
from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View

from houqin.core.auth import access_for
from houqin.core.middleware import current_org
from houqin.core.models import ChangeLogEntry, Organization, Room, SchoolClass, Term
from houqin.core.views.generic import ObjectDetailView


class DashboardView(LoginRequiredMixin, View):
    """The home page: the current school at a glance and the latest changes. Domain apps add their cards."""

    def get(self, request):
        org = current_org(request)
        user = request.user
        cards = []
        term = None
        if org is not None and not org.is_bureau:
            term = Term.current_for(org)
            rooms = Room.objects.restrict(user).filter(org=org)
            classes = SchoolClass.objects.restrict(user).filter(org=org, is_active=True)
            cards = [
                {"label": "在校学生", "value": org.pupil_count, "unit": "人", "icon": "ti ti-users"},
                {"label": "班级", "value": classes.count(), "unit": "个", "icon": "ti ti-users-group",
                 "url": reverse("core:schoolclass_list")},
                {"label": "房间与区域", "value": rooms.count(), "unit": "间", "icon": "ti ti-door",
                 "url": reverse("core:room_list")},
                {"label": "教职工", "value": org.staff_count, "unit": "人", "icon": "ti ti-id-badge"},
            ]
        schools = []
        if org is not None and org.is_bureau:
            schools = list(Organization.objects.restrict(user).filter(parent=org).order_by("kind", "name"))
        recent = list(ChangeLogEntry.objects.restrict(user).select_related("content_type")[:10])
        return render(request, "core/dashboard.html", {
            "cards": cards, "term": term, "schools": schools, "recent": recent, "org": org,
        })


class OrgSwitchView(LoginRequiredMixin, View):
    """Switch the organisation new records are created in (for users with roles in several)."""

    def post(self, request):
        try:
            org_id = int(request.POST.get("org", ""))
        except ValueError:
            raise Http404 from None
        if not (request.user.is_superuser or org_id in access_for(request.user).member_org_ids):
            raise Http404
        request.session["houqin_org_id"] = org_id
        target = request.POST.get("next") or reverse("dashboard")
        if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
            target = reverse("dashboard")
        return HttpResponseRedirect(target)


class ChangeLogEntryDetailView(ObjectDetailView):
    template_name = "core/changelog_entry.html"

    def get(self, request, *args, **kwargs):
        entry = get_object_or_404(ChangeLogEntry.objects.restrict(request.user).select_related("content_type"),
                                  pk=kwargs["pk"])
        return render(request, self.template_name, {**self.base_context(), "object": entry,
                                                    "changes": entry.changes()})


def healthz(request):
    """Liveness for load balancers: the app answers and the database responds."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
