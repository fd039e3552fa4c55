"""QR codes and scan URLs (houqin.core.qr), label sheets, record and list sheets (houqin.core.printing,
houqin.core.views.printing): what is encoded, who may resolve it, what a sheet holds and that a print never
shows another school's rows."""

from __future__ import annotations

import io
import re
import sys
import types
from pathlib import Path
from xml.etree import ElementTree

import pytest
import segno
from django.http import HttpResponse
from django.test import override_settings
from django.urls import NoReverseMatch, URLResolver, include, path, reverse
from PIL import Image

from houqin.core import printing, qr
from houqin.core.models import Room, RoomType
from houqin.core.testing import factories as f
from houqin.core.views import printing as views
from houqin.core.views.models import RoomUI

URL = "https://houqin.example.edu.cn/q/r/1AbCdEfGhIj/"
LABELS_CSS = Path(__file__).resolve().parents[1] / "static" / "core" / "labels.css"


# --- URLs: the printing routes, mounted for these tests if the project's URLconf does not have them yet -----------
def _urlconf_with_printing() -> str | None:
    try:
        reverse("core:room_print_list"), reverse("core:room_labels"), reverse("scan", args=["r", "x"])
        return None  # mounted by the project
    except NoReverseMatch:
        pass
    import houqin.core.urls as core_urls
    import houqin.urls as root_urls

    core = [*core_urls.urlpatterns, *views.print_urls_for("core"), *views.label_urls(RoomUI, views.room_label)]
    module = types.ModuleType("houqin_test_printing_urls")
    module.urlpatterns = [
        *(p for p in root_urls.urlpatterns if not (isinstance(p, URLResolver) and p.namespace == "core")),
        path("core/", include((core, "core"))),
        path("q/<str:kind>/<str:token>/", views.scan, name="scan"),
    ]
    sys.modules[module.__name__] = module
    return module.__name__


@pytest.fixture(autouse=True)
def printing_urls():
    name = _urlconf_with_printing()
    if name is None:
        yield
        return
    with override_settings(ROOT_URLCONF=name):
        yield
    sys.modules.pop(name, None)


@pytest.fixture(autouse=True)
def core_room_kind(monkeypatch):
    """Core's own contract, whatever an app plugged into the room kind (the repairs app gives rooms a page of
    their own with ``view``): rooms as core registers them."""
    monkeypatch.setitem(qr.KINDS, "r", qr.ScanKind("r", "core.room"))


def label_count(html: str) -> int:
    return len(re.findall(r'<div class="label">', html))


def sheets(html: str) -> list[str]:
    return re.findall(r'<section class="sheet[^"]*".*?</section>', html, flags=re.S)


def text(response) -> str:
    return response.content.decode()


# --- QR images --------------------------------------------------------------------------------------------------
def parse_svg(svg: str):
    return ElementTree.fromstring(svg)  # noqa: S314 — SVG made by this code, from a constant


def svg_matrix(svg: str, border: int) -> list[list[int]]:
    """Read back the module matrix an inline segno SVG draws (horizontal runs of ``h`` in one path)."""
    root = parse_svg(svg)
    size = int(root.get("viewBox").split()[2]) - 2 * border
    matrix = [[0] * size for _ in range(size)]
    data = next(el for el in root.iter() if el.tag.rsplit("}", 1)[-1] == "path")
    x = y = 0.0
    for cmd, args in re.findall(r"([MmHh])([^MmHh]*)", data.get("d")):
        nums = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", args)]
        if cmd == "M":
            x, y = nums
        elif cmd == "m":
            x, y = x + nums[0], y + nums[1]
        elif cmd == "h":
            for i in range(int(nums[0])):
                matrix[int(y) - border][int(x) + i - border] = 1
            x += nums[0]
    return matrix


def test_qr_svg_is_an_inline_svg_of_the_url_code():
    svg = qr.qr_svg(URL)
    assert svg.startswith("<svg") and "<?xml" not in svg
    root = parse_svg(svg)  # well-formed
    assert root.get("viewBox") and root.get("width") is None  # sized by CSS
    assert URL not in svg  # path data only
    expected = [[1 if v else 0 for v in row] for row in segno.make(URL, error="m", micro=False).matrix]
    assert svg_matrix(svg, border=2) == expected
    assert segno.make(URL, error="m", micro=False).error in ("M", "Q", "H")  # at least M


