"""The fast .xlsx export (benchmark metric P3, docs/performance.md "Export (P3)"): a list whose columns can be read
from plain values is exported with ``values_list`` and the streaming sheet writer, and must give exactly the cells the
model instances give (``Column.text``); the file opens in openpyxl and python-calamine, keeps the formula guard, the
bold header and the filename; the queries do not grow with the rows."""

from __future__ import annotations

import datetime
import io
import zipfile
from decimal import Decimal

import pytest
from django.urls import reverse
from openpyxl import load_workbook
from python_calamine import CalamineWorkbook

from houqin.assets.choices import AssetClass, AssetStatus
from houqin.assets.models import Asset
from houqin.assets.tables import AssetTable
from houqin.assets.tests.factories import bulk_assets, make_asset, make_category
from houqin.assets.views import AssetUI
from houqin.core.exporting import SheetWriter, write_xlsx
from houqin.core.tables import Column, values_reader
from houqin.core.testing import factories as f
from houqin.core.testing.queries import captured_queries, describe_difference
from houqin.core.testing.registry import factory_for
from houqin.core.testing.routes import ui_route_names
from houqin.core.ui import REGISTRY

pytestmark = pytest.mark.django_db
EXPORT = "assets:asset_export"


def body(response) -> bytes:
    assert response.status_code == 200
    return b"".join(response.streaming_content) if response.streaming else response.content


def rows_of(raw: bytes) -> list[tuple]:
    return [tuple(row) for row in load_workbook(io.BytesIO(raw), read_only=True).active.iter_rows(values_only=True)]


def instance_rows(user, columns) -> list[tuple]:
    """The same list written from model instances, the way every export worked before."""
    queryset = AssetUI.base_queryset(user).order_by("-acquired_on", "-pk")
    out = io.BytesIO()
    write_xlsx(queryset.iterator(), columns, "资产卡片", out)
    return rows_of(out.getvalue())


@pytest.fixture
def varied_cards(world):
    """Cards covering every branch of the columns read from values: custodian with and without a full name, the
    room's responsible person instead, no room, a room without a building, a disposed card, a low-value card, a
    non-depreciable category, a school whose depreciation starts the month after, text a spreadsheet would run."""
    a, b = world.a, world.b
    b.org.settings = {"assets": {"depreciation_start": "next_month"}}
    b.org.save(update_fields=["settings"])
    nameless = f.make_user("nameless_keeper", org=a.org, roles=("teacher",))
    responsible = f.make_user("room_head", full_name="王老师", org=a.org, roles=("teacher",))
    hall = f.make_room(campus=a.campus, number="", name="操场看台", responsible=responsible)
    books = make_category(a.org, "图书资料", code="2010100.77", is_depreciable=False)
    cards = [
        make_asset(a.org, name="台式计算机", room=a.rooms[0], department=a.department, custodian=a.staff),
        make_asset(a.org, name="投影仪", room=hall, custodian=nameless, unit_price="12345.67", quantity=3),
        make_asset(a.org, name="讲台", room=hall, unit_price="880.00", acquired_on=datetime.date(2025, 3, 31)),
        make_asset(a.org, name="图书一批", category=books, unit_price="3000.00"),
        make_asset(a.org, name='=HYPERLINK("http://example.com","点我")', model="-5", unit_price="1500.00"),
        make_asset(a.org, name=" 前后有空格 ", model="A&B <C>", unit_price="2000.00"),
        make_asset(b.org, name="钢琴", room=b.rooms[0], unit_price="56000.00", acquired_on=datetime.date(2023, 1, 15)),
    ]
    Asset.objects.filter(pk=cards[0].pk).update(status=AssetStatus.DISPOSED, disposed_on=datetime.date(2025, 6, 10))
    return cards


def test_asset_columns_are_all_read_from_values():
    assert values_reader(Asset, AssetTable(Asset).export_columns()) is not None


