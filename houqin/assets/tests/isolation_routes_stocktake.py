"""Isolation checks of the stocktaking pages that are not ModelUI routes (collected by
houqin.core.testing.route_checks). School A's plans count its room 101; its teacher (``teacher_a``) is a counter
and holds no assets permission, so the counting pages let them in by object; the 总务主任 (``head_a``) manages. The
persona that changes the plan comes last, so every refusal before it is checked against the unchanged plan."""

from houqin.core.testing.isolation import LOGIN
from houqin.core.testing.route_checks import ANON, Check


def _card(world):
    from houqin.assets.tests.factories import make_asset

    return make_asset(world.a.org, name="甲校盘点资产", room=world.a.rooms[0], department=world.a.department)


def draft_plan(world):
    from houqin.assets.tests.factories_stocktake import make_stocktake

    _card(world)
    return make_stocktake(world.a.org, "甲校隔离盘点", rooms=[world.a.rooms[0]], counters=[world.teacher_a])


def counting_plan(world):
    from houqin.assets import stocktake as services

    return services.start(draft_plan(world), world.head_a)


def done_plan_surplus(world):
    from houqin.assets.models import Stocktake, StocktakeStatus, StocktakeSurplus

    plan = counting_plan(world)
    Stocktake.objects.filter(pk=plan.pk).update(status=StocktakeStatus.DONE)
    return StocktakeSurplus.objects.create(org=world.a.org, stocktake=plan, room=world.a.rooms[0],
                                           name="甲校隔离盘盈", quantity=1, unit="把")


def _in_room(plan):
    return {"pk": plan.pk, "room_pk": plan.rooms.first().pk}


def _of_card(plan):
    return {"asset_pk": plan.lines.first().asset_id}


def _scan_data(world):
    return {"code": "ZC-2099-99999"}


# Pages about a plan for its managers (总务主任/资产管理员); readers (admin_a, bureau) may look, not act.
MANAGE = {ANON: LOGIN, "admin_b": 404, "outsider": 404, "teacher_a": 404, "bureau_admin": 403, "admin_a": 403}
# Counting pages: the counter (teacher_a) and the managers count; readers who count nothing are told so (403).
COUNT = {ANON: LOGIN, "admin_b": 404, "outsider": 404, "bureau_admin": 403, "admin_a": 403, "teacher_a": 200,
         "head_a": 200, "superuser": 200}

ROUTES = {
    "assets:stocktake_mine": (
        Check("GET", {ANON: LOGIN, "admin_b": 200, "outsider": 200, "bureau_admin": 200, "teacher_a": 200,
                      "head_a": 200, "superuser": 200}, no_leak=True, setup=counting_plan),
    ),
    "assets:stocktake_start": (
        Check("POST", {**MANAGE, "head_a": 302, "superuser": 302}, setup=draft_plan),
    ),
    "assets:stocktake_finish": (
        Check("POST", {**MANAGE, "head_a": 302}, setup=counting_plan),
    ),
    "assets:stocktake_cancel": (
        Check("POST", {**MANAGE, "head_a": 302}, setup=counting_plan),
    ),
    "assets:stocktake_assign": (
        Check("GET", {**MANAGE, "head_a": 200, "superuser": 200}, setup=draft_plan),
        Check("POST", {**MANAGE, "head_a": 302}, setup=draft_plan, data=lambda world: {}),
    ),
    "assets:stocktake_report": (
        Check("GET", {ANON: LOGIN, "admin_b": 404, "outsider": 404, "teacher_a": 404, "bureau_admin": 200,
                      "admin_a": 200, "head_a": 200, "superuser": 200}, no_leak=True, setup=counting_plan),
    ),
    "assets:stocktake_count": (Check("GET", COUNT, no_leak=True, setup=counting_plan),),
    "assets:stocktake_count_room": (Check("GET", COUNT, no_leak=True, setup=counting_plan, kwargs=_in_room),),
    "assets:stocktake_scan": (
        Check("POST", COUNT, setup=counting_plan, kwargs=_in_room, data=_scan_data),
    ),
    "assets:stocktake_surplus_add": (Check("GET", COUNT, setup=counting_plan, kwargs=_in_room),),
    "assets:stocktake_card": (
        Check("GET", {ANON: LOGIN, "admin_b": 404, "outsider": 404, "bureau_admin": 404, "admin_a": 404,
                      "teacher_a": 200, "head_a": 200, "superuser": 200}, setup=counting_plan, kwargs=_of_card),
    ),
    "assets:stocktakesurplus_register": (
        Check("GET", {ANON: LOGIN, "admin_b": 404, "outsider": 404, "teacher_a": 404, "bureau_admin": 403,
                      "admin_a": 403, "head_a": 200, "superuser": 200}, setup=done_plan_surplus),
    ),
}
