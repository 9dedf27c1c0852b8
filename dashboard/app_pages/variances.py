"""Variances: count against SAP per material × plant × date - filter, chart, drill in, recount,
download the report."""

from datetime import date, timedelta

import altair as alt
import polars as pl
import streamlit as st

from pipelines.access import Action
from pipelines.counting.calendar import next_working_day
from pipelines.counting.schedule import ScheduleError, add_to_schedule
from pipelines.sap.material import normalise_material_value
from pipelines.settings import get_settings
from pipelines.warehouse.db import warehouse

from auth import current_user
from formatting import (
    main_and_other_currencies,
    money_by_currency,
    number,
    percent,
    quantity,
)
from warehouse_data import (
    accuracy,
    clear_caches,
    line_counts,
    line_sap_stock,
    variance_options,
    variance_report_xlsx,
    variances,
)

PARETO_MATERIALS = 20
PCT_CLIP = 50.0  # the histogram folds larger percentages into its edge bins

st.title("Variances")
options = variance_options()
if options["last_date"] is None:
    st.info("Nothing has been counted yet: counts entered or loaded show up here with their "
            "variance against SAP.")
    st.stop()

# --- filters -------------------------------------------------------------------------------
last = options["last_date"]
first = options["first_date"]
when, material_box, plants_box, abc_box, flags_box = st.columns([2, 2, 2, 2, 2])
picked = when.date_input("Count dates", value=(max(first, last - timedelta(days=29)), last),
                         min_value=first, max_value=max(last, date.today()), key="dates")
start, end = (picked[0], picked[-1]) if isinstance(picked, tuple) and picked else (first, last)
# ?material=... (a link from elsewhere) preselects one material, typed with or without zeros.
typed = material_box.text_input("Material", value=st.query_params.get("material", ""),
                                key="material", placeholder="all materials")
material = normalise_material_value(
    typed, lexicographic=get_settings().lexicographic_materials) if typed.strip() else None
plants = plants_box.multiselect("Plant", options["plants"], key="plants",
                                placeholder="all plants")
abc = abc_box.multiselect("ABC class", options["abc"], key="abc", placeholder="all classes")
out_only = flags_box.toggle("Out of tolerance only", key="out_only")
recount_only = flags_box.toggle("Recount needed", key="recount_only")

lines = variances(start, end, tuple(plants), tuple(abc), out_only, recount_only, material)

# --- headline ------------------------------------------------------------------------------
judged = lines.filter(pl.col("within_tolerance").is_not_null())
within = judged.filter(pl.col("within_tolerance")).height
by_currency = lines.group_by("currency").agg(
    pl.col("abs_variance_value").sum(), pl.col("variance_value").sum()).sort("currency")
count_box, ira_box, abs_box, net_box = st.columns([1, 1, 2, 2])
count_box.metric("Lines", number(lines.height),
                 help=f"{lines.filter(~pl.col('within_tolerance')).height:,} out of tolerance; "
                 f"{lines.height - judged.height:,} without an SAP snapshot")
ira_box.metric("Accuracy", percent(100 * within / judged.height if judged.height else None),
               help="lines within tolerance / lines judged, never netting + against −")
for box, label, column, why in (
    (abs_box, "Absolute variance value", "abs_variance_value",
     "sum of |variance value|: what the differences are worth, + and − alike"),
    (net_box, "Net variance value", "variance_value",
     "sum of the variance values: what the book value would change by"),
):
    main, others = main_and_other_currencies(by_currency.select("currency", column).iter_rows())
    box.metric(label, main, help=why)
    if others:
        box.caption(f"and {others}")

# --- the lines -----------------------------------------------------------------------------
st.caption("Biggest absolute value first; click a column to sort, a row to see its counts "
           "and SAP stock.")