def test_asset_export_gives_the_cells_of_the_cards(world, varied_cards, client_for):
    user = world.bureau_admin
    columns = AssetTable(Asset).export_columns()
    response = client_for(user).get(reverse(EXPORT))
    exported = rows_of(body(response))
    assert exported == instance_rows(user, columns)
    header, cards = exported[0], exported[1:]
    assert header == tuple(str(c.label) for c in columns)
    assert len(cards) == Asset.objects.filter(org__in=[world.a.org, world.b.org]).count() == len(varied_cards)
    by_name = {row[1]: row for row in cards}
    classes = {row[1]: row[11] for row in cards}
    assert by_name["讲台"][11] == "低值易耗品" and classes["台式计算机"] == "固定资产"
    assert by_name["台式计算机"][12] == "已处置"
    assert by_name["投影仪"][4] == "3 台" and by_name["投影仪"][5] == "37,037.01"
    assert by_name["投影仪"][10] == "nameless_keeper"
    assert by_name["讲台"][9] == f"{world.a.campus.name} 操场看台" and by_name["讲台"][10] == "王老师（房间责任人）"
    assert by_name["图书一批"][6] == "3,000.00"  # a non-depreciable category keeps its original value
    assert by_name["图书一批"][9] is None and by_name["图书一批"][10] is None  # empty cells stay empty
    assert "'=HYPERLINK(\"http://example.com\",\"点我\")" in by_name
    assert by_name["'=HYPERLINK(\"http://example.com\",\"点我\")"][3] == "-5"  # a number is not a formula
    assert by_name[" 前后有空格 "][3] == "A&B <C>"


def test_a_change_of_a_card_shows_in_the_next_export(world, varied_cards, client_for):
    client = client_for(world.bureau_admin)
    first = rows_of(body(client.get(reverse(EXPORT))))
    world.a.staff.full_name = "改名后的老师"
    world.a.staff.save(update_fields=["full_name"])
    world.b.org.settings = {}
    world.b.org.save(update_fields=["settings"])
    second = rows_of(body(client.get(reverse(EXPORT))))
    assert "改名后的老师" in {row[10] for row in second} - {row[10] for row in first}
    piano = [next(r for r in rows if r[1] == "钢琴") for rows in (first, second)]
    assert piano[0][6] != piano[1][6]  # depreciation from the month of acquisition now: one month more charged
    assert second == instance_rows(world.bureau_admin, AssetTable(Asset).export_columns())


def test_export_file_opens_in_calamine_with_bold_header_and_dated_filename(world, varied_cards, client_for):
    response = client_for(world.bureau_admin).get(reverse(EXPORT), {"q": "投影仪"})
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert response["Content-Disposition"].startswith("attachment; filename*=UTF-8''%E8%B5%84%E4%BA%A7%E5%8D%A1")
    assert response["Content-Disposition"].endswith(".xlsx")
    raw = body(response)
    sheet = CalamineWorkbook.from_filelike(io.BytesIO(raw)).get_sheet_by_index(0).to_python()
    assert sheet[0][0] == "资产编号" and [r[1] for r in sheet[1:]] == ["投影仪"]
    workbook = load_workbook(io.BytesIO(raw))
    assert workbook.active.title == "资产卡片"
    assert all(cell.font.b for cell in workbook.active[1]) and not workbook.active["A2"].font.b
    assert zipfile.ZipFile(io.BytesIO(raw)).testzip() is None


def test_export_queries_do_not_grow_with_cards(world, client_for):
    make_asset(world.a.org, name="一台", room=world.a.rooms[0])
    make_asset(world.b.org, name="另一台", room=world.b.rooms[0])
    client = client_for(world.bureau_admin)
    few = captured_queries(client, reverse(EXPORT))
    bulk_assets(world.a, 60)
    bulk_assets(world.b, 60)
    many = captured_queries(client, reverse(EXPORT))
    assert len(many) == len(few), describe_difference(few, many)
    assert len(rows_of(body(client.get(reverse(EXPORT))))) == 123


def test_export_is_capped_at_the_configured_rows(world, client_for, settings):
    bulk_assets(world.a, 12)
    settings.HOUQIN_EXPORT_MAX_ROWS = 5
    assert len(rows_of(body(client_for(world.head_a).get(reverse(EXPORT))))) == 6


