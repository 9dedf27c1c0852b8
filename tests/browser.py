"""A real Streamlit server and headless Debian Chromium, for the browser tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from conftest import REPO

CHROMIUM = os.environ.get("WICS_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = REPO / "tests" / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def streamlit_server(wics_home: Path, *, port: int | None = None,
                     extra_args: list[str] = ()) -> Iterator[str]:
    """Serve the dashboard on a free port for one test; yields its URL."""
    port = port or free_port()
    streamlit = Path(sys.executable).parent / "streamlit"
    process = subprocess.Popen(
        [str(streamlit), "run", str(REPO / "dashboard" / "streamlit_app.py"),
         "--server.port", str(port), "--server.address", "127.0.0.1",
         "--server.headless", "true", "--browser.gatherUsageStats", "false", *extra_args],
        env={**os.environ, "WICS_HOME": str(wics_home)}, cwd=REPO,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    output = process.stdout.read().decode() if process.stdout else ""
                    raise RuntimeError(f"streamlit did not start:\n{output}") from None
                time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


@contextmanager
def chromium_page() -> Iterator[object]:
    """A Playwright page in Debian's Chromium (never a downloaded browser)."""
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        try:
            yield page
        finally:
            browser.close()


def wait_for_script(page, timeout_ms: int = 60_000) -> None:
    """Streamlit has finished running the page's script."""
    page.wait_for_selector("[data-test-script-state='notRunning']", timeout=timeout_ms)
    page.wait_for_timeout(300)  # let the last delta paint before a screenshot


def sign_in(page, name: str, password: str) -> None:
    """Sign in through the dashboard's form, as a person does, and wait for the page."""
    wait_for_script(page)
    page.get_by_label("User name", exact=True).fill(name)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_text(f"{name} · ").wait_for(timeout=60_000)  # the sidebar's who-am-I
    wait_for_script(page)


def open_page(page, url: str, title: str, path: str) -> str:
    """Follow the sidebar link (a new URL would be a new session, signed out)."""
    page.get_by_role("link", name=title).click()
    page.wait_for_url(f"{url}{path}")
    wait_for_script(page)
    page.wait_for_timeout(1000)  # charts and tables paint after the script finishes
    body = page.inner_text("body")
    assert "Traceback" not in body and "Exception" not in body, body[:2000]
    return body


def screenshot(page, name: str, width: int = 1400) -> Path:
    """The whole page at ``width`` px into tests/artifacts/: Streamlit scrolls inside its main
    block (a full-page shot would cut it), so the window is made as tall as that block first,
    and set back to ``width`` × 900 afterwards."""
    page.set_viewport_size({"width": width, "height": 900})
    page.wait_for_timeout(300)  # the layout follows the new width
    height = page.evaluate(
        "() => (document.querySelector('[data-testid=stMainBlockContainer]')"
        " || document.body).scrollHeight")  # other pages (the OIDC provider's) have no block
    page.set_viewport_size({"width": width, "height": min(max(height + 60, 900), 6000)})
    page.wait_for_timeout(500)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    page.set_viewport_size({"width": width, "height": 900})
    return path
