"""Forms of the assets app. Registering a card and editing it are different forms: the register form takes the
registration facts and saves through ``services.register_asset``; the edit form offers the descriptive fields only
(status, number, value, category, place and custodian change through commands)."""

from __future__ import annotations

from django import forms
from django.db.models import Q

from houqin.assets import services
from houqin.assets.conf import category_edition
from houqin.assets.models import Asset, AssetCategory
from houqin.core.forms import TenantModelForm
from houqin.core.models import Department, Room, User
from houqin.core.ui import ui_for


def category_choices(user, org):
    """Categories a card of ``org`` may use: active national ones of the school's edition and the school's own."""
    qs = AssetCategory.objects.restrict(user, "view").filter(is_active=True)
    if org is not None:
        qs = qs.for_org(org).filter(edition=category_edition(org))
    return qs.order_by("path")


def staff_choices(org):
    """Members of the school, for the custodian field. Whoever may register or edit the school's cards may pick
    any member as custodian, even without the right to view user accounts."""
    if org is None:
        return User.objects.none()
    return User.objects.filter(memberships__org=org, is_active=True).distinct().order_by("full_name", "username")


def room_choices(user, org):
    room_ui = ui_for(Room)
    qs = room_ui.base_queryset(user) if room_ui else Room.objects.restrict(user, "view")
    qs = qs.filter(is_active=True)
    return qs.filter(org=org) if org is not None else qs


class CategoryField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{'　' * (obj.level - 1)}{obj.code} {obj.name}"


class AssetRegisterForm(TenantModelForm):
    """登记资产: the registration facts of a new card. Saving registers it (number, event) in one transaction."""

    class Meta:
        model = Asset
        fields = ["category", "name", "brand", "model", "serial_no", "unit", "quantity", "unit_price", "is_batch",
                  "acquired_on", "acquisition_method", "funding_source", "supplier", "invoice_no", "voucher_no",
                  "warranty_until", "useful_life_years", "structure", "area_m2", "room", "department", "custodian",
                  "note"]
        field_classes = {"category": CategoryField}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        fields = self.fields  # the importer validates with a subset of these fields
        if "category" in fields:
            fields["category"].queryset = category_choices(self.user, self.org)
        if "custodian" in fields:
            fields["custodian"].queryset = staff_choices(self.org)
        if "room" in fields:
            fields["room"].queryset = room_choices(self.user, self.org)
        if "department" in fields:
            departments = Department.objects.restrict(self.user, "view").filter(is_active=True)
            fields["department"].queryset = departments.filter(org=self.org) if self.org is not None else (
                departments.none())
        if "unit_price" in fields:
            fields["unit_price"].help_text = "原值 = 数量 × 单价，由系统计算"

    def save(self, commit=True):
        if not commit:
            return super().save(commit=False)
        return services.register_asset(self.instance, self.user)


class AssetForm(TenantModelForm):
    """Edit a registered card's descriptive fields (every change is in its 变更记录)."""

    class Meta:
        model = Asset
        fields = ["name", "brand", "model", "serial_no", "unit", "funding_source", "supplier", "invoice_no",
                  "voucher_no", "warranty_until", "area_m2", "note"]


class AssetCategoryForm(TenantModelForm):
    """A school's own category, under a national one (national rows are loaded from the standard's data)."""

    class Meta:
        model = AssetCategory
        fields = ["parent", "code", "name", "default_life_years", "min_life_years", "is_depreciable", "value_class",
                  "default_batch", "basis", "is_active"]
        field_classes = {"parent": CategoryField}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        parents = AssetCategory.objects.restrict(self.user, "view")
        if self.org is not None:
            parents = parents.filter(Q(org__isnull=True) | Q(org=self.org), edition=category_edition(self.org))
        if self.instance.pk:
            parents = parents.exclude(path__startswith=self.instance.path)
        self.fields["parent"].queryset = parents.order_by("path")
        # A school's category hangs under another; only the national top classes (edited by a superuser) have none.
        self.fields["parent"].required = not (self.instance.pk and self.instance.org_id is None)
        self.fields["code"].help_text = "如在上级代码后加 .01、.02"

    def _post_clean(self):
        if self.instance._state.adding and self.org is not None:
            self.instance.edition = category_edition(self.org)
        super()._post_clean()
