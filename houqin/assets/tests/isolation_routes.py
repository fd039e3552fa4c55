"""Isolation checks of the assets app's own pages (collected by houqin.core.testing.route_checks)."""

from houqin.core.testing.isolation import LOGIN
from houqin.core.testing.route_checks import ANON, Check


def asset_of_school_a(world):
    from houqin.assets.tests.factories import make_asset

    return make_asset(world.a.org, name="甲校折旧资产", department=world.a.department)


ROUTES = {
    # The monthly depreciation table of school A's assets.
    "assets:depreciation": (
        Check("GET", {ANON: LOGIN, "admin_a": 200, "teacher_a": 403, "admin_b": 200, "bureau_admin": 200,
                      "superuser": 200, "outsider": 403}, no_leak=True, setup=asset_of_school_a),
    ),
    # A card's 资产履历 panel: like the card itself (404 outside school A and for those who cannot view cards).
    "assets:asset_history": (
        Check("GET", {ANON: LOGIN, "admin_a": 200, "head_a": 200, "teacher_a": 404, "admin_b": 404,
                      "bureau_admin": 200, "superuser": 200, "outsider": 404}, setup=asset_of_school_a),
    ),
}
