"""Loading the national category tables (GB/T 14885) from ``houqin/assets/data/``.

Each edition of the standard is one CSV file (``EDITIONS``); its rows become AssetCategory rows without an
organisation, shared by every school. Loading is idempotent: a row is created when its code is new, updated when the
file says something else, and left alone otherwise; a national row that the file no longer lists is switched off
(``is_active``), never deleted, because cards may use it.

The 2022 edition (《固定资产等资产基础分类与代码》GB/T 14885-2022, aligned with the government procurement catalogue and
its letter-prefixed codes) is not shipped yet: adding it is adding ``gbt14885-2022.csv`` in the same format and an
entry in ``EDITIONS``; a school then picks it with the setting ``assets.category_edition`` (houqin.assets.conf).

``load_categories`` works with the real model and with a migration's historical model, so the initial data migration
and the ``houqin load_asset_categories`` command share it.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from houqin.core.search import build_search_index

DATA_DIR = Path(__file__).resolve().parent / "data"
EDITIONS = {"2010": "gbt14885-2010.csv"}
FIELDS = ("name", "parent_id", "level", "path", "is_standard", "is_depreciable", "default_life_years",
          "min_life_years", "value_class", "default_batch", "basis", "is_active", "search_index")


@dataclass(frozen=True)
class CategoryRow:
    code: str
    name: str
    parent: str
    default_life: int | None
    min_life: int | None
    depreciable: bool
    value_class: str
    batch: bool
    standard: bool
    basis: str


@dataclass
class LoadResult:
    edition: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deactivated: int = 0

    def __str__(self):
        return (f"GB/T 14885-{self.edition}：新增 {self.created} 类，更新 {self.updated} 类，"
                f"未变 {self.unchanged} 类，停用 {self.deactivated} 类")


def _int(text: str) -> int | None:
    text = text.strip()
    return int(text) if text else None


def read_rows(edition: str) -> list[CategoryRow]:
    """The rows of one edition's file, parents before children (checked)."""
    try:
        filename = EDITIONS[edition]
    except KeyError:
        raise ValueError(f"unknown GB/T 14885 edition {edition!r}; known: {', '.join(EDITIONS)}") from None
    text = (DATA_DIR / filename).read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    rows, seen = [], set()
    for record in csv.DictReader(io.StringIO("\n".join(lines))):
        row = CategoryRow(
            code=record["code"].strip(), name=record["name"].strip(), parent=record["parent"].strip(),
            default_life=_int(record["default_life"]), min_life=_int(record["min_life"]),
            depreciable=record["depreciable"].strip() == "1", value_class=record["value_class"].strip(),
            batch=record["batch"].strip() == "1", standard=record["standard"].strip() == "1",
            basis=record["basis"].strip(),
        )
        if row.code in seen:
            raise ValueError(f"{filename}: code {row.code} appears twice")
        if row.parent and row.parent not in seen:
            raise ValueError(f"{filename}: {row.code} comes before its parent {row.parent}")
        seen.add(row.code)
        rows.append(row)
    return rows


def load_categories(edition: str = "2010", *, model=None) -> LoadResult:
    """Create or update the national categories of ``edition``; returns what changed.

    Writes with ``bulk_create`` / ``bulk_update`` (standard data, no change-log entries), inside one transaction."""
    from django.db import transaction

    if model is None:
        from houqin.assets.models import AssetCategory as model
    result = LoadResult(edition)
    rows = read_rows(edition)
    depth: dict[str, int] = {}
    for row in rows:
        depth[row.code] = depth[row.parent] + 1 if row.parent else 1
    with transaction.atomic():
        existing = {c.code: c for c in model.objects.filter(org__isnull=True, edition=edition)}
        by_code = dict(existing)
        to_update = []
        # Level by level: a new row needs its parent's primary key and path.
        for level in sorted(set(depth.values())):
            new = []
            for row in (r for r in rows if depth[r.code] == level):
                parent = by_code.get(row.parent) if row.parent else None
                wanted = {
                    "name": row.name,
                    "parent_id": parent.pk if parent is not None else None,
                    "level": level,
                    "path": f"{parent.path if parent is not None else '/'}{row.code}/",
                    "is_standard": row.standard,
                    "is_depreciable": row.depreciable,
                    "default_life_years": row.default_life,
                    "min_life_years": row.min_life,
                    "value_class": row.value_class,
                    "default_batch": row.batch,
                    "basis": row.basis,
                    "is_active": True,
                    "search_index": build_search_index([row.code, row.name]),
                }
                obj = existing.get(row.code)
                if obj is None:
                    new.append(model(org=None, edition=edition, code=row.code, **wanted))
                elif any(getattr(obj, k) != v for k, v in wanted.items()):
                    for k, v in wanted.items():
                        setattr(obj, k, v)
                    to_update.append(obj)
                else:
                    result.unchanged += 1
            if new:
                # bulk_create: standard data is not a user's change, so it writes no change-log entries.
                model.objects.bulk_create(new, batch_size=500)
                created = model.objects.filter(org__isnull=True, edition=edition, code__in=[c.code for c in new])
                by_code.update({c.code: c for c in created})
                result.created += len(new)
        if to_update:
            model.objects.bulk_update(to_update, FIELDS, batch_size=500)
        listed = {row.code for row in rows}
        stale = [c for code, c in existing.items() if code not in listed and c.is_active]
        for obj in stale:
            obj.is_active = False
        if stale:
            model.objects.bulk_update(stale, ["is_active"], batch_size=500)
        result.updated, result.deactivated = len(to_update), len(stale)
    return result


def ensure_categories(edition: str = "2010") -> None:
    """Load the national categories if there are none (a database created without migrations, or a test database
    that a transactional test has flushed)."""
    from houqin.assets.models import AssetCategory

    if not AssetCategory.objects.filter(org__isnull=True, edition=edition).exists():
        load_categories(edition)


def national(code: str, edition: str = "2010"):
    """The national category with ``code`` (loading the table first if the database has none)."""
    from houqin.assets.models import AssetCategory

    ensure_categories(edition)
    return AssetCategory.objects.get(org__isnull=True, edition=edition, code=code)
