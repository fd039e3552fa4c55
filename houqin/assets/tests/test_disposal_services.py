"""Damage, compensation, disposal and the plain status commands (houqin.assets.disposal)."""

from __future__ import annotations

import datetime
import io
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from houqin.assets import disposal as commands
from houqin.assets.choices import AssetEventCode, AssetStatus
from houqin.assets.models import Asset, AssetDamage, AssetDisposal, AssetDisposalItem, AssetEvent
from houqin.assets.models.disposal import CompensationStatus, DamageOutcome, DisposalStatus, ResponsibleKind
from houqin.assets.tests.factories import make_asset
from houqin.assets.tests.factories_disposal import make_damage, make_disposal, make_keeper, make_principal
from houqin.core import approvals
from houqin.core.context import acting_as
from houqin.core.models import ChangeLogEntry
from houqin.core.models.approvals import ApprovalStatus
from houqin.core.models.attachments import Attachment
from houqin.core.testing.factories import make_user

pytestmark = pytest.mark.django_db
S = AssetStatus
TODAY = timezone.localdate()
YEAR = TODAY.year
OLD = datetime.date(2015, 9, 1)  # computers bought then are past their minimum life of 6 years


def card(world, school="a", **fields):
    fields.setdefault("acquired_on", OLD)
    org = getattr(world, school).org
    return make_asset(org, name=fields.pop("name", "台式计算机"), **fields)


def codes(asset):
    return list(asset.events.order_by("time", "pk").values_list("code", "status_before", "status_after"))


def jpeg(size=(64, 48)) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, "JPEG")
    return buffer.getvalue()


def approve_all(disposal, principal, bureau):
    """Take a disposal request through every frozen step (校长, 教育局, 财政部门 as recorded by the bureau)."""
    request = disposal.approval
    request.refresh_from_db()
    while request.status == ApprovalStatus.PENDING:
        step = request.current
        user = principal if step["approver"] == "principal" else bureau
        approvals.approve(request, user, "同意" if step["kind"] != "record" else "2026-06-20 财政局批复同意")
    disposal.refresh_from_db()
    return request


# --- Status commands ----------------------------------------------------------------------------------------------
def test_idle_and_back_in_use_are_recorded_and_only_from_the_right_status(world):
    asset = card(world)
    commands.mark_idle(asset, world.head_a, note="课程调整，暂存仓库")
    assert asset.status == S.IDLE and Asset.objects.get(pk=asset.pk).status == S.IDLE
    with pytest.raises(ValidationError) as refused:
        commands.mark_idle(asset, world.head_a)
    assert refused.value.messages == [f"资产 {asset.number} 当前为“闲置”，不能转为闲置。"]
    commands.mark_in_use(asset, world.head_a)
    assert asset.status == S.IN_USE
    assert codes(asset)[1:] == [(AssetEventCode.IDLE, S.IN_USE, S.IDLE), (commands.REUSE_CODE, S.IDLE, S.IN_USE)]
    idle_event = asset.events.get(code=AssetEventCode.IDLE)
    assert idle_event.note == "课程调整，暂存仓库" and idle_event.actor == world.head_a
    assert idle_event.changes == {"status": [S.IN_USE, S.IDLE]}
    assert "状态：在用 → 闲置" in idle_event.changes_display


def test_a_user_who_may_not_change_the_card_is_refused_and_nothing_changes(world):
    asset = card(world)
    for user in (world.admin_a, world.bureau_admin, world.admin_b, world.teacher_a):
        with pytest.raises(PermissionDenied):
            commands.mark_idle(asset, user)
        with pytest.raises(PermissionDenied):
            commands.mark_damaged(asset, user, occurred_on=TODAY, description="碎了", outcome="usable")
    assert Asset.objects.get(pk=asset.pk).status == S.IN_USE
    assert asset.events.count() == 1 and not AssetDamage.objects.exists()


