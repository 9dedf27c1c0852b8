"""Count sheets (printed worksheets filled in by counters) into ``physical_count``."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import duckdb
import polars as pl

from pipelines.access import User
from pipelines.counting.config import CountingConfig
from pipelines.counting.records import insert_counts


def rows_to_count(rows: pl.DataFrame, default_date: date | None) -> tuple[pl.DataFrame, int]:
    """Rows a counter filled in; blank worksheet lines (no quantity, no location) are skipped.

    A blank count date is the sheet's date (``--as-of`` or the date in the file name).
    """
    filled = rows.filter(pl.col("quantity_expr").is_not_null() | pl.col("location").is_not_null())
    if default_date is not None:  # without one, rows keep their own dates (or none: refused)
        filled = filled.with_columns(pl.col("count_date").fill_null(default_date))
    return filled, rows.height - filled.height


def load_count_sheet(
    con: duckdb.DuckDBPyConnection,
    rows: pl.DataFrame,
    load_id: int,
    now: datetime,
    file_name: str,
    config: CountingConfig,
) -> dict[str, Any]:
    # Whoever dropped the file could write the warehouse anyway; the sheet is the author.
    inserted = insert_counts(con, rows, user=User.system(f"sheet:{file_name}"),
                             entered_at=now, load_id=load_id, config=config)
    return {
        "counts": inserted,
        "counted": rows.filter(pl.col("quantity").is_not_null()).height,
        "locations_only": rows.filter(pl.col("quantity").is_null()).height,
        "count_dates": sorted({d.isoformat() for d in rows["count_date"].to_list()}),
        "counters": sorted({c for c in rows["counter"].to_list() if c}),
        "materials": rows.select("material", "plant").n_unique(),
    }
