"""Every reason to refuse a file, decided before the load's transaction commits.

Two families of gates:

- file gates read only the file (and its name): rows that do not parse, ambiguous headers,
  malformed text, an impossible date in the name. A file that fails them is never loadable.
- warehouse gates compare the file with what is loaded, inside the load's transaction and
  before its first write: a count sheet naming unknown materials or lacking dates, a
  suspiciously small export, an MM60 older than the last one of its plants. The last two are
  *forceable*: ``wics load --force`` or a manager's "load anyway" loads the file knowingly.

Each gate returns problems as rows (row, column, value, reason), the shape of the error report.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

import duckdb
import polars as pl

from pipelines.sap.exports import PROBLEM_SCHEMA
from pipelines.settings import Settings
from pipelines.warehouse.db import fetch

# Forceable refusals: the file is well formed, only its size or age is suspicious.
SUSPICIOUS_SIZE = "suspiciously small export"
STALE_MASTER = "older material list"


def no_problems() -> pl.DataFrame:
    return pl.DataFrame(schema=PROBLEM_SCHEMA)


def file_problem(reason: str, row: int | None = None, column: str | None = None,
                 value: str | None = None) -> pl.DataFrame:
    """One problem of the whole file (or of one of its rows)."""
    return pl.DataFrame([{"row": row, "column": column, "value": value, "reason": reason}],
                        schema=PROBLEM_SCHEMA)


@dataclass(frozen=True)
class GateResult:
    """What the gates found: problems nobody may override, and those a manager may."""

    hard: pl.DataFrame
    forceable: pl.DataFrame

    @property
    def refused(self) -> bool:
        return not (self.hard.is_empty() and self.forceable.is_empty())

    def refused_unless_forced(self, force: bool) -> bool:
        return not self.hard.is_empty() or (not force and not self.forceable.is_empty())

    def all(self) -> pl.DataFrame:
        return pl.concat([self.hard, self.forceable]).cast(PROBLEM_SCHEMA)


class Refused(Exception):
    """Raised inside the load transaction to roll it back and refuse the file."""

    def __init__(self, gates: GateResult) -> None:
        super().__init__(f"{gates.all().height} problems")
        self.gates = gates


# ------------------------------------------------------------------------------------------
# Warehouse gates (run on the load's open transaction, before it writes)
# ------------------------------------------------------------------------------------------

def _rows_per_plant(rows: pl.DataFrame) -> dict[str, int]:
    return dict(rows.group_by("plant").len().iter_rows())


def _size_problem(kind_label: str, shrunk: list[tuple[str, int, int]],
                  settings: Settings) -> pl.DataFrame:
    if not shrunk:
        return no_problems()
    detail = "; ".join(f"plant {plant}: {now:,} rows, previous load {before:,}"
                       for plant, now, before in shrunk)
    return file_problem(
        f"{SUSPICIOUS_SIZE}: {detail} (more than {settings.max_row_drop_pct:g} % fewer, "
        f"WICS_MAX_ROW_DROP_PCT); a partial {kind_label}? Export it again, or load it anyway "
        "(wics load --force, or \"load anyway\" on the SAP loads page) if it is right"
    )


def _shrunk(current: dict[str, int], previous: dict[str, int],
            settings: Settings) -> list[tuple[str, int, int]]:
    floor = 1 - settings.max_row_drop_pct / 100
    return [
        (plant, n, previous[plant]) for plant, n in sorted(current.items())
        if previous.get(plant) and n < previous[plant] * floor
        and previous[plant] - n >= settings.min_drop_rows
    ]


def stock_size_gate(con: duckdb.DuckDBPyConnection, rows: pl.DataFrame,
                    settings: Settings) -> pl.DataFrame:
    """Each plant's MB52 lines against that plant's latest loaded snapshot."""
    return stock_size_problems(con, _rows_per_plant(rows), settings)


def stock_size_problems(con: duckdb.DuckDBPyConnection, lines: dict[str, int],
                        settings: Settings, load_id: int = -1) -> pl.DataFrame:
    """``stock_size_gate`` of an MB52's lines per plant; the rows of load ``load_id`` (one
    being written batch by batch, in this transaction) are not the previous snapshot."""
    plants = sorted(lines)
    # The newest snapshot usually holds every plant: reading that one date alone costs the
    # same with a year of snapshots as with one (``sap_stock`` is in date order, so DuckDB
    # skips the other dates' row groups). Plants it lacks are looked up in the whole history.
    previous = dict(fetch(
        con,
        """SELECT plant, count(*) AS n FROM sap_stock
           WHERE snapshot_date = (SELECT max(snapshot_date) FROM sap_stock
                                  WHERE load_id <> $load)
             AND plant IN (SELECT unnest($plants)) AND load_id <> $load GROUP BY plant""",
        {"plants": plants, "load": load_id},
    ).iter_rows())
    older = [plant for plant in plants if plant not in previous]
    if older:
        previous.update(fetch(
            con,
            """WITH latest AS (SELECT plant, max(snapshot_date) AS d FROM sap_stock
                               WHERE plant IN (SELECT unnest($plants)) AND load_id <> $load
                               GROUP BY plant)
               SELECT s.plant, count(*) AS n FROM sap_stock s JOIN latest l
                 ON s.plant = l.plant AND s.snapshot_date = l.d
               WHERE s.load_id <> $load GROUP BY s.plant""",
            {"plants": older, "load": load_id},
        ).iter_rows())
    return _size_problem("MB52", _shrunk(lines, previous, settings), settings)


def master_size_gate(con: duckdb.DuckDBPyConnection, rows: pl.DataFrame,
                     settings: Settings) -> pl.DataFrame:
    """Each plant's MM60 materials against the active materials its previous MM60 left."""
    plants = sorted(rows["plant"].unique().to_list())
    previous = fetch(
        con,
        """SELECT plant, count(*) AS n FROM material
           WHERE is_active AND plant IN (SELECT unnest(?)) GROUP BY plant""",
        [plants],
    )
    current = _rows_per_plant(rows.unique(subset=["material", "plant"]))
    return _size_problem("MM60", _shrunk(current, dict(previous.iter_rows()), settings),
                         settings)


