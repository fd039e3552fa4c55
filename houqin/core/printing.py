"""Print layouts: label sheets (A4 grids and label-printer rolls), record sheets and list sheets.

Everything prints from the browser: the pages are plain HTML sized in millimetres, with the ``@page`` rules
in ``core/static/core/labels.css``. This module holds what does not depend on a request:

* ``LAYOUTS``: the label layouts a user can choose from (``Layout``);
* ``prepare_labels`` / ``label_pages``: label dicts → QR codes → pages of cells;
* ``MAX_LABELS`` / ``MAX_PRINT_ROWS``: how much one request may print.

A label is a dict:

    {"title": "甲城第一小学",        # first line, small: the school
     "code": "101",                  # big line: number or code
     "name": "一(1)班教室",           # small line(s): name
     "extra": "校本部 · 教学楼 · 1层",  # optional last line: location
     "url": "https://…/q/r/…/"}      # what the QR code holds (or "qr": ready-made inline SVG)

The views that use it are in ``houqin.core.views.printing`` (see docs/printing.md).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from houqin.core import qr

MAX_LABELS = 2000
MAX_PRINT_ROWS = 2000
A4 = (210.0, 297.0)


class TooMany(Exception):
    """More rows or labels than one print request may hold."""

    def __init__(self, limit: int, what: str = "张标签"):
        self.limit = limit
        super().__init__(f"超过 {limit:,} {what}（单次打印上限），请缩小筛选范围后分批打印。")


@dataclass(frozen=True)
class Layout:
    """A label layout. Sizes in millimetres. ``page`` names the ``@page`` rule of labels.css that sizes the
    paper: ``a4`` (A4, no margin: the sheet positions the labels itself) or ``roll-WxH`` (one label a page)."""

    key: str
    name: str
    page: str
    page_w: float
    page_h: float
    cols: int
    rows: int
    label_w: float
    label_h: float
    margin_top: float = 0.0
    margin_left: float = 0.0
    gap_x: float = 0.0
    gap_y: float = 0.0
    font_pt: float = 8.0  # base font size; the code line is twice as large
    padding: float = 2.0  # inside each label: printers do not print to the edge
    qr_max: float | None = None  # a smaller QR code leaves the text more room on narrow labels

    @property
    def per_page(self) -> int:
        return self.cols * self.rows

    @property
    def is_roll(self) -> bool:
        return self.per_page == 1

    @property
    def qr_mm(self) -> float:
        """Side of the QR code: the label height less padding and the title line."""
        title_mm = self.font_pt * 0.3528 * 1.3
        fit = round(self.label_h - 2 * self.padding - title_mm - 0.5, 1)
        return min(fit, self.qr_max) if self.qr_max else fit

    @property
    def style(self) -> str:
        """CSS custom properties the sheet reads (labels.css); numbers only, so safe in a style attribute."""
        values = {
            "--page-w": f"{self.page_w}mm", "--page-h": f"{self.page_h}mm",
            "--cols": self.cols, "--label-w": f"{self.label_w}mm", "--label-h": f"{self.label_h}mm",
            "--margin-top": f"{self.margin_top}mm", "--margin-left": f"{self.margin_left}mm",
            "--gap-x": f"{self.gap_x}mm", "--gap-y": f"{self.gap_y}mm",
            "--label-pad": f"{self.padding}mm", "--label-font": f"{self.font_pt}pt", "--qr": f"{self.qr_mm}mm",
        }
        return ";".join(f"{k}:{v}" for k, v in values.items())

    def check(self) -> None:
        """The grid fits the paper (raises ValueError otherwise)."""
        width = self.margin_left + self.cols * self.label_w + (self.cols - 1) * self.gap_x
        height = self.margin_top + self.rows * self.label_h + (self.rows - 1) * self.gap_y
        if width > self.page_w + 0.01 or height > self.page_h + 0.01:
            raise ValueError(f"layout {self.key}: {width:.1f}×{height:.1f} mm does not fit the page")
        if self.qr_mm < 10:
            raise ValueError(f"layout {self.key}: the QR code would be smaller than 10 mm")


def a4_sheet(key: str, cols: int, rows: int, label_w: float, label_h: float, *, gap_x: float = 0.0,
             gap_y: float = 0.0, font_pt: float = 8.0, padding: float = 2.0) -> Layout:
    """An A4 label sheet whose grid is centred on the page (how the common self-adhesive sheets are cut)."""
    margin_left = round((A4[0] - cols * label_w - (cols - 1) * gap_x) / 2, 2)
    margin_top = round((A4[1] - rows * label_h - (rows - 1) * gap_y) / 2, 2)
    name = f"A4 {cols}×{rows}（{label_w:g}×{label_h:g} mm，每页 {cols * rows} 张）"
    return Layout(key, name, "a4", *A4, cols, rows, label_w, label_h, margin_top, margin_left, gap_x, gap_y,
                  font_pt, padding)


def roll(width: float, height: float, *, font_pt: float = 7.0, padding: float = 1.5,
         qr_max: float | None = None) -> Layout:
    """A label-printer roll: one label per page, the page the size of the label."""
    key = f"roll-{width:g}x{height:g}"
    return Layout(key, f"标签打印机 {width:g}×{height:g} mm", key, width, height, 1, 1, width, height,
                  font_pt=font_pt, padding=padding, qr_max=qr_max)


LAYOUTS: dict[str, Layout] = {
    layout.key: layout
    for layout in (
        a4_sheet("a4-3x8", 3, 8, 70, 37, font_pt=8.5),
        a4_sheet("a4-2x5", 2, 5, 100, 55, gap_x=2, gap_y=2, font_pt=11, padding=3),
        a4_sheet("a4-4x10", 4, 10, 52.5, 29.7, font_pt=6.5, padding=1.5),
        # The common "21 格" sheet (63.5 × 38.1 mm, 2.5 mm between columns, e.g. Avery L7160 and its copies).
        a4_sheet("a4-3x7", 3, 7, 63.5, 38.1, gap_x=2.5, font_pt=8),
        roll(50, 30),
        roll(40, 30, font_pt=6.5, qr_max=19),
    )
}
DEFAULT_LAYOUT = "a4-3x8"
for _layout in LAYOUTS.values():
    _layout.check()


def layout_for(key: str | None) -> Layout:
    return LAYOUTS.get(key or "", LAYOUTS[DEFAULT_LAYOUT])


@functools.lru_cache(maxsize=4096)
def _cached_svg(data: str) -> str:
    # Finding the best QR mask costs ~10 ms in pure Python; a URL's code never changes, so reprints are free.
    return qr.qr_svg(data, border=2)


def prepare_labels(labels) -> list[dict]:
    """Copies of the label dicts with ``qr`` (inline SVG) filled in from ``url`` where missing."""
    prepared = []
    for label in labels:
        item = dict(label)
        if not item.get("qr") and item.get("url"):
            item["qr"] = _cached_svg(item["url"])
        prepared.append(item)
    return prepared


def label_pages(labels: list[dict], layout: Layout, skip: int = 0) -> list[list[dict | None]]:
    """The labels cut into pages of ``layout.per_page`` cells. ``skip`` leaves the first cells of the first
    page empty (None), to print on a partly used sheet; it is ignored for rolls."""
    skip = 0 if layout.is_roll else max(0, min(int(skip), layout.per_page - 1))
    cells: list[dict | None] = [None] * skip + list(labels)
    per = layout.per_page
    return [cells[i:i + per] for i in range(0, len(cells), per)] or [[]]


def check_count(count: int, limit: int = MAX_LABELS, what: str = "张标签") -> None:
    """Raise TooMany when ``count`` (fetch ``limit + 1`` rows to know) is over ``limit``."""
    if count > limit:
        raise TooMany(limit, what)