def _lists_read_from_values() -> list[str]:
    ui_route_names()
    return sorted(label for label, ui in REGISTRY.items() if ui.can_export and ui.table_class is not None
                  and values_reader(ui.model, ui.table_class(ui.model).export_columns()) is not None)


def test_the_asset_list_is_among_the_lists_read_from_values():
    assert "assets.asset" in _lists_read_from_values()


@pytest.mark.parametrize("label", _lists_read_from_values())
def test_every_list_read_from_values_gives_the_cells_of_its_objects(world, label):
    """Whichever registered list takes the values path gives the same texts as from its model instances (the other
    lists are exported from their instances, as before)."""
    ui = REGISTRY[label]
    columns = ui.table_class(ui.model).export_columns()
    lookups, texts = values_reader(ui.model, columns)
    factory = factory_for(ui.model)
    factory.make(world.a, "导出核对")
    factory.make_many(world.a, 3)
    queryset = ui.base_queryset(world.superuser).order_by("pk")
    from_values = [texts(row) for row in queryset.values_list(*lookups)]
    from_objects = [[c.text(obj) for c in columns] for obj in queryset]
    assert from_values and from_values == from_objects


# --- The sheet writer ---------------------------------------------------------------------------------------------
def written(rows, title="测试") -> bytes:
    out = io.BytesIO()
    writer = SheetWriter(out, title, len(rows[0]))
    writer.header(rows[0])
    for row in rows[1:]:
        writer.row(row)
    writer.close()
    return out.getvalue()


def test_writer_guards_formulas_and_keeps_text_exact():
    long_text = "长" * 40000
    raw = written([["甲", "乙", "丙"],
                   ["=1+2", "+86 123", "@SUM(A1)"],
                   ["-12.5", "1,200.00", "-"],
                   ["a&b<c>\"d'", "  两端空格  ", "换\n行"],
                   ["控制\x01字符\x1f", "", long_text]], title="卡片[1]/2:*?")
    workbook = load_workbook(io.BytesIO(raw))
    sheet = workbook.active
    assert sheet.title == "卡片_1__2___"
    cells = [c for row in sheet.iter_rows() for c in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[1] == ["'=1+2", "'+86 123", "'@SUM(A1)"]
    assert values[2] == ["-12.5", "1,200.00", "'-"]
    assert values[3] == ["a&b<c>\"d'", "  两端空格  ", "换\n行"]
    assert values[4][0] == "控制字符" and values[4][1] is None and len(values[4][2]) == 32767
    calamine = CalamineWorkbook.from_filelike(io.BytesIO(raw)).get_sheet_by_index(0).to_python()
    assert calamine[3] == ["a&b<c>\"d'", "  两端空格  ", "换\n行"]


def test_write_xlsx_of_objects_keeps_working():
    class Row:
        def __init__(self, name, amount):
            self.name, self.amount = name, amount

    columns = [Column("name", "名称"), Column("amount", "金额")]
    out = io.BytesIO()
    assert write_xlsx([Row("合计", Decimal("1234.5")), Row("=1", None)], columns, "表", out) == 2
    assert rows_of(out.getvalue()) == [("名称", "金额"), ("合计", "1,234.50"), ("'=1", None)]


def test_a_column_that_computes_its_own_text_is_read_from_instances():
    class Shouting(Column):
        def text(self, obj):
            return super().text(obj).upper()

    assert Column("name").values_plan(Asset) is not None
    assert Shouting("name").values_plan(Asset) is None
    assert Column("quantity_display").values_plan(Asset) is None  # a property without values=
    assert Column("category").values_plan(Asset) is None  # a related object's __str__
    assert values_reader(Asset, [Column("name"), Column("room")]) is None


def test_low_value_and_fixed_classes_follow_the_threshold(world, client_for):
    cheap = make_asset(world.a.org, name="便宜货", unit_price="999.99")
    assert cheap.asset_class == AssetClass.LOW_VALUE
    rows = rows_of(body(client_for(world.head_a).get(reverse(EXPORT))))
    assert [r[11] for r in rows[1:]] == ["低值易耗品"]
