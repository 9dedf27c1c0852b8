"""The WICS Dagster code location (``dg dev -w workspace.yaml``)."""

import dagster as dg

from pipelines.defs.checks import warehouse_checks
from pipelines.defs.counting import counting_assets, counting_jobs, counting_schedules
from pipelines.defs.ingest import ingest_assets, ingest_jobs
from pipelines.defs.operations import operations_assets, operations_jobs, operations_schedules
from pipelines.defs.resources import WicsWarehouse
from pipelines.defs.sensors import drop_folder_sensor

defs = dg.Definitions(
    assets=[*ingest_assets, *counting_assets, *operations_assets],
    asset_checks=warehouse_checks,
    jobs=[*ingest_jobs, *counting_jobs, *operations_jobs],
    schedules=[*counting_schedules, *operations_schedules],
    sensors=[drop_folder_sensor],
    resources={"wics": WicsWarehouse()},
)
