"""The asset import's option to create the departments and places a register names that the school lacks."""

from __future__ import annotations

import datetime
import io

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from houqin.assets import history
from houqin.assets.choices import AssetEventCode
from houqin.assets.importers import AssetImporter
from houqin.assets.models import Asset, AssetEvent
from houqin.assets.tests.factories import make_asset
from houqin.core.importing import commit, load_data, validate
from houqin.core.importing.staging import staged_by_token
from houqin.core.jobs import run_pending
from houqin.core.models import Building, ChangeLogEntry, Department, Floor, Room, RoomType
from houqin.core.models.jobs import Job, JobStatus
from houqin.core.testing.factories import make_building, make_user

pytestmark = pytest.mark.django_db

HEADER = ["资产名称", "资产分类", "数量", "单价", "金额", "取得日期", "使用部门", "存放地点", "使用人"]
CREATE = {"create_missing": True}


def row(name, department, place, *, price=4980):
    return [name, "计算机设备", 1, price, price, datetime.date(2024, 9, 1), department, place, ""]


def xlsx(rows) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(HEADER)
    for r in rows:
        ws.append(r)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def data_for(tmp_path, rows):
    path = tmp_path / "register.xlsx"
    path.write_bytes(xlsx(rows))
    return load_data(path, ".xlsx", AssetImporter.fields)


def rows_for(world):
    building = world.a.building.name  # 甲教学楼 (rooms 101 and 102 on floor 1)
    return [
        row("台式计算机", "信息中心", f"{building}301"),
        row("笔记本电脑", "信息中心", f"{building} 二楼 化学实验室"),
        row("投影仪", world.a.department.name, f"{building}301"),
        row("打印机", "教务处", "科技楼205"),  # a building the school does not have
        row("扫描仪", "教务处", f"{building}1楼101"),  # an existing room, written another way
    ]


def test_unknown_places_are_listed_and_refused_by_default(world, tmp_path):
    result = validate(AssetImporter, data_for(tmp_path, rows_for(world)), world.head_a, world.a.org)
    missing = {m.label: {value: (count, outcome) for value, count, outcome in m.items} for m in result.missing}
    building = world.a.building.name
    refused = "不导入这些行（未勾选新建）"
    assert missing["使用部门"] == {"信息中心": (2, refused), "教务处": (2, refused)}
    assert missing["存放地点"][f"{building}301"][0] == 2
    assert "新建房间：甲校本部 甲教学楼 301" in missing["存放地点"][f"{building}301"][1]
    assert "新建房间：甲校本部 甲教学楼 2层 化学实验室" in missing["存放地点"][f"{building} 二楼 化学实验室"][1]
    assert f"{building}1楼101" not in missing["存放地点"]  # found: it is room 101 of that building
    assert sorted(e.row for e in result.errors) == [2, 2, 3, 3, 4, 5, 5, 6]
    assert result.extra == [("新建部门", 0), ("新建房间", 0), ("新建校区", 0), ("新建楼栋", 0), ("新建楼层", 0)]


