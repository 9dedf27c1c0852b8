"""The cycle-count schedule in ``count_schedule``: what to count when, and by whom.

- Cycle counts: each active material × plant is counted ``counts_per_year`` times a year by its
  ABC indicator (default A 12, B 4, C 1). Time runs in working days (weekends and configured
  holidays skipped), so the interval is (working days in the coming year) / counts_per_year
  and a material is due one interval after its last count. Materials never counted or already
  overdue are caught up at the level pace: each gets its own slot of the interval (interval /
  materials of that frequency), never counted and most overdue first; a one-off backlog thus
  never becomes a pile that comes back every interval.
  Each day, in this order and never more than ``daily_cap_per_counter`` per counter (lines
  already on the schedule - recounts, requests, manual additions - use the cap first):
  counts more than a tenth of their interval late; counts due, up to the level (the year's
  demand spread evenly over its working days); counts due within the next tenth of their
  interval, while the level is not reached. What does not fit rolls forward to the next
  working day, most overdue first, A before B before C. A count moved by levelling keeps
  the material's rhythm (the next one is due an interval after the planned point), so
  levelling never changes how often a material is counted. The work of a day is shared
  evenly between the counters, each getting a run of neighbouring materials.
  Materials without stock in the latest snapshot are skipped when configured.
- Recounts: a variance line out of tolerance gets a recount on the next working day after its
  count date (not before today), given preferably to another counter; a recount found out of
  tolerance again is not recounted automatically, and a recount whose line came back within
  tolerance (a late location was added) is withdrawn.
- Manual additions and count requests (who asked, why); a line is filled (``counted``, with
  ``counted_on``) when a counted quantity of that material × plant exists on its date, and a
  request also by any count after it was made.

Replanning keeps the past and replaces the planned cycle lines from today (the run before the
shift) or from the next working day (runs during the day: sheets may be printed; today's open
lines then count as done today).
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import duckdb
import polars as pl

from pipelines.access import Action, User, require
from pipelines.counting.calendar import (
    WorkingCalendar,
    first_working_day_from,
    next_working_day,
    working_days,
)
from pipelines.counting.config import CountingConfig, get_counting_config
from pipelines.counting.frames import registered
from pipelines.counting.reconcile import sap_quantities
from pipelines.sap.material import clean_text, normalise_material_value, normalise_plant
from pipelines.settings import get_settings
from pipelines.warehouse.db import fetch

REASONS = ("cycle", "recount", "request", "manual")
PRIORITY = {"recount": 1, "request": 2, "manual": 2, "cycle": 3}
SLACK_FRACTION = 0.1  # levelling may move a count this share of its interval either way
YEAR_DAYS = 365.25
PLAN_SCHEMA = {
    "count_date": pl.Date, "material": pl.String, "plant": pl.String,
    "storage_location": pl.String, "counter": pl.String, "priority": pl.Int32,
    "reason": pl.String, "due_date": pl.Date,
}


class ScheduleError(ValueError):
    """A schedule change that cannot be made; the message says why."""


@dataclass(frozen=True)
class RecountResult:
    added: int
    withdrawn: int


@dataclass(frozen=True)
class ScheduleResult:
    start: date
    end: date
    planned: int  # cycle lines written from start to end
    recounts: RecountResult
    filled: int  # lines whose status changed with the counts


def _counted(alias: str = "p") -> str:
    return f"{alias}.voided_at IS NULL AND {alias}.quantity IS NOT NULL"


def mark_counted(con: duckdb.DuckDBPyConnection) -> int:
    """Set status/counted_on of every live schedule line from the counts; lines changed."""
    changed = con.execute(
        f"""UPDATE count_schedule SET
                status = CASE WHEN f.counted_on IS NULL THEN 'planned' ELSE 'counted' END,
                counted_on = f.counted_on
            FROM (
                SELECT s.schedule_id, min(p.count_date) AS counted_on
                FROM count_schedule s
                LEFT JOIN physical_count p
                  ON p.material = s.material AND p.plant = s.plant AND {_counted()}
                 AND (p.count_date = s.count_date
                      OR (s.reason = 'request'
                          AND p.count_date >= CAST(s.created_at AS DATE)))
                WHERE s.status <> 'cancelled'
                GROUP BY s.schedule_id
            ) f
            WHERE count_schedule.schedule_id = f.schedule_id
              AND count_schedule.counted_on IS DISTINCT FROM f.counted_on"""
    ).fetchone()
    return int(changed[0]) if changed else 0


def _load_by_counter(con: duckdb.DuckDBPyConnection, day: date) -> dict[str | None, int]:
    rows = fetch(
        con,
        """SELECT counter, count(*) AS n FROM count_schedule
           WHERE count_date = ? AND status <> 'cancelled' GROUP BY counter""",
        [day],
    )
    return {c: int(n) for c, n in rows.iter_rows()}


def _pick_counter(config: CountingConfig, load: dict[str | None, int],
                  avoid: set[str]) -> str | None:
    """Least-loaded counter, preferring those not in ``avoid`` (team order breaks ties)."""
    team = list(config.team)
    preferred = [c for c in team if c not in avoid] or team
    return min(preferred, key=lambda c: (load.get(c, 0), team.index(c)))


def _planned_line(con: duckdb.DuckDBPyConnection, day: date, material: str,
                  plant: str) -> tuple[int, str] | None:
    """(schedule_id, reason) of a planned line of that material × plant on ``day``."""
    rows = fetch(
        con,
        """SELECT schedule_id, reason FROM count_schedule
           WHERE count_date = ? AND material = ? AND plant = ? AND status = 'planned'
           ORDER BY priority, schedule_id LIMIT 1""",
        [day, material, plant],
    )
    return rows.row(0) if rows.height else None


def sync_recounts(
    con: duckdb.DuckDBPyConnection,
    *,
    today: date | None = None,
    config: CountingConfig | None = None,
) -> RecountResult:
    """Schedule recounts for out-of-tolerance lines; withdraw those no longer needed."""
    config = config or get_counting_config()
    today = today or date.today()
    withdrawn = con.execute(
        """DELETE FROM count_schedule s
           WHERE s.reason = 'recount' AND s.status = 'planned'
             AND s.source_count_date IS NOT NULL
             AND NOT EXISTS (
                 SELECT 1 FROM count_variance v
                 WHERE v.material = s.material AND v.plant = s.plant
                   AND v.count_date = s.source_count_date AND v.needs_recount)"""
    ).fetchone()
    candidates = fetch(
        con,
        f"""SELECT v.count_date, v.material, v.plant, v.counters
            FROM count_variance v
            WHERE v.needs_recount AND v.count_date >= $since
              AND NOT EXISTS (
                  SELECT 1 FROM count_schedule s
                  WHERE s.material = v.material AND s.plant = v.plant
                    AND s.reason = 'recount' AND s.status <> 'cancelled'
                    AND (s.source_count_date = v.count_date OR s.count_date = v.count_date))
              AND NOT EXISTS (
                  SELECT 1 FROM physical_count p
                  WHERE p.material = v.material AND p.plant = v.plant
                    AND p.count_date > v.count_date AND {_counted()})
            ORDER BY v.count_date, v.plant, v.material""",
        {"since": today - timedelta(days=config.recount_lookback_days)},
    )
    loads: dict[date, dict[str | None, int]] = {}
    added = 0
    for count_date, material, plant, counters in candidates.iter_rows():
        day = next_working_day(count_date, config.holidays)
        if day < today:
            day = first_working_day_from(today, config.holidays)
        note = f"out of tolerance on {count_date.isoformat()}"
        existing = _planned_line(con, day, material, plant)
        if existing is not None:
            schedule_id, reason = existing
            if reason == "cycle":  # that day's cycle count becomes the recount
                con.execute(
                    """UPDATE count_schedule SET reason = 'recount', priority = ?,
                              source_count_date = ?, request_note = ?
                       WHERE schedule_id = ?""",
                    [PRIORITY["recount"], count_date, note, schedule_id],
                )
                added += 1
            continue  # a request or manual line that day counts it anyway
        load = loads.setdefault(day, _load_by_counter(con, day))
        counter = _pick_counter(config, load, set((counters or "").split(", ")))
        if load.get(counter, 0) >= config.daily_cap_per_counter and day > today:
            # Make room: the counter's last planned cycle line that day goes back to the planner.
            bumped = con.execute(
                """DELETE FROM count_schedule WHERE schedule_id = (
                       SELECT max(schedule_id) FROM count_schedule
                       WHERE count_date = ? AND counter IS NOT DISTINCT FROM ?
                         AND reason = 'cycle' AND status = 'planned')""",
                [day, counter],
            ).fetchone()
            if bumped and bumped[0]:
                load[counter] = load.get(counter, 0) - 1
        con.execute(
            """INSERT INTO count_schedule (count_date, material, plant, counter, priority,
                                           reason, request_note, source_count_date,
                                           created_by)
               VALUES (?, ?, ?, ?, ?, 'recount', ?, ?, 'wics')""",
            [day, material, plant, counter, PRIORITY["recount"], note, count_date],
        )
        load[counter] = load.get(counter, 0) + 1
        added += 1
    return RecountResult(added=added, withdrawn=int(withdrawn[0]) if withdrawn else 0)


def _checked_key(con: duckdb.DuckDBPyConnection, material: object,
                 plant: object) -> tuple[str, str]:
    material_key = normalise_material_value(
        material, lexicographic=get_settings().lexicographic_materials)
    plant_key = pl.select(normalise_plant(pl.lit(str(plant or ""), dtype=pl.String))).item()
    if not material_key or not plant_key:
        raise ScheduleError("material and plant are required")
    known = fetch(con, "SELECT 1 FROM material WHERE material = ? AND plant = ?",
                  [material_key, plant_key])
    if known.is_empty():
        raise ScheduleError(
            f"material {material_key} is not in the material master of plant {plant_key}")
    return material_key, plant_key


def _clean(value: object) -> str | None:
    if value is None:
        return None
    return pl.select(clean_text(pl.lit(str(value), dtype=pl.String))).item()


def add_to_schedule(
    con: duckdb.DuckDBPyConnection,
    *,
    count_date: date,
    material: str | int,
    plant: str,
    storage_location: str | None = None,
    counter: str | None = None,
    reason: str = "manual",
    requested_by: str | None = None,
    note: str | None = None,
    priority: int | None = None,
    created_by: str | None = None,
    created_at: datetime | None = None,
    user: User | None = None,  # TEMPORARY adapter until the write-path change lands
) -> int:
    """Add one line to the schedule by hand; its schedule_id."""
    if user is not None:
        require(user, Action.CHANGE_SCHEDULE)
        created_by = user.name
    if reason not in REASONS:
        raise ScheduleError(f"reason must be one of {', '.join(REASONS)}, not {reason!r}")
    material_key, plant_key = _checked_key(con, material, plant)
    location = None
    if storage_location is not None:
        location = pl.select(
            normalise_plant(pl.lit(str(storage_location), dtype=pl.String))).item()
    existing = _planned_line(con, count_date, material_key, plant_key)
    if existing is not None:
        schedule_id, current = existing
        if current != "cycle" or reason == "cycle":
            raise ScheduleError(
                f"material {material_key} of plant {plant_key} is already on the schedule of "
                f"{count_date.isoformat()} (line {schedule_id}, {current})")
        # The cycle count of that day becomes this line: one count, not two.
        con.execute(
            """UPDATE count_schedule SET reason = $reason, priority = $priority,
                      requested_by = $requested_by, request_note = $note,
                      counter = coalesce($counter, counter),
                      storage_location = coalesce($storage_location, storage_location),
                      created_by = $created_by
               WHERE schedule_id = $id""",
            {"reason": reason, "priority": priority if priority is not None
             else PRIORITY[reason], "requested_by": _clean(requested_by), "note": _clean(note),
             "counter": _clean(counter), "storage_location": location,
             "created_by": _clean(created_by or requested_by), "id": schedule_id},
        )
        return schedule_id
    row = con.execute(
        """INSERT INTO count_schedule (count_date, material, plant, storage_location, counter,
                                       priority, reason, requested_by, request_note,
                                       created_by, created_at)
           VALUES ($count_date, $material, $plant, $storage_location, $counter, $priority,
                   $reason, $requested_by, $note, $created_by,
                   coalesce(CAST($created_at AS TIMESTAMP), current_timestamp))
           RETURNING schedule_id""",
        {"count_date": count_date, "material": material_key, "plant": plant_key,
         "storage_location": location, "counter": _clean(counter),
         "priority": priority if priority is not None else PRIORITY[reason],
         "reason": reason, "requested_by": _clean(requested_by), "note": _clean(note),
         "created_by": _clean(created_by or requested_by), "created_at": created_at},
    ).fetchone()
    assert row is not None
    schedule_id = int(row[0])
    mark_counted(con)
    return schedule_id


def request_count(
    con: duckdb.DuckDBPyConnection,
    *,
    material: str | int,
    plant: str,
    requested_by: str,
    note: str,
    count_date: date | None = None,
    storage_location: str | None = None,
    counter: str | None = None,
    now: datetime | None = None,
    config: CountingConfig | None = None,
    user: User | None = None,  # TEMPORARY adapter until the write-path change lands
) -> int:
    """Ask for a count (who asked and why); by default on the next working day.

    The request is filled by the first count of that material × plant from the day it was
    made, whatever day that count is done on.
    """
    config = config or get_counting_config()
    now = now or datetime.now()
    if not (requested_by or "").strip():
        raise ScheduleError("say who asks for the count")
    if not (note or "").strip():
        raise ScheduleError("say why the count is needed")
    day = count_date or next_working_day(now.date(), config.holidays)
    if counter is None:
        counter = _pick_counter(config, _load_by_counter(con, day), set())
    return add_to_schedule(
        con, count_date=day, material=material, plant=plant, storage_location=storage_location,
        counter=counter, reason="request", requested_by=requested_by, note=note,
        created_by=user.name if user else requested_by, created_at=now, user=user,
    )


def cancel_scheduled(con: duckdb.DuckDBPyConnection, schedule_id: int, *,
                     cancelled_by: str | None = None, note: str | None = None,
                     user: User | None = None) -> None:
    """Cancel a planned line (kept, with who cancelled it in the note)."""
    if user is not None:  # TEMPORARY adapter until the write-path change lands
        require(user, Action.CHANGE_SCHEDULE)
        cancelled_by = user.name
    current = fetch(con, "SELECT status FROM count_schedule WHERE schedule_id = ?",
                    [schedule_id])
    if current.is_empty():
        raise ScheduleError(f"there is no schedule line {schedule_id}")
    if current.item() != "planned":
        raise ScheduleError(f"schedule line {schedule_id} is {current.item()}, not planned")
    text = f"cancelled by {cancelled_by}" + (f": {note}" if note else "")
    con.execute(
        """UPDATE count_schedule SET status = 'cancelled',
                  request_note = CASE WHEN request_note IS NULL THEN ?
                                      ELSE request_note || ' | ' || ? END
           WHERE schedule_id = ?""",
        [text, text, schedule_id],
    )


@dataclass
class _Item:
    material: str
    plant: str
    abc_rank: int
    interval: float  # working days between counts
    due: float  # working-day ordinal
    due_date: date | None  # calendar due date, for the note on overdue lines
    version: int = 0


def _population(con: duckdb.DuckDBPyConnection, start: date,
                config: CountingConfig) -> pl.DataFrame:
    items = fetch(
        con,
        f"""WITH last AS (
                SELECT material, plant, max(count_date) AS last_count
                FROM physical_count p
                WHERE {_counted()} AND p.count_date <= $start
                GROUP BY material, plant
            )
            SELECT m.material, m.plant, upper(trim(m.abc_indicator)) AS abc, l.last_count
            FROM material m LEFT JOIN last l USING (material, plant)
            WHERE m.is_active
            ORDER BY m.plant, m.material""",
        {"start": start},
    )
    items = items.with_columns(
        per_year=pl.col("abc").fill_null("").map_elements(config.frequency_for,
                                                          return_dtype=pl.Int64)
        if items.height else pl.lit(0, dtype=pl.Int64)
    ).filter(pl.col("per_year") > 0)
    if config.skip_zero_stock and items.height:
        stock = sap_quantities(
            con, items.select(pl.lit(start).alias("count_date"), "material", "plant"),
            config=config,
        )
        without = stock.filter(pl.col("sap_qty") == 0).select("material", "plant")
        items = items.join(without, on=["material", "plant"], how="anti")
    return items


def plan_cycle_counts(
    con: duckdb.DuckDBPyConnection,
    *,
    start: date,
    end: date,
    pending_from: date | None = None,
    config: CountingConfig | None = None,
) -> pl.DataFrame:
    """The cycle counts from ``start`` to ``end`` (nothing is written); PLAN_SCHEMA rows.

    Lines already on the schedule other than planned cycle lines (recounts, requests, manual
    additions, lines counted) use up their counter's capacity first and count as that
    material's count on their day. Planned lines from ``pending_from`` up to ``start`` (today's
    list, when replanning during the day) count as done on their day.
    """
    config = config or get_counting_config()
    calendar = WorkingCalendar(config.holidays)
    days = working_days(start, end, config.holidays)
    if not days:
        return pl.DataFrame(schema=PLAN_SCHEMA)
    population = _population(con, start, config)
    team = list(config.team)
    cap = config.daily_cap_per_counter

    fixed = fetch(
        con,
        """SELECT count_date, material, plant, counter FROM count_schedule
           WHERE count_date BETWEEN ? AND ? AND status <> 'cancelled'
             AND NOT (reason = 'cycle' AND status = 'planned')""",
        [start, end],
    )
    fixed_by_day: dict[date, list[tuple[str, str, str | None]]] = defaultdict(list)
    for day, material, plant, counter in fixed.iter_rows():
        fixed_by_day[day].append((material, plant, counter))

    pending = fetch(
        con,
        """SELECT count_date, material, plant FROM count_schedule
           WHERE count_date >= ? AND count_date < ? AND status = 'planned'
           ORDER BY count_date""",
        [pending_from or start, start],
    )

    year = len(working_days(start, start + timedelta(days=364), config.holidays)) or 1
    first = calendar.ordinal(days[0])
    items: list[_Item] = []
    index: dict[tuple[str, str], int] = {}
    rows = []
    for material, plant, abc, last_count, per_year in population.iter_rows():
        due = calendar.ordinal(last_count) + year / per_year if last_count else None
        rows.append((material, plant, abc, per_year, due,
                     last_count + timedelta(days=round(YEAR_DAYS / per_year))
                     if last_count else None))
    # Never counted or already overdue: each gets its own slot of the interval, one
    # interval / (materials of that frequency) apart, never counted and most overdue first.
    # A backlog (a new system, a missed month) is caught up at the level pace instead of
    # piling up on the first days and coming back as the same pile every interval.
    class_size: dict[int, int] = defaultdict(int)
    for row in rows:
        class_size[row[3]] += 1
    late = sorted((r for r in rows if r[4] is None or r[4] < first),
                  key=lambda r: (r[3], -1e18 if r[4] is None else r[4], r[1], r[0]))
    rank: dict[int, int] = defaultdict(int)
    late_due: dict[tuple[str, str], float] = {}
    for material, plant, _, per_year, _, _ in late:
        late_due[(material, plant)] = first + rank[per_year] * year / per_year \
            / class_size[per_year]
        rank[per_year] += 1
    for material, plant, abc, per_year, due, due_date in rows:
        index[(material, plant)] = len(items)
        items.append(_Item(material, plant, {"A": 0, "B": 1, "C": 2}.get(abc or "", 3),
                           year / per_year, late_due.get((material, plant), due), due_date))

    heap = [(it.due, it.abc_rank, it.plant, it.material, i, 0) for i, it in enumerate(items)]
    heapq.heapify(heap)

    def push(i: int) -> None:
        it = items[i]
        heapq.heappush(heap, (it.due, it.abc_rank, it.plant, it.material, i, it.version))

    def pop() -> int | None:
        while heap:
            _, _, _, _, i, version = heapq.heappop(heap)
            if version == items[i].version:
                return i
        return None

    def counted(i: int, ordinal: int, day: date) -> None:
        it = items[i]
        # Counted within its slack: the next count keeps the material's rhythm, so that
        # levelling (a day early here, a day late there) never changes how often it is
        # counted. Counted far off (a backlog caught up): the next count is due from here.
        on_time = abs(it.due - ordinal) <= it.interval * SLACK_FRACTION + 1
        it.due = (it.due if on_time else ordinal) + it.interval
        it.due_date = day + timedelta(days=round(YEAR_DAYS * it.interval / year))
        it.version += 1
        push(i)

    for day, material, plant in pending.iter_rows():
        i = index.get((material, plant))
        if i is not None:
            counted(i, calendar.ordinal(day), day)

    average = sum(year / it.interval for it in items) / year
    max_slack = max((it.interval * SLACK_FRACTION for it in items), default=0.0)
    planned: list[dict] = []
    for k, day in enumerate(days):
        ordinal = calendar.ordinal(day)
        load = {c: 0 for c in team}
        for material, plant, counter in fixed_by_day.get(day, []):
            holder = counter if counter in load else min(team, key=lambda c: load[c])
            load[holder] += 1
            i = index.get((material, plant))
            if i is not None:  # that line counts the material today: next cycle from here
                counted(i, ordinal, day)
        free = {c: max(cap - load[c], 0) for c in team}
        capacity = sum(free.values())
        # The level: the year's average per working day (spread over the days so that the
        # fractions add up), less what is already on today's schedule.
        level = math.floor((k + 1) * average) - math.floor(k * average)
        target = min(max(level - sum(load.values()), 0), capacity)
        # 1. Counts late beyond their slack, whatever the level says (up to the cap);
        # 2. counts due, up to the level; 3. counts due soon, up to the level.
        # A count is due today when its due point is nearer today than tomorrow.
        today = ordinal + 0.5
        chosen: list[int] = []
        waiting: list[int] = []
        later: list[int] = []
        while heap and heap[0][0] < today + max_slack and len(chosen) < capacity:
            i = pop()
            if i is None:
                break
            it = items[i]
            slack = it.interval * SLACK_FRACTION
            if it.due + slack < today:
                chosen.append(i)
            elif it.due - slack < today:
                waiting.append(i)
            else:
                later.append(i)
        for i in waiting:  # in due order: due ones first, then those due soonest
            due_now = items[i].due < today
            # A day with nothing else to do still takes a count that is due.
            if len(chosen) < (max(target, 1) if due_now else target):
                chosen.append(i)
            else:
                later.append(i)
        for i in later:
            push(i)
        # Share the day out evenly, then hand each counter a contiguous run of materials.
        shares = dict.fromkeys(team, 0)
        for _ in chosen:
            counter = max(team, key=lambda c: (free[c] - shares[c], -team.index(c)))
            shares[counter] += 1
        ordered = sorted(chosen, key=lambda i: (items[i].plant, items[i].material))
        position = 0
        for counter in team:
            for i in ordered[position: position + shares[counter]]:
                it = items[i]
                planned.append({
                    "count_date": day, "material": it.material, "plant": it.plant,
                    "storage_location": None, "counter": counter,
                    "priority": PRIORITY["cycle"], "reason": "cycle", "due_date": it.due_date,
                })
            position += shares[counter]
        for i in chosen:
            counted(i, ordinal, day)
    return pl.DataFrame(planned, schema=PLAN_SCHEMA)


def write_cycle_plan(con: duckdb.DuckDBPyConnection, plan: pl.DataFrame, *,
                     start: date) -> int:
    """Replace the planned cycle lines from ``start`` on with ``plan``; lines written."""
    con.execute(
        "DELETE FROM count_schedule WHERE reason = 'cycle' AND status = 'planned' "
        "AND count_date >= ?",
        [start],
    )
    if plan.is_empty():
        return 0
    rows = plan.filter(pl.col("count_date") >= start)
    with registered(con, rows, "plan") as name:
        con.execute(
            f"""INSERT INTO count_schedule (count_date, material, plant, storage_location,
                                            counter, priority, reason, request_note,
                                            created_by)
                SELECT count_date, material, plant, storage_location, counter, priority,
                       reason,
                       CASE WHEN due_date < count_date
                            THEN 'overdue since ' || strftime(due_date, '%Y-%m-%d') END,
                       'wics'
                FROM {name}"""
        )
    return rows.height


def generate_schedule(
    con: duckdb.DuckDBPyConnection,
    *,
    today: date | None = None,
    include_today: bool = False,
    config: CountingConfig | None = None,
    user: User | None = None,  # TEMPORARY adapter until the write-path change lands
) -> ScheduleResult:
    """The planning run: fill lines from the counts, sync recounts, replan cycle counts.

    ``include_today`` (the run before the shift) replans today's planned cycle lines too, so
    what was missed yesterday rolls forward to today. Otherwise (runs during the day, after
    loads) today's lines stay as they are - sheets may be printed - unless today is a working
    day without any cycle line yet. Planning covers ``horizon_days`` calendar days.
    """
    if user is not None:
        require(user, Action.CHANGE_SCHEDULE)
    config = config or get_counting_config()
    today = today or date.today()
    filled = mark_counted(con)
    recounts = sync_recounts(con, today=today, config=config)
    has_today = fetch(
        con,
        """SELECT count(*) AS n FROM count_schedule
           WHERE count_date = ? AND reason = 'cycle' AND status <> 'cancelled'""",
        [today],
    ).item()
    if (include_today or has_today == 0) and \
            first_working_day_from(today, config.holidays) == today:
        start = today
    else:
        start = next_working_day(today, config.holidays)
    end = start + timedelta(days=config.horizon_days - 1)
    plan = plan_cycle_counts(con, start=start, end=end, pending_from=today, config=config)
    written = write_cycle_plan(con, plan, start=start)
    return ScheduleResult(start=start, end=end, planned=written, recounts=recounts,
                          filled=filled)


def schedule_for(
    con: duckdb.DuckDBPyConnection,
    count_date: date,
    *,
    counter: str | None = None,
    plant: str | None = None,
    include_cancelled: bool = False,
) -> pl.DataFrame:
    """The schedule lines of one day with the material's description and ABC indicator."""
    return fetch(
        con,
        """SELECT s.*, m.description, m.abc_indicator, m.base_uom
           FROM count_schedule s
           LEFT JOIN material m USING (material, plant)
           WHERE s.count_date = $day
             AND (CAST($counter AS VARCHAR) IS NULL OR s.counter = $counter)
             AND (CAST($plant AS VARCHAR) IS NULL OR s.plant = $plant)
             AND (CAST($cancelled AS BOOLEAN) OR s.status <> 'cancelled')
           ORDER BY s.counter NULLS LAST, s.priority, s.plant, s.storage_location NULLS LAST,
                    s.material""",
        {"day": count_date, "counter": counter, "plant": plant,
         "cancelled": include_cancelled},
    )
