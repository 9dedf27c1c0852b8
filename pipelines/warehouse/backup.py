"""Backups and restores of the whole warehouse: ``wics backup``/``wics restore`` and the
weekly Dagster backup run this code.

A backup is a folder written by DuckDB's ``EXPORT DATABASE`` (the schema as SQL, every table
as Parquet), readable by any DuckDB. A restore builds a new database file from such a folder
beside the warehouse, then swaps it in while no WICS process has the file open, keeping the
replaced file as ``wics.duckdb.replaced-<timestamp>``. It refuses while a load runs.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from pipelines.ingest.recovery import dead_running_loads
from pipelines.settings import Settings
from pipelines.warehouse.db import WarehouseBusyError, exclusive, fetch, forget_schema, warehouse
from pipelines.warehouse.schema import create_schema

_IN_USE = ("another process has the warehouse open (a load, a backup or the dashboard "
           "saving); try again in a moment ({error})")


class RestoreError(RuntimeError):
    """The restore was refused; the warehouse is unchanged. The message says why."""


@dataclass(frozen=True)
class Restored:
    database: Path
    replaced: Path | None  # the previous database file, kept aside (None if there was none)
    tables: dict[str, int]  # rows per table in the restored warehouse


def _sql_path(path: Path) -> str:
    # EXPORT/IMPORT take no bound parameters; the path is quoted for SQL.
    return "'" + str(path).replace("'", "''") + "'"


def backup_warehouse(settings: Settings, *, target: Path | None = None,
                     keep: int | None = None,
                     now: datetime | None = None) -> tuple[Path, list[Path]]:
    """Export every table to ``target`` (default ``backups/wics-<timestamp>/``).

    Returns the backup folder and the old backups removed: of the default folder's backups the
    last ``keep`` (``settings.backups_keep``, WICS_BACKUPS_KEEP) are kept; a backup to an
    explicit ``target`` removes nothing. A half-written export never looks like a backup
    (written as ``.partial``, renamed when complete).
    """
    keep = settings.backups_keep if keep is None else keep
    folder = settings.home / "backups"
    destination = target or folder / (now or datetime.now()).strftime("wics-%Y%m%dT%H%M%S")
    destination = destination.resolve()
    if destination.exists() and any(destination.iterdir()):
        raise FileExistsError(f"{destination} exists and is not empty; choose a new folder")
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    with warehouse(settings.database, read_only=True) as con:
        con.execute(f"EXPORT DATABASE {_sql_path(partial)} (FORMAT parquet)")
    if destination.exists():
        destination.rmdir()
    partial.rename(destination)
    removed: list[Path] = []
    if target is None:
        backups = sorted(p for p in folder.iterdir() if p.is_dir() and p.name.startswith("wics-")
                         and not p.name.endswith(".partial"))
        removed = backups[:-keep]
        for old in removed:
            shutil.rmtree(old)
    return destination, removed


def _is_backup(folder: Path) -> bool:
    return folder.is_dir() and (folder / "schema.sql").is_file() \
        and (folder / "load.sql").is_file()


def running_loads(settings: Settings, *, timeout_s: float | None = None) -> list[str]:
    """Loads that are running now: ``running`` rows of load_log whose process is alive
    (``pipelines.ingest.recovery``: a row of another host counts as alive)."""
    if not settings.database.exists():
        return []
    with warehouse(settings.database, read_only=True, timeout_s=timeout_s) as con:
        return _loads_alive(con)


def _loads_alive(con: duckdb.DuckDBPyConnection) -> list[str]:
    # Which processes are alive is the crash recovery's rule (pid, host, boot, start time).
    if not con.execute("SELECT 1 FROM duckdb_tables() WHERE table_name = 'load_log'").fetchall():
        return []
    dead = set(dead_running_loads(con))
    rows = fetch(con, """SELECT load_id, file_name, started_at FROM load_log
                         WHERE status = 'running' ORDER BY load_id""")
    return [f"load {load_id} ({file_name}, started {started_at:%Y-%m-%d %H:%M})"
            for load_id, file_name, started_at in rows.iter_rows() if load_id not in dead]


def restore_warehouse(settings: Settings, source: Path, *, now: datetime | None = None,
                      timeout_s: float = 5.0) -> Restored:
    """Replace the warehouse with the backup in ``source``; the old file is kept aside.

    Refused (RestoreError, nothing changed) when ``source`` is not a backup, while a load
    runs, or while another process has the warehouse open.
    """
    source = Path(source).resolve()
    if not _is_backup(source):
        raise RestoreError(f"{source} is not a WICS backup (a folder written by `wics backup`, "
                           "with schema.sql and load.sql)")
    try:
        loads = running_loads(settings, timeout_s=timeout_s)
    except WarehouseBusyError as error:
        raise RestoreError(_IN_USE.format(error=error)) from error
    if loads:
        raise RestoreError("a load is running (" + "; ".join(loads) + "); restore when it "
                           "has finished")
    stamp = (now or datetime.now()).strftime("%Y%m%dT%H%M%S")
    database = settings.database.resolve()
    building = database.with_name(f"{database.name}.restoring-{stamp}")
    building.unlink(missing_ok=True)
    try:
        con = duckdb.connect(str(building))
        try:
            con.execute(f"IMPORT DATABASE {_sql_path(source)}")
            create_schema(con)  # a backup of an older version gets today's tables
            names = [n for (n,) in con.execute(
                "SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()]
            tables = {n: con.execute(f'SELECT count(*) FROM "{n}"').fetchall()[0][0]
                      for n in names}
            con.execute("CHECKPOINT")
        finally:
            con.close()
        replaced = database.with_name(f"{database.name}.replaced-{stamp}")
        try:
            with exclusive(database, timeout_s=timeout_s):
                # Re-checked now that no load can start: one may have begun meanwhile.
                if database.exists():
                    late = _running_now(database)
                    if late:
                        raise RestoreError("a load is running (" + "; ".join(late) + "); "
                                           "restore when it has finished")
                    database.rename(replaced)
                    wal = database.with_name(database.name + ".wal")
                    if wal.exists():
                        wal.rename(replaced.with_name(replaced.name + ".wal"))
                else:
                    replaced = None
                building.rename(database)
                forget_schema(database)
        except WarehouseBusyError as error:
            raise RestoreError(_IN_USE.format(error=error)) from error
    finally:
        building.unlink(missing_ok=True)
    return Restored(database, replaced, tables)


def _running_now(database: Path) -> list[str]:
    # Inside exclusive(): nobody else has the file, a direct read-only look is safe.
    con = duckdb.connect(str(database), read_only=True)
    try:
        return _loads_alive(con)
    finally:
        con.close()
