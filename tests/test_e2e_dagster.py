"""End to end: the real Dagster webserver and daemon load files dropped into drop/.

Starts `dagster dev -w workspace.yaml` on a temporary WICS_HOME, drops the sample MM60, MB52
and count sheet at once, and waits (bounded) for the sensor-launched runs to
finish; then drops a bad file and a partial MB52 and sees both refused, the run, the load log
and the dashboard agreeing.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import dagster as dg
import pytest

from pipelines.demo.files import write_demo_exports
from pipelines.warehouse.db import query

from browser import free_port
from conftest import REPO, SHARED, table_fingerprint, write_xlsx

pytestmark = pytest.mark.slow
DEADLINE_S = 420


def _wait(condition, what: str, timeout: float = DEADLINE_S, process=None):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if process is not None and process.poll() is not None:
            raise AssertionError(f"dagster dev exited while waiting for {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(1)


def _exports(staging: Path) -> list[Path]:
    """The ../shared samples when they are here, else generated files of the same kinds."""
    names = ["MM60_materials_2026-11-01.xlsx", "MB52_stock_2026-11-02.xlsx",
             "counts_2026-11-02.xlsx"]
    if all((SHARED / "samples" / n).exists() for n in names):
        return [Path(shutil.copy(SHARED / "samples" / n, staging / n)) for n in names]
    mm60, mb52, text_mb52, counts = write_demo_exports(staging, materials=400, stock_rows=1200,
                                                        count_rows=40)
    text_mb52.unlink()
    return [mm60, mb52, counts]


def _partial_mb52(source: Path, target: Path, lines: int) -> Path:
    """The header and the first ``lines`` lines of an MB52 workbook: a cut-off export."""
    import fastexcel

    rows = fastexcel.read_excel(source).load_sheet(0, header_row=None,
                                                   dtypes="string").to_polars().rows()
    header = next(i for i, row in enumerate(rows) if "Material" in row)
    return write_xlsx(target, [rows[header], *rows[header + 1: header + 1 + lines]])


def _loaded(database: Path) -> dict[str, int]:
    try:
        rows = query("SELECT status, count(*) FROM load_log GROUP BY 1", path=database)
    except Exception:  # the file may not exist yet
        return {}
    return dict(rows.iter_rows())


@pytest.fixture
def dagster_dev(wics_home):
    dagster_home = wics_home.dagster_home
    shutil.copy(REPO / "pipelines" / "dagster.yaml", dagster_home / "dagster.yaml")
    port = free_port()
    env = {**os.environ, "WICS_HOME": str(wics_home.home), "DAGSTER_HOME": str(dagster_home),
           "WICS_SENSOR_INTERVAL_SECONDS": "2", "WICS_DROP_SETTLE_SECONDS": "1"}
    log = (wics_home.home / "dagster-dev.log").open("w")
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster"), "dev", "-w", "workspace.yaml",
         "-p", str(port)], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True)

    def up():
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info",
                                          timeout=2).status == 200
        except OSError:
            return False

    try:
        _wait(up, "the Dagster webserver", 180, process)
        yield process
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


def test_dropped_files_load_themselves(wics_home, dagster_dev, tmp_path):
    staging = tmp_path / "staging"
    staging.mkdir()
    files = _exports(staging)
    started = time.monotonic()
    for path in files:
        shutil.move(path, wics_home.drop_dir / path.name)

    _wait(lambda: _loaded(wics_home.database).get("loaded", 0) >= len(files),
          "every dropped file to load", process=dagster_dev)
    seconds = time.monotonic() - started
    print(f"\n{len(files)} files from drop to loaded tables in {seconds:.1f} s")

    instance = dg.DagsterInstance.from_config(str(wics_home.dagster_home))
    _wait(lambda: all(r.is_finished for r in instance.get_runs()), "runs to finish", 120)
    runs = instance.get_runs()
    assert len(runs) == len(files)
    assert {r.status for r in runs} == {dg.DagsterRunStatus.SUCCESS}
    assert sorted(r.tags["wics/file"] for r in runs) == sorted(p.name for p in files)

    assert sorted(p.name for p in wics_home.archive_dir.iterdir()) == sorted(
        p.name for p in files)
    assert list(wics_home.drop_dir.iterdir()) == []
    counts = query("""SELECT (SELECT count(*) FROM material) AS m,
                             (SELECT count(DISTINCT snapshot_date) FROM sap_stock) AS d,
                             (SELECT count(*) FROM physical_count) AS c,
                             (SELECT count(*) FROM count_variance) AS v""",
                   path=wics_home.database).row(0, named=True)
    assert counts["m"] > 0 and counts["d"] == 1 and counts["c"] > 0 and counts["v"] > 0

    for check in ("material_unique_key", "sap_stock_unique_key", "physical_count_unique_key",
                  "physical_count_materials_known"):
        asset = check.removesuffix("_unique_key").removesuffix("_materials_known")
        record = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [dg.AssetCheckKey(dg.AssetKey(asset), check)])
        evaluation = record[dg.AssetCheckKey(dg.AssetKey(asset), check)].evaluation
        assert evaluation is not None and evaluation.passed, check

    bad = wics_home.drop_dir / "MB52_2026-11-04.XLS"
    bad.write_text("Material\tPlnt\tUnrestricted\n1\t1000\tlots\n")
    _wait(lambda: (wics_home.rejected_dir / f"{bad.name}.error.txt").exists(),
          "the bad file to be rejected", 120, dagster_dev)
    report = (wics_home.rejected_dir / f"{bad.name}.error.txt").read_text()
    assert 'row 2, column "Unrestricted", value "lots"' in report
    # the rejection is visible: a failed run that says why, not a silent one
    failed = _wait(lambda: [r for r in instance.get_runs()
                            if r.status == dg.DagsterRunStatus.FAILURE], "the failed run", 120)
    assert failed[0].tags["wics/file"] == bad.name
    assert _loaded(wics_home.database).get("rejected") == 1

    # A partial MB52 (40 lines after 6,000): refused before the commit; the run, the load log
    # and the dashboard all say so, and the warehouse is untouched.
    before = table_fingerprint(wics_home)
    partial = _partial_mb52(wics_home.archive_dir / files[1].name,
                            staging / "MB52_stock_2026-11-03.xlsx", 40)
    shutil.move(partial, wics_home.drop_dir / partial.name)
    report_path = wics_home.rejected_dir / f"{partial.name}.error.txt"
    _wait(report_path.exists, "the partial MB52 to be refused", 120, dagster_dev)
    assert "suspiciously small export" in report_path.read_text()
    runs = _wait(lambda: [r for r in instance.get_runs()
                          if r.tags.get("wics/file") == partial.name and r.is_finished],
                 "the partial MB52's run to finish", 120)
    assert runs[0].status == dg.DagsterRunStatus.FAILURE
    log = query("SELECT status, error FROM load_log WHERE file_name = ?", [partial.name],
                path=wics_home.database).row(0)
    assert log[0] == "rejected" and "suspiciously small export" in log[1]
    assert table_fingerprint(wics_home) == before

    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from pipelines.access import Role, User

    st.cache_data.clear()
    app = AppTest.from_file(str(REPO / "dashboard" / "streamlit_app.py"), default_timeout=60)
    app.session_state["wics_user"] = User("mia", Role.MANAGER)
    app.run()
    app.switch_page("app_pages/loads.py")
    app.run()
    assert not app.exception, app.exception
    assert partial.name in [e.label for e in app.expander]
    assert any("suspiciously small export" in c.value for c in app.code)
    assert [b for b in app.button if b.label == "Load anyway"]
