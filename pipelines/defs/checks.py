"""Asset checks: the warehouse rules the data team sees as green or red in the Dagster UI.

They are monitors, none blocks: a check runs after its asset has committed, so blocking could
only leave the rest of the load half-refreshed. Every reason to refuse a file is decided before
the commit by the load's gates (``pipelines.ingest.gates``); a red check here means data that
was loaded knowingly (``--force``) or changed since, and says so.
"""

from collections.abc import Callable
from datetime import date

import dagster as dg
import duckdb

from pipelines.defs.resources import WicsWarehouse
from pipelines.ingest import quality
from pipelines.settings import Settings, setting_default
from pipelines.warehouse.db import warehouse

MAX_DROP = setting_default("max_row_drop_pct")


def _run(wics: WicsWarehouse,
         rule: Callable[[duckdb.DuckDBPyConnection, Settings], quality.Outcome],
         severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR) -> dg.AssetCheckResult:
    settings = wics.settings()
    with warehouse(settings.database, read_only=True) as con:
        outcome = rule(con, settings)
    metadata = {k: (", ".join(v) if isinstance(v, list) else v)
                for k, v in outcome.metadata.items() if v is not None}
    return dg.AssetCheckResult(passed=outcome.passed, severity=severity,
                               description=outcome.message, metadata=metadata)


def _unique_check(table: str) -> dg.AssetChecksDefinition:
    key = ", ".join(quality.UNIQUE_KEYS[table])

    @dg.asset_check(asset=table, name=f"{table}_unique_key",
                    description=f"No two {table} rows share ({key}).")
    def check(wics: WicsWarehouse) -> dg.AssetCheckResult:
        return _run(wics, lambda con, _: quality.unique_keys(con, table))

    return check


unique_key_checks = [
    _unique_check("material"),
    _unique_check("sap_stock"),
    _unique_check("physical_count"),
    _unique_check("load_log"),
]


@dg.asset_check(asset="sap_stock", description="Negative stock in the latest MB52 snapshot "
                "(reported as a warning: SAP allows it only where configured).")
def sap_stock_no_negative_quantities(wics: WicsWarehouse) -> dg.AssetCheckResult:
    return _run(wics, lambda con, _: quality.negative_stock(con), dg.AssetCheckSeverity.WARN)


@dg.asset_check(asset="sap_stock", description="Every material of the latest MB52 snapshot is "
                "in the material master.")
def sap_stock_materials_known(wics: WicsWarehouse) -> dg.AssetCheckResult:
    return _run(wics, lambda con, _: quality.stock_of_unknown_materials(con),
                dg.AssetCheckSeverity.WARN)


@dg.asset_check(asset="physical_count", description="Every count references a "
                "material × plant of the material master.")
def physical_count_materials_known(wics: WicsWarehouse) -> dg.AssetCheckResult:
    return _run(wics, lambda con, _: quality.counts_of_unknown_materials(con))


@dg.asset_check(asset="sap_stock", description="The latest MB52 has not lost more than "
                f"WICS_MAX_ROW_DROP_PCT (default {MAX_DROP:g}) % of the previous one's lines: "
                "a likely partial export (the load refuses one unless forced; this shows a "
                "forced one).")
def sap_stock_row_count_drop(wics: WicsWarehouse) -> dg.AssetCheckResult:
    return _run(wics, lambda con, settings: quality.row_count_drop(
        con, "mb52", settings.max_row_drop_pct))


@dg.asset_check(asset="material", description="The latest MM60 has not lost more than "
                f"WICS_MAX_ROW_DROP_PCT (default {MAX_DROP:g}) % of the rows of the previous "
                "MM60 of the same plants: a likely partial export (refused unless forced; this "
                "shows a forced one).")
def material_row_count_drop(wics: WicsWarehouse) -> dg.AssetCheckResult:
    return _run(wics, lambda con, settings: quality.row_count_drop(
        con, "mm60", settings.max_row_drop_pct))


@dg.asset_check(asset="sap_stock", description="The latest MB52 snapshot is no older than the "
                "previous working day (weekends and WICS_HOLIDAYS skipped).")
def sap_stock_fresh(wics: WicsWarehouse) -> dg.AssetCheckResult:
    return _run(wics, lambda con, settings: quality.stock_freshness(
        con, date.today(), settings.holidays))


@dg.asset_check(asset="material", description="The latest MM60 is at most "
                "WICS_MM60_MAX_AGE_DAYS "
                f"(default {setting_default('mm60_max_age_days')}) days old.")
def material_fresh(wics: WicsWarehouse) -> dg.AssetCheckResult:
    return _run(wics, lambda con, settings: quality.master_freshness(
        con, date.today(), settings.mm60_max_age_days))


warehouse_checks = [
    *unique_key_checks,
    sap_stock_no_negative_quantities,
    sap_stock_materials_known,
    physical_count_materials_known,
    sap_stock_row_count_drop,
    material_row_count_drop,
    sap_stock_fresh,
    material_fresh,
]
