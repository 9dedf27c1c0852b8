"""What the Dagster instance knows about the load runs: status, failed checks, a link.

The dashboard shows this beside ``load_log`` (which keeps each load's ``run_id``). Dagster is
imported inside the functions, so a page that imports this module stays quick to start, and
everything degrades to "unknown" when there is no instance (no ``DAGSTER_HOME``, or a
storage that cannot be opened): the warehouse pages never fail because Dagster is away.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pipelines.settings import get_settings

LOAD_JOBS = ("load_mm60", "load_mb52", "load_count_sheet")


def dagster_ui_url() -> str:
    """Base URL of the Dagster UI: ``WICS_DAGSTER_URL``, else where ``wics up`` serves it."""
    settings = get_settings()
    if settings.dagster_url.strip():
        return settings.dagster_url.strip().rstrip("/")
    # A server bound to every interface is reached on this machine through loopback.
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    return f"http://{host}:{settings.dagster_port}"


def run_url(run_id: str) -> str:
    return f"{dagster_ui_url()}/runs/{run_id}"


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    job_name: str
    status: str  # SUCCESS, FAILURE, STARTED, QUEUED, CANCELED, ...
    started_at: datetime | None
    failed_checks: tuple[str, ...] = field(default=())  # "check_name: description"
    url: str = ""


def _instance():  # noqa: ANN202 - dagster is imported lazily on purpose
    if not os.environ.get("DAGSTER_HOME"):
        return None
    import dagster as dg

    try:
        return dg.DagsterInstance.get()
    except Exception:  # a missing or unreadable instance is "no Dagster", not a page error
        return None


def _failed_checks(instance, run_id: str) -> tuple[str, ...]:  # noqa: ANN001
    import dagster as dg

    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
    failed = []
    for record in records:
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        if evaluation is not None and not evaluation.passed:
            text = evaluation.check_name
            if evaluation.description:
                text += f": {evaluation.description}"
            failed.append(text)
    return tuple(failed)


def _info(instance, record) -> RunInfo:  # noqa: ANN001
    run = record.dagster_run
    started = datetime.fromtimestamp(record.start_time, UTC) if record.start_time else None
    return RunInfo(run_id=run.run_id, job_name=run.job_name, status=run.status.value,
                   started_at=started, failed_checks=_failed_checks(instance, run.run_id),
                   url=run_url(run.run_id))


def runs_by_id(run_ids: list[str]) -> dict[str, RunInfo] | None:
    """Status and failed checks of the given runs; None when there is no Dagster instance."""
    instance = _instance()
    if instance is None:
        return None
    import dagster as dg

    wanted = [r for r in run_ids if r]
    if not wanted:
        return {}
    try:
        records = instance.get_run_records(filters=dg.RunsFilter(run_ids=wanted))
        return {r.dagster_run.run_id: _info(instance, r) for r in records}
    except Exception:  # storage busy or migrated by a newer Dagster: show "unknown"
        return None


def recent_problem_runs(limit: int = 20) -> list[RunInfo] | None:
    """The latest load runs that failed or had a failed check, newest first; None without an
    instance. Looks at the last ``limit`` runs of each load job."""
    instance = _instance()
    if instance is None:
        return None
    import dagster as dg

    problems: list[RunInfo] = []
    try:
        for job in LOAD_JOBS:
            for record in instance.get_run_records(filters=dg.RunsFilter(job_name=job),
                                                   limit=limit):
                info = _info(instance, record)
                if info.status == "FAILURE" or info.failed_checks:
                    problems.append(info)
    except Exception:
        return None
    floor = datetime.min.replace(tzinfo=UTC)
    return sorted(problems, key=lambda i: i.started_at or floor, reverse=True)[:limit]
