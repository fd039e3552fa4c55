"""Custody commands: 领用、退库、调拨 (with approval across departments)、借出/归还 (reminders, signatures)."""

from __future__ import annotations

import base64
import datetime
import io
from decimal import Decimal

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from houqin.assets import custody, services
from houqin.assets.categories import national
from houqin.assets.choices import AssetEventCode, AssetStatus
from houqin.assets.forms_custody import AssetLoanFilterSet
from houqin.assets.models import Asset, AssetEvent, AssetLoan, AssetTransfer, LoanCondition, TransferStatus
from houqin.assets.tests.factories_custody import keeper_of, make_loan
from houqin.core import approvals
from houqin.core.models import DocumentSequence, RoomType
from houqin.core.models.approvals import ApprovalStatus
from houqin.core.models.attachments import Attachment
from houqin.core.models.notifications import Reminder, ReminderState
from houqin.core.testing import factories as f

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()


def png_data_url(*, blank=False, size=(320, 140)) -> str:
    from PIL import Image, ImageDraw

    img = Image.new("RGBA", size, (0, 0, 0, 0))
    if not blank:
        ImageDraw.Draw(img).line([(20, 70), (90, 20), (160, 110), (240, 30), (300, 90)], fill=(10, 10, 10, 255),
                                 width=5)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def card(world, *, status=AssetStatus.IN_USE, name="笔记本计算机", custodian="staff", room=0, org=None):
    school = world.a if org is None else org
    asset = Asset(org=school.org, category=national("2010100"), name=name, unit_price=Decimal("5600.00"),
                  acquired_on=datetime.date(2024, 9, 1), room=school.rooms[room] if room is not None else None,
                  department=school.department, custodian=school.staff if custodian == "staff" else custodian)
    return services.register_asset(asset, status=status)


@pytest.fixture
def keeper(world):
    return keeper_of(world.a.org)


@pytest.fixture
def other_dept(world):
    return f.make_department(world.a.org, "甲教务处")


def events(asset, code):
    return list(AssetEvent.objects.filter(asset=asset, code=code))


# --- 领用 / 退库 ------------------------------------------------------------------------------------------------------
def test_assign_puts_an_idle_card_into_use_with_one_event(world, keeper, other_dept):
    asset = card(world, status=AssetStatus.IDLE, custodian=None)
    custody.assign(asset, keeper, department=other_dept, room=world.a.rooms[1], custodian=world.a.staff,
                   note="新学期领用")
    asset.refresh_from_db()
    assert (asset.status, asset.department, asset.room, asset.custodian) == (
        AssetStatus.IN_USE, other_dept, world.a.rooms[1], world.a.staff)
    [event] = events(asset, AssetEventCode.ASSIGN)
    assert (event.status_before, event.status_after, event.actor, event.note) == (
        AssetStatus.IDLE, AssetStatus.IN_USE, keeper, "新学期领用")
    assert event.changes["department"] == [{"id": world.a.department.pk, "name": "甲总务处"},
                                           {"id": other_dept.pk, "name": "甲教务处"}]
    assert event.changes["custodian"][1]["id"] == world.a.staff.pk and "status" in event.changes
    assert "使用部门：甲总务处 → 甲教务处" in event.changes_display


def test_assign_refuses_wrong_status_other_schools_and_missing_holder(world, keeper):
    in_use = card(world)
    with pytest.raises(ValidationError) as exc:
        custody.assign(in_use, keeper, department=world.a.department, custodian=world.a.staff)
    assert exc.value.messages == ["该资产当前状态为“在用”，不能领用（只有“闲置”的资产可以领用）。"]
    idle = card(world, status=AssetStatus.IDLE, custodian=None)
    with pytest.raises(ValidationError) as exc:
        custody.assign(idle, keeper, department=world.b.department, room=world.b.rooms[0], custodian=world.b.staff)
    assert exc.value.message_dict == {"department": ["使用部门必须是本校的部门。"],
                                      "room": ["存放地点必须是本校的房间。"],
                                      "custodian": ["保管人必须是本校在职人员。"]}
    with pytest.raises(ValidationError) as exc:
        custody.assign(idle, keeper, department=world.a.department, room=None, custodian=None)
    assert "请选择保管人或存放地点" in exc.value.message_dict["custodian"][0]
    idle.refresh_from_db()
    assert idle.status == AssetStatus.IDLE and not events(idle, AssetEventCode.ASSIGN)


