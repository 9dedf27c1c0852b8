"""Finding things while counting: a material by number or description, a day's entries."""

from __future__ import annotations

from datetime import date

import duckdb
import polars as pl

from pipelines.sap.material import normalise_material_value
from pipelines.settings import Settings
from pipelines.warehouse.db import fetch


def search_materials(
    con: duckdb.DuckDBPyConnection,
    text: str,
    *,
    plant: str | None = None,
    limit: int = 25,
    settings: Settings,
) -> pl.DataFrame:
    """Active materials whose number or description matches ``text``; exact numbers first.

    The number is normalised like everywhere (``000010000001`` finds ``10000001``); a number
    also matches as a prefix, a description by any part, case-insensitively. Inactive
    materials (gone from their plant's latest MM60) are left out.
    """
    cleaned = (text or "").strip()
    if not cleaned:
        return fetch(con, """SELECT material, plant, description, base_uom, abc_indicator
                             FROM material WHERE false""")
    number = normalise_material_value(
        cleaned, lexicographic=settings.lexicographic_materials) or cleaned
    return fetch(
        con,
        """SELECT material, plant, description, base_uom, abc_indicator
           FROM material
           WHERE is_active
             AND (CAST($plant AS VARCHAR) IS NULL OR plant = $plant)
             AND (material = $number OR starts_with(material, $number)
                  OR contains(lower(description), lower($text)))
           ORDER BY material <> $number, NOT starts_with(material, $number), material, plant
           LIMIT $limit""",
        {"number": number, "text": cleaned, "plant": plant, "limit": limit},
    )


def counts_entered(
    con: duckdb.DuckDBPyConnection,
    count_date: date,
    *,
    counter: str | None = None,
    include_voided: bool = False,
) -> pl.DataFrame:
    """A day's count entries (of one counter) with the material's description, newest first."""
    return fetch(
        con,
        """SELECT p.count_id, p.count_date, p.material, p.plant, m.description,
                  p.storage_location, p.location, p.quantity, p.quantity_expr, m.base_uom,
                  p.counter, p.notes, p.movement_during_count, p.possibly_not_received,
                  p.entered_by, p.entered_at, p.voided_at, p.voided_by, p.void_reason,
                  p.replaces_count_id
           FROM physical_count p
           LEFT JOIN material m USING (material, plant)
           WHERE p.count_date = $day
             AND (CAST($counter AS VARCHAR) IS NULL OR p.counter = $counter)
             AND (CAST($voided AS BOOLEAN) OR p.voided_at IS NULL)
           ORDER BY p.entered_at DESC, p.count_id DESC""",
        {"day": count_date, "counter": counter, "voided": include_voided},
    )


def plants(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Plants of the material master, in order."""
    return fetch(con, "SELECT DISTINCT plant FROM material ORDER BY plant")["plant"].to_list()
