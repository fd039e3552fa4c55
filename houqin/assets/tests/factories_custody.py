"""Isolation/query-count factories of the assets app: custody (imported by factories.py).

``make_loan`` and ``make_transfer`` go through the real commands; the bulk factories write realistic rows (card,
borrower, keeper, departments, rooms filled in) so that a list that forgot a ``select_related`` shows it."""

from __future__ import annotations

import datetime

from django.db import transaction
from django.utils import timezone

from houqin.assets import custody
from houqin.assets.choices import AssetStatus
from houqin.assets.models import Asset, AssetLoan, AssetTransfer, TransferStatus
from houqin.assets.tests.factories import bulk_assets, make_asset
from houqin.core.context import acting_as
from houqin.core.models import Membership
from houqin.core.testing import register_factory
from houqin.core.testing.factories import bulk_create_indexed, make_user


def keeper_of(org):
    """A 资产管理员 of ``org`` (created once per school)."""
    membership = (Membership.objects.filter(org=org, role__code="asset_keeper").select_related("user")
                  .order_by("pk").first())
    if membership is not None:
        return membership.user
    user = make_user(f"keeper_{org.pk}", full_name=f"{org.name[:2]}资产管理员", org=org, roles=("asset_keeper",))
    return user


def make_loan(asset, *, keeper=None, borrower=None, purpose="外出赛课使用", due_on=None, **kwargs) -> AssetLoan:
    """Lend ``asset`` through the command (the borrower signs later unless a signature is given)."""
    keeper = keeper or keeper_of(asset.org)
    kwargs.setdefault("signature_later", "signature" not in kwargs)
    if borrower is None and not kwargs.get("borrower_name"):
        kwargs.update(borrower_name="校外借用人", borrower_phone="13800000000")
    with acting_as(keeper):
        return custody.lend(asset, keeper, borrower=borrower, purpose=purpose,
                            due_on=due_on or timezone.localdate() + datetime.timedelta(days=7), **kwargs)


def make_transfer(asset, *, keeper=None, **kwargs) -> AssetTransfer:
    keeper = keeper or keeper_of(asset.org)
    with acting_as(keeper):
        return custody.transfer(asset, keeper, **kwargs)


def bulk_loans(school, n: int) -> None:
    keeper = keeper_of(school.org)
    now = timezone.now()
    with transaction.atomic():
        bulk_assets(school, n)
        cards = list(Asset.objects.filter(org=school.org, name__startswith="批量资产").order_by("-pk")[:n])
        rows = [AssetLoan(org=school.org, number=f"JY-BULK-{i:05d}", asset=card, borrower=school.staff,
                          borrower_name=str(school.staff), borrower_phone="13800000000", purpose=f"批量借用{i:04d}",
                          lent_at=now, due_on=timezone.localdate() + datetime.timedelta(days=i % 9 - 3),
                          lent_by=keeper, returned_to=keeper if i % 3 == 0 else None,
                          returned_at=now if i % 3 == 0 else None, signature_pending=True)
                for i, card in enumerate(cards)]
        bulk_create_indexed(AssetLoan, rows)
        Asset.objects.filter(pk__in=[r.asset_id for r in rows if r.returned_at is None]).update(
            status=AssetStatus.LENT)


@register_factory(AssetLoan, bulk=bulk_loans, list_persona="head_a")
def asset_loan(school, label):
    card = make_asset(school.org, name="借用测试资产", room=school.rooms[0], department=school.department,
                      custodian=school.staff)
    return make_loan(card, borrower=school.staff, purpose=label)


def bulk_transfers(school, n: int) -> None:
    keeper = keeper_of(school.org)
    with transaction.atomic():
        bulk_assets(school, n)
        cards = list(Asset.objects.filter(org=school.org, name__startswith="批量资产").order_by("-pk")[:n])
        rows = [AssetTransfer(org=school.org, number=f"DB-BULK-{i:05d}", asset=card,
                              from_department=school.department, to_department=school.department,
                              from_room=school.rooms[0], to_room=school.rooms[1], from_custodian=school.staff,
                              to_custodian=keeper, summary=f"批量调拨{i:04d}", reason="教室调整",
                              status=TransferStatus.DONE, requested_by=keeper, applied_at=timezone.now())
                for i, card in enumerate(cards)]
        bulk_create_indexed(AssetTransfer, rows)


@register_factory(AssetTransfer, bulk=bulk_transfers, list_persona="head_a")
def asset_transfer(school, label):
    card = make_asset(school.org, name="调拨测试资产", room=school.rooms[0], department=school.department,
                      custodian=school.staff)
    return make_transfer(card, room=school.rooms[1], reason=label)

