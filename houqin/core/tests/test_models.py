"""Model rules (clean), restricted querysets per persona, the access map, role sync and the search index."""

from __future__ import annotations

import datetime

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError

from houqin.core import roles
from houqin.core.auth import access_for, build_access, clear_access_cache, user_can
from houqin.core.models import (
    Building,
    ChangeLogEntry,
    Floor,
    Membership,
    Organization,
    OrgKind,
    Role,
    Room,
    SchoolYear,
    Term,
    User,
)
from houqin.core.search import build_search_index, normalise_query, pinyin_forms
from houqin.core.testing import factories as f


def errors_of(obj) -> dict:
    with pytest.raises(ValidationError) as caught:
        obj.full_clean()
    return caught.value.message_dict


# --- clean() rules, in Chinese ----------------------------------------------------------------------------------------
def test_floor_level_zero_is_refused(world):
    floor = Floor(org=world.a.org, building=world.a.building, level=0)
    assert errors_of(floor)["level"] == ["楼层不能为 0：一层填 1，地下一层填 -1。"]


def test_floor_names_itself(world):
    assert f.make_floor(world.a.building, 3).name == "3层"
    assert f.make_floor(world.a.building, -1).name == "地下1层"


def test_floor_of_another_schools_building_is_refused(world):
    floor = Floor(org=world.a.org, building=world.b.building, level=5)
    assert errors_of(floor)["building"] == ["楼栋必须属于本校。"]


def test_building_on_another_schools_campus_is_refused(world):
    building = Building(org=world.a.org, campus=world.b.campus, name="越界楼")
    assert errors_of(building)["campus"] == ["校区必须属于本校。"]


def test_room_floor_must_be_in_its_building(world):
    other = f.make_building(world.a.campus, "实验楼")
    room = Room(org=world.a.org, campus=world.a.campus, building=other, floor=world.a.floor, name="错层房间")
    assert errors_of(room)["floor"] == ["楼层不属于所选楼栋。"]


def test_room_building_must_be_on_its_campus(world):
    east = f.make_campus(world.a.org, "甲东校区")
    room = Room(org=world.a.org, campus=east, building=world.a.building, name="错校区房间")
    assert errors_of(room)["building"] == ["楼栋不属于所选校区。"]


def test_room_parts_must_belong_to_the_school(world):
    room = Room(org=world.a.org, campus=world.b.campus, name="越界房间", department=world.b.department)
    errors = errors_of(room)
    assert errors["campus"] == ["必须属于本校。"]
    assert errors["department"] == ["必须属于本校。"]


def test_room_fills_building_and_campus_from_its_floor(world):
    room = Room.objects.create(org=world.a.org, floor=world.a.floor, campus=world.a.campus, name="补全房间")
    assert room.building == world.a.building
    assert str(room) == "甲校本部 甲教学楼 补全房间"


def test_required_fields_say_so_in_chinese(world):
    errors = errors_of(Room(org=world.a.org, campus=world.a.campus, name=""))
    assert errors["name"] == ["此字段不能为空。"]


def test_term_must_lie_within_its_school_year(world):
    year = world.a.school_year
    term = Term(org=world.a.org, school_year=year, kind=2, start_date=datetime.date(2026, 2, 15),
                end_date=datetime.date(2026, 9, 30))
    assert errors_of(term)["start_date"] == [f"学期必须在学年（{year.start_date} 至 {year.end_date}）之内。"]


def test_term_end_after_start_and_of_the_same_school(world):
    term = Term(org=world.a.org, school_year=world.a.school_year, kind=2, start_date=datetime.date(2026, 3, 1),
                end_date=datetime.date(2026, 2, 1))
    assert errors_of(term)["end_date"] == ["结束日期必须晚于开始日期。"]
    term = Term(org=world.a.org, school_year=world.b.school_year, kind=2, start_date=datetime.date(2026, 3, 1),
                end_date=datetime.date(2026, 6, 1))
    assert errors_of(term)["school_year"] == ["学年必须属于本校。"]


def test_school_year_end_after_start(world):
    year = SchoolYear(org=world.a.org, name="2030-2031学年", start_date=datetime.date(2030, 9, 1),
                      end_date=datetime.date(2030, 9, 1))
    assert errors_of(year)["end_date"] == ["结束日期必须晚于开始日期。"]


def test_term_names_itself_and_current_term(world):
    assert world.a.term.name == "2025-2026学年 第一学期"
    assert Term.current_for(world.a.org, datetime.date(2025, 10, 1)) == world.a.term
    assert Term.current_for(world.a.org, datetime.date(2026, 5, 1)) is None


def test_organisation_hierarchy_rules(world):
    bureau = Organization(kind=OrgKind.BUREAU, name="上级局", code="X1", parent=world.bureau)
    assert errors_of(bureau)["parent"] == ["教育局不能再有上级单位。"]
    school = Organization(kind=OrgKind.PRIMARY, name="分校", code="X2", parent=world.a.org)
    assert errors_of(school)["parent"] == ["学校的上级单位必须是教育局。"]


