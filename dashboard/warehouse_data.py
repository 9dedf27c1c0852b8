"""Cached reads of the warehouse for the dashboard pages.

Every read opens the DuckDB file read-only, calls a domain function, and closes it (no
connection is kept across reruns, so loads and other writers are never blocked by an idle
browser tab). Results are cached for a short time, since loads land at any time;
``clear_caches()`` drops them after the dashboard itself wrote something, so the user sees
their change at once.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import streamlit as st

from pipelines.access import Action, User, require
from pipelines.counting import accuracy as accuracy_queries
from pipelines.counting import variances as variance_queries
from pipelines.defs import run_status
from pipelines.ingest import quality
from pipelines.ingest.after_load import after_load_or_pending
from pipelines.ingest.load import force_load
from pipelines.ingest.names import free_name, safe_upload_name
from pipelines.reports.change_report import material_changes, write_load_change_report
from pipelines.reports.variance_report import write_variance_report
from pipelines.settings import get_settings
from pipelines.warehouse.db import query, warehouse

TTL_SECONDS = 15


def clear_caches() -> None:
    """Forget every cached read (call after the dashboard wrote to the warehouse)."""
    st.cache_data.clear()


def _read(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``function(con, ...)`` on a read-only connection opened for this call only."""
    with warehouse(read_only=True) as con:
        return function(con, *args, **kwargs)


# ------------------------------------------------------------------------------ warehouse

@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def warehouse_totals() -> dict[str, object]:
    """Headline figures: materials, latest snapshot, counts, files."""
    return query(
        """SELECT (SELECT count(*) FROM material WHERE is_active) AS active_materials,
                  (SELECT count(DISTINCT plant) FROM material) AS plants,
                  (SELECT max(snapshot_date) FROM sap_stock) AS latest_snapshot,
                  (SELECT count(*) FROM sap_stock
                   WHERE snapshot_date = (SELECT max(snapshot_date) FROM sap_stock))
                      AS snapshot_lines,
                  (SELECT count(*) FROM physical_count WHERE voided_at IS NULL) AS counts,
                  (SELECT max(finished_at) FROM load_log
                   WHERE kind = 'mm60' AND status = 'loaded') AS latest_mm60"""
    ).row(0, named=True)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def stock_value_by_plant() -> pl.DataFrame:
    return query(
        """SELECT plant, currency, sum(value_unrestricted) AS value_unrestricted,
                  count(*) AS lines
           FROM sap_stock WHERE snapshot_date = (SELECT max(snapshot_date) FROM sap_stock)
           GROUP BY ALL ORDER BY plant"""
    )


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def freshness(today: date) -> dict[str, dict[str, Any]]:
    """The MB52 and MM60 freshness rules of ingest/quality.py (the Dagster checks' rules)."""
    settings = get_settings()

    def both(con: Any) -> dict[str, dict[str, Any]]:
        stock = quality.stock_freshness(con, today, settings.holidays)
        master = quality.master_freshness(con, today, settings.mm60_max_age_days)
        return {"mb52": {"passed": stock.passed, "message": stock.message, **stock.metadata},
                "mm60": {"passed": master.passed, "message": master.message,
                         **master.metadata}}
    return _read(both)


# ------------------------------------------------------------------------------ loads

@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def recent_loads(limit: int = 200) -> pl.DataFrame:
    return query(
        """SELECT load_id, file_name, kind, status, forced, snapshot_date, rows_read,
                  rows_loaded, started_at, finished_at, run_id, error,
                  coalesce(CAST(json_extract(summary, '$.forceable') AS BOOLEAN), FALSE)
                      AS forceable
           FROM load_log ORDER BY load_id DESC LIMIT ?""",
        [limit],
    )


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def material_changes_of_load(load_id: int) -> pl.DataFrame:
    return _read(material_changes, load_id)


# A load's changes never change once it committed: the report of one is kept for a while,
# a few loads at most (a large update's workbook is tens of MB).
@st.cache_data(ttl=600, max_entries=4, show_spinner=False)
def change_report_xlsx(load_id: int) -> bytes:
    """The change report of an MM60 load as xlsx bytes, written from ``material_change`` when
    the download is asked for (never inside the load)."""
    with tempfile.TemporaryDirectory() as folder:
        _, path = write_load_change_report(Path(folder) / "changes.xlsx", load_id)
        return path.read_bytes()


