"""What a person sees: the dashboard in headless Chromium against a running Streamlit."""

from __future__ import annotations

import io
import threading
from datetime import date
from pathlib import Path

import openpyxl
import pytest

from pipelines.accounts import add_account
from pipelines.ingest.load import load_file

from browser import chromium_page, open_page, screenshot, sign_in, streamlit_server, wait_for_script
from conftest import mb52_row, mm60_row
from test_demo_warehouse import build_demo

pytestmark = pytest.mark.browser
PASSWORD = "correct horse"


@pytest.fixture
def demo_home(wics_home, monkeypatch):
    monkeypatch.setenv("WICS_COUNTERS", "ANA,BEN,CHRIS,DANA")
    build_demo(wics_home, today=date.today(), materials=600)
    add_account(wics_home.home, "manager", "manager", PASSWORD)
    return wics_home


def test_every_page_renders_on_the_demo_warehouse(demo_home):
    with streamlit_server(demo_home.home) as url, chromium_page() as page:
        page.goto(url)
        sign_in(page, "manager", PASSWORD)
        body = open_page(page, url, "Overview", "/")
        assert "Warehouse overview" in body and "Accuracy this week" in body
        assert "Open recounts" in body and "is stale" not in body
        assert "Inventory record accuracy by week" in body
        screenshot(page, "overview")

        body = open_page(page, url, "Variances", "/variances")
        assert "Variance value by material" in body and "Distribution of variance %" in body
        # Drill into the biggest line: its counts and the SAP lines it was compared with.
        page.locator("[data-testid=stDataFrame]").first.click(position={"x": 18, "y": 55})
        page.get_by_text("SAP stock lines compared with").wait_for(timeout=30_000)
        page.get_by_role("button", name="Schedule a recount").wait_for()  # a manager may
        wait_for_script(page)
        screenshot(page, "variances")

        body = open_page(page, url, "SAP loads", "/loads")
        assert "Changes of load 3" in body and "Materials:" in body
        assert "removed" in body and "changed" in body  # the change-type filter
        screenshot(page, "loads")
        # The change report is written from material_change when the button is clicked.
        with page.expect_download(timeout=60_000) as download:
            page.get_by_role("button", name="Change report (xlsx)").click()
        assert download.value.suggested_filename == "material_changes_load3.xlsx"
        book = openpyxl.load_workbook(io.BytesIO(Path(download.value.path()).read_bytes()))
        assert book["Summary"]["A1"].value == "MM60 changes of load 3"
        assert book["All changes"].max_row > 1  # the update's changes, listed


def test_an_uploaded_file_shows_its_progress_and_result(wics_home, mm60_file, mb52_file):
    load_file(mm60_file([mm60_row(str(n)) for n in range(1, 40)]))
    add_account(wics_home.home, "manager", "manager", PASSWORD)
    export = mb52_file([mb52_row(str(n)) for n in range(1, 40)], name="MB52_2026-11-20.xlsx")
    gate, calls = threading.Event(), []

    def progress(phase: str, done: int, total: int) -> None:
        calls.append(phase)
        if len(calls) == 2:  # hold the load while the page shows it running
            gate.wait(90)

    with streamlit_server(wics_home.home) as url, chromium_page() as page:
        page.goto(url)
        sign_in(page, "manager", PASSWORD)
        body = open_page(page, url, "SAP loads", "/loads")
        assert "Loading now" not in body
        page.get_by_text("Upload an export or a filled-in count sheet").click()
        page.locator("input[type=file]").set_input_files(str(export))
        page.get_by_role("button", name="Put into the drop folder").click()
        page.get_by_text("is in the drop folder").wait_for(timeout=30_000)
        dropped = wics_home.drop_dir / export.name
        assert dropped.read_bytes() == export.read_bytes()

        # The sensor's part: load the dropped file (held half-way by its progress callback).
        loader = threading.Thread(target=load_file, args=(dropped,),
                                  kwargs={"progress": progress})
        loader.start()
        try:
            # No reload: the two-second fragment notices the running load.
            page.get_by_text("Loading now").wait_for(timeout=30_000)
            page.get_by_text("MB52_2026-11-20.xlsx").first.wait_for(timeout=30_000)
            page.wait_for_timeout(500)
            screenshot(page, "loads_progress")
        finally:
            gate.set()
            loader.join(60)
        # When it finishes the page reruns by itself: two loads now, none running.
        page.get_by_text("Loading now").wait_for(state="detached", timeout=30_000)
        page.wait_for_function(
            "() => [...document.querySelectorAll('[data-testid=stMetric]')]"
            ".some(m => m.innerText.includes('Loaded') && m.innerText.includes('2'))",
            timeout=30_000)
        wait_for_script(page)
        screenshot(page, "loads_done")
