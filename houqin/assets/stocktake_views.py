"""Pages of the assets app: stocktake. Their routes are spliced into houqin/assets/urls.py (namespace ``assets``).

* ModelUIs: 资产盘点 (plans; the detail page is the plan's control panel), 盘点明细 (lines) and 盘盈记录 (surpluses).
* The commands of a plan (start, finish, cancel) and its room split (分工).
* Counting, phone first: pick or scan the room, then scan items (camera, keyboard-wedge scanner or typed number) or
  tick the room's expected list; each scan answers with a big result (HTMX). Counters without any assets
  permission reach these pages by object (counters of the plan, rooms' responsible people with self-audit).
* The reconciliation report (盘点报告), printable and as .xlsx; the 盘点 button of an asset card; registering a card
  for an item found (盘盈补登).
"""

from __future__ import annotations

from decimal import Decimal

import django_filters
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, OuterRef, Prefetch, Q, Subquery
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.html import format_html
from django.views import View

from houqin.assets import actions
from houqin.assets import stocktake as services
from houqin.assets.choices import AssetStatus
from houqin.assets.forms import AssetRegisterForm
from houqin.assets.forms_stocktake import StocktakeForm, SurplusForm
from houqin.assets.models import (
    FOUND_STATUS_CHOICES,
    Asset,
    CountMethod,
    LineResult,
    Stocktake,
    StocktakeCounter,
    StocktakeLine,
    StocktakeStatus,
    StocktakeSurplus,
)
from houqin.core import approvals
from houqin.core.auth import access_for, user_can
from houqin.core.exporting import xlsx_download
from houqin.core.filtersets import TenantFilterSet
from houqin.core.models import Department, Room
from houqin.core.models.approvals import ApprovalRequest
from houqin.core.pagecache import kept_value
from houqin.core.tables import Column, Table, plain
from houqin.core.ui import ModelUI, register
from houqin.core.views.generic import ObjectDeleteView, ObjectDetailView, ObjectEditView, htmx_partial

METHODS = {m.value for m in CountMethod}


# --- Tables and filters --------------------------------------------------------------------------------------------
def _status_badge(obj):
    return format_html('<span class="badge {}">{}</span>', obj.status_badge, obj.get_status_display())


def _result_badge(line):
    return format_html('<span class="badge {}">{}</span>', line.result_badge, line.get_result_display())


class StocktakeTable(Table):
    columns = (
        Column("number", link=True),
        Column("name"),
        Column("status", render=_status_badge),
        Column("scope_summary", "盘点范围", order_by=False),
        Column("planned_start"),
        Column("planned_end"),
        Column("progress", "已盘 / 账面", order_by=False),
        Column("difference_value"),
    )
    default_order = "-planned_start"


class StocktakeLineTable(Table):
    columns = (
        Column("asset_number", link=True),
        Column("asset_name"),
        Column("stocktake.number", "盘点单号", order_by=False),
        Column("expected_room_name", "账面位置"),
        Column("department_name", "使用部门"),
        Column("custodian_name", "保管人"),
        Column("original_value"),
        Column("result", render=_result_badge),
        Column("found_room", "实存位置", order_by=False),
        Column("found_status_display", "实物状态", order_by=False),
        Column("counted_by_name", "盘点人"),
        Column("counted_at"),
    )
    default_order = "asset_number"


class StocktakeSurplusTable(Table):
    columns = (
        Column("name", link=True),
        Column("stocktake.number", "盘点单号", order_by=False),
        Column("description"),
        Column("quantity"),
        Column("unit"),
        Column("estimated_value"),
        Column("room", "发现位置", order_by=False),
        Column("found_by_name", "发现人"),
        Column("found_at"),
        Column("asset", "补登的资产卡片", order_by=False),
    )
    default_order = "-found_at"


class StocktakeFilterSet(TenantFilterSet):
    status = django_filters.ChoiceFilter(choices=StocktakeStatus.choices, label="状态")
    year = django_filters.NumberFilter(field_name="planned_start", lookup_expr="year", label="年度")

    class Meta:
        model = Stocktake
        fields = ["q", "org", "status", "year"]


class StocktakeLineFilterSet(TenantFilterSet):
    stocktake = django_filters.ModelChoiceFilter(queryset=Stocktake.objects.all(), label="盘点")
    result = django_filters.ChoiceFilter(choices=LineResult.choices, label="盘点结果")
    department = django_filters.ModelChoiceFilter(queryset=Department.objects.all(), label="使用部门")
    expected_room = django_filters.ModelChoiceFilter(queryset=Room.objects.all(), label="账面位置")

    class Meta:
        model = StocktakeLine
        fields = ["q", "org", "stocktake", "result", "department", "expected_room"]

    def filter_q(self, queryset, name, value):
        for term in (value or "").split()[:5]:
            queryset = queryset.filter(Q(asset_number__icontains=term) | Q(asset_name__icontains=term)
                                       | Q(spec__icontains=term))
        return queryset


