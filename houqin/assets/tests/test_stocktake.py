"""Stocktaking (清查盘点): the frozen expected list, counting and its rules, finishing, approval and posting, the
report, and the pages and API around them."""

from __future__ import annotations

import datetime
import io
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from openpyxl import load_workbook

from houqin.assets import stocktake as services
from houqin.assets.actions import actions_for
from houqin.assets.choices import AssetEventCode, AssetStatus
from houqin.assets.models import (
    AdjustmentKind,
    Asset,
    AssetEvent,
    LineResult,
    Stocktake,
    StocktakeAdjustment,
    StocktakeLine,
    StocktakeStatus,
    StocktakeSurplus,
)
from houqin.assets.tests.factories import make_asset
from houqin.assets.tests.factories_stocktake import make_stocktake, started_stocktake
from houqin.core import approvals, qr
from houqin.core.models.approvals import ApprovalRequest, ApprovalStatus
from houqin.core.testing.factories import make_department, make_room, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def keeper(world):
    """The 资产管理员 of school A (runs stocktakes; the 总务主任 approves them)."""
    return make_user("keeper_a", full_name="甲校资产管理员", org=world.a.org, roles=("asset_keeper",))


@pytest.fixture
def cards(world):
    """Three cards in room 101, one in room 102 (A's rooms), one disposed of in 101."""
    a = world.a
    made = {
        "pc": make_asset(a.org, name="教师电脑", room=a.rooms[0], department=a.department),
        "tv": make_asset(a.org, name="触控一体机", unit_price="9800.00", room=a.rooms[0], department=a.department),
        "desk": make_asset(a.org, name="讲台", category="6010000", unit_price="1200.00", room=a.rooms[0]),
        "printer": make_asset(a.org, name="打印机", unit_price="1600.00", room=a.rooms[1], department=a.department),
        "old": make_asset(a.org, name="旧投影仪", unit_price="3000.00", room=a.rooms[0]),
    }
    Asset.objects.filter(pk=made["old"].pk).update(status=AssetStatus.DISPOSED, disposed_on=datetime.date(2025, 1, 1))
    return made


def plan(world, keeper, **kwargs):
    kwargs.setdefault("rooms", world.a.rooms)
    return started_stocktake(world.a.org, keeper, **kwargs)


def line_of(stocktake, card) -> StocktakeLine:
    return StocktakeLine.objects.get(stocktake=stocktake, asset=card)


def scan_url(card) -> str:
    return f"https://houqin.example.cn/q/a/{qr.token_for(card)}/"


# --- The plan and its frozen list -----------------------------------------------------------------------------------
def test_start_freezes_the_cards_in_scope_with_their_book_values(world, keeper, cards):
    draft = make_stocktake(world.a.org, rooms=world.a.rooms)
    assert draft.number == "PD-2026-00001" and draft.status == StocktakeStatus.DRAFT
    stocktake = services.start(draft, keeper)

    assert stocktake.status == StocktakeStatus.COUNTING
    numbers = set(StocktakeLine.objects.filter(stocktake=stocktake).values_list("asset_number", flat=True))
    assert numbers == {cards[k].number for k in ("pc", "tv", "desk", "printer")}  # the disposed one is not counted
    assert stocktake.expected_count == 4
    assert stocktake.expected_value == Decimal("4980.00") + Decimal("9800.00") + Decimal("1200.00") + Decimal("1600")
    line = line_of(stocktake, cards["tv"])
    assert (line.asset_name, line.expected_room_id, line.department_name, line.book_status) == (
        "触控一体机", world.a.rooms[0].pk, world.a.department.name, AssetStatus.IN_USE)
    assert line.expected_room_name == world.a.rooms[0].full_name

    # Later changes to the card do not change the frozen list.
    Asset.objects.filter(pk=cards["tv"].pk).update(name="改名后的一体机", room=world.a.rooms[1])
    line.refresh_from_db()
    assert (line.asset_name, line.expected_room_id) == ("触控一体机", world.a.rooms[0].pk)


