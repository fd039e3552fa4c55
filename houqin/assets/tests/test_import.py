"""Importing an asset register from Excel (houqin.assets.importers) on core's staged import."""

from __future__ import annotations

import datetime
import io
from decimal import Decimal

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from houqin.assets.choices import AssetEventCode, AssetStatus
from houqin.assets.importers import AssetImporter
from houqin.assets.models import Asset, AssetEvent
from houqin.assets.tests.factories import make_asset
from houqin.core.importing import commit, load_data, validate
from houqin.core.models import ChangeLogEntry

pytestmark = pytest.mark.django_db

HEADER = ["资产编号", "资产名称", "资产分类", "规格型号", "品牌", "数量", "单位", "单价", "金额", "取得日期",
          "取得方式", "使用部门", "存放地点", "使用人/保管人", "状态", "备注"]


def rows_for(world):
    room, department = world.a.rooms[0], world.a.department.name
    return [
        ["", "台式计算机", "计算机设备", "M590", "联想", 1, "台", 4980, 4980, datetime.date(2024, 9, 1), "购置",
         department, room.name, "甲校老师", "在用", ""],
        ["", "课桌椅", "6010000.01", "升降式", "", "40套", "套", "268.00", "10,720.00", "2023/8/20", "采购",
         department, f"{room.building.name}{room.number}", "", "正常", "一年级"],
        ["", "图书", "图书", "", "", 1200, "册", "", "36000", "2022年4月1日", "受赠", "", "", "", "", "捐赠"],
        ["", "旧投影仪", "2020200", "CB-X05", "爱普生", 1, "台", "5,600.00", "5600", "2014.08.10", "", department,
         room.name, "", "待报废", ""],
    ]


def xlsx(rows, *, title=True) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    if title:  # a messy real-life sheet: a merged title, a date line, then the header
        ws.append(["甲城第一小学固定资产登记表"])
        ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(HEADER))
        ws.append(["填报日期：2026年3月1日", None, None, None, None, None, None, None, None, None, None, None, None,
                   None, "单位：元"])
    ws.append(HEADER)
    for row in rows:
        ws.append(row)
    ws.append(["合计", None, None, None, None, None, None, None, 57300])
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def data_for(tmp_path, content: bytes):
    path = tmp_path / "assets.xlsx"
    path.write_bytes(content)
    return load_data(path, ".xlsx", AssetImporter.fields)


def test_a_messy_file_with_bad_rows_is_refused_with_reasons(world, tmp_path):
    rows = rows_for(world)
    rows[0][8] = 4890  # 金额 does not match 数量 × 单价
    rows[1][12] = "不存在的教室"
    rows[3][11] = "后勤处"  # no such department
    data = data_for(tmp_path, xlsx(rows))
    assert data.header_row == 3 and data.skipped and "合计" in data.skipped[0][1]
    result = validate(AssetImporter, data, world.head_a, world.a.org)
    by_row = {e.row: e for e in result.errors}
    assert sorted(by_row) == [4, 5, 7]
    assert by_row[4].column == "I 列「金额」"
    assert by_row[4].message == "金额 4,890.00 元与 数量 × 单价（1 × 4,980.00 = 4,980.00 元）不符，相差 90.00 元。"
    assert by_row[5].column == "M 列「存放地点」" and by_row[5].message.startswith("系统中没有存放地点“不存在的教室”")
    assert "勾选“创建这些部门/地点”" in by_row[5].message
    assert by_row[7].column == "L 列「使用部门」" and "系统中没有部门“后勤处”" in by_row[7].message
    assert result.created == 1  # the good row is counted, but the bad ones block the import
    # The preview lists what the school does not have, with how many rows name it.
    assert [(m.label, [i[:2] for i in m.items]) for m in result.missing] == [
        ("使用部门", [("后勤处", 1)]), ("存放地点", [("不存在的教室", 1)])]
    outcome = commit(AssetImporter, data, world.head_a, world.a.org)
    assert not outcome.committed and not Asset.objects.exists() and not AssetEvent.objects.exists()


