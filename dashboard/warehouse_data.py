"""Cached reads of the warehouse for the dashboard pages (short TTL: loads land any time)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import streamlit as st

from pipelines.access import Action, User, require
from pipelines.ingest.load import free_name
from pipelines.settings import get_settings
from pipelines.warehouse.db import query

TTL_SECONDS = 15


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
def recent_loads(limit: int = 200) -> pl.DataFrame:
    return query(
        """SELECT load_id, file_name, kind, status, snapshot_date, rows_read, rows_loaded,
                  started_at, finished_at, error
           FROM load_log ORDER BY load_id DESC LIMIT ?""",
        [limit],
    )


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def stock_value_by_plant() -> pl.DataFrame:
    return query(
        """SELECT plant, currency, sum(value_unrestricted) AS value_unrestricted,
                  count(*) AS lines
           FROM sap_stock WHERE snapshot_date = (SELECT max(snapshot_date) FROM sap_stock)
           GROUP BY ALL ORDER BY plant"""
    )


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def material_changes_of_load(load_id: int) -> pl.DataFrame:
    return query(
        """SELECT change, material, plant, field, old_value, new_value
           FROM material_change WHERE load_id = ? ORDER BY change, plant, material""",
        [load_id],
    )


def running_loads() -> pl.DataFrame:
    """Loads in progress right now (never cached: this is the live progress)."""
    return query(
        """SELECT load_id, file_name, progress_phase, progress_done, progress_total, started_at
           FROM load_log WHERE status = 'running' ORDER BY load_id"""
    )


def save_to_drop_folder(name: str, data: bytes, *, user: User) -> Path:
    """Put an uploaded file into drop/ for the sensor: written aside, then renamed, so the
    sensor never sees half a file; an existing name gets a numbered one. Managers only."""
    require(user, Action.UPLOAD_FILES)
    settings = get_settings()
    settings.ensure_dirs()
    target = free_name(settings.drop_dir, Path(name).name.strip() or "upload")
    partial = target.with_name(target.name + ".part")
    partial.write_bytes(data)
    partial.rename(target)
    return target