def test_scope_by_building_department_and_category_subtree(world, keeper, cards):
    by_building = plan(world, keeper, rooms=(), buildings=[world.a.building])
    assert by_building.expected_count == 4
    by_department = plan(world, keeper, rooms=(), departments=[world.a.department])
    assert set(by_department.lines.values_list("asset_name", flat=True)) == {"教师电脑", "触控一体机", "打印机"}
    from houqin.assets.categories import national

    furniture = plan(world, keeper, rooms=(), categories=[national("6000000")])  # 家具… and below
    assert list(furniture.lines.values_list("asset_name", flat=True)) == ["讲台"]


def test_start_is_refused_twice_to_a_teacher_and_for_an_empty_scope(world, keeper, cards, teacher_a):
    draft = make_stocktake(world.a.org, rooms=world.a.rooms)
    with pytest.raises(PermissionDenied):
        services.start(draft, teacher_a)
    services.start(draft, keeper)
    with pytest.raises(ValidationError, match="进行中，不能开始"):
        services.start(draft, keeper)
    empty_room = make_room(floor=world.a.floor, number="199", name="空房间")
    empty = make_stocktake(world.a.org, rooms=[empty_room])
    with pytest.raises(ValidationError, match="盘点范围内没有在账的资产卡片"):
        services.start(empty, keeper)
    assert Stocktake.objects.get(pk=empty.pk).status == StocktakeStatus.DRAFT


def test_counters_must_be_members_of_the_school(world):
    with pytest.raises(ValidationError, match="盘点人必须是本校人员"):
        make_stocktake(world.a.org, counters=[world.teacher_b])


# --- Counting -------------------------------------------------------------------------------------------------------
def test_a_scan_accepts_the_qr_url_the_token_and_the_number(world, keeper, cards):
    stocktake = plan(world, keeper)
    room = world.a.rooms[0]
    assert services.scan(stocktake, keeper, room, scan_url(cards["pc"])).kind == "matched"
    assert services.scan(stocktake, keeper, room, qr.token_for(cards["tv"])).kind == "matched"
    outcome = services.scan(stocktake, keeper, room, f"  {cards['desk'].number.lower()} ")
    assert (outcome.kind, outcome.title) == ("matched", "✓ 相符")
    line = line_of(stocktake, cards["desk"])
    assert (line.result, line.found_room_id, line.counted_by_id) == (LineResult.MATCHED, room.pk, keeper.pk)


def test_scans_are_idempotent(world, keeper, cards):
    stocktake = plan(world, keeper)
    room = world.a.rooms[0]
    first = services.scan(stocktake, keeper, room, cards["pc"].number)
    again = services.scan(stocktake, keeper, world.a.rooms[1], scan_url(cards["pc"]))
    assert (first.kind, first.counted) == ("matched", True)
    assert (again.kind, again.counted) == ("already", False)
    assert "已盘过" in again.title and "不重复计数" in again.detail
    line = line_of(stocktake, cards["pc"])
    assert (line.found_room_id, line.result) == (room.pk, LineResult.MATCHED)  # the first count stands
    assert StocktakeLine.objects.filter(stocktake=stocktake, counted_at__isnull=False).count() == 1


def test_scan_results_moved_status_out_of_scope_unknown_and_room(world, keeper, cards):
    stocktake = plan(world, keeper, departments=[world.a.department])
    r101, r102 = world.a.rooms
    moved = services.scan(stocktake, keeper, r102, cards["tv"].number)
    assert moved.kind == "moved" and "实际在" in moved.detail
    status = services.scan(stocktake, keeper, r102, cards["printer"].number, found_status=AssetStatus.REPAIRING)
    assert (status.kind, status.title) == ("status", "状态不符")
    assert "损坏待修" in status.detail
    # 讲台 has no using department: on the books, but not in this plan's scope.
    assert services.scan(stocktake, keeper, r101, cards["desk"].number).kind == "out_of_scope"
    assert services.scan(stocktake, keeper, r101, "ZC-2099-00001").kind == "unknown"
    # Another school's label is "not found", like a number nobody has.
    other = make_asset(world.b.org, name="乙校电脑", room=world.b.rooms[0])
    outcome = services.scan(stocktake, keeper, r101, scan_url(other))
    assert outcome.kind == "unknown" and "乙校" not in outcome.detail
    forged = scan_url(cards["pc"])[:-3] + "xx/"
    assert services.scan(stocktake, keeper, r101, forged).kind == "invalid"
    room_scan = services.scan(stocktake, keeper, r101, f"https://h/q/r/{qr.token_for(r102)}/")
    assert (room_scan.kind, room_scan.room) == ("room", r102)
    assert services.scan(stocktake, keeper, r101, "   ").kind == "invalid"


