"""Dagster assets for counting: reconciliation, the cycle-count schedule, accuracy.

The domain logic is in ``pipelines.counting`` (plain functions the dashboard calls too); these
assets only open the warehouse, call it and describe the result. Each write opens the DuckDB
file, works in one transaction and closes it.
"""

from datetime import date, timedelta
from typing import Any

import dagster as dg
import duckdb
import polars as pl
from pydantic import Field

from pipelines.access import User
from pipelines.counting.accuracy import accuracy_totals, inventory_accuracy
from pipelines.counting.config import CountingConfig
from pipelines.counting.reconcile import ReconcileResult, reconcile
from pipelines.counting.schedule import generate_schedule
from pipelines.defs.metadata import markdown_table
from pipelines.defs.resources import KINDS, WRITER_POOL, WicsWarehouse
from pipelines.settings import Settings
from pipelines.warehouse.db import fetch, warehouse

GROUP = "counting"


@dg.asset(
    group_name=GROUP, kinds=KINDS, pool=WRITER_POOL,
    deps=[dg.AssetKey("material"), dg.AssetKey("sap_stock"), dg.AssetKey("physical_count")],
)
def count_variance(wics: WicsWarehouse) -> dg.MaterializeResult:
    """Counts reconciled against SAP, one line per material × plant × count date.

    counted_qty sums the non-voided counted quantities of the day; sap_qty is the configured
    stock basis (WICS_STOCK_BASIS) of the plant's latest MB52 snapshot on or before the count
    date, summed over storage locations, batches and special stock; variance value at price /
    price unit; tolerance by ABC indicator (WICS_TOLERANCE_A/B/C/OTHER); lines out of
    tolerance need a recount. Recomputed whole, so new counts, snapshots and prices all show.
    """
    settings = wics.settings()
    config = settings.counting
    with warehouse(settings.database) as con:
        result = reconcile(con, config=config)
        metadata = count_variance_metadata(con, result, config)
    return dg.MaterializeResult(metadata=metadata)


def count_variance_metadata(con: duckdb.DuckDBPyConnection, result: ReconcileResult,
                            config: CountingConfig) -> dict[str, Any]:
    """What a count_variance materialization says (its run, or a load's after_load)."""
    worst = fetch(
        con,
        """SELECT v.count_date, v.material, v.plant, v.counted_qty, v.sap_qty,
                  v.variance_qty, round(v.variance_pct, 2) AS variance_pct,
                  round(v.variance_value, 2) AS variance_value, v.needs_recount
           FROM count_variance v
           ORDER BY v.count_date DESC, abs(v.variance_value) DESC NULLS LAST LIMIT 15""",
    )
    totals = accuracy_totals(con, start=None, end=date.max)
    all_lines = fetch(con, """SELECT count(*) AS lines,
                                     count(*) FILTER (WHERE needs_recount) AS out_of_tolerance,
                                     count(*) FILTER (WHERE sap_qty IS NULL) AS unreconciled
                              FROM count_variance""").row(0, named=True)
    return {
        "dagster/row_count": all_lines["lines"],
        "out_of_tolerance": all_lines["out_of_tolerance"],
        "without_snapshot": all_lines["unreconciled"],
        "ira_pct_all_time": round(totals["ira_pct"], 2) if totals["ira_pct"] is not None
        else None,
        "abs_variance_value": round(totals["abs_variance_value"], 2),
        "net_variance_value": round(totals["net_variance_value"], 2),
        "stock_basis": config.stock_basis_name,
        "duckdb_seconds": round(result.seconds, 3),
        "preview": markdown_table(worst),
    }


class CountScheduleConfig(dg.Config):
    """How the planning run treats today."""

    include_today: bool = Field(
        default=False,
        description="Replan today's planned cycle lines too (the run before the shift), so "
        "counts missed yesterday roll forward to today. Off for runs during the day: "
        "today's sheets may already be printed.",
    )


