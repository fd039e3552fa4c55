"""A 通用申请 through its two approval steps, in headless Chromium at desktop and phone widths: a teacher files
it → the 总务主任 sees the inbox count, opens 待我审批 and agrees with a comment → the 校长 does the same → the
request shows 已通过 with both approvals in its trail, and the teacher sees 已通过 in 我的申请. Each step leaves a
screenshot in artifacts/screenshots/ (see docs/browser-tests.md)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from houqin.core.tests.browser.conftest import PASSWORD, assert_fits_width, log_in

pytestmark = pytest.mark.browser

# 3,500 元 falls in the general band 1,000–10,000 元: 总务主任审批 → 校长审批 (a different person).
AMOUNT = "3500"
TITLE = "更换三楼教师办公室空调"
FIRST_COMMENT = "情况属实，同意更换"
SECOND_COMMENT = "同意，请按采购流程办理"


@pytest.fixture
def staff(school):
    """A teacher (the requester), the 总务主任 and the 校长 of 实验小学."""
    from houqin.core.context import acting_as
    from houqin.core.models import Membership, Role, User

    people = {}
    with acting_as(None):
        for key, username, name, role in (
            ("teacher", "syxx_chenxm", "陈晓梅", "teacher"),
            ("head", "syxx_liuzq", "刘志强", "logistics_head"),
            ("principal", "syxx_zhanghm", "张慧敏", "principal"),
        ):
            user = User.objects.create_user(username=username, password=PASSWORD, full_name=name,
                                            default_org=school.org)
            Membership.objects.create(user=user, org=school.org, role=Role.objects.get(code=role))
            people[key] = user
    return people


def open_menu_item(page, label: str) -> None:
    """Click an entry of the side menu; on a phone the menu is first opened with the toggler."""
    link = page.locator("#sidebar-menu").get_by_role("link", name=label)
    if page.width_name == "phone":
        toggler = page.get_by_role("button", name="打开菜单")
        toggler.click()
        expect(toggler).to_have_attribute("aria-expanded", "true")
        expect(page.locator("#sidebar-menu")).to_have_class(re.compile(r"(^|\s)show(\s|$)"))
    expect(link).to_be_visible()
    link.click()


def log_out(page) -> None:
    if page.width_name == "phone":
        page.locator("aside").get_by_role("button", name="退出登录").click()
    else:
        page.get_by_role("link", name="账号菜单").click()
        page.get_by_role("button", name="退出登录").click()
    expect(page).to_have_url(re.compile(r"/login/$"))


def expect_header_count(page, count: int) -> None:
    """The header's 待我审批 count, loaded by HTMX after the page. On a phone the header bar is not shown, so
    only its loaded value is checked there."""
    with page.expect_response(re.compile(r"/approvals/inbox/count/")):
        page.goto("/")
    badge = page.get_by_test_id("approval-count")
    expect(badge).to_have_attribute("data-count", str(count))
    if page.width_name == "desktop":
        if count:
            expect(badge).to_be_visible()
            expect(badge).to_have_text(str(count))
        else:
            expect(badge).to_be_hidden()


def approve_from_inbox(page, number: str, step_label: str, comment: str, shot, who: str) -> None:
    """待我审批 → open the request → 同意 with a comment."""
    open_menu_item(page, "待我审批")
    expect(page).to_have_url(re.compile(r"/approvals/inbox/$"))
    expect(page.get_by_test_id("inbox-count")).to_have_text("1")
    table = page.get_by_test_id("approval-table")
    expect(table).to_contain_text(TITLE)
    expect(table).to_contain_text(step_label)
    assert_fits_width(page)
    shot(f"{who}-inbox")

    table.get_by_role("link", name=number).click()
    expect(page.get_by_test_id("object-title")).to_have_text(f"通用申请 {number}")
    form = page.get_by_test_id("approval-act")
    expect(form).to_contain_text(f"办理：{step_label}")
    form.get_by_label("审批意见").fill(comment)
    assert_fits_width(page)
    shot(f"{who}-detail", full_page=page.width_name == "desktop", centre=form)
    form.get_by_test_id("approve").click()
    expect(page.locator(".alert-success")).to_contain_text(f"已同意：{number}")


def test_general_request_two_step_approval(page, school, staff, shot):
    teacher, head, principal = staff["teacher"], staff["head"], staff["principal"]

    # The teacher files a 通用申请 of 3,500 元 from 我的申请.
    log_in(page, teacher.username)
    open_menu_item(page, "我的申请")
    expect(page).to_have_url(re.compile(r"/approvals/mine/$"))
    page.get_by_role("link", name="新建通用申请").last.click()
    expect(page).to_have_url(re.compile(r"/approvals/new/$"))
    expect(page.get_by_test_id("policy-bands")).to_contain_text("1,000 元 ≤ 金额 < 10,000 元：总务主任 → 校长/园长")
    page.get_by_label("事由").fill(TITLE)
    page.get_by_label("类别").select_option(label="经费开支")
    amount = page.get_by_label("金额（元）")
    amount.fill(AMOUNT)
    page.get_by_label("说明").fill("三楼教师办公室空调制冷失效，维修单位评估已无维修价值，申请更换一台1.5匹挂机。")
    assert_fits_width(page)
    shot("teacher-form", full_page=page.width_name == "desktop", centre=amount)
    page.get_by_test_id("submit-approval").click()

    expect(page.locator(".alert-success")).to_contain_text("已提交审批")
    expect(page.locator(".alert-success")).to_contain_text("等待总务主任审批")
    number = page.get_by_test_id("object-title").inner_text().removeprefix("通用申请 ").strip()
    assert re.fullmatch(r"SP-\d{4}-\d{5}", number), number
    expect(page.get_by_test_id("approval-status")).to_have_text("审批中")
    timeline = page.get_by_test_id("approval-timeline")
    expect(timeline.locator("li")).to_have_count(2)
    expect(timeline.locator("li[data-state=current]")).to_contain_text("总务主任审批")
    assert_fits_width(page)
    shot("teacher-submitted")
    log_out(page)

    # The 总务主任: one request waiting, agrees with a comment; the count goes back to 0.
    log_in(page, head.username)
    expect_header_count(page, 1)
    shot("head-dashboard", full_page=False)
    approve_from_inbox(page, number, "总务主任审批", FIRST_COMMENT, shot, "head")
    expect(page.get_by_test_id("approval-status")).to_have_text("审批中")
    expect(page.get_by_test_id("approval-timeline").locator("li[data-state=current]")).to_contain_text("校长审批")
    expect(page.get_by_test_id("approval-act")).to_have_count(0)
    shot("head-approved")
    expect_header_count(page, 0)
    open_menu_item(page, "待我审批")
    expect(page.get_by_test_id("inbox-count")).to_have_text("0")
    expect(page.get_by_test_id("approval-table")).to_contain_text("暂无待审批的申请")
    shot("head-inbox-empty")
    log_out(page)

    # The 校长: one request waiting, agrees; the request is 已通过 with both approvals in its trail.
    log_in(page, principal.username)
    expect_header_count(page, 1)
    approve_from_inbox(page, number, "校长审批", SECOND_COMMENT, shot, "principal")
    expect(page.get_by_test_id("approval-status")).to_have_text("已通过")
    expect(page.get_by_test_id("approval-act")).to_have_count(0)
    steps = page.get_by_test_id("approval-timeline").locator("li")
    expect(steps.nth(0)).to_have_attribute("data-state", "done")
    expect(steps.nth(0)).to_contain_text("刘志强 同意")
    expect(steps.nth(1)).to_have_attribute("data-state", "done")
    expect(steps.nth(1)).to_contain_text("张慧敏 同意")
    trail = page.get_by_test_id("approval-trail").locator(".list-group-item")
    expect(trail).to_have_count(3)
    expect(trail.nth(0)).to_contain_text("提交")
    expect(trail.nth(0)).to_contain_text("陈晓梅")
    approvals = trail.filter(has=page.locator(".badge", has_text="同意"))
    expect(approvals).to_have_count(2)
    expect(approvals.nth(0)).to_contain_text("刘志强")
    expect(approvals.nth(0)).to_contain_text(FIRST_COMMENT)
    expect(approvals.nth(1)).to_contain_text("张慧敏")
    expect(approvals.nth(1)).to_contain_text(SECOND_COMMENT)
    expect(page.locator("dl.detail-list")).to_contain_text("已同意")  # 办理结果 of the 通用申请
    assert_fits_width(page)
    shot("principal-approved")
    expect_header_count(page, 0)
    log_out(page)

    # The teacher sees 已通过 in 我的申请.
    log_in(page, teacher.username)
    open_menu_item(page, "我的申请")
    row = page.get_by_test_id("approval-table").locator("tbody tr").filter(has_text=number)
    expect(row).to_have_count(1)
    expect(row.get_by_test_id("approval-status")).to_have_text("已通过")
    assert_fits_width(page)
    shot("teacher-mine")
