"""Repair costs per order and summed per asset, building, category and month; the asset analytics' repair source."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from houqin.core.testing.factories import make_building, make_room
from houqin.repairs import costs, services
from houqin.repairs.tests.factories_workorders import make_order, make_technician

pytestmark = pytest.mark.django_db


def repaired(world, head, tech, *, room, category="水电", hours="1", materials=(), asset=None, description="坏了"):
    order = make_order(world.a.org, room=room, category=category, asset=asset, description=description)
    services.dispatch(order, head, tech)
    return services.complete(order, head, work_done="修好", labour_hours=hours, materials=materials)


def test_costs_per_group(world, head_a):
    tech = make_technician(world.a.org)
    lab = make_room(building=make_building(world.a.campus, "实验楼"), name="实验室")
    repaired(world, head_a, tech, room=world.a.rooms[0], hours="2",
             materials=[{"name": "灯管", "quantity": "2", "unit_price": "25"}])  # 50 + 100 = 150
    repaired(world, head_a, tech, room=world.a.rooms[1], category="门窗", hours="1")  # 50
    repaired(world, head_a, tech, room=lab, hours="0.5", description="水槽漏水")  # 25
    open_order = make_order(world.a.org, room=lab, category="电器")  # not done: not counted
    org_ids = [world.a.org.pk]
    by_category = {r.label: (r.orders, r.total) for r in costs.costs_by(org_ids, "category")}
    assert by_category == {"水电": (2, Decimal("175.00")), "门窗": (1, Decimal("50.00"))}
    by_building = costs.costs_by(org_ids, "building")
    assert [(r.label, r.total) for r in by_building] == [(world.a.building.name, Decimal("200.00")),
                                                         ("实验楼", Decimal("25.00"))]
    assert by_building[0].material == Decimal("50.00") and by_building[0].labour == Decimal("150.00")
    assert by_building[0].average == Decimal("100.00")
    assert costs.total(org_ids).total == Decimal("225.00")
    today = timezone.localdate()
    assert [(r.label, r.orders) for r in costs.costs_by_month(org_ids)] == [(f"{today:%Y-%m}", 3)]
    assert costs.total(org_ids, since=today.replace(year=today.year + 1)).orders == 0
    assert costs.total([world.b.org.pk]).orders == 0
    summary = costs.summary(org_ids)
    assert (summary["reported"], summary["done"], summary["rated"]) == (4, 3, 0)
    assert open_order.state == "new"


def test_asset_costs_and_the_analytics_source(world, head_a):
    from houqin.assets import analytics
    from houqin.assets.tests.factories import make_asset

    tech = make_technician(world.a.org)
    asset = make_asset(world.a.org, name="空调", room=world.a.rooms[0])
    repaired(world, head_a, tech, room=None, asset=asset, category="电器", hours="3")
    repaired(world, head_a, tech, room=None, asset=asset, category="电器", hours="1")
    assert costs.asset_costs(asset).total == Decimal("200.00")
    if not hasattr(analytics, "register_repair_source"):
        pytest.skip("the assets app has no repair source seam")
    rows = analytics.repair_rows([world.a.org.pk])
    assert rows is not None
    assert sorted(rows.values_list("cost", flat=True)) == [Decimal("50.00"), Decimal("150.00")]
    assert set(rows.values_list("repaired_on", flat=True)) == {timezone.localdate()}
    assert analytics.repair_rows([world.b.org.pk]).count() == 0
