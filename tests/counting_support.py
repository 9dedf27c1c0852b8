"""Helpers the counting tests share (no tests here): rows written straight into the tables."""

from __future__ import annotations

from datetime import date, datetime

import duckdb

from pipelines.warehouse.db import fetch

MON = date(2026, 11, 2)  # a Monday
TUE, WED, THU, FRI = (date(2026, 11, d) for d in (3, 4, 5, 6))
NEXT_MON = date(2026, 11, 9)
AT = datetime(2026, 11, 3, 9, 30)  # when tests say the counts were typed


def add_material(con: duckdb.DuckDBPyConnection, material: str, plant: str = "1000", *,
                 abc: str | None = "A", price: float | None = 10.0, price_unit: float = 1.0,
                 description: str | None = None, active: bool = True,
                 base_uom: str = "EA") -> None:
    con.execute(
        """INSERT INTO material (material, plant, description, base_uom, abc_indicator, price,
                                 price_unit, currency, is_active, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, 'EUR', ?, ?)""",
        [material, plant, description or f"Part {material}", base_uom, abc, price, price_unit,
         active, datetime(2026, 10, 1)],
    )


def add_stock(con: duckdb.DuckDBPyConnection, snapshot_date: date, material: str,
              plant: str = "1000", *, sloc: str | None = "0001", batch: str | None = None,
              special: str | None = None, unrestricted: float = 0.0, quality: float = 0.0,
              restricted: float = 0.0, blocked: float = 0.0, returns: float = 0.0,
              transit: float = 0.0) -> None:
    con.execute(
        """INSERT INTO sap_stock (snapshot_date, material, plant, storage_location, batch,
                                  special_stock, unrestricted, quality_inspection, restricted,
                                  blocked, returns, in_transit, load_id)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)""",
        [snapshot_date, material, plant, sloc, batch, special, unrestricted, quality,
         restricted, blocked, returns, transit],
    )


def variance_row(con: duckdb.DuckDBPyConnection, count_date: date, material: str,
                 plant: str = "1000") -> dict | None:
    rows = fetch(con, "SELECT * FROM count_variance WHERE count_date = ? AND material = ? "
                      "AND plant = ?", [count_date, material, plant])
    return rows.row(0, named=True) if rows.height else None


def schedule_rows(con: duckdb.DuckDBPyConnection, where: str = "TRUE",
                  params: list | None = None) -> list[dict]:
    return fetch(con, f"SELECT * FROM count_schedule WHERE {where} ORDER BY count_date, "
                      "schedule_id", params).to_dicts()