def test_class_names_itself(world):
    assert world.a.school_class.name == "一年级(1)班"
    assert f.make_class(world.a.org, 23, 2).name == "中班(2)班"


# --- restrict() per persona -------------------------------------------------------------------------------------------
def ids(qs) -> set[int]:
    return set(qs.values_list("pk", flat=True))


def test_restrict_rooms_per_persona(world):
    a_rooms, b_rooms = {r.pk for r in world.a.rooms}, {r.pk for r in world.b.rooms}
    assert ids(Room.objects.restrict(world.admin_a)) == a_rooms
    assert ids(Room.objects.restrict(world.admin_a, "change")) == a_rooms
    assert ids(Room.objects.restrict(world.teacher_a)) == a_rooms
    assert ids(Room.objects.restrict(world.teacher_a, "change")) == set()
    assert ids(Room.objects.restrict(world.admin_b)) == b_rooms
    assert ids(Room.objects.restrict(world.bureau_admin)) == a_rooms | b_rooms
    for action in ("add", "change", "delete"):
        assert ids(Room.objects.restrict(world.bureau_admin, action)) == set()
    assert ids(Room.objects.restrict(world.superuser, "delete")) == a_rooms | b_rooms
    for nobody in (world.outsider, AnonymousUser(), None):
        assert ids(Room.objects.restrict(nobody)) == set()


def test_restrict_refuses_an_inactive_user(world):
    world.admin_a.is_active = False
    assert ids(Room.objects.restrict(world.admin_a)) == set()
    assert not user_can(world.admin_a, "view", world.a.rooms[0])


def test_a_deactivated_school_gives_its_members_nothing(world):
    Organization.objects.filter(pk=world.a.org.pk).update(is_active=False)
    admin = User.objects.get(pk=world.admin_a.pk)
    assert ids(Room.objects.restrict(admin)) == set()
    bureau = User.objects.get(pk=world.bureau_admin.pk)
    assert ids(Room.objects.restrict(bureau)) == {r.pk for r in world.b.rooms}


def test_restrict_organisations(world):
    a, b, bureau = world.a.org.pk, world.b.org.pk, world.bureau.pk
    assert ids(Organization.objects.restrict(world.admin_a)) == {a}
    assert ids(Organization.objects.restrict(world.admin_a, "change")) == {a}
    assert ids(Organization.objects.restrict(world.teacher_a, "change")) == set()
    assert ids(Organization.objects.restrict(world.bureau_admin)) == {a, b, bureau}
    assert ids(Organization.objects.restrict(world.bureau_admin, "change")) == {bureau}
    assert ids(Organization.objects.restrict(world.outsider)) == set()


def test_restrict_users(world):
    a_users = {world.admin_a.pk, world.head_a.pk, world.teacher_a.pk}
    assert ids(User.objects.restrict(world.admin_a)) == a_users
    assert ids(User.objects.restrict(world.admin_a, "change")) == a_users
    # Without the user permission one sees only oneself.
    assert ids(User.objects.restrict(world.teacher_a)) == {world.teacher_a.pk}
    assert ids(User.objects.restrict(world.teacher_a, "change")) == set()
    assert ids(User.objects.restrict(world.outsider)) == {world.outsider.pk}
    assert world.admin_b.pk not in ids(User.objects.restrict(world.admin_a))
    # A user with roles in two schools is visible to both schools' admins.
    f.grant(world.teacher_a, world.b.org, "teacher")
    assert world.teacher_a.pk in ids(User.objects.restrict(world.admin_b))


def test_restrict_change_log(world):
    entries = ChangeLogEntry.objects
    assert ids(entries.restrict(world.admin_a)) == ids(entries.filter(org=world.a.org))
    assert ids(entries.restrict(world.admin_a)) and ids(entries.restrict(world.admin_b))
    assert not ids(entries.restrict(world.admin_a)) & ids(entries.restrict(world.admin_b))
    assert ids(entries.restrict(world.teacher_a)) == set()
    for action in ("add", "change", "delete"):
        assert ids(entries.restrict(world.superuser, action)) == set()


def test_restrict_memberships(world):
    assert ids(Membership.objects.restrict(world.admin_a)) == ids(Membership.objects.filter(org=world.a.org))
    assert ids(Membership.objects.restrict(world.teacher_a)) == set()


# --- The access map ---------------------------------------------------------------------------------------------------
def test_bureau_reads_its_schools_but_writes_only_in_the_bureau(world):
    access = access_for(world.bureau_admin)
    a, b, bureau = world.a.org.pk, world.b.org.pk, world.bureau.pk
    assert access.member_org_ids == {bureau}
    assert access.orgs_for("core.view_room") == {bureau, a, b}
    assert access.orgs_for("core.view_changelogentry") == {bureau, a, b}
    assert access.orgs_for("core.change_user") == {bureau}
    assert access.orgs_for("core.change_organization") == {bureau}
    assert access.orgs_for("core.change_room") == frozenset()
    writes = {p for p, orgs in access.perms.items() if not p.split(".", 1)[1].startswith("view_") and orgs - {bureau}}
    assert writes == set(), f"a bureau role may write in its schools: {writes}"


