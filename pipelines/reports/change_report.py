"""The MM60 change report: what the last material-list update added, removed and changed."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl

from pipelines.warehouse.db import fetch


def latest_mm60_load(con: duckdb.DuckDBPyConnection) -> int | None:
    """The newest MM60 load that reached the warehouse, or None before the first one."""
    rows = fetch(
        con,
        "SELECT max(load_id) AS id FROM load_log WHERE kind = 'mm60' AND status = 'loaded'",
    )
    return rows.item()


def material_changes(con: duckdb.DuckDBPyConnection, load_id: int) -> pl.DataFrame:
    """Every change of one load, with the material's description, oldest field order first."""
    return fetch(
        con,
        """SELECT c.change, c.material, c.plant, m.description, c.field, c.old_value,
                  c.new_value
           FROM material_change c LEFT JOIN material m USING (material, plant)
           WHERE c.load_id = ?
           ORDER BY CASE c.change WHEN 'added' THEN 1 WHEN 'reactivated' THEN 2
                                  WHEN 'changed' THEN 3 ELSE 4 END,
                    c.plant, c.material, c.field""",
        [load_id],
    )


def change_counts(changes: pl.DataFrame) -> dict[str, int]:
    """Materials per kind of change (a material with three changed fields counts once)."""
    counts = changes.group_by("change").agg(pl.struct("material", "plant").n_unique().alias("n"))
    return {kind: counts.filter(pl.col("change") == kind)["n"].sum()
            for kind in ("added", "removed", "changed", "reactivated")}


def write_change_report(changes: pl.DataFrame, path: Path, *, file_name: str, load_id: int) -> Path:
    """The change report as xlsx: a summary sheet and one sheet of every change.

    A first load of its plants (nothing but additions) lists no rows: every one of them is
    simply in the material table, and writing 100,000 "added" lines took 11 s of a 14 s load.
    """
    # openpyxl only when a report is written: every load imports this module, few write one.
    from pipelines.reports.xlsx import write_workbook

    counts = change_counts(changes)
    by_field = (
        changes.filter(pl.col("change") == "changed").group_by("field").len("changes")
        .sort("changes", descending=True)
    )
    summary = pl.DataFrame({"change": list(counts), "materials": list(counts.values())})
    title = [f"MM60 changes of load {load_id}", f"File: {file_name}"]
    first_load = changes.height > 0 and counts["added"] == changes.height
    if first_load:
        title.append(f"First load of these plants: {counts['added']:,} materials added, "
                     "listed in the material table rather than here.")
        changes = changes.clear()
    return write_workbook(
        path,
        {"Summary": summary, "Changed fields": by_field, "All changes": changes},
        titles={"Summary": title},
        widths={"description": 40, "old_value": 30, "new_value": 30},
    )
