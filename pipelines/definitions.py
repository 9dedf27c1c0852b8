"""The WICS Dagster code location (``dg dev -w workspace.yaml``).

Built when Dagster loads it (``@dg.definitions``), not at import: the schedules' cron strings
and time zone and the sensor's interval are settings (``pipelines.settings``).
"""

import dagster as dg

from pipelines.defs.checks import warehouse_checks
from pipelines.defs.counting import counting_assets, counting_jobs, counting_schedules
from pipelines.defs.ingest import ingest_assets, ingest_jobs, stock_freshness_policy
from pipelines.defs.operations import operations_assets, operations_jobs, operations_schedules
from pipelines.defs.resources import WicsWarehouse
from pipelines.defs.sensors import drop_folder_sensor
from pipelines.settings import get_settings


@dg.definitions
def defs() -> dg.Definitions:
    settings = get_settings()
    stock_deadline = stock_freshness_policy(settings)
    assets = dg.map_asset_specs(
        lambda spec: spec.replace_attributes(freshness_policy=stock_deadline)
        if spec.key == dg.AssetKey("sap_stock") else spec,
        [*ingest_assets, *counting_assets, *operations_assets],
    )
    return dg.Definitions(
        assets=assets,
        asset_checks=warehouse_checks,
        jobs=[*ingest_jobs, *counting_jobs, *operations_jobs],
        schedules=[*counting_schedules(settings), *operations_schedules(settings)],
        sensors=[drop_folder_sensor(settings)],
        resources={"wics": WicsWarehouse()},
    )
