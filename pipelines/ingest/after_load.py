"""What a load makes stale, brought up to date: one step for every path a file comes by.

The sensor's runs, ``wics load`` and the dashboard's "load anyway" all call ``after_load``
after a file has loaded: the change report of an MM60, the reconciliation of counts against
the new snapshot or prices, the recounts that follow from it, and the accuracy figures. It is
idempotent (it recomputes, it never adds), and a load's ``load_log.refresh_state`` stays
``pending`` until it has finished, so a refresh cut short by a crash is run again by the next
sensor tick or ``wics load`` (``refresh_pending``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb

from pipelines.counting.accuracy import accuracy_totals
from pipelines.counting.reconcile import ReconcileResult, reconcile
from pipelines.counting.schedule import RecountResult, mark_counted, sync_recounts
from pipelines.ingest.recovery import dead_owner
from pipelines.reports.change_report import material_changes, write_change_report
from pipelines.settings import Settings
from pipelines.warehouse.db import fetch, query, warehouse


@dataclass
class Refreshed:
    """What one after_load did, for the terminal, the Dagster metadata and tests."""

    load_id: int
    kind: str | None
    file_name: str
    variance: ReconcileResult | None = None
    recounts: RecountResult | None = None
    filled: int = 0
    change_report: Path | None = None
    accuracy: dict[str, Any] = field(default_factory=dict)

    def lines(self) -> list[str]:
        done = []
        if self.change_report is not None:
            done.append(f"change report {self.change_report}")
        if self.variance is not None:
            done.append(f"count_variance: {self.variance.lines:,} lines, "
                        f"{self.variance.out_of_tolerance:,} out of tolerance")
        if self.recounts is not None and (self.recounts.added or self.recounts.withdrawn):
            done.append(f"recounts: {self.recounts.added} scheduled, "
                        f"{self.recounts.withdrawn} withdrawn")
        return done


def change_report_path(settings: Settings, load_id: int) -> Path:
    return settings.reports_dir / f"material_changes_load{load_id}.xlsx"


def after_load(load_id: int, settings: Settings, *, today: date | None = None) -> Refreshed:
    """Refresh everything that depends on load ``load_id`` and mark its refresh done.

    Does nothing but return what is there for a load that did not load (rejected, duplicate).
    """
    today = today or date.today()
    log = query("SELECT kind, status, file_name, snapshot_date FROM load_log "
                "WHERE load_id = ?", [load_id], path=settings.database)
    if log.is_empty():
        raise LookupError(f"no load {load_id} in load_log")
    kind, status, file_name, snapshot_date = log.row(0)
    refreshed = Refreshed(load_id, kind, file_name)
    if status != "loaded":
        return refreshed
    if kind == "mm60":
        # The report file first: the refresh is only marked done once it exists.
        with warehouse(settings.database, read_only=True) as con:
            changes = material_changes(con, load_id)
        refreshed.change_report = write_change_report(
            changes, change_report_path(settings, load_id), file_name=file_name,
            load_id=load_id)
    config = settings.counting
    with warehouse(settings.database) as con:
        if kind == "count_sheet":
            # The sheet's own dates were reconciled in its load transaction; this repeats it
            # (cheaply) so that a crash right after that commit leaves nothing behind.
            dates = fetch(con, "SELECT DISTINCT count_date FROM physical_count "
                               "WHERE load_id = ?", [load_id])["count_date"].to_list()
            refreshed.variance = reconcile(con, count_dates=dates, config=config)
        elif kind == "mb52" and snapshot_date is not None:
            # A snapshot is the SAP side of the counts on and after its date (until a later
            # one): earlier lines cannot change, so a year of counts is not recomputed daily.
            refreshed.variance = reconcile(con, since=snapshot_date, config=config)
        else:
            # New prices change the variance value of every count.
            refreshed.variance = reconcile(con, config=config)
        refreshed.filled = mark_counted(con)
        refreshed.recounts = sync_recounts(con, today=today, config=config)
        refreshed.accuracy = accuracy_totals(con, start=None, end=date.max)
        con.execute("""UPDATE load_log SET refresh_state = 'done', refreshed_at = ?,
                              refresh_error = NULL WHERE load_id = ?""",
                    [datetime.now(), load_id])
    return refreshed


def record_refresh_error(settings: Settings, load_id: int, error: BaseException) -> None:
    """Keep the refresh pending and say why it stopped (the next tick tries again)."""
    with warehouse(settings.database) as con:
        con.execute("UPDATE load_log SET refresh_error = ? WHERE load_id = ?",
                    [f"{type(error).__name__}: {error}", load_id])


def pending_refreshes(settings: Settings,
                      con: duckdb.DuckDBPyConnection | None = None) -> list[int]:
    """Loaded files whose refresh did not finish: their loading process is gone, or their
    refresh failed (``refresh_error``) and is tried again."""
    sql = """SELECT load_id, pid, host, boot_id, start_ticks, refresh_error FROM load_log
             WHERE status = 'loaded' AND refresh_state = 'pending' ORDER BY load_id"""
    rows = fetch(con, sql) if con is not None else query(sql, path=settings.database)
    return [row["load_id"] for row in rows.iter_rows(named=True)
            if row["refresh_error"] is not None or dead_owner(row)]


def refresh_pending(settings: Settings) -> list[Refreshed]:
    """Run after_load for every load left pending (a failure stays pending, with its error)."""
    done = [after_load_or_pending(load_id, settings) for load_id in pending_refreshes(settings)]
    return [refreshed for refreshed in done if refreshed is not None]


def after_load_or_pending(load_id: int, settings: Settings) -> Refreshed | None:
    """after_load, or, when it fails, the error recorded and the refresh left pending for the
    next sensor tick or ``wics load``: the file itself is loaded whatever happens here."""
    try:
        return after_load(load_id, settings)
    except Exception as error:  # noqa: BLE001 - recorded, retried, never loses the load
        record_refresh_error(settings, load_id, error)
        return None


def refresh_after_load(result: Any, settings: Settings) -> list[str]:
    """after_load for a ``LoadResult``, as lines for a person (nothing for a file that did
    not load)."""
    if result.status != "loaded":
        return []
    return after_load(result.load_id, settings).lines()
