"""MB52 into ``sap_stock``: one snapshot date per file, replaced whole when loaded again."""

from __future__ import annotations

from datetime import date
from typing import Any

import duckdb
import polars as pl

from pipelines.sap.headers import STOCK_FIELDS
from pipelines.warehouse.db import fetch

STOCK_KEY = ("material", "plant", "storage_location", "batch", "special_stock")
COLUMNS = (
    *STOCK_KEY, "description", "base_uom", *STOCK_FIELDS, "value_unrestricted", "currency",
)


def duplicate_stock_lines(rows: pl.DataFrame) -> pl.DataFrame:
    """Problems for lines that repeat another line's key: their stock would be counted twice."""
    if not rows.select(STOCK_KEY).hash_rows().is_duplicated().any():
        # The usual export repeats no key: equal keys hash equal, so distinct hashes prove it
        # with one hash per line instead of a window over the five text columns.
        return rows.clear().select(
            row=pl.col("_row"), column=pl.lit("Material"), value=pl.col("material"),
            reason=pl.lit("", dtype=pl.String))
    return (
        rows.with_columns(_first=pl.col("_row").min().over(list(STOCK_KEY)))
        .filter(pl.col("_row") != pl.col("_first"))
        .select(
            row=pl.col("_row"),
            column=pl.lit("Material"),
            value=pl.col("material"),
            reason=pl.format(
                "duplicate stock line: same material, plant, storage location, batch and "
                "special stock as row {}",
                pl.col("_first"),
            ),
        )
    )


def load_stock_snapshot(
    con: duckdb.DuckDBPyConnection, rows: pl.DataFrame, load_id: int, snapshot_date: date
) -> dict[str, Any]:
    """Replace the snapshot of ``snapshot_date`` inside the caller's transaction."""
    incoming = rows.select(*COLUMNS)
    con.register("incoming", incoming)
    replaced = fetch(
        con, "SELECT count(*) AS n FROM sap_stock WHERE snapshot_date = ?", [snapshot_date]
    ).item()
    con.execute("DELETE FROM sap_stock WHERE snapshot_date = ?", [snapshot_date])
    con.execute(
        f"""INSERT INTO sap_stock (snapshot_date, {", ".join(COLUMNS)}, load_id)
            SELECT $snapshot_date, {", ".join(COLUMNS)}, $load_id FROM incoming""",
        {"snapshot_date": snapshot_date, "load_id": load_id},
    )
    unknown = fetch(
        con,
        """SELECT DISTINCT i.material, i.plant FROM incoming i
           ANTI JOIN material m USING (material, plant) ORDER BY 1, 2""",
    )
    con.unregister("incoming")
    return {
        "snapshot_date": snapshot_date.isoformat(),
        "lines": incoming.height,
        "replaced_lines": replaced,
        "plants": sorted(incoming["plant"].unique().to_list()),
        "materials": incoming.select("material", "plant").n_unique(),
        "unknown_materials": unknown.height,
        "unknown_examples": [f"{m} / {p}" for m, p in unknown.head(20).iter_rows()],
    }
