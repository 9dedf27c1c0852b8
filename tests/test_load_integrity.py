"""Issue 9: loads never leave the warehouse half-right. One test per defect, with its repro."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import date, datetime

import dagster as dg
import pytest

from pipelines.defs.ingest import load_run_config
from pipelines.ingest.after_load import after_load, pending_refreshes, refresh_pending
from pipelines.ingest.load import load_file
from pipelines.ingest.names import NAME_MAX_BYTES, safe_upload_name
from pipelines.ingest.quality import master_freshness
from pipelines.sap.headers import ExportKind
from pipelines.warehouse.db import query, warehouse

from conftest import (
    COUNT_HEADER,
    MB52_HEADER,
    MM60_HEADER,
    REPO,
    mb52_row,
    mm60_row,
    table_fingerprint,
    write_text,
    write_xlsx,
)


def _log(settings, load_id: int) -> dict:
    return query("SELECT * FROM load_log WHERE load_id = ?", [load_id],
                 path=settings.database).row(0, named=True)


def _refused(settings, result, *texts: str) -> str:
    """The file was refused, moved to rejected/ with its report naming every text."""
    assert result.status == "rejected", result.error
    report = (settings.rejected_dir / f"{result.moved_to.name}.error.txt").read_text()
    for text in texts:
        assert text in report, report
        assert text in result.error
    return report


@pytest.fixture
def stocked(wics_home, tmp_path):
    """An MM60 of 100 materials in plant 1000 and a 100-line snapshot, with counts."""
    materials = [str(n) for n in range(1, 101)]
    load_file(write_xlsx(tmp_path / "MM60_2026-11-29.xlsx",
                         [MM60_HEADER, *[mm60_row(m, price=10.0) for m in materials]]))
    load_file(write_xlsx(tmp_path / "MB52_2026-11-30.xlsx",
                         [MB52_HEADER, *[mb52_row(m) for m in materials]]))
    load_file(write_xlsx(tmp_path / "counts_2026-11-30.xlsx",
                         [COUNT_HEADER, ["2026-11-30", "1", "1000", "0001", "A1", 5, "ANA"]]))
    return wics_home


# 1 ------------------------------------------------------------------------------------------

def test_1_a_partial_mb52_is_refused_before_the_commit_and_can_be_forced(stocked, tmp_path):
    before = table_fingerprint(stocked)
    partial = write_xlsx(stocked.drop_dir / "MB52_2026-12-01.xlsx",
                         [MB52_HEADER, *[mb52_row(str(m)) for m in range(1, 41)]][:41])
    result = load_file(partial)
    _refused(stocked, result, "suspiciously small export: plant 1000: 40 rows, previous load 100")
    assert result.forceable
    assert table_fingerprint(stocked) == before
    assert _log(stocked, result.load_id)["status"] == "rejected"

    forced = load_file(result.moved_to, force=True)
    assert forced.status == "loaded" and forced.forced
    log = _log(stocked, forced.load_id)
    assert log["forced"] is True and log["refresh_state"] == "pending"
    assert "suspiciously small" in json.loads(log["summary"])["forced_past"][0]
    after_load(forced.load_id, stocked)
    assert _log(stocked, forced.load_id)["refresh_state"] == "done"


def test_1_the_threshold_is_configurable(stocked, tmp_path, monkeypatch):
    monkeypatch.setenv("WICS_MAX_ROW_DROP_PCT", "70")
    result = load_file(write_xlsx(tmp_path / "MB52_2026-12-01.xlsx",
                                  [MB52_HEADER, *[mb52_row(str(m)) for m in range(1, 41)]]))
    assert result.status == "loaded"  # 60 % fewer is within a 70 % limit


# 2 ------------------------------------------------------------------------------------------

def test_2_an_older_mm60_is_refused_and_freshness_stays_right(stocked, tmp_path):
    before = table_fingerprint(stocked)
    old = write_xlsx(tmp_path / "MM60_2026-11-01.xlsx",
                     [MM60_HEADER, *[mm60_row(str(m), price=9.0) for m in range(1, 101)]])
    result = load_file(old)
    _refused(stocked, result, "older material list: this MM60 is dated 2026-11-01",
             "plant 1000 has the MM60 of 2026-11-29")
    assert table_fingerprint(stocked) == before
    with warehouse(stocked.database, read_only=True) as con:
        assert master_freshness(con, date(2026, 12, 1), 45).metadata["latest_mm60"] == \
            "2026-11-29"

    forced = load_file(result.moved_to, force=True, as_of=date(2026, 11, 1))
    assert forced.status == "loaded" and _log(stocked, forced.load_id)["forced"] is True


def test_2_the_date_of_an_mm60_without_one_in_its_name_is_its_modification_date(stocked,
                                                                                   tmp_path):
    old = write_xlsx(tmp_path / "materials.xlsx",
                     [MM60_HEADER, *[mm60_row(str(m), "1000", "OLD TEXT") for m in range(1, 101)]])
    stamp = datetime(2026, 10, 1).timestamp()
    os.utime(old, (stamp, stamp))
    _refused(stocked, load_file(old), "this MM60 is dated 2026-10-01")


# 3 ------------------------------------------------------------------------------------------

def test_3_an_unclosed_quote_refuses_the_file_instead_of_swallowing_rows(stocked, tmp_path):
    before = table_fingerprint(stocked)
    bad = write_text(tmp_path / "MB52_2026-12-01.csv",
                     "Material;Plnt;SLoc;Material Description;Unrestricted\n"
                     '1;1000;0001;"12 INCH PIPE;5\n2;1000;0001;X;7\n3;1000;0001;Y;9\n')
    result = load_file(bad)
    _refused(stocked, result, 'line 2: a quote (") is opened and never closed')
    assert result.problems["row"][0] == 2
    assert table_fingerprint(stocked) == before


def test_3_a_quote_closing_lines_later_is_refused_too(wics_home, tmp_path):
    bad = write_text(tmp_path / "MB52_2026-12-01.csv",
                     "Material,Plnt,Material Description,Unrestricted\n"
                     '1,1000,"12 INCH PIPE,5\n2,1000,X,7\n3,1000,Y",9\n')
    _refused(wics_home, load_file(bad), "line 2: a quote", "a field may not span lines")
    worse = write_text(tmp_path / "MB52_2026-12-02.csv",
                       "Material,Plnt,Material Description,Unrestricted\n"
                       '1,1000,"12 INCH PIPE,5\n2,1000,X,7\n3,1000,"Y",9\n')
    _refused(wics_home, load_file(worse), "line 2: a quote", "a field may not span lines")


def test_3_an_inch_mark_in_tab_and_pipe_files_is_text(wics_home, tmp_path):
    tab = write_text(tmp_path / "MB52_2026-12-01.XLS",
                     'Material\tPlnt\tMaterial Description\tUnrestricted\n'
                     '1\t1000\tPIPE 12" SCH40\t5,000\n2\t1000\tX\t7,000\n')
    result = load_file(tab)
    assert result.status == "loaded", result.error
    pipe = write_text(tmp_path / "MB52_2026-12-02.txt",
                      '|Material|Plnt|Material Description|Unrestricted|\n'
                      '|1|1000|PIPE 12" SCH40|5,000|\n|2|1000|X|7,000|\n')
    assert load_file(pipe).status == "loaded"
    rows = query("SELECT description, unrestricted FROM sap_stock WHERE material = '1' "
                 "ORDER BY snapshot_date", path=wics_home.database).rows()
    assert rows == [('PIPE 12" SCH40', 5.0), ('PIPE 12" SCH40', 5.0)]


# 4 ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("separator", [";", "\t"])
def test_4_a_field_over_the_size_limit_is_refused_not_a_crash(stocked, tmp_path, separator):
    before = table_fingerprint(stocked)
    header = separator.join(["Material", "Plnt", "SLoc", "Material Description", "Unrestricted"])
    bad = write_text(tmp_path / "MB52_2026-12-01.txt",
                     f"{header}\n" + separator.join(["1", "1000", "0001", "D" * 140_000, "5"])
                     + "\n")
    result = load_file(bad)
    _refused(stocked, result, "over the size limit of 131,072")
    assert table_fingerprint(stocked) == before
    assert query("SELECT count(*) FROM load_log WHERE status = 'running'",
                 path=stocked.database).item() == 0


def test_4_a_huge_line_without_newline_is_refused_before_it_is_decoded(wics_home, tmp_path):
    bad = tmp_path / "MB52_2026-12-01.txt"
    with bad.open("wb") as stream:
        stream.write(b"Material;Plnt;Unrestricted\n1;1000;")
        for _ in range(20):
            stream.write(b"9" * (1024 * 1024))
    result = load_file(bad)
    _refused(wics_home, result, "line 2 is 20,971,527 bytes long without a line break")


# 5 ------------------------------------------------------------------------------------------

def test_5_a_count_sheet_named_without_a_date_uses_its_rows_dates(stocked, tmp_path):
    sheet = write_xlsx(tmp_path / "counts.xlsx",
                       [COUNT_HEADER, ["2026-11-30", "2", "1000", "0001", "A2", 4, "BEN"]])
    result = load_file(sheet)
    assert result.status == "loaded", result.error
    assert result.snapshot_date == date(2026, 11, 30)


def test_5_a_count_sheet_without_any_date_is_refused_with_the_row(stocked, tmp_path):
    sheet = write_xlsx(tmp_path / "counts.xlsx",
                       [COUNT_HEADER, [None, "2", "1000", "0001", "A2", 4, "BEN"]])
    _refused(stocked, load_file(sheet), 'row 2, column "Count Date": count date is missing')


# 6 ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("header", "row", "named"), [
    (["Material", "Plnt", "Unrestricted", "Unrestricted"], ["1", "1000", 5, 6],
     ['"Unrestricted" (column 3) and "Unrestricted" (column 4)']),
    (["Material", "Plant", "Werk", "Unrestricted"], ["1", "1000", "2000", 5],
     ['"Plant" (column 2) and "Werk" (column 3) all mean plant']),
])
def test_6_two_columns_for_one_field_refuse_the_file(stocked, tmp_path, header, row, named):
    before = table_fingerprint(stocked)
    result = load_file(write_xlsx(tmp_path / "MB52_2026-12-01.xlsx", [header, row]))
    _refused(stocked, result, "ambiguous header", *named)
    assert table_fingerprint(stocked) == before


def test_6_quantity_and_counted_qty_never_record_the_sap_figure(stocked, tmp_path):
    before = table_fingerprint(stocked)
    sheet = write_xlsx(tmp_path / "counts_2026-11-30.xlsx", [
        ["Count Date", "Material", "Plant", "Quantity", "Counted Qty"],
        ["2026-11-30", "1", "1000", 100, 7],
    ])
    _refused(stocked, load_file(sheet),
             '"Quantity" (column 4) and "Counted Qty" (column 5) all mean quantity')
    assert table_fingerprint(stocked) == before


# 7 ------------------------------------------------------------------------------------------

def test_7_an_impossible_date_in_the_name_is_refused(stocked, tmp_path):
    before = table_fingerprint(stocked)
    bad = write_xlsx(tmp_path / "MB52_2026-02-31.xlsx", [MB52_HEADER, mb52_row("1")])
    _refused(stocked, load_file(bad), 'the file name holds the date "2026-02-31", which does '
             "not exist")
    assert table_fingerprint(stocked) == before
    # --as-of says which day it is, so the name's date no longer matters
    assert load_file(bad, as_of=date(2026, 12, 1), force=True).status == "loaded"


# 8 ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("length", [246, 250, 255])
def test_8_long_names_are_archived_and_rejected_without_crashing(wics_home, tmp_path, length):
    stem = "MB52_2026-11-02_" + "x" * (length - len("MB52_2026-11-02_") - len(".xlsx"))
    good = write_xlsx(wics_home.drop_dir / f"{stem}.xlsx", [MB52_HEADER, mb52_row("1")])
    assert len(good.name.encode()) == length
    loaded = load_file(good)
    assert loaded.status == "loaded" and loaded.moved_to.exists() and not good.exists()
    again = write_xlsx(wics_home.drop_dir / f"{stem}.xlsx", [MB52_HEADER, mb52_row("1")])
    shutil.copy(loaded.moved_to, again)
    duplicate = load_file(again)
    assert duplicate.status == "duplicate" and not again.exists()
    bad = write_text(wics_home.drop_dir / f"{stem[:-3]}bad.XLS", "garbage\n")
    rejected = load_file(bad)
    assert rejected.status == "rejected" and not bad.exists()
    report = rejected.moved_to.with_name(rejected.moved_to.name + ".error.txt")
    assert report.exists() and len(report.name.encode()) <= NAME_MAX_BYTES
    assert query("SELECT count(*) FROM load_log WHERE status = 'running'",
                 path=wics_home.database).item() == 0


def test_8_upload_names_are_made_safe():
    assert safe_upload_name("../../etc/passwd") == "passwd"
    assert safe_upload_name("C:\\Users\\ana\\MB52.xlsx") == "MB52.xlsx"
    assert safe_upload_name("MB52\x00.xlsx") == "MB52 .xlsx"
    assert safe_upload_name(b"MB52_\xff\xfe.xlsx") == "MB52_\ufffd\ufffd.xlsx"
    assert safe_upload_name("..") == "upload" and safe_upload_name("") == "upload"
    assert safe_upload_name(".hidden.xlsx") == "hidden.xlsx"
    long = safe_upload_name("é" * 200 + ".xlsx")
    assert long.endswith(".xlsx") and len(long.encode()) + len(".part.error.txt") <= 255


# 9 ------------------------------------------------------------------------------------------

def test_9_a_running_row_of_a_dead_process_is_marked_interrupted(stocked, tmp_path):
    with warehouse(stocked.database) as con:
        con.execute("""INSERT INTO load_log (load_id, file_name, status, started_at, pid, host,
                                             boot_id)
                       VALUES (nextval('load_id'), 'MB52_x.xlsx', 'running', now(), 999999999,
                               ?, 'some-other-boot')""", [os.uname().nodename])
    load_file(write_xlsx(tmp_path / "counts_2026-11-30.xlsx",
                         [COUNT_HEADER, ["2026-11-30", "3", "1000", "0001", "A3", 1, "ANA"]]))
    row = query("SELECT status, error FROM load_log WHERE file_name = 'MB52_x.xlsx'",
                path=stocked.database).row(0)
    assert row[0] == "failed" and row[1].startswith("interrupted")


def test_9_a_refresh_cut_short_is_finished_by_the_next_load(stocked, tmp_path):
    result = load_file(write_xlsx(tmp_path / "MB52_2026-11-30.xlsx",
                                  [MB52_HEADER, *[mb52_row(str(m), unrestricted=7)
                                                  for m in range(1, 101)]]))
    # the process "died" right after the commit: the refresh is pending, owned by nobody alive
    with warehouse(stocked.database) as con:
        con.execute("UPDATE load_log SET pid = 999999999 WHERE load_id = ?", [result.load_id])
    assert pending_refreshes(stocked) == [result.load_id]
    refreshed = refresh_pending(stocked)
    assert [r.load_id for r in refreshed] == [result.load_id]
    assert _log(stocked, result.load_id)["refresh_state"] == "done"
    sap = query("SELECT sap_snapshot_date, sap_qty FROM count_variance WHERE material = '1'",
                path=stocked.database).row(0)
    assert sap == (date(2026, 11, 30), 7.0)
    assert refresh_pending(stocked) == []  # idempotent and done


@pytest.mark.slow
def test_9_sigkill_during_the_database_write(wics_home, tmp_path):
    """A real `wics load` killed while it holds the write transaction."""
    import duckdb

    from pipelines.demo.files import write_demo_exports

    mm60, mb52, text_mb52, _ = write_demo_exports(tmp_path / "demo", materials=20_000,
                                                  stock_rows=200_000, count_rows=10)
    load_file(mm60)
    before = table_fingerprint(wics_home)
    dropped = wics_home.drop_dir / text_mb52.name
    shutil.copy(text_mb52, dropped)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "load", str(dropped)],
                               cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)

    def phase() -> str | None:
        try:
            con = duckdb.connect(str(wics_home.database), read_only=True)
        except duckdb.Error:
            return "locked"
        try:
            row = con.execute("SELECT progress_phase FROM load_log WHERE file_name = ? "
                              "ORDER BY load_id DESC LIMIT 1", [dropped.name]).fetchone()
            return row[0] if row else None
        finally:
            con.close()

    seen_writing = False
    while process.poll() is None:
        now = phase()
        seen_writing = seen_writing or now == "writing"
        if seen_writing and now == "locked":
            process.kill()  # SIGKILL inside the write transaction
            break
    process.wait()
    assert seen_writing and process.returncode == -9, "the load ended before it could be killed"
    assert table_fingerprint(wics_home) == before
    assert dropped.exists()
    assert query("SELECT status FROM load_log WHERE file_name = ?", [dropped.name],
                 path=wics_home.database).item() == "running"

    retry = load_file(dropped)
    assert retry.status == "loaded"
    statuses = query("SELECT status, error FROM load_log WHERE file_name = ? ORDER BY load_id",
                     [dropped.name], path=wics_home.database).rows()
    assert [s for s, _ in statuses] == ["failed", "loaded"]
    assert statuses[0][1].startswith("interrupted")
    assert query("SELECT count(*) FROM load_log WHERE status = 'running'",
                 path=wics_home.database).item() == 0


# 10 -----------------------------------------------------------------------------------------

def test_10_after_load_resyncs_recounts_from_the_new_snapshot(stocked, tmp_path):
    # The count of 5 against SAP 5 is fine; a new snapshot says 50: a recount is needed.
    result = load_file(write_xlsx(tmp_path / "MB52_2026-11-30.xlsx",
                                  [MB52_HEADER, *[mb52_row(str(m), unrestricted=50)
                                                  for m in range(1, 101)]]))
    refreshed = after_load(result.load_id, stocked, today=date(2026, 12, 1))
    assert refreshed.recounts is not None and refreshed.recounts.added == 1
    recount = query("SELECT material, reason FROM count_schedule WHERE reason = 'recount'",
                    path=stocked.database).rows()
    assert recount == [("1", "recount")]
    again = after_load(result.load_id, stocked, today=date(2026, 12, 1))
    assert again.recounts.added == 0  # idempotent


def test_10_wics_load_shows_up_in_dagster(wics_home, tmp_path):
    path = write_xlsx(tmp_path / "MM60_2026-11-01.xlsx", [MM60_HEADER, mm60_row("1")])
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "load", str(path)], cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "materializations recorded" in done.stdout
    instance = dg.DagsterInstance.from_config(str(wics_home.dagster_home))
    for asset in ("material", "material_change", "count_variance", "count_accuracy",
                  "load_log"):
        event = instance.get_latest_materialization_event(dg.AssetKey(asset))
        assert event is not None, asset
    material = instance.get_latest_materialization_event(dg.AssetKey("material"))
    metadata = material.asset_materialization.metadata
    assert metadata["file"].value == path.name and metadata["added"].value == 1


# 11 -----------------------------------------------------------------------------------------

def test_11_load_jobs_run_in_one_process_and_checks_do_not_block():
    from pipelines.definitions import defs as load_defs

    defs = load_defs()
    for name in ("load_mm60", "load_mb52", "load_count_sheet", "counting_refresh"):
        job = defs.resolve_job_def(name)
        assert job.executor_def.name == "in_process", name
    for check in defs.resolve_asset_graph().asset_check_keys:
        spec = defs.resolve_asset_graph().get_check_spec(check)
        assert not spec.blocking, check


def test_11_docs_no_longer_claim_eager_or_a_stopped_schedule():
    text = (REPO / "docs" / "counting.md").read_text()
    assert "eager()" not in text
    assert "starts stopped" not in text.lower()


def test_11_a_load_run_is_green_exactly_when_its_file_loaded(stocked, tmp_path):
    from pipelines.definitions import defs as load_defs

    defs = load_defs()
    instance = dg.DagsterInstance.ephemeral()
    good = write_xlsx(tmp_path / "MB52_2026-12-01.xlsx",
                      [MB52_HEADER, *[mb52_row(str(m)) for m in range(1, 101)]])
    run = defs.resolve_job_def("load_mb52").execute_in_process(
        run_config=load_run_config(ExportKind.MB52, good), instance=instance)
    assert run.success
    partial = write_xlsx(tmp_path / "MB52_2026-12-02.xlsx", [MB52_HEADER, mb52_row("1")])
    run = defs.resolve_job_def("load_mb52").execute_in_process(
        run_config=load_run_config(ExportKind.MB52, partial), instance=instance,
        raise_on_error=False)
    assert not run.success


# 1 and 2 on the dashboard: a manager's "load anyway" --------------------------------------

def test_1_load_anyway_is_a_managers_button_checked_in_the_domain(stocked, tmp_path):
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from pipelines.access import AccessDenied, Role, User
    from pipelines.ingest.load import force_load

    st.cache_data.clear()
    partial = write_xlsx(stocked.drop_dir / "MB52_2026-12-01.xlsx",
                         [MB52_HEADER, *[mb52_row(str(m)) for m in range(1, 41)]])
    refused = load_file(partial)
    assert refused.status == "rejected"
    before = table_fingerprint(stocked)
    with pytest.raises(AccessDenied):
        force_load(refused.load_id, user=User("cora", Role.COUNTER))
    assert table_fingerprint(stocked) == before

    def page(user: User) -> AppTest:
        app = AppTest.from_file(str(REPO / "dashboard" / "streamlit_app.py"), default_timeout=60)
        app.session_state["wics_user"] = user
        app.run()
        app.switch_page("app_pages/loads.py")
        app.run()
        assert not app.exception, app.exception
        return app

    assert not [b for b in page(User("cora", Role.COUNTER)).button if b.label == "Load anyway"]
    app = page(User("mia", Role.MANAGER))
    [button] = [b for b in app.button if b.label == "Load anyway"]
    button.click().run()
    assert not app.exception, app.exception
    assert "loaded anyway" in app.success[0].value and "forced by mia" in app.success[0].value
    log = query("SELECT status, forced, refresh_state, summary FROM load_log "
                "ORDER BY load_id DESC LIMIT 1", path=stocked.database).row(0)
    assert log[:3] == ("loaded", True, "done")
    assert json.loads(log[3])["forced_by"] == "mia"
    assert query("SELECT count(*) FROM sap_stock WHERE snapshot_date = '2026-12-01'",
                 path=stocked.database).item() == 40


def test_an_older_warehouse_file_gains_the_new_load_log_columns(wics_home, tmp_path):
    import duckdb

    con = duckdb.connect(str(wics_home.database))
    con.execute("CREATE SEQUENCE load_id START 1")
    con.execute("""CREATE TABLE load_log (load_id BIGINT PRIMARY KEY, file_name VARCHAR NOT NULL,
                   sha256 VARCHAR, kind VARCHAR, snapshot_date DATE, rows_read BIGINT,
                   rows_loaded BIGINT, status VARCHAR NOT NULL, error VARCHAR, summary JSON,
                   progress_phase VARCHAR, progress_done BIGINT, progress_total BIGINT,
                   started_at TIMESTAMP NOT NULL, finished_at TIMESTAMP, run_id VARCHAR)""")
    con.execute("INSERT INTO load_log (load_id, file_name, status, started_at) "
                "VALUES (nextval('load_id'), 'old.xlsx', 'loaded', now())")
    con.close()
    result = load_file(write_xlsx(tmp_path / "MM60_2026-11-01.xlsx", [MM60_HEADER, mm60_row("1")]))
    assert result.status == "loaded"
    rows = query("SELECT file_name, forced, refresh_state FROM load_log ORDER BY load_id",
                 path=wics_home.database).rows()
    assert rows == [("old.xlsx", False, None), ("MM60_2026-11-01.xlsx", False, "pending")]


def test_9_a_failed_refresh_stays_pending_and_is_retried(stocked, tmp_path, monkeypatch):
    from pipelines.ingest import after_load as module

    result = load_file(write_xlsx(tmp_path / "MB52_2026-11-30.xlsx",
                                  [MB52_HEADER, *[mb52_row(str(m), unrestricted=7)
                                                  for m in range(1, 101)]]))

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(module, "reconcile", broken)
    assert module.after_load_or_pending(result.load_id, stocked) is None
    log = _log(stocked, result.load_id)
    assert log["refresh_state"] == "pending" and "disk full" in log["refresh_error"]
    monkeypatch.undo()
    assert pending_refreshes(stocked) == [result.load_id]  # its process lives, it failed
    assert [r.load_id for r in refresh_pending(stocked)] == [result.load_id]
    log = _log(stocked, result.load_id)
    assert log["refresh_state"] == "done" and log["refresh_error"] is None
