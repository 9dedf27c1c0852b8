"""Schema migrations: an old warehouse file upgrades in place, without losing a row."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import pytest

from pipelines.counting.config import CountingConfig
from pipelines.counting.reconcile import reconcile
from pipelines.warehouse.db import release_idle, warehouse
from pipelines.warehouse.migrations import MIGRATIONS, Migration, migrate, schema_version
from pipelines.warehouse.schema import TABLES

from conftest import REPO

# Made by WICS at ced9950 (the schema before migrations), a few rows in every table.
OLD_FILE = REPO / "tests" / "fixtures" / "warehouse_ced9950.duckdb"


@pytest.fixture
def old_file(tmp_path: Path) -> Path:
    path = tmp_path / "old.duckdb"
    shutil.copyfile(OLD_FILE, path)
    return path


def contents(path: Path, *, old_columns: bool = False) -> dict[str, list[tuple]]:
    """Every row of every table; with ``old_columns`` only the columns the fixture file had
    (later migrations add columns to its rows)."""
    chosen = ({t: ", ".join(c for c, _ in cs) for t, cs in columns(OLD_FILE).items()}
              if old_columns else {})
    release_idle()  # a direct look at the file: WICS must not keep it open meanwhile
    with duckdb.connect(str(path), read_only=True) as con:
        return {t: sorted(con.execute(f"SELECT {chosen.get(t, '*')} FROM {t}").fetchall(),
                          key=repr)
                for t in TABLES}


def columns(path: Path) -> dict[str, list[tuple[str, str]]]:
    release_idle()
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute("""SELECT table_name, column_name, data_type FROM duckdb_columns()
                              WHERE database_name = current_database()
                              ORDER BY table_name, column_index""").fetchall()
    found: dict[str, list[tuple[str, str]]] = {}
    for table, column, kind in rows:
        found.setdefault(table, []).append((column, kind))
    return found


def versions(path: Path) -> list[tuple[int, str]]:
    release_idle()
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute("SELECT version, name FROM schema_version ORDER BY version").fetchall()


def add_device(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("ALTER TABLE physical_count ADD COLUMN IF NOT EXISTS device VARCHAR")


# How a later migration looks: the column goes into schema.TABLES and this into MIGRATIONS.
DEVICE = len(MIGRATIONS) + 1
WITH_DEVICE = (*MIGRATIONS,
               Migration(DEVICE, "physical_count.device: the tablet used", add_device))
ALL_VERSIONS = [m.version for m in WITH_DEVICE]


def test_opening_an_old_file_upgrades_it_without_losing_a_row(old_file, tmp_path):
    before = contents(old_file)
    assert all(before.values()), "the fixture has rows in every table"
    with duckdb.connect(str(old_file), read_only=True) as con:
        assert schema_version(con) == 0
    with warehouse(old_file) as con:
        # The upgraded file works: sequences continue, the counting functions run.
        new_id = con.execute("""INSERT INTO physical_count (count_date, material, plant,
                                       quantity, entered_by)
                                VALUES (DATE '2026-11-04', 'BRKT-1', '1000', 3, 't')
                                RETURNING count_id""").fetchone()[0]
        assert new_id == 4
        con.execute("DELETE FROM physical_count WHERE count_id = 4")
    assert versions(old_file) == [(m.version, m.name) for m in MIGRATIONS]
    assert contents(old_file, old_columns=True) == before
    fresh = tmp_path / "fresh.duckdb"
    with warehouse(fresh):
        pass
    assert columns(old_file) == columns(fresh)  # a forgotten migration shows here
    with warehouse(old_file) as con:
        assert reconcile(con, config=CountingConfig()).lines == 1


def test_a_new_file_records_every_migration_once(tmp_path):
    path = tmp_path / "new.duckdb"
    for _ in range(2):
        with warehouse(path):
            pass
    assert versions(path) == [(m.version, m.name) for m in MIGRATIONS]


def test_a_migration_that_adds_a_column(old_file):
    before = contents(old_file)
    with duckdb.connect(str(old_file)) as con:
        assert migrate(con, WITH_DEVICE) == ALL_VERSIONS
        assert migrate(con, WITH_DEVICE) == []  # recorded: never twice
        assert con.execute("SELECT count(*) FROM physical_count WHERE device IS NULL"
                           ).fetchone()[0] == 3
    assert [v for v, _ in versions(old_file)] == ALL_VERSIONS
    after = contents(old_file)
    assert after["physical_count"] == sorted((*row, None) for row in before["physical_count"])
    old_shape = contents(old_file, old_columns=True)
    assert {t: rows for t, rows in old_shape.items() if t != "physical_count"} == {
        t: rows for t, rows in before.items() if t != "physical_count"}


def test_a_failing_migration_changes_nothing(old_file):
    def half_done(con: duckdb.DuckDBPyConnection) -> None:
        add_device(con)
        raise RuntimeError("disk full")

    with duckdb.connect(str(old_file)) as con:
        with pytest.raises(RuntimeError, match="disk full"):
            migrate(con, (*MIGRATIONS, Migration(DEVICE, "breaks halfway", half_done)))
        assert schema_version(con) == DEVICE - 1  # the earlier ones committed on their own
        names = [c[0] for c in con.execute("DESCRIBE physical_count").fetchall()]
        assert "device" not in names
        assert migrate(con, WITH_DEVICE) == [DEVICE]  # the next start finishes the job


def test_migrations_must_be_in_order(old_file):
    with duckdb.connect(str(old_file)) as con, pytest.raises(ValueError, match="ascending"):
        migrate(con, (WITH_DEVICE[1], WITH_DEVICE[0]))


def test_two_connections_migrating_at_once_apply_each_migration_once(old_file):
    start = threading.Barrier(2)
    applied: list[list[int]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with duckdb.connect(str(old_file)) as con:
                start.wait()
                applied.append(migrate(con, WITH_DEVICE))
        except BaseException as error:  # reported below, not lost in the thread
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sorted(v for done in applied for v in done) == ALL_VERSIONS
    assert [v for v, _ in versions(old_file)] == ALL_VERSIONS


@pytest.mark.slow
def test_two_processes_opening_an_old_file_at_once(old_file):
    code = ("import sys; from pipelines.warehouse.db import warehouse\n"
            "with warehouse(sys.argv[1]) as con: print(con.execute("
            "'SELECT count(*) FROM material').fetchone()[0])")
    processes = [subprocess.Popen([sys.executable, "-c", code, str(old_file)], cwd=REPO,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
    results = [p.communicate(timeout=120) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], results
    assert [out.strip() for out, _ in results] == ["2", "2"]
    assert versions(old_file) == [(m.version, m.name) for m in MIGRATIONS]