def test_commands_need_the_change_permission(world, keeper):
    asset = card(world, status=AssetStatus.IDLE, custodian=None)
    for user in (world.admin_a, world.teacher_a, world.admin_b, world.bureau_admin):
        with pytest.raises(PermissionDenied):
            custody.assign(asset, user, department=world.a.department, custodian=world.a.staff)
    asset.refresh_from_db()
    assert asset.status == AssetStatus.IDLE


def test_return_to_store_clears_the_custodian_and_moves_to_the_store(world, keeper):
    store = f.make_room(floor=world.a.floor, name="总务仓库", number="009", room_type=RoomType.STOREROOM)
    asset = card(world)
    custody.return_to_store(asset, keeper, room=store, note="教师调离")
    asset.refresh_from_db()
    assert (asset.status, asset.custodian, asset.room, asset.department) == (
        AssetStatus.IDLE, None, store, world.a.department)
    [event] = events(asset, AssetEventCode.RETURN_TO_STORE)
    assert set(event.changes) == {"status", "custodian", "room"} and event.note == "教师调离"
    with pytest.raises(ValidationError, match="不能退库"):
        custody.return_to_store(asset, keeper)


def test_a_command_on_a_card_someone_moved_since_the_page_was_loaded_is_refused(world, keeper):
    asset = card(world)
    seen = custody.fingerprint(asset)
    fresh = Asset.objects.get(pk=asset.pk)
    custody.transfer(fresh, keeper, room=world.a.rooms[1])
    with pytest.raises(ValidationError) as exc:
        custody.return_to_store(asset, keeper, expected=seen)
    assert exc.value.messages[0].startswith("该资产刚刚已被他人变更")
    # The caller's own (stale) object is checked the same way when no fingerprint is passed.
    with pytest.raises(ValidationError, match="已被他人变更"):
        custody.transfer(asset, keeper, custodian=None)


# --- 调拨 ------------------------------------------------------------------------------------------------------------
def test_transfer_within_the_department_applies_at_once_in_one_event(world, keeper):
    asset = card(world)
    move = custody.transfer(asset, keeper, room=world.a.rooms[1], custodian=keeper, reason="教室调整")
    asset.refresh_from_db()
    assert (asset.room, asset.custodian, asset.department) == (world.a.rooms[1], keeper, world.a.department)
    assert (move.status, move.needs_approval, move.approval) == (TransferStatus.DONE, False, None)
    assert move.number == f"DB-{TODAY.year}-00001" and move.applied_at is not None
    assert move.summary.startswith("存放地点：") and "保管人：甲校老师 → " in move.summary
    [event] = events(asset, AssetEventCode.TRANSFER)
    assert set(event.changes) == {"room", "custodian"} and event.reference == move.number
    assert event.status_before == event.status_after == AssetStatus.IN_USE
    with pytest.raises(ValidationError) as exc:
        custody.transfer(asset, keeper, room=world.a.rooms[1])
    assert exc.value.messages == ["调拨后的使用部门、存放地点和保管人与现在相同，无需调拨。"]


def test_transfer_across_departments_waits_for_approval_and_then_applies_in_one_step(world, keeper, other_dept):
    asset = card(world)
    with pytest.raises(ValidationError) as exc:
        custody.transfer(asset, keeper, department=other_dept)
    assert exc.value.message_dict == {"reason": ["跨部门调拨须经审批，请填写调拨原因。"]}
    move = custody.transfer(asset, keeper, department=other_dept, room=world.a.rooms[1], custodian=keeper,
                            reason="教师调岗")
    assert move.status == TransferStatus.PENDING and move.needs_approval
    request = move.approval
    assert (request.request_type, request.requester, request.status, move.approval_number) == (
        "transfer", keeper, ApprovalStatus.PENDING, request.number)
    assert request.amount == Decimal("5600.00") and "甲总务处 → 甲教务处" in request.title
    asset.refresh_from_db()
    assert (asset.department, asset.room, asset.custodian) == (world.a.department, world.a.rooms[0], world.a.staff)
    assert not events(asset, AssetEventCode.TRANSFER)

    # While it waits, nothing else moves the card; the refusal names the request.
    for command in (lambda: custody.transfer(asset, keeper, room=world.a.rooms[1]),
                    lambda: custody.return_to_store(asset, keeper),
                    lambda: make_loan(asset, keeper=keeper)):
        with pytest.raises(ValidationError) as exc:
            command()
        assert request.number in exc.value.messages[0] and "审批" in exc.value.messages[0]

    approvals.approve(request, world.head_a, "同意")
    asset.refresh_from_db()
    move.refresh_from_db()
    assert (asset.department, asset.room, asset.custodian) == (other_dept, world.a.rooms[1], keeper)
    assert move.status == TransferStatus.DONE and move.applied_at is not None
    [event] = events(asset, AssetEventCode.TRANSFER)  # one step, not two
    assert set(event.changes) == {"department", "room", "custodian"}
    assert (event.actor, event.reference) == (world.head_a, move.number) and request.number in event.note
    # Free to move again.
    custody.return_to_store(asset, keeper)


