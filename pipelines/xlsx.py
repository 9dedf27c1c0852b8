"""Writing xlsx files with openpyxl, safely.

Text that came from SAP or from a person (descriptions, notes) is always written as a text
cell: openpyxl would otherwise store ``=HYPERLINK(...)`` or ``+1-2`` as a live formula.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font, PatternFill
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

HEADER_FONT = Font(bold=True, color="FFFFFF")
HEADER_FILL = PatternFill("solid", fgColor="1F4E79")
TITLE_FONT = Font(bold=True, size=13)


def text_cell(sheet: WriteOnlyWorksheet, value: Any, **style: Any) -> WriteOnlyCell:
    """A cell whose value can never become a formula: strings are stored as text."""
    cell = WriteOnlyCell(sheet, value=value)
    if isinstance(value, str):
        cell.data_type = "s"
    for name, setting in style.items():
        setattr(cell, name, setting)
    return cell


def _cell(sheet: WriteOnlyWorksheet, value: Any) -> WriteOnlyCell:
    if isinstance(value, datetime | date | int | float) or value is None:
        cell = WriteOnlyCell(sheet, value=value)
        if isinstance(value, datetime | date):
            cell.number_format = "yyyy-mm-dd hh:mm" if isinstance(value, datetime) else "yyyy-mm-dd"
        return cell
    return text_cell(sheet, str(value))


def append_table(
    sheet: WriteOnlyWorksheet,
    frame: pl.DataFrame,
    *,
    headers: Sequence[str] | None = None,
    title: Iterable[str] = (),
) -> None:
    """Title lines, a styled header row, then the frame's rows."""
    for line in title:
        sheet.append([text_cell(sheet, line, font=TITLE_FONT)])
    if title:
        sheet.append([])
    labels = headers or frame.columns
    sheet.append([text_cell(sheet, h, font=HEADER_FONT, fill=HEADER_FILL) for h in labels])
    for row in frame.iter_rows():
        sheet.append([_cell(sheet, v) for v in row])


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
        sheet = book.create_sheet(title=name[:31])
        for index, column in enumerate(frame.columns):
            letter = _column_letter(index)
            sheet.column_dimensions[letter].width = (widths or {}).get(
                column, min(max(len(column) + 4, 12), 45)
            )
        append_table(sheet, frame, title=(titles or {}).get(name, ()))
    book.save(path)
    return path


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters
