"""Custody pages: the command forms, the signature on the phone screen, the card's panel and buttons, 我的资产, the
loan ledger with its overdue filter, and the transfer page with its approval."""

from __future__ import annotations

import datetime
import io

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from houqin.assets import custody
from houqin.assets.choices import AssetEventCode, AssetStatus
from houqin.assets.models import Asset, AssetLoan, AssetTransfer, TransferStatus
from houqin.assets.tests.factories_custody import keeper_of, make_loan
from houqin.assets.tests.test_custody import card, png_data_url
from houqin.core.testing import factories as f
from houqin.core.testing.queries import captured_queries, describe_difference

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()


@pytest.fixture
def keeper(world):
    return keeper_of(world.a.org)


def url(name, obj):
    return reverse(f"assets:{name}", kwargs={"pk": obj.pk})


def detail(obj):
    return reverse(f"assets:{obj._meta.model_name}_detail", args=[obj.pk])


def test_card_page_offers_the_commands_its_status_allows(world, client_for, keeper):
    in_use = card(world)
    page = client_for(keeper).get(detail(in_use)).content.decode()
    for key in ("lend", "transfer", "return_to_store"):
        assert f'data-testid="action-{key}"' in page
    assert 'data-testid="action-assign"' not in page and 'data-testid="action-return_loan"' not in page
    idle = card(world, status=AssetStatus.IDLE, custodian=None)
    page = client_for(keeper).get(detail(idle)).content.decode()
    assert 'data-testid="action-assign"' in page and 'data-testid="action-return_to_store"' not in page
    # Who may only read cards sees no buttons.
    page = client_for(world.admin_a).get(detail(in_use)).content.decode()
    for key in ("assign", "lend", "transfer", "return_to_store", "return_loan"):
        assert f'data-testid="action-{key}"' not in page


def test_assign_page_assigns_and_shows_refusals_on_the_form(world, client_for, keeper):
    idle = card(world, status=AssetStatus.IDLE, custodian=None)
    client = client_for(keeper)
    page = client.get(url("asset_assign", idle))
    assert page.status_code == 200
    form = page.context["form"]
    assert world.a.staff in form.fields["custodian"].queryset and world.b.staff not in form.fields["custodian"].queryset
    assert world.b.department not in form.fields["department"].queryset
    refused = client.post(url("asset_assign", idle), {"department": world.a.department.pk})
    assert refused.status_code == 200
    assert "请选择保管人或存放地点" in refused.content.decode()
    other = client.post(url("asset_assign", idle), {"department": world.b.department.pk, "custodian": world.a.staff.pk})
    assert other.status_code == 200 and other.context["form"].errors["department"]
    done = client.post(url("asset_assign", idle), {"department": world.a.department.pk, "custodian": world.a.staff.pk,
                                                    "version": page.context["form"].initial["version"]})
    assert done.status_code == 302 and done["Location"] == detail(idle)
    idle.refresh_from_db()
    assert idle.status == AssetStatus.IN_USE and idle.custodian == world.a.staff
    # The same page again: the card is no longer idle, so no form, just the reason.
    again = client.get(url("asset_assign", idle)).content.decode()
    assert "不能领用（只有“闲置”的资产可以领用）" in again and 'data-testid="command-form"' not in again


def test_a_form_posted_after_someone_else_moved_the_card_is_refused(world, client_for, keeper):
    asset = card(world)
    client = client_for(keeper)
    version = client.get(url("asset_transfer", asset)).context["form"].initial["version"]
    custody.transfer(Asset.objects.get(pk=asset.pk), world.head_a, custodian=world.head_a)
    response = client.post(url("asset_transfer", asset), {"department": world.a.department.pk,
                                                          "room": world.a.rooms[1].pk, "custodian": keeper.pk,
                                                          "version": version})
    assert response.status_code == 200 and "已被他人变更" in response.content.decode()
    asset.refresh_from_db()
    assert (asset.custodian, asset.room) == (world.head_a, world.a.rooms[0])