def test_created_on_confirmation_in_the_same_transaction(world, tmp_path):
    data = data_for(tmp_path, rows_for(world))
    preview = validate(AssetImporter, data, world.head_a, world.a.org, options=CREATE)
    assert preview.ok, preview.errors
    assert dict(preview.extra) == {"新建部门": 2, "新建房间": 3, "新建校区": 0, "新建楼栋": 1, "新建楼层": 1}
    assert not Department.objects.filter(name="信息中心").exists()  # a preview writes nothing

    result = commit(AssetImporter, data, world.head_a, world.a.org, options=CREATE)
    assert result.committed and result.created == 5, result.errors
    org, building = world.a.org, world.a.building
    assert set(Department.objects.filter(org=org).values_list("name", flat=True)) == {"甲总务处", "信息中心", "教务处"}
    room_301 = Room.objects.get(org=org, building=building, number="301")
    lab = Room.objects.get(org=org, building=building, name="化学实验室")
    assert (lab.floor.level, lab.room_type, lab.number) == (2, RoomType.LAB, "")
    holding = Building.objects.get(org=org, name="待整理")
    assert holding.campus == world.a.campus
    assert Room.objects.get(org=org, building=holding).name == "科技楼205"
    cards = {a.name: a for a in Asset.objects.filter(org=org)}
    assert cards["台式计算机"].room == room_301 == cards["投影仪"].room  # one room for both rows
    assert cards["笔记本电脑"].room == lab and cards["扫描仪"].room == world.a.rooms[0]
    assert cards["打印机"].department.name == "教务处"
    # Each new row is in the change log, by the importing user.
    logged = ChangeLogEntry.objects.filter(org=org, action="create", user=world.head_a)
    assert {e.object_repr for e in logged.filter(content_type__model="department")} == {"信息中心", "教务处"}
    assert logged.filter(content_type__model="room").count() == 3
    assert logged.filter(content_type__model="building").count() == 1
    assert logged.filter(content_type__model="floor").count() == 1


def test_a_bad_row_leaves_no_new_department_or_room(world, tmp_path):
    rows = rows_for(world)
    rows[2][4] = 1  # 金额 ≠ 数量 × 单价
    result = commit(AssetImporter, data_for(tmp_path, rows), world.head_a, world.a.org, options=CREATE)
    assert not result.committed and [e.row for e in result.errors] == [4]
    assert not Department.objects.filter(name__in=("信息中心", "教务处")).exists()
    assert not Room.objects.filter(number="301").exists() and not Building.objects.filter(name="待整理").exists()
    assert not Asset.objects.exists() and not AssetEvent.objects.exists()


def test_new_places_go_to_the_building_picked_on_the_preview(world, tmp_path):
    annex = make_building(world.a.campus, "综合楼")
    rows = [row("打印机", world.a.department.name, "科技楼205"), row("扫描仪", world.a.department.name, "三(2)班")]
    options = {**CREATE, "holding_building": f"b:{annex.pk}"}
    result = commit(AssetImporter, data_for(tmp_path, rows), world.head_a, world.a.org, options=options)
    assert result.committed, result.errors
    assert sorted(Room.objects.filter(building=annex).values_list("name", "room_type")) == [
        ("三(2)班", RoomType.CLASSROOM), ("科技楼205", RoomType.OTHER)]
    assert not Building.objects.filter(name="待整理").exists()
    # A building of another school is not a choice: the import refuses to run with it.
    other = world.b.building
    refused = validate(AssetImporter, data_for(tmp_path, rows), world.head_a, world.a.org,
                       options={**CREATE, "holding_building": f"b:{other.pk}"})
    assert refused.errors[0].row == 0 and "已失效" in refused.errors[0].message


def test_who_may_not_create_places_gets_the_rows_refused(world, tmp_path):
    keeper = make_user("keeper_a", full_name="甲校资产员", org=world.a.org, roles=("asset_keeper",))
    data = data_for(tmp_path, rows_for(world))
    result = validate(AssetImporter, data, keeper, world.a.org, options=CREATE)  # the page does not offer it
    assert not result.ok and not any("勾选" in e.message for e in result.errors)
    assert any("没有新建部门的权限" in e.message for e in result.errors)
    assert any("没有新建房间的权限" in e.message for e in result.errors)


def test_the_register_event_records_what_register_asset_would(world, tmp_path):
    result = commit(AssetImporter, data_for(tmp_path, rows_for(world)), world.head_a, world.a.org, options=CREATE)
    assert result.committed
    for card in Asset.objects.filter(org=world.a.org).select_related("category", "room__campus",
                                                                     "room__building", "department", "custodian"):
        event = card.events.get()
        assert event.code == AssetEventCode.REGISTER and event.actor == world.head_a
        assert event.changes == history.diff({}, history.snapshot(card))
        assert event.status_after == card.status and card.registered_on == datetime.date.today()


