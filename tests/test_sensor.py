"""The drop-folder sensor, tick by tick, with real files and a real warehouse."""

from __future__ import annotations

import json
import os
import shutil
import time

import dagster as dg
import pytest

from pipelines.defs.resources import WicsWarehouse
from pipelines.defs.sensors import watch_drop_folder
from pipelines.ingest.load import load_file
from pipelines.warehouse.db import query

from conftest import COUNT_HEADER, mb52_row, mm60_row, write_text, write_xlsx


def age(path, seconds: float = 60) -> None:
    """Make a file look written `seconds` ago (it has stopped growing)."""
    stamp = time.time() - seconds
    os.utime(path, (stamp, stamp))


def tick(cursor: str | None = None, instance: dg.DagsterInstance | None = None) -> dg.SensorResult:
    context = dg.build_sensor_context(cursor=cursor, resources={"wics": WicsWarehouse()},
                                      instance=instance or dg.DagsterInstance.ephemeral())
    return watch_drop_folder(context, context.resources.wics)


@pytest.fixture
def drop(wics_home, mm60_file, mb52_file, count_file):
    """Put files into drop/ (aged, so they count as complete)."""
    def put(source, name=None, seconds=60):
        target = wics_home.drop_dir / (name or source.name)
        shutil.copy(source, target)
        age(target, seconds)
        return target
    return put


def test_files_dropped_together_load_master_data_first(wics_home, drop, mm60_file, mb52_file,
                                                        count_file):
    drop(count_file([["2026-11-02", "1", "1000", "0001", "A1", 5, "ANA"]]))
    drop(mb52_file([mb52_row("1", unrestricted=4)], name="MB52_2026-11-03.xlsx"))
    drop(mb52_file([mb52_row("1")], name="MB52_2026-11-02.xlsx"))
    drop(mm60_file([mm60_row("1")]))
    result = tick()
    jobs = [(r.job_name, r.tags["wics/file"]) for r in result.run_requests]
    assert jobs == [("load_mm60", "MM60_2026-11-01.xlsx"),
                    ("load_mb52", "MB52_2026-11-02.xlsx"),
                    ("load_mb52", "MB52_2026-11-03.xlsx"),
                    ("load_count_sheet", "counts_2026-11-02.xlsx")]
    first = result.run_requests[0]
    assert first.run_config == {"ops": {"material": {"config": {
        "path": str(wics_home.drop_dir / "MM60_2026-11-01.xlsx")}}}}
    assert first.tags["wics/kind"] == "mm60" and len(first.tags["wics/sha256"]) == 64
    assert first.tags["wics/snapshot_date"] == "2026-11-01"
    assert len({r.run_key for r in result.run_requests}) == 4


def test_cursor_survives_ticks_and_a_changed_file_runs_again(wics_home, drop, mm60_file):
    path = drop(mm60_file([mm60_row("1")]))
    first = tick()
    assert len(first.run_requests) == 1
    cursor = json.loads(first.cursor)
    assert cursor == {"launched": {path.name: first.run_requests[0].run_key}, "attempts": {}}
    again = tick(first.cursor)  # a restarted daemon reads the same cursor
    assert again.run_requests == []
    changed = mm60_file([mm60_row("1"), mm60_row("2")], name="other.xlsx")
    shutil.copy(changed, path)
    age(path)
    third = tick(again.cursor)
    assert [r.tags["wics/file"] for r in third.run_requests] == [path.name]
    assert third.run_requests[0].run_key != first.run_requests[0].run_key


def test_a_growing_file_waits_until_it_stops(wics_home, drop, mb52_file):
    path = drop(mb52_file([mb52_row("1")]), seconds=0)
    assert tick().run_requests == []  # still being written
    age(path)
    assert len(tick().run_requests) == 1


def test_same_bytes_again_are_recorded_as_duplicate_without_a_run(wics_home, drop, mm60_file):
    original = mm60_file([mm60_row("1")])
    assert load_file(original).status == "loaded"
    copy = drop(original, name="MM60_copy_2026-11-01.xlsx")
    result = tick()
    assert result.run_requests == []
    assert not copy.exists()
    assert (wics_home.archive_dir / copy.name).exists()
    statuses = query("SELECT file_name, status FROM load_log ORDER BY load_id",
                     path=wics_home.database).rows()
    assert statuses[-1] == (copy.name, "duplicate")


def test_same_bytes_under_two_names_in_one_tick_run_once(wics_home, drop, mm60_file):
    source = mm60_file([mm60_row("1")])
    drop(source, name="MM60_a_2026-11-01.xlsx")
    drop(source, name="MM60_b_2026-11-01.xlsx")
    assert [r.tags["wics/file"] for r in tick().run_requests] == ["MM60_a_2026-11-01.xlsx"]


