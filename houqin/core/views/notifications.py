"""Notification pages: my inbox, the header bell (and its out-of-band refresh), the channel settings of a school,
with a test button, and the delivery log.

The root URLconf mounts ``urls()`` at ``/notifications/``. Any view that changes what a user has
unread can refresh the header bell by appending ``bell_oob(request)`` to its HTMX response.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import path
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View

from houqin.core import navigation
from houqin.core.auth import access_for, user_can
from houqin.core.channels import email as email_channel
from houqin.core.channels import validate_webhook_url
from houqin.core.models.notifications import (
    DEFAULT_CHANNEL_KINDS,
    ChannelConfig,
    Delivery,
    DeliveryChannel,
    DeliveryPurpose,
    DeliveryStatus,
    Notification,
    NotificationKind,
)
from houqin.core.notifications import ALL, mark_read, send_test_message, unread_count
from houqin.core.pagination import BadCursor, paginate
from houqin.core.views.generic import htmx_partial, render_page

UNREAD_LIMIT = 200
READ_PER_PAGE = 30
DELIVERIES_PER_PAGE = 50
RECENT_DELIVERIES = 10
BELL_TEMPLATE = "core/includes/notification_bell.html"


# --- The header bell ------------------------------------------------------------------------------------------------


def render_bell(request, *, oob: bool = False) -> str:
    """The bell with the user's unread count; ``oob=True`` marks it ``hx-swap-oob`` for an HTMX response."""
    return render_to_string(BELL_TEMPLATE, {"count": unread_count(request.user), "oob": oob}, request=request)


def bell_oob(request) -> str:
    """The bell as an out-of-band swap: append it to any HTMX response after marking notifications read."""
    return render_bell(request, oob=True)


def with_bell(response, request):
    """``response`` (rendered) with the out-of-band bell appended, for HTMX requests; others are unchanged."""
    if getattr(request, "htmx", False):
        if hasattr(response, "render") and not response.is_rendered:
            response.render()
        response.write(bell_oob(request))
    return response


def notification_context(request) -> dict:
    """Context processor: ``notification_unread_count`` for the header (counted once, only if the page uses it)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    cached: list[int] = []

    def count() -> int:
        if not cached:
            cached.append(unread_count(user))
        return cached[0]

    return {"notification_unread_count": count}


# --- Inbox ------------------------------------------------------------------------------------------------------------


def _show_org(user) -> bool:
    return len(access_for(user).member_org_ids) > 1


class NotificationListView(LoginRequiredMixin, View):
    """Unread first (newest first), then read ones page by page."""

    def get(self, request):
        return render_page(request, "core/notification_list.html", self.context(request), partial="inbox")

    @staticmethod
    def context(request) -> dict:
        mine = Notification.objects.restrict(request.user).select_related("org")
        cursor = request.GET.get("cursor") or None
        unread = [] if cursor else list(mine.unread().order_by("-created_at", "-pk")[: UNREAD_LIMIT + 1])
        try:
            page = paginate(mine.filter(read_at__isnull=False), order="-created_at", per_page=READ_PER_PAGE,
                            cursor=cursor, count=False)
        except BadCursor:
            page = paginate(mine.filter(read_at__isnull=False), order="-created_at", per_page=READ_PER_PAGE,
                            cursor=None, count=False)
        return {
            "unread": unread[:UNREAD_LIMIT],
            "unread_more": len(unread) > UNREAD_LIMIT,
            "read_page": page,
            "show_org": _show_org(request.user),
            "unread_total": unread_count(request.user),
        }


class NotificationOpenView(LoginRequiredMixin, View):
    """Follow a notification's link, marking it read."""

    def get(self, request, pk):
        notification = get_object_or_404(Notification.objects.restrict(request.user), pk=pk)
        mark_read(request.user, [notification.pk])
        url = notification.url
        if url and url_has_allowed_host_and_scheme(url, allowed_hosts=None) and url.startswith("/"):
            return redirect(url)
        return redirect("notification_list")


class NotificationReadView(LoginRequiredMixin, View):
    def post(self, request, pk):
        notification = get_object_or_404(Notification.objects.restrict(request.user), pk=pk)
        mark_read(request.user, [notification.pk])
        if htmx_partial(request):
            notification.refresh_from_db(fields=["read_at"])
            html = render_to_string("core/notification_list.html#item",
                                    {"n": notification, "show_org": _show_org(request.user)}, request=request)
            return HttpResponse(html + bell_oob(request))
        return redirect("notification_list")


