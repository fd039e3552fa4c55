"""Inspect an .xlsx file (a zip archive of XML parts) before any spreadsheet library reads it.

Refused, each with a Chinese message:

- zip bombs: the unpacked size of all members is counted while inflating them here (never trusting the
  sizes the archive declares), against a total limit and a per-member compression-ratio limit;
- XML entity attacks: an XML part with a ``<!DOCTYPE`` or ``<!ENTITY`` declaration (a spreadsheet never
  needs one) — checked with expat on the prolog, whatever the part's encoding;
- "sparse cell" bombs: a worksheet whose cells sit so far apart (A1 and XFD1048576) that the reader would
  lay out billions of empty cells in memory. The largest row number and column seen in the cell and row
  references bound the grid the reader builds.

Everything is streamed in small chunks; nothing is unpacked to disk.
"""

from __future__ import annotations

import re
import struct
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from xml.parsers import expat

from houqin.core.importing.errors import ImportFileError
from houqin.core.importing.limits import MB, Limits

NOT_XLSX = "文件不是有效的 Excel (.xlsx) 文件，可能已损坏。如果是旧版 .xls 文件，请在 Excel 中“另存为” .xlsx 后再上传。"
BOMB = "文件解压后过大或压缩比异常（疑似“压缩炸弹”），已拒绝。请确认文件来源，或将数据复制到新建的 Excel 文件后再上传。"
XML_DECL = "文件中含有不允许的 XML 声明（DOCTYPE/ENTITY），已拒绝。请将数据复制到新建的 Excel 文件后再上传。"
DAMAGED = "文件内容已损坏，无法读取。请在 Excel 中打开并重新保存后再上传。"
ENCRYPTED = "文件已加密或设置了打开密码，请取消密码后再上传。"

_LOCAL_HEADER = struct.Struct("<4s5H3I2H")  # the 30-byte local file header of a zip member
_XML_SUFFIXES = (".xml", ".rels", ".vml")
_IN_CHUNK = 64 * 1024
_OUT_CHUNK = 1 * MB
_RATIO_FLOOR = 1 * MB  # small members may compress well without being a threat
_OVERLAP = 64  # bytes carried between chunks so that a tag split across two chunks is still seen

# Used only for chunks where some cell lacks a leading reference (rare writers): tags may then also carry a
# namespace prefix (<x:c r="A1">).
_CELL_ANY = re.compile(rb"<(?:[\w.-]+:)?c[\s/>]")
_CELL_WITH_REF = re.compile(rb"<(?:[\w.-]+:)?c\s[^>]*?\br=\"[A-Z]")
_ROW_ANY = re.compile(rb"<(?:[\w.-]+:)?row[\s/>]")
_FORBIDDEN = (b"<!DOCTYPE", b"<!ENTITY")


class _RootReached(Exception):
    pass


class _Forbidden(Exception):
    pass


