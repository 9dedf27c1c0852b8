"""Count worksheets to print and fill in (xlsx).

A worksheet lists one line per material to count (one day's planned schedule lines, by counter
or by storage location) with its description, the last locations it was found in, and blank
Location and Counted Qty columns; below them spare blank lines for finds in further locations.
Its header uses the count-sheet labels of ``pipelines.sap.headers``, so a filled-in sheet
dropped into the drop folder (or uploaded) loads back through the ordinary count-sheet loader:
lines left blank are skipped, a line with a location and no quantity is a "location seen, not
counted" entry. Worksheets are blind by default: the SAP quantity column is left out entirely
(not hidden). Every text cell is written as text, never as a formula.

The managers' variance report is in ``pipelines.reports.variance_report``.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path

import duckdb
import polars as pl
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font

from pipelines.counting.config import CountingConfig
from pipelines.counting.materials import last_locations
from pipelines.counting.reconcile import sap_quantities
from pipelines.reports.xlsx import (
    GRID,
    fit_to_page_width,
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
    config: CountingConfig,
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
    lines = _scheduled_lines(con, count_date, plant, include_counted).join(
        last_locations(con, before=count_date, places=LAST_LOCATIONS),
        on=["material", "plant"], how="left")
    stock = _stock_by_location(con, lines, count_date, config)
    if by == "location":
        lines = _split_by_location(lines, stock)
        sheet = pl.col("storage_location").fill_null(UNASSIGNED)
    else:
        sheet = pl.col("counter").fill_null(UNASSIGNED)
    totals = stock.group_by("material", "plant").agg(pl.col("sap_qty").sum().alias("sap_total"))
    lines = (
        lines.join(stock.filter(pl.col("storage_location").is_not_null()),
                   on=["material", "plant", "storage_location"], how="left")
        .join(totals, on=["material", "plant"], how="left")
        .with_columns(
            sap_qty=pl.when(pl.col("storage_location").is_null()).then(pl.col("sap_total"))
            .otherwise(pl.col("sap_qty").fill_null(0.0)),
            count_date=pl.lit(count_date),
            sheet=sheet,
        )
    )
    return _one_line_per_place(lines).sort(
        "sheet", pl.col("storage_location"), pl.col("last_locations"), "plant", "material",
        nulls_last=True,
    ).select(
        "sheet", "count_date", "material", "plant", "description", "storage_location",
        "last_locations", "sap_qty", "base_uom", "counter", "priority", "reasons",
    )


def _scheduled_lines(con: duckdb.DuckDBPyConnection, count_date: date, plant: str | None,
                     include_counted: bool) -> pl.DataFrame:
    """The day's schedule lines, one per material × plant × storage location × counter."""
    return fetch(
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


def _stock_by_location(con: duckdb.DuckDBPyConnection, lines: pl.DataFrame, count_date: date,
                       config: CountingConfig) -> pl.DataFrame:
    """SAP quantity per material × plant × storage location of the lines (snapshot of the
    count date, the configured stock basis)."""
    if lines.is_empty():
        return pl.DataFrame(schema={"material": pl.String, "plant": pl.String,
                                    "storage_location": pl.String, "sap_qty": pl.Float64})
    keys = lines.select(pl.lit(count_date).alias("count_date"), "material", "plant")
    return sap_quantities(con, keys, by_storage_location=True, config=config).select(
        "material", "plant", "storage_location", "sap_qty")


def _split_by_location(lines: pl.DataFrame, stock: pl.DataFrame) -> pl.DataFrame:
    """Lines for all storage locations become one line per storage location that holds stock
    or was counted before; ``None`` (the unassigned sheet) when neither is known."""
    open_lines = lines.filter(pl.col("storage_location").is_null()).drop("storage_location")
    places = stock.filter(pl.col("storage_location").is_not_null()).select(
        "material", "plant", "storage_location")
    from_stock = open_lines.join(places, on=["material", "plant"])
    from_counts = (
        open_lines.with_columns(storage_location=pl.col("counted_storage_locations"))
        .explode("storage_location")
        .filter(pl.col("storage_location").is_not_null())
    )
    expanded = pl.concat([from_stock.select(lines.columns),
                          from_counts.select(lines.columns)]).unique(
        subset=["material", "plant", "storage_location"], keep="first", maintain_order=True)
    unknown = open_lines.join(expanded.select("material", "plant").unique(),
                              on=["material", "plant"], how="anti").with_columns(
        pl.lit(None, dtype=pl.String).alias("storage_location"))
    return pl.concat([
        lines.filter(pl.col("storage_location").is_not_null()),
        expanded,
        unknown.select(lines.columns),
    ])


def _one_line_per_place(lines: pl.DataFrame) -> pl.DataFrame:
    """One line per material × plant × storage location on a sheet: two lines would invite
    counting the same stock twice (counts of a day add up)."""
    return lines.group_by("sheet", "material", "plant", "storage_location").agg(
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
    fit_to_page_width(ws)
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.print_options.gridLines = False
    ws.oddHeader.left.text = title.replace("&", "&&")
    ws.oddFooter.left.text = "Counted by: ____________________   Signature: ______________"
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
    config: CountingConfig,
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
