"""Asset numbers: ``ZC-<year>-<5 digits>`` from core's gap-free document sequence (houqin.core.numbering).

One card takes ``next_number`` (core). Registering many cards at once (an import, the demo) reserves a block with
one UPDATE of the same counter row, under the same lock and with the same rule: called inside the transaction that
saves the cards, a rollback gives the whole block back, so the numbers stay gap-free.
"""

from __future__ import annotations

import datetime

from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from houqin.core.models import DocumentSequence
from houqin.core.numbering import next_number

DOC_TYPE = "ZC"
WIDTH = 5


def format_number(year: int, value: int) -> str:
    return f"{DOC_TYPE}-{year}-{value:0{WIDTH}d}"


def asset_number(org, day: datetime.date | None = None) -> str:
    """The next number of ``org`` for the year of ``day`` (default: today)."""
    return next_number(org, DOC_TYPE, day=day, width=WIDTH)


def _require_atomic() -> None:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("asset numbers must be reserved inside transaction.atomic() together with the cards")


def _update_or_create(org_id: int, period: str, expression, initial: int) -> int:
    updated = DocumentSequence.objects.filter(org_id=org_id, doc_type=DOC_TYPE, period=period).update(
        last_value=expression)
    if not updated:
        try:
            with transaction.atomic():
                DocumentSequence.objects.create(org_id=org_id, doc_type=DOC_TYPE, period=period, last_value=initial)
        except IntegrityError:  # another writer created the row first
            DocumentSequence.objects.filter(org_id=org_id, doc_type=DOC_TYPE, period=period).update(
                last_value=expression)
    return DocumentSequence.objects.filter(org_id=org_id, doc_type=DOC_TYPE, period=period).values_list(
        "last_value", flat=True).get()


def reserve_numbers(org, count: int, day: datetime.date | None = None) -> list[str]:
    """``count`` consecutive numbers of the year of ``day``, reserved with one UPDATE."""
    _require_atomic()
    if count <= 0:
        return []
    year = (day or timezone.localdate()).year
    last = _update_or_create(getattr(org, "pk", org), str(year), F("last_value") + count, count)
    return [format_number(year, value) for value in range(last - count + 1, last + 1)]


def advance_to(org, year: int, value: int) -> int:
    """Make sure the counter of ``year`` is at least ``value`` (cards created with numbers chosen elsewhere, e.g.
    the demo's fixed numbers); returns the counter."""
    _require_atomic()
    return _update_or_create(getattr(org, "pk", org), str(year), Greatest(F("last_value"), value), value)


def parse_number(number: str) -> tuple[int, int] | None:
    """(year, value) of a number in this system's format, else None (numbers imported from elsewhere)."""
    parts = number.split("-")
    if len(parts) != 3 or parts[0] != DOC_TYPE or not (parts[1].isdigit() and parts[2].isdigit()):
        return None
    return int(parts[1]), int(parts[2])
