"""Pages of the custody part: the command pages of a card (领用、退库、调拨、借出、归还、补签), 我的资产, and the
read-only lists 借用台账 and 调拨单. Their routes are spliced into houqin/assets/urls.py (namespace ``assets``);
their buttons are registered in the card's action registry (houqin.assets.actions)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q, Sum
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.views import View

from houqin.assets import actions, custody
from houqin.assets.actions import AssetAction
from houqin.assets.choices import AssetStatus
from houqin.assets.forms_custody import (
    AssetLoanFilterSet,
    AssetTransferFilterSet,
    AssignForm,
    BatchTransferForm,
    LendForm,
    LoanReturnForm,
    LoanSignForm,
    ReturnToStoreForm,
    TransferForm,
)
from houqin.assets.models import Asset, AssetLoan, AssetTransfer, TransferStatus
from houqin.assets.views import AssetUI
from houqin.core import navigation
from houqin.core.auth import access_for, user_can
from houqin.core.middleware import current_org
from houqin.core.reversing import reverse_kept
from houqin.core.tables import Column, Table
from houqin.core.ui import ModelUI, register
from houqin.core.views.generic import ObjectDetailView

# --- Lists: 借用台账 and 调拨单 --------------------------------------------------------------------------------------
LOAN_BADGES = {"open": "bg-blue-lt", "overdue": "bg-red-lt", "returned": "bg-green-lt", "lost": "bg-orange-lt"}
TRANSFER_BADGES = {TransferStatus.PENDING: "bg-yellow-lt", TransferStatus.DONE: "bg-green-lt",
                   TransferStatus.REJECTED: "bg-red-lt", TransferStatus.WITHDRAWN: "bg-secondary-lt"}


def loan_state_badge(loan):
    text = loan.state_display
    if loan.is_overdue:
        text = f"逾期 {loan.overdue_days} 天"
    return format_html('<span class="badge {}" data-testid="loan-state">{}</span>', LOAN_BADGES[loan.state], text)


def transfer_status_badge(move):
    return format_html('<span class="badge {}">{}</span>', TRANSFER_BADGES.get(move.status, "bg-secondary-lt"),
                       move.get_status_display())


def asset_link(row):
    asset = row.asset
    return format_html('<a href="{}" class="text-nowrap">{}</a> {}', asset.get_absolute_url(), asset.number,
                       asset.name)


class AssetLoanTable(Table):
    columns = (
        Column("number", link=True),
        Column("asset", "资产", order_by=False, render=asset_link),
        Column("borrower_display", "借用人", order_by=False),
        Column("borrower_phone"),
        Column("purpose"),
        Column("lent_at"),
        Column("due_on"),
        Column("state_display", "状态", order_by=False, render=loan_state_badge),
        Column("returned_at", order_by=False),
        Column("return_condition", order_by=False),
        Column("lent_by", "经办人", order_by=False),
    )
    default_order = "-lent_at"


class AssetTransferTable(Table):
    columns = (
        Column("number", link=True),
        Column("asset", "资产", order_by=False, render=asset_link),
        Column("summary"),
        Column("reason"),
        Column("status", render=transfer_status_badge),
        Column("needs_approval", "跨部门"),
        Column("approval_number"),
        Column("requested_by", "经办人", order_by=False),
        Column("created_at", "申请时间"),
        Column("applied_at", order_by=False),
    )
    default_order = "-created_at"


class _DetailWithExtras(ObjectDetailView):
    """The generic detail page with a little more context about the object (``extras(obj)``)."""

    def get_object(self, action: str = "view"):
        self.object = super().get_object(action)
        return self.object

    def base_context(self) -> dict:
        context = super().base_context()
        obj = getattr(self, "object", None)
        if obj is not None:
            context.update(self.extras(obj))
        return context

    def extras(self, obj) -> dict:
        return {}


class AssetLoanDetailView(_DetailWithExtras):
    template_name = "assets/custody/loan_detail.html"

    def extras(self, loan):
        user = self.request.user
        can_act = user_can(user, "change", loan.asset)
        return {
            "signatures": custody.signatures_of(loan),
            "can_return": can_act and loan.is_open,
            "can_sign": can_act and loan.signature_pending,
            "damage_url": custody.damage_url(loan.asset) if can_act and loan.damaged_on_return else None,
        }


class AssetTransferDetailView(_DetailWithExtras):
    template_name = "assets/custody/transfer_detail.html"

    def extras(self, move):
        from houqin.core import approvals

        approval = None
        if move.approval_id:
            approval = approvals.panel(move.approval, self.request.user)
        return {"approval": approval}


@register
class AssetLoanUI(ModelUI):
    model = AssetLoan
    url_prefix = "loans"
    filterset_class = AssetLoanFilterSet
    table_class = AssetLoanTable
    detail_view = AssetLoanDetailView
    select_related = ("org", "asset", "lent_by", "borrower", "returned_to")
    menu = ("assets", "借用台账", "ti ti-arrows-exchange")
    can_add = can_edit = can_delete = False  # written by the lend and return commands only
    attachments = False  # the signatures are shown on the page itself
    detail_fields = ("number", "asset", "borrower_name", "borrower", "borrower_phone", "purpose", "lent_at", "due_on",
                     "lent_by", "status_before", "signature_pending", "signed_at", "returned_at", "returned_to",
                     "return_condition", "return_note", "return_signed_at", "note")


@register
class AssetTransferUI(ModelUI):
    model = AssetTransfer
    url_prefix = "transfers"
    filterset_class = AssetTransferFilterSet
    table_class = AssetTransferTable
    detail_view = AssetTransferDetailView
    select_related = ("org", "asset", "requested_by", "from_department", "to_department", "from_room__campus",
                      "from_room__building", "to_room__campus", "to_room__building", "from_custodian",
                      "to_custodian")
    menu = ("assets", "调拨单", "ti ti-transfer")
    can_add = can_edit = can_delete = False  # written by the transfer command and its approval only
    attachments = False
    detail_fields = ("number", "asset", "status", "summary", "from_department", "to_department", "from_room",
                     "to_room", "from_custodian", "to_custodian", "reason", "needs_approval", "approval_number",
                     "requested_by", "applied_at")


# --- Command pages ---------------------------------------------------------------------------------------------------
def apply_errors(form, exc: ValidationError) -> None:
    """A command's refusal onto the form: field errors where the form has the field, the rest on top."""
    if hasattr(exc, "error_dict"):
        for name, errors in exc.message_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


