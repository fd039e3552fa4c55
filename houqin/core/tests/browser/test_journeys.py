"""The everyday journeys of a school's system administrator, in headless Chromium at desktop and phone widths:
sign in → open a list from the menu → search → open a record → edit → read its change log; a form error; a
deletion with confirmation; the print stylesheet; sign out. Each step leaves a screenshot in
artifacts/screenshots/ (see docs/browser-tests.md)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from houqin.core.tests.browser.conftest import PASSWORD, assert_fits_width, log_in

pytestmark = pytest.mark.browser


def open_phone_menu(page) -> None:
    """On a phone the side menu is collapsed behind the toggler: open it and wait until it has slid open."""
    toggler = page.get_by_role("button", name="打开菜单")
    expect(toggler).to_have_attribute("aria-expanded", "false")
    toggler.click()
    expect(toggler).to_have_attribute("aria-expanded", "true")
    expect(page.locator("#sidebar-menu")).to_have_class(re.compile(r"(^|\s)show(\s|$)"))  # done sliding


def open_menu_item(page, label: str) -> None:
    """Click an entry of the side menu; on a phone the menu is first opened with the toggler."""
    link = page.locator("#sidebar-menu").get_by_role("link", name=label)
    if page.width_name == "phone":
        expect(link).to_be_hidden()
        open_phone_menu(page)
    expect(link).to_be_visible()
    link.click()


@pytest.mark.parametrize("width", ["desktop"])
def test_styles_are_served_locally(page, school):
    """The theme's stylesheet and icon font load from the application itself and are applied."""
    page.goto("/login/")
    button = page.get_by_role("button", name="登录")
    # Tabler's .btn-primary paints the button in the theme's blue, not the browser's grey.
    background = button.evaluate("el => getComputedStyle(el).backgroundColor")
    assert background not in ("rgba(0, 0, 0, 0)", "rgb(239, 239, 239)", "rgb(240, 240, 240)"), background
    icon_font = page.locator(".ti").first.evaluate("el => getComputedStyle(el, '::before').fontFamily")
    assert icon_font.strip('"') == "tabler-icons", icon_font
    assert page.evaluate("document.fonts.check('16px tabler-icons')")
    styles = [u for u in page.watch.requests if u.endswith(".css")]
    assert any("/static/vendor/tabler/css/tabler.min.css" in u for u in styles), styles


