"""Errors of the import framework. Every message is Chinese and is shown to the user as is."""

from __future__ import annotations


class ImportFileError(Exception):
    """The uploaded file is refused as a whole (wrong type, too big, damaged, hostile)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class CellError(ValueError):
    """A cell's value cannot be read as what its column needs (raised by the value parsers)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message
