"""The Materials and Counts pages in headless Chromium on a demo-like warehouse (a year of
counts made by the benchmark's builder at demo size), with screenshots at 1400 px."""

from __future__ import annotations

import re
from datetime import date

import pytest

from benchmarks.pages import build_warehouse, showcase_material
from pipelines.accounts import add_account

from browser import chromium_page, screenshot, sign_in, streamlit_server, wait_for_script

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def demo_like(wics_home):
    build_warehouse(wics_home.database, materials=2000, stock_lines=6000, count_lines=4000,
                    snapshots=14, seed=7, today=date.today())
    add_account(wics_home.home, "ana", "counter", "correct horse")  # counter ANA's account
    return wics_home


def _tall(page, height: int = 2400) -> None:
    """Streamlit scrolls inside its own container: a tall window shows the whole page."""
    page.set_viewport_size({"width": 1400, "height": height})


def _body(page) -> str:
    wait_for_script(page)
    body = page.inner_text("body")
    assert "Traceback" not in body and "Exception" not in body, body[:2000]
    return body


def test_materials_and_counts_pages_render_in_a_browser(demo_like):
    shown = showcase_material(demo_like.database)
    with streamlit_server(demo_like.home) as url, chromium_page() as page:
        _tall(page)
        page.goto(url)
        sign_in(page, "ana", "correct horse")
        page.get_by_role("link", name="Materials").click()
        search = page.get_by_label("Material number or description")
        search.wait_for(timeout=60_000)
        search.fill("0000000000" + shown["material"])  # as SAP prints it, leading zeros
        search.press("Enter")
        page.get_by_text("SAP stock by storage location").wait_for(timeout=60_000)
        assert re.search(r"\d+ found", _body(page))
        # The same number in several plants: pick the plant with the counts.
        page.get_by_test_id("stSelectbox").click()
        page.get_by_role("option", name=re.compile(f"plant {shown['plant']}")).click()
        page.get_by_text(f"Plant {shown['plant']} · ").wait_for(timeout=60_000)
        body = _body(page)
        assert f"{shown['material']} · " in body
        for section in ("Where it was last found", "Counts and variances", "MM60 changes"):
            assert section in body, section
        page.wait_for_selector("[data-testid='stVegaLiteChart'] canvas, "
                               "[data-testid='stVegaLiteChart'] svg", timeout=30_000)
        screenshot(page, "materials")

        page.get_by_text("Part locations of all materials").click()
        page.get_by_role("button", name="Download xlsx").first.wait_for(timeout=30_000)
        body = _body(page)
        assert "Download xlsx" in body and "places" in body
        assert page.locator("[data-testid='stDataFrame']").count() == 1
        screenshot(page, "materials-part-locations")

        page.get_by_role("link", name="Counts").click()
        page.get_by_text("Counted per material and day").wait_for(timeout=30_000)
        body = _body(page)
        assert "Count entries" in body and "Counted per material and day" in body
        # A counter changes only their own entries: the form lists ANA's, nobody else's.
        assert "Correct or void a count" in body and "Void count" in body
        page.get_by_text("Correct or void a count").scroll_into_view_if_needed()
        screenshot(page, "counts")
