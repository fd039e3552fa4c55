"""How the parts of the assets app fit together (docs/assets-lifecycle.md): a transfer waiting for approval, a loan
open on the card and the other commands (status changes, damage, disposal, stocktaking); the card's buttons; the
lock-then-read pattern."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.utils import timezone

from houqin.assets import actions, custody, services
from houqin.assets import disposal as commands
from houqin.assets import stocktake as stocktaking
from houqin.assets.categories import national
from houqin.assets.choices import AssetEventCode, AssetStatus
from houqin.assets.models import (
    AdjustmentKind,
    Asset,
    AssetDamage,
    AssetEvent,
    AssetLoan,
    LoanCondition,
    StocktakeAdjustment,
    StocktakeStatus,
    TransferStatus,
)
from houqin.assets.models.disposal import DamageOutcome, DisposalMethod
from houqin.assets.tests.factories_custody import keeper_of, make_loan
from houqin.assets.tests.factories_stocktake import started_stocktake
from houqin.core import approvals
from houqin.core.models.approvals import ApprovalRequest
from houqin.core.models.notifications import Reminder, ReminderState
from houqin.core.testing import factories as f

pytestmark = pytest.mark.django_db
S = AssetStatus


def card(world, *, status=S.IN_USE, name="笔记本计算机", room=0) -> Asset:
    school = world.a
    asset = Asset(org=school.org, category=national("2010100"), name=name, unit_price=Decimal("5600.00"),
                  acquired_on=datetime.date(2015, 9, 1), room=school.rooms[room], department=school.department,
                  custodian=school.staff)
    return services.register_asset(asset, status=status)


@pytest.fixture
def keeper(world):
    return keeper_of(world.a.org)


@pytest.fixture
def waiting(world, keeper):
    """An in-use card with a transfer to another department waiting for the 总务主任's approval."""
    asset = card(world)
    other = f.make_department(world.a.org, "甲教务处")
    move = custody.transfer(asset, keeper, department=other, reason="教师调岗")
    assert move.status == TransferStatus.PENDING
    return asset, move


# --- A transfer waiting for approval --------------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["idle", "lost"])
def test_status_commands_are_refused_while_a_transfer_waits_naming_the_request(world, keeper, waiting, command):
    asset, move = waiting
    run = {"idle": lambda: commands.mark_idle(asset, keeper),
           "lost": lambda: commands.mark_lost(asset, keeper, note="教室里找不到了")}[command]
    with pytest.raises(ValidationError) as refused:
        run()
    assert move.approval_number in refused.value.messages[0] and "调拨正在审批中" in refused.value.messages[0]
    assert Asset.objects.get(pk=asset.pk).status == S.IN_USE


def test_reuse_is_refused_while_a_transfer_of_an_idle_card_waits(world, keeper):
    asset = card(world, status=S.IDLE)
    move = custody.transfer(asset, keeper, department=f.make_department(world.a.org, "甲教务处"), reason="调岗")
    with pytest.raises(ValidationError, match=move.approval_number):
        commands.mark_in_use(asset, keeper)


def test_a_repair_may_start_and_end_while_a_transfer_waits_and_the_transfer_still_applies(world, keeper, waiting):
    asset, move = waiting
    commands.start_repair(asset, keeper, reference="WX-2026-00001")
    started = asset.events.get(code=AssetEventCode.REPAIR)
    assert move.approval_number in started.note and asset.status == S.REPAIRING
    approvals.approve(move.approval, world.head_a, "同意")  # the card is away at repair: it moves on paper
    asset.refresh_from_db()
    assert asset.department.name == "甲教务处" and asset.status == S.REPAIRING
    commands.finish_repair(asset, keeper)
    assert Asset.objects.get(pk=asset.pk).status == S.IN_USE


def test_damage_is_noted_while_a_transfer_waits_but_not_sent_to_disposal(world, keeper, waiting):
    asset, move = waiting
    with pytest.raises(ValidationError) as refused:
        commands.mark_damaged(asset, keeper, occurred_on=timezone.localdate(), description="屏幕碎裂",
                              outcome=DamageOutcome.UNREPAIRABLE)
    assert move.approval_number in refused.value.message_dict["outcome"][0]
    assert not AssetDamage.objects.filter(asset=asset).exists()
    damage = commands.mark_damaged(asset, keeper, occurred_on=timezone.localdate(), description="外壳磕碰",
                                   outcome=DamageOutcome.USABLE)
    assert move.approval_number in damage.note
    assert move.approval_number in asset.events.get(code=AssetEventCode.DAMAGE).note