def test_qr_svg_with_size_and_colour():
    svg = qr.qr_svg(URL, scale=4, border=4, dark="#123456", size=True)
    root = parse_svg(svg)
    modules = len(qr.make(URL).matrix)
    assert root.get("width") == str((modules + 8) * 4)
    assert 'stroke="#123456"' in svg
    with pytest.raises(ValueError):
        qr.qr_svg(URL, dark='red"><script>alert(1)</script>')


def test_qr_png_bytes():
    png = qr.qr_png_bytes(URL, scale=5, border=4)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    assert image.size[0] == (len(qr.make(URL).matrix) + 8) * 5


# --- Tokens -------------------------------------------------------------------------------------------------------
def test_token_round_trip_and_shape():
    for pk in (0, 1, 61, 62, 1234, 2**40):
        token = qr.make_token("core.room", pk)
        assert re.fullmatch(r"[0-9A-Za-z]+", token) and len(token) <= 11 + qr.SIGNATURE_LENGTH
        assert qr.read_token("core.room", token) == pk
    assert qr.make_token("core.room", 1) != qr.make_token("core.room", 2)
    assert len(qr.make_token("core.room", 5)) == 11  # short enough for a small QR code


def test_tampered_or_foreign_tokens_do_not_resolve():
    token = qr.make_token("core.room", 1234)
    flipped = token[:-1] + ("a" if token[-1] != "a" else "b")
    next_pk = qr.b62encode(1235) + token[-qr.SIGNATURE_LENGTH:]  # guessing the next room
    for bad in (flipped, next_pk, "0" + token, token + "0", token[:-1], "", "../../etc", "x" * 40):
        assert qr.read_token("core.room", bad) is None, bad
    assert qr.read_token("core.building", token) is None  # a room's token is not a building's


def test_tokens_survive_a_key_rotation_and_can_have_their_own_key(settings):
    settings.SECRET_KEY = "old-" * 20
    token = qr.make_token("core.room", 7)
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "new-" * 20, ["old-" * 20]
    assert qr.read_token("core.room", token) == 7
    settings.SECRET_KEY_FALLBACKS = []
    assert qr.read_token("core.room", token) is None
    settings.HOUQIN_QR_SECRET = "labels-" * 10
    own = qr.make_token("core.room", 7)
    settings.SECRET_KEY = "newer-" * 10
    assert qr.read_token("core.room", own) == 7


def test_kinds_are_unique_and_well_formed():
    assert qr.kind_for(Room).code == "r"
    with pytest.raises(ValueError):
        qr.register_kind("r", "core.building")
    with pytest.raises(ValueError):
        qr.register_kind("R/1", "core.building")


def test_scan_url_uses_the_public_url_when_set(world, rf, settings):
    room = world.a.rooms[0]
    token = qr.token_for(room)
    assert qr.scan_url("https://school.example.cn/", "r", token) == f"https://school.example.cn/q/r/{token}/"
    assert qr.scan_url_for(rf.get("/", HTTP_HOST="localhost:8000"), room) == f"http://localhost:8000/q/r/{token}/"
    settings.HOUQIN_PUBLIC_URL = "https://hq.example.edu.cn"
    assert views.scan_url(rf.get("/"), room) == f"https://hq.example.edu.cn/q/r/{token}/"


# --- The scan page --------------------------------------------------------------------------------------------------
def scan_path(obj) -> str:
    return reverse("scan", args=[qr.kind_for(obj).code, qr.token_for(obj)])


def test_scan_opens_the_room_for_who_may_see_it(world, client_for):
    room = world.a.rooms[0]
    for persona in ("admin_a", "teacher_a", "bureau_admin", "superuser"):
        response = client_for(world.persona(persona)).get(scan_path(room))
        assert response.status_code == 302, persona
        assert response["Location"] == reverse("core:room_detail", args=[room.pk])


def test_scan_of_another_schools_room_or_a_forged_token_is_not_found(world, client_for):
    room = world.a.rooms[0]
    assert client_for(world.admin_b).get(scan_path(room)).status_code == 404
    assert client_for(world.outsider).get(scan_path(room)).status_code == 404
    admin = client_for(world.admin_a)
    token = qr.token_for(room)
    forged = token[:-1] + ("a" if token[-1] != "a" else "b")
    assert admin.get(reverse("scan", args=["r", forged])).status_code == 404
    guessed = qr.b62encode(world.a.rooms[1].pk) + token[-qr.SIGNATURE_LENGTH:]
    assert admin.get(reverse("scan", args=["r", guessed])).status_code == 404
    assert admin.get(reverse("scan", args=["zz", token])).status_code == 404


