"""Count worksheets to print and fill in, and the managers' variance report (xlsx).

A worksheet lists one line per material to count (one day's planned schedule lines, by counter
or by storage location) with its description, the last locations it was found in, and blank
Location and Counted Qty columns; below them spare blank lines for finds in further locations.
Its header uses the count-sheet labels of ``pipelines.sap.headers``, so a filled-in sheet
dropped into the drop folder (or uploaded) loads back through the ordinary count-sheet loader:
lines left blank are skipped, a line with a location and no quantity is a "location seen, not
counted" entry. Worksheets are blind by default: the SAP quantity column is left out entirely
(not hidden). Every text cell is written as text, never as a formula.

The variance report deliberately avoids the labels of an export (it has no "Plant" or "Counted
Qty" column), so dropping it into the drop folder is rejected instead of loaded.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path

import duckdb
import polars as pl
from openpyxl import Workbook
from openpyxl.formatting.rule import FormulaRule
from openpyxl.styles import Alignment, Font
from openpyxl.worksheet.worksheet import Worksheet

from pipelines.counting.accuracy import accuracy_totals, inventory_accuracy
from pipelines.counting.config import CountingConfig, get_counting_config
from pipelines.counting.materials import last_locations
from pipelines.counting.reconcile import sap_quantities
from pipelines.reports.xlsx import (
    BOLD,
    FLAG_FILL,
    GRID,
    header_row,
    put,
    safe_sheet_title,
    set_widths,
)
from pipelines.warehouse.db import fetch

# Labels the count-sheet loader reads (HEADER_SYNONYMS) plus a few it ignores.
WORKSHEET_COLUMNS: tuple[tuple[str, str, float], ...] = (
    # (label, line field, width)
    ("Count Date", "count_date", 11),
    ("Material", "material", 18),
    ("Plant", "plant", 7),
    ("Description", "description", 34),
    ("Storage Location", "storage_location", 10),
    ("Last Locations", "last_locations", 22),
    ("SAP Qty", "sap_qty", 11),
    ("Unit", "base_uom", 6),
    ("Location", None, 16),
    ("Counted Qty", None, 13),
    ("Counter", "counter", 12),
    ("Notes", None, 28),
)
HEADER_ROW = 4
LAST_LOCATIONS = 3
UNASSIGNED = "unassigned"


def worksheet_columns(blind: bool = True) -> list[tuple[str, str | None, float]]:
    return [c for c in WORKSHEET_COLUMNS if not (blind and c[0] == "SAP Qty")]


def worksheet_lines(
    con: duckdb.DuckDBPyConnection,
    count_date: date,
    *,
    by: str = "counter",
    plant: str | None = None,
    include_counted: bool = False,
    config: CountingConfig | None = None,
) -> pl.DataFrame:
    """The lines of ``count_date``'s worksheets, with a ``sheet`` column naming the sheet.

    ``by="counter"``: one sheet per counter (``unassigned`` for lines without one), storage
    location as scheduled. ``by="location"``: one sheet per storage location; a line for all
    storage locations is split into the locations the latest snapshot holds stock lines in, or
    the material was last counted in (``unassigned`` when none is known). Only planned lines
    unless ``include_counted`` (a reprint must not invite counting twice).
    """
    if by not in ("counter", "location"):
        raise ValueError(f"worksheets are by 'counter' or 'location', not {by!r}")
    config = config or get_counting_config()
    lines = fetch(
        con,
        """SELECT s.material, s.plant, s.storage_location, s.counter,
                  min(s.priority) AS priority,
                  string_agg(DISTINCT s.reason, ', ' ORDER BY s.reason) AS reasons,
                  m.description, m.base_uom
           FROM count_schedule s LEFT JOIN material m USING (material, plant)
           WHERE s.count_date = $day
             AND (s.status = 'planned' OR (CAST($counted AS BOOLEAN) AND s.status = 'counted'))
             AND (CAST($plant AS VARCHAR) IS NULL OR s.plant = $plant)
           GROUP BY ALL""",
        {"day": count_date, "plant": plant, "counted": include_counted},
    )
    last = last_locations(con, before=count_date, places=LAST_LOCATIONS)
    lines = lines.join(last, on=["material", "plant"], how="left")
    keys = lines.select(pl.lit(count_date).alias("count_date"), "material", "plant")
    by_location = sap_quantities(con, keys, by_storage_location=True, config=config) \
        if lines.height else pl.DataFrame(schema={
            "count_date": pl.Date, "material": pl.String, "plant": pl.String,
            "sap_snapshot_date": pl.Date, "storage_location": pl.String, "sap_qty": pl.Float64})
    stock = by_location.filter(pl.col("storage_location").is_not_null()).select(
        "material", "plant", "storage_location", "sap_qty")
    totals = by_location.group_by("material", "plant").agg(
        pl.col("sap_qty").sum().alias("sap_total"))

    if by == "location":
        open_lines = lines.filter(pl.col("storage_location").is_null()).drop("storage_location")
        from_stock = open_lines.join(stock.select("material", "plant", "storage_location"),
                                     on=["material", "plant"])
        from_counts = (
            open_lines.with_columns(storage_location=pl.col("counted_storage_locations"))
            .explode("storage_location")
            .filter(pl.col("storage_location").is_not_null())
        )
        expanded = pl.concat([from_stock.select(lines.columns),
                              from_counts.select(lines.columns)]).unique(
            subset=["material", "plant", "storage_location"], keep="first",
            maintain_order=True)
        unknown = open_lines.join(expanded.select("material", "plant").unique(),
                                  on=["material", "plant"], how="anti").with_columns(
            pl.lit(None, dtype=pl.String).alias("storage_location"))
        lines = pl.concat([
            lines.filter(pl.col("storage_location").is_not_null()),
            expanded,
            unknown.select(lines.columns),
        ])
        sheet = pl.col("storage_location").fill_null(UNASSIGNED)
    else:
        sheet = pl.col("counter").fill_null(UNASSIGNED)

    lines = (
        lines.join(stock, on=["material", "plant", "storage_location"], how="left")
        .join(totals, on=["material", "plant"], how="left")
        .with_columns(
            sap_qty=pl.when(pl.col("storage_location").is_null()).then(pl.col("sap_total"))
            .otherwise(pl.col("sap_qty").fill_null(0.0)),
            count_date=pl.lit(count_date),
            sheet=sheet,
        )
    )
    # One line per material × plant × storage location on a sheet: two lines would invite
    # counting the same stock twice (counts of a day add up).
    lines = lines.group_by("sheet", "material", "plant", "storage_location").agg(
        pl.col("count_date").first(),
        pl.col("description").first(),
        pl.col("base_uom").first(),
        pl.col("last_locations").first(),
        pl.col("sap_qty").first(),
        pl.col("counter").drop_nulls().unique().sort().str.join(", ").alias("counter"),
        pl.col("priority").min(),
        pl.col("reasons").str.join(", "),
    ).with_columns(pl.when(pl.col("counter") == "").then(None).otherwise(pl.col("counter"))
                   .alias("counter"))
    return lines.sort(
        "sheet", pl.col("storage_location"), pl.col("last_locations"), "plant", "material",
        nulls_last=True,
    ).select(
        "sheet", "count_date", "material", "plant", "description", "storage_location",
        "last_locations", "sap_qty", "base_uom", "counter", "priority", "reasons",
    )


def write_worksheet(
    path: Path | str,
    lines: pl.DataFrame,
    *,
    count_date: date,
    title: str,
    blind: bool = True,
    spare_lines: int = 10,
    printed_at: datetime | None = None,
) -> Path:
    """One printable worksheet (a single sheet, so the loader reads it back whole)."""
    path = Path(path)
    columns = worksheet_columns(blind)
    workbook = Workbook()
    ws = workbook.active
    assert ws is not None
    ws.title = safe_sheet_title(f"Count {count_date.isoformat()}")
    put(ws, 1, 1, title).font = Font(bold=True, size=14)
    printed = (printed_at or datetime.now()).strftime("%Y-%m-%d %H:%M")
    put(ws, 2, 1,
        f"{lines.height} materials. Write every location on its own line; a location with "
        "the material but not counted: location only, quantity empty; nothing there: 0. "
        "Quantities may be sums like 24*12+7. "
        + ("Blind count: SAP quantities are not shown. " if blind else "")
        + f"Printed {printed}.")
    ws.merge_cells(start_row=2, start_column=1, end_row=2, end_column=len(columns))
    ws.cell(row=2, column=1).alignment = Alignment(wrap_text=True, vertical="top")
    ws.row_dimensions[2].height = 32
    header_row(ws, HEADER_ROW, [label for label, _, _ in columns])
    set_widths(ws, [width for _, _, width in columns])
    row = HEADER_ROW
    for line in lines.iter_rows(named=True):
        row += 1
        for column, (_, field, _) in enumerate(columns, start=1):
            value = line.get(field) if field else None
            cell = put(ws, row, column, value,
                       number_format="#,##0.###" if field == "sap_qty" else None)
            cell.border = GRID
        ws.row_dimensions[row].height = 22
    for _ in range(spare_lines):
        row += 1
        for column in range(1, len(columns) + 1):
            ws.cell(row=row, column=column).border = GRID
        ws.row_dimensions[row].height = 22
    ws.freeze_panes = ws.cell(row=HEADER_ROW + 1, column=1)
    ws.print_title_rows = f"{HEADER_ROW}:{HEADER_ROW}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_options.gridLines = False
    ws.oddHeader.left.text = title.replace("&", "&&")
    ws.oddFooter.left.text = "Counted by: ____________________   Signature: ______________"
    ws.oddFooter.right.text = "Page &P of &N"
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(path)
    return path


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_") or UNASSIGNED


def write_worksheets(
    con: duckdb.DuckDBPyConnection,
    count_date: date,
    directory: Path | str,
    *,
    by: str = "counter",
    blind: bool = True,
    plant: str | None = None,
    spare_lines: int = 10,
    include_counted: bool = False,
    config: CountingConfig | None = None,
) -> list[Path]:
    """Write one worksheet file per counter (or storage location) for ``count_date``.

    Files are named ``count_<date>_<counter or location>.xlsx``: the date in the name is also
    the date the loader assumes for a line whose Count Date was cleared.
    """
    lines = worksheet_lines(con, count_date, by=by, plant=plant,
                            include_counted=include_counted, config=config)
    written = []
    for (sheet,), group in lines.group_by("sheet", maintain_order=True):
        who = "counter" if by == "counter" else "storage location"
        title = f"WICS count worksheet {count_date.isoformat()}, {who} {sheet}"
        if plant:
            title += f", plant {plant}"
        path = Path(directory) / f"count_{count_date.isoformat()}_{_slug(str(sheet))}.xlsx"
        written.append(write_worksheet(path, group, count_date=count_date, title=title,
                                       blind=blind, spare_lines=spare_lines))
    return written


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
        from openpyxl.utils import get_column_letter

        end_column = get_column_letter(len(columns))
        detail.auto_filter.ref = f"A1:{end_column}{last}"
        flag_column = get_column_letter(
            [field for _, field, _, _ in columns].index("within_label") + 1)
        detail.conditional_formatting.add(
            f"A2:{end_column}{last}",
            FormulaRule(formula=[f'${flag_column}2="NO"'], fill=FLAG_FILL),
        )
    for ws in (summary, detail):
        ws.page_setup.orientation = "landscape"
        ws.page_setup.fitToWidth = 1
        ws.page_setup.fitToHeight = 0
        ws.sheet_properties.pageSetUpPr.fitToPage = True
        ws.oddFooter.right.text = "Page &P of &N"
    detail.print_title_rows = "1:1"
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(path)
    return path
