"""The dashboard's pages on a large warehouse: build it, then time each page's server-side render.

The warehouse is a year of operation of a big site, made from the demo generators
(``pipelines/demo/generate.py`` through ``benchmarks/inputs.py``) and written with the real
domain functions where they exist:

- two MM60 loads (``load_material_master``: month 1, then next month's churn, so
  ``material_change`` holds added, removed and changed rows);
- ``snapshots`` MB52 snapshots four weeks apart, the latest today, each of ``stock_lines``
  lines (``load_stock_snapshot``); earlier ones have moved quantities and a few lines less;
- ``count_lines`` count entries spread over the working days of the past year (one
  ``generate_counts`` round per snapshot interval, each material × plant on one day of it),
  entered by their counter's account (``ana`` for ANA), a few voided; written straight into
  ``physical_count`` like a count-sheet load would;
- reconciliation of every count date (``reconcile``), the schedule lines those counts filled,
  and the planning run (``generate_schedule``) for the weeks ahead with its recounts.

Each page module under ``dashboard/app_pages/`` (whatever exists: pages are found, not listed)
is then run with Streamlit's AppTest as a signed-in manager, the way the server runs it: the
whole app script (navigation) and the page, its reads and its elements. A first render is
not timed (imports); then ``runs`` renders with the cache cleared (what a user gets when the
15-second read cache has expired, or after a write) and ``runs`` with a warm cache.
"""

from __future__ import annotations

import datetime as dt
import statistics
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl

REPO = Path(__file__).resolve().parent.parent
APP = REPO / "dashboard" / "streamlit_app.py"
PAGES = REPO / "dashboard" / "app_pages"
COUNTERS = ("ANA", "BEN", "CHRIS", "DANA")
SNAPSHOT_WEEKS = 4


def page_files() -> list[Path]:
    """Every page module of the dashboard, in name order."""
    return sorted(p for p in PAGES.glob("*.py") if not p.name.startswith("_"))


def _normalised(frame: pl.DataFrame) -> pl.DataFrame:
    from pipelines.sap.material import normalise_material, normalise_plant

    return frame.with_columns(normalise_material(pl.col("material")).alias("material"),
                              normalise_plant(pl.col("plant")).alias("plant"))


def _load_id(con, file_name: str, kind: str, rows: int, at: dt.datetime,
             snapshot: dt.date | None = None) -> int:
    load_id = con.execute("SELECT nextval('load_id')").fetchone()[0]
    con.execute(
        """INSERT INTO load_log (load_id, file_name, kind, snapshot_date, rows_read,
                                 rows_loaded, status, started_at, finished_at)
           VALUES (?, ?, ?, ?, ?, ?, 'loaded', ?, ?)""",
        [load_id, file_name, kind, snapshot, rows, rows, at, at + dt.timedelta(seconds=20)])
    return load_id