def check_xlsx(path: Path, limits: Limits) -> None:
    """Raise ImportFileError unless the .xlsx at ``path`` is safe to hand to the spreadsheet reader."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise ImportFileError(NOT_XLSX) from None
    with archive, open(path, "rb") as raw:
        members = [m for m in archive.infolist() if not m.is_dir()]
        names = {m.filename for m in members}
        if "[Content_Types].xml" not in names or not any(n.startswith("xl/") for n in names):
            raise ImportFileError(NOT_XLSX)
        if len(members) > limits.max_members:
            raise ImportFileError(BOMB)
        # First the sizes the archive declares: refuses the common bomb without inflating a byte.
        if sum(m.file_size for m in members) > limits.max_uncompressed:
            raise ImportFileError(BOMB)
        for member in members:
            _check_ratio(member.file_size, member.compress_size, limits)
        # Then the real sizes, inflating the parts the reader will parse.
        total = 0
        for member in members:
            if member.flag_bits & 0x1:
                raise ImportFileError(ENCRYPTED)
            if not member.filename.lower().endswith(_XML_SUFFIXES):
                total += member.file_size
                continue
            scan = _XmlScan(limits)
            produced = 0
            for chunk in _inflate(raw, member, limits.max_uncompressed - total):
                produced += len(chunk)
                _check_ratio(produced, member.compress_size, limits)
                scan.feed(chunk)
            total += produced
            scan.close()
            rows, columns = scan.extent()
            if rows > limits.max_rows + 1000 or columns > limits.max_columns or rows * columns > limits.max_cells:
                raise ImportFileError(too_large_message(limits, rows, columns))


def too_large_message(limits: Limits, rows: int, columns: int) -> str:
    if columns > limits.max_columns:
        return f"表格的列数过多（超过 {limits.max_columns} 列），请删除多余的列后再上传。"
    return (f"表格的行数超过上限（{limits.max_rows:,} 行），请分成几个文件导入。"
            if rows > limits.max_rows else "表格的范围过大（单元格数量超过上限），请删除多余的空行和空列后再上传。")


def _check_ratio(unpacked: int, packed: int, limits: Limits) -> None:
    if unpacked > _RATIO_FLOOR and unpacked > limits.max_ratio * max(packed, 1):
        raise ImportFileError(BOMB)


def _inflate(raw, member: zipfile.ZipInfo, budget: int) -> Iterator[bytes]:
    """The member's unpacked bytes in chunks, read from the archive's own data (not from declared sizes)."""
    raw.seek(member.header_offset)
    header = raw.read(_LOCAL_HEADER.size)
    if len(header) != _LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
        raise ImportFileError(DAMAGED)
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    raw.seek(member.header_offset + _LOCAL_HEADER.size + name_length + extra_length)
    left = member.compress_size
    produced = 0
    if member.compress_type == zipfile.ZIP_STORED:
        while left > 0:
            chunk = raw.read(min(_IN_CHUNK, left))
            if not chunk:
                raise ImportFileError(DAMAGED)
            left -= len(chunk)
            produced += len(chunk)
            if produced > budget:
                raise ImportFileError(BOMB)
            yield chunk
        return
    if member.compress_type != zipfile.ZIP_DEFLATED:
        raise ImportFileError(DAMAGED)
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        while left > 0 and not inflater.eof:
            data = raw.read(min(_IN_CHUNK, left))
            if not data:
                raise ImportFileError(DAMAGED)
            left -= len(data)
            while data:
                chunk = inflater.decompress(data, _OUT_CHUNK)
                data = inflater.unconsumed_tail
                if chunk:
                    produced += len(chunk)
                    if produced > budget:
                        raise ImportFileError(BOMB)
                    yield chunk
        tail = inflater.flush()
        if tail:
            produced += len(tail)
            if produced > budget:
                raise ImportFileError(BOMB)
            yield tail
    except zlib.error:
        raise ImportFileError(DAMAGED) from None


class _XmlScan:
    """Checks one XML part while it streams past: no DTD in its prolog, and how far its cells reach.

    Counting uses ``bytes.count`` and literal-prefixed patterns: a regular expression tried at every cell
    would take longer than the spreadsheet reader itself on a 100,000-row sheet.
    """

    def __init__(self, limits: Limits):
        self.parser = expat.ParserCreate()
        self.parser.StartDoctypeDeclHandler = self._forbid
        self.parser.EntityDeclHandler = self._forbid
        self.parser.StartElementHandler = self._root
        self.in_prolog = True
        self.prefix = b""
        self.tail = b""
        self.max_row = 0
        self.max_column = 0
        self.row_tags = 0
        self.cells = 0
        self.open_row_unreferenced = 0
        self.max_unreferenced = 0
        # A reference is looked at only when its column has two or more letters (beyond Z) or its row number
        # has as many digits as the row limit: in an ordinary sheet almost none do.
        digits = len(str(limits.max_rows + 1000))
        pattern = rb"r=\"(?:([A-Z]{2,3})(\d+)|[A-Z]?(\d{%d,}))" % digits
        self.far = re.compile(b" " + pattern)
        # For chunks written unusually (a newline or tab before r=), any whitespace counts.
        self.far_any_space = re.compile(rb"\s" + pattern)

    def _forbid(self, *args):
        raise _Forbidden

    def _root(self, name, attrs):
        if ":" in name:
            self.prefix = name.split(":", 1)[0].encode() + b":"
        raise _RootReached

    def feed(self, chunk: bytes) -> None:
        if self.in_prolog:
            try:
                self.parser.Parse(chunk, False)
            except _RootReached:
                self.in_prolog = False
            except _Forbidden:
                raise ImportFileError(XML_DECL) from None
            except expat.ExpatError:
                raise ImportFileError(DAMAGED) from None
        window = self.tail + chunk
        if any(marker in window for marker in _FORBIDDEN):
            raise ImportFileError(XML_DECL)
        # Tags are counted in the chunk itself (the overlap was counted with the chunk before); references
        # are looked for in the whole window, so one split across two chunks is still found.
        cell, row = b"<" + self.prefix + b"c", b"<" + self.prefix + b"row"
        # "<c" also counts <col>, <cols>, <cfRule> …: a surplus over the referenced cells is then counted
        # exactly, per row (this happens once per sheet, in the chunk holding <cols>).
        tags = chunk.count(cell)
        rows = chunk.count(row)
        self.cells += tags
        self.row_tags += rows
        usual = tags == chunk.count(cell + b' r="')
        if not usual:
            self._count_unreferenced(chunk)
        elif rows:
            self.max_unreferenced = max(self.max_unreferenced, self.open_row_unreferenced)
            self.open_row_unreferenced = 0
        for letters, row_digits, far_digits in (self.far if usual else self.far_any_space).findall(window):
            if letters:
                self.max_column = max(self.max_column, _column_number(letters))
                self.max_row = max(self.max_row, int(row_digits))
            else:
                self.max_row = max(self.max_row, int(far_digits))
        self.tail = window[-_OVERLAP:]

    def _count_unreferenced(self, chunk: bytes) -> None:
        """Cells without a reference, per row (each one is placed one column right of the one before)."""
        for index, segment in enumerate(_ROW_ANY.split(chunk)):
            unreferenced = len(_CELL_ANY.findall(segment)) - len(_CELL_WITH_REF.findall(segment))
            if index == 0:  # continues the row left open by the chunk before
                self.open_row_unreferenced += unreferenced
            else:
                self.max_unreferenced = max(self.max_unreferenced, self.open_row_unreferenced)
                self.open_row_unreferenced = unreferenced

    def close(self) -> None:
        if self.in_prolog:
            try:
                self.parser.Parse(b"", True)
            except _Forbidden:
                raise ImportFileError(XML_DECL) from None
            except (_RootReached, expat.ExpatError):
                pass

    def extent(self) -> tuple[int, int]:
        """Upper bounds of (rows, columns) of the grid a reader would build from this part."""
        if not self.cells:
            return 0, 0
        # Columns A–Z are not tracked (they are always within limits).
        unreferenced = max(self.max_unreferenced, self.open_row_unreferenced)
        columns = max(self.max_column, 26) + unreferenced
        rows = max(self.max_row, self.row_tags)
        return rows, columns


def _column_number(letters: bytes) -> int:
    number = 0
    for byte in letters:
        number = number * 26 + (byte - 64)
    return number
