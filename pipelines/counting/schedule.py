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
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import NamedTuple

import duckdb
import polars as pl

from pipelines.access import Action, User, require
from pipelines.counting.calendar import (
    WorkingCalendar,
    first_working_day_from,
    next_working_day,
    working_days,
)
from pipelines.counting.config import CountingConfig
from pipelines.counting.frames import registered
from pipelines.counting.keys import unknown_material
from pipelines.counting.reconcile import sap_quantities
from pipelines.sap.material import (
    clean_text_value,
    normalise_material_value,
    normalise_plant_value,
)
from pipelines.settings import Settings
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


@contextmanager
def _material_scope(con: duckdb.DuckDBPyConnection, materials: pl.DataFrame | None,
                    alias: str) -> Iterator[tuple[str, dict[str, str]]]:
    """SQL ``AND`` restricting ``alias`` to the material × plants of ``materials`` (all: ''),
    with the parameters it binds."""
    if materials is None:
        yield "", {}
        return
    frame = materials.select(pl.col("material").cast(pl.String),
                             pl.col("plant").cast(pl.String)).unique()
    if frame.height == 1 and not frame.null_count().sum_horizontal().item():
        # One material × plant (a saved count) as bound values: no frame to register and
        # the scans skip by their zone maps.
        material, plant = frame.row(0)
        yield (f" AND {alias}.material = ${alias}_material AND {alias}.plant = ${alias}_plant",
               {f"{alias}_material": material, f"{alias}_plant": plant})
        return
    with registered(con, frame, "materials") as name:
        yield (f" AND ({alias}.material, {alias}.plant) IN "
               f"(SELECT material, plant FROM {name})"), {}


def mark_counted(con: duckdb.DuckDBPyConnection,
                 materials: pl.DataFrame | None = None) -> int:
    """Set status/counted_on of the live schedule lines from the counts; lines changed.

    ``materials`` (material, plant) limits it to those: what a saved count can fill.
    """
    with _material_scope(con, materials, "s") as (scope, params):
        return _mark_counted(con, scope, params)


def _mark_counted(con: duckdb.DuckDBPyConnection, scope: str,
                  params: dict[str, str] | None = None) -> int:
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
                WHERE s.status <> 'cancelled'{scope}
                GROUP BY s.schedule_id
            ) f
            WHERE count_schedule.schedule_id = f.schedule_id
              AND count_schedule.counted_on IS DISTINCT FROM f.counted_on""",
        params or None,
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
    config: CountingConfig,
    materials: pl.DataFrame | None = None,
) -> RecountResult:
    """Schedule recounts for out-of-tolerance lines; withdraw those no longer needed.

    ``materials`` (material, plant) limits it to those: what a saved count can change.
    """
    today = today or date.today()
    with _material_scope(con, materials, "s") as (scope, params), \
            _material_scope(con, materials, "v") as (variance_scope, variance_params):
        return _sync_recounts(con, today, config, scope, variance_scope, params,
                              variance_params)


def _sync_recounts(con: duckdb.DuckDBPyConnection, today: date, config: CountingConfig,
                   scope: str, variance_scope: str, params: dict[str, str] | None = None,
                   variance_params: dict[str, str] | None = None) -> RecountResult:
    withdrawn = con.execute(
        """DELETE FROM count_schedule s
           WHERE s.reason = 'recount' AND s.status = 'planned'
             AND s.source_count_date IS NOT NULL
             AND NOT EXISTS (
                 SELECT 1 FROM count_variance v
                 WHERE v.material = s.material AND v.plant = s.plant
                   AND v.count_date = s.source_count_date AND v.needs_recount)""" + scope,
        params or None,
    ).fetchone()
    candidates = con.execute(  # tuples, not a frame: this runs on every saved count
        f"""SELECT v.count_date, v.material, v.plant, v.counters
            FROM count_variance v
            WHERE v.needs_recount AND v.count_date >= $since{variance_scope}
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
        {"since": today - timedelta(days=config.recount_lookback_days),
         **(variance_params or {})},
    ).fetchall()
    loads: dict[date, dict[str | None, int]] = {}
    added = 0
    for count_date, material, plant, counters in candidates:
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