def test_numbers_in_the_file_are_kept_and_not_handed_out_again(world, tmp_path):
    existing = make_asset(world.a.org)  # takes the year's first number
    year = datetime.date.today().year
    rows = [row("台式计算机", "", ""), row("笔记本电脑", "", "")]
    wb_rows = [["资产编号", *HEADER], [f"ZC-{year}-00007", *rows[0]], ["", *rows[1]], [existing.number, *rows[0]]]
    wb = openpyxl.Workbook()
    for r in wb_rows:
        wb.active.append(r)
    path = tmp_path / "numbers.xlsx"
    wb.save(path)
    data = load_data(path, ".xlsx", AssetImporter.fields)
    result = commit(AssetImporter, data, world.head_a, world.a.org)
    assert result.committed and (result.created, result.unchanged) == (2, 1), result.errors
    assert set(Asset.objects.filter(org=world.a.org).values_list("number", flat=True)) == {
        existing.number, f"ZC-{year}-00007", f"ZC-{year}-00008"}


def test_updates_are_written_in_bulk_with_their_history(world, tmp_path):
    card = make_asset(world.a.org, name="台式计算机", room=world.a.rooms[0], department=world.a.department)
    wb = openpyxl.Workbook()
    wb.active.append(["资产编号", "资产名称", "品牌", "存放地点", "取得日期"])
    wb.active.append([card.number, "台式计算机", "戴尔", world.a.rooms[1].name, card.acquired_on])
    path = tmp_path / "update.xlsx"
    wb.save(path)
    result = commit(AssetImporter, load_data(path, ".xlsx", AssetImporter.fields), world.head_a, world.a.org)
    assert result.committed and result.updated == 1, result.errors
    card.refresh_from_db()
    assert (card.brand, card.room) == ("戴尔", world.a.rooms[1])
    assert "戴尔" in card.search_index
    entry = ChangeLogEntry.objects.get(action="update", content_type__model="asset", object_id=str(card.pk))
    assert entry.user == world.head_a and entry.after["brand"] == "戴尔" and entry.before["room_id"] == \
        world.a.rooms[0].pk
    adjust = card.events.get(code=AssetEventCode.ADJUST)
    assert adjust.changes["room"] == [{"id": world.a.rooms[0].pk, "name": str(world.a.rooms[0])},
                                      {"id": world.a.rooms[1].pk, "name": str(world.a.rooms[1])}]


def test_the_preview_offers_the_option_and_the_job_creates(world, client_for, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    client = client_for(world.head_a)
    upload = SimpleUploadedFile("资产.xlsx", xlsx(rows_for(world)), content_type="application/octet-stream")
    url = client.post(reverse("assets:import_assets"), {"file": upload})["Location"]
    page = client.get(url)
    assert page.context["result"].errors and not page.context["can_commit"]
    html = page.content.decode()
    assert "文件中有系统里没有的使用部门（2 个）" in html and "信息中心" in html
    assert 'data-testid="options-form"' in html
    assert "创建这些部门/地点" in html and "新建楼栋“待整理”" in html
    fields = {f.name: f for f in page.context["option_fields"]}
    choice = fields["opt_holding_building"].field.choices[0][0]
    response = client.post(url, {"apply_options": "1", "opt_create_missing": "on", "opt_holding_building": choice})
    assert response.status_code == 302
    assert staged_by_token(url.rstrip("/").rsplit("/", 1)[1]).options == {
        "create_missing": True, "holding_building": choice}
    page = client.get(url)
    assert page.context["can_commit"], page.context["result"].errors
    assert "将新建部门 <strong>2</strong> 个" in page.content.decode()
    assert client.post(url + "commit/").status_code == 302
    run_pending(max_tasks=None)
    job = Job.objects.get(pk=staged_by_token(url.rstrip("/").rsplit("/", 1)[1]).job_id)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert Asset.objects.filter(org=world.a.org).count() == 5
    assert Floor.objects.filter(building=world.a.building, level=2).exists()
