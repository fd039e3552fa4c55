"""The disposal part's pages: card buttons and panel, the command pages, the request form, the ledgers."""

from __future__ import annotations

import datetime
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from houqin.assets import disposal as commands
from houqin.assets.choices import AssetStatus
from houqin.assets.models import Asset, AssetDamage, AssetDisposal
from houqin.assets.models.disposal import DisposalStatus
from houqin.assets.tests.factories import make_asset
from houqin.assets.tests.factories_disposal import make_damage, make_disposal, make_principal
from houqin.assets.tests.test_disposal_services import approve_all, jpeg
from houqin.core.models.attachments import Attachment
from houqin.core.testing.isolation import xlsx_text

pytestmark = pytest.mark.django_db
S = AssetStatus
TODAY = timezone.localdate()
OLD = datetime.date(2015, 9, 1)


def card(world, **fields):
    fields.setdefault("acquired_on", OLD)
    fields.setdefault("room", world.a.rooms[0])
    return make_asset(world.a.org, name=fields.pop("name", "台式计算机"), **fields)


def url_of(asset) -> str:
    return reverse("assets:asset_detail", args=[asset.pk])


def text(response) -> str:
    return response.content.decode()


def buttons(response) -> set[str]:
    return set(re.findall(r'data-testid="action-([a-z_]+)"', text(response)))


def test_card_buttons_follow_status_and_permission(world, client_for):
    asset = card(world)
    url = url_of(asset)
    mine = buttons(client_for(world.head_a).get(url))
    assert {"damage", "idle", "lost", "dispose"} <= mine and not {"reuse", "found", "repair_done"} & mine
    assert not {"damage", "idle", "lost", "dispose"} & buttons(client_for(world.admin_a).get(url))  # reads only
    commands.mark_idle(asset, world.head_a)
    assert {"reuse", "dispose"} <= buttons(client_for(world.head_a).get(url))
    commands.mark_lost(asset, world.head_a, note="找不到了")
    lost = buttons(client_for(world.head_a).get(url))
    assert {"found", "dispose"} <= lost and "damage" not in lost
    make_disposal([asset], world.head_a, method="write_off")
    assert "dispose" not in buttons(client_for(world.head_a).get(url))  # already on an open request


def test_repair_done_button_only_for_repairs_without_a_work_order(world, client_for):
    by_damage, by_work_order = card(world), card(world)
    make_damage(by_damage, world.head_a, outcome="repair")
    commands.start_repair(by_work_order, None, reference="WX-2026-00007")
    client = client_for(world.head_a)
    assert "repair_done" in buttons(client.get(url_of(by_damage)))
    assert "repair_done" not in buttons(client.get(url_of(by_work_order)))
    response = client.post(reverse("assets:asset_repair_done", kwargs={"pk": by_damage.pk}),
                           {"outcome": "fixed", "note": "换了屏幕"})
    assert response.status_code == 302 and Asset.objects.get(pk=by_damage.pk).status == S.IN_USE


def test_card_panel_shows_damages_and_disposals(world, client_for):
    asset = card(world)
    make_damage(asset, world.head_a, description="键盘进水", responsible_name="陈小军", compensation_amount="45")
    disposal = make_disposal([asset], world.head_a)
    page = text(client_for(world.head_a).get(url_of(asset)))
    assert 'data-testid="card-damages"' in page and "键盘进水" in page and "未赔偿（应赔 45.00 元）" in page
    assert 'data-testid="card-disposals"' in page and disposal.number in page and "审批中" in page
    # A technician may view the card but not the damages or disposals.
    from houqin.core.testing.factories import make_user

    tech = make_user(full_name="维修工", org=world.a.org, roles=("technician",))
    page = text(client_for(tech).get(url_of(asset)))
    assert 'data-testid="card-damages"' not in page and 'data-testid="card-disposals"' not in page
    assert "陈小军" not in page and "45.00" not in page  # the history names the damage, not who pays


