"""A school's own 资产台账, as it comes: a title, a two-row header with merged cells, local column names, dates and
amounts written every which way, blank rows and a 合计 row; and the same register saved as a GBK .csv."""

from __future__ import annotations

import csv
import datetime
import io
from decimal import Decimal

import openpyxl
import pytest

from houqin.assets.importers import AssetImporter
from houqin.assets.models import Asset
from houqin.core.importing import commit, load_data, validate

pytestmark = pytest.mark.django_db

# Row 3 and 4 are the header: 金额 is merged over 单价 and 金额, 取得 over 日期 and 方式; the others are merged down.
UPPER = ["序号", "设备名称", "型号规格", "资产类别", "数量", "单位", "金额", None, "取得", None, "使用地点", "使用科室",
         "保管人", "备注"]
LOWER = [None, None, None, None, None, None, "单价", "金额", "日期", "方式", None, None, None, None]


def ledger_rows(world):
    room, department, person = world.a.rooms[0].name, world.a.department.name, world.a.staff.full_name
    return [
        [1, "台式计算机", "启天M590", "计算机设备", 2, "台", "¥4,980.00", "9,960.00元", 2019.9, "购置", room,
         department, person, ""],
        [2, "学生课桌椅", "升降式", "6010000.01", "40套", None, 268, 10720, "2019年9月", "采购", room, department,
         "", ""],
        [None] * 14,  # a blank row in the middle
        [3, "投影仪", "CB-X05", "投影仪", 1, "台", "3650.5", "¥3,650.50", "2019-09-01", "政府采购", room, "", "",
         "三楼"],
        [4, "复印机", "MP 2014", "2020100", "1台", None, 8200, "8200", 43709, "调入", "", department, "", ""],
    ]


def ledger_xlsx(world, rows=None) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["甲城第一小学固定资产台账（2025年度）"])
    ws.merge_cells("A1:N1")
    ws.append(["单位：甲城第一小学", None, None, None, None, None, None, None, None, None, None, None, "单位：元"])
    ws.append(UPPER)
    ws.append(LOWER)
    ws.merge_cells("G3:H3")
    ws.merge_cells("I3:J3")
    for column in "ABCDEFKLMN":
        ws.merge_cells(f"{column}3:{column}4")
    for row in rows or ledger_rows(world):
        ws.append(row)
    ws.append([None] * 14)
    ws.append(["合计", None, None, None, 44, None, None, 32530.5, None, None, None, None, None, None])
    ws.append(["制表人：张老师", None, None, None, None, None, None, None, None, None, "审核人：李主任"])
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def load(tmp_path, content: bytes, name="台账.xlsx"):
    path = tmp_path / name
    path.write_bytes(content)
    return load_data(path, path.suffix, AssetImporter.fields)


def test_a_two_row_header_with_merged_cells_is_read(world, tmp_path):
    data = load(tmp_path, ledger_xlsx(world))
    assert (data.header_row, data.header_depth) == (3, 2)
    mapped = {data.headers[i]: name for i, name in data.mapping.items()}
    assert mapped == {"设备名称": "name", "型号规格": "model", "资产类别": "category", "数量": "quantity",
                      "单位": "unit", "单价": "unit_price", "金额": "amount", "取得日期": "acquired_on",
                      "取得方式": "acquisition_method", "使用地点": "room", "使用科室": "department",
                      "保管人": "custodian", "备注": "note"}
    assert data.unknown_columns() == ["A 列「序号」"]
    assert [number for number, _ in data.rows] == [5, 6, 8, 9]  # blank rows left out
    assert [reason for _, reason in data.skipped] == ["合计行“合计”，已忽略", "表尾“制表人：张老师”，已忽略"]


def test_the_ledger_imports_with_its_dates_amounts_and_units(world, tmp_path):
    result = commit(AssetImporter, load(tmp_path, ledger_xlsx(world)), world.head_a, world.a.org)
    assert result.committed and result.created == 4, result.errors
    cards = {a.name: a for a in Asset.objects.filter(org=world.a.org)}
    pc = cards["台式计算机"]
    assert (pc.quantity, pc.unit_price, pc.original_value) == (2, Decimal("4980.00"), Decimal("9960.00"))
    assert pc.acquired_on == datetime.date(2019, 9, 1)  # 2019.9, a number in the cell
    assert pc.custodian == world.a.staff and pc.room == world.a.rooms[0]
    desks = cards["学生课桌椅"]
    assert (desks.quantity, desks.unit, desks.acquired_on) == (40, "套", datetime.date(2019, 9, 1))  # 40套, 2019年9月
    assert desks.is_batch
    projector = cards["投影仪"]
    assert (projector.unit_price, projector.acquisition_method) == (Decimal("3650.50"), "purchase")
    copier = cards["复印机"]
    assert (copier.unit, copier.acquired_on, copier.acquisition_method) == ("台", datetime.date(2019, 9, 1),
                                                                            "allocation")  # 1台, serial 43709


def test_quantity_times_price_must_match_the_amount(world, tmp_path):
    rows = ledger_rows(world)
    rows[0][7] = "9,950.00元"
    result = validate(AssetImporter, load(tmp_path, ledger_xlsx(world, rows)), world.head_a, world.a.org)
    assert [(e.row, e.column) for e in result.errors] == [(5, "H 列「金额」")]
    assert result.errors[0].message == ("金额 9,950.00 元与 数量 × 单价（2 × 4,980.00 = 9,960.00 元）不符，"
                                        "相差 10.00 元。")
    rows[0][7] = "9,960.01"  # within a cent
    assert validate(AssetImporter, load(tmp_path, ledger_xlsx(world, rows)), world.head_a, world.a.org).ok


def test_bad_dates_and_amounts_are_row_errors(world, tmp_path):
    rows = ledger_rows(world)
    rows[0][8] = "2019.13"
    rows[1][6] = "两百"
    errors = validate(AssetImporter, load(tmp_path, ledger_xlsx(world, rows)), world.head_a, world.a.org).errors
    assert [(e.row, e.column, e.message) for e in errors] == [
        (5, "I 列「取得日期」", "“2019.13”不是有效的日期（没有 13 月）。"),
        (6, "G 列「单价」", "“两百”不是有效的金额。"),
    ]


def test_the_same_register_as_a_gbk_csv(world, tmp_path):
    rows = ledger_rows(world)
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["甲城第一小学固定资产台账"])
    writer.writerow(["序号", "资产名称", "规格", "分类", "数量", "计量单位", "单价(元)", "金额(元)", "购置日期",
                     "取得方式", "存放位置", "使用部门", "责任人", "备注"])
    for row in rows:  # GBK has the full-width ￥ only
        writer.writerow(["" if v is None else str(v).replace("¥", "￥") for v in row])
    writer.writerow(["合计", "", "", "", "44", "", "", "32530.5"])
    content = text.getvalue().encode("gbk")
    data = load(tmp_path, content, "台账.csv")
    assert data.header_row == 2 and len(data.rows) == 4
    result = commit(AssetImporter, data, world.head_a, world.a.org)
    assert result.committed and result.created == 4, result.errors
    copier = Asset.objects.get(org=world.a.org, name="复印机")
    assert copier.acquired_on == datetime.date(2019, 9, 1)  # "43709" as text: an Excel serial number
    assert Asset.objects.get(org=world.a.org, name="台式计算机").custodian == world.a.staff
