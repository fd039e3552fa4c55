"""资产分析 in a real browser: the charts are drawn by the vendored ECharts (no CDN, no script error) and the card
page loads its analytics panel. Run with ``pytest -m browser`` (see docs/browser-tests.md)."""

from __future__ import annotations

import datetime

import pytest

from houqin.core.tests.browser import conftest as browser

# The browser fixtures of houqin/core/tests/browser/conftest.py (a conftest's fixtures reach only its directory).
_allow_sync_orm_beside_playwright = browser._allow_sync_orm_beside_playwright
_vendor_assets_findable = browser._vendor_assets_findable
chromium, page, shot, width = browser.chromium, browser.page, browser.shot, browser.width

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page, live_server, user) -> None:
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    page.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME,
                               "value": client.cookies[settings.SESSION_COOKIE_NAME].value, "url": live_server.url}])


def test_analytics_charts_and_card_panel(page, shot, live_server):
    from houqin.assets.choices import AssetStatus
    from houqin.assets.models import Asset
    from houqin.assets.tests.factories import make_asset
    from houqin.core.testing.world import build_world

    world = build_world()
    a = world.a
    cards = [make_asset(a.org, name=f"电脑{i}", acquired_on=datetime.date(2015 + i, 3, 1), department=a.department,
                        funding_source="财政拨款" if i % 2 else "专项经费") for i in range(8)]
    make_asset(a.org, category="6010200", name="学生课桌", quantity=40, unit_price="200.00", is_batch=True,
               acquired_on=datetime.date(2012, 9, 1))
    Asset.objects.filter(pk__in=[c.pk for c in cards[:3]]).update(status=AssetStatus.IDLE)
    sign_in(page, live_server, world.head_a)

    page.goto("/assets/analytics/")
    page.wait_for_selector('[data-chart="bands"] svg')
    drawn = page.eval_on_selector_all("[data-chart]", "els => els.filter(e => e.querySelector('svg')).length")
    assert drawn >= 7  # every chart with data (the repairs chart has none here)
    assert page.locator('[data-testid="kpi-idle-rate"]').inner_text() != "—"
    assert page.locator('[data-testid="analytics-repairs"]').is_visible()
    shot("report")
    for chart in ("category_age", "department_idle", "statuses", "funding_years"):  # each chart on its own
        browser.SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        page.locator(f'[data-chart="{chart}"]').screenshot(
            path=str(browser.SCREENSHOT_DIR / f"analytics-chart-{page.width_name}-{chart}.png"))

    page.goto(f"/assets/assets/{cards[0].pk}/")
    page.wait_for_selector('[data-testid="card-age"]')  # the panel replaced its placeholder
    assert "年" in page.locator('[data-testid="card-age"]').inner_text()
    shot("card", full_page=False, centre=page.locator('[data-testid="asset-analytics"]'))
