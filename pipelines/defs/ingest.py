"""Dagster assets for SAP exports and count sheets: one asset per warehouse table.

Each ingest asset runs ``pipelines.ingest.load.load_file`` and then
``pipelines.ingest.after_load.after_load`` (the same code path as ``wics load``) on the file
named in its run config, so a load launched from the UI, the drop sensor or the command line
behaves identically. The assets after_load refreshes are reported as materializations with
the metadata of ``pipelines.defs.load_report``; the run fails exactly when the file did not
load.
"""


from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from pipelines.defs.load_report import (
    load_log_metadata,
    load_metadata,
    material_change_metadata,
    report_load,
)
from pipelines.defs.resources import KINDS, WRITER_POOL, WicsWarehouse
from pipelines.ingest.after_load import after_load_or_pending
from pipelines.ingest.load import LoadResult, load_file
from pipelines.sap.headers import ExportKind
from pipelines.settings import Settings


class LoadFileConfig(dg.Config):
    """Which file to load (the drop sensor fills this in)."""

    path: str = Field(description="Path of the export, e.g. data/drop/MB52_stock_2026-11-20.xlsx")
    as_of: str | None = Field(
        default=None,
        description="Snapshot date (YYYY-MM-DD) for an MB52; default: date in the file name, "
        "else the file's modification date",
    )
    force: bool = Field(
        default=False,
        description="Load knowingly a file refused only as suspiciously small or as an older "
        "MM60 (and the same bytes again); load_log records it as forced",
    )


def _run_load(
    context: dg.AssetExecutionContext, config: LoadFileConfig, warehouse_resource: WicsWarehouse,
    expected: ExportKind,
) -> LoadResult:
    """Load the file, run its after_load, report what that refreshed, and fail the run
    exactly when the file did not load."""
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
    if result.status == "loaded":
        refreshed = after_load_or_pending(result.load_id, settings)
        if refreshed is None:
            context.log.warning(f"{result.file_name} loaded, but its refresh failed (see "
                                "load_log.refresh_error); the next sensor tick retries it")
        for line in refreshed.lines() if refreshed else []:
            context.log.info(f"refreshed {line}")
        report_load(context.instance, result, refreshed, settings, include_load_asset=False)
    else:
        report_load(context.instance, result, None, settings, include_load_asset=False)
    if result.status == "rejected":
        raise dg.Failure(
            description=f"{result.file_name} was rejected and moved to {result.moved_to}:\n"
            f"{result.error}",
            metadata={"load_id": result.load_id, "error_file": str(result.moved_to) + ".error.txt",
                      "problems": result.summary.get("problems", 0),
                      "forceable": result.forceable},
            allow_retries=False,
        )
    if result.kind != expected.value:
        # The file loaded (as what it really is); say loudly that the wrong asset was chosen.
        raise dg.Failure(
            description=f"{result.file_name} is a {result.kind} file, not {expected.value}; it "
            f"was loaded as {result.kind} (load {result.load_id})"
        )
    return result


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
    invalid row, ambiguous headers, fewer rows per plant than its previous load allows, or
    dated before the last MM60 of its plants is refused whole into ``rejected/`` with its
    ``.error.txt`` before anything is written (the last two can be forced).
    """
    result = _run_load(context, config, wics, ExportKind.MM60)
    return dg.MaterializeResult(metadata=load_metadata(result))


@dg.asset(group_name="sap_master", kinds={"duckdb", "excel"}, deps=[material])
def material_change(wics: WicsWarehouse) -> dg.MaterializeResult:
    """Changes of the latest MM60 load: every added, removed, reactivated and changed field,
    as counts and a preview; the xlsx report is written on demand (``wics changes``, or the
    dashboard's SAP loads page) from ``material_change``."""
    return dg.MaterializeResult(metadata=material_change_metadata(wics.settings()))


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
    return dg.MaterializeResult(metadata=load_metadata(result))


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
    return dg.MaterializeResult(metadata=load_metadata(result))


@dg.asset(group_name="operations", kinds={"duckdb"}, deps=[material, sap_stock, physical_count])
def load_log(wics: WicsWarehouse) -> dg.MaterializeResult:
    """Every file WICS has seen: loaded, rejected (with the reason) or a duplicate."""
    return dg.MaterializeResult(metadata=load_log_metadata(wics.settings()))


ingest_assets = [material, material_change, sap_stock, physical_count, load_log]

# A load job is its load asset (and the asset's checks) in one process: the asset loads the
# file and runs after_load (reconciliation, recounts, accuracy, change report), which reports
# the assets it refreshed as materializations, exactly as `wics load` does. One process and one
# step keep a run to seconds; the checks only monitor (the load's gates decided before commit).
load_mm60_job = dg.define_asset_job(
    "load_mm60", selection=dg.AssetSelection.assets(material),
    executor_def=dg.in_process_executor,
    description="Load one MM60 material list, then its change report, the reconciliation "
    "(prices may have changed), recounts and the load log.",
)
load_mb52_job = dg.define_asset_job(
    "load_mb52", selection=dg.AssetSelection.assets(sap_stock),
    executor_def=dg.in_process_executor,
    description="Load one MB52 stock snapshot, then the reconciliation, recounts and the "
    "load log.",
)
load_count_sheet_job = dg.define_asset_job(
    "load_count_sheet", selection=dg.AssetSelection.assets(physical_count),
    executor_def=dg.in_process_executor,
    description="Load one count sheet, then the reconciliation, recounts and the load log.",
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
