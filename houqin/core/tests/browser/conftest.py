"""Fixtures of the browser tests: a live server, one headless Chromium per session, a page per test at
desktop or phone size, and a small school (实验小学 with its rooms) signed in as its system administrator.

Chromium is the one installed by the operating system (``HOUQIN_CHROMIUM``, default /usr/bin/chromium);
Playwright never downloads a browser here. See docs/browser-tests.md.
"""

from __future__ import annotations

import os
import re
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

PROJECT_DIR = Path(__file__).resolve().parents[4]
SCREENSHOT_DIR = Path(os.environ.get("HOUQIN_SCREENSHOT_DIR", PROJECT_DIR / "artifacts" / "screenshots"))
CHROMIUM = os.environ.get("HOUQIN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
PASSWORD = "Houqin@2026"
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}

VIEWPORTS = {
    "desktop": {"viewport": {"width": 1366, "height": 900}},
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
              "device_scale_factor": 2},
}

# Names of the rooms of 教学楼 (30 in all). Only 电脑室 has "dn" in its pinyin initials, so searching "dn"
# must find it alone.
CLASSROOMS = [f"{g}年级({n})班教室" for g in "一二三四五六" for n in (1, 2)]
FUNCTION_ROOMS = ["电脑室", "音乐室", "美术室", "科学实验室", "图书室", "会议室", "校长室", "总务处办公室",
                  "教师办公室", "体育器材室", "卫生室", "档案室", "广播室", "心理咨询室", "录播室", "舞蹈室",
                  "书法室", "储藏室"]


# --- Browser -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def _allow_sync_orm_beside_playwright():
    """Playwright's sync API runs an event loop in this thread; the tests' ORM calls are still synchronous.
    Set only while browser tests run, so that other tests (and their subprocesses) keep Django's check."""
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="module")
def chromium():
    """One headless Chromium per test module. Apps' browser tests import this fixture into their own modules;
    Playwright's sync API allows one running instance per thread, so each module's instance is closed before the
    next module starts (a session-wide one per importing module broke every module after the first)."""
    if not Path(CHROMIUM).exists() and not shutil.which(CHROMIUM):
        pytest.skip(f"Chromium not found at {CHROMIUM} (set HOUQIN_CHROMIUM)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class PageWatch:
    """What a page asked for over the network, and what went wrong in it."""

    requests: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # responses >= 400 and requests that never got an answer
    errors: list[str] = field(default_factory=list)  # uncaught JavaScript errors and console errors

    def foreign_requests(self) -> list[str]:
        return [u for u in self.requests
                if urlsplit(u).scheme in ("http", "https", "ws", "wss") and urlsplit(u).hostname not in LOCAL_HOSTS]


@pytest.fixture(params=list(VIEWPORTS), ids=list(VIEWPORTS))
def width(request) -> str:
    """"desktop" (1366×900) or "phone" (390×844, touch): every test that uses ``page`` runs at both."""
    return request.param


@pytest.fixture
def page(chromium, width, live_server, request):
    context = chromium.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", base_url=live_server.url,
                                   **VIEWPORTS[width])
    context.set_default_timeout(15_000)
    pg = context.new_page()
    watch = PageWatch()
    pg.on("request", lambda r: watch.requests.append(r.url))
    pg.on("requestfailed", lambda r: watch.failed.append(f"{r.url} ({r.failure})"))
    pg.on("response", lambda r: r.status >= 400 and watch.failed.append(f"{r.url} → {r.status}"))
    pg.on("pageerror", lambda e: watch.errors.append(str(e)))
    pg.on("console", lambda m: m.type == "error" and watch.errors.append(m.text))
    pg.watch = watch
    pg.width_name = width
    yield pg
    context.close()
    # Every page of every test: nothing from another host (no CDN), no broken asset, no script error.
    assert watch.foreign_requests() == [], "requests to another host"
    # Chromium asks for /favicon.ico by itself when a page names no icon; that miss is not a page's fault.
    # Requests cancelled because the user went to another page (net::ERR_ABORTED) did not fail either.
    failed = [f for f in watch.failed if "/favicon.ico" not in f and "net::ERR_ABORTED" not in f]
    # A resource that failed to load is also logged to the console; the check above has judged it already.
    errors = [e for e in watch.errors if not e.startswith("Failed to load resource")]
    assert failed == [], "failed requests"
    assert errors == [], "JavaScript errors"


class Shots:
    """Numbered screenshots of one test: artifacts/screenshots/<journey>-<width>-<nn>-<step>.png"""

    def __init__(self, page, journey: str):
        self.page, self.journey, self.n = page, journey, 0
        for old in SCREENSHOT_DIR.glob(f"{journey}-{page.width_name}-*.png"):
            old.unlink()

    def __call__(self, step: str, full_page: bool | None = None, centre=None) -> Path:
        """Save a screenshot; by default the whole page, unless it is very long (a phone list of 25 cards):
        then what the screen shows. Sticky bars (a form's 保存 on phones) sit in the middle of a whole-page
        shot, so pages that have one are better taken with ``full_page=False`` and ``centre``: a locator to
        scroll to the middle of the screen first (the focus is taken off any input, whose on-screen keyboard
        handling otherwise leaves headless Chromium's phone view half painted)."""
        self.n += 1
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOT_DIR / f"{self.journey}-{self.page.width_name}-{self.n:02d}-{step}.png"
        if centre is not None:
            self.page.evaluate("document.activeElement && document.activeElement.blur()")
            centre.evaluate("el => el.scrollIntoView({block: 'center'})")
            self.page.wait_for_timeout(100)
        if full_page is None:
            full_page = self.page.evaluate("document.documentElement.scrollHeight") <= 3000
        self.page.screenshot(path=str(path), full_page=full_page)
        return path


