"""Reading the reconciliation: variance lines by filter, what a line was made of, the day's state.

``count_variance`` is written by ``reconcile.py``; these functions only read it (and the counts
and SAP lines behind it) for the dashboard's Overview and Variances pages and the CLI. The SAP
quantity of a line is never recomputed here: the stock lines shown for a line are the rows of
its ``sap_snapshot_date`` that ``reconcile`` summed, with the configured basis beside them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import duckdb
import polars as pl

from pipelines.counting.config import CountingConfig
from pipelines.counting.reconcile import basis_expression
from pipelines.warehouse.db import fetch


def _abc_key(column: str) -> str:
    """ABC indicator as a filter key: upper case, '-' for none (as accuracy.py groups it)."""
    return f"coalesce(nullif(upper(trim({column})), ''), '-')"


def find_variances(
    con: duckdb.DuckDBPyConnection,
    *,
    start: date | None = None,
    end: date | None = None,
    plants: Sequence[str] | None = None,
    abc: Sequence[str] | None = None,
    out_of_tolerance: bool = False,
    needs_recount: bool = False,
    material: str | None = None,
    limit: int | None = None,
) -> pl.DataFrame:
    """Variance lines (material × plant × count date) with description, biggest value first.

    ``plants``/``abc`` empty or None mean all ('-' selects lines without an ABC indicator);
    ``out_of_tolerance`` keeps lines judged out of tolerance (not those without a snapshot);
    ``needs_recount`` keeps lines flagged for a recount. ``abs_variance_value`` is added so
    a caller can sort by size without losing the sign.
    """
    return fetch(
        con,
        f"""SELECT v.count_date, v.material, v.plant, m.description,
                   {_abc_key('v.abc_indicator')} AS abc_indicator,
                   v.counted_qty, v.sap_qty, v.variance_qty, v.variance_pct, v.unit_price,
                   v.variance_value, abs(v.variance_value) AS abs_variance_value, v.currency,
                   v.tolerance_pct, v.within_tolerance, v.needs_recount, v.sap_snapshot_date,
                   v.count_lines, v.counters, v.movement_during_count, v.possibly_not_received,
                   m.base_uom
            FROM count_variance v LEFT JOIN material m USING (material, plant)
            WHERE v.count_date BETWEEN coalesce(CAST($start AS DATE), DATE '0001-01-01')
                                   AND coalesce(CAST($end AS DATE), DATE '9999-12-31')
              AND (len(CAST($plants AS VARCHAR[])) = 0 OR list_contains($plants, v.plant))
              AND (len(CAST($abc AS VARCHAR[])) = 0
                   OR list_contains($abc, {_abc_key('v.abc_indicator')}))
              AND (NOT CAST($out AS BOOLEAN) OR v.within_tolerance = FALSE)
              AND (NOT CAST($recount AS BOOLEAN) OR v.needs_recount)
              AND (CAST($material AS VARCHAR) IS NULL OR v.material = $material)
            ORDER BY abs(v.variance_value) DESC NULLS LAST, v.count_date DESC, v.plant,
                     v.material
            LIMIT coalesce(CAST($limit AS BIGINT), 9223372036854775807)""",
        {"start": start, "end": end, "plants": list(plants or []), "abc": list(abc or []),
         "out": out_of_tolerance, "recount": needs_recount, "material": material,
         "limit": limit},
    )


def variance_filter_options(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """What the filters can offer: plants, ABC classes and the date range of the lines."""
    row = fetch(
        con,
        f"""SELECT list_sort(list_distinct(list(plant))) AS plants,
                   list_sort(list_distinct(list({_abc_key('abc_indicator')}))) AS abc,
                   min(count_date) AS first_date, max(count_date) AS last_date
            FROM count_variance""",
    ).row(0, named=True)
    return {"plants": row["plants"] or [], "abc": row["abc"] or [],
            "first_date": row["first_date"], "last_date": row["last_date"]}


def counts_of_line(con: duckdb.DuckDBPyConnection, count_date: date, material: str,
                   plant: str) -> pl.DataFrame:
    """Every count entry of one variance line, voided ones too (they say what changed)."""
    return fetch(
        con,
        """SELECT count_id, counter, storage_location, location, quantity, quantity_expr,
                  notes, movement_during_count, possibly_not_received, entered_by, entered_at,
                  voided_at, voided_by, void_reason, replaces_count_id
           FROM physical_count
           WHERE count_date = ? AND material = ? AND plant = ?
           ORDER BY voided_at IS NOT NULL, entered_at, count_id""",
        [count_date, material, plant],
    )


def sap_lines_of(
    con: duckdb.DuckDBPyConnection,
    snapshot_date: date | None,
    material: str,
    plant: str,
    *,
    config: CountingConfig,
) -> pl.DataFrame:
    """The MB52 lines of ``snapshot_date`` a variance line was compared with; ``in_basis`` is
    what reconciliation summed from each (the configured stock basis)."""
    if snapshot_date is None:
        return pl.DataFrame()
    return fetch(
        con,
        f"""SELECT st.storage_location, st.batch, st.special_stock, st.unrestricted,
                   st.quality_inspection, st.restricted, st.blocked, st.returns,
                   st.in_transit, {basis_expression(config)} AS in_basis,
                   st.value_unrestricted, st.currency, st.load_id
            FROM sap_stock st
            WHERE st.snapshot_date = ? AND st.material = ? AND st.plant = ?
            ORDER BY st.storage_location, st.batch NULLS FIRST, st.special_stock NULLS FIRST""",
        [snapshot_date, material, plant],
    )


def open_recounts(con: duckdb.DuckDBPyConnection, *, today: date) -> pl.DataFrame:
    """Recount lines not yet counted, due today or overdue first, then the coming ones."""
    return fetch(
        con,
        """SELECT s.schedule_id, s.count_date, s.material, s.plant, m.description,
                  s.counter, s.source_count_date, v.variance_value, v.variance_pct,
                  v.currency, s.count_date < $today AS overdue
           FROM count_schedule s
           LEFT JOIN material m USING (material, plant)
           LEFT JOIN count_variance v
             ON v.count_date = s.source_count_date AND v.material = s.material
            AND v.plant = s.plant
           WHERE s.reason = 'recount' AND s.status = 'planned'
           ORDER BY s.count_date, abs(v.variance_value) DESC NULLS LAST, s.plant, s.material""",
        {"today": today},
    )


def day_progress(con: duckdb.DuckDBPyConnection, day: date) -> dict[str, Any]:
    """Counts done vs scheduled on ``day``, and what the day's out-of-tolerance lines are worth.

    ``scheduled`` counts schedule lines not cancelled; ``done`` those filled; ``counted``
    the material × plant lines with a counted quantity that day (scheduled or not).
    """
    return fetch(
        con,
        """SELECT
               (SELECT count(*) FROM count_schedule
                WHERE count_date = $day AND status <> 'cancelled') AS scheduled,
               (SELECT count(*) FROM count_schedule
                WHERE count_date = $day AND status = 'counted') AS done,
               (SELECT count(*) FROM count_variance WHERE count_date = $day) AS counted,
               (SELECT count(*) FROM count_variance
                WHERE count_date = $day AND within_tolerance = FALSE) AS out_of_tolerance,
               (SELECT coalesce(sum(abs(variance_value)), 0) FROM count_variance
                WHERE count_date = $day AND within_tolerance = FALSE) AS out_value""",
        {"day": day},
    ).row(0, named=True)


def out_of_tolerance_value(con: duckdb.DuckDBPyConnection, *, start: date | None = None,
                           end: date | None = None) -> pl.DataFrame:
    """Absolute and net value of the out-of-tolerance lines per currency, and their number."""
    return fetch(
        con,
        """SELECT coalesce(currency, '') AS currency, count(*) AS lines,
                  sum(abs(variance_value)) AS abs_value, sum(variance_value) AS net_value
           FROM count_variance
           WHERE within_tolerance = FALSE
             AND count_date BETWEEN coalesce(CAST($start AS DATE), DATE '0001-01-01')
                                AND coalesce(CAST($end AS DATE), DATE '9999-12-31')
           GROUP BY ALL ORDER BY abs_value DESC""",
        {"start": start, "end": end},
    )
