"""Deterministic county-scale data for the benchmark: a bureau, N schools with rooms, departments and a keeper
each, and M asset cards per school inserted in bulk (``executemany`` on SQLite, ``COPY`` on PostgreSQL).

The same seed gives the same rows on both databases. Cards are inserted without going through the registration
command (no history rows, no change log): the benchmark measures reading them; the import metric measures the
real command path separately.
"""

from __future__ import annotations

import datetime
import random
import time
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from houqin.assets.choices import AcquisitionMethod, AssetClass, AssetStatus
from houqin.assets.models import Asset, AssetCategory
from houqin.core import models as m
from houqin.core.models import RoomType
from houqin.core.search import build_search_index
from houqin.core.testing.factories import grant

PASSWORD = "Bench@2026"  # noqa: S105 — throwaway benchmark accounts
SEED = 20261121
BATCH = 5000

# (category code, name, brand, model, unit price range, unit, batch?) — what a school register mostly holds.
CARD_KINDS = [
    ("2010100", "台式计算机", "联想", "启天M437", (3800, 5600), "台", False),
    ("2010100", "便携式计算机", "华为", "MateBook 14", (4500, 7000), "台", False),
    ("2020800", "交互式触控一体机", "希沃", "MAXHUB V6", (9800, 16800), "台", False),
    ("2010600", "激光打印机", "惠普", "LaserJet M233", (1200, 2400), "台", False),
    ("6010200", "教师办公桌", "震旦", "1400×700", (1000, 1600), "张", False),
    ("6010000.01", "学生课桌椅", "优学", "升降式单人", (180, 320), "套", True),
    ("2020200", "投影仪", "爱普生", "CB-X06", (2600, 4200), "台", False),
    ("2020400", "多功能一体机", "佳能", "iR2206", (2800, 4300), "台", False),
]
STATUSES = [AssetStatus.IN_USE] * 16 + [AssetStatus.IDLE] * 2 + [AssetStatus.LENT, AssetStatus.REPAIRING]


@dataclass
class County:
    bureau: m.Organization
    schools: list = field(default_factory=list)
    keepers: dict = field(default_factory=dict)  # school id -> username
    bureau_user: str = ""
    rooms: dict = field(default_factory=dict)  # school id -> [room ids]
    departments: dict = field(default_factory=dict)  # school id -> [department ids]
    seconds: float = 0.0


def _categories() -> dict[str, int]:
    wanted = {code for code, *_ in CARD_KINDS}
    found = dict(AssetCategory.objects.filter(org__isnull=True, code__in=wanted).values_list("code", "id"))
    missing = wanted - set(found)
    if missing:
        raise RuntimeError(f"national asset categories {sorted(missing)} are missing: run migrate first")
    return found


def build_county(schools: int, *, log=print) -> County:
    """Bureau, schools, campuses, buildings, rooms, departments and users (ORM, in one transaction)."""
    from django.contrib.auth.hashers import make_password

    started = time.perf_counter()
    hashed = make_password(PASSWORD)  # once: a password hash costs ~0.5 s on purpose, 200 keepers share it
    with transaction.atomic():
        bureau = m.Organization.objects.create(kind=m.OrgKind.BUREAU, name="基准县教育局", code="BENCH")
        county = County(bureau=bureau)
        bureau_user = m.User(username="bench_bureau", full_name="县局资产管理员", default_org=bureau)
        bureau_user.password = hashed
        bureau_user.save()
        grant(bureau_user, bureau, "bureau_admin")
        county.bureau_user = bureau_user.username
        for i in range(schools):
            school = m.Organization.objects.create(
                kind=m.OrgKind.PRIMARY, name=f"基准第{i + 1:03d}小学", short_name=f"基准{i + 1:03d}", parent=bureau,
                code=f"B{i + 1:04d}", pupil_count=800 + (i * 37) % 1200, staff_count=60)
            county.schools.append(school)
            campus = m.Campus.objects.create(org=school, name="校本部", code="1")
            building = m.Building.objects.create(org=school, campus=campus, name="教学楼", code="JXL",
                                                 floors_above=5)
            floors = [m.Floor(org=school, building=building, level=level) for level in range(1, 6)]
            m.Floor.objects.bulk_create(floors)
            floors = list(m.Floor.objects.filter(building=building).order_by("level"))
            rooms = [m.Room(org=school, campus=campus, building=building, floor=floor,
                            number=f"{floor.level}{n:02d}", name=f"{floor.level}{n:02d}室",
                            room_type=RoomType.CLASSROOM if n <= 8 else RoomType.OFFICE)
                     for floor in floors for n in range(1, 13)]
            m.Room.objects.bulk_create(rooms)
            county.rooms[school.pk] = list(m.Room.objects.filter(org=school).values_list("pk", flat=True))
            names = ["总务处", "教务处", "德育处", "信息中心", "体育组", "科学组", "语文组", "数学组"]
            m.Department.objects.bulk_create([m.Department(org=school, name=n) for n in names])
            county.departments[school.pk] = list(m.Department.objects.filter(org=school)
                                                 .values_list("pk", flat=True))
            keeper = m.User(username=f"bench_keeper{i + 1:03d}", full_name=f"资产员{i + 1:03d}", default_org=school)
            keeper.password = hashed
            keeper.save()
            grant(keeper, school, "asset_keeper")
            county.keepers[school.pk] = keeper.username
    county.seconds = time.perf_counter() - started
    log(f"  县域结构：{schools} 所学校，{sum(len(r) for r in county.rooms.values())} 个房间"
        f"（{county.seconds:.1f} 秒）")
    return county


