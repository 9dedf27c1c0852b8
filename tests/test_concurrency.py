"""Two processes, one DuckDB file: a writer waits for the lock instead of failing."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from pipelines.ingest.load import load_file
from pipelines.warehouse.db import (
    WarehouseAbortedError,
    WarehouseBusyError,
    query,
    release_idle,
    warehouse,
)

from conftest import mm60_row

HOLDER = """
import sys, time, duckdb
from pathlib import Path
con = duckdb.connect(sys.argv[1])
con.execute("CREATE TABLE IF NOT EXISTS holder_marker (x INT)")
Path(sys.argv[2]).write_text("locked")
time.sleep(float(sys.argv[3]))
con.close()
Path(sys.argv[2]).write_text("released")
"""


def _hold_lock(database: Path, marker: Path, seconds: float) -> subprocess.Popen:
    release_idle()  # the holder opens the file directly, past the turnstile a lease watches
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(database), str(marker),
                               str(seconds)])
    deadline = time.monotonic() + 30
    while not marker.exists():
        assert time.monotonic() < deadline, "lock holder did not start"
        time.sleep(0.02)
    return holder


def test_load_waits_for_another_process_holding_the_file(wics_home, mm60_file, tmp_path):
    with warehouse(wics_home.database):
        pass  # create the file first
    marker = tmp_path / "marker"
    holder = _hold_lock(wics_home.database, marker, 1.5)
    try:
        result = load_file(mm60_file([mm60_row("1")]))
    finally:
        holder.wait(timeout=30)
    assert result.status == "loaded"
    assert marker.read_text() == "released"  # it could only write after the holder let go
    assert query("SELECT count(*) FROM material", path=wics_home.database).item() == 1


def test_reader_gives_a_clear_error_when_the_lock_never_comes(wics_home, tmp_path):
    with warehouse(wics_home.database):
        pass
    holder = _hold_lock(wics_home.database, tmp_path / "marker", 3)
    try:
        with pytest.raises(WarehouseBusyError, match="locked by another process"), \
                warehouse(wics_home.database, read_only=True, timeout_s=0.3):
            pass
    finally:
        holder.wait(timeout=30)


def test_an_error_inside_the_block_rolls_everything_back(wics_home):
    with pytest.raises(RuntimeError), warehouse(wics_home.database) as con:
        con.execute("INSERT INTO material (material, plant, updated_at) "
                    "VALUES ('1', '1000', now())")
        raise RuntimeError("boom")
    assert query("SELECT count(*) FROM material", path=wics_home.database).item() == 0


def test_a_block_that_swallows_a_failed_statement_is_not_reported_as_saved(wics_home):
    # DuckDB aborts the transaction at the failed statement, and COMMIT of an aborted
    # transaction returns quietly having written nothing: the caller must hear about it.
    with pytest.raises(WarehouseAbortedError), warehouse(wics_home.database) as con:
        con.execute("INSERT INTO material (material, plant, updated_at) "
                    "VALUES ('1', '1000', now())")
        with pytest.raises(duckdb.Error):
            con.execute("SELECT * FROM no_such_table")
    assert query("SELECT count(*) FROM material", path=wics_home.database).item() == 0
    with warehouse(wics_home.database) as con:  # the next block works as usual
        con.execute("INSERT INTO material (material, plant, updated_at) "
                    "VALUES ('1', '1000', now())")
    assert query("SELECT count(*) FROM material", path=wics_home.database).item() == 1
