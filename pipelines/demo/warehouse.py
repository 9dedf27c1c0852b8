"""The demo warehouse: exports to load plus months of counting, so every page has something.

``write_demo_drop`` writes the files ``wics demo`` loads through Dagster, in load order: last
quarter's MM60 and MB52, this month's MM60 (churned: the change report has added, removed and
changed materials), yesterday's and today's MB52, and a count sheet of today.

``fill_demo_history`` then writes what a warehouse that has used WICS for a quarter holds,
through the domain's write functions: the cycle-count plan of the past weeks
(``plan_cycle_counts``/``write_cycle_plan``), counts of nearly every planned line
(``insert_counts``) with realistic variances - most exact or within tolerance, some out,
fewer as the weeks go by, so the accuracy trend rises - recounts of the lines that were out,
then ``reconcile``, the schedule for today and the coming weeks (``generate_schedule``, which
also books recounts for the recent out-of-tolerance lines), and part of today's list counted.

Everything is deterministic for a given ``today`` and ``seed``.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, replace
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from pipelines.access import Role, User
from pipelines.counting.calendar import next_working_day, previous_working_day, working_days
from pipelines.counting.config import CountingConfig
from pipelines.counting.reconcile import reconcile, sap_quantities
from pipelines.counting.records import insert_counts
from pipelines.counting.schedule import (
    PRIORITY,
    generate_schedule,
    mark_counted,
    plan_cycle_counts,
    schedule_for,
    sync_recounts,
    write_cycle_plan,
)
from pipelines.demo.files import write_spreadsheet_text, write_xlsx
from pipelines.demo.generate import (
    COUNTERS,
    churn_master,
    generate_counts,
    generate_master,
    generate_stock,
    next_day_stock,
)
from pipelines.warehouse.db import fetch

# The demo's counting team; `wics demo` writes it into wics.toml unless counters are configured.
DEMO_COUNTERS = COUNTERS
HISTORY_WEEKS = 13
MISSED_SHARE = 0.05  # planned lines nobody counted
OUT_SHARE_FIRST, OUT_SHARE_LAST = 0.16, 0.07  # out-of-tolerance share, first and last week
EXACT_SHARE = 0.70
SECOND_BIN_SHARE = 0.2
EXPRESSION_SHARE = 0.15
RECOUNT_CONFIRMS_SHARE = 0.3  # the recount finds the first count was right (SAP is wrong)
OPEN_RECOUNT_DAYS = 5  # out-of-tolerance lines of the last working days are not recounted yet
TODAY_DONE_SHARE = 0.4  # part of today's list is counted by the time the manager looks


@dataclass(frozen=True)
class DemoHistory:
    first_day: dt.date
    planned_lines: int
    count_rows: int
    recounts_done: int
    open_recounts: int
    schedule_from: dt.date
    schedule_to: dt.date
    scheduled_ahead: int
    today_scheduled: int
    today_counted: int
    seconds: float


def history_start(today: dt.date) -> dt.date:
    """Monday of the first week of the demo's counting history."""
    monday = today - dt.timedelta(days=today.weekday())
    return monday - dt.timedelta(weeks=HISTORY_WEEKS)


