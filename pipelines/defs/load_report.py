"""What Dagster records of a load, whichever way the file came (run, ``wics load``, dashboard).

The metadata of each asset a load touches is built here once. A load run returns its load
asset's metadata and reports the assets its after_load refreshed; ``wics load`` and the
dashboard report all of them (``DagsterInstance.report_runless_asset_event``), so the Dagster
UI shows every load with the same figures, never stale ones.
"""

from __future__ import annotations

import os
from datetime import date
from typing import Any

import dagster as dg
import polars as pl

from pipelines.defs.counting import count_accuracy_metadata, count_variance_metadata
from pipelines.defs.metadata import markdown_table
from pipelines.ingest.after_load import Refreshed
from pipelines.ingest.load import LoadResult
from pipelines.reports.change_report import (
    latest_mm60_load,
    load_change_counts,
    material_changes,
    report_file_name,
)
from pipelines.settings import Settings
from pipelines.warehouse.db import fetch, warehouse

PREVIEW_ROWS = 20
LOAD_ASSET = {"mm60": "material", "mb52": "sap_stock", "count_sheet": "physical_count"}


def load_metadata(result: LoadResult) -> dict[str, Any]:
    """The load asset's metadata (material, sap_stock or physical_count)."""
    summary = result.summary
    metadata: dict[str, Any] = {
        "file": result.file_name,
        "load_id": result.load_id,
        "status": result.status,
        "forced": result.forced,
        "dagster/row_count": result.rows_loaded,
        "rows_read": result.rows_read,
        "format": summary.get("format", ""),
        "parse_seconds": round(result.parse_seconds, 3),
        "db_seconds": round(result.db_seconds, 3),
    }
    if result.snapshot_date:
        metadata["snapshot_date"] = result.snapshot_date.isoformat()
    if result.status == "duplicate":
        metadata["duplicate_of_load"] = summary.get("duplicate_of_load")
    if summary.get("forced_past"):
        metadata["forced_past"] = "; ".join(summary["forced_past"])
    if result.kind == "mm60":
        metadata.update({
            "plants": ", ".join(summary.get("plants", [])),
            **{name: summary.get(name, 0)
               for name in ("added", "removed", "changed", "reactivated", "collapsed_keys")},
            "collapsed_preview": markdown_table(pl.DataFrame(summary["collapsed"])
                                                if summary.get("collapsed") else pl.DataFrame()),
        })
    elif result.kind == "mb52":
        metadata.update({
            "plants": ", ".join(summary.get("plants", [])),
            "materials": summary.get("materials", 0),
            "replaced_lines": summary.get("replaced_lines", 0),
            "unknown_materials": summary.get("unknown_materials", 0),
            "unknown_examples": ", ".join(summary.get("unknown_examples", [])) or "none",
        })
    elif result.kind == "count_sheet":
        metadata.update({
            "counted": summary.get("counted", 0),
            "locations_only": summary.get("locations_only", 0),
            "count_dates": ", ".join(summary.get("count_dates", [])),
            "counters": ", ".join(summary.get("counters", [])),
        })
    return metadata


def material_change_metadata(settings: Settings, load_id: int | None = None) -> dict[str, Any]:
    """The changes of ``load_id`` (default: the latest MM60 load): counts (taken in the
    database) and a preview of 20. The xlsx report is not written here but on demand, and the
    metadata says how to get it."""
    with warehouse(settings.database, read_only=True) as con:
        load_id = load_id if load_id is not None else latest_mm60_load(con)
        if load_id is None:
            return {"load_id": None, "note": "no MM60 loaded yet"}
        counts = load_change_counts(con, load_id)
        rows = counts.pop("rows")
        # Additions are simply new materials: preview the other changes when there are any.
        preview = material_changes(con, load_id, without_added=counts["added"] < rows,
                                   limit=PREVIEW_ROWS)
        file_name = fetch(con, "SELECT file_name FROM load_log WHERE load_id = ?",
                          [load_id]).item()
    return {
        "load_id": load_id,
        "file": file_name,
        **counts,
        "dagster/row_count": rows,
        "report": f"on demand: `wics changes {load_id}` writes "
                  f"reports/{report_file_name(load_id)}; or download it on the dashboard's "
                  "SAP loads page",
        "preview": markdown_table(preview, PREVIEW_ROWS),
    }


def load_log_metadata(settings: Settings) -> dict[str, Any]:
    with warehouse(settings.database, read_only=True) as con:
        recent = fetch(
            con,
            """SELECT load_id, file_name, kind, snapshot_date, rows_loaded, status, forced,
                      left(coalesce(error, ''), 120) AS error, finished_at
               FROM load_log ORDER BY load_id DESC LIMIT 20""",
        )
        by_status = dict(fetch(con, "SELECT status, count(*) FROM load_log GROUP BY 1").iter_rows())
    return {
        "dagster/row_count": sum(by_status.values()),
        **{f"files_{status}": n for status, n in sorted(by_status.items())},
        "recent_loads": markdown_table(recent, 20),
    }


def load_events(result: LoadResult, refreshed: Refreshed | None, settings: Settings, *,
                include_load_asset: bool = True) -> list[dg.AssetMaterialization]:
    """The materializations one load stands for, with each asset's usual metadata."""
    tags = {"wics/load_id": str(result.load_id)}
    events: list[dg.AssetMaterialization] = []

    def add(asset: str, metadata: dict[str, Any]) -> None:
        events.append(dg.AssetMaterialization(asset_key=asset, metadata=metadata, tags=tags))

    if result.status == "loaded" and result.kind in LOAD_ASSET and include_load_asset:
        add(LOAD_ASSET[result.kind], load_metadata(result))
    if result.status == "loaded" and refreshed is not None:
        if refreshed.kind == "mm60":
            add("material_change", material_change_metadata(settings, result.load_id))
        if refreshed.variance is not None:
            config = settings.counting
            with warehouse(settings.database, read_only=True) as con:
                add("count_variance", count_variance_metadata(con, refreshed.variance, config))
                add("count_accuracy", count_accuracy_metadata(con, date.today()))
    add("load_log", load_log_metadata(settings))
    return events


def report_load(instance: dg.DagsterInstance, result: LoadResult, refreshed: Refreshed | None,
                settings: Settings, *, include_load_asset: bool = True) -> int:
    """Record a load's materializations in the Dagster instance; how many were recorded."""
    events = load_events(result, refreshed, settings, include_load_asset=include_load_asset)
    for event in events:
        instance.report_runless_asset_event(event)
    return len(events)


def open_instance(settings: Settings) -> dg.DagsterInstance:
    """The Dagster instance at DAGSTER_HOME (default WICS_HOME/dagster)."""
    os.environ.setdefault("DAGSTER_HOME", str(settings.dagster_home))
    return dg.DagsterInstance.get()


def report_to_dagster(result: LoadResult, refreshed: Refreshed | None, settings: Settings,
                      instance: dg.DagsterInstance | None = None) -> str:
    """Record a load made outside a run (``wics load``, the dashboard's "load anyway") in the
    instance at DAGSTER_HOME (``instance``: that instance opened already; closed here); never
    fails the load, says what happened."""
    try:
        with instance or open_instance(settings) as opened:
            count = report_load(opened, result, refreshed, settings)
        return f"{count} materializations recorded in {os.environ['DAGSTER_HOME']}"
    except Exception as error:  # noqa: BLE001 - the warehouse is right; say what is missing
        return f"not recorded ({type(error).__name__}: {error})"
