"""Dagster assets for SAP exports and count sheets: one asset per warehouse table.

Each ingest asset runs ``pipelines.ingest.load.load_file`` (the same code path as
``wics load``) on the file named in its run config, so a load launched from the UI, the drop
sensor or the command line behaves identically.
"""


from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
from pydantic import Field

from pipelines.defs.metadata import markdown_table
from pipelines.defs.resources import KINDS, WRITER_POOL, WicsWarehouse
from pipelines.ingest.after_load import change_report_path
from pipelines.ingest.load import LoadResult, load_file
from pipelines.reports.change_report import (
    change_counts,
    latest_mm60_load,
    material_changes,
    write_change_report,
)
from pipelines.sap.headers import ExportKind
from pipelines.settings import Settings
from pipelines.warehouse.db import fetch, warehouse


class LoadFileConfig(dg.Config):
    """Which file to load (the drop sensor fills this in)."""

    path: str = Field(description="Path of the export, e.g. data/drop/MB52_stock_2026-11-20.xlsx")
    as_of: str | None = Field(
        default=None,
        description="Snapshot date (YYYY-MM-DD) for an MB52; default: date in the file name, "
        "else the file's modification date",
    )
    force: bool = Field(default=False, description="Load again even if the same bytes loaded")


def _run_load(
    context: dg.AssetExecutionContext, config: LoadFileConfig, warehouse_resource: WicsWarehouse,
    expected: ExportKind,
) -> LoadResult:
    settings = warehouse_resource.settings()

    def progress(phase: str, done: int, total: int) -> None:
        context.log.info(f"{Path(config.path).name}: {phase} {done:,}/{total:,} rows")

    result = load_file(
        Path(config.path),
        as_of=date.fromisoformat(config.as_of) if config.as_of else None,
        settings=settings,
        run_id=context.run.run_id,
        progress=progress,
        force=config.force,
    )
    if result.status == "rejected":
        raise dg.Failure(
            description=f"{result.file_name} was rejected and moved to {result.moved_to}:\n"
            f"{result.error}",
            metadata={"load_id": result.load_id, "error_file": str(result.moved_to) + ".error.txt",
                      "problems": result.summary.get("problems", 0)},
            allow_retries=False,
        )
    if result.kind != expected.value:
        # The file loaded (as what it really is); say loudly that the wrong asset was chosen.
        raise dg.Failure(
            description=f"{result.file_name} is a {result.kind} file, not {expected.value}; it "
            f"was loaded as {result.kind} (load {result.load_id})"
        )
    return result


