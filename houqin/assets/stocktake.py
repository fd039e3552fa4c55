"""Stocktaking (清查盘点) commands: plan → start (freeze the expected list) → count on phones → finish (propose the
adjustments and submit them for approval) → on approval post them to the cards; or cancel.

Each command runs in one transaction, re-reads the plan under a row lock and refuses an illegal move with a reason in
Chinese (``ValidationError``) or a missing right (``PermissionDenied``). Who may do what:

* **manage** (edit the plan, start, finish, cancel, count any room): ``user_can(user, "change", stocktake)`` —
  总务主任 and 资产管理员 (``assets.*``);
* **count** a room while the plan is 进行中: a manager; a counter named on the plan (only their rooms if the plan
  splits the rooms among counters); or, when the plan allows self-audit, the room's responsible person
  (``Room.responsible``, e.g. a class's head teacher) for that room — decided per object, not by role.

Counting is idempotent and safe with several counters at once: a card has one line per plan (unique constraint),
and its first count is a compare-and-set (``UPDATE … WHERE counted_at IS NULL``): of two counters scanning the same
card at the same moment exactly one counts it, the other is told 已盘过. While a count is written the plan's row is
held with a shared lock (PostgreSQL ``FOR SHARE``; SQLite serialises writers), so finishing cannot slip between a
count's check of the status and its write.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from houqin.assets import history, services
from houqin.assets.choices import AssetEventCode, AssetStatus
from houqin.assets.models import (
    AdjustmentKind,
    Asset,
    CountMethod,
    LineResult,
    Stocktake,
    StocktakeAdjustment,
    StocktakeCounter,
    StocktakeLine,
    StocktakeStatus,
    StocktakeSurplus,
)
from houqin.core import approvals, qr
from houqin.core.auth import user_can
from houqin.core.models import Room

REQUEST_TYPE = "stocktake"
FOUND_STATUSES = (AssetStatus.IN_USE, AssetStatus.IDLE, AssetStatus.REPAIRING, AssetStatus.PENDING_DISPOSAL)
NO_RIGHT = "您不是本次盘点的盘点人，不能盘点该房间。"


# --- Who may do what ------------------------------------------------------------------------------------------------
def can_manage(user, stocktake: Stocktake) -> bool:
    return user_can(user, "change", stocktake)


@dataclass(frozen=True)
class CountAccess:
    """The rooms ``user`` may count in a plan now: every room of the scope (``all_rooms``) or those in ``room_ids``
    (nothing unless the plan is 进行中). ``involved``: a manager, a counter or a room's responsible person of the
    plan, counting or not (they may open its counting pages)."""

    all_rooms: bool = False
    room_ids: frozenset[int] = frozenset()
    manager: bool = False
    involved: bool = False

    def __bool__(self) -> bool:
        return self.all_rooms or bool(self.room_ids)

    def allows(self, room_id: int | None) -> bool:
        return room_id is not None and (self.all_rooms or room_id in self.room_ids)


def count_access(stocktake: Stocktake, user) -> CountAccess:
    """What ``user`` may count in ``stocktake`` (at most three small queries)."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return CountAccess()
    manager = can_manage(user, stocktake)
    all_rooms, room_ids = manager, set()
    if not manager:
        counter = StocktakeCounter.objects.filter(stocktake=stocktake, user=user).first()
        if counter is not None:
            assigned = set(counter.rooms.values_list("pk", flat=True))
            if assigned:
                room_ids |= assigned & set(scope_rooms(stocktake).values_list("pk", flat=True))
            else:
                all_rooms = True
        if stocktake.allow_self_audit and not all_rooms:
            room_ids |= set(scope_rooms(stocktake).filter(responsible=user).values_list("pk", flat=True))
    involved = all_rooms or bool(room_ids)
    if stocktake.status != StocktakeStatus.COUNTING:
        return CountAccess(manager=manager, involved=involved)
    return CountAccess(all_rooms=all_rooms, room_ids=frozenset(room_ids), manager=manager, involved=involved)


def _require_manager(user, stocktake: Stocktake, verb: str) -> None:
    if not can_manage(user, stocktake):
        raise PermissionDenied(f"您没有{verb}该盘点的权限。")


# --- Scope ----------------------------------------------------------------------------------------------------------
def scope_rooms(stocktake: Stocktake):
    """The rooms of the plan's scope: the chosen rooms, the rooms of the chosen buildings and campuses; none chosen:
    every room of the school."""
    rooms = Room.objects.filter(org_id=stocktake.org_id)
    place = _place_q(stocktake, "")
    return rooms.filter(place) if place is not None else rooms


def _place_q(stocktake: Stocktake, prefix: str) -> Q | None:
    campus_ids = list(stocktake.campuses.values_list("pk", flat=True))
    building_ids = list(stocktake.buildings.values_list("pk", flat=True))
    room_ids = list(stocktake.rooms.values_list("pk", flat=True))
    if not (campus_ids or building_ids or room_ids):
        return None
    place = Q(pk__in=[])
    if room_ids:
        place |= Q(**{f"{prefix}pk__in" if prefix else "pk__in": room_ids})
    if building_ids:
        place |= Q(**{f"{prefix}building__in": building_ids})
    if campus_ids:
        place |= Q(**{f"{prefix}campus__in": campus_ids})
    return place


