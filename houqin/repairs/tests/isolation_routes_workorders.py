"""Isolation checks of the work-order pages that are not a ModelUI's (collected by houqin.core.testing.route_checks).

Personas of school A: ``head_a`` (总务主任: reports, dispatches, repairs), ``teacher_a`` (reports; sees only what
they reported), ``admin_a`` (系统管理员: reads every domain, holds no repairs role). The order of each check is
reported by the system, not by a persona, so the teacher does not see it.
"""

from houqin.core.testing.isolation import LOGIN
from houqin.core.testing.route_checks import ANON, Check


def _order_of_school_a(world):
    from houqin.repairs.tests.factories_workorders import make_order

    return make_order(world.a.org, description="甲校隔离报修：水管漏水", room=world.a.rooms[0])


def _anonymous_order_of_school_a(world):
    from houqin.repairs.models import Source
    from houqin.repairs.tests.factories_workorders import make_order

    org = world.a.org
    org.settings = {"repairs": {"report_requires_login": False}}
    org.save()
    order = make_order(org, description="甲校扫码报修：灯不亮", room=world.a.rooms[0], source=Source.SCAN,
                       reporter_name="访客", reporter_phone="13700001111")
    org.settings = {}
    org.save()
    return order


def _room_of_school_a(world):
    return world.a.rooms[0]


def _room_token(room):
    from houqin.core import qr

    return {"kind": "r", "token": qr.make_token("core.room", room.pk)}


def _order_token(order):
    from houqin.core import qr

    return {"token": qr.make_token("repairs.workorder", order.pk)}


NOT_FOR_OTHERS = {"admin_b": 403, "bureau_admin": 403, "outsider": 403}

ROUTES = {
    # 代报: the office of the current school only.
    "repairs:report_proxy": (
        Check("GET", {ANON: LOGIN, "head_a": 200, "teacher_a": 403, "admin_a": 403, **NOT_FOR_OTHERS}),
        Check("POST", {ANON: LOGIN, "teacher_a": 403, "admin_a": 403, **NOT_FOR_OTHERS},
              data=lambda world: {"description": "越权代报", "room": world.a.rooms[0].pk, "reporter_name": "某人"}),
    ),
    # 扫码报修 of a room of school A: whoever may report there; a school that may see the room but not report in
    # it gets 403; another school "not found"; anonymous visitors sign in (the default setting).
    "repairs:report_scan": (
        Check("GET", {ANON: LOGIN, "teacher_a": 200, "head_a": 200, "admin_a": 403, "admin_b": 404,
                      "bureau_admin": 403, "outsider": 404, "superuser": 200},
              setup=_room_of_school_a, kwargs=_room_token, no_leak=True),
        Check("POST", {ANON: LOGIN, "admin_a": 403, "admin_b": 404, "bureau_admin": 403, "outsider": 404},
              setup=_room_of_school_a, kwargs=_room_token,
              data=lambda world: {"description": "越权报修", "category": "", "urgency": "normal"}),
    ),
    # 我的报修: everyone's own list; school A's orders never show to anyone else.
    "repairs:mine": (
        Check("GET", {ANON: LOGIN, "teacher_a": 200, "head_a": 200, "admin_b": 200, "bureau_admin": 200,
                      "outsider": 200}, setup=_order_of_school_a, no_leak=True,
              leak_personas=("admin_b", "outsider", "teacher_a", "bureau_admin")),
    ),
    # 报修进度: a capability link held by the visitor who reported (a signed token of the order): whoever has it
    # reads that one order; a forged token is "not found" (tested in test_workorders_views.py).
    "repairs:track": (
        Check("GET", {ANON: 200, "teacher_a": 200, "admin_b": 200}, setup=_anonymous_order_of_school_a,
              kwargs=_order_token),
    ),
    # 维修任务: who may work on the current school's orders.
    "repairs:queue": (
        Check("GET", {ANON: LOGIN, "head_a": 200, "teacher_a": 403, "admin_a": 403, **NOT_FOR_OTHERS},
              setup=_order_of_school_a, no_leak=True),
    ),
    # 派工台: the office of the current school.
    "repairs:dispatch": (
        Check("GET", {ANON: LOGIN, "head_a": 200, "teacher_a": 403, "admin_a": 403, **NOT_FOR_OTHERS},
              setup=_order_of_school_a, no_leak=True),
    ),
    # A command on an order of school A: the office may dispatch; who can see it but not act gets 403; who
    # cannot see it 404.
    "repairs:workorder_act": (
        Check("GET", {ANON: LOGIN, "head_a": 200, "teacher_a": 404, "admin_a": 403, "admin_b": 404,
                      "bureau_admin": 403, "outsider": 404, "superuser": 200},
              setup=_order_of_school_a, kwargs=lambda obj: {"pk": obj.pk, "action": "dispatch"}, no_leak=True),
        Check("POST", {ANON: LOGIN, "teacher_a": 404, "admin_a": 403, "admin_b": 404, "bureau_admin": 403,
                       "outsider": 404},
              setup=_order_of_school_a, kwargs=lambda obj: {"pk": obj.pk, "action": "reject"},
              data=lambda world: {"reason": "越权驳回"}),
    ),
}

# 报修维修设置 of the current school: read by who may view its orders, changed by the office only.
ROUTES["repairs:settings"] = (
    Check("GET", {ANON: LOGIN, "head_a": 200, "admin_a": 200, "teacher_a": 403, "admin_b": 200, "bureau_admin": 403,
                  "outsider": 403}, setup=_order_of_school_a, no_leak=True),
    Check("POST", {ANON: LOGIN, "admin_a": 403, "teacher_a": 403, "admin_b": 403, "bureau_admin": 403,
                   "outsider": 403}, data=lambda world: {"report_requires_login": "false"}),
)