def test_disposal_is_refused_while_a_transfer_waits_and_the_preview_says_why(world, keeper, waiting):
    asset, move = waiting
    with pytest.raises(ValidationError) as refused:
        commands.request_disposal([asset], keeper, method=DisposalMethod.SCRAP, reason="超过使用年限")
    [problem] = refused.value.message_dict["assets"]
    assert asset.number in problem and move.approval_number in problem
    preview = commands.preview([Asset.objects.select_related("category").get(pk=asset.pk)])
    assert move.approval_number in preview["problems"][0]["problem"]
    approvals.withdraw(move.approval, keeper)
    disposal = commands.request_disposal([asset], keeper, method=DisposalMethod.SCRAP, reason="超过使用年限")
    assert disposal.item_count == 1


def test_stocktake_adjustments_wait_for_a_pending_transfer_of_a_card_they_change(world, keeper, waiting):
    asset, move = waiting
    plan = started_stocktake(world.a.org, keeper, rooms=world.a.rooms)
    stocktaking.scan(plan, keeper, world.a.rooms[1], asset.number)  # found in the other room: 位置不符
    plan = stocktaking.finish(plan, keeper)
    request = ApprovalRequest.objects.get(object_id=plan.pk, request_type="stocktake")
    with pytest.raises(ValidationError) as refused:
        approvals.approve(request, world.head_a, "同意")
    assert asset.number in refused.value.messages[0] and move.approval_number in refused.value.messages[0]
    plan.refresh_from_db()
    assert plan.status == StocktakeStatus.REVIEW and Asset.objects.get(pk=asset.pk).room == world.a.rooms[0]

    approvals.reject(move.approval, world.head_a, "暂不调岗")
    approvals.approve(request, world.head_a, "同意")
    plan.refresh_from_db()
    assert plan.status == StocktakeStatus.DONE and Asset.objects.get(pk=asset.pk).room == world.a.rooms[1]


# --- An open loan ---------------------------------------------------------------------------------------------------
def reminders(loan):
    ct = ContentType.objects.get_for_model(AssetLoan)
    return list(Reminder.objects.filter(source_type=ct, source_id=str(loan.pk)))


def test_a_lent_card_reported_lost_closes_its_loan_and_is_found_in_its_status_before_the_loan(world, keeper):
    asset = card(world, status=S.IDLE)
    loan = make_loan(asset, keeper=keeper, borrower=world.a.staff)
    assert reminders(loan)
    commands.mark_lost(asset, keeper, note="借用人说在外校比赛时遗失")
    loan.refresh_from_db()
    assert asset.status == S.LOST and loan.returned_at is not None
    assert (loan.return_condition, loan.state, loan.state_display) == (LoanCondition.LOST, "lost", "借出期间丢失")
    assert not loan.is_overdue and custody.open_loan(asset) is None
    assert {r.state for r in reminders(loan)} == {ReminderState.DONE}
    lose = asset.events.get(code=AssetEventCode.LOSE)
    assert (lose.status_before, lose.reference) == (S.LENT, loan.number) and "借用记录已结束" in lose.note
    with pytest.raises(ValidationError, match="因资产丢失结束"):
        custody.return_loan(loan, keeper)
    commands.mark_found(asset, keeper)
    assert Asset.objects.get(pk=asset.pk).status == S.IDLE  # as before it was lent, not 借出


def test_damage_of_a_lent_card_names_the_loan_and_disposal_refuses_a_lent_card(world, keeper):
    asset = card(world)
    loan = make_loan(asset, keeper=keeper)
    damage = commands.mark_damaged(asset, keeper, occurred_on=timezone.localdate(), description="镜头划伤",
                                   outcome=DamageOutcome.USABLE)
    assert loan.number in damage.note and loan.borrower_display in damage.note
    event = asset.events.get(code=AssetEventCode.DAMAGE)
    assert event.reference == loan.number and loan.number in event.note
    with pytest.raises(ValidationError) as refused:
        commands.request_disposal([asset], keeper, method=DisposalMethod.SCRAP, reason="坏了")
    assert "借出" in refused.value.message_dict["assets"][0]


def test_a_lent_card_not_seen_at_stocktaking_is_on_loan_not_missing(world, keeper):
    seen, lent = card(world, name="教师电脑"), card(world, name="摄像机")
    loan = make_loan(lent, keeper=keeper)
    plan = started_stocktake(world.a.org, keeper, rooms=[world.a.rooms[0]])
    stocktaking.scan(plan, keeper, world.a.rooms[0], seen.number)
    plan = stocktaking.finish(plan, keeper)
    assert not StocktakeAdjustment.objects.filter(stocktake=plan, kind=AdjustmentKind.LOSE).exists()
    report = stocktaking.report(plan)
    assert (report.total.missing, report.total.on_loan, report.total.missing_value) == (0, 1, Decimal("0"))
    assert report.total.rate == Decimal("100.0")
    [line] = report.differences
    assert line.loan.number == loan.number
    assert stocktaking.on_loan_count(plan) == 1

    # Returned after counting ended: the report keeps saying what it was then.
    custody.return_loan(loan, keeper)
    assert stocktaking.report(plan).total.on_loan == 1


