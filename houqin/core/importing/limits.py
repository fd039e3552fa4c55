"""Limits that keep a hostile or accidental upload from exhausting the server.

Each limit can be changed in the settings (``HOUQIN_IMPORT_*``); the defaults suit a school's registers.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

MB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 20 * MB  # size of the uploaded file
    max_rows: int = 100_000  # data rows in the sheet
    max_columns: int = 200  # columns in the sheet
    max_cells: int = 5_000_000  # rows × columns the spreadsheet reader may lay out in memory
    max_uncompressed: int = 200 * MB  # total unpacked size of an .xlsx (a zip archive)
    max_ratio: int = 100  # unpacked : packed size of one member of the archive
    max_members: int = 2_000  # files inside an .xlsx
    max_age_s: int = 24 * 3600  # staged uploads older than this are deleted

    @classmethod
    def from_settings(cls) -> Limits:
        defaults = cls()
        return cls(**{
            name: int(getattr(settings, f"HOUQIN_IMPORT_{name.upper()}", getattr(defaults, name)))
            for name in cls.__dataclass_fields__
        })

    @property
    def max_bytes_display(self) -> str:
        return f"{self.max_bytes / MB:g} MB"
