"""The card page and the phone page behind its QR code take the card's school, category, department, room and
custodian from the rows kept per data version (``AssetUI.kept_relations``) instead of joining them into the card's
query: the pages are the same as with everything joined, and a change to one of those rows shows at once.

The test of a change commits (``transaction=True``): PostgreSQL raises the data version after a commit."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from houqin.assets.tests.factories import make_asset
from houqin.core import pagecache, qr
from houqin.core.models import Room
from houqin.core.testing.pages import keep_pages, without_tokens

FRESH = {"Cache-Control": "no-cache"}


def _card(world):
    room = world.a.rooms[0]
    return make_asset(world.a.org, name="投影仪", brand="爱普生", room=room, department=world.a.department,
                      custodian=world.a.staff)


def _pages(client, card) -> list[str]:
    urls = [reverse("assets:asset_detail", args=[card.pk]), reverse("scan", args=["a", qr.token_for(card)])]
    pages = []
    for url in urls:
        response = client.get(url, headers=FRESH)
        assert response.status_code == 200, url
        pages.append(without_tokens(response))
    return pages


@pytest.mark.django_db
def test_the_pages_are_the_same_as_with_everything_joined(world, settings, monkeypatch):
    card = _card(world)
    client = Client()
    client.force_login(world.admin_a)
    joined = _pages(client, card)  # keeping off (the tests' default): one query joins every related row
    keep_pages(settings, monkeypatch)
    _pages(client, card)  # reads the kept rows
    kept = _pages(client, card)  # served from them
    assert kept == joined
    assert world.a.rooms[0].name in kept[0] and world.a.rooms[0].name in kept[1]


@pytest.mark.django_db(transaction=True)
def test_a_renamed_room_shows_at_once(world, settings, monkeypatch):
    keep_pages(settings, monkeypatch)
    card = _card(world)
    client = Client()
    client.force_login(world.admin_a)
    _pages(client, card)
    Room.objects.filter(pk=world.a.rooms[0].pk).update(name="改名后的多媒体教室")
    detail, scan = _pages(client, card)
    assert "改名后的多媒体教室" in detail and "改名后的多媒体教室" in scan


@pytest.mark.django_db
def test_a_card_of_another_school_is_still_not_found(world, settings, monkeypatch):
    keep_pages(settings, monkeypatch)
    card = _card(world)
    client = Client()
    client.force_login(world.admin_b)
    assert client.get(reverse("assets:asset_detail", args=[card.pk]), headers=FRESH).status_code == 404
    assert pagecache.HEADER not in client.get(reverse("assets:asset_detail", args=[card.pk]))


@pytest.mark.django_db(transaction=True)
def test_a_plan_that_starts_counting_shows_on_the_card_at_once(world, settings, monkeypatch):
    """The schools counting are kept per data version: starting a plan is a write, so the card's 盘点 button and
    its "尚未盘到" line appear at the next request."""
    from houqin.assets.tests.factories_stocktake import started_stocktake
    from houqin.core.testing.factories import make_user

    keep_pages(settings, monkeypatch)
    card = _card(world)
    keeper = make_user("keeper_kept", full_name="甲校资产管理员", org=world.a.org, roles=("asset_keeper",))
    client = Client()
    client.force_login(keeper)
    url = reverse("assets:asset_detail", args=[card.pk])
    before = client.get(url).content.decode()
    assert "尚未盘到" not in before and reverse("assets:stocktake_card", args=[card.pk]) not in before
    stocktake = started_stocktake(world.a.org, keeper, rooms=world.a.rooms)
    after = client.get(url).content.decode()
    assert "尚未盘到" in after and stocktake.number in after
    assert reverse("assets:stocktake_card", args=[card.pk]) in after


@pytest.mark.django_db(transaction=True)
def test_the_qr_page_shows_a_new_photo_at_once(world, settings, monkeypatch, tmp_path):
    """Which cards of a school have a photo is kept per data version: the QR page of a card without one asks
    nothing more, and a photo added (a write) shows at the next request."""
    import io

    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image

    from houqin.core.attachments import attach

    settings.HOUQIN_ATTACHMENTS_DIR = str(tmp_path)
    keep_pages(settings, monkeypatch)
    card, other = _card(world), _card(world)
    client = Client()
    client.force_login(world.head_a)
    scan = reverse("scan", args=["a", qr.token_for(card)])
    assert 'data-testid="scan-photo"' not in client.get(scan).content.decode()
    buffer = io.BytesIO()
    Image.new("RGB", (60, 40), (20, 120, 200)).save(buffer, format="PNG")
    photo = attach(card, [SimpleUploadedFile("投影仪.png", buffer.getvalue(), content_type="image/png")],
                   user=world.head_a)[0]
    thumb = reverse("attachments:thumb", args=[photo.pk])
    page = client.get(scan).content.decode()
    assert 'data-testid="scan-photo"' in page and thumb in page
    other_page = client.get(reverse("scan", args=["a", qr.token_for(other)])).content.decode()
    assert 'data-testid="scan-photo"' not in other_page
