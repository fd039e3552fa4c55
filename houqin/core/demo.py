"""Demo data: a county education bureau (教育局) with a primary school and a kindergarten, their campuses,
buildings, rooms, departments, classes, school years and terms, and one account for every role.

The data is built by *demo steps*: functions registered with ``@demo_step`` that take a ``DemoContext``.
This module registers the core steps; a domain app adds its own in ``houqin/<app>/demo.py`` (discovered
automatically, see ``load_demo_modules``). Every step must be idempotent: ``DemoContext.upsert`` and
``DemoContext.account`` look rows up by stable keys, so running the demo twice creates nothing new.

Random-looking values (names, phone numbers, addresses, pupil counts) come from Faker (zh_CN) and
``random.Random`` seeded per key (``ctx.fake("user:zongwu")``), so they are the same on every run and do
not depend on the order in which steps run.
"""

from __future__ import annotations

import datetime
import random
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from importlib import import_module

from django.apps import apps
from django.contrib.auth.hashers import make_password
from django.db import models, transaction
from django.utils import timezone
from django.utils.module_loading import module_has_submodule
from faker import Faker

from houqin.core.context import acting_as
from houqin.core.models import (
    Building,
    Campus,
    Department,
    Floor,
    Membership,
    Organization,
    OrgKind,
    Role,
    Room,
    RoomType,
    SchoolClass,
    SchoolYear,
    Term,
    User,
)
from houqin.core.models.locations import BuildingUse
from houqin.core.models.orgs import DepartmentKind, Grade, TermKind
from houqin.core.roles import ROLES, sync_roles

DEMO_PASSWORD = "Houqin@2026"  # noqa: S105  (the published demo password)
DEMO_SEED = 20260901
DEMO_URL = "http://127.0.0.1:8000/"

# Organisation codes are the stable keys of the demo organisations (Organization.code is unique).
BUREAU = "bureau"
PRIMARY = "primary"
KINDERGARTEN = "kindergarten"
ORG_CODES = {
    BUREAU: "11330127MB0A26001X",
    PRIMARY: "12330127MB0A26101K",
    KINDERGARTEN: "12330127MB0A26201M",
}


# --- Step registry ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoStep:
    key: str  # "module.function", unique
    label: str  # shown while the demo runs, e.g. "校区、楼栋与房间"
    func: Callable[[DemoContext], None]
    order: int


DEMO_STEPS: dict[str, DemoStep] = {}


def demo_step(label: str, *, order: int = 100):
    """Register a function ``func(ctx: DemoContext)`` as a demo step.

    Core steps use orders below 100; domain apps use 100 and above (see docs/demo.md). Steps run in
    (order, key) order inside one transaction.
    """

    def decorator(func):
        key = f"{func.__module__}.{func.__qualname__}"
        DEMO_STEPS[key] = DemoStep(key=key, label=label, func=func, order=order)
        return func

    return decorator


def load_demo_modules() -> None:
    """Import ``<app>.demo`` of every installed houqin app so that its steps register themselves."""
    for app_config in apps.get_app_configs():
        if app_config.name.startswith("houqin.") and module_has_submodule(app_config.module, "demo"):
            import_module(f"{app_config.name}.demo")


def registered_steps() -> list[DemoStep]:
    load_demo_modules()
    return sorted(DEMO_STEPS.values(), key=lambda s: (s.order, s.key))


# --- Context ---------------------------------------------------------------------------------------------


def stable_seed(key: str) -> int:
    return zlib.crc32(f"{DEMO_SEED}:{key}".encode())


def _plain(value):
    """A lookup value as stored on the row: a model instance becomes its primary key."""
    return value.pk if isinstance(value, models.Model) else value


@dataclass(frozen=True)
class DemoAccount:
    """One row of the accounts table printed at the end (and documented in docs/demo.md)."""

    username: str
    full_name: str
    title: str  # the job as people say it: 总务主任, 园长, 教育局督查 …
    org_name: str


