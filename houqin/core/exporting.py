"""Export the current filtered list to .xlsx, streaming rows so memory stays flat.

The workbook is written directly (one worksheet of inline strings, a bold header row): the same parts and cell
markup openpyxl's write-only mode and XlsxWriter's ``constant_memory`` mode produce, at a fraction of their cost per
cell (a list of 100,000 cards × 13 columns is 1.3 million cells; see docs/performance.md, "Export (P3)"). A list whose
columns can all be read from plain values (``houqin.core.tables.values_reader``) is read with ``values_list`` in
chunks, without model instances; otherwise from model instances, column by column (``Column.text``).
"""

from __future__ import annotations

import re
import tempfile
import zipfile
from urllib.parse import quote
from xml.sax.saxutils import escape, quoteattr

from django.conf import settings
from django.http import FileResponse
from django.utils import timezone

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CHUNK_ROWS = 2000
MAX_CELL_CHARS = 32767  # Excel's limit for the text of one cell

_FORMULA_START = frozenset("=+-@")
# Text that needs work before it goes between <t> and </t>: XML's special characters, control characters XML 1.0
# does not allow, leading/trailing whitespace (kept with xml:space="preserve"), a formula's first character, more
# than a cell holds. Most cells need none of it, checked for a whole row at once (``_row``).
_NEEDS_CARE = re.compile(r"[&<>\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]|^[\s=+\-@]|\s$"
                         rf"|^[\s\S]{{{MAX_CELL_CHARS + 1}}}")
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_SHEET_TITLE_ILLEGAL = re.compile(r"[\\/*?:\[\]]")


def _safe(text: str) -> str:
    # A cell starting with = + - @ would be run as a formula by Excel (CSV/formula injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@") and not _is_number(text) else text


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", ""))
    except ValueError:
        return False
    return True


def _column_letters(count: int) -> list[str]:
    letters = []
    for index in range(1, count + 1):
        name = ""
        while index:
            index, rest = divmod(index - 1, 26)
            name = chr(65 + rest) + name
        letters.append(name)
    return letters


def _cell_text(text: str) -> str:
    """The markup of one text that needs care (formula guard, escaping…) between <is> and </is>."""
    if text and text[0] in _FORMULA_START:
        text = _safe(text)
    text = escape(_ILLEGAL.sub("", text)[:MAX_CELL_CHARS])
    if text[:1].isspace() or text[-1:].isspace():
        return f'<t xml:space="preserve">{text}</t>'
    return f"<t>{text}</t>"


class SheetWriter:
    """One-sheet .xlsx written as rows arrive: ``header(labels)``, ``row(texts)`` …, ``close()``. Every cell is a
    text (inline string); the header row is bold."""

    def __init__(self, fileobj, title: str, width: int):
        self.zip = zipfile.ZipFile(fileobj, "w", zipfile.ZIP_DEFLATED, compresslevel=1)
        self.title = _SHEET_TITLE_ILLEGAL.sub("_", title)[:31].strip() or "Sheet1"
        self.letters = _column_letters(max(width, 1))
        self.sheet = self.zip.open("xl/worksheets/sheet1.xml", "w", force_zip64=True)
        self.sheet.write(b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                         b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                         b'<sheetData>')
        self.rows = 0
        self.buffer: list[str] = []

    def header(self, labels) -> None:
        self._row(labels, ' s="1"')

    def row(self, texts) -> None:
        self._row(texts, "")

    def _row(self, texts, style: str) -> None:
        self.rows += 1
        r = self.rows
        # An empty text is a cell without a value (read back as empty, as openpyxl wrote it).
        if any(map(_NEEDS_CARE.search, texts)):
            cells = "".join([f'<c r="{letter}{r}"{style} t="inlineStr"><is>{_cell_text(text)}</is></c>' if text
                             else f'<c r="{letter}{r}"{style}/>'
                             for letter, text in zip(self.letters, texts, strict=True)])
        else:
            cells = "".join([f'<c r="{letter}{r}"{style} t="inlineStr"><is><t>{text}</t></is></c>' if text
                             else f'<c r="{letter}{r}"{style}/>'
                             for letter, text in zip(self.letters, texts, strict=True)])
        self.buffer.append(f'<row r="{r}">{cells}</row>')
        if len(self.buffer) >= 500:
            self._flush()

    def _flush(self) -> None:
        self.sheet.write("".join(self.buffer).encode("utf-8", "replace"))
        self.buffer.clear()

    def close(self) -> None:
        self._flush()
        self.sheet.write(b"</sheetData></worksheet>")
        self.sheet.close()
        for name, content in _package_parts(self.title).items():
            self.zip.writestr(name, content)
        self.zip.close()


