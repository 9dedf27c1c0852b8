"""One material in the warehouse: find it, and everything WICS knows about it.

The Materials page of the dashboard reads through these functions (and nothing else), so the
search, the "part locations" report and the histories are the same in the dashboard, the CLI
and the tests:

- ``search_materials``: by number, with or without leading zeros (the one normalisation of
  ``pipelines/sap/material.py``), by the start of a number, or by words of the description;
- ``material_record``: a material × plant's master data;
- ``stock_history``: its SAP stock by storage location in every snapshot of its plant (the
  stock basis reconciliation compares counts with, and unrestricted and value beside it);
- ``part_locations``: where it was last found, one row per place (storage location × bin) from
  the non-voided counts, for one material or for all of them (the "part locations" report of
  the system WICS replaces); ``last_locations`` condenses it to the few latest places per
  material, as the count worksheets print them;
- ``material_counts`` (every entry, voided ones included), ``material_variances`` (the
  reconciliation per count date), ``material_schedule`` and ``material_change_history`` (what
  each MM60 load changed); ``material_details`` all of them on one connection;
- the Counts page's figures: ``count_totals``, ``counted_per_day``, ``entry_state`` and
  ``may_change_count`` (who may edit or void an entry).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import duckdb
import polars as pl

from pipelines.access import AccessDenied, Action, User, require_owner_or
from pipelines.counting.reconcile import basis_expression
from pipelines.sap.material import (
    clean_text_value,
    normalise_material_value,
    normalise_plant_value,
)
from pipelines.settings import Settings
from pipelines.warehouse.db import fetch

SEARCH_LIMIT = 50
MAX_SEARCH_WORDS = 6  # words of a description search; more add nothing but SQL


def material_key(material: object, settings: Settings) -> str | None:
    """A typed material number as the warehouse keys it (ALPHA: leading zeros dropped)."""
    return normalise_material_value(material,
                                    lexicographic=settings.lexicographic_materials)


def _plant(plant: object) -> str | None:
    return normalise_plant_value(plant)


def search_materials(
    con: duckdb.DuckDBPyConnection,
    text: str | None,
    *,
    plant: str | None = None,
    limit: int = SEARCH_LIMIT,
    active_only: bool = False,
    settings: Settings,
) -> pl.DataFrame:
    """Material × plant rows matching ``text``, best first.

    Exact number first (``000000000010000001`` finds ``10000001``), then numbers starting with
    it, then descriptions holding every word of it (case-insensitive); active before inactive
    (``active_only``: only materials in their plant's latest MM60, what count entry offers).
    Empty text finds nothing.
    """
    typed = clean_text_value(text or "")
    if not typed:
        return fetch(con, "SELECT * FROM material LIMIT 0").select(
            "material", "plant", "description", "material_type", "abc_indicator", "base_uom",
            "is_active").with_columns(match=pl.lit(None, dtype=pl.String))
    number = material_key(typed, settings)
    words = [w for w in typed.lower().split() if w][:MAX_SEARCH_WORDS]
    # One bound parameter per word: the SQL's shape depends on how many, never on what.
    described = " AND ".join(
        f"contains(lower(coalesce(description, '')), $w{i})" for i in range(len(words)))
    return fetch(
        con,
        f"""SELECT material, plant, description, material_type, abc_indicator, base_uom,
                   is_active,
                   CASE WHEN material = $number THEN 'number'
                        WHEN starts_with(material, $number) THEN 'number starts with'
                        ELSE 'description' END AS match
            FROM material
            WHERE (material = $number OR starts_with(material, $number) OR ({described}))
              AND (CAST($plant AS VARCHAR) IS NULL OR plant = $plant)
              AND (is_active OR NOT $active_only)
            ORDER BY CASE match WHEN 'number' THEN 0 WHEN 'number starts with' THEN 1
                                ELSE 2 END,
                     is_active DESC, length(material), material, plant
            LIMIT $limit""",
        {"number": number, "plant": _plant(plant), "limit": limit, "active_only": active_only,
         **{f"w{i}": w for i, w in enumerate(words)}},
    )


def material_record(con: duckdb.DuckDBPyConnection, material: object, plant: object, *,
                    settings: Settings) -> dict[str, Any] | None:
    """The master data of one material × plant (None when the material master lacks it)."""
    rows = fetch(
        con,
        """SELECT m.*, l.file_name AS loaded_from, l.finished_at AS loaded_at
           FROM material m LEFT JOIN load_log l USING (load_id)
           WHERE m.material = ? AND m.plant = ?""",
        [material_key(material, settings), _plant(plant)],
    )
    return rows.row(0, named=True) if rows.height else None


def stock_history(
    con: duckdb.DuckDBPyConnection,
    material: object,
    plant: object,
    *,
    since: date | None = None,
    settings: Settings,
) -> pl.DataFrame:
    """SAP stock of a material × plant per snapshot × storage location.

    Every snapshot of the plant (from ``since``) appears for every storage location the
    material had stock lines in: a snapshot without a line of it is stock 0 there, not a gap.
    ``sap_qty`` is the configured stock basis (what counts are compared with).
    """
    basis = basis_expression(settings.counting)
    return fetch(
        con,
        f"""WITH lines AS (
                SELECT snapshot_date, coalesce(storage_location, '') AS storage_location,
                       sum({basis}) AS sap_qty, sum(st.unrestricted) AS unrestricted,
                       sum(st.in_transit) AS in_transit,
                       sum(st.value_unrestricted) AS value_unrestricted,
                       count(*) AS stock_lines
                FROM sap_stock st
                WHERE st.material = $material AND st.plant = $plant
                  AND (CAST($since AS DATE) IS NULL OR st.snapshot_date >= $since)
                GROUP BY ALL
            ),
            dates AS (
                SELECT DISTINCT snapshot_date FROM sap_stock
                WHERE plant = $plant
                  AND (CAST($since AS DATE) IS NULL OR snapshot_date >= $since)
            ),
            places AS (SELECT DISTINCT storage_location FROM lines)
            SELECT d.snapshot_date, p.storage_location,
                   coalesce(l.sap_qty, 0) AS sap_qty,
                   coalesce(l.unrestricted, 0) AS unrestricted,
                   coalesce(l.in_transit, 0) AS in_transit,
                   coalesce(l.value_unrestricted, 0) AS value_unrestricted,
                   coalesce(l.stock_lines, 0) AS stock_lines
            FROM dates d CROSS JOIN places p
            LEFT JOIN lines l USING (snapshot_date, storage_location)
            ORDER BY d.snapshot_date, p.storage_location""",
        {"material": material_key(material, settings), "plant": _plant(plant),
         "since": since},
    )


def _places_sql(where: str) -> str:
    """Places (storage location × bin) a material × plant was found in, latest first.

    From non-voided counts with a location, quantities or not ("location seen" entries say
    where a material is too). ``where`` adds conditions on physical_count ``p``.
    """
    return f"""
places AS (
    SELECT p.material, p.plant, p.storage_location, p.location, p.count_date,
           sum(p.quantity) AS quantity,
           string_agg(DISTINCT p.counter, ', ' ORDER BY p.counter) AS counters
    FROM physical_count p
    WHERE p.voided_at IS NULL AND p.location IS NOT NULL {where}
    GROUP BY ALL
),
found AS (
    SELECT material, plant, storage_location, location,
           coalesce(storage_location || '/', '') || location AS place,
           max(count_date) AS last_seen,
           arg_max_null(quantity, count_date) AS last_quantity,
           arg_max_null(counters, count_date) AS last_counters,
           count(*) AS days_seen,
           min(count_date) AS first_seen
    FROM places GROUP BY ALL
)"""


def part_locations(
    con: duckdb.DuckDBPyConnection,
    *,
    material: object = None,
    plant: object = None,
    before: date | None = None,
    first_materials: int | None = None,
    settings: Settings,
) -> pl.DataFrame:
    """Where materials were last found: one row per material × plant × place.

    ``last_quantity`` is what was counted there on ``last_seen`` (null: seen, not counted).
    Without ``material`` it is the report for every material, by material and latest place;
    ``first_materials`` keeps only the first that many material × plant keys of it (a screen
    of it costs a fraction of the whole report). ``before`` looks only at counts before that
    day.
    """
    where = '''
                AND (CAST($material AS VARCHAR) IS NULL OR p.material = $material)
                AND (CAST($plant AS VARCHAR) IS NULL OR p.plant = $plant)
                AND (CAST($before AS DATE) IS NULL OR p.count_date < $before)'''
    return fetch(
        con,
        f"""WITH {_places_sql(where + ('''
                AND (p.material, p.plant) IN (
                    SELECT DISTINCT p.material, p.plant FROM physical_count p
                    WHERE p.voided_at IS NULL AND p.location IS NOT NULL''' + where + '''
                    ORDER BY 1, 2 LIMIT $first)''' if first_materials is not None else ""))}
            SELECT f.material, f.plant, m.description, f.storage_location, f.location,
                   f.last_seen, f.last_quantity, m.base_uom, f.last_counters, f.days_seen,
                   f.first_seen
            FROM found f LEFT JOIN material m USING (material, plant)
            ORDER BY f.material, f.plant, f.last_seen DESC, f.place""",
        {"material": material_key(material, settings) if material is not None else None,
         "plant": _plant(plant), "before": before,
         **({"first": first_materials} if first_materials is not None else {})},
    )


def part_location_totals(con: duckdb.DuckDBPyConnection, *,
                         plant: object = None) -> dict[str, int]:
    """How big the part-locations report is: material × plant keys and places."""
    return fetch(
        con,
        """SELECT count(DISTINCT (material, plant)) AS materials,
                  count(DISTINCT (material, plant, storage_location, location)) AS places
           FROM physical_count
           WHERE voided_at IS NULL AND location IS NOT NULL
             AND (CAST($plant AS VARCHAR) IS NULL OR plant = $plant)""",
        {"plant": _plant(plant)},
    ).row(0, named=True)


def last_locations(
    con: duckdb.DuckDBPyConnection,
    *,
    before: date | None = None,
    places: int = 3,
) -> pl.DataFrame:
    """The latest ``places`` places of every material × plant found before ``before``.

    ``last_locations`` is text such as ``0001/R04-B-2, 0002/OVERFLOW-1`` (latest first), and
    ``counted_storage_locations`` the storage locations among them (worksheets by storage
    location use them for materials without stock).
    """
    return fetch(
        con,
        f"""WITH {_places_sql(
                "AND (CAST($before AS DATE) IS NULL OR p.count_date < $before)")},
            ranked AS (
                SELECT *, row_number() OVER (PARTITION BY material, plant
                                             ORDER BY last_seen DESC, place) AS n
                FROM found
            )
            SELECT material, plant,
                   string_agg(place, ', ' ORDER BY n) AS last_locations,
                   list(DISTINCT storage_location) FILTER (storage_location IS NOT NULL)
                       AS counted_storage_locations
            FROM ranked WHERE n <= $places
            GROUP BY material, plant""",
        {"before": before, "places": places},
    )


def material_counts(con: duckdb.DuckDBPyConnection, material: object, plant: object,
                    *, settings: Settings) -> pl.DataFrame:
    """Every count entry of a material × plant, newest first, voided and replaced ones too."""
    return fetch(
        con,
        """SELECT count_id, count_date, storage_location, location, quantity, quantity_expr,
                  counter, notes, movement_during_count, possibly_not_received, entered_by,
                  entered_at, voided_at, voided_by, void_reason, replaces_count_id, load_id,
                  (SELECT min(r.count_id) FROM physical_count r
                   WHERE r.replaces_count_id = p.count_id) AS replaced_by
           FROM physical_count p WHERE material = ? AND plant = ?
           ORDER BY count_date DESC, entered_at DESC, count_id DESC""",
        [material_key(material, settings), _plant(plant)],
    )


def material_variances(con: duckdb.DuckDBPyConnection, material: object, plant: object,
                       *, settings: Settings) -> pl.DataFrame:
    """The reconciliation of every count date of a material × plant, newest first."""
    return fetch(
        con,
        """SELECT count_date, counted_qty, sap_snapshot_date, sap_qty, variance_qty,
                  variance_pct, variance_value, currency, tolerance_pct, within_tolerance,
                  needs_recount, count_lines, counters
           FROM count_variance WHERE material = ? AND plant = ?
           ORDER BY count_date DESC""",
        [material_key(material, settings), _plant(plant)],
    )


def material_schedule(con: duckdb.DuckDBPyConnection, material: object, plant: object,
                      *, settings: Settings) -> pl.DataFrame:
    """Every schedule line of a material × plant (past and planned), newest date first."""
    return fetch(
        con,
        """SELECT schedule_id, count_date, storage_location, counter, reason, status,
                  counted_on, priority, requested_by, request_note, source_count_date,
                  created_by, created_at
           FROM count_schedule WHERE material = ? AND plant = ?
           ORDER BY count_date DESC, priority, schedule_id DESC""",
        [material_key(material, settings), _plant(plant)],
    )


def material_change_history(con: duckdb.DuckDBPyConnection, material: object, plant: object,
                            *, settings: Settings) -> pl.DataFrame:
    """What each MM60 load changed in a material × plant (added, removed, fields), newest
    load first."""
    return fetch(
        con,
        """SELECT c.changed_at, c.load_id, l.file_name, c.change, c.field, c.old_value,
                  c.new_value
           FROM material_change c LEFT JOIN load_log l USING (load_id)
           WHERE c.material = ? AND c.plant = ?
           ORDER BY c.changed_at DESC, c.load_id DESC,
                    CASE c.change WHEN 'added' THEN 1 WHEN 'reactivated' THEN 2
                                  WHEN 'changed' THEN 3 ELSE 4 END, c.field""",
        [material_key(material, settings), _plant(plant)],
    )


def material_details(con: duckdb.DuckDBPyConnection, material: object, plant: object, *,
                     settings: Settings) -> dict[str, Any] | None:
    """Everything about one material × plant, read on one connection: ``record`` (master
    data), ``stock``, ``places``, ``counts``, ``variances``, ``schedule``, ``changes`` (the
    functions above); None when the material master lacks it."""
    record = material_record(con, material, plant, settings=settings)
    if record is None:
        return None
    key = (record["material"], record["plant"])
    return {
        "record": record,
        "stock": stock_history(con, *key, settings=settings),
        "places": part_locations(con, material=key[0], plant=key[1], settings=settings),
        "counts": material_counts(con, *key, settings=settings),
        "variances": material_variances(con, *key, settings=settings),
        "schedule": material_schedule(con, *key, settings=settings),
        "changes": material_change_history(con, *key, settings=settings),
    }


def counters_seen(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Everyone who counted or entered a count, for filters."""
    return fetch(
        con,
        """SELECT DISTINCT name FROM (
               SELECT counter AS name FROM physical_count
               UNION SELECT entered_by FROM physical_count)
           WHERE name IS NOT NULL ORDER BY name""",
    )["name"].to_list()


def entry_state() -> pl.Expr:
    """``counts`` (live), ``corrected`` (replaced by a correction) or ``voided``."""
    return (pl.when(pl.col("voided_at").is_null()).then(pl.lit("counts"))
            .when(pl.col("replaced_by").is_not_null()).then(pl.lit("corrected"))
            .otherwise(pl.lit("voided")).alias("state"))


def count_totals(counts: pl.DataFrame) -> dict[str, int]:
    """Headline figures of a list of count entries (voided ones left out of every sum)."""
    live = counts.filter(pl.col("voided_at").is_null()) if "voided_at" in counts.columns \
        else counts
    counted = live.filter(pl.col("quantity").is_not_null())
    return {
        "entries": live.height,
        "counted": counted.height,
        "location_only": live.height - counted.height,
        "materials": live.select("material", "plant").n_unique() if live.height else 0,
        "counters": live["counter"].drop_nulls().n_unique(),
        "voided": counts.height - live.height,
    }


def counted_per_day(counts: pl.DataFrame) -> pl.DataFrame:
    """Counted quantity per count date × material × plant of a list of entries: the sum
    reconciliation compares with SAP (non-voided counted quantities only)."""
    live = counts.filter(pl.col("voided_at").is_null() & pl.col("quantity").is_not_null())
    return (
        live.group_by("count_date", "material", "plant")
        .agg(pl.col("description").first() if "description" in live.columns
             else pl.lit(None, dtype=pl.String).alias("description"),
             pl.col("quantity").sum().alias("counted_qty"),
             pl.len().alias("entries"),
             pl.col("counter").drop_nulls().unique().sort().str.join(", ").alias("counters"))
        .sort(["count_date", "material", "plant"], descending=[True, False, False])
    )


def may_change_count(user: User | None, entered_by: str | None) -> bool:
    """Whether ``user`` may edit or void a count entered by ``entered_by`` (counters their
    own, managers everyone's): the rule the write functions enforce, asked beforehand so a
    page shows only the controls that will work."""
    if user is None:
        return False
    try:
        require_owner_or(user, entered_by, Action.CHANGE_OTHERS_COUNTS)
    except AccessDenied:
        return False
    return True
