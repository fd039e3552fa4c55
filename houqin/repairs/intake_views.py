"""Reporter-facing pages of the repairs app (phone first): report a fault, from a form, a room's or an asset's QR
label, or by the office on someone's behalf (代报); the reporter's own reports; the status link of a visitor who
reported without an account; and the page behind a room's QR label.

Who may report: members of the school holding ``repairs.add_workorder`` (teachers, the office); anyone with a QR
label where the school allows reports without signing in (``repairs.report_requires_login`` false) — they give a
name and a phone number, and at most ``reports_per_hour`` reports per IP address and per phone are accepted.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views import View

from houqin.core import qr
from houqin.core.auth import access_for, user_can
from houqin.core.middleware import current_org
from houqin.core.pagination import BadCursor, paginate
from houqin.core.throttling import client_ip
from houqin.core.views.generic import UIView
from houqin.repairs import conf, services
from houqin.repairs.defaults import ensure_defaults
from houqin.repairs.forms import ReportForm
from houqin.repairs.integrations import may_report
from houqin.repairs.models import OPEN_STATES, Source, State, WorkOrder
from houqin.repairs.timeline import timeline

ASSET_KIND, ROOM_KIND = "a", "r"
SCAN_MODELS = {ASSET_KIND: "assets.asset", ROOM_KIND: "core.room"}
OPEN_ON_PAGE = 20  # open orders shown on a room's or asset's page
TRACK_MODEL = "repairs.workorder"


def apply_errors(form, exc: ValidationError) -> None:
    """A command's ValidationError on the form: field messages on their fields, others above the form."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


def track_url(order: WorkOrder) -> str:
    return reverse("repairs:track", kwargs={"token": qr.make_token(TRACK_MODEL, order.pk)})


def _photos(request):
    return request.FILES.getlist("photos")


class ReportPageMixin:
    template_name = "repairs/report.html"

    def submit(self, request, form, org, *, source, room=None, asset=None, anonymous=False, proxy=False):
        data = form.cleaned_data
        reporter = data.get("reporter") if proxy else None
        try:
            order = services.create_order(
                org, user=None if anonymous else request.user, description=data["description"],
                room=room if room is not None else data.get("room"), asset=asset, category=data["category"],
                urgency=data["urgency"], source=source, place=data.get("place", ""), reporter=reporter,
                reporter_name=data.get("reporter_name", ""), reporter_phone=data.get("reporter_phone", ""),
                photos=_photos(request), client_ip=client_ip(request) if anonymous else None,
            )
        except ValidationError as exc:
            apply_errors(form, exc)
            return None
        return order

    def done(self, request, order: WorkOrder, *, anonymous: bool = False):
        if order.state == State.MERGED:
            original = order.duplicate_of
            messages.info(request, f"这个故障已经有人报修了（{original.number}，{original.get_state_display()}），"
                                   f"您的报修已合并到该单，维修人员不会重复上门。")
        else:
            messages.success(request, f"报修成功，单号 {order.number}。维修人员会尽快处理。")
        if anonymous:
            return redirect(track_url(order))
        if order.state == State.MERGED and WorkOrder.objects.restrict(request.user).filter(
                pk=order.duplicate_of_id).exists():
            return redirect(order.duplicate_of.get_absolute_url())
        return redirect(order.get_absolute_url())


class ReportView(ReportPageMixin, UIView):
    """我要报修 (the work-order list's 新增 page): a member of the current school reports a fault."""

    action = "add"

    def setup_org(self, request):
        org = current_org(request)
        if org is None or org.is_bureau or not user_can(request.user, "add", WorkOrder, org_id=org.pk):
            raise PermissionDenied("您没有在当前单位报修的权限。")
        ensure_defaults(org)
        return org

    def get(self, request, *args, **kwargs):
        org = self.setup_org(request)
        initial = {}
        if request.GET.get("room"):
            initial["room"] = request.GET["room"]
        return self.show(ReportForm(org=org, initial=initial), org)

    def post(self, request, *args, **kwargs):
        org = self.setup_org(request)
        form = ReportForm(request.POST, org=org)
        if form.is_valid():
            order = self.submit(request, form, org, source=Source.FORM)
            if order is not None:
                return self.done(request, order)
        return self.show(form, org)

    def show(self, form, org):
        return render(self.request, self.template_name, {
            "form": form, "org": org, "title": "我要报修", "mine_url": reverse("repairs:mine"),
            "signed_in": True, "base": "core/base.html"})