def latest_master_dates(con: duckdb.DuckDBPyConnection) -> dict[str, date]:
    """Per plant, the date of the newest MM60 loaded for it."""
    loads = fetch(con, """SELECT snapshot_date, summary FROM load_log
                          WHERE kind = 'mm60' AND status = 'loaded'
                            AND snapshot_date IS NOT NULL""")
    latest: dict[str, date] = {}
    for day, summary in loads.iter_rows():
        for plant in json.loads(summary or "{}").get("plants", []):
            if plant not in latest or day > latest[plant]:
                latest[plant] = day
    return latest


def stale_master_gate(con: duckdb.DuckDBPyConnection, rows: pl.DataFrame,
                      file_date: date) -> pl.DataFrame:
    """An MM60 older than the newest MM60 already loaded for any of its plants."""
    latest = latest_master_dates(con)
    newer = sorted((plant, latest[plant]) for plant in rows["plant"].unique().to_list()
                   if plant in latest and latest[plant] > file_date)
    if not newer:
        return no_problems()
    detail = ", ".join(f"plant {plant} has the MM60 of {day.isoformat()}" for plant, day in newer)
    return file_problem(
        f"{STALE_MASTER}: this MM60 is dated {file_date.isoformat()} (from its name, else its "
        f"modification date) but {detail}; loading it would revert newer prices and "
        "descriptions and deactivate newer materials. Load it anyway only if that is wanted "
        "(wics load --force)"
    )


def missing_count_dates(rows: pl.DataFrame, date_label: str) -> pl.DataFrame:
    """Counted rows without a date when neither --as-of nor the sheet's name gives one."""
    return rows.filter(pl.col("count_date").is_null()).select(
        row=pl.col("_row"),
        column=pl.lit(date_label),
        value=pl.lit(None, dtype=pl.String),
        reason=pl.lit("count date is missing (and neither --as-of nor the file name gives one)"),
    ).cast(PROBLEM_SCHEMA)


def unknown_count_materials(con: duckdb.DuckDBPyConnection, rows: pl.DataFrame) -> pl.DataFrame:
    """Count rows whose material × plant the material master does not know."""
    con.register("sheet_rows", rows.select("_row", "material", "plant"))
    try:
        unknown = fetch(
            con,
            """SELECT s._row AS row, s.material, s.plant FROM sheet_rows s
               ANTI JOIN material m USING (material, plant) ORDER BY s._row""",
        )
    finally:
        con.unregister("sheet_rows")
    return unknown.select(
        "row",
        column=pl.lit("Material"),
        value=pl.col("material"),
        reason=pl.format("material {} is not in the material master of plant {}",
                         pl.col("material"), pl.col("plant")),
    ).cast(PROBLEM_SCHEMA)
