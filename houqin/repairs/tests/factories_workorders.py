"""Factories of the work-order part of the repairs app (imported by factories.py), and their registration for the
isolation matrix and the query budgets."""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from houqin.core.testing import register_factory
from houqin.core.testing.factories import bulk_create_indexed, make_user, unique
from houqin.repairs import services
from houqin.repairs.defaults import ensure_defaults
from houqin.repairs.models import (
    EventAction,
    RepairCategory,
    SLARule,
    Source,
    State,
    Technician,
    Trade,
    Urgency,
    WorkOrder,
    WorkOrderEvent,
)


def category(org, name: str = "水电") -> RepairCategory:
    ensure_defaults(org)
    return RepairCategory.objects.get(org=org, name=name)


def make_technician(org, full_name: str = "王师傅", *, trades=(), profile: bool = True, **fields):
    """A user holding the 维修工 role in ``org``, with a Technician profile naming ``trades`` (if ``profile``)."""
    user = make_user(full_name=full_name, org=org, roles=("technician",), phone=fields.pop("phone", "13800138000"))
    if profile:
        Technician.objects.create(org=org, user=user, trades=list(trades), **fields)
    return user


def make_order(org, *, user=None, description: str = "水龙头关不紧，一直滴水", room=None, category: str = "水电",
               urgency: str = Urgency.NORMAL, source: str | None = None, allow_duplicate: bool = True,
               **kwargs) -> WorkOrder:
    """Report one fault through the real command. Without ``user`` it is a system report (source 接口)."""
    source = source or (Source.FORM if user is not None else Source.API)
    return services.create_order(org, user=user, description=description, room=room, category=category,
                                 urgency=urgency, source=source, allow_duplicate=allow_duplicate, **kwargs)


def bulk_orders(school, n: int) -> None:
    org = school.org
    ensure_defaults(org)
    categories = list(RepairCategory.objects.filter(org=org))
    technician = make_technician(org, "批量维修工", profile=False)
    now = timezone.now()
    rows = []
    for i in range(n):
        room = school.rooms[i % len(school.rooms)]
        order = WorkOrder(
            org=org, number=f"BX-20990101-{unique()}", room=room, building_id=room.building_id,
            category=categories[i % len(categories)], description=f"批量报修{i:04d}：灯不亮", urgency=Urgency.NORMAL,
            source=Source.FORM, reporter=school.staff, reporter_phone="13800138000", assignee=technician,
            state=State.DISPATCHED if i % 2 else State.ACCEPTED, reported_at=now - datetime.timedelta(hours=i),
            dispatched_at=now, accepted_at=now, accept_due=now, start_due=now, finish_due=now,
            total_cost=Decimal("12.50"), rating=(i % 5) + 1 if i % 2 == 0 else None,
        )
        order.place_text = str(room)
        rows.append(order)
    with transaction.atomic():
        bulk_create_indexed(WorkOrder, rows)


@register_factory(WorkOrder, bulk=bulk_orders, list_persona="head_a")
def work_order(school, label):
    # Reported by the system (not by a persona), so the matrix's same-school expectations follow the roles alone.
    return make_order(school.org, description=f"{label}：水龙头漏水", room=school.rooms[0])


def bulk_categories(school, n: int) -> None:
    bulk_create_indexed(RepairCategory, [RepairCategory(org=school.org, name=f"批量类别{i:04d}", trade=Trade.GENERAL)
                                         for i in range(n)])


@register_factory(RepairCategory, bulk=bulk_categories, list_persona="head_a")
def repair_category(school, label):
    return RepairCategory.objects.create(org=school.org, name=label, trade=Trade.GENERAL)


def bulk_rules(school, n: int) -> None:
    cats = [RepairCategory(org=school.org, name=f"时限类别{i:04d}", trade=Trade.GENERAL) for i in range(n)]
    bulk_create_indexed(RepairCategory, cats)
    cats = list(RepairCategory.objects.filter(org=school.org, name__startswith="时限类别"))
    bulk_create_indexed(SLARule, [SLARule(org=school.org, category=c, urgency=Urgency.NORMAL, accept_minutes=60,
                                          start_minutes=120, finish_days=0) for c in cats])


@register_factory(SLARule, bulk=bulk_rules, list_persona="head_a")
def sla_rule(school, label):
    cat = RepairCategory.objects.create(org=school.org, name=label, trade=Trade.GENERAL)
    return SLARule.objects.create(org=school.org, category=cat, urgency=Urgency.URGENT, accept_minutes=30,
                                  start_minutes=60, finish_days=0)


def bulk_technicians(school, n: int) -> None:
    from houqin.core.models import Membership, Role, User

    role = Role.objects.get(code="technician")
    users = [User(username=unique("tech"), full_name=f"批量维修工{i:04d}") for i in range(n)]
    bulk_create_indexed(User, users)
    users = list(User.objects.filter(username__in=[u.username for u in users]))
    Membership.objects.bulk_create([Membership(user=u, org=school.org, role=role) for u in users])
    techs = [Technician(org=school.org, user=u, name_cache=u.full_name, trades=[Trade.GENERAL]) for u in users]
    bulk_create_indexed(Technician, techs)


@register_factory(Technician, bulk=bulk_technicians, list_persona="head_a")
def technician(school, label):
    user = make_user(full_name=label, org=school.org, roles=("technician",))
    return Technician.objects.create(org=school.org, user=user, trades=[Trade.PLUMBING_ELECTRIC])


def bulk_events(school, n: int) -> None:
    order = make_order(school.org, description="批量流转报修单", room=school.rooms[0])
    WorkOrderEvent.objects.bulk_create([
        WorkOrderEvent(org=school.org, order=order, action=EventAction.NOTE, actor=school.staff,
                       actor_name=str(school.staff), reason=f"批量备注{i:04d}") for i in range(n)])


@register_factory(WorkOrderEvent, bulk=bulk_events, list_persona="head_a")
def work_order_event(school, label):
    order = make_order(school.org, description="流转记录测试", room=school.rooms[0])
    return services.record(order, EventAction.NOTE, school.staff, reason=label)