@pytest.fixture
def shot(page, request):
    journey = re.sub(r"^test_", "", request.node.originalname).replace("_", "-")
    return Shots(page, journey)


# --- Static files --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def _vendor_assets_findable():
    """The vendored libraries (houqin/static/vendor, see scripts/vendor.py) must be served by the live server.

    They are found only if the settings list houqin/static in STATICFILES_DIRS. If they do not, add it for
    this session (with a warning), so that the pages are tested with their styles."""
    from django.conf import settings
    from django.contrib.staticfiles import finders
    from django.test import override_settings

    css = "vendor/tabler/css/tabler.min.css"
    vendor_dir = Path(settings.BASE_DIR) / "static"
    if not (vendor_dir / css).exists():
        pytest.skip("front-end libraries missing: run `npm ci --ignore-scripts && python scripts/vendor.py`")
    if finders.find(css):
        yield
        return
    warnings.warn(f"{css} is not found by the static file finders: houqin/static is missing from "
                  "STATICFILES_DIRS; added for the browser tests only", stacklevel=1)
    with override_settings(STATICFILES_DIRS=[*settings.STATICFILES_DIRS, str(vendor_dir)]):
        yield


# --- Data ----------------------------------------------------------------------------------------------------


@dataclass
class School:
    bureau: object
    org: object
    campus: object
    building: object
    floors: list
    department: object
    rooms: dict  # name → Room
    admin: object
    password: str = PASSWORD


@pytest.fixture
def school(transactional_db) -> School:
    """实验小学 under 城关县教育局: campus 南园, building 教学楼 (4 floors, 30 rooms), department 总务处, and
    its system administrator 王建国 (account syxx_admin, password Houqin@2026)."""
    from houqin.core.context import acting_as
    from houqin.core.models import (
        Building,
        Campus,
        Department,
        Floor,
        Membership,
        Organization,
        OrgKind,
        Role,
        Room,
        RoomType,
        User,
    )

    with acting_as(None):
        bureau = Organization.objects.create(kind=OrgKind.BUREAU, name="城关县教育局", code="11330127MB0B00001X")
        org = Organization.objects.create(kind=OrgKind.PRIMARY, name="实验小学", short_name="实小",
                                          code="12330127MB0B00101K", parent=bureau, pupil_count=960, staff_count=68)
        campus = Campus.objects.create(org=org, name="南园", code="NY")
        building = Building.objects.create(org=org, campus=campus, name="教学楼", code="JX", floors_above=4)
        floors = [Floor.objects.create(org=org, building=building, level=level) for level in range(1, 5)]
        department = Department.objects.create(org=org, name="总务处")
        rooms = {}
        for i, name in enumerate(CLASSROOMS):
            floor = floors[i // 4]
            rooms[name] = Room.objects.create(
                org=org, campus=campus, building=building, floor=floor, number=f"{floor.level}0{i % 4 + 1}",
                name=name, room_type=RoomType.CLASSROOM, capacity=45, area_m2="72.00")
        for i, name in enumerate(FUNCTION_ROOMS):
            floor = floors[3] if i < 6 else floors[i % 4]
            rooms[name] = Room.objects.create(
                org=org, campus=campus, building=building, floor=floor, number=f"{floor.level}{i + 10}",
                name=name, room_type=RoomType.FUNCTION, capacity=40, department=department)
        admin = User.objects.create_user(username="syxx_admin", password=PASSWORD, full_name="王建国",
                                         phone="13800000001", default_org=org)
        Membership.objects.create(user=admin, org=org, role=Role.objects.get(code="school_admin"))
    return School(bureau, org, campus, building, floors, department, rooms, admin)


# --- Helpers -------------------------------------------------------------------------------------------------


def log_in(page, username: str, password: str = PASSWORD) -> None:
    """Sign in through the login page and land on the dashboard."""
    page.goto("/login/")
    page.get_by_label("账号").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(re.compile(r"/$"))


def assert_fits_width(page) -> None:
    """Nothing sticks out sideways: the page never scrolls horizontally (on a phone especially)."""
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{page.url} is {overflow}px wider than the screen"


def loaded_image_width(locator) -> int:
    """The natural width of an image once the browser has finished loading it: 0 when it is broken.

    An ``<img>`` is in the page before its picture has arrived, so reading ``naturalWidth`` straight after the page
    loads races the picture's request; this waits for the image's load or error event instead."""
    return locator.evaluate(
        """img => img.complete ? img.naturalWidth : new Promise(done => {
            img.addEventListener("load", () => done(img.naturalWidth), {once: true});
            img.addEventListener("error", () => done(0), {once: true});
        })"""
    )


@pytest.fixture
def signed_in(page, school):
    log_in(page, school.admin.username)
    return page
