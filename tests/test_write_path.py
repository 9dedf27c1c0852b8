"""The write path never fails a counter: threads of one process save at once, readers read
meanwhile, a save waits for a load instead of misreading it, and every wait is bounded."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import duckdb
import pytest
from counting_support import AT, MON, add_material

from pipelines.access import Role, User
from pipelines.counting.records import CountError, add_count
from pipelines.ingest.load import load_file
from pipelines.settings import get_settings
from pipelines.warehouse import db
from pipelines.warehouse.db import (
    WarehouseBusyError,
    WarehouseConflictError,
    fetch,
    in_transaction,
    query,
    release_idle,
    warehouse,
)

from conftest import mm60_row

ANA = User("ana", Role.COUNTER)
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def home(wics_home):
    with warehouse() as con:
        for i in range(20):
            add_material(con, f"M{i}")
    return wics_home


def _wait_until(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never came true"
        time.sleep(0.01)


def test_threads_of_one_process_save_at_once_while_others_read(home):
    errors: list[BaseException] = []
    saved: list[str] = []
    stop = threading.Event()

    def counter(k: int) -> None:
        for i in range(10):
            tag = f"t{k}-{i}"
            try:
                with warehouse() as con:
                    add_count(con, count_date=MON, material=f"M{(k + i) % 20}", plant="1000",
                              quantity="2*3", location="R1", notes=tag, user=ANA,
                              settings=get_settings())
                saved.append(tag)
            except BaseException as error:  # noqa: BLE001 - the test counts every error
                errors.append(error)

    def reader() -> None:
        while not stop.is_set():
            try:
                query("SELECT count(*) FROM count_variance")
            except BaseException as error:  # noqa: BLE001
                errors.append(error)

    readers = [threading.Thread(target=reader) for _ in range(2)]
    counters = [threading.Thread(target=counter, args=(k,)) for k in range(8)]
    for thread in readers + counters:
        thread.start()
    for thread in counters:
        thread.join()
    stop.set()
    for thread in readers:
        thread.join()
    assert errors == []
    rows = query("SELECT notes, count(*) AS n FROM physical_count GROUP BY notes")
    assert sorted(rows["notes"].to_list()) == sorted(saved) and len(saved) == 80
    assert set(rows["n"].to_list()) == {1}
    variance = query("SELECT sum(count_lines) FROM count_variance").item()
    assert variance == 80  # every save reconciled its own line


def test_a_save_waits_for_a_material_master_being_written_instead_of_misreading_it(home):
    """Reproduces the false 'not in the material master' seen while an MM60 loads: the save
    used to run beside the load's open transaction and not see the materials it adds."""
    loading, finish = threading.Event(), threading.Event()
    outcome: list[object] = []

    def load() -> None:  # a material master load in its transaction
        with warehouse() as con:
            add_material(con, "NEW1")
            loading.set()
            finish.wait(30)

    def save() -> None:
        try:
            with warehouse() as con:
                outcome.append(add_count(con, count_date=MON, material="NEW1", plant="1000",
                                         quantity="5", user=ANA, settings=get_settings()))
        except BaseException as error:  # noqa: BLE001
            outcome.append(error)

    loader = threading.Thread(target=load)
    loader.start()
    assert loading.wait(30)
    saver = threading.Thread(target=save)
    saver.start()
    gate = db._gate(home.database.resolve())
    _wait_until(lambda: gate.waiting >= 1)  # the save is queued behind the load
    finish.set()
    loader.join()
    saver.join()
    assert len(outcome) == 1 and isinstance(outcome[0], int), outcome
    assert query("SELECT material FROM physical_count").item() == "NEW1"


def test_a_count_during_an_mm60_load_says_the_load_is_running(home, mm60_file):
    # The plant's whole master again (a file of one row would be refused as partial) + NEW2.
    path = mm60_file([mm60_row(f"M{i}") for i in range(20)] + [mm60_row("NEW2")],
                     name="MM60_2026-11-20.xlsx")
    parsed, go = threading.Event(), threading.Event()

    def progress(phase: str, done: int, total: int) -> None:
        if phase == "parsed":  # read, not yet written
            parsed.set()
            go.wait(30)

    loader = threading.Thread(target=load_file, args=(path,), kwargs={"progress": progress})
    loader.start()
    try:
        assert parsed.wait(60)
        with pytest.raises(CountError, match=r"not in the material master of plant 1000 yet: "
                                             r"MM60_2026-11-20.xlsx is being loaded"), \
                warehouse() as con:
            add_count(con, count_date=MON, material="NEW2", plant="1000", quantity="1",
                      user=ANA, settings=get_settings())
    finally:
        go.set()
        loader.join()
    assert query("SELECT status FROM load_log").item() == "loaded"
    with warehouse() as con:
        add_count(con, count_date=MON, material="NEW2", plant="1000", quantity="1", user=ANA,
                  settings=get_settings())


def test_the_schema_is_ensured_once_per_process_and_file(home, monkeypatch):
    calls: list[object] = []
    real = db.create_schema
    monkeypatch.setattr(db, "create_schema", lambda con: (calls.append(con), real(con)))
    db.forget_schema(home.database)
    for read_only in (False, True, False, True):
        with warehouse(read_only=read_only):
            pass
    assert len(calls) == 1
    db.forget_schema(home.database)  # e.g. the file was restored from a backup
    with warehouse(read_only=True):
        pass
    assert len(calls) == 2