def _columns() -> list:
    return [f for f in Asset._meta.concrete_fields if f.column != "id"]


def card_rows(county: County, per_school: int, *, seed: int = SEED, categories: dict | None = None):
    """Yield one dict of column values per card, deterministic for ``seed``. Makes no query once ``categories``
    (code → id) is given: on PostgreSQL the rows are produced while the connection is busy with COPY."""
    rng = random.Random(seed)
    categories = categories or _categories()
    now = timezone.now().replace(microsecond=0)
    search_cache: dict[str, str] = {}
    today = datetime.date(2026, 9, 1)
    for school in county.schools:
        rooms = county.rooms[school.pk]
        departments = county.departments[school.pk]
        for n in range(per_school):
            code, name, brand, model, (low, high), unit, batch = CARD_KINDS[n % len(CARD_KINDS)]
            year = 2008 + rng.randrange(19)
            acquired = datetime.date(year, 1 + rng.randrange(12), 1 + rng.randrange(28))
            if acquired > today:
                acquired = today
            quantity = 40 if batch else 1
            price = Decimal(rng.randrange(low, high)) + Decimal("0.00")
            number = f"ZC-{year}-{n + 1:06d}"
            search = search_cache.get(name)
            if search is None:
                search = search_cache[name] = build_search_index((name, brand, model))
            serial = f"SN{school.pk:04d}{n:07d}"
            values = {
                "created_at": now, "updated_at": now, "search_index": f"{number.lower()} | {search} | {serial.lower()}",
                "org_id": school.pk, "number": number, "category_id": categories[code], "name": name,
                "brand": brand, "model": model, "serial_no": serial, "unit": unit,
                "quantity": quantity, "unit_price": price, "original_value": price * quantity, "area_m2": None,
                "acquired_on": acquired, "acquisition_method": AcquisitionMethod.PURCHASE,
                "funding_source": "财政拨款", "supplier": "", "invoice_no": "", "voucher_no": "",
                "warranty_until": None, "room_id": rooms[n % len(rooms)],
                "department_id": departments[n % len(departments)], "custodian_id": None,
                "status": STATUSES[n % len(STATUSES)],
                "asset_class": AssetClass.FIXED if batch or price >= 1000 else AssetClass.LOW_VALUE,
                "is_batch": batch, "useful_life_years": 6, "structure": "", "attributes": "{}", "note": "",
                "registered_on": acquired, "disposed_on": None,
            }
            yield values


def insert_cards(county: County, per_school: int, *, log=print) -> float:
    """Insert ``per_school`` cards into every school of the county; returns the seconds taken."""
    columns = _columns()
    names = [f.column for f in columns]
    started = time.perf_counter()
    rows = card_rows(county, per_school, categories=_categories())
    insert = _copy if connection.vendor == "postgresql" else _executemany
    with transaction.atomic():
        total = insert(columns, names, rows)
    seconds = time.perf_counter() - started
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # Every table, as autovacuum would have by then: the county's rooms, users and departments too.
            cursor.execute("ANALYZE")
    log(f"  资产卡片：{total:,} 张（{seconds:.1f} 秒，{total / max(seconds, 1e-9):,.0f} 张/秒）")
    return seconds


def _prepared(columns, values: dict) -> tuple:
    """A row for SQLite's executemany, as Django would store it (aware datetimes as naive UTC text, dates as ISO
    text, decimals as text) — written out here because the field-by-field conversion dominates a bulk insert."""
    row = []
    for f in columns:
        value = values[f.attname]
        if value is None or isinstance(value, (str, int, bool)):
            row.append(value)
        elif isinstance(value, datetime.datetime):
            if value.tzinfo is not None:
                value = value.astimezone(datetime.UTC).replace(tzinfo=None)
            row.append(str(value))
        elif isinstance(value, datetime.date):
            row.append(value.isoformat())
        elif isinstance(value, Decimal):
            row.append(str(value))
        else:
            row.append(f.get_db_prep_save(value, connection))
    return tuple(row)


def _executemany(columns, names, rows) -> int:
    table = Asset._meta.db_table
    sql = f'INSERT INTO "{table}" ({", ".join(names)}) VALUES ({", ".join(["%s"] * len(names))})'
    total = 0
    batch = []
    with connection.cursor() as cursor:
        for values in rows:
            batch.append(_prepared(columns, values))
            if len(batch) >= BATCH:
                cursor.executemany(sql, batch)
                total += len(batch)
                batch.clear()
        if batch:
            cursor.executemany(sql, batch)
            total += len(batch)
    return total


def _copy(columns, names, rows) -> int:
    table = Asset._meta.db_table
    total = 0
    with connection.cursor() as cursor:
        raw = cursor.cursor  # the psycopg cursor under Django's wrapper
        with raw.copy(f'COPY "{table}" ({", ".join(names)}) FROM STDIN') as copy:
            for values in rows:
                copy.write_row(tuple(values[f.attname] for f in columns))
                total += 1
    return total
