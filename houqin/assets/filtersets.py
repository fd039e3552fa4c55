"""Filter sets of the assets app, shared by the lists, their Excel exports and the API."""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import Q

from houqin.assets.categories import EDITIONS
from houqin.assets.choices import AcquisitionMethod, AssetClass, AssetEventCode, AssetStatus, CategoryValueClass
from houqin.assets.models import Asset, AssetCategory, AssetEvent
from houqin.core.filtersets import TenantFilterSet
from houqin.core.models import Department, Room
from houqin.core.search import normalise_query
from houqin.core.ui import ui_for


class CategoryFilter(django_filters.ModelChoiceFilter):
    """A category and everything below it."""

    def filter(self, qs, value):
        if not value:
            return qs
        return qs.filter(**{f"{self.field_name}__path__startswith": value.path})


class YearFilter(django_filters.NumberFilter):
    field_class = forms.IntegerField


class AssetFilterSet(TenantFilterSet):
    category = CategoryFilter(queryset=AssetCategory.objects.all(), field_name="category", label="资产分类")
    status = django_filters.ChoiceFilter(choices=AssetStatus.choices, label="状态")
    asset_class = django_filters.ChoiceFilter(choices=AssetClass.choices, label="资产类型")
    department = django_filters.ModelChoiceFilter(queryset=Department.objects.all(), label="使用部门")
    room = django_filters.ModelChoiceFilter(queryset=Room.objects.all(), label="存放地点")
    acquired_year = YearFilter(field_name="acquired_on", lookup_expr="year", label="取得年度")
    acquisition_method = django_filters.ChoiceFilter(choices=AcquisitionMethod.choices, label="取得方式")
    is_batch = django_filters.BooleanFilter(label="批量同类")

    class Meta:
        model = Asset
        fields = ["q", "org", "category", "status", "asset_class", "department", "room", "acquired_year",
                  "acquisition_method", "is_batch"]

    def __init__(self, data=None, queryset=None, *, request=None, prefix=None):
        super().__init__(data, queryset, request=request, prefix=prefix)
        user = getattr(request, "user", None)
        # Room names show campus and building: load them with the rooms (one query, however many rooms).
        room_ui = ui_for(Room)
        if room_ui is not None:
            self.filters["room"].queryset = room_ui.base_queryset(user)
        self.filters["category"].queryset = AssetCategory.objects.restrict(user, "view").order_by("path")
        if "org" in self.filters:  # the rooms above, for someone who sees many schools: the chosen school's only
            self.choices_of_one_school(data)


class AssetCategoryFilterSet(TenantFilterSet):
    org = None  # national rows belong to no school: the school filter would hide them
    edition = django_filters.ChoiceFilter(choices=[(e, f"GB/T 14885-{e}") for e in EDITIONS], label="标准版本")
    level = django_filters.ChoiceFilter(choices=[(1, "门类"), (2, "大类"), (3, "中类"), (4, "小类及以下")],
                                        method="filter_level", label="层级")
    is_depreciable = django_filters.BooleanFilter(label="计提折旧")
    value_class = django_filters.ChoiceFilter(choices=CategoryValueClass.choices, label="资产类型")
    own = django_filters.BooleanFilter(method="filter_own", label="本校自定义")
    is_active = django_filters.BooleanFilter(label="启用")

    class Meta:
        model = AssetCategory
        fields = ["q", "edition", "level", "is_depreciable", "value_class", "own", "is_active"]

    def filter_level(self, queryset, name, value):
        level = int(value)
        return queryset.filter(level__gte=4) if level >= 4 else queryset.filter(level=level)

    def filter_own(self, queryset, name, value):
        if value is None:
            return queryset
        return queryset.filter(org__isnull=not value)


class AssetEventFilterSet(TenantFilterSet):
    code = django_filters.ChoiceFilter(choices=AssetEventCode.choices, label="变动类型")
    time_after = django_filters.DateFilter(field_name="time", lookup_expr="date__gte", label="起始日期")
    time_before = django_filters.DateFilter(field_name="time", lookup_expr="date__lte", label="截止日期")

    class Meta:
        model = AssetEvent
        fields = ["q", "org", "code", "time_after", "time_before"]

    def filter_q(self, queryset, name, value):
        for term in normalise_query(value).split(" ")[:5]:
            if term:
                queryset = queryset.filter(Q(asset__search_index__contains=term) | Q(note__icontains=term)
                                           | Q(reference__icontains=term))
        return queryset