@dataclass
class DemoContext:
    reset_passwords: bool = False
    log: Callable[[str], None] = print
    today: datetime.date = field(default_factory=timezone.localdate)
    orgs: dict[str, Organization] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    accounts: list[DemoAccount] = field(default_factory=list)
    stats: Counter = field(default_factory=Counter)
    # Filled by the core steps for later steps to use.
    place: dict[str, str] = field(default_factory=dict)  # province, city, county, area_code
    departments: dict[tuple[str, str], Department] = field(default_factory=dict)  # (org key, name)
    campuses: dict[tuple[str, str], Campus] = field(default_factory=dict)  # (org key, campus name)
    home_rooms: dict[tuple[str, str], Room] = field(default_factory=dict)  # (org key, room name)
    _faker: Faker = field(default_factory=lambda: Faker("zh_CN"), repr=False)
    _password_hash: str = field(default="", repr=False)
    _roles: dict[str, Role] = field(default_factory=dict, repr=False)
    _rows: dict[tuple, dict] = field(default_factory=dict, repr=False)
    _names: set[str] = field(default_factory=set, repr=False)

    # Seeded randomness -----------------------------------------------------------------------------------
    def fake(self, key: str) -> Faker:
        """The shared zh_CN Faker, re-seeded for ``key``: use it at once, before the next ``fake()`` call."""
        self._faker.seed_instance(stable_seed(key))
        return self._faker

    def person(self, key: str, gender: str = "") -> tuple[str, str]:
        """A (name, mobile number) pair for ``key``; ``gender`` is "male", "female" or "" (either)."""
        fake = self.fake(key)
        # zh_CN Faker has gendered given names but no gendered name formats, so compose the name here.
        given = {"male": fake.first_name_male, "female": fake.first_name_female}.get(gender, fake.first_name)()
        return f"{fake.last_name()}{given}", fake.phone_number()

    def rng(self, key: str) -> random.Random:
        return random.Random(stable_seed(key))

    # Lookups ---------------------------------------------------------------------------------------------
    def org(self, key: str) -> Organization:
        return self.orgs[key]

    def user(self, username: str) -> User:
        return self.users[username]

    def role(self, code: str) -> Role:
        if not self._roles:
            if Role.objects.filter(code__in=[r.code for r in ROLES]).count() < len(ROLES):
                sync_roles()
            self._roles = {r.code: r for r in Role.objects.all()}
        return self._roles[code]

    @property
    def password_hash(self) -> str:
        # One hash for every demo account: hashing is deliberately slow, and all share the demo password.
        if not self._password_hash:
            self._password_hash = make_password(DEMO_PASSWORD)
        return self._password_hash

    # Writes ----------------------------------------------------------------------------------------------
    def _index(self, model: type[models.Model], names: tuple[str, ...]) -> dict[tuple, models.Model]:
        """All rows of ``model`` keyed by the values of ``names``, loaded with one query per model and key."""
        cache_key = (model, names)
        if cache_key not in self._rows:
            attnames = [(model._meta.pk if n == "pk" else model._meta.get_field(n)).attname for n in names]
            index: dict[tuple, models.Model] = {}
            for obj in model._default_manager.order_by("pk"):
                index.setdefault(tuple(getattr(obj, a) for a in attnames), obj)
            self._rows[cache_key] = index
        return self._rows[cache_key]

    def upsert(self, model: type[models.Model], lookup: dict, values: dict | None = None,
               create_only: dict | None = None):
        """Get the row matching ``lookup`` (exact values, model instances for foreign keys) or create it;
        bring ``values`` up to date, saving only when something differs, so a second run writes nothing.
        ``create_only`` is used on creation only."""
        values = values or {}
        names = tuple(sorted(lookup))
        index = self._index(model, names)
        key = tuple(_plain(lookup[n]) for n in names)
        obj = index.get(key)
        label = model._meta.verbose_name
        if obj is None:
            obj = model(**lookup, **values, **(create_only or {}))
            obj.save()
            index[key] = obj
            self.stats[(label, "created")] += 1
            return obj
        changed = []
        for name, value in values.items():
            model_field = model._meta.get_field(name)
            current = getattr(obj, model_field.attname if model_field.is_relation else name)
            if current != _plain(value):
                setattr(obj, name, value)
                changed.append(name)
        if changed:
            obj.save(update_fields=changed)
            self.stats[(label, "updated")] += 1
        return obj

    def account(self, username: str, org_key: str | None, roles: Iterable[str], title: str, *,
                gender: str = "", listed: bool = True, superuser: bool = False) -> User:
        """Create (or find) a demo user holding ``roles`` in the organisation ``org_key``.

        Name and phone are set on creation only; the password too, unless ``reset_passwords``.
        """
        org = self.orgs[org_key] if org_key else None
        full_name, phone = self.person(f"user:{username}", gender)
        attempt = 1
        while full_name in self._names:  # two people with the same name would confuse a demo
            attempt += 1
            full_name, phone = self.person(f"user:{username}:{attempt}", gender)
        users = self._index(User, ("username",))
        user = users.get((username,))
        if user is None:
            user = User(username=username, full_name=full_name, phone=phone, default_org=org,
                        is_staff=superuser, is_superuser=superuser, password=self.password_hash)
            user.save()
            users[(username,)] = user
            self.stats[(User._meta.verbose_name, "created")] += 1
        else:
            changed = []
            if user.default_org_id is None and org is not None:
                user.default_org = org
                changed.append("default_org")
            if superuser and not (user.is_superuser and user.is_staff):
                user.is_superuser = user.is_staff = True
                changed += ["is_superuser", "is_staff"]
            if self.reset_passwords:
                user.password = self.password_hash
                changed.append("password")
            if not user.is_active:
                user.is_active = True
                changed.append("is_active")
            if changed:
                user.save(update_fields=changed)
                self.stats[(User._meta.verbose_name, "updated")] += 1
        for code in roles:
            self.upsert(Membership, {"user": user, "org": org, "role": self.role(code)})
        self.users[username] = user
        self._names.add(user.full_name)
        if listed:
            org_name = "全部单位" if superuser else org.name if org else ""
            self.accounts.append(DemoAccount(username, user.full_name, title, org_name))
        return user