def test_bad_files_are_rejected_and_the_sensor_goes_on(wics_home, drop, mm60_file, tmp_path):
    garbage = drop(write_text(tmp_path / "notes.txt", "hello\nworld\n"))
    empty = drop(write_text(tmp_path / "empty.XLS", ""))
    sheet = drop(write_xlsx(tmp_path / "half.xlsx", [COUNT_HEADER[:2]]))
    good = drop(mm60_file([mm60_row("1")]))
    result = tick()
    assert [r.tags["wics/file"] for r in result.run_requests] == [good.name]
    for bad in (garbage, empty, sheet):
        assert not bad.exists()
        assert (wics_home.rejected_dir / f"{bad.name}.error.txt").exists()
    rejected = query("SELECT file_name FROM load_log WHERE status = 'rejected' ORDER BY 1",
                     path=wics_home.database)["file_name"].to_list()
    assert rejected == sorted([garbage.name, empty.name, sheet.name])


def test_partial_and_hidden_files_are_ignored(wics_home, drop, mm60_file):
    drop(mm60_file([mm60_row("1")]), name="~$MM60.xlsx")
    drop(mm60_file([mm60_row("1")]), name="MM60.xlsx.part")
    drop(mm60_file([mm60_row("1")]), name=".hidden.xlsx")
    assert tick().run_requests == []
    assert len(list(wics_home.drop_dir.iterdir())) == 3  # untouched, not rejected


def _record_run(instance: dg.DagsterInstance, request: dg.RunRequest,
                status: dg.DagsterRunStatus) -> dg.DagsterRun:
    """The run the daemon would have created for ``request``, in ``status``."""
    from dagster._core.storage.dagster_run import DagsterRun

    run = DagsterRun(job_name=request.job_name, run_id=f"run-{abs(hash(request.run_key))}",
                     status=status, tags=request.tags)
    instance.add_run(run)
    return run


def test_a_drop_whose_run_failed_is_launched_again_at_most_three_times(wics_home, drop,
                                                                         mm60_file):
    instance = dg.DagsterInstance.ephemeral()
    drop(mm60_file([mm60_row("1")]))
    first = tick(instance=instance)
    _record_run(instance, first.run_requests[0], dg.DagsterRunStatus.NOT_STARTED)
    assert tick(first.cursor, instance).run_requests == []  # not finished: wait
    instance.delete_run(f"run-{abs(hash(first.run_requests[0].run_key))}")
    _record_run(instance, first.run_requests[0], dg.DagsterRunStatus.FAILURE)
    second = tick(first.cursor, instance)
    assert [r.run_key for r in second.run_requests] == [first.run_requests[0].run_key + "#2"]
    _record_run(instance, second.run_requests[0], dg.DagsterRunStatus.FAILURE)
    third = tick(second.cursor, instance)
    assert [r.run_key for r in third.run_requests] == [first.run_requests[0].run_key + "#3"]
    _record_run(instance, third.run_requests[0], dg.DagsterRunStatus.FAILURE)
    assert tick(third.cursor, instance).run_requests == []  # gave up: a person looks


def test_a_run_whose_process_died_is_failed_and_its_file_launched_again(wics_home, drop,
                                                                         mm60_file):
    from pipelines.warehouse.db import warehouse

    instance = dg.DagsterInstance.ephemeral()
    path = drop(mm60_file([mm60_row("1")]))
    first = tick(instance=instance)
    run = _record_run(instance, first.run_requests[0], dg.DagsterRunStatus.STARTED)
    # the run's process was killed in the middle of its load: its row says running, pid gone
    with warehouse(wics_home.database) as con:
        con.execute("""INSERT INTO load_log (load_id, file_name, status, started_at, run_id,
                                             pid, host)
                       VALUES (nextval('load_id'), ?, 'running', now(), ?, 999999999, ?)""",
                    [path.name, run.run_id, os.uname().nodename])
    second = tick(first.cursor, instance)
    assert [r.run_key for r in second.run_requests] == [first.run_requests[0].run_key + "#2"]
    assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
    log = query("SELECT status, error FROM load_log WHERE run_id = ?", [run.run_id],
                path=wics_home.database).row(0)
    assert log[0] == "failed" and log[1].startswith("interrupted")


def test_a_tick_finishes_a_refresh_that_a_dead_process_left(wics_home, mm60_file, count_file,
                                                            mb52_file):
    from pipelines.warehouse.db import warehouse

    load_file(mm60_file([mm60_row("1")]))
    load_file(count_file([["2026-11-02", "1", "1000", "0001", "A1", 5, "ANA"]]))
    stock = load_file(mb52_file([mb52_row("1", unrestricted=5)]))
    with warehouse(wics_home.database) as con:
        con.execute("UPDATE load_log SET pid = 999999999, refresh_state = 'pending' "
                    "WHERE load_id = ?", [stock.load_id])
        con.execute("DELETE FROM count_variance")  # as if the refresh never ran
    tick()
    assert query("SELECT refresh_state FROM load_log WHERE load_id = ?", [stock.load_id],
                 path=wics_home.database).item() == "done"
    assert query("SELECT sap_qty FROM count_variance", path=wics_home.database).item() == 5.0