class StocktakeSurplusFilterSet(TenantFilterSet):
    stocktake = django_filters.ModelChoiceFilter(queryset=Stocktake.objects.all(), label="盘点")
    registered = django_filters.BooleanFilter(field_name="asset", lookup_expr="isnull", exclude=True,
                                              label="已补登卡片")

    class Meta:
        model = StocktakeSurplus
        fields = ["q", "org", "stocktake", "registered"]


# --- Model UIs -------------------------------------------------------------------------------------------------------
def _room_prefetch(name: str) -> Prefetch:
    return Prefetch(name, queryset=Room.objects.select_related("campus", "building"))


class StocktakeEditView(ObjectEditView):
    """The plan is edited only as a 草稿; afterwards its scope is frozen in the expected list."""

    template_name = "assets/stocktake/form.html"

    def get(self, request, *args, **kwargs):
        if "pk" in self.kwargs:
            obj = self.get_object("change")
            if obj.status != StocktakeStatus.DRAFT:
                messages.error(request, f"该盘点{obj.get_status_display()}，只有草稿状态的盘点可以修改。")
                return redirect(obj.get_absolute_url())
        return super().get(request, *args, **kwargs)


class StocktakeDeleteView(ObjectDeleteView):
    """Only a 草稿 may be deleted; a plan that was counted stays (cancel it instead)."""

    def post(self, request, *args, **kwargs):
        obj = self.get_object("delete")
        if obj.status != StocktakeStatus.DRAFT:
            messages.error(request, f"该盘点{obj.get_status_display()}，不能删除；如不再进行，请取消盘点。")
            return redirect(obj.get_absolute_url())
        return super().post(request, *args, **kwargs)


def latest_approval(obj) -> ApprovalRequest | None:
    ct = ContentType.objects.get_for_model(obj)
    return ApprovalRequest.objects.filter(content_type=ct, object_id=obj.pk).order_by("-pk").first()


class StocktakeDetailView(ObjectDetailView):
    """The plan's control panel: facts, counters and their rooms, progress per room, results, the proposed
    adjustments, the approval and the commands."""

    template_name = "assets/stocktake/detail.html"

    def get(self, request, *args, **kwargs):
        ui = self.ui
        obj = self.get_object("view")
        user = request.user
        manage = services.can_manage(user, obj)
        access = services.count_access(obj, user)
        counters = list(StocktakeCounter.objects.filter(stocktake=obj).select_related("user")
                        .prefetch_related(_room_prefetch("rooms")))
        counts = services.result_counts(obj)
        progress = services.room_progress(obj) if obj.status != StocktakeStatus.DRAFT else {}
        room_names = dict(StocktakeLine.objects.filter(stocktake=obj).values_list("expected_room_id",
                                                                                  "expected_room_name").distinct())
        rooms = sorted(({"id": k, "name": room_names.get(k) or "（未登记位置）", **v} for k, v in progress.items()),
                       key=lambda r: r["name"])
        approval = latest_approval(obj)
        adjustments = []
        if obj.status in (StocktakeStatus.REVIEW, StocktakeStatus.DONE):
            adjustments = list(obj.adjustments.select_related("asset", "surplus").order_by("kind", "pk")[:200])
        expected = obj.expected_count
        on_loan = services.on_loan_count(obj) if counts.get(LineResult.MISSING) else 0
        if on_loan:
            counts[LineResult.MISSING] -= on_loan
        context = {
            **self.base_context(),
            "object": obj,
            "scope": obj.scope,
            "counters": counters,
            "counts": {r: counts.get(r, 0) for r in LineResult.values},
            "counted": sum(counts.get(r, 0) for r in (LineResult.MATCHED, LineResult.MOVED, LineResult.STATUS)),
            "rate": services.match_rate(counts.get(LineResult.MATCHED, 0) + on_loan, expected),
            "on_loan": on_loan,
            "surplus_count": obj.surpluses.count(),
            "rooms": rooms,
            "adjustments": adjustments,
            "approval": approvals.panel(approval, user) if approval else None,
            "manage": manage,
            "access": access,
            "can_edit": manage and obj.status == StocktakeStatus.DRAFT,
            "can_delete": obj.status == StocktakeStatus.DRAFT and user_can(user, "delete", obj),
            "edit_url": reverse(ui.url_name("edit"), args=[obj.pk]),
            "delete_url": reverse(ui.url_name("delete"), args=[obj.pk]),
            "changelog_url": reverse(ui.url_name("changelog"), args=[obj.pk]),
        }
        return render(request, self.template_name, context)


