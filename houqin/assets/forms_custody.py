"""Forms and list filters of the custody commands (领用、退库、调拨、借出、归还、补签).

The forms only collect and shape the input; the rules (status, pending transfers, members of the school, the
signature) are the commands' (houqin.assets.custody), whose ValidationErrors come back onto these forms' fields.
Each command form carries ``version``: the card's status and custody as the page showed them, so that a command
posted after someone else moved the card is refused instead of overwriting that move.
"""

from __future__ import annotations

import datetime

import django_filters
from django import forms
from django.db.models import Q
from django.utils import timezone

from houqin.assets.custody import fingerprint
from houqin.assets.forms import staff_choices
from houqin.assets.models import AssetLoan, AssetTransfer, LoanCondition, TransferStatus
from houqin.assets.models.custody import RETURN_CONDITIONS
from houqin.core.filtersets import TenantFilterSet
from houqin.core.models import Department, Room, RoomType
from houqin.core.ui import ui_for

DEFAULT_LOAN_DAYS = 7


class PersonField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.get_full_name()}（{obj.username}）" if obj.full_name else obj.username


def department_choices(user, org, current_id=None):
    qs = Department.objects.restrict(user, "view").filter(org=org)
    return qs.filter(Q(is_active=True) | Q(pk=current_id)).order_by("kind", "name")


def rooms_for(user, org, current_id=None):
    """Rooms of the school in use (and the card's current one, even if no longer in use), with the campus and
    building their names show (one query for the whole list)."""
    room_ui = ui_for(Room)
    qs = room_ui.base_queryset(user) if room_ui else Room.objects.restrict(user, "view")
    return qs.filter(org=org).filter(Q(is_active=True) | Q(pk=current_id)).order_by("campus", "building", "number",
                                                                                    "name")


class CommandForm(forms.Form):
    """Base of the card command forms: the card, its school and the user; ``version`` as the page showed it."""

    version = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, asset, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.asset, self.user, self.org = asset, user, asset.org
        if not self.is_bound:
            self.initial.setdefault("version", fingerprint(asset))
        for field in self.fields.values():
            if isinstance(field.widget, forms.Select):
                field.widget.attrs.setdefault("class", "form-select")
            elif isinstance(field.widget, forms.CheckboxInput):
                field.widget.attrs.setdefault("class", "form-check-input")
            elif not isinstance(field.widget, forms.HiddenInput | forms.RadioSelect):
                field.widget.attrs.setdefault("class", "form-control")
            if isinstance(field, forms.ModelChoiceField):
                field.empty_label = "请选择"

    def rooms(self, current_id=None):
        return rooms_for(self.user, self.org, current_id)

    @property
    def expected(self) -> str | None:
        return (self.cleaned_data.get("version") or None) if hasattr(self, "cleaned_data") else None


