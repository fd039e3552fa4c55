"""报修维修设置 of the current school (``/repairs/settings/``; ``Organization.settings["repairs"]``, see
houqin.repairs.conf): who may report without signing in, working time for the time limits, labour rate, limits
and follow-up.

Read by whoever may view the school's work orders; changed by the office (``repairs.dispatch_workorder``). Every
change is in the school's change log."""

from __future__ import annotations

import datetime
import re
from decimal import Decimal

from django import forms
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, path, reverse
from django.views import View

from houqin.core import navigation
from houqin.core.auth import user_can
from houqin.core.middleware import current_org
from houqin.repairs import conf
from houqin.repairs.models import WorkOrder

WEEKDAYS = [(1, "周一"), (2, "周二"), (3, "周三"), (4, "周四"), (5, "周五"), (6, "周六"), (7, "周日")]
YES_NO = (("true", "是"), ("false", "否"))


def _to_bool(value) -> bool:
    return str(value).strip().lower() in ("true", "1", "yes", "on")


class DatesField(forms.CharField):
    """Dates, one per line or separated by commas or spaces: 2026-10-01 2026-10-02 …"""

    widget = forms.Textarea

    def to_python(self, value):
        text = super().to_python(value) or ""
        days, bad = set(), []
        for part in re.split(r"[\s,，、;；]+", text.strip()):
            if not part:
                continue
            try:
                days.add(datetime.date.fromisoformat(part.replace("/", "-")))
            except ValueError:
                bad.append(part)
        if bad:
            raise forms.ValidationError(f"日期格式不对：{'、'.join(bad[:5])}（请写成 2026-10-01）。")
        if len(days) > 400:
            raise forms.ValidationError("日期太多（最多 400 个）。")
        return sorted(days)


class RepairSettingsForm(forms.Form):
    report_requires_login = forms.TypedChoiceField(
        label="报修需要登录", choices=(("true", "需要登录（推荐）"), ("false", "不需要登录：扫码即可报修")),
        coerce=_to_bool, help_text="不需要登录时，访客扫描房间或资产二维码后填写姓名和电话即可报修，"
                                   "同一网络、同一电话每小时报修次数受下面的限制。")
    work_start = forms.TimeField(label="上班时间", help_text="计算受理、开工时限时只计工作时间")
    work_end = forms.TimeField(label="下班时间", help_text="“当天完工”指下班前完工")
    workdays = forms.TypedMultipleChoiceField(label="工作日", choices=WEEKDAYS, coerce=int,
                                              widget=forms.CheckboxSelectMultiple)
    holidays = DatesField(label="节假日", required=False,
                          help_text="按国务院办公厅放假安排填写，一行一个日期，如 2026-10-01；这些日子不计时")
    extra_workdays = DatesField(label="调休上班日", required=False, help_text="周末调休上班的日子，计时")
    sla_counts_off_hours = forms.TypedChoiceField(
        label="夜间和节假日是否计时", choices=(("false", "只计工作时间（默认）"), ("true", "全天计时")),
        coerce=_to_bool, help_text="特急（安全隐患）的时限总是全天计时")
    same_day_cutoff = forms.TimeField(label="当天完工的截止报修时间",
                                      help_text="此时间以后的报修，“当天完工”顺延到下一个工作日")
    escalate_after_minutes = forms.IntegerField(label="超时多久报告校长（分钟，按工作时间）", min_value=0,
                                                max_value=60 * 24 * 30)
    labour_rate = forms.DecimalField(label="工时单价（元/小时）", min_value=0, max_digits=8, decimal_places=2,
                                     help_text="维修费用 = 材料费 + 工时 × 工时单价 + 外修费")
    reports_per_hour = forms.IntegerField(label="免登录报修每小时次数上限", min_value=1, max_value=1000,
                                          help_text="按同一网络地址和同一电话分别计算，防止恶意提交")
    visit_within_hours = forms.IntegerField(label="完工后多少小时内回访", min_value=1, max_value=24 * 30)
    technicians_self_assign = forms.TypedChoiceField(
        label="维修人员可以自己接单", choices=(("true", "可以（“我来修”）"), ("false", "不可以，只能由总务处派工")),
        coerce=_to_bool)
    completion_photo_required = forms.TypedChoiceField(
        label="维修人员完工时必须拍照", choices=(("true", "必须"), ("false", "不必")), coerce=_to_bool)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            if isinstance(field.widget, forms.CheckboxSelectMultiple):
                field.widget.attrs["class"] = "form-check-input"
            elif isinstance(field.widget, forms.Select):
                field.widget.attrs["class"] = "form-select"
            elif isinstance(field.widget, forms.Textarea):
                field.widget.attrs.update({"class": "form-control", "rows": 3})
            else:
                field.widget.attrs["class"] = "form-control"
                if isinstance(field, forms.TimeField):
                    field.widget.input_type = "time"
        for name in ("work_start", "work_end", "same_day_cutoff"):
            self.fields[name].error_messages["invalid"] = "请填写时间，如 07:30。"

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("work_start"), cleaned.get("work_end")
        if start and end and end <= start:
            self.add_error("work_end", "下班时间必须晚于上班时间。")
        if not cleaned.get("workdays") and "workdays" not in self.errors:
            self.add_error("workdays", "至少选择一个工作日。")
        return cleaned

    @staticmethod
    def initial_for(org) -> dict:
        values = conf.current_settings(org)
        values["holidays"] = "\n".join(values["holidays"])
        values["extra_workdays"] = "\n".join(values["extra_workdays"])
        for key in ("report_requires_login", "sla_counts_off_hours", "technicians_self_assign",
                    "completion_photo_required"):
            values[key] = "true" if values[key] else "false"
        return values

    def cleaned_values(self) -> dict:
        data = self.cleaned_data
        return {
            **{k: data[k] for k in ("report_requires_login", "sla_counts_off_hours", "escalate_after_minutes",
                                    "reports_per_hour", "visit_within_hours", "technicians_self_assign",
                                    "completion_photo_required")},
            "work_start": data["work_start"].strftime("%H:%M"), "work_end": data["work_end"].strftime("%H:%M"),
            "same_day_cutoff": data["same_day_cutoff"].strftime("%H:%M"), "workdays": sorted(data["workdays"]),
            "holidays": [d.isoformat() for d in data["holidays"]],
            "extra_workdays": [d.isoformat() for d in data["extra_workdays"]],
            "labour_rate": str(Decimal(data["labour_rate"]).quantize(Decimal("0.01"))),
        }


