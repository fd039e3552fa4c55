"""Forms and filter sets of preventive inspections: the plan form with its checklist, the phone form that fills in a
run, and the filter sets shared by the lists, their exports and the API."""

from __future__ import annotations

import django_filters
from django import forms

from houqin.core.filtersets import TenantFilterSet
from houqin.core.forms import TenantModelForm
from houqin.core.models import Building, Room, User
from houqin.core.ui import ui_for
from houqin.repairs.models.inspections import (
    HolidayRule,
    InspectionItem,
    InspectionPlan,
    InspectionRun,
    Outcome,
    RunState,
    ScheduleKind,
    responsible_q,
    responsible_role_choices,
)

# Which schedule fields each kind uses (the others are cleared on save, and hidden by the page's script).
KIND_FIELDS = {
    ScheduleKind.WEEKLY: ("weekday",),
    ScheduleKind.MONTHLY: ("month_day", "week_of_month", "weekday"),
    ScheduleKind.TERM: ("offset_days",),
    ScheduleKind.YEARLY: ("month", "month_day"),
    ScheduleKind.INTERVAL: ("every_days",),
}
SCHEDULE_FIELDS = ("weekday", "month_day", "week_of_month", "month", "every_days", "offset_days")


def staff_choices(org):
    """Members of the school, for the responsible person (no right to the accounts list needed)."""
    if org is None:
        return User.objects.none()
    return User.objects.filter(memberships__org=org, is_active=True).distinct().order_by("full_name", "username")


def room_choices(user, org):
    ui = ui_for(Room)
    qs = ui.base_queryset(user) if ui else Room.objects.restrict(user, "view")
    qs = qs.filter(is_active=True)
    return qs.filter(org=org) if org is not None else qs.none()


def asset_choices(user, org):
    """Cards on the books of the school, lean (their names need no join)."""
    from houqin.assets.models import Asset

    qs = Asset.objects.restrict(user, "view").filter(disposed_on__isnull=True)
    qs = qs.filter(org=org) if org is not None else qs.none()
    return qs.only("pk", "number", "name", "org_id").order_by("number")


