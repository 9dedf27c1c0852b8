"""Operations: the weekly warehouse backup and the freshness checks' schedule."""

import dagster as dg

from pipelines.defs.checks import material_fresh, sap_stock_fresh
from pipelines.defs.resources import WicsWarehouse
from pipelines.settings import Settings, setting_default
from pipelines.warehouse.backup import backup_warehouse


@dg.asset(group_name="operations", kinds={"duckdb", "parquet"},
          description="The whole warehouse exported to Parquet under "
          "``backups/wics-<timestamp>/`` (DuckDB ``EXPORT DATABASE``, the code of "
          "``wics backup``; ``wics restore`` restores it). The last WICS_BACKUPS_KEEP "
          f"(default {setting_default('backups_keep')}) backups are kept.")
def warehouse_backup(wics: WicsWarehouse) -> dg.MaterializeResult:
    settings = wics.settings()
    target, removed = backup_warehouse(settings, keep=settings.backups_keep)
    size = sum(p.stat().st_size for p in target.iterdir())
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(target)),
        "bytes": size,
        "removed_backups": ", ".join(p.name for p in removed) or "none",
    })


backup_job = dg.define_asset_job("backup_warehouse", selection=[warehouse_backup],
                                 description="Export the warehouse to Parquet, keep the last N.")

freshness_job = dg.define_asset_job(
    "check_sap_freshness",
    selection=dg.AssetSelection.checks(sap_stock_fresh, material_fresh),
    description="Evaluate whether the MB52 and MM60 data are fresh enough.",
)
operations_assets = [warehouse_backup]
operations_jobs = [backup_job, freshness_job]


def operations_schedules(settings: Settings) -> list[dg.ScheduleDefinition]:
    """The backup at WICS_BACKUP_CRON and the hourly freshness checks, in WICS_TIMEZONE."""
    return [
        dg.ScheduleDefinition(
            name="weekly_backup", job=backup_job, cron_schedule=settings.backup_cron,
            execution_timezone=settings.timezone,
            default_status=dg.DefaultScheduleStatus.RUNNING,
            description=f"{settings.backup_cron} ({settings.timezone}): back up the warehouse.",
        ),
        dg.ScheduleDefinition(
            name="hourly_freshness_checks", job=freshness_job, cron_schedule="5 * * * *",
            execution_timezone=settings.timezone,
            default_status=dg.DefaultScheduleStatus.RUNNING,
            description="Every hour: re-evaluate SAP freshness, so stale data turns red "
            "without a load.",
        ),
    ]
