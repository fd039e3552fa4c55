"""Approval pages: 待我审批 inbox (and its header count), my requests, a request's page with its steps, trail and
buttons, the 通用申请 form, and the band editor for school admins. URLs: ``urlpatterns`` below, mounted at
``approvals/`` with the namespace ``approvals``.

Every request page gets its row through ``ApprovalRequest.objects.restrict(user)`` (404 when not visible); every
state change goes through a command of ``houqin.core.approvals``.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.forms import formset_factory
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.views import View

from houqin.core import approvals as engine
from houqin.core.auth import access_for, user_can
from houqin.core.models.approvals import (
    ApprovalAction,
    ApprovalActionKind,
    ApprovalPolicy,
    ApprovalRequest,
    ApprovalStatus,
    GeneralRequest,
)
from houqin.core.pagination import BadCursor, paginate
from houqin.core.views.generic import render_page

PER_PAGE = 25


def _messages_of(exc: ValidationError) -> list[str]:
    return [str(m) for m in exc.messages]


def _page(request, queryset, order: str):
    try:
        return paginate(queryset, order=order, per_page=PER_PAGE, cursor=request.GET.get("cursor"))
    except BadCursor:
        return paginate(queryset, order=order, per_page=PER_PAGE, cursor=None)


def _list_related(queryset):
    return queryset.select_related("org", "requester", "current_org")


# --- Lists ------------------------------------------------------------------------------------------------------------
class InboxView(LoginRequiredMixin, View):
    """待我审批 (tab "todo") and 我已审批 (tab "done")."""

    def get(self, request):
        user = request.user
        tab = "done" if request.GET.get("tab") == "done" else "todo"
        if tab == "todo":
            queryset, order = engine.inbox(user), "submitted_at"
        else:
            acted = ApprovalAction.objects.filter(actor=user, action__in=(
                ApprovalActionKind.APPROVE, ApprovalActionKind.REJECT, ApprovalActionKind.SEND_BACK))
            queryset = ApprovalRequest.objects.restrict(user).filter(pk__in=acted.values("request_id"))
            order = "-submitted_at"
        page = _page(request, _list_related(queryset), order)
        return render_page(request, "core/approval_list.html", {
            "title": "待我审批" if tab == "todo" else "我已审批", "mode": "inbox", "tab": tab, "page": page,
            "query": f"tab={tab}", "todo_count": engine.inbox_count(user),
        }, partial="results")


class MineView(LoginRequiredMixin, View):
    """我的申请, optionally by status."""

    def get(self, request):
        status = request.GET.get("status", "")
        queryset = ApprovalRequest.objects.filter(requester=request.user)
        if status in ApprovalStatus.values:
            queryset = queryset.filter(status=status)
        else:
            status = ""
        page = _page(request, _list_related(queryset), "-pk")
        return render_page(request, "core/approval_list.html", {
            "title": "我的申请", "mode": "mine", "page": page, "status": status, "statuses": ApprovalStatus.choices,
            "query": f"status={status}" if status else "", "can_file": _can_file(request),
        }, partial="results")


class BadgeView(LoginRequiredMixin, View):
    """The header's 待我审批 count (an HTMX partial)."""

    def get(self, request):
        return render(request, "core/includes/approval_badge.html#count",
                      {"approval_count": engine.inbox_count(request.user)})


# --- A request's page and its commands --------------------------------------------------------------------------------
def _visible_request(request, pk: int) -> ApprovalRequest:
    return get_object_or_404(
        ApprovalRequest.objects.restrict(request.user).select_related("org", "requester", "content_type"), pk=pk)


def _source_rows(req: ApprovalRequest) -> list[tuple[str, str]]:
    source = engine.source_of(req)
    if isinstance(source, GeneralRequest):
        return [("说明", source.description or "—"), ("办理结果", source.get_outcome_display())]
    return []


def _source_link(req: ApprovalRequest):
    source = engine.source_of(req)
    if source is None or isinstance(source, GeneralRequest) or not hasattr(source, "get_absolute_url"):
        return None
    try:
        return {"url": source.get_absolute_url(), "label": str(source),
                "model": str(source._meta.verbose_name)}
    except Exception:  # noqa: BLE001 — a source model without a page of its own
        return None


def detail_context(request, req: ApprovalRequest, **extra) -> dict:
    return {
        "object": req,
        "approval": engine.panel(req, request.user),
        "source_rows": _source_rows(req),
        "source_link": _source_link(req),
        **extra,
    }


