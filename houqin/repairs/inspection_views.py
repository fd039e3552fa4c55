"""Pages of preventive inspections (巡检), spliced into houqin/repairs/urls.py (namespace ``repairs``).

* ModelUIs: 巡检计划 (plans with their checklist; add/edit with the checklist on the same page) and 巡检记录 (runs:
  list with filters, record page, print sheets). Runs are never added, edited or deleted by hand.
* 巡检任务 (``inspections/``): the open runs of the signed-in user, big buttons for a phone; for the school's
  managers the counts and the 立即生成 / 载入常用巡检计划 buttons.
* 填写巡检 (``inspection-runs/<pk>/do/``): the one-screen phone form of a run.
"""

from __future__ import annotations

import datetime

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.views import View

from houqin.core import navigation
from houqin.core.auth import user_can
from houqin.core.middleware import current_org
from houqin.core.tables import Column, Table
from houqin.core.ui import ModelUI, register
from houqin.core.views import printing
from houqin.core.views.generic import ObjectDeleteView, ObjectDetailView, ObjectEditView, VisibilityLost, detail_rows
from houqin.repairs import inspections as services
from houqin.repairs.forms_inspections import (
    KIND_FIELDS,
    InspectionPlanFilterSet,
    InspectionPlanForm,
    InspectionRunFilterSet,
    ItemFormSet,
    RunForm,
    run_locations,
)
from houqin.repairs.models.inspections import InspectionItem, InspectionPlan, InspectionRun, Outcome, RunState

navigation.group("repairs", "报修维修", "ti ti-tool", 20)

STATE_BADGES = {
    RunState.PENDING: "bg-blue-lt",
    RunState.OVERDUE: "bg-red-lt",
    RunState.DONE: "bg-green-lt",
    RunState.CANCELLED: "bg-secondary-lt",
}
OUTCOME_BADGES = {Outcome.PASS: "bg-green-lt", Outcome.FAIL: "bg-red-lt", Outcome.NA: "bg-secondary-lt"}


# --- Tables ----------------------------------------------------------------------------------------------------------
def state_badge(run):
    text = run.get_state_display()
    if run.state == RunState.DONE and run.failed_count:
        return format_html('<span class="badge {}">{}</span> <span class="badge bg-red-lt">{} 项不合格</span>',
                           STATE_BADGES[run.state], text, run.failed_count)
    return format_html('<span class="badge {}">{}</span>', STATE_BADGES.get(run.state, "bg-secondary-lt"), text)


def outcome_badge(result):
    return format_html('<span class="badge {}">{}</span>', OUTCOME_BADGES.get(result.outcome, ""),
                       result.get_outcome_display())


class InspectionPlanTable(Table):
    columns = (
        Column("name", link=True),
        Column("target_display", "检查对象", order_by=False),
        Column("schedule_display", "检查周期", order_by=False),
        Column("responsible_display", "负责人/岗位", order_by=False),
        Column("start_date"),
        Column("is_active"),
    )
    default_order = "name"


class InspectionRunTable(Table):
    columns = (
        Column("number", link=True),
        Column("title"),
        Column("due_date"),
        Column("state", render=state_badge),
        Column("plan.responsible_display", "负责人/岗位", order_by=False),
        Column("done_by", "检查人", order_by=False),
        Column("done_at", order_by=False),
        Column("failed_count"),
        Column("outcome", order_by=False),
    )
    default_order = "-due_date"


class InspectionResultTable(Table):
    """The lines of a run on its printed record."""

    columns = (
        Column("position"),
        Column("text"),
        Column("outcome", render=outcome_badge),
        Column("note"),
        Column("work_order_number"),
    )
    default_order = "position"


