"""Count records in ``physical_count``: the one API typed entries and uploaded sheets share.

Nothing is overwritten: an edit voids the old row (``voided_at``/``voided_by``) and inserts a
new one that points back at it (``replaces_count_id``); a void only sets ``voided_at``. A row
with a null quantity says "location seen, not counted"; a 0 is a counted zero. Quantities are
kept as typed (``quantity_expr``, e.g. ``24*12+7``) beside their value, evaluated by the safe
arithmetic parser. Every change refreshes the variance lines of the material × plant × dates
it touches, the schedule lines it fills and the recounts it needs, in the caller's
transaction (small, so a save holds the warehouse briefly).

Every writer takes the acting ``user`` (``pipelines.access``) and checks the role before it
touches a table: counters enter counts and correct or void their own; changing someone
else's needs a manager. The row records ``user.name``.

Quantities are finite numbers from 0 to ``MAX_QUANTITY``; anything else (``nan``, ``inf``,
``1e308``, ``10**400``, booleans, pages of text) is a ``CountError`` saying what to type.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any

import duckdb
import polars as pl

from pipelines.access import Action, User, require, require_owner_or
from pipelines.counting.after_counts import refresh_after_counts
from pipelines.counting.config import CountingConfig
from pipelines.counting.frames import registered
from pipelines.counting.keys import unknown_material
from pipelines.sap.expression import MAX_LENGTH, QuantityError, evaluate_quantity
from pipelines.sap.material import (
    clean_text_value,
    normalise_material_value,
    normalise_plant_value,
)
from pipelines.settings import Settings
from pipelines.warehouse.db import fetch

COUNT_COLUMNS = (
    "count_date", "material", "plant", "storage_location", "location", "quantity",
    "quantity_expr", "counter", "notes",
)
FLAG_COLUMNS = ("movement_during_count", "possibly_not_received")
EDITABLE = (*COUNT_COLUMNS, *FLAG_COLUMNS)
_TYPES = {
    "count_date": pl.Date, "quantity": pl.Float64, "movement_during_count": pl.Boolean,
    "possibly_not_received": pl.Boolean,
}


# The largest quantity a count may record (a billion base units: more than any real bin
# holds, small enough that sums and variance values stay exact in a DOUBLE).
MAX_QUANTITY = 1_000_000_000
# Longest free text kept in a count row (location, counter, notes).
MAX_TEXT = 1000


class CountError(ValueError):
    """A count entry that cannot be recorded; the message says why, for the person typing."""


def _count_keys(frame: pl.DataFrame) -> pl.DataFrame:
    """The material × plant × count dates a change touches (what must be re-reconciled)."""
    return frame.select("count_date", "material", "plant").unique()


def _entry_keys(*entries: dict[str, Any]) -> pl.DataFrame:
    return _count_keys(pl.DataFrame(
        [{k: e[k] for k in ("count_date", "material", "plant")} for e in entries],
        schema={"count_date": pl.Date, "material": pl.String, "plant": pl.String}))


def _text(value: object, what: str, limit: int = MAX_TEXT) -> str | None:
    if value is not None and len(str(value)) > limit:
        raise CountError(f"{what} is too long ({len(str(value)):,} characters; at most "
                         f"{limit:,})")
    return clean_text_value(value)


def insert_counts(
    con: duckdb.DuckDBPyConnection,
    counts: pl.DataFrame,
    *,
    user: User,
    entered_at: datetime,
    load_id: int | None = None,
    refresh: bool = True,
    config: CountingConfig,
) -> int:
    """Append count rows inside the caller's transaction, as ``user``; returns how many.

    ``counts`` holds COUNT_COLUMNS (missing ones are null) and optionally the flags
    ``movement_during_count`` / ``possibly_not_received`` (missing = false); values must be
    normalised and checked already (the count-sheet reader does that). With ``refresh``
    the variance lines of the material × plant × dates, the schedule and the recounts follow.
    """
    require(user, Action.ENTER_COUNTS)
    if counts.is_empty():
        return 0
    frame = counts.select(
        [
            (pl.col(c) if c in counts.columns else pl.lit(None)).cast(_TYPES.get(c, pl.String))
            .alias(c)
            for c in COUNT_COLUMNS
        ]
        + [
            (pl.col(c) if c in counts.columns else pl.lit(False)).cast(pl.Boolean)
            .fill_null(False).alias(c)
            for c in FLAG_COLUMNS
        ]
    )
    columns = ", ".join((*COUNT_COLUMNS, *FLAG_COLUMNS))
    with registered(con, frame, "counts") as name:
        con.execute(
            f"""INSERT INTO physical_count ({columns}, entered_by, entered_at, load_id)
                SELECT {columns}, $entered_by, $entered_at, $load_id FROM {name}""",
            {"entered_by": user.name, "entered_at": entered_at, "load_id": load_id},
        )
    if refresh:
        refresh_after_counts(con, _count_keys(frame), today=entered_at.date(), config=config)
    return frame.height


def _typed_quantity(quantity: object) -> tuple[float | None, str | None]:
    """(value, text as typed) of a quantity entry; (None, None) for 'not counted'."""
    if isinstance(quantity, bool) or not isinstance(quantity, int | float | str | None):
        raise CountError("a quantity must be a number or an arithmetic expression such as "
                         "24*12+7")
    if isinstance(quantity, int | float):
        try:
            value = float(quantity)
        except OverflowError:  # an int beyond any float, e.g. 10**400
            value = math.inf
        typed = None
    else:
        typed = _text(quantity, "the quantity", MAX_LENGTH)
        try:
            value = evaluate_quantity(typed)
        except QuantityError as error:
            raise CountError(f"{quantity!r} is not a quantity: {error}") from None
    if value is None:
        return None, None
    if math.isnan(value):
        raise CountError("the quantity is not a number; type the counted quantity")
    if value < 0:
        raise CountError("a counted quantity cannot be negative")
    if value > MAX_QUANTITY:
        raise CountError(f"the quantity is too large (at most {MAX_QUANTITY:,}); check what "
                         "was typed")
    if typed is None:
        typed = str(int(value)) if value.is_integer() else repr(value)
    return value, typed


def _unknown_material(con: duckdb.DuckDBPyConnection, material: str, plant: str) -> str | None:
    """Why a material × plant cannot be counted, truthfully: a material master may be loading."""
    problem = unknown_material(con, material, plant)
    if problem is None:
        return None
    running = con.execute(
        """SELECT file_name, started_at FROM load_log
           WHERE status = 'running' AND coalesce(kind, 'mm60') = 'mm60'
           ORDER BY started_at DESC LIMIT 1""",
    ).fetchall()
    if not running:
        return problem
    file_name, started_at = running[0]
    return (f"{problem} yet: {file_name} is being loaded (since {started_at:%H:%M}); if it is "
            "a material master, save again when the load has finished")


def _prepared_entry(con: duckdb.DuckDBPyConnection, entry: dict[str, Any],
                    settings: Settings) -> dict[str, Any]:
    """Normalise and check one entry (as add_count and edit_count receive it)."""
    material = normalise_material_value(entry.get("material"),
                                        lexicographic=settings.lexicographic_materials)
    plant = normalise_plant_value(entry.get("plant"))
    if not material:
        raise CountError("material is missing")
    if not plant:
        raise CountError("plant is missing")
    count_date = entry.get("count_date")
    if isinstance(count_date, datetime):
        count_date = count_date.date()
    if isinstance(count_date, str):
        try:
            count_date = date.fromisoformat(count_date.strip())
        except ValueError:
            raise CountError(f"{count_date!r} is not a date (2026-11-20)") from None
    if not isinstance(count_date, date):
        raise CountError("count date is missing")
    quantity, typed = _typed_quantity(entry.get("quantity"))
    problem = _unknown_material(con, material, plant)
    if problem:
        raise CountError(problem)
    location = _text(entry.get("location"), "the location")
    if quantity is None and location is None:
        raise CountError("enter a quantity, or the location where the material was seen")
    return {
        "count_date": count_date,
        "material": material,
        "plant": plant,
        "storage_location": normalise_plant_value(entry.get("storage_location")),
        "location": location,
        "quantity": quantity,
        "quantity_expr": typed,
        "counter": _text(entry.get("counter"), "the counter"),
        "notes": _text(entry.get("notes"), "the notes"),
        "movement_during_count": bool(entry.get("movement_during_count")),
        "possibly_not_received": bool(entry.get("possibly_not_received")),
    }


def _insert_one(con: duckdb.DuckDBPyConnection, entry: dict[str, Any], *, user: User,
                entered_at: datetime, replaces: int | None = None) -> int:
    columns = list(EDITABLE)
    placeholders = ", ".join(f"${c}" for c in columns)
    row = con.execute(
        f"""INSERT INTO physical_count ({", ".join(columns)}, entered_by, entered_at,
                                        replaces_count_id)
            VALUES ({placeholders}, $entered_by, $entered_at, $replaces)
            RETURNING count_id""",
        {**{c: entry[c] for c in columns}, "entered_by": user.name, "entered_at": entered_at,
         "replaces": replaces},
    ).fetchone()
    assert row is not None
    return int(row[0])


def add_count(
    con: duckdb.DuckDBPyConnection,
    *,
    count_date: date | str,
    material: str | int,
    plant: str,
    quantity: str | float | int | None,
    storage_location: str | None = None,
    location: str | None = None,
    counter: str | None = None,
    notes: str | None = None,
    movement_during_count: bool = False,
    possibly_not_received: bool = False,
    user: User,
    entered_at: datetime | None = None,
    refresh: bool = True,
    settings: Settings,
) -> int:
    """Record one count (or a "location only" entry when ``quantity`` is empty); its count_id.

    ``quantity`` may be a number or what the counter typed (``24*12+7``, ``12,5``); raises
    CountError for an entry that cannot be recorded (unknown material, a quantity that is
    not a number from 0 to MAX_QUANTITY, neither quantity nor location) and AccessDenied
    unless ``user`` may enter counts. The row records ``user.name`` as ``entered_by``.
    """
    require(user, Action.ENTER_COUNTS)
    entered_at = entered_at or datetime.now()
    entry = _prepared_entry(con, {
        "count_date": count_date, "material": material, "plant": plant, "quantity": quantity,
        "storage_location": storage_location, "location": location, "counter": counter,
        "notes": notes, "movement_during_count": movement_during_count,
        "possibly_not_received": possibly_not_received,
    }, settings)
    count_id = _insert_one(con, entry, user=user, entered_at=entered_at)
    if refresh:
        refresh_after_counts(con, _entry_keys(entry), today=entered_at.date(),
                             config=settings.counting)
    return count_id


def get_count(con: duckdb.DuckDBPyConnection, count_id: int) -> dict[str, Any]:
    """One physical_count row as a dict; CountError when there is none."""
    rows = fetch(con, "SELECT * FROM physical_count WHERE count_id = ?", [count_id])
    if rows.is_empty():
        raise CountError(f"there is no count {count_id}")
    return rows.row(0, named=True)


def _void(con: duckdb.DuckDBPyConnection, count_id: int, user: User, voided_at: datetime,
          reason: str | None) -> dict[str, Any]:
    require(user, Action.ENTER_COUNTS)  # a viewer learns nothing about the count
    current = get_count(con, count_id)
    require_owner_or(user, current["entered_by"], Action.CHANGE_OTHERS_COUNTS)
    if current["voided_at"] is not None:
        raise CountError(
            f"count {count_id} was already voided at {current['voided_at']:%Y-%m-%d %H:%M} "
            f"by {current['voided_by'] or 'unknown'}"
        )
    con.execute(
        """UPDATE physical_count SET voided_at = ?, voided_by = ?, void_reason = ?
           WHERE count_id = ? AND voided_at IS NULL""",
        [voided_at, user.name, _text(reason, "the reason"), count_id],
    )
    return current


def void_count(
    con: duckdb.DuckDBPyConnection,
    count_id: int,
    *,
    user: User,
    voided_at: datetime | None = None,
    reason: str | None = None,
    refresh: bool = True,
    settings: Settings,
) -> None:
    """Void one count: it stays in the table (who and when) but no longer counts.

    A counter voids their own counts; someone else's needs a manager (AccessDenied).
    """
    voided_at = voided_at or datetime.now()
    current = _void(con, count_id, user, voided_at, reason)
    if refresh:
        refresh_after_counts(con, _entry_keys(current), today=voided_at.date(),
                             config=settings.counting)


def edit_count(
    con: duckdb.DuckDBPyConnection,
    count_id: int,
    *,
    user: User,
    entered_at: datetime | None = None,
    reason: str | None = None,
    refresh: bool = True,
    settings: Settings,
    **changes: Any,
) -> int:
    """Correct a count: void it and insert the corrected row; returns the new count_id.

    ``changes`` names any of the editable fields (count_date, material, plant,
    storage_location, location, quantity, counter, notes, movement_during_count,
    possibly_not_received); ``quantity`` is taken as typed, like in ``add_count``. The
    quantity_expr follows the quantity and cannot be set on its own. A counter corrects
    their own counts; someone else's needs a manager (AccessDenied). The new row is entered by
    ``user``, who also voided the old one.
    """
    unknown = sorted(set(changes) - set(EDITABLE) | ({"quantity_expr"} & set(changes)))
    if unknown:
        raise CountError(f"cannot edit {', '.join(unknown)}")
    entered_at = entered_at or datetime.now()
    current = _void(con, count_id, user, entered_at, reason or "edited")
    merged = {c: current[c] for c in EDITABLE}
    if "quantity" not in changes:
        # Keep what was typed, not just its value.
        merged["quantity"] = (current["quantity_expr"] or current["quantity"]) \
            if current["quantity"] is not None else None
    merged.update(changes)
    entry = _prepared_entry(con, merged, settings)
    new_id = _insert_one(con, entry, user=user, entered_at=entered_at, replaces=count_id)
    if refresh:
        refresh_after_counts(con, _entry_keys(current, entry), today=entered_at.date(),
                             config=settings.counting)
    return new_id


def count_history(con: duckdb.DuckDBPyConnection, count_id: int) -> pl.DataFrame:
    """Every version of a count, oldest first (the edit chain through replaces_count_id)."""
    return fetch(
        con,
        """WITH RECURSIVE back(count_id, replaces_count_id) AS (
               SELECT count_id, replaces_count_id FROM physical_count WHERE count_id = $id
               UNION
               SELECT p.count_id, p.replaces_count_id FROM physical_count p
               JOIN back b ON p.count_id = b.replaces_count_id
           ),
           forward(count_id) AS (
               SELECT count_id FROM physical_count WHERE count_id = $id
               UNION
               SELECT p.count_id FROM physical_count p
               JOIN forward f ON p.replaces_count_id = f.count_id
           )
           SELECT * FROM physical_count
           WHERE count_id IN (SELECT count_id FROM back UNION SELECT count_id FROM forward)
           ORDER BY entered_at, count_id""",
        {"id": count_id},
    )


def list_counts(
    con: duckdb.DuckDBPyConnection,
    *,
    count_date: date | None = None,
    start: date | None = None,
    end: date | None = None,
    material: str | None = None,
    plant: str | None = None,
    counter: str | None = None,
    include_voided: bool = False,
    limit: int | None = None,
    settings: Settings,
) -> pl.DataFrame:
    """Count rows with the material's description and unit and the count_id of the correction
    that replaced them (``replaced_by``), newest first, filtered by any of the arguments
    (``start``/``end``: a range of count dates, both included)."""
    if material is not None:
        material = normalise_material_value(
            material, lexicographic=settings.lexicographic_materials)
    return fetch(
        con,
        """SELECT p.*, m.description, m.base_uom,
                  (SELECT min(r.count_id) FROM physical_count r
                   WHERE r.replaces_count_id = p.count_id) AS replaced_by
           FROM physical_count p
           LEFT JOIN material m USING (material, plant)
           WHERE (CAST($count_date AS DATE) IS NULL OR p.count_date = $count_date)
             AND (CAST($start AS DATE) IS NULL OR p.count_date >= $start)
             AND (CAST($end AS DATE) IS NULL OR p.count_date <= $end)
             AND (CAST($material AS VARCHAR) IS NULL OR p.material = $material)
             AND (CAST($plant AS VARCHAR) IS NULL OR p.plant = $plant)
             AND (CAST($counter AS VARCHAR) IS NULL OR p.counter = $counter)
             AND (CAST($include_voided AS BOOLEAN) OR p.voided_at IS NULL)
           ORDER BY p.count_date DESC, p.entered_at DESC, p.count_id DESC
           LIMIT CAST($limit AS BIGINT)""",
        {"count_date": count_date, "start": start, "end": end, "material": material,
         "plant": normalise_plant_value(plant), "counter": counter,
         "include_voided": include_voided, "limit": limit},
    )
