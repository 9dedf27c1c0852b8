"""``make loadtest`` in small: counters in threads of this process and in a second process
save while a third loads an MM60 and an MB52; every save is there exactly once, and no caller
saw an error. (Timing is for ``make loadtest``; nothing here asserts it.)"""

from __future__ import annotations

import pytest

from benchmarks.loadtest import Config, run


@pytest.mark.slow
@pytest.mark.parametrize("keep_open", ["0", "2"])
def test_every_count_saved_under_load_is_there_exactly_once(tmp_path, monkeypatch, keep_open):
    monkeypatch.setenv("WICS_HOME", str(tmp_path / "home"))  # run() sets it for its children
    # Closed after every use, and kept open between uses (the default outside the tests).
    monkeypatch.setenv("WICS_KEEP_OPEN_SECONDS", keep_open)
    config = Config(home=tmp_path / "home", counters_in_process=6,
                    counters_in_second_process=2, saves_per_counter=8, think_s=0.02,
                    mm60_rows=2_000, mb52_rows=6_000, time_limit_s=300, log=False)
    outcome = run(config)
    assert [load["status"] for load in outcome.loads] == ["loaded", "loaded"]
    assert [s.error for s in outcome.errors] == []
    assert len(outcome.all_saves) == 8 * 8
    assert outcome.lost == [] and outcome.duplicated == [] and outcome.phantom == []
    assert outcome.watch_samples > 0
    assert len(outcome.in_warehouse) == 64
    assert {s.counter for s in outcome.second_process} == {"p2c00", "p2c01"}


def test_the_file_watch_sees_a_process_writing_without_duckdbs_lock(wics_home):
    import os
    import time

    from benchmarks.loadtest import FileWatch
    from pipelines.warehouse.db import warehouse

    database = wics_home.database.resolve()
    with warehouse(database):
        pass
    watch = FileWatch(database, [os.getpid()], every_s=0.01, persist_s=0.05)
    watch.start()
    try:
        with warehouse(database):
            time.sleep(0.1)
            assert watch.findings == []  # DuckDB's descriptor, with its lock
            # Opening and closing any descriptor of the file drops the process's fcntl locks
            # on it: the instance stays open read-write, unprotected.
            os.close(os.open(database, os.O_RDONLY))
            deadline = time.monotonic() + 10
            while not watch.findings and time.monotonic() < deadline:
                time.sleep(0.01)
    finally:
        watch.stop.set()
        watch.join()
    assert "without a lock" in watch.findings[0]
