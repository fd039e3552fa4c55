"""Demo data of the assets app: damage, compensation and disposal in the demo primary school.

Runs after the register (资产卡片与折旧, order 200) and goes through the real commands (houqin.assets.disposal) and
core's approval engine, so statuses, history events, approval trails and notifications are what a school would see:

* three damages in the 损坏赔偿台账: a pupil's broken desk (赔偿 120 元, paid, with its receipt), a tablet whose screen
  a pupil cracked (sent to repair, 680 元 still unpaid), an office chair worn out (自然损耗, no compensation);
* a finished disposal of ten 2015 computers of 计算机房(1) (报废, 39,800 元 original value): approved by the principal,
  the bureau and — recorded by the bureau — the county finance department, then carried out (sold to a recycler);
  the cards are 已处置;
* the six computers of the same room the register shows as 待处置: their request is approved by the principal and
  waits at the bureau (教育局审批).

Dates are fixed in 2026 (clamped to the day the demo runs); a second run finds each record by its description or
reason and creates nothing.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

from houqin.assets import disposal as commands
from houqin.assets.models import Asset, AssetDamage, AssetDisposal
from houqin.assets.models.disposal import DamageOutcome, DisposalMethod, DisposalStatus, ResponsibleKind
from houqin.core import approvals
from houqin.core.demo import PRIMARY, DemoContext, demo_step
from houqin.core.models import SchoolClass, User
from houqin.core.models.approvals import ApprovalStatus

COMPUTER_ROOM = "计算机房(1)"
DONE_REASON = "2015 年购置的学生计算机，已使用 11 年并提足折旧，主板电容老化、频繁死机，维修价值低，申请报废"
PENDING_REASON = "主板故障无法开机，经维修人员鉴定无修复价值，申请报废"
MEETING = "2026-10-15 校长办公会研究同意"
DESK = "课桌桌腿断裂，学生在课间推搡时撞断"
TABLET = "屏幕摔碎，触摸失灵"
CHAIR = "办公椅气压棒漏气、椅面开裂，正常使用老化"


def _day(ctx: DemoContext, month: int, day: int) -> datetime.date:
    return min(datetime.date(2026, month, day), ctx.today)


def _users(ctx: DemoContext, names) -> dict[str, User]:
    found = {n: ctx.users[n] for n in names if n in ctx.users}
    missing = [n for n in names if n not in found]
    if missing:
        found.update({u.username: u for u in User.objects.filter(username__in=missing)})
    return found


def _first(school, **lookup) -> Asset | None:
    return (Asset.objects.filter(org=school, **lookup).select_related("org", "category")
            .order_by("number").first())


def _damages(ctx: DemoContext, school, keeper) -> None:
    existing = set(AssetDamage.objects.filter(org=school).values_list("description", flat=True))
    pupils = list(SchoolClass.objects.filter(org=school).order_by("grade", "number")[:12])
    pupil_class = str(pupils[7]) if len(pupils) > 7 else ""
    tablet_class = str(pupils[10]) if len(pupils) > 10 else ""
    if DESK not in existing:
        desk = _first(school, name__startswith="学生课桌椅", status__in=("in_use", "idle"))
        if desk is not None:
            name = ctx.person("disposal:pupil:desk", "male")[0]
            damage = commands.mark_damaged(
                desk, keeper, occurred_on=_day(ctx, 9, 23), description=DESK, outcome=DamageOutcome.USABLE,
                responsible_kind=ResponsibleKind.PUPIL, responsible_name=name, responsible_detail=pupil_class,
                compensation_amount=Decimal("120.00"), payer=f"{name}家长", note="已由学校木工修复，家长同意照价赔偿")
            commands.mark_compensation_paid(damage, keeper, paid_on=_day(ctx, 9, 28), receipt_no="SJ-2026-0317")
            ctx.stats[(AssetDamage._meta.verbose_name, "created")] += 1
    if TABLET not in existing:
        tablet = _first(school, name__startswith="学生平板电脑", status="in_use")
        if tablet is not None:
            name = ctx.person("disposal:pupil:tablet", "female")[0]
            commands.mark_damaged(
                tablet, keeper, occurred_on=_day(ctx, 11, 4), description=TABLET, outcome=DamageOutcome.REPAIR,
                responsible_kind=ResponsibleKind.PUPIL, responsible_name=name, responsible_detail=tablet_class,
                compensation_amount=Decimal("680.00"), payer=f"{name}家长", note="按维修报价赔偿，家长表示月底前交款")
            ctx.stats[(AssetDamage._meta.verbose_name, "created")] += 1
    if CHAIR not in existing:
        chair = _first(school, name="办公椅", status="in_use")
        if chair is not None:
            commands.mark_damaged(chair, keeper, occurred_on=_day(ctx, 10, 30), description=CHAIR,
                                  outcome=DamageOutcome.USABLE, responsible_kind=ResponsibleKind.NONE,
                                  note="已更换气压棒，可继续使用")
            ctx.stats[(AssetDamage._meta.verbose_name, "created")] += 1


def _computers(school, numbers) -> list[Asset]:
    names = [f"学生计算机 {n:02d}号" for n in numbers]
    cards = (Asset.objects.filter(org=school, room__name=COMPUTER_ROOM, name__in=names, status__in=commands.DISPOSABLE)
             .exclude(disposal_items__is_open=True).select_related("category").order_by("number"))
    return list(cards)


def _approve(request, users: dict, *, until_bureau: bool = False) -> None:
    """Act on each step as the demo's principal and bureau would (the bureau records the finance reply)."""
    comments = {"principal": "同意，按程序报教育局", "bureau": "同意报废，请按规定交有资质的回收单位处理",
                "bureau_finance": "2026-11-18 县财政局批复同意（县财资〔2026〕41号）"}
    while request.status == ApprovalStatus.PENDING:
        step = request.current["approver"]
        if until_bureau and step == "bureau":
            return
        user = users.get("principal") if step == "principal" else users.get("jyj")
        if user is None:
            return
        approvals.approve(request, user, comments.get(step, "同意"))