def write_demo_drop(folder: Path, *, today: dt.date, materials: int = 2000,
                    stock_rows: int | None = None, count_rows: int = 120,
                    seed: int = 7) -> list[Path]:
    """The demo's SAP exports and today's count sheet, in load order."""
    folder = Path(folder)
    stock_rows = stock_rows or materials * 3
    first = history_start(today)
    yesterday = previous_working_day(today)
    old_master = generate_master(materials, seed=seed)
    master = churn_master(old_master, seed=seed + 1)
    old_stock = generate_stock(old_master, stock_rows, seed=seed + 2)
    stock = generate_stock(master, stock_rows, seed=seed + 3)
    next_stock = next_day_stock(stock, master, seed + 4)
    counts = generate_counts(next_stock, today, count_rows, seed=seed + 5)

    def stamp(day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(7, 30))

    old_mm60 = first - dt.timedelta(days=7)
    new_mm60 = previous_working_day(yesterday)
    return [
        write_xlsx(old_master, folder / f"MM60_materials_{old_mm60.isoformat()}.xlsx",
                   created=stamp(old_mm60)),
        write_xlsx(old_stock, folder / f"MB52_stock_{first.isoformat()}.xlsx",
                   created=stamp(first)),
        write_xlsx(master, folder / f"MM60_materials_{new_mm60.isoformat()}.xlsx",
                   created=stamp(new_mm60)),
        write_xlsx(stock, folder / f"MB52_stock_{yesterday.isoformat()}.xlsx",
                   created=stamp(yesterday)),
        write_spreadsheet_text(next_stock, folder / f"MB52_stock_{today.isoformat()}.XLS",
                               encoding="cp1252", numbers="de", labels="short",
                               report_date=today),
        write_xlsx(counts, folder / f"counts_{today.isoformat()}.xlsx", sheet_name="Counts",
                   created=stamp(today)),
    ]


def demo_config(config: CountingConfig) -> CountingConfig:
    """The configured counting settings, with the demo's counters when none are configured."""
    return config if config.counters else replace(config, counters=DEMO_COUNTERS)


def _counted_quantities(rng: np.random.Generator, lines: pl.DataFrame,
                        out_share: np.ndarray) -> pl.DataFrame:
    """``counted`` for each line from its ``sap_qty``, ``tolerance`` and ``decimal`` flag."""
    n = lines.height
    sap = lines["sap_qty"].fill_null(0.0).to_numpy()
    tolerance = lines["tolerance"].to_numpy()
    roll = rng.random(n)
    out = roll < out_share
    exact = ~out & (roll < out_share + EXACT_SHARE)
    sign = np.where(rng.random(n) < 0.6, -1.0, 1.0)  # shrinkage is more common than surplus
    within_pct = rng.uniform(0.1, 0.9, n) * tolerance
    out_pct = np.minimum(tolerance * rng.uniform(1.6, 6.0, n) + rng.exponential(3.0, n), 60.0)
    pct = np.where(exact, 0.0, np.where(out, out_pct, within_pct)) * sign
    counted = np.abs(sap) * (1 + pct / 100.0)
    decimal = lines["decimal"].to_numpy()
    counted = np.where(decimal, np.round(counted, 3), np.round(counted))
    # Nothing in SAP: usually nothing on the shelf either, now and then a find.
    found = rng.integers(1, 12, n).astype(float)
    counted = np.where(sap == 0, np.where(out, found, 0.0), np.maximum(counted, 0.0))
    # A tiny SAP quantity rounds back to itself; make an "out" line really out.
    counted = np.where(out & (counted == sap) & (sap != 0), sap + np.where(sign < 0, -1, 1),
                       counted)
    return lines.with_columns(counted=pl.Series(np.maximum(counted, 0.0)), out=pl.Series(out))


def _count_rows(rng: np.random.Generator, lines: pl.DataFrame) -> pl.DataFrame:
    """Count-sheet rows of counted lines: one bin, sometimes two; some typed as expressions."""
    n = lines.height
    aisle = rng.integers(1, 24, n)
    shelf = rng.integers(1, 8, n)
    split = (rng.random(n) < SECOND_BIN_SHARE) & (lines["counted"].to_numpy() >= 4) \
        & ~lines["decimal"].to_numpy()
    counted = lines["counted"].to_numpy()
    first_part = np.where(split, np.floor(counted * rng.uniform(0.5, 0.9, n)), counted)
    main = lines.with_columns(
        location=pl.Series([f"{chr(65 + a % 6)}-{a:02d}-{s}" for a, s in zip(aisle, shelf,
                                                                              strict=True)]),
        quantity=pl.Series(first_part),
    )
    overflow = lines.filter(pl.Series(split)).with_columns(
        location=pl.Series([f"OVF-{a:02d}" for a in aisle[split]], dtype=pl.String),
        quantity=pl.Series(counted[split] - first_part[split]),
    )
    rows = pl.concat([main, overflow.select(main.columns)])
    typed = rng.random(rows.height) < EXPRESSION_SHARE
    qty = rows["quantity"].to_numpy()
    expr = [f"{int(q) // 12}*12+{int(q) % 12}" if t and q >= 24 and q == int(q)
            else (str(int(q)) if q == int(q) else f"{q:g}")
            for q, t in zip(qty, typed, strict=True)]
    return rows.with_columns(quantity_expr=pl.Series(expr, dtype=pl.String))


