"""The demo's damages and disposals: made through the real commands and the approval engine, idempotent."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from houqin.assets.choices import AssetStatus
from houqin.assets.models import Asset, AssetDamage, AssetDisposal, AssetEvent
from houqin.assets.models.disposal import DisposalStatus
from houqin.core.demo import ORG_CODES, PRIMARY
from houqin.core.models import Organization
from houqin.core.models.approvals import ApprovalStatus

pytestmark = pytest.mark.django_db


def test_demo_damages_and_disposals(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    call_command("demo", "--quiet")
    school = Organization.objects.get(code=ORG_CODES[PRIMARY])
    damages = list(AssetDamage.objects.filter(org=school))
    assert sorted(d.compensation_status for d in damages) == ["none", "paid", "unpaid"]
    paid = next(d for d in damages if d.compensation_status == "paid")
    assert paid.receipt_no and paid.paid_on and paid.payer.endswith("家长")
    assert any(d.status_after == AssetStatus.REPAIRING for d in damages)
    done = AssetDisposal.objects.get(org=school, status=DisposalStatus.DONE)
    assert done.item_count == 10 and done.approval.status == ApprovalStatus.APPROVED
    assert [s["approver"] for s in done.approval.steps] == ["principal", "bureau", "bureau_finance"]
    cards = [item.asset for item in done.items.select_related("asset")]
    assert all(c.status == AssetStatus.DISPOSED and c.disposed_on == done.disposed_on for c in cards)
    pending = AssetDisposal.objects.get(org=school, status=DisposalStatus.PENDING)
    assert pending.item_count == 6 and pending.approval.current["approver"] == "bureau"
    assert all(i.asset.status == AssetStatus.PENDING_DISPOSAL for i in pending.items.select_related("asset"))
    counts = (AssetDamage.objects.count(), AssetDisposal.objects.count(), AssetEvent.objects.count(),
              Asset.objects.filter(status=AssetStatus.DISPOSED).count())
    call_command("demo", "--quiet")
    assert (AssetDamage.objects.count(), AssetDisposal.objects.count(), AssetEvent.objects.count(),
            Asset.objects.filter(status=AssetStatus.DISPOSED).count()) == counts