@pytest.mark.parametrize("decision", ["reject", "withdraw"])
def test_a_rejected_or_withdrawn_transfer_leaves_the_card_where_it_was(world, keeper, other_dept, decision):
    asset = card(world)
    move = custody.transfer(asset, keeper, department=other_dept, reason="教师调岗")
    if decision == "reject":
        approvals.reject(move.approval, world.head_a, "该教师下学期才调岗")
    else:
        approvals.withdraw(move.approval, keeper)
    move.refresh_from_db()
    asset.refresh_from_db()
    assert move.status == (TransferStatus.REJECTED if decision == "reject" else TransferStatus.WITHDRAWN)
    assert asset.department == world.a.department and not events(asset, AssetEventCode.TRANSFER)
    custody.transfer(asset, keeper, room=world.a.rooms[1])  # no longer blocked


def test_approval_is_refused_when_the_card_can_no_longer_move_as_requested(world, keeper, other_dept):
    asset = card(world)
    move = custody.transfer(asset, keeper, department=other_dept, reason="教师调岗")
    Asset.objects.filter(pk=asset.pk).update(status=AssetStatus.LOST)  # e.g. reported lost meanwhile
    with pytest.raises(ValidationError) as exc:
        approvals.approve(move.approval, world.head_a)
    assert "当前状态为“丢失”，不能调拨，请驳回该申请" in exc.value.messages[0]
    move.refresh_from_db()
    move.approval.refresh_from_db()
    assert move.status == TransferStatus.PENDING and move.approval.status == ApprovalStatus.PENDING
    assert Asset.objects.get(pk=asset.pk).department == world.a.department


def test_transfer_refuses_targets_of_another_school_and_inactive_rooms(world, keeper):
    asset = card(world)
    closed = f.make_room(floor=world.a.floor, name="已停用教室", number="199", is_active=False)
    with pytest.raises(ValidationError) as exc:
        custody.transfer(asset, keeper, room=closed, custodian=world.b.staff)
    assert exc.value.message_dict == {"room": [f"房间“{closed}”已停用，请选择其他地点。"],
                                      "custodian": ["保管人必须是本校在职人员。"]}
    assert not AssetTransfer.objects.exists()
    assert not DocumentSequence.objects.filter(doc_type="DB").exists()  # refused before a number was taken


# --- 借出 / 归还 -----------------------------------------------------------------------------------------------------
def reminders(loan):
    ct = ContentType.objects.get_for_model(AssetLoan)
    return {r.key: r for r in Reminder.objects.filter(source_type=ct, source_id=str(loan.pk))}


def test_lend_to_a_member_with_a_signature(world, keeper):
    asset = card(world, status=AssetStatus.IDLE, custodian=None)
    due = TODAY + datetime.timedelta(days=10)
    loan = custody.lend(asset, keeper, borrower=world.a.staff, purpose="外出赛课", due_on=due,
                        signature=png_data_url())
    asset.refresh_from_db()
    assert asset.status == AssetStatus.LENT
    assert (loan.number, loan.borrower_name, loan.status_before, loan.lent_by) == (
        f"JY-{TODAY.year}-00001", "甲校老师", AssetStatus.IDLE, keeper)
    assert not loan.signature_pending and loan.signed_at is not None
    [event] = events(asset, AssetEventCode.LEND)
    assert (event.status_before, event.status_after, event.reference) == (AssetStatus.IDLE, AssetStatus.LENT,
                                                                          loan.number)
    assert "借用人：甲校老师" in event.note and due.isoformat() in event.note
    [signature] = Attachment.objects.filter(object_id=loan.pk, content_type=ContentType.objects.get_for_model(loan))
    assert signature.caption == "借用人签字" and signature.mime_type.startswith("image/")
    keys = reminders(loan)
    assert set(keys) == {custody.LOAN_REMINDER, custody.LOAN_BORROWER_REMINDER}
    assert list(keys[custody.LOAN_REMINDER].users.all()) == [keeper] and keys[custody.LOAN_REMINDER].due_date == due
    assert list(keys[custody.LOAN_BORROWER_REMINDER].users.all()) == [world.a.staff]
    assert keys[custody.LOAN_BORROWER_REMINDER].url == "/assets/mine/"


