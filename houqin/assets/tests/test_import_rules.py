"""The asset importer's fast paths give what the slow ones give: its ``clean_instance`` the outcome of
``Asset.clean()``, its 登记 event JSON the text of ``history``'s facts, ``quick_check`` the verdict of each model
field's ``clean()``; and the batch's change-log entry names every card it created."""

from __future__ import annotations

import copy
import datetime
import json
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from houqin.assets import history
from houqin.assets.categories import national
from houqin.assets.conf import capitalisation_threshold
from houqin.assets.importers import AssetImporter
from houqin.assets.models import Asset, AssetEvent
from houqin.assets.tests.factories import make_category
from houqin.core import context
from houqin.core.importing import commit, load_data
from houqin.core.importing.bulk import bulk_create_logged
from houqin.core.importing.values import quick_check
from houqin.core.models import ChangeLogEntry

pytestmark = pytest.mark.django_db


def importer_for(world) -> AssetImporter:
    importer = AssetImporter(world.head_a, world.a.org)
    importer.today = timezone.localdate()
    importer.threshold = capitalisation_threshold(world.a.org)
    return importer


def new_card(world, **fields) -> Asset:
    values = {"org": world.a.org, "category": national("2010100"), "name": "台式计算机", "quantity": 1,
              "unit_price": Decimal("4980.00"), "acquired_on": datetime.date(2024, 9, 1), "room": world.a.rooms[0],
              "department": world.a.department, **fields}
    card = Asset(**values)
    card._custodian_org_id = world.a.org.pk  # as the importer marks a custodian found among the school's members
    return card


def outcome(clean, card) -> tuple:
    try:
        clean(card)
        errors = {}
    except ValidationError as exc:
        errors = exc.message_dict
    return errors, card.original_value, card.asset_class, card.useful_life_years


CASES = {
    "a computer": {},
    "a cheap item, low value": {"unit_price": Decimal("12.50"), "category": "2020200"},
    "a batch of desks": {"category": "6010000.01", "quantity": 40, "unit_price": Decimal("268.00"),
                         "is_batch": True},
    "acquired tomorrow": {"acquired_on": "tomorrow"},
    "useful life below the minimum": {"useful_life_years": 1},
    "a useful life given": {"useful_life_years": 9},
    "a warranty ending before acquisition": {"warranty_until": datetime.date(2020, 1, 1)},
    "a structure on a computer": {"structure": "brick_concrete"},
    "another school's room": {"room": "other"},
    "another school's department": {"department": "other"},
    "another school's category": {"category": "other"},
    "an inactive category": {"category": "inactive"},
    "a custodian of the school": {"custodian": "staff"},
}


@pytest.mark.parametrize("case", list(CASES))
def test_clean_instance_gives_what_asset_clean_gives(world, case):
    fields = dict(CASES[case])
    if fields.get("acquired_on") == "tomorrow":
        fields["acquired_on"] = timezone.localdate() + datetime.timedelta(days=1)
    if fields.get("room") == "other":
        fields["room"] = world.b.rooms[0]
    if fields.get("department") == "other":
        fields["department"] = world.b.department
    if fields.get("custodian") == "staff":
        fields["custodian"] = world.a.staff
    category = fields.get("category")
    if category == "other":
        fields["category"] = make_category(world.b.org)
    elif category == "inactive":
        fields["category"] = make_category(world.a.org, is_active=False)
    elif isinstance(category, str):
        fields["category"] = national(category)
    card = new_card(world, **fields)
    twin = copy.deepcopy(card)
    expected = outcome(Asset.clean, card)
    assert outcome(importer_for(world).clean_instance, twin) == expected
    if case == "a computer":
        assert expected[0] == {} and expected[1] == Decimal("4980.00") and expected[3]
    if case == "acquired tomorrow":
        assert expected[0] == {"acquired_on": ["取得日期不能晚于今天。"]}


def test_a_custodian_not_checked_by_the_importer_goes_through_asset_clean(world):
    card = new_card(world, custodian=world.b.staff)
    del card._custodian_org_id
    with pytest.raises(ValidationError) as refused:
        importer_for(world).clean_instance(card)
    assert refused.value.message_dict == {"custodian": ["保管人必须是本校人员。"]}


