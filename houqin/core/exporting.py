"""Export the current filtered list to .xlsx, streaming rows (openpyxl write-only mode) so memory stays flat."""

from __future__ import annotations

import tempfile
from urllib.parse import quote

from django.conf import settings
from django.http import FileResponse
from django.utils import timezone
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _safe(text: str) -> str:
    # A cell starting with = + - @ would be run as a formula by Excel (CSV/formula injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@") and not _is_number(text) else text


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", ""))
    except ValueError:
        return False
    return True


def write_xlsx(rows, columns, title: str, fileobj) -> int:
    """Write ``rows`` (model instances) with ``columns`` (tables.Column) to fileobj; returns the row count."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title=title[:31] or "Sheet1")
    bold = Font(bold=True)
    header = []
    for column in columns:
        cell = WriteOnlyCell(ws, value=str(column.label))
        cell.font = bold
        header.append(cell)
    ws.append(header)
    count = 0
    for obj in rows:
        ws.append([_safe(column.text(obj)) for column in columns])
        count += 1
    wb.save(fileobj)
    return count


def xlsx_response(queryset, columns, title: str, filename_stem: str) -> FileResponse:
    limit = settings.HOUQIN_EXPORT_MAX_ROWS
    tmp = tempfile.TemporaryFile()  # noqa: SIM115 — FileResponse closes it after streaming
    write_xlsx(queryset[:limit].iterator(chunk_size=2000), columns, title, tmp)
    tmp.seek(0)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    filename = f"{filename_stem}-{stamp}.xlsx"
    response = FileResponse(tmp, content_type=XLSX, as_attachment=True, filename=filename)
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(filename)}"
    return response
