"""Run a file's load job, or the counting refresh, in this process, recorded in the Dagster
instance (``wics demo``)."""

from pathlib import Path

import dagster as dg

from pipelines.defs.ingest import JOB_FOR_KIND, load_run_config
from pipelines.sap.formats import identify
from pipelines.settings import get_settings


def load_through_dagster(path: Path) -> dg.ExecuteInProcessResult:
    """Identify ``path`` by its header and execute the matching load job in-process."""
    from pipelines.definitions import defs

    kind = identify(path, get_settings()).kind
    job_name, _ = JOB_FOR_KIND[kind]
    return defs().resolve_job_def(job_name).execute_in_process(
        # The run's events go to the instance (the UI shows them); the terminal gets warnings.
        run_config={**load_run_config(kind, path),
                    "loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        instance=dg.DagsterInstance.get(),
        raise_on_error=False,
        tags={"wics/file": path.name, "wics/kind": kind.value},
    )


def plan_counts_through_dagster(include_today: bool = True) -> dg.ExecuteInProcessResult:
    """Run ``counting_refresh`` as the 05:00 schedule does (``include_today``: today's planned
    cycle lines replanned too)."""
    from pipelines.definitions import defs

    return defs().resolve_job_def("counting_refresh").execute_in_process(
        run_config={"ops": {"count_schedule": {"config": {"include_today": include_today}}},
                    "loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        instance=dg.DagsterInstance.get(),
        raise_on_error=False,
        tags={"wics/trigger": "wics demo"},
    )
