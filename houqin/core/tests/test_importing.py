"""The staged import framework (houqin.core.importing) and the places importer.

Files are built in the tests with openpyxl and csv; hostile ones by rewriting the members of a real .xlsx.
"""

from __future__ import annotations

import csv
import datetime
import io
import struct
import time
import zipfile
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from houqin.core import context
from houqin.core.forms import DepartmentForm
from houqin.core.importing import (
    CellError,
    Importer,
    ImportField,
    ImportFileError,
    Limits,
    commit,
    load_data,
    safety,
    staging,
    validate,
)
from houqin.core.importing.locations import LocationImporter
from houqin.core.importing.mapping import HeaderMatcher, build_data, normalise_header
from houqin.core.importing.reading import read_sheet
from houqin.core.importing.tasks import run_import
from houqin.core.importing.values import (
    cell_text,
    choice_parser,
    parse_bool,
    parse_date,
    parse_decimal,
    parse_floor_level,
    parse_int,
    parse_money,
)
from houqin.core.jobs import run_pending
from houqin.core.models import (
    Building,
    Campus,
    ChangeLogEntry,
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
from houqin.core.models.jobs import Job, JobStatus
from houqin.core.models.orgs import DepartmentKind

UPLOAD_URL = "/core/import/locations/"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HEADER = ["校区", "楼栋", "楼层", "房间号", "名称", "类型", "面积(㎡)", "容纳人数", "备注"]
GOOD_ROWS = [
    ["南园", "明德楼", 1, "101", "一年级(1)班教室", "教室", 72, 50, ""],
    ["南园", "明德楼", "3层", "301", "三年级(1)班教室", "教室", "72.5", "48人", "靠楼梯"],
    ["南园", "明德楼", "地下一层", "B01", "配电房", "设备间", 40, None, ""],
    ["南园", "明德楼", "-1", "", "地下车库", "其他", "1,200.00", None, ""],
    ["南园", None, None, None, "田径场", "室外区域", 9800, None, ""],
    ["北园", "启智楼", "二楼", "201", "美术室", "功能室", 90, 48, ""],
]


# --- Fixtures ------------------------------------------------------------------------------------------------
def _school(name: str, code: str) -> Organization:
    return Organization.objects.create(kind=OrgKind.PRIMARY, name=name, code=code)


def _member(username: str, org: Organization, role_code: str) -> User:
    user = User.objects.create_user(username, password="imp-Passw0rd!", full_name=f"{username}老师",
                                    default_org=org)
    Membership.objects.create(user=user, org=org, role=Role.objects.get(code=role_code))
    return user


@pytest.fixture
def school(db):
    return _school("导入实验小学", "IMP-A")


@pytest.fixture
def admin(school):
    return _member("imp_admin", school, "school_admin")


@pytest.fixture
def other_admin(db):
    return _member("imp_other", _school("另一所小学", "IMP-B"), "school_admin")


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    """Staged uploads of each test in a folder of its own."""
    settings.DATA_DIR = tmp_path / "data"
    return settings.DATA_DIR


@pytest.fixture
def client(admin):
    c = Client()
    c.force_login(admin)
    return c


# --- Builders --------------------------------------------------------------------------------------------------
def xlsx_bytes(rows, *, title_rows=(), merge_title=True) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    for title in title_rows:
        ws.append(title)
    if title_rows and merge_title:
        ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=max(len(r) for r in rows))
    for row in rows:
        ws.append(list(row))
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def csv_bytes(rows, encoding: str) -> bytes:
    text = io.StringIO()
    csv.writer(text).writerows([["" if v is None else v for v in row] for row in rows])
    return text.getvalue().encode(encoding)


def rewrite_member(content: bytes, name: str, new: bytes, *, level: int = 6) -> bytes:
    """The .xlsx ``content`` with member ``name`` replaced by ``new``."""
    source = zipfile.ZipFile(io.BytesIO(content))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as target:
        for info in source.infolist():
            target.writestr(info.filename, new if info.filename == name else source.read(info.filename))
    return out.getvalue()


def upload(client, content: bytes, name: str = "rooms.xlsx"):
    kind = XLSX_TYPE if name.endswith(".xlsx") else "text/csv"
    return client.post(UPLOAD_URL, {"file": SimpleUploadedFile(name, content, content_type=kind)})


def staged_url(response) -> str:
    assert response.status_code == 302, response.content.decode()[:2000]
    return response["Location"]


def write_tmp(tmp_path: Path, content: bytes, name: str) -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def data_for(tmp_path, content: bytes, name: str = "f.xlsx", importer=LocationImporter):
    path = write_tmp(tmp_path, content, name)
    return load_data(path, path.suffix, importer.fields)


def page(response) -> str:
    return response.content.decode()


def confirm(client, url: str) -> Job:
    """Click "确认导入" on the preview ``url``: a job is queued and the browser goes to the result page."""
    response = client.post(url + "commit/")
    assert response.status_code == 302 and response["Location"] == url + "done/", response
    return Job.objects.get(pk=staging.staged_by_token(token_of(url)).job_id)


def confirm_and_run(client, url: str) -> Job:
    """Click "确认导入" and let the worker run the job."""
    job_row = confirm(client, url)
    assert run_pending(max_tasks=None) >= 1
    job_row.refresh_from_db()
    return job_row


