"""Overview: the manager's morning - accuracy, today's counting, recounts, data freshness,
recent loads."""

from datetime import date, timedelta

import altair as alt
import polars as pl
import streamlit as st

from formatting import main_and_other_currencies, number, percent
from warehouse_data import (
    accuracy,
    accuracy_totals,
    day_progress,
    freshness,
    open_recounts,
    out_of_tolerance_value,
    problem_runs,
    recent_loads,
    stock_value_by_plant,
    warehouse_totals,
)

TREND_WEEKS = 13
SPLITS = {"All": (), "Plant": ("plant",), "ABC class": ("abc_indicator",)}

today = date.today()
monday = today - timedelta(days=today.weekday())

st.title("Warehouse overview")
totals = warehouse_totals()
if not totals["active_materials"] and not totals["snapshot_lines"]:
    st.info("The warehouse is empty. Drop SAP exports into the drop folder, run "
            "`wics load FILE`, or `wics demo` for demo data.")

# --- the morning's figures -------------------------------------------------------------
day = accuracy_totals(today, today)
week = accuracy_totals(monday, today)
progress = day_progress(today)
recounts = open_recounts(today)
out_value = out_of_tolerance_value(monday, today)

ira_today, ira_week, counted_today, recount_box, value_box = st.columns(5)
ira_today.metric("Accuracy today", percent(day["ira_pct"]),
                 help=f"{day['lines_within']:,} of {day['lines_counted']:,} lines counted today "
                 "within tolerance (inventory record accuracy)")
ira_week.metric("Accuracy this week", percent(week["ira_pct"]),
                help=f"{week['lines_within']:,} of {week['lines_counted']:,} lines since "
                f"{monday:%a %d %b} within tolerance")
counted_today.metric("Counts today", f"{progress['done']:,} of {progress['scheduled']:,}",
                     help=f"scheduled lines counted; {progress['counted']:,} material × plant "
                     "lines counted today in all, scheduled or not")
overdue = recounts.filter(pl.col("overdue")).height if recounts.height else 0
recount_box.metric("Open recounts", f"{recounts.height:,}",
                   help=f"{overdue:,} of them overdue" if overdue else "none overdue")
main_value, other_values = main_and_other_currencies(
    out_value.select("currency", "abs_value").iter_rows())
value_box.metric("Out of tolerance this week", main_value,
                 help=f"absolute variance value of {int(out_value['lines'].sum() or 0):,} "
                 "lines out of tolerance since Monday"
                 + (f"; also {other_values}" if other_values else ""))

# --- freshness of the SAP data -----------------------------------------------------------
fresh = freshness(today)
stock_box, master_box = st.columns(2)
for box, kind, label in ((stock_box, "mb52", "MB52 stock"), (master_box, "mm60",
                                                                 "MM60 material list")):
    outcome = fresh[kind]
    with box.container(border=True):
        if outcome["passed"]:
            st.markdown(f":green[:material/check_circle: **{label}** is fresh] — "
                        f"{outcome['message']}")
        else:
            st.markdown(f":red[:material/error: **{label} is stale** — {outcome['message']}]")

# --- accuracy trend ------------------------------------------------------------------------
st.subheader("Inventory record accuracy by week")
split = st.segmented_control("Split by", list(SPLITS), default="All", key="trend_split")
by = SPLITS[split or "All"]
trend = accuracy("week", by, monday - timedelta(weeks=TREND_WEEKS - 1), today).filter(
    pl.col("lines_counted") > 0)
if trend.is_empty():
    st.caption("No counted lines in the last weeks yet.")
else:
    series = by[0] if by else None
    chart = alt.Chart(trend.with_columns(
        (pl.col("ira_pct").round(1)).alias("IRA %"),
        pl.col("period_start").alias("week"),
    )).mark_line(point=True).encode(
        x=alt.X("week:T", title="week starting", axis=alt.Axis(format="%d %b")),
        y=alt.Y("IRA %:Q", scale=alt.Scale(zero=False), title="accuracy %"),
        tooltip=["week:T", "IRA %:Q", "lines_within:Q", "lines_counted:Q",
                 *([f"{series}:N"] if series else [])],
        **({"color": alt.Color(f"{series}:N", title=split)} if series else {}),
    ).properties(height=300)
    st.altair_chart(chart, width="stretch")

# --- recounts and loads ----------------------------------------------------------------------
left, right = st.columns(2)
with left:
    st.subheader("Open recounts")
    if recounts.is_empty():
        st.caption("No recount is waiting.")
    else:
        st.dataframe(
            recounts.select("count_date", "material", "plant", "counter", "source_count_date",
                            pl.col("variance_value").round(2), "currency"),
            hide_index=True, width="stretch",
            column_config={
                "count_date": st.column_config.DateColumn("Planned", format="YYYY-MM-DD"),
                "material": "Material", "plant": "Plant", "counter": "Counter",
                "source_count_date": st.column_config.DateColumn("Out on", format="YYYY-MM-DD"),
                "variance_value": st.column_config.NumberColumn("Variance value",
                                                                format="localized"),
                "currency": "Curr.",
            },
        )

with right:
    st.subheader("Recent loads")
    loads = recent_loads(8)
    if loads.is_empty():
        st.caption("No file has been loaded yet.")
    else:
        st.dataframe(
            loads.select("file_name", "status", "rows_loaded", "finished_at",
                         pl.col("error").fill_null("")),
            hide_index=True, width="stretch",
            column_config={
                "file_name": "File", "status": "Status",
                "rows_loaded": st.column_config.NumberColumn("Rows", format="localized"),
                "finished_at": st.column_config.DatetimeColumn("Finished",
                                                               format="DD MMM HH:mm"),
                "error": st.column_config.TextColumn("Why rejected", width="medium"),
            },
        )
    problems = problem_runs()
    if problems is None:
        st.caption("Dagster run history is not available here (no DAGSTER_HOME instance).")
    elif problems:
        runs = f"{len(problems)} load run" + ("s" if len(problems) != 1 else "")
        st.markdown(f":red[:material/error: **{runs} failed or had a failed check**]")
        for run in problems[:5]:
            what = ("checks failed: " + "; ".join(run.failed_checks) if run.failed_checks
                    else "the run failed")
            when = f"{run.started_at:%d %b %H:%M}" if run.started_at else ""
            st.markdown(f"- {when} [{run.job_name} {run.run_id[:8]}]({run.url}) — {what}")
    else:
        st.caption(":green[:material/check_circle:] No failed load run or check in Dagster.")

st.subheader("Stock value, latest snapshot")
st.caption(f"{number(totals['active_materials'])} active materials in "
           f"{totals['plants']} plants; latest MB52 snapshot "
           f"{totals['latest_snapshot'] or 'none'} with {number(totals['snapshot_lines'])} lines")
st.dataframe(stock_value_by_plant(), hide_index=True, width="stretch",
             column_config={
                 "plant": "Plant", "currency": "Curr.",
                 "value_unrestricted": st.column_config.NumberColumn(
                     "Value unrestricted", format="localized"),
                 "lines": st.column_config.NumberColumn("Lines", format="localized")})
