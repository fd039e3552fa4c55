"""The panels of a card's page ask for their rows only when the card has any (houqin.assets.panels.card_facts), and
the 照片与附件 tab of a record page loads its panel when it is opened."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from houqin.assets.models import AssetDamage, AssetDisposal, AssetLoan, AssetTransfer, StocktakeLine
from houqin.assets.panels import FACTS, card_facts
from houqin.assets.tests.factories import make_asset
from houqin.core import attachments
from houqin.core.testing import factory_for

pytestmark = pytest.mark.django_db

PANEL_TABLES = ("assets_assetloan", "assets_assettransfer", "assets_assetdamage", "assets_assetdisposalitem",
                "assets_stocktakeline")


def _card_of(fact: str, school):
    """A card with one row of ``fact`` (made by the models' registered test factories)."""
    if fact == "disposals":
        return factory_for(AssetDisposal).make(school, "处置面板").items.get().asset
    model = {"loans": AssetLoan, "transfers": AssetTransfer, "damages": AssetDamage, "counts": StocktakeLine}[fact]
    row = factory_for(model).make(school, f"{fact}面板")
    if fact == "counts":
        assert not card_facts(row.asset_id)["counts"]  # on the plan's list but not counted yet: nothing to show
        StocktakeLine.objects.filter(pk=row.pk).update(counted_at=timezone.now(), counted_by_name="盘点人")
    return row.asset


def test_a_card_without_history_has_no_facts(world):
    card = make_asset(world.a.org, name="新登记的投影仪")
    assert card_facts(card.pk) == {fact: False for fact, _, _ in FACTS}


@pytest.mark.parametrize("fact", [fact for fact, _, _ in FACTS])
def test_each_fact_is_true_once_the_card_has_such_a_row(world, fact):
    card = _card_of(fact, world.a)
    assert card_facts(card.pk)[fact] is True
    assert card_facts(make_asset(world.a.org, name="另一张卡片").pk)[fact] is False


def test_the_page_of_a_card_without_history_asks_one_query_for_all_panels(world, client_for):
    card = make_asset(world.a.org, name="新登记的投影仪")
    client = client_for(world.admin_a)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(reverse("assets:asset_detail", args=[card.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    for testid in ("card-custody", "card-damages", "card-disposals", "card-stocktake"):
        assert f'data-testid="{testid}"' not in html
    asking = [q["sql"] for q in ctx.captured_queries if any(table in q["sql"] for table in PANEL_TABLES)]
    assert len(asking) == 1 and asking[0].startswith("SELECT EXISTS"), asking


@pytest.mark.parametrize("fact, testid", [("loans", "card-custody"), ("transfers", "card-custody"),
                                          ("damages", "card-damages"), ("disposals", "card-disposals"),
                                          ("counts", "card-stocktake")])
def test_the_page_shows_the_panel_of_each_fact(world, client_for, fact, testid):
    card = _card_of(fact, world.a)
    html = client_for(world.admin_a).get(reverse("assets:asset_detail", args=[card.pk])).content.decode()
    assert f'data-testid="{testid}"' in html


def test_the_attachments_tab_loads_its_panel_when_opened(world, client_for):
    card = make_asset(world.a.org, name="新登记的投影仪")
    panel = attachments.panel_url(card)
    page = client_for(world.admin_a).get(reverse("assets:asset_detail", args=[card.pk])).content.decode()
    assert f'hx-get="{panel}"' in page and 'data-testid="attachment-upload"' not in page
    keeper_panel = client_for(world.head_a).get(panel).content.decode()
    assert 'data-testid="attachments-empty"' in keeper_panel and 'data-testid="attachment-upload"' in keeper_panel
    viewer_panel = client_for(world.admin_a).get(panel).content.decode()  # may view the card, not change it
    assert 'data-testid="attachments-empty"' in viewer_panel and "attachment-upload" not in viewer_panel
    assert client_for(world.teacher_a).get(panel).status_code == 404  # may not view cards
    assert client_for(world.admin_b).get(panel).status_code == 404  # another school
