"""Where the repairs app plugs into the other parts (called once from ``RepairsConfig.ready``):

* the 报修 button of asset cards, their phone page and their public page behind the QR label (the assets app's
  action registry, ``houqin.assets.actions``), opening the report form for that card;
* the page behind a room's QR label (core's ``qr.register_kind("r", "core.room", view=...)``): the room's open
  repairs and a big 报修 button;
* the repair figures of the asset analytics (``houqin.assets.analytics.register_repair_source``): one row per
  completed work order about a card, with its cost and completion date.

Each seam is optional: if the other part does not offer it (yet), nothing is registered.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)

REPAIR_ACTION = "repair"


def connect_all() -> None:
    register_asset_action()
    register_room_scan()
    register_repair_source()


# --- The 报修 button of an asset card ----------------------------------------------------------------------------
def asset_report_url(asset) -> str:
    from django.urls import reverse

    from houqin.core import qr

    return reverse("repairs:report_scan", kwargs={"kind": "a", "token": qr.make_token("assets.asset", asset.pk)})


def may_report(org, user) -> bool:
    """Whether ``user`` (possibly anonymous) may report a fault in ``org``: a member allowed to report, or anyone
    where the school accepts reports without signing in. Cheap: the access map is cached per request."""
    from houqin.core.auth import access_for
    from houqin.repairs import conf

    if getattr(user, "is_authenticated", False):
        if user.is_superuser:
            return True
        access = access_for(user)
        if access.has("repairs.add_workorder", org.pk) or access.has("repairs.dispatch_workorder", org.pk):
            return True
    return not conf.report_requires_login(org)


def asset_repair_available(asset, user) -> bool:
    if getattr(asset, "disposed_on", None) is not None or asset.status in ("disposed", "lost"):
        return False
    return may_report(asset.org, user)


def register_asset_action() -> None:
    try:
        from houqin.assets import actions
    except ImportError:  # the assets app is not installed
        return
    wheres = tuple(w for w in ("card", "mobile", getattr(actions, "PUBLIC", None)) if w)
    actions.register(actions.AssetAction(
        REPAIR_ACTION, "报修", "ti ti-tool", url=asset_report_url, available=asset_repair_available, order=10,
        style="warning", where=wheres, hint="坏了？拍张照片，说明情况，维修人员会尽快处理"))


# --- The page behind a room's QR label --------------------------------------------------------------------------
def register_room_scan() -> None:
    import inspect

    from houqin.core import qr

    if "view" not in inspect.signature(qr.register_kind).parameters:
        logger.warning("houqin.core.qr.register_kind has no view hook: the room QR page of the repairs app is off")
        return
    from houqin.repairs.intake_views import room_scan_page

    existing = qr.KINDS.get("r")
    qr.register_kind("r", "core.room", view=room_scan_page,
                     public_view=existing.public_view if existing is not None else None)


# --- Repair figures of the asset analytics ----------------------------------------------------------------------
def repair_rows(org_ids, since=None):
    """Completed work orders about a card of ``org_ids`` (on or after ``since``): ``asset``, ``cost`` (materials +
    labour + outside firm) and ``repaired_on`` (the completion date, local time)."""
    from django.db.models import F
    from django.db.models.functions import TruncDate

    from houqin.repairs.models import DONE_STATES, WorkOrder

    rows = (WorkOrder.objects.filter(org_id__in=list(org_ids), state__in=DONE_STATES, asset__isnull=False,
                                     completed_at__isnull=False)
            .annotate(cost=F("total_cost"), repaired_on=TruncDate("completed_at")))
    if since is not None:
        rows = rows.filter(completed_at__date__gte=since)
    return rows


def register_repair_source() -> None:
    try:
        from houqin.assets import analytics
    except ImportError:
        return
    register = getattr(analytics, "register_repair_source", None)
    if register is not None:
        register(repair_rows)