def _sap_and_tolerance(con: duckdb.DuckDBPyConnection, keys: pl.DataFrame,
                       config: CountingConfig) -> pl.DataFrame:
    sap = sap_quantities(con, keys, config=config)
    master = fetch(con, """SELECT material, plant, upper(trim(abc_indicator)) AS abc,
                                  base_uom IN ('KG', 'L', 'M', 'M2', 'M3', 'G') AS decimal
                           FROM material""")
    return (keys.join(sap.select("count_date", "material", "plant", "sap_qty"),
                      on=["count_date", "material", "plant"], how="left",
                      maintain_order="left")
            .join(master, on=["material", "plant"], how="left", maintain_order="left")
            .with_columns(
                tolerance=pl.col("abc").fill_null("").map_elements(config.tolerance_for,
                                                     return_dtype=pl.Float64),
                decimal=pl.col("decimal").fill_null(False)))


def _write_counts(con: duckdb.DuckDBPyConnection, rows: pl.DataFrame, rng: np.random.Generator,
                  *, config: CountingConfig) -> int:
    """Insert count rows one counter and day at a time (entered by that counter, that day)."""
    written = 0
    for (day, counter), group in rows.group_by("count_date", "counter", maintain_order=True):
        entered_at = dt.datetime.combine(day, dt.time(9, 0)) + dt.timedelta(
            minutes=int(rng.integers(0, 360)))
        written += insert_counts(
            con, group.select("count_date", "material", "plant", "location", "quantity",
                              "quantity_expr", "counter"),
            user=User(str(counter), Role.COUNTER), entered_at=entered_at, refresh=False,
            config=config)
    return written


