"""Registering cards: numbers, derived values, classification, the history ledger."""

from __future__ import annotations

import datetime
import threading
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from houqin.assets import services
from houqin.assets.categories import national
from houqin.assets.choices import AssetClass, AssetEventCode, AssetStatus
from houqin.assets.models import Asset, AssetEvent
from houqin.assets.numbering import advance_to, reserve_numbers
from houqin.assets.tests.factories import make_asset
from houqin.core.context import acting_as
from houqin.core.models import ChangeLogEntry, DocumentSequence

pytestmark = pytest.mark.django_db
YEAR = timezone.localdate().year


def test_register_numbers_are_consecutive_and_a_failure_gives_its_number_back(world):
    org = world.a.org
    first = make_asset(org)
    second = make_asset(org)
    assert (first.number, second.number) == (f"ZC-{YEAR}-00001", f"ZC-{YEAR}-00002")
    # A registration that fails after the number was taken rolls back with its number.
    with pytest.raises(RuntimeError), transaction.atomic():
        make_asset(org)
        raise RuntimeError("e.g. the attachment upload failed")
    # A refused card takes no number at all.
    with pytest.raises(ValidationError):
        make_asset(org, useful_life_years=1)
    assert make_asset(org).number == f"ZC-{YEAR}-00003"
    # Numbers are per school: school B starts at 1.
    assert make_asset(world.b.org).number == f"ZC-{YEAR}-00001"
    assert Asset.objects.filter(org=org).count() == 3


def test_register_writes_the_card_and_its_event_in_one_go(world):
    with acting_as(world.head_a):
        card = make_asset(world.a.org, user=world.head_a, name="课桌椅", category="6010000.01", quantity=40,
                          unit_price="268.50", unit="套", room=world.a.rooms[0], department=world.a.department)
    card.refresh_from_db()
    assert card.original_value == Decimal("10740.00")  # 40 × 268.50
    assert card.status == AssetStatus.IN_USE and card.registered_on == timezone.localdate()
    assert card.is_batch  # 40 sets of a batch category: a batch of like items even when not ticked
    event = card.events.get()
    assert (event.code, event.actor, event.actor_name, event.status_after) == (
        AssetEventCode.REGISTER, world.head_a, "甲校总务主任", AssetStatus.IN_USE)
    assert event.changes["quantity"] == [None, 40]
    assert event.changes["original_value"] == [None, "10740.00"]
    assert event.changes["room"] == [None, {"id": world.a.rooms[0].pk, "name": str(world.a.rooms[0])}]
    assert "数量：40" in event.changes_display and "存放地点：" in event.changes_display
    # The card itself is in the change log like any row, by the same user.
    assert ChangeLogEntry.objects.filter(object_id=str(card.pk), action="create", user=world.head_a).exists()


def test_original_value_is_always_quantity_times_price(world):
    card = make_asset(world.a.org, quantity=3, unit_price="1999.99")
    assert card.original_value == Decimal("5999.97")
    card.original_value = Decimal("1.00")
    card.full_clean()  # the value is derived again, whatever was set
    assert card.original_value == Decimal("5999.97")
    # The database refuses a row that breaks the rule, whichever way it is written.
    from django.db import IntegrityError

    with pytest.raises(IntegrityError), transaction.atomic():
        Asset.objects.filter(pk=card.pk).update(original_value=Decimal("100.00"))


@pytest.mark.parametrize(("category", "price", "batch", "expected"), [
    ("2010100", "4980.00", False, AssetClass.FIXED),       # unit price over the threshold
    ("2010100", "1000.00", False, AssetClass.FIXED),       # at the threshold
    ("2010100", "999.99", False, AssetClass.LOW_VALUE),    # below it
    ("6010000.01", "268.00", True, AssetClass.FIXED),      # a batch of like items counts
    ("6010000.01", "268.00", False, AssetClass.LOW_VALUE), # one desk on its own does not
    ("5010000", "25.00", False, AssetClass.FIXED),         # books: always fixed assets
    ("1010000", "1.00", False, AssetClass.FIXED),          # land at nominal value
])
def test_capitalisation(world, category, price, batch, expected):
    card = make_asset(world.a.org, category=category, unit_price=price, is_batch=batch, name="测试")
    assert card.asset_class == expected


