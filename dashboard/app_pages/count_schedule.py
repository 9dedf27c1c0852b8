"""Count schedule: what is planned by day, plant and counter; the plan, its changes, the
day's summary and the worksheets to print. Viewers read; managers change."""

from dataclasses import replace
from datetime import date, timedelta

import altair as alt
import polars as pl
import streamlit as st
from counting_data import (
    counter_names,
    day_summary,
    lines_between,
    page_settings,
    plant_list,
    worksheet_files,
    write,
    write_upload,
)

from pipelines.access import Action
from pipelines.counting.planning import lines_per_day_and_counter, move_scheduled
from pipelines.counting.schedule import (
    add_to_schedule,
    cancel_scheduled,
    generate_schedule,
    request_count,
)
from pipelines.counting.schedule_sheet import schedule_from_sheet
from pipelines.counting.summary import STATUSES, summary_totals

from auth import current_user

ALL = "All"
LINE_COLUMNS = {
    "schedule_id": st.column_config.NumberColumn("Line", format="%d", width="small"),
    "count_date": st.column_config.DateColumn("Date", format="ddd YYYY-MM-DD"),
    "counter": "Counter", "plant": "Plant", "material": "Material",
    "description": st.column_config.TextColumn("Description", width="medium"),
    "abc_indicator": st.column_config.TextColumn("ABC", width="small"),
    "storage_location": "SLoc", "reason": "Reason", "status": "Status",
    "counted_on": "Counted on",
    "requested_by": "Requested by",
    "request_note": st.column_config.TextColumn("Note", width="large"),
}


def flash(message: str) -> None:
    """A confirmation that survives the rerun a write triggers."""
    st.session_state["schedule_flash"] = message


def line_label(line: dict) -> str:
    return (f"{line['count_date']:%a %d %b} · {line['material']} "
            f"{(line['description'] or '')[:30]} · {line['plant']} · "
            f"{line['counter'] or 'unassigned'} · {line['reason']} (line {line['schedule_id']})")


st.title("Count schedule")
user = current_user()
if user is None:
    st.info("Sign in to see the count schedule.")
    st.stop()
settings = page_settings()
if settings is None:
    st.stop()
config = settings.counting
may_change = user.may(Action.CHANGE_SCHEDULE)
if message := st.session_state.pop("schedule_flash", None):
    st.success(message)

if go_to := st.session_state.pop("schedule_go_to", None):
    st.session_state["schedule_day"] = go_to  # show the first planned day after generating

# Filters: one day, its plant and counter; the calendar shows the week or month around it.
pick_day, pick_plant, pick_counter = st.columns(3)
day = pick_day.date_input("Date", value=date.today(), key="schedule_day", format="YYYY-MM-DD")
plant = pick_plant.selectbox("Plant", [ALL, *plant_list()], key="schedule_plant")
plant = None if plant == ALL else plant
team = counter_names(day - timedelta(days=31), day + timedelta(days=62))
counter = pick_counter.selectbox("Counter", [ALL, *team], key="schedule_counter")
counter = None if counter == ALL else counter

lines = lines_between(day, day, plant, counter)
planned = lines.filter(pl.col("status") == "planned").height
counted = lines.filter(pl.col("status") == "counted").height
first, second, third, fourth = st.columns(4)
first.metric("Lines on the day", f"{lines.height:,}")
second.metric("Counted", f"{counted:,}")
third.metric("Still open", f"{planned:,}")
fourth.metric("Recounts", f"{lines.filter(pl.col('reason') == 'recount').height:,}")

tab_names = ["Day", "Week / month", "Daily summary", "Worksheets"]
if may_change:
    tab_names.append("Change the schedule")
tabs = st.tabs(tab_names)

