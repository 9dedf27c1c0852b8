"""Dashboard: page logic with Streamlit's AppTest on a real warehouse file."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from pipelines.access import Role, User
from pipelines.ingest.load import load_file

from auth import USER_KEY
from conftest import REPO, mb52_row, mm60_row, write_text

APP = str(REPO / "dashboard" / "streamlit_app.py")


@pytest.fixture(autouse=True)
def fresh_cache():
    """Cached reads are keyed by arguments, not WICS_HOME; each test has its own warehouse."""
    import streamlit as st

    st.cache_data.clear()


@pytest.fixture
def loaded(wics_home, mm60_file, mb52_file):
    load_file(mm60_file([mm60_row("1"), mm60_row("2")], name="MM60_2026-10-01.xlsx"))
    load_file(mm60_file([mm60_row("1", price=20.0), mm60_row("3", "1100")],
                        name="MM60_2026-11-01.xlsx"))
    load_file(mb52_file([mb52_row("1", value=125.5), mb52_row("3", "1100", value=4.5)]))
    load_file(write_text(wics_home.drop_dir / "MB52_2026-11-05.XLS", "nonsense\n"))
    return wics_home


def _run(page: str | None = None, user: User | None = None) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=60)
    app.session_state[USER_KEY] = user or User("tester", Role.MANAGER)
    app.run()
    if page:
        app.switch_page(page)
        app.run()
    assert not app.exception, app.exception
    return app


def test_loads_page_lists_files_rejections_and_changes(loaded):
    app = _run("app_pages/loads.py")
    metrics = {m.label: m.value for m in app.metric}
    assert metrics == {"Loaded": "3", "Rejected": "1"}
    table = app.dataframe[0].value
    assert table["file_name"].tolist()[0] == "MB52_2026-11-05.XLS"
    # The refused file was never read as any kind: blank cells and 0 rows, not "None".
    assert (table["kind"].tolist()[0], table["snapshot_date"].tolist()[0],
            table["rows_loaded"].tolist()[0], table["run_url"].tolist()[0]) == ("", "", 0, "")
    assert table["snapshot_date"].tolist()[1] == "2026-11-02"
    rejected = [e for e in app.expander if e.label == "MB52_2026-11-05.XLS"]
    assert "no header row" in rejected[0].code[0].value
    assert rejected[0].code[0].proto.wrap_lines  # long reasons wrap instead of scrolling
    assert app.selectbox[0].value == 2  # the latest MM60 load first
    changes = app.dataframe[1].value
    assert set(changes["change"]) == {"added", "removed", "changed"}
    caption = [c.value for c in app.caption if c.value.startswith("Materials:")][0]
    assert caption.startswith("Materials: 1 added, 1 removed, 1 changed")
    download = app.get("download_button")
    assert [d.proto.label for d in download] == ["Change report (xlsx)"]


def test_change_report_downloads_from_material_change(loaded):
    """The loads page's download: the workbook written from material_change on the click."""
    import io

    import openpyxl

    from warehouse_data import change_report_xlsx

    assert list(loaded.reports_dir.iterdir()) == []  # nothing written by the loads
    book = openpyxl.load_workbook(io.BytesIO(change_report_xlsx(2)))
    assert book["Summary"]["A1"].value == "MM60 changes of load 2"
    rows = list(book["All changes"].iter_rows(min_row=2, values_only=True))
    assert sorted((r[0], r[1], r[2]) for r in rows) == [
        ("added", "3", "1100"), ("changed", "1", "1000"), ("removed", "2", "1000")]
    with pytest.raises(LookupError, match="load 3 is not an MM60"):
        change_report_xlsx(3)  # the MB52


def test_change_table_filters_by_change_type_and_counts_materials(wics_home, mm60_file):
    load_file(mm60_file([mm60_row("1"), mm60_row("2"), mm60_row("3")],
                        name="MM60_2026-10-01.xlsx"))
    # Material 1: two fields changed (one material, two rows); 3 removed; 4 added.
    load_file(mm60_file([mm60_row("1", price=20.0, abc="B"), mm60_row("2"), mm60_row("4")],
                        name="MM60_2026-11-01.xlsx"))
    app = _run("app_pages/loads.py")
    caption = [c.value for c in app.caption if c.value.startswith("Materials:")][0]
    assert caption.startswith("Materials: 1 added, 1 removed, 1 changed — 4 change rows")
    app.session_state["change_kinds"] = ["changed"]
    app.run()
    changes = app.dataframe[1].value
    assert set(changes["change"]) == {"changed"}
    assert sorted(changes["field"]) == ["abc_indicator", "price"]
    caption = [c.value for c in app.caption if c.value.startswith("Materials:")][0]
    assert caption.endswith("2 shown")


def test_upload_is_for_managers_only(loaded):
    assert not _run("app_pages/loads.py", User("vera", Role.VIEWER)).get("file_uploader")
    assert not _run("app_pages/loads.py", User("cora", Role.COUNTER)).get("file_uploader")
    assert _run("app_pages/loads.py", User("maria", Role.MANAGER)).get("file_uploader")