def test_repair_goes_back_to_the_status_it_came_from_or_to_pending_disposal(world):
    asset = card(world)
    commands.mark_idle(asset, world.head_a)
    commands.start_repair(asset, world.head_a, reference="WX-2026-00012")
    assert asset.status == S.REPAIRING
    with pytest.raises(ValidationError, match="当前为“维修中”，不能送修"):
        commands.start_repair(asset, world.head_a)
    commands.finish_repair(asset, world.head_a, reference="WX-2026-00012")
    assert asset.status == S.IDLE  # it was idle when it was sent
    repair, repaired = asset.events.filter(code__in=("repair", "repaired")).order_by("time", "pk")
    assert repair.reference == repaired.reference == "WX-2026-00012"
    commands.mark_in_use(asset, world.head_a)
    commands.start_repair(asset, None, reference="WX-2026-00013")  # the repairs app, no user: allowed
    commands.finish_repair(asset, None, reference="WX-2026-00013", outcome="unrepairable", note="主板烧毁")
    assert asset.status == S.PENDING_DISPOSAL
    last = asset.events.order_by("-time", "-pk").first()
    assert (last.code, last.note, last.actor_name) == (AssetEventCode.DAMAGE, "维修结论：无法修复，待处置。主板烧毁",
                                                         "系统")
    with pytest.raises(ValidationError):
        commands.finish_repair(asset, None)
    with pytest.raises(ValidationError) as bad:
        commands.finish_repair(asset, None, outcome="maybe")
    assert bad.value.message_dict == {"outcome": ["维修结果只能是“已修复”或“无法修复”。"]}


def test_repair_is_refused_for_lent_and_disposed_cards(world):
    lent = card(world)
    Asset.objects.filter(pk=lent.pk).update(status=S.LENT)
    with pytest.raises(ValidationError, match="借出中的资产请先办理归还"):
        commands.start_repair(lent, None)
    gone = card(world)
    Asset.objects.filter(pk=gone.pk).update(status=S.DISPOSED, disposed_on=TODAY)
    with pytest.raises(ValidationError, match="已处置（核销）的资产不能再办理业务"):
        commands.start_repair(gone, None)


def test_lost_needs_the_circumstances_and_found_restores_the_status(world):
    asset = card(world)
    commands.mark_idle(asset, world.head_a)
    with pytest.raises(ValidationError) as refused:
        commands.mark_lost(asset, world.head_a, note=" ")
    assert refused.value.message_dict == {"note": ["请说明丢失的经过（何时、何地发现丢失）。"]}
    commands.mark_lost(asset, world.head_a, note="仓库清点时未找到")
    assert asset.status == S.LOST
    with pytest.raises(ValidationError):
        commands.mark_idle(asset, world.head_a)
    commands.mark_found(asset, world.head_a, note="在器材室找到")
    assert asset.status == S.IDLE
    assert [c for c, _, _ in codes(asset)][-2:] == [AssetEventCode.LOSE, AssetEventCode.FOUND]


# --- Damage and compensation ----------------------------------------------------------------------------------------
def test_damage_by_a_pupil_with_compensation(world):
    asset = card(world, name="学生平板电脑")
    with acting_as(world.head_a):
        damage = commands.mark_damaged(
            asset, world.head_a, occurred_on=TODAY, description="屏幕摔碎", outcome=DamageOutcome.USABLE,
            responsible_kind=ResponsibleKind.PUPIL, responsible_name="王小明", responsible_detail="三年级(2)班",
            compensation_amount="680", note="家长已同意赔偿")
    damage.refresh_from_db()
    assert (damage.status_before, damage.status_after, damage.compensation_status) == (S.IN_USE, S.IN_USE, "unpaid")
    assert damage.compensation_amount == Decimal("680.00") and damage.payer == "王小明"
    assert damage.responsible_display == "王小明（三年级(2)班）" and damage.recorded_by == world.head_a
    assert damage.compensation_display == "未赔偿（应赔 680.00 元）"
    event = asset.events.get(code=AssetEventCode.DAMAGE)
    assert event.status_before == event.status_after == S.IN_USE and event.changes == {}
    assert event.note == "屏幕摔碎（可继续使用）"  # who and how much stay in the ledger (its own permission)
    # 赔偿到账: its own command, in the change log with who entered it.
    with pytest.raises(ValidationError) as refused:
        commands.mark_compensation_paid(damage, world.head_a, paid_on=TODAY, receipt_no="")
    assert refused.value.message_dict == {"receipt_no": ["请填写收据号。"]}
    with acting_as(world.head_a):
        commands.mark_compensation_paid(damage, world.head_a, paid_on=TODAY, receipt_no="SJ-0088")
    damage.refresh_from_db()
    assert (damage.compensation_status, damage.paid_amount, damage.receipt_no) == ("paid", Decimal("680.00"),
                                                                                    "SJ-0088")
    entry = ChangeLogEntry.objects.filter(object_id=str(damage.pk), action="update",
                                          content_type__model="assetdamage").latest("pk")
    assert entry.user == world.head_a
    assert (entry.before["compensation_status"], entry.after["compensation_status"]) == ("unpaid", "paid")
    with pytest.raises(ValidationError, match="已于 .* 登记收款（收据号 SJ-0088）"):
        commands.mark_compensation_paid(damage, world.head_a, paid_on=TODAY, receipt_no="SJ-0089")
    with pytest.raises(ValidationError, match="赔偿款已收取"):
        commands.update_compensation(damage, world.head_a, amount="10")


