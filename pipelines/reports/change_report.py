"""The MM60 change report: what a material-list update added, removed and changed.

The load writes every change to ``material_change``; the xlsx is made from that table when
someone asks for it (``wics changes``, the download on the dashboard's SAP loads page), not
inside the load: a report of a large update takes seconds to write and few are read.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl

from pipelines.warehouse.db import fetch, warehouse

# Excel's limit is 1,048,576 rows a sheet: the change list continues on further sheets past
# it (less the header row).
SHEET_ROWS = 1_048_575


def latest_mm60_load(con: duckdb.DuckDBPyConnection) -> int | None:
    """The newest MM60 load that reached the warehouse, or None before the first one."""
    rows = fetch(
        con,
        "SELECT max(load_id) AS id FROM load_log WHERE kind = 'mm60' AND status = 'loaded'",
    )
    return rows.item()


def mm60_load(con: duckdb.DuckDBPyConnection, load_id: int | None = None) -> tuple[int, str]:
    """The MM60 load a change report is about (``load_id``, else the latest) and its file name.

    Raises LookupError when there is none: no MM60 loaded yet, or ``load_id`` is not an MM60
    that loaded.
    """
    if load_id is None:
        load_id = latest_mm60_load(con)
        if load_id is None:
            raise LookupError("no MM60 has been loaded yet")
    row = fetch(con, """SELECT file_name FROM load_log
                        WHERE load_id = ? AND kind = 'mm60' AND status = 'loaded'""", [load_id])
    if row.is_empty():
        raise LookupError(f"load {load_id} is not an MM60 that loaded")
    return load_id, row.item()


def report_file_name(load_id: int) -> str:
    return f"material_changes_load{load_id}.xlsx"


def material_changes(con: duckdb.DuckDBPyConnection, load_id: int, *,
                     without_added: bool = False, limit: int | None = None) -> pl.DataFrame:
    """Every change of one load (or the first ``limit``, additions left out if asked), with
    the material's description: added, reactivated, changed, removed, then by plant,
    material and field."""
    return fetch(
        con,
        f"""SELECT c.change, c.material, c.plant, m.description, c.field, c.old_value,
                   c.new_value
            FROM material_change c LEFT JOIN material m USING (material, plant)
            WHERE c.load_id = ? {"AND c.change <> 'added'" if without_added else ""}
            ORDER BY CASE c.change WHEN 'added' THEN 1 WHEN 'reactivated' THEN 2
                                   WHEN 'changed' THEN 3 ELSE 4 END,
                     c.plant, c.material, c.field
            {"LIMIT ?" if limit is not None else ""}""",
        [load_id] + ([limit] if limit is not None else []),
    )


def load_change_counts(con: duckdb.DuckDBPyConnection, load_id: int) -> dict[str, int]:
    """``change_counts`` of one load counted in the database (no frame of every change),
    with ``rows``: its change rows (one per changed field)."""
    counted = dict(fetch(
        con, """SELECT change, count(DISTINCT (material, plant)) AS n FROM material_change
                WHERE load_id = ? GROUP BY change""", [load_id]).iter_rows())
    rows = fetch(con, "SELECT count(*) FROM material_change WHERE load_id = ?", [load_id])
    return {**{kind: counted.get(kind, 0)
               for kind in ("added", "removed", "changed", "reactivated")},
            "rows": rows.item()}


def change_counts(changes: pl.DataFrame) -> dict[str, int]:
    """Materials per kind of change (a material with three changed fields counts once)."""
    counts = changes.group_by("change").agg(pl.struct("material", "plant").n_unique().alias("n"))
    return {kind: counts.filter(pl.col("change") == kind)["n"].sum()
            for kind in ("added", "removed", "changed", "reactivated")}


def write_change_report(changes: pl.DataFrame, path: Path, *, file_name: str, load_id: int) -> Path:
    """The change report as xlsx: a summary sheet and one sheet of every change (continued
    on "All changes 2", ... beyond Excel's rows a sheet). Streamed (openpyxl write-only), so
    memory stays flat beyond the changes frame itself however long the list.

    A first load of its plants (nothing but additions) lists no rows: every one of them is
    simply in the material table (100,000 "added" lines would tell a reader nothing more).
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
    sheets = {"Summary": summary, "Changed fields": by_field, "All changes": changes.head(
        SHEET_ROWS)}
    for part, start in enumerate(range(SHEET_ROWS, changes.height, SHEET_ROWS), start=2):
        sheets[f"All changes {part}"] = changes.slice(start, SHEET_ROWS)
    return write_workbook(
        path, sheets, titles={"Summary": title},
        widths={"description": 40, "old_value": 30, "new_value": 30},
    )


def write_load_change_report(path: Path, load_id: int | None = None, *,
                             database: Path | None = None) -> tuple[int, Path]:
    """The change report of ``load_id`` (default: the latest MM60 load) written to ``path``;
    returns the load and the path. LookupError when there is no such MM60 load.

    The changes are read in a short read of their own and the workbook written after it:
    a large report takes seconds to write, and the warehouse is not held meanwhile."""
    with warehouse(database, read_only=True) as con:
        load_id, file_name = mm60_load(con, load_id)
        changes = material_changes(con, load_id)
    return load_id, write_change_report(changes, path, file_name=file_name, load_id=load_id)