# --- Plans -----------------------------------------------------------------------------------------------------------
class PlanEditView(ObjectEditView):
    """Add or edit a plan and its checklist on one page; saving keeps its runs in step (``plan_saved``)."""

    template_name = "repairs/inspections/plan_edit.html"

    def setup_forms(self, data=None, files=None):
        form = self.setup_form(data, files)
        instance = form.instance if form.instance.pk else InspectionPlan()
        formset = ItemFormSet(data=data, files=files, instance=instance, prefix="items",
                              queryset=_items_of(instance))
        if not form.instance.pk and data is None:
            formset.extra = 6
        return form, formset

    def get(self, request, *args, **kwargs):
        form, formset = self.setup_forms()
        return self.show_both(form, formset)

    def post(self, request, *args, **kwargs):
        form, formset = self.setup_forms(request.POST, request.FILES)
        form_ok, formset_ok = form.is_valid(), formset.is_valid()
        if not (form_ok and formset_ok):
            messages.error(request, "提交的内容有误，请按提示修改。")
            return self.show_both(form, formset)
        creating = form.instance._state.adding
        before = None if creating else type(form.instance).objects.get(pk=form.instance.pk)
        try:
            with transaction.atomic():
                plan = form.save()
                _save_checklist(plan, formset)
                if not InspectionPlan.objects.restrict(request.user, "change").filter(pk=plan.pk).exists():
                    raise VisibilityLost
                done = services.plan_saved(plan, previous=before.schedule_signature() if before else None,
                                           was_active=before.is_active if before else None)
        except VisibilityLost:
            form.add_error(None, "保存后您将无权访问该记录，已取消保存。")
            return self.show_both(form, formset)
        text = f"已{'新增' if creating else '保存'}巡检计划：{plan}"
        if done.created:
            text += f"；{done.message}"
        messages.success(request, text)
        return redirect(plan.get_absolute_url())

    def show_both(self, form, formset, status: int = 200):
        obj = form.instance
        context = {
            **self.base_context(),
            "form": form,
            "formset": formset,
            "object": None if obj._state.adding else obj,
            "cancel_url": obj.get_absolute_url() if not obj._state.adding else reverse(self.ui.url_name("list")),
            "kind_fields": {str(kind): list(names) for kind, names in KIND_FIELDS.items()},
        }
        return render(self.request, self.template_name, context, status=status)


def _items_of(plan):
    if plan.pk is None:
        return InspectionItem.objects.none()
    return InspectionItem.objects.filter(plan=plan).order_by("position", "pk")


def _save_checklist(plan: InspectionPlan, formset) -> None:
    """Save the checklist rows: deleted rows go, the others are numbered 1, 2, 3 … in the order of their 序号 (rows
    without one keep their place at the end)."""
    kept = []
    for index, form in enumerate(formset.forms):
        data = getattr(form, "cleaned_data", None) or {}
        if form.instance.pk and (data.get("DELETE") or not data.get("text")):
            form.instance.delete()
        elif data.get("text") and not data.get("DELETE"):
            kept.append((data.get("position") is None, data.get("position") or 0, index, form))
    for position, (*_order, form) in enumerate(sorted(kept, key=lambda row: row[:3]), start=1):
        item = form.instance
        item.plan = plan
        item.org_id = plan.org_id
        item.text = form.cleaned_data["text"].strip()
        item.requires_photo = form.cleaned_data.get("requires_photo", False)
        item.urgent = form.cleaned_data.get("urgent", False)
        if item.pk is None or form.has_changed() or item.position != position:
            item.position = position
            item.save()


class PlanDetailView(ObjectDetailView):
    template_name = "repairs/inspections/plan_detail.html"

    def get(self, request, *args, **kwargs):
        plan = self.get_object("view")
        user = request.user
        runs = list(InspectionRun.objects.restrict(user, "view").filter(plan=plan)
                    .select_related("done_by").order_by("-due_date", "-pk")[:10])
        context = {
            **self.base_context(),
            "object": plan,
            "fields": detail_rows(self.ui, plan),
            "related": [],
            "can_edit": user_can(user, "change", plan),
            "can_delete": user_can(user, "delete", plan),
            "edit_url": reverse(self.ui.url_name("edit"), args=[plan.pk]),
            "delete_url": reverse(self.ui.url_name("delete"), args=[plan.pk]),
            "changelog_url": reverse(self.ui.url_name("changelog"), args=[plan.pk]),
            "checklist": plan.checklist,
            "rooms": list(plan.rooms.select_related("campus", "building").order_by("name")),
            "assets": list(plan.assets.only("pk", "number", "name").order_by("number")[:50]),
            "upcoming": services.upcoming_for(plan) if plan.is_active else [],
            "runs": runs,
            "runs_url": f"{reverse('repairs:inspectionrun_list')}?plan={plan.pk}",
            "generate_url": reverse("repairs:inspectionplan_generate", args=[plan.pk]),
            **printing.print_links(self.ui, plan),
        }
        return render(request, self.template_name, context)


class PlanDeleteView(ObjectDeleteView):
    """A plan with records cannot be deleted (switch it off instead); its untouched runs go with it."""

    def post(self, request, *args, **kwargs):
        plan = self.get_object("delete")
        label = str(plan)
        try:
            services.delete_plan(plan)
        except ValidationError as exc:
            messages.error(request, "；".join(exc.messages))
            return redirect(plan.get_absolute_url())
        messages.success(request, f"已删除巡检计划：{label}")
        return redirect(reverse(self.ui.url_name("list")))


