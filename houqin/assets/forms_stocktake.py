"""Forms of stocktaking: the plan (scope, counters, dates) and an item found that is not on the books (盘盈)."""

from __future__ import annotations

from decimal import Decimal

from django import forms

from houqin.assets import stocktake as services
from houqin.assets.forms import category_choices, room_choices, staff_choices
from houqin.assets.models import FOUND_STATUS_CHOICES, Stocktake, StocktakeCounter, StocktakeStatus
from houqin.core.forms import TenantModelForm
from houqin.core.models import Building, Campus, Department, User
from houqin.core.ui import visible


class StaffMultipleField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj):
        return obj.get_full_name() or obj.username


CHECKBOX_FIELDS = ("campuses", "buildings", "rooms", "departments", "categories")


class StocktakeForm(TenantModelForm):
    """盘点计划: what to count (places, departments, categories), who counts and when. Changed only as a 草稿."""

    counters = StaffMultipleField(label="盘点人", queryset=User.objects.none(), required=False,
                                  widget=forms.CheckboxSelectMultiple,
                                  help_text="本校人员，可多选；资产管理员和总务主任无需选择也可盘点。"
                                            "开始前可在“分工”中为每人分配房间。")

    class Meta:
        model = Stocktake
        fields = ["name", "planned_start", "planned_end", "campuses", "buildings", "rooms", "departments",
                  "categories", "allow_self_audit", "note"]
        widgets = dict.fromkeys(CHECKBOX_FIELDS, forms.CheckboxSelectMultiple)
        help_texts = {"rooms": "可与校区、楼栋同时选；都不选则盘点全校",
                      "departments": "不选则包括全部部门", "categories": "含下级分类；不选则包括全部分类"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        org = self.org
        fields = self.fields
        fields["counters"].queryset = staff_choices(org)
        fields["categories"].queryset = category_choices(self.user, org).filter(level__lte=3)
        fields["categories"].label_from_instance = lambda c: f"{'　' * (c.level - 1)}{c.code} {c.name}"
        fields["rooms"].queryset = room_choices(self.user, org)
        fields["buildings"].queryset = visible(Building, self.user).filter(org=org) if org else Building.objects.none()
        fields["campuses"].queryset = visible(Campus, self.user).filter(org=org) if org else Campus.objects.none()
        fields["departments"].queryset = (visible(Department, self.user).filter(org=org, is_active=True)
                                          if org else Department.objects.none())
        for name in (*CHECKBOX_FIELDS, "counters"):
            fields[name].widget.attrs["class"] = "form-check-input"
        if self.instance.pk:
            self.initial.setdefault("counters", list(
                StocktakeCounter.objects.filter(stocktake=self.instance).values_list("user_id", flat=True)))

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk and self.instance.status != StocktakeStatus.DRAFT:
            raise forms.ValidationError(f"该盘点{self.instance.get_status_display()}，只有草稿状态的盘点可以修改。")
        return cleaned

    def save(self, commit=True):
        stocktake = super().save(commit=commit)
        if commit:
            services.set_counters(stocktake, self.cleaned_data.get("counters") or [])
            services.refresh_scope(stocktake)
        return stocktake


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files from one input (checked and stored by core's attachments service)."""

    def clean(self, data, initial=None):
        if isinstance(data, list | tuple):
            return [super(MultipleFileField, self).clean(item, initial) for item in data if item]
        return super().clean(data, initial)


class SurplusForm(forms.Form):
    """盘盈: an item in the room that is not on the books."""

    name = forms.CharField(label="物品名称", max_length=100,
                           widget=forms.TextInput(attrs={"placeholder": "如：办公椅"}))
    description = forms.CharField(label="描述", max_length=200, required=False,
                                  widget=forms.TextInput(attrs={"placeholder": "品牌、型号、颜色、旧标签上的字等"}))
    quantity = forms.IntegerField(label="数量", min_value=1, max_value=100000, initial=1)
    unit = forms.CharField(label="单位", max_length=10, initial="台")
    estimated_value = forms.DecimalField(label="估计价值（元，合计）", min_value=Decimal("0"), max_digits=14,
                                         decimal_places=2, initial=Decimal("0"), required=False,
                                         help_text="不清楚可填 0，由资产管理员补登时核实")
    found_status = forms.ChoiceField(label="实物状态", choices=FOUND_STATUS_CHOICES, initial="in_use")
    photos = MultipleFileField(label="照片", required=False,
                             widget=MultipleFileInput(attrs={"accept": "image/*", "capture": "environment"}))

    def clean_estimated_value(self):
        return self.cleaned_data.get("estimated_value") or Decimal("0")