def test_damage_outcomes_move_the_card(world):
    sent = card(world)
    make_damage(sent, world.head_a, outcome=DamageOutcome.REPAIR, responsible_kind=ResponsibleKind.NONE,
                responsible_name="")
    assert sent.status == S.REPAIRING
    assert codes(sent)[1:] == [(AssetEventCode.DAMAGE, S.IN_USE, S.IN_USE), (AssetEventCode.REPAIR, S.IN_USE,
                                                                             S.REPAIRING)]
    assert commands.last_repair_reference(sent) == ""  # sent from the damage page, not by a work order
    broken = card(world)
    damage = make_damage(broken, world.head_a, outcome=DamageOutcome.UNREPAIRABLE,
                         responsible_kind=ResponsibleKind.MEMBER, responsible_user=world.a.staff)
    assert broken.status == S.PENDING_DISPOSAL and damage.status_after == S.PENDING_DISPOSAL
    assert damage.responsible_name == world.a.staff.full_name and damage.compensation_status == "none"
    # A card on loan: only 可继续使用 until it is returned.
    lent = card(world)
    Asset.objects.filter(pk=lent.pk).update(status=S.LENT)
    with pytest.raises(ValidationError) as refused:
        make_damage(lent, world.head_a, outcome=DamageOutcome.REPAIR)
    assert refused.value.message_dict == {"outcome": ["借出中的资产请先办理归还，再登记送修或待处置。"]}
    make_damage(lent, world.head_a, outcome=DamageOutcome.USABLE)
    assert Asset.objects.get(pk=lent.pk).status == S.LENT


def test_damage_input_is_checked_and_nothing_is_saved(world):
    asset = card(world)
    cases = [
        ({"occurred_on": TODAY + datetime.timedelta(days=1)}, "occurred_on", "损坏日期不能晚于今天。"),
        ({"occurred_on": datetime.date(2010, 1, 1)}, "occurred_on", "损坏日期不能早于资产的取得日期（2015-09-01）。"),
        ({"description": "  "}, "description", "请填写损坏情况。"),
        ({"responsible_kind": ResponsibleKind.MEMBER, "responsible_user": None}, "responsible_user",
         "请选择本校的责任人。"),
        ({"responsible_kind": ResponsibleKind.MEMBER, "responsible_user": world.b.staff}, "responsible_user",
         "责任人必须是本校人员。"),
        ({"responsible_kind": ResponsibleKind.OUTSIDER, "responsible_name": ""}, "responsible_name",
         "请填写责任人姓名。"),
        ({"responsible_kind": ResponsibleKind.NONE, "compensation_amount": "50"}, "compensation_amount",
         "无责任人（自然损耗）时不需要赔偿；如需赔偿，请填写责任人。"),
        ({"compensation_amount": "-1"}, "compensation_amount", "金额不能为负数。"),
        ({"compensation_amount": "1.005"}, "compensation_amount", "金额最多保留两位小数。"),
    ]
    for overrides, field, message in cases:
        values = {"occurred_on": TODAY, "description": "桌面开裂", "outcome": "usable", "responsible_kind": "pupil",
                      "responsible_name": "李华"}
        values.update(overrides)
        with pytest.raises(ValidationError) as refused:
            commands.mark_damaged(asset, world.head_a, **values)
        assert refused.value.message_dict[field] == [message], overrides
    assert not AssetDamage.objects.exists() and asset.events.count() == 1