class RepairSettingsView(LoginRequiredMixin, View):
    template_name = "repairs/settings.html"

    def school(self, request):
        org = current_org(request)
        user = request.user
        if org is None or org.is_bureau or not (user_can(user, "view", WorkOrder, org_id=org.pk)
                                                or user_can(user, "dispatch", WorkOrder, org_id=org.pk)):
            raise PermissionDenied("您没有查看本校报修维修设置的权限。")
        return org, user_can(user, "dispatch", WorkOrder, org_id=org.pk)

    def get(self, request):
        org, can_edit = self.school(request)
        return self.show(org, RepairSettingsForm(initial=RepairSettingsForm.initial_for(org)), can_edit)

    def post(self, request):
        org, can_edit = self.school(request)
        if not can_edit:
            raise PermissionDenied("只有总务处可以修改报修维修设置。")
        form = RepairSettingsForm(request.POST)
        if not form.is_valid():
            messages.error(request, "提交的内容有误，请按提示修改。")
            return self.show(org, form, can_edit)
        conf.save_settings(org, form.cleaned_values())
        messages.success(request, "报修维修设置已保存。新的时限规则用于今后的报修。")
        return redirect(reverse("repairs:settings"))

    def show(self, org, form, can_edit):
        try:
            changelog_url = reverse("core:organization_changelog", args=[org.pk])
        except NoReverseMatch:
            changelog_url = None
        return render(self.request, self.template_name, {
            "org": org, "form": form, "can_edit": can_edit, "changelog_url": changelog_url,
            "values": conf.current_settings(org)})


navigation.add_item("repairs", navigation.MenuItem("报修维修设置", "repairs:settings", "repairs.dispatch_workorder",
                                                   "ti ti-adjustments"))

urlpatterns = [path("settings/", RepairSettingsView.as_view(), name="settings")]
