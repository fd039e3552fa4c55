"""报修 in headless Chromium at desktop and phone widths: a teacher reports a dripping tap with a photo → the 总务主任
dispatches it from the 派工台 to the suggested plumber → the plumber starts it from his phone queue with one tap and
completes it with a photo, a material and his hours → the teacher signs it off with four stars. Each step leaves a
screenshot in artifacts/screenshots/ (see docs/browser-tests.md)."""

from __future__ import annotations

import io
import re

import pytest
from playwright.sync_api import expect

from houqin.core.tests.browser.conftest import (  # noqa: F401  (fixtures)
    PASSWORD,
    _allow_sync_orm_beside_playwright,
    _vendor_assets_findable,
    assert_fits_width,
    chromium,
    log_in,
    page,
    school,
    shot,
    width,
)
from houqin.core.tests.browser.test_approval_journey import log_out, open_menu_item

pytestmark = pytest.mark.browser


def png_bytes() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (30, 144, 255)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def people(school):  # noqa: F811 — the fixture imported above
    from houqin.core.context import acting_as
    from houqin.core.models import Membership, Role, User
    from houqin.repairs.models import Technician

    result = {}
    with acting_as(None):
        for key, username, name, role in (("teacher", "syxx_ls", "李红梅", "teacher"),
                                          ("head", "syxx_zongwu", "刘志强", "logistics_head"),
                                          ("plumber", "syxx_sd", "张建军", "technician"),
                                          ("carpenter", "syxx_mg", "赵木生", "technician")):
            user = User.objects.create_user(username=username, password=PASSWORD, full_name=name,
                                            phone="13900000000", default_org=school.org)
            Membership.objects.create(user=user, org=school.org, role=Role.objects.get(code=role))
            result[key] = user
        Technician.objects.create(org=school.org, user=result["plumber"], trades=["water_power"])
        Technician.objects.create(org=school.org, user=result["carpenter"], trades=["carpentry"])
    return result


def test_report_dispatch_repair_and_sign_off(page, school, people, shot):  # noqa: F811
    from houqin.core import qr
    from houqin.core.models import Room
    from houqin.repairs.models import State, WorkOrder

    # 1. The teacher scans the QR label on her classroom's door and reports from her phone.
    log_in(page, "syxx_ls")
    room = next(r for r in Room.objects.filter(org=school.org).select_related("campus", "building")
                if r.full_name == "南园 教学楼 201 三年级(1)班教室")
    page.goto(qr.scan_path("r", qr.token_for(room)))
    expect(page.get_by_test_id("room-name")).to_have_text(room.full_name)
    shot("room-qr", full_page=False)
    page.get_by_test_id("room-report").click()
    expect(page.get_by_test_id("report-place")).to_contain_text(room.full_name)
    page.locator("label", has_text=re.compile(r"^水电$")).click()
    page.get_by_label("坏了什么").fill("教室后面的水龙头关不紧，一直滴水")
    page.locator("#photos").set_input_files({"name": "水龙头.png", "mimeType": "image/png", "buffer": png_bytes()})
    shot("report-form", full_page=False, centre=page.get_by_test_id("report-submit"))
    if page.width_name == "phone":
        assert_fits_width(page)
    page.get_by_test_id("report-submit").click()
    expect(page.locator("#messages")).to_contain_text("报修成功")
    order = WorkOrder.objects.get()
    expect(page.get_by_test_id("object-title")).to_have_text(order.number)
    shot("reported")
    log_out(page)

    # 2. The 总务主任 dispatches it from the 派工台: the plumber is suggested.
    log_in(page, "syxx_zongwu")
    open_menu_item(page, "派工台")
    row = page.get_by_test_id("dispatch-row").first
    expect(row).to_contain_text("水龙头关不紧")
    expect(row.locator("select[name=assignee] option:checked")).to_contain_text("【推荐】张建军")
    shot("dispatch-board")
    row.get_by_role("button", name="派工").click()
    expect(page.locator("#messages")).to_contain_text("派工")
    log_out(page)

    # 3. The plumber starts and completes it from his phone queue.
    log_in(page, "syxx_sd")
    open_menu_item(page, "维修任务")
    card = page.get_by_test_id("order-card").first
    expect(card).to_contain_text("水龙头关不紧")
    shot("queue")
    card.get_by_test_id("act-start").click()
    expect(page.locator("#messages")).to_contain_text("开始维修")
    page.get_by_test_id("order-card").first.get_by_test_id("act-complete").click()
    page.get_by_label("修了什么").fill("更换水龙头阀芯")
    page.get_by_label("用了几小时").fill("0.5")
    page.locator("#photos").set_input_files({"name": "修好了.png", "mimeType": "image/png", "buffer": png_bytes()})
    page.get_by_label("材料名称").first.fill("阀芯")
    page.get_by_label("数量").first.fill("1")
    page.get_by_label("单价").first.fill("15.50")
    shot("complete-form", full_page=False, centre=page.get_by_test_id("act-submit"))
    if page.width_name == "phone":
        assert_fits_width(page)
    page.get_by_test_id("act-submit").click()
    expect(page.locator("#messages")).to_contain_text("已完工")
    order.refresh_from_db()
    assert order.state == State.DONE and str(order.total_cost) == "40.50"
    log_out(page)

    # 4. The teacher signs it off with four stars.
    log_in(page, "syxx_ls")
    open_menu_item(page, "我的报修")
    expect(page.get_by_test_id("to-sign")).to_contain_text("1 个报修已经修好")
    page.get_by_test_id("order-card").first.locator("a.order-place").click()
    page.get_by_test_id("act-sign_off").click()
    page.locator("label[for=star4]").click()
    page.get_by_label("说两句（可不填）").fill("修得很快")
    shot("sign-off", full_page=False, centre=page.get_by_test_id("act-submit"))
    page.get_by_test_id("act-submit").click()
    expect(page.get_by_test_id("order-rating")).to_have_text("★★★★☆")
    shot("signed-off")
    order.refresh_from_db()
    assert (order.state, order.rating) == (State.ACCEPTED, 4)
    log_out(page)

    # 5. The 总务主任's dashboard counts it: one order received and done, rated 4 stars (satisfied).
    log_in(page, "syxx_zongwu")
    page.goto("/repairs/dashboard/")
    expect(page.get_by_test_id("kpi-received")).to_contain_text("1 单")
    expect(page.get_by_test_id("kpi-done-rate")).to_contain_text("100")
    expect(page.get_by_test_id("kpi-satisfaction")).to_contain_text("100")
    shot("dashboard")