def test_find_edit_and_see_change_log(page, school, shot):
    """Journey 1: sign in, menu → 房间与区域, search "dn", open 电脑室, edit 容纳人数 and 备注, see the change log."""
    room = school.rooms["电脑室"]

    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/$"))
    expect(page.get_by_role("heading", name="登录")).to_be_visible()
    page.get_by_label("账号").fill(school.admin.username)
    page.get_by_label("密码").fill(PASSWORD)
    shot("login")
    page.get_by_role("button", name="登录").click()

    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_role("heading", name="实验小学")).to_be_visible()
    shot("dashboard")

    assert_fits_width(page)
    if page.width_name == "phone":
        open_phone_menu(page)
        expect(page.locator("#sidebar-menu").get_by_role("link", name="房间与区域")).to_be_visible()
        shot("menu-open", full_page=False)
        page.get_by_role("button", name="打开菜单").click()
        expect(page.locator("#sidebar-menu")).not_to_have_class(re.compile(r"(^|\s)(show|collapsing)(\s|$)"))
    open_menu_item(page, "房间与区域")
    expect(page).to_have_url(re.compile(r"/core/rooms/$"))
    table = page.get_by_test_id("object-table")
    expect(page.get_by_test_id("row-count")).to_have_text("30")
    assert_fits_width(page)
    shot("room-list")

    # The search updates the table in place (HTMX) and pushes the query into the address bar.
    page.evaluate("window.__samePage = true")
    search = page.locator("input[name=q]")
    search.click()
    search.press_sequentially("dn", delay=50)
    expect(page).to_have_url(re.compile(r"[?&]q=dn(&|$)"))
    expect(page.get_by_test_id("row-count")).to_have_text("1")
    expect(table).to_contain_text("电脑室")
    expect(table).not_to_contain_text("音乐室")
    assert page.evaluate("window.__samePage") is True, "the search reloaded the page"
    shot("room-search-dn")

    table.get_by_role("link", name="电脑室").click()
    expect(page).to_have_url(re.compile(rf"/core/rooms/{room.pk}/$"))
    expect(page.get_by_test_id("object-title")).to_have_text(str(room))
    assert_fits_width(page)
    shot("room-detail")

    page.get_by_role("link", name="编辑").click()
    expect(page).to_have_url(re.compile(rf"/core/rooms/{room.pk}/edit/$"))
    capacity = page.get_by_label("容纳人数")
    expect(capacity).to_have_value("40")
    capacity.fill("48")
    page.get_by_label("备注").fill("2026年3月更换电脑，座位增至48个")
    assert_fits_width(page)
    shot("room-edit", full_page=page.width_name == "desktop", centre=capacity)
    page.get_by_role("button", name="保存").click()

    expect(page).to_have_url(re.compile(rf"/core/rooms/{room.pk}/$"))
    expect(page.locator(".alert-success")).to_contain_text("已保存房间")
    expect(page.locator("#tab-detail")).to_contain_text("48")
    expect(page.locator("#tab-detail")).to_contain_text("2026年3月更换电脑，座位增至48个")
    shot("room-saved")

    page.get_by_role("tab", name="变更记录").click()
    log = page.locator("#tab-changelog").get_by_test_id("changelog")
    expect(log).to_be_visible()
    update = log.locator(".changelog-entry").filter(has=page.locator(".badge", has_text="修改"))
    expect(update).to_have_count(1)
    expect(update).to_contain_text("王建国")
    capacity_row = update.locator("tr").filter(has_text="容纳人数")
    expect(capacity_row.locator("td")).to_have_text(["容纳人数", "40", "48"])
    expect(update.locator("tr").filter(has_text="备注")).to_contain_text("2026年3月更换电脑，座位增至48个")
    assert page.evaluate("location.pathname") == f"/core/rooms/{room.pk}/"
    assert_fits_width(page)
    shot("room-change-log")

    room.refresh_from_db()
    assert (room.capacity, room.note) == (48, "2026年3月更换电脑，座位增至48个")


@pytest.mark.parametrize("width", ["desktop"])
def test_search_and_back_button(signed_in, school):
    """The browser's back button after an in-place search shows the unfiltered list again."""
    page = signed_in
    page.goto("/core/rooms/")
    page.locator("input[name=q]").press_sequentially("yys", delay=50)
    expect(page).to_have_url(re.compile(r"[?&]q=yys(&|$)"))
    expect(page.get_by_test_id("object-table")).to_contain_text("音乐室")
    expect(page.get_by_test_id("row-count")).to_have_text("1")
    page.go_back()
    expect(page).to_have_url(re.compile(r"/core/rooms/$"))
    expect(page.get_by_test_id("row-count")).to_have_text("30")
    page.go_forward()
    expect(page).to_have_url(re.compile(r"[?&]q=yys(&|$)"))
    expect(page.get_by_test_id("row-count")).to_have_text("1")


@pytest.mark.parametrize("width", ["desktop"])
def test_export_link_follows_search(signed_in, school):
    """After an in-place search, 导出 Excel exports what the list shows (DESIGN §4.8: exactly as filtered)."""
    page = signed_in
    page.goto("/core/rooms/")
    page.locator("input[name=q]").press_sequentially("dn", delay=50)
    expect(page).to_have_url(re.compile(r"[?&]q=dn(&|$)"))
    expect(page.get_by_test_id("row-count")).to_have_text("1")
    expect(page.locator("#export-link")).to_have_attribute("href", re.compile(r"[?&]q=dn(&|$)"), timeout=1000)


