"""Demo data of the assets app: custody — loans and transfers in the demo primary school.

Runs after the register (资产卡片与折旧, order 200) and goes through the real commands (houqin.assets.custody), so the
cards' statuses, history events, reminders, signatures and approvals are what a school would see:

* the two laptops the register shows as 借出 get their loan (借给教研组外出赛课, due 2026-11-30);
* teachers' laptops lent to teachers — two of them overdue — one returned in good order, one returned damaged,
  and the small meeting room's projector lent to an outside person (a community event);
* transfers: a desktop computer handed to another teacher of the same office, an idle printer moved to the store,
  a laptop moved from 教务处 to 德育处 (approved by the logistics head), and one moving to 科学教研组 still waiting
  for approval.

Dates are relative to the day the demo runs (so that "overdue" stays overdue); a second run finds each loan and
transfer by its purpose/reason (or, for the register's lent laptops, by the card's open loan) and creates nothing.
"""

from __future__ import annotations

import datetime
import io

from django.utils import timezone

from houqin.assets import custody
from houqin.assets.choices import AssetStatus
from houqin.assets.models import Asset, AssetLoan, AssetTransfer, LoanCondition
from houqin.assets.models.custody import LOAN_PREFIX
from houqin.core import approvals
from houqin.core.demo import PRIMARY, DemoContext, demo_step
from houqin.core.models import Department, Room, RoomType, User
from houqin.core.numbering import next_number

DEMO_LOAN_PURPOSE = "教研组外出赛课使用"


def _signature_png(ctx: DemoContext, key: str) -> bytes:
    """A hand-written-looking scribble (a demo signature), the same on every run."""
    from PIL import Image, ImageDraw

    rng = ctx.rng(f"signature:{key}")
    img = Image.new("RGB", (600, 200), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    x, y = 40, 110
    points = [(x, y)]
    for _ in range(18):
        x += rng.randint(14, 34)
        y = max(40, min(170, y + rng.randint(-45, 45)))
        points.append((x, y))
    draw.line(points, fill=(17, 24, 39), width=5, joint="curve")
    draw.line([(points[0][0], 150), (points[-1][0], 140)], fill=(17, 24, 39), width=3)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _at(day: datetime.date, hour: int) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour, 10)))


def _users(ctx: DemoContext, names) -> dict[str, User]:
    found = {n: ctx.users[n] for n in names if n in ctx.users}
    missing = [n for n in names if n not in found]
    if missing:
        found.update({u.username: u for u in User.objects.filter(username__in=missing)})
    return found


@demo_step("资产领用、调拨与借用", order=210)
def custody_demo(ctx: DemoContext) -> None:
    school = ctx.org(PRIMARY)
    people = _users(ctx, ("zichan", "zongwu", "jiaoshi3", "jiaoshi5", "jiaoshi6", "jiaoshi12", "jiaoshi16",
                          "jiaoshi20", "jiaoshi26", "jiaoshi30"))
    keeper, head = people.get("zichan"), people.get("zongwu")
    if keeper is None or head is None:
        return
    cards = {}
    for card in (Asset.objects.filter(org=school).select_related("org", "category", "department", "room", "custodian")
                 .filter(name__in=["笔记本计算机", "投影仪", "台式计算机", "激光打印机",
                                   *(f"教师笔记本计算机 {n:02d}" for n in range(1, 13))])
                 .order_by("number")):
        cards.setdefault(card.name, []).append(card)
    today = ctx.today
    _loans(ctx, school, cards, people, keeper, today)
    _transfers(ctx, school, cards, people, keeper, head)


