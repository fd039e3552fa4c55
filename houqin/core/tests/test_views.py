"""Generic CRUD behaviour (houqin.core.views.generic) on rooms, campuses and school years: filters, search,
sorting, keyset pagination, export, HTMX partials, validation, delete confirmation and the change log."""

from __future__ import annotations

import base64
import io
import json

import pytest
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse
from openpyxl import load_workbook

from houqin.core.models import Building, Campus, ChangeLogEntry, Room, RoomType, SchoolYear
from houqin.core.pagination import encode_cursor
from houqin.core.testing import factories as f

ROOMS = "/core/rooms/"


@pytest.fixture
def admin(world, client_for):
    return client_for(world.admin_a)


def page_rows(response) -> list:
    assert response.status_code == 200, response.status_code
    return list(response.context["page"].rows)


def names(response) -> list[str]:
    return [row.name for row in page_rows(response)]


def bulk_rooms(school, count: int, name=lambda i: f"分页房间{i:03d}", **fields) -> list[Room]:
    rooms = [Room(org=school.org, campus=school.campus, building=school.building, floor=school.floor,
                  number=f"{i:03d}", name=name(i), **fields) for i in range(count)]
    for room in rooms:
        room.refresh_search_index()
    Room.objects.bulk_create(rooms)
    return list(Room.objects.filter(org=school.org, number__in=[r.number for r in rooms],
                                    name__in=[r.name for r in rooms]))


def xlsx_rows(response) -> list[tuple]:
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert ".xlsx" in response["Content-Disposition"]
    workbook = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    return [tuple(c.value for c in row) for row in workbook.active.iter_rows()]


# --- Filters, search and sorting -------------------------------------------------------------------------------------
def test_list_filters_by_room_type_and_by_campus(world, admin):
    east = f.make_campus(world.a.org, "甲东校区")
    f.make_room(campus=east, name="东区操场", room_type=RoomType.OUTDOOR)
    f.make_room(floor=world.a.floor, name="物理实验室", room_type=RoomType.LAB)

    assert names(admin.get(ROOMS, {"room_type": "lab"})) == ["物理实验室"]
    assert names(admin.get(ROOMS, {"campus": east.pk})) == ["东区操场"]
    everything = names(admin.get(ROOMS))
    assert {"东区操场", "物理实验室", *(r.name for r in world.a.rooms)} == set(everything)
    # Another school's campus is not a valid choice: the filter form is invalid and shows nothing.
    assert names(admin.get(ROOMS, {"campus": world.b.campus.pk})) == []


def test_search_by_text_pinyin_initials_and_full_pinyin(world, admin):
    f.make_room(floor=world.a.floor, number="101A", name="电脑室")
    f.make_room(floor=world.a.floor, number="301", name="美术室")
    for query in ("电脑", "dn", "dnS", "DNS", " dns ", "diannao", "DianNaoShi", "101a"):
        found = names(admin.get(ROOMS, {"q": query}))
        assert "电脑室" in found, query
        assert "美术室" not in found, query
    assert names(admin.get(ROOMS, {"q": "ms"})) == ["美术室"]
    assert names(admin.get(ROOMS, {"q": "不存在的房间"})) == []


def test_search_with_several_words_needs_all_of_them(world, admin):
    f.make_room(floor=world.a.floor, number="201", name="电脑室")
    f.make_room(floor=world.a.floor, number="202", name="电子阅览室")
    assert names(admin.get(ROOMS, {"q": "dz ylsh"})) == []
    assert names(admin.get(ROOMS, {"q": "dz yls"})) == ["电子阅览室"]


def test_sorting_by_a_column_both_ways(world, admin):
    bulk_rooms(world.a, 5, name=lambda i: f"排序{i}")
    ascending = [r.number for r in page_rows(admin.get(ROOMS, {"sort": "number", "q": "排序"}))]
    descending = [r.number for r in page_rows(admin.get(ROOMS, {"sort": "-number", "q": "排序"}))]
    assert ascending == ["000", "001", "002", "003", "004"]
    assert descending == list(reversed(ascending))
    # The header links toggle the direction.
    html = admin.get(ROOMS, {"sort": "number"}).content.decode()
    assert "sort=-number" in html
    # An unknown or non-sortable column falls back to the default order instead of failing.
    assert admin.get(ROOMS, {"sort": "capacity"}).status_code == 200
    assert admin.get(ROOMS, {"sort": "org__name"}).status_code == 200


