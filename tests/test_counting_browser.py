"""Count schedule and count entry in headless Chromium, on a demo-like warehouse, signed in
through the real sign-in form: a manager changes the schedule, a counter only counts."""

from __future__ import annotations

import re
from datetime import date

import pytest

from pipelines.accounts import add_account
from pipelines.demo.warehouse import DEMO_COUNTERS
from pipelines.warehouse.db import fetch, warehouse

from browser import chromium_page, open_page, screenshot, sign_in, streamlit_server, wait_for_script
from test_demo_warehouse import build_demo

pytestmark = pytest.mark.browser
PASSWORD = "correct horse"
TABLET = 800  # px: count entry is used on a tablet on the warehouse floor


@pytest.fixture
def demo_home(wics_home, monkeypatch):
    """`wics demo` in small (its drop loaded, a quarter of counts, today's schedule), with a
    manager and a counter account; the counter is one of the demo's team (ANA)."""
    monkeypatch.setenv("WICS_COUNTERS", ",".join(DEMO_COUNTERS))
    build_demo(wics_home, today=date.today(), materials=2000)  # as `wics demo`
    add_account(wics_home.home, "boss", "manager", PASSWORD)
    add_account(wics_home.home, "ana", "counter", PASSWORD)
    return wics_home


def to_count(body: str) -> tuple[int, int]:
    found = re.search(r"To count: (\d+) of (\d+)", body)
    assert found, body[:2000]
    return int(found[1]), int(found[2])


def test_a_manager_generates_the_schedule(demo_home):
    with streamlit_server(demo_home.home) as url, chromium_page() as page:
        page.goto(url)
        sign_in(page, "boss", PASSWORD)
        body = open_page(page, url, "Count schedule", "/count_schedule")
        assert "Lines on the day" in body and "Change the schedule" in body
        screenshot(page, "count_schedule_manager")
        page.get_by_role("tab", name="Week / month").click()
        wait_for_script(page)
        screenshot(page, "count_schedule_week")
        for tab in ("Daily summary", "Worksheets"):
            page.get_by_role("tab", name=tab).click()
            wait_for_script(page)
            assert "Traceback" not in page.inner_text("body")
            screenshot(page, f"count_schedule_{tab.split()[-1].lower()}")
        assert ".xlsx" in page.inner_text("body")  # a worksheet to download

        page.get_by_role("tab", name="Change the schedule").click()
        wait_for_script(page)
        page.get_by_role("button", name="Generate plan").click()
        # The result message itself ("Planned" alone also matches the page's tables).
        page.get_by_text(re.compile(r"Planned [\d,]+ cycle lines")).first.wait_for(
            timeout=60_000)
        wait_for_script(page)
        body = page.inner_text("body")
        assert "Traceback" not in body
        planned = re.search(r"Planned ([\d,]+) cycle lines", body)
        assert planned, body[:2000]
        with warehouse(read_only=True) as con:
            future = fetch(con, "SELECT count(*) AS n FROM count_schedule WHERE reason = 'cycle' "
                                "AND status = 'planned' AND count_date > current_date")
        assert future["n"].item() == int(planned[1].replace(",", "")) > 0
        page.get_by_role("tab", name="Change the schedule").click()
        wait_for_script(page)
        screenshot(page, "count_schedule_change")

        body = open_page(page, url, "Count entry", "/count_entry")
        assert "To count:" in body
        screenshot(page, "count_entry_manager", width=TABLET)


def test_a_counter_enters_a_count_but_cannot_change_the_schedule(demo_home):
    with streamlit_server(demo_home.home) as url, chromium_page() as page:
        page.goto(url)
        sign_in(page, "ana", PASSWORD)
        body = open_page(page, url, "Count schedule", "/count_schedule")
        assert "Lines on the day" in body
        assert page.get_by_role("tab", name="Change the schedule").count() == 0
        assert page.get_by_role("button", name="Generate plan").count() == 0
        assert "Generate the plan" not in body
        screenshot(page, "count_schedule_counter")

        body = open_page(page, url, "Count entry", "/count_entry")
        open_before, lines = to_count(body)
        assert open_before > 0  # the demo left part of today's list for ANA
        screenshot(page, "count_entry_counter", width=TABLET)
        page.set_viewport_size({"width": TABLET, "height": 1000})
        page.locator("[data-testid='stExpander'] summary").first.click()
        expander = page.locator("[data-testid='stExpander']").first
        expander.get_by_label("Location (bin)").fill("R12-B")
        expander.get_by_label("Quantity").fill("24*12+7")
        page.get_by_text("= 295").wait_for()  # the value shows while typing
        screenshot(page, "count_entry_typing", width=TABLET)
        expander.get_by_role("button", name="Save count").click()
        page.get_by_text("Saved count").first.wait_for(timeout=60_000)
        wait_for_script(page)
        screenshot(page, "count_entry_saved", width=TABLET)

        with warehouse(read_only=True) as con:
            saved = fetch(con, "SELECT * FROM physical_count WHERE location = 'R12-B'")
        assert saved.height == 1
        assert (saved["quantity"].item(), saved["quantity_expr"].item(),
                saved["counter"].item(), saved["entered_by"].item()) \
            == (295.0, "24*12+7", "ANA", "ana")

        page.reload()  # a new session: signed out, but the count is in the warehouse
        sign_in(page, "ana", PASSWORD)
        body = open_page(page, url, "Count entry", "/count_entry")
        assert to_count(body) == (open_before - 1, lines)
        page.get_by_text("Correct or void an entry").click()
        correction = page.locator("[data-testid='stForm']")
        assert correction.get_by_label("Quantity").input_value() == "24*12+7"
        assert correction.get_by_label("Location").input_value() == "R12-B"
        screenshot(page, "count_entry_after_refresh", width=TABLET)

        # The count is on the variances page at once: its line, counted quantity included.
        material, plant = saved["material"].item(), saved["plant"].item()
        with warehouse(read_only=True) as con:
            line = fetch(con, "SELECT counted_qty FROM count_variance WHERE material = ? "
                              "AND plant = ? AND count_date = current_date", [material, plant])
        assert line.height == 1 and line["counted_qty"].item() >= 295
        open_page(page, url, "Variances", "/variances")
        page.get_by_label("Material", exact=True).fill(material)
        page.get_by_label("Material", exact=True).press("Enter")
        wait_for_script(page)
        page.wait_for_timeout(1000)  # the table paints after the script finishes
        page.locator("[data-testid=stDataFrame]").first.click(position={"x": 18, "y": 55})
        page.get_by_text("SAP stock lines compared with").wait_for(timeout=30_000)
        wait_for_script(page)
        body = page.inner_text("body")
        assert f"{material} · plant" in body
        assert f"counted {line['counted_qty'].item():,.0f}" in body.replace("\u202f", ",")
        screenshot(page, "variances_after_count")
