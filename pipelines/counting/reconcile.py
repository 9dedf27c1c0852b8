"""Reconciliation: counts against SAP, into ``count_variance`` (the rules of DESIGN.md).

One line per material × plant × count date that has at least one non-voided counted quantity
(entries that only say "location seen, not counted" make no line on their own):

- ``counted_qty`` = sum of the non-voided counted quantities of that material × plant × date
  (several counters in several locations add up);
- ``sap_qty`` = the stock basis (default unrestricted + quality inspection + restricted +
  blocked + returns, never in transit) summed over storage locations, batches and special
  stock, from the plant's latest snapshot on or before the count date; a material missing from
  that snapshot has ``sap_qty`` 0; with no snapshot at all on or before the date, ``sap_qty``
  and everything derived from it is null (the line cannot be judged yet);
- ``variance_qty = counted_qty - sap_qty``; ``variance_pct = 100 * variance_qty / abs(sap_qty)``
  (null when ``sap_qty`` is 0); ``variance_value = variance_qty * price / price_unit``;
- within tolerance when ``abs(variance_pct) <= tolerance_pct`` (by ABC indicator) or when both
  quantities are 0; ``needs_recount`` = out of tolerance.

The SQL of the SAP quantity and of the variance lives here and nowhere else; the worksheets
and the summary read SAP quantities through ``sap_quantities``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date

import duckdb
import polars as pl

from pipelines.counting.config import CountingConfig
from pipelines.counting.frames import registered
from pipelines.sap.headers import STOCK_FIELDS
from pipelines.warehouse.db import fetch

# Quantities are rounded before comparing so that float noise (0.1 + 0.2) never decides a line.
QTY_DECIMALS = 6
PCT_EPSILON = 1e-9

VARIANCE_COLUMNS = (
    "count_date", "material", "plant", "counted_qty", "sap_snapshot_date", "sap_qty",
    "variance_qty", "variance_pct", "unit_price", "variance_value", "tolerance_pct",
    "within_tolerance", "needs_recount", "abc_indicator", "currency", "count_lines", "counters",
    "movement_during_count", "possibly_not_received", "stock_basis",
)


@dataclass(frozen=True)
class ReconcileResult:
    lines: int
    out_of_tolerance: int
    unreconciled: int  # lines without any snapshot on or before their count date
    seconds: float  # wall time of the DuckDB statements


def basis_expression(config: CountingConfig, alias: str = "st") -> str:
    """SQL sum of the configured stock columns (names checked against a fixed list)."""
    columns = [c for c in config.stock_basis if c in STOCK_FIELDS]
    if not columns:
        raise ValueError("the stock basis names no MB52 stock column")
    return " + ".join(f"coalesce({alias}.{c}, 0)" for c in columns)


def _scope_sql(count_dates: Iterable[date] | None, since: date | None,
               column: str = "count_date", keys: str | None = None,
               key: tuple[date, str, str] | None = None) -> tuple[str, dict]:
    clauses, params = [], {}
    if key is not None:
        # One key as bound values, not a join: the scans of the tables then skip by their
        # zone maps instead of reading every row (this runs on every saved count).
        clauses.append(f"{column} = $key_date AND material = $key_material "
                       "AND plant = $key_plant")
        params.update(key_date=key[0], key_material=key[1], key_plant=key[2])
    if keys is not None:
        clauses.append(f"({column}, material, plant) IN "
                       f"(SELECT count_date, material, plant FROM {keys})")
    if count_dates is not None:
        clauses.append(f"{column} IN (SELECT unnest(CAST($scope_dates AS DATE[])))")
        params["scope_dates"] = sorted(set(count_dates))
    if since is not None:
        clauses.append(f"{column} >= $scope_since")
        params["scope_since"] = since
    return "".join(f" AND {c}" for c in clauses), params


def _sap_ctes(config: CountingConfig, keys: str, *, by_storage_location: bool = False,
              one_key: bool = False) -> str:
    """CTEs ``matched`` (the rows of ``keys`` with their ``sap_snapshot_date``) and ``stock``
    (the stock basis per snapshot date × material × plant [× storage location]).

    ``keys`` names a relation with count_date, material and plant: the SAP quantity of a
    key is ``stock.sap_qty`` of its snapshot, 0 when the snapshot has no line of it, and null
    without a snapshot of the plant on or before the date.
    """
    basis = basis_expression(config)
    location = ", st.storage_location" if by_storage_location else ""
    # With one key (bound as $key_material / $key_plant) the stock scans filter on it directly.
    plant_only = "AND plant = $key_plant" if one_key else ""
    stock_only = "WHERE st.material = $key_material AND st.plant = $key_plant" if one_key else ""
    return f"""
