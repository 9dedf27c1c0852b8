"""Dagster resources: the warehouse settings every asset, sensor and check shares."""


from dataclasses import replace
from pathlib import Path

import dagster as dg

from pipelines.settings import Settings, get_settings


class WicsWarehouse(dg.ConfigurableResource):
    """Where WICS keeps its files and DuckDB database (``WICS_HOME`` unless set here).

    The resource holds no connection: every use opens the DuckDB file, works in one
    transaction and closes it (``pipelines.warehouse.db.warehouse``), because the dashboard
    and other runs share the file.
    """

    home: str | None = None

    def settings(self) -> Settings:
        settings = get_settings()
        if self.home:
            settings = replace(settings, home=Path(self.home).expanduser().resolve())
        settings.ensure_dirs()
        return settings
