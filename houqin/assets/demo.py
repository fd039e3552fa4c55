"""Demo data of the assets app: the asset register (资产账) of the demo primary school and kindergarten.

About 2,000 cards acquired 2006–2026 across the categories a school holds — land and buildings, the running track,
computers in the computer rooms and on teachers' desks, touch screens (触控一体机) and the projectors they
replaced, desks and chairs in batches, air conditioners, instruments, sports and laboratory equipment, books by
the year, canteen machines — placed in the school's rooms and departments, with their history: registration, and
for some cards a disposal, a repair, a loan, a loss.

Each card has a fixed number, ``ZC-<year of acquisition>-<n>``, counted in the order the specs below are listed;
a run creates the cards whose numbers the school does not have yet (so a second run creates nothing) and moves the
school's ZC counters past the demo's numbers, so cards registered afterwards continue the sequence. Cards are
written with ``bulk_create`` (no change-log entries, like the other bulk demo rows).
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from houqin.assets.categories import ensure_categories
from houqin.assets.choices import AcquisitionMethod, AssetClass, AssetEventCode, AssetStatus, BuildingStructure
from houqin.assets.conf import capitalisation_threshold
from houqin.assets.history import diff, snapshot
from houqin.assets.models import Asset, AssetCategory, AssetEvent
from houqin.assets.numbering import advance_to, format_number
from houqin.core.demo import KINDERGARTEN, PRIMARY, DemoContext, demo_step
from houqin.core.models import Building, Room, SchoolClass

P = AcquisitionMethod.PURCHASE
FISCAL = "财政拨款"
SPECIAL = "专项经费"
OWN = "自筹经费"
LAST_DEMO_DAY = datetime.date(2026, 9, 1)  # nothing in the demo register is acquired after this day


@dataclass
class Spec:
    code: str
    name: str
    price: Decimal
    day: datetime.date
    qty: int = 1
    unit: str = "台"
    room: object = None
    department: object = None
    custodian: object = None
    brand: str = ""
    model: str = ""
    method: str = P
    funding: str = FISCAL
    supplier: str = ""
    batch: bool | None = None
    life: int | None = None
    structure: str = ""
    area: Decimal | None = None
    note: str = ""
    serial: str = ""
    # Later events: (code, day, new status, note)
    events: list = field(default_factory=list)


class Register:
    """Collects the specs of one school, then writes what is missing."""

    def __init__(self, ctx: DemoContext, org_key: str):
        self.ctx = ctx
        self.org_key = org_key
        self.org = ctx.org(org_key)
        self.rng = ctx.rng(f"assets:{org_key}")
        self.specs: list[Spec] = []
        self.rooms = {}
        rooms = Room.objects.filter(org=self.org).select_related("campus", "building", "department", "responsible")
        for room in rooms.order_by("pk"):
            self.rooms.setdefault(room.name, room)
        fake = ctx.fake(f"assets:suppliers:{org_key}")
        county = ctx.place.get("county", "")
        self.suppliers = {kind: f"{county}{fake.last_name()}{fake.last_name()}{kind}有限公司" for kind in
                          ("科技", "办公设备", "教学设备", "家具", "电器", "体育用品", "图书", "厨房设备", "乐器")}

    def dept(self, name: str):
        return self.ctx.departments.get((self.org_key, name))

    def room(self, name: str):
        return self.rooms.get(name)

    def date(self, year: int, month: int, day: int | None = None) -> datetime.date:
        return datetime.date(year, month, day or self.rng.randint(1, 28))

    def invoice(self) -> str:
        return f"{self.rng.randint(10_000_000, 99_999_999)}"

    def add(self, code: str, name: str, price, day: datetime.date, *, room=None, department=None, **kw) -> Spec:
        room_obj = self.room(room) if isinstance(room, str) else room
        if isinstance(department, str):
            department = self.dept(department)
        if department is None and room_obj is not None:
            department = room_obj.department
        spec = Spec(code, name, Decimal(str(price)), day, room=room_obj, department=department, **kw)
        if not spec.supplier and spec.method == P:
            spec.supplier = self.suppliers["科技"]
        self.specs.append(spec)
        return spec

    # --- Writing ------------------------------------------------------------------------------------------------
    def write(self) -> int:
        categories = {c.code: c for c in AssetCategory.objects.filter(org__isnull=True, edition="2010")}
        threshold = capitalisation_threshold(self.org)
        existing = set(Asset.objects.filter(org=self.org).values_list("number", flat=True))
        keeper = self.ctx.users.get("zichan" if self.org_key == PRIMARY else "yey_zw")
        ordered = sorted(enumerate(s for s in self.specs if s.day <= min(LAST_DEMO_DAY, self.ctx.today)),
                         key=lambda pair: (pair[1].day, pair[0]))
        per_year: dict[int, int] = defaultdict(int)
        cards, plans = [], []
        for _, spec in ordered:
            per_year[spec.day.year] += 1
            number = format_number(spec.day.year, per_year[spec.day.year])
            if number in existing:
                continue
            category = categories[spec.code]
            asset = Asset(
                org=self.org, number=number, category=category, name=spec.name, brand=spec.brand, model=spec.model,
                serial_no=spec.serial, unit=spec.unit, quantity=spec.qty, unit_price=spec.price,
                original_value=Asset.value_of(spec.qty, spec.price), area_m2=spec.area, acquired_on=spec.day,
                acquisition_method=spec.method, funding_source=spec.funding, supplier=spec.supplier,
                invoice_no=self.invoice() if spec.method == P else "",
                voucher_no=f"记-{spec.day:%Y%m}-{self.rng.randint(1, 260):03d}",
                warranty_until=spec.day.replace(year=spec.day.year + 3) if spec.code.startswith("20") else None,
                room=spec.room, department=spec.department, custodian=spec.custodian,
                is_batch=category.default_batch if spec.batch is None else spec.batch, structure=spec.structure,
                note=spec.note, registered_on=spec.day,
            )
            asset.asset_class = asset.classify(threshold)
            if asset.asset_class == AssetClass.FIXED and category.is_depreciable:
                asset.useful_life_years = spec.life or max(category.default_life_years or 0, asset.min_life() or 0)
            status = AssetStatus.IN_USE
            for code, day, new_status, _ in spec.events:
                if day <= self.ctx.today:
                    status = new_status
                    if code == AssetEventCode.DISPOSE:
                        asset.disposed_on = day
            asset.status = status
            asset.refresh_search_index()
            cards.append(asset)
            plans.append(spec)
        with transaction.atomic():
            Asset.objects.bulk_create(cards, batch_size=500)
            if any(card.pk is None for card in cards):  # a database that does not return the new keys
                keys = dict(Asset.objects.filter(org=self.org, number__in=[c.number for c in cards])
                            .values_list("number", "pk"))
                for card in cards:
                    card.pk = keys[card.number]
            events = []
            tz = timezone.get_current_timezone()
            for asset, spec in zip(cards, plans, strict=True):
                registered = snapshot(asset)
                registered["status"] = AssetStatus.IN_USE
                events.append(self.event(asset, AssetEventCode.REGISTER, spec.day, keeper, tz, "",
                                         AssetStatus.IN_USE, diff({}, registered)))
                status = AssetStatus.IN_USE
                for code, day, new_status, note in spec.events:
                    if day <= self.ctx.today:
                        events.append(self.event(asset, code, day, keeper, tz, status, new_status,
                                                 {"status": [status, new_status]}, note))
                        status = new_status
            AssetEvent.objects.bulk_create(events, batch_size=1000)
            for year, count in per_year.items():
                advance_to(self.org, year, count)
        self.ctx.stats[(Asset._meta.verbose_name, "created")] += len(cards)
        self.ctx.stats[(AssetEvent._meta.verbose_name, "created")] += len(events)
        return len(cards)

    def event(self, asset, code, day, keeper, tz, before, after, changes, note=""):
        time = timezone.make_aware(datetime.datetime.combine(day, datetime.time(10, 0)), tz)
        return AssetEvent(org=self.org, asset=asset, code=code, time=time, actor=keeper,
                          actor_name=keeper.full_name if keeper else "系统", status_before=before, status_after=after,
                          changes=changes, note=note)


# --- The primary school ------------------------------------------------------------------------------------------
def _land_and_buildings(r: Register) -> None:
    zongwu = r.ctx.users.get("zongwu")
    for campus, area in (("南园", 32600), ("北园", 14800)):
        r.add("1010000", f"{campus}校园土地", "1.00", datetime.date(2006 if campus == "南园" else 2019, 6, 30),
              unit="宗", area=Decimal(area), method=AcquisitionMethod.ALLOCATION, funding="",
              department="总务处", custodian=zongwu, note="无偿划拨，以名义金额入账")
    cost = {2006: 1450, 2012: 2100, 2015: 2400, 2016: 2500, 2018: 2900, 2019: 3100}
    for building in Building.objects.filter(org=r.org).select_related("campus").order_by("campus__name", "name"):
        year = building.built_year or 2006
        area = building.floor_area_m2 or Decimal(1000)
        structure = BuildingStructure.BRICK_CONCRETE if year < 2010 else BuildingStructure.CONCRETE
        r.add("1020000", building.name, (area * cost.get(year, 2600)).quantize(Decimal("1")),
              datetime.date(year, 8, 31), unit="栋", area=area, structure=structure,
              method=AcquisitionMethod.SELF_BUILT, department="总务处", custodian=zongwu,
              note=f"{building.campus.name}，{building.floors_above}层")
    for name, price, year in (("塑胶田径场（300米环形跑道）", 1_260_000, 2016), ("室外篮球场", 186_000, 2016),
                              ("升旗台及旗杆", 48_000, 2012), ("校园围墙及南大门", 268_000, 2012),
                              ("北园操场", 520_000, 2019)):
        r.add("1030000", name, price, datetime.date(year, 8, 20), unit="项", method=AcquisitionMethod.SELF_BUILT,
              department="总务处", custodian=zongwu)


def _classrooms(r: Register) -> None:
    classes = SchoolClass.objects.filter(org=r.org).select_related("home_room__building", "head_teacher")
    for school_class in classes.order_by("grade", "number"):
        room, head = school_class.home_room, school_class.head_teacher
        north = room.building.name == "启智楼"
        kit = 2019 if north else 2021
        screen = r.add("2020800", "触控一体机（86英寸）", 14800, r.date(kit, 8), room=room, custodian=head,
                       brand="希沃" if north else "鸿合", model="86英寸 i5/8G/256G", supplier=r.suppliers["教学设备"])
        screen.serial = f"SW{kit}{r.rng.randint(100000, 999999)}"
        if not north:
            r.add("2020200", "投影仪", 5600, r.date(2014, 8), room=room, custodian=head, brand="爱普生",
                  model="CB-X05", supplier=r.suppliers["办公设备"],
                  events=[(AssetEventCode.DISPOSAL_REQUEST, datetime.date(2021, 6, 18), AssetStatus.PENDING_DISPOSAL,
                           "更换触控一体机后申请报废"),
                          (AssetEventCode.DISPOSE, datetime.date(2021, 8, 26), AssetStatus.DISPOSED,
                           "报废处置，残值 80 元")])
        r.add("6010000.01", "学生课桌椅（单人升降）", 280, r.date(2019 if north else 2017, 8), qty=48, unit="套",
              room=room, custodian=head, brand="冠美", supplier=r.suppliers["家具"])
        r.add("6010200", "讲台", 1350, r.date(2019 if north else 2017, 8), unit="张", room=room, custodian=head,
              supplier=r.suppliers["家具"])
        for n in (1, 2):
            r.add("2200000", f"立柜式空调（3匹）{n}号", 6200, r.date(2020 if north else 2018, 6), room=room,
                  custodian=head, brand="格力", model="KFR-72LW", life=8, supplier=r.suppliers["电器"])
        r.add("2200000", "饮水机", 1680, r.date(2020, 9), room=room, custodian=head, brand="碧丽",
              supplier=r.suppliers["电器"])
        r.add("6010500", "图书角书柜", 680, r.date(2019 if north else 2017, 8), qty=2, unit="个", room=room,
              custodian=head, supplier=r.suppliers["家具"])
        for n in range(1, 5):
            r.add("2200000", f"吊扇 {n}号", 260, r.date(2015 if not north else 2019, 5), room=room, custodian=head,
                  brand="美的", supplier=r.suppliers["电器"])
        r.add("6010500", "学生储物柜", 1450, r.date(2022, 8), qty=2, unit="组", room=room, custodian=head,
              supplier=r.suppliers["家具"])
        r.add("6019900", "推拉式教学绿板", 2800, r.date(2019 if north else 2017, 8), unit="块", room=room,
              custodian=head, supplier=r.suppliers["教学设备"])
        r.add("6019900", "遮光窗帘", 120, r.date(2019 if north else 2017, 8), qty=8, unit="幅", room=room,
              custodian=head, supplier=r.suppliers["家具"])
        r.add("5010000", "班级图书角图书", Decimal(r.rng.randint(1800, 2600)) / 100, r.date(2023, 4),
              qty=150 + r.rng.randint(0, 10) * 10, unit="册", room=room, custodian=head, department="教务处",
              supplier=r.suppliers["图书"], note="“书香校园”班级图书角配书")


def _computer_rooms(r: Register) -> None:
    for room, year, price, brand, model in (("计算机房(1)", 2015, 3980, "联想", "启天M4650"),
                                            ("计算机房(2)", 2021, 4650, "联想", "启天M437"),
                                            ("北园计算机房", 2019, 4300, "清华同方", "超越E500")):
        day = r.date(year, 8)
        for n in range(1, 51):
            events = []
            if year == 2015 and n <= 6:
                events = [(AssetEventCode.DISPOSAL_REQUEST, datetime.date(2026, 6, 15),
                           AssetStatus.PENDING_DISPOSAL, "超过使用年限，主板故障，申请报废")]
            elif year == 2015 and n in (7, 8):
                events = [(AssetEventCode.REPAIR, datetime.date(2026, 10, 12), AssetStatus.REPAIRING, "硬盘故障送修")]
            spec = r.add("2010100", f"学生计算机 {n:02d}号", price, day, room=room, brand=brand, model=model,
                         events=events)
            spec.serial = f"{brand[:1]}{year}{r.rng.randint(1000000, 9999999)}"
        r.add("2010100", "教师计算机", price + 900, day, room=room, brand=brand, model=model)
        r.add("2010200", "接入交换机（48口）", 2800, day, room=room, brand="华为", model="S1730S-L48T")
        r.add("6010000.01", "学生电脑桌椅", 420, day, qty=50, unit="套", room=room, supplier=r.suppliers["家具"])
        r.add("2200000", "立柜式空调（5匹）", 9800, day, room=room, brand="格力", life=8, supplier=r.suppliers["电器"])
    # 智慧课堂 (2024): tablets kept in two charging carts in the recording classroom.
    day = r.date(2024, 9)
    for cart in (1, 2):
        r.add("6010500", f"平板充电柜 {cart}号", 6800, day, room="录播教室", funding=SPECIAL)
        for n in range(1, 49):
            spec = r.add("2010100", f"学生平板电脑 {cart}-{n:02d}", 2599, day, room="录播教室", brand="华为",
                         model="MatePad 11", funding=SPECIAL)
            spec.serial = f"HW{r.rng.randint(10000000, 99999999)}"


OFFICES = (
    # (room, department, number of desks, custodian usernames)
    ("校长室", "校长室", 1, ("principal",)), ("副校长室", "校长室", 2, ()),
    ("学校办公室", "办公室", 4, ("xiaoadmin",)), ("财务室", "财务室", 2, ("kuaiji",)),
    ("总务处办公室", "总务处", 4, ("zongwu", "zichan", "weixiu1", "weixiu2")), ("教务处", "教务处", 4, ()),
    ("德育处", "德育处", 4, ("suguan",)), ("安全办", "安全办", 2, ("anquan", "menwei")),
    ("医务室", "总务处", 1, ("baojian",)), ("北园办公室", "办公室", 3, ()),
    ("语文教研组办公室", "语文教研组", 8, ()), ("数学教研组办公室", "数学教研组", 8, ()),
    ("英语教研组办公室", "英语教研组", 6, ()),
)


def _offices(r: Register) -> None:
    users = r.ctx.users
    offices = list(OFFICES)
    grade_heads: dict[str, list] = defaultdict(list)
    for school_class in SchoolClass.objects.filter(org=r.org).select_related("head_teacher").order_by("grade",
                                                                                                      "number"):
        grade_heads[f"{school_class.get_grade_display()}组"].append(school_class.head_teacher)
    for grade, heads in grade_heads.items():
        offices.append((f"{grade}办公室", grade, 12, tuple(h.username for h in heads)))
    for room_name, department, desks, people in offices:
        room = r.room(room_name)
        if room is None:
            continue
        year = 2019 if room.building_id and room.building.name in ("启智楼", "北园综合楼") else 2016
        for n in range(1, desks + 1):
            person = users.get(people[(n - 1) % len(people)]) if people else None
            r.add("2010100", "台式计算机", 4980, r.date(year + 2, 9), room=room, department=department,
                  custodian=person, brand="联想", model="扬天M590 i5/8G/512G")
            if year == 2016:  # the computer it replaced, bought in 2012 and written off in 2018
                r.add("2010100", "台式计算机", 4200, r.date(2012, 9), room=room, department=department,
                      custodian=person, brand="联想", model="启天M4350",
                      events=[(AssetEventCode.DISPOSAL_REQUEST, datetime.date(2018, 6, 20),
                               AssetStatus.PENDING_DISPOSAL, "使用满 6 年，性能不能满足教学需要"),
                              (AssetEventCode.DISPOSE, datetime.date(2018, 9, 28), AssetStatus.DISPOSED,
                               "报废处置，交由县教育局统一回收")])
            r.add("6010200", "办公桌", 1200, r.date(year, 8), unit="张", room=room, department=department,
                  custodian=person, supplier=r.suppliers["家具"])
            r.add("6010300", "办公椅", 450, r.date(year, 8), unit="把", room=room, department=department,
                  custodian=person, supplier=r.suppliers["家具"])
            if n % 2 == 1:
                r.add("6010500", "文件柜", 1100, r.date(year, 8), unit="组", room=room, department=department,
                      custodian=person, supplier=r.suppliers["家具"])
        for n in range(1, 2 + desks // 6):
            r.add("2200000", f"空调 {n}号", 4600, r.date(year + 2, 6), room=room, department=department,
                  brand="格力", model="KFR-35GW", life=8, supplier=r.suppliers["电器"])
        r.add("2020400", "多功能一体机（打印复印扫描）", 2680, r.date(2022, 3), room=room, department=department,
              brand="惠普", model="M232dwc", supplier=r.suppliers["办公设备"])
        old_printer = r.add("2010600", "激光打印机", 1580, r.date(2014, 4), room=room, department=department,
                            brand="惠普", model="P1106", supplier=r.suppliers["办公设备"])
        old_printer.events = [(AssetEventCode.IDLE, datetime.date(2022, 3, 20), AssetStatus.IDLE,
                               "已由多功能一体机替代，暂存总务仓库")]
    # Laptops for the leadership and the teaching-research heads (2023 信息化 programme); two are on loan.
    for n, username in enumerate(("principal", "xiaoadmin", "zongwu", "kuaiji", "anquan", "jiaoshi1", "jiaoshi8",
                                  "jiaoshi15", "jiaoshi22", "jiaoshi28", "jiaoshi34"), start=1):
        spec = r.add("2010100", "笔记本计算机", 5600, r.date(2023, 9), room="学校办公室", department="办公室",
                     custodian=users.get(username), brand="华为", model="MateBook 14")
        if n in (6, 7):
            spec.events = [(AssetEventCode.LEND, datetime.date(2026, 10, 9), AssetStatus.LENT,
                            "借给教研组外出赛课使用，约定 2026-11-30 前归还")]
    for n in range(1, 61):  # teachers without an account keep theirs themselves: no custodian on the card
        r.add("2010100", f"教师笔记本计算机 {n:02d}", 4999, r.date(2023, 9), room="教务处", department="教务处",
              brand="联想", model="ThinkBook 14", funding=SPECIAL)
    camera = r.add("2020500", "数码照相机", 6200, r.date(2018, 5), room="学校办公室", department="办公室",
                   brand="佳能", model="EOS 800D")
    camera.events = [(AssetEventCode.LOSE, datetime.date(2025, 12, 3), AssetStatus.LOST,
                      "校运会后未归还，已报告总务处，待查")]


def _function_rooms(r: Register) -> None:
    arts = r.suppliers["乐器"]
    for room in ("音乐室(1)", "音乐室(2)", "北园音乐室"):
        year = 2019 if room.startswith("北园") else 2013
        r.add("3300000", "立式钢琴", 18500, r.date(year, 9), room=room, brand="珠江", model="UP118", unit="架",
              supplier=arts)
        r.add("3300000", "电子琴", 1280, r.date(year, 9), qty=24, unit="台", room=room, brand="雅马哈",
              model="PSR-E373", supplier=arts)
        r.add("2320000", "教学音响系统", 6800, r.date(year, 9), unit="套", room=room, brand="惠威")
        r.add("6010000.01", "合唱台及学生椅", 260, r.date(year, 9), qty=50, unit="套", room=room,
              supplier=r.suppliers["家具"])
    for room in ("美术室", "北园美术室"):
        year = 2019 if room.startswith("北园") else 2013
        r.add("6019900", "写生画架", 180, r.date(year, 9), qty=48, unit="个", room=room, batch=True,
              supplier=r.suppliers["教学设备"])
        r.add("6010000.01", "美术课桌椅", 520, r.date(year, 9), qty=48, unit="套", room=room,
              supplier=r.suppliers["家具"])
    r.add("6010000.01", "书法课桌（双人）", 650, r.date(2013, 9), qty=24, unit="张", room="书法室",
          supplier=r.suppliers["家具"])
    r.add("6019900", "舞蹈把杆及镜面墙", 8600, r.date(2013, 9), unit="套", room="舞蹈室")
    r.add("2320000", "常态化录播系统", 186000, r.date(2020, 11), unit="套", room="录播教室", brand="奥威亚",
          model="AW-RS1000", funding=SPECIAL)
    r.add("2020800", "触控一体机（98英寸）", 32000, r.date(2020, 11), room="录播教室", brand="希沃")
    for room in ("科学实验室(1)", "科学实验室(2)", "北园科学室"):
        year = 2019 if room.startswith("北园") else 2012
        r.add("6010200", "学生实验台", 1850, r.date(year, 8), qty=24, unit="张", room=room,
              supplier=r.suppliers["教学设备"])
        r.add("3290000", "学生显微镜", 860, r.date(year, 9), qty=24, room=room, batch=True, brand="麦克奥迪",
              model="DM-XSP", supplier=r.suppliers["教学设备"])
        r.add("3290000", "小学科学分组实验仪器", 6800, r.date(year, 9), qty=6, unit="套", room=room,
              supplier=r.suppliers["教学设备"])
        r.add("2100000", "实验室通风系统", 26000, r.date(year, 8), unit="套", room=room)
    r.add("3290000", "小学科学演示仪器", 32000, r.date(2012, 9), unit="批", room="科学仪器室", batch=True,
          supplier=r.suppliers["教学设备"])
    r.add("3290000", "人体骨骼模型", 2400, r.date(2012, 9), unit="具", room="科学仪器室")
    r.add("6010500", "仪器柜", 1600, r.date(2012, 9), qty=12, unit="组", room="科学仪器室",
          supplier=r.suppliers["家具"])
    # Library: books by the year (not depreciated), shelves, a self-service terminal.
    for year in range(2012, 2027):
        for month, what, method in ((4, "春季采购图书", P), (10, "秋季采购图书", P),
                                    (6, "社会捐赠图书", AcquisitionMethod.DONATION)):
            if year == 2026 and month > 8:
                continue
            volumes = (800 if method == P else 200) + r.rng.randint(0, 12) * 100
            r.add("5010000", f"{year}年{what}", Decimal(r.rng.randint(2450, 3280)) / 100, r.date(year, month),
                  qty=volumes, unit="册", room="图书室", department="教务处", method=method,
                  funding=FISCAL if method == P else "", supplier=r.suppliers["图书"] if method == P else "")
    r.add("6010600", "双面钢制书架", 1150, r.date(2012, 8), qty=40, unit="个", room="图书室",
          supplier=r.suppliers["家具"])
    r.add("2010400", "自助借还书机", 26800, r.date(2021, 10), room="图书室", brand="图创")
    r.add("6010000.01", "阅览桌椅", 880, r.date(2012, 8), qty=20, unit="套", room="学生阅览室",
          supplier=r.suppliers["家具"])
    r.add("6010000.01", "绘本阅览桌椅", 620, r.date(2019, 8), qty=30, unit="套", room="绘本阅览室",
          supplier=r.suppliers["家具"])
    r.add("3290000", "心理沙盘", 4800, r.date(2020, 5), unit="套", room="心理辅导室")
    r.add("3300000", "少先队鼓号队乐器", 12600, r.date(2014, 5), unit="套", room="少先队活动室", supplier=arts)
    r.add("4020000", "校史陈列展品", 45000, r.date(2016, 9), unit="批", room="校史室", department="办公室",
          method=AcquisitionMethod.DONATION, funding="", note="历届校友捐赠")
    r.add("2040000", "档案密集架", 46000, r.date(2016, 7), unit="组", room="档案室", department="办公室")
    r.add("2020700", "LED全彩显示屏", 68000, r.date(2018, 8), unit="块", room="大会议室", department="办公室",
          brand="洲明")
    r.add("2320000", "会议扩声系统", 28000, r.date(2018, 8), unit="套", room="大会议室", department="办公室")
    r.add("6010000.01", "报告厅排椅", 560, r.date(2018, 8), qty=120, unit="位", room="大会议室",
          department="办公室", supplier=r.suppliers["家具"])
    r.add("6010200", "会议桌", 8800, r.date(2016, 8), unit="张", room="小会议室", department="办公室",
          supplier=r.suppliers["家具"])
    r.add("2020200", "投影仪", 5600, r.date(2016, 8), room="小会议室", department="办公室", brand="爱普生")
    r.add("2020300", "电动投影幕", 1200, r.date(2016, 8), unit="幅", room="小会议室", department="办公室")
    # Server room.
    for name, code, price, brand in (
        ("服务器", "2010100", 38000, "华为"), ("服务器", "2010100", 38000, "华为"),
        ("核心交换机", "2010200", 56000, "华为"), ("下一代防火墙", "2010300", 42000, "深信服"),
        ("网络存储", "2010500", 35000, "群晖"), ("UPS不间断电源", "2200000", 18000, "山特"),
        ("机房精密空调", "2100000", 32000, "艾默生"),
    ):
        r.add(code, name, price, r.date(2018, 7), room="网络中心机房", department="教务处", brand=brand,
              funding=SPECIAL)
    r.add("2320000", "校园广播系统", 58000, r.date(2016, 7), unit="套", room="网络中心机房", department="德育处",
          brand="ITC")
    r.add("2320000", "校园视频监控系统", 126000, r.date(2019, 7), unit="套", room="南门门卫室", department="安全办",
          brand="海康威视", funding=SPECIAL)
    r.add("2030000", "电动巡逻车", 38000, r.date(2022, 4), unit="辆", room="南门门卫室", department="安全办",
          custodian=r.ctx.users.get("anquan"), brand="绿通")
    for room in ("医务室", "北园医务室"):
        year = 2019 if room.startswith("北园") else 2014
        r.add("3220000", "身高体重测量仪", 3800, r.date(year, 9), room=room, department="总务处")
        r.add("3220000", "诊察床", 1600, r.date(year, 9), unit="张", room=room, department="总务处")
        r.add("3220000", "紫外线消毒车", 2200, r.date(year, 9), room=room, department="总务处")
        r.add("3220000", "视力表灯箱", 380, r.date(year, 9), room=room, department="总务处")
    for building, count in (("明德楼", 4), ("至善楼", 4), ("启智楼", 3), ("行政楼", 2)):
        for n in range(1, count + 1):
            r.add("2200000", f"{building}电开水器 {n}号", 3200, r.date(2017 if building != "启智楼" else 2019, 8),
                  department="总务处", brand="碧涞", note=f"{building}{n}层开水间")


def _canteen_sports_dorm(r: Register) -> None:
    kitchen = r.suppliers["厨房设备"]
    shitang = r.ctx.users.get("shitang")
    for name, code, price, qty, room in (
        ("燃气蒸饭柜（24盘）", "3140000", 12800, 2, "加工操作间"), ("燃气大锅灶", "3140000", 15000, 2, "加工操作间"),
        ("和面机", "3140000", 4600, 1, "加工操作间"), ("多功能切菜机", "3140000", 5200, 1, "加工操作间"),
        ("四门冷藏柜", "2100000", 8900, 2, "加工操作间"), ("组合式冷库", "2100000", 68000, 1, "副食库"),
        ("食品留样柜", "2100000", 3200, 1, "留样间"), ("高温消毒柜", "2200000", 6500, 3, "洗消间"),
        ("商用洗碗机", "3140000", 38000, 1, "洗消间"),
        ("学生餐桌椅（六人位）", "6010200", 1280, 100, "学生餐厅"),
        ("教工餐桌椅", "6010200", 1680, 20, "教工餐厅"),
        ("北园燃气蒸饭柜", "3140000", 11800, 1, "北园操作间"),
        ("北园高温消毒柜", "2200000", 6200, 2, "北园操作间"),
        ("北园学生餐桌椅（六人位）", "6010200", 1280, 60, "北园餐厅"),
    ):
        year = 2019 if name.startswith("北园") else 2015
        for n in range(1, qty + 1) if qty <= 3 else (1,):
            r.add(code, f"{name}" + (f" {n}号" if 1 < qty <= 3 else ""), price, r.date(year, 8),
                  qty=qty if qty > 3 else 1, unit="套" if qty > 3 else "台", room=room, department="总务处",
                  custodian=shitang, supplier=kitchen)
    sports = r.suppliers["体育用品"]
    for name, code, price, qty, unit, room, batch in (
        ("液压篮球架", "3310000", 8600, 4, "副", "篮球场", False),
        ("室内篮球架", "3310000", 12800, 2, "副", "室内篮球馆", False),
        ("乒乓球台", "3310000", 2300, 12, "张", "乒乓球室", False),
        ("五人制足球门", "3310000", 3800, 2, "副", "田径场", False),
        ("跳高架", "3310000", 1600, 2, "副", "体育器材室", False),
        ("体操垫", "3310000", 260, 60, "块", "体育器材室", True),
        ("实心球", "3310000", 45, 80, "个", "体育器材室", False),
        ("跨栏架", "3310000", 320, 20, "个", "体育器材室", True),
        ("LED电子记分屏", "2020700", 12000, 1, "块", "室内篮球馆", False),
        ("形体训练把杆", "6019900", 6800, 1, "套", "形体训练室", False),
        ("北园篮球架", "3310000", 8600, 2, "副", "北园篮球场", False),
    ):
        year = 2019 if name.startswith("北园") else (2018 if room in ("室内篮球馆", "乒乓球室", "形体训练室") else 2016)
        day = r.date(year, 8)
        if price >= 1000 and qty > 1:  # each one on its own card, like the register on paper
            for n in range(1, qty + 1):
                r.add(code, f"{name} {n}号", price, day, unit=unit, room=room, supplier=sports)
        else:
            r.add(code, name, price, day, qty=qty, unit=unit, room=room, batch=batch, supplier=sports)
    suguan = r.ctx.users.get("suguan")
    for room in Room.objects.filter(org=r.org, room_type="dorm").order_by("name"):
        r.add("6010000.01", "学生双层床", 1350, r.date(2016, 8), qty=4, unit="张", room=room, custodian=suguan,
              supplier=r.suppliers["家具"])
        r.add("2200000", "挂壁式空调（1.5匹）", 3600, r.date(2018, 6), room=room, custodian=suguan, brand="美的",
              life=8, supplier=r.suppliers["电器"])
        r.add("6010000.01", "学生衣柜", 780, r.date(2016, 8), qty=2, unit="组", room=room, custodian=suguan,
              supplier=r.suppliers["家具"])


# --- The kindergarten ---------------------------------------------------------------------------------------------
def _kindergarten(r: Register) -> None:
    zw = r.ctx.users.get("yey_zw")
    r.add("1010000", "园区土地", "1.00", datetime.date(2014, 6, 30), unit="宗", area=Decimal(8600),
          method=AcquisitionMethod.ALLOCATION, funding="", department="总务处", custodian=zw,
          note="无偿划拨，以名义金额入账")
    for building in Building.objects.filter(org=r.org).order_by("name"):
        area = building.floor_area_m2 or Decimal(1000)
        r.add("1020000", building.name, (area * 2350).quantize(Decimal("1")), datetime.date(building.built_year or 2014,
                                                                                            8, 31),
              unit="栋", area=area, structure=BuildingStructure.CONCRETE, method=AcquisitionMethod.SELF_BUILT,
              department="总务处", custodian=zw)
    classes = SchoolClass.objects.filter(org=r.org).select_related("home_room", "head_teacher")
    for school_class in classes.order_by("grade", "number"):
        room, head = school_class.home_room, school_class.head_teacher
        label = f"{school_class.get_grade_display()}({school_class.number})班"
        bedroom = r.room(f"{label}寝室")
        r.add("2020800", "教学一体机（75英寸）", 9800, r.date(2020, 8), room=room, custodian=head, brand="希沃")
        r.add("6010000.01", "幼儿桌椅", 210, r.date(2014, 8), qty=36, unit="套", room=room, custodian=head,
              supplier=r.suppliers["家具"])
        r.add("6010000.01", "幼儿午睡床", 460, r.date(2014, 8), qty=36, unit="张", room=bedroom or room,
              custodian=head, supplier=r.suppliers["家具"])
        r.add("6010500", "玩具柜", 560, r.date(2014, 8), qty=6, unit="组", room=room, custodian=head, batch=True,
              supplier=r.suppliers["家具"])
        r.add("3300000", "电钢琴", 4200, r.date(2017, 9), room=room, custodian=head, brand="卡西欧",
              supplier=r.suppliers["乐器"])
        for n in (1, 2):
            r.add("2200000", f"空调 {n}号", 4300, r.date(2018, 6), room=room if n == 1 else bedroom or room,
                  custodian=head, brand="格力", life=8, supplier=r.suppliers["电器"])
        r.add("2200000", "紫外线消毒灯", 680, r.date(2016, 3), room=room, custodian=head)
        r.add("3320000", "区角玩教具", 3200, r.date(2021, 3), unit="批", room=room, custodian=head, batch=True,
              supplier=r.suppliers["教学设备"])
        r.add("5010000", "幼儿绘本", Decimal(r.rng.randint(1800, 3600)) / 100, r.date(2022, 4), qty=120, unit="册",
              room=room, custodian=head, supplier=r.suppliers["图书"])
    for name, code, price, qty, unit, room in (
        ("大型组合滑梯", "3320000", 86000, 1, "套", "大型玩具区"),
        ("幼儿攀爬架", "3320000", 12800, 1, "套", "户外活动场"),
        ("秋千", "3320000", 3600, 2, "架", "户外活动场"), ("沙水游戏设施", "3320000", 18000, 1, "套", "沙水区"),
        ("幼儿平衡车", "3310000", 480, 30, "辆", "户外活动场"), ("三角钢琴", "3300000", 68000, 1, "架", "多功能厅"),
        ("舞台灯光音响", "2320000", 36000, 1, "套", "多功能厅"), ("身高体重测量仪", "3220000", 3800, 1, "台", "保健室"),
        ("蒸饭柜", "3140000", 9800, 1, "台", "厨房"), ("消毒柜", "2200000", 5200, 2, "台", "厨房"),
        ("冷藏柜", "2100000", 7800, 1, "台", "厨房"), ("食品留样柜", "2100000", 2900, 1, "台", "厨房"),
        ("台式计算机", "2010100", 4800, 6, "台", "保教处办公室"),
        ("多功能一体机（打印复印扫描）", "2020400", 2680, 1, "台", "总务处办公室"),
        ("办公桌椅", "6010200", 1600, 12, "套", "保教处办公室"), ("视频监控系统", "2320000", 48000, 1, "套", "门卫室"),
    ):
        batch = name == "幼儿平衡车"
        r.add(code, name, price, r.date(2014 if price > 20000 else 2016, 8), qty=qty, unit=unit, room=room,
              batch=batch, supplier=r.suppliers["教学设备"])


@demo_step("资产卡片与折旧", order=200)
def assets(ctx: DemoContext) -> None:
    ensure_categories()
    primary = Register(ctx, PRIMARY)
    _land_and_buildings(primary)
    _classrooms(primary)
    _computer_rooms(primary)
    _offices(primary)
    _function_rooms(primary)
    _canteen_sports_dorm(primary)
    primary.write()
    kindergarten = Register(ctx, KINDERGARTEN)
    _kindergarten(kindergarten)
    kindergarten.write()


# Each part of the app adds its demo step in a module of its own (orders after this one's).
from houqin.assets import demo_custody, demo_disposal, demo_stocktake  # noqa: E402,F401
