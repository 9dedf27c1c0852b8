"""What a load makes stale, brought up to date: shared by ``wics load`` and the Dagster jobs."""

from __future__ import annotations

from pathlib import Path

from pipelines.counting.reconcile import reconcile
from pipelines.ingest.load import LoadResult
from pipelines.reports.change_report import material_changes, write_change_report
from pipelines.settings import Settings
from pipelines.warehouse.db import warehouse


def change_report_path(settings: Settings, load_id: int) -> Path:
    return settings.reports_dir / f"material_changes_load{load_id}.xlsx"


def refresh_after_load(result: LoadResult, settings: Settings) -> list[str]:
    """Refresh what depends on a loaded file; returns a line per thing refreshed."""
    done: list[str] = []
    if result.kind == "mm60":
        with warehouse(settings.database, read_only=True) as con:
            changes = material_changes(con, result.load_id)
        report = write_change_report(changes, change_report_path(settings, result.load_id),
                                     file_name=result.file_name, load_id=result.load_id)
        done.append(f"change report {report}")
    if result.kind in ("mm60", "mb52"):
        # New prices or a new snapshot change the variance of every count they reach.
        # (Count sheets reconcile their own dates inside their load transaction.)
        with warehouse(settings.database) as con:
            variance = reconcile(con, config=settings.counting)
        done.append(f"count_variance: {variance.lines:,} lines, "
                    f"{variance.out_of_tolerance:,} out of tolerance")
    return done
