"""Repair costs: per order (材料费 + 工时 × 工时单价 + 外修费, stored on the order when it is completed) and summed per
asset, building, category, technician or month for reports and dashboards.

Only repairs actually done count (已完工, 已验收, 已回访), dated by their completion; every helper is one aggregate
query (GROUP BY in the database), whatever the number of orders.

    costs_by(org_ids, "building", since=date(2026, 3, 1), until=date(2026, 7, 31))
    -> [CostRow(key=3, label="明德楼", orders=41, material=..., labour=..., outside=..., total=...), ...]
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce, TruncMonth

from houqin.repairs.models import DONE_STATES, WorkOrder

ZERO = Decimal("0.00")
# group key → (the field grouped on, the field naming the group)
GROUPS = {
    "asset": ("asset", "asset__name"),
    "building": ("building", "building__name"),
    "category": ("category", "category__name"),
    "technician": ("assignee", "assignee__full_name"),
    "room": ("room", "room__name"),
    "org": ("org", "org__name"),
}
NONE_LABELS = {"asset": "（未关联资产）", "building": "（室外或未指定楼栋）", "technician": "（未派工）",
               "room": "（未指定房间）"}


@dataclass
class CostRow:
    key: object
    label: str
    orders: int
    material: Decimal
    labour: Decimal
    outside: Decimal
    total: Decimal

    @property
    def average(self) -> Decimal:
        return (self.total / self.orders).quantize(Decimal("0.01")) if self.orders else ZERO


def done_orders(org_ids, since: datetime.date | None = None, until: datetime.date | None = None):
    """The repairs done in ``org_ids`` (completed between ``since`` and ``until``, local dates, both included)."""
    orders = WorkOrder.objects.filter(org_id__in=list(org_ids), state__in=DONE_STATES, completed_at__isnull=False)
    if since is not None:
        orders = orders.filter(completed_at__date__gte=since)
    if until is not None:
        orders = orders.filter(completed_at__date__lte=until)
    return orders


def _sums():
    return {
        "orders": Count("pk"),
        "material": Coalesce(Sum("material_cost"), ZERO),
        "labour": Coalesce(Sum("labour_cost"), ZERO),
        "outside": Coalesce(Sum("outside_cost"), ZERO),
        "total": Coalesce(Sum("total_cost"), ZERO),
    }


def costs_by(org_ids, group: str, since: datetime.date | None = None, until: datetime.date | None = None,
             *, queryset=None) -> list[CostRow]:
    """Cost rows per ``group`` (asset, building, category, technician, room, org), the most expensive first."""
    key, label = GROUPS[group]
    orders = queryset if queryset is not None else done_orders(org_ids, since, until)
    rows = orders.values(key, label).annotate(**_sums()).order_by("-total", key)
    return [CostRow(r[key], r[label] or NONE_LABELS.get(group, "—"), r["orders"], r["material"], r["labour"],
                    r["outside"], r["total"]) for r in rows]


def costs_by_month(org_ids, since: datetime.date | None = None, until: datetime.date | None = None) -> list[CostRow]:
    rows = (done_orders(org_ids, since, until).annotate(month=TruncMonth("completed_at")).values("month")
            .annotate(**_sums()).order_by("month"))
    return [CostRow(r["month"], f"{r['month']:%Y-%m}", r["orders"], r["material"], r["labour"], r["outside"],
                    r["total"]) for r in rows]


def total(org_ids, since: datetime.date | None = None, until: datetime.date | None = None) -> CostRow:
    agg = done_orders(org_ids, since, until).aggregate(**_sums())
    return CostRow(None, "合计", agg["orders"], agg["material"], agg["labour"], agg["outside"], agg["total"])


def asset_costs(asset) -> CostRow:
    """All repairs of one asset card (its repair history's cost)."""
    agg = done_orders([asset.org_id]).filter(asset=asset).aggregate(**_sums())
    return CostRow(asset.pk, asset.name, agg["orders"], agg["material"], agg["labour"], agg["outside"], agg["total"])


def summary(org_ids, since: datetime.date | None = None, until: datetime.date | None = None) -> dict:
    """Counts a dashboard shows for a period: reported, done, on time, rated and the average rating."""
    from django.db.models import Avg

    reported = WorkOrder.objects.filter(org_id__in=list(org_ids)).exclude(state="merged")
    if since is not None:
        reported = reported.filter(reported_at__date__gte=since)
    if until is not None:
        reported = reported.filter(reported_at__date__lte=until)
    done = Q(state__in=DONE_STATES)
    return reported.aggregate(
        reported=Count("pk"), done=Count("pk", filter=done),
        on_time=Count("pk", filter=done & Q(finish_late=False)), rated=Count("pk", filter=Q(rating__isnull=False)),
        average_rating=Avg("rating"), reopened=Count("pk", filter=Q(reopened_count__gt=0)),
    )
