"""Demo data of the repairs app: work orders (imported by houqin/repairs/demo.py).

About eight months of repairs up to today for the demo primary school (about 2,500 orders: some 18 a school day,
fewer in the holidays and at weekends) and the kindergarten (about 500): every category, real rooms (classrooms,
toilets, offices, the canteen, the playground…) and, for appliances and multimedia, the asset card of the room;
reported by the class teachers, the office (代报), the guard, the safety officer's inspection rounds and visitors
scanning a label; dispatched to the two technicians by trade; most of them done, signed off and called back, some
rated badly or reopened, some merged as duplicates, rejected or cancelled, a few waiting for parts or an outside
firm, a few overdue. Times follow the SLA clocks of ``houqin.repairs.sla`` (the late ones are flagged), costs the
materials, hours and outside bills.

Idempotent and deterministic: each day's orders are numbered ``BX-<day>-NNN`` and generated from a random generator
seeded with the school and the day; a day whose first number exists is skipped, so a second run creates nothing and
a run on a later day adds the days since. Everything is bulk-created (no change-log entries); the open orders get
their SLA reminders, the finished ones not yet called back their 回访 reminder.
"""

from __future__ import annotations

import datetime
import random
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from houqin.core.demo import KINDERGARTEN, PRIMARY, DemoContext, demo_step
from houqin.core.models import DocumentSequence, Room, RoomType, Term
from houqin.repairs import conf, sla
from houqin.repairs.defaults import ensure_defaults
from houqin.repairs.models import (
    DONE_STATES,
    OPEN_STATES,
    EventAction,
    RepairCategory,
    Scale,
    Source,
    State,
    Technician,
    Trade,
    Urgency,
    WorkOrder,
    WorkOrderEvent,
    WorkOrderMaterial,
)

DAYS_BACK = 200
CENT = Decimal("0.01")