@register
class StocktakeUI(ModelUI):
    model = Stocktake
    url_prefix = "stocktakes"
    filterset_class = StocktakeFilterSet
    table_class = StocktakeTable
    form_class = StocktakeForm
    edit_view = StocktakeEditView
    delete_view = StocktakeDeleteView
    detail_view = StocktakeDetailView
    select_related = ("org",)
    menu = ("assets", "资产盘点", "ti ti-clipboard-check")
    detail_fields = ("number", "name", "status", "planned_start", "planned_end", "allow_self_audit", "note")

    @classmethod
    def base_queryset(cls, user, action: str = "view"):
        counted = (StocktakeLine.objects.filter(stocktake=OuterRef("pk"), counted_at__isnull=False)
                   .values("stocktake").annotate(n=Count("pk")).values("n"))
        return super().base_queryset(user, action).annotate(counted_count=Subquery(counted))


@register
class StocktakeLineUI(ModelUI):
    model = StocktakeLine
    url_prefix = "stocktake-lines"
    filterset_class = StocktakeLineFilterSet
    table_class = StocktakeLineTable
    select_related = ("org", "stocktake", "found_room__campus", "found_room__building")
    can_add = can_edit = can_delete = False  # lines are frozen at the start and counted on the counting pages
    attachments = False
    detail_fields = ("stocktake", "asset", "asset_number", "asset_name", "spec", "category_name", "quantity", "unit",
                     "original_value", "book_status", "expected_room_name", "department_name", "custodian_name",
                     "result", "found_room", "found_status", "counted_at", "counted_by_name", "method", "note")


class SurplusDetailView(ObjectDetailView):
    template_name = "assets/stocktake/surplus_detail.html"


@register
class StocktakeSurplusUI(ModelUI):
    model = StocktakeSurplus
    url_prefix = "stocktake-surpluses"
    filterset_class = StocktakeSurplusFilterSet
    table_class = StocktakeSurplusTable
    select_related = ("org", "stocktake", "room__campus", "room__building", "asset")
    can_add = can_edit = can_delete = False  # recorded while counting; registered as a card after approval
    detail_view = SurplusDetailView
    detail_fields = ("stocktake", "name", "description", "quantity", "unit", "estimated_value", "found_status",
                     "room", "found_by_name", "found_at", "asset")


# --- Commands of a plan --------------------------------------------------------------------------------------------
def _visible_stocktake(request, pk: int) -> Stocktake:
    return get_object_or_404(Stocktake.objects.restrict(request.user, "view").select_related("org"), pk=pk)


def _errors(exc: ValidationError) -> list[str]:
    return [str(m) for m in exc.messages]


class StocktakeCommandView(LoginRequiredMixin, View):
    """POST: 开始盘点 / 结束盘点并提交审核 / 取消盘点."""

    command = ""
    done = ""

    def post(self, request, pk):
        stocktake = _visible_stocktake(request, pk)
        if not services.can_manage(request.user, stocktake):
            raise PermissionDenied("您没有管理该盘点的权限。")
        try:
            if self.command == "start":
                stocktake = services.start(stocktake, request.user)
                messages.success(request, f"已开始盘点：账面共 {stocktake.expected_count} 张卡片，已通知盘点人。")
            elif self.command == "finish":
                stocktake = services.finish(stocktake, request.user, request.POST.get("comment", ""))
                messages.success(request, "已结束盘点，差异处理已提交审批；审批通过后才会调整资产卡片。")
            else:
                services.cancel(stocktake, request.user, request.POST.get("reason", ""))
                messages.success(request, "已取消盘点。")
        except ValidationError as exc:
            for message in _errors(exc):
                messages.error(request, message)
        return redirect(stocktake.get_absolute_url())


class AssignView(LoginRequiredMixin, View):
    """分工: for every room of the scope, which counter counts it (or any counter)."""

    template_name = "assets/stocktake/assign.html"

    def setup_page(self, request, pk):
        stocktake = _visible_stocktake(request, pk)
        if not services.can_manage(request.user, stocktake):
            raise PermissionDenied("您没有管理该盘点的权限。")
        counters = list(StocktakeCounter.objects.filter(stocktake=stocktake).select_related("user")
                        .prefetch_related("rooms"))
        rooms = list(services.scope_rooms(stocktake).select_related("campus", "building", "floor", "responsible")
                     .order_by("campus__name", "building__name", "floor__level", "number", "name"))
        return stocktake, counters, rooms

    def get(self, request, pk):
        stocktake, counters, rooms = self.setup_page(request, pk)
        assigned = {room.pk: c.user_id for c in counters for room in c.rooms.all()}
        return self.show(stocktake, counters, rooms, assigned)

    def post(self, request, pk):
        stocktake, counters, rooms = self.setup_page(request, pk)
        assignment = {}
        for room in rooms:
            raw = request.POST.get(f"room_{room.pk}", "")
            assignment[room.pk] = int(raw) if raw.isdigit() else None
        try:
            services.set_counter_rooms(stocktake, request.user, assignment)
        except ValidationError as exc:
            for message in _errors(exc):
                messages.error(request, message)
            return self.show(stocktake, counters, rooms, assignment)
        messages.success(request, "已保存分工。")
        return redirect(stocktake.get_absolute_url())

    def show(self, stocktake, counters, rooms, assigned):
        rows = [{"room": room, "user_id": assigned.get(room.pk)} for room in rooms]
        return render(self.request, self.template_name, {"object": stocktake, "counters": counters, "rows": rows})


