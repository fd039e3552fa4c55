"""Values written by the bulk writers (houqin.core.importing.bulk) are stored as ``save()`` stores them, also those
handed to the driver as they are (a Decimal; on PostgreSQL a date and an aware datetime too), and a value Django
would refuse is still refused."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, models
from django.utils import timezone

from houqin.assets.models import Asset, AssetEvent
from houqin.assets.tests.test_custody import card
from houqin.core.importing.bulk import RawJSON, _preparer, insert_rows

pytestmark = pytest.mark.django_db


def test_prices_dates_and_times_are_stored_as_save_stores_them(world):
    asset = card(world)
    when = timezone.now().replace(microsecond=123456)
    insert_rows(AssetEvent, ["org_id", "asset_id", "code", "time", "actor_name", "status_before", "status_after",
                             "changes", "reference", "note"],
                [(asset.org_id, asset.pk, "note", when, "测试", "", "", {"单价": "12.50"}, "", "批量值")])
    event = AssetEvent.objects.get(note="批量值")
    assert event.time == when and event.changes == {"单价": "12.50"}
    field = Asset._meta.get_field("unit_price")
    prepare = _preparer(field, connection)
    assert prepare(Decimal("12.50")) == field.get_db_prep_save(Decimal("12.50"), connection)
    date_field = Asset._meta.get_field("acquired_on")
    prepare_date = _preparer(date_field, connection)
    day = datetime.date(2024, 9, 1)
    assert prepare_date(day) == date_field.get_db_prep_save(day, connection)


def test_times_shared_by_rows_or_not_are_stored_as_the_same_instants(world):
    """A batch's rows share one timestamp object (made once into the driver's form on PostgreSQL); times of another
    zone, without microseconds, or each of their own come back as the same instants."""
    asset = card(world)
    shared = timezone.now()
    beijing = datetime.timezone(datetime.timedelta(hours=8))
    times = [shared, shared, datetime.datetime(2024, 9, 1, 8, 30, tzinfo=beijing), shared,
             timezone.now().replace(microsecond=0),
             datetime.datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=datetime.UTC)]
    insert_rows(AssetEvent, ["org_id", "asset_id", "code", "time", "actor_name", "status_before", "status_after",
                             "changes", "reference", "note"],
                [(asset.org_id, asset.pk, "note", when, "测试", "", "", {}, str(i), "批量时间")
                 for i, when in enumerate(times)])
    stored = dict(AssetEvent.objects.filter(note="批量时间").values_list("reference", "time"))
    assert [stored[str(i)] for i in range(len(times))] == times


def test_a_value_django_refuses_is_still_refused(world):
    prepare = _preparer(Asset._meta.get_field("unit_price"), connection)
    with pytest.raises(ValidationError):
        prepare(Decimal("NaN"))


def test_json_values_are_stored_as_save_stores_them(world):
    """JSON goes to the database as its text (an empty {} made once for all rows); what is read back is what was
    written, on both databases, and a field with its own preparation still goes through it."""
    asset = card(world)
    values = [{}, [], {"名称": "电脑", "数量": [1, 2.5, None, True]}, "文本", 0, RawJSON('{"原样": 1}')]
    insert_rows(AssetEvent, ["org_id", "asset_id", "code", "time", "actor_name", "status_before", "status_after",
                             "changes", "reference", "note"],
                [(asset.org_id, asset.pk, "note", timezone.now(), "测试", "", "", value, str(i), "批量 JSON")
                 for i, value in enumerate(values)])
    stored = dict(AssetEvent.objects.filter(note="批量 JSON").values_list("reference", "changes"))
    assert [stored[str(i)] for i in range(len(values))] == [*values[:-1], {"原样": 1}]
    assert _preparer(AssetEvent._meta.get_field("changes"), connection)({}) == "{}"

    class Upper(models.JSONField):
        def get_prep_value(self, value):
            return super().get_prep_value({k.upper(): v for k, v in value.items()})

    field = Upper()
    field.set_attributes_from_name("changes")
    prepared, django_prepared = _preparer(field, connection)({"a": 1}), field.get_db_prep_save({"a": 1}, connection)
    unwrapped = getattr(prepared, "obj", prepared)  # PostgreSQL: psycopg's Jsonb wrapper, as Django makes it
    assert unwrapped == getattr(django_prepared, "obj", django_prepared) and "A" in unwrapped


def test_the_search_column_is_what_save_writes(world):
    """The bulk writers' search column (``bulk.search_index``, with its remembered pieces) is the one ``save()``
    builds, for text with and without Chinese, padded, empty, and met a second time."""
    from houqin.core.importing.bulk import search_index

    asset = card(world)
    for number, name, brand, model, serial in [("ZC-2024-00001", "台式计算机", "联想 Lenovo", " i5/16G ", ""),
                                               ("ZC-2024-00002", "台式计算机", "Dell", "OptiPlex", "SN 12"),
                                               ("A1", "  投影仪  ", "", "", "  ")]:
        asset.number, asset.name, asset.brand, asset.model, asset.serial_no = number, name, brand, model, serial
        for _ in range(2):
            built = search_index(asset)
            asset.refresh_search_index()
            assert built == asset.search_index