def test_scan_when_signed_out_asks_to_sign_in_and_comes_back(world, client_for):
    url = scan_path(world.a.rooms[0])
    response = client_for(None).get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login")) and "next=" in response["Location"]
    # A forged token gets the same answer: signed out, nothing is revealed either way.
    assert client_for(None).get(reverse("scan", args=["r", "1AbCdEfGhIj"])).status_code == 302


def test_scan_survives_renumbering(world, client_for):
    room = world.a.rooms[0]
    before = scan_path(room)
    room.number, room.name = "A-301", "改名后的教室"
    room.save()
    assert scan_path(room) == before
    assert client_for(world.admin_a).get(before)["Location"] == reverse("core:room_detail", args=[room.pk])


def test_a_kind_with_a_public_page(world, client_for):
    """The seam for public scan pages (an asset's 报修 page): visitors who may not view the object get it."""
    seen = []

    def public(request, building):
        seen.append(building.pk)
        return HttpResponse(f"公开页面：{building.name}") if building.org_id == world.a.org.pk else None

    qr.register_kind("tb", "core.building", public_view=public)
    try:
        ours, theirs = world.a.building, world.b.building
        assert client_for(world.admin_a).get(scan_path(ours)).status_code == 302  # may view: the real page
        assert "公开页面" in text(client_for(None).get(scan_path(ours)))
        assert "公开页面" in text(client_for(world.admin_b).get(scan_path(ours)))
        # The public view may decline (a school that turned its public pages off): the usual answers.
        assert client_for(None).get(scan_path(theirs)).status_code == 302
        assert client_for(world.admin_a).get(scan_path(theirs)).status_code == 404
        token = qr.token_for(ours)
        forged = reverse("scan", args=["tb", token[:-1] + ("a" if token[-1] != "a" else "b")])
        assert client_for(None).get(forged).status_code == 302
    finally:
        qr.KINDS.pop("tb", None)


def test_a_kind_with_its_own_view(world, client_for, django_assert_max_num_queries):
    """``view``: the kind's page for every visitor (the assets phone page, the repairs room page). The scan view
    resolves the token without restriction and hands over the object, with its ModelUI's related rows; the view may
    decline (None) and the default answers follow; a forged token never reaches it."""
    seen = []

    def page(request, room):
        seen.append((request.user.username or "anonymous", room.pk))
        if request.GET.get("decline"):
            return None
        return HttpResponse(f"房间页面：{room.campus.name} {room.building.name} {room.name}")

    original = qr.KINDS["r"]
    qr.register_kind("r", "core.room", view=page)
    try:
        ours, theirs = world.a.rooms[0], world.b.rooms[0]
        for user in (None, world.admin_a, world.teacher_a, world.admin_b, world.outsider):
            response = client_for(user).get(scan_path(ours))
            assert response.status_code == 200 and "房间页面" in text(response), user
        assert "房间页面" in text(client_for(world.admin_a).get(scan_path(theirs)))  # the view applies its rules
        assert len(seen) == 6
        # One query for the object and its related rows (anonymous: no session, no access map).
        with django_assert_max_num_queries(1):
            client_for(None).get(scan_path(ours))
        # Declining gives the default answers: the object's page, sign in, or "not found".
        assert client_for(world.admin_a).get(scan_path(ours), {"decline": "1"})["Location"] == reverse(
            "core:room_detail", args=[ours.pk])
        assert client_for(None).get(scan_path(ours), {"decline": "1"}).status_code == 302
        assert client_for(world.admin_b).get(scan_path(ours), {"decline": "1"}).status_code == 404
        # Forged tokens: the same answers as without a view, and the view is never called.
        seen.clear()
        token = qr.token_for(ours)
        forged = reverse("scan", args=["r", token[:-1] + ("a" if token[-1] != "a" else "b")])
        assert client_for(None).get(forged).status_code == 302
        assert client_for(world.admin_a).get(forged).status_code == 404
        assert seen == []
    finally:
        qr.KINDS["r"] = original


