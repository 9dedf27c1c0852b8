"""SAP loads: every file WICS has seen, and what the last material-list update changed."""

import polars as pl
import streamlit as st

from warehouse_data import material_changes_of_load, recent_loads

st.title("SAP loads")
loads = recent_loads()
if loads.is_empty():
    st.info("No file has been loaded yet.")
    st.stop()

status_counts = loads.group_by("status").len()
columns = st.columns(max(status_counts.height, 1))
for column, (status, count) in zip(columns, status_counts.sort("status").iter_rows(),
                                   strict=False):
    column.metric(status.capitalize(), count)

st.dataframe(
    loads.drop("error"), hide_index=True, width="stretch",
    column_config={
        "load_id": st.column_config.NumberColumn("Load", format="%d"),
        "file_name": "File",
        "kind": "Kind",
        "status": "Status",
        "snapshot_date": st.column_config.DateColumn("Snapshot date", format="YYYY-MM-DD"),
        "rows_read": st.column_config.NumberColumn("Rows read", format="%d"),
        "rows_loaded": st.column_config.NumberColumn("Rows loaded", format="%d"),
        "started_at": st.column_config.DatetimeColumn("Started", format="YYYY-MM-DD HH:mm:ss"),
        "finished_at": st.column_config.DatetimeColumn("Finished", format="YYYY-MM-DD HH:mm:ss"),
    },
)

rejected = loads.filter(pl.col("status") == "rejected")
if not rejected.is_empty():
    st.subheader("Rejected files")
    for file_name, error in rejected.select("file_name", "error").iter_rows():
        with st.expander(file_name, icon=":material/block:"):
            st.code(error or "", language=None)

mm60 = loads.filter((pl.col("kind") == "mm60") & (pl.col("status") == "loaded"))
if not mm60.is_empty():
    load_id = st.selectbox(
        "Material-list update", mm60["load_id"].to_list(),
        format_func=lambda i: f"load {i}: {mm60.filter(pl.col('load_id') == i)['file_name'][0]}",
    )
    changes = material_changes_of_load(load_id)
    st.subheader(f"Changes of load {load_id}")
    counts = changes.group_by("change").len().sort("change")
    st.caption(", ".join(f"{n:,} {c}" for c, n in counts.iter_rows()))
    st.dataframe(changes, hide_index=True, width="stretch")
