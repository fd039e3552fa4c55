"""Pages of the repairs app: work orders.

* Model UIs: 报修单 (list with filters, export, detail with the timeline and the buttons of the commands, print),
  报修类别, 维修时限 and 维修人员 (the school's settings rows).
* One page per command (``/repairs/workorders/<pk>/<action>/``): a small form on one screen, or one tap.
* 维修任务 (a technician's phone queue), 派工台 (the office's dispatch board).
* The reporter's pages are in ``intake_views`` (报修, 扫码报修, 代报, 我的报修, 报修进度).

Their routes are spliced into houqin/repairs/urls.py (namespace ``repairs``).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Case, Count, IntegerField, Q, Value, When
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View

from houqin.core import navigation
from houqin.core.auth import user_can
from houqin.core.middleware import current_org
from houqin.core.ui import ModelUI, register
from houqin.core.views.generic import ObjectDetailView, ObjectListView, detail_rows
from houqin.core.views.printing import print_urls
from houqin.repairs import dispatch as dispatching
from houqin.repairs import services
from houqin.repairs.defaults import ensure_defaults
from houqin.repairs.filtersets import (
    RepairCategoryFilterSet,
    SLARuleFilterSet,
    TechnicianFilterSet,
    WorkOrderFilterSet,
)
from houqin.repairs.forms import (
    ClassifyForm,
    CompleteForm,
    DispatchForm,
    OutsideForm,
    ReasonForm,
    RepairCategoryForm,
    ReportForm,
    SignOffForm,
    SLARuleForm,
    TechnicianForm,
    VisitForm,
    materials_from,
)
from houqin.repairs.intake_views import (
    MyReportsView,
    ProxyReportView,
    ReportView,
    ScanReportView,
    TrackView,
    apply_errors,
)
from houqin.repairs.models import (
    OPEN_STATES,
    URGENCY_RANK,
    WORKING_STATES,
    RepairCategory,
    SLARule,
    State,
    Technician,
    Trade,
    WorkOrder,
)
from houqin.repairs.tables import RepairCategoryTable, SLARuleTable, TechnicianTable, WorkOrderTable
from houqin.repairs.timeline import timeline

navigation.group("repairs", "报修维修", "ti ti-tool", 20)
# The phone pages first: what most people come for.
navigation.add_item("repairs", navigation.MenuItem("我要报修", "repairs:workorder_add", "repairs.add_workorder",
                                                   "ti ti-speakerphone"))
navigation.add_item("repairs", navigation.MenuItem("我的报修", "repairs:mine", "repairs.add_workorder",
                                                   "ti ti-list-details"))
navigation.add_item("repairs", navigation.MenuItem("维修任务", "repairs:queue", "repairs.change_workorder",
                                                   "ti ti-tool"))
navigation.add_item("repairs", navigation.MenuItem("派工台", "repairs:dispatch", "repairs.dispatch_workorder",
                                                   "ti ti-users-group"))

ORDER_SELECT = ("org", "room__campus", "room__building", "category", "assignee", "reporter", "asset")


def urgency_rank():
    return Case(*(When(urgency=k, then=Value(v)) for k, v in URGENCY_RANK.items()), default=Value(9),
                output_field=IntegerField())


def running_due():
    """The due time of the clock that runs now (受理, else 开工, else 完工)."""
    return Case(When(accepted_at__isnull=True, then="accept_due"), When(started_at__isnull=True, then="start_due"),
                default="finish_due")


def safe_next(request, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return fallback


# --- Work orders ---------------------------------------------------------------------------------------------------
DETAIL_FIELDS = ("number", "state", "place_text", "asset", "category", "description", "urgency", "scale", "source",
                 "reference", "reporter", "reporter_name", "reporter_phone", "entered_by", "assignee", "reported_at",
                 "dispatched_at", "accepted_at", "started_at", "completed_at", "signed_off_at", "visited_at",
                 "closed_at", "accept_due", "start_due", "finish_due", "work_done", "labour_hours", "labour_rate",
                 "material_cost", "labour_cost", "contractor", "contractor_quote", "outside_cost", "total_cost",
                 "rating_comment", "signed_off_by", "visit_note", "reopened_count", "close_reason",
                 "duplicate_of")


class WorkOrderDetailView(ObjectDetailView):
    """The order's page for everyone who may see it (office, technicians, the reporter): facts, timeline, photos,
    materials, the outside repair's approval, and the buttons of the commands the user may do now."""

    template_name = "repairs/workorder_detail.html"

    def get(self, request, *args, **kwargs):
        from houqin.core import approvals
        from houqin.core.models.approvals import ApprovalRequest

        ui = self.ui
        order = self.get_object("view")
        user = request.user
        fields = [(label, value) for label, value in detail_rows(ui, order) if value not in ("—", "", None)
                  and not (label == "录入人" and order.entered_by_id == order.reporter_id)]
        approval = None
        if order.contractor:
            ct = ContentType.objects.get_for_model(order)
            latest = ApprovalRequest.objects.filter(content_type=ct, object_id=order.pk).order_by("-pk").first()
            if latest is not None and ApprovalRequest.objects.restrict(user).filter(pk=latest.pk).exists():
                approval = approvals.panel(latest, user)
        context = {
            **self.base_context(),
            "object": order, "order": order, "fields": fields, "related": [],
            "events": timeline(order, newest_first=True),
            "buttons": buttons_for(order, user),
            "materials": list(order.materials.all()),
            "duplicates": list(order.duplicates.order_by("reported_at")[:20]),
            "approval": approval,
            "can_edit": False, "can_delete": False,
            "changelog_url": reverse(ui.url_name("changelog"), args=[order.pk]),
            "print_url": reverse("repairs:workorder_print", args=[order.pk]),
        }
        return render(request, self.template_name, context)