table = st.dataframe(
    lines.select("count_date", "material", "plant", "abc_indicator", "counted_qty",
                 "sap_qty", "variance_qty", "variance_pct", pl.col("variance_value").round(2),
                 "currency", "within_tolerance", "needs_recount", "description"),
    hide_index=True, width="stretch", height=420, key="variance_table",
    on_select="rerun", selection_mode="single-row",
    column_config={
        "count_date": st.column_config.DateColumn("Count date", format="YYYY-MM-DD"),
        "material": st.column_config.TextColumn("Material", width="small"),
        "plant": st.column_config.TextColumn("Plant", width="small"),
        "description": st.column_config.TextColumn("Description", width="medium"),
        "abc_indicator": st.column_config.TextColumn("ABC", width="small"),
        "counted_qty": st.column_config.NumberColumn("Counted", format="localized"),
        "sap_qty": st.column_config.NumberColumn("SAP", format="localized"),
        "variance_qty": st.column_config.NumberColumn("Variance", format="localized"),
        "variance_pct": st.column_config.NumberColumn("Variance %", format="%.1f %%"),
        "variance_value": st.column_config.NumberColumn("Value", format="localized"),
        "currency": st.column_config.TextColumn("Curr.", width="small"),
        "within_tolerance": st.column_config.CheckboxColumn("Within", width="small"),
        "needs_recount": st.column_config.CheckboxColumn("Recount", width="small"),
    },
)

download_plant = plants[0] if len(plants) == 1 else None
st.download_button(
    "Variance report (xlsx)", icon=":material/download:",
    data=lambda: variance_report_xlsx(start, end, download_plant, out_only),
    file_name=f"variance_report_{start.isoformat()}_{end.isoformat()}"
              f"{'_' + download_plant if download_plant else ''}.xlsx",
    mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    help="Summary by plant × ABC and every line of these dates"
         + (f", plant {download_plant}" if download_plant else ", all plants")
         + (", out of tolerance only" if out_only else ""),
)

# --- drill into one line -----------------------------------------------------------------
selected = table.selection.rows if table is not None else []
if selected:
    line = lines.row(selected[0], named=True)
    with st.container(border=True):
        st.subheader(f"{line['material']} · plant {line['plant']} · {line['count_date']}")
        st.caption(
            f"{line['description'] or ''} — counted {quantity(line['counted_qty'])}, SAP "
            f"{quantity(line['sap_qty'])} (snapshot {line['sap_snapshot_date'] or 'none'}), "
            f"variance {quantity(line['variance_qty'])}"
            f"{'' if line['variance_pct'] is None else ' = ' + percent(line['variance_pct'])}, "
            f"{money_by_currency([(line['currency'], line['variance_value'])])}; tolerance "
            f"±{line['tolerance_pct']:g} %")
        counts_col, sap_col = st.columns(2)
        counts_col.markdown("**Counts**")
        counts_col.dataframe(
            line_counts(line["count_date"], line["material"], line["plant"]).select(
                "counter", "storage_location", "location", "quantity", "quantity_expr",
                "entered_by", "entered_at", "voided_at", "notes",
            ).with_columns(pl.col(pl.String).fill_null("")),
            hide_index=True, width="stretch",
            column_config={
                "counter": "Counter", "storage_location": "SLoc", "location": "Location",
                "quantity": st.column_config.NumberColumn("Quantity", format="localized"),
                "quantity_expr": "Typed", "entered_by": "Entered by",
                "entered_at": st.column_config.DatetimeColumn("Entered",
                                                              format="YYYY-MM-DD HH:mm"),
                "voided_at": st.column_config.DatetimeColumn("Voided",
                                                             format="YYYY-MM-DD HH:mm"),
                "notes": "Notes",
            },
        )
        sap_col.markdown("**SAP stock lines compared with**")
        stock = line_sap_stock(line["sap_snapshot_date"], line["material"], line["plant"])
        if stock.is_empty():
            sap_col.caption("No MB52 line of this material in that snapshot (SAP quantity 0)."
                            if line["sap_snapshot_date"] else "No MB52 snapshot of this plant "
                            "on or before the count date.")
        else:
            sap_col.dataframe(
                stock.select("storage_location", "batch", "special_stock", "unrestricted",
                             "quality_inspection", "blocked", "in_basis",
                             ).with_columns(pl.col(pl.String).fill_null("")),
                hide_index=True, width="stretch",
                column_config={
                    "storage_location": "SLoc", "batch": "Batch", "special_stock": "S",
                    "unrestricted": st.column_config.NumberColumn("Unrestr.",
                                                                  format="localized"),
                    "quality_inspection": st.column_config.NumberColumn("QI",
                                                                        format="localized"),
                    "blocked": st.column_config.NumberColumn("Blocked", format="localized"),
                    "in_basis": st.column_config.NumberColumn("Compared", format="localized"),
                },
            )

        user = current_user()
        if user is not None and user.may(Action.CHANGE_SCHEDULE):
            settings = get_settings()
            with st.form("recount", border=False):
                day_col, why_col, go_col = st.columns([1, 3, 1], vertical_alignment="bottom")
                recount_day = day_col.date_input(
                    "Recount on", value=next_working_day(date.today(), settings.holidays),
                    min_value=date.today())
                why = why_col.text_input(
                    "Why", value=f"variance {percent(line['variance_pct'])} on "
                                 f"{line['count_date']}")
                if go_col.form_submit_button("Schedule a recount", icon=":material/replay:"):
                    try:
                        with warehouse() as con:
                            schedule_id = add_to_schedule(
                                con, count_date=recount_day, material=line["material"],
                                plant=line["plant"], reason="recount", requested_by=user.name,
                                note=why, user=user, settings=settings)
                    except ScheduleError as error:
                        st.error(str(error))
                    else:
                        clear_caches()
                        st.success(f"Recount scheduled for {recount_day} (line {schedule_id}).")
        elif user is not None:
            st.caption("Only a manager can schedule a recount.")