def test_damage_photos_are_attached_and_a_bad_file_saves_nothing(world, settings, tmp_path):
    settings.HOUQIN_ATTACHMENTS_DIR = tmp_path
    asset = card(world)
    bad = SimpleUploadedFile("病毒.jpg", b"MZ\x90\x00not a photo", content_type="image/jpeg")
    with pytest.raises(ValidationError) as refused:
        make_damage(asset, world.head_a, outcome=DamageOutcome.REPAIR, photos=[
            SimpleUploadedFile("好.jpg", jpeg(), content_type="image/jpeg"), bad])
    assert "photos" in refused.value.message_dict and "可执行程序" in refused.value.message_dict["photos"][0]
    assert not AssetDamage.objects.exists() and Asset.objects.get(pk=asset.pk).status == S.IN_USE
    assert asset.events.count() == 1 and not Attachment.objects.exists()
    damage = make_damage(asset, world.head_a, photos=[SimpleUploadedFile("碎屏.jpg", jpeg(), "image/jpeg")])
    attachment = Attachment.objects.get()
    assert attachment.object_id == damage.pk and attachment.caption == "损坏照片"


def test_compensation_can_be_set_later_and_cleared_before_payment(world):
    damage = make_damage(card(world), world.head_a, responsible_name="赵六")
    assert damage.compensation_status == CompensationStatus.NONE
    commands.update_compensation(damage, world.head_a, amount="150.50", payer="赵六家长")
    damage.refresh_from_db()
    assert (damage.compensation_status, damage.compensation_amount, damage.payer) == ("unpaid", Decimal("150.50"),
                                                                                       "赵六家长")
    with pytest.raises(ValidationError, match="收款日期不能早于损坏日期"):
        commands.mark_compensation_paid(damage, world.head_a, paid_on=damage.occurred_on - datetime.timedelta(1),
                                        receipt_no="X1")
    commands.update_compensation(damage, world.head_a, amount=None)
    damage.refresh_from_db()
    assert damage.compensation_status == "none" and damage.compensation_amount is None and damage.payer == ""
    with pytest.raises(ValidationError, match="无需赔偿"):
        commands.mark_compensation_paid(damage, world.head_a, paid_on=TODAY, receipt_no="X1")
    natural = make_damage(card(world), world.head_a, responsible_kind=ResponsibleKind.NONE, responsible_name="")
    with pytest.raises(ValidationError):
        commands.update_compensation(natural, world.head_a, amount="10")


# --- Disposal requests ------------------------------------------------------------------------------------------
def test_a_request_freezes_the_cards_and_goes_to_approval_by_total_original_value(world):
    idle = card(world, name="旧电脑 1")
    commands.mark_idle(idle, world.head_a)
    cards = [idle, card(world, name="旧电脑 2"), card(world, name="旧电脑 3")]
    disposal = make_disposal(cards, world.head_a, meeting_note="校长办公会研究同意")
    assert disposal.number == f"CZ-{YEAR}-00001" and disposal.status == DisposalStatus.PENDING
    assert (disposal.item_count, disposal.total_value) == (3, Decimal("14940.00"))
    assert disposal.total_net_value == Decimal("0.00")  # 2015 computers, fully depreciated
    assert disposal.warnings == "" and disposal.requested_by == world.head_a and disposal.requested_on == TODAY
    request = disposal.approval
    assert request.amount == Decimal("14940.00") and request.status == ApprovalStatus.PENDING
    assert [s["approver"] for s in request.steps] == ["principal", "bureau", "bureau_finance"]
    assert request.source == disposal and request.title == "资产处置（报废）：旧电脑 1 等 3 项"
    items = {i.asset_id: i for i in disposal.items.all()}
    assert items[idle.pk].status_before == S.IDLE and items[cards[1].pk].status_before == S.IN_USE
    assert all(i.original_value == Decimal("4980.00") and i.is_open for i in items.values())
    for asset in cards:
        asset.refresh_from_db()
        assert asset.status == S.PENDING_DISPOSAL
        event = asset.events.latest("pk")
        assert (event.code, event.reference, event.status_after) == ("disposal_request", disposal.number,
                                                                     S.PENDING_DISPOSAL)
    assert make_disposal([card(world)], world.head_a).number == f"CZ-{YEAR}-00002"


