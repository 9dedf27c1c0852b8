"""Schedules and backups: when they run, what they launch, what they keep."""

from __future__ import annotations

from datetime import datetime

import dagster as dg

from pipelines.ingest.load import load_file
from pipelines.warehouse.backup import backup_warehouse

from conftest import mm60_row


def _schedule(name: str) -> dg.ScheduleDefinition:
    from pipelines.definitions import defs as load_defs

    return load_defs().resolve_schedule_def(name)


def test_schedules_are_on_by_default_with_their_jobs():
    backup = _schedule("weekly_backup")
    assert backup.cron_schedule == "0 2 * * 0"
    assert backup.job_name == "backup_warehouse"
    assert backup.default_status == dg.DefaultScheduleStatus.RUNNING
    freshness = _schedule("hourly_freshness_checks")
    assert freshness.job_name == "check_sap_freshness"
    assert freshness.default_status == dg.DefaultScheduleStatus.RUNNING


def test_backup_exports_every_table_and_keeps_the_last_n(wics_home, mm60_file):
    load_file(mm60_file([mm60_row("1"), mm60_row("2")]))
    made = []
    for day in range(1, 5):
        target, removed = backup_warehouse(wics_home, keep=2, now=datetime(2026, 11, day, 2))
        made.append(target)
    kept = sorted(p.name for p in (wics_home.home / "backups").iterdir())
    assert kept == ["wics-20261103T020000", "wics-20261104T020000"]
    assert removed == [made[1]]
    files = {p.name for p in made[-1].iterdir()}
    assert {"schema.sql", "load.sql", "material.parquet", "sap_stock.parquet",
            "load_log.parquet"} <= files
    import duckdb

    restored = duckdb.connect(str(wics_home.home / "restored.duckdb"))
    restored.execute(f"IMPORT DATABASE '{made[-1]}'")
    assert restored.execute("SELECT count(*) FROM material").fetchone()[0] == 2
    restored.close()


def test_backup_job_materializes(wics_home, mm60_file):
    from pipelines.definitions import defs as load_defs

    load_file(mm60_file([mm60_row("1")]))
    run = load_defs().resolve_job_def("backup_warehouse").execute_in_process(
        instance=dg.DagsterInstance.ephemeral())
    event = run.get_asset_materialization_events()[0]
    metadata = event.step_materialization_data.materialization.metadata
    assert metadata["bytes"].value > 0
    assert "backups/wics-" in metadata["path"].value