def test_damage_page_records_with_photos_and_shows_errors(world, client_for, settings, tmp_path):
    settings.HOUQIN_ATTACHMENTS_DIR = tmp_path
    asset = card(world)
    client = client_for(world.head_a)
    url = reverse("assets:asset_damage", kwargs={"pk": asset.pk})
    page = client.get(url)
    assert page.status_code == 200 and "登记损坏" in text(page) and 'name="photos"' in text(page)
    bad = client.post(url, {"occurred_on": TODAY.isoformat(), "description": "桌腿断裂", "outcome": "usable",
                            "responsible_kind": "pupil", "responsible_name": ""})
    assert bad.status_code == 200 and "请填写责任人姓名。" in text(bad) and not AssetDamage.objects.exists()
    photo = SimpleUploadedFile("桌腿.jpg", jpeg(), content_type="image/jpeg")
    done = client.post(url, {"occurred_on": TODAY.isoformat(), "description": "桌腿断裂", "outcome": "unrepairable",
                             "responsible_kind": "pupil", "responsible_name": "刘洋", "compensation_amount": "60",
                             "photos": [photo]})
    damage = AssetDamage.objects.get()
    assert done.status_code == 302 and done["Location"] == damage.get_absolute_url()
    assert Attachment.objects.get().object_id == damage.pk
    assert Asset.objects.get(pk=asset.pk).status == S.PENDING_DISPOSAL
    detail = text(client.get(damage.get_absolute_url()))
    assert 'data-testid="damage-pay"' in detail and 'data-testid="damage-dispose"' in detail


def test_command_pages_explain_a_refusal_instead_of_a_form(world, client_for):
    asset = card(world)
    Asset.objects.filter(pk=asset.pk).update(status=S.DISPOSED, disposed_on=TODAY)
    page = text(client_for(world.head_a).get(reverse("assets:asset_damage", kwargs={"pk": asset.pk})))
    assert 'data-testid="command-refusal"' in page and "已处置（核销）的资产不能再办理业务" in page
    assert 'data-testid="command-form"' not in page


def test_one_click_commands(world, client_for):
    asset = card(world)
    client = client_for(world.head_a)
    response = client.post(reverse("assets:asset_idle", kwargs={"pk": asset.pk}))
    assert response.status_code == 302 and Asset.objects.get(pk=asset.pk).status == S.IDLE
    again = client.post(reverse("assets:asset_idle", kwargs={"pk": asset.pk}), follow=True)
    assert "当前为“闲置”，不能转为闲置" in text(again)
    client.post(reverse("assets:asset_reuse", kwargs={"pk": asset.pk}))
    assert Asset.objects.get(pk=asset.pk).status == S.IN_USE
    assert client.get(reverse("assets:asset_idle", kwargs={"pk": asset.pk})).status_code == 405
    lost = client.post(reverse("assets:asset_lost", kwargs={"pk": asset.pk}), {"note": "运动会后未归还"})
    assert lost.status_code == 302 and Asset.objects.get(pk=asset.pk).status == S.LOST
    client.post(reverse("assets:asset_found", kwargs={"pk": asset.pk}), {"next": "https://evil.example/"})
    assert Asset.objects.get(pk=asset.pk).status == S.IN_USE