def scope_assets(stocktake: Stocktake):
    """The cards the plan counts: on the books (not 已处置) and within its places, departments and categories."""
    cards = Asset.objects.filter(org_id=stocktake.org_id, disposed_on__isnull=True).exclude(
        status=AssetStatus.DISPOSED)
    place = _place_q(stocktake, "room__")
    if place is not None:
        cards = cards.filter(place)
    department_ids = list(stocktake.departments.values_list("pk", flat=True))
    if department_ids:
        cards = cards.filter(department__in=department_ids)
    paths = list(stocktake.categories.values_list("path", flat=True))
    if paths:
        subtree = Q(pk__in=[])
        for path in paths:
            subtree |= Q(category__path__startswith=path)
        cards = cards.filter(subtree)
    return cards


def refresh_scope(stocktake: Stocktake) -> None:
    """Write the scope in words into ``scope_summary`` (after the plan's places, departments or categories were
    set): the lists show it without a query per row."""
    stocktake.scope_summary = scope_text(stocktake)[:300]
    Stocktake.objects.filter(pk=stocktake.pk).update(scope_summary=stocktake.scope_summary)


def scope_text(stocktake: Stocktake) -> str:
    """“明德楼、行政楼 · 全部部门 · 全部分类” (five small queries)."""
    places = [*map(str, stocktake.campuses.all()), *map(str, stocktake.buildings.select_related("campus")),
              *map(str, stocktake.rooms.select_related("campus", "building"))]
    departments = [d.name for d in stocktake.departments.all()]
    categories = [c.name for c in stocktake.categories.all()]
    return " · ".join([
        "、".join(places) if places else "全校",
        "、".join(departments) if departments else "全部部门",
        "、".join(categories) if categories else "全部分类",
    ])


# --- Locks ----------------------------------------------------------------------------------------------------------
def _locked(stocktake: Stocktake) -> Stocktake:
    services.lock_rows(Stocktake.objects.filter(pk=stocktake.pk))  # the row alone, then re-read with its joins
    return Stocktake.objects.select_related("org").get(pk=stocktake.pk)


