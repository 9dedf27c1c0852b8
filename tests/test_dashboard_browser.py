"""What a person sees: the dashboard in headless Chromium against a running Streamlit."""

from __future__ import annotations

import pytest

from pipelines.accounts import add_account
from pipelines.ingest.load import load_file

from browser import chromium_page, screenshot, sign_in, streamlit_server, wait_for_script
from conftest import mb52_row, mm60_row, write_text

pytestmark = pytest.mark.browser


@pytest.fixture
def warehouse_with_loads(wics_home, mm60_file, mb52_file):
    load_file(mm60_file([mm60_row("1"), mm60_row("2"), mm60_row("3", "1100")],
                        name="MM60_2026-10-01.xlsx"))
    load_file(mm60_file([mm60_row("1", price=20.0), mm60_row("3", "1100")],
                        name="MM60_2026-11-01.xlsx"))
    load_file(mb52_file([mb52_row("1", value=125.5), mb52_row("3", "1100", value=4.5)]))
    load_file(write_text(wics_home.drop_dir / "MB52_2026-11-05.XLS", "nonsense\n"))
    add_account(wics_home.home, "manager", "manager", "correct horse")
    return wics_home


def test_overview_and_loads_pages_in_a_browser(warehouse_with_loads):
    with streamlit_server(warehouse_with_loads.home) as url, chromium_page() as page:
        page.goto(url)
        sign_in(page, "manager", "correct horse")
        body = page.inner_text("body")
        assert "Warehouse overview" in body
        assert "Active materials" in body and "2026-11-02" in body
        assert "Traceback" not in body and "Error" not in body
        screenshot(page, "overview")

        page.get_by_role("link", name="SAP loads").click()
        page.wait_for_url(f"{url}/loads")
        wait_for_script(page)
        body = page.inner_text("body")
        assert "SAP loads" in body and "Rejected" in body
        assert "MB52_2026-11-05.XLS" in body  # the rejected file's expander
        assert "Changes of load 2" in body
        screenshot(page, "loads")
