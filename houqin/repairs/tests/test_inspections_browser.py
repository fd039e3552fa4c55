"""填写巡检 in a real browser, at desktop and phone sizes: the teacher named on a plan opens 巡检任务, taps the big
buttons, is stopped before sending a failure without a photo, takes the photo, signs on the screen (the vendored
signature_pad) and submits; the record shows the failure, its work order and the signature. Run with
``pytest -m browser`` (see docs/browser-tests.md)."""

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


def draw_signature(page) -> None:
    canvas = page.locator("#signature-pad")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    x, y, w, h = box["x"], box["y"], box["width"], box["height"]
    page.mouse.move(x + w * 0.1, y + h * 0.6)
    page.mouse.down()
    for i in range(1, 13):
        page.mouse.move(x + w * (0.1 + 0.06 * i), y + h * (0.3 if i % 2 else 0.7), steps=4)
    page.mouse.up()


def test_doing_an_inspection_on_the_phone(page, shot, live_server):
    from django.utils import timezone

    from houqin.core.testing.world import build_world
    from houqin.repairs.models.inspections import InspectionRun, RunState
    from houqin.repairs.tests.factories_inspections import make_plan, make_run, photo_jpeg

    world = build_world()
    plan = make_plan(world.a.org, name="操场大型玩具周检", responsible=world.teacher_a, responsible_role="",
                     target="操场滑梯、秋千")
    plan.rooms.add(world.a.rooms[0])
    today = timezone.localdate()
    run = make_run(plan, due_date=today, opens_on=today - datetime.timedelta(days=6))
    sign_in(page, live_server, world.teacher_a)

    page.goto("/repairs/inspections/")
    page.locator(f'[data-testid="do-{run.pk}"]').click()
    page.wait_for_selector('[data-testid="run-form"]')
    items = plan.checklist
    page.locator(f'[data-testid="item_{items[0].pk}-fail"]').click()
    page.locator(f'[data-testid="item_{items[1].pk}-pass"]').click()
    page.locator(f'[data-testid="item_{items[2].pk}-na"]').click()
    page.locator(f"#id_item_{items[0].pk}_note").fill("滑梯扶手螺丝松动")
    # The place is asked for a failed line only.
    assert page.locator(f"#id_item_{items[0].pk}_where").is_visible()
    assert not page.locator(f"#id_item_{items[1].pk}_where").is_visible()
    shot("form", full_page=False, centre=page.locator(f"#{'item_'}{items[0].pk}"))
    # A failure without a photo, and no signature: stopped in the browser, nothing sent.
    page.locator('[data-testid="submit-run"]').click()
    errors = page.locator("#client-errors")
    errors.wait_for(state="visible")
    assert "第 1 项不合格，请拍照" in errors.inner_text() and "请在签名框内签名" in errors.inner_text()
    assert InspectionRun.objects.get(pk=run.pk).state == RunState.PENDING
    page.set_input_files(f"#id_item_{items[0].pk}_photo",
                         files=[{"name": "滑梯.jpg", "mimeType": "image/jpeg", "buffer": photo_jpeg()}])
    draw_signature(page)
    browser.assert_fits_width(page)
    shot("signed", full_page=False, centre=page.locator("#signature-pad"))
    page.locator('[data-testid="submit-run"]').click()
    page.wait_for_selector('[data-testid="results"]')
    run.refresh_from_db()
    assert run.state == RunState.DONE and run.failed_count == 1 and run.done_by == world.teacher_a
    result = run.results.get(position=1)
    assert result.work_order_number and result.work_order_number in page.content()
    assert "滑梯扶手螺丝松动" in page.content()
    assert browser.loaded_image_width(page.locator('[data-testid="signature"]')) > 0
    assert page.locator('[data-testid="outcome-1"]').inner_text() == "不合格"
    browser.assert_fits_width(page)
    shot("record")
