"""Human document numbers per organisation, type and period: ZC-2026-00001, BX-20260301-003.

Gap-free and safe under concurrency: the counter row is incremented with an UPDATE inside the caller's
transaction, which holds the row lock (PostgreSQL) or the database write lock (SQLite, IMMEDIATE mode) until
commit. If the caller's transaction rolls back, the number is given back with it, so numbers have no gaps.
Call ``next_number`` inside the same ``transaction.atomic()`` block that saves the document.
"""

from __future__ import annotations

import datetime

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from houqin.core.models import DocumentSequence


def next_number(org, doc_type: str, *, day: datetime.date | None = None, per_day: bool = False, width: int = 5) -> str:
    """Reserve and return the next number, e.g. ``next_number(school, "ZC")`` → ``"ZC-2026-00001"``."""
    day = day or timezone.localdate()
    period = day.strftime("%Y%m%d") if per_day else f"{day.year}"
    org_id = getattr(org, "pk", org)
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("next_number() must run inside transaction.atomic() together with the document's save")
    updated = DocumentSequence.objects.filter(org_id=org_id, doc_type=doc_type, period=period).update(
        last_value=F("last_value") + 1
    )
    if not updated:
        try:
            with transaction.atomic():
                DocumentSequence.objects.create(org_id=org_id, doc_type=doc_type, period=period, last_value=1)
        except IntegrityError:
            # Another writer created the row first; increment it like any later caller.
            DocumentSequence.objects.filter(org_id=org_id, doc_type=doc_type, period=period).update(
                last_value=F("last_value") + 1
            )
    value = DocumentSequence.objects.filter(org_id=org_id, doc_type=doc_type, period=period).values_list(
        "last_value", flat=True
    ).get()
    return f"{doc_type}-{period}-{value:0{width}d}"
