"""Demo checks (run by houqin/core/tests/test_demo.py after the whole demo; its second run proves idempotence):
the demo's damages and disposals: made through the real commands and the approval engine."""

from __future__ import annotations

from houqin.assets.choices import AssetStatus
from houqin.assets.models import AssetDamage, AssetDisposal
from houqin.assets.models.disposal import DisposalStatus
from houqin.core.demo import ORG_CODES, PRIMARY
from houqin.core.models import Organization
from houqin.core.models.approvals import ApprovalStatus


def check_disposal():
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