def _checked_key(con: duckdb.DuckDBPyConnection, material: object, plant: object,
                 settings: Settings) -> tuple[str, str]:
    material_key = normalise_material_value(
        material, lexicographic=settings.lexicographic_materials)
    plant_key = normalise_plant_value(plant)
    if not material_key or not plant_key:
        raise ScheduleError("material and plant are required")
    problem = unknown_material(con, material_key, plant_key)
    if problem:
        raise ScheduleError(problem)
    return material_key, plant_key


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
    user: User,
    created_at: datetime | None = None,
    settings: Settings,
) -> int:
    """Add one line to the schedule by hand, as ``user`` (a manager); its schedule_id.

    ``requested_by`` is who asked for it when that is not the user (a phone call from sales);
    ``created_by`` records ``user.name``.
    """
    require(user, Action.CHANGE_SCHEDULE)
    if reason not in REASONS:
        raise ScheduleError(f"reason must be one of {', '.join(REASONS)}, not {reason!r}")
    material_key, plant_key = _checked_key(con, material, plant, settings)
    location = normalise_plant_value(storage_location)
    texts = {"requested_by": clean_text_value(requested_by), "note": clean_text_value(note),
             "counter": clean_text_value(counter),
             "created_by": user.name}
    rank = priority if priority is not None else PRIORITY[reason]
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
            {"reason": reason, "priority": rank, "storage_location": location, **texts,
             "id": schedule_id},
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
         "storage_location": location, "priority": rank, "reason": reason, **texts,
         "created_at": created_at},
    ).fetchone()
    assert row is not None
    schedule_id = int(row[0])
    mark_counted(con, materials=pl.DataFrame({"material": [material_key],
                                              "plant": [plant_key]}))
    return schedule_id


def request_count(
    con: duckdb.DuckDBPyConnection,
    *,
    material: str | int,
    plant: str,
    note: str,
    user: User,
    requested_by: str | None = None,
    count_date: date | None = None,
    storage_location: str | None = None,
    counter: str | None = None,
    now: datetime | None = None,
    settings: Settings,
) -> int:
    """Ask for a count (who asked and why); by default on the next working day.

    Requests change the schedule, so ``user`` must be a manager. ``requested_by`` is who
    asked (default: the user); ``created_by`` records the user. The request is filled by the
    first count of that material × plant from the day it was made, whatever day that count
    is done on.
    """
    require(user, Action.CHANGE_SCHEDULE)
    now = now or datetime.now()
    requested_by = user.name if requested_by is None else requested_by
    if not (requested_by or "").strip():
        raise ScheduleError("say who asks for the count")
    if not (note or "").strip():
        raise ScheduleError("say why the count is needed")
    config = settings.counting
    day = count_date or next_working_day(now.date(), config.holidays)
    if counter is None:
        counter = _pick_counter(config, _load_by_counter(con, day), set())
    return add_to_schedule(
        con, count_date=day, material=material, plant=plant, storage_location=storage_location,
        counter=counter, reason="request", requested_by=requested_by, note=note,
        user=user, created_at=now, settings=settings,
    )


def cancel_scheduled(con: duckdb.DuckDBPyConnection, schedule_id: int, *,
                     user: User, note: str | None = None) -> None:
    """Cancel a planned line as ``user`` (a manager); kept, with who cancelled it in the note."""
    require(user, Action.CHANGE_SCHEDULE)
    current = fetch(con, "SELECT status FROM count_schedule WHERE schedule_id = ?",
                    [schedule_id])
    if current.is_empty():
        raise ScheduleError(f"there is no schedule line {schedule_id}")
    if current.item() != "planned":
        raise ScheduleError(f"schedule line {schedule_id} is {current.item()}, not planned")
    text = f"cancelled by {user.name}" + (f": {note}" if note else "")
    con.execute(
        """UPDATE count_schedule SET status = 'cancelled',
                  request_note = CASE WHEN request_note IS NULL THEN ?
                                      ELSE request_note || ' | ' || ? END
           WHERE schedule_id = ?""",
        [text, text, schedule_id],
    )


ABC_RANK = {"A": 0, "B": 1, "C": 2}  # who goes first among counts due the same day; others 3


@dataclass
class _Item:
    """One material × plant to cycle-count, in working-day ordinals."""

    material: str
    plant: str
    abc_rank: int
    per_year: int
    interval: float  # working days between counts
    due: float | None  # when the next count is due; None (never counted) until spread out
    due_date: date | None  # calendar due date, for the note on overdue lines
    version: int = 0  # bumped on every reschedule: older heap entries are stale


class _ScheduledLine(NamedTuple):
    count_date: date
    material: str
    plant: str
    counter: str | None


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


