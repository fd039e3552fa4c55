"""Pages of the assets app: damage with compensation, the plain status commands and disposal requests. Their routes
are spliced into houqin/assets/urls.py (namespace ``assets``); the card-page buttons are registered in the action
registry (houqin.assets.actions) at the end of this module.

Model pages (generic list, export, detail, change log): 损坏赔偿台账 (``/assets/damages/``) and 资产处置单
(``/assets/disposals/``, whose add page is the disposal request). Commands have pages of their own; every one
re-checks under the command's lock what the page checked (a button is a convenience, not a permission).
"""

from __future__ import annotations

import django_filters
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View

from houqin.assets import actions, custody
from houqin.assets import disposal as commands
from houqin.assets.choices import AssetStatus
from houqin.assets.filtersets import AssetFilterSet
from houqin.assets.forms_disposal import (
    CompensationForm,
    DamageForm,
    DisposalRecordForm,
    DisposalRequestForm,
    LostForm,
    PaymentForm,
    RepairDoneForm,
    apply_errors,
)
from houqin.assets.models import Asset, AssetDamage, AssetDisposal, AssetDisposalItem
from houqin.assets.models.disposal import (
    CompensationStatus,
    DamageOutcome,
    DisposalMethod,
    DisposalStatus,
    ResponsibleKind,
)
from houqin.assets.views import AssetUI
from houqin.core.auth import user_can
from houqin.core.filtersets import TenantFilterSet
from houqin.core.middleware import current_org
from houqin.core.reversing import reverse_kept
from houqin.core.tables import Column, Table
from houqin.core.ui import ModelUI, register
from houqin.core.views.generic import ObjectDetailView, ObjectEditView, detail_rows

S = AssetStatus
COMPENSATION_BADGES = {CompensationStatus.NONE: "bg-secondary-lt", CompensationStatus.UNPAID: "bg-red-lt",
                       CompensationStatus.PAID: "bg-green-lt"}
DISPOSAL_BADGES = {DisposalStatus.PENDING: "bg-yellow-lt", DisposalStatus.APPROVED: "bg-blue-lt",
                   DisposalStatus.DONE: "bg-dark-lt", DisposalStatus.REJECTED: "bg-red-lt",
                   DisposalStatus.WITHDRAWN: "bg-secondary-lt"}


def _badge(css: str, text: str):
    return format_html('<span class="badge {}">{}</span>', css, text)


def _link(obj, text):
    return format_html('<a href="{}" class="fw-medium text-nowrap">{}</a>', obj.get_absolute_url(), text)


# --- Tables (also the Excel export columns) -------------------------------------------------------------------------
class AssetDamageTable(Table):
    columns = (
        Column("occurred_on", render=lambda d: _link(d, f"{d.occurred_on:%Y-%m-%d}")),
        Column("asset.number", "资产编号", order_by=False),
        Column("asset.name", "资产名称", order_by=False),
        Column("description"),
        Column("responsible_display", "责任人", order_by=False),
        Column("outcome", order_by=False),
        Column("compensation_status", render=lambda d: _badge(COMPENSATION_BADGES.get(d.compensation_status, ""),
                                                              d.get_compensation_status_display())),
        Column("compensation_amount", order_by=False),
        Column("payer"),
        Column("paid_amount", order_by=False),
        Column("paid_on", order_by=False),
        Column("receipt_no"),
    )
    default_order = "-occurred_on"


class AssetDisposalTable(Table):
    columns = (
        Column("number", render=lambda d: _link(d, d.number)),
        Column("requested_on"),
        Column("method", order_by=False),
        Column("item_count"),
        Column("total_value"),
        Column("total_net_value", order_by=False),
        Column("reason"),
        Column("status", render=lambda d: _badge(DISPOSAL_BADGES.get(d.status, ""), d.get_status_display())),
        Column("approval_status", "审批状态", order_by=False),
        Column("disposed_on", order_by=False),
        Column("actual_income", order_by=False),
    )
    default_order = "-requested_on"