@pytest.mark.parametrize(("price", "approvers"), [
    ("499.99", ["principal"]),
    ("500.00", ["principal", "bureau"]),
    ("999.99", ["principal", "bureau"]),
    ("1000.00", ["principal", "bureau", "bureau_finance"]),
])
def test_the_band_follows_the_total_original_value(world, price, approvers):
    asset = card(world, category="6010300", name="办公椅", unit_price=price)
    disposal = make_disposal([asset], world.head_a)
    assert [s["approver"] for s in disposal.approval.steps] == approvers


def test_cards_that_cannot_be_disposed_are_refused_with_reasons_and_nothing_is_saved(world):
    lent, gone, taken, mine = card(world, name="借出电脑"), card(world, name="报废电脑"), card(world), card(world)
    Asset.objects.filter(pk=lent.pk).update(status=S.LENT)
    Asset.objects.filter(pk=gone.pk).update(status=S.DISPOSED, disposed_on=TODAY)
    first = make_disposal([taken], world.head_a)
    other_school = card(world, "b", name="乙校电脑")
    before = (AssetDisposal.objects.count(), AssetEvent.objects.count())
    with pytest.raises(ValidationError) as refused:
        make_disposal([mine, lent, gone, taken, other_school], world.head_a)
    problems = refused.value.message_dict["assets"]
    assert f"找不到资产（编号 {other_school.pk}）。" in problems  # another school's card is never named
    assert f"{lent.number} 借出电脑：当前为“借出”。借出中的资产请先办理归还。" in problems
    assert f"{gone.number} 报废电脑：当前为“已处置”。已处置（核销）的资产不能再办理业务。" in problems
    assert f"{taken.number} 台式计算机：已在处置单 {first.number}（审批中）中。" in problems
    assert (AssetDisposal.objects.count(), AssetEvent.objects.count()) == before
    assert Asset.objects.get(pk=mine.pk).status == S.IN_USE
    with pytest.raises(ValidationError) as empty:
        commands.request_disposal([], world.head_a, org=world.a.org, method="scrap", reason="x")
    assert empty.value.message_dict == {"assets": ["请至少选择一项资产。"]}
    with pytest.raises(ValidationError) as fields:
        make_disposal([mine], world.head_a, method="donate", reason=" ")
    assert fields.value.message_dict == {"reason": ["请填写处置原因。"], "recipient": ["调拨、捐赠须填写接收单位。"]}
    with pytest.raises(PermissionDenied):
        make_disposal([mine], world.admin_a)


def test_a_card_is_in_at_most_one_open_disposal_even_without_the_checks(world):
    disposal = make_disposal([card(world)], world.head_a)
    item = disposal.items.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        AssetDisposalItem.objects.create(
            org=world.a.org, disposal=make_disposal([card(world)], world.head_a), asset=item.asset,
            status_before=S.IN_USE, original_value=1, accumulated_depreciation=0, net_value=1)


def test_a_young_card_gives_a_warning_recorded_on_the_request_not_a_refusal(world):
    young = card(world, name="新电脑", acquired_on=datetime.date(YEAR - 2, 1, 10))
    old = card(world)
    disposal = make_disposal([young, old], world.head_a)
    assert young.number in disposal.warnings and "未达到最低使用年限 6 年（计算机设备）" in disposal.warnings
    assert old.number not in disposal.warnings
    items = {i.asset_id: i for i in disposal.items.all()}
    assert items[young.pk].under_min_life and items[young.pk].min_life_years == 6
    assert not items[old.pk].under_min_life
    comment = disposal.approval.actions.get().comment
    assert comment.startswith("提示：1 项资产未达到最低使用年限") and young.number in comment