def _loans(ctx, school, cards, people, keeper, today) -> None:
    done = set(AssetLoan.objects.filter(org=school).values_list("purpose", flat=True))
    # The laptops the register shows as lent (借出 since 2026-10-09) have no loan yet: record it.
    teachers = [people.get(n) for n in ("jiaoshi16", "jiaoshi26")]
    for card, borrower in zip([c for c in cards.get("笔记本计算机", []) if c.status == AssetStatus.LENT], teachers,
                              strict=False):
        if borrower is None or card.loans.filter(returned_at__isnull=True).exists():
            continue
        lent_at = _at(min(datetime.date(2026, 10, 9), today), 9)
        loan = AssetLoan.objects.create(
            org=school, number=next_number(school, LOAN_PREFIX, day=timezone.localdate(lent_at)), asset=card,
            borrower=borrower, borrower_name=borrower.get_full_name(), purpose=DEMO_LOAN_PURPOSE, lent_at=lent_at,
            due_on=max(datetime.date(2026, 11, 30), timezone.localdate(lent_at)), lent_by=keeper,
            status_before=AssetStatus.IN_USE, signature_pending=True)
        custody._schedule_loan_reminders(loan, card)

    laptops = {name: group[0] for name, group in cards.items() if name.startswith("教师笔记本计算机")}
    projector = next((c for c in cards.get("投影仪", []) if c.room and c.room.name == "小会议室"), None)
    outsider, phone = ctx.person("assets:loan:outsider")
    day = datetime.timedelta
    plans = [
        # (card, borrower or None, outsider name/phone, purpose, lent days ago, due days ago(-)/ahead(+), returned)
        (laptops.get("教师笔记本计算机 01"), people.get("jiaoshi3"), None, "公开课录课", 19, -5, None),
        (laptops.get("教师笔记本计算机 02"), people.get("jiaoshi12"), None, "区教研活动汇报", 32, -11, None),
        (laptops.get("教师笔记本计算机 03"), people.get("jiaoshi5"), None, "暑期培训", 70, -60,
         (61, LoanCondition.GOOD, "")),
        (laptops.get("教师笔记本计算机 04"), people.get("jiaoshi6"), None, "运动会成绩统计", 44, -37,
         (38, LoanCondition.DAMAGED, "屏幕边框磕碰一处，不影响使用")),
        (projector, None, (f"{outsider}（社区居委会）", phone), "社区暑托班活动放映", 3, +4, None),
        (laptops.get("教师笔记本计算机 05"), people.get("jiaoshi30"), None, "外出听课记录", 2, +12, None),
    ]
    for card, borrower, outside, purpose, lent_ago, due_delta, returned in plans:
        if card is None or purpose in done or card.status not in custody.LENDABLE:
            continue
        if borrower is None and outside is None:
            continue
        lent_at = _at(today - day(days=lent_ago), 10)
        signed = lent_ago % 2 == 0 or returned is not None
        loan = custody.lend(
            card, keeper, borrower=borrower, borrower_name=outside[0] if outside else "",
            borrower_phone=outside[1] if outside else "", purpose=purpose, due_on=today + day(days=due_delta),
            signature=_signature_png(ctx, f"{card.number}:{purpose}") if signed else None,
            signature_later=not signed, lent_at=lent_at, expected="")
        if signed:
            AssetLoan.objects.filter(pk=loan.pk).update(signed_at=lent_at)
        if returned is not None:
            back_ago, condition, note = returned
            custody.return_loan(loan, keeper, condition=condition, note=note,
                                returned_at=_at(today - day(days=back_ago), 15))


def _transfers(ctx, school, cards, people, keeper, head) -> None:
    done = set(AssetTransfer.objects.filter(org=school).values_list("reason", flat=True))
    departments = {d.name: d for d in Department.objects.filter(org=school)}
    store = Room.objects.filter(org=school, room_type=RoomType.STOREROOM).order_by("pk").first()
    desktops = [c for c in cards.get("台式计算机", []) if c.status == AssetStatus.IN_USE and c.custodian_id
                and c.custodian_id != getattr(people.get("jiaoshi20"), "pk", None)]
    printers = [c for c in cards.get("激光打印机", []) if c.status == AssetStatus.IDLE]
    laptop10 = (cards.get("教师笔记本计算机 10") or [None])[0]
    laptop11 = (cards.get("教师笔记本计算机 11") or [None])[0]
    plans = [
        (desktops[0] if desktops else None, {"custodian": people.get("jiaoshi20")}, "教师调换办公桌", None),
        (printers[0] if printers and store else None, {"room": store}, "旧打印机集中存放", None),
        (laptop10, {"department": departments.get("德育处"), "custodian": people.get("jiaoshi26")},
         "德育处新增专职教师办公使用", "approve"),
        (laptop11, {"department": departments.get("科学教研组"), "custodian": people.get("jiaoshi12")},
         "科学教研组实验教学使用", None),
    ]
    for card, target, reason, decision in plans:
        if card is None or reason in done or card.status not in custody.TRANSFERABLE:
            continue
        if any(value is None for value in target.values()) or custody.pending_transfer(card) is not None:
            continue
        move = custody.transfer(card, keeper, reason=reason, expected="", **target)
        if decision == "approve" and move.approval is not None:
            approvals.approve(move.approval, head, "同意调拨")
