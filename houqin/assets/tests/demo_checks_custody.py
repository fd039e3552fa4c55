"""Demo checks (run by houqin/core/tests/test_demo.py after the whole demo; its second run proves idempotence):
the custody demo: loans (two overdue), transfers (one waiting for approval), consistent with the cards, and a
second run creates nothing."""

from __future__ import annotations

from houqin.assets.choices import AssetStatus
from houqin.assets.models import Asset, AssetLoan, AssetTransfer, TransferStatus
from houqin.core.demo import ORG_CODES, PRIMARY
from houqin.core.models import Organization
from houqin.core.models.approvals import ApprovalStatus


def check_custody():
    school = Organization.objects.get(code=ORG_CODES[PRIMARY])
    loans = list(AssetLoan.objects.filter(org=school).select_related("asset"))
    assert len(loans) >= 6
    assert sum(1 for loan in loans if loan.is_overdue) >= 2
    assert any(not loan.is_open and loan.damaged_on_return for loan in loans)
    assert any(loan.is_outsider for loan in loans)
    for loan in loans:  # every open loan's card is lent, every lent card has its open loan
        assert (loan.asset.status == AssetStatus.LENT) == loan.is_open, loan
    lent = Asset.objects.filter(org=school, status=AssetStatus.LENT)
    assert set(lent.values_list("pk", flat=True)) == {loan.asset_id for loan in loans if loan.is_open}
    moves = list(AssetTransfer.objects.filter(org=school).select_related("approval"))
    assert {m.status for m in moves} == {TransferStatus.DONE, TransferStatus.PENDING}
    [pending] = [m for m in moves if m.status == TransferStatus.PENDING]
    assert pending.approval.status == ApprovalStatus.PENDING
    approved = [m for m in moves if m.needs_approval and m.status == TransferStatus.DONE]
    assert approved and approved[0].approval.status == ApprovalStatus.APPROVED
    assert approved[0].asset.department == approved[0].to_department