def buttons_for(order: WorkOrder, user, *, next_url: str = "") -> list[dict]:
    """The commands ``user`` may do on ``order`` now, as buttons (one tap, or a link to the command's page)."""
    result = []
    for key in services.allowed_actions(order, user):
        move = services.MOVES[key]
        url = reverse("repairs:workorder_act", kwargs={"pk": order.pk, "action": key})
        result.append({"key": key, "label": move.label, "icon": move.icon, "style": move.style,
                       "post": not move.needs_form, "url": url, "next": next_url})
    return result


@register
class WorkOrderUI(ModelUI):
    model = WorkOrder
    url_prefix = "workorders"
    filterset_class = WorkOrderFilterSet
    table_class = WorkOrderTable
    form_class = ReportForm  # the add page is ReportView; orders are never edited or deleted (commands only)
    edit_view = ReportView
    detail_view = WorkOrderDetailView
    select_related = ORDER_SELECT
    menu = ("repairs", "报修单", "ti ti-clipboard-list")
    can_edit = False
    can_delete = False
    detail_fields = DETAIL_FIELDS


# --- One page per command -----------------------------------------------------------------------------------------
REASON_LABELS = {
    "wait_parts": ("需要什么配件", "如：水龙头阀芯 2 个，明天到货"),
    "hand_back": ("退回原因", "如：需要电工处理 / 需要两个人"),
    "reject": ("驳回原因（报修人会看到）", "如：不属于学校财产，请联系物业"),
    "cancel": ("取消原因", ""),
    "complain": ("哪里没修好", "如：水龙头还是滴水"),
    "resume": ("说明（可不填）", "如：配件已到"),
}


