"""SAP loads: upload an export, watch it load, see every file WICS has seen (with its Dagster
run and checks) and what each material-list update changed."""

import polars as pl
import streamlit as st

from pipelines.access import Action
from pipelines.defs.run_status import dagster_ui_url
from pipelines.reports.change_report import change_counts, report_file_name

from auth import current_user
from warehouse_data import (
    change_report_xlsx,
    clear_caches,
    load_anyway,
    load_runs,
    material_changes_of_load,
    recent_loads,
    running_loads,
    save_to_drop_folder,
)

RUNNING_KEY = "loads_running_ids"
RUNS_ASKED = 50  # Dagster keeps each run's events in its own file: ask about the latest only

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
                st.success(f"{path.name} is in the drop folder; Dagster loads it within "
                           "seconds and it appears below.")


@st.fragment(run_every=2)
def live_progress() -> None:
    """Loads in progress, every two seconds; when one starts or ends the whole page reruns,
    so the table below shows the result without a manual refresh."""
    running = running_loads()
    ids = tuple(running["load_id"].to_list())
    previous = st.session_state.get(RUNNING_KEY)
    st.session_state[RUNNING_KEY] = ids
    if previous is not None and previous != ids:
        clear_caches()
        st.rerun(scope="app")
    if running.is_empty():
        return
    st.subheader("Loading now")
    for row in running.iter_rows(named=True):
        total, done = row["progress_total"] or 0, row["progress_done"] or 0
        phase = row["progress_phase"] or "starting"
        if total:
            st.progress(min(done / total, 1.0),
                        text=f"{row['file_name']}: {phase} {done:,} of {total:,} rows")
        else:
            # No total yet (the file is still being read): rows so far, not an empty bar.
            st.markdown(f":material/progress_activity: **{row['file_name']}**: {phase}"
                        + (f", {done:,} rows so far" if done else "")
                        + f" (started {row['started_at']:%H:%M:%S})")


live_progress()

loads = recent_loads()
if loads.is_empty():
    st.info("No file has been loaded yet.")
    st.stop()

status_counts = loads.group_by("status").len().sort("status")
for column, (status, count) in zip(st.columns(status_counts.height),
                                   status_counts.iter_rows(), strict=True):
    column.metric(status.capitalize(), count)

# Dagster's view of each load: run status, failed checks, a link to the run.
runs = load_runs(tuple(loads["run_id"].drop_nulls().head(RUNS_ASKED).to_list()))
run_of = runs or {}
loads_shown = loads.with_columns(
    # "-": loaded without Dagster (`wics load`); "unknown": a run Dagster cannot tell about.
    run_status=pl.col("run_id").map_elements(
        lambda r: run_of[r].status.lower() if r in run_of else "unknown",
        return_dtype=pl.String).fill_null("-"),
    failed_checks=pl.col("run_id").map_elements(
        lambda r: "; ".join(run_of[r].failed_checks) if r in run_of else "",
        return_dtype=pl.String).fill_null(""),
    run_url=pl.col("run_id").map_elements(
        lambda r: f"{dagster_ui_url()}/runs/{r}", return_dtype=pl.String).fill_null(""),
    # A file refused before it was read as any kind has none of these (nor a run, when
    # `wics load` or the sensor refused it): blank, not "None"; a load that ended without
    # loading loaded 0 rows (a running one: not known yet).
    kind=pl.col("kind").fill_null(""),
    snapshot_date=pl.col("snapshot_date").dt.strftime("%Y-%m-%d").fill_null(""),
    rows_loaded=pl.when(pl.col("status") == "running").then(pl.col("rows_loaded"))
    .otherwise(pl.col("rows_loaded").fill_null(0)),
)
if runs is None:
    st.caption("Run status is not shown: this dashboard has no Dagster instance "
               "(DAGSTER_HOME) to ask.")
st.dataframe(
    loads_shown.select("load_id", "file_name", "kind", "status", "forced", "snapshot_date",
                       "rows_loaded", "finished_at", "run_status", "run_url", "failed_checks"),
    hide_index=True, width="stretch",
    column_config={
        "load_id": st.column_config.NumberColumn("Load", format="%d"),
        "file_name": "File",
        "kind": "Kind",
        "status": "Status",
        "forced": st.column_config.CheckboxColumn(
            "Forced", help="Loaded knowingly despite a size or age refusal (--force, "
            "\"Load anyway\")"),
        "snapshot_date": "Snapshot date",
        "rows_loaded": st.column_config.NumberColumn("Rows loaded", format="localized"),
        "finished_at": st.column_config.DatetimeColumn("Finished", format="YYYY-MM-DD HH:mm"),
        "run_status": "Dagster run",
        "failed_checks": st.column_config.TextColumn("Failed checks", width="large"),
        "run_url": st.column_config.LinkColumn("Run", display_text="open run"),
    },
)

rejected = loads.filter(pl.col("status") == "rejected")
may_force = user is not None and user.may(Action.FORCE_LOADS)
if not rejected.is_empty():
    st.subheader("Rejected files")
    for load_id, file_name, error, forceable in rejected.select(
            "load_id", "file_name", "error", "forceable").iter_rows():
        with st.expander(file_name, icon=":material/block:"):
            st.code(error or "", language=None, wrap_lines=True)
            # Only a suspicious size or an older MM60 may be overridden, and only by a manager.
            if forceable and may_force and st.button(
                    "Load anyway", key=f"force_{load_id}", icon=":material/warning:",
                    help="Load this file knowingly; the load log records it as forced."):
                st.success(load_anyway(load_id, user))

mm60 = loads.filter((pl.col("kind") == "mm60") & (pl.col("status") == "loaded"))
if not mm60.is_empty():
    load_id = st.selectbox(
        "Material-list update", mm60["load_id"].to_list(),
        format_func=lambda i: f"load {i}: {mm60.filter(pl.col('load_id') == i)['file_name'][0]}",
    )
    changes = material_changes_of_load(load_id)
    title, download = st.columns([3, 1], vertical_alignment="bottom")
    title.subheader(f"Changes of load {load_id}")
    download.download_button(
        "Change report (xlsx)", icon=":material/download:",
        data=lambda: change_report_xlsx(load_id),
        file_name=report_file_name(load_id),
        mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        on_click="ignore", width="stretch", key=f"change_report_{load_id}",
        help=f"every change of load {load_id} in a workbook (a summary, the changed fields, "
             "every change row), written when you click")
    materials = change_counts(changes)
    kinds = [kind for kind, n in materials.items() if n]
    shown_kinds = st.pills("Change", kinds, selection_mode="multi", default=kinds,
                           key="change_kinds") if kinds else []
    shown = changes.filter(pl.col("change").is_in(shown_kinds))
    st.caption(
        "Materials: " + (", ".join(f"{n:,} {kind}" for kind, n in materials.items() if n)
                         or "no change")
        + f" — {changes.height:,} change rows (one per changed field), {shown.height:,} shown")
    st.dataframe(shown.with_columns(pl.col("field", "old_value", "new_value").fill_null("")),
                 hide_index=True, width="stretch",
                 column_config={"change": "Change", "material": "Material", "plant": "Plant",
                                "description": "Description", "field": "Field",
                                "old_value": "Old value", "new_value": "New value"})