def token_of(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[1]


# --- Reading and header detection ------------------------------------------------------------------------------
def test_header_found_below_title_date_and_merged_cells(tmp_path):
    content = xlsx_bytes([HEADER, *GOOD_ROWS[:2]],
                         title_rows=[["导入实验小学房间登记表"], ["填表日期：2024年9月1日"], []])
    data = data_for(tmp_path, content)
    assert data.header_row == 4  # title, date, blank line, then the header
    assert data.mapping == dict(enumerate(
        ["campus", "building", "floor", "number", "name", "room_type", "area_m2", "capacity", "note"]))
    assert [number for number, _ in data.rows] == [5, 6]


def test_header_with_leading_blank_columns_and_rows_keeps_spreadsheet_numbers(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws["C3"], ws["D3"] = "校区", "名称"
    ws["C4"], ws["D4"] = "南园", "操场"
    buffer = io.BytesIO()
    wb.save(buffer)
    data = data_for(tmp_path, buffer.getvalue())
    assert data.header_row == 3
    assert data.rows[0][0] == 4
    assert data.column_name(0) == "C 列「校区」"


def test_chinese_header_aliases_are_recognised(tmp_path):
    headers = [" 所在校区 ", "楼宇", "所在楼层", "门牌号", "房间名称*", "房间类型（必填）", "使用面积（平方米）",
               "可容纳人数", "说明", "责任人"]
    data = data_for(tmp_path, xlsx_bytes([headers, ["南园", "明德楼", 1, "101", "教室", "教室", 1, 1, "", "张三"]]))
    assert data.mapping == {0: "campus", 1: "building", 2: "floor", 3: "number", 4: "name", 5: "room_type",
                            6: "area_m2", 7: "capacity", 8: "note"}
    assert data.unknown_columns() == ["J 列「责任人」"]


@pytest.mark.parametrize(("header", "field"), [
    ("校区*", "campus"), ("＊名称", "name"), ("面积（㎡）", "area_m2"), ("面积(m2)", "area_m2"),
    ("ＡＲＥＡ", "area_m2"), ("Room No", "number"), ("类型(必填)", "room_type"), ("容纳人数：", "capacity"),
])
def test_header_normalisation(header, field):
    assert HeaderMatcher(LocationImporter.fields).match(header) == field


def test_normalise_header_folds_width_and_marks():
    assert normalise_header("  面 积（㎡）＊ ") == "面积(m2)"


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8", "gbk", "gb18030"])
def test_csv_encodings(tmp_path, encoding):
    content = csv_bytes([["房间登记表"], HEADER, GOOD_ROWS[0]], encoding)
    data = data_for(tmp_path, content, "rooms.csv")
    assert data.headers[:2] == ["校区", "楼栋"]
    assert data.rows[0][1][:2] == ["南园", "明德楼"]
    assert data.header_row == 2


def test_csv_with_semicolons(tmp_path):
    content = "校区;名称\n南园;操场\n".encode()
    data = data_for(tmp_path, content, "rooms.csv")
    assert data.mapping == {0: "campus", 1: "name"}


# --- Values ------------------------------------------------------------------------------------------------------
SEPT_1 = datetime.date(2019, 9, 1)


@pytest.mark.parametrize("value", [
    "2019-09-01", "2019/9/1", "2019.09.01", "2019年9月1日", "2019 年 9 月 1 日", "2019年09月01号", "20190901",
    "2019-09-01 00:00:00", "２０１９－０９－０１", 43709, 43709.0, "43709", SEPT_1,
    datetime.datetime(2019, 9, 1, 8, 30),
])
def test_dates(value):
    assert parse_date(value) == SEPT_1


def test_dates_from_xlsx_cells(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["日期", "序号"])
    ws.append([datetime.datetime(2019, 9, 1), 43709])
    ws["A3"] = 43709
    ws["A3"].number_format = "yyyy-mm-dd"  # a serial number shown as a date
    buffer = io.BytesIO()
    wb.save(buffer)
    sheet = read_sheet(write_tmp(tmp_path, buffer.getvalue(), "d.xlsx"), ".xlsx")
    assert parse_date(sheet.rows[1][1][0]) == SEPT_1
    assert parse_date(sheet.rows[1][1][1]) == SEPT_1
    assert parse_date(sheet.rows[2][1][0]) == SEPT_1


@pytest.mark.parametrize(("value", "message"), [("2019-02-30", "没有这一天"), ("明天", "无法识别日期"), (True, "日期")])
def test_bad_dates(value, message):
    with pytest.raises(CellError, match=message):
        parse_date(value)


@pytest.mark.parametrize(("value", "expected"), [
    ("1,234.50", "1234.50"), ("￥1,234.50", "1234.50"), ("¥ 1 234.50", "1234.50"), ("1234.5元", "1234.5"),
    ("人民币1234.5元", "1234.5"), ("１２３４．５", "1234.5"), ("1.2万元", "12000"), ("(1,200.00)", "-1200.00"),
    (1234.5, "1234.5"), (72, "72"), ("1，234", "1234"),
])
def test_money(value, expected):
    assert parse_money(value) == Decimal(expected)


@pytest.mark.parametrize(("value", "expected"), [("72㎡", "72"), ("72.5 平方米", "72.5"), ("1,200.00", "1200")])
def test_decimals_with_units(value, expected):
    assert parse_decimal(value) == Decimal(expected)


@pytest.mark.parametrize("value", ["abc", "12元5角", True])
def test_bad_money(value):
    with pytest.raises(CellError):
        parse_money(value)


@pytest.mark.parametrize(("value", "expected"), [
    ("是", True), ("否", False), ("Y", True), ("n", False), (1, True), (0, False), ("√", True), ("×", False),
    ("TRUE", True), ("有", True), ("无", False), (True, True),
])
def test_booleans(value, expected):
    assert parse_bool(value) is expected


@pytest.mark.parametrize(("value", "expected"), [
    (1, 1), (3.0, 3), ("3层", 3), ("三楼", 3), ("F3", 3), ("3F", 3), ("十二层", 12), ("-1", -1), ("B1", -1),
    ("负一层", -1), ("地下一层", -1), ("地下1层", -1), ("地下二层", -2), ("第2层", 2), ("３层", 3),
])
def test_floor_levels(value, expected):
    assert parse_floor_level(value) == expected


@pytest.mark.parametrize("value", ["夹层", "地下室", 2.5, "三点五层"])
def test_bad_floor_levels(value):
    with pytest.raises(CellError, match="楼层"):
        parse_floor_level(value)


def test_integers_and_text():
    assert parse_int("12") == 12
    assert parse_int(12.0) == 12
    with pytest.raises(CellError):
        parse_int(12.5)
    assert cell_text(101.0) == "101"
    assert cell_text("\u3000A区 ") == "A区"


# --- Preview, errors and commit through the pages --------------------------------------------------------------
def test_two_bad_rows_are_listed_and_nothing_is_written(client):
    rows = [list(r) for r in GOOD_ROWS]
    rows[1][6] = "七十二"  # sheet row 4: area is not a number
    rows[5][5] = "礼堂间"  # sheet row 8: unknown room type
    content = xlsx_bytes([HEADER, *rows], title_rows=[["导入实验小学房间登记表"]])
    preview = client.get(staged_url(upload(client, content)))
    assert preview.status_code == 200
    result = preview.context["result"]
    assert sorted({e.row for e in result.errors}) == [4, 8]
    by_row = {e.row: e for e in result.errors}
    assert by_row[4].column == "G 列「面积(㎡)」" and "不是有效的数字" in by_row[4].message
    assert by_row[8].column == "F 列「类型」" and "不是可选的类型" in by_row[8].message and "教室" in by_row[8].message
    html = page(preview)
    assert "第 4 行" in html and "第 8 行" in html and html.count('data-testid="import-error-row"') == 2
    assert 'data-testid="commit-button"' not in html
    assert result.created == 4  # the good rows are counted, but only the bad ones block the import
    # Posting the commit anyway: the job checks again, fails with the reasons and writes nothing.
    job_row = confirm_and_run(client, preview.request["PATH_INFO"])
    assert job_row.status == JobStatus.FAILED
    assert "有 2 行数据有误，没有导入任何数据。" in job_row.error
    assert "第 4 行 G 列「面积(㎡)」" in job_row.error and "第 8 行 F 列「类型」" in job_row.error
    assert not Room.objects.exists() and not Campus.objects.exists() and not Building.objects.exists()


def test_commit_creates_campuses_buildings_floors_and_rooms(client, school, admin):
    content = xlsx_bytes([HEADER, *GOOD_ROWS], title_rows=[["导入实验小学房间登记表"], ["2024-09-01"]])
    url = staged_url(upload(client, content))
    preview = client.get(url)
    assert preview.context["can_commit"], preview.context["result"].errors
    assert 'data-testid="commit-button"' in page(preview)
    job_row = confirm_and_run(client, url)
    assert job_row.status == JobStatus.SUCCEEDED, job_row.error
    done = client.get(url + "done/")
    assert done.status_code == 200 and reverse("core:room_list") in page(done)
    assert done.context["result"].created == 6 and done.context["result"].committed

    assert set(Campus.objects.filter(org=school).values_list("name", flat=True)) == {"南园", "北园"}
    mingde = Building.objects.get(org=school, name="明德楼")
    assert (mingde.campus.name, mingde.floors_above, mingde.floors_below) == ("南园", 3, 1)
    assert sorted(Floor.objects.filter(building=mingde).values_list("level", "name")) == [
        (-1, "地下1层"), (1, "1层"), (3, "3层")]
    room = Room.objects.get(org=school, number="301")
    assert (room.floor.level, room.area_m2, room.capacity, room.note) == (3, Decimal("72.5"), 48, "靠楼梯")
    assert Room.objects.get(org=school, name="配电房").room_type == RoomType.EQUIPMENT
    assert Room.objects.get(org=school, name="地下车库").area_m2 == Decimal("1200")
    field = Room.objects.get(org=school, name="田径场")
    assert (field.building_id, field.floor_id, field.room_type) == (None, None, RoomType.OUTDOOR)
    # Written through save(): the change log has the rows, by the importing user.
    entries = ChangeLogEntry.objects.filter(action="create", object_repr__contains="美术室")
    assert entries.count() == 1 and entries.get().user == admin

    # The same file again: nothing new, nothing updated.
    again = client.get(staged_url(upload(client, content)))
    result = again.context["result"]
    assert (result.created, result.updated, result.unchanged, result.errors) == (0, 0, 6, [])
    assert confirm_and_run(client, again.request["PATH_INFO"]).result["import"]["unchanged"] == 6
    assert Room.objects.filter(org=school).count() == 6
    assert Campus.objects.filter(org=school).count() == 2 and Floor.objects.filter(org=school).count() == 4


def test_changed_area_updates_one_room_and_logs_it(client, school, admin):
    confirm_and_run(client, staged_url(upload(client, xlsx_bytes([HEADER, *GOOD_ROWS]))))
    rows = [list(r) for r in GOOD_ROWS]
    rows[0][6] = 80
    url = staged_url(upload(client, xlsx_bytes([HEADER, *rows])))
    preview = client.get(url)
    result = preview.context["result"]
    assert (result.created, result.updated, result.unchanged) == (0, 1, 5)
    [(label, before, after)] = result.changes[0].fields
    assert (label, Decimal(before), Decimal(after)) == ("面积(㎡)", Decimal(72), Decimal(80))
    assert "将要更新的记录" in page(preview)
    confirm_and_run(client, url)
    assert "已更新的记录" in page(client.get(url + "done/"))
    room = Room.objects.get(org=school, number="101")
    assert room.area_m2 == Decimal("80")
    entry = ChangeLogEntry.objects.filter(action="update", content_type__model="room", object_id=str(room.pk)).get()
    assert entry.user == admin
    assert list(entry.before) == list(entry.after) == ["area_m2"]
    assert (Decimal(entry.before["area_m2"]), Decimal(entry.after["area_m2"])) == (Decimal(72), Decimal(80))


def test_duplicate_rows_in_the_file(client):
    rows = [GOOD_ROWS[0], GOOD_ROWS[1], GOOD_ROWS[0]]
    result = client.get(staged_url(upload(client, xlsx_bytes([HEADER, *rows])))).context["result"]
    assert [(e.row, "与第 2 行重复" in e.message) for e in result.errors] == [(4, True)]


def test_row_errors_from_the_form_and_the_model(client):
    rows = [
        ["南园", "明德楼", 0, "001", "零层房间", "教室", 10, 10, ""],  # floor 0: the Floor model refuses
        ["南园", None, 2, "", "悬空房间", "教室", 10, 10, ""],  # a floor without a building
        ["南园", "明德楼", 1, "102", "名" * 61, "教室", 10, 10, ""],  # longer than the form allows
        ["南园", "明德楼", 1, "103", "大教室", "教室", 10, -5, ""],  # capacity below the field's minimum
        ["", "明德楼", 1, "104", "无校区", "教室", 10, 10, ""],  # campus is required
    ]
    result = client.get(staged_url(upload(client, xlsx_bytes([HEADER, *rows])))).context["result"]
    by_row = {}
    for e in result.errors:
        by_row.setdefault(e.row, []).append(e)
    assert sorted(by_row) == [2, 3, 4, 5, 6]
    assert "楼层不能为 0" in by_row[2][0].message and by_row[2][0].column == "C 列「楼层」"
    assert "没有填写楼栋" in by_row[3][0].message
    assert by_row[4][0].column == "E 列「名称」" and "60" in by_row[4][0].message
    assert by_row[5][0].column == "H 列「容纳人数」"
    assert by_row[6][0].message == "“校区”必须填写。"


def test_mapping_can_be_adjusted_on_the_page(client):
    content = xlsx_bytes([["校区", "场地", "说明"], ["南园", "操场", "室外"]])
    url = staged_url(upload(client, content))
    preview = client.get(url)
    assert "缺少必填列：名称" in page(preview) and preview.context["result"] is None
    assert 'data-testid="commit-button"' not in page(preview)
    response = client.post(url, {"header_row": "1", "col_0": "campus", "col_1": "name", "col_2": ""})
    assert response.status_code == 302
    preview = client.get(url)
    assert preview.context["mapping_problems"] == []
    assert preview.context["result"].created == 1
    confirm_and_run(client, url)
    assert Room.objects.get(name="操场").note == ""  # the unmapped column was not imported


def test_header_row_can_be_chosen_on_the_page(client):
    content = xlsx_bytes([["登记表", "2024"], ["甲", "乙"], ["校区", "名称"], ["南园", "操场"]], title_rows=[])
    url = staged_url(upload(client, content))
    assert client.get(url).context["data"].header_row == 3
    client.post(url, {"header_row": "2"})
    preview = client.get(url)
    assert preview.context["data"].header_row == 2 and preview.context["mapping_problems"]


def test_footer_rows_are_skipped(client):
    rows = [HEADER, GOOD_ROWS[0], ["合计", None, None, None, None, None, 72], ["填表人：张老师"]]
    result = client.get(staged_url(upload(client, xlsx_bytes(rows)))).context["result"]
    assert result.ok and result.total == 1 and [n for n, _ in result.skipped] == [3, 4]


def test_commit_is_a_plain_function_for_background_jobs(tmp_path, school, admin):
    data = data_for(tmp_path, xlsx_bytes([HEADER, *GOOD_ROWS]))
    assert validate(LocationImporter, data, admin, school).created == 6
    assert not Room.objects.exists()
    result = commit(LocationImporter, data, admin, school)
    assert result.committed and result.created == 6
    entry = ChangeLogEntry.objects.filter(action="create", object_repr__contains="美术室").get()
    assert entry.user == admin and entry.org_id == school.pk and entry.request_id


def test_an_import_puts_the_garbage_collector_back_as_it_was(tmp_path, school, admin):
    """The importer collects garbage less often while it runs (houqin.core.importing.base.Importer.run); the rest
    of the process gets its thresholds back, after a good file and after a failing one."""
    import gc

    before = gc.get_threshold()
    good = data_for(tmp_path, xlsx_bytes([HEADER, *GOOD_ROWS]))
    assert commit(LocationImporter, good, admin, school).committed
    assert gc.get_threshold() == before
    bad = data_for(tmp_path, xlsx_bytes([HEADER, ["南园", "明德楼", "不是楼层", "101", "", "教室", 60, 40, ""]]))
    assert not commit(LocationImporter, bad, admin, school).committed
    assert gc.get_threshold() == before and gc.isenabled()


def test_imports_running_at_once_put_the_collector_back_as_it_was():
    """Imports in threads of one process overlap: the collector stays paused while any run pauses it, and the last
    run to end, not the first, puts the settings back."""
    import gc

    from houqin.core.importing.base import _collector

    before = gc.get_threshold()
    first, second = _collector(pause=True), _collector(pause=False)
    first.__enter__()
    assert not gc.isenabled() and gc.get_threshold()[0] >= 50_000
    second.__enter__()
    first.__exit__(None, None, None)
    assert gc.isenabled() and gc.get_threshold()[0] >= 50_000  # the second run still raises the thresholds
    second.__exit__(None, None, None)
    assert gc.isenabled() and gc.get_threshold() == before
    gc.disable()  # a process that turned the collector off keeps it off
    try:
        with _collector(pause=True):
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_value_met_again_is_read_and_refused_again_on_each_row(tmp_path, school, admin):
    """Each distinct cell of a column is parsed once: a refused value is still reported on every row that has it,
    and equal values of other types (1, 1.0, True; the text "3" and the number 3) are read as their own types."""
    rows = [["南园", "明德楼", "不是楼层", "101", "甲", "教室", 60, 40, ""],
            ["南园", "明德楼", 3, "102", "乙", "教室", "六十", 40, ""],
            ["南园", "明德楼", "不是楼层", "103", "丙", "教室", "六十", 40, ""],
            ["南园", "明德楼", "3", "104", "丁", "教室", 1, 40, ""],
            ["南园", "明德楼", 3.0, "105", "戊", "教室", 1.0, 40, ""],
            ["南园", "明德楼", True, "106", "己", "教室", True, 40, ""]]
    data = data_for(tmp_path, xlsx_bytes([HEADER, *rows]))
    importer = LocationImporter(admin, school)
    result = importer.run(data)
    refused = sorted((e.row, e.column[0]) for e in result.errors)
    assert refused == [(2, "C"), (3, "G"), (4, "C"), (4, "G"), (7, "C"), (7, "G")], result.errors
    parsed = {row.number: row for row in (importer.parse(n, cells) for n, cells in data.rows) if row is not None}
    assert parsed[5].values["floor"] == parsed[6].values["floor"] == 3
    assert parsed[5].values["area_m2"] == parsed[6].values["area_m2"] == 1


def test_validation_queries_do_not_grow_with_rows(tmp_path, school, admin, django_assert_max_num_queries):
    rows = [["南园", "明德楼", (i % 5) + 1, f"{i:04d}", f"房间{i}", "教室", 60, 40, ""] for i in range(300)]
    data = data_for(tmp_path, xlsx_bytes([HEADER, *rows]))
    with django_assert_max_num_queries(20):
        result = validate(LocationImporter, data, admin, school)
    assert result.ok and result.created == 300


def test_permission_checked_in_commit(tmp_path, school):
    teacher = _member("imp_teacher", school, "teacher")
    data = data_for(tmp_path, xlsx_bytes([HEADER, GOOD_ROWS[0]]))
    result = commit(LocationImporter, data, teacher, school)
    assert not result.committed and "没有在本单位导入场所的权限" in result.errors[0].message
    assert not Room.objects.exists()


# --- Hostile and unreadable files ------------------------------------------------------------------------------------
def _bomb(size: int = 48 * 1024 * 1024) -> bytes:
    base = xlsx_bytes([HEADER, GOOD_ROWS[0]])
    sheet = b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
    return rewrite_member(base, "xl/worksheets/sheet1.xml", sheet + b" " * size + b"</sheetData></worksheet>",
                          level=9)


def _patch_declared_size(content: bytes, name: str, size: int) -> bytes:
    """Make the archive lie about a member's unpacked size (local header and central directory)."""
    data = bytearray(content)
    info = zipfile.ZipFile(io.BytesIO(content)).getinfo(name)
    struct.pack_into("<I", data, info.header_offset + 22, size)
    encoded = name.encode()
    position = data.find(b"PK\x01\x02")
    while position != -1:
        name_length = struct.unpack_from("<H", data, position + 28)[0]
        if bytes(data[position + 46:position + 46 + name_length]) == encoded:
            struct.pack_into("<I", data, position + 24, size)
        position = data.find(b"PK\x01\x02", position + 4)
    return bytes(data)


def test_zip_bomb_refused_quickly(client):
    content = _bomb()
    info = zipfile.ZipFile(io.BytesIO(content)).getinfo("xl/worksheets/sheet1.xml")
    assert info.file_size / info.compress_size > 900  # about 1000:1
    started = time.monotonic()
    response = upload(client, content)
    assert time.monotonic() - started < 2
    assert response.status_code == 400 and "压缩炸弹" in page(response)
    assert not any(staging.stage_root().iterdir())  # nothing left on disk


def test_zip_bomb_that_lies_about_its_size_is_refused(tmp_path):
    content = _patch_declared_size(_bomb(), "xl/worksheets/sheet1.xml", 1000)
    assert zipfile.ZipFile(io.BytesIO(content)).getinfo("xl/worksheets/sheet1.xml").file_size == 1000
    started = time.monotonic()
    with pytest.raises(ImportFileError, match="压缩炸弹"):
        safety.check_xlsx(write_tmp(tmp_path, content, "bomb.xlsx"), Limits())
    assert time.monotonic() - started < 2


def test_sparse_cells_that_would_fill_memory_are_refused(tmp_path):
    wb = openpyxl.Workbook()
    wb.active["A1"] = "校区"
    wb.active.cell(row=900_000, column=3_000, value="x")  # a 4 KB file; read naively, billions of cells
    buffer = io.BytesIO()
    wb.save(buffer)
    started = time.monotonic()
    with pytest.raises(ImportFileError, match="列数过多|行数超过|范围过大"):
        read_sheet(write_tmp(tmp_path, buffer.getvalue(), "sparse.xlsx"), ".xlsx")
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("member", ["xl/worksheets/sheet1.xml", "xl/workbook.xml", "[Content_Types].xml"])
def test_xml_entity_declarations_refused(client, member):
    base = xlsx_bytes([HEADER, GOOD_ROWS[0]])
    original = zipfile.ZipFile(io.BytesIO(base)).read(member)
    body = original.split(b"?>", 1)[1] if original.startswith(b"<?xml") else original
    evil = (b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
            b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">]>' + body.replace(b"<sheetData>", b"<sheetData>&lol2;", 1))
    response = upload(client, rewrite_member(base, member, evil))
    assert response.status_code == 400 and "DOCTYPE/ENTITY" in page(response)


def test_xml_entity_in_utf16_part_refused(tmp_path):
    base = xlsx_bytes([HEADER, GOOD_ROWS[0]])
    evil = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE x [<!ENTITY a "b">]><x/>'.encode("utf-16")
    with pytest.raises(ImportFileError, match="DOCTYPE"):
        safety.check_xlsx(write_tmp(tmp_path, rewrite_member(base, "docProps/app.xml", evil), "e.xlsx"), Limits())


def test_oversize_file_refused(client, settings):
    settings.HOUQIN_IMPORT_MAX_BYTES = 4096
    content = xlsx_bytes([HEADER, *GOOD_ROWS] * 20)
    assert len(content) > 4096
    response = upload(client, content)
    assert response.status_code == 400 and "文件超过" in page(response) and "上限" in page(response)
    assert not staging.stage_root().exists() or not any(staging.stage_root().iterdir())


def test_too_many_rows_refused(client, settings):
    settings.HOUQIN_IMPORT_MAX_ROWS = 5
    response = upload(client, xlsx_bytes([HEADER, *GOOD_ROWS]))
    assert response.status_code == 400 and "超过" in page(response) and "5 行" in page(response)


@pytest.mark.parametrize(("name", "content", "message"), [
    ("rooms.xlsx", b"this is not a spreadsheet at all", "无法读取"),
    ("rooms.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "另存为"),
    ("rooms.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "另存为"),
    ("rooms.txt", b"hello", "只能导入"),
    ("rooms.csv", b"PK\x03\x04" + b"\0" * 100, "扩展名"),
    ("rooms.xlsx", b"PK\x03\x04" + b"\0" * 100, "Excel"),
    ("rooms.csv", b"\xff\xfe\x00\x00garbage\x00\x00", "无法"),
    ("rooms.csv", b"", "文件"),
])
def test_bad_files_get_a_chinese_answer(client, name, content, message):
    response = upload(client, content, name)
    assert response.status_code == 400 and message in page(response)


def test_oversize_upload_refused_before_reading_it(client, settings):
    settings.HOUQIN_IMPORT_MAX_BYTES = 1024
    content = csv_bytes([HEADER] + [GOOD_ROWS[0]] * 2000, "utf-8")
    assert len(content) > 1024 + 64 * 1024
    response = upload(client, content, "big.csv")
    assert response.status_code == 400 and "文件超过" in page(response)
    assert not staging.stage_root().exists() or not any(staging.stage_root().iterdir())


def test_upload_without_file(client):
    response = client.post(UPLOAD_URL, {})
    assert response.status_code == 400 and "请选择要导入的文件" in page(response)


# --- Template and export round trips ---------------------------------------------------------------------------------
def test_template_download_and_round_trip(client, school):
    response = client.get(UPLOAD_URL + "template/")
    assert response.status_code == 200 and response["Content-Type"] == XLSX_TYPE
    assert "attachment" in response["Content-Disposition"]
    wb = openpyxl.load_workbook(io.BytesIO(response.content))
    assert wb.sheetnames == ["场所", "填写说明"]
    headers = [c.value for c in wb["场所"][1]]
    assert headers == ["校区*", "楼栋", "楼层", "房间号", "名称*", "类型", "面积(㎡)", "容纳人数", "备注"]
    instructions = " ".join(str(c.value) for row in wb["填写说明"].iter_rows() for c in row if c.value)
    for label in ("教室", "办公室", "功能室", "宿舍", "食堂", "仓库", "卫生间", "室外区域"):
        assert label in instructions
    assert wb["场所"].data_validations.dataValidation  # the type column offers a drop-down

    url = staged_url(upload(client, response.content, "场所导入模板.xlsx"))
    preview = client.get(url)
    assert preview.context["result"].created == 1 and preview.context["can_commit"]
    confirm_and_run(client, url)
    room = Room.objects.get(org=school)
    assert (room.campus.name, room.building.name, room.floor.level, room.number, room.name, room.room_type,
            room.area_m2, room.capacity) == ("本部", "教学楼", 3, "301", "三年级(1)班教室", RoomType.CLASSROOM,
                                             Decimal("72"), 50)


def test_rooms_export_reimports_unchanged(client, school):
    confirm_and_run(client, staged_url(upload(client, xlsx_bytes([HEADER, *GOOD_ROWS]))))
    export = client.get("/core/rooms/export/")
    assert export.status_code == 200
    content = b"".join(export.streaming_content)
    preview = client.get(staged_url(upload(client, content, "rooms-export.xlsx")))
    result = preview.context["result"]
    assert result.errors == []
    assert (result.created, result.updated, result.unchanged) == (0, 0, 6)
    # The export's columns this importer does not take are reported, not silently dropped.
    assert any("责任人" in c for c in preview.context["unknown_columns"])


# --- Who may see a staged import ----------------------------------------------------------------------------------
def test_another_schools_user_gets_404(client, other_admin):
    url = staged_url(upload(client, xlsx_bytes([HEADER, *GOOD_ROWS])))
    intruder = Client()
    intruder.force_login(other_admin)
    assert intruder.get(UPLOAD_URL).status_code == 200  # they may import into their own school …
    assert intruder.get(url).status_code == 404  # … but not see or commit this one
    assert intruder.post(url, {"col_0": "campus"}).status_code == 404
    assert intruder.post(url + "commit/").status_code == 404
    assert intruder.get(url + "done/").status_code == 404
    assert intruder.post(url + "cancel/").status_code == 404
    assert not Room.objects.exists()
    assert client.get(url).status_code == 200  # still there for its owner


def test_same_user_in_another_school_gets_404(client, admin, other_admin):
    url = staged_url(upload(client, xlsx_bytes([HEADER, GOOD_ROWS[0]])))
    other_org = Membership.objects.get(user=other_admin).org
    Membership.objects.create(user=admin, org=other_org, role=Role.objects.get(code="school_admin"))
    client.post("/org/switch/", {"org": other_org.pk})
    assert client.get(url).status_code == 404


def test_users_without_permission_get_403(school):
    teacher = _member("imp_teacher2", school, "teacher")
    c = Client()
    c.force_login(teacher)
    assert c.get(UPLOAD_URL).status_code == 403
    assert c.get(UPLOAD_URL + "template/").status_code == 403
    assert c.post(UPLOAD_URL, {}).status_code == 403


def test_anonymous_is_sent_to_login(db):
    response = Client().get(UPLOAD_URL)
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_done_and_cancel(client):
    url = staged_url(upload(client, xlsx_bytes([HEADER, GOOD_ROWS[0]])))
    assert client.get(url + "done/")["Location"] == url  # not committed yet
    response = client.post(url + "cancel/")
    assert response.status_code == 302 and client.get(url).status_code == 404
    url = staged_url(upload(client, xlsx_bytes([HEADER, GOOD_ROWS[0]])))
    confirm(client, url)
    assert client.post(url + "commit/")["Location"] == url + "done/"  # a second click does not import twice
    assert Job.objects.count() == 1
    run_pending(max_tasks=None)
    assert client.post(url + "commit/")["Location"] == url + "done/"  # nor a click after it has run
    assert client.get(url)["Location"] == url + "done/"
    assert Room.objects.count() == 1 and Job.objects.count() == 1


def test_stale_staged_uploads_are_cleaned(client):
    url = staged_url(upload(client, xlsx_bytes([HEADER, GOOD_ROWS[0]])))
    assert staging.cleanup_stale(max_age_s=3600) == 0
    assert staging.cleanup_stale(max_age_s=-1) == 1
    assert client.get(url).status_code == 404


def test_menu_links_to_the_import(client):
    assert "/core/import/locations/" in page(client.get("/"))


def test_build_data_reports_mapping_problems(tmp_path):
    sheet = read_sheet(write_tmp(tmp_path, xlsx_bytes([["校区", "校区", "楼栋"], ["南园", "北园", "x"]]), "m.xlsx"),
                       ".xlsx")
    data = build_data(sheet, LocationImporter.fields, mapping={0: "campus", 1: "campus", 2: "building"})
    from houqin.core.importing.mapping import mapping_errors

    problems = mapping_errors(data.mapping, LocationImporter.fields, data)
    assert any("对应了两列" in p for p in problems) and any("缺少必填列：名称" in p for p in problems)


def test_commit_outside_a_request_records_the_user(tmp_path, school, admin):
    data = data_for(tmp_path, xlsx_bytes([HEADER, GOOD_ROWS[0]]))
    with context.acting_as(None):
        commit(LocationImporter, data, admin, school)
    assert ChangeLogEntry.objects.filter(action="create", user=admin).exists()


@pytest.mark.parametrize("parser", [parse_money, parse_decimal, parse_int, parse_floor_level, parse_date])
def test_absurd_cells_are_row_errors_not_crashes(parser):
    for value in ("9" * 5000, "1e999999万", "一" * 5000, "1" * 50 + "层"):
        with pytest.raises(CellError):
            parser(value)


def test_huge_numbers_in_a_file_are_row_errors(client):
    rows = [["南园", "明德楼", "一" * 5000, "101", "教室", "教室", "1e999999万", "9" * 5000, ""]]
    result = client.get(staged_url(upload(client, xlsx_bytes([HEADER, *rows])))).context["result"]
    assert {e.column for e in result.errors} == {"C 列「楼层」", "G 列「面积(㎡)」", "H 列「容纳人数」"}
    assert all(len(e.value) <= 61 for e in result.errors)


def test_commit_reports_progress_and_staged_uploads_are_found_by_id(client, tmp_path, school, admin):
    url = staged_url(upload(client, xlsx_bytes([HEADER, *GOOD_ROWS])))
    token = url.rstrip("/").rsplit("/", 1)[1]
    staged = staging.staged_by_token(token)  # what a background job would do with the id it was given
    assert (staged.user_id, staged.org_id, staged.importer) == (admin.pk, school.pk, "locations")
    data = load_data(staged.file_path, staged.ext, LocationImporter.fields, header_index=staged.header_index,
                     mapping=staged.column_mapping)
    seen = []
    result = commit(LocationImporter, data, admin, school, progress=lambda done, total: seen.append((done, total)))
    assert result.committed and seen[0] == (1, 12) and seen[-1] == (12, 12)
    with pytest.raises(ImportFileError):
        staging.staged_by_token("../../etc")


def test_user_without_any_school_gets_403(db):
    loner = User.objects.create_user("imp_loner", password="imp-Passw0rd!")
    c = Client()
    c.force_login(loner)
    assert c.get(UPLOAD_URL).status_code == 403
    assert c.get(UPLOAD_URL + "00000000-0000-4000-8000-000000000000/").status_code == 403


# --- The generic behaviour, for a flat register ---------------------------------------------------------------------
class DepartmentImporter(Importer):
    """A flat register with a natural key, as most domain importers will be (not registered)."""

    key = "test-departments"
    title = "部门"
    model = Department
    form_class = DepartmentForm
    key_fields = ("name",)
    fields = (
        ImportField("name", "部门名称", ("部门",), required=True),
        ImportField("kind", "部门类型", ("类型",), parser=choice_parser(DepartmentKind.choices)),
        ImportField("phone", "电话", ("联系电话",)),
        ImportField("is_active", "启用", ("是否启用",), parser=parse_bool),
    )


def test_generic_importer_creates_updates_and_refuses_duplicates(tmp_path, school, admin):
    rows = [["部门", "类型", "联系电话", "是否启用"], ["总务处", "行政部门", "0571-1", "是"],
            ["语文组", "教研组", "", "否"]]
    data = data_for(tmp_path, xlsx_bytes(rows), importer=DepartmentImporter)
    assert data.mapping == {0: "name", 1: "kind", 2: "phone", 3: "is_active"}
    result = commit(DepartmentImporter, data, admin, school)
    assert result.committed and result.created == 2
    assert Department.objects.get(org=school, name="语文组").is_active is False
    rows[1][2] = "0571-2"
    result = commit(DepartmentImporter, data_for(tmp_path, xlsx_bytes(rows), importer=DepartmentImporter), admin,
                    school)
    assert (result.created, result.updated, result.unchanged) == (0, 1, 1)
    assert result.changes[0].fields == [("电话", "0571-1", "0571-2")]
    assert Department.objects.get(org=school, name="总务处").phone == "0571-2"
    dup = data_for(tmp_path, xlsx_bytes([*rows, ["总务处", "行政部门", "", "是"], ["教务处", "处室", "", "也许"]]),
                   importer=DepartmentImporter)
    result = validate(DepartmentImporter, dup, admin, school)
    assert sorted((e.row, e.column) for e in result.errors) == [(4, ""), (5, "B 列「类型」"), (5, "D 列「是否启用」")]
    assert "与第 2 行重复" in result.errors[0].message


def test_run_refuses_a_mapping_without_required_columns(tmp_path, school, admin):
    data = data_for(tmp_path, xlsx_bytes([["校区", "楼栋"], ["南园", "明德楼"]]))
    result = commit(LocationImporter, data, admin, school)
    assert not result.committed and result.errors[0].row == 0 and "缺少必填列：名称" in result.errors[0].message


# --- Committing in a background job ---------------------------------------------------------------------------------
def htmx(client, url):
    return client.get(url, HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL=f"http://testserver{url}")


def test_confirm_enqueues_a_job_and_writes_nothing(client, school, admin):
    url = staged_url(upload(client, xlsx_bytes([HEADER, *GOOD_ROWS]), "南园房间.xlsx"))
    job_row = confirm(client, url)
    assert (job_row.status, job_row.name, job_row.user, job_row.org) == (JobStatus.QUEUED, run_import.name, admin,
                                                                         school)
    assert job_row.title == "导入场所：南园房间.xlsx"
    assert job_row.kwargs == {"token": token_of(url), "importer": "locations", "done_url": url + "done/"}
    assert not Room.objects.exists() and not Campus.objects.exists()
    # The result page shows the queued job, and that no worker is running to take it.
    done = client.get(url + "done/")
    html = page(done)
    assert done.status_code == 200 and 'data-testid="import-progress-bar"' in html
    assert "排队中" in html and 'data-testid="no-worker"' in html and "后台任务服务未运行" in html
    assert 'hx-trigger="every 1s"' in html and 'data-testid="cancel-import"' in html
    # The preview and the commit step aside while the job is queued.
    assert client.get(url)["Location"] == url + "done/"
    assert client.post(url, {"col_0": "campus"})["Location"] == url + "done/"


# Committed transactions: on PostgreSQL the job writes progress and log lines from the import's transaction through a
# second connection, which sees the job row only once it is committed (as it is outside tests).
@pytest.mark.django_db(transaction=True)
def test_the_worker_runs_the_import_and_the_result_page_shows_it(client, school, admin):
    url = staged_url(upload(client, xlsx_bytes([HEADER, *GOOD_ROWS])))
    job_row = confirm(client, url)
    assert run_pending(max_tasks=None) == 1
    job_row.refresh_from_db()
    assert job_row.status == JobStatus.SUCCEEDED and job_row.get_status_display() == "已完成"
    assert (job_row.progress, job_row.done, job_row.total) == (100, 12, 12)  # 6 rows checked, then 6 saved
    assert job_row.result["message"] == "导入完成：新增 6 条，更新 0 条，无变化 0 条。"
    assert job_row.result["url"] == url + "done/"
    summary = job_row.result["import"]
    assert (summary["total"], summary["created"], summary["updated"], summary["unchanged"]) == (6, 6, 0, 0)
    assert summary["committed"] and ["新建校区", 2] in summary["extra"]
    assert "检查通过，共 6 行；开始保存" in job_row.log and "导入完成" in job_row.log
    assert Room.objects.filter(org=school).count() == 6
    entry = ChangeLogEntry.objects.filter(action="create", object_repr__contains="美术室").get()
    assert entry.user == admin and entry.request_id == f"job-{job_row.pk}"
    # The staged file is gone; the result page shows the job's summary and no longer polls.
    staged = staging.staged_by_token(token_of(url))
    assert staged.status == staging.StagedStatus.DONE and not staged.file_path.exists()
    done = client.get(url + "done/")
    html = page(done)
    assert done.context["result"].created == 6 and "已完成" in html and 'hx-trigger="every 1s"' not in html
    assert 'data-testid="count-created">6<' in html and 'data-testid="no-worker"' not in html
    assert reverse("core:room_list") in html
    # The job page links to this result page.
    assert url + "done/" in page(client.get(job_row.get_absolute_url()))


def test_the_result_page_polls_with_htmx_until_the_job_has_finished(client):
    url = staged_url(upload(client, xlsx_bytes([HEADER, GOOD_ROWS[0]])))
    confirm(client, url)
    partial = page(htmx(client, url + "done/"))
    assert partial.lstrip().startswith('<div id="import-progress"') and "<html" not in partial
    assert 'hx-trigger="every 1s"' in partial
    run_pending()
    partial = page(htmx(client, url + "done/"))
    assert "hx-trigger" not in partial and 'data-status="succeeded"' in partial and "已全部导入" in partial


def test_no_worker_warning_only_when_no_worker_runs(client):
    from django.utils import timezone

    from houqin.core.models.jobs import WorkerHeartbeat

    url = staged_url(upload(client, xlsx_bytes([HEADER, GOOD_ROWS[0]])))
    confirm(client, url)
    WorkerHeartbeat.objects.create(worker_id="w1", started_at=timezone.now(), seen_at=timezone.now())
    assert 'data-testid="no-worker"' not in page(client.get(url + "done/"))


def test_a_room_made_ambiguous_after_the_preview_fails_the_job_and_writes_nothing(client, school, admin):
    url = staged_url(upload(client, xlsx_bytes([HEADER, *GOOD_ROWS])))
    assert client.get(url).context["can_commit"]
    # Meanwhile someone registers room 101 of 南园 明德楼 twice: row 2 no longer says which one to update.
    with context.acting_as(admin, org_id=school.pk):
        campus = Campus.objects.create(org=school, name="南园")
        building = Building.objects.create(org=school, campus=campus, name="明德楼")
        for name in ("101 教室", "101 储藏室"):
            Room.objects.create(org=school, campus=campus, building=building, number="101", name=name)
    before = (Room.objects.count(), Campus.objects.count(), Building.objects.count(), Floor.objects.count())

    job_row = confirm_and_run(client, url)
    assert job_row.status == JobStatus.FAILED and job_row.get_status_display() == "失败"
    assert job_row.error.splitlines()[0] == "有 1 行数据有误，没有导入任何数据。"
    assert "第 2 行：系统中有 2 个房间与这一行匹配" in job_row.error
    assert (Room.objects.count(), Campus.objects.count(), Building.objects.count(), Floor.objects.count()) == before
    assert not Campus.objects.filter(name="北园").exists()
    # The result page shows the reasons; the staged file stays, and the preview explains and re-checks.
    done = client.get(url + "done/")
    assert "导入失败" in page(done) and "系统中有 2 个房间与这一行匹配" in page(done)
    assert 'data-testid="back-to-preview"' in page(done)
    preview = client.get(url)
    assert preview.status_code == 200 and 'data-testid="last-job"' in page(preview)
    assert not preview.context["can_commit"] and preview.context["result"].errors[0].row == 2
    # Once the duplicate is cleared up, the same upload can be confirmed again.
    Room.objects.filter(name="101 储藏室").delete()
    retry = confirm_and_run(client, url)
    assert retry.pk != job_row.pk and retry.status == JobStatus.SUCCEEDED, retry.error
    assert retry.result["import"]["updated"] == 1 and Room.objects.get(number="101").name == "一年级(1)班教室"


def test_losing_the_right_to_import_before_the_job_runs_fails_it(client, school, admin):
    url = staged_url(upload(client, xlsx_bytes([HEADER, *GOOD_ROWS])))
    job_row = confirm(client, url)
    Membership.objects.filter(user=admin, org=school).delete()
    run_pending()
    job_row.refresh_from_db()
    assert job_row.status == JobStatus.FAILED and "没有在本单位导入场所的权限" in job_row.error
    assert not Room.objects.exists() and not Campus.objects.exists()


def test_a_job_cannot_import_a_file_twice_or_someone_elses(client, school, admin, other_admin):
    from houqin.core.jobs import enqueue

    url = staged_url(upload(client, xlsx_bytes([HEADER, GOOD_ROWS[0]])))
    token = token_of(url)
    confirm_and_run(client, url)
    again = enqueue(run_import, user=admin, org=school, token=token, importer="locations")
    stolen = enqueue(run_import, user=other_admin, org=other_admin.default_org, token=token, importer="locations")
    gone = enqueue(run_import, user=admin, org=school, token="00000000-0000-4000-8000-000000000000",
                   importer="locations")
    run_pending(max_tasks=None)
    for job_row, reason in ((again, "该文件已经导入"), (stolen, "不一致"), (gone, "已过期或被清理")):
        job_row.refresh_from_db()
        assert job_row.status == JobStatus.FAILED and reason in job_row.error, job_row.error
    assert Room.objects.count() == 1


def test_cancelling_a_queued_import_cancels_its_job(client):
    url = staged_url(upload(client, xlsx_bytes([HEADER, GOOD_ROWS[0]])))
    job_row = confirm(client, url)
    response = client.post(url + "cancel/")
    assert response.status_code == 302 and response["Location"] == UPLOAD_URL
    job_row.refresh_from_db()
    assert job_row.status == JobStatus.CANCELLED
    assert run_pending() == 1 and not Room.objects.exists()
    assert client.get(url).status_code == 404


def test_a_running_import_cannot_be_cancelled(client):
    url = staged_url(upload(client, xlsx_bytes([HEADER, GOOD_ROWS[0]])))
    job_row = confirm(client, url)
    Job.objects.filter(pk=job_row.pk).update(status=JobStatus.RUNNING, done=1, total=4, progress=25)
    done = page(client.get(url + "done/"))
    assert "正在检查：第 1 / 2 行" in done and 'data-testid="cancel-import"' not in done
    Job.objects.filter(pk=job_row.pk).update(done=2, progress=50)
    assert "检查通过，正在保存 2 行" in page(client.get(url + "done/"))
    Job.objects.filter(pk=job_row.pk).update(done=3, progress=75)
    assert "正在保存：第 1 / 2 行" in page(client.get(url + "done/"))
    assert client.post(url + "cancel/")["Location"] == url + "done/"
    assert Job.objects.get(pk=job_row.pk).status == JobStatus.RUNNING


def test_another_schools_user_cannot_see_the_import_job(client, other_admin):
    url = staged_url(upload(client, xlsx_bytes([HEADER, *GOOD_ROWS])))
    job_row = confirm(client, url)
    intruder = Client()
    intruder.force_login(other_admin)
    assert intruder.get(job_row.get_absolute_url()).status_code == 404
    assert intruder.post(reverse("job_cancel", args=[job_row.pk])).status_code == 404
    for suffix in ("", "done/"):
        assert intruder.get(url + suffix).status_code == 404
    for suffix in ("commit/", "cancel/"):
        assert intruder.post(url + suffix).status_code == 404
    assert job_row.pk not in [j.pk for j in intruder.get("/jobs/?scope=all").context["jobs"]]
    job_row.refresh_from_db()
    assert job_row.status == JobStatus.QUEUED and Job.objects.count() == 1
    run_pending()
    assert Room.objects.count() == 6 and intruder.get(url + "done/").status_code == 404


def test_upload_page_lists_the_columns(client):
    html = page(client.get(UPLOAD_URL))
    for header in ("校区*", "名称*", "楼层", "面积(㎡)", "备注"):
        assert f">{header}</span>" in html
