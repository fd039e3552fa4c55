"""Demo checks (run by houqin/core/tests/test_demo.py after the whole demo; its second run proves idempotence):
the demo's work orders: realistic, valid by the app's own rules."""

from __future__ import annotations

from collections import Counter

from django.db import transaction

from houqin.core.demo import ORG_CODES, PRIMARY
from houqin.core.models import Organization
from houqin.repairs.models import DONE_STATES, State, WorkOrder, WorkOrderEvent
from houqin.repairs.tests.factories_workorders import make_order


def check_work_orders():
    school = Organization.objects.get(code=ORG_CODES[PRIMARY])
    orders = list(WorkOrder.objects.filter(org=school).select_related("category"))
    assert 1500 < len(orders) < 5000
    states = Counter(o.state for o in orders)
    assert set(states) >= {State.NEW, State.DISPATCHED, State.IN_PROGRESS, State.DONE, State.ACCEPTED,
                           State.VISITED, State.REJECTED, State.CANCELLED, State.MERGED}
    assert states[State.VISITED] > len(orders) / 3
    assert len({o.category.name for o in orders}) == 7
    assert any(o.contractor and o.outside_cost for o in orders)
    assert any(o.asset_id for o in orders) and any(o.reopened_count for o in orders)
    ratings = Counter(o.rating for o in orders if o.state in DONE_STATES)
    assert ratings[None] and ratings[5] and ratings[1] + ratings[2]  # unrated stays unrated; some bad
    assert any(o.overdue_now() for o in orders if o.state not in DONE_STATES)
    assert any(o.finish_late for o in orders if o.state in DONE_STATES)
    for order in orders:  # valid by the app's own rules
        assert order.number.startswith("BX-") and order.reported_at <= order.state_changed_at, order
        if order.state == State.MERGED:
            assert order.duplicate_of_id and order.duplicate_of.reported_at <= order.reported_at
        if order.state in DONE_STATES:
            assert order.completed_at and order.assignee_id and order.started_at <= order.completed_at, order
            assert order.total_cost == order.material_cost + order.labour_cost + order.outside_cost
        if order.rating is not None:
            assert 1 <= order.rating <= 5 and not order.signed_off_on_behalf
    events = WorkOrderEvent.objects.filter(org=school)
    assert events.filter(action="report").count() == len(orders)
    # A new report today continues the day's sequence.
    with transaction.atomic():
        new = make_order(school, place="操场", description="新的报修", category="其他")
    today = [o.number for o in orders if o.number[:11] == new.number[:11]]
    assert int(new.number[-3:]) == max((int(n[-3:]) for n in today), default=0) + 1
