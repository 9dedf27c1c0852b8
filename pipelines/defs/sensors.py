"""The drop-folder sensor: a file dropped into ``drop/`` loads itself, in a sensible order."""

import json

import dagster as dg

from pipelines.defs.ingest import JOB_FOR_KIND, ingest_jobs, load_run_config
from pipelines.defs.resources import WicsWarehouse
from pipelines.ingest.drop_folder import (
    describe,
    drop_key,
    in_load_order,
    loaded_hashes,
    ready_files,
)
from pipelines.ingest.load import file_sha256, load_file
from pipelines.settings import Settings


def drop_folder_sensor(settings: Settings) -> dg.SensorDefinition:
    """The sensor, looking every WICS_SENSOR_INTERVAL_SECONDS (fixed when Dagster loads the
    definitions; everything else is read from the resource at each tick)."""
    return dg.SensorDefinition(
        name="drop_folder_sensor",
        evaluation_fn=watch_drop_folder,
        jobs=ingest_jobs,
        minimum_interval_seconds=settings.sensor_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Watches WICS_HOME/drop/. A file that has stopped growing (for "
        "WICS_DROP_SETTLE_SECONDS) is hashed and classified by its headers, then loaded by "
        "load_mm60, load_mb52 or load_count_sheet (MM60 first). Bytes already loaded are "
        "recorded as duplicates; unreadable files are rejected with their .error.txt. The "
        "cursor remembers launched drops across restarts.",
    )


def watch_drop_folder(context: dg.SensorEvaluationContext, wics: WicsWarehouse):
    """One tick: run requests for the files that are ready, a new cursor."""
    settings = wics.settings()
    launched: dict[str, str] = json.loads(context.cursor or "{}").get("launched", {})
    files = []
    for path in ready_files(settings.drop_dir, settle_s=settings.drop_settle_seconds):
        sha = file_sha256(path)
        if launched.get(path.name) == drop_key(path, sha, path.stat().st_mtime_ns):
            continue  # its run is queued or running (or failed: retry it from the UI)
        files.append(describe(path, settings, sha))
    # Forget drops whose file is gone (archived or rejected): the cursor stays small.
    present = {p.name for p in settings.drop_dir.iterdir()}
    launched = {name: key for name, key in launched.items() if name in present}
    already_loaded = loaded_hashes(settings, {f.sha256 for f in files})

    requests: list[dg.RunRequest] = []
    hashes_this_tick: set[str] = set()
    for dropped in in_load_order(files):
        if dropped.kind is None or dropped.sha256 in already_loaded:
            # Nothing to run: the loader records the duplicate or rejects the file.
            result = load_file(dropped.path, settings=settings)
            context.log.info(f"{dropped.path.name}: {result.status} "
                             f"({(result.error or '').splitlines()[0] if result.error else ''})")
            continue
        if dropped.sha256 in hashes_this_tick:
            continue  # same bytes under another name: decided once the first has loaded
        hashes_this_tick.add(dropped.sha256)
        job_name, _ = JOB_FOR_KIND[dropped.kind]
        tags = {"wics/file": dropped.path.name, "wics/kind": dropped.kind.value,
                "wics/sha256": dropped.sha256}
        if dropped.snapshot_date:
            tags["wics/snapshot_date"] = dropped.snapshot_date.isoformat()
        requests.append(dg.RunRequest(
            run_key=dropped.run_key, job_name=job_name,
            run_config=load_run_config(dropped.kind, dropped.path), tags=tags,
        ))
        launched[dropped.path.name] = dropped.run_key
    return dg.SensorResult(run_requests=requests,
                           cursor=json.dumps({"launched": launched}, sort_keys=True))