def test_lend_page_signature_pad_is_vendored_and_required(world, client_for, keeper):
    asset = card(world)
    client = client_for(keeper)
    page = client.get(url("asset_lend", asset)).content.decode()
    assert '/static/vendor/signature-pad/signature_pad.umd.min.js' in page
    assert '/static/assets/signature.js' in page and 'data-testid="signature-pad"' in page
    assert "http://" not in page.split("<body", 1)[1] and "https://" not in page
    data = {"borrower_kind": "member", "borrower": world.a.staff.pk, "purpose": "外出赛课",
            "due_on": (TODAY + datetime.timedelta(days=5)).isoformat()}
    refused = client.post(url("asset_lend", asset), data)
    assert refused.status_code == 200
    assert "请借用人在屏幕上签字" in refused.content.decode() and not AssetLoan.objects.exists()
    blank = client.post(url("asset_lend", asset), {**data, "signature": png_data_url(blank=True)})
    assert "签字区域是空白的" in blank.content.decode() and not AssetLoan.objects.exists()
    outsider = client.post(url("asset_lend", asset), {**data, "borrower_kind": "outsider", "signature_later": "on"})
    text = outsider.content.decode()
    assert "请填写借用人姓名。" in text and "校外借用人须填写联系电话。" in text
    done = client.post(url("asset_lend", asset), {**data, "signature": png_data_url()})
    loan = AssetLoan.objects.get()
    assert done.status_code == 302 and done["Location"] == detail(loan)
    assert loan.borrower == world.a.staff and not loan.signature_pending
    loan_page = client.get(detail(loan)).content.decode()
    assert 'data-testid="signature-image"' in loan_page and "借用人签字" in loan_page
    assert 'data-testid="loan-return"' in loan_page


def test_card_panel_shows_the_current_loan_with_its_overdue_badge(world, client_for, keeper):
    asset = card(world)
    loan = make_loan(asset, keeper=keeper, borrower=world.a.staff, purpose="区教研活动")
    client = client_for(keeper)
    page = client.get(detail(asset)).content.decode()
    assert 'data-testid="custody-current-loan"' in page and "借出中" in page and loan.number in page
    assert 'data-testid="action-return_loan"' in page
    AssetLoan.objects.filter(pk=loan.pk).update(lent_at=timezone.now() - datetime.timedelta(days=10),
                                                due_on=TODAY - datetime.timedelta(days=3))
    page = client.get(detail(asset)).content.decode()
    assert "逾期 3 天" in page and "待补签" in page


def test_card_page_costs_the_same_with_many_loans(world, client_for, keeper):
    asset = card(world)
    client = client_for(keeper)
    custody.return_loan(make_loan(asset, keeper=keeper), keeper)
    client.get(detail(asset))
    few = captured_queries(client, detail(asset))
    for _ in range(6):
        custody.return_loan(make_loan(asset, keeper=keeper), keeper)
    make_loan(asset, keeper=keeper)
    many = captured_queries(client, detail(asset))
    assert len(few) == len(many), describe_difference(few, many)


def test_return_page_by_card_and_damage(world, client_for, keeper):
    asset = card(world, status=AssetStatus.IDLE, custodian=None)
    loan = make_loan(asset, keeper=keeper, borrower=world.a.staff)
    client = client_for(keeper)
    page = client.get(url("asset_return_loan", asset))
    assert page.status_code == 200 and page.context["loan"] == loan
    refused = client.post(url("asset_return_loan", asset), {"condition": "damaged"})
    assert "资产有损坏，请说明损坏情况。" in refused.content.decode()
    done = client.post(url("asset_return_loan", asset), {"condition": "damaged", "note": "外壳裂开",
                                                         "signature": png_data_url()})
    assert done.status_code == 302 and done["Location"] == detail(loan)
    asset.refresh_from_db()
    assert asset.status == AssetStatus.IDLE  # damage is recorded separately; the status is what it was
    page = client.get(detail(loan)).content.decode()
    assert 'data-testid="loan-damaged"' in page and "外壳裂开" in page and "归还签字" in page
    damage = custody.damage_url(asset)
    assert (damage is not None) == ('data-testid="loan-damage"' in page)
    # Nothing left to return.
    assert "没有未归还的借用记录" in client.get(url("asset_return_loan", asset)).content.decode()


def test_sign_later_page(world, client_for, keeper):
    loan = make_loan(card(world), keeper=keeper, borrower=world.a.staff)
    client = client_for(keeper)
    assert 'data-testid="signature-pending"' in client.get(detail(loan)).content.decode()
    empty = client.post(url("loan_sign", loan), {})
    assert "请借用人在屏幕上签字。" in empty.content.decode()
    done = client.post(url("loan_sign", loan), {"signature": png_data_url()})
    assert done.status_code == 302
    loan.refresh_from_db()
    assert not loan.signature_pending
    assert "无需补签" in client.get(url("loan_sign", loan)).content.decode()


