"""The count summary of one day: what was scheduled, what was counted, and how well it matched.

One line per material × plant that was scheduled (lines not cancelled) or has a count entry
that day, with its status:

- ``scheduled and counted`` — a schedule line that a counted quantity filled (a request may be
  filled by a count on another day; ``counted_on`` says which);
- ``scheduled, not counted`` — still open (``seen_only`` when a location was recorded but no
  quantity);
- ``counted, not scheduled`` — counted without being asked;
- ``seen, not counted`` — only "location seen" entries, nothing scheduled;

and the reconciliation of that day (counted and SAP quantity, variance, tolerance, recount).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import duckdb
import polars as pl

from pipelines.warehouse.db import fetch

STATUSES = (
    "scheduled and counted", "scheduled, not counted", "counted, not scheduled",
    "seen, not counted",
)


def count_summary(
    con: duckdb.DuckDBPyConnection,
    count_date: date,
    *,
    plant: str | None = None,
) -> pl.DataFrame:
    """The manager's daily report for ``count_date`` (optionally one plant)."""
    return fetch(
        con,
        """
WITH sched AS (
    SELECT material, plant,
           string_agg(DISTINCT reason, ', ' ORDER BY reason) AS reasons,
           string_agg(DISTINCT counter, ', ' ORDER BY counter) AS scheduled_counters,
           string_agg(DISTINCT requested_by, ', ' ORDER BY requested_by) AS requested_by,
           min(priority) AS priority,
           bool_or(status = 'counted') AS filled,
           max(counted_on) AS counted_on
    FROM count_schedule
    WHERE count_date = $day AND status <> 'cancelled'
    GROUP BY material, plant
),
counts AS (
    SELECT material, plant,
           count(*) FILTER (WHERE quantity IS NOT NULL) AS counted_lines,
           count(*) FILTER (WHERE quantity IS NULL) AS seen_lines,
           string_agg(DISTINCT counter, ', ' ORDER BY counter) AS counters,
           string_agg(DISTINCT coalesce(storage_location || '/', '') || location, ', '
                      ORDER BY coalesce(storage_location || '/', '') || location)
               AS locations
    FROM physical_count
    WHERE count_date = $day AND voided_at IS NULL
    GROUP BY material, plant
),
keys AS (SELECT material, plant FROM sched UNION SELECT material, plant FROM counts)
SELECT k.material, k.plant, m.description, m.abc_indicator,
       CASE WHEN s.material IS NOT NULL
                 AND (coalesce(c.counted_lines, 0) > 0 OR s.filled)
                THEN 'scheduled and counted'
            WHEN s.material IS NOT NULL THEN 'scheduled, not counted'
            WHEN c.counted_lines > 0 THEN 'counted, not scheduled'
            ELSE 'seen, not counted' END AS status,
       s.material IS NOT NULL AS scheduled,
       coalesce(c.counted_lines, 0) > 0 AS counted,
       coalesce(c.counted_lines, 0) = 0 AND coalesce(c.seen_lines, 0) > 0 AS seen_only,
       s.reasons, s.priority, s.scheduled_counters, s.requested_by,
       CASE WHEN c.counted_lines > 0 THEN $day ELSE s.counted_on END AS counted_on,
       c.counters, c.locations,
       coalesce(c.counted_lines, 0) AS count_lines,
       v.counted_qty, v.sap_snapshot_date, v.sap_qty, v.variance_qty, v.variance_pct,
       v.unit_price, v.variance_value, v.currency, v.tolerance_pct, v.within_tolerance,
       v.needs_recount, v.movement_during_count, v.possibly_not_received
FROM keys k
LEFT JOIN sched s USING (material, plant)
LEFT JOIN counts c USING (material, plant)
LEFT JOIN material m USING (material, plant)
LEFT JOIN count_variance v
  ON v.count_date = $day AND v.material = k.material AND v.plant = k.plant
WHERE CAST($plant AS VARCHAR) IS NULL OR k.plant = $plant
ORDER BY CASE status WHEN 'scheduled, not counted' THEN 0
                     WHEN 'scheduled and counted' THEN 1
                     WHEN 'counted, not scheduled' THEN 2 ELSE 3 END,
         v.needs_recount DESC NULLS LAST, abs(v.variance_value) DESC NULLS LAST,
         k.plant, k.material""",
        {"day": count_date, "plant": plant},
    )


def summary_totals(summary: pl.DataFrame) -> dict[str, Any]:
    """Headline numbers of a count summary: lines by status, IRA, variance values."""
    judged = summary.filter(pl.col("within_tolerance").is_not_null())
    within = judged.filter(pl.col("within_tolerance")).height
    totals: dict[str, Any] = {status: summary.filter(pl.col("status") == status).height
                              for status in STATUSES}
    totals.update(
        scheduled=summary.filter(pl.col("scheduled")).height,
        counted=summary.filter(pl.col("counted")).height,
        lines_judged=judged.height,
        lines_within=within,
        ira_pct=100.0 * within / judged.height if judged.height else None,
        needs_recount=summary.filter(pl.col("needs_recount").fill_null(False)).height,
        abs_variance_value=float(summary["variance_value"].abs().sum() or 0.0),
        net_variance_value=float(summary["variance_value"].sum() or 0.0),
    )
    return totals