class ActView(LoginRequiredMixin, View):
    """One command on one order: GET shows its small form (or a confirmation for a one-tap command), POST runs it
    through ``services.perform``. The order must be visible (else 404); a user who may not do the command gets 403;
    a command no longer possible in the order's state comes back with the reason."""

    template_name = "repairs/act.html"

    def setup_order(self, request, pk, action):
        if action not in services.MOVES:
            raise Http404("不支持的操作。")
        queryset = WorkOrder.objects.restrict(request.user, "view").select_related(*ORDER_SELECT)
        order = get_object_or_404(queryset, pk=pk)
        move = services.MOVES[action]
        roles = services.roles_of(order, request.user)
        if not roles & set(move.who):
            raise PermissionDenied(services.refusal(order, request.user, action))
        return order, move, roles

    def build_form(self, action, order, roles, data=None):
        if action == "dispatch":
            board = dispatching.board(order.org)
            return DispatchForm(data, candidates=board.ordered_for(order), suggested=board.suggest(order))
        if action in REASON_LABELS:
            label, placeholder = REASON_LABELS[action]
            required = action not in ("resume", "cancel") or (action == "cancel" and "reporter" not in roles)
            return ReasonForm(data, label=label, placeholder=placeholder, required=required)
        if action == "outside":
            return OutsideForm(data)
        if action == "complete":
            return CompleteForm(data, outside=bool(order.contractor),
                                initial={"outside_cost": order.contractor_quote})
        if action == "sign_off":
            return SignOffForm(data, on_behalf="reporter" not in roles)
        if action == "visit":
            return VisitForm(data)
        if action == "classify":
            return ClassifyForm(data, org=order.org, initial={"category": order.category_id, "urgency": order.urgency,
                                                               "scale": order.scale})
        return None

    def command_data(self, action, form, request) -> dict:
        if form is None:
            return {}
        data = dict(form.cleaned_data)
        if action in REASON_LABELS:
            return {"note": data["reason"]} if action == "resume" else {"reason": data["reason"]}
        if action == "complete":
            return {**data, "materials": materials_from(request.POST), "photos": request.FILES.getlist("photos")}
        return data

    def get(self, request, pk, action):
        order, move, roles = self.setup_order(request, pk, action)
        reason = services.refusal(order, request.user, action)
        return self.show(order, move, action, self.build_form(action, order, roles) if reason is None else None,
                         reason)

    def post(self, request, pk, action):
        order, move, roles = self.setup_order(request, pk, action)
        form = self.build_form(action, order, roles, request.POST)
        if form is None or form.is_valid():
            try:
                done = services.perform(action, order, request.user, **self.command_data(action, form, request))
            except ValidationError as exc:
                if form is None:
                    messages.error(request, "；".join(exc.messages))
                    return redirect(safe_next(request, order.get_absolute_url()))
                apply_errors(form, exc)
            else:
                messages.success(request, f"{move.label}：{done.number}，现在是“{done.get_state_display()}”。")
                return redirect(safe_next(request, done.get_absolute_url()))
        return self.show(order, move, action, form, None)

    def show(self, order, move, action, form, reason):
        context = {"order": order, "move": move, "action": action, "form": form, "refusal": reason,
                   "next": safe_next(self.request, ""), "materials": list(order.materials.all())
                   if action == "complete" else [], "material_rows": range(3)}
        return render(self.request, self.template_name, context)


# --- A technician's queue, the office's dispatch board -------------------------------------------------------------
class QueueView(LoginRequiredMixin, View):
    """维修任务 (phone): my jobs, most urgent and nearest deadline first, with one-tap 接单 / 开始 / 完工; and the
    unassigned orders of my trades I may take (where the school allows)."""

    limit = 100

    def get(self, request):
        user = request.user
        org = current_org(request)
        if org is None or org.is_bureau or not user_can(user, "change", WorkOrder, org_id=org.pk):
            raise PermissionDenied("维修任务页面供本校维修人员使用。")
        base = (WorkOrder.objects.filter(org=org).select_related(*ORDER_SELECT)
                .annotate(rank=urgency_rank(), due=running_due()))
        mine = list(base.filter(assignee=user, state__in=WORKING_STATES).order_by("rank", "due", "pk")[:self.limit])
        pool = []
        if services.conf.technicians_self_assign(org):
            profile = Technician.objects.filter(org=org, user=user).first()
            trades = list(profile.trades) if profile and profile.trades else []
            pool_qs = base.filter(state=State.NEW)
            if trades and Trade.GENERAL not in trades:
                pool_qs = pool_qs.filter(category__trade__in=[*trades, Trade.GENERAL])
            pool = list(pool_qs.order_by("rank", "due", "pk")[:50])
        now = timezone.now()
        today = timezone.localdate()
        done_today = WorkOrder.objects.filter(org=org, assignee=user, completed_at__date=today).count()
        return render(request, "repairs/queue.html", {
            "mine": [(o, buttons_for(o, user, next_url=request.path)) for o in mine],
            "pool": [(o, buttons_for(o, user, next_url=request.path)) for o in pool],
            "done_today": done_today, "now": now, "org": org,
        })