# --- Counting ------------------------------------------------------------------------------------------------------
def _countable(request, pk: int):
    """The plan and what the user may count in it. 404 when the user may neither see the plan nor is involved in
    it (another school's plan looks like no plan at all)."""
    stocktake = Stocktake.objects.select_related("org").filter(pk=pk).first()
    if stocktake is None:
        raise Http404
    access = services.count_access(stocktake, request.user)
    if not access.involved and not Stocktake.objects.restrict(request.user, "view").filter(pk=pk).exists():
        raise Http404
    return stocktake, access


def _room_of(stocktake: Stocktake, room_pk: int) -> Room:
    room = (Room.objects.filter(org_id=stocktake.org_id, pk=room_pk)
            .select_related("campus", "building", "floor", "responsible").first())
    if room is None:
        raise Http404
    return room


def _closed(request, stocktake: Stocktake, access):
    """The page shown when the plan is not being counted (or the user counts nothing in it)."""
    status = 200 if stocktake.status != StocktakeStatus.COUNTING else 403
    return render(request, "assets/stocktake/closed.html", {"object": stocktake, "access": access}, status=status)


class CountRoomsView(LoginRequiredMixin, View):
    """Step 1 on the phone: scan the room's QR code (or type its label) or pick the room from the list."""

    template_name = "assets/stocktake/count_rooms.html"

    def get(self, request, pk):
        stocktake, access = _countable(request, pk)
        if not access:
            return _closed(request, stocktake, access)
        code = request.GET.get("code", "").strip()
        error = ""
        if code:
            parsed = services.parse_code(code)
            if parsed.kind == "room" and access.allows(parsed.pk):
                return redirect("assets:stocktake_count_room", pk=stocktake.pk, room_pk=parsed.pk)
            error = ("您不负责盘点该房间，或该房间不在本次盘点范围。" if parsed.kind == "room"
                     else "请扫描房间门口的二维码（资产标签请进入房间后再扫）。")
        rooms = services.scope_rooms(stocktake).select_related("campus", "building", "floor")
        if not access.all_rooms:
            rooms = rooms.filter(pk__in=sorted(access.room_ids))
        progress = services.room_progress(stocktake)
        listed, others = [], []
        for room in rooms.order_by("campus__name", "building__name", "floor__level", "number", "name"):
            p = progress.get(room.pk)
            (listed if p else others).append({"room": room, "expected": p["expected"] if p else 0,
                                              "counted": p["counted"] if p else 0})
        context = {"object": stocktake, "access": access, "rooms": listed, "other_rooms": others, "error": error,
                   "code": code, "no_room": progress.get(None)}
        return render(request, self.template_name, context)


def _room_lines(stocktake: Stocktake, room: Room, user, access) -> dict:
    expected = list(StocktakeLine.objects.filter(stocktake=stocktake, expected_room=room)
                    .select_related("found_room__campus", "found_room__building")
                    .order_by("counted_at", "asset_number"))
    moved_in = list(StocktakeLine.objects.filter(stocktake=stocktake, found_room=room)
                    .exclude(expected_room=room).order_by("-counted_at"))
    pending = [line for line in expected if line.counted_at is None]
    counted = [line for line in expected if line.counted_at is not None]
    for line in [*counted, *moved_in]:
        line.may_undo = access.manager or line.counted_by_id == user.pk
    return {"pending": pending, "counted": counted, "moved_in": moved_in, "expected_total": len(expected),
            "counted_total": len(counted)}


