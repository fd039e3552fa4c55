"""Asset label sheets and card print sheets (core's printing, houqin.assets.scan_views): what a label holds, every
layout, the filtered list, one card, sizes in millimetres, tenancy and the cost of a large sheet."""

from __future__ import annotations

import datetime
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from houqin.assets.categories import national
from houqin.assets.models import Asset
from houqin.assets.numbering import reserve_numbers
from houqin.assets.tests.factories import make_asset
from houqin.core import printing, qr
from houqin.core.testing.factories import bulk_create_indexed

pytestmark = pytest.mark.django_db
LABELS = "assets:asset_labels"


def text(response) -> str:
    return response.content.decode()


def label_blocks(html: str) -> list[str]:
    return re.findall(r'<div class="label">.*?</div>\s*</div>\s*</div>', html, flags=re.S)


def label_count(html: str) -> int:
    return len(re.findall(r'<div class="label">', html))


def sheets(html: str) -> list[str]:
    return re.findall(r'<section class="sheet[^"]*".*?</section>', html, flags=re.S)


def many_cards(school, n: int, *, room=None, prefix: str = "标签资产") -> None:
    category = national("2010100")
    with_room = room or school.rooms[0]
    numbers = reserve_numbers(school.org, n)
    bulk_create_indexed(Asset, [
        Asset(org=school.org, number=number, category=category, name=f"{prefix}{i:04d}", model="M590", quantity=1,
              unit_price=Decimal("4980.00"), original_value=Decimal("4980.00"), acquired_on=datetime.date(2024, 9, 1),
              useful_life_years=6, room=with_room, department=school.department,
              registered_on=datetime.date(2024, 9, 1))
        for i, number in enumerate(numbers)])


@pytest.fixture
def card(world):
    return make_asset(world.a.org, name="甲校多媒体一体机", model="SC-86", room=world.a.rooms[0],
                      acquired_on=datetime.date(2023, 3, 15))


def test_a_label_holds_school_number_name_and_the_scan_qr(world, client_for, card):
    response = client_for(world.head_a).get(reverse("assets:asset_label", args=[card.pk]))
    html = text(response)
    assert response.status_code == 200 and label_count(html) == 1
    block = label_blocks(html)[0]
    assert f'<div class="label-title">{world.a.org.name}</div>' in block
    # The number is never cut: it shrinks to fit its label (assets/labels/sheet.html; checked in Chromium).
    assert (f'<div class="label-code label-code-fit" style="--code-len:{len(card.number)}" title="{card.number}">'
            f"{card.number}</div>") in block
    assert '<div class="label-name" title="甲校多媒体一体机">甲校多媒体一体机</div>' in block
    assert "SC-86 · 2023-03-15取得" in block
    assert block.count("<svg") == 1
    # The QR code is the card's scan URL, drawn by core (cached per URL).
    url = qr.scan_url_for(response.wsgi_request, card)
    assert f"/q/a/{qr.token_for(card)}/" in url
    assert printing.prepare_labels([{"url": url}])[0]["qr"] in block
    # Nothing that changes with a transfer is printed: location and custodian are behind the QR code.
    assert world.a.rooms[0].name not in block


