"""What follows a change of counts: variance lines, filled schedule lines, recounts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

import duckdb

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
    count_dates: Iterable[date],
    *,
    today: date,
    config: CountingConfig,
) -> RefreshResult:
    """Recompute the variance lines of ``count_dates``, then the schedule that depends on them.

    Runs in the caller's transaction, so a count and its consequences commit together.
    """
    variance = reconcile(con, count_dates=[d for d in count_dates if d is not None],
                         config=config)
    filled = mark_counted(con)
    recounts = sync_recounts(con, today=today, config=config)
    return RefreshResult(variance, filled, recounts)
