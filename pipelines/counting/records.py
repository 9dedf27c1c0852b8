"""Count records in ``physical_count``: the one insert that typed entries and sheets share."""

from __future__ import annotations

from datetime import datetime

import duckdb
import polars as pl

COUNT_COLUMNS = (
    "count_date", "material", "plant", "storage_location", "location", "quantity",
    "quantity_expr", "counter", "notes",
)


def insert_counts(
    con: duckdb.DuckDBPyConnection,
    counts: pl.DataFrame,
    *,
    entered_by: str,
    entered_at: datetime,
    load_id: int | None = None,
) -> int:
    """Append count rows (columns of COUNT_COLUMNS) inside the caller's transaction."""
    frame = counts.select(  # noqa: F841 - read by DuckDB by name
        [pl.col(c) if c in counts.columns else pl.lit(None).alias(c) for c in COUNT_COLUMNS]
    )
    con.execute(
        f"""INSERT INTO physical_count ({", ".join(COUNT_COLUMNS)}, entered_by, entered_at, load_id)
            SELECT {", ".join(COUNT_COLUMNS)}, $entered_by, $entered_at, $load_id FROM frame""",
        {"entered_by": entered_by, "entered_at": entered_at, "load_id": load_id},
    )
    return counts.height