class CountRoomView(LoginRequiredMixin, View):
    """Step 2: in one room, scan (camera or scanner) or tick the expected list. ``?part=lines`` is the list alone
    (refreshed after every scan)."""

    template_name = "assets/stocktake/count_room.html"

    def get(self, request, pk, room_pk):
        stocktake, access = _countable(request, pk)
        if not access:
            return _closed(request, stocktake, access)
        room = _room_of(stocktake, room_pk)
        if not access.allows(room.pk):
            raise PermissionDenied("您不负责盘点该房间。")
        return self.show(request, stocktake, access, room)

    def show(self, request, stocktake, access, room, outcome=None, status=200):
        context = {"object": stocktake, "access": access, "room": room, "outcome": outcome,
                   "found_statuses": FOUND_STATUS_CHOICES, **_room_lines(stocktake, room, request.user, access)}
        if request.GET.get("part") == "lines" and htmx_partial(request):
            return render(request, "assets/stocktake/_room_lines.html", context)
        return render(request, self.template_name, context, status=status)


class ScanView(CountRoomView):
    """POST one scan or tick in a room: ``action`` = scan (``code``) | count (``line``) | status (``line``,
    ``found_status``) | undo (``line``) | correct (``line``: count it here instead). Answers the big result
    (HTMX) or the room page with it."""

    def get(self, request, pk, room_pk):
        return HttpResponse(status=405)

    def post(self, request, pk, room_pk):
        stocktake, access = _countable(request, pk)
        room = _room_of(stocktake, room_pk)
        if not access.allows(room.pk):
            if stocktake.status != StocktakeStatus.COUNTING:
                outcome = services.Outcome("invalid", "盘点未在进行中",
                                           f"该盘点{stocktake.get_status_display()}，不能再盘点。")
                return self.answer(request, stocktake, access, room, outcome)
            raise PermissionDenied(services.NO_RIGHT)
        data = request.POST
        action = data.get("action", "scan")
        method = data.get("method") if data.get("method") in METHODS else CountMethod.WEDGE
        found_status = data.get("found_status", "")
        try:
            if action == "scan":
                outcome = services.scan(stocktake, request.user, room, data.get("code", ""),
                                        found_status=found_status, method=method)
                if outcome.kind == "room":
                    url = reverse("assets:stocktake_count_room", args=[stocktake.pk, outcome.room.pk])
                    if not access.allows(outcome.room.pk):
                        outcome = services.Outcome("invalid", "您不负责盘点该房间", outcome.detail)
                    elif htmx_partial(request):
                        response = HttpResponse(status=204)
                        response["HX-Redirect"] = url
                        return response
                    else:
                        return redirect(url)
            else:
                line = get_object_or_404(StocktakeLine, stocktake=stocktake, pk=_int(data.get("line")))
                if action == "count":
                    outcome = services.count_line(stocktake, line, request.user, room, found_status=found_status,
                                                  method=CountMethod.LIST)
                elif action == "correct":
                    outcome = services.count_line(stocktake, line, request.user, room, found_status=found_status,
                                                  method=method, correct=True)
                elif action == "status":
                    outcome = services.set_found_status(stocktake, line, request.user, found_status)
                elif action == "undo":
                    outcome = services.uncount(stocktake, line, request.user)
                else:
                    outcome = services.Outcome("invalid", "无法识别的操作")
        except ValidationError as exc:
            outcome = services.Outcome("invalid", "未能记录", "；".join(_errors(exc)))
        return self.answer(request, stocktake, access, room, outcome)

    def answer(self, request, stocktake, access, room, outcome):
        if htmx_partial(request):
            context = {"object": stocktake, "room": room, "outcome": outcome, "found_statuses": FOUND_STATUS_CHOICES,
                       "access": access}
            response = render(request, "assets/stocktake/_result.html", context)
            response["HX-Trigger"] = "stocktake-counted"
            return response
        return self.show(request, stocktake, access, room, outcome)


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class SurplusAddView(LoginRequiredMixin, View):
    """盘盈: record an item in the room that is not on the books, with a photo."""

    template_name = "assets/stocktake/surplus_form.html"

    def setup_page(self, request, pk, room_pk):
        stocktake, access = _countable(request, pk)
        room = _room_of(stocktake, room_pk)
        if not access.allows(room.pk):
            if stocktake.status != StocktakeStatus.COUNTING:
                return stocktake, access, room, _closed(request, stocktake, access)
            raise PermissionDenied(services.NO_RIGHT)
        return stocktake, access, room, None

    def get(self, request, pk, room_pk):
        stocktake, access, room, closed = self.setup_page(request, pk, room_pk)
        if closed is not None:
            return closed
        form = SurplusForm(initial={"name": request.GET.get("name", "")[:100]})
        return render(request, self.template_name, {"object": stocktake, "room": room, "form": form})

    def post(self, request, pk, room_pk):
        stocktake, access, room, closed = self.setup_page(request, pk, room_pk)
        if closed is not None:
            return closed
        form = SurplusForm(request.POST, request.FILES)
        if form.is_valid():
            data = form.cleaned_data
            try:
                surplus = services.record_surplus(
                    stocktake, request.user, room, name=data["name"], description=data["description"],
                    quantity=data["quantity"], unit=data["unit"], estimated_value=data["estimated_value"],
                    found_status=data["found_status"], photos=request.FILES.getlist("photos"))
            except ValidationError as exc:
                target = "photos" if any("文件" in m or "图片" in m for m in exc.messages) else None
                for message in _errors(exc):
                    form.add_error(target, message)
            else:
                messages.success(request, f"已登记盘盈：{surplus.name}（{surplus.quantity}{surplus.unit}）。")
                return redirect("assets:stocktake_count_room", pk=stocktake.pk, room_pk=room.pk)
        return render(request, self.template_name, {"object": stocktake, "room": room, "form": form})