# --- charts --------------------------------------------------------------------------------
if lines.is_empty():
    st.info("No variance line matches these filters.")
    st.stop()

pareto_col, trend_col = st.columns(2)
with pareto_col:
    st.subheader("Variance value by material")
    top = (lines.group_by("material", "currency")
           .agg(pl.col("abs_variance_value").sum().alias("value"))
           .sort("value", descending=True, nulls_last=True))
    total = float(top["value"].sum() or 0.0)
    top = top.head(PARETO_MATERIALS).with_columns(
        cumulative_pct=(pl.col("value").cum_sum() * 100 / (total or 1.0)).round(1),
        value=pl.col("value").round(2),
    )
    order = top["material"].to_list()
    bars = alt.Chart(top).mark_bar().encode(
        x=alt.X("material:N", sort=order, title=None, axis=alt.Axis(labelAngle=-45)),
        y=alt.Y("value:Q", title="absolute variance value"),
        tooltip=["material", "value", "currency", "cumulative_pct"],
    )
    line_chart = alt.Chart(top).mark_line(point=True, color="#d62728").encode(
        x=alt.X("material:N", sort=order),
        y=alt.Y("cumulative_pct:Q", title="cumulative % of all", scale=alt.Scale(
            domain=[0, 100])),
    )
    st.altair_chart(alt.layer(bars, line_chart).resolve_scale(y="independent")
                    .properties(height=320), width="stretch")
    st.caption(f"The {min(PARETO_MATERIALS, top.height)} materials with the biggest absolute "
               "variance value of the filtered lines; the line is their cumulative share.")

with trend_col:
    st.subheader("Accuracy trend")
    trend = accuracy("week", ("plant", "abc_indicator"), start, end)
    if plants:
        trend = trend.filter(pl.col("plant").is_in(plants))
    if abc:
        trend = trend.filter(pl.col("abc_indicator").is_in(abc))
    trend = (trend.group_by("period_start")
             .agg(pl.col("lines_within").sum(), pl.col("lines_counted").sum())
             .filter(pl.col("lines_counted") > 0)
             .with_columns(ira_pct=(100 * pl.col("lines_within") / pl.col("lines_counted"))
                           .round(1))
             .sort("period_start"))
    st.altair_chart(alt.Chart(trend).mark_line(point=True).encode(
        x=alt.X("period_start:T", title="week starting", axis=alt.Axis(format="%d %b")),
        y=alt.Y("ira_pct:Q", title="accuracy %", scale=alt.Scale(zero=False)),
        tooltip=["period_start:T", "ira_pct", "lines_within", "lines_counted"],
    ).properties(height=320), width="stretch")
    st.caption("Lines within tolerance / lines counted per week, for the chosen dates, plants "
               "and classes.")

st.subheader("Distribution of variance %")
spread = lines.filter(pl.col("variance_pct").is_not_null()).with_columns(
    pct=pl.col("variance_pct").clip(-PCT_CLIP, PCT_CLIP))
st.altair_chart(alt.Chart(spread).mark_bar().encode(
    x=alt.X("pct:Q", bin=alt.Bin(step=2.0), title=f"variance % (±{PCT_CLIP:g} and beyond at "
                                                   "the edges)"),
    y=alt.Y("count():Q", title="lines (square-root scale)", scale=alt.Scale(type="sqrt")),
    color=alt.Color("within_tolerance:N", title="within tolerance",
                    scale=alt.Scale(domain=[True, False], range=["#2ca02c", "#d62728"])),
).properties(height=260), width="stretch")