def test_a_lost_card_found_is_a_status_difference(world, keeper, cards):
    Asset.objects.filter(pk=cards["pc"].pk).update(status=AssetStatus.LOST)
    stocktake = plan(world, keeper)
    outcome = services.scan(stocktake, keeper, world.a.rooms[0], cards["pc"].number)
    assert outcome.kind == "status"
    assert line_of(stocktake, cards["pc"]).found_status == AssetStatus.IN_USE


def test_status_can_be_recorded_after_the_scan_and_a_count_undone(world, keeper, cards):
    stocktake = plan(world, keeper)
    services.scan(stocktake, keeper, world.a.rooms[0], cards["pc"].number)
    line = line_of(stocktake, cards["pc"])
    assert services.set_found_status(stocktake, line, keeper, AssetStatus.IDLE).kind == "status"
    assert services.set_found_status(stocktake, line, keeper, AssetStatus.IN_USE).kind == "matched"
    with pytest.raises(ValidationError, match="请选择正确的实物状态"):
        services.set_found_status(stocktake, line, keeper, AssetStatus.DISPOSED)
    assert services.uncount(stocktake, line, keeper).kind == "undone"
    line.refresh_from_db()
    assert (line.counted_at, line.result) == (None, LineResult.PENDING)


def test_self_audit_lets_a_rooms_responsible_teacher_count_that_room_only(world, keeper, cards, teacher_a):
    r101, r102 = world.a.rooms  # teacher_a is responsible for 102 (and holds no assets permission)
    closed = plan(world, keeper)
    with pytest.raises(PermissionDenied):
        services.scan(closed, teacher_a, r102, cards["printer"].number)
    open_plan = plan(world, keeper, allow_self_audit=True)
    assert services.count_access(open_plan, teacher_a).room_ids == {r102.pk}
    assert services.scan(open_plan, teacher_a, r102, cards["printer"].number).kind == "matched"
    with pytest.raises(PermissionDenied):
        services.scan(open_plan, teacher_a, r101, cards["pc"].number)
    with pytest.raises(PermissionDenied):  # nor may they finish or manage the plan
        services.finish(open_plan, teacher_a)


def test_a_counters_room_split(world, keeper, cards):
    r101, r102 = world.a.rooms
    counter = make_user("counter_a", full_name="盘点员", org=world.a.org, roles=("teacher",))
    draft = make_stocktake(world.a.org, rooms=world.a.rooms, counters=[counter])
    services.set_counter_rooms(draft, keeper, {r101.pk: None, r102.pk: counter.pk})
    stocktake = services.start(draft, keeper)
    assert services.count_access(stocktake, counter).room_ids == {r102.pk}
    with pytest.raises(PermissionDenied):
        services.scan(stocktake, counter, r101, cards["pc"].number)
    assert services.scan(stocktake, counter, r102, cards["printer"].number).kind == "matched"
    with pytest.raises(ValidationError, match="只能把房间分给本次盘点的盘点人"):
        services.set_counter_rooms(stocktake, keeper, {r101.pk: keeper.pk})


def test_surplus_is_recorded_with_its_photo(world, keeper, cards):
    from houqin.core.attachments import attachments_of
    from houqin.core.tests.test_attachments import jpeg_with_gps

    stocktake = plan(world, keeper)
    surplus = services.record_surplus(stocktake, keeper, world.a.rooms[0], name="办公椅", description="黑色，无标签",
                                      quantity=2, unit="把", estimated_value=Decimal("360"),
                                      photos=[jpeg_with_gps()])
    assert (surplus.name, surplus.quantity, surplus.found_by_name) == ("办公椅", 2, "甲校资产管理员")
    assert len(attachments_of(surplus)) == 1


