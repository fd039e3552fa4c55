"""Isolation checks of the assets settings page and API (collected by houqin.core.testing.route_checks).

The label and print routes of asset cards (``assets:asset_labels``, ``asset_label``, ``asset_print_list``,
``asset_print``) are ModelUI routes, covered by the ModelUI matrix; ``GET /api/assets/assets/{id}/qr/`` is an action
of the card viewset, covered by the API matrix. The page behind a label (``/q/a/<token>/``) is core's ``scan``
route (its entry belongs with core's routes; see docs/assets-labels.md).
"""

from houqin.core.testing.isolation import API_DENIED, LOGIN
from houqin.core.testing.route_checks import ANON, JSON_ACCEPT, Check


def school_a(world):
    """School A, with a card (whose names must not leak) and settings that differ from the defaults."""
    from houqin.assets import conf
    from houqin.assets.tests.factories import make_asset

    make_asset(world.a.org, name="甲校设置页资产", department=world.a.department)
    conf.save_settings(world.a.org, {"capitalisation_threshold": "1234"})
    world.a.org.refresh_from_db()
    return world.a.org


def _settings_form(world) -> dict:
    return {"org": str(world.a.org.pk), "capitalisation_threshold": "1500", "depreciation_start": "next_month",
            "category_edition": "2010", "scan_requires_login": "false"}


def _org_kwargs(org) -> dict:
    return {"org": org.pk}


ROUTES = {
    # Read by who may view the school's cards (the current school, or ?org= among them), changed by who holds
    # assets.change_asset there. Another school is "not found"; someone without card rights anywhere is refused.
    "assets:settings": (
        Check("GET", {ANON: LOGIN, "admin_a": 200, "head_a": 200, "teacher_a": 403, "admin_b": 200,
                      "bureau_admin": 200, "superuser": 200, "outsider": 403}, no_leak=True, setup=school_a),
        Check("POST", {ANON: LOGIN, "admin_a": 403, "teacher_a": 403, "admin_b": 404, "bureau_admin": 403,
                       "outsider": 403, "head_a": 302}, data=_settings_form, setup=school_a),
    ),
    "api:assets-settings-list": (
        Check("GET", {ANON: API_DENIED, "admin_a": 200, "head_a": 200, "teacher_a": 403, "admin_b": 200,
                      "bureau_admin": 200, "superuser": 200, "outsider": 403}, no_leak=True, setup=school_a,
              extra=JSON_ACCEPT),
    ),
    "api:assets-settings-detail": (
        Check("GET", {ANON: API_DENIED, "admin_a": 200, "head_a": 200, "teacher_a": 404, "admin_b": 404,
                      "bureau_admin": 200, "superuser": 200, "outsider": 404}, setup=school_a, kwargs=_org_kwargs,
              extra=JSON_ACCEPT),
        Check("PATCH", {ANON: API_DENIED, "admin_a": 403, "teacher_a": 404, "admin_b": 404, "bureau_admin": 403,
                        "outsider": 404, "head_a": 200}, data=lambda world: {"capitalisation_threshold": "1500"},
              json=True, setup=school_a, kwargs=_org_kwargs, extra=JSON_ACCEPT),
        Check("PUT", {ANON: API_DENIED, "admin_a": 403, "admin_b": 404, "outsider": 404},
              data=lambda world: {"capitalisation_threshold": "1500", "depreciation_start": "same_month",
                                  "category_edition": "2010", "scan_requires_login": True},
              json=True, setup=school_a, kwargs=_org_kwargs, extra=JSON_ACCEPT),
    ),
}
