"""What the panels of a card's page have to show, asked in one query.

Most cards have never been lent, transferred, damaged, put up for disposal or counted. Each panel of the card's
page (custody, damages, disposals, stocktake counts) would otherwise run its own query, through the ORM, only to
find nothing. ``card_facts`` asks all of them at once with ``EXISTS`` sub-selects on the card's foreign key
(indexed in every table); a panel runs its own query only when its fact is true. The facts are wider than the
panels' own filters (any row of the card, not only the ones a panel lists), so a panel may still come out empty,
but never hides a row.
"""

from __future__ import annotations

from functools import cache

from django.db import connection
from django.http import Http404

# (fact, model label, a field that must be set for the row to count, or None)
FACTS = (
    ("loans", "assets.AssetLoan", None),
    ("transfers", "assets.AssetTransfer", None),
    ("damages", "assets.AssetDamage", None),
    ("disposals", "assets.AssetDisposalItem", None),
    ("counts", "assets.StocktakeLine", "counted_at"),
)


@cache
def _sql() -> str:
    from django.apps import apps

    qn = connection.ops.quote_name
    parts = []
    for fact, label, set_field in FACTS:
        model = apps.get_model(label)
        where = f"{qn(model._meta.get_field('asset').column)} = %s"
        if set_field:
            where += f" AND {qn(model._meta.get_field(set_field).column)} IS NOT NULL"
        parts.append(f"EXISTS (SELECT 1 FROM {qn(model._meta.db_table)} WHERE {where}) AS {qn(fact)}")
    return "SELECT " + ", ".join(parts)


def card_facts(asset_id: int) -> dict[str, bool]:
    """{fact: whether the card has any such row} for FACTS, in one query."""
    with connection.cursor() as cursor:
        cursor.execute(_sql(), [asset_id] * len(FACTS))
        row = cursor.fetchone()
    return {fact: bool(value) for (fact, _, _), value in zip(FACTS, row, strict=True)}


def viewable_card(user, pk, *, select_related=(), only=()):
    """The card ``pk`` for a panel loaded into its page (analytics, history), if ``user`` may view it; else 404,
    the same for a card of another school as for no card at all."""
    from houqin.assets.models import Asset

    cards = Asset.objects.restrict(user, "view")
    cards = cards.select_related(*select_related) if select_related else cards
    card = (cards.only(*only) if only else cards).filter(pk=pk).first()
    if card is None:
        raise Http404("资产不存在或您无权查看。")
    return card