class ApprovalDetailView(LoginRequiredMixin, View):
    def get(self, request, pk):
        req = _visible_request(request, pk)
        return render(request, "core/approval_detail.html", detail_context(request, req))


def _int_or_none(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


ACTIONS = {"approve": engine.approve, "reject": engine.reject, "send_back": engine.send_back}
DONE_MESSAGES = {"approve": "已同意", "reject": "已驳回", "send_back": "已退回申请人"}


class ApprovalActView(LoginRequiredMixin, View):
    """POST action=approve|reject|send_back with comment, and the step and round the user saw."""

    def post(self, request, pk):
        req = _visible_request(request, pk)
        action = request.POST.get("action", "")
        command = ACTIONS.get(action)
        comment = request.POST.get("comment", "")
        if command is None:
            return self.refuse(request, req, ["请选择同意、驳回或退回。"], comment)
        step, round_ = _int_or_none(request.POST.get("step")), _int_or_none(request.POST.get("round"))
        if step is None or round_ is None:
            return self.refuse(request, req, ["页面已过期，请刷新后再操作。"], comment)
        try:
            req = command(req, request.user, comment, expected_step=step, expected_round=round_)
        except ValidationError as exc:
            req.refresh_from_db()
            return self.refuse(request, req, _messages_of(exc), comment)
        after = req.current["label"] if req.current else req.get_status_display()
        messages.success(request, f"{DONE_MESSAGES[action]}：{req.number}（{after}）")
        remaining = engine.inbox_count(request.user)
        return redirect(reverse("approvals:inbox") if remaining else req.get_absolute_url())

    def refuse(self, request, req, errors: list[str], comment: str):
        context = detail_context(request, req, act_errors=errors, comment=comment)
        return render(request, "core/approval_detail.html", context, status=200)


class WithdrawView(LoginRequiredMixin, View):
    def post(self, request, pk):
        req = _visible_request(request, pk)
        try:
            engine.withdraw(req, request.user, request.POST.get("comment", ""))
        except ValidationError as exc:
            for message in _messages_of(exc):
                messages.error(request, message)
        else:
            messages.success(request, f"已撤回：{req.number}")
        return redirect(req.get_absolute_url())


# --- 通用申请 (general requests) --------------------------------------------------------------------------------------
def _current_school(request):
    """The organisation the user works in now, if it is a school (``request.org`` is lazy: it may wrap None)."""
    org = getattr(request, "org", None)
    if not org or org.is_bureau:
        return None
    return org


def _can_file(request) -> bool:
    """Any member of a school may file a 通用申请 there (like reporting a repair)."""
    org = _current_school(request)
    if org is None:
        return False
    return request.user.is_superuser or org.pk in access_for(request.user).member_org_ids


class GeneralRequestForm(forms.ModelForm):
    class Meta:
        model = GeneralRequest
        fields = ["title", "category", "amount", "description"]
        widgets = {"description": forms.Textarea(attrs={"rows": 4}),
                   "amount": forms.NumberInput(attrs={"step": "0.01", "min": "0", "inputmode": "decimal"})}

    def clean_amount(self):
        try:
            return engine.money(self.cleaned_data["amount"])
        except ValidationError as exc:
            raise forms.ValidationError(exc.messages) from None


class GeneralRequestCreateView(LoginRequiredMixin, View):
    template_name = "core/approval_form.html"

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and not _can_file(request):
            raise PermissionDenied("请先切换到您所在的学校，再提交通用申请。")
        return super().dispatch(request, *args, **kwargs)

    def get(self, request):
        return self.show(GeneralRequestForm())

    def post(self, request):
        form = GeneralRequestForm(request.POST)
        if not form.is_valid():
            return self.show(form)
        try:
            with transaction.atomic():
                general = form.save(commit=False)
                general.org = request.org
                general.requester = request.user
                general.save()
                req = engine.submit(general, request.user)
        except ValidationError as exc:
            for message in _messages_of(exc):
                form.add_error(None, message)
            return self.show(form)
        messages.success(request, f"已提交审批：{req.number}，等待{req.current['label']}。")
        return redirect(req.get_absolute_url())

    def show(self, form, req=None):
        return render(self.request, self.template_name, {
            "form": form, "object": req, "title": "新建通用申请", "cancel_url": reverse("approvals:mine"),
            "bands": _band_rows(engine.policy_for(self.request.org, "general")),
        })


class ResubmitView(LoginRequiredMixin, View):
    """The requester changes a sent-back request and submits it again (from the first step)."""

    template_name = "core/approval_form.html"

    def setup_request(self, request, pk):
        req = _visible_request(request, pk)
        if req.requester_id != request.user.pk or req.status not in (ApprovalStatus.SENT_BACK, ApprovalStatus.DRAFT):
            raise PermissionDenied("只有被退回的申请可由申请人修改后重新提交。")
        return req

    def form_for(self, req, data=None):
        source = engine.source_of(req)
        if isinstance(source, GeneralRequest):
            return GeneralRequestForm(data, instance=source)
        return None

    def get(self, request, pk):
        req = self.setup_request(request, pk)
        return self.show(req, self.form_for(req))

    def post(self, request, pk):
        req = self.setup_request(request, pk)
        form = self.form_for(req, request.POST)
        if form is not None and not form.is_valid():
            return self.show(req, form)
        try:
            with transaction.atomic():
                if form is not None:
                    general = form.save()
                    req = engine.submit(req, request.user, title=general.title, amount=general.amount,
                                        category=general.category, comment=request.POST.get("comment", ""))
                else:
                    req = engine.submit(req, request.user, comment=request.POST.get("comment", ""))
        except ValidationError as exc:
            errors = _messages_of(exc)
            if form is not None:
                for message in errors:
                    form.add_error(None, message)
            else:
                for message in errors:
                    messages.error(request, message)
            req.refresh_from_db()
            return self.show(req, form)
        messages.success(request, f"已重新提交：{req.number}，等待{req.current['label']}。")
        return redirect(req.get_absolute_url())

    def show(self, req, form):
        return render(self.request, self.template_name, {
            "form": form, "object": req, "title": f"修改并重新提交：{req.number}", "resubmit": True,
            "cancel_url": req.get_absolute_url(), "approval": engine.panel(req, self.request.user),
        })


# --- Band editor ------------------------------------------------------------------------------------------------------
class PolicyListView(LoginRequiredMixin, View):
    def get(self, request):
        org = _current_school(request)
        if org is not None and not user_can(request.user, "view", ApprovalPolicy, org_id=org.pk):
            raise PermissionDenied("您没有查看本校审批设置的权限。")
        rows = []
        if org is not None:
            for rtype in engine.REQUEST_TYPES.values():
                policy = engine.policy_for(org, rtype.code)
                rows.append({"type": rtype, "policy": policy, "bands": _band_rows(policy)})
        return render(request, "core/approval_policy_list.html", {
            "org": org, "rows": rows, "can_edit": engine.can_edit_policy(request.user, org),
        })


def _sorted(policy) -> list:
    return sorted(policy.bands, key=lambda b: (b.category, b.min_amount))


def _band_row(rtype, band) -> dict:
    steps = []
    for step in band.steps:
        approver = engine.APPROVERS.get(step.approver)
        steps.append({"label": approver.label if approver else step.approver, "distinct": step.distinct,
                      "record": bool(approver and approver.kind == "record")})
    return {"text": band.text, "category": engine.category_name(rtype.code, band.category) or "全部类别",
            "category_code": band.category, "steps": steps}


def _band_rows(policy) -> list[dict]:
    return [_band_row(policy.request_type, b) for b in _sorted(policy)]


class BandForm(forms.Form):
    min_amount = forms.DecimalField(label="金额下限（含，元）", min_value=0, max_digits=14, decimal_places=2)
    max_amount = forms.DecimalField(label="金额上限（不含，元）", min_value=0, max_digits=14, decimal_places=2,
                                    required=False, help_text="留空表示不限")
    category = forms.ChoiceField(label="类别条件", required=False)

    def __init__(self, *args, request_type=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.request_type = request_type
        self.fields["category"].choices = [("", "全部类别"), *request_type.categories]
        approver_choices = [("", "（无）"), *((a.key, a.label) for a in engine.APPROVERS.values())]
        for i in range(1, engine.MAX_STEPS + 1):
            self.fields[f"step_{i}"] = forms.ChoiceField(label=f"第 {i} 步", choices=approver_choices, required=False)
            self.fields[f"distinct_{i}"] = forms.BooleanField(label="须不同于前序审批人", required=False)

    def step_fields(self):
        return [(self[f"step_{i}"], self[f"distinct_{i}"]) for i in range(1, engine.MAX_STEPS + 1)]

    def band(self):
        data = self.cleaned_data
        steps = tuple(engine.Step(data[f"step_{i}"], bool(data[f"distinct_{i}"]))
                      for i in range(1, engine.MAX_STEPS + 1) if data.get(f"step_{i}"))
        return engine.Band(data["min_amount"], data.get("max_amount"), steps, data.get("category") or "")


BandFormSet = formset_factory(BandForm, extra=1, can_delete=True, max_num=30, validate_max=True)


class PolicyForm(forms.Form):
    flag_label = forms.CharField(label="提示标记", max_length=40, required=False, help_text="如：需政府采购")
    flag_min_amount = forms.DecimalField(label="标记起点金额（元）", min_value=0, max_digits=14, decimal_places=2,
                                         required=False, help_text="金额达到此数时在申请上显示提示标记")
    note = forms.CharField(label="说明", max_length=200, required=False)


def _initial_band(band) -> dict:
    initial = {"min_amount": band.min_amount, "max_amount": band.max_amount, "category": band.category}
    for i, step in enumerate(band.steps, start=1):
        initial[f"step_{i}"] = step.approver
        initial[f"distinct_{i}"] = step.distinct
    return initial


class PolicyEditView(LoginRequiredMixin, View):
    template_name = "core/approval_policy_edit.html"

    def setup_policy(self, request, code):
        org = _current_school(request)
        if code not in engine.REQUEST_TYPES:
            raise Http404
        if not engine.can_edit_policy(request.user, org):
            raise PermissionDenied("您没有修改本校审批设置的权限。")
        return org, engine.get_type(code)

    def get(self, request, code):
        org, rtype = self.setup_policy(request, code)
        policy = engine.policy_for(org, code)
        formset = BandFormSet(initial=[_initial_band(b) for b in _sorted(policy)], prefix="bands",
                              form_kwargs={"request_type": rtype})
        policy_form = PolicyForm(initial={"flag_label": policy.flag_label, "flag_min_amount": policy.flag_min_amount,
                                          "note": policy.saved.note if policy.saved else ""})
        return self.show(org, rtype, policy, formset, policy_form)

    def post(self, request, code):
        org, rtype = self.setup_policy(request, code)
        policy = engine.policy_for(org, code)
        formset = BandFormSet(request.POST, prefix="bands", form_kwargs={"request_type": rtype})
        policy_form = PolicyForm(request.POST)
        errors: list[str] = []
        if formset.is_valid() and policy_form.is_valid():
            # Unchanged blank extra rows have no cleaned_data; rows ticked 删除 are dropped.
            bands = [f.band() for f in formset.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]
            try:
                engine.save_policy(org, code, bands, request.user,
                                   flag_label=policy_form.cleaned_data["flag_label"],
                                   flag_min_amount=policy_form.cleaned_data["flag_min_amount"],
                                   note=policy_form.cleaned_data["note"])
            except ValidationError as exc:
                errors = _messages_of(exc)
            else:
                messages.success(request, f"已保存{rtype.name}的审批设置。已提交的申请仍按提交时的步骤审批。")
                return redirect(reverse("approvals:policy_list"))
        else:
            errors = ["提交的内容有误，请按提示修改。"]
        return self.show(org, rtype, policy, formset, policy_form, errors)

    def show(self, org, rtype, policy, formset, policy_form, errors=None):
        return render(self.request, self.template_name, {
            "org": org, "rtype": rtype, "policy": policy, "formset": formset, "policy_form": policy_form,
            "errors": errors or [], "approvers": list(engine.APPROVERS.values()),
        })


class PolicyResetView(LoginRequiredMixin, View):
    def post(self, request, code):
        org = _current_school(request)
        if code not in engine.REQUEST_TYPES:
            raise Http404
        try:
            engine.reset_policy(org, code, request.user)
        except ValidationError as exc:
            raise PermissionDenied(exc.messages[0]) from None
        messages.success(request, f"已恢复{engine.type_name(code)}的默认审批设置。")
        return redirect(reverse("approvals:policy_list"))


app_name = "approvals"

urlpatterns = [
    path("inbox/", InboxView.as_view(), name="inbox"),
    path("inbox/count/", BadgeView.as_view(), name="badge"),
    path("mine/", MineView.as_view(), name="mine"),
    path("new/", GeneralRequestCreateView.as_view(), name="general_add"),
    path("<int:pk>/", ApprovalDetailView.as_view(), name="detail"),
    path("<int:pk>/act/", ApprovalActView.as_view(), name="act"),
    path("<int:pk>/withdraw/", WithdrawView.as_view(), name="withdraw"),
    path("<int:pk>/resubmit/", ResubmitView.as_view(), name="resubmit"),
    path("policies/", PolicyListView.as_view(), name="policy_list"),
    path("policies/<slug:code>/", PolicyEditView.as_view(), name="policy_edit"),
    path("policies/<slug:code>/reset/", PolicyResetView.as_view(), name="policy_reset"),
]