def test_the_register_event_json_is_the_history_facts(world):
    importer = importer_for(world)
    cards = [new_card(world, custodian=world.a.staff, note="备注"),
             new_card(world, category=national("6010000.01"), name="课桌椅 \"升降\"", quantity=40, unit="套",
                      unit_price=Decimal("268.5"), is_batch=True, room=None, department=None),
             new_card(world, name="Ünïcode ☃", useful_life_years=9, status="idle"),
             # The same item again, each time with one value of a run changed: its own facts, not the first's.
             new_card(world, custodian=None, note="备注"), new_card(world, custodian=world.a.staff, unit="套"),
             new_card(world, custodian=world.a.staff, unit_price=Decimal("4980.01")),
             new_card(world, custodian=world.a.staff, room=None), new_card(world, custodian=world.a.staff, quantity=2)]
    for card in cards:
        Asset.clean(card)
        text = importer.registered_facts_json(card)
        assert text == json.dumps(importer.registered_facts(card))
        assert json.loads(text) == history.diff({}, history.snapshot(card))


def test_the_register_event_json_of_a_card_with_deferred_fields(world):
    """A card read with some fields deferred (not in its ``__dict__``) gets the same text as a whole one."""
    card = new_card(world, custodian=world.a.staff)
    Asset.clean(card)
    card.number = "ZC-DEFER-1"
    card.save()
    importer = importer_for(world)
    for read in (Asset.objects.defer("acquired_on", "unit").get(pk=card.pk), Asset.objects.get(pk=card.pk)):
        assert importer.registered_facts_json(read) == json.dumps(importer.registered_facts(read))


@pytest.mark.parametrize("name, value, quick", [
    ("name", "台式计算机", True), ("name", "长" * 101, False), ("name", "a\x00b", False), ("name", 12, False),
    ("quantity", 40, True), ("quantity", 0, False), ("quantity", -1, False), ("quantity", "40", False),
    ("unit_price", Decimal("4980.00"), True), ("unit_price", Decimal("-1"), False),
    ("unit_price", Decimal("1.001"), False), ("unit_price", Decimal("123456789012345.5"), False),
    ("unit_price", 4980.0, False), ("acquired_on", datetime.date(2024, 9, 1), True),
    ("acquired_on", datetime.datetime(2024, 9, 1, 8), False), ("acquisition_method", "purchase", True),
    ("acquisition_method", "stolen", False), ("status", "idle", True), ("is_batch", True, True),
    ("useful_life_years", 6, True), ("useful_life_years", 70_000, False),
])
def test_quick_check_agrees_with_the_field_clean(world, name, value, quick):
    """A value the quick test passes is one the field's clean accepts and gives back as it is; ``quick``: a plain
    valid value passes it (the others are left to the field's clean, which refuses or converts them)."""
    field = Asset._meta.get_field(name)
    check = quick_check(field)
    assert check is not None
    try:
        cleaned = field.clean(value, new_card(world))
        valid = True
    except ValidationError:
        valid = False
    if check(value):  # "surely valid": the field's clean accepts it and gives it back as it is
        assert valid and cleaned == value and cleaned.__class__ is value.__class__
    assert check(value) or not quick


def test_a_batch_change_log_entry_names_every_card(world):
    cards = [new_card(world, number=f"T-{n}") for n in range(3)]
    for card in cards:
        Asset.clean(card)
    with context.acting_as(world.head_a, org_id=world.a.org.pk):
        bulk_create_logged(cards, key_field="number", log_batch="导入登记 3 张资产卡片：T-0 等")
    entry = ChangeLogEntry.objects.get(content_type__model="asset")
    assert (entry.action, entry.user, entry.org, entry.object_id) == ("create", world.head_a, world.a.org, "")
    assert entry.object_repr == "导入登记 3 张资产卡片：T-0 等"
    assert entry.after == {"条数": 3, "id": [c.pk for c in cards], "number": ["T-0", "T-1", "T-2"]}
    assert all(c.pk for c in cards) and Asset.objects.filter(number__startswith="T-").count() == 3


def test_two_batches_read_back_their_own_cards(world, tmp_path, monkeypatch):
    from houqin.assets.tests.test_import_scale import write_register

    monkeypatch.setattr(AssetImporter, "batch_size", 7)
    path = tmp_path / "register.xlsx"
    write_register(path, 20, world.a)
    result = commit(AssetImporter, load_data(path, ".xlsx", AssetImporter.fields), world.head_a, world.a.org)
    assert result.committed and result.created == 20, result.errors[:3]
    cards = Asset.objects.filter(org=world.a.org)
    events = AssetEvent.objects.filter(org=world.a.org, note="导入登记")
    assert sorted(e.asset_id for e in events) == sorted(c.pk for c in cards)
    assert all(e.changes["name"][1] == e.asset.name for e in events)
    entries = ChangeLogEntry.objects.filter(content_type__model="asset", action="create")
    assert sorted(n for e in entries for n in e.after["number"]) == sorted(c.number for c in cards)
    assert sorted(i for e in entries for i in e.after["id"]) == sorted(c.pk for c in cards)