class NotificationReadAllView(LoginRequiredMixin, View):
    def post(self, request):
        count = mark_read(request.user, ALL)
        if htmx_partial(request):
            context = NotificationListView.context(request)
            html = render_to_string("core/notification_list.html#inbox", context, request=request)
            return HttpResponse(html + bell_oob(request))
        messages.success(request, f"已将 {count} 条通知标为已读")
        return redirect("notification_list")


# --- Channel settings -----------------------------------------------------------------------------------------------


class ChannelConfigForm(forms.ModelForm):
    kinds = forms.MultipleChoiceField(label="发送的通知类型", choices=NotificationKind.choices, required=False,
                                      widget=forms.CheckboxSelectMultiple(attrs={"class": "form-check-input"}),
                                      help_text="只有这些类型的通知会发送到群机器人和邮箱；站内通知不受影响")
    dingtalk_secret = forms.CharField(
        label="钉钉加签密钥", required=False, max_length=200,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="机器人安全设置选择“加签”时填写（以 SEC 开头）；已保存的密钥不再显示，留空表示不修改",
    )
    clear_dingtalk_secret = forms.BooleanField(label="清除已保存的加签密钥", required=False)

    class Meta:
        model = ChannelConfig
        fields = ["wecom_webhook", "dingtalk_webhook", "email_enabled", "kinds", "robot_digest"]
        widgets = {
            # Checked on the server with Chinese messages (a browser's own URL check answers in its language).
            "wecom_webhook": forms.TextInput(attrs={
                "inputmode": "url", "placeholder": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…"}),
            "dingtalk_webhook": forms.TextInput(attrs={
                "inputmode": "url", "placeholder": "https://oapi.dingtalk.com/robot/send?access_token=…"}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kinds"].initial = self.instance.kinds if self.instance.pk else DEFAULT_CHANNEL_KINDS
        self.order_fields(["wecom_webhook", "dingtalk_webhook", "dingtalk_secret", "clear_dingtalk_secret",
                           "email_enabled", "kinds", "robot_digest"])
        if not self.instance.dingtalk_secret:
            self.fields.pop("clear_dingtalk_secret")

    def clean_wecom_webhook(self):
        value = self.cleaned_data["wecom_webhook"].strip()
        return validate_webhook_url(value, DeliveryChannel.WECOM) if value else ""

    def clean_dingtalk_webhook(self):
        value = self.cleaned_data["dingtalk_webhook"].strip()
        return validate_webhook_url(value, DeliveryChannel.DINGTALK) if value else ""

    def clean_dingtalk_secret(self):
        value = self.cleaned_data["dingtalk_secret"].strip()
        if value and (len(value) < 8 or any(c.isspace() for c in value)):
            raise ValidationError("加签密钥格式不正确，请从钉钉机器人设置中完整复制（以 SEC 开头）。")
        return value

    def clean_email_enabled(self):
        value = self.cleaned_data["email_enabled"]
        if value and not email_channel.available():
            raise ValidationError("服务器尚未配置邮件发送（HOUQIN_EMAIL_HOST），请联系系统管理员后再开启。")
        return value

    def save(self, commit=True):
        config = super().save(commit=False)
        if self.cleaned_data.get("clear_dingtalk_secret"):
            config.dingtalk_secret = ""
        elif self.cleaned_data.get("dingtalk_secret"):
            config.dingtalk_secret = self.cleaned_data["dingtalk_secret"]
        if commit:
            config.save()
        return config


def _current_org(request):
    """``request.org`` unwrapped (the middleware sets a lazy object that may stand for None)."""
    org = getattr(request, "org", None)
    return org if getattr(org, "pk", None) is not None else None


class ChannelSettingsMixin(LoginRequiredMixin):
    def config(self) -> ChannelConfig:
        request = self.request
        org = _current_org(request)
        if org is None:
            raise PermissionDenied("请先选择单位。")
        if not user_can(request.user, "change", ChannelConfig, org_id=org.pk):
            raise PermissionDenied("只有本单位系统管理员可以设置通知渠道。")
        config = ChannelConfig.objects.select_related("org").filter(org=org).first()
        return config or ChannelConfig(org=org, kinds=list(DEFAULT_CHANNEL_KINDS))


class ChannelSettingsView(ChannelSettingsMixin, View):
    template_name = "core/notification_channels.html"

    def get(self, request):
        config = self.config()
        return self.show(config, ChannelConfigForm(instance=config))

    def post(self, request):
        config = self.config()
        form = ChannelConfigForm(request.POST, instance=config)
        if not form.is_valid():
            messages.error(request, "提交的内容有误，请按提示修改。")
            return self.show(config, form)
        with transaction.atomic():
            form.save()
        messages.success(request, "已保存通知渠道设置。")
        return redirect("notification_channels")

    def show(self, config, form):
        recent = []
        if config.pk:
            recent = list(Delivery.objects.filter(org=config.org).select_related("recipient")[:RECENT_DELIVERIES])
        context = {
            "form": form,
            "config": config,
            "has_channel": bool(config.pk and (config.robot_channels() or config.email_enabled)),
            "deliveries": recent,
            "email_available": email_channel.available(),
        }
        return render(self.request, self.template_name, context)


class ChannelTestView(ChannelSettingsMixin, View):
    def post(self, request):
        config = self.config()
        if not config.pk:
            messages.error(request, "请先保存通知渠道设置。")
            return redirect("notification_channels")
        deliveries = send_test_message(config, request.user)
        if not deliveries:
            note = "（您的账号没有登记邮箱）" if config.email_enabled and not request.user.email else ""
            messages.error(request, f"没有可发送的渠道，请先填写群机器人地址或开启邮件通知{note}。")
        else:
            names = "、".join(dict.fromkeys(d.get_channel_display() for d in deliveries))
            messages.success(request, f"测试消息已提交（{names}），将由后台任务发送，请稍后在发送记录中查看结果。")
        return redirect("notification_channels")


# --- Delivery log ---------------------------------------------------------------------------------------------------


class DeliveryListView(LoginRequiredMixin, View):
    template_name = "core/notification_deliveries.html"

    def get(self, request):
        user = request.user
        if not (user.is_superuser or access_for(user).orgs_for("core.view_delivery")):
            raise PermissionDenied("您没有查看发送记录的权限。")
        queryset = Delivery.objects.restrict(user, "view").select_related("org", "recipient")
        filters = {}
        for name, choices in (("status", DeliveryStatus), ("channel", DeliveryChannel), ("purpose", DeliveryPurpose)):
            value = request.GET.get(name, "")
            if value in choices.values:
                queryset = queryset.filter(**{name: value})
                filters[name] = value
        try:
            page = paginate(queryset, order="-created_at", per_page=DELIVERIES_PER_PAGE,
                            cursor=request.GET.get("cursor"))
        except BadCursor:
            page = paginate(queryset, order="-created_at", per_page=DELIVERIES_PER_PAGE, cursor=None)
        query = request.GET.copy()
        query.pop("cursor", None)
        org = _current_org(request)
        context = {
            "deliveries": page.rows,
            "page": page,
            "filters": filters,
            "query": query.urlencode(),
            "statuses": DeliveryStatus.choices,
            "channels": DeliveryChannel.choices,
            "purposes": DeliveryPurpose.choices,
            "show_org": user.is_superuser or len(access_for(user).orgs_for("core.view_delivery")) > 1,
            "can_configure": org is not None and user_can(user, "change", ChannelConfig, org_id=org.pk),
        }
        return render_page(request, self.template_name, context, partial="results")


urlpatterns = [
    path("", NotificationListView.as_view(), name="notification_list"),
    path("<int:pk>/", NotificationOpenView.as_view(), name="notification_open"),
    path("<int:pk>/read/", NotificationReadView.as_view(), name="notification_read"),
    path("read-all/", NotificationReadAllView.as_view(), name="notification_read_all"),
    path("channels/", ChannelSettingsView.as_view(), name="notification_channels"),
    path("channels/test/", ChannelTestView.as_view(), name="notification_channel_test"),
    path("deliveries/", DeliveryListView.as_view(), name="delivery_list"),
]

MENU_ITEMS = (
    navigation.MenuItem("通知渠道", "notification_channels", "core.change_channelconfig", "ti ti-broadcast"),
    navigation.MenuItem("发送记录", "delivery_list", "core.view_delivery", "ti ti-send"),
)


def urls() -> list:
    """The URL patterns, mounted at ``/notifications/`` by the root URLconf, which also adds the menu entries
    (only where the pages are mounted, so the menu never links to a missing URL)."""
    items = navigation.GROUPS["system"].items
    for item in MENU_ITEMS:
        if all(existing.url_name != item.url_name for existing in items):
            navigation.add_item("system", item)
    return urlpatterns