class MineView(LoginRequiredMixin, View):
    """我的盘点任务: the plans being counted that the user counts (manager, counter or self-audit)."""

    template_name = "assets/stocktake/mine.html"

    def get(self, request):
        user = request.user
        manage_orgs = sorted(access_for(user).orgs_for("assets.change_stocktake"))
        mine = Q(counters__user=user) | Q(allow_self_audit=True, lines__expected_room__responsible=user)
        if user.is_superuser:
            mine = Q()
        elif manage_orgs:
            mine |= Q(org_id__in=manage_orgs)
        member_orgs = sorted(access_for(user).member_org_ids)
        plans = Stocktake.objects.filter(status=StocktakeStatus.COUNTING)
        if not user.is_superuser:
            plans = plans.filter(org_id__in=member_orgs)
        ids = plans.filter(mine).values("pk")
        items = list(Stocktake.objects.filter(pk__in=ids).select_related("org").order_by("planned_end", "pk")[:50])
        return render(request, self.template_name, {"items": items})


def _pct(rate) -> str:
    return "—" if rate is None else f"{rate}%"


ROW_HEADER = ["账面数量", "相符", "位置不符", "状态不符", "盘亏", "借出中", "未盘", "他处盘入", "盘盈",
              "盘亏原值（元）", "盘盈估值（元）", "账卡物相符率"]


def _row_values(row: services.ReportRow) -> list:
    return [row.expected, row.matched, row.moved, row.status, row.missing, row.on_loan, row.pending, row.moved_in,
            row.surplus,
            float(row.missing_value), float(row.surplus_value), _pct(row.rate)]


