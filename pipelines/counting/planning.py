"""The count schedule as managers look at it: lines over a range of days, the calendar of
lines per day × counter, and moving a planned line to another day or counter.

The planner itself (cycle counts, recounts, requests) is ``schedule.py``; this module reads
its table for the dashboard and makes the one hand edit the planner does not: a move.
"""

from __future__ import annotations

from datetime import date

import duckdb
import polars as pl

from pipelines.access import Action, User, require
from pipelines.counting.schedule import ScheduleError, mark_counted
from pipelines.sap.material import clean_text
from pipelines.warehouse.db import fetch

UNASSIGNED = "(unassigned)"


def schedule_lines(
    con: duckdb.DuckDBPyConnection,
    start: date,
    end: date,
    *,
    plant: str | None = None,
    counter: str | None = None,
    status: str | None = None,
    include_cancelled: bool = False,
) -> pl.DataFrame:
    """Schedule lines from ``start`` to ``end`` (both included) with description and ABC."""
    return fetch(
        con,
        """SELECT s.schedule_id, s.count_date, s.counter, s.plant, s.material,
                  m.description, m.abc_indicator, s.storage_location, s.reason, s.priority,
                  s.status, s.counted_on, s.requested_by, s.request_note, s.created_by,
                  s.created_at
           FROM count_schedule s
           LEFT JOIN material m USING (material, plant)
           WHERE s.count_date BETWEEN $start AND $end
             AND (CAST($plant AS VARCHAR) IS NULL OR s.plant = $plant)
             AND (CAST($counter AS VARCHAR) IS NULL OR s.counter = $counter)
             AND (CAST($status AS VARCHAR) IS NULL OR s.status = $status)
             AND (CAST($cancelled AS BOOLEAN) OR s.status <> 'cancelled')
           ORDER BY s.count_date, s.counter NULLS LAST, s.priority, s.plant, s.material""",
        {"start": start, "end": end, "plant": plant, "counter": counter, "status": status,
         "cancelled": include_cancelled},
    )


def lines_per_day_and_counter(lines: pl.DataFrame) -> pl.DataFrame:
    """A calendar of ``schedule_lines``: one row per day, one column per counter, a total.

    Cells are the lines not cancelled; days without lines are left out.
    """
    live = lines.filter(pl.col("status") != "cancelled")
    if live.is_empty():
        return pl.DataFrame(schema={"count_date": pl.Date, "total": pl.UInt32})
    counted = live.with_columns(pl.col("counter").fill_null(UNASSIGNED))
    grid = counted.pivot(on="counter", index="count_date", values="schedule_id",
                         aggregate_function="len", sort_columns=True).fill_null(0)
    totals = counted.group_by("count_date").agg(
        pl.len().alias("total"),
        (pl.col("status") == "counted").sum().alias("counted"),
    )
    weekday = pl.col("count_date").dt.strftime("%a")
    return grid.join(totals, on="count_date").sort("count_date").select(
        "count_date", weekday.alias("day"), pl.exclude("count_date", "total", "counted"),
        "total", "counted",
    )


def counters_in(con: duckdb.DuckDBPyConnection, start: date, end: date) -> list[str]:
    """Counter names on the schedule or in the counts between two dates."""
    names = fetch(
        con,
        """SELECT counter FROM count_schedule WHERE count_date BETWEEN $start AND $end
           UNION SELECT counter FROM physical_count WHERE count_date BETWEEN $start AND $end
           """,
        {"start": start, "end": end},
    )["counter"].drop_nulls().unique().sort().to_list()
    return names


def move_scheduled(
    con: duckdb.DuckDBPyConnection,
    schedule_id: int,
    *,
    user: User,
    count_date: date | None = None,
    counter: str | None = None,
    today: date | None = None,
) -> None:
    """Move a planned line to another day and/or counter (who moved it goes into its note).

    Only planned lines move, never into the past, and never onto a day that already has a
    planned line of the same material × plant (one count, not two).
    """
    require(user, Action.CHANGE_SCHEDULE)
    today = today or date.today()
    rows = fetch(con, "SELECT * FROM count_schedule WHERE schedule_id = ?", [schedule_id])
    if rows.is_empty():
        raise ScheduleError(f"there is no schedule line {schedule_id}")
    line = rows.row(0, named=True)
    if line["status"] != "planned":
        raise ScheduleError(f"schedule line {schedule_id} is {line['status']}, not planned")
    new_date = count_date or line["count_date"]
    new_counter = pl.select(clean_text(pl.lit(counter, dtype=pl.String))).item() \
        if counter is not None else line["counter"]
    if new_date < today:
        raise ScheduleError(f"cannot move a line into the past ({new_date.isoformat()})")
    if new_date == line["count_date"] and new_counter == line["counter"]:
        raise ScheduleError("choose another day or counter to move the line to")
    clash = fetch(
        con,
        """SELECT schedule_id FROM count_schedule
           WHERE count_date = ? AND material = ? AND plant = ? AND status = 'planned'
             AND schedule_id <> ?""",
        [new_date, line["material"], line["plant"], schedule_id],
    )
    if not clash.is_empty():
        raise ScheduleError(
            f"material {line['material']} of plant {line['plant']} is already on the schedule "
            f"of {new_date.isoformat()} (line {clash.item(0, 0)})")
    moved = []
    if new_date != line["count_date"]:
        moved.append(f"from {line['count_date'].isoformat()}")
    if new_counter != line["counter"]:
        moved.append(f"from counter {line['counter'] or 'none'}")
    text = f"moved {' and '.join(moved)} by {user.name}"
    con.execute(
        """UPDATE count_schedule SET count_date = ?, counter = ?,
                  request_note = CASE WHEN request_note IS NULL THEN ?
                                      ELSE request_note || ' | ' || ? END
           WHERE schedule_id = ?""",
        [new_date, new_counter, text, text, schedule_id],
    )
    # A line moved onto a day that already has a count of it is filled at once.
    mark_counted(con)


def plants(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Plants of the material master, in order (the schedule's plant filter)."""
    return fetch(con, "SELECT DISTINCT plant FROM material ORDER BY plant")["plant"].to_list()