# Per category: (weight, rooms it happens in, faults, materials (name, unit, price)).
FAULTS = {
    "水电": (30, (RoomType.TOILET, RoomType.CLASSROOM, RoomType.OFFICE, RoomType.CANTEEN, RoomType.KITCHEN,
                  RoomType.DORM, RoomType.LAB), (
        "水龙头关不紧，一直滴水", "洗手池下水堵塞，积水排不出去", "蹲便器冲水阀坏了，一直流水", "教室日光灯不亮",
        "灯管闪烁，学生反映看黑板晃眼", "墙上插座松动，插头插不稳", "开关面板破损，露出电线", "走廊感应灯不亮",
        "饮水处水管接头漏水", "小便池感应器失灵", "拖把池水管爆裂，地面积水", "配电箱跳闸，半间教室没电"),
        (("水龙头", "个", "35.00"), ("阀芯", "个", "15.50"), ("LED 灯管", "根", "28.00"), ("生料带", "卷", "2.00"),
         ("插座面板", "个", "12.00"), ("开关面板", "个", "10.00"), ("冲水阀", "个", "65.00"),
         ("PPR 管件", "个", "6.50"), ("空气开关", "个", "45.00"))),
    "门窗": (18, (RoomType.CLASSROOM, RoomType.OFFICE, RoomType.TOILET, RoomType.DORM, RoomType.FUNCTION), (
        "教室前门门锁坏了，锁不上", "窗户推拉不动", "窗户玻璃有裂纹，有安全隐患", "门合页松动，门关不严",
        "纱窗破了，蚊子进来", "窗帘轨道脱落", "卫生间隔板门插销坏了", "门把手掉了", "闭门器漏油"),
        (("门锁", "把", "85.00"), ("合页", "副", "18.00"), ("玻璃（按面积）", "块", "120.00"), ("纱网", "米", "8.00"),
         ("插销", "个", "6.00"), ("窗帘滑轮", "个", "1.50"), ("门把手", "个", "25.00"))),
    "桌椅": (15, (RoomType.CLASSROOM, RoomType.OFFICE, RoomType.DORM, RoomType.LAB, RoomType.FUNCTION), (
        "课桌桌面开裂，划伤学生", "椅子腿松动，坐上去晃", "讲台抽屉拉不开", "课桌升降螺丝脱落", "书柜柜门掉了",
        "学生床铺床板断裂", "椅子靠背断了", "实验桌桌腿不稳"),
        (("螺丝", "包", "5.00"), ("桌面板", "块", "60.00"), ("椅面", "个", "35.00"), ("床板", "块", "80.00"),
         ("柜门铰链", "个", "8.00"))),
    "电器": (15, (RoomType.CLASSROOM, RoomType.OFFICE, RoomType.CANTEEN, RoomType.KITCHEN, RoomType.DORM,
                  RoomType.CLINIC), (
        "空调不制冷", "空调滴水，滴到学生座位上", "吊扇转起来晃得厉害", "电扇不转", "饮水机不加热",
        "消毒柜不工作", "热水器不出热水", "冰箱不制冷", "空调遥控器失灵"),
        (("空调冷媒", "瓶", "180.00"), ("电扇电容", "个", "15.00"), ("加热管", "根", "45.00"),
         ("遥控器", "个", "30.00"), ("排水管", "米", "6.00"))),
    "网络多媒体": (12, (RoomType.CLASSROOM, RoomType.FUNCTION, RoomType.OFFICE, RoomType.MEETING, RoomType.LAB), (
        "一体机开不了机", "一体机触摸不灵", "投影仪画面发黄", "教室音响没有声音", "无线网络连不上",
        "广播听不到", "话筒没有声音", "电脑无法上网", "班班通黑屏"),
        (("HDMI 线", "根", "35.00"), ("网线水晶头", "个", "1.00"), ("音频线", "根", "20.00"),
         ("无线话筒电池", "节", "5.00"), ("网线", "米", "2.50"))),
    "土建": (5, (RoomType.CLASSROOM, RoomType.TOILET, RoomType.OUTDOOR, RoomType.SPORTS, RoomType.DORM), (
        "屋顶漏水，雨天天花板滴水", "墙皮脱落", "地砖松动翘起", "台阶破损，容易绊倒", "操场围栏松动",
        "卫生间墙砖脱落", "下雨后门口积水"),
        (("水泥", "袋", "30.00"), ("瓷砖", "片", "12.00"), ("防水涂料", "桶", "260.00"), ("腻子粉", "袋", "35.00"))),
    "其他": (5, (RoomType.OUTDOOR, RoomType.SPORTS, RoomType.STOREROOM, RoomType.GUARD, RoomType.OTHER), (
        "篮球架篮网坏了", "旗杆升旗绳断了", "宣传栏玻璃碎了", "单杠松动", "路灯不亮", "垃圾桶破损"),
        (("篮网", "个", "25.00"), ("升旗绳", "根", "30.00"), ("螺栓", "套", "8.00"))),
}
OUTSIDE_JOBS = {"电器": ("空调压缩机损坏，需专业维修", "县城格力空调特约维修部", (800, 2600)),
                "土建": ("屋顶防水层老化，需防水公司处理", "某某防水工程有限公司", (1500, 6000)),
                "网络多媒体": ("一体机主板损坏，需厂家维修", "希沃售后服务站", (600, 1800))}
COMMENTS = {5: ("修得很快，谢谢师傅", "当天就修好了", "师傅很负责", ""), 4: ("修好了", "比较及时", ""),
            3: ("拖了两天才修", "修好了，但地上没清理"), 2: ("等了很久", "修完没多久又坏了"), 1: ("报修三次才来修",)}
VISIT_NOTES = ("电话回访，报修人表示已正常使用", "回访：使用正常，满意", "现场回访，已修好",
               "微信回访，报修人确认已修好")
REJECT_REASONS = ("不属于学校财产，已告知家长", "属于厂家保修范围，已联系供应商上门", "经查看无故障，使用方法有误")
CANCEL_REASONS = ("报修人自行处理好了", "重复提交，报修人取消")
TECH_PROFILES = {PRIMARY: (("weixiu1", [Trade.CARPENTRY, Trade.CIVIL, Trade.NETWORK, Trade.GENERAL]),
                           ("weixiu2", [Trade.PLUMBING_ELECTRIC, Trade.APPLIANCE])),
                 KINDERGARTEN: (("yey_zw", [Trade.GENERAL]),)}
