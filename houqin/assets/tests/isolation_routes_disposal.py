"""Isolation checks of the disposal part's own pages (collected by houqin.core.testing.route_checks).

Who is who: 总务主任 (head_a) holds assets.*; the school's 系统管理员 (admin_a) and the bureau read cards but change
none (403); teachers see no cards (404); another school's users and outsiders never learn a card exists (404).
"""

from houqin.core.testing.isolation import LOGIN
from houqin.core.testing.route_checks import ANON, Check

# Whoever cannot see school A's card gets 404; who sees it but may not change it 403; 总务主任 last (it may act).
FORM = {ANON: LOGIN, "admin_b": 404, "outsider": 404, "teacher_a": 404, "admin_a": 403, "bureau_admin": 403,
        "superuser": 200, "head_a": 200}
# A one-click command answers with a redirect back to the card (success or a refusal message).
CLICK = {**FORM, "superuser": 302, "head_a": 302}


def card(world):
    from houqin.assets.tests.factories import make_asset

    return make_asset(world.a.org, name="甲校处置隔离资产", department=world.a.department)


def repairing_card(world):
    from houqin.assets import disposal

    asset = card(world)
    disposal.start_repair(asset, world.head_a)
    return asset


def damage(world):
    from houqin.assets.tests.factories_disposal import make_damage

    return make_damage(card(world), world.head_a, description="甲校损坏隔离记录", compensation_amount="80.00")


def disposal_request(world):
    from houqin.assets.tests.factories_disposal import make_disposal

    return make_disposal([card(world)], world.head_a, reason="甲校处置隔离申请")


def _form(setup, **extra):
    return (Check("GET", FORM, setup=setup, no_leak=True, **extra),
            Check("POST", {**FORM, "superuser": (200, 302), "head_a": (200, 302)}, setup=setup, no_leak=True,
                  **extra))


ROUTES = {
    "assets:asset_damage": _form(card),
    "assets:asset_lost": _form(card),
    "assets:asset_repair_done": _form(repairing_card),
    "assets:asset_idle": (Check("POST", CLICK, setup=card, no_leak=True),),
    "assets:asset_reuse": (Check("POST", CLICK, setup=card, no_leak=True),),
    "assets:asset_found": (Check("POST", CLICK, setup=card, no_leak=True),),
    "assets:damage_compensation": _form(damage),
    "assets:damage_pay": _form(damage),
    "assets:disposal_record": _form(disposal_request),
    # Only the requester of a sent-back request may open it: for a pending one even 总务主任 gets 403.
    "assets:disposal_resubmit": (
        Check("GET", {**FORM, "superuser": 403, "head_a": 403}, setup=disposal_request, no_leak=True),),
}