snapshots AS (
    SELECT DISTINCT plant, snapshot_date FROM sap_stock
    WHERE plant IN (SELECT DISTINCT plant FROM {keys})
      AND snapshot_date <= (SELECT max(count_date) FROM {keys}) {plant_only}
),
matched AS (
    SELECT k.*, s.snapshot_date AS sap_snapshot_date
    FROM {keys} k ASOF LEFT JOIN snapshots s
      ON k.plant = s.plant AND k.count_date >= s.snapshot_date
),
wanted AS (
    SELECT DISTINCT sap_snapshot_date, material, plant FROM matched
    WHERE sap_snapshot_date IS NOT NULL
),
stock AS (
    SELECT st.snapshot_date, st.material, st.plant{location},
           round(sum({basis}), {QTY_DECIMALS}) AS sap_qty
    FROM sap_stock st SEMI JOIN wanted w
      ON st.snapshot_date = w.sap_snapshot_date AND st.material = w.material
         AND st.plant = w.plant
    {stock_only}
    GROUP BY ALL
)"""


def _variance_sql(config: CountingConfig, scope: str, one_key: bool = False) -> str:
    return f"""
WITH counted AS (
    SELECT count_date, material, plant,
           round(sum(quantity), {QTY_DECIMALS}) AS counted_qty,
           CAST(count(*) AS INTEGER) AS count_lines,
           nullif(array_to_string(list_sort(list_distinct(list(counter))), ', '), '')
               AS counters,
           bool_or(movement_during_count) AS movement_during_count,
           bool_or(possibly_not_received) AS possibly_not_received
    FROM physical_count
    WHERE voided_at IS NULL AND quantity IS NOT NULL {scope}
    GROUP BY count_date, material, plant
),{_sap_ctes(config, "counted", one_key=one_key)},
lines AS (
    SELECT m.*,
           CASE WHEN m.sap_snapshot_date IS NOT NULL THEN coalesce(s.sap_qty, 0) END AS sap_qty,
           upper(trim(mat.abc_indicator)) AS abc,
           mat.abc_indicator, mat.currency,
           mat.price / coalesce(nullif(mat.price_unit, 0), 1) AS unit_price
    FROM matched m
    LEFT JOIN stock s
      ON s.snapshot_date = m.sap_snapshot_date AND s.material = m.material
         AND s.plant = m.plant
    LEFT JOIN material mat ON mat.material = m.material AND mat.plant = m.plant
),
judged AS (
    SELECT *,
           round(counted_qty - sap_qty, {QTY_DECIMALS}) AS variance_qty,
           CASE abc WHEN 'A' THEN $tol_a WHEN 'B' THEN $tol_b WHEN 'C' THEN $tol_c
                    ELSE $tol_other END AS tolerance_pct
    FROM lines
)
SELECT count_date, material, plant, counted_qty, sap_snapshot_date, sap_qty, variance_qty,
       CASE WHEN sap_qty <> 0 THEN 100 * variance_qty / abs(sap_qty) END AS variance_pct,
       unit_price,
       variance_qty * unit_price AS variance_value,
       tolerance_pct,
       CASE WHEN sap_qty IS NULL THEN NULL
            WHEN sap_qty = 0 THEN counted_qty = 0
            ELSE abs(100 * variance_qty / abs(sap_qty)) <= tolerance_pct + {PCT_EPSILON}
       END AS within_tolerance,
       CASE WHEN sap_qty IS NULL THEN FALSE
            WHEN sap_qty = 0 THEN counted_qty <> 0
            ELSE abs(100 * variance_qty / abs(sap_qty)) > tolerance_pct + {PCT_EPSILON}
       END AS needs_recount,
       abc_indicator, currency, count_lines, counters, movement_during_count,
       possibly_not_received, $stock_basis AS stock_basis