class CardCommandView(LoginRequiredMixin, View):
    """A command on one card: a visible card (else 404) the user may change (else 403), a form, the command.

    ``allowed`` are the statuses the command starts from; a card in another status, or with a transfer waiting
    for approval, gets the page with the reason and no form."""

    template_name = "assets/custody/command.html"
    form_class = None
    title = ""
    verb = ""
    submit_label = "确定"
    icon = "ti ti-check"
    allowed: tuple = ()
    hint = ""

    def get_asset(self) -> Asset:
        user = self.request.user
        asset = get_object_or_404(AssetUI.base_queryset(user, "view"), pk=self.kwargs["pk"])
        if not user_can(user, "change", asset):
            raise PermissionDenied("您没有管理该资产的权限。")
        return asset

    def refusal(self, asset) -> str | None:
        reason = custody.status_refusal(asset, self.allowed, self.verb) if self.allowed else None
        if reason:
            return reason
        transfer = custody.pending_transfer(asset)
        if transfer is not None:
            return custody.pending_refusal(transfer)
        return None

    def make_form(self, asset, data=None):
        return self.form_class(data, asset=asset, user=self.request.user)

    def get(self, request, pk):
        asset = self.get_asset()
        return self.show(asset, self.make_form(asset))

    def post(self, request, pk):
        asset = self.get_asset()
        form = self.make_form(asset, request.POST)
        if not form.is_valid():
            return self.show(asset, form)
        try:
            result = self.run(asset, form)
        except ValidationError as exc:
            apply_errors(form, exc)
            return self.show(asset, form)
        return self.done(asset, result)

    def run(self, asset, form):
        raise NotImplementedError

    def done(self, asset, result):
        return redirect(asset.get_absolute_url())

    def context(self, asset, form) -> dict:
        return {}

    def show(self, asset, form, status: int = 200):
        reason = self.refusal(asset)
        context = {"asset": asset, "form": form, "refusal": reason, "title": self.title, "verb": self.verb,
                   "submit_label": self.submit_label, "icon": self.icon, "hint": self.hint,
                   "cancel_url": asset.get_absolute_url(), **self.context(asset, form)}
        return render(self.request, self.template_name, context, status=status)


class AssignView(CardCommandView):
    form_class = AssignForm
    title, verb, submit_label, icon = "领用", "领用", "确认领用", "ti ti-package-export"
    allowed = custody.ASSIGNABLE
    hint = "闲置资产交给部门使用，状态改为“在用”。"

    def run(self, asset, form):
        data = form.cleaned_data
        card = custody.assign(asset, self.request.user, department=data["department"], room=data.get("room"),
                              custodian=data.get("custodian"), note=data.get("note", ""), expected=form.expected)
        messages.success(self.request, f"已领用：{card}（{card.department}）")
        return card