def test_no_disposal_without_approval_then_the_cards_are_written_off(world):
    principal = make_principal(world.a.org)
    cards = [card(world, name=f"旧电脑 {n}") for n in (1, 2)]
    disposal = make_disposal(cards, world.head_a, method="sell", recipient="县再生资源回收公司")
    with pytest.raises(ValidationError) as refused:
        commands.record_disposal(disposal, world.head_a, disposed_on=TODAY, actual_income="120")
    assert refused.value.messages == ["处置申请尚未审批通过（审批状态：审批中），不能办理处置。"]
    approvals.approve(disposal.approval, principal, "同意")
    disposal.refresh_from_db()
    assert disposal.status == DisposalStatus.PENDING  # still at the bureau
    with pytest.raises(ValidationError):
        commands.record_disposal(disposal, world.head_a, disposed_on=TODAY)
    approve_all(disposal, principal, world.bureau_admin)
    assert disposal.status == DisposalStatus.APPROVED
    assert all(Asset.objects.get(pk=c.pk).status == S.PENDING_DISPOSAL for c in cards)  # nothing written off yet
    with pytest.raises(PermissionDenied):
        commands.record_disposal(disposal, world.admin_a, disposed_on=TODAY)
    with pytest.raises(ValidationError) as early:
        commands.record_disposal(disposal, world.head_a, disposed_on=TODAY - datetime.timedelta(days=1))
    assert early.value.message_dict == {"disposed_on": [f"处置日期不能早于审批通过的日期（{TODAY:%Y-%m-%d}）。"]}
    commands.record_disposal(disposal, world.head_a, disposed_on=TODAY, actual_income="120", buyer="",
                             document_no="回收单 2026-018", note="整批回收")
    assert disposal.status == DisposalStatus.DONE and disposal.buyer == "县再生资源回收公司"
    assert disposal.actual_income == Decimal("120.00") and disposal.recorded_by == world.head_a
    for asset in cards:
        asset.refresh_from_db()
        assert (asset.status, asset.disposed_on) == (S.DISPOSED, TODAY)
        event = asset.events.latest("pk")
        assert (event.code, event.reference) == (AssetEventCode.DISPOSE, disposal.number)
        assert event.changes == {"status": [S.PENDING_DISPOSAL, S.DISPOSED], "disposed_on": [None, TODAY.isoformat()]}
    assert not disposal.items.filter(is_open=True).exists()
    with pytest.raises(ValidationError, match="已于 .* 办理完成"):
        commands.record_disposal(disposal, world.head_a, disposed_on=TODAY)


def test_depreciation_stops_in_the_month_of_disposal(world):
    principal = make_principal(world.a.org)
    asset = card(world, acquired_on=datetime.date(YEAR - 2, 1, 5))
    disposal = make_disposal([asset], world.head_a)
    approve_all(disposal, principal, world.bureau_admin)
    before = asset.depreciation(TODAY)
    commands.record_disposal(disposal, world.head_a, disposed_on=TODAY)
    asset.refresh_from_db()
    after = asset.depreciation(TODAY)
    assert after.monthly == 0 and after.accumulated == before.accumulated - before.monthly
    assert disposal.items.get().final_net_value == after.net > 0


def test_buyer_is_required_when_selling(world):
    principal = make_principal(world.a.org)
    disposal = make_disposal([card(world)], world.head_a, method="sell")  # the buyer may be unknown until auction
    approve_all(disposal, principal, world.bureau_admin)
    with pytest.raises(ValidationError) as refused:
        commands.record_disposal(disposal, world.head_a, disposed_on=TODAY)
    assert refused.value.message_dict == {"buyer": ["调拨、捐赠、出售须填写接收方或买受人。"]}


@pytest.mark.parametrize("how", ["reject", "withdraw"])
def test_refusal_or_withdrawal_gives_the_cards_back_their_status(world, how):
    principal = make_principal(world.a.org)
    idle, used = card(world), card(world)
    commands.mark_idle(idle, world.head_a)
    disposal = make_disposal([idle, used], world.head_a)
    if how == "reject":
        approvals.reject(disposal.approval, principal, "还能用，暂不处置")
    else:
        approvals.withdraw(disposal.approval, world.head_a, "填错了")
    disposal.refresh_from_db()
    assert disposal.status == (DisposalStatus.REJECTED if how == "reject" else DisposalStatus.WITHDRAWN)
    assert Asset.objects.get(pk=idle.pk).status == S.IDLE and Asset.objects.get(pk=used.pk).status == S.IN_USE
    event = used.events.latest("pk")
    assert (event.code, event.status_before, event.status_after, event.reference) == (
        AssetEventCode.ADJUST, S.PENDING_DISPOSAL, S.IN_USE, disposal.number)
    assert event.actor == (principal if how == "reject" else world.head_a)
    assert not disposal.items.filter(is_open=True).exists()
    again = make_disposal([idle, used], world.head_a)  # the cards are free for a new request
    assert again.number != disposal.number and again.item_count == 2


