"""Operations: the weekly warehouse backup and the freshness checks' schedule."""

import os

import dagster as dg

from pipelines.defs.checks import material_fresh, sap_stock_fresh
from pipelines.defs.resources import WicsWarehouse
from pipelines.settings import get_settings
from pipelines.warehouse.backup import backup_warehouse


@dg.asset(group_name="operations", kinds={"duckdb", "parquet"})
def warehouse_backup(wics: WicsWarehouse) -> dg.MaterializeResult:
    """The whole warehouse exported to Parquet under ``backups/wics-<timestamp>/``
    (DuckDB ``EXPORT DATABASE``, the code of ``wics backup``; ``wics restore`` restores it).
    The last WICS_BACKUPS_KEEP (8) backups are kept."""
    target, removed = backup_warehouse(wics.settings())
    size = sum(p.stat().st_size for p in target.iterdir())
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(target)),
        "bytes": size,
        "removed_backups": ", ".join(p.name for p in removed) or "none",
    })


backup_job = dg.define_asset_job("backup_warehouse", selection=[warehouse_backup],
                                 description="Export the warehouse to Parquet, keep the last N.")
weekly_backup_schedule = dg.ScheduleDefinition(
    name="weekly_backup", job=backup_job,
    cron_schedule=os.environ.get("WICS_BACKUP_CRON", "0 2 * * 0"),
    execution_timezone=get_settings().timezone, default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Sunday 02:00 (WICS_BACKUP_CRON, WICS_TIMEZONE): back up the warehouse.",
)

freshness_job = dg.define_asset_job(
    "check_sap_freshness",
    selection=dg.AssetSelection.checks(sap_stock_fresh, material_fresh),
    description="Evaluate whether the MB52 and MM60 data are fresh enough.",
)
freshness_schedule = dg.ScheduleDefinition(
    name="hourly_freshness_checks", job=freshness_job, cron_schedule="5 * * * *",
    execution_timezone=get_settings().timezone, default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every hour: re-evaluate SAP freshness, so stale data turns red without a load.",
)

operations_assets = [warehouse_backup]
operations_jobs = [backup_job, freshness_job]
operations_schedules = [weekly_backup_schedule, freshness_schedule]