class ReturnToStoreView(CardCommandView):
    form_class = ReturnToStoreForm
    title, verb, submit_label, icon = "退库", "退库", "确认退库", "ti ti-package-import"
    allowed = custody.RETURNABLE
    hint = "在用资产交回仓库，状态改为“闲置”，不再有保管人。"

    def run(self, asset, form):
        data = form.cleaned_data
        card = custody.return_to_store(asset, self.request.user, room=data.get("room"), note=data.get("note", ""),
                                       expected=form.expected)
        messages.success(self.request, f"已退库：{card}")
        return card


class TransferView(CardCommandView):
    form_class = TransferForm
    title, verb, submit_label, icon = "调拨", "调拨", "确认调拨", "ti ti-transfer"
    allowed = custody.TRANSFERABLE
    hint = "同一部门内调整存放地点或保管人立即生效；改变使用部门须经总务主任审批，通过后一次调拨到位。"

    def run(self, asset, form):
        data = form.cleaned_data
        move = custody.transfer(asset, self.request.user, department=data.get("department"), room=data.get("room"),
                                custodian=data.get("custodian"), reason=data.get("reason", ""),
                                expected=form.expected)
        if move.is_pending:
            messages.info(self.request,
                          f"跨部门调拨已提交审批（审批单 {move.approval_number}），审批通过后自动调拨到位。")
        else:
            messages.success(self.request, f"已调拨：{move.summary}")
        return move

    def done(self, asset, move):
        return redirect(move.get_absolute_url() if move.is_pending else asset.get_absolute_url())


class LendView(CardCommandView):
    form_class = LendForm
    template_name = "assets/custody/lend.html"
    title, verb, submit_label, icon = "借出", "借出", "确认借出", "ti ti-arrow-up-right"
    allowed = custody.LENDABLE

    def run(self, asset, form):
        data = form.cleaned_data
        loan = custody.lend(asset, self.request.user, borrower=data.get("borrower"),
                            borrower_name=data.get("borrower_name", ""), borrower_phone=data.get("borrower_phone", ""),
                            purpose=data["purpose"], due_on=data["due_on"], signature=data.get("signature") or None,
                            signature_later=data.get("signature_later", False), note=data.get("note", ""),
                            expected=form.expected)
        messages.success(self.request,
                         f"已借出：{asset}，借用人 {loan.borrower_display}，应还日期 {loan.due_on:%Y-%m-%d}。")
        return loan

    def done(self, asset, loan):
        return redirect(loan.get_absolute_url())


class LoanCommandView(LoginRequiredMixin, View):
    """A command on one loan: found by the loan (``loan`` routes) or by its card's open loan (``asset`` routes)."""

    template_name = "assets/custody/loan_command.html"
    by = "loan"

    def get_loan(self) -> AssetLoan:
        user = self.request.user
        if self.by == "asset":
            asset = get_object_or_404(AssetUI.base_queryset(user, "view"), pk=self.kwargs["pk"])
            if not user_can(user, "change", asset):
                raise PermissionDenied("您没有管理该资产的权限。")
            loan = AssetLoanUI.base_queryset(user, "view").filter(asset=asset, returned_at__isnull=True).first()
            if loan is None:
                self.no_loan_asset = asset
            return loan
        loan = get_object_or_404(AssetLoanUI.base_queryset(user, "view"), pk=self.kwargs["pk"])
        if not user_can(user, "change", loan.asset):
            raise PermissionDenied("您没有管理该资产的权限。")
        return loan


class LoanReturnView(LoanCommandView):
    """归还: the keeper checks the card, notes its condition; the borrower may sign on the screen."""

    def refusal(self, loan) -> str | None:
        if loan is None:
            return "该资产没有未归还的借用记录。"
        if not loan.is_open:
            return f"该借用已于 {timezone.localtime(loan.returned_at):%Y-%m-%d %H:%M} 归还。"
        return None

    def get(self, request, pk):
        loan = self.get_loan()
        return self.show(loan, LoanReturnForm())

    def post(self, request, pk):
        loan = self.get_loan()
        form = LoanReturnForm(request.POST)
        if loan is None or not loan.is_open or not form.is_valid():
            return self.show(loan, form)
        data = form.cleaned_data
        try:
            loan = custody.return_loan(loan, request.user, condition=data["condition"], note=data.get("note", ""),
                                       signature=data.get("signature") or None)
        except ValidationError as exc:
            apply_errors(form, exc)
            return self.show(loan, form)
        if loan.damaged_on_return:
            messages.warning(request, f"已归还：{loan.asset}。归还时发现损坏，请接着登记损坏情况。")
        else:
            messages.success(request, f"已归还：{loan.asset}，资产状态恢复为“{loan.asset.get_status_display()}”。")
        return redirect(loan.get_absolute_url())

    def show(self, loan, form):
        asset = loan.asset if loan is not None else getattr(self, "no_loan_asset", None)
        context = {"loan": loan, "asset": asset, "form": form, "refusal": self.refusal(loan), "mode": "return",
                   "title": "归还", "cancel_url": loan.get_absolute_url() if loan else asset.get_absolute_url()}
        return render(self.request, self.template_name, context)


