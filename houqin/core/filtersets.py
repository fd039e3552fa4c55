"""Base filter sets shared by UI lists and API endpoints."""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import Q

from houqin.core.search import normalise_query
from houqin.core.ui import visible

YES_NO_ALL = [("", "全部"), ("true", "是"), ("false", "否")]


class BaseFilterSet(django_filters.FilterSet):
    """Yes/no filters offer 全部/是/否 (django-filter's default reads 未知 for "any")."""

    def __init__(self, data=None, queryset=None, *, request=None, prefix=None):
        super().__init__(data, queryset, request=request, prefix=prefix)
        for flt in self.filters.values():
            if isinstance(flt, django_filters.BooleanFilter):
                flt.extra["widget"] = forms.Select(choices=YES_NO_ALL)


def _has_org(model) -> bool:
    """Rows that always belong to one school (shared rows, such as national categories, have no school)."""
    try:
        field = model._meta.get_field("org")
    except Exception:  # noqa: BLE001 — FieldDoesNotExist: no org column
        return False
    return field.is_relation and not field.null


class TenantFilterSet(BaseFilterSet):
    """Adds the free-text search ``q`` (text, pinyin initials, full pinyin) and a school filter, and narrows the
    choices of every related-object filter to rows the user may see, so a filter never lists another school's
    names."""

    q = django_filters.CharFilter(method="filter_q", label="搜索")
    org = django_filters.ModelChoiceFilter(queryset=None, label="学校", field_name="org")

    def __init__(self, data=None, queryset=None, *, request=None, prefix=None):
        super().__init__(data, queryset, request=request, prefix=prefix)
        user = getattr(request, "user", None)
        for name, flt in self.filters.items():
            model = getattr(getattr(flt, "queryset", None), "model", None) if hasattr(flt, "queryset") else None
            if name == "org":
                from houqin.core.models import Organization

                model = Organization
            if model is not None and hasattr(model.objects, "restrict"):
                flt.queryset = visible(model, user)
        # The school filter only matters to someone who can see more than one school.
        if "org" in self.filters and self.filters["org"].queryset.count() <= 1:
            del self.filters["org"]
        elif "org" in self.filters:
            self.choices_of_one_school(data)

    def choices_of_one_school(self, data) -> None:
        """Someone who sees many schools (a county bureau: thousands of rooms, departments, people) chooses the
        school first; the other related-object filters then offer that school's rows only."""
        raw = (data or {}).get(f"{self.form_prefix}-org" if self.form_prefix else "org")
        school = None
        if raw and str(raw).isdigit():
            school = self.filters["org"].queryset.filter(pk=int(raw)).values_list("pk", flat=True).first()
        for name, flt in self.filters.items():
            if name == "org" or getattr(flt, "queryset", None) is None:
                continue
            model = flt.queryset.model
            if model._meta.label_lower == "core.organization" or not _has_org(model):
                continue
            flt.queryset = flt.queryset.filter(org_id=school) if school else flt.queryset.none()
            if not school:
                flt.extra["empty_label"] = "（请先选择学校）"

    def filter_q(self, queryset, name, value):
        for term in normalise_query(value).split(" ")[:5]:
            if term:
                queryset = queryset.filter(Q(search_index__contains=term))
        return queryset


# --- Filter sets of core models ----------------------------------------------------------------------------------
from houqin.core import models as m  # noqa: E402


class OrganizationFilterSet(BaseFilterSet):
    q = django_filters.CharFilter(method="filter_q", label="搜索")
    kind = django_filters.ChoiceFilter(choices=m.OrgKind.choices, label="类型")
    parent = django_filters.ModelChoiceFilter(queryset=m.Organization.objects.filter(kind=m.OrgKind.BUREAU),
                                              label="上级教育局")

    class Meta:
        model = m.Organization
        fields = ["q", "kind", "parent", "is_active"]

    def __init__(self, data=None, queryset=None, *, request=None, prefix=None):
        super().__init__(data, queryset, request=request, prefix=prefix)
        self.filters["parent"].queryset = m.Organization.objects.restrict(getattr(request, "user", None)).filter(
            kind=m.OrgKind.BUREAU)

    filter_q = TenantFilterSet.filter_q