def test_a_card_lent_and_returned_before_the_end_of_counting_is_missing_when_not_seen(world, keeper):
    lent = card(world, name="摄像机")
    loan = make_loan(lent, keeper=keeper)
    plan = started_stocktake(world.a.org, keeper, rooms=[world.a.rooms[0]])
    custody.return_loan(loan, keeper)
    plan = stocktaking.finish(plan, keeper)
    assert StocktakeAdjustment.objects.filter(stocktake=plan, kind=AdjustmentKind.LOSE).count() == 1
    assert stocktaking.report(plan).total.missing == 1


# --- The card's buttons ---------------------------------------------------------------------------------------------
def test_store_return_and_idle_are_told_apart_and_destructive_actions_go_under_more(world, keeper, client):
    asset = card(world)
    items = actions.actions_for(asset, keeper, "card")
    labels = {i["action"].key: i["action"].label for i in items}
    assert labels["return_to_store"] == "退库入库" and labels["idle"] == "转为闲置（原地存放）"
    buttons, menu = actions.split(items)
    assert len(buttons) <= actions.VISIBLE + 1
    assert [i["action"].key for i in menu][-2:] == ["lost", "dispose"] and menu[-2].get("divider")
    assert "lend" in [i["action"].key for i in buttons]
    client.force_login(keeper)
    page = client.get(asset.get_absolute_url()).content.decode()
    assert "更多" in page and page.index('data-testid="action-lend"') < page.index('data-testid="action-lost"')
    assert page.index('data-testid="action-more"') < page.index('data-testid="action-dispose"')


def test_the_phone_page_offers_lost_for_a_lent_card_with_a_hint(world, keeper):
    asset = card(world)
    make_loan(asset, keeper=keeper)
    asset.refresh_from_db()
    keys = [i["action"].key for i in actions.actions_for(asset, keeper, "mobile")]
    assert keys[0] == "return_loan" and "lost" in keys and keys[-1] == "lost"


# --- Locking ----------------------------------------------------------------------------------------------------------
def test_locked_reads_the_card_and_its_joins_as_stored_now(world, keeper):
    asset = card(world)
    Asset.objects.filter(pk=asset.pk).update(status=S.IDLE)
    fresh = services.locked(asset)
    assert fresh.status == S.IDLE and fresh.category.code == "2010100" and fresh.org_id == world.a.org.pk
    with pytest.raises(Asset.DoesNotExist):
        services.locked(Asset(pk=asset.pk + 10_000))
    assert services.lock_rows(Asset.objects.filter(pk__in=[asset.pk])) == [asset.pk]
    assert AssetEvent.objects.filter(asset=asset).count() == 1


def test_the_card_page_leaves_out_empty_optional_details(world, keeper, client):
    asset = card(world)
    client.force_login(keeper)
    page = client.get(asset.get_absolute_url()).content.decode()
    assert "资产编号" in page and "使用人/保管人" in page and "序列号" not in page and "发票号" not in page
    Asset.objects.filter(pk=asset.pk).update(serial_no="SN-001")
    assert "序列号" in client.get(asset.get_absolute_url()).content.decode()


def test_the_custody_panel_shows_the_open_loan_once_and_a_lost_loan_as_such(world, keeper, client):
    asset = card(world)
    loan = make_loan(asset, keeper=keeper)
    client.force_login(keeper)
    page = client.get(asset.get_absolute_url()).content.decode()
    assert page.count(loan.number) == 1 + page.count(f"单据 {loan.number}")  # the panel names it once
    commands.mark_lost(asset, keeper, note="借用人遗失")
    page = client.get(asset.get_absolute_url()).content.decode()
    assert "借出期间丢失" in page and "以往借用" in page


def test_the_loan_list_filters_loans_ended_by_a_loss_apart(world, keeper):
    from houqin.assets.forms_custody import AssetLoanFilterSet

    returned, lost = card(world, name="相机"), card(world, name="摄像机")
    custody.return_loan(make_loan(returned, keeper=keeper), keeper)
    lost_loan = make_loan(lost, keeper=keeper)
    commands.mark_lost(lost, keeper, note="遗失")
    loans = AssetLoan.objects.filter(org=world.a.org)
    assert [x.pk for x in AssetLoanFilterSet({"state": "lost"}, queryset=loans).qs] == [lost_loan.pk]
    assert lost_loan.pk not in [x.pk for x in AssetLoanFilterSet({"state": "returned"}, queryset=loans).qs]