class ProxyReportView(ReportPageMixin, LoginRequiredMixin, View):
    """代报: the office enters a fault reported by phone or in person (by a member of the school or a visitor)."""

    def setup_org(self, request):
        org = current_org(request)
        if org is None or org.is_bureau or not user_can(request.user, "dispatch", WorkOrder, org_id=org.pk):
            raise PermissionDenied("只有总务处可以代报报修。")
        ensure_defaults(org)
        return org

    def get(self, request):
        org = self.setup_org(request)
        return self.show(ReportForm(org=org, proxy=True), org)

    def post(self, request):
        org = self.setup_org(request)
        form = ReportForm(request.POST, org=org, proxy=True)
        if form.is_valid():
            order = self.submit(request, form, org, source=Source.PROXY, proxy=True)
            if order is not None:
                return self.done(request, order)
        return self.show(form, org)

    def show(self, form, org):
        return render(self.request, self.template_name, {
            "form": form, "org": org, "title": "代报报修", "proxy": True, "signed_in": True,
            "base": "core/base.html"})


def _scan_object(kind: str, token: str):
    label = SCAN_MODELS.get(kind)
    if label is None:
        return None
    pk = qr.read_token(label, token)
    if pk is None:
        return None
    if kind == ASSET_KIND:
        from houqin.assets.models import Asset

        return Asset.objects.select_related("org", "room__campus", "room__building").filter(pk=pk).first()
    from houqin.core.models import Room

    return Room.objects.select_related("org", "campus", "building").filter(pk=pk).first()


def _refuse(request, obj):
    """Not allowed to report here: sign in first (anonymous), 403 (may see the place, may not report), else 404."""
    user = request.user
    if not user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if user_can(user, "view", obj):
        raise PermissionDenied("您没有在该校报修的权限。")
    raise Http404("记录不存在或您无权查看。")


def open_orders_at(*, room=None, asset=None):
    """Open orders of a room (any of its faults) or of an asset, for the scan pages."""
    orders = WorkOrder.objects.filter(state__in=OPEN_STATES).select_related("category", "assignee")
    orders = orders.filter(asset=asset) if asset is not None else orders.filter(room=room)
    return list(orders.order_by("-reported_at", "-pk")[:OPEN_ON_PAGE])


class ScanReportView(ReportPageMixin, View):
    """报修 from a QR label (``kind`` "r": a room, "a": an asset): the place is filled in; the open orders of the
    place are listed so the reporter sees whether someone reported it already. Anonymous visitors may use it where
    the school allows (name and phone required, rate-limited)."""

    def dispatch(self, request, *args, **kwargs):
        self.obj = _scan_object(kwargs["kind"], kwargs["token"])
        if self.obj is None:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            raise Http404("记录不存在或您无权查看。")
        self.org = self.obj.org
        if self.org.is_bureau or not may_report(self.org, request.user):
            return _refuse(request, self.obj)
        if kwargs["kind"] == ASSET_KIND and (self.obj.disposed_on is not None or self.obj.status in ("disposed",
                                                                                                      "lost")):
            raise Http404("该资产已处置或丢失，不能报修。")
        ensure_defaults(self.org)
        self.anonymous = not self._member_reporter(request.user)
        return super().dispatch(request, *args, **kwargs)

    def _member_reporter(self, user) -> bool:
        if not user.is_authenticated:
            return False
        access = access_for(user)
        return user.is_superuser or access.has("repairs.add_workorder", self.org.pk) or access.has(
            "repairs.dispatch_workorder", self.org.pk)

    @property
    def places(self):
        from houqin.core.models import Room

        if isinstance(self.obj, Room):
            return {"room": self.obj, "asset": None}
        return {"room": self.obj.room if self.obj.room_id else None, "asset": self.obj}

    def form(self, data=None):
        places = self.places
        return ReportForm(data, org=self.org, fixed_room=places["room"], fixed_asset=places["asset"],
                          anonymous=self.anonymous)

    def get(self, request, kind, token):
        return self.show(self.form())

    def post(self, request, kind, token):
        form = self.form(request.POST)
        if form.is_valid():
            places = self.places
            order = self.submit(request, form, self.org, source=Source.SCAN, room=places["room"],
                                asset=places["asset"], anonymous=self.anonymous)
            if order is not None:
                return self.done(request, order, anonymous=self.anonymous)
        return self.show(form)

    def show(self, form):
        places = self.places
        asset, room = places["asset"], places["room"]
        context = {
            "form": form, "org": self.org, "title": "扫码报修", "asset": asset, "room": room,
            "open_orders": open_orders_at(room=room, asset=asset) if (room or asset) else [],
            "anonymous": self.anonymous, "signed_in": self.request.user.is_authenticated,
            "base": "core/base.html" if self.request.user.is_authenticated else "repairs/public_base.html",
        }
        response = render(self.request, self.template_name, context)
        add_never_cache_headers(response)
        return response