with tabs[0]:
    if lines.is_empty():
        st.info(f"Nothing is scheduled on {day:%A %d %B %Y}"
                + (" for this plant or counter." if plant or counter else ".")
                + (" Generate the plan under 'Change the schedule'." if may_change else ""))
    else:
        reasons = st.multiselect("Reason", ["cycle", "recount", "request", "manual"],
                                 key="schedule_reasons", placeholder="All reasons")
        shown = lines.filter(pl.col("reason").is_in(reasons)) if reasons else lines
        # One day: no date column; empty cells say what they mean instead of "None".
        st.dataframe(
            shown.drop("count_date", "created_by", "created_at", "priority").with_columns(
                pl.col("storage_location").fill_null("all"),
                pl.col("counted_on").dt.strftime("%Y-%m-%d").fill_null(""),
                pl.col("counter").fill_null("unassigned"),
                pl.col("requested_by", "request_note", "description").fill_null("")),
            hide_index=True, width="stretch", column_config=LINE_COLUMNS)
        st.caption(f"{shown.height:,} lines. Count entry shows each counter their own list.")

with tabs[1]:
    span = st.segmented_control("Period", ["Week", "Month"], default="Week",
                                key="schedule_span") or "Week"
    if span == "Week":
        start = day - timedelta(days=day.weekday())
        end = start + timedelta(days=6)
    else:
        start = day.replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    period = lines_between(start, end, plant, counter)
    calendar = lines_per_day_and_counter(period)
    st.caption(f"Lines per day and counter, {start:%d %b} – {end:%d %b %Y} "
               "(cancelled lines left out).")
    if calendar.is_empty():
        st.info("Nothing is scheduled in this period.")
    else:
        st.dataframe(calendar, hide_index=True, width="stretch", column_config={
            "count_date": st.column_config.DateColumn("Date", format="YYYY-MM-DD"),
            "day": "Day", "total": "Total", "counted": "Counted"})
        # Days as labels (not a time axis): one bar per working day, stacked by counter.
        per_day = period.filter(pl.col("status") != "cancelled").with_columns(
            pl.col("counter").fill_null("(unassigned)"),
            pl.col("count_date").dt.strftime("%m-%d %a").alias("day"),
        ).group_by("day", "counter").len().sort("day")
        st.altair_chart(alt.Chart(per_day).mark_bar().encode(
            x=alt.X("day:N", title="Day", axis=alt.Axis(labelAngle=0)),
            y=alt.Y("len:Q", title="Lines"),
            color=alt.Color("counter:N", title="Counter"),
            tooltip=[alt.Tooltip("day:N", title="Day"), alt.Tooltip("counter:N", title="Counter"),
                     alt.Tooltip("len:Q", title="Lines")],
        ).properties(height=260), width="stretch")

with tabs[2]:
    summary = day_summary(day, plant)
    totals = summary_totals(summary)
    a, b, c, d = st.columns(4)
    a.metric("Scheduled and counted", f"{totals['scheduled and counted']:,}")
    b.metric("Scheduled, not counted", f"{totals['scheduled, not counted']:,}")
    c.metric("Counted, not scheduled", f"{totals['counted, not scheduled']:,}")
    d.metric("Accuracy of the day",
             "–" if totals["ira_pct"] is None else f"{totals['ira_pct']:.1f} %",
             help="lines within tolerance / lines counted and reconciled")
    statuses = st.multiselect("Status", list(STATUSES), key="summary_status",
                              placeholder="All statuses")
    shown = summary.filter(pl.col("status").is_in(statuses)) if statuses else summary
    if shown.is_empty():
        st.info(f"Nothing was scheduled or counted on {day:%d %B %Y}.")
    else:
        text = ["description", "abc_indicator", "reasons", "scheduled_counters", "counters",
                "locations", "currency"]
        st.dataframe(
            shown.select("status", "plant", "material", "description", "abc_indicator",
                         "reasons", "scheduled_counters", "counters", "locations",
                         "counted_qty", "sap_qty", "variance_qty", "variance_pct",
                         "variance_value", "currency", "needs_recount",
                         ).with_columns(pl.col(text).fill_null("")),
            hide_index=True, width="stretch",
            column_config={
                "status": "Status", "plant": "Plant", "material": "Material",
                "description": st.column_config.TextColumn("Description", width="medium"),
                "abc_indicator": st.column_config.TextColumn("ABC", width="small"),
                "reasons": "Reason", "locations": "Locations", "currency": "Curr.",
                "scheduled_counters": "Scheduled for", "counters": "Counted by",
                "counted_qty": st.column_config.NumberColumn("Counted", format="localized"),
                "sap_qty": st.column_config.NumberColumn("SAP", format="localized"),
                "variance_qty": st.column_config.NumberColumn("Variance", format="localized"),
                "variance_pct": st.column_config.NumberColumn("Variance %", format="%.1f"),
                "variance_value": st.column_config.NumberColumn("Value", format="%,.2f"),
                "needs_recount": "Recount",
            })