@register
class InspectionPlanUI(ModelUI):
    model = InspectionPlan
    url_prefix = "inspection-plans"
    filterset_class = InspectionPlanFilterSet
    table_class = InspectionPlanTable
    form_class = InspectionPlanForm
    edit_view = PlanEditView
    detail_view = PlanDetailView
    delete_view = PlanDeleteView
    select_related = ("responsible", "building__campus")
    menu = ("repairs", "巡检计划", "ti ti-clipboard-list")
    detail_fields = ("name", "target", "building", "responsible", "kind", "start_date", "holiday_rule",
                     "check_in_vacation", "lead_days", "is_active", "note")
    print_title = "巡检计划"
    print_list_title = "巡检计划一览表"


# --- Runs ------------------------------------------------------------------------------------------------------------
class RunDetailView(ObjectDetailView):
    template_name = "repairs/inspections/run_detail.html"

    def get(self, request, *args, **kwargs):
        run = self.get_object("view")
        context = {
            **self.base_context(),
            "object": run,
            "fields": detail_rows(self.ui, run),
            "related": [],
            "can_edit": False,
            "can_delete": False,
            "changelog_url": reverse(self.ui.url_name("changelog"), args=[run.pk]),
            "results": run.result_rows,
            "can_perform": run.is_open and services.may_perform(request.user, run),
            "do_url": reverse("repairs:inspectionrun_do", args=[run.pk]),
            "today": timezone.localdate(),
            **printing.print_links(self.ui, run),
        }
        return render(request, self.template_name, context)


@register
class InspectionRunUI(ModelUI):
    model = InspectionRun
    url_prefix = "inspection-runs"
    filterset_class = InspectionRunFilterSet
    table_class = InspectionRunTable
    detail_view = RunDetailView
    select_related = ("plan__responsible", "done_by")
    menu = ("repairs", "巡检记录", "ti ti-list-check")
    can_add = can_edit = can_delete = False  # generated from the plans, filled in by 填写巡检, then a record
    detail_fields = ("number", "title", "plan", "due_date", "opens_on", "state", "done_by", "done_at", "outcome",
                     "item_count", "failed_count", "note")
    related = (("检查结果", "results", InspectionResultTable),)
    print_title = "巡检记录表"
    print_list_title = "巡检记录台账"


# --- Filling in a run ------------------------------------------------------------------------------------------------
class RunDoView(LoginRequiredMixin, View):
    """One screen on a phone: three big buttons per checklist line, note and photo, signature, submit."""

    template_name = "repairs/inspections/run_do.html"

    def get_run(self):
        run = get_object_or_404(InspectionRun.objects.restrict(self.request.user, "view")
                                .select_related("plan", "org"), pk=self.kwargs["pk"])
        if not run.is_open:
            return run, None
        if not services.may_perform(self.request.user, run):
            raise PermissionDenied("您不是这项巡检的负责人，不能填写。")
        items = list(run.plan.items.order_by("position", "pk"))
        return run, items

    def closed(self, run):
        messages.info(self.request, f"这项巡检{run.get_state_display()}，不能再填写。")
        return redirect(run.get_absolute_url())

    def get(self, request, *args, **kwargs):
        run, items = self.get_run()
        if items is None:
            return self.closed(run)
        form = RunForm(run=run, items=items, locations=run_locations(run))
        return self.show(run, form)

    def post(self, request, *args, **kwargs):
        run, items = self.get_run()
        if items is None:
            return self.closed(run)
        form = RunForm(request.POST, request.FILES, run=run, items=items, locations=run_locations(run))
        if form.is_valid():
            try:
                done = services.submit_run(run, user=request.user, answers=form.answers(),
                                           signature=form.cleaned_data.get("signature") or None,
                                           photo=form.cleaned_data.get("photo"), note=form.cleaned_data.get("note"))
            except ValidationError as exc:
                if hasattr(exc, "error_dict"):
                    form.add_service_errors({k: [m for e in v for m in e.messages]
                                             for k, v in exc.error_dict.items()})
                else:
                    form.add_error(None, "；".join(exc.messages))
            else:
                text = f"已提交巡检 {done.run.number}"
                text += f"，发现 {done.run.failed_count} 项不合格" if done.run.failed_count else "，全部合格"
                if done.work_orders:
                    text += f"，已生成维修单 {'、'.join(done.work_orders)}"
                messages.success(request, text + "。")
                for problem in done.problems:
                    messages.warning(request, problem)
                return redirect(done.run.get_absolute_url())
        messages.error(request, "提交的内容有误，请按提示修改（照片需要重新选择）。")
        return self.show(run, form, status=200)

    def show(self, run, form, status: int = 200):
        today = timezone.localdate()
        context = {"run": run, "form": form, "rows": list(form.rows()), "today": today,
                   "not_yet": today < run.opens_on, "detail_url": run.get_absolute_url()}
        return render(self.request, self.template_name, context, status=status)


