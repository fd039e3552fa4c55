import pytest

from houqin.core.testing.fixtures import (  # noqa: F401  (shared fixtures, see docs/testing.md)
    admin_a,
    admin_b,
    bureau_admin,
    client_for,
    fast_password_hashing,
    head_a,
    outsider,
    superuser,
    teacher_a,
    world,
)


@pytest.fixture(scope="module")
def chromium():
    """One headless Chromium per browser-test module of this app (``test_*_browser.py``; they import ``page``,
    ``shot`` and ``width`` from core's browser conftest). Not session-scoped: Playwright's sync API runs one event
    loop per thread, so a second session-wide instance — each module importing core's ``chromium`` made one — broke
    every module after the first when several ran in one session, and so would core's own (houqin/core/tests/browser)
    running after this app's tests. Closing it after each module lets them all run in one ``pytest -m browser``."""
    import shutil
    from pathlib import Path

    from houqin.core.tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

    if not Path(CHROMIUM).exists() and not shutil.which(CHROMIUM):
        pytest.skip(f"Chromium not found at {CHROMIUM} (set HOUQIN_CHROMIUM)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
