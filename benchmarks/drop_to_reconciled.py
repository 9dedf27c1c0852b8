"""Seconds from a file landing in drop/ to its load reconciled, with the real Dagster daemon.

Starts ``dagster dev -w workspace.yaml`` on a temporary WICS_HOME with the default sensor
interval and settle time (unless the environment sets them), drops the sample MM60, MB52 and
count sheet one after the other, and times each from the drop until its load_log row says
``loaded`` with its refresh done and every Dagster run has finished.

    python benchmarks/drop_to_reconciled.py [--samples DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

SAMPLES = ("MM60_materials_2026-11-01.xlsx", "MB52_stock_2026-11-02.xlsx",
           "counts_2026-11-02.xlsx")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.25)
    return False


def _settled(database: Path, name: str) -> bool:
    """The file's load finished and (where the column exists) its refresh is done."""
    import duckdb

    try:
        con = duckdb.connect(str(database), read_only=True)
    except Exception:  # not created yet, or locked by the writer this instant
        return False
    try:
        columns = {r[0] for r in con.execute("DESCRIBE load_log").fetchall()}
        refresh = "AND refresh_state = 'done'" if "refresh_state" in columns else ""
        return bool(con.execute(
            f"SELECT count(*) FROM load_log WHERE file_name = ? AND status = 'loaded' {refresh}",
            [name]).fetchone()[0])
    except Exception:
        return False
    finally:
        con.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=Path, default=REPO.parent / "shared" / "samples")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="wics-drop-bench-"))
    dagster_home = home / "dagster"
    dagster_home.mkdir(parents=True)
    shutil.copy(REPO / "pipelines" / "dagster.yaml", dagster_home / "dagster.yaml")
    for folder in ("drop", "archive", "rejected"):
        (home / folder).mkdir()
    port = _free_port()
    env = {**os.environ, "WICS_HOME": str(home), "DAGSTER_HOME": str(dagster_home),
           "PYTHONPATH": str(REPO)}
    log = (home / "dagster-dev.log").open("w")
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster"), "dev", "-w", "workspace.yaml",
         "-p", str(port)], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True)
    try:
        def up() -> bool:
            try:
                return urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info",
                                              timeout=2).status == 200
            except OSError:
                return False

        if not _wait(up, 240):
            print("dagster dev did not come up", file=sys.stderr)
            return 1
        time.sleep(20)  # let the daemon start its sensor loop, as on a running system
        import dagster as dg

        instance = dg.DagsterInstance.from_config(str(dagster_home))
        for name in SAMPLES:
            staging = home / name
            shutil.copy(args.samples / name, staging)
            started = time.monotonic()
            staging.rename(home / "drop" / name)
            ok = _wait(lambda n=name: _settled(home / "wics.duckdb", n), 600)
            reconciled = time.monotonic() - started
            _wait(lambda: all(r.is_finished for r in instance.get_runs()), 300)
            finished = time.monotonic() - started
            print(f"{name}: " + (f"reconciled after {reconciled:.1f} s, run finished after "
                                 f"{finished:.1f} s" if ok else
                                 f"NOT LOADED after {reconciled:.0f} s"), flush=True)
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()
    print(f"(WICS_HOME {home})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