def test_a_view_that_declines_leaves_the_public_page(world, client_for):
    calls = []

    def view(request, building):
        calls.append("view")
        return None

    def public(request, building):
        calls.append("public")
        return HttpResponse("公开页面")

    qr.register_kind("tb", "core.building", public_view=public, view=view)
    try:
        assert "公开页面" in text(client_for(None).get(scan_path(world.a.building)))
        assert calls == ["view", "public"]
        assert client_for(world.admin_a).get(scan_path(world.a.building)).status_code == 302  # may view: its page
    finally:
        qr.KINDS.pop("tb", None)


# --- Layouts ------------------------------------------------------------------------------------------------------
def test_layouts_fit_their_paper_and_have_an_at_page_rule():
    css = LABELS_CSS.read_text()
    assert {"a4-3x8", "a4-2x5", "a4-4x10", "a4-3x7", "roll-50x30", "roll-40x30"} <= set(printing.LAYOUTS)
    for layout in printing.LAYOUTS.values():
        layout.check()
        assert f"@page {layout.page} " in css, layout.page
        assert f".sheet-{layout.page} {{ page: {layout.page}; }}" in css
        assert re.fullmatch(r"(--[a-z-]+:[0-9.]+(mm|pt)?;?)+", layout.style)
    assert "@page roll-50x30 { size: 50mm 30mm; margin: 0; }" in css
    assert printing.LAYOUTS["a4-3x8"].per_page == 24
    assert (printing.LAYOUTS["a4-3x8"].label_w, printing.LAYOUTS["a4-3x8"].label_h) == (70, 37)
    assert printing.LAYOUTS["a4-4x10"].per_page == 40 and printing.LAYOUTS["a4-2x5"].per_page == 10
    assert printing.LAYOUTS["roll-40x30"].is_roll


def test_label_pages():
    layout = printing.LAYOUTS["a4-3x8"]
    labels = [{"code": str(i)} for i in range(30)]
    pages = printing.label_pages(labels, layout)
    assert [len(p) for p in pages] == [24, 6]
    pages = printing.label_pages(labels, layout, skip=20)
    assert pages[0][:20] == [None] * 20 and [len(p) for p in pages] == [24, 24, 2]
    assert printing.label_pages(labels, printing.LAYOUTS["roll-50x30"], skip=5)[0] == [{"code": "0"}]
    assert len(printing.label_pages(labels, layout, skip=999)[0]) == 24  # clamped


# --- Room labels --------------------------------------------------------------------------------------------------
def many_rooms(school, count: int, **fields) -> list[Room]:
    rooms = [Room(org=school.org, campus=school.campus, building=school.building, floor=school.floor,
                  number=f"{300 + i}", name=f"标签房间{i:03d}", **fields) for i in range(count)]
    f.bulk_create_indexed(Room, rooms)
    return list(Room.objects.filter(org=school.org, name__startswith="标签房间"))


def test_room_labels_follow_the_list_filter(world, client_for):
    lab = f.make_room(floor=world.a.floor, number="201", name="物理实验室", room_type=RoomType.LAB)
    f.make_room(floor=world.b.floor, number="201", name="乙校物理实验室", room_type=RoomType.LAB)
    response = client_for(world.admin_a).get(reverse("core:room_labels"), {"room_type": "lab"})
    html = text(response)
    assert response.status_code == 200 and label_count(html) == 1
    assert "物理实验室" in html and "乙校" not in html
    assert world.a.org.name in html  # the title line
    assert qr.token_for(lab) in views.room_label(response.wsgi_request, lab)["url"]
    assert html.count("<svg") == 1


def test_room_labels_never_show_another_school_even_with_a_forged_filter(world, client_for):
    admin = client_for(world.admin_a)
    b_rooms = {r.name for r in world.b.rooms}
    for query in ({}, {"org": world.b.org.pk}, {"campus": world.b.campus.pk}, {"building": world.b.building.pk},
                  {"q": "乙"}):
        html = text(admin.get(reverse("core:room_labels"), query))
        assert not any(name in html for name in b_rooms), query
        assert world.b.org.name not in html, query
    assert label_count(text(admin.get(reverse("core:room_labels")))) == len(world.a.rooms)
    # The bureau prints both schools' labels, each with its own school's name.
    html = text(client_for(world.bureau_admin).get(reverse("core:room_labels")))
    assert label_count(html) == len(world.a.rooms) + len(world.b.rooms)
    assert world.a.org.name in html and world.b.org.name in html