def test_cross_department_transfer_page_submits_for_approval(world, client_for, keeper):
    other = f.make_department(world.a.org, "甲教务处")
    asset = card(world)
    client = client_for(keeper)
    missing_reason = client.post(url("asset_transfer", asset), {"department": other.pk, "room": world.a.rooms[0].pk,
                                                                "custodian": world.a.staff.pk})
    assert "跨部门调拨须经审批，请填写调拨原因。" in missing_reason.content.decode()
    response = client.post(url("asset_transfer", asset), {"department": other.pk, "room": world.a.rooms[1].pk,
                                                          "custodian": world.a.staff.pk, "reason": "教师调岗"})
    move = AssetTransfer.objects.get()
    assert response.status_code == 302 and response["Location"] == detail(move)
    assert move.status == TransferStatus.PENDING
    # The approver decides on the transfer's own page.
    head = client_for(world.head_a)
    page = head.get(detail(move)).content.decode()
    assert 'data-testid="approval-act"' in page and 'data-testid="transfer-pending"' in page
    card_page = client.get(detail(asset)).content.decode()
    assert 'data-testid="custody-pending-transfer"' in card_page and move.approval_number in card_page
    lend_page = client.get(url("asset_lend", asset)).content.decode()
    assert move.approval_number in lend_page and 'data-testid="command-form"' not in lend_page
    act = head.post(reverse("approvals:act", args=[move.approval_id]),
                    {"action": "approve", "step": "0", "round": "1", "comment": ""})
    assert act.status_code == 302
    asset.refresh_from_db()
    assert (asset.department, asset.room) == (other, world.a.rooms[1])
    assert asset.events.filter(code=AssetEventCode.TRANSFER).count() == 1


def test_my_assets_lists_what_the_user_keeps_and_has_borrowed(world, client_for, keeper):
    teacher = world.a.staff
    mine = card(world, name="我保管的电脑")
    room_card = card(world, name="办公室打印机", custodian=None, room=1)  # the teacher is that room's responsible
    card(world, name="别人保管的电脑", custodian=keeper)
    disposed = card(world, name="已报废的电脑")
    Asset.objects.filter(pk=disposed.pk).update(status=AssetStatus.DISPOSED)
    borrowed = make_loan(card(world, name="借来的相机", custodian=keeper), keeper=keeper, borrower=teacher,
                         purpose="拍摄运动会")
    page = client_for(teacher).get(reverse("assets:my_assets"))
    assert page.status_code == 200
    text = page.content.decode()
    assert "我保管的电脑" in text and "办公室打印机" in text and "作为房间责任人保管" in text
    assert "别人保管的电脑" not in text and "已报废的电脑" not in text
    assert "借来的相机" in text and "拍摄运动会" in text and borrowed.due_on.strftime("%Y-%m-%d") in text
    assert detail(mine) not in text  # a teacher cannot open cards: no dead links
    other = client_for(world.teacher_b).get(reverse("assets:my_assets")).content.decode()
    assert "我保管的电脑" not in other and "您名下暂无资产" in other
    assert room_card.number in text


def test_loan_list_filters_overdue_and_exports(world, client_for, keeper):
    late = make_loan(card(world, name="逾期电脑"), keeper=keeper, borrower=world.a.staff, purpose="逾期用途")
    AssetLoan.objects.filter(pk=late.pk).update(lent_at=timezone.now() - datetime.timedelta(days=20),
                                                due_on=TODAY - datetime.timedelta(days=4))
    make_loan(card(world, name="按期电脑"), keeper=keeper, purpose="按期用途")
    client = client_for(world.head_a)
    overdue = client.get(reverse("assets:assetloan_list"), {"state": "overdue"}).content.decode()
    assert "逾期用途" in overdue and "按期用途" not in overdue and "逾期 4 天" in overdue
    export = client.get(reverse("assets:assetloan_export"), {"state": "overdue"})
    rows = list(load_workbook(io.BytesIO(b"".join(export.streaming_content))).active.values)
    assert len(rows) == 2 and "逾期用途" in rows[1]
    assert client_for(world.teacher_a).get(reverse("assets:assetloan_list")).status_code == 403


def test_batch_transfer_page(world, client_for, keeper):
    one, two = card(world, name="办公电脑一"), card(world, name="办公电脑二")
    card(world, name="另一房间的电脑", room=1)
    client = client_for(keeper)
    page = client.get(reverse("assets:transfer_batch"), {"from_room": world.a.rooms[0].pk})
    assert page.status_code == 200
    text = page.content.decode()
    assert "办公电脑一" in text and "办公电脑二" in text and "另一房间的电脑" not in text
    nothing = client.post(reverse("assets:transfer_batch"), {"from_room": world.a.rooms[0].pk,
                                                             "assets": [one.pk, two.pk]})
    assert "请至少选择一项调拨目标" in nothing.content.decode()
    done = client.post(reverse("assets:transfer_batch"), {"from_room": world.a.rooms[0].pk, "assets": [one.pk],
                                                          "room": world.a.rooms[1].pk, "reason": "办公室搬迁"})
    assert done.status_code == 302
    assert Asset.objects.get(pk=one.pk).room == world.a.rooms[1]
    assert Asset.objects.get(pk=two.pk).room == world.a.rooms[0]
    # Another school's keeper naming school A's room sees nothing of it.
    other = keeper_of(world.b.org)
    foreign = client_for(other).get(reverse("assets:transfer_batch"), {"from_room": world.a.rooms[0].pk})
    assert foreign.status_code == 200 and "办公电脑二" not in foreign.content.decode()
