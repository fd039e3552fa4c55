"""Forms of the work-order part of the repairs app: the report form (phone first: place, category, description,
photos, urgency, contact), the small one-screen forms of the commands, and the settings rows (categories, time
limits, technicians)."""

from __future__ import annotations

from django import forms
from django.db.models import Q

from houqin.core.forms import TenantModelForm
from houqin.core.models import Room, User
from houqin.core.ui import ui_for
from houqin.repairs.models import RepairCategory, Scale, SLARule, Technician, Trade, Urgency

TEXTAREA = {"class": "form-control", "rows": 3}


def school_rooms(org):
    ui = ui_for(Room)
    rooms = Room.objects.filter(org=org, is_active=True)
    if ui is not None and ui.select_related:
        rooms = rooms.select_related(*ui.select_related)
    return rooms.order_by("campus__name", "building__name", "number", "name")


def school_members(org):
    """Members of the school (for 代报 and technician profiles), without needing the right to list accounts."""
    if org is None:
        return User.objects.none()
    return User.objects.filter(memberships__org=org, is_active=True).distinct().order_by("full_name", "username")


class RoomField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return obj.full_name


class CategoryField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return obj.name


class ReportForm(forms.Form):
    """报修: where, what, how urgent, and how to reach the reporter. Photos come as ``request.FILES["photos"]``."""

    room = RoomField(queryset=Room.objects.none(), label="报修地点", required=False,
                     help_text="选择房间或区域；不在列表里就在“具体位置”中写清楚")
    place = forms.CharField(label="具体位置", max_length=100, required=False,
                            widget=forms.TextInput(attrs={"class": "form-control",
                                                          "placeholder": "如：讲台左侧插座、操场东侧路灯"}))
    category = CategoryField(queryset=RepairCategory.objects.none(), label="哪类问题", empty_label=None,
                             widget=forms.RadioSelect)
    description = forms.CharField(label="坏了什么", max_length=500,
                                  widget=forms.Textarea(attrs={**TEXTAREA, "placeholder": "如：水龙头关不紧一直滴水"}))
    urgency = forms.ChoiceField(label="紧急程度", choices=Urgency.choices, initial=Urgency.NORMAL,
                                widget=forms.RadioSelect)
    reporter_name = forms.CharField(label="您的姓名", max_length=40, required=False,
                                    widget=forms.TextInput(attrs={"class": "form-control", "autocomplete": "name"}))
    reporter_phone = forms.CharField(label="联系电话", max_length=20, required=False,
                                     widget=forms.TextInput(attrs={"class": "form-control", "inputmode": "tel",
                                                                   "autocomplete": "tel"}))
    reporter = forms.ModelChoiceField(queryset=User.objects.none(), label="报修人（本校人员）", required=False,
                                      help_text="电话报修或口头报修时，选择报修的老师；校外人员填写姓名")

    def __init__(self, *args, org, fixed_room=None, fixed_asset=None, anonymous=False, proxy=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.org, self.fixed_room, self.fixed_asset = org, fixed_room, fixed_asset
        self.anonymous, self.proxy = anonymous, proxy
        self.fields["category"].queryset = RepairCategory.objects.filter(org=org, is_active=True).order_by(
            "sort_order", "name")
        if fixed_room is not None or fixed_asset is not None:
            del self.fields["room"]
        else:
            self.fields["room"].queryset = school_rooms(org)
            self.fields["room"].widget.attrs["class"] = "form-select"
            self.fields["room"].empty_label = "请选择"
        if proxy:
            self.fields["reporter"].queryset = school_members(org)
            self.fields["reporter"].widget.attrs["class"] = "form-select"
            self.fields["reporter"].empty_label = "（校外或不选）"
            self.fields["reporter_name"].label = "报修人姓名"
            self.fields["reporter_name"].help_text = "未选择本校人员时填写"
        else:
            del self.fields["reporter"]
            if not anonymous:
                del self.fields["reporter_name"]
        if anonymous:
            self.fields["reporter_name"].required = True
            self.fields["reporter_phone"].required = True
        self.fields["reporter_phone"].help_text = "维修人员上门前会联系您" if anonymous else "留空则用账号中的手机号"

    def clean(self):
        cleaned = super().clean()
        if "room" in self.fields and not cleaned.get("room") and not (cleaned.get("place") or "").strip():
            self.add_error("room", "请选择报修地点，或填写具体位置。")
        return cleaned


# --- One-screen forms of the commands ----------------------------------------------------------------------------
class ReasonForm(forms.Form):
    reason = forms.CharField(label="原因", max_length=300, widget=forms.Textarea(attrs=TEXTAREA))

    def __init__(self, *args, label="原因", required=True, placeholder="", **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["reason"]
        field.label, field.required = label, required
        field.widget.attrs["placeholder"] = placeholder


class DispatchForm(forms.Form):
    assignee = forms.ChoiceField(label="派给", widget=forms.RadioSelect)
    note = forms.CharField(label="派工说明", max_length=300, required=False,
                           widget=forms.TextInput(attrs={"class": "form-control", "placeholder": "如：带梯子"}))

    def __init__(self, *args, candidates=(), suggested=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.candidates = {str(c.user.pk): c for c in candidates}
        self.fields["assignee"].choices = [(str(c.user.pk), ("【推荐】" if c is suggested else "") + c.label)
                                           for c in candidates]
        if suggested is not None:
            self.fields["assignee"].initial = str(suggested.user.pk)

    def clean_assignee(self):
        value = self.cleaned_data["assignee"]
        candidate = self.candidates.get(value)
        if candidate is None:
            raise forms.ValidationError("请选择维修人员。")
        return candidate.user


class OutsideForm(forms.Form):
    contractor = forms.CharField(label="外修单位", max_length=100,
                                 widget=forms.TextInput(attrs={"class": "form-control",
                                                               "placeholder": "如：县城某某空调维修部"}))
    quote = forms.DecimalField(label="报价（元）", min_value=0, max_digits=12, decimal_places=2,
                               widget=forms.NumberInput(attrs={"class": "form-control", "inputmode": "decimal",
                                                               "step": "0.01"}))
    reason = forms.CharField(label="为什么要外修", max_length=300,
                             widget=forms.Textarea(attrs={**TEXTAREA, "placeholder": "如：压缩机损坏，需专业维修"}))


class CompleteForm(forms.Form):
    """完工. Materials come as the lists ``material_name``, ``material_qty``, ``material_unit``, ``material_price``;
    photos as ``request.FILES["photos"]``."""

    work_done = forms.CharField(label="修了什么", max_length=500,
                                widget=forms.Textarea(attrs={**TEXTAREA, "placeholder": "如：更换水龙头阀芯"}))
    labour_hours = forms.DecimalField(label="用了几小时", min_value=0, max_value=999, decimal_places=1,
                                      required=False, initial=1,
                                      widget=forms.NumberInput(attrs={"class": "form-control", "inputmode": "decimal",
                                                                      "step": "0.5"}))
    outside_cost = forms.DecimalField(label="外修实际费用（元）", min_value=0, max_digits=12, decimal_places=2,
                                      required=False,
                                      widget=forms.NumberInput(attrs={"class": "form-control", "step": "0.01",
                                                                      "inputmode": "decimal"}))

    def __init__(self, *args, outside=False, **kwargs):
        super().__init__(*args, **kwargs)
        if not outside:
            del self.fields["outside_cost"]


def materials_from(data) -> list[dict]:
    names, quantities = data.getlist("material_name"), data.getlist("material_qty")
    units, prices = data.getlist("material_unit"), data.getlist("material_price")
    rows = []
    for i, name in enumerate(names):
        rows.append({"name": name, "quantity": quantities[i] if i < len(quantities) else "",
                     "unit": units[i] if i < len(units) else "", "unit_price": prices[i] if i < len(prices) else ""})
    return rows


RATING_CHOICES = [("5", "5 星 · 非常满意"), ("4", "4 星 · 满意"), ("3", "3 星 · 一般"), ("2", "2 星 · 不满意"),
                  ("1", "1 星 · 很不满意")]


class SignOffForm(forms.Form):
    rating = forms.ChoiceField(label="给维修打个分", choices=RATING_CHOICES, required=False, widget=forms.RadioSelect)
    comment = forms.CharField(label="说两句（可不填）", max_length=300, required=False,
                              widget=forms.Textarea(attrs={**TEXTAREA, "rows": 2}))
    reason = forms.CharField(label="代为验收的原因", max_length=300, required=False,
                             widget=forms.Textarea(attrs={**TEXTAREA, "rows": 2,
                                                          "placeholder": "如：报修人电话确认已修好"}))

    def __init__(self, *args, on_behalf=False, **kwargs):
        super().__init__(*args, **kwargs)
        if on_behalf:
            del self.fields["rating"], self.fields["comment"]
            self.fields["reason"].required = True
        else:
            del self.fields["reason"]


class VisitForm(forms.Form):
    note = forms.CharField(label="回访情况", max_length=300,
                           widget=forms.Textarea(attrs={**TEXTAREA,
                                                        "placeholder": "如：电话回访，报修人表示已正常使用"}))
    rating = forms.ChoiceField(label="报修人口头评价（尚未评价时填写）", choices=[("", "不填"), *RATING_CHOICES],
                               required=False, widget=forms.Select(attrs={"class": "form-select"}))


class ClassifyForm(forms.Form):
    category = CategoryField(queryset=RepairCategory.objects.none(), label="报修类别",
                             widget=forms.Select(attrs={"class": "form-select"}))
    urgency = forms.ChoiceField(label="紧急程度", choices=Urgency.choices,
                                widget=forms.Select(attrs={"class": "form-select"}))
    scale = forms.ChoiceField(label="维修规模", choices=Scale.choices,
                              widget=forms.Select(attrs={"class": "form-select"}),
                              help_text="小修：当天完工（不过夜）；大修：需配件或外修，按大修时限")
    note = forms.CharField(label="说明", max_length=300, required=False,
                           widget=forms.TextInput(attrs={"class": "form-control"}))

    def __init__(self, *args, org, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["category"].queryset = RepairCategory.objects.filter(org=org, is_active=True)


# --- Settings rows ------------------------------------------------------------------------------------------------
class RepairCategoryForm(TenantModelForm):
    class Meta:
        model = RepairCategory
        fields = ["name", "trade", "description", "sort_order", "is_active"]


class SLARuleForm(TenantModelForm):
    class Meta:
        model = SLARule
        fields = ["urgency", "category", "accept_minutes", "start_minutes", "finish_minutes", "finish_days",
                  "major_finish_days", "all_hours", "note"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["category"].empty_label = "全部类别"


class TechnicianForm(TenantModelForm):
    trades = forms.MultipleChoiceField(label="工种", choices=Trade.choices, required=False,
                                       widget=forms.CheckboxSelectMultiple(attrs={"class": "form-check-input"}),
                                       help_text="不选表示综合（各类维修都可派给他）")

    class Meta:
        model = Technician
        fields = ["user", "trades", "phone", "is_active", "note"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Any member of the school may be given a technician profile, without the right to list accounts.
        members = school_members(self.org)
        if self.instance.pk:
            members = User.objects.filter(Q(pk__in=members.values("pk")) | Q(pk=self.instance.user_id)).distinct()
        self.fields["user"].queryset = members
        self.fields["user"].label_from_instance = lambda u: u.get_full_name()
