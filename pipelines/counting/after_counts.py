"""What follows a change of counts: variance lines, filled schedule lines, recounts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb
import polars as pl

from pipelines.counting.config import CountingConfig
from pipelines.counting.reconcile import ReconcileResult, reconcile
from pipelines.counting.schedule import RecountResult, mark_counted, sync_recounts


@dataclass(frozen=True)
class RefreshResult:
    variance: ReconcileResult
    filled: int
    recounts: RecountResult


def refresh_after_counts(
    con: duckdb.DuckDBPyConnection,
    keys: pl.DataFrame,
    *,
    today: date,
    config: CountingConfig,
) -> RefreshResult:
    """Recompute the variance lines of ``keys`` (count_date, material, plant), then the
    schedule lines and recounts of those material × plants.

    Runs in the caller's transaction, so a count and its consequences commit together; it
    touches only what the change can affect, so a save stays a small, short transaction.
    """
    keys = keys.filter(pl.col("count_date").is_not_null())
    variance = reconcile(con, keys=keys, config=config)
    materials = keys.select("material", "plant").unique()
    filled = mark_counted(con, materials=materials)
    recounts = sync_recounts(con, today=today, config=config, materials=materials)
    return RefreshResult(variance, filled, recounts)