def _shared_status(stocktake: Stocktake) -> str:
    """The plan's status read under a shared row lock (PostgreSQL ``FOR SHARE``: counts do not wait for each other,
    finishing waits for the counts in flight and they for it). SQLite's IMMEDIATE transactions serialise writers."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            table = connection.ops.quote_name(Stocktake._meta.db_table)
            cursor.execute(f"SELECT status FROM {table} WHERE id = %s FOR SHARE", [stocktake.pk])  # noqa: S608
            row = cursor.fetchone()
        return row[0] if row else ""
    return Stocktake.objects.filter(pk=stocktake.pk).values_list("status", flat=True).first() or ""


def _require_counting(stocktake: Stocktake, *, lock: bool = True) -> None:
    """Refuse unless the plan is 进行中 now (read under the shared lock inside a transaction, else plainly — the
    early check before the rights are worked out from the plan's status)."""
    status = _shared_status(stocktake) if lock else (
        Stocktake.objects.filter(pk=stocktake.pk).values_list("status", flat=True).first() or "")
    stocktake.status = status
    if status != StocktakeStatus.COUNTING:
        label = StocktakeStatus(status).label if status in StocktakeStatus.values else "不存在"
        raise ValidationError(f"该盘点{label}，不能再盘点。")


# --- Plan -----------------------------------------------------------------------------------------------------------
def set_counter_rooms(stocktake: Stocktake, user, assignment: dict[int, int | None]) -> None:
    """分工: ``assignment`` maps a room of the scope to the counter (user id) who counts it, or None (any counter).
    Only a manager, only before counting ends."""
    with transaction.atomic():
        stocktake = _locked(stocktake)
        _require_manager(user, stocktake, "修改")
        if stocktake.status not in (StocktakeStatus.DRAFT, StocktakeStatus.COUNTING):
            raise ValidationError(f"该盘点{stocktake.get_status_display()}，不能再修改分工。")
        counters = {c.user_id: c for c in StocktakeCounter.objects.filter(stocktake=stocktake)}
        rooms = set(scope_rooms(stocktake).values_list("pk", flat=True))
        per_counter: dict[int, list[int]] = defaultdict(list)
        for room_id, user_id in assignment.items():
            if room_id not in rooms:
                raise ValidationError("分工中有不在盘点范围内的房间。")
            if user_id is None:
                continue
            if user_id not in counters:
                raise ValidationError("只能把房间分给本次盘点的盘点人。")
            per_counter[user_id].append(room_id)
        for user_id, counter in counters.items():
            counter.rooms.set(per_counter.get(user_id, []))


def set_counters(stocktake: Stocktake, users) -> None:
    """The plan's counters are exactly ``users`` (members of the school); room assignments of those kept stay."""
    users = list(users)
    from houqin.core.models import Membership

    member_ids = set(Membership.objects.filter(org_id=stocktake.org_id, user__in=users)
                     .values_list("user_id", flat=True))
    strangers = [str(u) for u in users if u.pk not in member_ids]
    if strangers:
        raise ValidationError({"counters": f"盘点人必须是本校人员：{'、'.join(strangers)}。"})
    keep = {u.pk for u in users}
    StocktakeCounter.objects.filter(stocktake=stocktake).exclude(user_id__in=keep).delete()
    existing = set(StocktakeCounter.objects.filter(stocktake=stocktake).values_list("user_id", flat=True))
    StocktakeCounter.objects.bulk_create([StocktakeCounter(org_id=stocktake.org_id, stocktake=stocktake, user=u)
                                          for u in users if u.pk not in existing])


def start(stocktake: Stocktake, user) -> Stocktake:
    """开始盘点: freeze the expected list — one line per card in scope with its book values — in one bulk insert.
    Later changes to the cards do not change the list. The counters (and, with self-audit, the rooms' responsible
    people) are told."""
    with transaction.atomic():
        stocktake = _locked(stocktake)
        _require_manager(user, stocktake, "开始")
        if stocktake.status != StocktakeStatus.DRAFT:
            raise ValidationError(f"该盘点{stocktake.get_status_display()}，不能开始。")
        cards = scope_assets(stocktake).select_related("category", "room__campus", "room__building", "department",
                                                        "custodian").order_by("number")
        lines = [_frozen_line(stocktake, card) for card in cards.iterator(chunk_size=2000)]
        if not lines:
            raise ValidationError("盘点范围内没有在账的资产卡片，请调整盘点范围后再开始。")
        StocktakeLine.objects.bulk_create(lines)
        refresh_scope(stocktake)
        stocktake.expected_count = len(lines)
        stocktake.expected_value = sum((line.original_value for line in lines), Decimal("0"))
        stocktake.status = StocktakeStatus.COUNTING
        stocktake.started_at = timezone.now()
        stocktake.started_by = user if getattr(user, "is_authenticated", False) else None
        stocktake.save(update_fields=["expected_count", "expected_value", "status", "started_at", "started_by",
                                      "updated_at"])
        _notify_counters(stocktake)
    return stocktake


def _frozen_line(stocktake: Stocktake, card: Asset) -> StocktakeLine:
    spec = " ".join(p for p in (card.brand, card.model) if p)
    return StocktakeLine(
        org_id=stocktake.org_id, stocktake=stocktake, asset=card, asset_number=card.number, asset_name=card.name[:100],
        spec=spec[:160], category_name=str(card.category.name)[:90], quantity=card.quantity, unit=card.unit,
        original_value=card.original_value, book_status=card.status, expected_room_id=card.room_id,
        expected_room_name=(card.room.full_name if card.room_id else "")[:160], department_id=card.department_id,
        department_name=(card.department.name if card.department_id else "")[:60], custodian_id=card.custodian_id,
        custodian_name=(card.custodian.get_full_name() if card.custodian_id else "")[:80],
    )


def _notify_counters(stocktake: Stocktake) -> None:
    from django.urls import reverse

    from houqin.core.models import User
    from houqin.core.notifications import notify

    ids = set(StocktakeCounter.objects.filter(stocktake=stocktake).values_list("user_id", flat=True))
    if stocktake.allow_self_audit:
        room_ids = StocktakeLine.objects.filter(stocktake=stocktake).values("expected_room_id")
        ids |= set(Room.objects.filter(pk__in=room_ids, responsible__isnull=False)
                   .values_list("responsible_id", flat=True))
    if not ids:
        return
    notify(User.objects.filter(pk__in=sorted(ids)), org=stocktake.org, kind="todo",
           title=f"请参加资产盘点：{stocktake.name}",
           body=f"{stocktake.number} 已开始，计划 {stocktake.planned_end:%Y-%m-%d} 前完成。"
                "打开后选择房间，扫描或勾选资产。",
           url=reverse("assets:stocktake_count", args=[stocktake.pk]), source=stocktake,
           dedupe_key=f"stocktake:{stocktake.pk}:start")


def cancel(stocktake: Stocktake, user, reason: str = "") -> Stocktake:
    with transaction.atomic():
        stocktake = _locked(stocktake)
        _require_manager(user, stocktake, "取消")
        if stocktake.status not in (StocktakeStatus.DRAFT, StocktakeStatus.COUNTING):
            raise ValidationError(f"该盘点{stocktake.get_status_display()}，不能取消。")
        stocktake.status = StocktakeStatus.CANCELLED
        stocktake.cancelled_at = timezone.now()
        stocktake.cancel_reason = (reason or "").strip()[:200]
        stocktake.save(update_fields=["status", "cancelled_at", "cancel_reason", "updated_at"])
    return stocktake


# --- Counting -------------------------------------------------------------------------------------------------------
ASSET_URL_RE = re.compile(r"/q/a/([0-9A-Za-z]+)/?(?:[?#].*)?$")
ROOM_URL_RE = re.compile(r"/q/r/([0-9A-Za-z]+)/?(?:[?#].*)?$")


@dataclass(frozen=True)
class Code:
    """What a scanned or typed text names: an asset (``pk``), a room (``pk``), an asset number, or nothing."""

    kind: str  # "asset" | "room" | "number" | "invalid" | "empty"
    pk: int | None = None
    number: str = ""
    text: str = ""


def parse_code(text: str) -> Code:
    """A scan: the asset QR URL (``…/q/a/<token>/``), the bare token, the asset number; or a room QR URL."""
    text = (text or "").strip()
    if not text:
        return Code("empty")
    if (match := ROOM_URL_RE.search(text)) is not None:
        pk = qr.read_token("core.room", match.group(1))
        return Code("room", pk, text=text) if pk is not None else Code("invalid", text=text)
    if (match := ASSET_URL_RE.search(text)) is not None:
        pk = qr.read_token("assets.asset", match.group(1))
        return Code("asset", pk, text=text) if pk is not None else Code("invalid", text=text)
    if qr.TOKEN_RE.match(text) and (pk := qr.read_token("assets.asset", text)) is not None:
        return Code("asset", pk, text=text)
    number = re.sub(r"\s+", "", text).upper()
    if len(number) > 30:
        return Code("invalid", text=text)
    return Code("number", number=number, text=text)


@dataclass
class Outcome:
    """The answer to one scan, shown big on the counter's phone."""

    kind: str  # matched | moved | status | already | out_of_scope | unknown | invalid | room | undone
    title: str
    detail: str = ""
    line: StocktakeLine | None = None
    asset: Asset | None = None
    room: Room | None = None
    counted: bool = False  # this request counted (or corrected) the line

    TONES = {"matched": "success", "moved": "warning", "status": "warning", "already": "info",
             "out_of_scope": "secondary", "unknown": "danger", "invalid": "danger", "room": "info",
             "undone": "secondary"}
    ICONS = {"matched": "ti-circle-check", "moved": "ti-map-pin-exclamation", "status": "ti-alert-triangle",
             "already": "ti-repeat", "out_of_scope": "ti-circle-minus", "unknown": "ti-help-circle",
             "invalid": "ti-x", "room": "ti-door", "undone": "ti-arrow-back-up"}

    @property
    def tone(self) -> str:
        return self.TONES.get(self.kind, "secondary")

    @property
    def icon(self) -> str:
        return self.ICONS.get(self.kind, "ti-info-circle")


def result_for(line: StocktakeLine, room_id: int | None, found_status: str) -> str:
    if room_id != line.expected_room_id:
        return LineResult.MOVED
    if found_status and found_status != line.book_status:
        return LineResult.STATUS
    return LineResult.MATCHED


def _room_name(room) -> str:
    return room.full_name if room is not None else "（无）"


def _describe(line: StocktakeLine, room) -> Outcome:
    name = f"{line.asset_number} {line.asset_name}"
    if line.result == LineResult.MOVED:
        return Outcome("moved", "位置不符", f"{name}：账面在“{line.expected_room_name or '未登记位置'}”，实际在"
                                            f"“{_room_name(room)}”。", line=line)
    if line.result == LineResult.STATUS:
        return Outcome("status", "状态不符", f"{name}：账面“{line.get_book_status_display()}”，实物"
                                             f"“{line.found_status_display}”。", line=line)
    return Outcome("matched", "✓ 相符", name, line=line)


def scan(stocktake: Stocktake, user, room: Room, text: str, *, found_status: str = "",
         method: str = CountMethod.WEDGE) -> Outcome:
    """One scan in ``room``: the card is counted as found there (first count wins), or the answer says why not."""
    code = parse_code(text)
    if code.kind == "empty":
        return Outcome("invalid", "没有读到内容", "请扫描资产标签上的二维码，或输入资产编号后按回车。")
    if code.kind == "invalid":
        return Outcome("invalid", "无法识别", f"“{code.text[:60]}”不是本系统的资产二维码或资产编号。")
    if code.kind == "room":
        target = scope_rooms(stocktake).filter(pk=code.pk).select_related("campus", "building").first()
        if target is None:
            return Outcome("invalid", "该房间不在本次盘点范围", "请扫描资产标签，或换一个房间。")
        return Outcome("room", "切换房间", _room_name(target), room=target)
    lines = StocktakeLine.objects.filter(stocktake=stocktake)
    line = (lines.filter(asset_id=code.pk) if code.kind == "asset" else lines.filter(asset_number=code.number)).first()
    if line is None:
        cards = Asset.objects.filter(org_id=stocktake.org_id)
        card = (cards.filter(pk=code.pk) if code.kind == "asset" else cards.filter(number=code.number)).first()
        if card is not None:
            return Outcome("out_of_scope", "不在本次盘点范围",
                           f"{card.number} {card.name} 不在本次盘点的范围内（如已处置、不属于所选部门或分类，"
                           f"或在盘点开始后登记），本次不计入。", asset=card)
        shown = code.number or code.text
        return Outcome("unknown", "未找到该资产",
                       f"本校没有编号为“{shown[:40]}”的资产卡片。若是账外物品，请登记为盘盈。")
    return count_line(stocktake, line, user, room, found_status=found_status, method=method)


def count_line(stocktake: Stocktake, line: StocktakeLine, user, room: Room, *, found_status: str = "",
               method: str = CountMethod.LIST, correct: bool = False) -> Outcome:
    """Count ``line`` as found in ``room`` (with ``found_status``, "" = as on the books). The first count wins; a
    later one is answered 已盘过 unless ``correct`` (the same counter or a manager moving the count here)."""
    if found_status and found_status not in FOUND_STATUSES:
        raise ValidationError("请选择正确的实物状态。")
    if line.stocktake_id != stocktake.pk or room.org_id != stocktake.org_id:
        raise ValidationError("该资产不属于本次盘点。")
    _require_counting(stocktake, lock=False)
    access = count_access(stocktake, user)
    if not access.allows(room.pk):
        raise PermissionDenied(NO_RIGHT)
    if not found_status and line.book_status == AssetStatus.LOST:
        found_status = AssetStatus.IN_USE  # a card on the books as lost has been found
    result = result_for(line, room.pk, found_status)
    values = {"counted_at": timezone.now(), "counted_by": user, "counted_by_name": _name(user), "found_room": room,
              "found_status": found_status, "result": result, "method": method}
    with transaction.atomic():
        _require_counting(stocktake)
        rows = StocktakeLine.objects.filter(pk=line.pk)
        if correct:
            current = rows.values("counted_by_id", "counted_at").first()
            if current and current["counted_at"] and current["counted_by_id"] != user.pk and not access.manager:
                raise PermissionDenied("只有原盘点人或资产管理员可以更正该资产的盘点结果。")
            updated = rows.update(**values)
        else:
            updated = rows.filter(counted_at__isnull=True).update(**values)
    line = StocktakeLine.objects.select_related("found_room__campus", "found_room__building").get(pk=line.pk)
    if not updated:
        when = timezone.localtime(line.counted_at).strftime("%m-%d %H:%M") if line.counted_at else ""
        return Outcome("already", "已盘过", f"{line.asset_number} {line.asset_name} 已于 {when} 由 "
                                           f"{line.counted_by_name or '他人'} 在“{_room_name(line.found_room)}”盘点"
                                           f"（{line.get_result_display()}），不重复计数。", line=line)
    outcome = _describe(line, room)
    outcome.counted = True
    return outcome


def set_found_status(stocktake: Stocktake, line: StocktakeLine, user, found_status: str) -> Outcome:
    """Record the condition of a counted item (在用/闲置/损坏待修/报废待处置) → 状态不符 when it differs."""
    if found_status not in FOUND_STATUSES:
        raise ValidationError("请选择正确的实物状态。")
    _require_counting(stocktake, lock=False)
    access = count_access(stocktake, user)
    with transaction.atomic():
        _require_counting(stocktake)
        line = StocktakeLine.objects.select_related("found_room__campus", "found_room__building").get(pk=line.pk)
        if line.stocktake_id != stocktake.pk or line.counted_at is None:
            raise ValidationError("请先盘点该资产，再记录实物状态。")
        if not (access.manager or (line.counted_by_id == user.pk and access.allows(line.found_room_id))):
            raise PermissionDenied("只有原盘点人或资产管理员可以修改该资产的实物状态。")
        line.found_status = found_status
        line.result = result_for(line, line.found_room_id, found_status)
        StocktakeLine.objects.filter(pk=line.pk).update(found_status=line.found_status, result=line.result)
    return _describe(line, line.found_room)


def uncount(stocktake: Stocktake, line: StocktakeLine, user) -> Outcome:
    """Undo a count made by mistake (a wrong tick): back to 未盘. The one who counted it, or a manager."""
    _require_counting(stocktake, lock=False)
    access = count_access(stocktake, user)
    with transaction.atomic():
        _require_counting(stocktake)
        line = StocktakeLine.objects.get(pk=line.pk)
        if line.stocktake_id != stocktake.pk or line.counted_at is None:
            raise ValidationError("该资产尚未盘点。")
        if not (access.manager or line.counted_by_id == user.pk):
            raise PermissionDenied("只有原盘点人或资产管理员可以撤销该资产的盘点。")
        StocktakeLine.objects.filter(pk=line.pk).update(
            counted_at=None, counted_by=None, counted_by_name="", found_room=None, found_status="",
            result=LineResult.PENDING, method="")
    line.refresh_from_db()
    return Outcome("undone", "已撤销", f"{line.asset_number} {line.asset_name} 恢复为未盘。", line=line)


def record_surplus(stocktake: Stocktake, user, room: Room, *, name: str, description: str = "", quantity: int = 1,
                   unit: str = "台", estimated_value: Decimal = Decimal("0"), found_status: str = AssetStatus.IN_USE,
                   photos=()) -> StocktakeSurplus:
    """盘盈: an item found in ``room`` that is not on the books, with its photos (all or nothing)."""
    from houqin.core import attachments

    _require_counting(stocktake, lock=False)
    if not count_access(stocktake, user).allows(room.pk):
        raise PermissionDenied(NO_RIGHT)
    with transaction.atomic():
        _require_counting(stocktake)
        surplus = StocktakeSurplus(org_id=stocktake.org_id, stocktake=stocktake, room=room, name=name.strip(),
                                   description=description.strip(), quantity=quantity, unit=unit.strip() or "台",
                                   estimated_value=estimated_value, found_status=found_status,
                                   found_at=timezone.now(), found_by=user, found_by_name=_name(user))
        surplus.full_clean()
        surplus.save()
        if photos:
            attachments.attach(surplus, list(photos), user=user, caption="盘盈照片", check_permission=False)
    return surplus


def _name(user) -> str:
    return ((user.get_full_name() or user.username) if getattr(user, "is_authenticated", False) else "系统")[:80]


# --- Finishing and posting ------------------------------------------------------------------------------------------
def finish(stocktake: Stocktake, user, comment: str = "") -> Stocktake:
    """结束盘点: every card not counted is 盘亏; the adjustments the differences call for are proposed and submitted
    for approval (request type ``stocktake``). Nothing changes on the cards until the approval."""
    with transaction.atomic():
        stocktake = _locked(stocktake)
        _require_manager(user, stocktake, "结束")
        if stocktake.status != StocktakeStatus.COUNTING:
            raise ValidationError(f"该盘点{stocktake.get_status_display()}，不能结束盘点。")
        StocktakeLine.objects.filter(stocktake=stocktake, counted_at__isnull=True).update(result=LineResult.MISSING)
        adjustments = _proposed_adjustments(stocktake)
        StocktakeAdjustment.objects.filter(stocktake=stocktake).delete()
        StocktakeAdjustment.objects.bulk_create(adjustments)
        stocktake.difference_value = sum((a.value for a in adjustments), Decimal("0"))
        stocktake.status = StocktakeStatus.REVIEW
        stocktake.finished_at = timezone.now()
        stocktake.finished_by = user
        stocktake.save(update_fields=["difference_value", "status", "finished_at", "finished_by", "updated_at"])
        approvals.submit(stocktake, user, title=stocktake.approval_title, request_type=REQUEST_TYPE, comment=comment)
    return stocktake


def loans_at(asset_ids, when=None) -> dict:
    """{asset id: its loan open at ``when`` (None: now)} — a card not seen because it was lent out (one query)."""
    from houqin.assets.models import AssetLoan

    loans = AssetLoan.objects.filter(asset_id__in=list(asset_ids))
    if when is None:
        loans = loans.filter(returned_at__isnull=True)
    else:
        loans = loans.filter(Q(returned_at__isnull=True) | Q(returned_at__gt=when), lent_at__lte=when)
    return {loan.asset_id: loan for loan in loans.order_by("lent_at", "pk")}


def _proposed_adjustments(stocktake: Stocktake) -> list[StocktakeAdjustment]:
    rows = []
    lines = list(StocktakeLine.objects.filter(stocktake=stocktake).exclude(result=LineResult.MATCHED)
                 .select_related("expected_room", "found_room__campus", "found_room__building")
                 .order_by("asset_number"))
    # A card not seen but lent out with an open loan is where the loan says: 借出中, not 盘亏 (no adjustment).
    on_loan = loans_at(line.asset_id for line in lines if line.result == LineResult.MISSING)
    for line in lines:
        common = {"org_id": stocktake.org_id, "stocktake": stocktake, "line": line, "asset_id": line.asset_id}
        name = f"{line.asset_number} {line.asset_name}"
        if line.result == LineResult.MISSING:
            if line.book_status != AssetStatus.LOST and line.asset_id not in on_loan:
                rows.append(StocktakeAdjustment(
                    **common, kind=AdjustmentKind.LOSE, status_before=line.book_status, status_after=AssetStatus.LOST,
                    value=line.original_value, description=f"{name}：盘亏，账面在“{line.expected_room_name}”"[:200]))
            continue
        if line.found_room_id != line.expected_room_id:
            rows.append(StocktakeAdjustment(
                **common, kind=AdjustmentKind.MOVE, room_before_id=line.expected_room_id,
                room_after_id=line.found_room_id,
                description=f"{name}：{line.expected_room_name or '未登记位置'} → {_room_name(line.found_room)}"[:200]))
        if line.found_status and line.found_status != line.book_status:
            rows.append(StocktakeAdjustment(
                **common, kind=AdjustmentKind.STATUS, status_before=line.book_status, status_after=line.found_status,
                description=f"{name}：{line.get_book_status_display()} → {line.found_status_display}"[:200]))
    surpluses = StocktakeSurplus.objects.filter(stocktake=stocktake).select_related("room__campus", "room__building")
    for surplus in surpluses.order_by("pk"):
        rows.append(StocktakeAdjustment(
            org_id=stocktake.org_id, stocktake=stocktake, surplus=surplus, kind=AdjustmentKind.REGISTER,
            room_after_id=surplus.room_id, status_after=surplus.found_status, value=surplus.estimated_value,
            description=f"{surplus.name}（{surplus.quantity}{surplus.unit}）：盘盈，在“{_room_name(surplus.room)}”，"
                        f"待补登资产卡片"[:200]))
    return rows


def post_adjustments(stocktake: Stocktake, user) -> Stocktake:
    """On approval: a ``count`` event for every counted card and an ``adjust`` event for every change, the cards
    changed accordingly — all in the approval's transaction. Refused unless the plan is 待审核."""
    with transaction.atomic():
        stocktake = _locked(stocktake)
        if stocktake.status != StocktakeStatus.REVIEW:
            raise ValidationError(f"该盘点{stocktake.get_status_display()}，不能入账。")
        reference = stocktake.number
        counted = list(StocktakeLine.objects.filter(stocktake=stocktake, counted_at__isnull=False)
                       .select_related("found_room__campus", "found_room__building").order_by("asset_number"))
        adjustments = list(StocktakeAdjustment.objects.filter(stocktake=stocktake, posted_at__isnull=True)
                           .select_related("room_before__campus", "room_before__building", "room_after__campus",
                                           "room_after__building").order_by("pk"))
        _refuse_pending_transfers(adjustments)
        wanted = Q(pk__in=StocktakeLine.objects.filter(stocktake=stocktake, counted_at__isnull=False)
                   .values("asset_id")) | Q(pk__in=[a.asset_id for a in adjustments if a.asset_id])
        card_ids = services.lock_rows(Asset.objects.filter(wanted))  # the rows alone, then re-read with joins
        cards = {c.pk: c for c in Asset.objects.filter(pk__in=card_ids)
                 .select_related("room__campus", "room__building")}
        now = timezone.now()
        for line in counted:
            card = cards[line.asset_id]
            where = _room_name(line.found_room)
            state = f"，实物{line.found_status_display}" if line.found_status else ""
            services.record_event(card, AssetEventCode.COUNT, user, status_before=card.status,
                                  status_after=card.status, reference=reference, time=now,
                                  note=f"盘点{line.get_result_display()}：在“{where}”{state}")
        for adjustment in adjustments:
            adjustment.posted_at = now
            if adjustment.kind == AdjustmentKind.REGISTER or adjustment.asset_id is None:
                continue
            adjustment.event = _apply(cards[adjustment.asset_id], adjustment, user, reference, now)
        StocktakeAdjustment.objects.bulk_update(adjustments, ["posted_at", "event"])
        stocktake.status = StocktakeStatus.DONE
        stocktake.completed_at = now
        stocktake.save(update_fields=["status", "completed_at", "updated_at"])
    return stocktake


def _refuse_pending_transfers(adjustments) -> None:
    """Refuse the approval while a card to be changed has a transfer waiting for approval: the two would change the
    same card's place or status (the approver decides the transfer first; the reason names the requests)."""
    from houqin.assets import custody

    ids = {a.asset_id for a in adjustments if a.asset_id and a.kind != AdjustmentKind.REGISTER}
    waiting = custody.pending_transfers_of(ids) if ids else {}
    if waiting:
        names = dict(Asset.objects.filter(pk__in=waiting).values_list("pk", "number"))
        listed = "、".join(f"{names.get(pk, pk)}（审批单 {custody.pending_number(t)}）"
                          for pk, t in sorted(waiting.items())[:10])
        more = f"等 {len(waiting)} 项" if len(waiting) > 10 else ""
        raise ValidationError(f"以下资产有调拨正在审批中：{listed}{more}。请先审批或撤回这些调拨，再审批盘点差异。",
                              code="pending_transfer")


def _apply(card: Asset, adjustment: StocktakeAdjustment, user, reference: str, now):
    """Change one card as the adjustment says and write its ``adjust`` event (None: nothing to change)."""
    if card.status == AssetStatus.DISPOSED or card.disposed_on is not None:
        return None  # written off meanwhile: nothing left to adjust
    if card.status == AssetStatus.LENT and adjustment.kind != AdjustmentKind.MOVE:
        return None  # lent out since the count: the loan says where it is; its status follows the return
    before = history.snapshot(card, ("room", "status"))
    status_before = card.status
    if adjustment.kind == AdjustmentKind.MOVE:
        if card.room_id == adjustment.room_after_id:
            return None
        card.room = adjustment.room_after
        note = "盘点差异处理：位置不符，按实存位置调整"
    else:
        if card.status == adjustment.status_after:
            return None
        card.status = adjustment.status_after
        note = ("盘点差异处理：盘亏" if adjustment.kind == AdjustmentKind.LOSE
                else "盘点差异处理：状态不符，按实物状态调整")
    card.save(update_fields=["room", "status", "updated_at"])
    changes = history.diff(before, history.snapshot(card, ("room", "status")))
    return services.record_event(card, AssetEventCode.ADJUST, user, changes=changes, status_before=status_before,
                                 status_after=card.status, reference=reference, note=note, time=now)


def reopen(stocktake: Stocktake) -> Stocktake:
    """The differences were not approved (rejected or withdrawn): counting goes on; the proposals are dropped."""
    with transaction.atomic():
        stocktake = _locked(stocktake)
        if stocktake.status != StocktakeStatus.REVIEW:
            return stocktake
        StocktakeAdjustment.objects.filter(stocktake=stocktake).delete()
        StocktakeLine.objects.filter(stocktake=stocktake, counted_at__isnull=True).update(result=LineResult.PENDING)
        stocktake.status = StocktakeStatus.COUNTING
        stocktake.finished_at = None
        stocktake.finished_by = None
        stocktake.difference_value = Decimal("0")
        stocktake.save(update_fields=["status", "finished_at", "finished_by", "difference_value", "updated_at"])
    return stocktake


def link_registered_card(surplus: StocktakeSurplus, card: Asset) -> None:
    StocktakeSurplus.objects.filter(pk=surplus.pk).update(asset=card)
    surplus.asset = card


# --- Approval hooks -------------------------------------------------------------------------------------------------
def _source(request) -> Stocktake:
    return Stocktake.objects.get(pk=request.object_id)


def _approved(request) -> None:
    from houqin.core.models.approvals import ApprovalAction, ApprovalActionKind

    last = (ApprovalAction.objects.filter(request=request, action=ApprovalActionKind.APPROVE)
            .select_related("actor").order_by("-pk").first())
    post_adjustments(_source(request), last.actor if last else None)


def _not_approved(request) -> None:
    reopen(_source(request))


STOCKTAKE_TYPE = approvals.register_type(approvals.RequestType(
    REQUEST_TYPE, "盘点差异处理",
    (approvals.band(0, 5000, "logistics_head"),
     approvals.band(5000, None, "logistics_head", approvals.Step("principal", distinct=True))),
    model="assets.stocktake",
    basis="依据：《行政事业性国有资产管理条例》资产清查盘点、账实相符的要求；盘盈、盘亏等差异经审批后调整账卡"
          "（金额为盘亏原值与盘盈估值之和，分档为示例，可按本地规定修改）",
    on_approved=_approved, on_rejected=_not_approved, on_withdrawn=_not_approved,
))


# --- Report ---------------------------------------------------------------------------------------------------------
@dataclass
class ReportRow:
    key: object
    name: str
    expected: int = 0
    matched: int = 0
    moved: int = 0
    status: int = 0
    missing: int = 0
    pending: int = 0
    moved_in: int = 0
    on_loan: int = 0  # not seen, lent out with an open loan: 借出中, not 盘亏
    surplus: int = 0
    missing_value: Decimal = Decimal("0")
    surplus_value: Decimal = Decimal("0")

    @property
    def rate(self) -> Decimal | None:
        # A card out on a signed loan is accounted for: it counts as 账实相符.
        return match_rate(self.matched + self.on_loan, self.expected)


def match_rate(matched: int, expected: int) -> Decimal | None:
    """账卡物相符率 = 相符 ÷ 账面数量 × 100 %, to one decimal (None when nothing was expected)."""
    if not expected:
        return None
    return (Decimal(matched) * 100 / Decimal(expected)).quantize(Decimal("0.1"))


@dataclass
class Report:
    stocktake: Stocktake
    total: ReportRow
    by_room: list[ReportRow] = field(default_factory=list)
    by_department: list[ReportRow] = field(default_factory=list)
    differences: list[StocktakeLine] = field(default_factory=list)
    surpluses: list[StocktakeSurplus] = field(default_factory=list)
    adjustments: list[StocktakeAdjustment] = field(default_factory=list)

    @property
    def counted(self) -> int:
        return self.total.expected - self.total.pending - self.total.missing


def report(stocktake: Stocktake) -> Report:
    """盘点报告: counts per result in total, per room and per using department, the values of 盘亏 and 盘盈, the
    differences line by line. A fixed number of queries, however many lines."""
    total = ReportRow(None, "合计")
    rooms: dict[object, ReportRow] = {}
    departments: dict[object, ReportRow] = {}
    lines = StocktakeLine.objects.filter(stocktake=stocktake)
    grouped = (lines.values("expected_room_id", "expected_room_name", "department_id", "department_name", "result")
               .annotate(n=Count("pk"), value=Sum("original_value")).order_by())
    for g in grouped:
        room = rooms.setdefault(g["expected_room_id"], ReportRow(g["expected_room_id"],
                                                                 g["expected_room_name"] or "（未登记位置）"))
        dept = departments.setdefault(g["department_id"], ReportRow(g["department_id"],
                                                                    g["department_name"] or "（未填使用部门）"))
        for row in (total, room, dept):
            row.expected += g["n"]
            setattr(row, g["result"], getattr(row, g["result"]) + g["n"])
            if g["result"] == LineResult.MISSING:
                row.missing_value += g["value"] or Decimal("0")
    moved_in = (lines.filter(result=LineResult.MOVED).values("found_room_id").annotate(n=Count("pk")).order_by())
    found_rooms = {r.pk: r for r in Room.objects.filter(pk__in=[m["found_room_id"] for m in moved_in
                                                                if m["found_room_id"]])
                   .select_related("campus", "building")}
    for m in moved_in:
        room = found_rooms.get(m["found_room_id"])
        if room is None:
            continue
        rooms.setdefault(room.pk, ReportRow(room.pk, room.full_name)).moved_in += m["n"]
    surpluses = list(StocktakeSurplus.objects.filter(stocktake=stocktake)
                     .select_related("room__campus", "room__building", "asset").order_by("pk"))
    for s in surpluses:
        row = rooms.setdefault(s.room_id, ReportRow(s.room_id, s.room.full_name if s.room_id else "（未登记位置）"))
        for r in (row, total):
            r.surplus += 1
            r.surplus_value += s.estimated_value
    differences = list(lines.exclude(result=LineResult.MATCHED).select_related(
        "found_room__campus", "found_room__building").order_by("result", "expected_room_name", "asset_number"))
    _mark_on_loan(stocktake, differences, total, rooms, departments)
    adjustments = list(StocktakeAdjustment.objects.filter(stocktake=stocktake).order_by("kind", "pk"))
    return Report(stocktake, total, sorted(rooms.values(), key=lambda r: r.name),
                  sorted(departments.values(), key=lambda r: r.name), differences, surpluses, adjustments)


def _mark_on_loan(stocktake: Stocktake, differences, total: ReportRow, rooms: dict, departments: dict) -> None:
    """Lines 盘亏 whose card was lent out when counting ended (or now, before that) get ``line.loan`` and move from
    盘亏 to 借出中 in the figures (one query). Cards not counted while counting goes on stay 未盘."""
    missing = [line for line in differences if line.result == LineResult.MISSING
               and line.book_status != AssetStatus.LOST]
    loans = loans_at((line.asset_id for line in missing), stocktake.finished_at) if missing else {}
    missing_ids = {line.pk for line in missing}
    for line in differences:
        line.loan = loans.get(line.asset_id) if line.pk in missing_ids else None
        if line.loan is None:
            continue
        for row in (total, rooms.get(line.expected_room_id), departments.get(line.department_id)):
            if row is not None:
                row.missing -= 1
                row.on_loan += 1
                row.missing_value -= line.original_value


def on_loan_count(stocktake: Stocktake) -> int:
    """How many 盘亏 lines were lent out when counting ended — 借出中, not 盘亏 (two queries)."""
    ids = list(StocktakeLine.objects.filter(stocktake=stocktake, result=LineResult.MISSING)
               .exclude(book_status=AssetStatus.LOST).values_list("asset_id", flat=True))
    return len(loans_at(ids, stocktake.finished_at)) if ids else 0


def result_counts(stocktake: Stocktake) -> Counter:
    """{result: count} of the plan's lines (one query)."""
    return Counter(dict(StocktakeLine.objects.filter(stocktake=stocktake).values_list("result")
                        .annotate(n=Count("pk")).order_by()))


def room_progress(stocktake: Stocktake) -> dict[int | None, dict]:
    """{expected room id: {"expected", "counted"}} (one query)."""
    rows = (StocktakeLine.objects.filter(stocktake=stocktake).values("expected_room_id")
            .annotate(expected=Count("pk"), counted=Count("pk", filter=Q(counted_at__isnull=False))).order_by())
    return {r["expected_room_id"]: r for r in rows}
