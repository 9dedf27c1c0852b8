"""MM60 into ``material``: upsert per plant in the file, every change written down.

A load touches only the plants the file contains. Materials of those plants that the file no
longer lists become inactive (never deleted); materials that come back are reactivated. Every
added, removed, reactivated and changed field goes to ``material_change`` with this load's id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import duckdb
import polars as pl

from pipelines.warehouse.db import fetch

# Fields whose change an MM60 load records, in the order the change report shows them.
TRACKED_FIELDS = (
    "description", "material_type", "material_group", "base_uom", "abc_indicator",
    "price", "price_unit", "currency", "valuation_type",
)
COLUMNS = (
    "material", "plant", *TRACKED_FIELDS, "last_change",
)


def collapse_duplicates(rows: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One row per material × plant: blank valuation type first, then the latest Last Change.

    Returns the kept rows and, for the load summary, every collapsed key with its file rows.
    """
    ranked = rows.sort(
        by=[
            pl.col("valuation_type").is_not_null(),
            pl.col("last_change"),
            pl.col("_row"),
        ],
        descending=[False, True, True],
        nulls_last=True,
    )
    kept = ranked.unique(subset=["material", "plant"], keep="first", maintain_order=True)
    # Only keys with several rows are collapsed: group those alone (a filter keeps the order).
    collapsed = (
        ranked.filter(pl.struct("material", "plant").is_duplicated())
        .group_by("material", "plant", maintain_order=True)
        .agg(rows=pl.col("_row").sort(), kept_row=pl.col("_row").first(), n=pl.len())
        .filter(pl.col("n") > 1)
        .drop("n")
        .sort("material", "plant")
    )
    return kept.sort("_row"), collapsed


def _changed_fields_sql(load_id_param: str, now_param: str) -> str:
    # One join of the file with the table (materialised), then one scan of it per field.
    pairs = ", ".join(f"m.{f} AS old_{f}, i.{f} AS new_{f}" for f in TRACKED_FIELDS)
    parts = [
        f"""SELECT {load_id_param}, material, plant, 'changed', '{field}',
                   CAST(old_{field} AS VARCHAR), CAST(new_{field} AS VARCHAR), {now_param}
            FROM pairs WHERE old_{field} IS DISTINCT FROM new_{field}"""
        for field in TRACKED_FIELDS
    ]
    return (f"""SELECT * FROM (
        WITH pairs AS MATERIALIZED (
            SELECT i.material, i.plant, {pairs}
            FROM incoming i JOIN material m USING (material, plant))
        """ + "\nUNION ALL\n".join(parts) + ")")


def load_material_master(
    con: duckdb.DuckDBPyConnection, rows: pl.DataFrame, load_id: int, now: datetime
) -> dict[str, Any]:
    """Apply one MM60 file's rows inside the caller's transaction; returns the load summary."""
    kept, collapsed = collapse_duplicates(rows)
    incoming = kept.select(*COLUMNS)  # noqa: F841 - read by DuckDB by name
    con.register("incoming", incoming)
    plants = sorted(kept["plant"].unique().to_list())
    con.register("file_plants", pl.DataFrame({"plant": plants}, schema={"plant": pl.String}))
    params = {"load_id": load_id, "now": now}

    con.execute(
        """
        INSERT INTO material_change
        SELECT $load_id, i.material, i.plant, 'added', NULL, NULL, NULL, $now
        FROM incoming i ANTI JOIN material m USING (material, plant)
        UNION ALL
        SELECT $load_id, m.material, m.plant, 'reactivated', NULL, NULL, NULL, $now
        FROM material m SEMI JOIN incoming i USING (material, plant)
        WHERE NOT m.is_active
        UNION ALL
        SELECT $load_id, m.material, m.plant, 'removed', NULL, NULL, NULL, $now
        FROM material m SEMI JOIN file_plants p USING (plant)
        WHERE m.is_active
          AND NOT EXISTS (SELECT 1 FROM incoming i
                          WHERE i.material = m.material AND i.plant = m.plant)
        UNION ALL
        """ + _changed_fields_sql("$load_id", "$now"),
        params,
    )
    con.execute(
        """
        UPDATE material SET is_active = FALSE, updated_at = $now, load_id = $load_id
        FROM material_change c
        WHERE c.load_id = $load_id AND c.change = 'removed'
          AND c.material = material.material AND c.plant = material.plant
        """,
        params,
    )
    # Rows untouched by this load keep their updated_at; the rest are stamped now.
    con.execute(
        f"""
        INSERT OR REPLACE INTO material
            ({", ".join(COLUMNS)}, is_active, updated_at, load_id)
        SELECT i.*, TRUE,
               CASE WHEN touched.material IS NULL THEN m.updated_at ELSE $now END,
               $load_id
        FROM incoming i
        LEFT JOIN material m USING (material, plant)
        LEFT JOIN (SELECT DISTINCT material, plant FROM material_change
                   WHERE load_id = $load_id) touched USING (material, plant)
        """,
        params,
    )
    counts = dict(
        fetch(
            con,
            """SELECT change, count(DISTINCT (material, plant)) FROM material_change
               WHERE load_id = $load_id GROUP BY change""",
            {"load_id": load_id},
        ).iter_rows()
    )
    changed_fields = dict(
        fetch(
            con,
            """SELECT field, count(*) FROM material_change
               WHERE load_id = $load_id AND change = 'changed' GROUP BY field ORDER BY 2 DESC""",
            {"load_id": load_id},
        ).iter_rows()
    )
    con.unregister("incoming")
    con.unregister("file_plants")
    return {
        "plants": plants,
        "materials": kept.height,
        "added": counts.get("added", 0),
        "removed": counts.get("removed", 0),
        "reactivated": counts.get("reactivated", 0),
        "changed": counts.get("changed", 0),
        "changed_fields": changed_fields,
        "collapsed_keys": collapsed.height,
        "collapsed": [
            {"material": m, "plant": p, "rows": r, "kept_row": k}
            for m, p, r, k in collapsed.iter_rows()
        ],
    }