@dataclass
class DemoResult:
    context: DemoContext
    seconds: float
    step_seconds: list[tuple[str, float]]


def run_demo(*, reset_passwords: bool = False, log: Callable[[str], None] | None = None) -> DemoResult:
    """Run every registered demo step in one transaction, attributed to 系统 in the change log."""
    ctx = DemoContext(reset_passwords=reset_passwords, log=log or (lambda message: None))
    started = time.perf_counter()
    timings = []
    with transaction.atomic(), acting_as(None, request_id="demo"):
        for step in registered_steps():
            t0 = time.perf_counter()
            step.func(ctx)
            timings.append((step.label, time.perf_counter() - t0))
            ctx.log(f"  {step.label}：{timings[-1][1]:.2f} 秒")
    return DemoResult(ctx, time.perf_counter() - started, timings)


# --- Core steps: organisations ----------------------------------------------------------------------------


def _county(ctx: DemoContext) -> dict[str, str]:
    fake = ctx.fake("county")
    province = fake.province()
    while province.endswith("市") or "特别行政区" in province or province == "台湾省":
        province = fake.province()
    return {
        "province": province,
        "city": f"{fake.city_name()}市",
        "county": f"{fake.district()}县",
        "area_code": fake.numerify("0%##"),
    }


def _address(ctx: DemoContext, key: str, place: dict[str, str]) -> str:
    fake = ctx.fake(f"address:{key}")
    street = f"{fake.city_name()}{fake.street_suffix()}"  # 长沙路, 西宁街 …
    return f"{place['province']}{place['city']}{place['county']}{street}{fake.random_int(1, 299)}号"


def _landline(ctx: DemoContext, key: str, place: dict[str, str]) -> str:
    return f"{place['area_code']}-{ctx.fake(f'phone:{key}').numerify('%#######')}"


@demo_step("教育局、学校与幼儿园", order=10)
def organizations(ctx: DemoContext) -> None:
    place = ctx.place = _county(ctx)
    county = place["county"]
    bureau = ctx.upsert(Organization, {"code": ORG_CODES[BUREAU]}, {
        "kind": OrgKind.BUREAU, "name": f"{county}教育局", "short_name": "县教育局", "parent": None,
        "address": _address(ctx, BUREAU, place), "phone": _landline(ctx, BUREAU, place),
        "principal_name": ctx.fake("person:bureau_head").name(), "is_active": True,
    })
    primary = ctx.upsert(Organization, {"code": ORG_CODES[PRIMARY]}, {
        "kind": OrgKind.PRIMARY, "name": f"{county}实验小学", "short_name": "实验小学", "parent": bureau,
        "address": _address(ctx, PRIMARY, place), "phone": _landline(ctx, PRIMARY, place),
        "staff_count": 112, "pupil_count": sum(class_sizes(ctx, PRIMARY).values()),
        "principal_name": ctx.person("user:principal", ACCOUNT_GENDER["principal"])[0], "is_active": True,
    })
    kindergarten = ctx.upsert(Organization, {"code": ORG_CODES[KINDERGARTEN]}, {
        "kind": OrgKind.KINDERGARTEN, "name": f"{county}机关幼儿园", "short_name": "机关幼儿园", "parent": bureau,
        "address": _address(ctx, KINDERGARTEN, place), "phone": _landline(ctx, KINDERGARTEN, place),
        "staff_count": 46, "pupil_count": sum(class_sizes(ctx, KINDERGARTEN).values()),
        "principal_name": ctx.person("user:yey_yz", ACCOUNT_GENDER["yey_yz"])[0], "is_active": True,
    })
    ctx.orgs.update({BUREAU: bureau, PRIMARY: primary, KINDERGARTEN: kindergarten})


# --- Core steps: accounts ---------------------------------------------------------------------------------

# (username, org, role codes, title, gender). Every role of houqin.core.roles.ROLES appears at least once.
ACCOUNTS: tuple[tuple[str, str, tuple[str, ...], str, str], ...] = (
    ("admin", PRIMARY, (), "超级管理员", ""),
    ("jyj", BUREAU, ("bureau_admin",), "教育局管理员", ""),
    ("duban", BUREAU, ("bureau_inspector",), "教育局督查", ""),
    ("xiaoadmin", PRIMARY, ("school_admin",), "系统管理员", ""),
    ("principal", PRIMARY, ("principal",), "校长", "male"),
    ("zongwu", PRIMARY, ("logistics_head",), "总务主任", "male"),
    ("zichan", PRIMARY, ("asset_keeper",), "资产管理员", "female"),
    ("weixiu1", PRIMARY, ("technician",), "维修工", "male"),
    ("weixiu2", PRIMARY, ("technician",), "水电工", "male"),
    ("shitang", PRIMARY, ("canteen_manager",), "食堂管理员", ""),
    ("shitang_staff", PRIMARY, ("canteen_staff",), "食堂从业人员", "female"),
    ("baojian", PRIMARY, ("health_officer",), "校医", "female"),
    ("anquan", PRIMARY, ("safety_officer",), "安全员", "male"),
    ("menwei", PRIMARY, ("guard",), "门卫", "male"),
    ("suguan", PRIMARY, ("dorm_staff",), "宿管/生活老师", "female"),
    ("kuaiji", PRIMARY, ("accountant",), "会计", "female"),
    ("yey_admin", KINDERGARTEN, ("school_admin",), "系统管理员", ""),
    ("yey_yz", KINDERGARTEN, ("principal",), "园长", "female"),
    ("yey_zw", KINDERGARTEN, ("logistics_head",), "总务主任", ""),
    ("yey_bj", KINDERGARTEN, ("health_officer",), "保健医", "female"),
    ("yey_st", KINDERGARTEN, ("canteen_manager",), "食堂管理员", ""),
)
ACCOUNT_GENDER = {username: gender for username, _, _, _, gender in ACCOUNTS}

