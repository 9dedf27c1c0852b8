"""Data-quality rules over the warehouse, as plain functions (the Dagster checks call these).

Each rule returns an ``Outcome``: passed or not, one sentence for a person, and the figures
behind it. Nothing here raises on bad data; bad data is what it reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import duckdb
import polars as pl

from pipelines.counting.calendar import first_working_day_from, previous_working_day
from pipelines.sap.headers import PHYSICAL_STOCK
from pipelines.warehouse.db import fetch

UNIQUE_KEYS: dict[str, tuple[str, ...]] = {
    "material": ("material", "plant"),
    "sap_stock": ("snapshot_date", "material", "plant", "storage_location", "batch",
                  "special_stock"),
    "physical_count": ("count_id",),
    "count_variance": ("count_date", "material", "plant"),
    "count_schedule": ("schedule_id",),
    "load_log": ("load_id",),
}
EXAMPLES = 10


@dataclass
class Outcome:
    passed: bool
    message: str
    metadata: dict[str, Any] = field(default_factory=dict)


def _examples(frame: pl.DataFrame) -> list[str]:
    return [" / ".join("" if v is None else str(v) for v in row)
            for row in frame.head(EXAMPLES).iter_rows()]


def unique_keys(con: duckdb.DuckDBPyConnection, table: str) -> Outcome:
    """No two rows of ``table`` share its key (NULL key parts compare equal here)."""
    key = UNIQUE_KEYS[table]
    columns = ", ".join(key)
    duplicates = fetch(con, f"SELECT {columns}, count(*) AS n FROM {table} GROUP BY ALL "
                            "HAVING count(*) > 1 ORDER BY n DESC")
    passed = duplicates.is_empty()
    return Outcome(
        passed,
        f"every ({columns}) of {table} is unique" if passed
        else f"{duplicates.height} keys of {table} occur more than once",
        {"duplicate_keys": duplicates.height, "examples": _examples(duplicates)},
    )


def latest_snapshot(con: duckdb.DuckDBPyConnection) -> date | None:
    return fetch(con, "SELECT max(snapshot_date) FROM sap_stock").item()


def negative_stock(con: duckdb.DuckDBPyConnection) -> Outcome:
    """Negative quantities in the latest snapshot (SAP allows them only where configured)."""
    snapshot = latest_snapshot(con)
    condition = " OR ".join(f"{c} < 0" for c in PHYSICAL_STOCK)
    rows = fetch(con, f"""SELECT material, plant, storage_location, special_stock,
                                 {", ".join(PHYSICAL_STOCK)}
                          FROM sap_stock WHERE snapshot_date = ? AND ({condition})
                          ORDER BY material, plant""", [snapshot])
    passed = rows.is_empty()
    return Outcome(
        passed,
        "no negative stock" if passed
        else f"{rows.height} MB52 lines of {snapshot} have negative stock",
        {"snapshot_date": str(snapshot), "negative_lines": rows.height,
         "examples": _examples(rows.select("material", "plant", "storage_location"))},
    )


def stock_of_unknown_materials(con: duckdb.DuckDBPyConnection) -> Outcome:
    """MB52 materials of the latest snapshot that the material master does not know."""
    snapshot = latest_snapshot(con)
    rows = fetch(con, """SELECT DISTINCT s.material, s.plant FROM sap_stock s
                         ANTI JOIN material m USING (material, plant)
                         WHERE s.snapshot_date = ? ORDER BY 1, 2""", [snapshot])
    passed = rows.is_empty()
    return Outcome(
        passed,
        "every MB52 material is in the material master" if passed
        else f"{rows.height} material × plant of the {snapshot} snapshot are not in the "
             "material master (load the MM60 that has them)",
        {"snapshot_date": str(snapshot), "unknown": rows.height, "examples": _examples(rows)},
    )


def counts_of_unknown_materials(con: duckdb.DuckDBPyConnection) -> Outcome:
    """Counts that reference a material × plant missing from the material master."""
    rows = fetch(con, """SELECT p.count_id, p.material, p.plant, p.count_date
                         FROM physical_count p ANTI JOIN material m USING (material, plant)
                         WHERE p.voided_at IS NULL ORDER BY p.count_id""")
    passed = rows.is_empty()
    return Outcome(
        passed,
        "every count references a known material × plant" if passed
        else f"{rows.height} counts reference a material × plant not in the material master",
        {"unknown": rows.height, "examples": _examples(rows)},
    )


def row_count_drop(con: duckdb.DuckDBPyConnection, kind: str, limit_pct: float) -> Outcome:
    """The latest load of ``kind`` has not lost more than ``limit_pct`` % of the previous
    load's rows (for MM60: the previous load of the same plants). Likely a partial export."""
    loads = fetch(con, """SELECT load_id, file_name, rows_loaded,
                                 CAST(json_extract(summary, '$.plants') AS VARCHAR) AS plants
                          FROM load_log WHERE kind = ? AND status = 'loaded'
                          ORDER BY load_id DESC LIMIT 20""", [kind])
    if loads.height < 2:
        return Outcome(True, f"fewer than two {kind} loads to compare", {"loads": loads.height})
    latest = loads.row(0, named=True)
    previous = next((r for r in loads.slice(1).iter_rows(named=True)
                     if kind != "mm60" or r["plants"] == latest["plants"]), None)
    if previous is None or not previous["rows_loaded"]:
        return Outcome(True, "no earlier load of the same plants to compare", {})
    drop = 100.0 * (previous["rows_loaded"] - latest["rows_loaded"]) / previous["rows_loaded"]
    passed = drop <= limit_pct
    return Outcome(
        passed,
        f"{latest['file_name']} has {latest['rows_loaded']:,} rows, "
        f"{drop:.1f} % fewer than {previous['file_name']} ({previous['rows_loaded']:,}); "
        + ("within" if passed else "over") + f" the {limit_pct:g} % limit",
        {"latest_rows": latest["rows_loaded"], "previous_rows": previous["rows_loaded"],
         "drop_pct": round(drop, 2), "limit_pct": limit_pct},
    )


def stock_freshness(con: duckdb.DuckDBPyConnection, today: date,
                    holidays: frozenset[date] = frozenset()) -> Outcome:
    """The latest MB52 snapshot is no older than the previous working day."""
    snapshot = latest_snapshot(con)
    due = previous_working_day(first_working_day_from(today, holidays), holidays)
    passed = snapshot is not None and snapshot >= due
    return Outcome(
        passed,
        "no MB52 snapshot loaded yet" if snapshot is None
        else f"latest MB52 snapshot is {snapshot}" + ("" if passed else f", older than {due}"),
        {"latest_snapshot": str(snapshot), "oldest_allowed": str(due)},
    )


def master_freshness(con: duckdb.DuckDBPyConnection, today: date,
                     max_age_days: int) -> Outcome:
    """The latest MM60 load is at most ``max_age_days`` (WICS_MM60_MAX_AGE_DAYS) old."""
    latest = fetch(con, """SELECT max(coalesce(snapshot_date, CAST(finished_at AS DATE)))
                           FROM load_log WHERE kind = 'mm60' AND status = 'loaded'""").item()
    age = (today - latest).days if latest else None
    passed = age is not None and age <= max_age_days
    return Outcome(
        passed,
        "no MM60 loaded yet" if latest is None
        else f"latest MM60 is from {latest}, {age} days old (limit {max_age_days})",
        {"latest_mm60": str(latest), "age_days": age, "max_age_days": max_age_days},
    )
