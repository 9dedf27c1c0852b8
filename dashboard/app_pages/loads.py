"""SAP loads: upload an export, watch it load, see every file WICS has seen and what the last
material-list update changed."""

import polars as pl
import streamlit as st

from pipelines.access import Action

from auth import current_user
from warehouse_data import (
    material_changes_of_load,
    recent_loads,
    running_loads,
    save_to_drop_folder,
)

st.title("SAP loads")

user = current_user()
if user is not None and user.may(Action.UPLOAD_FILES):  # managers upload
    with st.expander("Upload an export or a filled-in count sheet", icon=":material/upload:"):
        uploaded = st.file_uploader(
            "MM60, MB52 (xlsx, SAP spreadsheet .XLS, text, HTML) or a count sheet",
            accept_multiple_files=True, key="uploads",
        )
        if uploaded and st.button("Put into the drop folder", type="primary"):
            for file in uploaded:
                path = save_to_drop_folder(file.name, file.getvalue(), user=user)
                st.success(f"{path.name} is in the drop folder; Dagster loads it within a "
                           "minute.")


@st.fragment(run_every=2)
def live_progress() -> None:
    """Loads in progress, refreshed every two seconds without rerunning the page."""
    running = running_loads()
    if running.is_empty():
        return
    st.subheader("Loading now")
    for row in running.iter_rows(named=True):
        total, done = row["progress_total"] or 0, row["progress_done"] or 0
        st.progress(done / total if total else 0.0,
                    text=f"{row['file_name']}: {row['progress_phase']} "
                    + (f"{done:,} of {total:,} rows" if total else ""))


live_progress()

loads = recent_loads()
if loads.is_empty():
    st.info("No file has been loaded yet.")
    st.stop()

status_counts = loads.group_by("status").len().sort("status")
for column, (status, count) in zip(st.columns(status_counts.height),
                                   status_counts.iter_rows(), strict=True):
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