def test_a_bureau_does_not_read_schools_of_another_bureau(world):
    other_bureau = f.make_bureau("别区教育局")
    other_school = f.make_school(other_bureau, "别区小学")
    assert other_school.pk not in access_for(world.bureau_admin).orgs_for("core.view_room")
    assert other_school.pk not in ids(Organization.objects.restrict(world.bureau_admin))


def test_a_bureau_inspector_reads_no_accounts(world):
    inspector = f.make_user(org=world.bureau, roles=("bureau_inspector",))
    access = access_for(inspector)
    assert world.a.org.pk in access.orgs_for("core.view_room")
    assert access.orgs_for("core.view_user") == frozenset()


def test_access_is_cached_per_user_object_and_can_be_cleared(world):
    admin = world.admin_a
    clear_access_cache(admin)
    first = access_for(admin)
    assert access_for(admin) is first
    f.grant(admin, world.b.org, "teacher")  # grant() clears the cache
    assert world.b.org.pk in access_for(admin).member_org_ids


def test_roles_in_two_schools_do_not_mix(world):
    user = f.make_user(org=world.a.org, roles=("school_admin",))
    f.grant(user, world.b.org, "teacher")
    assert user_can(user, "change", world.a.rooms[0])
    assert user_can(user, "view", world.b.rooms[0])
    assert not user_can(user, "change", world.b.rooms[0])


def test_user_can_with_a_model_needs_the_organisation(world):
    assert user_can(world.admin_a, "add", Room, org_id=world.a.org.pk)
    assert not user_can(world.admin_a, "add", Room, org_id=world.b.org.pk)
    assert not user_can(world.teacher_a, "add", Room, org_id=world.a.org.pk)
    assert user_can(world.superuser, "add", Room, org_id=world.b.org.pk)
    assert user_can(world.outsider, "view", world.outsider)  # everyone sees their own account


def test_django_permission_api_agrees(world):
    room = world.a.rooms[0]
    assert world.admin_a.has_perm("core.change_room", room)
    assert not world.admin_b.has_perm("core.change_room", room)
    assert world.bureau_admin.has_perm("core.view_room", room)
    assert not world.bureau_admin.has_perm("core.change_room", room)
    assert world.admin_a.has_module_perms("core") and not world.outsider.has_module_perms("core")


# --- Roles ------------------------------------------------------------------------------------------------------------
def role_state() -> dict:
    return {r.code: (r.name, r.scope, frozenset(r.permissions.values_list("codename", flat=True)))
            for r in Role.objects.prefetch_related("permissions")}


def test_role_sync_is_idempotent(world):
    before = role_state()
    memberships = Membership.objects.count()
    roles.sync_roles()
    roles.sync_roles()
    assert role_state() == before
    assert Role.objects.count() == len(roles.ROLES)
    assert Membership.objects.count() == memberships


def test_role_sync_repairs_a_tampered_role(world):
    role = Role.objects.get(code="teacher")
    role.name = "改过的名字"
    role.save()
    role.permissions.clear()
    roles.sync_roles()
    role.refresh_from_db()
    assert role.name == "教师/班主任"
    assert role.permissions.filter(codename="view_room").exists()


def test_no_role_may_write_the_change_log_roles_or_sequences(world):
    forbidden = {"add_changelogentry", "change_changelogentry", "delete_changelogentry", "add_role", "change_role",
                 "delete_role", "change_documentsequence"}
    for role in Role.objects.prefetch_related("permissions"):
        granted = set(role.permissions.values_list("codename", flat=True))
        assert not granted & forbidden, role.code


def test_teacher_views_places_but_cannot_edit_them(world):
    access = build_access(world.teacher_a)
    for model in ("campus", "building", "floor", "room"):
        assert access.has(f"core.view_{model}", world.a.org.pk)
        assert not access.has(f"core.change_{model}")


# --- Search index -----------------------------------------------------------------------------------------------------
def test_search_index_holds_text_initials_and_full_pinyin(world):
    room = f.make_room(floor=world.a.floor, number="A101", name="电脑室")
    parts = room.search_index.split(" | ")
    assert {"电脑室", "dns", "diannaoshi", "a101"} <= set(parts)
    room.name = "美术室"
    room.save()
    assert "mss" in room.search_index and "dns" not in room.search_index


def test_search_index_is_saved_with_update_fields(world):
    room = world.a.rooms[0]
    room.name = "舞蹈室"
    room.save(update_fields=["name"])
    assert "wds" in Room.objects.get(pk=room.pk).search_index


def test_pinyin_helpers():
    assert pinyin_forms("电脑室") == ("dns", "diannaoshi")
    assert pinyin_forms("3号楼B区") == ("3hlbq", "3haoloubqu")
    assert pinyin_forms("") == ("", "")
    assert build_search_index(["", "  ", "AB"]) == "ab"
    assert normalise_query("  DN   S ") == "dn s"


def test_users_are_found_by_the_pinyin_of_their_name(world):
    user = f.make_user(full_name="张三丰", phone="13800000000")
    assert {"张三丰", "zsf", "zhangsanfeng", "13800000000"} <= set(user.search_index.split(" | "))