# --- Keyset pagination ----------------------------------------------------------------------------------------------
def walk(client, params: dict) -> tuple[list[list[int]], list]:
    """Follow ``next_cursor`` from the first page to the last; return the pks of each page and the pages."""
    pages, responses, cursor = [], [], None
    for _ in range(20):
        response = client.get(ROOMS, {**params, **({"cursor": cursor} if cursor else {})})
        page = response.context["page"]
        pages.append([r.pk for r in page.rows])
        responses.append(response)
        cursor = page.next_cursor
        if not cursor:
            return pages, responses
        assert f"cursor={cursor}" in response.content.decode()  # the "next" link carries it
    raise AssertionError("pagination does not end")


@pytest.mark.parametrize("sort", ["", "-number", "room_type"])
def test_keyset_pages_chain_without_duplicates_or_gaps(world, admin, sort):
    # 20 names × 3: ties on the sort key are broken by pk, which pagination must respect.
    rooms = bulk_rooms(world.a, 60, name=lambda i: f"分页{i % 20:02d}")
    params = {"q": "分页", "per_page": 25, **({"sort": sort} if sort else {})}
    pages, responses = walk(admin, params)
    assert [len(p) for p in pages] == [25, 25, 10]
    seen = [pk for page in pages for pk in page]
    assert len(seen) == len(set(seen)) == 60
    assert set(seen) == {r.pk for r in rooms}
    # Next then previous comes back to the same page.
    for i in (1, 2):
        prev = responses[i].context["page"].prev_cursor
        assert prev
        back = admin.get(ROOMS, {**params, "cursor": prev})
        assert [r.pk for r in back.context["page"].rows] == pages[i - 1]
    assert responses[0].context["page"].prev_cursor is None


def _raw_cursor(payload) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def test_a_garbage_cursor_shows_the_first_page(world, admin):
    bulk_rooms(world.a, 30)
    first = [r.pk for r in page_rows(admin.get(ROOMS, {"q": "分页", "per_page": 10}))]
    for cursor in ("garbage!!", "", "%%%", "\u7535", _raw_cursor(["x", "not-an-int", "n"]),
                   _raw_cursor(["x", 1, "sideways"]), _raw_cursor({"a": 1}), _raw_cursor(["x", 1]),
                   _raw_cursor([{"d": "not-a-date"}, 1, "n"])):
        response = admin.get(ROOMS, {"q": "分页", "per_page": 10, "cursor": cursor})
        assert response.status_code == 200, cursor
        assert [r.pk for r in response.context["page"].rows] == first, cursor


@pytest.mark.parametrize("cursor", [
    encode_cursor("not-a-date", 1, "n"),  # a well-formed cursor whose value does not fit the sort column
    encode_cursor([1, 2], 1, "n"),
    encode_cursor("2025-09-01", 10**30, "n"),  # a pk beyond any integer column
])
def test_a_forged_cursor_is_ignored_not_a_server_error(world, admin, cursor):
    """School years sort by start date by default: the cursor's value is compared with a date column."""
    response = admin.get(reverse("core:schoolyear_list"), {"cursor": cursor})
    assert response.status_code == 200


def test_per_page_only_takes_the_offered_sizes(world, admin):
    bulk_rooms(world.a, 30)
    assert len(page_rows(admin.get(ROOMS, {"q": "分页", "per_page": 10}))) == 10
    assert len(page_rows(admin.get(ROOMS, {"q": "分页", "per_page": 100000}))) == 25
    assert len(page_rows(admin.get(ROOMS, {"q": "分页", "per_page": "abc"}))) == 25


def test_count_is_exact_up_to_the_cap_then_shows_a_plus(world, admin, settings):
    settings.HOUQIN_COUNT_CAP = 5
    bulk_rooms(world.a, 8)
    response = admin.get(ROOMS, {"q": "分页"})
    assert response.context["page"].count_display == "5+"
    assert '<strong data-testid="row-count">5+</strong>' in response.content.decode()
    response = admin.get(ROOMS, {"q": "分页房间007"})
    assert '<strong data-testid="row-count">1</strong>' in response.content.decode()


