"""The work-order state machine, exhaustively: every command from every state.

The table of legal moves is written out here, independently of ``services.MOVES``: a command from a state it
allows moves the order to the expected state and writes one event; from any other state it is refused — with a
reason, the order unchanged and no event written."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from houqin.repairs import services
from houqin.repairs.models import State, WorkOrder
from houqin.repairs.tests.factories_workorders import make_order, make_technician

pytestmark = pytest.mark.django_db

S = State
KEEP = "unchanged"
OPEN = (S.NEW, S.DISPATCHED, S.IN_PROGRESS, S.WAITING_PARTS, S.OUTSIDE)
# command → {state it may start from: state it ends in}
LEGAL = {
    "take": {S.NEW: S.DISPATCHED},
    "dispatch": {S.NEW: S.DISPATCHED, S.DISPATCHED: S.DISPATCHED},
    "accept": {S.DISPATCHED: KEEP},
    "start": {S.DISPATCHED: S.IN_PROGRESS},
    "wait_parts": {S.IN_PROGRESS: S.WAITING_PARTS},
    "outside": {S.IN_PROGRESS: S.OUTSIDE, S.WAITING_PARTS: S.OUTSIDE},
    "resume": {S.WAITING_PARTS: S.IN_PROGRESS, S.OUTSIDE: S.IN_PROGRESS},
    "complete": dict.fromkeys((S.DISPATCHED, S.IN_PROGRESS, S.WAITING_PARTS, S.OUTSIDE), S.DONE),
    "hand_back": dict.fromkeys((S.DISPATCHED, S.IN_PROGRESS, S.WAITING_PARTS), S.NEW),
    "sign_off": {S.DONE: S.ACCEPTED},
    "complain": {S.DONE: S.DISPATCHED, S.ACCEPTED: S.DISPATCHED},
    "visit": {S.DONE: S.VISITED, S.ACCEPTED: S.VISITED},
    "classify": dict.fromkeys(OPEN, KEEP),
    "reject": {S.NEW: S.REJECTED},
    "cancel": dict.fromkeys(OPEN, S.CANCELLED),
}
ALL_STATES = [s for s, _ in State.choices]


def test_the_table_names_every_command():
    assert set(LEGAL) == set(services.COMMANDS)


@pytest.fixture
def cast(world, teacher_a, head_a):
    org = world.a.org
    org.settings = {**(org.settings or {}), "repairs": {"technicians_self_assign": True}}
    org.save()
    tech = make_technician(org, "王师傅", trades=["water_power"])
    other = make_technician(org, "李师傅", trades=["water_power"])
    return {"office": head_a, "reporter": teacher_a, "tech": tech, "other": other}


def order_in(state, world, cast) -> WorkOrder:
    """An order reported by the teacher, put into ``state`` with what that state implies."""
    order = make_order(world.a.org, user=cast["reporter"], room=world.a.rooms[0])
    now = timezone.now()
    fields = {"state": state}
    if state not in (S.NEW, S.REJECTED, S.MERGED):
        fields.update(assignee=cast["tech"], dispatched_at=now)
    if state in (S.IN_PROGRESS, S.WAITING_PARTS, S.OUTSIDE, S.DONE, S.ACCEPTED, S.VISITED):
        fields.update(accepted_at=now, started_at=now)
    if state == S.OUTSIDE:
        fields.update(contractor="城南维修公司", contractor_quote=300, outside_approved=True)
    if state in (S.DONE, S.ACCEPTED, S.VISITED):
        fields.update(completed_at=now, work_done="已修好")
    if state in (S.ACCEPTED, S.VISITED):
        fields.update(signed_off_at=now, signed_off_by=cast["reporter"], rating=5)
    if state == S.VISITED:
        fields["visited_at"] = now
    if state in (S.REJECTED, S.CANCELLED):
        fields.update(closed_at=now, close_reason="测试")
    if state == S.MERGED:
        fields["duplicate_of"] = make_order(world.a.org, user=cast["reporter"], room=world.a.rooms[1])
    WorkOrder.objects.filter(pk=order.pk).update(**fields)
    order.refresh_from_db()
    return order


def actor_and_data(action, cast):
    """Who does the command (someone allowed to, whatever the state) and a valid form for it."""
    office, reporter, tech = cast["office"], cast["reporter"], cast["tech"]
    return {
        "take": (tech, {}),
        "dispatch": (office, {"assignee": cast["other"]}),
        "accept": (tech, {}),
        "start": (tech, {}),
        "wait_parts": (tech, {"reason": "等水龙头阀芯"}),
        "outside": (office, {"contractor": "城南维修公司", "quote": "300", "reason": "需要专业设备"}),
        "resume": (tech, {}),
        "complete": (office, {"work_done": "更换阀芯，已不漏水"}),
        "hand_back": (tech, {"reason": "不是我的工种"}),
        "sign_off": (reporter, {"rating": 5}),
        "complain": (reporter, {"reason": "还在漏水"}),
        "visit": (office, {"note": "电话回访，满意"}),
        "classify": (office, {"category": "门窗"}),
        "reject": (office, {"reason": "不属于维修范围"}),
        "cancel": (office, {"reason": "已不需要维修"}),
    }[action]


@pytest.mark.parametrize("state", ALL_STATES)
@pytest.mark.parametrize("action", sorted(LEGAL))
def test_every_command_from_every_state(action, state, world, cast):
    order = order_in(state, world, cast)
    user, data = actor_and_data(action, cast)
    events = order.events.count()
    expected = LEGAL[action].get(state)
    if expected is None:
        with pytest.raises((ValidationError, PermissionDenied)) as exc:
            services.perform(action, order, user, **data)
        assert str(exc.value).strip("[]'\""), "a refusal says why"
        order.refresh_from_db()
        assert order.state == state and order.events.count() == events
        return
    result = services.perform(action, order, user, **data)
    result.refresh_from_db()
    assert result.state == (state if expected == KEEP else expected), (action, state)
    # One event per move (a 回访 of an order nobody signed off also records the sign-off on the reporter's behalf).
    assert result.events.count() == events + (2 if (action, state) == ("visit", S.DONE) else 1)
    last = result.events.order_by("-time", "-pk").first()
    assert last.actor == user and last.time is not None
