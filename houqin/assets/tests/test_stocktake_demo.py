"""The demo stocktake: finished, approved and posted, with each kind of difference; a second run changes nothing."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from houqin.assets import stocktake as services
from houqin.assets.choices import AssetEventCode, AssetStatus
from houqin.assets.demo_stocktake import NAME
from houqin.assets.models import AssetEvent, LineResult, Stocktake, StocktakeLine, StocktakeStatus, StocktakeSurplus
from houqin.core.demo import ORG_CODES, PRIMARY
from houqin.core.models.approvals import ApprovalRequest, ApprovalStatus

pytestmark = pytest.mark.django_db


def test_demo_stocktake(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    call_command("demo", "--quiet")
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
    lost = StocktakeLine.objects.filter(stocktake=plan, result=LineResult.MISSING).exclude(
        book_status=AssetStatus.LOST).values_list("asset_id", flat=True)
    assert set(AssetEvent.objects.filter(reference=plan.number, code=AssetEventCode.ADJUST,
                                         status_after=AssetStatus.LOST).values_list("asset_id", flat=True)) == set(lost)
    moved = StocktakeLine.objects.filter(stocktake=plan, result=LineResult.MOVED).select_related("asset")
    assert all(line.asset.room_id == line.found_room_id for line in moved)
    counts = (Stocktake.objects.count(), StocktakeLine.objects.count(), StocktakeSurplus.objects.count(),
              AssetEvent.objects.count())
    call_command("demo", "--quiet")
    assert (Stocktake.objects.count(), StocktakeLine.objects.count(), StocktakeSurplus.objects.count(),
            AssetEvent.objects.count()) == counts
