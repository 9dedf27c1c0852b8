"""`wics up` serves Dagster's UI and the dashboard on loopback only, unless told otherwise."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from browser import free_port
from conftest import REPO

pytestmark = pytest.mark.slow


def listening(port: int) -> set[str]:
    """The local addresses with a listening TCP socket on ``port`` (from /proc/net/tcp*)."""
    addresses = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, port_hex = local.split(":")
            if state == "0A" and int(port_hex, 16) == port:  # 0A: LISTEN
                if width == 8:
                    addresses.add(".".join(str(b) for b in bytes.fromhex(address)[::-1]))
                else:
                    addresses.add("::1" if address.endswith("01000000") and
                                  address.startswith("0" * 24) else f"ipv6:{address}")
    return addresses


def wait_for(url: str, process: subprocess.Popen, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(url, timeout=3)
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer") from None
            time.sleep(1)


def test_wics_up_binds_both_servers_to_loopback(wics_home):
    dagster_port, dashboard_port = free_port(), free_port()
    env = {**os.environ, "WICS_HOME": str(wics_home.home),
           "DAGSTER_HOME": str(wics_home.home / "dagster"),
           "WICS_OIDC_METADATA_URL": "http://localhost:9/.well-known/openid-configuration",
           "WICS_OIDC_CLIENT_ID": "wics"}
    for name in ("WICS_HOST", "WICS_DAGSTER_PORT", "WICS_DASHBOARD_PORT"):
        env.pop(name, None)
    process = subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", "up", "--dagster-port", str(dagster_port),
         "--dashboard-port", str(dashboard_port)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True)
    try:
        wait_for(f"http://127.0.0.1:{dashboard_port}/_stcore/health", process)
        wait_for(f"http://127.0.0.1:{dagster_port}/server_info", process)
        assert listening(dashboard_port) == {"127.0.0.1"}
        assert listening(dagster_port) == {"127.0.0.1"}
        secrets_file = wics_home.home / "streamlit" / "secrets.toml"
        assert "server_metadata_url" in secrets_file.read_text()  # st.login is switched on
        assert (f"127.0.0.1:{dashboard_port}/oauth2callback") in secrets_file.read_text()
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
