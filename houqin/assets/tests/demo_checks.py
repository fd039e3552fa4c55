"""Demo checks (run by houqin/core/tests/test_demo.py after the whole demo; its second run proves idempotence):
the demo register: realistic, valid by the app's own rules."""

from __future__ import annotations

import datetime

from django.db import transaction

from houqin.assets.choices import AssetClass, AssetStatus
from houqin.assets.depreciation import monthly_table
from houqin.assets.models import Asset
from houqin.assets.numbering import parse_number
from houqin.assets.tests.factories import make_asset
from houqin.core.demo import ORG_CODES, PRIMARY
from houqin.core.models import DocumentSequence, Organization


def check_register():
    school = Organization.objects.get(code=ORG_CODES[PRIMARY])
    cards = list(Asset.objects.filter(org=school).select_related("category", "org"))
    assert len(cards) > 1500
    statuses = {c.status for c in cards}
    assert {AssetStatus.IN_USE, AssetStatus.IDLE, AssetStatus.DISPOSED, AssetStatus.LOST} <= statuses
    assert {c.asset_class for c in cards} == {AssetClass.FIXED, AssetClass.LOW_VALUE}
    years = {c.acquired_on.year for c in cards}
    assert min(years) <= 2012 and max(years) <= datetime.date.today().year
    for card in cards:  # valid by the rules a registration checks
        assert card.original_value == card.quantity * card.unit_price, card
        if card.asset_class == AssetClass.FIXED and card.category.is_depreciable:
            assert card.useful_life_years >= (card.min_life() or 0), card
        assert (card.status == AssetStatus.DISPOSED) == (card.disposed_on is not None), card
    # The counters are past the demo's numbers: a new card continues the sequence.
    last_2015 = max(parse_number(c.number)[1] for c in cards if c.number.startswith("ZC-2015-"))
    assert DocumentSequence.objects.get(org=school, doc_type="ZC", period="2015").last_value == last_2015
    with transaction.atomic():
        new = make_asset(school, name="新登记的电脑")
    seq = parse_number(new.number)
    this_year = [parse_number(c.number)[1] for c in cards if parse_number(c.number)[0] == seq[0]]
    assert seq[1] == max(this_year, default=0) + 1
    table = monthly_table(school, datetime.date(2026, 9, 1), "both")
    assert table.total.count > 500 and table.total.monthly > 0 and len(table.rows) > 10
