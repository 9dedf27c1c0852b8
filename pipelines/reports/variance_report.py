"""The managers' variance report (xlsx): a summary sheet and the variance lines.

It deliberately avoids the labels of an export (it has no "Plant" or "Counted Qty" column), so
dropping it into the drop folder is rejected instead of loaded.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import polars as pl
from openpyxl import Workbook
from openpyxl.formatting.rule import FormulaRule
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from pipelines.counting.accuracy import accuracy_totals, inventory_accuracy
from pipelines.reports.xlsx import (
    BOLD,
    FLAG_FILL,
    GRID,
    fit_to_page_width,
    header_row,
    put,
    set_widths,
)
from pipelines.warehouse.db import fetch

REPORT_COLUMNS: tuple[tuple[str, str, float, str | None], ...] = (
    # (label, field, width, number format); no export labels for plant or quantities.
    ("Count date", "count_date", 11, None),
    ("Material", "material", 18, None),
    ("Plant code", "plant", 8, None),
    ("Material description", "description", 32, None),
    ("ABC class", "abc_indicator", 6, None),
    ("Counted (sum)", "counted_qty", 12, "#,##0.###"),
    ("SAP (snapshot)", "sap_qty", 12, "#,##0.###"),
    ("Snapshot of", "sap_snapshot_date", 11, None),
    ("Variance", "variance_qty", 11, "#,##0.###;-#,##0.###"),
    ("Variance %", "variance_pct", 10, "0.00"),
    ("Tolerance %", "tolerance_pct", 10, "0.0"),
    ("Value per unit", "unit_price", 11, "#,##0.0000"),
    ("Variance value", "variance_value", 13, "#,##0.00;-#,##0.00"),
    ("Curr.", "currency", 6, None),
    ("Within tolerance", "within_label", 10, None),
    ("Recount", "recount_label", 8, None),
    ("Counted by", "counters", 14, None),
    ("Flags", "flags", 22, None),
)


def variance_report_lines(
    con: duckdb.DuckDBPyConnection,
    *,
    start: date,
    end: date,
    plant: str | None = None,
    only_out_of_tolerance: bool = False,
) -> pl.DataFrame:
    """The variance lines of a date range with descriptions, biggest absolute value first."""
    return fetch(
        con,
        """SELECT v.*, m.description,
                  CASE WHEN v.within_tolerance THEN 'yes'
                       WHEN NOT v.within_tolerance THEN 'NO' ELSE 'no snapshot' END
                      AS within_label,
                  CASE WHEN v.needs_recount THEN 'yes' ELSE '' END AS recount_label,
                  concat_ws(', ',
                      CASE WHEN v.movement_during_count THEN 'movement during count' END,
                      CASE WHEN v.possibly_not_received THEN 'possibly not received' END)
                      AS flags
           FROM count_variance v LEFT JOIN material m USING (material, plant)
           WHERE v.count_date BETWEEN $start AND $end
             AND (CAST($plant AS VARCHAR) IS NULL OR v.plant = $plant)
             AND (NOT CAST($only_out AS BOOLEAN) OR NOT coalesce(v.within_tolerance, TRUE))
           ORDER BY abs(v.variance_value) DESC NULLS LAST, v.count_date, v.plant,
                    v.material""",
        {"start": start, "end": end, "plant": plant, "only_out": only_out_of_tolerance},
    )


def _table(ws: Worksheet, top: int, frame: pl.DataFrame,
           columns: list[tuple[str, str, float, str | None]]) -> int:
    header_row(ws, top, [label for label, _, _, _ in columns])
    row = top
    for line in frame.iter_rows(named=True):
        row += 1
        for column, (_, field, _, number_format) in enumerate(columns, start=1):
            put(ws, row, column, line.get(field), number_format=number_format).border = GRID
    return row


def write_variance_report(
    con: duckdb.DuckDBPyConnection,
    path: Path | str,
    *,
    start: date,
    end: date,
    plant: str | None = None,
    only_out_of_tolerance: bool = False,
) -> Path:
    """A variance report for managers: a summary sheet and the variance lines."""
    path = Path(path)
    lines = variance_report_lines(con, start=start, end=end, plant=plant,
                                  only_out_of_tolerance=only_out_of_tolerance)
    totals = accuracy_totals(con, start=start, end=end)
    by_group = inventory_accuracy(con, period=None, by=("plant", "abc_indicator"),
                                  start=start, end=end)
    if plant:
        by_group = by_group.filter(pl.col("plant") == plant)
    workbook = Workbook()
    summary = workbook.active
    assert summary is not None
    summary.title = "Summary"
    scope = f"{start.isoformat()} to {end.isoformat()}" + (f", plant {plant}" if plant else "")
    put(summary, 1, 1, f"WICS variance report, {scope}").font = Font(bold=True, size=14)
    facts = [
        ("Lines counted (with a snapshot)", totals["lines_counted"], "#,##0"),
        ("Lines within tolerance", totals["lines_within"], "#,##0"),
        ("Inventory record accuracy %", totals["ira_pct"], "0.0"),
        ("Lines without a snapshot", totals["lines_unreconciled"], "#,##0"),
        ("Total absolute variance value", totals["abs_variance_value"], "#,##0.00"),
        ("Total net variance value", totals["net_variance_value"], "#,##0.00"),
        ("Counts scheduled", totals["scheduled"], "#,##0"),
        ("Scheduled counts done", totals["scheduled_done"], "#,##0"),
        ("Counted without a schedule line", totals["counted_unscheduled"], "#,##0"),
    ]
    if plant:
        facts.append(("(totals above cover all plants)", None, None))
    for offset, (label, value, number_format) in enumerate(facts, start=3):
        put(summary, offset, 1, label).font = BOLD
        put(summary, offset, 2, value, number_format=number_format)
    top = 3 + len(facts) + 1
    group_columns = [
        ("Plant code", "plant", 10, None), ("ABC class", "abc_indicator", 8, None),
        ("Lines counted", "lines_counted", 10, "#,##0"),
        ("Within", "lines_within", 10, "#,##0"), ("IRA %", "ira_pct", 8, "0.0"),
        ("Abs. value", "abs_variance_value", 14, "#,##0.00"),
        ("Net value", "net_variance_value", 14, "#,##0.00;-#,##0.00"),
        ("Scheduled", "scheduled", 10, "#,##0"), ("Done", "scheduled_done", 8, "#,##0"),
    ]
    _table(summary, top, by_group, group_columns)
    set_widths(summary, [34, 14, 12, 10, 8, 14, 14, 10, 8])

    detail = workbook.create_sheet("Variances")
    columns = list(REPORT_COLUMNS)
    last = _table(detail, 1, lines, columns)
    set_widths(detail, [width for _, _, width, _ in columns])
    detail.freeze_panes = "C2"
    if last > 1:
        end_column = get_column_letter(len(columns))
        detail.auto_filter.ref = f"A1:{end_column}{last}"
        flag_column = get_column_letter(
            [field for _, field, _, _ in columns].index("within_label") + 1)
        detail.conditional_formatting.add(
            f"A2:{end_column}{last}",
            FormulaRule(formula=[f'${flag_column}2="NO"'], fill=FLAG_FILL),
        )
    for ws in (summary, detail):
        fit_to_page_width(ws)
    detail.print_title_rows = "1:1"
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(path)
    return path
