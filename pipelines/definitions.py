"""The WICS Dagster code location (``dg dev -w workspace.yaml``)."""

from __future__ import annotations

import dagster as dg

from pipelines.defs.ingest import ingest_assets, ingest_jobs
from pipelines.defs.resources import WicsWarehouse

defs = dg.Definitions(
    assets=[*ingest_assets],
    jobs=[*ingest_jobs],
    resources={"wics": WicsWarehouse()},
)
