"""Filter sets of the work-order part of the repairs app, shared by the lists, their Excel exports and the API."""

from __future__ import annotations

import django_filters
from django.db.models import Q
from django.utils import timezone

from houqin.core.filtersets import BaseFilterSet, TenantFilterSet
from houqin.core.models import Building, User
from houqin.core.search import normalise_query
from houqin.core.ui import visible
from houqin.repairs.models import (
    OPEN_STATES,
    EventAction,
    RepairCategory,
    Scale,
    SLARule,
    Source,
    State,
    Technician,
    Trade,
    Urgency,
    WorkOrder,
    WorkOrderEvent,
)
from houqin.repairs.models.workorders import overdue_q

OPEN = "open"
STATE_CHOICES = [(OPEN, "未完工（全部）"), *State.choices]


def technician_choices(user):
    """The people orders were assigned to in the user's schools: technicians by role or profile (without needing
    the right to list accounts)."""
    from houqin.core.auth import access_for

    if user is None or not getattr(user, "is_authenticated", False):
        return User.objects.none()
    people = User.objects.filter(is_active=True)
    if user.is_superuser:
        return people.filter(Q(memberships__role__code="technician") | Q(pk__in=Technician.objects.values(
            "user_id"))).distinct().order_by("full_name")
    org_ids = sorted(access_for(user).orgs_for("repairs.view_workorder"))
    return people.filter(Q(memberships__org_id__in=org_ids, memberships__role__code="technician")
                         | Q(pk__in=Technician.objects.filter(org_id__in=org_ids).values("user_id"))
                         ).distinct().order_by("full_name")


class WorkOrderFilterSet(TenantFilterSet):
    state = django_filters.ChoiceFilter(choices=STATE_CHOICES, method="filter_state", label="状态")
    category = django_filters.ModelChoiceFilter(queryset=RepairCategory.objects.all(), label="报修类别")
    building = django_filters.ModelChoiceFilter(queryset=Building.objects.all(), label="楼栋")
    urgency = django_filters.ChoiceFilter(choices=Urgency.choices, label="紧急程度")
    scale = django_filters.ChoiceFilter(choices=Scale.choices, label="维修规模")
    source = django_filters.ChoiceFilter(choices=Source.choices, label="报修方式")
    assignee = django_filters.ModelChoiceFilter(queryset=User.objects.none(), label="维修人员")
    overdue = django_filters.BooleanFilter(method="filter_overdue", label="超时")
    rated = django_filters.ChoiceFilter(choices=[("yes", "已评价"), ("no", "未评价"), ("low", "差评（1–2 星）")],
                                        method="filter_rated", label="评价")
    reported_after = django_filters.DateFilter(field_name="reported_at", lookup_expr="date__gte", label="报修日期起")
    reported_before = django_filters.DateFilter(field_name="reported_at", lookup_expr="date__lte", label="报修日期止")

    class Meta:
        model = WorkOrder
        fields = ["q", "org", "state", "category", "building", "urgency", "scale", "source", "assignee", "overdue",
                  "rated", "reported_after", "reported_before"]

    def __init__(self, data=None, queryset=None, *, request=None, prefix=None):
        super().__init__(data, queryset, request=request, prefix=prefix)
        user = getattr(request, "user", None)
        self.filters["assignee"].queryset = technician_choices(user)
        self.filters["category"].queryset = visible(RepairCategory, user).order_by("org", "sort_order", "name")
        self.filters["building"].queryset = visible(Building, user).order_by("org", "campus", "name")

    def filter_state(self, queryset, name, value):
        if value == OPEN:
            return queryset.filter(state__in=OPEN_STATES)
        return queryset.filter(state=value)

    def filter_overdue(self, queryset, name, value):
        if value is None:
            return queryset
        condition = overdue_q(timezone.now())
        return queryset.filter(condition) if value else queryset.exclude(condition)

    def filter_rated(self, queryset, name, value):
        done = Q(state__in=(State.DONE, State.ACCEPTED, State.VISITED))
        if value == "yes":
            return queryset.filter(rating__isnull=False)
        if value == "no":
            return queryset.filter(done, rating__isnull=True)
        if value == "low":
            return queryset.filter(rating__lte=2)
        return queryset


class RepairCategoryFilterSet(TenantFilterSet):
    trade = django_filters.ChoiceFilter(choices=Trade.choices, label="工种")
    is_active = django_filters.BooleanFilter(label="启用")

    class Meta:
        model = RepairCategory
        fields = ["q", "org", "trade", "is_active"]


class SLARuleFilterSet(TenantFilterSet):
    urgency = django_filters.ChoiceFilter(choices=Urgency.choices, label="紧急程度")
    category = django_filters.ModelChoiceFilter(queryset=RepairCategory.objects.all(), label="报修类别")

    class Meta:
        model = SLARule
        fields = ["org", "urgency", "category"]

    def filter_q(self, queryset, name, value):
        return queryset


class TechnicianFilterSet(TenantFilterSet):
    is_active = django_filters.BooleanFilter(label="在岗接单")

    class Meta:
        model = Technician
        fields = ["q", "org", "is_active"]


class WorkOrderEventFilterSet(BaseFilterSet):
    order = django_filters.NumberFilter(field_name="order_id", label="报修单")
    action = django_filters.ChoiceFilter(choices=EventAction.choices, label="操作")
    q = django_filters.CharFilter(method="filter_q", label="搜索")

    class Meta:
        model = WorkOrderEvent
        fields = ["order", "action", "q"]

    def filter_q(self, queryset, name, value):
        for term in normalise_query(value).split(" ")[:5]:
            if term:
                queryset = queryset.filter(Q(order__search_index__contains=term) | Q(reason__icontains=term))
        return queryset