def test_request_form_prefills_previews_and_submits(world, client_for):
    old, young = card(world, name="旧电脑"), card(world, name="新电脑", acquired_on=datetime.date(TODAY.year - 1, 3, 1))
    lent = card(world, name="借出电脑")
    Asset.objects.filter(pk=lent.pk).update(status=S.LENT)
    client = client_for(world.head_a)
    add = reverse("assets:assetdisposal_add")
    page = client.get(add, {"ids": f"{old.pk},{young.pk}"})
    body = text(page)
    assert page.status_code == 200 and old.number in body and young.number in body
    assert 'data-testid="preview-warnings"' in body and "未达到最低使用年限 6 年" in body
    assert 'data-testid="preview-total"' in body and "9,960.00" in body
    data = {"numbers": f"{old.number}\n{young.number.lower()}, {lent.number}", "method": "scrap",
            "reason": "老化严重", "estimated_residual": "0"}
    preview = client.post(add, {**data, "preview": "1"})
    assert preview.status_code == 200 and 'data-testid="preview-problems"' in text(preview)
    assert not AssetDisposal.objects.exists()
    refused = client.post(add, data)
    assert refused.status_code == 200 and "借出中的资产请先办理归还" in text(refused)
    unknown = client.post(add, {**data, "numbers": "ZC-1999-99999"})
    assert "本校没有这些资产编号：ZC-1999-99999。" in text(unknown)
    done = client.post(add, {**data, "numbers": f"{old.number} {young.number}"})
    disposal = AssetDisposal.objects.get()
    assert done.status_code == 302 and done["Location"] == disposal.get_absolute_url()
    assert disposal.item_count == 2 and young.number in disposal.warnings
    detail = text(client.get(disposal.get_absolute_url()))
    assert 'data-testid="disposal-items"' in detail and 'data-testid="approval-timeline"' in detail
    assert 'data-testid="disposal-warnings"' in detail and 'data-testid="disposal-record"' not in detail


def test_request_form_takes_the_asset_lists_filter_and_the_pending_cards(world, client_for):
    idle = card(world, name="闲置打印机")
    commands.mark_idle(idle, world.head_a)
    waiting = card(world, name="待处置电脑")
    commands.start_repair(waiting, None)
    commands.finish_repair(waiting, None, outcome="unrepairable")
    used = card(world, name="在用电脑")
    client = client_for(world.head_a)
    add = reverse("assets:assetdisposal_add")
    filtered = text(client.get(add, {"status": "idle"}))
    assert idle.number in filtered and used.number not in filtered
    pending = client.get(add, {"pending": "1"})
    assert waiting.number in text(pending) and idle.number not in text(pending)
    assert "带入本校全部“待处置”资产（1 项）" in text(client.get(add))
    # Another school's user gets no form (403), and never school A's cards.
    assert client_for(world.admin_b).get(add, {"ids": idle.pk}).status_code == 403


def test_record_page_refuses_before_approval_and_writes_off_after(world, client_for):
    principal = make_principal(world.a.org)
    asset = card(world)
    disposal = make_disposal([asset], world.head_a, method="donate", recipient="山区希望小学")
    client = client_for(world.head_a)
    url = reverse("assets:disposal_record", kwargs={"pk": disposal.pk})
    assert 'data-testid="command-refusal"' in text(client.get(url))
    early = client.post(url, {"disposed_on": TODAY.isoformat(), "actual_income": "0"})
    assert early.status_code == 200 and "处置申请尚未审批通过" in text(early)
    assert Asset.objects.get(pk=asset.pk).status == S.PENDING_DISPOSAL
    approve_all(disposal, principal, world.bureau_admin)
    assert 'data-testid="disposal-record"' in text(client.get(disposal.get_absolute_url()))
    form = text(client.get(url))
    assert 'value="山区希望小学"' in form
    done = client.post(url, {"disposed_on": TODAY.isoformat(), "actual_income": "0", "buyer": "山区希望小学",
                             "document_no": "县教体〔2026〕12号"})
    assert done.status_code == 302
    disposal.refresh_from_db()
    assert disposal.status == DisposalStatus.DONE and Asset.objects.get(pk=asset.pk).status == S.DISPOSED


