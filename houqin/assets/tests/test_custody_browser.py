"""借出 and 归还 in a real browser, at desktop and phone sizes: the keeper opens the card, lends it to a teacher who
signs on the screen (the vendored signature_pad, no CDN, no script error), the loan page shows the signature, then
the card comes back damaged and the loan says so. Run with ``pytest -m browser`` (see docs/browser-tests.md)."""

from __future__ import annotations

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


def draw_signature(page) -> None:
    canvas = page.locator('[data-testid="signature-pad"] canvas')
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    x, y, w, h = box["x"], box["y"], box["width"], box["height"]
    page.mouse.move(x + w * 0.1, y + h * 0.6)
    page.mouse.down()
    for i in range(1, 13):
        page.mouse.move(x + w * (0.1 + 0.06 * i), y + h * (0.3 if i % 2 else 0.7), steps=4)
    page.mouse.up()


def test_lend_with_signature_and_return_damaged(page, shot, live_server):
    from houqin.assets.choices import AssetStatus
    from houqin.assets.models import AssetLoan
    from houqin.assets.tests.factories_custody import keeper_of
    from houqin.assets.tests.test_custody import card
    from houqin.core.testing.world import build_world

    world = build_world()
    asset = card(world, name="华为笔记本电脑")
    keeper = keeper_of(world.a.org)
    sign_in(page, live_server, keeper)

    page.goto(f"/assets/assets/{asset.pk}/")
    page.locator('[data-testid="action-lend"]').click()
    page.wait_for_selector('[data-testid="signature-pad"] canvas')
    page.get_by_label("借用人（本校人员）").select_option(str(world.a.staff.pk))
    page.get_by_label("用途").fill("外出赛课")
    # Unsigned: refused, nothing lent.
    page.locator('[data-testid="lend-submit"]').click()
    page.wait_for_selector('[data-testid="signature-error"]')
    assert "请借用人在屏幕上签字" in page.locator('[data-testid="signature-error"]').inner_text()
    assert not AssetLoan.objects.exists()
    draw_signature(page)
    assert page.locator("[data-signature-ok]").is_visible()
    browser.assert_fits_width(page)
    shot("signed", full_page=False, centre=page.locator('[data-testid="signature-pad"]'))
    page.locator('[data-testid="lend-submit"]').click()
    page.wait_for_selector('[data-testid="signature-image"]')
    loan = AssetLoan.objects.get()
    assert loan.borrower == world.a.staff and not loan.signature_pending
    assert browser.loaded_image_width(page.locator('[data-testid="signature-image"]')) > 0
    shot("loan")
    page.goto(f"/assets/assets/{asset.pk}/")
    assert "借出中" in page.locator('[data-testid="custody-current-loan"]').inner_text()
    browser.assert_fits_width(page)
    browser.SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    page.locator('[data-testid="card-custody"]').screenshot(
        path=str(browser.SCREENSHOT_DIR / f"custody-card-panel-{page.width_name}.png"))

    page.goto(f"/assets/loans/{loan.pk}/")
    page.locator('[data-testid="loan-return"]').click()
    page.get_by_text("有损坏", exact=True).click()
    page.get_by_label("归还说明").fill("屏幕边框磕碰")
    page.locator('[data-testid="loan-submit"]').click()
    page.wait_for_selector('[data-testid="loan-damaged"]')
    asset.refresh_from_db()
    assert asset.status == AssetStatus.IN_USE
    shot("returned")


def test_transfer_across_departments_and_my_assets(page, shot, live_server):
    from houqin.assets.models import AssetTransfer, TransferStatus
    from houqin.assets.tests.factories_custody import keeper_of, make_loan
    from houqin.assets.tests.test_custody import card
    from houqin.core.testing import factories as f
    from houqin.core.testing.world import build_world

    world = build_world()
    teaching = f.make_department(world.a.org, "甲教务处")
    asset = card(world, name="教研组投影仪")
    keeper = keeper_of(world.a.org)
    sign_in(page, live_server, keeper)
    page.goto(f"/assets/assets/{asset.pk}/")
    page.locator('[data-testid="action-transfer"]').click()
    page.get_by_label("使用部门").select_option(str(teaching.pk))
    page.get_by_label("存放地点").select_option(str(world.a.rooms[1].pk))
    page.get_by_label("调拨原因").fill("教研组调整")
    browser.assert_fits_width(page)
    shot("form", full_page=False, centre=page.locator('[data-testid="command-form"]'))
    page.get_by_role("button", name="确认调拨").click()
    page.wait_for_selector('[data-testid="transfer-pending"]')
    move = AssetTransfer.objects.get()
    assert move.status == TransferStatus.PENDING
    shot("pending")

    page.context.clear_cookies()
    sign_in(page, live_server, world.head_a)
    page.goto(f"/assets/transfers/{move.pk}/")
    page.locator('[data-testid="approve"]').click()
    page.wait_for_url(f"**/approvals/{move.approval_id}/**")
    move.refresh_from_db()
    asset.refresh_from_db()
    assert move.status == TransferStatus.DONE and asset.department == teaching

    make_loan(card(world, name="借来的相机", custodian=keeper), keeper=keeper, borrower=world.a.staff)
    page.context.clear_cookies()
    sign_in(page, live_server, world.a.staff)
    page.goto("/assets/mine/")
    assert page.locator('[data-testid="my-loan"]').count() == 1
    assert "借来的相机" in page.locator('[data-testid="my-loans"]').inner_text()
    browser.assert_fits_width(page)
    shot("my-assets")
