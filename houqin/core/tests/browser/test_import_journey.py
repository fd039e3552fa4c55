"""Importing rooms from Excel in headless Chromium, at desktop and phone widths: a file with two bad rows is
previewed with the reasons in Chinese and changes nothing; the corrected file is confirmed, waits in the queue
while no worker runs (the page says so), then a worker started in this process runs the import and the page's
progress bar, polled with HTMX, reaches 100% and shows the counts; the rooms list has the new rooms."""

from __future__ import annotations

import io
import re
import threading

import openpyxl
import pytest
from playwright.sync_api import expect

from houqin.core.tests.browser.conftest import assert_fits_width
from houqin.core.tests.browser.test_journeys import open_menu_item

pytestmark = pytest.mark.browser

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HEADER = ["校区", "楼栋", "楼层", "房间号", "名称", "类型", "面积(㎡)", "容纳人数", "备注"]
NEW_ROOMS = [
    ["南园", "实验楼", 1, "S101", "物理实验室", "功能室", 96, 48, ""],
    ["南园", "实验楼", 1, "S102", "化学实验室", "功能室", 96, 48, "配通风橱"],
    ["南园", "实验楼", "2层", "S201", "生物实验室", "功能室", 90, 48, ""],
    ["南园", "实验楼", "二楼", "S202", "实验准备室", "仓库", 40, None, ""],
    ["南园", "实验楼", 3, "S301", "创客空间", "功能室", "120.5", "40人", ""],
]


def xlsx(rows) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["实验小学实验楼房间登记表"])
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(HEADER))
    for row in [HEADER, *rows]:
        ws.append(row)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def bad_rooms() -> list[list]:
    rows = [list(r) for r in NEW_ROOMS]
    rows[1][6] = "九十六"  # sheet row 4: the area is not a number
    rows[3][5] = "器材库"  # sheet row 6: not a room type
    return rows


@pytest.fixture
def worker(school):
    """Start ``houqin worker``'s loop in a thread of this process (its own database connection, heartbeats
    included) when the test asks for it; stopped before the test database is emptied."""
    from django.db import connections

    from houqin.core import jobs

    running = []

    def start():
        w = jobs.Worker(interval=0.2, heartbeat_every=0.5)

        def work():
            try:
                w.run()
            finally:
                connections.close_all()

        thread = threading.Thread(target=work, name="test-worker", daemon=True)
        thread.start()
        running.append((w, thread))

    yield start
    for w, thread in running:
        w.stop()
        thread.join(timeout=30)
        assert not thread.is_alive(), "the worker did not stop"


def upload(page, name: str, content: bytes) -> None:
    page.get_by_label("Excel 或 CSV 文件").set_input_files({"name": name, "mimeType": XLSX, "buffer": content})
    page.get_by_role("button", name="上传并预览").click()
    expect(page).to_have_url(re.compile(r"/core/import/locations/[0-9a-f-]{36}/$"))


def test_import_rooms_with_errors_then_fixed(signed_in, school, shot, worker):
    from houqin.core.importing.tasks import run_import
    from houqin.core.models import Room
    from houqin.core.models.jobs import Job

    page = signed_in
    rooms_before = Room.objects.count()
    assert rooms_before == 30

    open_menu_item(page, "导入场所")
    expect(page).to_have_url(re.compile(r"/core/import/locations/$"))
    expect(page.get_by_role("heading", name="导入场所")).to_be_visible()
    assert_fits_width(page)
    shot("upload")

    # A file with two bad rows: exactly those rows are listed, with the reasons; no way to confirm it.
    upload(page, "实验楼房间.xlsx", xlsx(bad_rooms()))
    errors = page.get_by_test_id("import-errors")
    expect(errors.locator("tbody tr")).to_have_count(2)
    first, second = errors.locator("tbody tr").nth(0), errors.locator("tbody tr").nth(1)
    expect(first).to_contain_text("第 4 行")
    expect(first).to_contain_text("G 列「面积(㎡)」")
    expect(first).to_contain_text("九十六")
    expect(first).to_contain_text("不是有效的数字")
    expect(second).to_contain_text("第 6 行")
    expect(second).to_contain_text("F 列「类型」")
    expect(second).to_contain_text("不是可选的类型")
    expect(page.get_by_test_id("count-error-rows")).to_have_text("2")
    expect(page.get_by_test_id("commit-button")).to_have_count(0)
    expect(page.get_by_role("button", name="确认导入")).to_have_count(0)
    shot("preview-errors")
    assert Room.objects.count() == rooms_before and not Job.objects.exists()
    assert_fits_width(page)

    # The corrected file: every row passes, and 确认导入 queues the import instead of running it.
    page.get_by_role("link", name="重新上传").click()
    expect(page).to_have_url(re.compile(r"/core/import/locations/$"))
    upload(page, "实验楼房间（改正）.xlsx", xlsx(NEW_ROOMS))
    expect(page.get_by_test_id("commit-card")).to_be_visible()
    expect(page.get_by_test_id("count-created")).to_have_text("5")
    expect(page.get_by_test_id("count-error-rows")).to_have_text("0")
    assert_fits_width(page)
    shot("preview-ok")
    page.get_by_role("button", name="确认导入").click()

    expect(page).to_have_url(re.compile(r"/core/import/locations/[0-9a-f-]{36}/done/$"))
    progress = page.get_by_test_id("import-progress")
    bar = page.get_by_test_id("import-progress-bar")
    expect(bar).to_be_visible()
    expect(page.get_by_test_id("job-status")).to_have_text("排队中")
    expect(page.get_by_test_id("no-worker")).to_contain_text("后台任务服务未运行")
    expect(page.get_by_test_id("cancel-import")).to_be_visible()
    assert_fits_width(page)
    shot("queued")
    assert Room.objects.count() == rooms_before

    # A worker comes up: the page, polling every second, follows the job to its end.
    worker()
    expect(progress).to_have_attribute("data-status", "succeeded", timeout=30_000)
    expect(page.get_by_test_id("job-status")).to_have_text("导入已完成")
    expect(bar).to_have_attribute("aria-valuenow", "100")
    expect(bar.locator(".progress-bar")).to_have_text("100%")
    expect(page.get_by_test_id("no-worker")).to_have_count(0)
    expect(page.get_by_test_id("count-created")).to_have_text("5")
    expect(page.get_by_test_id("count-updated")).to_have_text("0")
    expect(page.get_by_test_id("count-unchanged")).to_have_text("0")
    expect(page.get_by_test_id("import-result")).to_contain_text("已全部导入")
    assert_fits_width(page)
    shot("done")

    job_row = Job.objects.get(name=run_import.name)  # the worker also starts the periodic jobs
    assert job_row.status == "succeeded" and job_row.result["import"]["created"] == 5
    assert Room.objects.filter(building__name="实验楼").count() == 5
    assert Room.objects.get(number="S301").area_m2 == 120.5

    page.get_by_test_id("list-link").click()
    expect(page).to_have_url(re.compile(r"/core/rooms/$"))
    expect(page.get_by_test_id("row-count")).to_have_text("35")
    page.locator("input[name=q]").fill("物理")  # typed with an input method: no key events, so press 查询
    page.get_by_role("button", name="查询").click()
    expect(page.get_by_test_id("row-count")).to_have_text("1")
    expect(page.get_by_test_id("object-table")).to_contain_text("物理实验室")
    shot("room-list")