# Grades and the number of classes in each: 40 classes in the primary school, 11 in the kindergarten.
PRIMARY_CLASSES = {Grade.G1: 7, Grade.G2: 7, Grade.G3: 7, Grade.G4: 6, Grade.G5: 6, Grade.G6: 7}
PRIMARY_CLASS_SIZE = (42, 48)
KINDERGARTEN_CLASSES = {Grade.NURSERY: 1, Grade.JUNIOR: 4, Grade.MIDDLE: 3, Grade.SENIOR: 3}
KINDERGARTEN_CLASS_SIZE = {Grade.NURSERY: (16, 20), Grade.JUNIOR: (24, 27), Grade.MIDDLE: (28, 31),
                           Grade.SENIOR: (31, 35)}


def class_list(classes: dict[Grade, int]) -> list[tuple[Grade, int]]:
    return [(grade, number) for grade, count in classes.items() for number in range(1, count + 1)]


def class_sizes(ctx: DemoContext, org_key: str) -> dict[tuple[Grade, int], int]:
    """Pupils per class, (grade, number) -> count."""
    sizes = {}
    for grade, number in class_list(PRIMARY_CLASSES if org_key == PRIMARY else KINDERGARTEN_CLASSES):
        low, high = PRIMARY_CLASS_SIZE if org_key == PRIMARY else KINDERGARTEN_CLASS_SIZE[grade]
        sizes[(grade, number)] = ctx.rng(f"pupils:{org_key}:{int(grade)}:{number}").randint(low, high)
    return sizes


def head_teacher_username(org_key: str, index: int) -> str:
    return f"jiaoshi{index}" if org_key == PRIMARY else f"yey_js{index}"


@demo_step("账号与角色", order=20)
def accounts(ctx: DemoContext) -> None:
    for username, org_key, roles, title, gender in ACCOUNTS:
        # "admin" is a superuser without memberships; its default organisation is the primary school.
        ctx.account(username, org_key, roles, title, gender=gender, superuser=username == "admin")
    # Head teachers (班主任): one teacher per class; the first is listed, the others share the password.
    for org_key, layout in ((PRIMARY, PRIMARY_CLASSES), (KINDERGARTEN, KINDERGARTEN_CLASSES)):
        for index, (grade, number) in enumerate(class_list(layout), start=1):
            mostly_women = org_key == KINDERGARTEN or ctx.rng(f"gender:{org_key}:{index}").random() < 0.7
            ctx.account(head_teacher_username(org_key, index), org_key, ("teacher",),
                        f"教师（{grade.label}({number})班班主任）", gender="female" if mostly_women else "male",
                        listed=index == 1)


# --- Core steps: departments ------------------------------------------------------------------------------

PRIMARY_DEPARTMENTS: tuple[tuple[str, str, str, str | None], ...] = (
    ("校长室", DepartmentKind.OFFICE, "XZS", "principal"),
    ("办公室", DepartmentKind.OFFICE, "BGS", "xiaoadmin"),
    ("总务处", DepartmentKind.OFFICE, "ZWC", "zongwu"),
    ("教务处", DepartmentKind.OFFICE, "JWC", None),
    ("德育处", DepartmentKind.OFFICE, "DYC", None),
    ("财务室", DepartmentKind.OFFICE, "CWS", "kuaiji"),
    ("安全办", DepartmentKind.OFFICE, "AQB", "anquan"),
    ("语文教研组", DepartmentKind.SUBJECT, "YW", None),
    ("数学教研组", DepartmentKind.SUBJECT, "SX", None),
    ("英语教研组", DepartmentKind.SUBJECT, "YY", None),
    ("科学教研组", DepartmentKind.SUBJECT, "KX", None),
    ("音体美教研组", DepartmentKind.SUBJECT, "YTM", None),
    ("综合实践教研组", DepartmentKind.SUBJECT, "ZH", None),
)
KINDERGARTEN_DEPARTMENTS: tuple[tuple[str, str, str, str | None], ...] = (
    ("园长室", DepartmentKind.OFFICE, "YZS", "yey_yz"),
    ("保教处", DepartmentKind.OFFICE, "BJC", None),
    ("总务处", DepartmentKind.OFFICE, "ZWC", "yey_zw"),
    ("保健室", DepartmentKind.OFFICE, "BJS", "yey_bj"),
    ("托小班年级组", DepartmentKind.GRADE, "TX", None),
    ("中班年级组", DepartmentKind.GRADE, "ZB", None),
    ("大班年级组", DepartmentKind.GRADE, "DB", None),
)