def test_school_threshold_setting(world):
    org = world.a.org
    org.settings = {"assets": {"capitalisation_threshold": "1500"}}
    org.save()
    assert make_asset(org, unit_price="1200.00").asset_class == AssetClass.LOW_VALUE
    org.settings = {"assets.capitalisation_threshold": 800}
    org.save()
    assert make_asset(org, unit_price="900.00").asset_class == AssetClass.FIXED
    # A low-value card has no useful life: it is not depreciated.
    low = make_asset(world.b.org, unit_price="300.00")
    assert (low.asset_class, low.useful_life_years) == (AssetClass.LOW_VALUE, None)


def test_registration_checks_the_school_of_every_row(world):
    with pytest.raises(ValidationError) as exc:
        make_asset(world.a.org, room=world.b.rooms[0], department=world.b.department, custodian=world.b.staff)
    errors = exc.value.message_dict
    assert errors["room"] == ["必须属于本校。"] and errors["department"] == ["必须属于本校。"]
    assert errors["custodian"] == ["保管人必须是本校人员。"]
    with pytest.raises(ValidationError) as exc:
        make_asset(world.a.org, acquired_on=timezone.localdate() + datetime.timedelta(days=1))
    assert exc.value.message_dict["acquired_on"] == ["取得日期不能晚于今天。"]
    assert not Asset.objects.exists()


def test_disposed_is_not_a_starting_status(world):
    with pytest.raises(ValidationError) as exc:
        services.register_asset(Asset(org=world.a.org, category=national("2010100"), name="x", unit_price=1,
                                      acquired_on=datetime.date(2024, 1, 1)), status=AssetStatus.DISPOSED)
    assert exc.value.message_dict["status"] == ["新登记的资产不能是“已处置”状态。"]


def test_events_are_append_only(world):
    card = make_asset(world.a.org)
    event = card.events.get()
    event.note = "改写"
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()
    with pytest.raises(PermissionError):
        AssetEvent.objects.filter(pk=event.pk).update(note="改写")
    with pytest.raises(PermissionError):
        AssetEvent.objects.filter(pk=event.pk).delete()
    # A correction is a new, reversing entry.
    reversal = services.record_event(card, AssetEventCode.REVERSE, world.head_a, reverses=event, note="登记有误")
    assert reversal.reverses == event and card.events.count() == 2


def test_reserved_blocks_and_imported_numbers_keep_the_sequence_gap_free(world):
    org = world.a.org
    make_asset(org)
    with transaction.atomic():
        block = reserve_numbers(org, 3)
    assert block == [f"ZC-{YEAR}-{n:05d}" for n in (2, 3, 4)]
    # A card imported with a number of this system's format moves the counter past it.
    services.register_asset(Asset(org=org, category=national("2010100"), name="导入的卡片", unit_price=5000,
                                  acquired_on=datetime.date(2024, 1, 1)), number=f"ZC-{YEAR}-00010")
    assert make_asset(org).number == f"ZC-{YEAR}-00011"
    with transaction.atomic():
        assert advance_to(org, YEAR, 5) == 11  # never backwards
    with pytest.raises(ValidationError):
        services.register_asset(Asset(org=org, category=national("2010100"), name="重号", unit_price=5000,
                                      acquired_on=datetime.date(2024, 1, 1)), number=f"ZC-{YEAR}-00010")
    seq = DocumentSequence.objects.get(org=org, doc_type="ZC", period=str(YEAR))
    assert seq.last_value == 11


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_concurrent_registrations_get_distinct_consecutive_numbers():
    from houqin.core.testing.world import build_world

    world = build_world()
    org_id, errors, numbers = world.a.org.pk, [], []
    national("2010100")

    def work():
        try:
            for _ in range(5):
                with transaction.atomic():
                    from houqin.core.models import Organization

                    numbers.append(make_asset(Organization.objects.get(pk=org_id)).number)
        except Exception as exc:  # noqa: BLE001 — collected and reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert sorted(numbers) == [f"ZC-{YEAR}-{n:05d}" for n in range(1, 21)]