def _cycle_items(population: pl.DataFrame, calendar: WorkingCalendar, first: int,
                 year: int) -> list[_Item]:
    """The items of ``_population``, each due one interval after its last count."""
    items = []
    for material, plant, abc, last_count, per_year in population.iter_rows():
        items.append(_Item(
            material=material, plant=plant, abc_rank=ABC_RANK.get(abc or "", 3),
            per_year=per_year, interval=year / per_year,
            due=calendar.ordinal(last_count) + year / per_year if last_count else None,
            due_date=last_count + timedelta(days=round(YEAR_DAYS / per_year))
            if last_count else None,
        ))
    _spread_backlog(items, first, year)
    return items


def _spread_backlog(items: list[_Item], first: int, year: int) -> None:
    """Never counted or already overdue: each gets its own slot of the interval, one
    interval / (materials of that frequency) apart, never counted and most overdue first.

    A backlog (a new system, a missed month) is caught up at the level pace instead of piling
    up on the first days and coming back as the same pile every interval.
    """
    class_size = Counter(it.per_year for it in items)
    late = sorted((it for it in items if it.due is None or it.due < first),
                  key=lambda it: (it.per_year, -1e18 if it.due is None else it.due, it.plant,
                                  it.material))
    rank: dict[int, int] = defaultdict(int)
    for it in late:
        it.due = first + rank[it.per_year] * year / it.per_year / class_size[it.per_year]
        rank[it.per_year] += 1


class _DueQueue:
    """The items by due point (then A before B before C, plant, material).

    Rescheduling an item pushes it again with a new version; its older entries stay in the
    heap and are skipped when they come out.
    """

    def __init__(self, items: list[_Item], calendar: WorkingCalendar, year: int) -> None:
        self.items = items
        self.calendar = calendar
        self.year = year
        self.index = {(it.material, it.plant): i for i, it in enumerate(items)}
        self.heap = [(it.due, it.abc_rank, it.plant, it.material, i, 0)
                     for i, it in enumerate(items)]
        heapq.heapify(self.heap)

    def next_due(self) -> float | None:
        """Due point of the first entry (possibly stale: it only bounds what comes next)."""
        return self.heap[0][0] if self.heap else None

    def push(self, i: int) -> None:
        it = self.items[i]
        heapq.heappush(self.heap, (it.due, it.abc_rank, it.plant, it.material, i, it.version))

    def pop(self) -> int | None:
        while self.heap:
            _, _, _, _, i, version = heapq.heappop(self.heap)
            if version == self.items[i].version:
                return i
        return None

    def counted(self, i: int, day: date) -> None:
        """Item ``i`` is counted on ``day``: when is the next count due."""
        it = self.items[i]
        ordinal = self.calendar.ordinal(day)
        # Counted within its slack: the next count keeps the material's rhythm, so that
        # levelling (a day early here, a day late there) never changes how often it is
        # counted. Counted far off (a backlog caught up): the next count is due from here.
        on_time = abs(it.due - ordinal) <= it.interval * SLACK_FRACTION + 1
        it.due = (it.due if on_time else ordinal) + it.interval
        it.due_date = day + timedelta(days=round(YEAR_DAYS * it.interval / self.year))
        it.version += 1
        self.push(i)

    def counted_key(self, material: str, plant: str, day: date) -> None:
        """A line of the schedule counts this material on ``day`` (if it is cycle-counted)."""
        i = self.index.get((material, plant))
        if i is not None:
            self.counted(i, day)


def _scheduled_lines(con: duckdb.DuckDBPyConnection, sql: str,
                     params: list) -> list[_ScheduledLine]:
    return [_ScheduledLine(*row) for row in fetch(con, sql, params).iter_rows()]


def _choose(queue: _DueQueue, today: float, max_slack: float, capacity: int,
            target: int) -> list[int]:
    """The items counted on the day whose middle is ``today`` (an ordinal + 0.5).

    1. Counts late beyond their slack, whatever the level says (up to the capacity);
    2. counts due, up to the level (``target``); 3. counts due soon, up to the level.
    A count is due today when its due point is nearer today than tomorrow. The rest goes
    back into the queue.
    """
    chosen: list[int] = []
    waiting: list[int] = []
    later: list[int] = []
    while (due := queue.next_due()) is not None and due < today + max_slack \
            and len(chosen) < capacity:
        i = queue.pop()
        if i is None:
            break
        it = queue.items[i]
        slack = it.interval * SLACK_FRACTION
        if it.due + slack < today:
            chosen.append(i)
        elif it.due - slack < today:
            waiting.append(i)
        else:
            later.append(i)
    for i in waiting:  # in due order: due ones first, then those due soonest
        due_now = queue.items[i].due < today
        # A day with nothing else to do still takes a count that is due.
        if len(chosen) < (max(target, 1) if due_now else target):
            chosen.append(i)
        else:
            later.append(i)
    for i in later:
        queue.push(i)
    return chosen


