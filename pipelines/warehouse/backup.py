"""Weekly backups: the whole warehouse as Parquet (DuckDB ``EXPORT DATABASE``), last N kept."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

from pipelines.settings import Settings
from pipelines.warehouse.db import warehouse


def backup_warehouse(settings: Settings, *, keep: int | None = None,
                     now: datetime | None = None) -> tuple[Path, list[Path]]:
    """Export every table to ``backups/<timestamp>/``; returns it and the backups removed.

    ``IMPORT DATABASE '<folder>'`` into an empty DuckDB file restores it.
    """
    keep = settings.backups_keep if keep is None else keep
    folder = settings.home / "backups"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / (now or datetime.now()).strftime("wics-%Y%m%dT%H%M%S")
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    with warehouse(settings.database, read_only=True) as con:
        # EXPORT takes no bound parameters; the path is ours (WICS_HOME), quoted for SQL.
        quoted = str(partial).replace("'", "''")
        con.execute(f"EXPORT DATABASE '{quoted}' (FORMAT parquet)")
    partial.rename(target)  # a half-written export never looks like a backup
    backups = sorted(p for p in folder.iterdir() if p.is_dir() and p.name.startswith("wics-")
                     and not p.name.endswith(".partial"))
    removed = backups[:-keep]
    for old in removed:
        shutil.rmtree(old)
    return target, removed