def test_a_good_file_registers_every_card(world, tmp_path):
    data = data_for(tmp_path, xlsx(rows_for(world)))
    result = commit(AssetImporter, data, world.head_a, world.a.org)
    assert result.committed and result.created == 4, result.errors
    cards = {a.name: a for a in Asset.objects.filter(org=world.a.org).select_related("category", "room")}
    pc = cards["台式计算机"]
    assert pc.number.startswith("ZC-") and pc.custodian == world.a.staff and pc.room == world.a.rooms[0]
    desks = cards["课桌椅"]
    assert (desks.quantity, desks.unit_price, desks.original_value) == (40, Decimal("268.00"), Decimal("10720.00"))
    assert desks.is_batch and desks.category.code == "6010000.01" and desks.useful_life_years == 5
    assert desks.room == world.a.rooms[0]  # found by building + room number
    books = cards["图书"]
    assert books.unit_price == Decimal("30.00") and books.acquisition_method == "donation"  # 单价 = 金额 ÷ 数量
    assert cards["旧投影仪"].status == AssetStatus.PENDING_DISPOSAL
    assert sorted(a.number for a in cards.values()) == sorted(
        f"ZC-{datetime.date.today().year}-{n:05d}" for n in range(1, 5))
    events = AssetEvent.objects.filter(asset__org=world.a.org)
    assert events.count() == 4 and {e.note for e in events} == {"导入登记"}
    assert {e.actor for e in events} == {world.head_a}
    # One change-log entry for the batch names every card it created (each card keeps its own 登记 event).
    entry = ChangeLogEntry.objects.get(action="create", content_type__model="asset")
    assert (entry.user, entry.org, entry.after["条数"]) == (world.head_a, world.a.org, 4)
    assert sorted(entry.after["number"]) == sorted(a.number for a in cards.values())
    assert sorted(entry.after["id"]) == sorted(a.pk for a in cards.values())
    assert entry.object_repr.startswith("导入登记 4 张资产卡片")


def test_existing_numbers_update_by_key(world, tmp_path):
    card = make_asset(world.a.org, name="台式计算机", brand="联想", room=world.a.rooms[0],
                      department=world.a.department)
    row = [card.number, "台式计算机", "2010100", "M590", "戴尔", 1, "台", 4980, 4980, datetime.date(2024, 9, 1),
           "购置", world.a.department.name, world.a.rooms[1].name, "", "在用", ""]
    result = commit(AssetImporter, data_for(tmp_path, xlsx([row], title=False)), world.head_a, world.a.org)
    assert result.committed and (result.created, result.updated) == (0, 1), result.errors
    card.refresh_from_db()
    assert card.brand == "戴尔" and card.room == world.a.rooms[1]
    adjust = card.events.get(code=AssetEventCode.ADJUST)
    assert adjust.note == "导入更新" and adjust.changes["room"][1]["id"] == world.a.rooms[1].pk
    # The same file again: nothing changes.
    again = validate(AssetImporter, data_for(tmp_path, xlsx([row], title=False)), world.head_a, world.a.org)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 1)


def test_registration_facts_and_status_are_not_changed_by_a_file(world, tmp_path):
    card = make_asset(world.a.org, name="台式计算机", room=world.a.rooms[0])
    base = [card.number, "台式计算机", "2010100", "", "", 1, "台", 4980, 4980, datetime.date(2024, 9, 1), "购置",
            "", world.a.rooms[0].name, "", "在用", ""]
    more = list(base)
    more[5], more[8] = 2, 9960
    idle = list(base)
    idle[14] = "闲置"
    data = data_for(tmp_path, xlsx([more], title=False))
    errors = validate(AssetImporter, data, world.head_a, world.a.org).errors
    assert errors[0].message == (f"资产 {card.number} 已入账，数量不能通过导入修改，请使用调拨、调账等业务操作。")
    errors = validate(AssetImporter, data_for(tmp_path, xlsx([idle], title=False)), world.head_a, world.a.org).errors
    assert errors[0].message == "状态只能通过业务操作变更（当前为“在用”，文件中为“闲置”）。"
    card.refresh_from_db()
    assert card.quantity == 1 and card.status == AssetStatus.IN_USE


def test_rows_refused_for_their_own_reasons(world, tmp_path):
    rows = rows_for(world)
    rows[0][2] = "不存在的分类"
    rows[1][13] = "查无此人"
    rows[2][14] = "已报废"
    rows[3][9] = "2099-01-01"
    data = data_for(tmp_path, xlsx(rows))
    errors = {e.row: e for e in validate(AssetImporter, data, world.head_a, world.a.org).errors}
    assert errors[4].message.startswith("没有资产分类“不存在的分类”")
    assert errors[5].message.startswith("系统中没有人员“查无此人”")
    assert errors[6].message == "已处置的资产已不在账上，不需要登记。"
    assert errors[7].message == "取得日期不能晚于今天。" and errors[7].column == "J 列「取得日期」"


def test_the_pages_and_the_template(world, client_for, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    client = client_for(world.head_a)
    assert client.get(reverse("assets:import_assets")).status_code == 200
    template = client.get(reverse("assets:import_assets_template"))
    assert template.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(template.content)).active
    headers = [c.value for c in next(sheet.iter_rows(max_row=1))]
    assert "资产名称*" in headers and "取得日期*" in headers and "金额" in headers
    upload = SimpleUploadedFile("资产.xlsx", xlsx(rows_for(world)), content_type="application/octet-stream")
    response = client.post(reverse("assets:import_assets"), {"file": upload})
    assert response.status_code == 302
    preview = client.get(response["Location"])
    assert preview.status_code == 200 and preview.context["result"].created == 4
    # Who may not register cards may not import them.
    assert client_for(world.admin_a).get(reverse("assets:import_assets")).status_code == 403
    assert client_for(world.teacher_a).get(reverse("assets:import_assets")).status_code == 403