def fill_demo_history(con: duckdb.DuckDBPyConnection, *, today: dt.date,
                      config: CountingConfig, seed: int = 7) -> DemoHistory:
    """Counting history, recounts, today's schedule and part of today's counts (see module)."""
    started = time.perf_counter()
    config = demo_config(config)
    rng = np.random.default_rng(seed)
    first = history_start(today)
    yesterday = previous_working_day(today, config.holidays)

    plan = plan_cycle_counts(con, start=first, end=yesterday, config=config)
    days = working_days(first, yesterday, config.holidays)
    progress = {d: i / max(len(days) - 1, 1) for i, d in enumerate(days)}
    keys = plan.select("count_date", "material", "plant", "counter")
    lines = _sap_and_tolerance(con, keys, config)
    counted = lines.filter(pl.Series(rng.random(lines.height) >= MISSED_SHARE))
    share = np.array([OUT_SHARE_FIRST + (OUT_SHARE_LAST - OUT_SHARE_FIRST) * progress[d]
                      for d in counted["count_date"].to_list()])
    counted = _counted_quantities(rng, counted, share)

    # Recounts of the lines that were out, except the last few days' (still open).
    recent = days[-OPEN_RECOUNT_DAYS] if len(days) >= OPEN_RECOUNT_DAYS else first
    to_recount = counted.filter(pl.col("out") & (pl.col("count_date") < recent))
    team = list(config.team)
    recount_day = [next_working_day(d, config.holidays) for d in to_recount["count_date"]]
    recount_keys = to_recount.select(
        pl.Series("count_date", recount_day, dtype=pl.Date), "material", "plant",
        pl.Series("counter", [team[(team.index(c) + 1) % len(team)] if c in team else c
                              for c in to_recount["counter"].to_list()], dtype=pl.String),
    )
    # A material recounted on a day it was also due counts once, as the recount.
    counted = counted.join(recount_keys.select("count_date", "material", "plant"),
                           on=["count_date", "material", "plant"], how="anti",
                           maintain_order="left")
    recount_lines = _sap_and_tolerance(con, recount_keys, config)
    # Most recounts find what SAP says (the first count was wrong), some confirm the first.
    confirms = rng.random(to_recount.height) < RECOUNT_CONFIRMS_SHARE
    recount_lines = recount_lines.with_columns(counted=pl.Series(np.where(
        confirms, to_recount["counted"].to_numpy(),
        recount_lines["sap_qty"].fill_null(0.0).to_numpy())))
    recount_plan = recount_keys.with_columns(
        storage_location=pl.lit(None, dtype=pl.String),
        priority=pl.lit(PRIORITY["recount"], dtype=pl.Int32),
        reason=pl.lit("recount"), due_date=pl.lit(None, dtype=pl.Date),
    ).select(plan.columns)
    # A recount replaces a cycle line of that material on that day, as sync_recounts does.
    history_plan = pl.concat([
        plan.join(recount_plan, on=["count_date", "material", "plant"], how="anti"),
        recount_plan,
    ])
    write_cycle_plan(con, history_plan, start=first)

    rows = _count_rows(rng, pl.concat([
        counted.select("count_date", "material", "plant", "counter", "counted", "decimal"),
        recount_lines.select("count_date", "material", "plant", "counter", "counted",
                             "decimal"),
    ]))
    written = _write_counts(con, rows, rng, config=config)
    reconcile(con, config=config)
    mark_counted(con)

    # Today and the coming weeks, recounts of the recent out-of-tolerance lines included.
    result = generate_schedule(con, user=User.system("demo"), today=today, include_today=True,
                               config=config)
    todays = schedule_for(con, today)
    # The morning's cycle counts are done; the recounts wait for the afternoon.
    done = todays.filter((pl.col("status") == "planned") & (pl.col("reason") == "cycle")).group_by(
        "counter", maintain_order=True).head(
        max(1, round(TODAY_DONE_SHARE * todays.height / max(len(team), 1))))
    today_rows = pl.DataFrame()
    if done.height:
        today_lines = _counted_quantities(
            rng, _sap_and_tolerance(con, done.select("count_date", "material", "plant",
                                                    "counter"), config),
            np.full(done.height, OUT_SHARE_LAST))
        today_rows = _count_rows(rng, today_lines.select(
            "count_date", "material", "plant", "counter", "counted", "decimal"))
        written += _write_counts(con, today_rows, rng, config=config)
        # What insert_counts' refresh does, with the demo's counters for the new recounts.
        reconcile(con, count_dates=[today], config=config)
        mark_counted(con)
        sync_recounts(con, today=today, config=config)
    stats = fetch(
        con,
        """SELECT
             (SELECT count(*) FROM count_schedule WHERE reason = 'recount'
                AND status = 'planned') AS open_recounts,
             (SELECT count(*) FROM count_schedule WHERE count_date > $today
                AND status <> 'cancelled') AS ahead,
             (SELECT count(*) FROM count_schedule WHERE count_date = $today
                AND status <> 'cancelled') AS today_scheduled,
             (SELECT count(*) FROM count_schedule WHERE count_date = $today
                AND status = 'counted') AS today_counted""",
        {"today": today},
    ).row(0, named=True)
    return DemoHistory(
        first_day=first, planned_lines=history_plan.height, count_rows=written,
        recounts_done=to_recount.height, open_recounts=stats["open_recounts"],
        schedule_from=result.start, schedule_to=result.end, scheduled_ahead=stats["ahead"],
        today_scheduled=stats["today_scheduled"], today_counted=stats["today_counted"],
        seconds=time.perf_counter() - started,
    )
