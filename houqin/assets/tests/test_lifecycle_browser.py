"""The card page's buttons in a real browser, at desktop and phone sizes: the everyday commands as buttons, the rest
under 更多 (a working dropdown, no script error); a lent card reported lost from the menu closes its loan and the
custody panel says 借出期间丢失; the 照片与附件 tab loads its panel when opened. Run with ``pytest -m browser``
(see docs/browser-tests.md)."""

from __future__ import annotations

import pytest

from houqin.assets.tests.test_custody_browser import sign_in
from houqin.core.tests.browser import conftest as browser

_allow_sync_orm_beside_playwright = browser._allow_sync_orm_beside_playwright
_vendor_assets_findable = browser._vendor_assets_findable
chromium, page, shot, width = browser.chromium, browser.page, browser.shot, browser.width

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_more_menu_and_a_lent_card_reported_lost(page, shot, live_server):
    from houqin.assets.choices import AssetStatus
    from houqin.assets.models import Asset, AssetLoan, LoanCondition
    from houqin.assets.tests.factories_custody import keeper_of, make_loan
    from houqin.assets.tests.test_custody import card
    from houqin.core.testing.world import build_world

    world = build_world()
    asset = card(world, name="数码摄像机")
    keeper = keeper_of(world.a.org)
    loan = make_loan(asset, keeper=keeper)
    sign_in(page, live_server, keeper)
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    page.goto(f"/assets/assets/{asset.pk}/")
    assert page.locator('[data-testid="action-return_loan"]').is_visible()
    lost = page.locator('[data-testid="action-lost"]')
    assert not lost.is_visible()  # under 更多
    page.locator('[data-testid="action-more"] .dropdown-toggle').click()
    lost.wait_for(state="visible")
    shot("card-more-menu", full_page=False)
    lost.click()
    page.get_by_label("丢失经过").fill("借用人在外校比赛时遗失")
    page.get_by_role("button", name="登记丢失").last.click()
    page.wait_for_selector('[data-testid="card-custody"]')
    assert "借出期间丢失" in page.locator('[data-testid="card-custody"]').inner_text()
    shot("card-lost")
    # The 照片与附件 tab loads its panel when it is opened: the keeper may add photos.
    page.locator('[data-testid="tab-attachments"]').click()
    page.locator('[data-testid="attachment-upload"]').wait_for(state="visible")
    assert page.locator('[data-testid="attachments-empty"]').is_visible()
    shot("card-attachments-tab", full_page=False)
    loan = AssetLoan.objects.get(pk=loan.pk)
    assert loan.return_condition == LoanCondition.LOST and Asset.objects.get(pk=asset.pk).status == AssetStatus.LOST
    assert errors == []
