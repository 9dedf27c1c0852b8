"""The `wics` command as a person runs it: output, exit status, files moved."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.demo.warehouse import DEMO_COUNTERS
from pipelines.ingest.load import load_file
from pipelines.settings import get_settings
from pipelines.warehouse.db import query

from conftest import MB52_HEADER, REPO, mb52_row, mm60_row, write_xlsx


def wics(*args: str, home: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *args], cwd=REPO, capture_output=True,
        text=True, timeout=300,
        env={**os.environ, "WICS_HOME": str(home), "DAGSTER_HOME": str(home / "dagster"),
             "COLUMNS": "160"},
    )


def lines(output: str) -> list[str]:
    """Output lines with runs of spaces folded (the table pads to the terminal width)."""
    return [" ".join(line.split()) for line in output.splitlines()]


def test_wics_load_prints_what_it_did(wics_home, mm60_file):
    wics("load", str(mm60_file([mm60_row("1"), mm60_row("2")], name="MM60_2026-10-01.xlsx")),
         home=wics_home.home)
    done = wics("load", str(mm60_file([mm60_row("1", price=3.0), mm60_row("3")])),
                home=wics_home.home)
    assert done.returncode == 0, done.stdout + done.stderr
    out = lines(done.stdout)
    assert "LOADED MM60_2026-11-01.xlsx (load 2, mm60)" in out
    assert {"added 1", "removed 1", "changed 1", "reactivated 0"} <= set(out)
    assert "changed fields price 1" in out
    assert "snapshot date 2026-11-01" in out
    assert "refreshed change report on demand: wics changes 2" in out
    # The report is not written by the load: `wics changes` writes it when asked.
    assert not (wics_home.reports_dir / "material_changes_load2.xlsx").exists()
    # Recorded in Dagster by the instance opened while the file loaded.
    assert any(line.startswith("dagster ") and "materializations recorded" in line
               for line in out), out
    import dagster as dg

    with dg.DagsterInstance.from_config(str(wics_home.home / "dagster")) as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey("material"))
    assert event is not None and event.asset_materialization.metadata["load_id"].value == 2


def test_wics_changes_writes_the_report_of_an_mm60_load(wics_home, mm60_file, tmp_path):
    import openpyxl

    empty = wics("changes", home=wics_home.home)
    assert empty.returncode == 2 and "There is no warehouse" in empty.stdout
    load_file(mm60_file([mm60_row("1"), mm60_row("2")], name="MM60_2026-10-01.xlsx"))
    load_file(mm60_file([mm60_row("1", price=3.0), mm60_row("3")]))
    latest = wics("changes", home=wics_home.home)
    assert latest.returncode == 0, latest.stdout + latest.stderr
    report = wics_home.reports_dir / "material_changes_load2.xlsx"
    assert f"Change report of load 2 written to {report}" in " ".join(lines(latest.stdout))
    rows = list(openpyxl.load_workbook(report)["All changes"].iter_rows(min_row=2,
                                                                        values_only=True))
    assert sorted((r[0], r[1]) for r in rows) == [("added", "3"), ("changed", "1"),
                                                  ("removed", "2")]
    elsewhere = tmp_path / "first.xlsx"
    first = wics("changes", "1", str(elsewhere), home=wics_home.home)
    assert first.returncode == 0 and elsewhere.exists()
    assert "First load of these plants: 2 materials added" in openpyxl.load_workbook(
        elsewhere)["Summary"]["A3"].value
    named = tmp_path / "latest.xlsx"
    assert wics("changes", str(named), home=wics_home.home).returncode == 0  # path alone
    assert named.exists()
    missing = wics("changes", "7", home=wics_home.home)
    assert missing.returncode == 1 and "load 7 is not an MM60 that loaded" in missing.stdout


def test_wics_load_as_of_sets_the_snapshot_date(wics_home, mb52_file):
    done = wics("load", str(mb52_file([mb52_row("1")], name="stock.xlsx")),
                "--as-of", "2026-11-20", home=wics_home.home)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "snapshot date 2026-11-20" in lines(done.stdout)
    assert "not in material master 1 (e.g. 1 / 1000)" in lines(done.stdout)


def test_wics_load_exits_non_zero_with_the_reason(wics_home, tmp_path):
    bad = write_xlsx(tmp_path / "MB52_2026-11-02.xlsx",
                     [MB52_HEADER, mb52_row("1")[:7] + ["seven"]])
    done = wics("load", str(bad), home=wics_home.home)
    assert done.returncode == 1
    assert "REJECTED MB52_2026-11-02.xlsx" in done.stdout
    assert 'row 2, column "Unrestricted", value "seven": not a number' in done.stdout
    assert (wics_home.rejected_dir / "MB52_2026-11-02.xlsx.error.txt").exists()


def test_wics_load_force_loads_a_refused_partial_export_knowingly(wics_home, tmp_path):
    from pipelines.ingest.load import load_file

    load_file(write_xlsx(tmp_path / "MB52_2026-11-02.xlsx",
                         [MB52_HEADER, *[mb52_row(str(n)) for n in range(1, 101)]]))
    partial = write_xlsx(tmp_path / "MB52_2026-11-03.xlsx", [MB52_HEADER, mb52_row("1")])
    refused = wics("load", str(partial), home=wics_home.home)
    assert refused.returncode == 1
    out = " ".join(lines(refused.stdout))
    assert "suspiciously small export: plant 1000: 1 rows, previous load 100" in out
    rejected = wics_home.rejected_dir / partial.name
    assert f'wics load --force "{rejected}"' in out
    forced = wics("load", "--force", str(rejected), home=wics_home.home)
    assert forced.returncode == 0, forced.stdout + forced.stderr
    out = " ".join(lines(forced.stdout))
    assert "LOADED MB52_2026-11-03.xlsx" in out and "forced yes: loaded knowingly despite" in out
    assert query("SELECT forced FROM load_log ORDER BY load_id DESC LIMIT 1",
                 path=wics_home.database).item() is True


def test_wics_load_of_a_missing_file(wics_home, tmp_path):
    done = wics("load", str(tmp_path / "nope.xlsx"), home=wics_home.home)
    assert done.returncode == 2
    assert "does not exist" in done.stdout


@pytest.mark.slow
def test_wics_demo_loads_demo_exports_through_dagster(wics_home):
    import dagster as dg

    done = wics("demo", "--materials", "300", home=wics_home.home)
    assert done.returncode == 0, done.stdout + done.stderr
    assert sum(line.startswith("loaded ") for line in done.stdout.splitlines()) == 6
    statuses = query("SELECT kind, status FROM load_log ORDER BY load_id",
                     path=wics_home.database).rows()
    assert statuses == [("mm60", "loaded"), ("mb52", "loaded"), ("mm60", "loaded"),
                        ("mb52", "loaded"), ("mb52", "loaded"), ("count_sheet", "loaded")]
    assert "counting history from" in done.stdout and "demo ready in" in done.stdout
    history = query("""SELECT count(DISTINCT count_date) AS days,
                              count(*) FILTER (WHERE NOT within_tolerance) AS out
                       FROM count_variance""", path=wics_home.database).row(0, named=True)
    assert history["days"] > 50 and history["out"] > 0
    runs = dg.DagsterInstance.from_config(str(wics_home.dagster_home)).get_runs()
    assert {r.job_name for r in runs} == {"load_mm60", "load_mb52", "load_count_sheet",
                                          "counting_refresh"}
    assert {r.status for r in runs} == {dg.DagsterRunStatus.SUCCESS}
    # the demo has a cycle-count plan at once, not only after the 05:00 schedule
    assert "planned the count schedule" in done.stdout
    assert query("SELECT count(*) FROM count_schedule WHERE reason = 'cycle'",
                 path=wics_home.database).item() > 0
    # the demo's counters stay configured for later processes (`wics up`, the schedules)
    assert get_settings(home=wics_home.home).counters == DEMO_COUNTERS
    assert query("SELECT count(DISTINCT counter) FROM count_schedule WHERE count_date > "
                 "current_date", path=wics_home.database).item() == len(DEMO_COUNTERS)
    again = wics("demo", home=wics_home.home)
    assert again.returncode == 0 and "already loaded" in again.stdout