class DispatchBoardView(LoginRequiredMixin, View):
    """派工台 (the 总务主任): new orders with the suggested technician and a one-tap assignment; overdue open orders;
    finished orders waiting for the 回访; the technicians' load."""

    limit = 100

    def get(self, request):
        user = request.user
        org = current_org(request)
        if org is None or org.is_bureau or not user_can(user, "dispatch", WorkOrder, org_id=org.pk):
            raise PermissionDenied("派工台供本校总务处使用。")
        now = timezone.now()
        base = WorkOrder.objects.filter(org=org).select_related(*ORDER_SELECT).annotate(rank=urgency_rank(),
                                                                                       due=running_due())
        new = list(base.filter(state=State.NEW).order_by("rank", "reported_at", "pk")[:self.limit])
        board = dispatching.board(org)
        rows = [{"order": o, "suggested": board.suggest(o), "candidates": board.ordered_for(o)} for o in new]
        overdue = list(base.filter(state__in=[s for s in OPEN_STATES if s != State.NEW]).filter(
            Q(accepted_at__isnull=True, accept_due__lt=now) | Q(started_at__isnull=True, start_due__lt=now)
            | Q(finish_due__lt=now)).order_by("due", "pk")[:50])
        to_visit = list(base.filter(state__in=(State.DONE, State.ACCEPTED)).order_by("completed_at", "pk")[:50])
        counts = dict(WorkOrder.objects.filter(org=org, state__in=OPEN_STATES).values_list("state")
                      .annotate(n=Count("pk")).order_by())
        return render(request, "repairs/dispatch.html", {
            "rows": rows, "overdue": overdue, "to_visit": to_visit, "technicians": board.candidates,
            "counts": [((value, label), counts.get(value, 0)) for value, label in State.choices
                       if value in OPEN_STATES],
            "org": org, "now": now, "proxy_url": reverse("repairs:report_proxy"),
        })


# --- Settings rows: categories, time limits, technicians -----------------------------------------------------------
class DefaultsListView(ObjectListView):
    """A settings list that gives the current school its default rows the first time it is opened."""

    def get(self, request, *args, **kwargs):
        org = current_org(request)
        if org is not None and not org.is_bureau and user_can(request.user, "add", self.ui.model, org_id=org.pk):
            ensure_defaults(org)
        return super().get(request, *args, **kwargs)


@register
class RepairCategoryUI(ModelUI):
    model = RepairCategory
    url_prefix = "categories"
    filterset_class = RepairCategoryFilterSet
    table_class = RepairCategoryTable
    form_class = RepairCategoryForm
    list_view = DefaultsListView
    select_related = ("org",)
    menu = ("repairs", "报修类别", "ti ti-category")
    attachments = False
    detail_fields = ("name", "trade", "description", "sort_order", "is_active")


@register
class SLARuleUI(ModelUI):
    model = SLARule
    url_prefix = "sla-rules"
    filterset_class = SLARuleFilterSet
    table_class = SLARuleTable
    form_class = SLARuleForm
    list_view = DefaultsListView
    select_related = ("org", "category")
    menu = ("repairs", "维修时限", "ti ti-clock-hour-4")
    attachments = False
    detail_fields = ("urgency", "category", "accept_minutes", "start_minutes", "finish_minutes", "finish_days",
                     "major_finish_days", "all_hours", "note")


class TechnicianDetailView(ObjectDetailView):
    template_name = "repairs/technician_detail.html"


@register
class TechnicianUI(ModelUI):
    model = Technician
    url_prefix = "technicians"
    filterset_class = TechnicianFilterSet
    table_class = TechnicianTable
    form_class = TechnicianForm
    select_related = ("org", "user")
    menu = ("repairs", "维修人员", "ti ti-user-cog")
    detail_view = TechnicianDetailView
    attachments = False
    detail_fields = ("user", "phone", "is_active", "note")


urlpatterns = [
    path("report/proxy/", ProxyReportView.as_view(), name="report_proxy"),
    path("report/<str:kind>/<str:token>/", ScanReportView.as_view(), name="report_scan"),
    path("mine/", MyReportsView.as_view(), name="mine"),
    path("t/<str:token>/", TrackView.as_view(), name="track"),
    path("queue/", QueueView.as_view(), name="queue"),
    path("dispatch/", DispatchBoardView.as_view(), name="dispatch"),
    path("workorders/<int:pk>/do/<str:action>/", ActView.as_view(), name="workorder_act"),
    *print_urls(WorkOrderUI),
]
