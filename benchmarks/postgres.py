"""A throwaway local PostgreSQL server for the old way (``benchmarks/django_seed.py``).

The seed system ran on a database server (MySQL), so the old way is timed against one. This
starts a private cluster in a temporary folder of its own (``initdb``, then ``pg_ctl start``
listening on a unix socket in that folder only, no TCP port), with PostgreSQL's defaults
(``fsync`` and ``synchronous_commit`` on: every autocommitted row is a durable commit, as on
the seed's server), and stops and deletes it afterwards. PostgreSQL refuses to run as root; as
root the cluster is run as the ``postgres`` system user the Debian package creates (so its
folder is a fresh one under the system's temporary folder, where that user can reach it; a
unix socket's path must also stay short).

``cluster()`` yields None with the reason when no server can be started (no ``initdb``, no
``psycopg``), and the benchmark falls back to SQLite, saying so.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

DATABASE = "seed"


def server_bin() -> Path | None:
    """The folder of ``initdb`` and ``pg_ctl``: on PATH, else Debian's newest
    /usr/lib/postgresql/<version>/bin."""
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                      key=lambda p: int(Path(p).parent.parent.name)
                      if Path(p).parent.parent.name.isdigit() else 0)
    return Path(versions[-1]).parent if versions else None


def unavailable() -> str | None:
    """Why no server can be started here, or None when one can."""
    try:
        import psycopg  # noqa: F401 - Django's PostgreSQL backend needs it
    except ImportError:
        return "psycopg is not installed"
    if server_bin() is None:
        return "no PostgreSQL server binaries (initdb) on this machine"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run the server as"
    return None


def _run(command: list[str], owner: str | None) -> None:
    if owner:
        command = ["runuser", "-u", owner, "--", *command]
    subprocess.run(command, check=True, capture_output=True, text=True)


def version() -> str:
    binary = server_bin()
    if binary is None:
        return "none"
    out = subprocess.run([str(binary / "postgres"), "--version"], capture_output=True,
                         text=True, check=False).stdout.strip()
    return out.replace("postgres (PostgreSQL) ", "PostgreSQL ") or "PostgreSQL"


@contextmanager
def cluster() -> Iterator[dict[str, Any] | str]:
    """A running server with an empty database ``seed``: yields psycopg connection settings
    (``host`` is the socket folder), or the reason there is none."""
    reason = unavailable()
    if reason is not None:
        yield reason
        return
    binary = server_bin()
    assert binary is not None
    owner = "postgres" if os.geteuid() == 0 else None
    folder = Path(tempfile.mkdtemp(prefix="wics-pg-"))
    data, user = folder / "data", owner or pwd.getpwuid(os.geteuid()).pw_name
    started = False
    try:
        if owner:
            entry = pwd.getpwnam(owner)
            os.chown(folder, entry.pw_uid, entry.pw_gid)
        try:
            _run([str(binary / "initdb"), "-D", str(data), "-A", "trust", "-U", user,
                  "--no-instructions"], owner)
            _run([str(binary / "pg_ctl"), "-D", str(data), "-w", "-l",
                  str(folder / "server.log"), "-o", f"-k {folder} -c listen_addresses=''",
                  "start"], owner)
            started = True
        except subprocess.CalledProcessError as error:
            yield f"the server did not start ({(error.stderr or '').strip()[-300:]})"
            return
        import psycopg

        with psycopg.connect(host=str(folder), user=user, dbname="postgres",
                             autocommit=True) as con:
            con.execute(f"CREATE DATABASE {DATABASE}")
        yield {"host": str(folder), "user": user, "dbname": DATABASE, "port": 5432}
    finally:
        if started:
            _run([str(binary / "pg_ctl"), "-D", str(data), "-w", "-m", "fast", "stop"], owner)
        shutil.rmtree(folder, ignore_errors=True)
