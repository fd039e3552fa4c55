"""Importers by key, so that views, templates and background jobs can find them."""

from __future__ import annotations

from houqin.core.importing.base import Importer

IMPORTERS: dict[str, type[Importer]] = {}


def register(importer_class: type[Importer]) -> type[Importer]:
    if not importer_class.key:
        raise ValueError(f"{importer_class.__name__} needs a key")
    existing = IMPORTERS.get(importer_class.key)
    if existing is not None and existing is not importer_class:
        raise ValueError(f"Importer key {importer_class.key!r} is already used by {existing.__name__}")
    IMPORTERS[importer_class.key] = importer_class
    return importer_class


def get_importer(key: str) -> type[Importer] | None:
    return IMPORTERS.get(key)
