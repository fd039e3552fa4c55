"""Plain factory functions for core rows, and the isolation/query-count factories of core's models.

Each ``make_*`` function creates and saves one row with sensible defaults; pass keyword arguments to override
fields. They write the change log like any other save; wrap them in ``houqin.core.context.acting_as`` to record
who did it.
"""

from __future__ import annotations

import datetime
import itertools

from django.contrib.contenttypes.models import ContentType

from houqin.core import models as m
from houqin.core.auth import clear_access_cache
from houqin.core.models.orgs import DepartmentKind, TermKind
from houqin.core.testing.registry import register_factory

_seq = itertools.count(1)


def unique(prefix: str = "") -> str:
    """A short string unique within the test run (codes, usernames)."""
    return f"{prefix}{next(_seq):05d}"


# --- Organisations and places ---------------------------------------------------------------------------------
def make_bureau(name: str = "测试区教育局", **fields) -> m.Organization:
    fields.setdefault("code", unique("JYJ"))
    return m.Organization.objects.create(kind=m.OrgKind.BUREAU, name=name, **fields)


def make_school(bureau: m.Organization | None, name: str, *, kind: str = m.OrgKind.PRIMARY, **fields):
    fields.setdefault("code", unique("XX"))
    fields.setdefault("pupil_count", 600)
    fields.setdefault("staff_count", 50)
    return m.Organization.objects.create(kind=kind, name=name, parent=bureau, **fields)


def make_campus(org, name: str = "校本部", **fields) -> m.Campus:
    return m.Campus.objects.create(org=org, name=name, **fields)


def make_building(campus: m.Campus, name: str = "教学楼", **fields) -> m.Building:
    fields.setdefault("floors_above", 4)
    return m.Building.objects.create(org_id=campus.org_id, campus=campus, name=name, **fields)


def make_floor(building: m.Building, level: int = 1, **fields) -> m.Floor:
    return m.Floor.objects.create(org_id=building.org_id, building=building, level=level, **fields)


def make_room(*, campus: m.Campus | None = None, building: m.Building | None = None, floor: m.Floor | None = None,
              name: str = "教室", **fields) -> m.Room:
    """A room in the given floor, building or campus (the higher levels are filled in from the lower ones)."""
    building = building or (floor.building if floor else None)
    campus = campus or (building.campus if building else None)
    if campus is None:
        raise ValueError("make_room needs a campus, a building or a floor")
    return m.Room.objects.create(org_id=campus.org_id, campus=campus, building=building, floor=floor, name=name,
                                 **fields)


def make_department(org, name: str = "总务处", **fields) -> m.Department:
    fields.setdefault("kind", DepartmentKind.OFFICE)
    return m.Department.objects.create(org=org, name=name, **fields)


def make_class(org, grade: int = 1, number: int = 1, **fields) -> m.SchoolClass:
    return m.SchoolClass.objects.create(org=org, grade=grade, number=number, **fields)


def make_school_year(org, start_year: int = 2025, **fields) -> m.SchoolYear:
    fields.setdefault("name", m.SchoolYear.name_for(start_year))
    return m.SchoolYear.objects.create(org=org, start_date=datetime.date(start_year, 9, 1),
                                       end_date=datetime.date(start_year + 1, 8, 31), **fields)


def make_term(school_year: m.SchoolYear, kind: int = TermKind.FIRST, **fields) -> m.Term:
    start_year = school_year.start_date.year
    if kind == TermKind.FIRST:
        start, end = datetime.date(start_year, 9, 1), datetime.date(start_year + 1, 1, 31)
    else:
        start, end = datetime.date(start_year + 1, 2, 15), datetime.date(start_year + 1, 7, 10)
    fields.setdefault("start_date", start)
    fields.setdefault("end_date", end)
    return m.Term.objects.create(org_id=school_year.org_id, school_year=school_year, kind=kind, **fields)


# --- Users and roles ------------------------------------------------------------------------------------------------
def make_user(username: str | None = None, *, full_name: str = "", org=None, roles: tuple[str, ...] = (),
              password: str | None = None, **fields) -> m.User:
    """An active user, with ``roles`` (role codes of houqin.core.roles) held in ``org``.

    Without ``password`` the account has an unusable password: log it in with ``Client.force_login``.
    """
    user = m.User(username=username or unique("user"), full_name=full_name, default_org=org, **fields)
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    for code in roles:
        grant(user, org, code)
    return user


def grant(user: m.User, org, role_code: str) -> m.Membership:
    """Give ``user`` the role ``role_code`` in ``org`` (and forget the user's cached access map)."""
    membership = m.Membership.objects.create(user=user, org=org, role=m.Role.objects.get(code=role_code))
    clear_access_cache(user)
    return membership


# --- Factories for the isolation matrix and the query-count tests ------------------------------------------------
def bulk_create_indexed(model, rows) -> None:
    """``bulk_create`` rows of a SearchableModel with their search index filled in (bulk_create skips save())."""
    for row in rows:
        row.refresh_search_index()
    model.objects.bulk_create(rows, batch_size=500)


