"""Accuracy metrics from ``count_variance`` and ``count_schedule``.

Inventory record accuracy (IRA) = lines within tolerance / lines counted, by day, ISO week
(Monday) or month, by plant and ABC indicator; a positive variance never nets against a
negative one. Lines without any SAP snapshot on or before their count date cannot be judged and
are reported apart (``lines_unreconciled``), outside the IRA. Beside it: counts done vs
scheduled (schedule lines not cancelled, and how many of them were filled), counts done without
a schedule line, and the total absolute and net variance value.
"""

from __future__ import annotations

from datetime import date

import duckdb
import polars as pl

from pipelines.warehouse.db import fetch

PERIODS = ("day", "week", "month")
GROUPINGS = ("plant", "abc_indicator")


def _period_sql(period: str | None, column: str) -> str:
    if period is None:
        return ""
    if period not in PERIODS:
        raise ValueError(f"period must be one of {', '.join(PERIODS)} or None, not {period!r}")
    return f"CAST(date_trunc('{period}', {column}) AS DATE) AS period_start, "


def _abc(column: str) -> str:
    """ABC indicator as a grouping key: upper case, '-' for none (so groups join)."""
    return f"coalesce(nullif(upper(trim({column})), ''), '-')"


def inventory_accuracy(
    con: duckdb.DuckDBPyConnection,
    *,
    period: str | None = "day",
    by: tuple[str, ...] | list[str] = GROUPINGS,
    start: date | None = None,
    end: date | None = None,
) -> pl.DataFrame:
    """Accuracy per period (``day``/``week``/``month``, or None for the whole range) × ``by``.

    ``by`` is any of ``plant`` and ``abc_indicator``. ``end`` defaults to today so that lines
    planned for the future do not show as missed. Columns: [period_start], [plant],
    [abc_indicator] ('-' for none), lines_counted, lines_within, lines_out,
    lines_unreconciled, ira_pct, abs_variance_value, net_variance_value, scheduled,
    scheduled_done, completion_pct, counted_unscheduled.
    """
    unknown = [b for b in by if b not in GROUPINGS]
    if unknown:
        raise ValueError(f"cannot group accuracy by {', '.join(unknown)}")
    end = end or date.today()
    keys = ["period_start"] if period else []
    keys += list(by)
    group = ", ".join(keys)
    v_cols = "".join(f"{'plant' if b == 'plant' else _abc('abc_indicator')} AS {b}, "
                     for b in by)
    s_cols = "".join(f"{'s.plant' if b == 'plant' else _abc('m.abc_indicator')} AS {b}, "
                     for b in by)
    join = f" FULL OUTER JOIN sched USING ({group})" if keys else " CROSS JOIN sched"
    order = f" ORDER BY {group}" if keys else ""
    sql = f"""
WITH lines AS (
    SELECT v.*,
           NOT EXISTS (SELECT 1 FROM count_schedule s
                       WHERE s.count_date = v.count_date AND s.material = v.material
                         AND s.plant = v.plant AND s.status <> 'cancelled') AS unscheduled
    FROM count_variance v
    WHERE v.count_date BETWEEN coalesce(CAST($start AS DATE), DATE '0001-01-01') AND $end
),
variance AS (
    SELECT {_period_sql(period, 'count_date')}{v_cols}
           count(*) FILTER (WHERE within_tolerance IS NOT NULL) AS lines_counted,
           count(*) FILTER (WHERE within_tolerance) AS lines_within,
           count(*) FILTER (WHERE NOT within_tolerance) AS lines_out,
           count(*) FILTER (WHERE within_tolerance IS NULL) AS lines_unreconciled,
           sum(abs(variance_value)) AS abs_variance_value,
           sum(variance_value) AS net_variance_value,
           count(*) FILTER (WHERE unscheduled) AS counted_unscheduled
    FROM lines {'GROUP BY ALL' if keys else ''}
),
sched AS (
    SELECT {_period_sql(period, 's.count_date')}{s_cols}
           count(*) AS scheduled,
           count(*) FILTER (WHERE s.status = 'counted') AS scheduled_done
    FROM count_schedule s LEFT JOIN material m USING (material, plant)
    WHERE s.status <> 'cancelled'
      AND s.count_date BETWEEN coalesce(CAST($start AS DATE), DATE '0001-01-01') AND $end
    {'GROUP BY ALL' if keys else ''}
)
SELECT {group + ',' if keys else ''}
       coalesce(lines_counted, 0) AS lines_counted,
       coalesce(lines_within, 0) AS lines_within,
       coalesce(lines_out, 0) AS lines_out,
       coalesce(lines_unreconciled, 0) AS lines_unreconciled,
       100.0 * lines_within / nullif(lines_counted, 0) AS ira_pct,
       coalesce(abs_variance_value, 0) AS abs_variance_value,
       coalesce(net_variance_value, 0) AS net_variance_value,
       coalesce(scheduled, 0) AS scheduled,
       coalesce(scheduled_done, 0) AS scheduled_done,
       100.0 * scheduled_done / nullif(scheduled, 0) AS completion_pct,
       coalesce(counted_unscheduled, 0) AS counted_unscheduled
FROM variance{join}{order}"""
    frame = fetch(con, sql, {"start": start, "end": end})
    if keys:
        frame = frame.filter(
            (pl.col("lines_counted") + pl.col("lines_unreconciled") + pl.col("scheduled")) > 0
        )
    return frame


def accuracy_totals(
    con: duckdb.DuckDBPyConnection,
    *,
    start: date | None = None,
    end: date | None = None,
) -> dict:
    """One dict of the whole range: lines, IRA, values, counts done vs scheduled."""
    return inventory_accuracy(con, period=None, by=(), start=start, end=end).row(0, named=True)
