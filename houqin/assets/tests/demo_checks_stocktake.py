"""Demo checks (run by houqin/core/tests/test_demo.py after the whole demo; its second run proves idempotence):
the demo stocktake: finished, approved and posted, with each kind of difference."""

from __future__ import annotations

from houqin.assets import stocktake as services
from houqin.assets.choices import AssetEventCode, AssetStatus
from houqin.assets.demo_stocktake import NAME
from houqin.assets.models import AssetEvent, LineResult, Stocktake, StocktakeLine, StocktakeStatus
from houqin.core.demo import ORG_CODES, PRIMARY
from houqin.core.models.approvals import ApprovalRequest, ApprovalStatus


def check_stocktake():
    plan = Stocktake.objects.get(org__code=ORG_CODES[PRIMARY], name=NAME)
    assert plan.status == StocktakeStatus.DONE and plan.number.startswith("PD-")
    assert "行政楼" in plan.scope_summary
    assert 250 <= plan.expected_count <= 400
    total = services.report(plan).total
    assert total.missing >= 2 and total.moved == 3 and total.status == 1 and total.surplus == 2
    assert total.pending == 0 and 90 < total.rate < 100
    assert ApprovalRequest.objects.get(object_id=plan.pk, request_type="stocktake").status == ApprovalStatus.APPROVED
    counted = StocktakeLine.objects.filter(stocktake=plan, counted_at__isnull=False).count()
    assert AssetEvent.objects.filter(reference=plan.number, code=AssetEventCode.COUNT).count() == counted
    missing = StocktakeLine.objects.filter(stocktake=plan, result=LineResult.MISSING).exclude(
        book_status=AssetStatus.LOST).values_list("asset_id", flat=True)
    on_loan = services.loans_at(missing, plan.finished_at)  # 借出中, not 盘亏 (docs/assets-lifecycle.md)
    lost = set(missing) - set(on_loan)
    assert total.on_loan == len(on_loan)
    assert set(AssetEvent.objects.filter(reference=plan.number, code=AssetEventCode.ADJUST,
                                         status_after=AssetStatus.LOST).values_list("asset_id", flat=True)) == set(lost)
    moved = StocktakeLine.objects.filter(stocktake=plan, result=LineResult.MOVED).select_related("asset")
    assert all(line.asset.room_id == line.found_room_id for line in moved)