def test_a_sent_back_request_is_changed_and_resubmitted_with_the_new_band(world):
    principal = make_principal(world.a.org)
    keep = card(world, category="6010300", name="旧椅子", unit_price="300.00")
    drop = card(world, name="还能用的电脑")
    disposal = make_disposal([keep, drop], world.head_a)
    assert len(disposal.approval.steps) == 3
    approvals.send_back(disposal.approval, principal, "电脑还能用，请去掉")
    disposal.refresh_from_db()
    assert disposal.status == DisposalStatus.PENDING  # still open while sent back: the cards stay 待处置
    add = card(world, category="6010300", name="旧椅子 2", unit_price="150.00")
    with pytest.raises(PermissionDenied):
        commands.resubmit_disposal(disposal, principal, assets=[keep, add])
    with pytest.raises(ValidationError, match="只有申请人本人"):
        commands.resubmit_disposal(disposal, make_keeper(world.a.org, "另一位资产管理员"), assets=[keep, add])
    commands.resubmit_disposal(disposal, world.head_a, assets=[keep, add], reason="椅子损坏无法修复",
                               comment="已去掉电脑")
    disposal.refresh_from_db()
    assert (disposal.item_count, disposal.total_value, disposal.reason) == (2, Decimal("450.00"), "椅子损坏无法修复")
    assert Asset.objects.get(pk=drop.pk).status == S.IN_USE
    assert Asset.objects.get(pk=add.pk).status == S.PENDING_DISPOSAL
    request = disposal.approval
    request.refresh_from_db()
    assert (request.status, request.round, request.amount) == (ApprovalStatus.PENDING, 2, Decimal("450.00"))
    assert [s["approver"] for s in request.steps] == ["principal"]
    with pytest.raises(ValidationError, match="只有被退回的处置申请"):
        commands.resubmit_disposal(disposal, world.head_a, reason="再改")


def test_approval_by_the_principal_alone_below_500(world):
    principal = make_principal(world.a.org)
    chair = card(world, category="6010300", name="办公椅", unit_price="280.00")
    disposal = make_disposal([chair], world.head_a)
    approvals.approve(disposal.approval, principal)
    disposal.refresh_from_db()
    assert disposal.status == DisposalStatus.APPROVED
    # The requester may not approve their own request, whatever their roles.
    other = make_disposal([card(world, category="6010300", unit_price="100")], principal_requester(world))
    with pytest.raises(ValidationError, match="不能审批自己提交的申请"):
        approvals.approve(other.approval, other.requested_by)


def principal_requester(world):
    user = make_user(full_name="兼任校长的资产管理员", org=world.a.org, roles=("asset_keeper", "principal"))
    return user


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_two_requests_for_the_same_cards_at_once_exactly_one_wins():
    import threading

    from django.db import connection

    from houqin.assets.categories import national
    from houqin.core.testing.world import build_world

    world = build_world()
    national("2010100")
    ids = [make_asset(world.a.org, acquired_on=OLD).pk for _ in range(3)]
    refused, created, errors = [], [], []
    barrier = threading.Barrier(4)

    def work():
        try:
            barrier.wait()
            created.append(commands.request_disposal(ids, world.head_a, org=world.a.org, method="scrap",
                                                     reason="并发测试").number)
        except ValidationError as exc:
            refused.append(exc)
        except Exception as exc:  # noqa: BLE001 — collected and reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(created) == 1 and len(refused) == 3
    assert all("已在处置单" in exc.message_dict["assets"][0] for exc in refused)
    assert AssetDisposal.objects.count() == 1 and AssetDisposalItem.objects.filter(is_open=True).count() == 3
    assert Asset.objects.filter(pk__in=ids, status=S.PENDING_DISPOSAL).count() == 3