PER_DAY = {PRIMARY: (18, 5, 1), KINDERGARTEN: (4, 1, 0)}  # a school day, a holiday weekday, a weekend day


class Generator:
    """Writes one school's missing days of orders."""

    def __init__(self, ctx: DemoContext, org_key: str):
        self.ctx, self.org_key = ctx, org_key
        self.org = ctx.org(org_key)
        ensure_defaults(self.org)
        self.categories = {c.name: c for c in RepairCategory.objects.filter(org=self.org)}
        self.rooms = defaultdict(list)
        for room in Room.objects.filter(org=self.org, is_active=True).select_related("campus", "building",
                                                                                       "responsible"):
            self.rooms[room.room_type].append(room)
        self.all_rooms = [r for rooms in self.rooms.values() for r in rooms]
        self.terms = list(Term.objects.filter(org=self.org).values_list("start_date", "end_date"))
        self.teachers = [u for name, u in ctx.users.items()
                         if name.startswith("jiaoshi" if org_key == PRIMARY else "yey_js")]
        self.office = ctx.user("zongwu" if org_key == PRIMARY else "yey_zw")
        self.inspector = ctx.user("anquan") if org_key == PRIMARY else self.office
        self.guard = ctx.user("menwei") if org_key == PRIMARY else None
        self.technicians = self._technicians()
        self.assets = self._assets()
        self.rate = conf.labour_rate(self.org)
        self.calendars = {}

    def _technicians(self) -> list[tuple[object, list[str]]]:
        result = []
        for username, trades in TECH_PROFILES[self.org_key]:
            user = self.ctx.user(username)
            self.ctx.upsert(Technician, {"org": self.org, "user": user}, create_only={"trades": trades})
            result.append((user, trades))
        return result

    def _assets(self) -> dict[int, list]:
        """Appliances and multimedia of each room (asset cards of the assets demo), to report faults on."""
        try:
            from houqin.assets.models import Asset
        except ImportError:
            return {}
        keywords = ("空调", "一体机", "电扇", "风扇", "投影", "电脑", "计算机", "音响", "饮水机", "消毒柜", "冰箱")
        by_room = defaultdict(list)
        cards = (Asset.objects.filter(org=self.org, room__isnull=False, disposed_on__isnull=True)
                 .exclude(status__in=("disposed", "lost")).only("pk", "name", "number", "room_id"))
        for card in cards:
            if any(k in card.name for k in keywords):
                by_room[card.room_id].append(card)
        return by_room

    def in_term(self, day: datetime.date) -> bool:
        return any(start <= day <= end for start, end in self.terms)

    def calendar(self, urgency: str) -> sla.WorkCalendar:
        if urgency not in self.calendars:
            limits = sla.limits_for(self.org, None, urgency)
            self.calendars[urgency] = (sla.WorkCalendar.for_org(self.org, all_hours=limits.all_hours), limits)
        return self.calendars[urgency]

    # --- Generation -----------------------------------------------------------------------------------------
    def run(self) -> int:
        today = self.ctx.today
        existing = set(WorkOrder.objects.filter(org=self.org, number__startswith="BX-", number__endswith="-001")
                       .values_list("number", flat=True))
        self.orders, self.events, self.materials = [], [], []
        self.paths: list[list] = []
        for back in range(DAYS_BACK, -1, -1):
            day = today - timedelta(days=back)
            if f"BX-{day:%Y%m%d}-001" in existing:
                continue
            self.day(day, today)
        if not self.orders:
            return 0
        for order in self.orders:
            order.refresh_search_index()
        WorkOrder.objects.bulk_create(self.orders, batch_size=500)
        by_number = {o.number: o for o in WorkOrder.objects.filter(org=self.org, number__in=[
            o.number for o in self.orders])}
        for order in self.orders:
            order.pk = by_number[order.number].pk
        merged = [o for o in self.orders if o.duplicate_of_number]
        for order in merged:
            order.duplicate_of_id = by_number[order.duplicate_of_number].pk
        WorkOrder.objects.bulk_update(merged, ["duplicate_of"], batch_size=500)
        events = []
        for order, path in zip(self.orders, self.paths, strict=True):
            events += [WorkOrderEvent(org=self.org, order_id=order.pk, **step) for step in path]
        WorkOrderEvent.objects.bulk_create(events, batch_size=1000)
        for material in self.materials:
            material.order_id = material.order.pk
        WorkOrderMaterial.objects.bulk_create(self.materials, batch_size=1000)
        self.reminders()
        self.counters(today)
        return len(self.orders)

    def day(self, day: datetime.date, today: datetime.date) -> None:
        rng = self.ctx.rng(f"repairs:{self.org_key}:{day.isoformat()}")
        school_day, holiday, weekend = PER_DAY[self.org_key]
        mean = weekend if day.isoweekday() >= 6 else school_day if self.in_term(day) else holiday
        count = max(0, round(rng.gauss(mean, mean / 4))) if mean else (1 if rng.random() < 0.3 else 0)
        made_today: list[WorkOrder] = []
        first, last = (7 * 60 + 40, 17 * 60) if day.isoweekday() < 6 else (9 * 60, 17 * 60)
        times = sorted(rng.randint(first * 60, last * 60 + 59) for _ in range(count))  # seconds of the day
        for n, second in enumerate(times, start=1):
            order = self.order(rng, day, n, second, made_today)
            if order is not None:
                made_today.append(order)

    def order(self, rng: random.Random, day, n: int, second: int, made_today) -> WorkOrder | None:
        name = rng.choices(list(FAULTS), weights=[f[0] for f in FAULTS.values()])[0]
        _, room_types, faults, catalogue = FAULTS[name]
        candidates = [r for t in room_types for r in self.rooms.get(t, [])] or self.all_rooms
        if not candidates:
            return None
        room = rng.choice(candidates)
        category = self.categories[name]
        asset = None
        if name in ("电器", "网络多媒体") and self.assets.get(room.pk) and rng.random() < 0.8:
            asset = rng.choice(self.assets[room.pk])
        reported = timezone.make_aware(datetime.datetime.combine(day, datetime.time(
            second // 3600, second // 60 % 60, second % 60)))
        now = timezone.now()
        today = self.ctx.today
        if reported > now:
            return None  # later today: not reported yet
        urgency = rng.choices([Urgency.NORMAL, Urgency.URGENT, Urgency.CRITICAL], weights=[84, 13, 3])[0]
        reporter, reporter_name, phone, source, entered_by = self.reporter(rng, room)
        order = WorkOrder(
            org=self.org, number=f"BX-{day:%Y%m%d}-{n:03d}", room=room, building_id=room.building_id, asset=asset,
            category=category, description=rng.choice(faults), urgency=urgency, source=source,
            reporter=reporter, reporter_name=reporter_name, reporter_phone=phone, entered_by=entered_by,
            reported_at=reported, state_changed_at=reported, labour_rate=self.rate,
            reference=f"XJ-{day:%Y%m%d}" if source == Source.INSPECTION else "",
        )
        order.org = self.org
        order.place_text = order.compute_place_text()
        order.duplicate_of_number = ""
        path = [self.event(EventAction.REPORT, reported, entered_by or reporter, "", State.NEW,
                           name=reporter_name, reason="代报" if source == Source.PROXY else "")]
        same = [o for o in made_today if o.room_id == room.pk and o.category_id == category.pk and o.asset_id == (
            asset.pk if asset else None)]
        if same and rng.random() < 0.7:
            original = same[0]
            order.state, order.closed_at = State.MERGED, reported
            order.duplicate_of_number = original.number
            order.close_reason = f"与 {original.number} 为同一故障，已合并处理"
            path.append(self.event(EventAction.MERGE, reported, None, State.NEW, State.MERGED,
                                   reason=f"合并到 {original.number}"))
        else:
            self.life(rng, order, path, catalogue, today, now)
        self.orders.append(order)
        self.paths.append(path)
        return order

    def reporter(self, rng, room):
        roll = rng.random()
        teacher = room.responsible if room.responsible_id and rng.random() < 0.7 else (
            rng.choice(self.teachers) if self.teachers else self.office)
        if roll < 0.62:
            return teacher, "", teacher.phone, Source.FORM, teacher
        if roll < 0.78:
            return teacher, "", teacher.phone, Source.SCAN, teacher
        if roll < 0.86:
            return self.inspector, "", self.inspector.phone, Source.INSPECTION, self.inspector
        if roll < 0.95 or self.guard is None:
            name, phone = self.ctx.person(f"repairs:caller:{rng.randint(1, 40)}")
            return None, name, phone, Source.PROXY, self.office
        return None, self.guard.get_full_name(), self.guard.phone, Source.PROXY, self.office

    def event(self, action, time, actor, from_state, to_state, *, name: str = "", reason: str = "", data=None):
        return {"action": action, "time": time, "actor": actor, "actor_name": (
            actor.get_full_name() if actor else (name or "系统"))[:80], "from_state": from_state,
            "to_state": to_state, "reason": reason[:300], "data": data or {}}

    def technician_for(self, rng, category):
        fitting = [u for u, trades in self.technicians if category.trade in trades or Trade.GENERAL in trades]
        return rng.choice(fitting or [u for u, _ in self.technicians])

    def life(self, rng, order: WorkOrder, path: list, catalogue, today, now) -> None:
        """What happened to the order until now, step by step along its SLA clocks."""
        calendar, limits = self.calendar(order.urgency)
        age = (today - timezone.localdate(order.reported_at)).days
        if rng.random() < 0.10 and order.category.name in ("门窗", "土建", "电器", "水电"):
            order.scale = Scale.MAJOR
        due = sla.due_times(self.org, order.category, order.urgency, order.scale, order.reported_at, limits)
        order.accept_due, order.start_due, order.finish_due = due.accept, due.start, due.finish
        late = rng.random() < 0.12  # the share of jobs that run late
        office = self.office
        # Closed without a repair.
        roll = rng.random()
        if roll < 0.025:
            when = calendar.add_minutes(order.reported_at, rng.randint(10, 90))
            if when < now:
                reason = rng.choice(REJECT_REASONS)
                self.close(order, path, State.REJECTED, EventAction.REJECT, when, office, reason)
                return
        elif roll < 0.04:
            when = calendar.add_minutes(order.reported_at, rng.randint(5, 60))
            if when < now:
                self.close(order, path, State.CANCELLED, EventAction.CANCEL, when, order.reporter,
                           rng.choice(CANCEL_REASONS))
                return
        # Dispatch (or a technician takes it), accept, start.
        technician = self.technician_for(rng, order.category)
        spread = (limits.accept_minutes * 3) if late else max(5, limits.accept_minutes * 2 // 3)
        dispatched = calendar.add_minutes(order.reported_at, rng.randint(3, spread))
        if dispatched >= now:
            self.finish(order, now)
            return
        order.state, order.assignee, order.dispatched_at = State.DISPATCHED, technician, dispatched
        taken = rng.random() < 0.3
        if taken:
            order.accepted_at = dispatched
            path.append(self.event(EventAction.TAKE, dispatched, technician, State.NEW, State.DISPATCHED))
        else:
            path.append(self.event(EventAction.DISPATCH, dispatched, office, State.NEW, State.DISPATCHED,
                                   data={"assignee": technician.get_full_name(), "assignee_id": technician.pk}))
            accepted = calendar.add_minutes(dispatched, rng.randint(1, 25))
            if accepted >= now:
                self.finish(order, now)
                return
            order.accepted_at = accepted
            path.append(self.event(EventAction.ACCEPT, accepted, technician, State.DISPATCHED, State.DISPATCHED))
        started = calendar.add_minutes(order.accepted_at, rng.randint(5, limits.start_minutes if late else max(
            10, limits.start_minutes // 3)))
        if started >= now or (age >= 4 and rng.random() < 0.01):
            self.finish(order, now)  # not started yet (and a rare forgotten one, long overdue)
            return
        order.state, order.started_at = State.IN_PROGRESS, started
        path.append(self.event(EventAction.START, started, technician, State.DISPATCHED, State.IN_PROGRESS))
        moment = started
        outside = OUTSIDE_JOBS.get(order.category.name) if order.scale == Scale.MAJOR else None
        if order.scale == Scale.MAJOR:
            if outside and rng.random() < 0.5:
                reason, firm, (low, high) = outside
                quote = Decimal(rng.randrange(low, high, 50))
                moment = calendar.add_minutes(moment, rng.randint(20, 120))
                if moment >= now:
                    self.finish(order, now)
                    return
                order.state, order.contractor, order.contractor_quote = State.OUTSIDE, firm, quote
                path.append(self.event(EventAction.OUTSIDE, moment, technician, State.IN_PROGRESS, State.OUTSIDE,
                                       reason=reason, data={"contractor": firm, "quote": str(quote),
                                                            "approval": "（演示数据）"}))
                approved = calendar.add_minutes(moment, rng.randint(60, 600))
                if approved >= now:
                    self.finish(order, now)
                    return
                order.outside_approved = True
                path.append(self.event(EventAction.OUTSIDE_APPROVED, approved, None, State.OUTSIDE, State.OUTSIDE,
                                       reason="总务主任审批同意（演示数据）"))
                moment = approved
            else:
                parts = rng.choice(catalogue)[0]
                moment = calendar.add_minutes(moment, rng.randint(10, 60))
                order.state = State.WAITING_PARTS
                path.append(self.event(EventAction.WAIT_PARTS, moment, technician, State.IN_PROGRESS,
                                       State.WAITING_PARTS, reason=f"需要{parts}，已报采购"))
                arrived = calendar.add_minutes(moment, rng.randint(300, 1800 if not late else 3600))
                if arrived >= now:
                    self.finish(order, now)
                    return
                order.state = State.IN_PROGRESS
                path.append(self.event(EventAction.RESUME, arrived, technician, State.WAITING_PARTS,
                                       State.IN_PROGRESS, reason="配件已到"))
                moment = arrived
        work = rng.randint(20, 240) if not late else rng.randint(300, 1500)
        completed = calendar.add_minutes(moment, work)
        if completed >= now:
            self.finish(order, now)
            return
        before = order.state
        order.state, order.completed_at = State.DONE, completed
        hours = Decimal(rng.choice((0.5, 0.5, 1, 1, 1, 1.5, 2, 3)))
        order.labour_hours = hours.quantize(Decimal("0.1"))
        rows = []
        if rng.random() < 0.45 and not order.contractor:
            for item_name, unit, price in rng.sample(catalogue, k=min(len(catalogue), rng.randint(1, 2))):
                quantity = Decimal(rng.choice((1, 1, 1, 2, 2, 3, 4)))
                price = Decimal(price)
                rows.append(WorkOrderMaterial(org=self.org, order=order, name=item_name, quantity=quantity, unit=unit,
                                              unit_price=price, amount=(quantity * price).quantize(CENT),
                                              created_at=completed))
        self.materials += rows
        order.material_cost = sum((r.amount for r in rows), Decimal("0"))
        if order.contractor:
            share = Decimal(rng.choice(("1", "1", "0.95", "0.9")))
            order.outside_cost = (order.contractor_quote * share).quantize(CENT)
            order.labour_hours = Decimal("0")
        order.compute_costs()
        order.work_done = self.work_done(order, rows)
        path.append(self.event(EventAction.COMPLETE, completed, technician, before, State.DONE, reason=order.work_done,
                               data={"labour_hours": str(order.labour_hours), "materials": len(rows),
                                     "total_cost": str(order.total_cost)}))
        moment = completed
        # Sometimes it was not really fixed: the reporter complains, the job is done again.
        if rng.random() < 0.03 and age >= 3:
            again = calendar.add_minutes(moment, rng.randint(60, 600))
            if again < now:
                order.reopened_count = 1
                path.append(self.event(EventAction.COMPLAIN, again, order.reporter, State.DONE, State.DISPATCHED,
                                       name=order.reporter_name, reason="没修好，还是老样子"))
                fixed = calendar.add_minutes(again, rng.randint(60, 600))
                if fixed >= now:
                    order.state, order.completed_at = State.DISPATCHED, None
                    order.state_changed_at = again
                    self.finish(order, now)
                    return
                order.completed_at = fixed
                path.append(self.event(EventAction.COMPLETE, fixed, technician, State.DISPATCHED, State.DONE,
                                       reason=f"返修：{order.work_done}"))
                moment = fixed
        # Sign-off by the reporter (with or without stars), or on their behalf; then the office's call.
        signed = moment + timedelta(minutes=rng.randint(20, 60 * 30))
        if signed < now and rng.random() < 0.9:
            on_behalf = order.reporter is None or rng.random() < 0.12
            order.state, order.signed_off_at, order.signed_off_on_behalf = State.ACCEPTED, signed, on_behalf
            order.signed_off_by = office if on_behalf else order.reporter
            if not on_behalf and rng.random() < 0.78:
                rating = rng.choices((5, 4, 3, 2, 1), weights=(55, 28, 10, 5, 2))[0]
                if late and rating > 3 and rng.random() < 0.5:
                    rating -= 2
                order.rating, order.rating_comment = rating, rng.choice(COMMENTS[rating])
            path.append(self.event(EventAction.SIGN_OFF, signed, order.signed_off_by, State.DONE, State.ACCEPTED,
                                   reason=order.rating_comment if not on_behalf else "代为验收：报修人电话确认已修好",
                                   data={"rating": order.rating, "on_behalf": on_behalf}))
            visited = signed + timedelta(minutes=rng.randint(30, 60 * 20))
            if visited < now and rng.random() < 0.8:
                order.state, order.visited_at, order.visit_note = State.VISITED, visited, rng.choice(VISIT_NOTES)
                path.append(self.event(EventAction.VISIT, visited, office, State.ACCEPTED, State.VISITED,
                                       reason=order.visit_note))
        self.finish(order, now)

    def work_done(self, order, rows) -> str:
        if order.contractor:
            return f"由{order.contractor}上门维修，已恢复使用"
        if rows:
            return "更换" + "、".join(r.name for r in rows) + "，试用正常"
        return {"水电": "检修线路/管路，已恢复正常", "门窗": "调整紧固，已能正常开关", "桌椅": "加固螺丝，已稳固",
                "电器": "检修清洗，已正常运行", "网络多媒体": "重新设置连接，已恢复使用",
                "土建": "修补完成", "其他": "已修复"}.get(order.category.name, "已修复")

    def close(self, order, path, state, action, when, actor, reason) -> None:
        order.state, order.closed_at, order.close_reason, order.state_changed_at = state, when, reason, when
        path.append(self.event(action, when, actor, State.NEW, state, name=order.reporter_name, reason=reason))

    def finish(self, order: WorkOrder, now) -> None:
        """The last state's time, and the late flags as of now."""
        times = [t for t in (order.reported_at, order.dispatched_at, order.accepted_at, order.started_at,
                             order.completed_at, order.signed_off_at, order.visited_at, order.closed_at) if t]
        order.state_changed_at = max(times)
        sla.mark_lateness(order, now)

    # --- After the bulk insert -----------------------------------------------------------------------------------
    def reminders(self) -> None:
        """SLA reminders of the open orders, 回访 reminders of the finished ones not yet called back."""
        recent = timezone.now() - timedelta(days=14)
        for order in self.orders:
            if order.state in OPEN_STATES:
                sla.sync_reminders(order)
            elif order.state in DONE_STATES and order.state != State.VISITED and order.completed_at > recent:
                sla.schedule_visit(order)

    def counters(self, today: datetime.date) -> None:
        """Today's BX counter past the demo's numbers, so a new report continues the sequence."""
        last = max((int(o.number.rsplit("-", 1)[1]) for o in self.orders
                    if o.number.startswith(f"BX-{today:%Y%m%d}-")), default=0)
        if not last:
            return
        sequence, _ = DocumentSequence.objects.get_or_create(org=self.org, doc_type="BX", period=f"{today:%Y%m%d}")
        DocumentSequence.objects.filter(pk=sequence.pk, last_value__lt=last).update(last_value=last)


@demo_step("报修工单", order=300)
def work_orders(ctx: DemoContext) -> None:
    for org_key in (PRIMARY, KINDERGARTEN):
        created = Generator(ctx, org_key).run()
        if created:
            ctx.stats[(WorkOrder._meta.verbose_name, "created")] += created
    from houqin.repairs.summary import rebuild_summary  # the orders were bulk-inserted: rebuild the dashboard summary

    rebuild_summary()
