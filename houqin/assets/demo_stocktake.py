"""Demo data of the assets app: stocktake — one finished stocktake of the demo primary school.

The 资产管理员 (zichan) and the 会计 (kuaiji) count the 行政楼 (about 300 cards) over two days, a fortnight before the
demo runs. Almost everything is where the books say; the differences a real count turns up are there too:

* 盘亏: two cards not found (a desktop computer and an office chair, picked by the demo's seeded randomness), plus
  the camera already on the books as 丢失 (盘亏 without an adjustment: the books already say so);
* 位置不符: three cards found in another office of the building;
* 状态不符: one computer found broken (损坏待修);
* 盘盈: a filing cabinet without a label in 档案室 and a projection screen in 小会议室.

The plan goes through the real commands (start freezes the list with one bulk insert; finish proposes the adjustments
and submits them), the counts are written with one UPDATE per room (bulk), and the differences are approved by the
总务主任 (and the 校长 when the amount needs it), which posts the count and adjust events to the cards. A second run
finds the plan by its name and creates nothing.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.db.models import F
from django.utils import timezone

from houqin.assets import stocktake as services
from houqin.assets.choices import AssetStatus
from houqin.assets.models import CountMethod, LineResult, Stocktake, StocktakeLine, StocktakeSurplus
from houqin.core import approvals
from houqin.core.demo import PRIMARY, DemoContext, demo_step
from houqin.core.models import Building, Room
from houqin.core.models.approvals import ApprovalRequest, ApprovalStatus

NAME = "行政楼固定资产清查盘点"
BUILDING = "行政楼"
# (room the card is found in instead of its own) for three cards picked from these rooms, in this order.
MOVES = (("小会议室", "大会议室"), ("教务处", "总务处办公室"), ("语文教研组办公室", "数学教研组办公室"))


def _at(day: datetime.date, hour: int, minute: int = 0) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour, minute)))


@demo_step("资产清查盘点", order=230)
def stocktake(ctx: DemoContext) -> None:
    org = ctx.org(PRIMARY)
    if Stocktake.objects.filter(org=org, name=NAME).exists():
        return
    building = Building.objects.filter(org=org, name=BUILDING).first()
    keeper, accountant = ctx.users.get("zichan"), ctx.users.get("kuaiji")
    if building is None or keeper is None or accountant is None:
        return
    rng = ctx.rng("assets:stocktake")
    start = ctx.today - datetime.timedelta(days=14)
    plan = Stocktake(org=org, name=NAME, planned_start=start, planned_end=start + datetime.timedelta(days=4),
                     note="学期末例行清查：行政楼各办公室、会议室、医务室和档案室的全部在账资产。")
    plan.save()
    plan.buildings.set([building])
    services.set_counters(plan, [keeper, accountant])
    services.refresh_scope(plan)
    plan = services.start(plan, keeper)
    ctx.stats[(Stocktake._meta.verbose_name, "created")] += 1

    lines = list(StocktakeLine.objects.filter(stocktake=plan).select_related("expected_room")
                 .order_by("expected_room_name", "asset_number"))
    rooms = {r.name: r for r in Room.objects.filter(org=org, building=building)}
    plain = [line for line in lines if line.quantity == 1 and line.book_status == AssetStatus.IN_USE]
    missing = _pick(rng, plain, ("计算机", "电脑"), 1) + _pick(rng, plain, ("椅",), 1)
    taken = {line.pk for line in missing}
    moved = []
    for source, target in MOVES:
        candidates = [line for line in plain if line.pk not in taken and line.expected_room_id
                      and line.expected_room.name == source]
        if candidates and target in rooms:
            line = rng.choice(candidates)
            moved.append((line, rooms[target]))
            taken.add(line.pk)
    broken = _pick(rng, [line for line in plain if line.pk not in taken], ("计算机", "电脑", "打印"), 1)
    taken |= {line.pk for line in broken}
    lost = [line for line in lines if line.book_status == AssetStatus.LOST]
    taken |= {line.pk for line in lost}

    # Counts: room by room (one UPDATE each), the keeper upstairs on the first day, the accountant the next.
    by_room: dict[int | None, list[int]] = {}
    for line in lines:
        if line.pk not in taken:
            by_room.setdefault(line.expected_room_id, []).append(line.pk)
    for index, (_room, ids) in enumerate(sorted(by_room.items(), key=lambda item: item[0] or 0)):
        first_day = index % 2 == 0
        who = keeper if first_day else accountant
        day = start if first_day else start + datetime.timedelta(days=1)
        StocktakeLine.objects.filter(pk__in=ids).update(
            counted_at=_at(day, 9 + index % 8, (index * 7) % 60), counted_by=who, counted_by_name=who.full_name,
            found_room=F("expected_room"), result=LineResult.MATCHED,
            method=CountMethod.CAMERA if index % 3 else CountMethod.LIST)
    for line, room in moved:
        StocktakeLine.objects.filter(pk=line.pk).update(
            counted_at=_at(start, 15, 20), counted_by=keeper, counted_by_name=keeper.full_name, found_room=room,
            result=LineResult.MOVED, method=CountMethod.CAMERA, note="在其他办公室找到")
    for line in broken:
        StocktakeLine.objects.filter(pk=line.pk).update(
            counted_at=_at(start, 10, 40), counted_by=keeper, counted_by_name=keeper.full_name,
            found_room_id=line.expected_room_id, found_status=AssetStatus.REPAIRING, result=LineResult.STATUS,
            method=CountMethod.CAMERA, note="无法开机")
    for name, description, quantity, unit, value, room, hour in (
        ("文件柜", "铁皮文件柜，灰色，无资产标签", 1, "个", Decimal("680.00"), "档案室", 11),
        ("电动投影幕布", "100英寸，墙上安装，无标签", 1, "幅", Decimal("450.00"), "小会议室", 16),
    ):
        if room in rooms:
            StocktakeSurplus.objects.create(
                org=org, stocktake=plan, room=rooms[room], name=name, description=description, quantity=quantity,
                unit=unit, estimated_value=value, found_at=_at(start + datetime.timedelta(days=1), hour),
                found_by=accountant, found_by_name=accountant.full_name)

    plan = services.finish(plan, keeper, "行政楼清查完毕，差异见盘点报告，请审核。")
    request = ApprovalRequest.objects.get(org=org, request_type=services.REQUEST_TYPE, object_id=plan.pk)
    comments = {"logistics_head": "已复核：盘亏两件请办公室查找后按丢失处理，位置按实际调整，盘盈补登入账。",
                "principal": "同意。"}
    while request.status == ApprovalStatus.PENDING:
        approver = approvals.eligible_approvers(request).first()
        if approver is None:
            break
        request = approvals.approve(request, approver, comments.get(request.current["approver"], "同意。"))
    finished = _at(start + datetime.timedelta(days=1), 17, 30)
    Stocktake.objects.filter(pk=plan.pk).update(started_at=_at(start, 8, 30), finished_at=finished)


def _pick(rng, lines, words: tuple[str, ...], n: int) -> list:
    candidates = [line for line in lines if any(w in line.asset_name for w in words)]
    return rng.sample(candidates, min(n, len(candidates)))
