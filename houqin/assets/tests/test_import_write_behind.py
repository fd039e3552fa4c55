"""The asset import writes each batch while the next one is checked (houqin.core.importing.writebehind): the cards,
events and change log are what writing one batch after the other gives; a bad row in a late batch still leaves
nothing written; progress only moves forward."""

from __future__ import annotations

import threading

import pytest
from openpyxl import Workbook

from houqin.assets.importers import AssetImporter
from houqin.assets.models import Asset, AssetEvent
from houqin.assets.tests.test_import_scale import HEADER, register_rows, write_register
from houqin.core.importing import commit, load_data
from houqin.core.models import ChangeLogEntry

pytestmark = pytest.mark.django_db

ROWS = 1_200  # three batches of 400


def import_register(path, world, **kwargs):
    return commit(AssetImporter, load_data(path, ".xlsx", AssetImporter.fields), world.head_a, world.a.org, **kwargs)


def card_facts(cards) -> dict:
    """What each card of an import holds, by its row (the note "第n行"), leaving out its number, key and times."""
    leave_out = {"id", "number", "created_at", "updated_at", "search_index"}
    names = [f.attname for f in Asset._meta.concrete_fields if f.attname not in leave_out]
    return {card["note"]: tuple(card[n] for n in names) for card in cards.values(*names)}


def test_batches_written_behind_give_what_batches_written_in_turn_give(world, tmp_path, monkeypatch):
    path = tmp_path / "register.xlsx"
    write_register(path, ROWS, world.a)
    writers = []
    write_prepared = AssetImporter.write_prepared

    def spy(self, prepared):
        writers.append(threading.current_thread().name)
        return write_prepared(self, prepared)

    monkeypatch.setattr(AssetImporter, "write_prepared", spy)
    behind = import_register(path, world)
    assert behind.committed and behind.created == ROWS, behind.errors[:3]
    assert writers == ["houqin-import-writer"] * 3
    first = set(Asset.objects.filter(org=world.a.org).values_list("pk", flat=True))

    writers.clear()
    monkeypatch.setattr(AssetImporter, "write_behind", False)
    in_turn = import_register(path, world)
    assert in_turn.committed and in_turn.created == ROWS
    assert writers == [threading.current_thread().name]  # one batch of up to 20,000, in this thread

    cards = Asset.objects.filter(org=world.a.org)
    assert card_facts(cards.filter(pk__in=first)) == card_facts(cards.exclude(pk__in=first))
    # Every card has its own 登记 event, with its own facts; every card is named by its batch's log entry.
    events = AssetEvent.objects.filter(org=world.a.org, note="导入登记").select_related("asset")
    assert sorted(e.asset_id for e in events) == sorted(cards.values_list("pk", flat=True))
    assert all((e.changes["name"][1], e.changes["acquired_on"][1], e.changes["unit_price"][1])
               == (e.asset.name, e.asset.acquired_on.isoformat(), str(e.asset.unit_price)) for e in events)
    entries = ChangeLogEntry.objects.filter(org=world.a.org, action="create", content_type__model="asset")
    assert entries.count() == 3 + 1
    named = {pk: number for e in entries for pk, number in zip(e.after["id"], e.after["number"], strict=True)}
    assert named == dict(cards.values_list("pk", "number"))


def test_a_bad_row_in_the_last_batch_leaves_nothing_written(world, tmp_path):
    rows = register_rows(ROWS, world.a)
    rows[ROWS - 30][9] = 1.0  # 金额 no longer 数量 × 单价, in the third batch: the first two are written by then
    book = Workbook(write_only=True)
    sheet = book.create_sheet("资产登记表")
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    path = tmp_path / "bad.xlsx"
    book.save(path)
    before = (Asset.objects.count(), AssetEvent.objects.count(), ChangeLogEntry.objects.count())
    result = import_register(path, world)
    assert not result.committed
    assert [e.row for e in result.errors] == [ROWS - 30 + 2] and "金额" in result.errors[0].column
    assert "不符" in result.errors[0].message
    assert (Asset.objects.count(), AssetEvent.objects.count(), ChangeLogEntry.objects.count()) == before


def test_progress_moves_forward_to_the_end(world, tmp_path):
    path = tmp_path / "register.xlsx"
    write_register(path, ROWS, world.a)
    seen = []
    result = import_register(path, world, progress=lambda done, total: seen.append((done, total)))
    assert result.committed
    assert all(total == 2 * ROWS for _, total in seen)
    done = [d for d, _ in seen]
    assert done == sorted(done) and done[-1] == 2 * ROWS
    assert any(ROWS < d < 2 * ROWS for d in done)  # the writes were reported as they went
