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


def test_overview_shows_the_warehouse_figures(loaded):
    app = _run()
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Active materials"] == "2"  # material 2 left plant 1000's list
    assert metrics["Plants"] == "2"
    assert metrics["Latest SAP snapshot"] == "2026-11-02"
    frame = app.dataframe[0].value
    assert sorted(frame["plant"].tolist()) == ["1000", "1100"]
    assert sorted(frame["value_unrestricted"].tolist()) == [4.5, 125.5]


def test_overview_of_an_empty_warehouse_says_what_to_do(wics_home):
    app = _run()
    assert "The warehouse is empty" in app.info[0].value


def test_loads_page_lists_files_rejections_and_changes(loaded):
    app = _run("app_pages/loads.py")
    metrics = {m.label: m.value for m in app.metric}
    assert metrics == {"Loaded": "3", "Rejected": "1"}
    assert app.dataframe[0].value["file_name"].tolist()[0] == "MB52_2026-11-05.XLS"
    rejected = [e for e in app.expander if e.label == "MB52_2026-11-05.XLS"]
    assert "no header row" in rejected[0].code[0].value
    assert app.selectbox[0].value == 2  # the latest MM60 load first
    changes = app.dataframe[1].value
    assert set(changes["change"]) == {"added", "removed", "changed"}
    assert "1 added, 1 changed, 1 removed" in app.caption[0].value


def test_running_loads_show_their_progress(loaded):
    from pipelines.warehouse.db import warehouse

    with warehouse(loaded.database) as con:
        con.execute("""INSERT INTO load_log (load_id, file_name, status, started_at,
                           progress_phase, progress_done, progress_total)
                       VALUES (99, 'MB52_big.xlsx', 'running', now(), 'writing', 0, 300000)""")
    app = _run("app_pages/loads.py")
    assert app.subheader[0].value == "Loading now"
    assert "MB52_big.xlsx: writing 0 of 300,000 rows" in app.get("progress")[0].proto.text


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
