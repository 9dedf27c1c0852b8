"""A spreadsheet of counts to schedule (the upload the system WICS replaces had).

One line per material to count: Count Date, Material, Plant, and optionally Storage Location,
Counter and Notes, under any header label of ``pipelines.sap.headers`` (so a printed worksheet
is a valid sheet too). It is read by the same readers as an SAP export (xlsx, text, HTML) and
is as strict as every other upload: one invalid line rejects the whole file, with every line
and reason, and nothing is written. A valid sheet becomes ``manual`` schedule lines (a cycle
line of the same material and day becomes the manual line, as in ``add_to_schedule``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import polars as pl

from pipelines.access import Action, User, require
from pipelines.counting.config import CountingConfig
from pipelines.counting.schedule import ScheduleError, add_to_schedule
from pipelines.ingest.gates import unknown_count_materials
from pipelines.sap.exports import (
    PROBLEM_SCHEMA,
    _drop_non_data_rows,
    _labelled_columns,
    header_problems,
    oversized_fields,
)
from pipelines.sap.formats import HeaderRule, read_grid
from pipelines.sap.material import normalise_material, normalise_plant
from pipelines.sap.numbers import date_problem_of, parse_date
from pipelines.settings import Settings
from pipelines.warehouse.db import fetch

REQUIRED = ("count_date", "material", "plant")
OPTIONAL = ("storage_location", "counter", "notes")
SCHEDULE_HEADER = HeaderRule(
    accepts=lambda match: set(REQUIRED) <= set(match.columns),
    expected="a schedule sheet",
    needs="Count Date, Material and Plant columns; Storage Location, Counter and Notes are "
          "optional",
)
ROW_SCHEMA = {
    "_row": pl.Int64, "count_date": pl.Date, "material": pl.String, "plant": pl.String,
    "storage_location": pl.String, "counter": pl.String, "notes": pl.String,
}


class ScheduleSheetRejected(ScheduleError):
    """The sheet has invalid lines; ``problems`` names each (row, column, value, reason)."""

    def __init__(self, problems: pl.DataFrame) -> None:
        self.problems = problems
        first = problems.row(0, named=True)
        more = f" (and {problems.height - 1} more)" if problems.height > 1 else ""
        super().__init__(
            f"the sheet was not scheduled: row {first['row']}, {first['column']}: "
            f"{first['reason']}{more}")


@dataclass(frozen=True)
class ScheduleSheet:
    rows: pl.DataFrame  # ROW_SCHEMA, one per line to schedule
    problems: pl.DataFrame  # PROBLEM_SCHEMA
    labels: dict[str, str]  # field -> the sheet's own column label
    file_format: str


def read_schedule_sheet(path: Path | str, settings: Settings) -> ScheduleSheet:
    """Read and check a schedule sheet without the warehouse; UnreadableFile for a bad file.

    As strict as an SAP export: two columns naming one field and oversized cells are
    problems of the sheet too (``exports.header_problems``, ``exports.oversized_fields``).
    """
    grid = read_grid(Path(path), settings, SCHEDULE_HEADER)
    file_problems = pl.concat([header_problems(grid),
                               oversized_fields(grid, settings.max_field_chars)])
    frame, labels = _labelled_columns(grid)
    frame, _ = _drop_non_data_rows(frame, labels)
    for name in (*REQUIRED, *OPTIONAL):
        if name not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(name))

    def label(name: str) -> str:
        return labels.get(name, name)

    typed = frame.with_columns(
        __date=parse_date(pl.col("count_date")),
        __material=normalise_material(pl.col("material"),
                                      lexicographic=settings.lexicographic_materials),
        __plant=normalise_plant(pl.col("plant")),
    )
    checks = [
        ("material", pl.when(pl.col("material").is_null())
         .then(pl.lit("material number is missing"))),
        ("plant", pl.when(pl.col("plant").is_null()).then(pl.lit("plant is missing"))),
        ("count_date", pl.when(pl.col("count_date").is_null())
         .then(pl.lit("count date is missing"))
         .otherwise(date_problem_of(pl.col("count_date"), pl.col("__date")))),
    ]
    problems = [
        typed.filter(reason.is_not_null()).select(
            row=pl.col("_row"), column=pl.lit(label(name)),
            value=pl.col(name).cast(pl.String), reason=reason)
        for name, reason in checks
    ]
    rows = typed.select(
        "_row", pl.col("__date").alias("count_date"), pl.col("__material").alias("material"),
        pl.col("__plant").alias("plant"),
        normalise_plant(pl.col("storage_location")).alias("storage_location"),
        "counter", "notes",
    ).cast(ROW_SCHEMA)
    found = pl.concat([file_problems, *[p.cast(PROBLEM_SCHEMA) for p in problems]]).sort(
        "row", "column", nulls_last=True)
    return ScheduleSheet(rows=rows, problems=found, labels=labels,
                         file_format=grid.file_format)


def schedule_sheet_problems(
    con: duckdb.DuckDBPyConnection,
    sheet: ScheduleSheet,
    *,
    today: date,
    config: CountingConfig,
) -> pl.DataFrame:
    """Every problem of a read sheet, its own and those against the warehouse."""
    rows = sheet.rows.filter(pl.col("material").is_not_null() & pl.col("plant").is_not_null()
                             & pl.col("count_date").is_not_null())
    date_label = sheet.labels.get("count_date", "count_date")
    problems = [sheet.problems]
    if rows.is_empty() and sheet.problems.is_empty():
        problems.append(pl.DataFrame(
            {"row": [0], "column": [""], "value": [None],
             "reason": ["the sheet has no lines to schedule"]}, schema=PROBLEM_SCHEMA))
    problems.append(rows.filter(pl.col("count_date") < today).select(
        row=pl.col("_row"), column=pl.lit(date_label),
        value=pl.col("count_date").cast(pl.String),
        reason=pl.lit(f"count date is in the past (today is {today.isoformat()})")))
    first = rows.group_by("count_date", "material", "plant").agg(
        pl.col("_row").min().alias("first_row"))
    problems.append(rows.join(first, on=["count_date", "material", "plant"])
                    .filter(pl.col("_row") != pl.col("first_row")).select(
        row=pl.col("_row"), column=pl.lit(sheet.labels.get("material", "material")),
        value=pl.col("material"),
        reason=pl.format("material {} of plant {} is already on row {} for that date",
                         pl.col("material"), pl.col("plant"), pl.col("first_row"))))
    if config.counters:
        problems.append(rows.filter(pl.col("counter").is_not_null()
                                    & ~pl.col("counter").is_in(list(config.counters))).select(
            row=pl.col("_row"), column=pl.lit(sheet.labels.get("counter", "counter")),
            value=pl.col("counter"),
            reason=pl.lit(f"not a counter of the team ({', '.join(config.counters)})")))
    if not rows.is_empty():
        problems.append(unknown_count_materials(con, rows).with_columns(
            column=pl.lit(sheet.labels.get("material", "material"))))
        with_lines = _planned_lines(con, rows)
        problems.append(with_lines.select(
            row=pl.col("_row"), column=pl.lit(sheet.labels.get("material", "material")),
            value=pl.col("material"),
            reason=pl.format("already on the schedule of {} (line {}, {})",
                             pl.col("count_date").cast(pl.String), pl.col("schedule_id"),
                             pl.col("reason"))))
    return pl.concat([p.cast(PROBLEM_SCHEMA) for p in problems]).unique().sort("row", "column")


def _planned_lines(con: duckdb.DuckDBPyConnection, rows: pl.DataFrame) -> pl.DataFrame:
    """Rows whose material and day already have a planned line a manual line cannot replace."""
    keys = rows.select("_row", "count_date", "material", "plant")
    con.register("sheet_keys", keys)
    try:
        return fetch(
            con,
            """SELECT k._row, k.count_date, k.material, s.schedule_id, s.reason
               FROM sheet_keys k JOIN count_schedule s USING (count_date, material, plant)
               WHERE s.status = 'planned' AND s.reason <> 'cycle'
               ORDER BY k._row""",
        )
    finally:
        con.unregister("sheet_keys")


def schedule_from_sheet(
    con: duckdb.DuckDBPyConnection,
    path: Path | str,
    *,
    user: User,
    settings: Settings,
    today: date | None = None,
) -> int:
    """Schedule every line of a sheet in the caller's transaction; lines scheduled.

    Raises ScheduleSheetRejected (with every problem) and writes nothing when any line is
    invalid; UnreadableFile when the file is not a schedule sheet at all.
    """
    require(user, Action.CHANGE_SCHEDULE)
    today = today or date.today()
    sheet = read_schedule_sheet(path, settings)
    problems = schedule_sheet_problems(con, sheet, today=today, config=settings.counting)
    if not problems.is_empty():
        raise ScheduleSheetRejected(problems)
    for line in sheet.rows.iter_rows(named=True):
        add_to_schedule(
            con, count_date=line["count_date"], material=line["material"],
            plant=line["plant"], storage_location=line["storage_location"],
            counter=line["counter"], reason="manual", note=line["notes"], user=user,
            settings=settings,
        )
    return sheet.rows.height