@pytest.mark.parametrize("layout", sorted(printing.LAYOUTS))
def test_every_layout_puts_its_number_of_labels_on_a_page(world, client_for, layout):
    many_cards(world.a, 45)
    chosen = printing.LAYOUTS[layout]
    html = text(client_for(world.head_a).get(reverse(LABELS), {"layout": layout}))
    pages = sheets(html)
    assert label_count(html) == 45
    assert len(pages) == -(-45 // chosen.per_page)
    assert all(label_count(p) == chosen.per_page for p in pages[:-1])
    # Sized in millimetres: the sheet carries the layout's geometry, the paper is an @page rule of labels.css.
    for page in pages:
        assert f'data-layout="{layout}"' in page and f"sheet-{chosen.page}" in page
        assert f"--label-w:{chosen.label_w}mm;--label-h:{chosen.label_h}mm" in page
        assert f"--page-w:{chosen.page_w}mm;--page-h:{chosen.page_h}mm" in page


def test_the_label_printer_rolls_and_a4_grids_are_offered(world, client_for, card):
    assert {"roll-50x30", "roll-40x30", "a4-3x8", "a4-2x5", "a4-4x10", "a4-3x7"} <= set(printing.LAYOUTS)
    roll = printing.LAYOUTS["roll-50x30"]
    assert (roll.page_w, roll.page_h, roll.per_page) == (50, 30, 1) and roll.qr_mm >= 20
    small = printing.LAYOUTS["roll-40x30"]
    assert (small.page_w, small.page_h) == (40, 30) and 15 <= small.qr_mm <= 19
    sheet = printing.LAYOUTS["a4-3x7"]
    assert (sheet.cols, sheet.rows, sheet.label_w, sheet.label_h) == (3, 7, 63.5, 38.1)
    assert (sheet.margin_left, sheet.margin_top) == (7.25, 15.15)  # where the common 21-label sheets are cut
    html = text(client_for(world.head_a).get(reverse("assets:asset_label", args=[card.pk]), {"layout": "roll-40x30"}))
    assert "纸张尺寸选 40×30 mm" in html and len(sheets(html)) == 1


def test_labels_of_the_filtered_list_one_room(world, client_for):
    lab = world.a.rooms[1]
    many_cards(world.a, 5, room=world.a.rooms[0], prefix="教室资产")
    many_cards(world.a, 3, room=lab, prefix="办公室资产")
    html = text(client_for(world.head_a).get(reverse(LABELS), {"room": lab.pk, "layout": "a4-3x8", "cut": "1"}))
    assert label_count(html) == 3 and "办公室资产" in html and "教室资产" not in html
    assert "with-cut-lines" in html
    assert f'name="room" value="{lab.pk}"' in html  # the toolbar resubmits the list's filter


def test_labels_never_show_another_school(world, client_for):
    many_cards(world.a, 2, prefix="甲校标签")
    many_cards(world.b, 2, prefix="乙校标签")
    head = client_for(world.head_a)
    for query in ({}, {"org": world.b.org.pk}, {"room": world.b.rooms[0].pk}, {"q": "乙校"}):
        html = text(head.get(reverse(LABELS), query))
        assert "乙校标签" not in html and world.b.org.name not in html, query
    b_card = Asset.objects.filter(org=world.b.org).first()
    assert head.get(reverse("assets:asset_label", args=[b_card.pk])).status_code == 404
    # The bureau prints both schools' labels, each with its own school's name.
    html = text(client_for(world.bureau_admin).get(reverse(LABELS)))
    assert label_count(html) == 4 and world.a.org.name in html and world.b.org.name in html


def test_who_may_not_read_cards_prints_no_labels(world, client_for, card):
    assert client_for(world.teacher_a).get(reverse(LABELS)).status_code == 403
    assert client_for(world.teacher_a).get(reverse("assets:asset_label", args=[card.pk])).status_code == 404
    response = client_for(None).get(reverse(LABELS))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_more_than_the_limit_prints_nothing_and_says_why(world, client_for, monkeypatch):
    monkeypatch.setattr(printing, "MAX_LABELS", 3)
    many_cards(world.a, 4)
    html = text(client_for(world.head_a).get(reverse(LABELS)))
    assert label_count(html) == 0 and "超过 3 张标签（单次打印上限），请缩小筛选范围后分批打印。" in html


def test_a_cards_record_sheet_carries_its_qr(world, client_for, card):
    response = client_for(world.head_a).get(reverse("assets:asset_print", args=[card.pk]), {"sign": "1"})
    html = text(response)
    assert response.status_code == 200
    assert card.number in html and "甲校多媒体一体机" in html and world.a.org.name in html
    assert html.count("<svg") == 1 and "扫码查看" in html and 'data-testid="signatures"' in html
    assert client_for(world.admin_b).get(reverse("assets:asset_print", args=[card.pk])).status_code == 404


def test_the_list_sheet_is_the_filtered_list(world, client_for):
    many_cards(world.a, 2, room=world.a.rooms[1], prefix="办公室资产")
    many_cards(world.a, 2, room=world.a.rooms[0], prefix="教室资产")
    html = text(client_for(world.head_a).get(reverse("assets:asset_print_list"), {"room": world.a.rooms[1].pk}))
    assert "办公室资产" in html and "教室资产" not in html and "资产卡片清单" in html


def test_a_sheet_costs_the_same_queries_for_10_or_100_labels(world, client_for, monkeypatch):
    monkeypatch.setattr(printing, "_cached_svg", lambda url: "<svg></svg>")
    head = client_for(world.head_a)
    many_cards(world.a, 10)
    head.get(reverse(LABELS))
    with CaptureQueriesContext(connection) as small:
        assert label_count(text(head.get(reverse(LABELS)))) == 10
    many_cards(world.a, 90)
    with CaptureQueriesContext(connection) as large:
        assert label_count(text(head.get(reverse(LABELS)))) == 100
    assert len(large.captured_queries) == len(small.captured_queries)


def test_a_2000_label_sheet_draws_each_code_once_and_asks_what_a_small_sheet_asks(world, client_for, monkeypatch):
    """The largest sheet (printing.MAX_LABELS): 84 A4 pages, one drawing per label (core caches each code per URL;
    drawing costs are measured in docs/assets-labels.md), and the queries of a 10-label sheet: nothing per row."""
    drawn = []

    def fake_svg(url):
        drawn.append(url)
        return '<svg viewBox="0 0 33 33"><path d="M2 2h1"/></svg>'

    monkeypatch.setattr(printing, "_cached_svg", fake_svg)
    head = client_for(world.head_a)
    many_cards(world.a, 10)
    with CaptureQueriesContext(connection) as small:
        assert label_count(text(head.get(reverse(LABELS), {"layout": "a4-3x8"}))) == 10
    many_cards(world.a, printing.MAX_LABELS - 10)
    drawn.clear()
    with CaptureQueriesContext(connection) as large:
        html = text(head.get(reverse(LABELS), {"layout": "a4-3x8"}))
    assert label_count(html) == 2000 and len(sheets(html)) == 84
    assert len(drawn) == 2000 and len(set(drawn)) == 2000
    assert len(large.captured_queries) == len(small.captured_queries)