# --- Finishing, approval, posting -----------------------------------------------------------------------------------
def counted_plan(world, keeper, cards):
    """pc matched, tv found in 102 (位置不符), printer in 102 but damaged (状态不符), desk not found (盘亏), and a chair
    without label (盘盈)."""
    stocktake = plan(world, keeper)
    r101, r102 = world.a.rooms
    services.scan(stocktake, keeper, r101, cards["pc"].number)
    services.scan(stocktake, keeper, r102, cards["tv"].number)
    services.scan(stocktake, keeper, r102, cards["printer"].number, found_status=AssetStatus.REPAIRING)
    services.record_surplus(stocktake, keeper, r101, name="办公椅", quantity=1, unit="把",
                            estimated_value=Decimal("300"))
    return stocktake


def test_finish_proposes_adjustments_and_submits_them_changing_no_card(world, keeper, cards, head_a):
    stocktake = services.finish(counted_plan(world, keeper, cards), keeper, "请审核")
    assert stocktake.status == StocktakeStatus.REVIEW
    assert line_of(stocktake, cards["desk"]).result == LineResult.MISSING
    kinds = sorted(StocktakeAdjustment.objects.filter(stocktake=stocktake).values_list("kind", flat=True))
    assert kinds == sorted([AdjustmentKind.LOSE, AdjustmentKind.MOVE, AdjustmentKind.STATUS, AdjustmentKind.REGISTER])
    assert stocktake.difference_value == Decimal("1500.00")  # 讲台 1,200 (盘亏) + the chair 300 (盘盈)
    request = ApprovalRequest.objects.get(object_id=stocktake.pk, request_type="stocktake")
    assert (request.status, request.amount, request.requester_id) == (ApprovalStatus.PENDING, Decimal("1500.00"),
                                                                      keeper.pk)
    assert request.current["approver"] == "logistics_head"
    assert Asset.objects.get(pk=cards["desk"].pk).status == AssetStatus.IN_USE  # nothing before approval
    assert Asset.objects.get(pk=cards["tv"].pk).room_id == world.a.rooms[0].pk
    assert not AssetEvent.objects.filter(code__in=[AssetEventCode.COUNT, AssetEventCode.ADJUST]).exists()
    with pytest.raises(ValidationError, match="不能再盘点"):
        services.scan(stocktake, keeper, world.a.rooms[0], cards["desk"].number)


def test_approval_posts_count_and_adjust_events_and_changes_the_cards(world, keeper, cards, head_a):
    stocktake = services.finish(counted_plan(world, keeper, cards), keeper)
    request = ApprovalRequest.objects.get(object_id=stocktake.pk, request_type="stocktake")
    approvals.approve(request, head_a, "同意按盘点结果调整")

    stocktake.refresh_from_db()
    assert stocktake.status == StocktakeStatus.DONE and stocktake.completed_at is not None
    desk, tv, printer, pc = (Asset.objects.get(pk=cards[k].pk) for k in ("desk", "tv", "printer", "pc"))
    assert desk.status == AssetStatus.LOST
    assert tv.room_id == world.a.rooms[1].pk and tv.status == AssetStatus.IN_USE
    assert printer.status == AssetStatus.REPAIRING and printer.room_id == world.a.rooms[1].pk
    assert pc.room_id == world.a.rooms[0].pk and pc.status == AssetStatus.IN_USE
    counts = AssetEvent.objects.filter(code=AssetEventCode.COUNT, reference=stocktake.number)
    assert set(counts.values_list("asset_id", flat=True)) == {pc.pk, tv.pk, printer.pk}
    adjusts = AssetEvent.objects.filter(code=AssetEventCode.ADJUST, reference=stocktake.number)
    assert set(adjusts.values_list("asset_id", flat=True)) == {desk.pk, tv.pk, printer.pk}
    move = adjusts.get(asset=tv)
    assert move.changes["room"][1]["id"] == world.a.rooms[1].pk and move.actor_id == head_a.pk
    lost = adjusts.get(asset=desk)
    assert (lost.status_before, lost.status_after) == (AssetStatus.IN_USE, AssetStatus.LOST)
    assert not StocktakeAdjustment.objects.filter(stocktake=stocktake, posted_at__isnull=True).exists()


