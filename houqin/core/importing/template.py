"""The downloadable .xlsx template of an importer: its columns with an example row, and an instructions sheet
that lists every column, whether it is required and its allowed values (offered as drop-downs as well)."""

from __future__ import annotations

import io

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.worksheet.datavalidation import DataValidation

from houqin.core.importing.base import Importer

INSTRUCTIONS_SHEET = "填写说明"
_HEADER_FILL = PatternFill("solid", fgColor="DCE7F7")
_EXAMPLE_FILL = PatternFill("solid", fgColor="FFF7D6")


def build_template(importer: type[Importer], limits=None) -> bytes:
    from houqin.core.importing.limits import Limits

    limits = limits or Limits.from_settings()
    wb = Workbook()
    sheet = wb.active
    sheet.title = importer.title[:31] or "数据"
    notes = wb.create_sheet(INSTRUCTIONS_SHEET)

    for column, f in enumerate(importer.fields, start=1):
        cell = sheet.cell(row=1, column=column, value=f.header)
        cell.font = Font(bold=True, color="C00000" if f.required else "000000")
        cell.fill = _HEADER_FILL
        cell.alignment = Alignment(horizontal="center", vertical="center")
        if f.help:
            cell.comment = Comment(f.help, "智慧后勤")
        example = sheet.cell(row=2, column=column, value=f.example if f.example != "" else None)
        example.fill = _EXAMPLE_FILL
        width = max(len(f.header) * 2 + 4, len(str(f.example)) * 2 + 2, 10)
        sheet.column_dimensions[get_column_letter(column)].width = min(width, 40)
    sheet.freeze_panes = "A2"

    # Instructions: one row per column, then the allowed values in columns to the right (drop-down sources).
    notes.append([f"{importer.title}导入说明"])
    notes["A1"].font = Font(bold=True, size=14)
    lines = [
        "1. 第一行是列名，请不要修改列名；带 * 的列必须填写。表格上方可以保留标题行，系统会自动找到列名所在的行。",
        "2. 第二行（黄色）是示例，可以直接改成实际数据；不需要的示例行请删除。",
        f"3. 一次最多导入 {limits.max_rows:,} 行，文件不超过 {limits.max_bytes_display}；"
        "支持 .xlsx 和 .csv（UTF-8 或 GBK 编码）。",
        "4. 导入前会先预览：有错误的行会标出行号和原因，全部改正后才能确认导入；任何一行有错，都不会写入任何数据。",
        "5. 再次导入同一文件不会重复新增：已有的记录会按关键列找到并更新，没有变化的记录保持不变。",
        *importer.notes,
    ]
    for line in lines:
        notes.append([line])
    notes.append([])
    header_row = notes.max_row + 1
    notes.append(["列名", "是否必填", "说明", "示例", "可选值"])
    for cell in notes[header_row]:
        cell.font = Font(bold=True)
        cell.fill = _HEADER_FILL
    for f in importer.fields:
        notes.append([f.label, "必填" if f.required else "选填", f.help, f.example if f.example != "" else "",
                      "、".join(f.choices)])
    notes.column_dimensions["A"].width = 16
    notes.column_dimensions["B"].width = 10
    notes.column_dimensions["C"].width = 60
    notes.column_dimensions["D"].width = 18
    notes.column_dimensions["E"].width = 60

    list_column = 8  # H onwards: one column of allowed values per choice field
    for column, f in enumerate(importer.fields, start=1):
        if not f.choices:
            continue
        letter = get_column_letter(list_column)
        notes.cell(row=header_row, column=list_column, value=f.label).font = Font(bold=True)
        for offset, choice in enumerate(f.choices, start=1):
            notes.cell(row=header_row + offset, column=list_column, value=choice)
        source = (f"{quote_sheetname(INSTRUCTIONS_SHEET)}!${letter}${header_row + 1}:"
                  f"${letter}${header_row + len(f.choices)}")
        validation = DataValidation(type="list", formula1=source, allow_blank=True, showErrorMessage=True,
                                    errorTitle="请从列表中选择", error=f"{f.label}可选：{'、'.join(f.choices)}")
        target = get_column_letter(column)
        validation.add(f"{target}2:{target}{min(limits.max_rows, 5000) + 1}")
        sheet.add_data_validation(validation)
        list_column += 1

    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()