def grade_department_name(org_key: str, grade: Grade) -> str:
    if org_key == PRIMARY:
        return f"{grade.label}组"
    return {Grade.NURSERY: "托小班年级组", Grade.JUNIOR: "托小班年级组"}.get(grade, f"{grade.label}年级组")


@demo_step("部门", order=30)
def departments(ctx: DemoContext) -> None:
    for org_key, rows in ((PRIMARY, PRIMARY_DEPARTMENTS), (KINDERGARTEN, KINDERGARTEN_DEPARTMENTS)):
        org = ctx.org(org_key)
        rows = list(rows)
        if org_key == PRIMARY:
            # Grade groups (年级组), each led by the head teacher of class (1).
            first = {grade: index for index, (grade, number) in enumerate(class_list(PRIMARY_CLASSES), start=1)
                     if number == 1}
            rows += [(f"{g.label}组", DepartmentKind.GRADE, f"G{int(g)}", head_teacher_username(PRIMARY, i))
                         for g, i in first.items()]
        for name, kind, code, head in rows:
            ctx.departments[(org_key, name)] = ctx.upsert(Department, {"org": org, "name": name}, {
                "kind": kind, "code": code, "head": ctx.user(head) if head else None, "is_active": True,
            })


# --- Core steps: school years and terms -------------------------------------------------------------------

# (start year, first term, second term): term dates follow a typical provincial school calendar.
SCHOOL_CALENDAR = (
    (2025, (datetime.date(2025, 9, 1), datetime.date(2026, 1, 23)),
     (datetime.date(2026, 3, 2), datetime.date(2026, 7, 3))),
    (2026, (datetime.date(2026, 9, 1), datetime.date(2027, 1, 29)),
     (datetime.date(2027, 2, 22), datetime.date(2027, 7, 2))),
)


@demo_step("学年与学期", order=40)
def school_years(ctx: DemoContext) -> None:
    for org_key in (PRIMARY, KINDERGARTEN):
        org = ctx.org(org_key)
        for start_year, first, second in SCHOOL_CALENDAR:
            year = ctx.upsert(SchoolYear, {"org": org, "name": SchoolYear.name_for(start_year)}, {
                "start_date": datetime.date(start_year, 9, 1), "end_date": datetime.date(start_year + 1, 8, 31),
            })
            for kind, (start, end) in ((TermKind.FIRST, first), (TermKind.SECOND, second)):
                ctx.upsert(Term, {"school_year": year, "kind": kind}, {
                    "org": org, "name": f"{year.name} {kind.label}", "start_date": start, "end_date": end,
                })


# --- Core steps: places -----------------------------------------------------------------------------------

# A room: (name, type, area m², capacity, using department, responsible username). "@class" marks the
# home rooms of the classes placed on that floor (see CLASS_FLOORS).
RoomSpec = tuple
T = RoomType


def _toilets() -> list[RoomSpec]:
    return [("男卫生间", T.TOILET, 24, None, "总务处", None), ("女卫生间", T.TOILET, 24, None, "总务处", None)]


