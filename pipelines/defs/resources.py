"""Dagster resources and the names every WICS asset shares."""

from pathlib import Path

import dagster as dg

from pipelines.settings import Settings, get_settings

KINDS = {"duckdb", "polars"}
# The pool of every asset that writes the DuckDB file: instance limit 1
# (pipelines/dagster.yaml), one writer at a time.
WRITER_POOL = "duckdb_writer"


class WicsWarehouse(dg.ConfigurableResource):
    """The WICS settings (files, DuckDB database, counting knobs) for assets, sensors, checks.

    ``home`` overrides ``WICS_HOME``; everything else comes from ``get_settings()`` (the
    environment and ``WICS_HOME/wics.toml``), read when the resource is used, not at import.
    The resource holds no connection: every use opens the DuckDB file, works in one
    transaction and closes it (``pipelines.warehouse.db.warehouse``), because the dashboard
    and other runs share the file.
    """

    home: str | None = None

    def settings(self) -> Settings:
        settings = get_settings(**({"home": Path(self.home)} if self.home else {}))
        settings.ensure_dirs()
        return settings
