"""The work-order state machine: reporting (rights, anonymous reports and their limits, duplicates), every
command with its permission and state checks, costs, feedback, the outside-repair approval, and rollback."""

from __future__ import annotations

import io
import re
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from houqin.core.models import Attachment
from houqin.core.models.notifications import Notification
from houqin.core.testing.factories import make_user
from houqin.repairs import services
from houqin.repairs.models import (
    EventAction,
    Scale,
    Source,
    State,
    Urgency,
    WorkOrder,
    WorkOrderEvent,
    WorkOrderMaterial,
)
from houqin.repairs.tests.factories_workorders import make_order, make_technician

pytestmark = pytest.mark.django_db


def photo(name="修好了.png"):
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (30, 20), (20, 120, 200)).save(buffer, format="PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


def messages_of(exc) -> list[str]:
    return exc.value.messages


@pytest.fixture
def tech(world):
    return make_technician(world.a.org, "王师傅", trades=["water_power"])


@pytest.fixture
def order(world, teacher_a):
    return make_order(world.a.org, user=teacher_a, room=world.a.rooms[0])


# --- Reporting --------------------------------------------------------------------------------------------------------
def test_a_teacher_reports_a_fault(world, teacher_a, head_a):
    order = make_order(world.a.org, user=teacher_a, room=world.a.rooms[0], urgency=Urgency.URGENT,
                       reporter_phone="139 1234 5678")
    today = timezone.localdate()
    assert re.fullmatch(rf"BX-{today:%Y%m%d}-\d{{3}}", order.number)
    assert (order.state, order.reporter, order.source, order.reporter_phone) == (
        State.NEW, teacher_a, Source.FORM, "13912345678")
    assert order.building == world.a.building and world.a.rooms[0].name in order.place_text
    assert order.accept_due and order.start_due and order.finish_due
    event = order.events.get()
    assert (event.action, event.to_state, event.actor) == (EventAction.REPORT, State.NEW, teacher_a)
    assert Notification.objects.filter(recipient=head_a, title__startswith="新报修").exists()
    second = make_order(world.a.org, user=teacher_a, room=world.a.rooms[1], category="门窗")
    assert int(second.number[-3:]) == int(order.number[-3:]) + 1


def test_who_may_report(world, admin_a, admin_b, bureau_admin, teacher_a, head_a):
    org = world.a.org
    with pytest.raises(PermissionDenied, match="没有在本校报修的权限"):
        make_order(org, user=admin_a, room=world.a.rooms[0])  # the system administrator holds no repairs role
    with pytest.raises(PermissionDenied):
        make_order(org, user=admin_b, room=world.a.rooms[0])
    with pytest.raises(PermissionDenied):
        make_order(org, user=bureau_admin, room=world.a.rooms[0])
    with pytest.raises(PermissionDenied, match="只有总务处可以代报"):
        make_order(org, user=teacher_a, room=world.a.rooms[0], source=Source.PROXY, reporter_name="门卫老李")
    proxy = make_order(org, user=head_a, room=world.a.rooms[0], source=Source.PROXY, reporter_name="门卫老李",
                       reporter_phone="13800001111")
    assert (proxy.reporter, proxy.reporter_name, proxy.entered_by) == (None, "门卫老李", head_a)
    with pytest.raises(ValidationError) as exc:
        make_order(org, user=head_a, room=world.a.rooms[0], source=Source.PROXY)
    assert exc.value.message_dict == {"reporter_name": ["请填写报修人姓名。"]}
    assert WorkOrder.objects.count() == 1


def test_bad_input_is_refused_field_by_field(world, teacher_a):
    org = world.a.org
    cases = [
        ({"description": " "}, {"description": ["请填写故障描述。"]}),
        ({"description": "x" * 501}, {"description": ["故障描述不能超过 500 个字。"]}),
        ({"category": "不存在的类别"}, {"category": ["报修类别“不存在的类别”不存在。"]}),
        ({"room": world.b.rooms[0]}, {"room": ["报修地点不存在。"]}),
        ({"room": None}, {"room": ["请选择报修地点，或填写具体位置。"]}),
        ({"reporter_phone": "12345"}, {"reporter_phone": ["请填写正确的手机号（11 位）或座机号码。"]}),
        ({"urgency": "whenever"}, {"urgency": ["请选择紧急程度。"]}),
    ]
    for change, errors in cases:
        kwargs = {"room": world.a.rooms[0], **change}
        with pytest.raises(ValidationError) as exc:
            make_order(org, user=teacher_a, **kwargs)
        assert exc.value.message_dict == errors, change
    assert WorkOrder.objects.count() == 0
    place_only = make_order(org, user=teacher_a, room=None, place="操场东侧路灯", category="电器")
    assert place_only.place_text == "操场东侧路灯" and place_only.building is None


def test_anonymous_reports_need_the_school_setting_a_name_and_a_phone_and_are_rate_limited(world):
    org = world.a.org
    room = world.a.rooms[0]
    with pytest.raises(PermissionDenied, match="需要先登录"):
        make_order(org, room=room, source=Source.SCAN, reporter_name="家长", reporter_phone="13700001111")
    org.settings = {"repairs": {"report_requires_login": False, "reports_per_hour": 3}}
    org.save()
    with pytest.raises(ValidationError) as exc:
        make_order(org, room=room, source=Source.SCAN)
    assert set(exc.value.message_dict) == {"reporter_name"}
    with pytest.raises(ValidationError) as exc:
        make_order(org, room=room, source=Source.SCAN, reporter_name="家长")
    assert exc.value.message_dict == {"reporter_phone": ["请填写联系电话，方便维修人员联系您。"]}
    for i in range(3):
        made = make_order(org, room=room, source=Source.SCAN, reporter_name="家长", reporter_phone="13700001111",
                          client_ip="10.0.0.7", description=f"第{i}个问题")
        assert made.client_ip == "10.0.0.7" and made.reporter is None
    with pytest.raises(ValidationError, match="同一网络一小时内最多报修 3 次"):
        make_order(org, room=room, source=Source.SCAN, reporter_name="别人", reporter_phone="13700002222",
                   client_ip="10.0.0.7")
    with pytest.raises(ValidationError) as exc:
        make_order(org, room=room, source=Source.SCAN, reporter_name="家长", reporter_phone="13700001111",
                   client_ip="10.0.0.8")
    assert "同一电话一小时内最多报修 3 次" in exc.value.message_dict["reporter_phone"][0]
    assert make_order(org, room=room, source=Source.SCAN, reporter_name="别人", reporter_phone="13700002222",
                      client_ip="10.0.0.8").pk
    assert WorkOrder.objects.filter(reporter__isnull=True).count() == 4


def test_a_second_report_of_an_open_fault_is_merged_not_a_new_job(world, teacher_a, head_a, tech):
    org = world.a.org
    room = world.a.rooms[0]
    first = make_order(org, user=teacher_a, room=room, allow_duplicate=False)
    other_teacher = make_user(full_name="李老师", org=org, roles=("teacher",))
    notes_before = Notification.objects.filter(recipient=head_a).count()
    second = make_order(org, user=other_teacher, room=room, description="这里的水龙头坏了", allow_duplicate=False)
    assert (second.state, second.duplicate_of) == (State.MERGED, first)
    assert second.accept_due is None and "已合并" in second.close_reason
    assert first.events.filter(action=EventAction.MERGE, reason__contains=second.number).exists()
    assert Notification.objects.filter(recipient=head_a).count() == notes_before  # nobody gets a second job
    # Another kind of fault in the same room is a new order; so is the same fault once the first is closed.
    door = make_order(org, user=other_teacher, room=room, category="门窗", allow_duplicate=False)
    assert door.state == State.NEW
    services.dispatch(first, head_a, tech)
    services.start(first, tech)
    services.complete(first, tech, work_done="更换阀芯", photos=[photo()])
    third = make_order(org, user=other_teacher, room=room, allow_duplicate=False)
    assert third.state == State.NEW
    # The merged reporter hears when the first order is done.
    assert Notification.objects.filter(recipient=other_teacher, title__startswith="您报修的故障已修好").exists()


def test_the_same_asset_is_a_duplicate_whatever_the_room(world, teacher_a):
    from houqin.assets.tests.factories import make_asset

    asset = make_asset(world.a.org, name="教室空调", room=world.a.rooms[0])
    first = make_order(world.a.org, user=teacher_a, asset=asset, category="电器", allow_duplicate=False)
    assert first.room == world.a.rooms[0] and "教室空调" in first.place_text
    again = make_order(world.a.org, user=teacher_a, asset=asset, category="其他", allow_duplicate=False)
    assert again.duplicate_of == first


# --- The state machine ------------------------------------------------------------------------------------------------
def test_the_whole_life_of_an_order(world, teacher_a, head_a, tech):
    order = make_order(world.a.org, user=teacher_a, room=world.a.rooms[0])
    order = services.dispatch(order, head_a, tech, note="带扳手")
    assert (order.state, order.assignee, order.accepted_at) == (State.DISPATCHED, tech, None)
    assert Notification.objects.filter(recipient=tech, title__startswith="派工").exists()
    order = services.accept(order, tech)
    assert order.accepted_at is not None
    order = services.start(order, tech)
    assert order.state == State.IN_PROGRESS and order.started_at
    small_due = order.finish_due
    order = services.wait_parts(order, tech, reason="阀芯 2 个，明天到")
    assert (order.state, order.scale) == (State.WAITING_PARTS, Scale.MAJOR)
    assert order.finish_due > small_due  # 大修不过三天
    order = services.resume(order, tech, note="配件已到")
    order = services.complete(order, tech, work_done="更换阀芯", labour_hours="1.5", photos=[photo()], materials=[
        {"name": "水龙头阀芯", "quantity": "2", "unit": "个", "unit_price": "15.50"}, {"name": ""}])
    assert order.state == State.DONE
    assert (order.material_cost, order.labour_rate, order.labour_cost, order.total_cost) == (
        Decimal("31.00"), Decimal("50.00"), Decimal("75.00"), Decimal("106.00"))
    assert list(order.materials.values_list("name", "amount")) == [("水龙头阀芯", Decimal("31.00"))]
    assert Attachment.objects.for_object(order).filter(caption="完工照片").count() == 1
    assert Notification.objects.filter(recipient=teacher_a, title__startswith="已修好，请验收").exists()
    order = services.sign_off(order, teacher_a, rating=4, comment="很及时")
    assert (order.state, order.rating, order.signed_off_by, order.signed_off_on_behalf) == (
        State.ACCEPTED, 4, teacher_a, False)
    order = services.visit(order, head_a, note="电话回访，满意")
    assert order.state == State.VISITED and order.visited_at
    trail = list(order.events.order_by("time", "pk").values_list("action", "from_state", "to_state"))
    assert trail == [
        ("report", "", "new"), ("dispatch", "new", "dispatched"), ("accept", "dispatched", "dispatched"),
        ("start", "dispatched", "in_progress"), ("wait_parts", "in_progress", "waiting_parts"),
        ("resume", "waiting_parts", "in_progress"), ("complete", "in_progress", "done"),
        ("sign_off", "done", "accepted"), ("visit", "accepted", "visited")]
    assert all(e.actor_name for e in order.events.all())


def test_illegal_moves_are_refused_with_a_reason(world, teacher_a, head_a, tech, order):
    with pytest.raises(ValidationError) as exc:
        services.start(order, head_a)
    assert messages_of(exc) == ["报修单当前为“待受理”，不能开始维修。"]
    with pytest.raises(PermissionDenied, match="只有总务处"):
        services.dispatch(order, teacher_a, tech)
    with pytest.raises(ValidationError) as exc:
        services.dispatch(order, head_a, teacher_a)
    assert exc.value.message_dict["assignee"] == ["甲校老师不是本校维修人员，不能派工给他。"]
    order = services.dispatch(order, head_a, tech)
    another = make_technician(world.a.org, "赵师傅")
    with pytest.raises(PermissionDenied, match="只有派到的维修人员或总务处"):
        services.start(order, another)
    with pytest.raises(ValidationError):
        services.sign_off(order, teacher_a, rating=5)
    with pytest.raises(ValidationError) as exc:
        services.dispatch(order, head_a, tech)
    assert exc.value.message_dict["assignee"] == ["已经派给王师傅了。"]
    assert order.events.count() == 2  # report and dispatch only


def test_a_technician_needs_a_completion_photo_the_office_does_not(world, head_a, tech, order):
    order = services.dispatch(order, head_a, tech)
    order = services.start(order, tech)
    with pytest.raises(ValidationError) as exc:
        services.complete(order, tech, work_done="修好了")
    assert exc.value.message_dict == {"photos": ["请拍一张修好后的照片。"]}
    done = services.complete(order, head_a, work_done="维修工电话告知已修好")
    assert done.state == State.DONE


def test_a_failed_completion_changes_nothing(world, head_a, tech, order):
    order = services.dispatch(order, head_a, tech)
    order = services.start(order, tech)
    with pytest.raises(ValidationError) as exc:
        services.complete(order, tech, work_done="修好了", photos=[photo()], materials=[
            {"name": "阀芯", "quantity": "2", "unit_price": "5"}, {"name": "胶带", "quantity": "0"},
            {"name": "", "quantity": "1"}])
    assert exc.value.message_dict["materials"] == ["第 2 行：数量必须大于 0。", "第 3 行：请填写材料名称。"]
    bad = SimpleUploadedFile("病毒.jpg", b"MZ\x90\x00 not a photo", content_type="image/jpeg")
    with pytest.raises(ValidationError, match="可执行程序"):
        services.complete(order, tech, work_done="修好了", photos=[bad])
    order.refresh_from_db()
    assert order.state == State.IN_PROGRESS and order.completed_at is None
    assert not WorkOrderMaterial.objects.exists() and not Attachment.objects.for_object(order).exists()
    assert not order.events.filter(action=EventAction.COMPLETE).exists()


def test_a_technician_takes_a_job_from_the_pool_once(world, tech, order):
    other = make_technician(world.a.org, "赵师傅")
    order = services.take(order, tech)
    assert (order.state, order.assignee, order.accepted_at is not None) == (State.DISPATCHED, tech, True)
    with pytest.raises(ValidationError, match="已由王师傅接单"):
        services.take(order, other)
    org = world.a.org
    org.settings = {"repairs": {"technicians_self_assign": False}}
    org.save()
    pool = make_order(org, room=world.a.rooms[1], category="门窗")
    with pytest.raises(ValidationError, match="不允许维修人员自行接单"):
        services.take(pool, other)


def test_a_technician_hands_a_job_back(world, head_a, tech, order):
    order = services.dispatch(order, head_a, tech)
    order = services.start(order, tech)
    with pytest.raises(ValidationError) as exc:
        services.hand_back(order, tech, reason="")
    assert exc.value.message_dict == {"reason": ["请填写退回原因。"]}
    order = services.hand_back(order, tech, reason="需要电工处理")
    assert (order.state, order.assignee, order.started_at) == (State.NEW, None, None)
    assert Notification.objects.filter(recipient=head_a, title__startswith="报修单被退回").exists()


def test_sign_off_without_stars_stays_unrated_and_the_office_signs_off_with_a_reason(world, teacher_a, head_a, tech):
    order = make_order(world.a.org, user=teacher_a, room=world.a.rooms[0])
    order = services.dispatch(order, head_a, tech)
    order = services.complete(order, head_a, work_done="已修")
    order = services.sign_off(order, teacher_a)
    assert order.rating is None and order.rating_display == "未评价"
    second = make_order(world.a.org, user=teacher_a, room=world.a.rooms[1], category="门窗")
    second = services.dispatch(second, head_a, tech)
    second = services.complete(second, head_a, work_done="已修")
    with pytest.raises(ValidationError) as exc:
        services.sign_off(second, head_a)
    assert exc.value.message_dict == {"reason": ["请填写代为验收的原因。"]}
    with pytest.raises(ValidationError) as exc:
        services.sign_off(second, head_a, rating=5, reason="电话确认")
    assert exc.value.message_dict == {"rating": ["评价只能由报修人本人填写。"]}
    second = services.sign_off(second, head_a, reason="报修人电话确认已修好")
    assert second.signed_off_on_behalf and second.rating is None
    with pytest.raises(ValidationError) as exc:
        services.sign_off(order, teacher_a, rating=6)


def test_a_complaint_reopens_the_order_for_its_technician(world, teacher_a, head_a, tech, order):
    order = services.dispatch(order, head_a, tech)
    order = services.start(order, tech)
    order = services.complete(order, tech, work_done="更换阀芯", photos=[photo()])
    order = services.complain(order, teacher_a, reason="还是滴水")
    assert (order.state, order.assignee, order.reopened_count, order.completed_at) == (
        State.DISPATCHED, tech, 1, None)
    assert order.finish_due > timezone.now()
    assert Notification.objects.filter(recipient=tech, title__startswith="返修").exists()
    order = services.start(order, tech)
    order = services.complete(order, tech, work_done="更换整个水龙头", photos=[photo()])
    order = services.sign_off(order, teacher_a, rating=5)
    order = services.complain(order, teacher_a, reason="第二天又坏了")  # also after sign-off
    assert order.reopened_count == 2 and order.signed_off_at is None


def test_the_reporter_cancels_before_the_repair_starts_the_office_with_a_reason(world, teacher_a, head_a, tech):
    order = make_order(world.a.org, user=teacher_a, room=world.a.rooms[0])
    cancelled = services.cancel(order, teacher_a)
    assert cancelled.state == State.CANCELLED and cancelled.closed_at
    second = make_order(world.a.org, user=teacher_a, room=world.a.rooms[0])
    second = services.dispatch(second, head_a, tech)
    second = services.start(second, tech)
    with pytest.raises(ValidationError, match="维修已经开始，不能取消"):
        services.cancel(second, teacher_a)
    with pytest.raises(ValidationError) as exc:
        services.cancel(second, head_a)
    assert exc.value.message_dict == {"reason": ["请填写原因，报修人会看到。"]}
    second = services.cancel(second, head_a, reason="学校已整体改造，不再维修")
    assert Notification.objects.filter(recipient=teacher_a, title__startswith="报修已取消").exists()
    assert Notification.objects.filter(recipient=tech, title__contains="已取消").exists()


def test_the_office_rejects_and_reclassifies(world, teacher_a, head_a):
    order = make_order(world.a.org, user=teacher_a, room=world.a.rooms[0])
    order = services.classify(order, head_a, urgency=Urgency.CRITICAL, category="电器", note="涉及漏电")
    assert (order.urgency, order.category.name) == (Urgency.CRITICAL, "电器")
    assert order.accept_due - order.reported_at <= timezone.timedelta(minutes=15)
    assert order.events.get(action=EventAction.CLASSIFY).data["urgency"] == ["一般", "特急（安全隐患）"]
    with pytest.raises(ValidationError, match="没有需要调整的内容"):
        services.classify(order, head_a, urgency=Urgency.CRITICAL)
    order = services.reject(order, head_a, reason="不属于学校财产")
    assert order.state == State.REJECTED and order.close_reason == "不属于学校财产"
    assert Notification.objects.filter(recipient=teacher_a, title__startswith="报修已驳回").exists()


def test_an_outside_repair_goes_through_approval(world, head_a, tech, order):
    from houqin.core import approvals

    order = services.dispatch(order, head_a, tech)
    order = services.start(order, tech)
    with pytest.raises(ValidationError) as exc:
        services.go_outside(order, tech, contractor="", quote="abc", reason="")
    assert exc.value.message_dict == {"contractor": ["请填写外修单位。"]}
    order = services.go_outside(order, tech, contractor="县城空调维修部", quote="800", reason="压缩机坏了")
    assert (order.state, order.scale, order.contractor_quote, order.outside_approved) == (
        State.OUTSIDE, Scale.MAJOR, Decimal("800.00"), False)
    with pytest.raises(ValidationError, match="外修申请尚未审批通过"):
        services.complete(order, tech, work_done="外修完成", photos=[photo()])
    request = approvals.inbox(head_a).get()
    assert (request.request_type, request.amount, request.requester) == ("outside_repair", Decimal("800.00"), tech)
    approvals.approve(request, head_a, comment="同意")
    order.refresh_from_db()
    assert order.outside_approved and order.events.filter(action=EventAction.OUTSIDE_APPROVED).exists()
    order = services.complete(order, tech, work_done="外修更换压缩机", outside_cost="760", labour_hours="0",
                              photos=[photo()])
    assert (order.outside_cost, order.total_cost) == (Decimal("760.00"), Decimal("760.00"))


def test_a_refused_outside_repair_goes_back_to_the_technician(world, head_a, tech, order):
    from houqin.core import approvals

    order = services.dispatch(order, head_a, tech)
    order = services.start(order, tech)
    order = services.go_outside(order, tech, contractor="某维修部", quote="300", reason="需要专业工具")
    approvals.reject(approvals.inbox(head_a).get(), head_a, "自己能修")
    order.refresh_from_db()
    assert order.state == State.IN_PROGRESS and not order.outside_approved
    assert order.events.get(action=EventAction.OUTSIDE_REFUSED).reason.endswith("自己能修")


def test_an_asset_goes_into_repair_and_comes_back(world, teacher_a, head_a, tech):
    from houqin.assets import disposal
    from houqin.assets.choices import AssetStatus
    from houqin.assets.tests.factories import make_asset

    if not hasattr(disposal, "start_repair"):
        pytest.skip("the assets app has no start_repair yet")
    asset = make_asset(world.a.org, name="一体机", room=world.a.rooms[0])
    order = make_order(world.a.org, user=teacher_a, asset=asset, category="网络多媒体")
    order = services.dispatch(order, head_a, tech)
    services.start(order, tech)
    asset.refresh_from_db()
    assert asset.status == AssetStatus.REPAIRING
    assert asset.events.filter(reference=order.number).exists()
    services.complete(order, head_a, work_done="更换主板")
    asset.refresh_from_db()
    assert asset.status == AssetStatus.IN_USE


def test_a_refusal_of_the_assets_app_does_not_stop_the_repair(world, teacher_a, head_a, tech):
    from houqin.assets import disposal
    from houqin.assets.tests.factories import make_asset

    if not hasattr(disposal, "start_repair"):
        pytest.skip("the assets app has no start_repair yet")
    asset = make_asset(world.a.org, name="投影仪", room=world.a.rooms[0])
    order = make_order(world.a.org, user=teacher_a, asset=asset, category="网络多媒体")
    disposal.start_repair(asset, head_a, reference="别的维修")  # already 维修中
    order = services.dispatch(order, head_a, tech)
    order = services.start(order, tech)
    assert order.state == State.IN_PROGRESS
    assert order.events.filter(action=EventAction.NOTE, reason__startswith="资产卡片状态未变更").exists()


def test_events_are_append_only(order):
    event = order.events.get()
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        WorkOrderEvent.objects.filter(pk=event.pk).update(reason="改")
    with pytest.raises(PermissionError):
        event.delete()


def test_a_teacher_sees_only_the_orders_they_reported(world, teacher_a, head_a):
    mine = make_order(world.a.org, user=teacher_a, room=world.a.rooms[0])
    other = make_order(world.a.org, room=world.a.rooms[1], category="门窗")
    assert list(WorkOrder.objects.restrict(teacher_a)) == [mine]
    assert set(WorkOrder.objects.restrict(head_a)) == {mine, other}
    assert not WorkOrder.objects.restrict(teacher_a, "change").exists()
    assert not WorkOrder.objects.restrict(world.teacher_b).exists()


def test_allowed_actions_per_role(world, teacher_a, head_a, tech, order):
    assert services.allowed_actions(order, teacher_a) == ["cancel"]
    assert set(services.allowed_actions(order, head_a)) == {"take", "dispatch", "classify", "reject", "cancel"}
    assert services.allowed_actions(order, tech) == ["take"]
    assert services.allowed_actions(order, world.bureau_admin) == []
    order = services.dispatch(order, head_a, tech)
    assert set(services.allowed_actions(order, tech)) == {"accept", "start", "complete", "hand_back"}


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_two_technicians_tapping_take_at_once_get_one_job():
    import threading

    from django.db import connection

    from houqin.core.testing.world import build_world

    world = build_world()
    order = make_order(world.a.org, room=world.a.rooms[0])
    technicians = [make_technician(world.a.org, f"师傅{i}") for i in range(4)]
    outcomes, errors = [], []
    lock = threading.Lock()
    ready = threading.Barrier(len(technicians))

    def worker(user):
        try:
            connection.ensure_connection()
            ready.wait(timeout=30)
            try:
                services.take(WorkOrder.objects.get(pk=order.pk), user)
                result = "took"
            except ValidationError as exc:
                result = exc.messages[0]
            with lock:
                outcomes.append(result)
        except Exception as exc:  # noqa: BLE001 — reported below
            with lock:
                errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(t,)) for t in technicians]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert outcomes.count("took") == 1
    assert all(o.startswith("该报修单已由") for o in outcomes if o != "took")
    order.refresh_from_db()
    assert order.events.filter(action=EventAction.TAKE).count() == 1