@pytest.mark.parametrize(("layout", "per_page"), [("a4-3x8", 24), ("a4-2x5", 10), ("a4-4x10", 40), ("a4-3x7", 21),
                                                  ("roll-50x30", 1), ("roll-40x30", 1)])
def test_layout_puts_the_right_number_of_labels_on_each_page(world, client_for, layout, per_page):
    many_rooms(world.a, 45)
    count = 45 + len(world.a.rooms)
    html = text(client_for(world.admin_a).get(reverse("core:room_labels"), {"layout": layout}))
    pages = sheets(html)
    assert label_count(html) == count
    assert len(pages) == -(-count // per_page)
    assert all(label_count(p) == per_page for p in pages[:-1])
    assert all(f'data-layout="{layout}"' in p and f"sheet-{printing.LAYOUTS[layout].page}" in p for p in pages)


def test_labels_start_at_a_chosen_position_and_remember_the_layout(world, client_for):
    many_rooms(world.a, 10)
    admin = client_for(world.admin_a)
    html = text(admin.get(reverse("core:room_labels"), {"layout": "a4-2x5", "skip": "7"}))
    pages = sheets(html)
    assert pages[0].count('class="label-blank"') == 7 and label_count(pages[0]) == 3
    assert label_count(html) == 12 and len(pages) == 2
    html = text(admin.get(reverse("core:room_labels")))  # no layout given: the last one chosen
    assert 'data-layout="a4-2x5"' in html
    assert 'data-layout="a4-2x5"' in text(admin.get(reverse("core:room_labels"), {"layout": "nonsense"}))


def test_too_many_labels_print_nothing_and_say_why(world, client_for, monkeypatch):
    monkeypatch.setattr(printing, "MAX_LABELS", 5)
    many_rooms(world.a, 10)
    response = client_for(world.admin_a).get(reverse("core:room_labels"))
    html = text(response)
    assert label_count(html) == 0
    assert "超过 5 张标签（单次打印上限），请缩小筛选范围后分批打印。" in html
    assert label_count(text(client_for(world.admin_a).get(reverse("core:room_labels"), {"q": "标签房间001"}))) == 1


def test_one_rooms_label(world, client_for):
    room = world.a.rooms[1]
    url = reverse("core:room_label", args=[room.pk])
    html = text(client_for(world.admin_a).get(url, {"layout": "roll-40x30"}))
    assert label_count(html) == 1 and room.name in html and len(sheets(html)) == 1
    assert client_for(world.admin_b).get(url).status_code == 404
    assert client_for(world.outsider).get(url).status_code == 404
    assert client_for(None).get(url).status_code == 302


def test_label_pages_refuse_who_may_not_list(world, client_for):
    assert client_for(world.outsider).get(reverse("core:room_labels")).status_code == 403
    response = client_for(None).get(reverse("core:room_labels"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_long_names_are_cut_by_css_not_spilled(world, client_for):
    long_name = "学校综合实践活动中心多功能创客教育与科学探究实验室（二）"
    room = f.make_room(floor=world.a.floor, number="A-0101-01", name=long_name)
    html = text(client_for(world.admin_a).get(reverse("core:room_label", args=[room.pk])))
    assert f'<div class="label-name" title="{long_name}">{long_name}</div>' in html
    css = LABELS_CSS.read_text()
    for rule in (".label-title {", ".label-code {", ".label-extra {"):
        block = css.split(rule, 1)[1].split("}", 1)[0]
        assert "text-overflow: ellipsis" in block and "overflow: hidden" in block, rule
    assert "-webkit-line-clamp: 2" in css.split(".label-name {", 1)[1].split("}", 1)[0]


# --- Record and list sheets ---------------------------------------------------------------------------------------
def test_list_print_is_the_filtered_list(world, client_for):
    f.make_room(floor=world.a.floor, number="201", name="物理实验室", room_type=RoomType.LAB)
    response = client_for(world.admin_a).get(reverse("core:room_print_list"), {"room_type": "lab"})
    html = text(response)
    assert response.status_code == 200
    assert "物理实验室" in html and world.a.rooms[0].name not in html
    assert "<thead><tr><th class=\"doc-seq\">序号</th>" in html
    assert "筛选条件：类型：实验室" in html, html
    assert "房间清单" in html
    assert world.a.org.name in html, html
    assert 'class="doc doc-landscape"' in html  # many columns: landscape by default
    html = text(client_for(world.admin_a).get(reverse("core:room_print_list"), {"orientation": "portrait"}))
    assert 'class="doc doc-portrait"' in html


def test_list_print_keeps_to_the_users_school(world, client_for):
    b_names = [r.name for r in world.b.rooms]
    for query in ({}, {"org": world.b.org.pk}, {"campus": world.b.campus.pk}):
        html = text(client_for(world.admin_a).get(reverse("core:room_print_list"), query))
        assert not any(n in html for n in b_names), query
    assert client_for(world.outsider).get(reverse("core:room_print_list")).status_code == 403
    anonymous = client_for(None).get(reverse("core:room_print_list"))
    assert anonymous.status_code == 302 and anonymous["Location"].startswith(reverse("login"))
    html = text(client_for(world.bureau_admin).get(reverse("core:room_print_list")))
    assert all(n in html for n in [*b_names, *(r.name for r in world.a.rooms)])


def test_list_print_over_the_limit(world, client_for, monkeypatch):
    monkeypatch.setattr(printing, "MAX_PRINT_ROWS", 1)
    html = text(client_for(world.admin_a).get(reverse("core:room_print_list")))
    assert "超过 1 条记录（单次打印上限）" in html and 'data-testid="print-table"' not in html


def test_record_print(world, client_for):
    room = world.a.rooms[1]
    url = reverse("core:room_print", args=[room.pk])
    response = client_for(world.admin_a).get(url)
    html = text(response)
    assert response.status_code == 200
    assert "房间信息表" in html and world.a.org.name in html and room.name in html
    assert "<th scope=\"row\">责任人</th>" in html
    assert html.count("<svg") == 1 and "扫码查看" in html  # rooms have scan URLs
    assert 'data-testid="signatures"' not in html
    assert 'data-testid="signatures"' in text(client_for(world.admin_a).get(url, {"sign": "1"}))
    assert client_for(world.admin_b).get(url).status_code == 404
    assert client_for(world.outsider).get(url).status_code == 404
    assert client_for(world.bureau_admin).get(url).status_code == 200
    anonymous = client_for(None).get(url)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith(reverse("login"))


def test_record_print_of_a_model_without_scan_url_and_with_related_lists(world, client_for):
    building = world.a.building
    html = text(client_for(world.admin_a).get(reverse("core:building_print", args=[building.pk])))
    assert "楼栋信息表" in html and "<svg" not in html
    assert "<h2>房间</h2>" in html and world.a.rooms[0].name in html
    assert world.b.rooms[0].name not in html


def test_every_core_ui_prints(world, client_for):
    from houqin.core.ui import REGISTRY

    client = client_for(world.superuser)
    for label, ui in REGISTRY.items():
        if ui.app_label() != "core":
            continue
        assert client.get(reverse(ui.url_name("print_list"))).status_code == 200, label
        obj = ui.base_queryset(world.superuser).first()
        if obj is not None:
            assert client.get(reverse(ui.url_name("print"), args=[obj.pk])).status_code == 200, label


def test_print_links(world):
    room = world.a.rooms[0]
    assert views.print_links(RoomUI) == {"print_url": reverse("core:room_print_list"),
                                         "labels_url": reverse("core:room_labels")}
    assert views.print_links(RoomUI, room) == {"print_url": reverse("core:room_print", args=[room.pk]),
                                               "labels_url": reverse("core:room_label", args=[room.pk])}
    from houqin.core.views.models import CampusUI

    assert views.print_links(CampusUI)["labels_url"] is None


def test_label_sheet_query_count_does_not_grow_with_rows(world, client_for, django_assert_max_num_queries):
    many_rooms(world.a, 60)
    admin = client_for(world.admin_a)
    admin.get(reverse("core:room_labels"))  # warm the session and the access map
    with django_assert_max_num_queries(12):
        assert label_count(text(admin.get(reverse("core:room_labels")))) == 60 + len(world.a.rooms)


def test_record_sheet_query_count_does_not_grow_with_related_rows(world, client_for, django_assert_max_num_queries):
    many_rooms(world.a, 60)
    admin = client_for(world.admin_a)
    url = reverse("core:building_print", args=[world.a.building.pk])
    admin.get(url)
    with django_assert_max_num_queries(15):
        assert text(admin.get(url)).count("标签房间") == 60