def test_each_load_shows_its_dagster_run_status_checks_and_link(wics_home, mm60_file,
                                                               mb52_file):
    from pipelines.defs.launch import load_through_dagster

    load_file(mm60_file([mm60_row("1")], name="MM60_2026-10-01.xlsx"))
    stock = mb52_file([mb52_row("1", unrestricted=-4)], name="MB52_2026-01-05.xlsx")
    run = load_through_dagster(stock)  # negative stock and an old snapshot: failed checks
    app = _run("app_pages/loads.py")
    table = app.dataframe[0].value
    row = table[table["file_name"] == "MB52_2026-01-05.xlsx"].iloc[0]
    assert row["run_status"] == "success"
    assert row["run_url"] == f"http://127.0.0.1:3000/runs/{run.run_id}"
    assert "negative" in row["failed_checks"]
    first = table[table["file_name"] == "MM60_2026-10-01.xlsx"].iloc[0]
    assert first["run_status"] == "-"  # loaded by `wics load`-style code, no Dagster run
    assert first["run_url"] == ""  # no link: a blank cell

    from pipelines.defs.run_status import recent_problem_runs

    problems = recent_problem_runs()
    assert [p.run_id for p in problems] == [run.run_id]
    assert any(c.startswith("sap_stock_fresh: latest MB52 snapshot is 2026-01-05")
               for c in problems[0].failed_checks)
    overview = _run()
    text = " ".join(m.value for m in overview.markdown)
    assert "1 load run failed or had a failed check" in text
    assert f"/runs/{run.run_id}" in text and "checks failed:" in text


def test_without_a_dagster_instance_the_page_says_so(loaded, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME")
    app = _run("app_pages/loads.py")
    assert any("no Dagster instance" in c.value for c in app.caption)


def test_running_loads_show_their_progress(loaded):
    from pipelines.warehouse.db import warehouse

    with warehouse(loaded.database) as con:
        con.execute("""INSERT INTO load_log (load_id, file_name, status, started_at,
                           progress_phase, progress_done, progress_total)
                       VALUES (99, 'MB52_big.xlsx', 'running', now(), 'writing', 0, 300000)""")
    app = _run("app_pages/loads.py")
    assert app.subheader[0].value == "Loading now"
    assert "MB52_big.xlsx: writing 0 of 300,000 rows" in app.get("progress")[0].proto.text


def test_a_load_without_a_total_yet_shows_rows_not_an_empty_bar(loaded):
    from pipelines.warehouse.db import warehouse

    with warehouse(loaded.database) as con:
        con.execute("""INSERT INTO load_log (load_id, file_name, status, started_at,
                           progress_phase, progress_done, progress_total)
                       VALUES (99, 'MB52_big.XLS', 'running', now(), 'reading', 12500, 0)""")
    app = _run("app_pages/loads.py")
    assert not app.get("progress")
    assert any("**MB52_big.XLS**: reading, 12,500 rows so far" in m.value for m in app.markdown)


def test_the_table_reruns_when_a_running_load_finishes(loaded):
    from pipelines.warehouse.db import warehouse

    with warehouse(loaded.database) as con:
        con.execute("""INSERT INTO load_log (load_id, file_name, status, started_at,
                           progress_phase, progress_done, progress_total)
                       VALUES (99, 'MB52_big.xlsx', 'running', now(), 'writing', 5, 10)""")
    app = _run("app_pages/loads.py")
    assert app.session_state["loads_running_ids"] == (99,)
    table = app.dataframe[0].value
    assert table[table["load_id"] == 99]["status"].tolist() == ["running"]
    with warehouse(loaded.database) as con:
        con.execute("UPDATE load_log SET status = 'loaded', rows_loaded = 10 "
                    "WHERE load_id = 99")
    app.run()  # the cached table still says running; the fragment sees the set change
    assert not app.exception
    assert app.session_state["loads_running_ids"] == ()
    table = app.dataframe[0].value
    assert table[table["load_id"] == 99]["status"].tolist() == ["loaded"]


def test_uploaded_files_land_in_the_drop_folder_whole(wics_home):
    from warehouse_data import save_to_drop_folder

    manager = User("max", Role.MANAGER)
    first = save_to_drop_folder("../../etc/MB52_2026-11-02.xlsx", b"one", user=manager)
    second = save_to_drop_folder("MB52_2026-11-02.xlsx", b"two", user=manager)
    assert first == wics_home.drop_dir / "MB52_2026-11-02.xlsx"  # no path escapes drop/
    assert second == wics_home.drop_dir / "MB52_2026-11-02.1.xlsx"
    assert first.read_bytes() == b"one" and second.read_bytes() == b"two"
    assert not list(wics_home.drop_dir.glob("*.part"))


def test_only_managers_put_files_into_the_drop_folder(wics_home):
    from pipelines.access import AccessDenied

    from warehouse_data import save_to_drop_folder

    for role in (Role.VIEWER, Role.COUNTER):
        with pytest.raises(AccessDenied, match="may not upload files"):
            save_to_drop_folder("MB52_2026-11-02.xlsx", b"x", user=User("c", role))
    assert not list(wics_home.drop_dir.iterdir())
