"""Factories of the assets app, and their registration for the isolation matrix and the query budgets."""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.db import transaction

from houqin.assets import services
from houqin.assets.categories import national
from houqin.assets.choices import AssetEventCode
from houqin.assets.models import Asset, AssetCategory, AssetEvent
from houqin.assets.numbering import reserve_numbers
from houqin.core.testing import register_factory
from houqin.core.testing.factories import bulk_create_indexed

COMPUTERS = "2010100"


def make_asset(org, *, user=None, category: str | AssetCategory = COMPUTERS, name: str = "台式计算机",
               quantity: int = 1, unit_price: Decimal | str = "4980.00",
               acquired_on: datetime.date = datetime.date(2024, 9, 1), **fields) -> Asset:
    """Register one card through the real command (number, classification, register event)."""
    if not isinstance(category, AssetCategory):
        category = national(category)
    asset = Asset(org=org, category=category, name=name, quantity=quantity, unit_price=Decimal(unit_price),
                  acquired_on=acquired_on, **fields)
    return services.register_asset(asset, user)


def make_category(org, name: str = "学生机房电脑", *, parent: str = COMPUTERS, code: str = "2010100.01",
                  **fields) -> AssetCategory:
    parent_row = national(parent)
    fields.setdefault("default_life_years", parent_row.default_life_years)
    fields.setdefault("min_life_years", parent_row.min_life_years)
    return AssetCategory.objects.create(org=org, edition=parent_row.edition, parent=parent_row, code=code, name=name,
                                        **fields)


def bulk_assets(school, n: int) -> None:
    category = national(COMPUTERS)
    with transaction.atomic():
        numbers = reserve_numbers(school.org, n)
        rows = [Asset(org=school.org, number=number, category=category, name=f"批量资产{i:04d}", quantity=1,
                      unit_price=Decimal("4980.00"), original_value=Decimal("4980.00"),
                      acquired_on=datetime.date(2024, 9, 1), useful_life_years=6, room=school.rooms[0],
                      department=school.department, custodian=school.staff, registered_on=datetime.date(2024, 9, 1))
                for i, number in enumerate(numbers)]
        bulk_create_indexed(Asset, rows)


@register_factory(Asset, bulk=bulk_assets, list_persona="head_a")
def asset(school, label):
    return make_asset(school.org, name=label, room=school.rooms[0], department=school.department,
                      custodian=school.staff)


def bulk_categories(school, n: int) -> None:
    parent = national(COMPUTERS)
    bulk_create_indexed(AssetCategory, [
        AssetCategory(org=school.org, edition=parent.edition, parent=parent, code=f"{COMPUTERS}.{900 + i}",
                      name=f"批量分类{i:04d}", level=parent.level + 1, path=f"{parent.path}{COMPUTERS}.{900 + i}/",
                      default_life_years=6, min_life_years=6) for i in range(n)])


@register_factory(AssetCategory, bulk=bulk_categories, list_persona="head_a")
def asset_category(school, label):
    return make_category(school.org, label, code="2010100.99")


def bulk_events(school, n: int) -> None:
    card = make_asset(school.org, name="批量履历资产", room=school.rooms[0])
    AssetEvent.objects.bulk_create([
        AssetEvent(org=school.org, asset=card, code=AssetEventCode.COUNT, actor=school.staff,
                   actor_name=str(school.staff), note=f"批量盘点{i:04d}") for i in range(n)])


@register_factory(AssetEvent, bulk=bulk_events, list_persona="head_a")
def asset_event(school, label):
    card = make_asset(school.org, name="履历测试资产", room=school.rooms[0])
    return services.record_event(card, AssetEventCode.COUNT, school.staff, note=label)


# Each part of the app keeps its factories in a module of its own.
from houqin.assets.tests import factories_custody, factories_disposal, factories_stocktake  # noqa: E402,F401