def _package_parts(title: str) -> dict[str, str]:
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    pkg_rel = "http://schemas.openxmlformats.org/package/2006/relationships"
    ct = "application/vnd.openxmlformats-officedocument"
    head = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    now = timezone.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "[Content_Types].xml": head + (
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{ct}.spreadsheetml.sheet.main+xml"/>'
            f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{ct}.spreadsheetml.worksheet+xml"/>'
            f'<Override PartName="/xl/styles.xml" ContentType="{ct}.spreadsheetml.styles+xml"/>'
            '<Override PartName="/docProps/core.xml" '
            'ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
            f'<Override PartName="/docProps/app.xml" ContentType="{ct}.extended-properties+xml"/>'
            '</Types>'),
        "_rels/.rels": head + (
            f'<Relationships xmlns="{pkg_rel}">'
            f'<Relationship Id="rId1" Type="{rel}/officeDocument" Target="xl/workbook.xml"/>'
            '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/'
            'core-properties" Target="docProps/core.xml"/>'
            f'<Relationship Id="rId3" Type="{rel}/extended-properties" Target="docProps/app.xml"/>'
            '</Relationships>'),
        "docProps/app.xml": head + (
            '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties">'
            '<Application>Microsoft Excel</Application></Properties>'),
        "docProps/core.xml": head + (
            '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><dc:creator>智慧后勤</dc:creator>'
            f'<dcterms:created xsi:type="dcterms:W3CDTF">{now}</dcterms:created>'
            f'<dcterms:modified xsi:type="dcterms:W3CDTF">{now}</dcterms:modified></cp:coreProperties>'),
        "xl/workbook.xml": head + (
            f'<workbook xmlns="{main}" xmlns:r="{rel}"><bookViews><workbookView activeTab="0"/></bookViews>'
            f'<sheets><sheet name={quoteattr(title)} sheetId="1" r:id="rId1"/></sheets></workbook>'),
        "xl/_rels/workbook.xml.rels": head + (
            f'<Relationships xmlns="{pkg_rel}">'
            f'<Relationship Id="rId1" Type="{rel}/worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{rel}/styles" Target="styles.xml"/>'
            '</Relationships>'),
        "xl/styles.xml": head + (
            f'<styleSheet xmlns="{main}">'
            '<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
            '<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>'
            '<fills count="2"><fill><patternFill patternType="none"/></fill>'
            '<fill><patternFill patternType="gray125"/></fill></fills>'
            '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
            '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
            '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
            '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>'
            '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
            '</styleSheet>'),
    }


def write_xlsx(rows, columns, title: str, fileobj) -> int:
    """Write ``rows`` (model instances, or any objects the columns read) with ``columns`` (tables.Column) to
    fileobj; returns the row count."""
    writer = SheetWriter(fileobj, title, len(columns))
    writer.header([str(column.label) for column in columns])
    for obj in rows:
        writer.row([column.text(obj) for column in columns])
    writer.close()
    return writer.rows - 1


def write_xlsx_from_values(queryset, columns, title: str, fileobj, limit: int) -> int | None:
    """Like ``write_xlsx`` for the first ``limit`` rows of ``queryset``, read with ``values_list`` (no model
    instances); None, writing nothing, when a column needs model instances."""
    from houqin.core.tables import values_reader

    reader = values_reader(queryset.model, columns)
    if reader is None:
        return None
    lookups, texts = reader
    writer = SheetWriter(fileobj, title, len(columns))
    writer.header([str(column.label) for column in columns])
    row = writer.row
    for values in queryset.prefetch_related(None).values_list(*lookups)[:limit].iterator(chunk_size=CHUNK_ROWS):
        row(texts(values))
    writer.close()
    return writer.rows - 1


def stamped_filename(stem: str) -> str:
    """``<stem>-<local date and time>.xlsx``: downloads of the same list on one day do not overwrite each other."""
    return f"{stem}-{timezone.localtime():%Y%m%d-%H%M}.xlsx"


def xlsx_download(write, filename: str) -> FileResponse:
    """A download of the workbook ``write(fileobj)`` writes, through a temporary file (memory stays flat); the
    file name in UTF-8 for browsers that read only ``filename*``."""
    tmp = tempfile.TemporaryFile()  # noqa: SIM115 — FileResponse closes it after streaming
    write(tmp)
    tmp.seek(0)
    response = FileResponse(tmp, content_type=XLSX, as_attachment=True, filename=filename)
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(filename)}"
    return response


def xlsx_response(queryset, columns, title: str, filename_stem: str) -> FileResponse:
    limit = settings.HOUQIN_EXPORT_MAX_ROWS

    def write(fileobj):
        if write_xlsx_from_values(queryset, columns, title, fileobj, limit) is None:
            write_xlsx(queryset[:limit].iterator(chunk_size=CHUNK_ROWS), columns, title, fileobj)

    return xlsx_download(write, stamped_filename(filename_stem))
