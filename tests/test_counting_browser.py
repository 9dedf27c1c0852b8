"""Count schedule and count entry in headless Chromium, on a demo-like warehouse."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from pipelines.access import User
from pipelines.counting.schedule import generate_schedule
from pipelines.demo.exports import write_demo_exports
from pipelines.ingest.load import load_file
from pipelines.warehouse.db import fetch, warehouse

from browser import chromium_page, screenshot, streamlit_server, wait_for_script
from conftest import REPO

pytestmark = pytest.mark.browser

# The dashboard with a signed-in user, as the sign-in gate leaves it: the test's own entry
# script beside a link to the real pages, so the pages run unchanged.
SIGNED_IN_APP = """
import sys
sys.path.insert(0, {dashboard!r})
import runpy
import streamlit as st
from pipelines.access import Role, User
st.session_state.setdefault("wics_user", User({name!r}, Role({role!r})))
runpy.run_path({app!r}, run_name="__main__")
"""


def signed_in_app(folder: Path, name: str, role: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    dashboard = REPO / "dashboard"
    (folder / "app_pages").symlink_to(dashboard / "app_pages")
    script = folder / "signed_in_app.py"
    script.write_text(SIGNED_IN_APP.format(dashboard=str(dashboard), name=name, role=role,
                                           app=str(dashboard / "streamlit_app.py")))
    return script


@pytest.fixture
def demo_warehouse(wics_home, tmp_path, monkeypatch):
    """`wics demo` in small: its exports loaded, then the cycle-count plan generated."""
    monkeypatch.setenv("WICS_COUNTERS", "ana,ben,carla")
    for path in write_demo_exports(tmp_path / "demo", materials=300, stock_rows=900,
                                   count_rows=60, start=date.today() - timedelta(days=1)):
        load_file(path)
    with warehouse() as con:
        generate_schedule(con, include_today=True, user=User.system())
    return wics_home


def test_schedule_and_count_entry_in_a_browser(demo_warehouse, tmp_path):
    script = signed_in_app(tmp_path / "app", "ana", "manager")
    with streamlit_server(demo_warehouse.home, script) as url, chromium_page() as page:
        page.goto(f"{url}/count_schedule")
        wait_for_script(page)
        body = page.inner_text("body")
        assert "Count schedule" in body and "Lines on the day" in body
        assert "Traceback" not in body and "Error" not in body
        screenshot(page, "count_schedule")
        page.get_by_role("tab", name="Week / month").click()
        wait_for_script(page)
        screenshot(page, "count_schedule_week")
        for tab in ("Daily summary", "Worksheets"):
            page.get_by_role("tab", name=tab).click()
            wait_for_script(page)
            assert "Traceback" not in page.inner_text("body")
            screenshot(page, f"count_schedule_{tab.split()[-1].lower()}")
        assert "count_" in page.inner_text("body")  # a worksheet to download
        page.get_by_role("tab", name="Change the schedule").click()
        wait_for_script(page)
        page.set_viewport_size({"width": 1400, "height": 1900})  # the whole tab
        wait_for_script(page)
        screenshot(page, "count_schedule_change")

        page.set_viewport_size({"width": 800, "height": 1000})
        page.goto(f"{url}/count_entry")
        wait_for_script(page)
        body = page.inner_text("body")
        assert "Count entry" in body and "To count:" in body
        assert "Traceback" not in body
        screenshot(page, "count_entry")

        page.locator("[data-testid='stExpander'] summary").first.click()
        expander = page.locator("[data-testid='stExpander']").first
        expander.get_by_label("Location (bin)").fill("R12-B")
        expander.get_by_label("Quantity").fill("24*12+7")
        page.get_by_text("= 295").wait_for()  # the value shows while typing
        screenshot(page, "count_entry_typing")
        expander.get_by_role("button", name="Save count").click()
        page.get_by_text("Saved count").first.wait_for()
        wait_for_script(page)
        screenshot(page, "count_entry_saved")

        with warehouse(read_only=True) as con:
            saved = fetch(con, "SELECT * FROM physical_count WHERE location = 'R12-B'")
        assert saved.height == 1
        assert (saved["quantity"].item(), saved["quantity_expr"].item(),
                saved["counter"].item()) == (295.0, "24*12+7", "ana")

        page.reload()  # a refresh still shows it: it is in the warehouse
        wait_for_script(page)
        assert "To count: 0 of 1" in page.inner_text("body")
        page.get_by_text("Correct or void an entry").click()
        correction = page.locator("[data-testid='stForm']")
        assert correction.get_by_label("Quantity").input_value() == "24*12+7"
        assert correction.get_by_label("Location").input_value() == "R12-B"
        screenshot(page, "count_entry_after_refresh")