FROM judged"""


def _params(config: CountingConfig) -> dict:
    return {
        "tol_a": config.tolerance_for("A"), "tol_b": config.tolerance_for("B"),
        "tol_c": config.tolerance_for("C"), "tol_other": config.tolerance_other_pct,
        "stock_basis": config.stock_basis_name,
    }


@contextmanager
def _keys_view(con: duckdb.DuckDBPyConnection,
               keys: pl.DataFrame | None) -> Iterator[str | None]:
    if keys is None:
        yield None
        return
    frame = keys.select(pl.col("count_date").cast(pl.Date), pl.col("material").cast(pl.String),
                        pl.col("plant").cast(pl.String)).unique()
    with registered(con, frame, "keys") as name:
        yield name


def variance_lines(
    con: duckdb.DuckDBPyConnection,
    *,
    count_dates: Iterable[date] | None = None,
    since: date | None = None,
    config: CountingConfig,
) -> pl.DataFrame:
    """The variance lines as they would be written, without writing them."""
    scope, params = _scope_sql(count_dates, since)
    return fetch(con, _variance_sql(config, scope) + " ORDER BY count_date, plant, material",
                 {**_params(config), **params})


def reconcile(
    con: duckdb.DuckDBPyConnection,
    *,
    count_dates: Iterable[date] | None = None,
    since: date | None = None,
    keys: pl.DataFrame | None = None,
    config: CountingConfig,
) -> ReconcileResult:
    """Recompute ``count_variance`` inside the caller's transaction.

    Without a scope every line is recomputed (after a snapshot or price change); with
    ``count_dates`` and/or ``since`` only the lines of those count dates are; with ``keys``
    (count_date, material, plant) only those lines (after counts change: a save rewrites the
    one line it touches, which keeps its transaction short). Lines whose counts were all
    voided disappear.
    """
    if count_dates is not None:
        count_dates = list(count_dates)
        if not count_dates:
            return ReconcileResult(0, 0, 0, 0.0)
    if keys is not None and keys.is_empty():
        return ReconcileResult(0, 0, 0, 0.0)
    if keys is not None:
        unique = keys.select("count_date", "material", "plant").unique()
        if unique.height == 1 and not unique.null_count().sum_horizontal().item():
            return _reconcile(con, count_dates, since, None, config, key=unique.row(0))
    with _keys_view(con, keys) as name:
        return _reconcile(con, count_dates, since, name, config)


def _reconcile(con: duckdb.DuckDBPyConnection, count_dates: list[date] | None,
               since: date | None, keys: str | None,
               config: CountingConfig, key: tuple[date, str, str] | None = None,
               ) -> ReconcileResult:
    scope, params = _scope_sql(count_dates, since, keys=keys, key=key)
    started = time.perf_counter()
    con.execute(f"DELETE FROM count_variance WHERE TRUE {scope}", params)
    con.execute(
        f"INSERT INTO count_variance ({', '.join(VARIANCE_COLUMNS)}) "
        + _variance_sql(config, scope, one_key=key is not None),
        {**_params(config), **params},
    )
    # A plain tuple, not a frame: this runs on every saved count.
    lines, out_of_tolerance, unreconciled = con.execute(
        f"""SELECT count(*) AS lines,
                   count(*) FILTER (WHERE needs_recount) AS out_of_tolerance,
                   count(*) FILTER (WHERE sap_qty IS NULL) AS unreconciled
            FROM count_variance WHERE TRUE {scope}""",
        params,
    ).fetchall()[0]
    return ReconcileResult(lines, out_of_tolerance, unreconciled,
                           time.perf_counter() - started)


def sap_quantities(
    con: duckdb.DuckDBPyConnection,
    keys: pl.DataFrame,
    *,
    by_storage_location: bool = False,
    config: CountingConfig,
) -> pl.DataFrame:
    """SAP quantities for ``keys`` (count_date, material, plant), as reconciliation sees them.

    Returns count_date, material, plant, sap_snapshot_date, sap_qty, and with
    ``by_storage_location`` one row per storage location holding stock lines in that snapshot
    (storage_location added; materials without lines get one row with a null location).
    """
    wanted = keys.select(
        pl.col("count_date").cast(pl.Date), pl.col("material").cast(pl.String),
        pl.col("plant").cast(pl.String),
    ).unique()
    location = ", s.storage_location" if by_storage_location else ""
    with registered(con, wanted, "keys") as name:
        return fetch(
            con,
            f"""
WITH keyed AS (SELECT * FROM {name}),{_sap_ctes(config, "keyed",
                                               by_storage_location=by_storage_location)}
SELECT m.count_date, m.material, m.plant, m.sap_snapshot_date{location},
       CASE WHEN m.sap_snapshot_date IS NOT NULL THEN coalesce(s.sap_qty, 0) END AS sap_qty
FROM matched m LEFT JOIN stock s
  ON s.snapshot_date = m.sap_snapshot_date AND s.material = m.material AND s.plant = m.plant
ORDER BY ALL""",
        )
