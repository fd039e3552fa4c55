"""Isolation checks of the analytics pages and API (collected by houqin.core.testing.route_checks).

School A holds a card idle in department 甲总务处; whoever is outside school A must not see its name nor the
department's on the report, in the page or in the API answer, whatever ``?org=`` says.
"""

from houqin.core.testing.isolation import API_DENIED, LOGIN
from houqin.core.testing.route_checks import ANON, JSON_ACCEPT, Check


def idle_card_of_school_a(world):
    from houqin.assets.choices import AssetStatus
    from houqin.assets.models import Asset
    from houqin.assets.tests.factories import make_asset

    card = make_asset(world.a.org, name="甲校闲置分析资产", department=world.a.department, brand="甲牌")
    Asset.objects.filter(pk=card.pk).update(status=AssetStatus.IDLE)
    card.refresh_from_db()
    return card


# Who may view cards somewhere sees their own report (200); the others are refused. (School B's persona naming school
# A with ?org= gets its own school on the page and "no such organisation" from the API: the matrix sends no query
# string, so test_analytics.py checks those, and the export.)
PAGE = {ANON: LOGIN, "admin_a": 200, "head_a": 200, "teacher_a": 403, "admin_b": 200, "bureau_admin": 200,
        "superuser": 200, "outsider": 403}
API = {ANON: API_DENIED, "admin_a": 200, "head_a": 200, "teacher_a": 403, "admin_b": 200, "bureau_admin": 200,
       "superuser": 200, "outsider": 403}

ROUTES = {
    "assets:analytics": (
        Check("GET", PAGE, no_leak=True, setup=idle_card_of_school_a),
        # 刷新 recomputes the kept figures of the user's own scope and shows the page again.
        Check("POST", {**PAGE, **{p: 302 for p, status in PAGE.items() if status == 200}},
              data=lambda world: {"refresh": "1"}, setup=idle_card_of_school_a),
    ),
    # A card's analytics panel: like the card itself (404 outside school A and for those who cannot view cards).
    "assets:analytics_card": (
        Check("GET", {ANON: LOGIN, "admin_a": 200, "head_a": 200, "teacher_a": 404, "admin_b": 404,
                      "bureau_admin": 200, "superuser": 200, "outsider": 404}, setup=idle_card_of_school_a),
    ),
    "api:assets-analytics-list": (
        Check("GET", API, no_leak=True, setup=idle_card_of_school_a, extra=JSON_ACCEPT),
    ),
}