class LoanSignView(LoanCommandView):
    """补签: the borrower who was not there at the hand-over signs afterwards."""

    def get(self, request, pk):
        loan = self.get_loan()
        return self.show(loan, LoanSignForm())

    def post(self, request, pk):
        loan = self.get_loan()
        form = LoanSignForm(request.POST)
        if not loan.signature_pending or not form.is_valid():
            return self.show(loan, form)
        try:
            custody.sign_loan(loan, request.user, signature=form.cleaned_data["signature"])
        except ValidationError as exc:
            apply_errors(form, exc)
            return self.show(loan, form)
        messages.success(request, f"已补签：{loan}")
        return redirect(loan.get_absolute_url())

    def show(self, loan, form):
        refusal = None if loan.signature_pending else "该借用已有借用人签字，无需补签。"
        context = {"loan": loan, "asset": loan.asset, "form": form, "refusal": refusal, "mode": "sign",
                   "title": "借用人补签", "cancel_url": loan.get_absolute_url()}
        return render(self.request, self.template_name, context)


class TransferBatchView(LoginRequiredMixin, View):
    """批量调拨: pick a room or a department, tick its cards, choose where they go; all or nothing."""

    template_name = "assets/custody/transfer_batch.html"

    def org(self):
        org = current_org(self.request)
        if org is None or org.is_bureau or not user_can(self.request.user, "change", Asset, org_id=org.pk):
            raise PermissionDenied("您没有在当前学校调拨资产的权限。")
        return org

    def scope(self, org, params):
        """The source room or department named in ``params`` (ids of the school's rows only) and its cards."""
        form = BatchTransferForm(user=self.request.user, org=org, cards=Asset.objects.none())
        found = {}
        for name in ("from_room", "from_department"):
            raw = params.get(name, "")
            found[name] = form.fields[name].queryset.filter(pk=raw).first() if raw.isdigit() else None
        cards = Asset.objects.none()
        if found["from_room"] or found["from_department"]:
            cards = AssetUI.base_queryset(self.request.user, "change").filter(org=org, status__in=custody.TRANSFERABLE)
            if found["from_room"]:
                cards = cards.filter(room=found["from_room"])
            if found["from_department"]:
                cards = cards.filter(department=found["from_department"])
            cards = cards.order_by("number")
        return found, cards

    def get(self, request):
        org = self.org()
        found, cards = self.scope(org, request.GET)
        listed = list(cards[:custody.BATCH_LIMIT])
        initial = {**{k: v.pk for k, v in found.items() if v}, "assets": [c.pk for c in listed]}
        form = BatchTransferForm(user=request.user, org=org, cards=cards, initial=initial)
        return self.show(form, found, listed)

    def post(self, request):
        org = self.org()
        found, cards = self.scope(org, request.POST)
        form = BatchTransferForm(request.POST, user=request.user, org=org, cards=cards)
        listed = list(cards[:custody.BATCH_LIMIT])
        if not form.is_valid():
            return self.show(form, found, listed)
        data = form.cleaned_data
        target = {k: data[k] for k in ("department", "room", "custodian") if data.get(k) is not None}
        try:
            moves = custody.transfer_batch(data["assets"], request.user, reason=data.get("reason", ""), **target)
        except ValidationError as exc:
            apply_errors(form, exc)
            return self.show(form, found, listed)
        pending = [m for m in moves if m.is_pending]
        text = f"已调拨 {len(moves) - len(pending)} 件资产"
        if pending:
            text += f"；{len(pending)} 件跨部门调拨已提交审批，审批通过后调拨到位"
        messages.success(request, text + "。")
        return redirect(reverse("assets:assettransfer_list"))

    def show(self, form, found, listed):
        context = {"form": form, "scope": found, "cards": listed, "limited": len(listed) >= custody.BATCH_LIMIT}
        return render(self.request, self.template_name, context)