def test_a_save_behind_a_long_write_of_the_process_gives_up_clearly(home):
    holding, release = threading.Event(), threading.Event()

    def long_write() -> None:
        with warehouse():
            holding.set()
            release.wait(30)

    holder = threading.Thread(target=long_write)
    holder.start()
    try:
        assert holding.wait(30)
        with pytest.raises(WarehouseBusyError, match="nothing was written"), \
                warehouse(timeout_s=0.2) as con:
            add_count(con, count_date=MON, material="M1", plant="1000", quantity="1", user=ANA,
                      settings=get_settings())
    finally:
        release.set()
        holder.join()
    assert query("SELECT count(*) FROM physical_count").item() == 0


def test_a_conflict_with_an_outside_writer_is_retried_whole(home):
    attempts: list[int] = []

    def work(con: duckdb.DuckDBPyConnection) -> int:
        attempts.append(1)
        fetch(con, "SELECT * FROM material WHERE material = 'M1'")
        if len(attempts) == 1:
            # Someone outside WICS changes the same row after our transaction started.
            outside = duckdb.connect(str(home.database))
            outside.execute("UPDATE material SET description = 'outside' "
                            "WHERE material = 'M1'")
            outside.close()
        con.execute("UPDATE material SET description = 'ours' WHERE material = 'M1'")
        return len(attempts)

    assert in_transaction(work) == 2
    assert query("SELECT description FROM material WHERE material = 'M1'").item() == "ours"
    # The plain context manager says so instead of retrying (it cannot re-run the block).
    attempts.clear()
    with pytest.raises(WarehouseConflictError, match="nothing was written"), \
            warehouse() as con:
        work(con)


def test_a_write_inside_a_read_of_the_same_thread_is_refused_not_deadlocked(home):
    release_idle()  # the fixture's write left the file open read-write: a read would share it
    with pytest.raises(RuntimeError, match="inside a read-only block"), \
            warehouse(read_only=True), warehouse(timeout_s=5):
        pass


def test_a_read_inside_a_write_of_the_same_thread_sees_the_committed_state(home):
    with warehouse() as con:
        add_count(con, count_date=MON, material="M1", plant="1000", quantity="1", user=ANA,
                  entered_at=AT, settings=get_settings())
        # A nested reader shares the open instance; it sees what was committed before.
        assert query("SELECT count(*) FROM physical_count").item() == 0
    assert query("SELECT count(*) FROM physical_count").item() == 1
    assert datetime.now() > AT


# ------------------------------------------------------------------------------------------
# The lease: the file stays open between uses of a process, and is handed over on request
# ------------------------------------------------------------------------------------------

SAVE_IN_ANOTHER_PROCESS = """
import sys
from pipelines.access import Role, User
from pipelines.counting.records import add_count
from pipelines.settings import get_settings
from pipelines.warehouse.db import warehouse
with warehouse(timeout_s=20) as con:
    add_count(con, count_date="2026-11-02", material="M2", plant="1000", quantity="7",
              user=User("bo", Role.COUNTER), settings=get_settings())
print("saved")
"""


def test_the_warehouse_stays_open_between_saves_of_a_process(home, monkeypatch):
    monkeypatch.setenv("WICS_KEEP_OPEN_SECONDS", "60")
    opened = []
    real_connect = db.duckdb.connect

    def connect(*args, **kwargs):
        opened.append(args[0])
        return real_connect(*args, **kwargs)

    release_idle()
    monkeypatch.setattr(db.duckdb, "connect", connect)
    for quantity in ("1", "2", "3"):
        with warehouse() as con:
            add_count(con, count_date=MON, material="M1", plant="1000", quantity=quantity,
                      user=ANA, settings=get_settings())
    gate = db._gate(home.database.resolve())
    assert gate.anchor is not None and gate.mode == "rw"  # kept for the next save
    # The first save opened the file; the other two joined the instance it kept open (a
    # connection to an open instance is cheap; an open of the file is not).
    assert len(opened) == 3
    release_idle()
    assert gate.anchor is None and gate.mode is None
    assert query("SELECT count(*) FROM physical_count").item() == 3


def test_a_lease_runs_out(home, monkeypatch):
    monkeypatch.setenv("WICS_KEEP_OPEN_SECONDS", "0.2")
    with warehouse() as con:
        con.execute("SELECT 1")
    gate = db._gate(home.database.resolve())
    assert gate.anchor is not None
    _wait_until(lambda: gate.anchor is None and gate.mode is None)  # the watcher closed it
    with warehouse(read_only=True) as con:  # and a later use opens it again
        assert con.execute("SELECT count(*) FROM material").fetchall() == [(20,)]


def test_another_process_gets_the_file_this_process_keeps_open(home, monkeypatch):
    # This process keeps the file open for a minute; the other one's save must not wait for
    # that: it waits at the turnstile, and the watcher hands the file over.
    monkeypatch.setenv("WICS_KEEP_OPEN_SECONDS", "60")
    with warehouse() as con:
        add_count(con, count_date=MON, material="M1", plant="1000", quantity="1", user=ANA,
                  settings=get_settings())
    gate = db._gate(home.database.resolve())
    assert gate.anchor is not None
    other = subprocess.run([sys.executable, "-c", SAVE_IN_ANOTHER_PROCESS], env={
        **os.environ, "PYTHONPATH": str(REPO), "WICS_KEEP_OPEN_SECONDS": "0"},
        capture_output=True, text=True, timeout=120)
    assert other.returncode == 0, other.stderr[-2000:]
    assert other.stdout.strip() == "saved"
    assert gate.anchor is None  # handed over, not timed out: the other process waited 20 s
    assert query("SELECT entered_by FROM physical_count ORDER BY count_id")[
        "entered_by"].to_list() == ["ana", "bo"]