def _share_out(chosen: list[_Item], team: list[str | None],
               free: dict[str | None, int]) -> list[tuple[str | None, _Item]]:
    """Share the day out evenly, then hand each counter a contiguous run of materials."""
    shares = dict.fromkeys(team, 0)
    for _ in chosen:
        counter = max(team, key=lambda c: (free[c] - shares[c], -team.index(c)))
        shares[counter] += 1
    ordered = sorted(chosen, key=lambda it: (it.plant, it.material))
    assigned = []
    position = 0
    for counter in team:
        assigned += [(counter, it) for it in ordered[position: position + shares[counter]]]
        position += shares[counter]
    return assigned


def plan_cycle_counts(
    con: duckdb.DuckDBPyConnection,
    *,
    start: date,
    end: date,
    pending_from: date | None = None,
    config: CountingConfig,
) -> pl.DataFrame:
    """The cycle counts from ``start`` to ``end`` (nothing is written); PLAN_SCHEMA rows.

    Lines already on the schedule other than planned cycle lines (recounts, requests, manual
    additions, lines counted) use up their counter's capacity first and count as that
    material's count on their day. Planned lines from ``pending_from`` up to ``start`` (today's
    list, when replanning during the day) count as done on their day.
    """
    calendar = WorkingCalendar(config.holidays)
    days = working_days(start, end, config.holidays)
    if not days:
        return pl.DataFrame(schema=PLAN_SCHEMA)
    team = list(config.team)
    year = len(working_days(start, start + timedelta(days=364), config.holidays)) or 1
    items = _cycle_items(_population(con, start, config), calendar, calendar.ordinal(days[0]),
                         year)
    queue = _DueQueue(items, calendar, year)
    fixed: dict[date, list[_ScheduledLine]] = defaultdict(list)
    for line in _scheduled_lines(
            con, """SELECT count_date, material, plant, counter FROM count_schedule
                    WHERE count_date BETWEEN ? AND ? AND status <> 'cancelled'
                      AND NOT (reason = 'cycle' AND status = 'planned')""", [start, end]):
        fixed[line.count_date].append(line)
    for line in _scheduled_lines(
            con, """SELECT count_date, material, plant, counter FROM count_schedule
                    WHERE count_date >= ? AND count_date < ? AND status = 'planned'
                    ORDER BY count_date""", [pending_from or start, start]):
        queue.counted_key(line.material, line.plant, line.count_date)

    average = sum(year / it.interval for it in items) / year
    max_slack = max((it.interval * SLACK_FRACTION for it in items), default=0.0)
    planned: list[dict] = []
    for k, day in enumerate(days):
        load = dict.fromkeys(team, 0)
        for line in fixed.get(day, []):
            holder = line.counter if line.counter in load else min(team, key=lambda c: load[c])
            load[holder] += 1
            queue.counted_key(line.material, line.plant, day)  # next cycle from here
        free = {c: max(config.daily_cap_per_counter - load[c], 0) for c in team}
        capacity = sum(free.values())
        # The level: the year's average per working day (spread over the days so that the
        # fractions add up), less what is already on today's schedule.
        level = math.floor((k + 1) * average) - math.floor(k * average)
        target = min(max(level - sum(load.values()), 0), capacity)
        chosen = _choose(queue, calendar.ordinal(day) + 0.5, max_slack, capacity, target)
        for counter, it in _share_out([items[i] for i in chosen], team, free):
            planned.append({
                "count_date": day, "material": it.material, "plant": it.plant,
                "storage_location": None, "counter": counter,
                "priority": PRIORITY["cycle"], "reason": "cycle", "due_date": it.due_date,
            })
        for i in chosen:
            queue.counted(i, day)
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
    user: User,
    today: date | None = None,
    include_today: bool = False,
    config: CountingConfig,
) -> ScheduleResult:
    """The planning run: fill lines from the counts, sync recounts, replan cycle counts.

    ``include_today`` (the run before the shift) replans today's planned cycle lines too, so
    what was missed yesterday rolls forward to today. Otherwise (runs during the day, after
    loads) today's lines stay as they are - sheets may be printed - unless today is a working
    day without any cycle line yet. Planning covers ``horizon_days`` calendar days. Only a
    manager (or ``User.system()``) may run it.
    """
    require(user, Action.CHANGE_SCHEDULE)
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
