"""The one way to touch the DuckDB file.

Dagster (webserver, daemon, run workers), the ``wics`` command and Streamlit are separate
processes on one file, and DuckDB lets only one process open it for writing. So nobody keeps it
open: every operation opens the file, works in one transaction, commits (or rolls back) and
closes, retrying with backoff while another process holds the lock.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from pipelines.settings import get_settings
from pipelines.warehouse.schema import create_schema


class WarehouseBusyError(RuntimeError):
    """The DuckDB file stayed locked by another process for longer than we were willing to wait."""


def _is_lock_conflict(error: Exception) -> bool:
    text = str(error)
    return "Could not set lock" in text or "Conflicting lock" in text


def _open(path: Path, read_only: bool, timeout_s: float) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + timeout_s
    delay = 0.02
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except (duckdb.IOException, duckdb.ConnectionException) as error:
            if not _is_lock_conflict(error):
                raise
            if time.monotonic() >= deadline:
                raise WarehouseBusyError(
                    f"{path} has been locked by another process for {timeout_s:.0f} s; "
                    "try again when the running load has finished"
                ) from error
            # Jitter keeps two waiting processes from retrying in lockstep.
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 0.5)


@contextmanager
def warehouse(
    path: Path | str | None = None,
    *,
    read_only: bool = False,
    timeout_s: float = 120.0,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse, run the block in one transaction, commit, close.

    An exception inside the block rolls everything back. Readers pass ``read_only=True``; a
    missing database is created (with its schema) by a short write first, so a fresh
    ``WICS_HOME`` works for readers too.
    """
    db_path = Path(path) if path is not None else get_settings().database
    db_path.parent.mkdir(parents=True, exist_ok=True)
    if read_only and not db_path.exists():
        with warehouse(db_path, timeout_s=timeout_s):
            pass
    con = _open(db_path, read_only, timeout_s)
    try:
        if not read_only:
            create_schema(con)
        con.execute("BEGIN TRANSACTION")
        try:
            yield con
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")
    finally:
        con.close()


def query(
    sql: str,
    params: Sequence[Any] | dict[str, Any] | None = None,
    *,
    path: Path | str | None = None,
) -> pl.DataFrame:
    """Run one read-only query and return its rows as a polars frame."""
    with warehouse(path, read_only=True) as con:
        return fetch(con, sql, params)


def fetch(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    params: Sequence[Any] | dict[str, Any] | None = None,
) -> pl.DataFrame:
    """Rows of ``sql`` on an open connection, as polars (parameters are always bound)."""
    return con.sql(sql, params=params).pl()
