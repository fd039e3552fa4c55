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
from houqin.core.testing.pages import FRESH, built_afresh, keep_pages


def _card(world):
    room = world.a.rooms[0]
    return make_asset(world.a.org, name="投影仪", brand="爱普生", room=room, department=world.a.department,
                      custodian=world.a.staff)


def _pages(client, card) -> list[str]:
    return built_afresh(client, [reverse("assets:asset_detail", args=[card.pk]),
                                 reverse("scan", args=["a", qr.token_for(card)])])


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


@pytest.mark.django_db
def test_the_card_read_by_key_holds_what_the_orm_reads(world):
    """The card page reads its card through a statement compiled once (houqin.core.db.read_row): every column comes
    back with the type and value the ORM gives it (amounts, dates, yes/no, choices, empty ones), and a key with no
    card reads nothing."""
    import datetime
    from decimal import Decimal

    from houqin.assets.models import Asset
    from houqin.core.db import read_row

    card = _card(world)
    Asset.objects.filter(pk=card.pk).update(serial_no="SN-001", area_m2=Decimal("12.50"), is_batch=True,
                                            warranty_until=datetime.date(2027, 8, 31), note="第一行\n第二行")
    read, orm = read_row(Asset, card.pk), Asset.objects.get(pk=card.pk)
    for field in Asset._meta.concrete_fields:
        value = getattr(read, field.attname)
        assert value == getattr(orm, field.attname), field.name
        assert type(value) is type(getattr(orm, field.attname)), field.name
    assert read.area_m2 == Decimal("12.50") and read.is_batch is True and read.custodian_id == world.a.staff.pk
    assert read._state.adding is False and read._state.db == "default"
    assert read_row(Asset, card.pk + 10_000) is None
    read_row(Asset, card.pk).name = "改过的名称"  # each read is its own instance
    assert read_row(Asset, card.pk).name == "投影仪"


@pytest.mark.django_db
def test_the_card_page_read_by_key_is_found_only_where_the_list_would_show_it(world, settings, monkeypatch):
    """With kept rows on, the card page reads its card by key and checks the school on the row: the same answer as
    the school-restricted query, for the card's school, the bureau, a teacher, another school and a superuser; a
    key with no card is 404."""
    from houqin.assets.models import Asset
    from houqin.core.testing.factories import make_user

    keep_pages(settings, monkeypatch)
    card = _card(world)
    url = reverse("assets:asset_detail", args=[card.pk])
    root = make_user("root_kept", full_name="系统管理员", is_superuser=True)
    answers = {}
    for user in (world.admin_a, world.head_a, world.teacher_a, world.admin_b, world.bureau_admin, root):
        client = Client()
        client.force_login(user)
        seen = Asset.objects.restrict(user, "view").filter(pk=card.pk).exists()
        answers[user.username] = client.get(url, headers=FRESH).status_code
        assert answers[user.username] == (200 if seen else 404), user.username
    assert answers[world.admin_a.username] == 200 and answers[world.admin_b.username] == 404
    assert answers[root.username] == 200
    client = Client()
    client.force_login(world.admin_a)
    assert client.get(reverse("assets:asset_detail", args=[card.pk + 10_000]), headers=FRESH).status_code == 404