with tabs[3]:
    by_column, blind_column = st.columns(2)
    by = by_column.radio("One sheet per", ["counter", "location"], horizontal=True,
                         key="worksheet_by",
                         format_func=lambda v: "counter" if v == "counter"
                         else "storage location")
    blind = not blind_column.toggle("Show SAP quantities", value=False, key="worksheet_sap",
                                    help="Worksheets are blind by default: counters count "
                                         "what is there, not what SAP expects.")
    files = worksheet_files(day, by, blind, plant)
    st.caption(("Blind worksheets: no SAP quantity column. " if blind else
                "With the SAP quantity of each line. ")
               + "Only lines still open are printed; filled-in sheets load back as counts.")
    if not files:
        st.info(f"No open lines on {day:%d %B %Y} to print.")
    for name, data in files.items():
        st.download_button(f"{name}", data, file_name=name, icon=":material/download:",
                           mime="application/vnd.openxmlformats-officedocument."
                                "spreadsheetml.sheet", key=f"worksheet_{name}")

if may_change:
    with tabs[4]:
        st.subheader("Generate the cycle-count plan")
        st.caption(
            "The same planning run as Dagster's count_schedule asset: lines are marked "
            "counted, recounts synced, then the cycle counts replanned over the horizon. "
            f"Counts per year (settings): A {config.frequency_for('A')}, "
            f"B {config.frequency_for('B')}, C {config.frequency_for('C')}, others "
            f"{config.counts_per_year_other}. Counters: "
            f"{', '.join(config.counters) or 'one unnamed team (WICS_COUNTERS)'}. "
            f"Skip materials without stock: {'yes' if config.skip_zero_stock else 'no'}.")
        with st.form("generate"):
            left, middle, right = st.columns(3)
            horizon = left.number_input("Horizon (calendar days)", min_value=1, max_value=366,
                                        value=config.horizon_days)
            cap = middle.number_input("Most lines per counter and day", min_value=1,
                                      max_value=1000, value=config.daily_cap_per_counter)
            include_today = right.checkbox(
                "Replan today too", value=False,
                help="As the 05:00 run does. Leave off during the day: sheets may be printed.")
            if st.form_submit_button("Generate plan", type="primary"):
                outcome = write(generate_schedule, include_today=include_today, user=user,
                                config=replace(config, horizon_days=int(horizon),
                                               daily_cap_per_counter=int(cap)))
                if outcome.ok:
                    plan = outcome.result
                    flash(f"Planned {plan.planned:,} cycle lines from {plan.start:%d %b} to "
                          f"{plan.end:%d %b %Y}; recounts added {plan.recounts.added}, "
                          f"withdrawn {plan.recounts.withdrawn}; {plan.filled} lines filled.")
                    st.session_state["schedule_go_to"] = plan.start
                    st.rerun()
                st.error(outcome.error)

        st.subheader("Add a count or a count request")
        with st.form("add_line", clear_on_submit=True):
            left, middle, right = st.columns(3)
            material = left.text_input("Material", placeholder="number, leading zeros optional")
            line_plant = middle.selectbox("Plant ", plant_list())
            when = right.date_input("Count date", value=day, format="YYYY-MM-DD")
            left, middle, right = st.columns(3)
            who = left.selectbox("Counter ", ["(least busy)", *team])
            storage = middle.text_input("Storage location", placeholder="empty = all")
            kind = right.radio("Kind", ["manual", "request"], horizontal=True,
                               format_func={"manual": "Count",
                                            "request": "Count request"}.get)
            left, right = st.columns([1, 2])
            asked_by = left.text_input("Requested by", help="who asks (for a request)")
            why = right.text_input("Why", help="what the count is for")
            if st.form_submit_button("Add to the schedule"):
                chosen = None if who == "(least busy)" else who
                if kind == "request":
                    outcome = write(request_count, material=material, plant=line_plant,
                                    requested_by=asked_by, note=why, count_date=when,
                                    storage_location=storage or None, counter=chosen,
                                    user=user, settings=settings)
                else:
                    outcome = write(add_to_schedule, count_date=when, material=material,
                                    plant=line_plant, storage_location=storage or None,
                                    counter=chosen, reason="manual",
                                    requested_by=asked_by or None, note=why or None, user=user,
                                    settings=settings)
                if outcome.ok:
                    flash(f"Added line {outcome.result} on {when:%d %b %Y}.")
                    st.rerun()
                st.error(outcome.error)

        st.subheader("Move or cancel a line")
        # The lines of the day chosen at the top (with its plant and counter filters).
        open_lines = lines.filter(pl.col("status") == "planned")
        if open_lines.is_empty():
            st.info(f"No planned lines on {day:%d %B %Y} to move or cancel.")
        else:
            options = {line["schedule_id"]: line_label(line)
                       for line in open_lines.iter_rows(named=True)}
            chosen_line = st.selectbox("Line", list(options), format_func=options.get,
                                       key="change_line")
            move, cancel = st.columns(2)
            with move.form("move_line"):
                new_day = st.date_input("Move to date", value=None, format="YYYY-MM-DD")
                new_counter = st.selectbox("Move to counter", ["(keep)", *team])
                if st.form_submit_button("Move"):
                    outcome = write(move_scheduled, chosen_line, user=user,
                                    count_date=new_day,
                                    counter=None if new_counter == "(keep)" else new_counter)
                    if outcome.ok:
                        flash(f"Moved line {chosen_line}.")
                        st.rerun()
                    st.error(outcome.error)
            with cancel.form("cancel_line"):
                note = st.text_input("Why cancel")
                if st.form_submit_button("Cancel the line"):
                    outcome = write(cancel_scheduled, chosen_line, user=user,
                                    note=note or None)
                    if outcome.ok:
                        flash(f"Cancelled line {chosen_line}.")
                        st.rerun()
                    st.error(outcome.error)

        st.subheader("Upload counts to schedule")
        st.caption("A spreadsheet (xlsx or text) with Count Date, Material and Plant columns; "
                   "Storage Location, Counter and Notes are optional. One invalid line "
                   "rejects the whole file and nothing is scheduled.")
        upload = st.file_uploader("Schedule sheet", type=["xlsx", "xls", "csv", "txt"],
                                  key="schedule_upload")
        if upload is not None and st.button("Schedule these counts", key="schedule_upload_go"):
            outcome = write_upload(schedule_from_sheet, upload.name, upload.getvalue(),
                                   user=user, settings=settings)
            if outcome.ok:
                flash(f"Scheduled {outcome.result:,} lines from {upload.name}.")
                st.rerun()
            st.error(f"{upload.name} was rejected, nothing was scheduled: {outcome.error}")
            if outcome.problems is not None:
                st.dataframe(outcome.problems, hide_index=True, width="stretch")
