"""The drop-folder sensor: a file dropped into ``drop/`` loads itself, in a sensible order.

Each tick also tidies up after crashes: a ``running`` load whose process died is marked failed
(its file is still in drop/ and its run is launched again), and a load whose after_load did not
finish is refreshed here.
"""

import json

import dagster as dg

from pipelines.defs.ingest import JOB_FOR_KIND, ingest_jobs, load_run_config
from pipelines.defs.load_report import report_load
from pipelines.defs.resources import WicsWarehouse
from pipelines.ingest.after_load import after_load_or_pending, pending_refreshes
from pipelines.ingest.drop_folder import (
    describe,
    drop_key,
    in_load_order,
    loaded_hashes,
    ready_files,
)
from pipelines.ingest.load import file_sha256, load_file
from pipelines.ingest.recovery import dead_running_loads, mark_interrupted
from pipelines.settings import Settings
from pipelines.warehouse.db import WarehouseBusyError, query, warehouse

DROP_KEY_TAG = "wics/drop_key"
# A drop whose run failed without settling the file (a crash, a lock timeout) is launched
# again, at most this many times; then it waits for a person (the run's log says why).
MAX_ATTEMPTS = 3
_FAILED = (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)


def _recover(context: dg.SensorEvaluationContext, settings: Settings) -> None:
    """Mark loads of dead processes failed; finish refreshes that a dead process left."""
    if not settings.database.exists():
        return
    try:
        # A short wait only: while a load holds the file, this is for a later tick.
        with warehouse(settings.database, read_only=True, timeout_s=2) as con:
            dead = dead_running_loads(con)
            pending = pending_refreshes(settings, con)
    except WarehouseBusyError:
        return
    if dead:
        with warehouse(settings.database) as con:
            marked = mark_interrupted(con)
        context.log.warning(f"loads {marked} were interrupted (their process died); "
                            "their files load again")
    for load_id in pending:
        refreshed = after_load_or_pending(load_id, settings)
        if refreshed is None:
            context.log.warning(f"refresh of load {load_id} failed again (load_log."
                                "refresh_error); the next tick tries again")
        else:
            context.log.info(f"refreshed load {load_id} left pending: {refreshed.lines()}")


def _run_of(context: dg.SensorEvaluationContext, key: str) -> dg.DagsterRun | None:
    runs = context.instance.get_runs(filters=dg.RunsFilter(tags={DROP_KEY_TAG: key}), limit=1)
    return runs[0] if runs else None


def _needs_retry(context: dg.SensorEvaluationContext, settings: Settings, key: str) -> bool:
    """Whether the run launched for this drop ended without settling its file."""
    run = _run_of(context, key)
    if run is None:
        return False  # not created yet: the daemon is still submitting it
    if run.status in _FAILED:
        return True
    if run.status != dg.DagsterRunStatus.STARTED:
        return False
    # A run whose process was killed stays STARTED; its load_log row says it was interrupted.
    statuses = query("SELECT status FROM load_log WHERE run_id = ?", [run.run_id],
                     path=settings.database)["status"].to_list()
    if statuses and all(s == "failed" for s in statuses):
        context.instance.report_run_failed(
            run, message="the run's process died during the load; the file loads again")
        return True
    return False


def drop_folder_sensor(settings: Settings) -> dg.SensorDefinition:
    """The sensor, looking every WICS_SENSOR_INTERVAL_SECONDS (fixed when Dagster loads the
    definitions; everything else is read from the resource at each tick). Dagster's sensor
    daemon loops every 5 s, so the default of 3 means a tick on every loop."""
    return dg.SensorDefinition(
        name="drop_folder_sensor",
        evaluation_fn=watch_drop_folder,
        jobs=ingest_jobs,
        minimum_interval_seconds=settings.sensor_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Watches WICS_HOME/drop/ (about every 5 s). A file that has stopped "
        "growing (for WICS_DROP_SETTLE_SECONDS) is hashed and classified by its headers, then "
        "loaded by load_mm60, load_mb52 or load_count_sheet (MM60 first). Bytes already loaded "
        "are recorded as duplicates; unreadable files are rejected with their .error.txt. "
        "Loads of dead processes are marked failed and run again; unfinished refreshes are "
        "finished. The cursor remembers launched drops across restarts.",
    )


def watch_drop_folder(context: dg.SensorEvaluationContext, wics: WicsWarehouse):
    """One tick: crash recovery, then run requests for the files that are ready."""
    settings = wics.settings()
    _recover(context, settings)
    state = json.loads(context.cursor or "{}")
    launched: dict[str, str] = state.get("launched", {})
    attempts: dict[str, int] = state.get("attempts", {})
    files = []
    for path in ready_files(settings.drop_dir, settle_s=settings.drop_settle_seconds):
        sha = file_sha256(path)
        key = drop_key(path, sha, path.stat().st_mtime_ns)
        if launched.get(path.name, "").split("#")[0] == key:
            tried = attempts.get(path.name, 1)
            if tried >= MAX_ATTEMPTS or not _needs_retry(context, settings, launched[path.name]):
                continue  # its run is queued or running (or gave up: retry it from the UI)
            attempts[path.name] = tried + 1
        else:
            attempts.pop(path.name, None)
        files.append(describe(path, settings, sha))
    # Forget drops whose file is gone (archived or rejected): the cursor stays small.
    present = {p.name for p in settings.drop_dir.iterdir()}
    launched = {name: key for name, key in launched.items() if name in present}
    attempts = {name: n for name, n in attempts.items() if name in present}
    already_loaded = loaded_hashes(settings, {f.sha256 for f in files})

    requests: list[dg.RunRequest] = []
    hashes_this_tick: set[str] = set()
    for dropped in in_load_order(files):
        if dropped.kind is None or dropped.sha256 in already_loaded:
            # Nothing to run: the loader records the duplicate or rejects the file.
            result = load_file(dropped.path, settings=settings)
            report_load(context.instance, result, None, settings)
            context.log.info(f"{result.file_name}: {result.status} "
                             f"({(result.error or '').splitlines()[0] if result.error else ''})")
            continue
        if dropped.sha256 in hashes_this_tick:
            continue  # same bytes under another name: decided once the first has loaded
        hashes_this_tick.add(dropped.sha256)
        job_name, _ = JOB_FOR_KIND[dropped.kind]
        attempt = attempts.get(dropped.path.name, 1)
        run_key = dropped.run_key + (f"#{attempt}" if attempt > 1 else "")
        tags = {"wics/file": dropped.path.name, "wics/kind": dropped.kind.value,
                "wics/sha256": dropped.sha256, DROP_KEY_TAG: run_key}
        if dropped.snapshot_date:
            tags["wics/snapshot_date"] = dropped.snapshot_date.isoformat()
        requests.append(dg.RunRequest(
            run_key=run_key, job_name=job_name,
            run_config=load_run_config(dropped.kind, dropped.path), tags=tags,
        ))
        launched[dropped.path.name] = run_key
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(
        {"launched": launched, "attempts": attempts}, sort_keys=True))
