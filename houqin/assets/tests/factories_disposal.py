"""Factories of the disposal part (damage records, disposal requests) and their registration for the isolation matrix
and the query budgets (imported by factories.py)."""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from houqin.assets import disposal as commands
from houqin.assets.choices import AssetStatus
from houqin.assets.models import Asset, AssetDamage, AssetDisposal, AssetDisposalItem
from houqin.assets.models.disposal import (
    CompensationStatus,
    DamageOutcome,
    DisposalMethod,
    DisposalStatus,
    ResponsibleKind,
)
from houqin.core.testing import register_factory
from houqin.core.testing.factories import bulk_create_indexed, make_user


def make_keeper(org, name: str = "资产管理员"):
    """A member of ``org`` holding 资产管理员 (assets.*), who may record damages and request disposals."""
    return make_user(full_name=name, org=org, roles=("asset_keeper",))


def make_principal(org, name: str = "校长"):
    return make_user(full_name=name, org=org, roles=("principal",))


def make_damage(asset, user, *, description: str = "屏幕碎裂", outcome: str = DamageOutcome.USABLE,
                responsible_kind: str = ResponsibleKind.PUPIL, responsible_name: str = "张小明",
                compensation_amount=None, occurred_on: datetime.date | None = None, **kwargs) -> AssetDamage:
    """Record a damage through the real command."""
    return commands.mark_damaged(asset, user, occurred_on=occurred_on or timezone.localdate(),
                                 description=description, outcome=outcome, responsible_kind=responsible_kind,
                                 responsible_name=responsible_name, compensation_amount=compensation_amount, **kwargs)


def make_disposal(assets, user, *, method: str = DisposalMethod.SCRAP, reason: str = "超过使用年限，无法修复",
                  **kwargs) -> AssetDisposal:
    """Request (and submit) a disposal through the real command."""
    return commands.request_disposal(list(assets), user, method=method, reason=reason, **kwargs)


def _card(school, name: str):
    from houqin.assets.tests.factories import make_asset

    return make_asset(school.org, name=name, room=school.rooms[0], department=school.department,
                      custodian=school.staff, acquired_on=datetime.date(2015, 9, 1))


# --- Registered factories -------------------------------------------------------------------------------------------
def bulk_damages(school, n: int) -> None:
    card = _card(school, "批量损坏资产")
    today = timezone.localdate()
    bulk_create_indexed(AssetDamage, [
        AssetDamage(org=school.org, asset=card, occurred_on=today, description=f"批量损坏{i:04d}",
                    responsible_kind=ResponsibleKind.MEMBER, responsible_user=school.staff,
                    responsible_name=str(school.staff), outcome=DamageOutcome.USABLE, status_before=AssetStatus.IN_USE,
                    status_after=AssetStatus.IN_USE, compensation_status=CompensationStatus.UNPAID,
                    compensation_amount=Decimal("50.00"), payer=str(school.staff), recorded_by=school.staff)
        for i in range(n)])


@register_factory(AssetDamage, bulk=bulk_damages, list_persona="head_a")
def asset_damage(school, label):
    card = _card(school, "损坏测试资产")
    return make_damage(card, make_keeper(school.org), description=label, compensation_amount="120.00")


def bulk_disposals(school, n: int) -> None:
    from houqin.assets.tests.factories import bulk_assets

    with transaction.atomic():
        bulk_assets(school, n)
        cards = list(Asset.objects.filter(org=school.org, name__startswith="批量资产").order_by("-pk")[:n])
        today = timezone.localdate()
        rows = [AssetDisposal(org=school.org, number=f"CZ-BULK-{i:05d}", method=DisposalMethod.SCRAP,
                              reason=f"批量处置{i:04d}", item_count=1, total_value=card.original_value,
                              total_net_value=card.original_value, status=DisposalStatus.PENDING,
                              requested_by=school.staff, requested_on=today)
                for i, card in enumerate(cards)]
        bulk_create_indexed(AssetDisposal, rows)
        rows = list(AssetDisposal.objects.filter(org=school.org, number__startswith="CZ-BULK-").order_by("number"))
        AssetDisposalItem.objects.bulk_create([
            AssetDisposalItem(org=school.org, disposal=disposal, asset=card, status_before=AssetStatus.IN_USE,
                              original_value=card.original_value, accumulated_depreciation=Decimal("0.00"),
                              net_value=card.original_value, age_months=12)
            for disposal, card in zip(rows, cards, strict=True)])
        Asset.objects.filter(pk__in=[c.pk for c in cards]).update(status=AssetStatus.PENDING_DISPOSAL)


@register_factory(AssetDisposal, bulk=bulk_disposals, list_persona="head_a")
def asset_disposal(school, label):
    card = _card(school, "处置测试资产")
    return make_disposal([card], make_keeper(school.org), reason=label)