def _disposals(ctx: DemoContext, school, users: dict) -> None:
    requester, keeper = users.get("zongwu"), users.get("zichan")
    reasons = set(AssetDisposal.objects.filter(org=school).values_list("reason", flat=True))
    if DONE_REASON not in reasons:
        cards = _computers(school, range(41, 51))
        if cards:
            disposal = commands.request_disposal(
                cards, requester, org=school, method=DisposalMethod.SCRAP, reason=DONE_REASON, meeting_note=MEETING,
                estimated_residual=Decimal("300.00"))
            _approve(disposal.approval, users)
            disposal.refresh_from_db()
            if disposal.status == DisposalStatus.APPROVED:
                commands.record_disposal(
                    disposal, keeper, disposed_on=ctx.today, actual_income=Decimal("350.00"),
                    buyer="县再生资源回收有限公司", document_no="回收单 HS-2026-0187",
                    note="硬盘已拆除并由信息中心统一销毁")
            ctx.stats[(AssetDisposal._meta.verbose_name, "created")] += 1
    if PENDING_REASON not in reasons:
        cards = _computers(school, range(1, 7))
        if cards:
            disposal = commands.request_disposal(
                cards, requester, org=school, method=DisposalMethod.SCRAP, reason=PENDING_REASON,
                meeting_note="2026-11-12 校长办公会研究同意", estimated_residual=Decimal("180.00"))
            _approve(disposal.approval, users, until_bureau=True)
            ctx.stats[(AssetDisposal._meta.verbose_name, "created")] += 1


@demo_step("资产损坏、赔偿与处置", order=220)
def disposal_demo(ctx: DemoContext) -> None:
    school = ctx.org(PRIMARY)
    users = _users(ctx, ("zongwu", "zichan", "principal", "jyj"))
    if len(users) < 4:
        return  # the accounts step did not run: nothing to act with
    _damages(ctx, school, users["zichan"])
    _disposals(ctx, school, users)