# --- The inspections home page ---------------------------------------------------------------------------------------
class HomeView(LoginRequiredMixin, View):
    """巡检任务: my open runs (by person or role), and for the school's managers its counts and buttons."""

    template_name = "repairs/inspections/home.html"

    def get(self, request):
        user = request.user
        org = current_org(request)
        today = timezone.localdate()
        mine = [(run, _days_left(run, today)) for run in services.runs_for(user).filter(opens_on__lte=today)[:50]]
        soon = list(services.runs_for(user).filter(opens_on__gt=today)[:10])
        context = {"mine": mine, "soon": soon, "today": today, "org": org}
        if org is not None and not org.is_bureau and user_can(user, "view", InspectionRun, org_id=org.pk):
            month_start = today.replace(day=1)
            runs = InspectionRun.objects.filter(org=org)
            context["counts"] = runs.aggregate(
                pending=Count("pk", filter=Q(state=RunState.PENDING, opens_on__lte=today)),
                overdue=Count("pk", filter=Q(state=RunState.OVERDUE)),
                done=Count("pk", filter=Q(state=RunState.DONE, done_at__date__gte=month_start)),
                failed=Count("pk", filter=Q(state=RunState.DONE, failed_count__gt=0,
                                            done_at__date__gte=month_start)),
            )
            context["overdue"] = [(run, _days_left(run, today)) for run in runs.filter(state=RunState.OVERDUE)
                                  .select_related("plan__responsible").order_by("due_date", "pk")[:10]]
            context["runs_url"] = reverse("repairs:inspectionrun_list")
            context["can_generate"] = user_can(user, "change", InspectionPlan, org_id=org.pk)
            context["can_seed"] = user_can(user, "add", InspectionPlan, org_id=org.pk)
            context["plan_count"] = InspectionPlan.objects.filter(org=org).count()
        return render(request, self.template_name, context)


def _school_for(request, action: str):
    org = current_org(request)
    if org is None or not user_can(request.user, action, InspectionPlan, org_id=org.pk):
        raise PermissionDenied("您没有此操作的权限。")
    return org


class GenerateView(LoginRequiredMixin, View):
    """立即生成: the runs due soon of every active plan of the current school (or of one plan), now."""

    http_method_names = ["post"]

    def post(self, request, pk=None):
        if pk is not None:
            plan = get_object_or_404(InspectionPlan.objects.restrict(request.user, "view"), pk=pk)
            if not user_can(request.user, "change", plan):
                raise PermissionDenied("您没有此操作的权限。")
            if not plan.is_active:
                messages.warning(request, "该计划已停用，不会生成巡检任务。")
                return redirect(plan.get_absolute_url())
            done = services.generate_runs(plans=[plan])
            messages.success(request, done.message)
            return redirect(plan.get_absolute_url())
        org = _school_for(request, "change")
        done = services.generate_runs(org)
        messages.success(request, done.message)
        return redirect("repairs:inspection_home")


class SeedView(LoginRequiredMixin, View):
    """载入常用巡检计划: the school gets the common plans it does not have yet."""

    http_method_names = ["post"]

    def post(self, request):
        org = _school_for(request, "add")
        created = services.seed_plans(org)
        if created:
            messages.success(request, f"已载入 {len(created)} 项常用巡检计划：{'、'.join(p.name for p in created)}。"
                                      "请检查负责岗位和检查日期是否符合本校安排。")
        else:
            messages.info(request, "常用巡检计划都已存在，没有新增。")
        return redirect("repairs:inspectionplan_list")


def _days_left(run, today: datetime.date) -> str:
    days = (run.due_date - today).days
    if run.state == RunState.OVERDUE or days < 0:
        return f"已逾期 {max(1, -days)} 天"
    return "今天到期" if days == 0 else f"还有 {days} 天"


navigation.add_item("repairs", navigation.MenuItem("巡检任务", "repairs:inspection_home", None, "ti ti-checkbox"))

urlpatterns = [
    path("inspections/", HomeView.as_view(), name="inspection_home"),
    path("inspections/generate/", GenerateView.as_view(), name="inspection_generate"),
    path("inspections/seed/", SeedView.as_view(), name="inspection_seed"),
    path("inspection-plans/<int:pk>/generate/", GenerateView.as_view(), name="inspectionplan_generate"),
    path("inspection-runs/<int:pk>/do/", RunDoView.as_view(), name="inspectionrun_do"),
    *printing.print_urls(InspectionPlanUI),
    *printing.print_urls(InspectionRunUI),
]
