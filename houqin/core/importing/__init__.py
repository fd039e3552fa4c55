"""Staged import of the registers schools keep in Excel: upload → map columns → validate every row with the
model's form → preview → commit all rows or none. See docs/importing.md for how a domain declares an importer.

Importers register themselves in ``houqin.core.importing.registry``; the one for places is in ``.locations``.
"""

from houqin.core.importing.base import Action, Importer, ImportResult, Missing, RowError, commit, validate
from houqin.core.importing.errors import CellError, ImportFileError
from houqin.core.importing.limits import Limits
from houqin.core.importing.mapping import ImportData, ImportField, build_data, load_data
from houqin.core.importing.options import ImportOption
from houqin.core.importing.reading import read_sheet
from houqin.core.importing.registry import get_importer, register

__all__ = [
    "Action",
    "CellError",
    "ImportData",
    "ImportField",
    "ImportFileError",
    "ImportOption",
    "ImportResult",
    "Importer",
    "Limits",
    "Missing",
    "RowError",
    "build_data",
    "commit",
    "get_importer",
    "load_data",
    "read_sheet",
    "register",
    "validate",
]
