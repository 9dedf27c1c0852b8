"""Writing xlsx files with openpyxl so that text stays text.

Text from SAP or typed by people (descriptions, material numbers, notes) may start with
``= + - @``; written naively, Excel would run it as a formula (CSV/formula injection). Every
text cell is stored as a string cell, and a leading formula character also gets the quote
prefix Excel uses for typed text (``'=...``). Characters XML cannot hold are dropped rather
than failing the workbook. ``put`` writes one cell of a normal worksheet (count worksheets,
reports with layout); ``write_workbook`` streams frames into sheets (large reports).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from openpyxl.worksheet.worksheet import Worksheet

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")
THIN = Side(style="thin", color="808080")
GRID = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
HEADER_FILL = PatternFill("solid", fgColor="D9D9D9")
FLAG_FILL = PatternFill("solid", fgColor="F8CBAD")
BOLD = Font(bold=True)
TITLE_FONT = Font(bold=True, size=13)


def _as_text(cell: Cell | WriteOnlyCell, value: str) -> None:
    """Store ``value`` as a string cell that Excel will never evaluate."""
    text = ILLEGAL_CHARACTERS_RE.sub("", value)
    cell.value = text
    cell.data_type = "s"  # openpyxl would make '=...' a formula
    if text.startswith(FORMULA_STARTS):
        cell.quotePrefix = True


def put(ws: Worksheet, row: int, column: int, value: Any, *,
        number_format: str | None = None) -> Cell:
    """Write one cell; text is always a string cell, never a formula."""
    cell = ws.cell(row=row, column=column)
    if isinstance(value, str):
        _as_text(cell, value)
    elif isinstance(value, datetime | date):
        cell.value = value
        cell.number_format = number_format or "yyyy-mm-dd"
    else:
        cell.value = value
    if number_format and not isinstance(value, datetime | date):
        cell.number_format = number_format
    return cell


def header_row(ws: Worksheet, row: int, labels: list[str] | tuple[str, ...]) -> None:
    for column, label in enumerate(labels, start=1):
        cell = put(ws, row, column, label)
        cell.font = BOLD
        cell.fill = HEADER_FILL
        cell.border = GRID
        cell.alignment = Alignment(wrap_text=True, vertical="center")


def set_widths(ws: Worksheet, widths: list[float] | tuple[float, ...]) -> None:
    for column, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(column)].width = width


def fit_to_page_width(ws: Worksheet) -> None:
    """Print landscape, one page wide (as many pages down as needed), numbered pages."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.oddFooter.right.text = "Page &P of &N"


def safe_sheet_title(text: str) -> str:
    cleaned = "".join("_" if ch in "[]:*?/\\" else ch for ch in text).strip("'") or "Sheet"
    return cleaned[:31]


def _streamed_cell(sheet: WriteOnlyWorksheet, value: Any, **style: Any) -> WriteOnlyCell:
    cell = WriteOnlyCell(sheet)
    if isinstance(value, str):
        _as_text(cell, value)
    else:
        cell.value = value
        if isinstance(value, datetime | date):
            cell.number_format = "yyyy-mm-dd hh:mm" if isinstance(value, datetime) \
                else "yyyy-mm-dd"
    for name, setting in style.items():
        setattr(cell, name, setting)
    return cell


def append_table(
    sheet: WriteOnlyWorksheet,
    frame: pl.DataFrame,
    *,
    headers: Sequence[str] | None = None,
    title: Iterable[str] = (),
) -> None:
    """Title lines, a bold header row, then the frame's rows."""
    for line in title:
        sheet.append([_streamed_cell(sheet, line, font=TITLE_FONT)])
    if title:
        sheet.append([])
    labels = headers or frame.columns
    sheet.append([_streamed_cell(sheet, h, font=BOLD, fill=HEADER_FILL) for h in labels])
    for row in frame.iter_rows():
        sheet.append([_streamed_cell(sheet, v) if _needs_cell(v) else v for v in row])


def _needs_cell(value: Any) -> bool:
    # Plain values stream several times faster; only text that could be read as a formula
    # (or holds characters XML cannot) needs a cell of its own.
    return isinstance(value, str) and (
        value.startswith(FORMULA_STARTS) or ILLEGAL_CHARACTERS_RE.search(value) is not None
    ) or isinstance(value, date)


def write_workbook(
    path: Path,
    sheets: dict[str, pl.DataFrame],
    *,
    titles: dict[str, Sequence[str]] | None = None,
    widths: dict[str, float] | None = None,
) -> Path:
    """One sheet per frame, streamed (write-only mode keeps memory flat on big reports)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    book = Workbook(write_only=True)
    for name, frame in sheets.items():
        sheet = book.create_sheet(title=safe_sheet_title(name))
        for index, column in enumerate(frame.columns, start=1):
            sheet.column_dimensions[get_column_letter(index)].width = (widths or {}).get(
                column, min(max(len(column) + 4, 12), 45)
            )
        append_table(sheet, frame, title=(titles or {}).get(name, ()))
    book.save(path)
    return path