class AssignForm(CommandForm):
    department = forms.ModelChoiceField(Department.objects.none(), label="领用部门")
    custodian = PersonField(None, label="保管人（使用人）", required=False,
                            help_text="不选时由存放地点的责任人保管（如教室财产由班主任保管）")
    room = forms.ModelChoiceField(None, label="存放地点", required=False)
    note = forms.CharField(label="备注", max_length=200, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["department"].queryset = department_choices(self.user, self.org)
        self.fields["custodian"].queryset = staff_choices(self.org)
        self.fields["room"].queryset = self.rooms()
        if not self.is_bound:
            self.initial.setdefault("department", self.asset.department_id)
            self.initial.setdefault("room", self.asset.room_id)


class ReturnToStoreForm(CommandForm):
    room = forms.ModelChoiceField(None, label="退回的仓库（存放地点）", required=False,
                                  help_text="不选则存放地点不变；退库后该资产不再有保管人")
    note = forms.CharField(label="退库原因", max_length=200, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        rooms = self.rooms()
        self.fields["room"].queryset = rooms
        if not self.is_bound:
            store = rooms.filter(room_type=RoomType.STOREROOM).order_by("pk").first()
            if store is not None:
                self.initial.setdefault("room", store.pk)


class TransferForm(CommandForm):
    department = forms.ModelChoiceField(None, label="使用部门", required=False,
                                        help_text="改变使用部门须经总务主任审批，审批通过后一次调拨到位")
    room = forms.ModelChoiceField(None, label="存放地点", required=False)
    custodian = PersonField(None, label="保管人（使用人）", required=False,
                            help_text="不选时由存放地点的责任人保管")
    reason = forms.CharField(label="调拨原因", max_length=200, required=False,
                             widget=forms.TextInput(attrs={"placeholder": "如：教师调岗、教室调整"}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        asset = self.asset
        self.fields["department"].queryset = department_choices(self.user, self.org, asset.department_id)
        self.fields["room"].queryset = self.rooms(asset.room_id)
        self.fields["custodian"].queryset = staff_choices(self.org)
        self.fields["department"].empty_label = "（不属于任何部门）"
        self.fields["room"].empty_label = "（不指定地点）"
        self.fields["custodian"].empty_label = "（不指定，由存放地点的责任人保管）"
        if not self.is_bound:
            self.initial.update({"department": asset.department_id, "room": asset.room_id,
                                 "custodian": asset.custodian_id})


class CardChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj):
        holder = obj.custodian_display or "—"
        return f"{obj.number} {obj.name}（{obj.get_status_display()}，保管人：{holder}）"


class BatchTransferForm(forms.Form):
    """批量调拨: the cards of one room or department (picked from the list), moved to the same target; a target
    left empty stays as each card has it."""

    from_room = forms.ModelChoiceField(None, label="原存放地点", required=False)
    from_department = forms.ModelChoiceField(None, label="原使用部门", required=False)
    assets = CardChoiceField(None, label="调拨的资产", required=False,
                             widget=forms.CheckboxSelectMultiple(attrs={"class": "form-check-input m-0"}))
    department = forms.ModelChoiceField(None, label="调往使用部门", required=False,
                                        help_text="不选则不变；改变使用部门须经总务主任审批（每件资产一份审批单）")
    room = forms.ModelChoiceField(None, label="调往存放地点", required=False, help_text="不选则不变")
    custodian = PersonField(None, label="新保管人", required=False, help_text="不选则不变")
    reason = forms.CharField(label="调拨原因", max_length=200, required=False,
                             widget=forms.TextInput(attrs={"placeholder": "如：教室调整、办公室搬迁"}))

    def __init__(self, *args, user, org, cards, **kwargs):
        super().__init__(*args, **kwargs)
        self.user, self.org = user, org
        rooms = rooms_for(user, org)
        departments = department_choices(user, org)
        self.fields["from_room"].queryset = rooms
        self.fields["from_department"].queryset = departments
        self.fields["room"].queryset = rooms
        self.fields["department"].queryset = departments
        self.fields["custodian"].queryset = staff_choices(org)
        self.fields["assets"].queryset = cards
        for name, field in self.fields.items():
            if isinstance(field, forms.ModelChoiceField) and name != "assets":
                field.empty_label = "全部" if name.startswith("from_") else "不变"
                field.widget.attrs.setdefault("class", "form-select")
        self.fields["reason"].widget.attrs.setdefault("class", "form-control")

    def clean(self):
        data = super().clean()
        if not any(data.get(k) for k in ("department", "room", "custodian")):
            raise forms.ValidationError("请至少选择一项调拨目标（使用部门、存放地点或保管人）。")
        return data


class SignatureField(forms.CharField):
    """The signature drawn on the screen, posted as a PNG data URL by assets/signature.js."""

    widget = forms.HiddenInput

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", 800_000)
        kwargs.setdefault("strip", True)
        super().__init__(**kwargs)


BORROWER_KINDS = (("member", "本校人员"), ("outsider", "校外人员"))


class LendForm(CommandForm):
    borrower_kind = forms.ChoiceField(label="借用人类型", choices=BORROWER_KINDS, initial="member",
                                      widget=forms.RadioSelect)
    borrower = PersonField(None, label="借用人（本校人员）", required=False)
    borrower_name = forms.CharField(label="借用人姓名", max_length=60, required=False)
    borrower_phone = forms.CharField(label="联系电话", max_length=30, required=False,
                                     widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "tel"}))
    purpose = forms.CharField(label="用途", max_length=200,
                              widget=forms.TextInput(attrs={"placeholder": "如：外出赛课、活动拍摄"}))
    due_on = forms.DateField(label="应还日期", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    signature = SignatureField(label="借用人签字")
    signature_later = forms.BooleanField(label="借用人不在场，稍后补签", required=False)
    note = forms.CharField(label="备注", max_length=200, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["borrower"].queryset = staff_choices(self.org)
        if not self.is_bound:
            self.initial.setdefault("due_on", timezone.localdate() + datetime.timedelta(days=DEFAULT_LOAN_DAYS))
        self.fields["purpose"].error_messages["required"] = "请填写借用用途。"
        self.fields["due_on"].error_messages["required"] = "请选择应还日期。"

    def clean(self):
        data = super().clean()
        if data.get("borrower_kind") == "member":
            if not data.get("borrower") and "borrower" not in self.errors:
                self.add_error("borrower", "请选择借用人。")
            data["borrower_name"] = ""
        else:
            data["borrower"] = None
        return data


class LoanReturnForm(forms.Form):
    condition = forms.ChoiceField(label="归还时资产状况", choices=RETURN_CONDITIONS, initial=LoanCondition.GOOD,
                                  widget=forms.RadioSelect)
    note = forms.CharField(label="归还说明", max_length=200, required=False,
                           help_text="有损坏时请写明损坏情况，归还后再登记损坏")
    signature = SignatureField(label="归还人签字（可选）")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["note"].widget.attrs.setdefault("class", "form-control")


class LoanSignForm(forms.Form):
    signature = SignatureField(label="借用人签字", required=True,
                               error_messages={"required": "请借用人在屏幕上签字。"})


# --- List filters (the lists, their exports and the API) -------------------------------------------------------------
LOAN_STATES = (("open", "借用中"), ("returned", "已归还"), ("overdue", "逾期未还"), ("lost", "借出期间丢失"))


class AssetLoanFilterSet(TenantFilterSet):
    state = django_filters.ChoiceFilter(choices=LOAN_STATES, method="filter_state", label="状态")
    signature_pending = django_filters.BooleanFilter(label="待补签")
    lent_after = django_filters.DateFilter(field_name="lent_at", lookup_expr="date__gte", label="借出日期起")
    lent_before = django_filters.DateFilter(field_name="lent_at", lookup_expr="date__lte", label="借出日期止")

    class Meta:
        model = AssetLoan
        fields = ["q", "org", "state", "signature_pending", "lent_after", "lent_before"]

    def filter_state(self, queryset, name, value):
        if value == "open":
            return queryset.filter(returned_at__isnull=True)
        if value == "returned":
            return queryset.filter(returned_at__isnull=False).exclude(return_condition=LoanCondition.LOST)
        if value == "lost":
            return queryset.filter(returned_at__isnull=False, return_condition=LoanCondition.LOST)
        if value == "overdue":
            return queryset.filter(returned_at__isnull=True, due_on__lt=timezone.localdate())
        return queryset


class AssetTransferFilterSet(TenantFilterSet):
    status = django_filters.ChoiceFilter(choices=TransferStatus.choices, label="状态")
    needs_approval = django_filters.BooleanFilter(label="跨部门（须审批）")
    department = django_filters.ModelChoiceFilter(queryset=Department.objects.all(), field_name="to_department",
                                                  method="filter_department", label="涉及部门")
    created_after = django_filters.DateFilter(field_name="created_at", lookup_expr="date__gte", label="日期起")
    created_before = django_filters.DateFilter(field_name="created_at", lookup_expr="date__lte", label="日期止")

    class Meta:
        model = AssetTransfer
        fields = ["q", "org", "status", "needs_approval", "department", "created_after", "created_before"]

    def filter_department(self, queryset, name, value):
        if not value:
            return queryset
        return queryset.filter(Q(from_department=value) | Q(to_department=value))
