"""A small two-school world with named personas, the fixture every test builds on.

    bureau (测试区教育局)
      ├── school A (甲城第一小学): campus, building, floor, two rooms, department, class, school year and term
      └── school B (乙镇中心小学): the same

Personas (healthchecks-style named users):

    admin_a        系统管理员 (school_admin) of A: manages places, structure, users of A
    head_a         总务主任 (logistics_head) of A: every logistics domain in A
    teacher_a      教师 (teacher) of A: sees places, cannot edit them; A's ``staff`` user
    admin_b        系统管理员 of B: the "other school" in every isolation check
    teacher_b      教师 of B; B's ``staff`` user
    bureau_admin   教育局管理员 of the bureau: reads A and B, writes neither
    superuser      installation superuser, no memberships
    outsider       active account with no membership anywhere
"""

from __future__ import annotations

from dataclasses import dataclass, field

from houqin.core.context import acting_as
from houqin.core.models import RoomType
from houqin.core.testing import factories as f

PERSONAS = ("admin_a", "head_a", "teacher_a", "admin_b", "teacher_b", "bureau_admin", "superuser", "outsider")


@dataclass
class SchoolWorld:
    """One school and the rows every domain test needs to hang its own rows on."""

    tag: str
    org: object
    campus: object = None
    building: object = None
    floor: object = None
    rooms: list = field(default_factory=list)
    department: object = None
    school_class: object = None
    school_year: object = None
    term: object = None
    staff: object = None  # an ordinary member (teacher) of this school, for "responsible"/"head" fields


@dataclass
class World:
    bureau: object
    a: SchoolWorld
    b: SchoolWorld
    users: dict

    def __getattr__(self, name):
        users = self.__dict__.get("users") or {}
        if name in users:
            return users[name]
        raise AttributeError(name)

    def persona(self, name: str | None):
        """The user of a persona name; None (or "anonymous") for an anonymous visitor."""
        return None if name in (None, "anonymous") else self.users[name]

    def school_of(self, name: str) -> SchoolWorld | None:
        return {"a": self.a, "b": self.b}.get(name[-1:]) if name.endswith(("_a", "_b")) else None


def build_school(bureau, tag: str, name: str, key: str) -> SchoolWorld:
    org = f.make_school(bureau, name, short_name=f"{tag}校")
    school = SchoolWorld(tag=tag, org=org)
    school.staff = f.make_user(f"teacher_{key}", full_name=f"{tag}校老师", org=org, roles=("teacher",))
    school.campus = f.make_campus(org, f"{tag}校本部", code=f"{tag}1", address=f"{tag}城路1号")
    school.building = f.make_building(school.campus, f"{tag}教学楼", code="JXL")
    school.floor = f.make_floor(school.building, 1)
    school.department = f.make_department(org, f"{tag}总务处", head=school.staff)
    school.rooms = [
        f.make_room(floor=school.floor, number="101", name=f"{tag}一(1)班教室", room_type=RoomType.CLASSROOM,
                    capacity=45, department=school.department),
        f.make_room(floor=school.floor, number="102", name=f"{tag}总务处办公室", room_type=RoomType.OFFICE,
                    responsible=school.staff, department=school.department),
    ]
    school.school_class = f.make_class(org, 1, 1, head_teacher=school.staff, home_room=school.rooms[0],
                                       pupil_count=45)
    school.school_year = f.make_school_year(org, 2025)
    school.term = f.make_term(school.school_year)
    return school


def build_world() -> World:
    """Create the bureau, schools A and B and the personas (see the module docstring)."""
    with acting_as(None, request_id="test-world"):
        bureau = f.make_bureau("测试区教育局")
        a = build_school(bureau, "甲", "甲城第一小学", "a")
        b = build_school(bureau, "乙", "乙镇中心小学", "b")
        superuser = f.make_user("superuser", full_name="超级管理员", is_superuser=True, is_staff=True)
        users = {
            "admin_a": f.make_user("admin_a", full_name="甲校管理员", org=a.org, roles=("school_admin",)),
            "head_a": f.make_user("head_a", full_name="甲校总务主任", org=a.org, roles=("logistics_head",)),
            "teacher_a": a.staff,
            "admin_b": f.make_user("admin_b", full_name="乙校管理员", org=b.org, roles=("school_admin",)),
            "teacher_b": b.staff,
            "bureau_admin": f.make_user("bureau_admin", full_name="教育局管理员", org=bureau,
                                        roles=("bureau_admin",)),
            "superuser": superuser,
            "outsider": f.make_user("outsider", full_name="无单位用户"),
        }
    return World(bureau=bureau, a=a, b=b, users=users)
