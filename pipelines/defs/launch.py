"""Run a file's load job in this process, recorded in the Dagster instance (``wics demo``)."""

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