@dg.asset(
    group_name=GROUP, kinds=KINDS, pool=WRITER_POOL,
    deps=[count_variance, dg.AssetKey("material"), dg.AssetKey("sap_stock")],
)
def count_schedule(config: CountScheduleConfig, wics: WicsWarehouse) -> dg.MaterializeResult:
    """The cycle-count schedule: what to count on which working day, and by whom.

    Fills schedule lines from the counts, schedules recounts of out-of-tolerance lines on the
    next working day, and replans the cycle counts (ABC frequencies, WICS_COUNTS_PER_YEAR_*)
    from the next working day over the planning horizon: weekends and holidays skipped, at
    most the daily cap per counter, overdue counts rolled forward. Lines of today and earlier
    are kept as they are (sheets may be printed).
    """
    settings = wics.settings()
    counting = settings.counting
    today = date.today()
    with warehouse(settings.database) as con:
        result = generate_schedule(con, user=User.system("dagster"), today=today,
                                   include_today=config.include_today, config=counting)
        per_day = fetch(
            con,
            """SELECT count_date, counter, count(*) AS lines,
                      count(*) FILTER (WHERE reason = 'recount') AS recounts,
                      count(*) FILTER (WHERE reason IN ('request', 'manual')) AS requested
               FROM count_schedule
               WHERE count_date BETWEEN ? AND ? AND status <> 'cancelled'
               GROUP BY ALL ORDER BY ALL""",
            [today, result.end],
        )
        open_lines = fetch(
            con,
            "SELECT count(*) AS n FROM count_schedule WHERE status = 'planned'",
        ).item()
    return dg.MaterializeResult(metadata={
        "dagster/row_count": int(open_lines),
        "planned_from": result.start.isoformat(),
        "planned_to": result.end.isoformat(),
        "cycle_lines_planned": result.planned,
        "recounts_added": result.recounts.added,
        "recounts_withdrawn": result.recounts.withdrawn,
        "lines_filled": result.filled,
        "counters": ", ".join(c for c in counting.team if c) or "one unnamed team",
        "daily_cap_per_counter": counting.daily_cap_per_counter,
        "preview": markdown_table(per_day, 30),
    })


@dg.asset(
    group_name=GROUP, kinds=KINDS,
    deps=[count_variance, count_schedule],
)
def count_accuracy(wics: WicsWarehouse) -> dg.MaterializeResult:
    """Inventory record accuracy: lines within tolerance / lines counted (never netted).

    By month, plant and ABC class for the last twelve months, with counts done vs scheduled
    and the absolute and net variance value. Computed from count_variance and count_schedule
    (the dashboard calls the same functions for days and weeks); nothing is stored.
    """
    with warehouse(wics.settings().database, read_only=True) as con:
        metadata = count_accuracy_metadata(con, date.today())
    return dg.MaterializeResult(metadata=metadata)


def count_accuracy_metadata(con: duckdb.DuckDBPyConnection, today: date) -> dict[str, Any]:
    """What a count_accuracy materialization says (its run, or a load's after_load)."""
    start = (today.replace(day=1) - timedelta(days=335)).replace(day=1)
    monthly = inventory_accuracy(con, period="month", by=("plant", "abc_indicator"),
                                 start=start, end=today)
    last_30 = accuracy_totals(con, start=today - timedelta(days=29), end=today)
    daily = inventory_accuracy(con, period="day", by=(), start=today - timedelta(days=13),
                               end=today)
    shown = monthly.sort("period_start", descending=True).select(
        "period_start", "plant", "abc_indicator", "lines_counted", "lines_within",
        pl.col("ira_pct").round(1), pl.col("abs_variance_value").round(2),
        pl.col("net_variance_value").round(2), "scheduled", "scheduled_done",
    )
    return {
        "dagster/row_count": monthly.height,
        "ira_pct_last_30_days": round(last_30["ira_pct"], 2)
        if last_30["ira_pct"] is not None else None,
        "lines_counted_last_30_days": last_30["lines_counted"],
        "scheduled_last_30_days": last_30["scheduled"],
        "scheduled_done_last_30_days": last_30["scheduled_done"],
        "abs_variance_value_last_30_days": round(last_30["abs_variance_value"], 2),
        "net_variance_value_last_30_days": round(last_30["net_variance_value"], 2),
        "by_month_plant_abc": markdown_table(shown, 40),
        "last_14_days": markdown_table(daily.select(
            "period_start", "lines_counted", "lines_within", pl.col("ira_pct").round(1),
            "scheduled", "scheduled_done"), 14),
    }


counting_assets = [count_variance, count_schedule, count_accuracy]

counting_job = dg.define_asset_job(
    "counting_refresh",
    selection=dg.AssetSelection.assets(*counting_assets),
    executor_def=dg.in_process_executor,  # three short steps: one process, not three
    description="Reconcile counts against SAP, replan the cycle-count schedule, accuracy.",
)
counting_jobs = [counting_job]


def counting_schedules(settings: Settings) -> list[dg.ScheduleDefinition]:
    """The daily refresh, at WICS_DAILY_REFRESH_CRON in WICS_TIMEZONE."""
    return [
        dg.ScheduleDefinition(
            name="counting_daily",
            job=counting_job,
            cron_schedule=settings.daily_refresh_cron,
            execution_timezone=settings.timezone,
            default_status=dg.DefaultScheduleStatus.RUNNING,
            run_config={"ops": {"count_schedule": {"config": {"include_today": True}}}},
            description=f"Before the shift ({settings.daily_refresh_cron}, "
            f"{settings.timezone}): reconcile, plan the day's counts and recounts (missed "
            "counts roll forward), accuracy.",
        )
    ]