PRIMARY_PLACES = {
    "南园": {
        "code": "NY", "area": 32600, "outdoor": [
            ("田径场", T.OUTDOOR, 9800, None, "音体美教研组", None),
            ("篮球场", T.OUTDOOR, 1300, None, "音体美教研组", None),
            ("升旗广场", T.OUTDOOR, 1600, None, "德育处", None),
            ("种植园", T.OUTDOOR, 600, None, "科学教研组", None),
            ("停车场", T.OUTDOOR, 900, None, "总务处", None),
            ("南门门卫室", T.GUARD, 18, None, "安全办", "menwei"),
            ("配电房", T.EQUIPMENT, 40, None, "总务处", "weixiu2"),
        ],
        "buildings": [
            ("明德楼", "MD", BuildingUse.TEACHING, 2006, 5200, {
                1: ["@class", ("三年级组办公室", T.OFFICE, 60, 12, "三年级组", None), *_toilets()],
                2: ["@class", ("四年级组办公室", T.OFFICE, 60, 12, "四年级组", None), *_toilets()],
                3: ["@class", ("五年级组办公室", T.OFFICE, 60, 12, "五年级组", None), *_toilets()],
                4: ["@class", ("六年级组办公室", T.OFFICE, 60, 12, "六年级组", None), *_toilets()],
            }),
            ("至善楼", "ZS", BuildingUse.LAB, 2012, 4300, {
                1: [("科学实验室(1)", T.LAB, 96, 48, "科学教研组", None),
                    ("科学实验室(2)", T.LAB, 96, 48, "科学教研组", None),
                    ("科学仪器室", T.STOREROOM, 48, None, "科学教研组", "zichan"), *_toilets()],
                2: [("计算机房(1)", T.FUNCTION, 96, 50, "综合实践教研组", None),
                    ("计算机房(2)", T.FUNCTION, 96, 50, "综合实践教研组", None),
                    ("录播教室", T.FUNCTION, 90, 48, "教务处", None), *_toilets()],
                3: [("音乐室(1)", T.FUNCTION, 90, 48, "音体美教研组", None),
                    ("音乐室(2)", T.FUNCTION, 90, 48, "音体美教研组", None),
                    ("美术室", T.FUNCTION, 90, 48, "音体美教研组", None),
                    ("书法室", T.FUNCTION, 80, 48, "语文教研组", None),
                    ("舞蹈室", T.FUNCTION, 120, 40, "音体美教研组", None), *_toilets()],
                4: [("图书室", T.FUNCTION, 180, None, "教务处", None),
                    ("学生阅览室", T.FUNCTION, 150, 80, "教务处", None),
                    ("心理辅导室", T.FUNCTION, 40, 6, "德育处", None),
                    ("少先队活动室", T.FUNCTION, 60, 30, "德育处", None), *_toilets()],
            }),
            ("行政楼", "XZ", BuildingUse.OFFICE, 2006, 2400, {
                1: [("总务处办公室", T.OFFICE, 40, 6, "总务处", "zongwu"),
                    ("总务仓库", T.STOREROOM, 80, None, "总务处", "zichan"),
                    ("医务室", T.CLINIC, 40, 4, "总务处", "baojian"),
                    ("档案室", T.STOREROOM, 36, None, "办公室", None), *_toilets()],
                2: [("校长室", T.OFFICE, 30, 3, "校长室", "principal"),
                    ("副校长室", T.OFFICE, 24, 2, "校长室", None),
                    ("学校办公室", T.OFFICE, 40, 6, "办公室", "xiaoadmin"),
                    ("财务室", T.OFFICE, 30, 3, "财务室", "kuaiji"),
                    ("小会议室", T.MEETING, 50, 20, "办公室", None), *_toilets()],
                3: [("教务处", T.OFFICE, 40, 6, "教务处", None),
                    ("德育处", T.OFFICE, 40, 6, "德育处", None),
                    ("安全办", T.OFFICE, 24, 3, "安全办", "anquan"),
                    ("语文教研组办公室", T.OFFICE, 50, 10, "语文教研组", None),
                    ("数学教研组办公室", T.OFFICE, 50, 10, "数学教研组", None),
                    ("英语教研组办公室", T.OFFICE, 40, 8, "英语教研组", None), *_toilets()],
                4: [("大会议室", T.MEETING, 160, 120, "办公室", None),
                    ("校史室", T.FUNCTION, 80, None, "办公室", None),
                    ("网络中心机房", T.EQUIPMENT, 30, None, "教务处", None), *_toilets()],
            }),
            ("食堂", "ST", BuildingUse.CANTEEN, 2015, 1800, {
                1: [("学生餐厅", T.CANTEEN, 760, 600, "总务处", "shitang"),
                    ("加工操作间", T.KITCHEN, 220, None, "总务处", "shitang"),
                    ("主食库", T.STOREROOM, 40, None, "总务处", "shitang"),
                    ("副食库", T.STOREROOM, 40, None, "总务处", "shitang"),
                    ("留样间", T.KITCHEN, 12, None, "总务处", "shitang"),
                    ("洗消间", T.KITCHEN, 30, None, "总务处", "shitang"),
                    ("更衣室", T.OTHER, 16, None, "总务处", None)],
                2: [("教工餐厅", T.CANTEEN, 320, 150, "总务处", "shitang"), *_toilets()],
            }),
            ("体育馆", "TY", BuildingUse.GYM, 2018, 2600, {
                1: [("室内篮球馆", T.SPORTS, 1200, 300, "音体美教研组", None),
                    ("体育器材室", T.STOREROOM, 60, None, "音体美教研组", "zichan"), *_toilets()],
                2: [("乒乓球室", T.SPORTS, 300, 60, "音体美教研组", None),
                    ("形体训练室", T.SPORTS, 200, 50, "音体美教研组", None)],
            }),
            ("学生宿舍楼", "SS", BuildingUse.DORM, 2016, 2100, {
                1: [("宿管值班室", T.OFFICE, 16, 2, "德育处", "suguan"),
                    *[(f"1{n:02d}寝室", T.DORM, 30, 8, "德育处", "suguan") for n in range(1, 9)],
                    ("一层盥洗室", T.TOILET, 40, None, "总务处", None)],
                2: [*[(f"2{n:02d}寝室", T.DORM, 30, 8, "德育处", "suguan") for n in range(1, 11)],
                    ("二层盥洗室", T.TOILET, 40, None, "总务处", None)],
                3: [*[(f"3{n:02d}寝室", T.DORM, 30, 8, "德育处", "suguan") for n in range(1, 11)],
                    ("三层盥洗室", T.TOILET, 40, None, "总务处", None)],
            }),
        ],
    },
    "北园": {
        "code": "BY", "area": 14800, "outdoor": [
            ("北园操场", T.OUTDOOR, 4200, None, "音体美教研组", None),
            ("北园篮球场", T.OUTDOOR, 900, None, "音体美教研组", None),
            ("北门门卫室", T.GUARD, 16, None, "安全办", "menwei"),
        ],
        "buildings": [
            ("启智楼", "QZ", BuildingUse.TEACHING, 2019, 4100, {
                1: ["@class", ("一年级组办公室", T.OFFICE, 60, 12, "一年级组", None), *_toilets()],
                2: ["@class", ("二年级组办公室", T.OFFICE, 60, 12, "二年级组", None), *_toilets()],
                3: [("北园音乐室", T.FUNCTION, 90, 48, "音体美教研组", None),
                    ("北园美术室", T.FUNCTION, 90, 48, "音体美教研组", None),
                    ("绘本阅览室", T.FUNCTION, 120, 60, "教务处", None),
                    ("北园科学室", T.LAB, 90, 48, "科学教研组", None), *_toilets()],
            }),
            ("北园综合楼", "BZ", BuildingUse.OFFICE, 2019, 1500, {
                1: [("北园医务室", T.CLINIC, 30, 3, "总务处", "baojian"),
                    ("北园办公室", T.OFFICE, 40, 6, "办公室", None),
                    ("北园仓库", T.STOREROOM, 50, None, "总务处", "zichan"), *_toilets()],
                2: [("北园计算机房", T.FUNCTION, 96, 50, "综合实践教研组", None),
                    ("北园会议室", T.MEETING, 60, 30, "办公室", None)],
            }),
            ("北园食堂", "BS", BuildingUse.CANTEEN, 2019, 900, {
                1: [("北园餐厅", T.CANTEEN, 500, 350, "总务处", "shitang"),
                    ("北园操作间", T.KITCHEN, 120, None, "总务处", "shitang"),
                    ("北园食品库", T.STOREROOM, 30, None, "总务处", "shitang")],
            }),
        ],
    },
}