def write_report(stocktake: Stocktake, data: services.Report, fileobj) -> None:
    """The report as a workbook: 汇总, 按房间, 按部门, 差异明细, 盘盈 (one sheet each)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    from houqin.core.exporting import _safe

    bold = Font(bold=True)
    wb = Workbook()
    summary = wb.active
    summary.title = "汇总"
    total = data.total
    for label, value in (
        ("盘点单号", stocktake.number), ("盘点名称", stocktake.name), ("单位", stocktake.org.name),
        ("盘点范围", stocktake.scope), ("状态", stocktake.get_status_display()),
        ("计划日期", f"{stocktake.planned_start:%Y-%m-%d} 至 {stocktake.planned_end:%Y-%m-%d}"),
        ("账面数量", total.expected), ("账面原值（元）", float(stocktake.expected_value)),
        ("相符", total.matched), ("位置不符", total.moved), ("状态不符", total.status), ("盘亏", total.missing),
        ("借出中（不作盘亏）", total.on_loan), ("未盘", total.pending), ("盘盈（项）", total.surplus),
        ("盘亏原值（元）", float(total.missing_value)),
        ("盘盈估值（元）", float(total.surplus_value)), ("账卡物相符率", _pct(total.rate)),
        ("计算方法", "账卡物相符率 = （相符数 + 借出中）÷ 账面数量 × 100%"),
    ):
        summary.append([label, _safe(value) if isinstance(value, str) else value])
        summary.cell(row=summary.max_row, column=1).font = bold
    for title, first, rows in (("按房间", "账面位置", data.by_room), ("按部门", "使用部门", data.by_department)):
        ws = wb.create_sheet(title)
        ws.append([first, *ROW_HEADER])
        for row in rows:
            ws.append([_safe(row.name), *_row_values(row)])
        ws.append(["合计", *_row_values(total)])
    ws = wb.create_sheet("差异明细")
    ws.append(["资产编号", "资产名称", "品牌型号", "盘点结果", "账面位置", "实存位置", "账面状态", "实物状态",
               "使用部门", "保管人", "原值（元）", "盘点人", "盘点时间"])
    for line in data.differences:
        result = f"借出中（借用单 {line.loan.number}）" if getattr(line, "loan", None) else line.get_result_display()
        ws.append([_safe(line.asset_number), _safe(line.asset_name), _safe(line.spec), _safe(result),
                   _safe(line.expected_room_name), _safe(line.found_room.full_name if line.found_room_id else ""),
                   line.get_book_status_display(), line.found_status_display, _safe(line.department_name),
                   _safe(line.custodian_name), float(line.original_value), _safe(line.counted_by_name),
                   plain(line.counted_at)])
    ws = wb.create_sheet("盘盈")
    ws.append(["物品名称", "描述", "数量", "单位", "估计价值（元）", "发现位置", "发现人", "发现时间", "补登卡片"])
    for s in data.surpluses:
        ws.append([_safe(s.name), _safe(s.description), s.quantity, _safe(s.unit), float(s.estimated_value),
                   _safe(s.room.full_name if s.room_id else ""), _safe(s.found_by_name), plain(s.found_at),
                   s.asset.number if s.asset_id else ""])
    for sheet in wb.worksheets[1:]:
        for cell in sheet[1]:
            cell.font = bold
    wb.save(fileobj)


class ReportView(LoginRequiredMixin, View):
    """盘点报告: counts per result, per room and per department, the 账卡物相符率, values of 盘亏 and 盘盈, the
    differences; printable, and ``?export=xlsx``."""

    template_name = "assets/stocktake/report.html"

    def get(self, request, pk):
        stocktake = get_object_or_404(StocktakeUI.base_queryset(request.user), pk=pk)
        data = services.report(stocktake)
        if request.GET.get("export") == "xlsx":
            return self.export(stocktake, data)
        approval = latest_approval(stocktake)
        return render(request, self.template_name, {"object": stocktake, "report": data,
                                                    "scope": stocktake.scope, "approval_req": approval})

    @staticmethod
    def export(stocktake: Stocktake, data: services.Report):
        return xlsx_download(lambda fileobj: write_report(stocktake, data, fileobj), f"{stocktake.number}盘点报告.xlsx")


# --- The 盘点 button of an asset card -----------------------------------------------------------------------------
def _active_lines(asset_pk: int, user):
    """Lines of plans being counted that include the card and that ``user`` counts (one query; the view re-checks
    the room)."""
    lines = StocktakeLine.objects.filter(asset_id=asset_pk, stocktake__status=StocktakeStatus.COUNTING)
    if user.is_superuser:
        return lines
    manage_orgs = sorted(access_for(user).orgs_for("assets.change_stocktake"))
    mine = Q(stocktake__counters__user=user) | Q(stocktake__allow_self_audit=True, expected_room__responsible=user)
    if manage_orgs:
        mine |= Q(org_id__in=manage_orgs)
    return lines.filter(mine)


def counting_schools() -> frozenset[int]:
    """The schools with a plan being counted (a card is counted in its own school's plans), read once per data
    version: most of the time nobody is counting, and the card pages then ask nothing more."""
    return kept_value(("assets.counting_schools",), lambda: frozenset(
        Stocktake.objects.filter(status=StocktakeStatus.COUNTING).values_list("org_id", flat=True)))


def _card_action_available(asset, user) -> bool:
    if not getattr(user, "is_authenticated", False) or asset.status == AssetStatus.DISPOSED:
        return False
    if asset.org_id not in counting_schools():
        return False
    return _active_lines(asset.pk, user).filter(counted_at__isnull=True).exists()


actions.register(actions.AssetAction(
    "stocktake", "盘点", "ti ti-clipboard-check", url=lambda asset: reverse("assets:stocktake_card", args=[asset.pk]),
    available=_card_action_available, order=25, style="primary", hint="本资产在进行中的盘点里：确认它在哪里",
))


class CardCountView(LoginRequiredMixin, View):
    """From an asset card (its page or the phone page behind its QR): record it as found in its expected room, or
    in the room the counter picks."""

    template_name = "assets/stocktake/card_count.html"

    def setup_page(self, request, asset_pk):
        line = (_active_lines(asset_pk, request.user).select_related("stocktake__org", "asset")
                .order_by("counted_at", "-pk").first())
        if line is None:
            raise Http404
        stocktake = line.stocktake
        access = services.count_access(stocktake, request.user)
        rooms = services.scope_rooms(stocktake).select_related("campus", "building")
        if not access.all_rooms:
            rooms = rooms.filter(pk__in=sorted(access.room_ids))
        return line, stocktake, access, list(rooms.order_by("campus__name", "building__name", "number", "name"))

    def get(self, request, asset_pk):
        line, stocktake, access, rooms = self.setup_page(request, asset_pk)
        return self.show(line, stocktake, access, rooms)

    def post(self, request, asset_pk):
        line, stocktake, access, rooms = self.setup_page(request, asset_pk)
        room_pk = _int(request.POST.get("room")) or line.expected_room_id
        room = next((r for r in rooms if r.pk == room_pk), None)
        if room is None:
            return self.show(line, stocktake, access, rooms, error="请选择您负责盘点的房间。")
        found_status = request.POST.get("found_status", "")
        try:
            outcome = services.count_line(stocktake, line, request.user, room, found_status=found_status,
                                          method=CountMethod.CARD)
        except ValidationError as exc:
            return self.show(line, stocktake, access, rooms, error="；".join(_errors(exc)))
        return self.show(line, stocktake, access, rooms, outcome=outcome)

    def show(self, line, stocktake, access, rooms, outcome=None, error=""):
        line.refresh_from_db()
        context = {"line": line, "object": stocktake, "rooms": rooms, "outcome": outcome, "error": error,
                   "expected_ok": access.allows(line.expected_room_id), "found_statuses": FOUND_STATUS_CHOICES,
                   "asset_url": (line.asset.get_absolute_url()
                                 if user_can(self.request.user, "view", line.asset) else None)}
        return render(self.request, self.template_name, context)


# --- 盘盈补登 ------------------------------------------------------------------------------------------------------
class SurplusRegisterView(LoginRequiredMixin, View):
    """Register the card of an item found (盘盈) once the stocktake's differences were approved: the registration
    form, filled from the record; saving links the new card to it."""

    template_name = "assets/stocktake/surplus_register.html"

    def setup_form(self, request, pk, data=None):
        surplus = get_object_or_404(StocktakeSurplusUI.base_queryset(request.user), pk=pk)
        org = surplus.org
        if not user_can(request.user, "add", Asset, org_id=org.pk):
            raise PermissionDenied("您没有在本校登记资产的权限。")
        if surplus.stocktake.status != StocktakeStatus.DONE:
            raise PermissionDenied("盘点差异审批通过后才能补登资产卡片。")
        initial = None
        if data is None:
            note = f"盘盈（{surplus.stocktake.number}）：{surplus.description}"[:200]
            unit_price = (surplus.estimated_value / max(surplus.quantity, 1)).quantize(Decimal("0.01"))
            initial = {"name": surplus.name, "quantity": surplus.quantity, "unit": surplus.unit,
                       "room": surplus.room_id, "unit_price": unit_price, "note": note, "acquisition_method": "other"}
        form = AssetRegisterForm(data=data, instance=Asset(org=org), user=request.user, org=org, initial=initial)
        return surplus, form

    def get(self, request, pk):
        surplus, form = self.setup_form(request, pk)
        if surplus.asset_id:
            messages.info(request, f"该盘盈物品已补登为资产卡片 {surplus.asset.number}。")
            return redirect(surplus.asset.get_absolute_url())
        return render(request, self.template_name, {"object": surplus, "form": form})

    def post(self, request, pk):
        surplus, form = self.setup_form(request, pk, request.POST)
        if surplus.asset_id:
            return redirect(surplus.asset.get_absolute_url())
        if form.is_valid():
            try:
                with transaction.atomic():
                    card = form.save()
                    services.link_registered_card(surplus, card)
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(request, f"已补登资产卡片：{card}")
                return redirect(card.get_absolute_url())
        return render(request, self.template_name, {"object": surplus, "form": form})


urlpatterns: list = [
    path("stocktakes/mine/", MineView.as_view(), name="stocktake_mine"),
    path("stocktakes/<int:pk>/start/", StocktakeCommandView.as_view(command="start"), name="stocktake_start"),
    path("stocktakes/<int:pk>/finish/", StocktakeCommandView.as_view(command="finish"), name="stocktake_finish"),
    path("stocktakes/<int:pk>/cancel/", StocktakeCommandView.as_view(command="cancel"), name="stocktake_cancel"),
    path("stocktakes/<int:pk>/assign/", AssignView.as_view(), name="stocktake_assign"),
    path("stocktakes/<int:pk>/report/", ReportView.as_view(), name="stocktake_report"),
    path("stocktakes/<int:pk>/count/", CountRoomsView.as_view(), name="stocktake_count"),
    path("stocktakes/<int:pk>/count/<int:room_pk>/", CountRoomView.as_view(), name="stocktake_count_room"),
    path("stocktakes/<int:pk>/count/<int:room_pk>/scan/", ScanView.as_view(), name="stocktake_scan"),
    path("stocktakes/<int:pk>/count/<int:room_pk>/surplus/", SurplusAddView.as_view(), name="stocktake_surplus_add"),
    path("stocktakes/card/<int:asset_pk>/", CardCountView.as_view(), name="stocktake_card"),
    path("stocktake-surpluses/<int:pk>/register/", SurplusRegisterView.as_view(), name="stocktakesurplus_register"),
]
