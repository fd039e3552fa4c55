"""How an AssetEvent records what changed: ``{"field": [before, after]}`` with JSON values, related rows as
``{"id": …, "name": …}`` (the name as it was at the time), and the text shown in the card's history."""

from __future__ import annotations

import datetime
import functools
from decimal import Decimal

from django.db import models

# The facts a registration records (and that later commands change).
REGISTER_FACTS = ("category", "name", "quantity", "unit", "unit_price", "original_value", "acquired_on",
                  "acquisition_method", "room", "department", "custodian", "status", "asset_class", "is_batch",
                  "useful_life_years", "structure")


@functools.cache
def _field(name: str):
    from houqin.assets.models import Asset

    return Asset._meta.get_field(name)


def fact(obj, name: str):
    """The JSON form of one field of ``obj``."""
    field = _field(name)
    if field.is_relation:
        related = getattr(obj, name) if getattr(obj, field.attname) is not None else None
        return None if related is None else {"id": related.pk, "name": str(related)}
    value = getattr(obj, name)
    if isinstance(value, Decimal):
        places = getattr(field, "decimal_places", None)
        return str(value.quantize(Decimal(1).scaleb(-places)) if places is not None else value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    if value == "":
        return None
    return value


def snapshot(obj, names=REGISTER_FACTS) -> dict:
    return {name: fact(obj, name) for name in names}


def diff(before: dict, after: dict) -> dict:
    """``{"field": [before, after]}`` for the fields whose value differs."""
    return {k: [before.get(k), after.get(k)] for k in after if before.get(k) != after.get(k)}


def _label(name: str) -> str:
    from houqin.assets.models import Asset

    try:
        return str(Asset._meta.get_field(name).verbose_name)
    except models.FieldDoesNotExist:
        return name


def _text(name: str, value) -> str:
    from houqin.assets.models import Asset

    if value in (None, ""):
        return "（空）"
    if isinstance(value, dict):
        return str(value.get("name", value.get("id", "")))
    if isinstance(value, bool):
        return "是" if value else "否"
    try:
        field = Asset._meta.get_field(name)
    except models.FieldDoesNotExist:
        return str(value)
    if field.choices:
        return str(dict(field.flatchoices).get(value, value))
    return str(value)


def describe_changes(changes: dict) -> str:
    """One line per change: "存放地点：南园 101 → 南园 205"; a fact recorded at registration: "数量：40"."""
    lines = []
    for name, pair in (changes or {}).items():
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            continue
        before, after = pair
        if before is None:
            if after is None:
                continue
            lines.append(f"{_label(name)}：{_text(name, after)}")
        else:
            lines.append(f"{_label(name)}：{_text(name, before)} → {_text(name, after)}")
    return "；".join(lines)