def running_loads() -> pl.DataFrame:
    """Loads in progress right now (never cached: this is the live progress)."""
    return query(
        """SELECT load_id, file_name, progress_phase, progress_done, progress_total, started_at
           FROM load_log WHERE status = 'running' ORDER BY load_id"""
    )


@st.cache_data(ttl=10, show_spinner=False)
def load_runs(run_ids: tuple[str, ...]) -> dict[str, run_status.RunInfo] | None:
    """Dagster status, failed checks and link of each run; None when Dagster is not there."""
    return run_status.runs_by_id(list(run_ids))


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def problem_runs() -> list[run_status.RunInfo] | None:
    return run_status.recent_problem_runs()


def save_to_drop_folder(name: str, data: bytes, *, user: User) -> Path:
    """Put an uploaded file into drop/ for the sensor: written aside, then renamed, so the
    sensor never sees half a file; an existing name gets a numbered one. Managers only."""
    require(user, Action.UPLOAD_FILES)
    settings = get_settings()
    settings.ensure_dirs()
    target = free_name(settings.drop_dir, safe_upload_name(name))
    partial = target.with_name(target.name + ".part")
    partial.write_bytes(data)
    partial.rename(target)
    return target


def load_anyway(load_id: int, user: User) -> str:
    """A manager's "load anyway" of a file refused as suspiciously small or as an older MM60:
    the same load, after_load and Dagster record as ``wics load --force``; a line to show."""
    from pipelines.defs.load_report import report_to_dagster

    settings = get_settings()
    result = force_load(load_id, user=user, settings=settings)
    refreshed = (after_load_or_pending(result.load_id, settings) if result.status == "loaded"
                 else None)
    report_to_dagster(result, refreshed, settings)
    st.cache_data.clear()
    if result.status != "loaded":
        return f"{result.file_name} was not loaded: {result.error}"
    return (f"{result.file_name} loaded anyway (load {result.load_id}, "
            f"{result.rows_loaded:,} rows), recorded as forced by {user.name}")


# ------------------------------------------------------------------------------ counting

@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def variance_options() -> dict[str, Any]:
    return _read(variance_queries.variance_filter_options)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def variances(start: date | None, end: date | None, plants: tuple[str, ...] = (),
              abc: tuple[str, ...] = (), out_of_tolerance: bool = False,
              needs_recount: bool = False, material: str | None = None) -> pl.DataFrame:
    return _read(variance_queries.find_variances, start=start, end=end, plants=plants,
                 abc=abc, out_of_tolerance=out_of_tolerance, needs_recount=needs_recount,
                 material=material)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def line_counts(count_date: date, material: str, plant: str) -> pl.DataFrame:
    return _read(variance_queries.counts_of_line, count_date, material, plant)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def line_sap_stock(snapshot_date: date | None, material: str, plant: str) -> pl.DataFrame:
    return _read(variance_queries.sap_lines_of, snapshot_date, material, plant,
                 config=get_settings().counting)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def accuracy(period: str | None, by: tuple[str, ...], start: date | None = None,
             end: date | None = None) -> pl.DataFrame:
    return _read(accuracy_queries.inventory_accuracy, period=period, by=by, start=start,
                 end=end)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def accuracy_totals(start: date | None = None, end: date | None = None) -> dict[str, Any]:
    return _read(accuracy_queries.accuracy_totals, start=start, end=end)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def day_progress(day: date) -> dict[str, Any]:
    return _read(variance_queries.day_progress, day)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def open_recounts(today: date) -> pl.DataFrame:
    return _read(variance_queries.open_recounts, today=today)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def out_of_tolerance_value(start: date | None = None, end: date | None = None) -> pl.DataFrame:
    return _read(variance_queries.out_of_tolerance_value, start=start, end=end)


def variance_report_xlsx(start: date, end: date, plant: str | None,
                         only_out_of_tolerance: bool) -> bytes:
    """The variance report workbook as bytes (written on the download click, not cached)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "variance_report.xlsx"
        _read(write_variance_report, path, start=start, end=end, plant=plant,
              only_out_of_tolerance=only_out_of_tolerance)
        return path.read_bytes()
