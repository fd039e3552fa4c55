"""Commands on asset cards. Each runs in one transaction, validates, changes the card and writes an AssetEvent with
its code and the changed fields; a failure changes nothing. Clients never edit a status or a number directly.

Written here: ``register_asset`` (登记入账) and ``record_event`` (the one way to append to a card's history). The
life-cycle commands (assign, transfer, lend/return, repair, damage, dispose, stocktake adjustments) follow the same
pattern: lock the card (``locked``), check the status it may move from, change it, ``record_event``.
"""

from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from houqin.assets import history
from houqin.assets.choices import AssetEventCode, AssetStatus
from houqin.assets.models import Asset, AssetEvent
from houqin.assets.numbering import advance_to, asset_number, parse_number


def record_event(asset: Asset, code: str, user=None, *, changes: dict | None = None, status_before: str = "",
                 status_after: str = "", note: str = "", reference: str = "", time: datetime.datetime | None = None,
                 reverses: AssetEvent | None = None) -> AssetEvent:
    """Append one event to ``asset``'s history (inside the caller's transaction)."""
    actor = user if getattr(user, "is_authenticated", False) else None
    return AssetEvent.objects.create(
        org_id=asset.org_id, asset=asset, code=code, time=time or timezone.now(), actor=actor,
        actor_name=(actor.get_full_name() if actor else "系统")[:80], status_before=status_before,
        status_after=status_after, changes=changes or {}, note=note[:200], reference=reference[:40],
        reverses=reverses,
    )


def lock_rows(queryset) -> list[int]:
    """Lock the rows of ``queryset`` (``SELECT id … FOR UPDATE``, no joins, in primary-key order so two commands
    locking overlapping sets cannot deadlock) and return their ids.

    The pattern for every command: lock the row(s) alone, then re-read them with their joins. A ``FOR UPDATE`` on a
    query with ``select_related`` outer joins is refused by PostgreSQL for the nullable side, and after waiting for
    another transaction it re-checks only the locked row: joined rows could be stale. The plain re-read after the
    lock is a new statement, so under READ COMMITTED it sees everything committed before the lock was granted."""
    return list(queryset.select_for_update().order_by("pk").values_list("pk", flat=True))


def locked(asset: Asset) -> Asset:
    """The card re-read with a row lock (PostgreSQL; SQLite serialises writers), for a command to check its status
    against what is stored now, not what the caller saw. The row is locked alone, then read with its joins."""
    pk = getattr(asset, "pk", asset)
    if not lock_rows(Asset.objects.filter(pk=pk)):
        raise Asset.DoesNotExist(f"Asset {pk} does not exist")
    return Asset.objects.select_related("category", "org").get(pk=pk)


def register_asset(asset: Asset, user=None, *, number: str | None = None, registered_on: datetime.date | None = None,
                   status: str = AssetStatus.IN_USE, note: str = "") -> Asset:
    """Register a new card (登记入账): validate it, give it the next ZC number (or ``number``, for a register
    imported with its own numbers), save it and write its ``register`` event — all or nothing.

    ``asset`` is an unsaved Asset with ``org`` and the registration facts set. The card's class (固定资产/低值易耗品)
    and default useful life are decided here from its category and the school's capitalisation threshold; several
    items of a category whose cards are batches by default (books, pupils' furniture) make a 批量同类 card.
    """
    if not asset._state.adding:
        raise ValueError("register_asset() registers a new card; changes go through the other commands")
    if status not in AssetStatus.values or status == AssetStatus.DISPOSED:
        raise ValidationError({"status": "新登记的资产不能是“已处置”状态。"})
    if asset.category_id and asset.category.default_batch and (asset.quantity or 1) > 1:
        asset.is_batch = True  # 40 sets of pupils' desks are a batch of like items, ticked or not
    with transaction.atomic():
        asset.registered_on = registered_on or timezone.localdate()
        asset.status = status
        asset.number = ""
        asset.full_clean()  # derived values, the useful-life minimum, the school's rows — before a number is taken
        if number:
            asset.number = number
            if Asset.objects.filter(org_id=asset.org_id, number=number).exists():
                raise ValidationError({"number": f"本校已有资产编号“{number}”。"})
            parsed = parse_number(number)
            if parsed is not None:
                advance_to(asset.org_id, *parsed)  # a later next_number() must not hand it out again
        else:
            asset.number = asset_number(asset.org, asset.registered_on)
        asset.save()
        record_event(asset, AssetEventCode.REGISTER, user, changes=history.diff({}, history.snapshot(asset)),
                     status_after=asset.status, note=note)
    return asset
