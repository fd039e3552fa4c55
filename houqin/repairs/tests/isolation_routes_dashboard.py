"""Isolation checks of the repairs dashboard page and API (collected by houqin.core.testing.route_checks).

School A holds a done order assigned to technician 甲校看板师傅 in its building; whoever is outside school A must not
see the technician's, the building's or the school's name, in the page or in the API answer. (School B's persona
naming school A with ``?org=`` gets its own school on the page and "no such organisation" from the API:
test_dashboard.py checks those, and the export.)
"""

from houqin.core.testing.isolation import API_DENIED, LOGIN
from houqin.core.testing.route_checks import ANON, JSON_ACCEPT, Check


def done_order_of_school_a(world):
    from django.utils import timezone

    from houqin.core.testing.factories import make_user
    from houqin.repairs.models import State, WorkOrder
    from houqin.repairs.tests.factories_workorders import make_order

    tech = make_user(full_name="甲校看板师傅", org=world.a.org, roles=("technician",))
    order = make_order(world.a.org, description="甲校看板报修：灯不亮", room=world.a.rooms[0])
    now = timezone.now()
    WorkOrder.objects.filter(pk=order.pk).update(state=State.DONE, assignee=tech, accepted_at=now, completed_at=now)
    order.refresh_from_db()
    return order


# Who may view work orders somewhere sees their own figures (200); the others are refused.
PAGE = {ANON: LOGIN, "admin_a": 200, "head_a": 200, "teacher_a": 403, "admin_b": 200, "bureau_admin": 200,
        "superuser": 200, "outsider": 403}
API = {ANON: API_DENIED, "admin_a": 200, "head_a": 200, "teacher_a": 403, "admin_b": 200, "bureau_admin": 200,
       "superuser": 200, "outsider": 403}

ROUTES = {
    "repairs:dashboard": (
        Check("GET", PAGE, no_leak=True, setup=done_order_of_school_a),
    ),
    "api:repairs-dashboard-list": (
        Check("GET", API, no_leak=True, setup=done_order_of_school_a, extra=JSON_ACCEPT),
    ),
}