def test_the_finisher_cannot_approve_and_rejection_reopens_counting(world, keeper, cards, head_a):
    stocktake = services.finish(counted_plan(world, keeper, cards), keeper)
    request = ApprovalRequest.objects.get(object_id=stocktake.pk, request_type="stocktake")
    with pytest.raises(ValidationError, match="不能审批自己提交的申请"):
        approvals.approve(request, keeper)
    approvals.reject(request, head_a, "讲台在仓库，请复盘")
    stocktake.refresh_from_db()
    assert stocktake.status == StocktakeStatus.COUNTING
    assert not StocktakeAdjustment.objects.filter(stocktake=stocktake).exists()
    assert line_of(stocktake, cards["desk"]).result == LineResult.PENDING
    assert services.scan(stocktake, keeper, world.a.rooms[0], cards["desk"].number).kind == "matched"
    assert Asset.objects.get(pk=cards["desk"].pk).status == AssetStatus.IN_USE


def test_a_card_disposed_meanwhile_is_not_adjusted(world, keeper, cards, head_a):
    stocktake = services.finish(counted_plan(world, keeper, cards), keeper)
    Asset.objects.filter(pk=cards["desk"].pk).update(status=AssetStatus.DISPOSED, disposed_on=datetime.date.today())
    approvals.approve(ApprovalRequest.objects.get(object_id=stocktake.pk, request_type="stocktake"), head_a)
    assert Asset.objects.get(pk=cards["desk"].pk).status == AssetStatus.DISPOSED
    assert not AssetEvent.objects.filter(asset=cards["desk"], code=AssetEventCode.ADJUST).exists()


def test_cancel_only_before_review(world, keeper, cards):
    stocktake = services.finish(counted_plan(world, keeper, cards), keeper)
    with pytest.raises(ValidationError, match="待审核，不能取消"):
        services.cancel(stocktake, keeper)
    other = services.cancel(plan(world, keeper), keeper, "范围有误")
    assert (other.status, other.cancel_reason) == (StocktakeStatus.CANCELLED, "范围有误")


# --- Report ---------------------------------------------------------------------------------------------------------
def test_report_counts_rate_and_values(world, keeper, cards):
    stocktake = services.finish(counted_plan(world, keeper, cards), keeper)
    report = services.report(stocktake)
    total = report.total
    assert (total.expected, total.matched, total.moved, total.status, total.missing) == (4, 1, 1, 1, 1)
    assert total.rate == Decimal("25.0")  # 1 matched ÷ 4 expected
    assert (total.missing_value, total.surplus, total.surplus_value) == (Decimal("1200.00"), 1, Decimal("300.00"))
    rooms = {r.name: r for r in report.by_room}
    r101, r102 = (rooms[r.full_name] for r in world.a.rooms)
    assert (r101.expected, r101.matched, r101.moved, r101.missing, r101.surplus) == (3, 1, 1, 1, 1)
    assert (r102.expected, r102.status, r102.moved_in) == (1, 1, 1)
    assert {line.result for line in report.differences} == {LineResult.MOVED, LineResult.STATUS, LineResult.MISSING}
    assert services.match_rate(0, 0) is None


def test_report_page_and_xlsx(world, keeper, cards, client_for):
    stocktake = services.finish(counted_plan(world, keeper, cards), keeper)
    client = client_for(keeper)
    url = reverse("assets:stocktake_report", args=[stocktake.pk])
    page = client.get(url).content.decode()
    assert "25.0%" in page and "相符数 1 ÷ 账面数量 4" in page and "办公椅" in page
    response = client.get(url, {"export": "xlsx"})
    workbook = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    assert workbook.sheetnames == ["汇总", "按房间", "按部门", "差异明细", "盘盈"]
    summary = {row[0]: row[1] for row in workbook["汇总"].iter_rows(values_only=True)}
    assert (summary["账卡物相符率"], summary["盘亏"], summary["盘亏原值（元）"]) == ("25.0%", 1, 1200)
    assert workbook["差异明细"].max_row == 4  # header + 3 differences


