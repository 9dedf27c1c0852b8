"""MB52 into ``sap_stock``: one snapshot date per file, replaced whole when loaded again."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from itertools import chain
from typing import Any

import duckdb
import polars as pl

from pipelines.sap.headers import STOCK_FIELDS
from pipelines.warehouse.db import fetch

# DuckDB's rows per row group (its default ``row_group_size``).
ROW_GROUP_ROWS = 122_880
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


class SnapshotWriter:
    """One MB52 snapshot written inside the caller's transaction: the rows of all batches in
    one INSERT (tagged with the load), the day's earlier snapshot replaced at the end
    (``finish``). Until then the day's old rows and the new ones are both in ``sap_stock``,
    told apart by ``load_id``; nothing is visible outside the transaction."""

    def __init__(self, con: duckdb.DuckDBPyConnection, load_id: int,
                 snapshot_date: date) -> None:
        self.con, self.load_id, self.snapshot_date = con, load_id, snapshot_date
        self.lines = 0

    def write(self, batches: Iterator[pl.DataFrame]) -> None:
        """Insert every batch, as DuckDB pulls them: one statement for the whole file, which
        DuckDB writes to the file as it goes (each INSERT of a transaction keeps memory until
        the commit, about 60 bytes a row, so batches are not inserted one by one)."""
        import pyarrow as pa

        first = next(batches, None)
        if first is None:
            return
        schema = first.select(*COLUMNS).to_arrow().schema

        def records() -> Iterator[pa.RecordBatch]:
            # Handed over in whole row groups: DuckDB writes each full row group of an insert
            # straight to the file, while part ones are merged (the file rewritten) later.
            pending = first.clear().select(*COLUMNS)
            for rows in chain([first], batches):
                self.lines += rows.height
                pending = pl.concat([pending, rows.select(*COLUMNS)])
                whole = pending.height - pending.height % ROW_GROUP_ROWS
                if whole:
                    yield from pending.head(whole).rechunk().to_arrow().cast(schema).to_batches(
                        max_chunksize=ROW_GROUP_ROWS)
                    pending = pending.slice(whole)
            yield from pending.rechunk().to_arrow().cast(schema).to_batches()

        self._insert_from(pa.RecordBatchReader.from_batches(schema, records()))

    def insert(self, rows: pl.DataFrame) -> None:
        """Insert the rows of a whole file at once (DuckDB scans a frame in parallel)."""
        self.lines += rows.height
        self._insert_from(rows.select(*COLUMNS))

    def _insert_from(self, source: object) -> None:
        self.con.register("incoming", source)
        try:
            self.con.execute(
                f"""INSERT INTO sap_stock (snapshot_date, {", ".join(COLUMNS)}, load_id)
                    SELECT $snapshot_date, {", ".join(COLUMNS)}, $load_id FROM incoming""",
                {"snapshot_date": self.snapshot_date, "load_id": self.load_id},
            )
        finally:
            self.con.unregister("incoming")

    def finish(self) -> dict[str, Any]:
        """Drop the day's earlier snapshot; what the new one holds, for the load's summary."""
        day, load_id = self.snapshot_date, self.load_id
        replaced = self.con.execute(
            "DELETE FROM sap_stock WHERE snapshot_date = ? AND load_id <> ?", [day, load_id]
        ).fetchone()
        mine = "FROM sap_stock WHERE snapshot_date = $day AND load_id = $load_id"
        params = {"day": day, "load_id": load_id}
        plants = fetch(self.con, f"SELECT DISTINCT plant {mine}", params)["plant"].to_list()
        materials = fetch(self.con, f"SELECT count(*) AS n FROM (SELECT DISTINCT material, "
                                    f"plant {mine})", params).item()
        unknown = fetch(
            self.con,
            f"""SELECT DISTINCT material, plant FROM (SELECT material, plant {mine})
                ANTI JOIN material m USING (material, plant) ORDER BY 1, 2""", params)
        return {
            "snapshot_date": day.isoformat(),
            "lines": self.lines,
            "replaced_lines": replaced[0] if replaced else 0,
            "plants": sorted(plants),
            "materials": materials,
            "unknown_materials": unknown.height,
            "unknown_examples": [f"{m} / {p}" for m, p in unknown.head(20).iter_rows()],
        }


def load_stock_snapshot(
    con: duckdb.DuckDBPyConnection, rows: pl.DataFrame, load_id: int, snapshot_date: date
) -> dict[str, Any]:
    """Replace the snapshot of ``snapshot_date`` inside the caller's transaction."""
    writer = SnapshotWriter(con, load_id, snapshot_date)
    writer.insert(rows)
    return writer.finish()