@register_factory(m.Organization, list_persona="bureau_admin",
                  bulk=lambda school, n: bulk_create_indexed(m.Organization, [
                      m.Organization(kind=m.OrgKind.PRIMARY, name=f"批量学校{i:04d}", code=unique("PL"),
                                     parent_id=school.org.parent_id) for i in range(n)]))
def organization(school, label):
    # A school's own row is "the object of school A": rename it so its name carries the label.
    school.org.name = f"{label}学校"
    school.org.save()
    return school.org


@register_factory(m.Campus, bulk=lambda school, n: bulk_create_indexed(m.Campus, [
    m.Campus(org=school.org, name=f"批量校区{i:04d}", code=f"C{i}") for i in range(n)]))
def campus(school, label):
    return make_campus(school.org, label, code="ISO")


@register_factory(m.Building, bulk=lambda school, n: bulk_create_indexed(m.Building, [
    m.Building(org=school.org, campus=school.campus, name=f"批量楼{i:04d}") for i in range(n)]))
def building(school, label):
    return make_building(school.campus, label)


@register_factory(m.Floor, bulk=lambda school, n: bulk_create_indexed(m.Floor, [
    m.Floor(org=school.org, building=school.building, level=100 + i, name=f"批量层{i:04d}") for i in range(n)]))
def floor(school, label):
    return make_floor(school.building, level=99, name=label)


@register_factory(m.Room, bulk=lambda school, n: bulk_create_indexed(m.Room, [
    m.Room(org=school.org, campus=school.campus, building=school.building, floor=school.floor, number=f"B{i:04d}",
           name=f"批量房间{i:04d}", responsible=school.staff, department=school.department) for i in range(n)]))
def room(school, label):
    return make_room(floor=school.floor, name=label, number="ISO1", responsible=school.staff,
                     department=school.department)


@register_factory(m.Department, bulk=lambda school, n: bulk_create_indexed(m.Department, [
    m.Department(org=school.org, name=f"批量部门{i:04d}", head=school.staff) for i in range(n)]))
def department(school, label):
    return make_department(school.org, label, head=school.staff)


@register_factory(m.SchoolClass, bulk=lambda school, n: bulk_create_indexed(m.SchoolClass, [
    m.SchoolClass(org=school.org, grade=2, number=i + 1, name=f"批量班{i:04d}", head_teacher=school.staff,
                  home_room=school.rooms[0]) for i in range(n)]))
def school_class(school, label):
    return make_class(school.org, grade=9, number=9, name=label, head_teacher=school.staff,
                      home_room=school.rooms[0])


def _bulk_years(school, n, prefix: str = "批量"):
    bulk_create_indexed(m.SchoolYear, [m.SchoolYear(org=school.org, name=f"{prefix}{1800 + i}学年",
                                      start_date=datetime.date(1800 + i, 9, 1), end_date=datetime.date(1801 + i, 8, 31))
                         for i in range(n)])
    return list(m.SchoolYear.objects.filter(org=school.org, name__startswith=prefix).order_by("start_date"))


@register_factory(m.SchoolYear, bulk=_bulk_years)
def school_year(school, label):
    return make_school_year(school.org, 2030, name=label)


@register_factory(m.Term, bulk=lambda school, n: bulk_create_indexed(m.Term, [
    m.Term(org=school.org, school_year=year, kind=TermKind.FIRST, name=f"批量学期{i:04d}",
           start_date=year.start_date, end_date=year.start_date + datetime.timedelta(days=120))
    for i, year in enumerate(_bulk_years(school, n, prefix=unique("学期用")))]))
def term(school, label):
    return make_term(make_school_year(school.org, 2031), name=label)


def _bulk_users(school, n, role_code: str = "teacher") -> None:
    unusable = "!"  # what set_unusable_password() stores, without hashing 110 times
    users = [m.User(username=unique("bulk"), full_name=f"批量用户{i:04d}", password=unusable, default_org=school.org)
             for i in range(n)]
    bulk_create_indexed(m.User, users)
    role = m.Role.objects.get(code=role_code)
    created = m.User.objects.filter(username__in=[u.username for u in users])
    m.Membership.objects.bulk_create([m.Membership(user=u, org=school.org, role=role) for u in created])


@register_factory(m.User, bulk=_bulk_users)
def user(school, label):
    return make_user(full_name=label, org=school.org, roles=("teacher",))


@register_factory(m.Membership, bulk=_bulk_users)
def membership(school, label):
    return make_user(full_name=label, org=school.org, roles=("teacher",)).memberships.get()


def _entry(school, label, **fields):
    return m.ChangeLogEntry(org=school.org, user=school.staff, user_name=school.staff.get_full_name(),
                            request_id=unique("req"), action="update",
                            content_type=ContentType.objects.get_for_model(m.Campus),
                            object_id=str(school.campus.pk), object_repr=label,
                            before={"name": school.campus.name}, after={"name": label}, **fields)


@register_factory(m.ChangeLogEntry, bulk=lambda school, n: m.ChangeLogEntry.objects.bulk_create(
    [_entry(school, f"批量记录{i:04d}") for i in range(n)]))
def changelog_entry(school, label):
    entry = _entry(school, label)
    entry.save()
    return entry
