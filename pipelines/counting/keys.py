"""Is a material × plant typed into a form one the material master knows?"""

from __future__ import annotations

import duckdb

from pipelines.warehouse.db import fetch


def unknown_material(con: duckdb.DuckDBPyConnection, material: str, plant: str) -> str | None:
    """Why a (normalised) material × plant cannot be counted or scheduled; None if known."""
    known = fetch(con, "SELECT 1 FROM material WHERE material = ? AND plant = ?",
                  [material, plant])
    if known.is_empty():
        return f"material {material} is not in the material master of plant {plant}"
    return None
