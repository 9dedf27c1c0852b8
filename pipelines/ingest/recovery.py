"""Loads whose process died: found by the next load or sensor tick, and marked ``failed``.

Every ``running`` load_log row records the process that runs it: pid, host, the kernel's boot
id and the process's start time (a pid alone may be reused after a reboot or a long uptime).
A row whose process is gone is marked failed ("interrupted"); its transaction never committed,
so the file is still in drop/ and loads on the next tick. A row from another host is left
alone: from here nobody can tell whether that process lives.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from pipelines.warehouse.db import fetch

INTERRUPTED = "interrupted"


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux), None where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ")".
    return int(stat.rsplit(")", 1)[1].split()[19])


@dataclass(frozen=True)
class ProcessIdentity:
    pid: int
    host: str
    boot_id: str
    start_ticks: int | None

    @classmethod
    def current(cls) -> ProcessIdentity:
        pid = os.getpid()
        return cls(pid, socket.gethostname(), _boot_id(), _start_ticks(pid))

    def is_alive(self) -> bool | None:
        """True/False on this host; None for another host (cannot tell)."""
        here = ProcessIdentity.current()
        if self.host != here.host:
            return None
        if self.boot_id and here.boot_id and self.boot_id != here.boot_id:
            return False  # the machine restarted since
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass  # exists, owned by someone else
        if self.start_ticks is not None:
            ticks = _start_ticks(self.pid)
            return ticks == self.start_ticks
        return True


def _owner(row: dict) -> ProcessIdentity | None:
    if row["pid"] is None:
        return None
    return ProcessIdentity(int(row["pid"]), row["host"] or "", row["boot_id"] or "",
                           row["start_ticks"])


def dead_running_loads(con: duckdb.DuckDBPyConnection) -> list[int]:
    """load_ids of ``running`` rows whose process is known to be gone."""
    running = fetch(con, """SELECT load_id, pid, host, boot_id, start_ticks FROM load_log
                            WHERE status = 'running'""")
    dead = []
    for row in running.iter_rows(named=True):
        owner = _owner(row)
        # A row without a pid was written before pids were recorded: its process is long gone
        # unless a load of this version started it, which always records one.
        if owner is None or owner.is_alive() is False:
            dead.append(row["load_id"])
    return dead


def mark_interrupted(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Mark every dead ``running`` load failed, in the caller's transaction; their ids."""
    dead = dead_running_loads(con)
    if dead:
        con.execute(
            """UPDATE load_log SET status = 'failed', finished_at = ?, progress_phase = 'done',
                      error = ? || ': the process loading this file ended before the load '
                              || 'finished; nothing of it was committed, and the file loads '
                              || 'again from drop/'
               WHERE load_id IN (SELECT unnest(?)) AND status = 'running'""",
            [datetime.now(), INTERRUPTED, dead],
        )
    return dead


def dead_owner(row: dict) -> bool:
    """Whether the process recorded on a load_log row is known to be gone."""
    owner = _owner(row)
    return owner is None or owner.is_alive() is False