KINDERGARTEN_PLACES = {
    "园本部": {
        "code": "YB", "area": 8600, "outdoor": [
            ("户外活动场", T.OUTDOOR, 2600, None, "保教处", None),
            ("大型玩具区", T.OUTDOOR, 400, None, "保教处", None),
            ("沙水区", T.OUTDOOR, 150, None, "保教处", None),
            ("种植园地", T.OUTDOOR, 200, None, "保教处", None),
            ("门卫室", T.GUARD, 16, None, "总务处", None),
        ],
        "buildings": [
            ("幼儿活动楼", "HD", BuildingUse.TEACHING, 2014, 3600, {
                1: ["@class", ("晨检室", T.CLINIC, 20, None, "保健室", "yey_bj")],
                2: ["@class", ("美工室", T.FUNCTION, 80, 35, "保教处", None)],
                3: ["@class", ("音乐活动室", T.FUNCTION, 100, 40, "保教处", None),
                    ("多功能厅", T.FUNCTION, 220, 150, "保教处", None)],
            }),
            ("综合楼", "ZH", BuildingUse.OFFICE, 2014, 1400, {
                1: [("保健室", T.CLINIC, 30, 3, "保健室", "yey_bj"),
                    ("隔离观察室", T.CLINIC, 15, 2, "保健室", "yey_bj"),
                    ("厨房", T.KITCHEN, 150, None, "总务处", "yey_st"),
                    ("食品仓库", T.STOREROOM, 30, None, "总务处", "yey_st"),
                    ("教工餐厅", T.CANTEEN, 80, 50, "总务处", "yey_st"), *_toilets()],
                2: [("园长室", T.OFFICE, 30, 2, "园长室", "yey_yz"),
                    ("保教处办公室", T.OFFICE, 40, 6, "保教处", None),
                    ("总务处办公室", T.OFFICE, 30, 4, "总务处", "yey_zw"),
                    ("会议室", T.MEETING, 60, 30, "园长室", None),
                    ("物资仓库", T.STOREROOM, 40, None, "总务处", "yey_zw"), *_toilets()],
            }),
        ],
    },
}

# Which classes have their home rooms on which floor: (org, campus, building, level) -> grades.
CLASS_FLOORS = {
    (PRIMARY, "北园", "启智楼", 1): (Grade.G1,),
    (PRIMARY, "北园", "启智楼", 2): (Grade.G2,),
    (PRIMARY, "南园", "明德楼", 1): (Grade.G3,),
    (PRIMARY, "南园", "明德楼", 2): (Grade.G4,),
    (PRIMARY, "南园", "明德楼", 3): (Grade.G5,),
    (PRIMARY, "南园", "明德楼", 4): (Grade.G6,),
    (KINDERGARTEN, "园本部", "幼儿活动楼", 1): (Grade.NURSERY, Grade.JUNIOR),
    (KINDERGARTEN, "园本部", "幼儿活动楼", 2): (Grade.MIDDLE,),
    (KINDERGARTEN, "园本部", "幼儿活动楼", 3): (Grade.SENIOR,),
}