def test_lend_needs_a_signature_unless_the_keeper_says_the_borrower_signs_later(world, keeper):
    asset = card(world)
    due = TODAY + datetime.timedelta(days=3)
    with pytest.raises(ValidationError) as exc:
        custody.lend(asset, keeper, borrower=world.a.staff, purpose="录课", due_on=due)
    assert exc.value.message_dict == {
        "signature": ["请借用人在屏幕上签字；借用人不在场时，请勾选“借用人不在场，稍后补签”。"]}
    for bad, message in ((png_data_url(blank=True), "签字区域是空白的，请借用人在框内签字。"),
                         ("data:image/png;base64," + base64.b64encode(b"GIF89a" + b"0" * 100).decode(),
                          "签字图片格式不正确，请重新签字。"),
                         ("data:image/png;base64,!!!notbase64", "签字图片已损坏，请重新签字。"),
                         ("data:image/jpeg;base64,/9j/4AAQ", "签字图片格式不正确，请重新签字。"),
                         ("data:image/png;base64," + "A" * 800_000, "签字图片过大，请清除后重新签字。")):
        with pytest.raises(ValidationError) as exc:
            custody.lend(asset, keeper, borrower=world.a.staff, purpose="录课", due_on=due, signature=bad)
        assert exc.value.message_dict["signature"] == [message]
    assert not AssetLoan.objects.exists() and Asset.objects.get(pk=asset.pk).status == AssetStatus.IN_USE
    assert not DocumentSequence.objects.filter(doc_type="JY").exists()
    loan = custody.lend(asset, keeper, borrower=world.a.staff, purpose="录课", due_on=due, signature_later=True)
    assert loan.signature_pending and loan.signed_at is None
    assert "稍后补签" in events(asset, AssetEventCode.LEND)[0].note
    # The borrower signs afterwards (补签), once.
    custody.sign_loan(loan, keeper, signature=png_data_url())
    loan.refresh_from_db()
    assert not loan.signature_pending and loan.signed_at is not None
    assert [s.caption for s in custody.signatures_of(loan)] == ["借用人签字"]
    with pytest.raises(ValidationError, match="无需补签"):
        custody.sign_loan(loan, keeper, signature=png_data_url())


def test_lend_to_an_outsider_needs_name_and_phone(world, keeper):
    asset = card(world)
    due = TODAY + datetime.timedelta(days=2)
    with pytest.raises(ValidationError) as exc:
        custody.lend(asset, keeper, purpose="", due_on=TODAY - datetime.timedelta(days=1), signature_later=True,
                     borrower_phone="abc")
    assert exc.value.message_dict == {"borrower_name": ["请填写借用人姓名。"],
                                      "borrower_phone": ["请填写正确的电话号码（如 13812345678 或 0571-88886666）。"],
                                      "purpose": ["请填写借用用途。"], "due_on": ["应还日期不能早于借出日期。"]}
    with pytest.raises(ValidationError) as exc:
        custody.lend(asset, keeper, borrower=world.b.staff, purpose="活动", due_on=due, signature_later=True)
    assert "借用人必须是本校在职人员" in exc.value.message_dict["borrower"][0]
    loan = custody.lend(asset, keeper, borrower_name="王社工", borrower_phone="0571-88886666", purpose="社区活动",
                        due_on=due, signature=png_data_url())
    assert loan.is_outsider and loan.borrower_display == "王社工（校外）"
    assert set(reminders(loan)) == {custody.LOAN_REMINDER}  # an outsider has no account to remind
    with pytest.raises(ValidationError, match="不能借出"):
        make_loan(asset, keeper=keeper)


def test_return_restores_the_status_and_completes_the_reminders(world, keeper):
    asset = card(world, status=AssetStatus.IDLE, custodian=None)
    loan = make_loan(asset, keeper=keeper, borrower=world.a.staff)
    returned = custody.return_loan(loan, keeper, condition=LoanCondition.GOOD, signature=png_data_url())
    asset.refresh_from_db()
    assert asset.status == AssetStatus.IDLE  # what it was before the loan
    assert (returned.returned_to, returned.return_condition) == (keeper, LoanCondition.GOOD)
    assert returned.returned_at is not None and returned.return_signed_at is not None
    [event] = events(asset, AssetEventCode.RETURN)
    assert (event.status_before, event.status_after, event.reference) == (AssetStatus.LENT, AssetStatus.IDLE,
                                                                          loan.number)
    assert {r.state for r in reminders(loan).values()} == {ReminderState.DONE}
    assert [s.caption for s in custody.signatures_of(loan)] == ["归还签字"]
    with pytest.raises(ValidationError, match="不能重复办理"):
        custody.return_loan(loan, keeper)


