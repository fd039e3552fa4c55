"""维修看板 in headless Chromium at desktop and phone widths: the school's 系统管理员 opens it from the menu, sees
the key figures, the ECharts charts (vendored, no CDN) and the tables below them, and nothing sticks out sideways
on a phone. Screenshots go to artifacts/screenshots/ (see docs/browser-tests.md)."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from houqin.core.tests.browser.conftest import (  # noqa: F401  (fixtures)
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
from houqin.core.tests.browser.test_approval_journey import open_menu_item

pytestmark = pytest.mark.browser


@pytest.fixture
def orders(school):  # noqa: F811 — the fixture imported above
    from django.utils import timezone

    from houqin.core.context import acting_as
    from houqin.core.models import Membership, Role, User
    from houqin.repairs.defaults import ensure_defaults
    from houqin.repairs.models import RepairCategory, State, WorkOrder

    h = datetime.timedelta(hours=1)
    now = timezone.now()
    with acting_as(None):
        ensure_defaults(school.org)
        categories = list(RepairCategory.objects.filter(org=school.org))
        techs = []
        for username, name in (("syxx_sd", "张建军"), ("syxx_mg", "赵木生")):
            user = User.objects.create_user(username=username, password="x-Houqin@2026", full_name=name,
                                            default_org=school.org)
            Membership.objects.create(user=user, org=school.org, role=Role.objects.get(code="technician"))
            techs.append(user)
        rooms = list(school.rooms.values())
        states = [State.VISITED, State.ACCEPTED, State.DONE, State.DISPATCHED, State.NEW, State.IN_PROGRESS]
        for i in range(36):
            reported = now - datetime.timedelta(days=(i * 5) % 150, hours=i % 5)
            state = states[i % len(states)]
            done = state in (State.VISITED, State.ACCEPTED, State.DONE)
            room = rooms[i % len(rooms)]
            WorkOrder.objects.create(
                org=school.org, number=f"BX-LL-{i:03d}", room=room, building=school.building,
                category=categories[i % len(categories)], description="浏览器测试报修", state=state,
                assignee=techs[i % 2] if state != State.NEW else None, reported_at=reported,
                accepted_at=reported + h if state != State.NEW else None, accept_due=reported + 2 * h,
                completed_at=reported + (3 + i % 8) * h if done else None, finish_due=reported + 8 * h,
                rating=(i % 5) + 1 if done and i % 4 else None, total_cost=Decimal("25.00") if done else 0,
                labour_hours=Decimal("1.0") if done else 0, place_text=str(room))


def test_dashboard(page, school, orders, shot):  # noqa: F811
    log_in(page, school.admin.username)
    open_menu_item(page, "维修看板")
    expect(page.get_by_role("heading", name="维修看板", level=1)).to_be_visible()
    expect(page.get_by_test_id("kpi-received")).to_have_text("36 单")
    expect(page.locator("[data-chart=months] svg")).to_be_visible()
    expect(page.locator("[data-chart=technicians] svg")).to_be_visible()
    expect(page.get_by_test_id("table-technicians")).to_contain_text("张建军")
    expect(page.get_by_test_id("export-link")).to_be_visible()
    if page.width_name == "phone":
        assert_fits_width(page)
    shot("top", full_page=False)
    page.get_by_test_id("technician-assessment").scroll_into_view_if_needed()
    shot("technicians", full_page=False)
    shot("whole", full_page=True)