def _load_metadata(result: LoadResult) -> dict[str, Any]:
    summary = result.summary
    metadata: dict[str, Any] = {
        "file": result.file_name,
        "load_id": result.load_id,
        "status": result.status,
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
    return metadata


@dg.asset(
    group_name="sap_master", kinds=KINDS, pool=WRITER_POOL,
    # MM60 arrives about monthly: warn after 35 days, red after 45.
    freshness_policy=dg.FreshnessPolicy.time_window(
        fail_window=timedelta(days=45), warn_window=timedelta(days=35)),
)
def material(
    context: dg.AssetExecutionContext, config: LoadFileConfig, wics: WicsWarehouse
) -> dg.MaterializeResult:
    """Material master (MM60) per material × plant.

    Loads one MM60 export: upserts the plants the file contains, collapses valuation-type and
    duplicate rows (blank valuation type first, then the latest Last Change), marks materials
    the file no longer lists inactive (never deleted) and writes every added, removed,
    reactivated and changed field to ``material_change``. One transaction; a file with any
    invalid row is rejected whole into ``rejected/`` with its ``.error.txt``.
    """
    result = _run_load(context, config, wics, ExportKind.MM60)
    summary = result.summary
    metadata = _load_metadata(result)
    metadata.update({
        "plants": ", ".join(summary.get("plants", [])),
        "added": summary.get("added", 0),
        "removed": summary.get("removed", 0),
        "changed": summary.get("changed", 0),
        "reactivated": summary.get("reactivated", 0),
        "collapsed_keys": summary.get("collapsed_keys", 0),
        "collapsed_preview": markdown_table(pl.DataFrame(summary.get("collapsed", []))
                                       if summary.get("collapsed") else pl.DataFrame()),
    })
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(group_name="sap_master", kinds={"duckdb", "excel"}, deps=[material])
def material_change(wics: WicsWarehouse) -> dg.MaterializeResult:
    """Change report of the latest MM60 load: every added, removed, reactivated and changed
    field, as counts, a preview and an xlsx under ``reports/`` for the data team."""
    settings = wics.settings()
    with warehouse(settings.database, read_only=True) as con:
        load_id = latest_mm60_load(con)
        if load_id is None:
            return dg.MaterializeResult(metadata={"load_id": None, "note": "no MM60 loaded yet"})
        changes = material_changes(con, load_id)
        file_name = fetch(con, "SELECT file_name FROM load_log WHERE load_id = ?",
                          [load_id]).item()
    report = write_change_report(changes, change_report_path(settings, load_id),
                                 file_name=file_name, load_id=load_id)
    counts = change_counts(changes)
    return dg.MaterializeResult(metadata={
        "load_id": load_id,
        "file": file_name,
        **counts,
        "dagster/row_count": changes.height,
        "report": dg.MetadataValue.path(str(report)),
        "preview": markdown_table(changes.filter(pl.col("change") != "added"), 20)
        if counts["added"] < changes.height else markdown_table(changes, 20),
    })


def stock_freshness_policy(settings: Settings) -> dg.FreshnessPolicy:
    """MB52 arrives every working day before the shift: red when a weekday's 10:00 (in
    WICS_TIMEZONE) passes without a snapshot loaded in the 24 hours before it. Given to
    ``sap_stock`` when the definitions are built (the time zone is a setting)."""
    return dg.FreshnessPolicy.cron(deadline_cron="0 10 * * 1-5",
                                   lower_bound_delta=timedelta(hours=24),
                                   timezone=settings.timezone)


@dg.asset(group_name="sap_stock", kinds=KINDS, pool=WRITER_POOL)
def sap_stock(
    context: dg.AssetExecutionContext, config: LoadFileConfig, wics: WicsWarehouse
) -> dg.MaterializeResult:
    """SAP stock on hand (MB52), one row per MB52 line and snapshot date.

    The snapshot date comes from ``as_of``, else a date in the file name, else the file's
    modification date; loading a date again replaces that date's rows in one transaction.
    Stock of materials missing from the material master is loaded and reported.
    """
    result = _run_load(context, config, wics, ExportKind.MB52)
    summary = result.summary
    metadata = _load_metadata(result)
    metadata.update({
        "plants": ", ".join(summary.get("plants", [])),
        "materials": summary.get("materials", 0),
        "replaced_lines": summary.get("replaced_lines", 0),
        "unknown_materials": summary.get("unknown_materials", 0),
        "unknown_examples": ", ".join(summary.get("unknown_examples", [])) or "none",
    })
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(group_name="counting", kinds=KINDS, pool=WRITER_POOL)
def physical_count(
    context: dg.AssetExecutionContext, config: LoadFileConfig, wics: WicsWarehouse
) -> dg.MaterializeResult:
    """Physical counts from an uploaded count sheet, one row per counted location.

    Quantities may be typed as arithmetic (``24*10``), evaluated by a small parser and kept as
    typed; a location without quantity is "seen, not counted". A sheet naming a material ×
    plant that the material master does not know is rejected whole.
    """
    result = _run_load(context, config, wics, ExportKind.COUNT_SHEET)
    summary = result.summary
    metadata = _load_metadata(result)
    metadata.update({
        "counted": summary.get("counted", 0),
        "locations_only": summary.get("locations_only", 0),
        "count_dates": ", ".join(summary.get("count_dates", [])),
        "counters": ", ".join(summary.get("counters", [])),
    })
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(group_name="operations", kinds={"duckdb"}, deps=[material, sap_stock, physical_count])
def load_log(wics: WicsWarehouse) -> dg.MaterializeResult:
    """Every file WICS has seen: loaded, rejected (with the reason) or a duplicate."""
    with warehouse(wics.settings().database, read_only=True) as con:
        recent = fetch(
            con,
            """SELECT load_id, file_name, kind, snapshot_date, rows_loaded, status,
                      left(coalesce(error, ''), 120) AS error, finished_at
               FROM load_log ORDER BY load_id DESC LIMIT 20""",
        )
        by_status = dict(fetch(con, "SELECT status, count(*) FROM load_log GROUP BY 1").iter_rows())
    return dg.MaterializeResult(metadata={
        "dagster/row_count": sum(by_status.values()),
        **{f"files_{status}": n for status, n in sorted(by_status.items())},
        "recent_loads": markdown_table(recent, 20),
    })


ingest_assets = [material, material_change, sap_stock, physical_count, load_log]

# Downstream refresh is explicit: each load job also runs what the load makes stale, so one
# run in the UI shows the whole effect of a file (and a blocking check failing on the loaded
# table stops it there). Prices, snapshots and counts all feed the reconciliation.
RECONCILIATION = dg.AssetSelection.assets("count_variance", "count_accuracy")

load_mm60_job = dg.define_asset_job(
    "load_mm60",
    selection=dg.AssetSelection.assets(material, material_change, load_log) | RECONCILIATION,
    description="Load one MM60 material list, then its change report, the reconciliation "
    "(prices may have changed) and the load log.",
)
load_mb52_job = dg.define_asset_job(
    "load_mb52", selection=dg.AssetSelection.assets(sap_stock, load_log) | RECONCILIATION,
    description="Load one MB52 stock snapshot, then the reconciliation and the load log.",
)
load_count_sheet_job = dg.define_asset_job(
    "load_count_sheet",
    selection=dg.AssetSelection.assets(physical_count, load_log) | RECONCILIATION,
    description="Load one count sheet, then the reconciliation and the load log.",
)
ingest_jobs = [load_mm60_job, load_mb52_job, load_count_sheet_job]

JOB_FOR_KIND = {
    ExportKind.MM60: (load_mm60_job.name, "material"),
    ExportKind.MB52: (load_mb52_job.name, "sap_stock"),
    ExportKind.COUNT_SHEET: (load_count_sheet_job.name, "physical_count"),
}


def load_run_config(kind: ExportKind, path: Path, as_of: date | None = None) -> dict[str, Any]:
    """Run config for the job that loads a file of ``kind``."""
    _, asset_name = JOB_FOR_KIND[kind]
    config: dict[str, Any] = {"path": str(path)}
    if as_of is not None:
        config["as_of"] = as_of.isoformat()
    return {"ops": {asset_name: {"config": config}}}
