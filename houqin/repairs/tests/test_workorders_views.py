"""The work-order pages: reporting on a phone (form, QR of a room or an asset, anonymous with the status link), the
reporter's list, the technician's queue, the dispatch board, the one-screen command pages, and the lists."""

from __future__ import annotations

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from houqin.core import qr
from houqin.core.models import Attachment
from houqin.core.testing.factories import make_user
from houqin.core.testing.queries import captured_queries
from houqin.repairs import services
from houqin.repairs.defaults import ensure_defaults
from houqin.repairs.dispatch import board
from houqin.repairs.models import RepairCategory, State, WorkOrder
from houqin.repairs.tests.factories_workorders import make_order, make_technician

pytestmark = pytest.mark.django_db


def png(name="坏了.png"):
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (30, 20), (200, 30, 30)).save(buffer, format="PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


def report_data(world, **extra):
    ensure_defaults(world.a.org)
    water = RepairCategory.objects.get(org=world.a.org, name="水电")
    return {"room": world.a.rooms[0].pk, "category": water.pk, "description": "水龙头一直滴水", "urgency": "normal",
            "reporter_phone": "", **extra}


def scan(client, token):
    return client.get(reverse("scan", kwargs={"kind": "r", "token": token}))


def text(response) -> str:
    return response.content.decode()


@pytest.fixture
def tech(world):
    return make_technician(world.a.org, "王师傅", trades=["water_power"])


def test_a_teacher_reports_with_a_photo_and_follows_the_order(world, teacher_a, client_for):
    client = client_for(teacher_a)
    page = client.get(reverse("repairs:workorder_add"))
    assert page.status_code == 200 and "水电" in text(page) and 'capture="environment"' in text(page)
    response = client.post(reverse("repairs:workorder_add"), {**report_data(world), "photos": [png()]})
    order = WorkOrder.objects.get()
    assert response.status_code == 302 and response["Location"] == order.get_absolute_url()
    assert order.reporter == teacher_a and Attachment.objects.for_object(order).count() == 1
    detail = client.get(order.get_absolute_url())
    assert detail.status_code == 200 and "水龙头一直滴水" in text(detail) and 'data-testid="act-cancel"' in text(detail)
    mine = client.get(reverse("repairs:mine"))
    assert order.number in text(mine)


def test_a_bad_report_shows_the_reasons_and_saves_nothing(world, teacher_a, client_for):
    client = client_for(teacher_a)
    response = client.post(reverse("repairs:workorder_add"), report_data(world, description="", room=""))
    assert response.status_code == 200
    assert "请选择报修地点，或填写具体位置。" in text(response) and "该字段是必填项" in text(response)
    bad = SimpleUploadedFile("照片.jpg", b"<html><script>alert(1)</script></html>", content_type="image/jpeg")
    response = client.post(reverse("repairs:workorder_add"), {**report_data(world), "photos": [bad]})
    assert response.status_code == 200 and "是网页或 XML 文件，不能上传" in text(response)
    assert not WorkOrder.objects.exists()


def test_a_second_report_is_merged_and_the_reporter_told(world, teacher_a, client_for):
    make_order(world.a.org, room=world.a.rooms[0], allow_duplicate=False)
    client = client_for(teacher_a)
    response = client.post(reverse("repairs:workorder_add"), report_data(world), follow=True)
    assert "这个故障已经有人报修了" in text(response)
    mine = WorkOrder.objects.get(reporter=teacher_a)
    assert mine.state == State.MERGED and response.redirect_chain[-1][0] == mine.get_absolute_url()


def test_scanning_a_room_label_opens_its_repair_page(world, teacher_a, client_for, head_a):
    room = world.a.rooms[0]
    open_order = make_order(world.a.org, room=room, description="窗户关不上", category="门窗")
    token = qr.make_token("core.room", room.pk)
    page = scan(client_for(teacher_a), token)
    assert page.status_code == 200 and 'data-testid="room-report"' in text(page) and "窗户关不上" in text(page)
    assert "查看房间信息" in text(page)  # a teacher may view the school's rooms
    anonymous = scan(client_for(None), token)
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
    assert scan(client_for(world.admin_b), token).status_code == 404
    # The school's system administrator may not report: core's default, the room's own page.
    assert scan(client_for(world.admin_a), token)["Location"] == room.get_absolute_url()
    report = client_for(teacher_a).get(reverse("repairs:report_scan", kwargs={
        "kind": "r", "token": qr.make_token("core.room", room.pk)}))
    assert report.status_code == 200 and room.name in text(report) and open_order.number in text(report)
    assert 'name="room"' not in text(report)  # the place comes from the label


def test_anonymous_report_by_qr_with_the_status_link(world, client_for, head_a, tech, settings):
    org = world.a.org
    org.settings = {"repairs": {"report_requires_login": False}}
    org.save()
    room = world.a.rooms[1]
    url = reverse("repairs:report_scan", kwargs={"kind": "r", "token": qr.make_token("core.room", room.pk)})
    visitor = client_for(None)
    page = visitor.get(url)
    assert page.status_code == 200 and "您的姓名" in text(page)
    water = RepairCategory.objects.get(org=org, name="水电")
    response = visitor.post(url, {"category": water.pk, "description": "楼道灯不亮", "urgency": "normal",
                                  "reporter_name": "张家长", "reporter_phone": "13700001111"},
                            REMOTE_ADDR="10.1.2.3")
    order = WorkOrder.objects.get()
    assert (order.reporter, order.reporter_name, order.client_ip, order.source) == (None, "张家长", "10.1.2.3", "scan")
    track = response["Location"]
    assert track == reverse("repairs:track", kwargs={"token": qr.make_token("repairs.workorder", order.pk)})
    status = visitor.get(track)
    assert status.status_code == 200 and "待受理" in text(status) and "楼道灯不亮" in text(status)
    services.dispatch(order, head_a, tech)
    services.complete(order, head_a, work_done="更换灯管")
    status = visitor.get(track)
    assert 'data-testid="track-sign-off"' in text(status)
    visitor.post(track, {"action": "sign_off", "rating": "5", "comment": "谢谢"})
    order.refresh_from_db()
    assert (order.state, order.rating, order.signed_off_by) == (State.ACCEPTED, 5, None)
    forged = reverse("repairs:track", kwargs={"token": qr.make_token("repairs.workorder", order.pk + 1)[:-1] + "x"})
    assert visitor.get(forged).status_code == 404
    # A signed-in reporter's order has no public status link.
    own = make_order(org, user=world.teacher_a, room=world.a.rooms[0], category="门窗")
    assert visitor.get(reverse("repairs:track", kwargs={
        "token": qr.make_token("repairs.workorder", own.pk)})).status_code == 404


def test_the_asset_cards_get_a_report_button(world, teacher_a, head_a):
    from houqin.assets import actions
    from houqin.assets.tests.factories import make_asset

    asset = make_asset(world.a.org, name="教室一体机", room=world.a.rooms[0])
    repair = next(a for a in actions.registered() if a.key == "repair")
    assert "public" in repair.where and "card" in repair.where
    assert repair.available(asset, teacher_a) and repair.available(asset, head_a)
    assert not repair.available(asset, world.admin_a)  # no right to report, and the school wants a login
    assert repair.url(asset) == reverse("repairs:report_scan", kwargs={
        "kind": "a", "token": qr.make_token("assets.asset", asset.pk)})


def test_the_technician_queue_and_one_tap_commands(world, head_a, tech, client_for):
    mine = make_order(world.a.org, room=world.a.rooms[0], urgency="urgent")
    services.dispatch(mine, head_a, tech)
    pool = make_order(world.a.org, room=world.a.rooms[1], description="下水道堵了")
    elsewhere = make_order(world.a.org, room=world.a.rooms[1], description="投影仪不亮", category="网络多媒体")
    client = client_for(tech)
    page = client.get(reverse("repairs:queue"))
    assert page.status_code == 200
    assert mine.number in text(page) and pool.number in text(page)
    assert elsewhere.number not in text(page)  # not his trade
    start = reverse("repairs:workorder_act", kwargs={"pk": mine.pk, "action": "start"})
    response = client.post(start, {"next": reverse("repairs:queue")})
    assert response.status_code == 302 and response["Location"] == reverse("repairs:queue")
    mine.refresh_from_db()
    assert mine.state == State.IN_PROGRESS
    response = client.post(reverse("repairs:workorder_act", kwargs={"pk": pool.pk, "action": "take"}))
    pool.refresh_from_db()
    assert pool.assignee == tech
    assert client_for(world.teacher_a).get(reverse("repairs:queue")).status_code == 403


def test_completing_on_the_phone_with_materials_and_a_photo(world, head_a, tech, client_for):
    order = make_order(world.a.org, room=world.a.rooms[0])
    services.dispatch(order, head_a, tech)
    client = client_for(tech)
    url = reverse("repairs:workorder_act", kwargs={"pk": order.pk, "action": "complete"})
    page = client.get(url)
    assert page.status_code == 200 and 'name="material_name"' in text(page)
    response = client.post(url, {"work_done": "更换阀芯", "labour_hours": "0.5",
                                 "material_name": ["阀芯", ""], "material_qty": ["1", ""],
                                 "material_unit": ["个", ""], "material_price": ["12", ""]})
    assert response.status_code == 200 and "请拍一张修好后的照片。" in text(response)
    response = client.post(url, {"work_done": "更换阀芯", "labour_hours": "0.5", "photos": [png("完工.png")],
                                 "material_name": ["阀芯"], "material_qty": ["1"], "material_unit": ["个"],
                                 "material_price": ["12"]})
    assert response.status_code == 302
    order.refresh_from_db()
    assert (order.state, str(order.total_cost)) == (State.DONE, "37.00")


def test_the_reporter_signs_off_with_stars(world, teacher_a, head_a, tech, client_for):
    order = make_order(world.a.org, user=teacher_a, room=world.a.rooms[0])
    services.dispatch(order, head_a, tech)
    services.complete(order, head_a, work_done="已修")
    client = client_for(teacher_a)
    url = reverse("repairs:workorder_act", kwargs={"pk": order.pk, "action": "sign_off"})
    page = client.get(url)
    assert page.status_code == 200 and 'data-testid="stars"' in text(page)
    assert client.post(url, {"rating": "3", "comment": "有点慢"}).status_code == 302
    order.refresh_from_db()
    assert (order.state, order.rating, order.rating_comment) == (State.ACCEPTED, 3, "有点慢")
    # The office may not rate in the reporter's place.
    assert client_for(tech).get(url).status_code == 403


def test_a_command_page_explains_a_refusal_and_keeps_the_order(world, head_a, tech, client_for):
    order = make_order(world.a.org, room=world.a.rooms[0])
    client = client_for(head_a)
    response = client.post(reverse("repairs:workorder_act", kwargs={"pk": order.pk, "action": "reject"}),
                           {"reason": ""})
    assert response.status_code == 200 and "该字段是必填项" in text(response)
    page = client.get(reverse("repairs:workorder_act", kwargs={"pk": order.pk, "action": "start"}))
    assert page.status_code == 200 and "报修单当前为“待受理”，不能开始维修。" in text(page)
    assert client.get(reverse("repairs:workorder_act", kwargs={"pk": order.pk, "action": "explode"})).status_code == 404
    order.refresh_from_db()
    assert order.state == State.NEW and order.events.count() == 1


def test_the_dispatch_board_suggests_by_trade_then_load(world, head_a, tech, client_for):
    other_trade = make_technician(world.a.org, "木工李师傅", trades=["carpentry"])
    busy = make_technician(world.a.org, "张师傅", trades=["water_power"])
    for i in range(2):
        services.dispatch(make_order(world.a.org, room=world.a.rooms[1], description=f"旧任务{i}"), head_a, busy)
    order = make_order(world.a.org, room=world.a.rooms[0], description="卫生间漏水")
    current = board(world.a.org)
    assert current.suggest(order).user == tech  # same trade, fewest open jobs
    assert [c.user for c in current.ordered_for(order)][-1] == other_trade
    door = make_order(world.a.org, room=world.a.rooms[0], description="门锁坏了", category="门窗")
    assert current.suggest(door).user == other_trade
    page = client_for(head_a).get(reverse("repairs:dispatch"))
    assert page.status_code == 200 and order.number in text(page) and "【推荐】王师傅" in text(page)
    response = client_for(head_a).post(reverse("repairs:workorder_act", kwargs={"pk": order.pk, "action": "dispatch"}),
                                       {"assignee": str(tech.pk), "next": reverse("repairs:dispatch")})
    assert response.status_code == 302
    order.refresh_from_db()
    assert order.assignee == tech
    assert client_for(world.teacher_a).get(reverse("repairs:dispatch")).status_code == 403


def test_the_list_filters(world, head_a, tech, client_for):
    late = make_order(world.a.org, room=world.a.rooms[0], description="超时的单")
    WorkOrder.objects.filter(pk=late.pk).update(accept_due=late.reported_at - timedelta(minutes=1))
    fresh = make_order(world.a.org, room=world.a.rooms[1], description="新的单", category="门窗")
    services.dispatch(fresh, head_a, tech)
    client = client_for(head_a)
    url = reverse("repairs:workorder_list")

    def numbers(**params):
        return [o.number for o in WorkOrder.objects.all() if o.number in text(client.get(url, params))]

    assert numbers(overdue="true") == [late.number]
    assert numbers(state="dispatched") == [fresh.number]
    assert numbers(assignee=tech.pk) == [fresh.number]
    assert set(numbers(state="open")) == {late.number, fresh.number}
    export = client.get(reverse("repairs:workorder_export"), {"state": "new"})
    assert export.status_code == 200


def test_my_reports_lists_only_mine(world, teacher_a, client_for):
    mine = make_order(world.a.org, user=teacher_a, room=world.a.rooms[0])
    colleague = make_user(full_name="李老师", org=world.a.org, roles=("teacher",))
    theirs = make_order(world.a.org, user=colleague, room=world.a.rooms[1], category="门窗")
    page = client_for(teacher_a).get(reverse("repairs:mine"))
    assert mine.number in text(page) and theirs.number not in text(page)
    assert client_for(teacher_a).get(theirs.get_absolute_url()).status_code == 404


def test_phone_pages_do_not_query_per_order(world, head_a, tech, client_for):
    def orders(n, offset):
        for i in range(n):
            order = make_order(world.a.org, room=world.a.rooms[i % 2], description=f"报修{offset + i}")
            services.dispatch(order, head_a, tech)
        for i in range(n):
            make_order(world.a.org, room=world.a.rooms[i % 2], description=f"新报修{offset + i}")

    orders(2, 0)
    head, technician = client_for(head_a), client_for(tech)
    pages = [(head, reverse("repairs:dispatch")), (technician, reverse("repairs:queue"))]
    before = [len(captured_queries(c, url)) for c, url in pages]
    orders(12, 100)
    after = [len(captured_queries(c, url)) for c, url in pages]
    assert before == after


def test_the_school_settings_page(world, head_a, admin_a, client_for):
    from houqin.repairs import conf

    url = reverse("repairs:settings")
    page = client_for(admin_a).get(url)
    assert page.status_code == 200 and "只有总务处可以修改这些设置" in text(page)
    assert client_for(admin_a).post(url, {"report_requires_login": "false"}).status_code == 403
    client = client_for(head_a)
    data = {"report_requires_login": "false", "work_start": "08:00", "work_end": "17:00", "workdays": ["1", "2", "3",
            "4", "5", "6"], "holidays": "2026-10-01\n2026-10-02, 2026/10/03", "extra_workdays": "",
            "sla_counts_off_hours": "false", "same_day_cutoff": "15:00", "escalate_after_minutes": "120",
            "labour_rate": "60", "reports_per_hour": "3", "visit_within_hours": "48",
            "technicians_self_assign": "false", "completion_photo_required": "true"}
    bad = client.post(url, {**data, "work_end": "07:00", "holidays": "十月一日"})
    assert bad.status_code == 200 and "下班时间必须晚于上班时间。" in text(bad)
    assert "日期格式不对：十月一日" in text(bad)
    assert client.post(url, data).status_code == 302
    org = world.a.org
    org.refresh_from_db()
    assert not conf.report_requires_login(org) and conf.labour_rate(org) == Decimal("60.00")
    assert [d.isoformat() for d in sorted(conf.holidays(org))] == ["2026-10-01", "2026-10-02", "2026-10-03"]
    assert conf.workdays(org) == frozenset({1, 2, 3, 4, 5, 6}) and not conf.technicians_self_assign(org)


def test_the_order_page_shows_the_outside_repair_approval(world, head_a, tech, client_for):
    order = make_order(world.a.org, room=world.a.rooms[0])
    services.dispatch(order, head_a, tech)
    services.start(order, tech)
    services.go_outside(order, tech, contractor="县城空调维修部", quote="800", reason="压缩机坏了")
    page = client_for(head_a).get(order.get_absolute_url())
    assert page.status_code == 200 and 'data-testid="approval-timeline"' in text(page)
    assert "县城空调维修部" in text(page)
