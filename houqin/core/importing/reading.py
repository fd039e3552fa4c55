"""Read an uploaded .xlsx or .csv into rows of cell values, refusing hostile and unreadable files."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from houqin.core.importing.errors import ImportFileError
from houqin.core.importing.limits import Limits
from houqin.core.importing.safety import check_xlsx, too_large_message
from houqin.core.importing.values import cell_text

SUPPORTED = (".xlsx", ".csv")
WRONG_TYPE = "只能导入 Excel 文件（.xlsx）或 CSV 文件（.csv）。旧版 .xls 文件请在 Excel 中“另存为” .xlsx 后再上传。"
UNREADABLE = "无法读取该文件，可能已损坏或不是 Excel 文件。请在 Excel 中打开并重新保存后再上传。"
EMPTY = "文件中没有数据。"
ENCODING = "无法识别 CSV 文件的编码，请在 Excel 中“另存为” CSV UTF-8 格式后再上传。"


@dataclass
class Sheet:
    """The cells of one sheet: ``rows`` holds (row number as the spreadsheet shows it, cell values)."""

    name: str
    rows: list[tuple[int, list]] = field(default_factory=list)
    col_offset: int = 0  # columns left of the first one read (the reader skips empty leading columns)


def extension_of(filename: str) -> str:
    return Path(filename or "").suffix.lower()


def sniff_extension(head: bytes, filename: str) -> str:
    """The file's real type from its first bytes; refuses a name that does not match the content."""
    ext = extension_of(filename)
    if ext not in SUPPORTED:
        raise ImportFileError(WRONG_TYPE)
    is_zip = head.startswith(b"PK\x03\x04")
    if ext == ".xlsx" and not is_zip:
        raise ImportFileError(WRONG_TYPE if head.startswith(b"\xd0\xcf\x11\xe0") else UNREADABLE)
    if ext == ".csv" and (is_zip or head.startswith(b"\xd0\xcf\x11\xe0")):
        raise ImportFileError("文件扩展名是 .csv，但内容是 Excel 文件，请把扩展名改为 .xlsx 后再上传。")
    return ext


def read_sheet(path: Path, ext: str, limits: Limits | None = None) -> Sheet:
    """All rows of the file's first visible worksheet (or of the CSV). Raises ImportFileError."""
    limits = limits or Limits.from_settings()
    if path.stat().st_size > limits.max_bytes:
        raise ImportFileError(f"文件超过 {limits.max_bytes_display} 的上限，请分成几个文件导入。")
    if ext == ".xlsx":
        sheet = _read_xlsx(path, limits)
    elif ext == ".csv":
        sheet = _read_csv(path, limits)
    else:
        raise ImportFileError(WRONG_TYPE)
    if not any(any(cell_text(v) for v in cells) for _, cells in sheet.rows):
        raise ImportFileError(EMPTY)
    return sheet


def _read_xlsx(path: Path, limits: Limits) -> Sheet:
    check_xlsx(path, limits)
    from python_calamine import CalamineWorkbook, SheetTypeEnum, SheetVisibleEnum

    try:
        workbook = CalamineWorkbook.from_path(str(path))
    except Exception:  # noqa: BLE001 — the reader raises several error types for damaged files
        raise ImportFileError(UNREADABLE) from None
    try:
        candidates = [m.name for m in workbook.sheets_metadata
                      if m.typ == SheetTypeEnum.WorkSheet and m.visible == SheetVisibleEnum.Visible]
        for name in candidates:
            try:
                sheet = workbook.get_sheet_by_name(name)
            except Exception:  # noqa: BLE001
                raise ImportFileError(UNREADABLE) from None
            if sheet.height == 0:
                continue
            return _sheet_rows(name, sheet, limits)
    finally:
        workbook.close()
    raise ImportFileError(EMPTY)


def _sheet_rows(name: str, sheet, limits: Limits) -> Sheet:
    if sheet.width > limits.max_columns:
        raise ImportFileError(too_large_message(limits, sheet.height, sheet.width))
    rows = []
    ceiling = limits.max_rows + 1000  # the data rows are counted exactly later; title rows come on top
    # A register repeats its departments, rooms, units and names thousands of times: one string object per
    # distinct text keeps a 100,000-row sheet small in memory.
    shared: dict[str, str] = {}
    share = shared.setdefault
    for cells in sheet.iter_rows():
        rows.append([share(v, v) if v.__class__ is str else v for v in cells])
        if len(rows) > ceiling:
            raise ImportFileError(too_large_message(limits, len(rows), sheet.width))
        if len(shared) > 200_000:
            shared.clear()
    # The reader yields rows from the sheet's first row, but columns from the first one used: number the rows
    # from the last one (``end``), which also holds if a future version starts at the first used row.
    end = sheet.end
    first_row = (end[0] + 1 - len(rows)) if end else 0
    col_offset = sheet.start[1] if sheet.start else 0
    return Sheet(name, [(first_row + i + 1, cells) for i, cells in enumerate(rows)], col_offset)


def decode_csv(data: bytes) -> str:
    """CSV text in UTF-8 (with or without BOM) or, failing that, GB18030 (a superset of GBK and GB2312)."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ImportFileError(ENCODING)


def _read_csv(path: Path, limits: Limits) -> Sheet:
    text = decode_csv(path.read_bytes())
    if "\x00" in text:
        raise ImportFileError(UNREADABLE)
    delimiter = _delimiter(text)
    rows = []
    ceiling = limits.max_rows + 1000
    try:
        for number, record in enumerate(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), start=1):
            while record and not record[-1].strip():
                record.pop()
            if len(record) > limits.max_columns:
                raise ImportFileError(too_large_message(limits, number, len(record)))
            rows.append((number, record))
            if number > ceiling:
                raise ImportFileError(too_large_message(limits, number, 1))
    except csv.Error:
        raise ImportFileError(UNREADABLE) from None
    return Sheet("CSV", rows, 0)


def _delimiter(text: str) -> str:
    """Comma, tab or semicolon: whichever occurs most in the first lines (title rows may have none)."""
    head = text[:16384].splitlines()[:20]
    counts = {d: sum(line.count(d) for line in head) for d in (",", "\t", ";")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","