class CampusFilterSet(TenantFilterSet):
    class Meta:
        model = m.Campus
        fields = ["q", "org"]


class BuildingFilterSet(TenantFilterSet):
    class Meta:
        model = m.Building
        fields = ["q", "org", "campus", "use"]


class FloorFilterSet(TenantFilterSet):
    class Meta:
        model = m.Floor
        fields = ["q", "org", "building"]


class RoomFilterSet(TenantFilterSet):
    class Meta:
        model = m.Room
        fields = ["q", "org", "campus", "building", "room_type", "department", "is_active"]


class DepartmentFilterSet(TenantFilterSet):
    class Meta:
        model = m.Department
        fields = ["q", "org", "kind", "is_active"]


class SchoolClassFilterSet(TenantFilterSet):
    class Meta:
        model = m.SchoolClass
        fields = ["q", "org", "grade", "is_active"]


class SchoolYearFilterSet(TenantFilterSet):
    class Meta:
        model = m.SchoolYear
        fields = ["q", "org"]


class TermFilterSet(TenantFilterSet):
    class Meta:
        model = m.Term
        fields = ["q", "org", "school_year", "kind"]


class UserFilterSet(BaseFilterSet):
    q = django_filters.CharFilter(method="filter_q", label="搜索")
    role = django_filters.ModelChoiceFilter(queryset=m.Role.objects.all(), field_name="memberships__role",
                                            label="角色", distinct=True)
    is_active = django_filters.BooleanFilter(label="启用")

    class Meta:
        model = m.User
        fields = ["q", "role", "is_active"]

    filter_q = TenantFilterSet.filter_q


class MembershipFilterSet(django_filters.FilterSet):
    org = django_filters.ModelChoiceFilter(queryset=m.Organization.objects.none(), label="单位")
    role = django_filters.ModelChoiceFilter(queryset=m.Role.objects.all(), label="角色")
    user = django_filters.CharFilter(method="filter_user", label="用户")

    class Meta:
        model = m.Membership
        fields = ["org", "role", "user"]

    def __init__(self, data=None, queryset=None, *, request=None, prefix=None):
        super().__init__(data, queryset, request=request, prefix=prefix)
        self.filters["org"].queryset = m.Organization.objects.restrict(getattr(request, "user", None))

    def filter_user(self, queryset, name, value):
        return queryset.filter(user__search_index__contains=value.strip().lower())


class ModelTypeField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        model = obj.model_class()
        return str(model._meta.verbose_name) if model else obj.model


class ModelTypeFilter(django_filters.ModelChoiceFilter):
    field_class = ModelTypeField


class ChangeLogFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="filter_q", label="搜索")
    action = django_filters.ChoiceFilter(choices=m.changelog.ChangeAction.choices, label="操作")
    content_type = ModelTypeFilter(queryset=None, label="对象类型")
    time_after = django_filters.DateFilter(field_name="time", lookup_expr="date__gte", label="起始日期")
    time_before = django_filters.DateFilter(field_name="time", lookup_expr="date__lte", label="截止日期")
    request_id = django_filters.CharFilter(label="请求编号")

    class Meta:
        model = m.ChangeLogEntry
        fields = ["q", "action", "content_type", "time_after", "time_before", "request_id"]

    def __init__(self, data=None, queryset=None, *, request=None, prefix=None):
        from django.contrib.contenttypes.models import ContentType

        from houqin.core.models.base import ChangeLoggedModel
        from houqin.core.ui import REGISTRY

        super().__init__(data, queryset, request=request, prefix=prefix)
        labels = [ui.model for ui in REGISTRY.values() if issubclass(ui.model, ChangeLoggedModel)]
        self.filters["content_type"].queryset = ContentType.objects.filter(
            pk__in=[ContentType.objects.get_for_model(model).pk for model in labels])

    def filter_q(self, queryset, name, value):
        value = value.strip()
        return queryset.filter(Q(object_repr__icontains=value) | Q(user_name__icontains=value))