# --- Filter sets (the lists, their exports and the API) -------------------------------------------------------------
class AssetDamageFilterSet(TenantFilterSet):
    compensation_status = django_filters.ChoiceFilter(choices=CompensationStatus.choices, label="赔偿情况")
    outcome = django_filters.ChoiceFilter(choices=DamageOutcome.choices, label="处理方式")
    responsible_kind = django_filters.ChoiceFilter(choices=ResponsibleKind.choices, label="责任人类型")
    occurred_after = django_filters.DateFilter(field_name="occurred_on", lookup_expr="gte", label="损坏日期起")
    occurred_before = django_filters.DateFilter(field_name="occurred_on", lookup_expr="lte", label="损坏日期止")

    class Meta:
        model = AssetDamage
        fields = ["q", "org", "compensation_status", "outcome", "responsible_kind", "occurred_after",
                  "occurred_before"]


class AssetDisposalFilterSet(TenantFilterSet):
    status = django_filters.ChoiceFilter(choices=DisposalStatus.choices, label="状态")
    method = django_filters.ChoiceFilter(choices=DisposalMethod.choices, label="处置方式")
    requested_after = django_filters.DateFilter(field_name="requested_on", lookup_expr="gte", label="申请日期起")
    requested_before = django_filters.DateFilter(field_name="requested_on", lookup_expr="lte", label="申请日期止")

    class Meta:
        model = AssetDisposal
        fields = ["q", "org", "status", "method", "requested_after", "requested_before"]