navigation.add_item("assets", navigation.MenuItem("批量调拨", "assets:transfer_batch", "assets.change_asset",
                                                  "ti ti-arrows-transfer-down"))


# --- 我的资产 ---------------------------------------------------------------------------------------------------------
MY_ASSETS_LIMIT = 500


class MyAssetsView(LoginRequiredMixin, View):
    """我的资产: the cards a member of a school keeps (custodian, or the responsible person of the room of a card
    without a custodian) and what they have borrowed. Filtered by the user, not by role: teachers hold no assets
    permission, and nobody sees anyone else's list here."""

    template_name = "assets/custody/my_assets.html"

    def get(self, request):
        user = request.user
        org_ids = sorted(access_for(user).member_org_ids)
        mine = Q(custodian=user) | Q(custodian__isnull=True, room__responsible=user)
        cards_qs = (Asset.objects.filter(org_id__in=org_ids).filter(mine).exclude(status=AssetStatus.DISPOSED)
                    .select_related("org", "category", "department", "room__campus", "room__building"))
        cards = list(cards_qs.order_by("room__name", "number")[:MY_ASSETS_LIMIT + 1])
        totals = cards_qs.aggregate(value=Sum("original_value"))
        loans = list(AssetLoan.objects.filter(org_id__in=org_ids, borrower=user, returned_at__isnull=True)
                     .select_related("asset", "lent_by").order_by("due_on", "pk"))
        for card in cards:
            card.can_open = user_can(user, "view", card)
        more = len(cards) > MY_ASSETS_LIMIT
        context = {
            "cards": cards[:MY_ASSETS_LIMIT], "more": more, "count": cards_qs.count() if more else len(cards),
            "total_value": totals["value"] or 0, "loans": loans, "several_schools": len(org_ids) > 1,
        }
        return render(request, self.template_name, context)


navigation.add_item("assets", navigation.MenuItem("我的资产", "assets:my_assets", None, "ti ti-user-check"))


# --- Buttons on the card (and on the phone page behind its QR) -----------------------------------------------------
def _can_change(asset, user) -> bool:
    return user_can(user, "change", asset)


def _url(name):
    return lambda asset: reverse_kept(f"assets:{name}", kwargs={"pk": asset.pk})


for _action in (
    AssetAction("assign", "领用", "ti ti-package-export", url=_url("asset_assign"), order=10, style="primary",
                available=lambda a, u: a.status in custody.ASSIGNABLE and _can_change(a, u),
                hint="闲置资产交给部门或个人使用"),
    AssetAction("lend", "借出", "ti ti-arrow-up-right", url=_url("asset_lend"), order=20, style="primary",
                available=lambda a, u: a.status in custody.LENDABLE and _can_change(a, u),
                hint="借给本校教职工或校外人员，借用人当面签字"),
    AssetAction("return_loan", "归还", "ti ti-arrow-down-left", url=_url("asset_return_loan"), order=20,
                style="success", available=lambda a, u: a.status == AssetStatus.LENT and _can_change(a, u),
                hint="借出的资产交回，核对状况"),
    AssetAction("transfer", "调拨", "ti ti-transfer", url=_url("asset_transfer"), order=30, style="outline-primary",
                available=lambda a, u: a.status in custody.TRANSFERABLE and _can_change(a, u),
                hint="换部门、换地点或换保管人；跨部门须审批"),
    AssetAction("return_to_store", "退库入库", "ti ti-package-import", url=_url("asset_return_to_store"), order=50,
                style="outline-secondary",
                available=lambda a, u: a.status in custody.RETURNABLE and _can_change(a, u),
                hint="交回仓库存放，不再由保管人保管，转为闲置"),
):
    actions.register(_action)


urlpatterns = [
    path("assets/<int:pk>/assign/", AssignView.as_view(), name="asset_assign"),
    path("assets/<int:pk>/return-to-store/", ReturnToStoreView.as_view(), name="asset_return_to_store"),
    path("assets/<int:pk>/transfer/", TransferView.as_view(), name="asset_transfer"),
    path("assets/<int:pk>/lend/", LendView.as_view(), name="asset_lend"),
    path("assets/<int:pk>/return-loan/", LoanReturnView.as_view(by="asset"), name="asset_return_loan"),
    path("loans/<int:pk>/return/", LoanReturnView.as_view(), name="loan_return"),
    path("loans/<int:pk>/sign/", LoanSignView.as_view(), name="loan_sign"),
    path("transfers/batch/", TransferBatchView.as_view(), name="transfer_batch"),
    path("mine/", MyAssetsView.as_view(), name="my_assets"),
]