def test_resubmit_page_for_a_sent_back_request(world, client_for):
    from houqin.core import approvals

    principal = make_principal(world.a.org)
    first, second = card(world, name="旧电脑 A"), card(world, name="旧电脑 B")
    disposal = make_disposal([first, second], world.head_a)
    approvals.send_back(disposal.approval, principal, "B 还能用")
    client = client_for(world.head_a)
    assert 'data-testid="disposal-resubmit"' in text(client.get(disposal.get_absolute_url()))
    url = reverse("assets:disposal_resubmit", kwargs={"pk": disposal.pk})
    form = text(client.get(url))
    assert first.number in form and second.number in form
    done = client.post(url, {"numbers": first.number, "method": "scrap", "reason": "老化", "estimated_residual": "0",
                             "comment": "已去掉 B"})
    assert done.status_code == 302
    disposal.refresh_from_db()
    assert disposal.item_count == 1 and Asset.objects.get(pk=second.pk).status == S.IN_USE
    assert client.get(url).status_code == 403  # pending again: nothing to resubmit


def test_damage_ledger_filters_and_exports(world, client_for):
    paid = make_damage(card(world, name="平板 1"), world.head_a, description="屏幕碎裂", compensation_amount="300")
    commands.mark_compensation_paid(paid, world.head_a, paid_on=TODAY, receipt_no="SJ-1")
    make_damage(card(world, name="平板 2"), world.head_a, description="外壳破损", compensation_amount="80")
    make_damage(card(world, name="椅子"), world.head_a, description="自然老化", responsible_kind="none",
                responsible_name="")
    client = client_for(world.head_a)
    url = reverse("assets:assetdamage_list")
    unpaid = text(client.get(url, {"compensation_status": "unpaid"}))
    assert "外壳破损" in unpaid and "屏幕碎裂" not in unpaid and "自然老化" not in unpaid
    export = client.get(reverse("assets:assetdamage_export"), {"compensation_status": "paid"})
    sheet = xlsx_text(b"".join(export.streaming_content) if export.streaming else export.content)
    assert "屏幕碎裂" in sheet and "SJ-1" in sheet and "外壳破损" not in sheet
    assert "平板 2" in text(client.get(url, {"q": "pb"}))  # pinyin initials of 平板
    number = Asset.objects.get(name="平板 2").number
    by_card = text(client.get(url, {"q": number}))  # the card panel's 全部记录 link
    assert "外壳破损" in by_card and "屏幕碎裂" not in by_card


def test_payment_page(world, client_for):
    damage = make_damage(card(world), world.head_a, compensation_amount="120")
    client = client_for(world.head_a)
    url = reverse("assets:damage_pay", kwargs={"pk": damage.pk})
    bad = client.post(url, {"paid_on": TODAY.isoformat(), "receipt_no": ""})
    assert bad.status_code == 200 and not AssetDamage.objects.filter(compensation_status="paid").exists()
    done = client.post(url, {"paid_on": TODAY.isoformat(), "receipt_no": "SJ-2026-031"})
    assert done.status_code == 302
    damage.refresh_from_db()
    assert damage.compensation_status == "paid" and str(damage.paid_amount) == "120.00"
    detail = text(client.get(damage.get_absolute_url()))
    assert "已赔偿 120.00 元" in detail and 'data-testid="damage-pay"' not in detail
    assert client_for(world.admin_a).get(url).status_code == 403


def test_the_principal_approves_from_the_disposal_page(world, client_for):
    principal = make_principal(world.a.org)
    chair = card(world, category="6010300", name="办公椅", unit_price="260.00")
    disposal = make_disposal([chair], world.head_a)
    client = client_for(principal)
    page = text(client.get(disposal.get_absolute_url()))
    assert 'data-testid="approval-act"' in page
    assert page.index('data-testid="approval-act"') < page.index('data-testid="disposal-items"')
    response = client.post(reverse("approvals:act", args=[disposal.approval.pk]),
                           {"action": "approve", "comment": "同意", "step": 0, "round": 1})
    assert response.status_code == 302
    disposal.refresh_from_db()
    assert disposal.status == DisposalStatus.APPROVED  # < 500 元: the principal alone
    assert 'data-testid="approval-act"' not in text(client.get(disposal.get_absolute_url()))
