"""Columns: what an importer accepts (``ImportField``), how file headers are recognised, where the header
row is, and the data an import runs on (``ImportData``)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from openpyxl.utils import get_column_letter

from houqin.core.importing.errors import ImportFileError
from houqin.core.importing.reading import Sheet
from houqin.core.importing.values import Parser, cell_text, parse_text

HEADER_SCAN_ROWS = 30  # title rows, dates and notes above the header are skipped within this many rows
# A row below the data that starts with one of these (and has at most two filled cells) is a footer.
_FOOTER_WORDS = ("合计", "总计", "小计", "填表人", "制表人", "填报人", "审核人", "负责人签字", "填表日期", "制表日期",
                 "注：", "注:", "说明：", "说明:", "备注：", "备注:")
# A row whose first filled cell says this is a total (合计 57300 under the amounts), however many cells it fills.
_TOTAL_ROW = re.compile(r"^(本页|本表|全部|总)?(合计|总计|小计|累计|共计)([:：(（].*)?$")


@dataclass(frozen=True)
class ImportField:
    """One column an importer accepts.

    ``name`` is the form/model field it fills (or a name the importer resolves itself, e.g. a parent's name);
    ``label`` is the header written in the template; ``aliases`` are other headers schools use for it.
    """

    name: str
    label: str
    aliases: tuple[str, ...] = ()
    required: bool = False  # the column must be mapped and every row must fill it
    parser: Parser = parse_text
    help: str = ""  # one line in the template's instructions
    example: object = ""  # the template's example row
    choices: tuple[str, ...] = ()  # allowed values, listed in the template (and offered as a drop-down)
    default: object = None  # used for an empty cell in a new row
    keep_when_empty: bool = False  # an empty cell leaves an existing row's value as it is

    @property
    def header(self) -> str:
        return f"{self.label}*" if self.required else self.label


def normalise_header(text) -> str:
    """Header text compared case-, width- and space-insensitively, without "*" and "(必填)" marks."""
    text = unicodedata.normalize("NFKC", cell_text(text))
    text = re.sub(r"\s+", "", text).lower()
    text = text.replace("*", "").replace("＊", "")
    text = re.sub(r"[(\[【]?(必填|必填项|选填|可选|非必填)[)\]】]?", "", text)
    return text.strip(":：")


def _without_brackets(text: str) -> str:
    return re.sub(r"[(\[【][^)\]】]*[)\]】]", "", text)


class HeaderMatcher:
    """Finds the field a file header means: exact (normalised) match first, then ignoring bracketed units
    ("面积（平方米）" = "面积(㎡)" = "面积")."""

    def __init__(self, fields: tuple[ImportField, ...]):
        self.exact: dict[str, str] = {}
        self.loose: dict[str, str] = {}
        for f in fields:
            for alias in (f.label, f.name, *f.aliases):
                key = normalise_header(alias)
                if key:
                    self.exact.setdefault(key, f.name)
                    self.loose.setdefault(_without_brackets(key), f.name)

    def match(self, header) -> str | None:
        key = normalise_header(header)
        if not key:
            return None
        return self.exact.get(key) or self.loose.get(_without_brackets(key))


def _score(headers, matcher: HeaderMatcher) -> int:
    return len({matcher.match(h) for h in headers if h} - {None})


def combine_headers(upper: list, lower: list, matcher: HeaderMatcher) -> list[str]:
    """The headers of a two-row header: a cell merged over two columns in the upper row ("金额" over "单价" and
    "金额", or "取得" over "日期" and "方式") and single cells merged down over both rows ("资产名称").

    A merged cell keeps its text in its first column only, so an upper text also covers the columns to its right
    whose upper cell is empty. A column takes its lower text if that names a known column, else the upper and the
    lower text together ("取得" + "日期"); a column without lower text takes its upper text.
    """
    width = max(len(upper), len(lower))
    headers: list[str] = []
    group = ""
    for index in range(width):
        up = cell_text(upper[index]) if index < len(upper) else ""
        low = cell_text(lower[index]) if index < len(lower) else ""
        if up:
            group = up
        elif not low:
            group = ""
        if not low:
            headers.append(up)
        elif not group or group == low or matcher.match(low) is not None:
            headers.append(low)
        elif matcher.match(group + low) is not None:
            headers.append(group + low)
        else:
            headers.append(f"{group}{low}")
    return headers


def _is_sub_header(cells: list) -> bool:
    """A row that can be the second row of a header: text only (data rows have numbers or dates)."""
    filled = [c for c in cells if cell_text(c)]
    return bool(filled) and all(isinstance(c, str) for c in filled)


def header_depth(sheet: Sheet, index: int, matcher: HeaderMatcher) -> int:
    """2 if the row below the header row ``index`` completes it (a two-row header naming more known columns
    together than either row alone), else 1."""
    if index + 1 >= len(sheet.rows):
        return 1
    upper, lower = sheet.rows[index][1], sheet.rows[index + 1][1]
    if not _is_sub_header(lower):
        return 1
    pair = _score(combine_headers(upper, lower, matcher), matcher)
    alone = max(_score([cell_text(c) for c in upper], matcher), _score([cell_text(c) for c in lower], matcher))
    return 2 if pair > alone else 1


def find_header_row(sheet: Sheet, matcher: HeaderMatcher) -> int:
    """Index (in ``sheet.rows``) of the header row: the row among the first ones that names the most known
    columns (the upper one when the row above or below completes it as a two-row header); failing that, the
    first row with two or more filled cells (a title row has one, merged)."""
    best, best_score = None, 0
    for index, (_, cells) in enumerate(sheet.rows[:HEADER_SCAN_ROWS]):
        score = len({matcher.match(c) for c in cells if cell_text(c)} - {None})
        if score > best_score:
            best, best_score = index, score
    if best is not None:
        if best > 0 and header_depth(sheet, best - 1, matcher) == 2 and header_depth(sheet, best, matcher) == 1:
            return best - 1  # the best row is the lower half of a two-row header
        return best
    for index, (_, cells) in enumerate(sheet.rows[:HEADER_SCAN_ROWS]):
        if sum(1 for c in cells if cell_text(c)) >= 2:
            return index
    raise ImportFileError("找不到表头行：请确认表格中有一行列名（如“名称”），或下载导入模板填写。")


@dataclass
class ImportData:
    """What an import runs on: the file's headers, which column fills which field, and the data rows.

    ``mapping`` maps a column index (0-based, in the row lists) to a field name. Plain data: it can be stored
    as JSON and handed to a background job.
    """

    headers: list[str]
    mapping: dict[int, str]
    rows: list[tuple[int, list]]
    col_offset: int = 0
    header_row: int = 1  # the header's (first) row number as the spreadsheet shows it
    header_index: int = 0  # the header's position among the sheet's rows
    skipped: list[tuple[int, str]] = field(default_factory=list)
    header_depth: int = 1  # 2 for a two-row header (merged cells above sub-headers)

    def column_name(self, index: int) -> str:
        """How the user finds the column: its letter in the spreadsheet and its header text."""
        letter = get_column_letter(index + self.col_offset + 1)
        header = self.headers[index] if index < len(self.headers) else ""
        return f"{letter} 列「{header}」" if header else f"{letter} 列"

    def column_of(self, field_name: str) -> int | None:
        for index, name in self.mapping.items():
            if name == field_name:
                return index
        return None

    @property
    def mapped_fields(self) -> set[str]:
        return set(self.mapping.values())

    def unknown_columns(self) -> list[str]:
        return [self.column_name(i) for i, h in enumerate(self.headers) if h and i not in self.mapping]


def auto_mapping(headers: list[str], fields: tuple[ImportField, ...]) -> dict[int, str]:
    matcher = HeaderMatcher(fields)
    mapping: dict[int, str] = {}
    taken: set[str] = set()
    for index, header in enumerate(headers):
        name = matcher.match(header)
        if name and name not in taken:  # a second column for the same field is left out (and reported)
            mapping[index] = name
            taken.add(name)
    return mapping


def mapping_errors(mapping: dict[int, str], fields: tuple[ImportField, ...], data: ImportData) -> list[str]:
    """Problems that stop the import before any row is read: required columns missing, a field mapped twice."""
    by_name = {f.name: f for f in fields}
    errors = []
    seen: dict[str, int] = {}
    for index, name in sorted(mapping.items()):
        if name not in by_name:
            errors.append(f"{data.column_name(index)} 对应的字段不存在。")
        elif name in seen:
            errors.append(f"“{by_name[name].label}”对应了两列：{data.column_name(seen[name])} 和 "
                          f"{data.column_name(index)}，请只保留一列。")
        else:
            seen[name] = index
    missing = [f.label for f in fields if f.required and f.name not in seen]
    if missing:
        errors.append(f"缺少必填列：{'、'.join(missing)}。请在表头中加上这些列，或在下方为它们选择对应的列。")
    return errors


def build_data(sheet: Sheet, fields: tuple[ImportField, ...], header_index: int | None = None,
               mapping: dict[int, str] | None = None, max_rows: int | None = None) -> ImportData:
    """Split a sheet into header and data rows and map the columns (automatically unless ``mapping`` is given).

    The header may span two rows (see ``combine_headers``); ``header_index`` is then its upper row. Empty rows,
    total rows (合计/小计 …, wherever they are) and footer lines (填表人 …) are left out, the latter two listed in
    ``skipped``."""
    matcher = HeaderMatcher(fields)
    if header_index is None:
        header_index = find_header_row(sheet, matcher)
    header_number, header_cells = sheet.rows[header_index]
    depth = header_depth(sheet, header_index, matcher)
    if depth == 2:
        headers = combine_headers(header_cells, sheet.rows[header_index + 1][1], matcher)
    else:
        headers = [cell_text(c) for c in header_cells]
    rows: list[tuple[int, list]] = []
    skipped: list[tuple[int, str]] = []
    for number, cells in sheet.rows[header_index + depth:]:
        first = next((t for t in map(cell_text, cells) if t), None)
        if first is None:
            continue
        if first[0] in "合总小累共本全":
            folded = re.sub(r"\s+", "", first)
            if _TOTAL_ROW.match(folded):
                skipped.append((number, f"合计行“{folded[:20]}”，已忽略"))
                continue
        if first.startswith(_FOOTER_WORDS) and sum(1 for c in cells if cell_text(c)) <= 2:
            skipped.append((number, f"表尾“{first[:20]}”，已忽略"))
            continue
        rows.append((number, cells if isinstance(cells, list) else list(cells)))
    if max_rows is not None and len(rows) > max_rows:
        raise ImportFileError(f"数据超过 {max_rows:,} 行的上限，请分成几个文件导入。")
    width = max([len(headers), *(len(c) for _, c in rows)]) if rows else len(headers)
    headers += [""] * (width - len(headers))
    data = ImportData(headers=headers, mapping={}, rows=rows, col_offset=sheet.col_offset,
                      header_row=header_number, header_index=header_index, skipped=skipped, header_depth=depth)
    data.mapping = dict(mapping) if mapping is not None else auto_mapping(headers, fields)
    return data


def load_data(path, ext: str, fields: tuple[ImportField, ...], header_index: int | None = None,
              mapping: dict[int, str] | None = None, limits=None) -> ImportData:
    """Read a stored upload and split it into header and data rows. Raises ImportFileError."""
    from houqin.core.importing.limits import Limits
    from houqin.core.importing.reading import read_sheet

    limits = limits or Limits.from_settings()
    sheet = read_sheet(path, ext, limits)
    if header_index is not None and not 0 <= header_index < len(sheet.rows):
        header_index = None
    return build_data(sheet, fields, header_index=header_index, mapping=mapping, max_rows=limits.max_rows)