def test_return_with_damage_keeps_the_status_and_asks_for_the_damage_record(world, keeper):
    asset = card(world)
    loan = make_loan(asset, keeper=keeper, borrower=world.a.staff)
    with pytest.raises(ValidationError) as exc:
        custody.return_loan(loan, keeper, condition=LoanCondition.DAMAGED)
    assert exc.value.message_dict == {"note": ["资产有损坏，请说明损坏情况。"]}
    assert AssetLoan.objects.get(pk=loan.pk).is_open
    loan = custody.return_loan(loan, keeper, condition=LoanCondition.DAMAGED, note="屏幕碎裂")
    asset.refresh_from_db()
    assert asset.status == AssetStatus.IN_USE and loan.damaged_on_return
    assert "有损坏" in events(asset, AssetEventCode.RETURN)[0].note


def test_overdue_loans_and_the_loan_filters(world, keeper):
    late = make_loan(card(world, name="逾期电脑"), keeper=keeper, borrower=world.a.staff,
                     due_on=TODAY + datetime.timedelta(days=1))
    AssetLoan.objects.filter(pk=late.pk).update(lent_at=timezone.now() - datetime.timedelta(days=9),
                                                due_on=TODAY - datetime.timedelta(days=2))
    on_time = make_loan(card(world, name="按期电脑"), keeper=keeper, due_on=TODAY)
    back = make_loan(card(world, name="已还电脑"), keeper=keeper)
    custody.return_loan(back, keeper)
    late.refresh_from_db()
    assert late.is_overdue and late.overdue_days == 2 and late.state_display == "已逾期"
    assert not AssetLoan.objects.get(pk=on_time.pk).is_overdue  # due today: not yet late

    def pick(state):
        qs = AssetLoanFilterSet({"state": state}, AssetLoan.objects.all()).qs
        return set(qs.values_list("pk", flat=True))

    assert pick("overdue") == {late.pk}
    assert pick("open") == {late.pk, on_time.pk}
    assert pick("returned") == {back.pk}


def test_lend_and_return_refuse_cards_in_other_statuses(world, keeper):
    repairing = card(world, status=AssetStatus.REPAIRING)
    with pytest.raises(ValidationError) as exc:
        make_loan(repairing, keeper=keeper)
    assert exc.value.messages == ["该资产当前状态为“维修中”，不能借出（只有“在用”、“闲置”的资产可以借出）。"]
    asset = card(world)
    loan = make_loan(asset, keeper=keeper)
    Asset.objects.filter(pk=asset.pk).update(status=AssetStatus.LOST)
    with pytest.raises(ValidationError, match="不是“借出”，不能办理归还"):
        custody.return_loan(loan, keeper)
    assert AssetLoan.objects.get(pk=loan.pk).is_open


# --- 批量调拨 --------------------------------------------------------------------------------------------------------
def test_batch_transfer_is_all_or_nothing(world, keeper, other_dept):
    first, second, third = card(world, name="电脑一"), card(world, name="电脑二"), card(world, name="电脑三")
    already = card(world, name="已在目标处", room=1)
    blocked = custody.transfer(third, keeper, department=other_dept, reason="调岗")
    with pytest.raises(ValidationError) as exc:
        custody.transfer_batch([first, second, third], keeper, room=world.a.rooms[1], reason="教室调整")
    assert exc.value.messages[0].startswith(f"{third.number} 电脑三：该资产有一项调拨正在审批中（审批单 "
                                            f"{blocked.approval_number}）")
    assert "本批均未调拨" in exc.value.messages[0]
    assert set(Asset.objects.filter(pk__in=[first.pk, second.pk]).values_list("room", flat=True)) == {
        world.a.rooms[0].pk}
    assert AssetTransfer.objects.count() == 1
    moves = custody.transfer_batch([first, second, already], keeper, room=world.a.rooms[1], reason="教室调整")
    assert [m.asset_id for m in moves] == [first.pk, second.pk]  # the card already there is left alone
    assert set(Asset.objects.filter(pk__in=[first.pk, second.pk]).values_list("room", flat=True)) == {
        world.a.rooms[1].pk}
    across = custody.transfer_batch([first, second], keeper, department=other_dept, reason="整组调往教务处")
    assert {m.status for m in across} == {TransferStatus.PENDING}
    assert len({m.approval_id for m in across}) == 2  # one request per card
    with pytest.raises(ValidationError) as exc:
        custody.transfer_batch([], keeper, room=world.a.rooms[0])
    assert exc.value.message_dict == {"assets": ["请选择要调拨的资产。"]}