def test_required_field_error(signed_in, school, shot):
    """Journey 2: saving with an empty 名称 shows the Chinese message next to the field and saves nothing."""
    from houqin.core.models import ChangeLogEntry

    page = signed_in
    room = school.rooms["音乐室"]
    logged = ChangeLogEntry.objects.count()
    page.goto(f"/core/rooms/{room.pk}/edit/")
    name = page.get_by_label("名称", exact=True)
    expect(name).to_have_value("音乐室")
    name.fill("")
    page.get_by_label("容纳人数").fill("50")
    page.get_by_role("button", name="保存").click()

    expect(page).to_have_url(re.compile(rf"/core/rooms/{room.pk}/edit/$"))
    expect(page.locator(".alert-danger")).to_contain_text("提交的内容有误")
    name = page.get_by_label("名称", exact=True)
    expect(name).to_have_class(re.compile(r"\bis-invalid\b"))
    expect(name).to_have_attribute("aria-invalid", "true")
    # The message sits in the same form group, right after the field.
    feedback = name.locator("xpath=following-sibling::div[contains(@class, 'invalid-feedback')][1]")
    expect(feedback).to_have_text("该字段是必填项。")
    expect(feedback).to_be_visible()
    # What the user typed elsewhere is kept.
    expect(page.get_by_label("容纳人数")).to_have_value("50")
    assert_fits_width(page)
    shot("form-error", full_page=page.width_name == "desktop", centre=name)

    room.refresh_from_db()
    assert (room.name, room.capacity) == ("音乐室", 40)
    assert ChangeLogEntry.objects.count() == logged


def test_delete_with_confirmation(signed_in, school, shot):
    """Journey 3: 删除 asks for confirmation; 确认删除 removes the room and returns to the list."""
    from houqin.core.models import Room

    page = signed_in
    room = school.rooms["储藏室"]
    page.goto(f"/core/rooms/{room.pk}/")
    page.get_by_role("link", name="删除").click()

    expect(page).to_have_url(re.compile(rf"/core/rooms/{room.pk}/delete/$"))
    expect(page.locator("h2")).to_have_text(f"确定删除房间“{room}”吗？")
    shot("delete-confirm")
    page.get_by_role("button", name="确认删除").click()

    expect(page).to_have_url(re.compile(r"/core/rooms/$"))
    expect(page.locator(".alert-success")).to_contain_text(f"已删除房间：{room}")
    expect(page.get_by_test_id("row-count")).to_have_text("29")
    expect(page.get_by_test_id("object-table")).not_to_contain_text("储藏室")
    shot("delete-done")
    assert not Room.objects.filter(pk=room.pk).exists()


def test_print_stylesheet(signed_in, school, shot):
    """Journey 4: printing a record shows its content only: no menu, header, buttons or tabs."""
    page = signed_in
    room = school.rooms["电脑室"]
    page.goto(f"/core/rooms/{room.pk}/")
    sidebar = page.locator("aside.navbar-vertical")
    if page.width_name == "desktop":
        expect(sidebar).to_be_visible()
    page.emulate_media(media="print")
    expect(sidebar).to_be_hidden()
    expect(page.locator("header.navbar")).to_be_hidden()
    expect(page.get_by_role("link", name="编辑")).to_be_hidden()
    expect(page.get_by_role("link", name="打印", exact=True)).to_be_hidden()
    expect(page.locator(".nav-tabs")).to_be_hidden()
    expect(page.get_by_test_id("object-title")).to_be_visible()
    expect(page.locator("#tab-detail")).to_contain_text("容纳人数")
    # The content uses the whole sheet instead of leaving the sidebar's space empty.
    left = page.locator(".page-wrapper").evaluate("el => el.getBoundingClientRect().left")
    assert left < 20, left
    shot("print-detail")


def test_sign_out(signed_in, school, shot):
    """Journey 5: 退出登录 ends the session and shows the sign-in page with a message."""
    page = signed_in
    if page.width_name == "phone":
        page.locator("aside").get_by_role("button", name="退出登录").click()
    else:
        page.get_by_role("link", name="账号菜单").click()
        page.get_by_role("button", name="退出登录").click()
    expect(page).to_have_url(re.compile(r"/login/$"))
    expect(page.locator(".alert-success")).to_have_text("您已安全退出。")
    shot("signed-out")
    page.goto("/core/rooms/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/core/rooms/$"))


def test_wrong_password(page, school, shot):
    """A wrong password is answered in Chinese on the sign-in page, which keeps the account name."""
    page.goto("/login/")
    page.get_by_label("账号").fill(school.admin.username)
    page.get_by_label("密码").fill("wrong-password")
    page.get_by_role("button", name="登录").click()
    expect(page.locator(".alert-danger")).to_contain_text("账号或密码错误，请重新输入。")
    expect(page.get_by_label("账号")).to_have_value(school.admin.username)
    shot("login-error")
    log_in(page, school.admin.username)