# --- Pages ----------------------------------------------------------------------------------------------------------
def test_htmx_scan_answers_a_big_result_and_refreshes_the_list(world, keeper, cards, client_for):
    stocktake = plan(world, keeper)
    client = client_for(keeper)
    url = reverse("assets:stocktake_scan", args=[stocktake.pk, world.a.rooms[0].pk])
    response = client.post(url, {"code": scan_url(cards["pc"]), "method": "camera"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and response["HX-Trigger"] == "stocktake-counted"
    text = response.content.decode()
    assert "✓ 相符" in text and 'data-kind="matched"' in text and "<html" not in text
    assert line_of(stocktake, cards["pc"]).method == "camera"
    again = client.post(url, {"code": cards["pc"].number}, HTTP_HX_REQUEST="true").content.decode()
    assert "已盘过" in again
    tick = client.post(url, {"action": "count", "line": line_of(stocktake, cards["tv"]).pk},
                       HTTP_HX_REQUEST="true").content.decode()
    assert "✓ 相符" in tick and line_of(stocktake, cards["tv"]).method == "list"
    lines = client.get(reverse("assets:stocktake_count_room", args=[stocktake.pk, world.a.rooms[0].pk]),
                       {"part": "lines"}, HTTP_HX_REQUEST="true").content.decode()
    assert "已盘 2 / 3" in lines
    # A room's QR code switches rooms.
    switch = client.post(url, {"code": f"/q/r/{qr.token_for(world.a.rooms[1])}/"}, HTTP_HX_REQUEST="true")
    assert switch.status_code == 204
    assert switch["HX-Redirect"] == reverse("assets:stocktake_count_room", args=[stocktake.pk, world.a.rooms[1].pk])


def test_the_room_picker_resolves_a_scanned_room_label(world, keeper, cards, client_for):
    stocktake = plan(world, keeper)
    client = client_for(keeper)
    url = reverse("assets:stocktake_count", args=[stocktake.pk])
    page = client.get(url).content.decode()
    assert world.a.rooms[0].name in page and "用摄像头扫码" in page and "https" in page
    response = client.get(url, {"code": f"https://x/q/r/{qr.token_for(world.a.rooms[1])}/"})
    assert response.status_code == 302 and response["Location"].endswith(f"/count/{world.a.rooms[1].pk}/")
    assert "请扫描房间门口的二维码" in client.get(url, {"code": cards["pc"].number}).content.decode()


def test_self_audit_pages_by_object_not_role(world, keeper, cards, teacher_a, client_for):
    r101, r102 = world.a.rooms
    stocktake = plan(world, keeper, allow_self_audit=True)
    client = client_for(teacher_a)
    rooms_page = client.get(reverse("assets:stocktake_count", args=[stocktake.pk])).content.decode()
    assert r102.name in rooms_page and "您负责的房间" in rooms_page and r101.name not in rooms_page
    assert client.get(reverse("assets:stocktake_count_room", args=[stocktake.pk, r102.pk])).status_code == 200
    assert client.get(reverse("assets:stocktake_count_room", args=[stocktake.pk, r101.pk])).status_code == 403
    scan = reverse("assets:stocktake_scan", args=[stocktake.pk, r101.pk])
    assert client.post(scan, {"code": cards["pc"].number}).status_code == 403
    assert line_of(stocktake, cards["pc"]).counted_at is None
    assert client.get(stocktake.get_absolute_url()).status_code == 404  # the plan itself is the managers'
    # The same teacher has no business in a plan without self-audit.
    no_audit = plan(world, keeper)
    assert client.get(reverse("assets:stocktake_count", args=[no_audit.pk])).status_code == 404


def test_the_card_action_counts_the_card_in_its_expected_room(world, keeper, cards, client_for, head_a):
    stocktake = plan(world, keeper)
    pc = Asset.objects.select_related("room").get(pk=cards["pc"].pk)
    assert [a["action"].key for a in actions_for(pc, keeper, "mobile") if a["action"].key == "stocktake"] == [
        "stocktake"]
    assert not [a for a in actions_for(pc, world.teacher_a, "mobile") if a["action"].key == "stocktake"]
    client = client_for(keeper)
    url = reverse("assets:stocktake_card", args=[pc.pk])
    assert "在账面位置找到" in client.get(url).content.decode()
    page = client.post(url, {"room": world.a.rooms[0].pk}).content.decode()
    assert "✓ 相符" in page
    assert line_of(stocktake, pc).method == "card"
    assert not [a for a in actions_for(pc, keeper, "card") if a["action"].key == "stocktake"]  # counted now
    card_page = client_for(head_a).get(pc.get_absolute_url()).content.decode()
    assert 'data-testid="card-stocktake"' in card_page and stocktake.number in card_page


def test_surplus_page_records_with_a_photo(world, keeper, cards, client_for):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from houqin.core.tests.test_attachments import jpeg_with_gps

    stocktake = plan(world, keeper)
    client = client_for(keeper)
    url = reverse("assets:stocktake_surplus_add", args=[stocktake.pk, world.a.rooms[0].pk])
    bad = client.post(url, {"name": "", "quantity": 0, "unit": "把", "found_status": "in_use"})
    assert bad.status_code == 200 and not StocktakeSurplus.objects.exists()
    photo = SimpleUploadedFile("椅子.jpg", jpeg_with_gps(), content_type="image/jpeg")
    response = client.post(url, {"name": "办公椅", "description": "黑色", "quantity": 2, "unit": "把",
                                 "estimated_value": "240", "found_status": "in_use", "photos": [photo]})
    assert response.status_code == 302, response.content.decode()
    surplus = StocktakeSurplus.objects.get()
    assert (surplus.name, surplus.estimated_value, surplus.room_id) == ("办公椅", Decimal("240.00"),
                                                                       world.a.rooms[0].pk)


def test_detail_page_commands_and_the_draft_only_edit(world, keeper, cards, client_for, head_a):
    client = client_for(keeper)
    response = client.post(reverse("assets:stocktake_add"), {
        "name": "期末资产清查", "planned_start": "2026-06-20", "planned_end": "2026-06-30",
        "rooms": [r.pk for r in world.a.rooms], "counters": [world.teacher_a.pk]})
    assert response.status_code == 302
    stocktake = Stocktake.objects.get(name="期末资产清查")
    assert list(stocktake.counters.values_list("user_id", flat=True)) == [world.teacher_a.pk]
    detail = client.get(stocktake.get_absolute_url()).content.decode()
    assert 'data-testid="start"' in detail and "尚未开始" in detail
    client.post(reverse("assets:stocktake_start", args=[stocktake.pk]))
    stocktake.refresh_from_db()
    assert stocktake.status == StocktakeStatus.COUNTING
    edit = client.get(reverse("assets:stocktake_edit", args=[stocktake.pk]))
    assert edit.status_code == 302  # a plan being counted is not edited
    posted = client.post(reverse("assets:stocktake_edit", args=[stocktake.pk]), {
        "name": "改名", "planned_start": "2026-06-20", "planned_end": "2026-06-30"})
    assert "只有草稿状态的盘点可以修改" in posted.content.decode()
    delete = client.post(reverse("assets:stocktake_delete", args=[stocktake.pk]))
    assert delete.status_code == 302 and Stocktake.objects.filter(pk=stocktake.pk).exists()
    client.post(reverse("assets:stocktake_finish", args=[stocktake.pk]), {"comment": "期末清查"})
    stocktake.refresh_from_db()
    assert stocktake.status == StocktakeStatus.REVIEW
    page = client_for(head_a).get(stocktake.get_absolute_url()).content.decode()
    assert 'data-testid="approval-act"' in page and 'data-testid="adjustments"' in page


def test_plan_form_refuses_an_end_before_the_start(world, keeper, client_for):
    response = client_for(keeper).post(reverse("assets:stocktake_add"), {
        "name": "清查", "planned_start": "2026-06-20", "planned_end": "2026-06-01"})
    assert "计划结束日期不能早于开始日期" in response.content.decode()
    assert not Stocktake.objects.exists()


# --- API ------------------------------------------------------------------------------------------------------------
def test_api_plan_start_scan_finish(world, keeper, cards, client_for):
    client = client_for(keeper)
    created = client.post("/api/assets/stocktakes/", {
        "name": "接口盘点", "planned_start": "2026-06-20", "planned_end": "2026-06-21",
        "rooms": [world.a.rooms[0].pk], "counters": [world.teacher_a.pk]}, content_type="application/json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["number"].startswith("PD-") and body["counters"] == [world.teacher_a.pk]
    pk = body["id"]
    started = client.post(f"/api/assets/stocktakes/{pk}/start/")
    assert started.json()["status"]["value"] == "counting" and started.json()["expected_count"] == 3
    refused = client.patch(f"/api/assets/stocktakes/{pk}/", {"name": "改"}, content_type="application/json")
    assert refused.status_code == 400 and "只有草稿状态" in refused.content.decode()
    scan = client.post(f"/api/assets/stocktakes/{pk}/scan/", {"room": world.a.rooms[0].pk,
                                                               "code": cards["pc"].number},
                       content_type="application/json")
    assert scan.json()["kind"] == "matched" and scan.json()["line"]["result"]["value"] == "matched"
    outside = client.post(f"/api/assets/stocktakes/{pk}/scan/", {"room": world.b.rooms[0].pk, "code": "x"},
                          content_type="application/json")
    assert outside.status_code == 400 and "room" in outside.json()["error"]["fields"]
    finished = client.post(f"/api/assets/stocktakes/{pk}/finish/", {}, content_type="application/json")
    assert finished.json()["status"]["value"] == "review"
    lines = client.get("/api/assets/stocktake-lines/", {"stocktake": pk, "result": "missing"}).json()["results"]
    assert {line["asset_number"] for line in lines} == {cards["tv"].number, cards["desk"].number}
    assert client.delete(f"/api/assets/stocktakes/{pk}/").status_code == 400
    assert client_for(world.teacher_a).post(f"/api/assets/stocktakes/{pk}/start/").status_code == 404


# --- Query budgets of the hand-written pages --------------------------------------------------------------------
def _counted_plan_of(world, keeper, n: int, name: str):
    room = make_room(floor=world.a.floor, number=f"3{n:02d}", name=f"盘点测试室{n}",
                     department=make_department(world.a.org, f"测试部门{n}"))
    for i in range(n):
        make_asset(world.a.org, name=f"{name}{i}", room=room, department=room.department)
    stocktake = started_stocktake(world.a.org, keeper, name, rooms=[room])
    for line in list(stocktake.lines.all())[: n // 2]:
        services.count_line(stocktake, line, keeper, world.a.rooms[0] if line.pk % 2 else room)
    services.record_surplus(stocktake, keeper, room, name="椅子")
    return stocktake, room


def test_stocktake_pages_cost_the_same_for_3_or_30_cards(world, keeper, client_for):
    from houqin.core.testing.queries import captured_queries, describe_difference

    client = client_for(keeper)
    small, small_room = _counted_plan_of(world, keeper, 4, "小")
    big, big_room = _counted_plan_of(world, keeper, 30, "大")
    pages = (
        ("detail", lambda s, r: (s.get_absolute_url(), {})),
        ("rooms", lambda s, r: (reverse("assets:stocktake_count", args=[s.pk]), {})),
        ("room", lambda s, r: (reverse("assets:stocktake_count_room", args=[s.pk, r.pk]), {})),
        ("report", lambda s, r: (reverse("assets:stocktake_report", args=[s.pk]), {})),
        ("xlsx", lambda s, r: (reverse("assets:stocktake_report", args=[s.pk]), {"export": "xlsx"})),
    )
    for name, where in pages:
        captured_queries(client, *where(small, small_room))  # warm caches
        few = captured_queries(client, *where(small, small_room))
        many = captured_queries(client, *where(big, big_room))
        assert len(few) == len(many), f"{name}: {len(few)} → {len(many)}\n    {describe_difference(few, many)}"


def test_api_lists_cost_the_same_at_10_and_100_per_page(world, keeper, client_for):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from houqin.assets.tests.factories_stocktake import bulk_lines, bulk_stocktakes

    bulk_stocktakes(world.a, 110)
    bulk_lines(world.a, 110)
    client = client_for(keeper)
    for url in ("/api/assets/stocktakes/", "/api/assets/stocktake-lines/"):
        client.get(url, {"page_size": 5})
        counts = []
        for size in (10, 100):
            with CaptureQueriesContext(connection) as queries:
                response = client.get(url, {"page_size": size})
            assert len(response.json()["results"]) == size
            counts.append(len(queries))
        assert counts[0] == counts[1], (url, counts)
