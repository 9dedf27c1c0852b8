"""``wics backup`` and ``wics restore``: a round trip gives the same tables back, the replaced
file is kept aside, and a restore is refused while a load runs or the file is in use."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
from counting_support import MON, add_material, add_stock

from pipelines.access import Role, User
from pipelines.cli import main
from pipelines.counting.records import add_count
from pipelines.ingest.recovery import ProcessIdentity
from pipelines.settings import get_settings
from pipelines.warehouse.backup import (
    RestoreError,
    backup_warehouse,
    restore_warehouse,
    running_loads,
)
from pipelines.warehouse.db import query, release_idle, warehouse

from conftest import table_fingerprint

ANA = User("ana", Role.COUNTER)

HOLDER = """
import sys, time, duckdb
from pathlib import Path
con = duckdb.connect(sys.argv[1])
Path(sys.argv[2]).write_text("locked")
time.sleep(float(sys.argv[3]))
con.close()
"""


@pytest.fixture
def home(wics_home):
    with warehouse() as con:
        add_material(con, "M1")
        add_material(con, "M2", abc="C")
        add_stock(con, MON, "M1", unrestricted=10)
        add_count(con, count_date=MON, material="M1", plant="1000", quantity="9", user=ANA,
                  settings=get_settings())
    return wics_home


def _count_again(quantity: str = "4") -> None:
    with warehouse() as con:
        add_count(con, count_date=MON, material="M2", plant="1000", quantity=quantity,
                  user=ANA, settings=get_settings())


def test_backup_and_restore_round_trip_through_the_command(home, tmp_path, capsys):
    backed_up = table_fingerprint(home)
    sequences = query("SELECT max(count_id) FROM physical_count").item()
    target = tmp_path / "backup-1"
    assert main(["backup", str(target)]) == 0
    assert (target / "schema.sql").is_file()
    _count_again()
    changed = table_fingerprint(home)
    assert changed != backed_up

    assert main(["restore", str(target)]) == 0
    assert table_fingerprint(home) == backed_up
    kept = sorted(home.home.glob("wics.duckdb.replaced-*"))
    assert len(kept) == 1 and "kept as" in capsys.readouterr().out
    # The replaced file is a whole warehouse with the change the restore undid.
    assert query("SELECT count(*) FROM physical_count", path=kept[0]).item() == 2
    # Writing goes on after the restore, and ids never repeat.
    _count_again("5")
    assert query("SELECT max(count_id) FROM physical_count").item() > sequences


def test_default_backups_go_to_the_backups_folder_and_old_ones_are_removed(home):
    made = []
    for day in range(3):
        target, removed = backup_warehouse(home, keep=2, now=datetime(2026, 11, 1 + day, 2))
        made.append(target)
    assert removed == [made[0]]
    assert sorted(p.name for p in (home.home / "backups").iterdir()) == [
        "wics-20261102T020000", "wics-20261103T020000"]


def test_a_backup_never_overwrites_a_folder(home, tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "something").write_text("x")
    assert main(["backup", str(tmp_path / "taken")]) == 1


def test_restore_refuses_what_is_not_a_backup(home, tmp_path):
    before = table_fingerprint(home)
    with pytest.raises(RestoreError, match="not a WICS backup"):
        restore_warehouse(home, tmp_path)
    assert table_fingerprint(home) == before


def _start_load(process: ProcessIdentity) -> None:
    with warehouse() as con:
        con.execute("""INSERT INTO load_log (load_id, file_name, status, started_at, pid, host,
                                             boot_id, start_ticks)
                       VALUES (nextval('load_id'), 'MB52_big.xlsx', 'running', ?, ?, ?, ?, ?)""",
                    [datetime.now(), process.pid, process.host, process.boot_id,
                     process.start_ticks])


def test_restore_is_refused_while_a_load_runs(home, tmp_path):
    target, _ = backup_warehouse(home, target=tmp_path / "b")
    _start_load(ProcessIdentity.current())  # this process: alive
    before = table_fingerprint(home)
    with pytest.raises(RestoreError, match=r"a load is running \(load \d+ \(MB52_big.xlsx"):
        restore_warehouse(home, target)
    assert table_fingerprint(home) == before
    assert not list(home.home.glob("wics.duckdb.re*"))
    assert running_loads(home)  # still running


def test_a_running_row_of_a_dead_process_does_not_block_a_restore(home, tmp_path):
    target, _ = backup_warehouse(home, target=tmp_path / "b")
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)
    here = ProcessIdentity.current()
    _start_load(ProcessIdentity(int(finished.stdout), here.host, here.boot_id, 1))
    assert running_loads(home) == []
    restore_warehouse(home, target)


def test_restore_is_refused_while_another_process_has_the_file(home, tmp_path):
    target, _ = backup_warehouse(home, target=tmp_path / "b")
    _count_again()
    before = table_fingerprint(home)
    marker = tmp_path / "marker"
    release_idle()  # the holder opens the file directly, past the turnstile a lease watches
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(home.database), str(marker),
                               "3"])
    try:
        deadline = time.monotonic() + 30
        while not marker.exists():
            assert time.monotonic() < deadline
            time.sleep(0.02)
        with pytest.raises(RestoreError, match="another process has the warehouse open"):
            restore_warehouse(home, target, timeout_s=0.3)
    finally:
        holder.wait(timeout=30)
    assert table_fingerprint(home) == before
    assert not list(Path(home.home).glob("wics.duckdb.re*"))
