"""Counts: every count entry, filtered by date range, counter and material, with the sums
reconciliation uses; correct or void the entries you may change (history kept)."""

from datetime import date, timedelta

import polars as pl
import streamlit as st

from pipelines.access import AccessDenied, Action
from pipelines.counting.materials import (
    count_totals,
    counted_per_day,
    entry_state,
    may_change_count,
)
from pipelines.counting.records import CountError

import materials_data as data
from auth import current_user

EVERYONE = "Everyone"
DONE_KEY = "counts_done"

st.title("Counts")
user = current_user()

today = date.today()
linked = st.query_params.get("material", "")  # from a material's page: its whole year
filters = st.columns([2, 2, 2, 2])
period = filters[0].date_input("Count dates",
                               value=(today - timedelta(days=365 if linked else 13), today),
                               format="YYYY-MM-DD", key="counts_period")
start, end = (tuple(period) + (None, None))[:2] if isinstance(period, tuple | list) \
    else (period, period)
end = end or start  # a range being picked: its first day only
counter = filters[1].selectbox("Counter", [EVERYONE, *data.counters()], key="counts_counter")
material = filters[2].text_input("Material number", key="counts_material",
                                 value=linked,
                                 placeholder="with or without leading zeros").strip() or None
include_voided = filters[3].toggle("Show voided entries", key="counts_voided",
                                   help="voided and corrected entries, kept for the history")

if DONE_KEY in st.session_state:
    st.success(st.session_state.pop(DONE_KEY), icon=":material/check_circle:")

listed = data.counts_list(start, end, None if counter == EVERYONE else counter, material,
                          include_voided)
more = listed.height > data.COUNT_LIST_LIMIT
listed = listed.head(data.COUNT_LIST_LIMIT)
totals = count_totals(listed)

cells = st.columns(5)
cells[0].metric("Count entries", f"{totals['entries']:,}",
                help="not voided; a correction replaces the entry it corrects")
cells[1].metric("With a quantity", f"{totals['counted']:,}")
cells[2].metric("Location only", f"{totals['location_only']:,}",
                help="seen there, not counted: adds nothing to the counted quantity")
cells[3].metric("Materials × plants", f"{totals['materials']:,}")
cells[4].metric("Counters", f"{totals['counters']:,}")

if listed.is_empty():
    st.info("No count entry matches these filters.")
    st.stop()
if include_voided and totals["voided"]:
    st.caption(f"{totals['voided']:,} voided or corrected entries are listed too; they count "
               "nowhere.")
if more:
    st.caption(f"The newest {data.COUNT_LIST_LIMIT:,} entries are shown; narrow the dates "
               "or pick a counter for the rest.")

entries = listed.with_columns(entry_state())
st.dataframe(
    entries.select("count_id", "count_date", "state", "material", "plant", "description",
                   "storage_location", "location", "quantity", "quantity_expr", "counter",
                   "entered_by", "entered_at", "notes").with_columns(
        pl.col(pl.String).fill_null("")),
    hide_index=True, width="stretch", height=420,
    column_config={
        "count_id": st.column_config.NumberColumn("Count", format="%d"),
        "count_date": st.column_config.DateColumn("Date", format="YYYY-MM-DD"),
        "material": "Material", "plant": "Plant", "description": "Description",
        "storage_location": "SLoc", "location": "Location",
        "quantity": st.column_config.NumberColumn("Quantity", format="localized"),
        "quantity_expr": "Typed", "counter": "Counter", "notes": "Notes",
        "entered_by": "Entered by",
        "entered_at": st.column_config.DatetimeColumn("Entered", format="YYYY-MM-DD HH:mm"),
        "state": "State"},
)

st.subheader("Counted per material and day")
st.caption("The sum of the entries above that count (voided ones never do): what "
           "reconciliation compares with SAP.")
st.dataframe(
    counted_per_day(listed), hide_index=True, width="stretch", height=300,
    column_config={
        "count_date": st.column_config.DateColumn("Date", format="YYYY-MM-DD"),
        "material": "Material", "plant": "Plant", "description": "Description",
        "counted_qty": st.column_config.NumberColumn("Counted", format="localized"),
        "entries": "Entries", "counters": "Counters"},
)

if user is None or not user.may(Action.ENTER_COUNTS):
    st.stop()  # viewers read; nothing below would work for them

changeable = listed.filter(pl.col("voided_at").is_null()).filter(
    pl.col("entered_by").map_elements(lambda who: may_change_count(user, who),
                                      return_dtype=pl.Boolean, skip_nulls=False))
st.subheader("Correct or void a count")
if changeable.is_empty():
    st.caption("You can change the counts you entered yourself; none is in this list."
               if not user.may(Action.CHANGE_OTHERS_COUNTS)
               else "No entry in this list can be changed.")
    st.stop()

labels = {
    row["count_id"]: f"{row['count_id']} · {row['count_date']:%Y-%m-%d} · {row['material']} "
    f"/{row['plant']} · {row['location'] or 'no location'} · "
    + (f"{row['quantity_expr'] or row['quantity']:}" if row["quantity"] is not None
       else "location only")
    + f" · {row['counter'] or row['entered_by']}"
    for row in changeable.iter_rows(named=True)
}
count_id = st.selectbox("Entry to change", list(labels), format_func=labels.__getitem__,
                        key="counts_change_id",
                        help="entries of this list you may change: your own"
                        + (", and everyone's as a manager" if user.may(
                            Action.CHANGE_OTHERS_COUNTS) else ""))
row = changeable.filter(pl.col("count_id") == count_id).row(0, named=True)

correct, remove = st.columns(2, gap="large")
with correct.form("correct_count"):
    st.markdown("**Correct it**: the entry is replaced; the old one stays in the history")
    typed = row["quantity_expr"] or ("" if row["quantity"] is None else f"{row['quantity']:g}")
    quantity = st.text_input("Quantity (empty: location only; 24*12+7 works)", value=typed)
    location = st.text_input("Location", value=row["location"] or "")
    notes = st.text_input("Notes", value=row["notes"] or "")
    why = st.text_input("Why", placeholder="e.g. typing error", key="correct_reason")
    if st.form_submit_button("Save correction", type="primary"):
        try:
            new_id = data.change_count(count_id, user=user, reason=why.strip() or "edited",
                                       quantity=quantity.strip() or None,
                                       location=location.strip() or None,
                                       notes=notes.strip() or None)
        except (CountError, AccessDenied) as error:
            st.error(str(error))
        else:
            st.session_state[DONE_KEY] = f"Count {count_id} corrected (now count {new_id})."
            st.rerun()
with remove.form("void_count"):
    st.markdown("**Void it**: it no longer counts; it stays in the history")
    reason = st.text_input("Why it is void", key="void_reason",
                           placeholder="e.g. counted the wrong material")
    if st.form_submit_button("Void count"):
        if not reason.strip():
            st.error("Say why the count is void.")
        else:
            try:
                data.void(count_id, user=user, reason=reason.strip())
            except (CountError, AccessDenied) as error:
                st.error(str(error))
            else:
                st.session_state[DONE_KEY] = f"Count {count_id} voided."
                st.rerun()