# --- Export -----------------------------------------------------------------------------------------------------------
def test_export_is_the_filtered_list_with_chinese_headers(world, admin):
    f.make_room(floor=world.a.floor, number="L1", name="化学实验室", room_type=RoomType.LAB, capacity=40)
    f.make_room(floor=world.a.floor, number="L2", name="生物实验室", room_type=RoomType.LAB)
    rows = xlsx_rows(admin.get(reverse("core:room_export"), {"room_type": "lab", "sort": "number"}))
    header, body = rows[0], rows[1:]
    assert header[:4] == ("名称", "房间号", "类型", "校区")
    assert [r[0] for r in body] == ["化学实验室", "生物实验室"]
    assert body[0][2] == "实验室"  # choices export as their labels
    assert world.a.rooms[0].name not in {r[0] for r in body}


def test_export_escapes_cells_that_a_spreadsheet_would_run_as_formulas(world, admin):
    f.make_room(floor=world.a.floor, number="-5", name='=HYPERLINK("http://example.com","点我")')
    f.make_room(floor=world.a.floor, number="X", name="+86 电话室")
    f.make_room(floor=world.a.floor, number="Y", name="@SUM(A1)")
    response = admin.get(reverse("core:room_export"), {"sort": "number"})
    workbook = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    cells = [c for row in workbook.active.iter_rows() for c in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    values = {c.value for c in cells}
    assert "'=HYPERLINK(\"http://example.com\",\"点我\")" in values
    assert "'+86 电话室" in values and "'@SUM(A1)" in values
    assert "-5" in values  # a plain negative number is not text-escaped


# --- HTMX -------------------------------------------------------------------------------------------------------------
def test_htmx_request_gets_only_the_results_partial(world, admin):
    full = admin.get(ROOMS).content.decode()
    partial = admin.get(ROOMS, HTTP_HX_REQUEST="true").content.decode()
    assert "<html" in full
    assert "<html" not in partial and "<form" not in partial.split("<table")[0]
    assert 'data-testid="object-table"' in partial
    assert world.a.rooms[0].name in partial
    # A boosted request (a normal link followed by HTMX) still gets the whole page.
    boosted = admin.get(ROOMS, HTTP_HX_REQUEST="true", HTTP_HX_BOOSTED="true").content.decode()
    assert "<html" in boosted


# --- Create and edit --------------------------------------------------------------------------------------------------
def room_post(school, **overrides) -> dict:
    data = {"campus": school.campus.pk, "building": school.building.pk, "floor": school.floor.pk, "number": "305",
            "name": "音乐教室", "room_type": RoomType.FUNCTION, "area_m2": "80.5", "capacity": "50",
            "responsible": "", "department": school.department.pk, "is_active": "on", "note": ""}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_create_a_room(world, admin):
    response = admin.post(reverse("core:room_add"), room_post(world.a))
    room = Room.objects.get(name="音乐教室")
    assert response.status_code == 302 and response["Location"] == room.get_absolute_url()
    assert room.org == world.a.org and room.capacity == 50
    entry = ChangeLogEntry.objects.get(content_type=ContentType.objects.get_for_model(Room), object_id=str(room.pk))
    assert entry.action == "create" and entry.user == world.admin_a and entry.org_id == world.a.org.pk


@pytest.mark.parametrize(("overrides", "field", "message"), [
    ({"name": ""}, "name", "该字段是必填项。"),
    ({"campus": ""}, "campus", "该字段是必填项。"),
    ({"capacity": "很多"}, "capacity", "输入整数。"),
    ({"area_m2": "-"}, "area_m2", "输入一个数字。"),
    ({"room_type": "castle"}, "room_type", "选择一个有效的选项。 castle 不在可用的选项中。"),
])
def test_invalid_input_is_answered_in_chinese_and_nothing_is_saved(world, admin, overrides, field, message):
    before = Room.objects.count()
    response = admin.post(reverse("core:room_add"), room_post(world.a, **overrides))
    assert response.status_code == 200
    assert message in response.context["form"].errors[field]
    assert message in response.content.decode()
    assert "提交的内容有误" in response.content.decode()
    assert Room.objects.count() == before


def test_model_rules_show_on_the_form(world, admin):
    other_building = f.make_building(world.a.campus, "实验楼")
    response = admin.post(reverse("core:room_add"), room_post(world.a, building=other_building.pk))
    assert response.context["form"].errors["floor"] == ["楼层不属于所选楼栋。"]
    response = admin.post(reverse("core:floor_add"), {"building": world.a.building.pk, "level": "0", "name": ""})
    assert response.context["form"].errors["level"] == ["楼层不能为 0：一层填 1，地下一层填 -1。"]
    response = admin.post(reverse("core:schoolyear_add"), {"name": "2027-2028学年", "start_date": "2027-09-01",
                                                            "end_date": "2027-08-01"})
    assert response.context["form"].errors["end_date"] == ["结束日期必须晚于开始日期。"]
    assert not SchoolYear.objects.filter(name="2027-2028学年").exists()


@pytest.mark.parametrize("field", ["campus", "building", "floor", "department", "responsible"])
def test_a_reference_to_another_schools_row_is_refused(world, admin, field):
    other = {"campus": world.b.campus, "building": world.b.building, "floor": world.b.floor,
             "department": world.b.department, "responsible": world.b.staff}[field]
    before = Room.objects.count()
    response = admin.post(reverse("core:room_add"), room_post(world.a, **{field: other.pk}))
    assert response.status_code == 200
    assert "选择一个有效的选项" in " ".join(response.context["form"].errors[field])
    assert Room.objects.count() == before
    # Editing an existing room is refused the same way.
    room = world.a.rooms[0]
    response = admin.post(reverse("core:room_edit", args=[room.pk]), room_post(world.a, **{field: other.pk}))
    assert response.status_code == 200
    room.refresh_from_db()
    assert getattr(room, f"{field}_id") != other.pk


def test_the_edit_form_offers_only_the_schools_own_rows(world, admin):
    html = admin.get(reverse("core:room_add")).content.decode()
    assert world.a.campus.name in html and world.a.department.name in html
    for name in (world.b.campus.name, world.b.building.name, world.b.department.name, world.b.staff.full_name):
        assert name not in html


def test_edit_writes_before_and_after_to_the_change_log(world, admin):
    room = world.a.rooms[0]
    response = admin.post(reverse("core:room_edit", args=[room.pk]),
                          room_post(world.a, name="一(1)班新教室", number="101", capacity="48"))
    assert response.status_code == 302
    entry = ChangeLogEntry.objects.filter(object_id=str(room.pk), action="update",
                                          content_type=ContentType.objects.get_for_model(Room)).get()
    assert entry.before["name"] == "甲一(1)班教室" and entry.after["name"] == "一(1)班新教室"
    assert entry.before["capacity"] == 45 and entry.after["capacity"] == 48
    assert "number" not in entry.after  # unchanged fields are left out
    assert entry.user == world.admin_a and entry.user_name == "甲校管理员" and entry.request_id
    page = admin.get(reverse("core:room_changelog", args=[room.pk])).content.decode()
    assert "甲一(1)班教室" in page and "一(1)班新教室" in page and "容纳人数" in page
    # The entry has its own page, with the same before/after.
    detail = admin.get(reverse("core:changelogentry_detail", args=[entry.pk])).content.decode()
    assert "甲一(1)班教室" in detail and "一(1)班新教室" in detail


def test_an_edit_that_changes_nothing_writes_no_entry(world, admin):
    room = world.a.rooms[1]
    data = room_post(world.a, number=room.number, name=room.name, room_type=room.room_type, area_m2="",
                     capacity="", responsible=room.responsible_id)
    before = ChangeLogEntry.objects.count()
    assert admin.post(reverse("core:room_edit", args=[room.pk]), data).status_code == 302
    assert ChangeLogEntry.objects.count() == before


def test_htmx_save_redirects_with_a_header(world, admin):
    response = admin.post(reverse("core:room_add"), room_post(world.a), HTTP_HX_REQUEST="true")
    assert response.status_code == 204
    assert response["HX-Redirect"] == Room.objects.get(name="音乐教室").get_absolute_url()


# --- Delete -----------------------------------------------------------------------------------------------------------
def test_delete_needs_confirmation(world, admin):
    room = world.a.rooms[1]
    url = reverse("core:room_delete", args=[room.pk])
    page = admin.get(url)
    assert page.status_code == 200 and "确认删除" in page.content.decode()
    assert Room.objects.filter(pk=room.pk).exists()
    response = admin.post(url)
    assert response.status_code == 302 and response["Location"] == ROOMS
    assert not Room.objects.filter(pk=room.pk).exists()
    entry = ChangeLogEntry.objects.get(object_id=str(room.pk), action="delete",
                                       content_type=ContentType.objects.get_for_model(Room))
    assert entry.before["name"] == room.name and entry.after is None


def test_deleting_a_campus_that_still_has_buildings_is_refused_kindly(world, admin):
    campus = world.a.campus
    response = admin.post(reverse("core:campus_delete", args=[campus.pk]), follow=True)
    assert response.status_code == 200
    text = response.content.decode()
    assert f"无法删除“{campus.name}”" in text and "请先处理这些记录" in text
    assert Campus.objects.filter(pk=campus.pk).exists()
    assert Building.objects.filter(campus=campus).exists()


@pytest.mark.parametrize(("url", "data"), [
    ("core:campus_add", {"name": "甲校本部", "code": "", "address": "", "area_m2": ""}),
    ("core:department_add", {"name": "甲总务处", "kind": "office", "code": "", "head": "", "phone": "",
                             "is_active": "on"}),
    ("core:schoolyear_add", {"name": "2025-2026学年", "start_date": "2025-09-01", "end_date": "2026-08-31"}),
    ("core:schoolclass_add", {"grade": "1", "number": "1", "name": "", "head_teacher": "", "pupil_count": "40",
                              "home_room": "", "is_active": "on"}),
])
def test_a_duplicate_within_the_school_is_a_form_error_not_a_server_error(world, admin, url, data):
    """Campus, department, school year and class names are unique per school (a constraint on ``org``, which
    is not a form field)."""
    response = admin.post(reverse(url), data)
    assert response.status_code == 200
    assert response.context["form"].errors
    assert "已经存在" in response.content.decode()


def test_the_same_name_in_another_school_is_fine(world, client_for):
    response = client_for(world.admin_b).post(reverse("core:campus_add"),
                                              {"name": world.a.campus.name, "code": "", "address": "", "area_m2": ""})
    assert response.status_code == 302
    assert Campus.objects.filter(name=world.a.campus.name).count() == 2


def test_creating_and_deleting_a_campus(world, admin):
    response = admin.post(reverse("core:campus_add"), {"name": "甲新校区", "code": "N", "address": "", "area_m2": ""})
    campus = Campus.objects.get(name="甲新校区")
    assert response.status_code == 302 and campus.org == world.a.org
    assert admin.post(reverse("core:campus_delete", args=[campus.pk])).status_code == 302
    assert not Campus.objects.filter(pk=campus.pk).exists()


# --- The change log ---------------------------------------------------------------------------------------------------
def test_the_global_change_log_lists_only_the_users_schools(world, client_for):
    room_a, room_b = world.a.rooms[0], world.b.rooms[0]
    client_for(world.admin_a).post(reverse("core:room_edit", args=[room_a.pk]), room_post(world.a, name="甲改名教室"))
    client_for(world.admin_b).post(reverse("core:room_edit", args=[room_b.pk]), room_post(world.b, name="乙改名教室"))
    url = reverse("core:changelogentry_list")
    page_a = client_for(world.admin_a).get(url).content.decode()
    page_b = client_for(world.admin_b).get(url).content.decode()
    assert "甲改名教室" in page_a and "乙改名教室" not in page_a
    assert "乙改名教室" in page_b and "甲改名教室" not in page_b
    both = client_for(world.bureau_admin).get(url).content.decode()
    assert "甲改名教室" in both and "乙改名教室" in both
    entry_a = ChangeLogEntry.objects.filter(object_repr__contains="甲改名教室").get()
    assert client_for(world.admin_b).get(reverse("core:changelogentry_detail", args=[entry_a.pk])).status_code == 404
    # A teacher has no access to the change log at all.
    assert client_for(world.teacher_a).get(url).status_code == 403


def test_change_log_rows_cannot_be_edited_or_deleted(world):
    entry = ChangeLogEntry.objects.filter(org=world.a.org).first()
    entry.object_repr = "改写历史"
    with pytest.raises(PermissionError):
        entry.save()
    with pytest.raises(PermissionError):
        entry.delete()
    with pytest.raises(PermissionError):
        ChangeLogEntry.objects.filter(pk=entry.pk).update(object_repr="改写历史")
    with pytest.raises(PermissionError):
        ChangeLogEntry.objects.filter(pk=entry.pk).delete()
    with pytest.raises(PermissionError):
        ChangeLogEntry.objects.all().delete()
    assert ChangeLogEntry.objects.get(pk=entry.pk).object_repr != "改写历史"


def test_change_log_has_no_add_edit_or_delete_pages(world):
    from django.urls import NoReverseMatch

    for action in ("add", "edit", "delete"):
        with pytest.raises(NoReverseMatch):
            reverse(f"core:changelogentry_{action}", args=[1] if action != "add" else [])