def _class_rooms(org_key: str, grade: Grade, number: int, head: str) -> list[RoomSpec]:
    name = f"{grade.label}({number})班"
    department = grade_department_name(org_key, grade)
    if org_key == PRIMARY:
        return [(f"{name}教室", T.CLASSROOM, 72, 50, department, head)]
    # Kindergarten classes have an activity room, a bedroom and their own washroom (活动室、寝室、卫生间).
    return [(f"{name}活动室", T.CLASSROOM, 80, 35, department, head),
            (f"{name}寝室", T.DORM, 60, 35, department, head),
            (f"{name}卫生间", T.TOILET, 15, None, department, None)]


@demo_step("校区、楼栋、楼层与房间", order=50)
def places(ctx: DemoContext) -> None:
    for org_key, layout in ((PRIMARY, PRIMARY_PLACES), (KINDERGARTEN, KINDERGARTEN_PLACES)):
        org = ctx.org(org_key)
        place = ctx.place
        heads = {gn: head_teacher_username(org_key, i)
                 for i, gn in enumerate(class_list(PRIMARY_CLASSES if org_key == PRIMARY else KINDERGARTEN_CLASSES),
                                        start=1)}
        for campus_name, spec in layout.items():
            main = campus_name == next(iter(layout))  # the first campus is at the school's address
            campus = ctx.upsert(Campus, {"org": org, "name": campus_name}, {
                "code": spec["code"], "area_m2": Decimal(spec["area"]),
                "address": org.address if main else _address(ctx, f"{org_key}:{campus_name}", place),
            })
            ctx.campuses[(org_key, campus_name)] = campus
            _rooms(ctx, org_key, campus, None, None, spec["outdoor"], prefix="")
            for name, code, use, built, area, floors in spec["buildings"]:
                building = ctx.upsert(Building, {"campus": campus, "name": name}, {
                    "org": org, "code": code, "use": use, "floors_above": max(floors), "floors_below": 0,
                    "built_year": built, "floor_area_m2": Decimal(area),
                })
                for level, rooms in floors.items():
                    floor = ctx.upsert(Floor, {"building": building, "level": level}, {"org": org})
                    expanded: list[RoomSpec] = []
                    for room in rooms:
                        if room == "@class":
                            for grade in CLASS_FLOORS[(org_key, campus_name, name, level)]:
                                for (g, n), head in heads.items():
                                    if g == grade:
                                        expanded += _class_rooms(org_key, g, n, head)
                        else:
                            expanded.append(room)
                    _rooms(ctx, org_key, campus, building, floor, expanded, prefix=str(level))


def _rooms(ctx, org_key, campus, building, floor, rooms: list[RoomSpec], prefix: str) -> None:
    org = ctx.org(org_key)
    for index, (name, room_type, area, capacity, department, responsible) in enumerate(rooms, start=1):
        room = ctx.upsert(Room, {"org": org, "campus": campus, "building": building, "floor": floor, "name": name}, {
            "number": f"{prefix}{index:02d}" if building else "",
            "room_type": room_type, "area_m2": Decimal(area), "capacity": capacity,
            "department": ctx.departments[(org_key, department)] if department else None,
            "responsible": ctx.user(responsible) if responsible else None, "is_active": True,
        })
        if room_type == T.CLASSROOM:
            ctx.home_rooms[(org_key, name)] = room


# --- Core steps: classes ----------------------------------------------------------------------------------


@demo_step("班级与学生人数", order=60)
def classes(ctx: DemoContext) -> None:
    for org_key, layout in ((PRIMARY, PRIMARY_CLASSES), (KINDERGARTEN, KINDERGARTEN_CLASSES)):
        org = ctx.org(org_key)
        sizes = class_sizes(ctx, org_key)
        for index, (grade, number) in enumerate(class_list(layout), start=1):
            name = f"{grade.label}({number})班"
            home = ctx.home_rooms[(org_key, f"{name}教室" if org_key == PRIMARY else f"{name}活动室")]
            ctx.upsert(SchoolClass, {"org": org, "grade": grade, "number": number}, {
                "name": name, "pupil_count": sizes[(grade, number)], "home_room": home, "is_active": True,
                "head_teacher": ctx.user(head_teacher_username(org_key, index)),
            })
        # Organization.pupil_count is the sum of the classes; 负责人 follows the principal's account.
        principal = ctx.user("principal" if org_key == PRIMARY else "yey_yz")
        ctx.orgs[org_key] = ctx.upsert(Organization, {"code": ORG_CODES[org_key]}, {
            "pupil_count": sum(sizes.values()), "principal_name": principal.full_name})