def _earlier_stock(stock: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """An older snapshot of the same shelves: quantities moved, ~3 % of the lines absent."""
    n = stock.height
    factor = np.where(rng.random(n) < 0.3, rng.lognormal(0.0, 0.4, n), 1.0)
    kept = rng.random(n) >= 0.03
    decimal = stock["unrestricted"].to_numpy() % 1 != 0

    def moved(column: str) -> pl.Series:
        values = stock[column].to_numpy() * factor
        return pl.Series(column, np.where(decimal, np.round(values, 3), np.round(values)))

    return stock.with_columns(
        moved("unrestricted"), moved("value_unrestricted"),
    ).filter(pl.Series(kept))


def _working_days(start: dt.date, end: dt.date) -> list[dt.date]:
    days, day = [], start
    while day < end:
        if day.weekday() < 5:
            days.append(day)
        day += dt.timedelta(days=1)
    return days


def _count_rows(counts: pl.DataFrame, days: list[dt.date], seed: int) -> pl.DataFrame:
    """Generated count-sheet rows, each material × plant on one of ``days``, typed values
    evaluated as the count-sheet load does (the parser for expressions, kept as typed)."""
    from pipelines.sap.expression import evaluate_quantity

    calendar = pl.DataFrame({"count_date": days}, schema={"count_date": pl.Date}) \
        .with_row_index("_day")
    rows = _normalised(counts).drop("count_date").with_columns(
        _day=(pl.struct("material", "plant").hash(seed) % len(days)).cast(pl.UInt32),
    ).join(calendar, on="_day", how="left").drop("_day").with_columns(
        quantity_expr=pl.col("quantity"),
        quantity=pl.col("quantity").cast(pl.Float64, strict=False),
    )
    typed = rows.filter(pl.col("quantity").is_null() & pl.col("quantity_expr").is_not_null())
    if typed.height:  # expressions such as 24*10+3: few, parsed one by one
        values = {text: evaluate_quantity(text) for text in typed["quantity_expr"].unique()}
        rows = rows.with_columns(quantity=pl.coalesce(
            "quantity", pl.col("quantity_expr").replace_strict(values, default=None,
                                                              return_dtype=pl.Float64)))
    return rows


def build_warehouse(database: Path, *, materials: int, stock_lines: int, count_lines: int,
                    snapshots: int, seed: int, today: dt.date) -> dict:
    """Write the large warehouse into ``database`` (a fresh file); what it holds."""
    from benchmarks import inputs
    from pipelines.access import User
    from pipelines.counting.reconcile import reconcile
    from pipelines.counting.schedule import generate_schedule, mark_counted
    from pipelines.demo.generate import generate_counts
    from pipelines.ingest.material_master import COLUMNS as MASTER_COLUMNS
    from pipelines.ingest.material_master import load_material_master
    from pipelines.ingest.stock_snapshot import COLUMNS as STOCK_COLUMNS
    from pipelines.ingest.stock_snapshot import load_stock_snapshot
    from pipelines.settings import get_settings
    from pipelines.warehouse.db import warehouse

    # The benchmark's counting team, for this build only (never into the caller's environment).
    config = get_settings().counting
    if not config.counters:
        config = replace(config, counters=COUNTERS)
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    month1 = inputs.master_frame(materials, seed)
    month2 = inputs.churned_frame(month1, seed)
    stock = inputs.stock_frame(month1, stock_lines, seed)
    dates = [today - dt.timedelta(weeks=SNAPSHOT_WEEKS * k) for k in range(snapshots)][::-1]
    year_ago = today - dt.timedelta(days=365)
    at = dt.datetime.combine(today, dt.time(6, 0))

    with warehouse(database) as con:
        for frame, name, when in ((month1, "MM60_month1.xlsx", at - dt.timedelta(days=60)),
                                  (month2, "MM60_month2.xlsx", at - dt.timedelta(days=30))):
            rows = _normalised(frame).select(MASTER_COLUMNS).with_row_index("_row", offset=2)
            load_id = _load_id(con, name, "mm60", rows.height, when)
            load_material_master(con, rows, load_id, when)

    counted = 0
    # One round of counts per interval between two snapshots (the last snapshot is today).
    per_round = max(1, count_lines // max(1, len(dates) - 1))
    for k, day in enumerate(dates):
        shelves = stock if day == today else _earlier_stock(stock, rng)
        with warehouse(database) as con:
            load_id = _load_id(con, f"MB52_{day.isoformat()}.xlsx", "mb52", shelves.height,
                               dt.datetime.combine(day, dt.time(5, 30)), day)
            load_stock_snapshot(con, _normalised(shelves).select(STOCK_COLUMNS), load_id, day)
        # The counts of the four weeks from this snapshot (up to yesterday, within the year).
        end = dates[k + 1] if k + 1 < len(dates) else today
        days = [d for d in _working_days(day, end) if d >= year_ago]
        if not days:
            continue
        rows = _count_rows(generate_counts(shelves, day, per_round, seed=seed + 100 + k),
                           days, seed + k)
        with warehouse(database) as con:
            con.register("bench_counts", rows)
            con.execute(
                """INSERT INTO physical_count (count_date, material, plant, storage_location,
                       location, quantity, quantity_expr, counter, notes, entered_by,
                       entered_at)
                   SELECT count_date, material, plant, storage_location, location, quantity,
                          quantity_expr, counter, notes, lower(counter),
                          count_date + INTERVAL 15 HOUR FROM bench_counts""")
            con.unregister("bench_counts")
        counted += rows.height

    with warehouse(database) as con:
        # A few entries voided by their counter an hour later (counted twice).
        con.execute(
            """UPDATE physical_count SET voided_at = entered_at + INTERVAL 1 HOUR,
                      voided_by = entered_by, void_reason = 'counted twice'
               WHERE hash(count_id) % 200 = 0""")
        variance = reconcile(con, config=config)
        # The past: each counted material × plant × day was on that day's cycle schedule.
        con.execute(
            """INSERT INTO count_schedule (count_date, material, plant, counter, reason,
                                           status, counted_on, created_by, created_at)
               SELECT count_date, material, plant, min(counter), 'cycle', 'planned', NULL,
                      'wics', count_date - INTERVAL 7 DAY
               FROM physical_count GROUP BY count_date, material, plant""")
        mark_counted(con)
        plan = generate_schedule(con, user=User.system("benchmark"), today=today,
                                 include_today=True, config=config)
        figures = con.execute(
            """SELECT (SELECT count(*) FROM material),
                      (SELECT count(*) FROM sap_stock),
                      (SELECT count(*) FROM sap_stock WHERE snapshot_date = ?),
                      (SELECT count(*) FROM physical_count),
                      (SELECT count(*) FROM count_schedule),
                      (SELECT count(*) FROM material_change)""", [today]).fetchone()
    return {
        "materials": figures[0], "stock_lines": figures[1], "latest_stock_lines": figures[2],
        "snapshots": len(dates), "count_lines": figures[3], "variance_lines": variance.lines,
        "schedule_lines": figures[4], "planned_ahead": plan.planned,
        "material_changes": figures[5], "seconds": time.perf_counter() - started,
    }


def builder_version() -> str:
    """Short hash of the code that builds the warehouse and of the warehouse schema (not of
    the timing code): part of the cached warehouse's name, so a changed builder or a new
    column never times a stale warehouse."""
    import hashlib
    import inspect

    from pipelines.warehouse import migrations, schema

    parts = (_normalised, _load_id, _earlier_stock, _working_days, _count_rows,
             build_warehouse, schema, migrations)
    source = "".join(inspect.getsource(part) for part in parts)
    return hashlib.sha256(source.encode()).hexdigest()[:8]


def showcase_material(database: Path) -> dict[str, str]:
    """Query parameters that open the Materials page on a well-documented material: the most
    counted one with an MM60 change (the page's heaviest view)."""
    from pipelines.warehouse.db import warehouse

    with warehouse(database, read_only=True) as con:
        row = con.execute(
            """SELECT p.material, p.plant FROM physical_count p
               SEMI JOIN material_change c USING (material, plant)
               GROUP BY ALL ORDER BY count(DISTINCT p.count_date) DESC, 1, 2 LIMIT 1"""
        ).fetchone() or con.execute(
            "SELECT material, plant FROM material ORDER BY 1, 2 LIMIT 1").fetchone()
    return {"material": row[0], "plant": row[1]} if row else {}


def scenarios(database: Path) -> dict[str, list[tuple[str, dict]]]:
    """Pages with more than one heavy view: (name, query parameters and widget state) each.
    Every other page is rendered as it opens."""
    return {"materials.py": [
        ("", {"query": showcase_material(database)}),
        ("part locations of all materials",
         {"state": {"materials_view": "Part locations of all materials"}}),
    ]}


def time_pages(database: Path, runs: int) -> list[dict]:
    """Render every page ``runs`` times cold and ``runs`` times warm; seconds per render."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from pipelines.access import Role, User

    views = scenarios(database)
    manager = User("bench-manager", Role.MANAGER)
    measured = []
    for path, view, setup in ((p, v, s) for p in page_files()
                              for v, s in views.get(p.name, [("", {})])):
        page = path.relative_to(APP.parent).as_posix()
        app = AppTest.from_file(str(APP), default_timeout=600)
        app.session_state["wics_user"] = manager
        for key, value in setup.get("state", {}).items():
            app.session_state[key] = value
        app.query_params.update(setup.get("query", {}))
        name = f"{path.name} ({view})" if view else path.name
        outcome = {"page": name, "cold": [], "warm": [], "error": None, "elements": 0}
        try:
            app.run()
            app.switch_page(page)
            app.run()  # first render: imports and first reads, not timed
            for phase in ("cold", "warm"):
                for _ in range(runs):
                    if phase == "cold":
                        st.cache_data.clear()
                    started = time.perf_counter()
                    app.run()
                    outcome[phase].append(time.perf_counter() - started)
                    if app.exception:
                        raise RuntimeError(app.exception[0].message)
            outcome["elements"] = len(list(app.main))
        except Exception as error:  # noqa: BLE001 - reported per page, the others still run
            outcome["error"] = f"{type(error).__name__}: {error}"[:500]
        outcome["cold_median"] = statistics.median(outcome["cold"]) if outcome["cold"] else None
        outcome["warm_median"] = statistics.median(outcome["warm"]) if outcome["warm"] else None
        measured.append(outcome)
    return measured