# --- Helpers --------------------------------------------------------------------------------------------------------
def _next_url(request, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return target
    return default


def _error_text(exc: ValidationError) -> str:
    return "；".join(exc.messages)


def visible_card(request, pk, action: str = "change") -> Asset:
    """A card the user may see (else 404) and act on (else 403)."""
    asset = get_object_or_404(AssetUI.base_queryset(request.user, "view"), pk=pk)
    if action != "view" and not user_can(request.user, action, asset):
        raise PermissionDenied("您没有此操作的权限。")
    return asset


# --- Detail pages ---------------------------------------------------------------------------------------------------
class _DetailView(ObjectDetailView):
    """The generic detail page (fields, photos, change log) with a page-specific part (``extra_context``)."""

    def extra_context(self, obj) -> dict:
        return {}

    def get(self, request, *args, **kwargs):
        ui, obj = self.ui, self.get_object("view")
        context = {
            **self.base_context(), "object": obj, "fields": detail_rows(ui, obj), "related": [],
            "can_edit": False, "can_delete": False, "edit_url": None, "delete_url": None,
            "changelog_url": reverse(ui.url_name("changelog"), args=[obj.pk]),
            "can_change": user_can(request.user, "change", obj), **self.extra_context(obj),
        }
        return render(request, self.template_name, context)


class DamageDetailView(_DetailView):
    template_name = "assets/disposal/damage_detail.html"

    def extra_context(self, damage):
        card = damage.asset
        can_dispose = (card.status == S.PENDING_DISPOSAL
                       and user_can(self.request.user, "add", AssetDisposal, org_id=card.org_id)
                       and not AssetDisposalItem.objects.filter(asset=card, is_open=True).exists())
        return {"can_dispose": can_dispose, "dispose_url": _dispose_url(card)}


class DisposalDetailView(_DetailView):
    template_name = "assets/disposal/disposal_detail.html"

    def extra_context(self, disposal):
        from houqin.core import approvals
        from houqin.core.models.approvals import ApprovalStatus

        user = self.request.user
        approval = disposal.approval
        items = list(disposal.items.select_related("asset__category", "asset__room", "asset__department")
                     .order_by("asset__number", "pk"))
        can_change = user_can(user, "change", disposal)
        return {
            "items": items,
            "approval": approvals.panel(approval, user) if approval is not None else None,
            "warnings": [w for w in disposal.warnings.splitlines() if w],
            "can_record": can_change and disposal.status == DisposalStatus.APPROVED,
            "can_resubmit": (can_change and approval is not None and disposal.status == DisposalStatus.PENDING
                             and approval.status == ApprovalStatus.SENT_BACK and approval.requester_id == user.pk),
        }


# --- Model UIs ------------------------------------------------------------------------------------------------------
class DisposalRequestView(ObjectEditView):
    """处置申请 (the disposal list's add page): cards by number, prefilled from ``?ids=`` (a card's 申请处置
    button), ``?pending=1`` (the school's 待处置 cards not yet requested) or the asset list's filter query
    (``?status=idle&category=…``); 预览 shows values, warnings and problems before anything is saved."""

    template_name = "assets/disposal/request_form.html"

    def school(self):
        org = current_org(self.request)
        if org is None or not user_can(self.request.user, "add", AssetDisposal, org_id=org.pk):
            raise PermissionDenied("您没有在当前单位申请资产处置的权限。")
        return org

    def cards_qs(self, org):
        return Asset.objects.restrict(self.request.user, "view").filter(org=org).select_related("category")

    def initial_cards(self, org) -> list[Asset]:
        get = self.request.GET
        limit = commands.MAX_DISPOSAL_ITEMS
        ids = []
        for value in get.getlist("ids"):
            ids += [int(p) for p in value.replace("，", ",").split(",") if p.strip().isdigit()]
        if ids:
            return list(self.cards_qs(org).filter(pk__in=ids[:limit]).order_by("number"))
        if get.get("pending"):
            qs = self.cards_qs(org).filter(status=S.PENDING_DISPOSAL).exclude(disposal_items__is_open=True)
            return list(qs.order_by("number")[:limit])
        if any(get.get(name) for name in AssetFilterSet.base_filters if name not in ("org",)):
            filterset = AssetFilterSet(get, self.cards_qs(org), request=self.request)
            if not filterset.is_valid():
                return []
            cards = list(filterset.qs.order_by("number")[:limit + 1])
            if len(cards) > limit:
                messages.warning(self.request, f"筛选结果超过 {limit} 项，只带入前 {limit} 项，其余请另行申请。")
            return cards[:limit]
        return []

    def get(self, request, *args, **kwargs):
        org = self.school()
        cards = self.initial_cards(org)
        initial = {"numbers": "\n".join(c.number for c in cards)}
        if request.GET.get("method") in DisposalMethod.values:
            initial["method"] = request.GET["method"]
        elif cards and all(c.status == S.LOST for c in cards):
            initial["method"] = DisposalMethod.WRITE_OFF
        return self.show(DisposalRequestForm(initial=initial), org, cards)

    def post(self, request, *args, **kwargs):
        org = self.school()
        form = DisposalRequestForm(request.POST)
        cards = []
        if form.is_valid():
            numbers = form.cleaned_data["numbers"]
            found = {c.number: c for c in self.cards_qs(org).filter(number__in=numbers)}
            unknown = [n for n in numbers if n not in found]
            cards = [found[n] for n in numbers if n in found]
            if unknown:
                more = f" 等 {len(unknown)} 个" if len(unknown) > 20 else ""
                form.add_error("numbers", f"本校没有这些资产编号：{'、'.join(unknown[:20])}{more}。")
            elif "preview" not in request.POST:
                data = form.cleaned_data
                try:
                    disposal = commands.request_disposal(
                        cards, request.user, org=org, method=data["method"], reason=data["reason"],
                        recipient=data["recipient"], estimated_residual=data["estimated_residual"],
                        meeting_note=data["meeting_note"])
                except ValidationError as exc:
                    apply_errors(form, _renamed(exc, {"assets": "numbers"}))
                except IntegrityError:
                    form.add_error("numbers", "其中有资产刚被加入另一张处置单，请刷新后重试。")
                else:
                    messages.success(request, f"已提交处置申请 {disposal.number}（{disposal.item_count} 项，"
                                              f"原值合计 {disposal.total_value:,.2f} 元），等待审批。")
                    return redirect(disposal.get_absolute_url())
        return self.show(form, org, cards)

    def show(self, form, org, cards):
        pending = (Asset.objects.filter(org=org, status=S.PENDING_DISPOSAL)
                   .exclude(disposal_items__is_open=True).count())
        context = {
            **self.base_context(), "form": form, "object": None, "preview": commands.preview(cards) if cards else None,
            "pending_count": pending, "add_url": reverse(AssetDisposalUI.url_name("add")),
            "cancel_url": reverse(AssetDisposalUI.url_name("list")), "basis": commands.MIN_LIFE_BASIS,
        }
        return render(self.request, self.template_name, context)


def _renamed(exc: ValidationError, names: dict) -> ValidationError:
    if not hasattr(exc, "error_dict"):
        return exc
    return ValidationError({names.get(k, k): v for k, v in exc.error_dict.items()})


@register
class AssetDamageUI(ModelUI):
    model = AssetDamage
    url_prefix = "damages"
    filterset_class = AssetDamageFilterSet
    table_class = AssetDamageTable
    select_related = ("org", "asset", "responsible_user", "recorded_by")
    menu = ("assets", "损坏赔偿台账", "ti ti-hammer")
    can_add = can_edit = can_delete = False  # recorded from a card's 登记损坏 page; changed by the commands
    detail_view = DamageDetailView
    detail_fields = ("asset", "occurred_on", "description", "responsible_kind", "responsible_user",
                     "responsible_name", "responsible_detail", "outcome", "status_before", "status_after",
                     "compensation_status", "compensation_amount", "payer", "paid_amount", "paid_on", "receipt_no",
                     "recorded_by", "note")


@register
class AssetDisposalUI(ModelUI):
    model = AssetDisposal
    url_prefix = "disposals"
    filterset_class = AssetDisposalFilterSet
    table_class = AssetDisposalTable
    form_class = DisposalRequestForm
    edit_view = DisposalRequestView  # the add page is the request
    can_edit = can_delete = False  # changed by the approval and the 处置完成 command; never deleted
    select_related = ("org", "approval", "requested_by", "recorded_by")
    menu = ("assets", "资产处置", "ti ti-recycle")
    detail_view = DisposalDetailView
    detail_fields = ("number", "status", "method", "reason", "meeting_note", "recipient", "estimated_residual",
                     "item_count", "total_value", "total_net_value", "requested_by", "requested_on", "approval",
                     "disposed_on", "actual_income", "buyer", "document_no", "record_note", "recorded_by")


# --- Card commands --------------------------------------------------------------------------------------------------
class CardFormView(LoginRequiredMixin, View):
    """A command on one card with a small form: GET shows it, POST runs ``run`` and goes back to the card."""

    template_name = "assets/disposal/command_form.html"
    form_class = None
    title = ""
    submit_label = "确定"
    submit_style = "primary"
    intro = ""
    allowed: tuple = ()  # the statuses the command starts from (else the page explains why not)

    def make_form(self, asset, data=None, files=None):
        return self.form_class(data, files)

    def get(self, request, pk):
        asset = visible_card(request, pk)
        return self.show(asset, self.make_form(asset))

    def post(self, request, pk):
        asset = visible_card(request, pk)
        form = self.make_form(asset, request.POST, request.FILES)
        if form.is_valid():
            try:
                target = self.run(asset, form)
            except ValidationError as exc:
                apply_errors(form, exc)
            else:
                return redirect(_next_url(request, target or asset.get_absolute_url()))
        return self.show(asset, form)

    def run(self, asset, form) -> str | None:
        raise NotImplementedError

    pending_verb = ""  # set: a transfer waiting for approval refuses the command (shown before the form is filled)

    def show(self, asset, form):
        refusal = commands.refusal(asset, self.title) if asset.status not in self.allowed else ""
        if not refusal and self.pending_verb:
            waiting = custody.pending_transfer(asset)
            refusal = custody.pending_refusal(waiting, self.pending_verb) if waiting is not None else ""
        return render(self.request, self.template_name, {
            "asset": asset, "form": form, "title": self.title, "intro": self.intro, "submit_label": self.submit_label,
            "refusal": refusal,
            "submit_style": self.submit_style, "cancel_url": _next_url(self.request, asset.get_absolute_url()),
            "next": self.request.GET.get("next") or self.request.POST.get("next") or "", "multipart": True,
        })


class DamageView(CardFormView):
    """登记损坏 (URL name ``assets:asset_damage``, kwarg ``pk`` = the card)."""

    form_class = DamageForm
    title = "登记损坏"
    submit_label = "登记损坏"
    submit_style = "warning"
    allowed = (S.IN_USE, S.IDLE, S.LENT)
    intro = "记录损坏情况和责任人；需要赔偿时填写应赔金额，收到赔偿款后在损坏赔偿台账中登记到账。"

    def make_form(self, asset, data=None, files=None):
        return DamageForm(data, files, org=asset.org)

    def run(self, asset, form):
        data = form.cleaned_data
        damage = commands.mark_damaged(
            asset, self.request.user, occurred_on=data["occurred_on"], description=data["description"],
            outcome=data["outcome"], responsible_kind=data["responsible_kind"],
            responsible_user=data["responsible_user"], responsible_name=data["responsible_name"],
            responsible_detail=data["responsible_detail"], compensation_amount=data["compensation_amount"],
            payer=data["payer"], note=data["note"], photos=self.request.FILES.getlist("photos"))
        follow = {S.REPAIRING: "资产已转为“维修中”。", S.PENDING_DISPOSAL: "资产已转为“待处置”，可以申请处置。"}
        messages.success(self.request, f"已登记 {asset.number} 的损坏。{follow.get(damage.status_after, '')}")
        return damage.get_absolute_url()


class LostView(CardFormView):
    form_class = LostForm
    title = "登记丢失"
    submit_label = "登记丢失"
    submit_style = "danger"
    allowed = (S.IN_USE, S.IDLE, S.LENT)
    pending_verb = "登记丢失"
    intro = ("资产转为“丢失”。借出中的资产登记丢失后，借用记录随之结束（记为“借出期间丢失”）。"
             "找回后点“找回”恢复；确认无法找回的，申请处置（处置方式选“报损”）核销。")

    def run(self, asset, form):
        commands.mark_lost(asset, self.request.user, note=form.cleaned_data["note"])
        messages.success(self.request, f"已登记 {asset.number} 丢失。")


class RepairDoneView(CardFormView):
    form_class = RepairDoneForm
    title = "维修结束"
    submit_label = "确定"
    allowed = (S.REPAIRING,)
    intro = "送修的资产修好后恢复原来的状态（在用或闲置）；无法修复的转为“待处置”。"

    def run(self, asset, form):
        data = form.cleaned_data
        commands.finish_repair(asset, self.request.user, outcome=data["outcome"], note=data["note"],
                               check_permission=True)
        done = "已修复" if data["outcome"] == commands.FIXED else "无法修复，已转为“待处置”"
        messages.success(self.request, f"{asset.number} {done}。")


class CardStatusView(LoginRequiredMixin, View):
    """A one-click command on a card (POST only): 转为闲置, 恢复在用, 找回."""

    http_method_names = ["post"]
    command = None  # staticmethod(a command of houqin.assets.disposal)
    done = ""

    def post(self, request, pk):
        asset = visible_card(request, pk)
        try:
            self.command(asset, request.user, note=request.POST.get("note", ""))
        except ValidationError as exc:
            messages.error(request, _error_text(exc))
        else:
            messages.success(request, f"{asset.number} {self.done}")
        return redirect(_next_url(request, asset.get_absolute_url()))


class IdleView(CardStatusView):
    command = staticmethod(commands.mark_idle)
    done = "已转为闲置。"


class ReuseView(CardStatusView):
    command = staticmethod(commands.mark_in_use)
    done = "已恢复在用。"


class FoundView(CardStatusView):
    command = staticmethod(commands.mark_found)
    done = "已找回。"


# --- Disposal commands ----------------------------------------------------------------------------------------------
def visible_disposal(request, pk, action: str = "change") -> AssetDisposal:
    disposal = get_object_or_404(AssetDisposalUI.base_queryset(request.user, "view"), pk=pk)
    if action != "view" and not user_can(request.user, action, disposal):
        raise PermissionDenied("您没有此操作的权限。")
    return disposal


class DisposalRecordView(LoginRequiredMixin, View):
    """处置完成: the keeper records how an approved disposal was carried out; the cards are written off."""

    template_name = "assets/disposal/record_form.html"

    def get(self, request, pk):
        disposal = visible_disposal(request, pk)
        return self.show(disposal, DisposalRecordForm(disposal=disposal))

    def post(self, request, pk):
        disposal = visible_disposal(request, pk)
        form = DisposalRecordForm(request.POST, request.FILES, disposal=disposal)
        if form.is_valid():
            data = form.cleaned_data
            try:
                commands.record_disposal(
                    disposal, request.user, disposed_on=data["disposed_on"], actual_income=data["actual_income"],
                    buyer=data["buyer"], document_no=data["document_no"], note=data["note"],
                    photos=request.FILES.getlist("photos"))
            except ValidationError as exc:
                apply_errors(form, exc)
            else:
                messages.success(request, f"处置单 {disposal.number} 已办理完成，{disposal.item_count} 项资产已核销。")
                return redirect(disposal.get_absolute_url())
        return self.show(disposal, form)

    def show(self, disposal, form):
        return render(self.request, self.template_name, {
            "disposal": disposal, "form": form, "approved": disposal.status == DisposalStatus.APPROVED,
            "cancel_url": disposal.get_absolute_url(),
        })


class DisposalResubmitView(LoginRequiredMixin, View):
    """修改并重新提交 a disposal request that was sent back: its cards and facts, then approval restarts."""

    template_name = "assets/disposal/request_form.html"

    def setup_disposal(self, request, pk):
        from houqin.core.models.approvals import ApprovalStatus

        disposal = visible_disposal(request, pk)
        approval = disposal.approval
        if (disposal.status != DisposalStatus.PENDING or approval is None
                or approval.status != ApprovalStatus.SENT_BACK or approval.requester_id != request.user.pk):
            raise PermissionDenied("只有被退回的处置申请可由申请人修改后重新提交。")
        return disposal

    def cards(self, disposal, numbers):
        qs = Asset.objects.restrict(self.request.user, "view").filter(org_id=disposal.org_id)
        return {c.number: c for c in qs.filter(number__in=numbers).select_related("category")}

    def get(self, request, pk):
        disposal = self.setup_disposal(request, pk)
        cards = [i.asset for i in disposal.items.select_related("asset__category").order_by("asset__number")]
        form = DisposalRequestForm(initial={
            "numbers": "\n".join(c.number for c in cards), "method": disposal.method, "reason": disposal.reason,
            "meeting_note": disposal.meeting_note, "recipient": disposal.recipient,
            "estimated_residual": disposal.estimated_residual})
        return self.show(disposal, form, cards)

    def post(self, request, pk):
        disposal = self.setup_disposal(request, pk)
        form = DisposalRequestForm(request.POST)
        cards = []
        if form.is_valid():
            numbers = form.cleaned_data["numbers"]
            found = self.cards(disposal, numbers)
            cards = [found[n] for n in numbers if n in found]
            unknown = [n for n in numbers if n not in found]
            if unknown:
                form.add_error("numbers", f"本校没有这些资产编号：{'、'.join(unknown[:20])}。")
            elif "preview" not in request.POST:
                data = form.cleaned_data
                try:
                    commands.resubmit_disposal(
                        disposal, request.user, assets=cards, method=data["method"], reason=data["reason"],
                        recipient=data["recipient"], estimated_residual=data["estimated_residual"],
                        meeting_note=data["meeting_note"], comment=request.POST.get("comment", ""))
                except ValidationError as exc:
                    apply_errors(form, _renamed(exc, {"assets": "numbers"}))
                except IntegrityError:
                    form.add_error("numbers", "其中有资产刚被加入另一张处置单，请刷新后重试。")
                else:
                    messages.success(request, f"已重新提交处置申请 {disposal.number}，审批从第一步重新开始。")
                    return redirect(disposal.get_absolute_url())
        return self.show(disposal, form, cards)

    def show(self, disposal, form, cards):
        return render(self.request, self.template_name, {
            "form": form, "object": disposal, "resubmit": True, "basis": commands.MIN_LIFE_BASIS,
            "preview": commands.preview(cards) if cards else None, "cancel_url": disposal.get_absolute_url(),
            "list_url": reverse(AssetDisposalUI.url_name("list")), "verbose_name_plural": "资产处置单",
        })


# --- Compensation commands -----------------------------------------------------------------------------------------
class DamageFormView(LoginRequiredMixin, View):
    template_name = "assets/disposal/damage_form.html"
    form_class = None
    title = ""

    def damage(self, request, pk) -> AssetDamage:
        damage = get_object_or_404(AssetDamageUI.base_queryset(request.user, "view"), pk=pk)
        if not user_can(request.user, "change", damage):
            raise PermissionDenied("您没有此操作的权限。")
        return damage

    def initial(self, damage) -> dict:
        return {}

    def get(self, request, pk):
        damage = self.damage(request, pk)
        return self.show(damage, self.form_class(initial=self.initial(damage)))

    def post(self, request, pk):
        damage = self.damage(request, pk)
        form = self.form_class(request.POST)
        if form.is_valid():
            try:
                self.run(damage, form.cleaned_data)
            except ValidationError as exc:
                apply_errors(form, exc)
            else:
                return redirect(damage.get_absolute_url())
        return self.show(damage, form)

    def show(self, damage, form):
        return render(self.request, self.template_name, {"damage": damage, "form": form, "title": self.title,
                                                         "cancel_url": damage.get_absolute_url()})


class CompensationView(DamageFormView):
    form_class = CompensationForm
    title = "修改应赔金额"

    def initial(self, damage):
        return {"compensation_amount": damage.compensation_amount, "payer": damage.payer}

    def run(self, damage, data):
        commands.update_compensation(damage, self.request.user, amount=data["compensation_amount"],
                                     payer=data["payer"])
        messages.success(self.request, "已保存应赔金额。")


class PaymentView(DamageFormView):
    form_class = PaymentForm
    title = "登记赔偿款到账"

    def initial(self, damage):
        return {"paid_amount": damage.compensation_amount}

    def run(self, damage, data):
        commands.mark_compensation_paid(damage, self.request.user, paid_on=data["paid_on"],
                                        receipt_no=data["receipt_no"], amount=data["paid_amount"])
        messages.success(self.request, f"已登记赔偿款到账（收据号 {data['receipt_no']}）。")


urlpatterns = [
    path("assets/<int:pk>/damage/", DamageView.as_view(), name="asset_damage"),
    path("assets/<int:pk>/idle/", IdleView.as_view(), name="asset_idle"),
    path("assets/<int:pk>/reuse/", ReuseView.as_view(), name="asset_reuse"),
    path("assets/<int:pk>/lost/", LostView.as_view(), name="asset_lost"),
    path("assets/<int:pk>/found/", FoundView.as_view(), name="asset_found"),
    path("assets/<int:pk>/repair-done/", RepairDoneView.as_view(), name="asset_repair_done"),
    path("disposals/<int:pk>/record/", DisposalRecordView.as_view(), name="disposal_record"),
    path("disposals/<int:pk>/resubmit/", DisposalResubmitView.as_view(), name="disposal_resubmit"),
    path("damages/<int:pk>/compensation/", CompensationView.as_view(), name="damage_compensation"),
    path("damages/<int:pk>/pay/", PaymentView.as_view(), name="damage_pay"),
]


# --- Buttons on the card's page and its phone page (houqin.assets.actions) ------------------------------------------
def _can_change(asset, user) -> bool:
    return user_can(user, "change", asset)


def _dispose_url(asset) -> str:
    url = f"{reverse_kept(AssetDisposalUI.url_name('add'))}?ids={asset.pk}"
    return url + (f"&method={DisposalMethod.WRITE_OFF}" if asset.status == S.LOST else "")


def _may_dispose(asset, user) -> bool:
    if asset.status not in commands.DISPOSABLE or not user_can(user, "add", AssetDisposal, org_id=asset.org_id):
        return False
    if not user_can(user, "change", asset):
        return False
    # A card waiting for disposal may already be on a request (one indexed query, only for such cards).
    return asset.status != S.PENDING_DISPOSAL or not AssetDisposalItem.objects.filter(asset_id=asset.pk,
                                                                                       is_open=True).exists()


def _repaired_here(asset, user) -> bool:
    """维修结束 for a card sent to repair from the damage page (no work order): the repairs app ends its own."""
    return (asset.status == S.REPAIRING and _can_change(asset, user)
            and not commands.last_repair_reference(asset))


def _url(name):
    return lambda asset: reverse_kept(f"assets:{name}", kwargs={"pk": asset.pk})


for _action in (
    actions.AssetAction("damage", "登记损坏", "ti ti-hammer", url=_url("asset_damage"), order=40,
                        style="outline-warning",
                        available=lambda a, u: a.status in (S.IN_USE, S.IDLE, S.LENT) and _can_change(a, u),
                        hint="损坏了？拍照登记，注明责任人和是否赔偿"),
    actions.AssetAction("repair_done", "维修结束", "ti ti-tool", url=_url("asset_repair_done"), order=15,
                        style="primary", available=_repaired_here, hint="修好了或无法修复"),
    actions.AssetAction("found", "找回", "ti ti-search", url=_url("asset_found"), order=15, method="post",
                        style="success", available=lambda a, u: a.status == S.LOST and _can_change(a, u),
                        confirm="确定该资产已经找回了吗？找回后恢复丢失前的状态。", hint="丢失的资产找到了"),
    actions.AssetAction("idle", "转为闲置（原地存放）", "ti ti-player-pause", url=_url("asset_idle"), order=55,
                        method="post", style="outline-secondary",
                        available=lambda a, u: a.status == S.IN_USE and _can_change(a, u),
                        confirm="确定将该资产转为闲置吗？资产仍放在原处，保管人不变；如要交回仓库，请用“退库入库”。",
                        hint="暂时不用，仍放在原处、由原保管人保管"),
    actions.AssetAction("reuse", "恢复在用", "ti ti-player-play", url=_url("asset_reuse"), order=12, method="post",
                        style="outline-primary", available=lambda a, u: a.status == S.IDLE and _can_change(a, u),
                        confirm="确定将该资产恢复为在用吗？使用部门、地点和保管人不变；交给新的部门或个人请用“领用”。",
                        hint="原地恢复使用，使用部门和保管人不变"),
    # Destructive commands last: on the card page they sit under 更多 (see houqin.assets.actions.card_commands_html).
    actions.AssetAction("lost", "登记丢失", "ti ti-question-mark", url=_url("asset_lost"), order=960,
                        style="outline-danger", hint="找不到了：转为“丢失”（借出中的，借用记录随之结束）",
                        available=lambda a, u: a.status in (S.IN_USE, S.IDLE, S.LENT) and _can_change(a, u)),
    actions.AssetAction("dispose", "申请处置", "ti ti-recycle", url=_dispose_url, order=970, style="outline-danger",
                        available=_may_dispose, where=("card",)),
):
    actions.register(_action)
