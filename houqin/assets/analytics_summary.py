"""The kept per-school figures of the asset analytics (资产分析): read, recompute when out of date, mark changed.

A school's summary (``AnalyticsSummary``, one row per school; layout in ``analytics.compute_summaries``) is
**current** when it was computed today, by this layout version, from the school's latest change count:

* ``generation`` is raised by every save or delete of a card, a card event or a department of the school, and of
  the school's own categories (a national category raises every school's): on PostgreSQL after the writer's commit
  (``transaction.on_commit``: no row lock held inside the writer's transaction, so no lock-order deadlock), on
  SQLite inside the writer's transaction (one writer at a time: no extra write transaction to wait for);
* a recomputation records the ``generation`` it read **before** reading the cards, so a change committed while it
  runs leaves the summary out of date (recomputed on the next view) rather than wrong.

Writes that send no signals (the register import's ``bulk_create_logged`` / ``bulk_update_logged``, the demo and
benchmark data) must call ``mark_changed(org_ids)`` after they commit; the daily job (``assets.tasks``) and
``houqin rebuild_asset_analytics`` recompute everything anyway.

``summaries_for`` recomputes in the request what is out of date: always the schools without any summary, and the
out-of-date ones while a time budget lasts (``SYNC_SECONDS``); the rest are shown as they were, and the page says
since when (统计时间) and offers 刷新 (``refresh``).
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import threading
import time
from dataclasses import dataclass, field

from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from houqin.assets import analytics

log = logging.getLogger(__name__)

# How long a view may spend recomputing out-of-date summaries before it shows the remaining ones as they were
# (schools without any summary are always computed). A school of 5,000 cards takes about 0.1 s.
SYNC_SECONDS = 1.5
# Schools recomputed together (one set of grouped queries per batch).
BATCH = 20


@dataclass
class State:
    """How current the figures of a report are."""

    live: bool = False  # computed from the cards for this report
    computed_at: datetime.datetime | None = None  # the oldest summary's computation time
    outdated: set = field(default_factory=set)  # schools shown with figures older than their data


def _is_current(row, today: datetime.date) -> bool:
    return (row.as_of == today and row.computed_generation == row.generation
            and row.data.get("v") == analytics.SUMMARY_VERSION)


def summaries_for(org_ids, today: datetime.date | None = None, *, force: bool = False) -> tuple[dict, State]:
    """The summaries of the schools ``org_ids`` as of ``today`` (the current date), recomputing the out-of-date
    ones (all of them with ``force``) within the time budget. One query when all are current."""
    from houqin.assets.models import AnalyticsSummary

    today = today or timezone.localdate()
    ids = sorted(set(org_ids))
    rows = {r.org_id: r for r in AnalyticsSummary.objects.filter(org_id__in=ids)}
    changed_here = _changed_in_this_transaction()
    # Computed now whatever the budget: never computed, another layout, or changed by this very transaction.
    missing = [pk for pk in ids if pk not in rows or rows[pk].computed_at is None
               or rows[pk].data.get("v") != analytics.SUMMARY_VERSION or None in changed_here or pk in changed_here]
    stale = [pk for pk in ids if pk not in missing and (force or not _is_current(rows[pk], today))]
    summaries = {pk: rows[pk].data for pk in ids if pk not in missing}
    computed = {pk: rows[pk].computed_at for pk in summaries}
    started = time.monotonic()
    if missing:
        summaries.update(refresh(missing, today))
        computed.update(dict.fromkeys(missing, timezone.now()))
    # The oldest first: the longest out of date.
    stale.sort(key=lambda pk: rows[pk].computed_at or datetime.datetime.min.replace(tzinfo=datetime.UTC))
    while stale and (force or time.monotonic() - started < SYNC_SECONDS):
        batch, stale = stale[:BATCH if force else 1], stale[BATCH if force else 1:]
        summaries.update(refresh(batch, today))
        computed.update(dict.fromkeys(batch, timezone.now()))
    state = State(computed_at=min(computed.values()) if computed else None, outdated=set(stale))
    return summaries, state


def refresh(org_ids, today: datetime.date | None = None) -> dict:
    """Recompute and keep the summaries of the schools ``org_ids`` as of ``today``; returns them."""
    from houqin.assets.models import AnalyticsSummary

    today = today or timezone.localdate()
    ids = sorted(set(org_ids))
    if not ids:
        return {}
    # The rows first (so that a change committed from now on raises their generation), then the generation each
    # recomputation starts from, then the cards.
    with contextlib.suppress(IntegrityError), transaction.atomic():  # (a school deleted meanwhile)
        AnalyticsSummary.objects.bulk_create([AnalyticsSummary(org_id=pk) for pk in ids], ignore_conflicts=True)
    generations = dict(AnalyticsSummary.objects.filter(org_id__in=ids).values_list("org_id", "generation"))
    started_at = timezone.now()
    summaries = analytics.compute_summaries(ids, today)
    for pk in ids:
        if pk not in generations:
            continue
        try:
            with transaction.atomic():
                AnalyticsSummary.objects.filter(org_id=pk).update(
                    data=summaries[pk], as_of=today, computed_at=started_at, computed_generation=generations[pk])
        except DatabaseError:  # a busy database: the figures are still right for this view, kept next time
            log.warning("资产分析统计未能保存（学校 %s）", pk, exc_info=True)
    return summaries


def rebuild_all(today: datetime.date | None = None, *, only_outdated: bool = False) -> int:
    """Recompute the summaries of every active school (the daily job, ``houqin rebuild_asset_analytics``). Returns
    the number of schools recomputed."""
    from houqin.assets.models import AnalyticsSummary
    from houqin.core.models import Organization, OrgKind

    today = today or timezone.localdate()
    ids = list(Organization.objects.filter(is_active=True).exclude(kind=OrgKind.BUREAU).order_by("pk")
               .values_list("pk", flat=True))
    if only_outdated:
        current = {r.org_id for r in AnalyticsSummary.objects.filter(org_id__in=ids) if _is_current(r, today)}
        ids = [pk for pk in ids if pk not in current]
    for start in range(0, len(ids), BATCH):
        refresh(ids[start:start + BATCH], today)
    return len(ids)


# --- Change marks -----------------------------------------------------------------------------------------------------
_pending = threading.local()


def mark_changed(org_ids=None) -> None:
    """Mark the summaries of ``org_ids`` (every school's with ``None``) out of date, after the current transaction
    commits (at once outside one). For writers that send no signals, e.g. bulk inserts."""
    connection = transaction.get_connection()
    if connection.vendor == "sqlite" and connection.in_atomic_block:
        # SQLite has one writer: the writer's transaction holds the write lock already, so raising the count inside
        # it costs no lock (an UPDATE after the commit would be one more write transaction to wait for).
        _raise([None] if org_ids is None else org_ids, savepoint=True)
        return
    orgs = getattr(_pending, "orgs", None)
    if orgs is None:
        orgs = _pending.orgs = set()
    orgs.update([None] if org_ids is None else org_ids)
    transaction.on_commit(_flush)


def _changed_in_this_transaction() -> set:
    """Schools changed by the current, not yet committed transaction (its own writes must show in what it reads;
    the marks of a transaction that was rolled back are dropped once outside any transaction)."""
    orgs = getattr(_pending, "orgs", None)
    if not orgs:
        return set()
    if not transaction.get_connection().in_atomic_block:
        orgs.clear()
        return set()
    return set(orgs)


def _flush() -> None:
    """Raise the generation of the schools marked since the last flush (the first callback of a commit does them
    all, the others find nothing; marks of a rolled-back transaction only cost an extra recomputation)."""
    orgs = getattr(_pending, "orgs", None)
    if not orgs:
        return
    marked, _pending.orgs = orgs, set()
    _raise(marked)


def _raise(marked, *, savepoint: bool = False) -> None:
    from houqin.assets.models import AnalyticsSummary

    rows = AnalyticsSummary.objects.all()
    if None not in marked:
        rows = rows.filter(org_id__in=sorted(marked))
    try:
        if savepoint:  # inside the writer's transaction: a failure must not break it
            with transaction.atomic():
                rows.update(generation=F("generation") + 1)
        else:
            rows.update(generation=F("generation") + 1)
    except DatabaseError:  # never fail the writer; the daily job recomputes anyway
        log.warning("资产分析统计未能标记为待更新（学校 %s）", sorted(marked, key=str), exc_info=True)


def _org_changed(sender, instance, **kwargs) -> None:
    if kwargs.get("raw"):
        return
    org_id = getattr(instance, "org_id", None)
    if org_id is not None:
        mark_changed([org_id])


def _category_changed(sender, instance, **kwargs) -> None:
    if kwargs.get("raw"):
        return
    mark_changed([instance.org_id] if instance.org_id else None)


for _model in ("assets.Asset", "assets.AssetEvent", "core.Department"):
    post_save.connect(_org_changed, sender=_model, dispatch_uid=f"houqin.assets.analytics.saved.{_model}")
    post_delete.connect(_org_changed, sender=_model, dispatch_uid=f"houqin.assets.analytics.deleted.{_model}")
post_save.connect(_category_changed, sender="assets.AssetCategory", dispatch_uid="houqin.assets.analytics.cat_saved")
post_delete.connect(_category_changed, sender="assets.AssetCategory",
                    dispatch_uid="houqin.assets.analytics.cat_deleted")