class InspectionPlanForm(TenantModelForm):
    """A plan: what, who, when. Its checklist is the ``ItemFormSet`` on the same page."""

    responsible_role = forms.ChoiceField(label="负责岗位", required=False,
                                         help_text="该岗位的每个人都能完成检查并收到提醒；也可以只选负责人")

    class Meta:
        model = InspectionPlan
        fields = ["name", "target", "building", "rooms", "assets", "responsible", "responsible_role", "kind",
                  "weekday", "week_of_month", "month_day", "month", "every_days", "offset_days", "start_date",
                  "holiday_rule", "check_in_vacation", "lead_days", "repair_category", "is_active", "note"]
        widgets = {"rooms": forms.SelectMultiple(attrs={"size": 8}),
                   "assets": forms.SelectMultiple(attrs={"size": 8})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        fields = self.fields
        fields["responsible_role"].choices = [("", "不指定岗位"), *responsible_role_choices()]
        fields["responsible"].queryset = staff_choices(self.org)
        fields["rooms"].queryset = room_choices(self.user, self.org)
        fields["assets"].queryset = asset_choices(self.user, self.org)
        buildings = ui_for(Building).base_queryset(self.user) if ui_for(Building) else Building.objects.all()
        fields["building"].queryset = buildings.filter(org=self.org) if self.org is not None else buildings.none()
        fields["month"].widget = forms.Select(choices=[("", "请选择"), *[(m, f"{m} 月") for m in range(1, 13)]])
        for name in SCHEDULE_FIELDS:
            fields[name].widget.attrs["data-schedule-field"] = name
        fields["kind"].widget.attrs["data-schedule-kind"] = "1"
        if not self.instance.pk:
            from django.utils import timezone

            self.initial.setdefault("start_date", timezone.localdate())

    def clean(self):
        cleaned = super().clean()
        kind = cleaned.get("kind")
        used = KIND_FIELDS.get(kind, ())
        for name in SCHEDULE_FIELDS:
            if name not in used:
                cleaned[name] = 0 if name == "offset_days" else None
                setattr(self.instance, name, cleaned[name])
        return cleaned


class ItemForm(forms.ModelForm):
    position = forms.IntegerField(label="序号", required=False, min_value=0, max_value=999,
                                  widget=forms.NumberInput(attrs={"class": "form-control", "style": "width:5em"}))

    class Meta:
        model = InspectionItem
        fields = ["position", "text", "requires_photo", "urgent"]
        widgets = {"text": forms.TextInput(attrs={"class": "form-control", "placeholder": "如：滑梯连接件无松动"}),
                   "requires_photo": forms.CheckboxInput(attrs={"class": "form-check-input"}),
                   "urgent": forms.CheckboxInput(attrs={"class": "form-check-input"})}


class BaseItemFormSet(forms.BaseInlineFormSet):
    def clean(self):
        super().clean()
        if any(self.errors):
            return
        kept = [f for f in self.forms if f.cleaned_data.get("text") and not f.cleaned_data.get("DELETE")]
        if not kept:
            raise forms.ValidationError("请至少填写一个检查项目。")
        texts = [f.cleaned_data["text"].strip() for f in kept]
        if len(set(texts)) != len(texts):
            raise forms.ValidationError("检查项目有重复，请合并或删除重复的一项。")


ItemFormSet = forms.inlineformset_factory(InspectionPlan, InspectionItem, form=ItemForm, formset=BaseItemFormSet,
                                          extra=3, can_delete=True, max_num=40, validate_max=True)


# --- Filling in a run ------------------------------------------------------------------------------------------------
class RunForm(forms.Form):
    """The phone screen of one run: per checklist line a result (three big buttons), a note, a photo and — when it
    fails — where the problem is; then an overall note and photo and the signature (a data URL from the pad)."""

    note = forms.CharField(label="情况说明", required=False, max_length=500,
                           widget=forms.Textarea(attrs={"rows": 2, "placeholder": "可不填"}))
    photo = forms.FileField(label="现场照片", required=False,
                            widget=forms.ClearableFileInput(attrs={"accept": "image/*", "capture": "environment"}))
    signature = forms.CharField(label="检查人签名", required=False, widget=forms.HiddenInput)

    def __init__(self, *args, run: InspectionRun, items: list[InspectionItem], locations=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.run = run
        self.items = items
        self.locations = list(locations)
        location_choices = [("", "（不指定）"), *[(key, label) for key, label, _obj in self.locations]]
        for position, item in enumerate(items, start=1):
            prefix = f"item_{item.pk}"
            self.fields[f"{prefix}_outcome"] = forms.ChoiceField(
                label=f"{position}. {item.text}", choices=Outcome.choices, required=False, widget=forms.RadioSelect)
            self.fields[f"{prefix}_note"] = forms.CharField(
                label="说明", required=False, max_length=300,
                widget=forms.TextInput(attrs={"placeholder": "不合格时请写明问题" if not item.requires_photo
                                              else "可不填"}))
            self.fields[f"{prefix}_photo"] = forms.FileField(
                label="照片", required=False,
                widget=forms.ClearableFileInput(attrs={"accept": "image/*", "capture": "environment"}))
            if self.locations:
                self.fields[f"{prefix}_where"] = forms.ChoiceField(label="问题位置", required=False,
                                                                   choices=location_choices)

    def rows(self):
        """One entry per checklist line for the template: the item and its bound fields."""
        for position, item in enumerate(self.items, start=1):
            prefix = f"item_{item.pk}"
            yield {"position": position, "item": item, "key": prefix, "outcome": self[f"{prefix}_outcome"],
                   "note": self[f"{prefix}_note"], "photo": self[f"{prefix}_photo"],
                   "where": self[f"{prefix}_where"] if self.locations else None,
                   "errors": self.errors.get(prefix, [])}

    def answers(self):
        from houqin.repairs.inspections import Answer

        where = {key: obj for key, _label, obj in self.locations}
        answers = []
        for item in self.items:
            prefix = f"item_{item.pk}"
            place = where.get(self.cleaned_data.get(f"{prefix}_where") or "")
            answers.append(Answer(
                item=item.pk, outcome=self.cleaned_data.get(f"{prefix}_outcome") or "",
                note=self.cleaned_data.get(f"{prefix}_note") or "", photo=self.cleaned_data.get(f"{prefix}_photo"),
                room=place if isinstance(place, Room) else None,
                asset=place if place is not None and not isinstance(place, Room) else None))
        return answers

    def add_service_errors(self, errors: dict) -> None:
        """Put the service's errors (keyed ``item_<id>``, ``signature``, ``photo``, ``note``) next to their fields."""
        for key, messages in errors.items():
            if key in ("signature", "photo", "note"):
                for message in messages:
                    self.add_error(key, message)
            elif key.startswith("item_"):
                self._errors.setdefault(key, self.error_class()).extend(messages)
            else:
                for message in messages:
                    self.add_error(None, message)


def run_locations(run: InspectionRun) -> list[tuple[str, str, object]]:
    """Where a failed line may be: the plan's rooms and assets, else the rooms of its building."""
    plan = run.plan
    rooms = list(plan.rooms.select_related("campus", "building").order_by("name"))
    assets = list(plan.assets.only("pk", "number", "name", "org_id").order_by("number"))
    if not rooms and not assets and plan.building_id:
        rooms = list(Room.objects.filter(building_id=plan.building_id, is_active=True)
                     .select_related("campus", "building").order_by("number", "name"))
    return ([(f"room:{r.pk}", r.full_name, r) for r in rooms]
            + [(f"asset:{a.pk}", f"{a.number} {a.name}", a) for a in assets])


# --- Filter sets -----------------------------------------------------------------------------------------------------
class InspectionPlanFilterSet(TenantFilterSet):
    kind = django_filters.ChoiceFilter(choices=ScheduleKind.choices, label="检查周期")
    responsible_role = django_filters.ChoiceFilter(choices=responsible_role_choices, label="负责岗位")
    holiday_rule = django_filters.ChoiceFilter(choices=HolidayRule.choices, label="遇节假日")
    is_active = django_filters.BooleanFilter(label="启用")

    class Meta:
        model = InspectionPlan
        fields = ["q", "org", "kind", "responsible_role", "holiday_rule", "is_active"]


STATUS_CHOICES = (
    ("pending", "待检查"),
    ("overdue", "已逾期"),
    ("done", "已完成"),
    ("failed", "有不合格"),
    ("cancelled", "已取消"),
)


class InspectionRunFilterSet(TenantFilterSet):
    status = django_filters.ChoiceFilter(choices=STATUS_CHOICES, method="filter_status", label="状态")
    plan = django_filters.ModelChoiceFilter(queryset=InspectionPlan.objects.all(), label="巡检计划")
    due_after = django_filters.DateFilter(field_name="due_date", lookup_expr="gte", label="应检日期起")
    due_before = django_filters.DateFilter(field_name="due_date", lookup_expr="lte", label="应检日期止")
    mine = django_filters.BooleanFilter(method="filter_mine", label="我负责的")

    class Meta:
        model = InspectionRun
        fields = ["q", "org", "status", "plan", "due_after", "due_before", "mine"]

    def filter_status(self, queryset, name, value):
        if value == "failed":
            return queryset.filter(state=RunState.DONE, failed_count__gt=0)
        if value in RunState.values:
            return queryset.filter(state=value)
        return queryset

    def filter_mine(self, queryset, name, value):
        user = getattr(self.request, "user", None)
        if value is None or user is None or not user.is_authenticated:
            return queryset
        mine = responsible_q(user)
        return queryset.filter(mine) if value else queryset.exclude(mine)
