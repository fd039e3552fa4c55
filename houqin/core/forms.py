"""Base model form for tenant rows: sets the owning organisation and limits every related-object choice to
rows of that organisation the user may see."""

from __future__ import annotations

from django import forms

from houqin.core.auth import user_can
from houqin.core.ui import ui_for


class TenantModelForm(forms.ModelForm):
    def __init__(self, *args, user=None, org=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        if self.instance._meta.model_name == "organization":
            self.org = self.instance if self.instance.pk else org
        elif any(f.name == "org" for f in self.instance._meta.concrete_fields) and self.instance.org_id:
            self.org = self.instance.org
        else:
            self.org = org
        org_id = getattr(self.org, "pk", None)
        for field in self.fields.values():
            if isinstance(field, forms.ModelChoiceField):
                if not isinstance(field, forms.ModelMultipleChoiceField):
                    field.empty_label = "请选择"
                model = field.queryset.model
                qs = field.queryset
                if hasattr(model.objects, "restrict"):
                    qs = qs.filter(pk__in=model.objects.restrict(user, "view").values("pk"))
                    if (ui_class := ui_for(model)) is not None and ui_class.select_related:
                        qs = qs.select_related(*ui_class.select_related)
                if org_id is not None and model._meta.model_name == "user":
                    qs = qs.filter(memberships__org_id=org_id).distinct()
                elif org_id is not None and hasattr(model, "org_field") and model.org_field == "org":
                    qs = qs.filter(org_id=org_id)
                field.queryset = qs
            if isinstance(field.widget, forms.Select | forms.SelectMultiple):
                field.widget.attrs.setdefault("class", "form-select")
            elif isinstance(field.widget, forms.CheckboxInput):
                field.widget.attrs.setdefault("class", "form-check-input")
            else:
                field.widget.attrs.setdefault("class", "form-control")
            if isinstance(field, forms.DateField):
                field.widget.input_type = "date"
                field.widget.format = "%Y-%m-%d"

    def _post_clean(self):
        has_org = any(f.name == "org" for f in self.instance._meta.concrete_fields)
        if has_org and self.instance.org_id is None and self.org is not None:
            self.instance.org = self.org
        super()._post_clean()

    def _get_validation_exclusions(self):
        # ``org`` is set by the form, not typed in: keep it in the unique checks so that a duplicate name
        # within the school is a form error ("已存在"), not a database error.
        exclusions = super()._get_validation_exclusions()
        if any(f.name == "org" for f in self.instance._meta.concrete_fields) and self.instance.org_id:
            exclusions.discard("org")
        return exclusions

    def can_save(self) -> bool:
        action = "add" if self.instance._state.adding else "change"
        if self.instance._state.adding:
            return user_can(self.user, action, type(self.instance), org_id=getattr(self.org, "pk", None))
        return user_can(self.user, action, self.instance)


# --- Forms of core models ---------------------------------------------------------------------------------------
from django.contrib.auth import password_validation  # noqa: E402

from houqin.core import models as m  # noqa: E402


class OrganizationForm(TenantModelForm):
    class Meta:
        model = m.Organization
        fields = ["name", "short_name", "kind", "code", "parent", "address", "phone", "principal_name",
                  "pupil_count", "staff_count", "is_active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["parent"].queryset = self.fields["parent"].queryset.filter(kind=m.OrgKind.BUREAU)
        if not getattr(self.user, "is_superuser", False):
            # Where a school sits in the county, and its code, are the installation's business.
            for name in ("parent", "code", "kind"):
                self.fields[name].disabled = True


class CampusForm(TenantModelForm):
    class Meta:
        model = m.Campus
        fields = ["name", "code", "address", "area_m2"]


class BuildingForm(TenantModelForm):
    class Meta:
        model = m.Building
        fields = ["campus", "name", "code", "use", "floors_above", "floors_below", "built_year", "floor_area_m2"]


class FloorForm(TenantModelForm):
    class Meta:
        model = m.Floor
        fields = ["building", "level", "name"]


class RoomForm(TenantModelForm):
    class Meta:
        model = m.Room
        fields = ["campus", "building", "floor", "number", "name", "room_type", "area_m2", "capacity", "responsible",
                  "department", "is_active", "note"]


class DepartmentForm(TenantModelForm):
    class Meta:
        model = m.Department
        fields = ["name", "kind", "code", "head", "phone", "is_active"]


class SchoolClassForm(TenantModelForm):
    class Meta:
        model = m.SchoolClass
        fields = ["grade", "number", "name", "head_teacher", "pupil_count", "home_room", "is_active"]


class SchoolYearForm(TenantModelForm):
    class Meta:
        model = m.SchoolYear
        fields = ["name", "start_date", "end_date"]


class TermForm(TenantModelForm):
    class Meta:
        model = m.Term
        fields = ["school_year", "kind", "name", "start_date", "end_date"]


class UserForm(TenantModelForm):
    """Create or edit an account of the current school; a new account gets its first roles here."""

    password1 = forms.CharField(label="密码", required=False, widget=forms.PasswordInput(render_value=False),
                                help_text="新建账号时必填；编辑时留空表示不修改。至少 8 位，不能全是数字。")
    password2 = forms.CharField(label="确认密码", required=False, widget=forms.PasswordInput(render_value=False))
    roles = forms.ModelMultipleChoiceField(queryset=m.Role.objects.filter(scope="school"), required=False,
                                           label="本单位角色", widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = m.User
        fields = ["username", "full_name", "phone", "email", "is_active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["roles"].widget.attrs["class"] = "form-check-input"
        if self.org is not None and self.org.is_bureau:
            self.fields["roles"].queryset = m.Role.objects.filter(scope="bureau")
        if self.instance.pk and self.org is not None:
            self.initial["roles"] = list(
                self.instance.memberships.filter(org=self.org).values_list("role_id", flat=True))

    def _post_clean(self):
        # A user has no ``org`` column: skip TenantModelForm's org assignment.
        forms.ModelForm._post_clean(self)
        password1, password2 = self.cleaned_data.get("password1"), self.cleaned_data.get("password2")
        if self.instance._state.adding and not password1:
            self.add_error("password1", "新建账号必须设置密码。")
        if password1 or password2:
            if password1 != password2:
                self.add_error("password2", "两次输入的密码不一致。")
            else:
                try:
                    password_validation.validate_password(password1, self.instance)
                except forms.ValidationError as exc:
                    self.add_error("password1", exc)

    def save(self, commit=True):
        user = super().save(commit=False)
        if self.cleaned_data.get("password1"):
            user.set_password(self.cleaned_data["password1"])
        if user.default_org_id is None and self.org is not None:
            user.default_org = self.org
        user.save()
        if self.org is not None and "roles" in self.cleaned_data:
            wanted = set(self.cleaned_data["roles"])
            current = {ms.role: ms for ms in user.memberships.filter(org=self.org).select_related("role")}
            for role in wanted - set(current):
                m.Membership.objects.create(user=user, org=self.org, role=role)
            for role, ms in current.items():
                if role not in wanted:
                    ms.delete()
        return user


class MembershipForm(TenantModelForm):
    class Meta:
        model = m.Membership
        fields = ["user", "role"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        scope = "bureau" if self.org is not None and self.org.is_bureau else "school"
        self.fields["role"].queryset = m.Role.objects.filter(scope=scope)
        # Any account the current user manages may be given a role here.
        self.fields["user"].queryset = m.User.objects.restrict(self.user, "change")

    def clean(self):
        cleaned = super().clean()
        if self.org is not None and cleaned.get("user") and cleaned.get("role"):
            exists = m.Membership.objects.filter(org=self.org, user=cleaned["user"], role=cleaned["role"])
            if self.instance.pk:
                exists = exists.exclude(pk=self.instance.pk)
            if exists.exists():
                raise forms.ValidationError("该用户在本单位已有此角色。")
        return cleaned