def room_scan_page(request, room):
    """The page behind a room's QR label (core's scan view calls it for every visitor with a valid token): the
    room's open repairs and a big 报修 button. Returns None (core's default: sign in, then the room's page or "not
    found") for visitors who may not report in the room's school."""
    if room.org.is_bureau or not may_report(room.org, request.user):
        return None
    context = {
        "room": room, "org": room.org, "open_orders": open_orders_at(room=room),
        "report_url": reverse("repairs:report_scan", kwargs={"kind": ROOM_KIND,
                                                             "token": qr.make_token("core.room", room.pk)}),
        "room_url": room.get_absolute_url() if user_can(request.user, "view", room) else "",
        "signed_in": request.user.is_authenticated,
        "base": "core/base.html" if request.user.is_authenticated else "repairs/public_base.html",
    }
    response = render(request, "repairs/room_scan.html", context)
    add_never_cache_headers(response)
    response["X-Robots-Tag"] = "noindex"
    return response


class MyReportsView(LoginRequiredMixin, View):
    """我的报修: the orders the user reported (in the schools they belong to), newest first, each with its state."""

    per_page = 20

    def get(self, request):
        user = request.user
        access = access_for(user)
        orders = (WorkOrder.objects.filter(reporter=user, org_id__in=sorted(access.member_org_ids))
                  .select_related("category", "assignee", "room__campus", "room__building"))
        state = request.GET.get("state", "")
        if state == "open":
            orders = orders.filter(state__in=OPEN_STATES)
        elif state == "todo":
            orders = orders.filter(state=State.DONE)
        try:
            page = paginate(orders, order="-reported_at", per_page=self.per_page, cursor=request.GET.get("cursor"))
        except BadCursor:
            page = paginate(orders, order="-reported_at", per_page=self.per_page, cursor=None)
        can_report = any(access.has("repairs.add_workorder", org_id) for org_id in access.member_org_ids)
        return render(request, "repairs/mine.html", {
            "page": page, "state": state, "can_report": can_report or user.is_superuser,
            "to_sign": WorkOrder.objects.filter(reporter=user, state=State.DONE,
                                                org_id__in=sorted(access.member_org_ids)).count(),
        })


class TrackView(View):
    """The status link of a visitor who reported without an account (报修进度): the order's timeline, and — once
    it is done — 验收 with stars, or 没修好. The link is the order's signed token; it names no school's rows."""

    template_name = "repairs/track.html"

    def dispatch(self, request, *args, **kwargs):
        pk = qr.read_token(TRACK_MODEL, kwargs["token"])
        order = WorkOrder.objects.select_related("org", "category", "assignee", "duplicate_of").filter(
            pk=pk, reporter__isnull=True).first() if pk is not None else None
        if order is None:
            raise Http404("报修单不存在。")
        self.order = order
        return super().dispatch(request, *args, **kwargs)

    def get(self, request, token):
        return self.show()

    def post(self, request, token):
        from houqin.repairs.forms import ReasonForm, SignOffForm

        action = request.POST.get("action")
        order = self.order
        try:
            if action == "sign_off":
                form = SignOffForm(request.POST)
                if form.is_valid():
                    services.sign_off(order, None, rating=form.cleaned_data["rating"],
                                      comment=form.cleaned_data["comment"], via_token=True)
                    messages.success(request, "谢谢您的评价！")
                    return redirect(request.path)
            elif action == "complain":
                form = ReasonForm(request.POST)
                if form.is_valid():
                    services.complain(order, None, reason=form.cleaned_data["reason"], via_token=True)
                    messages.warning(request, "已通知维修人员重新处理。")
                    return redirect(request.path)
            elif action == "cancel":
                services.cancel(order, None, reason=request.POST.get("reason", ""), via_token=True)
                messages.info(request, "报修已取消。")
                return redirect(request.path)
            else:
                raise ValidationError("不支持的操作。")
            messages.error(request, "；".join(e for errors in form.errors.values() for e in errors))
        except (ValidationError, PermissionDenied) as exc:
            messages.error(request, "；".join(getattr(exc, "messages", [str(exc)])))
        return redirect(request.path)

    def show(self):
        order = self.order
        actions = services.allowed_actions(order, None, via_token=True)
        response = render(self.request, self.template_name, {
            "order": order, "org": order.org, "events": timeline(order), "actions": actions,
            "base": "repairs/public_base.html" if not self.request.user.is_authenticated else "core/base.html",
        })
        add_never_cache_headers(response)
        response["X-Robots-Tag"] = "noindex"
        return response


def reporter_orders(user):
    """Orders ``user`` reported, visible to them (used by the dashboard helper and the API)."""
    access = access_for(user)
    return WorkOrder.objects.filter(Q(reporter=user), org_id__in=sorted(access.member_org_ids))


def anonymous_allowed(org) -> bool:
    return not conf.report_requires_login(org)
