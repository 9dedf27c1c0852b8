"""The one way to touch the DuckDB file.

Dagster (webserver, daemon, run workers), the ``wics`` command and Streamlit are separate
processes on one file, and DuckDB lets only one process open it for writing. So no process
keeps it for long: every operation works in one transaction, commits (or rolls back) and
gives the file up as soon as another process asks for it (below), retrying with backoff
while another process holds the lock.

Inside one process (Streamlit serves every user from threads of one process) connections to
one file share one DuckDB instance, whose optimistic concurrency turns two concurrent writers
into ``Conflict on tuple deletion`` errors. So ``warehouse()`` itself serialises writers:

- one write transaction per process and file at a time (the writer lock); readers never wait
  for it: they share the open write instance (reads never conflict) or open read-only;
- every opener passes a turnstile (a lock file ``<database>.lock`` plus a lock per process),
  held while it waits for DuckDB's file lock: a process waiting for the file goes next, so a
  busy dashboard cannot starve a load in another process, nor a load the dashboard;
- opening and closing the file costs more than a save (closing checkpoints it), so when
  the last connection of a process closes the instance stays open for the process's next
  use, for up to ``WICS_KEEP_OPEN_SECONDS`` (the lease); a watcher thread closes it as soon
  as another process waits at the file's turnstile (or the lease runs out, or the process
  exits). For ``SHARE_SECONDS`` after a process opened the file its threads join the open
  instance without queueing at the file's turnstile; after that a process waiting for the
  file goes first;
- the schema is ensured once per process and file, not on every open;
- every wait is bounded (``timeout_s``, default ``WICS_LOCK_TIMEOUT_SECONDS``) and ends in a
  ``WarehouseBusyError`` that says what was waited for and that nothing was written.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import os
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import polars as pl

from pipelines.settings import get_settings
from pipelines.warehouse.schema import create_schema

T = TypeVar("T")
# How long a process's threads may keep joining its open instance while another process waits
# for the file: long enough to save a burst of counts for one open and close, short enough
# that the other process waits at most about this long plus one transaction.
SHARE_SECONDS = 0.3
# How often a process holding the file idle looks whether another process waits for it.
WATCH_SECONDS = 0.01


class WarehouseBusyError(RuntimeError):
    """The warehouse stayed busy longer than we were willing to wait; nothing was written."""


class WarehouseConflictError(WarehouseBusyError):
    """Another transaction changed the same rows first; this one was rolled back whole."""


def _is_lock_conflict(error: Exception) -> bool:
    text = str(error)
    # The last one: a connection of this process opened outside warehouse() in another mode.
    return ("Could not set lock" in text or "Conflicting lock" in text
            or "different configuration" in text)


def _is_write_conflict(error: Exception) -> bool:
    text = str(error)
    return isinstance(error, duckdb.TransactionException) and (
        "onflict" in text or "write-write" in text)


@dataclass
class _Gate:
    """What one process knows about one database file."""

    path: Path
    writer: threading.Lock = field(default_factory=threading.Lock)
    entry: threading.Lock = field(default_factory=threading.Lock)  # the process's turnstile
    cond: threading.Condition = field(default_factory=threading.Condition)  # mode and users
    mode: str | None = None  # "ro" / "rw" while this process has connections open
    users: int = 0
    writer_thread: int | None = None
    writer_since: datetime | None = None
    lock_fd: int | None = None
    file_turnstile_held: bool = False  # this process holds the lock file right now
    waiting: int = 0  # threads of this process on their way to a connection
    anchor: duckdb.DuckDBPyConnection | None = None  # keeps the instance open for them
    opened_at: float = 0.0  # time.monotonic() when this process last opened the file
    lease_until: float = 0.0  # an idle anchor is closed after this (time.monotonic())
    schema_key: tuple[int, int] | None = None  # (device, inode) whose schema is ensured


_gates: dict[str, _Gate] = {}
_gates_lock = threading.Lock()
_local = threading.local()  # per thread: {path: [modes of the connections it holds]}


def _gate(path: Path) -> _Gate:
    key = str(path)
    with _gates_lock:
        gate = _gates.get(key)
        if gate is None:
            gate = _gates[key] = _Gate(path)
        return gate


def _reset_after_fork() -> None:
    # A forked child holds none of its parent's locks; it starts with fresh gates.
    global _gates_lock
    for gate in _gates.values():
        if gate.lock_fd is not None:
            with contextlib.suppress(OSError):
                os.close(gate.lock_fd)
    _gates.clear()
    _gates_lock = threading.Lock()
    _local.__dict__.clear()
    _watcher.thread = None


os.register_at_fork(after_in_child=_reset_after_fork)


def forget_schema(path: Path | str) -> None:
    """The file at ``path`` was replaced (restore, reset): ensure its schema again on open."""
    _gate(Path(path)).schema_key = None


def _held() -> dict[str, list[str]]:
    if not hasattr(_local, "held"):
        _local.held = {}
    return _local.held


def _busy(path: Path, timeout_s: float, what: str) -> WarehouseBusyError:
    return WarehouseBusyError(
        f"{path} stayed busy for {timeout_s:.0f} s ({what}); nothing was written. "
        "Try again when the running load or backup has finished."
    )


def _remaining(deadline: float) -> float:
    return max(deadline - time.monotonic(), 0.0)


def _take_file_turnstile(gate: _Gate, deadline: float, timeout_s: float) -> bool:
    """Lock ``<database>.lock`` across processes; False where no lock file can be made."""
    if gate.lock_fd is None:
        try:
            gate.lock_fd = os.open(f"{gate.path}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            return False  # a read-only folder: DuckDB's own lock still protects the file
    delay = 0.002
    while True:
        try:
            fcntl.lockf(gate.lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            gate.file_turnstile_held = True
            return True
        except OSError:
            _drop_anchor(gate)  # another process waits: let it in
            if time.monotonic() >= deadline:
                raise _busy(gate.path, timeout_s,
                            "locked by another process waiting for the file") from None
            time.sleep(delay)
            delay = min(delay * 2, 0.02)


def _connect(gate: _Gate, read_only: bool, deadline: float, timeout_s: float,
             nested: bool) -> tuple[duckdb.DuckDBPyConnection, str]:
    delay = 0.01
    last_error: Exception | None = None
    while True:
        with gate.cond:
            # A reader shares this process's open write instance: reads never conflict.
            want = "rw" if not read_only or gate.mode == "rw" else "ro"
            if gate.mode in (None, want):
                fresh = gate.mode is None
                try:
                    con = duckdb.connect(str(gate.path), read_only=want == "ro")
                except (duckdb.IOException, duckdb.ConnectionException) as error:
                    if not _is_lock_conflict(error):
                        raise
                    last_error = error
                else:
                    gate.mode = want
                    if fresh:
                        gate.opened_at = time.monotonic()
                    return _joined(gate, con)
            elif gate.users == 0 and gate.anchor is not None:
                # Kept open read-only for the next reader, but we write: reopen read-write.
                anchor, gate.anchor = gate.anchor, None
                anchor.close()
                gate.mode = None
                continue
            else:
                # This process has the file open read-only and we want to write: its readers
                # are short and new ones wait at the turnstile we hold.
                if nested and "ro" in _held().get(str(gate.path), []):
                    raise RuntimeError(
                        "cannot open the warehouse for writing inside a read-only block of "
                        "the same thread")
                if time.monotonic() >= deadline:
                    raise _busy(gate.path, timeout_s, "this process's readers did not finish")
                gate.cond.wait(timeout=min(_remaining(deadline), 0.5))
                continue
        if time.monotonic() >= deadline:
            raise _busy(gate.path, timeout_s, "locked by another process") from last_error
        # Jitter keeps two waiting processes from retrying in lockstep.
        time.sleep(delay * (0.5 + random.random()))
        delay = min(delay * 2, 0.05)


def _sharing(gate: _Gate) -> bool:
    """The process has the file open and may still share it among its threads."""
    return (gate.users > 0 or gate.anchor is not None) \
        and time.monotonic() - gate.opened_at < SHARE_SECONDS


def _others_wait_for_file(gate: _Gate) -> bool:
    """Whether another process may be waiting for the file (then it must be closed)."""
    if gate.file_turnstile_held:
        return False  # an opener of ours holds the turnstile: nobody else can wait behind it
    if gate.lock_fd is None or not gate.entry.acquire(blocking=False):
        return True  # an opener of ours is still queueing for the turnstile: assume so
    try:
        try:
            fcntl.lockf(gate.lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True  # another process holds the turnstile: it waits for the file
        fcntl.lockf(gate.lock_fd, fcntl.LOCK_UN)
        return False
    finally:
        gate.entry.release()


def _drop_anchor(gate: _Gate) -> None:
    """Close an instance kept open for a waiter of this process."""
    with gate.cond:
        if gate.anchor is not None and gate.users == 0:
            anchor, gate.anchor = gate.anchor, None
            anchor.close()
            gate.mode = None
            gate.cond.notify_all()


def _join(gate: _Gate) -> tuple[duckdb.DuckDBPyConnection, str]:
    """A connection to the instance this process has open (caller holds ``gate.cond``)."""
    assert gate.mode is not None
    return _joined(gate, duckdb.connect(str(gate.path), read_only=gate.mode == "ro"))


def _joined(gate: _Gate, con: duckdb.DuckDBPyConnection) -> tuple[duckdb.DuckDBPyConnection,
                                                                  str]:
    gate.users += 1
    if gate.anchor is not None:  # our connection holds the instance now
        anchor, gate.anchor = gate.anchor, None
        anchor.close()
    assert gate.mode is not None
    return con, gate.mode


def _close(gate: _Gate, con: duckdb.DuckDBPyConnection, keep_open_s: float) -> None:
    # Under the condition: nobody may join an instance while its last connection closes it.
    with gate.cond:
        leased = False
        try:
            if gate.users == 1 and gate.anchor is None and (
                    (gate.waiting > 0 and _sharing(gate))
                    or ((gate.waiting > 0 or keep_open_s > 0)
                        and not _others_wait_for_file(gate))):
                gate.anchor = con  # the next opener of this process joins the open instance
                gate.lease_until = time.monotonic() + keep_open_s
                leased = True
            else:
                con.close()
        finally:
            gate.users -= 1
            if gate.users == 0 and gate.anchor is None:
                gate.mode = None
            gate.cond.notify_all()
    if leased:
        _watcher.ensure()


def _stop_waiting(gate: _Gate) -> None:
    with gate.cond:
        gate.waiting -= 1
        idle = gate.waiting == 0 and time.monotonic() >= gate.lease_until
    if idle:
        _drop_anchor(gate)  # nobody left to hand the instance to


class _LeaseWatcher:
    """One daemon thread per process while it holds the file idle: hands the file over as
    soon as another process waits at its turnstile, closes it when the lease runs out."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def ensure(self) -> None:
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._watch, name="wics-warehouse-lease",
                                               daemon=True)
                self.thread.start()

    def _watch(self) -> None:
        while True:
            time.sleep(WATCH_SECONDS)
            with _gates_lock:
                gates = [g for g in _gates.values() if g.anchor is not None]
            if not gates:
                # Re-checked under the lock ensure() takes: a lease begun meanwhile finds
                # this thread gone and starts another.
                with self.lock, _gates_lock:
                    if not any(g.anchor is not None for g in _gates.values()):
                        self.thread = None
                        return
                continue
            for gate in gates:
                with gate.cond:
                    idle = gate.anchor is not None and gate.users == 0
                    expired = time.monotonic() >= gate.lease_until
                    wanted = idle and not expired and _others_wait_for_file(gate)
                if idle and (expired or wanted):
                    _drop_anchor(gate)


_watcher = _LeaseWatcher()


def release_idle() -> None:
    """Close every warehouse instance this process keeps open idle (at exit, before
    something outside ``warehouse()`` opens the file)."""
    with _gates_lock:
        gates = list(_gates.values())
    for gate in gates:
        _drop_anchor(gate)


atexit.register(release_idle)


@contextmanager
def _connection(db_path: Path, read_only: bool, timeout_s: float,
                keep_open_s: float = 0.0) -> Iterator[duckdb.DuckDBPyConnection]:
    """An open connection, after the writer lock (writes) and the turnstile."""
    gate = _gate(db_path)
    key = str(db_path)
    held = _held()
    mine = held.setdefault(key, [])
    nested = bool(mine)
    deadline = time.monotonic() + timeout_s
    owns_writer = False
    if not nested:
        with gate.cond:
            gate.waiting += 1
    try:
        if not read_only and gate.writer_thread != threading.get_ident():
            if not gate.writer.acquire(timeout=timeout_s):
                since = f" since {gate.writer_since:%H:%M:%S}" if gate.writer_since else ""
                raise _busy(db_path, timeout_s, f"another save or load of this process is "
                                                f"writing{since}")
            owns_writer = True
            gate.writer_thread, gate.writer_since = threading.get_ident(), datetime.now()
        if nested:  # the thread's own open connection keeps the file: no turnstile
            con, mode = _connect(gate, read_only, deadline, timeout_s, nested=True)
        else:
            con, mode = _open_in_turn(gate, read_only, deadline, timeout_s)
    except BaseException:
        if owns_writer:
            gate.writer_thread = gate.writer_since = None
            gate.writer.release()
        raise
    finally:
        if not nested:
            _stop_waiting(gate)
    try:
        mine.append(mode if read_only else "w")
        try:
            yield con
        finally:
            mine.pop()
            _close(gate, con, keep_open_s)
    finally:
        if owns_writer:
            gate.writer_thread = gate.writer_since = None
            gate.writer.release()


def _open_in_turn(gate: _Gate, read_only: bool, deadline: float,
                  timeout_s: float) -> tuple[duckdb.DuckDBPyConnection, str]:
    """Pass the process's turnstile, then the file's, then connect."""
    with gate.cond:
        if _sharing(gate) and (gate.mode == "rw" or read_only):
            return _join(gate)
    with _in_turn(gate, deadline, timeout_s):
        return _connect(gate, read_only, deadline, timeout_s, nested=False)


@contextmanager
def _in_turn(gate: _Gate, deadline: float, timeout_s: float) -> Iterator[None]:
    """Hold the process's turnstile, then the file's, for the block."""
    if not gate.entry.acquire(timeout=_remaining(deadline)):
        raise _busy(gate.path, timeout_s, "other threads of this process are opening it")
    try:
        file_locked = _take_file_turnstile(gate, deadline, timeout_s)
        try:
            yield
        finally:
            if file_locked:
                gate.file_turnstile_held = False
                fcntl.lockf(gate.lock_fd, fcntl.LOCK_UN)
    finally:
        gate.entry.release()


def _schema_key(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_dev, stat.st_ino


class WarehouseAbortedError(RuntimeError):
    """A statement of the block failed and the block carried on; nothing was written."""


def _roll_back(con: duckdb.DuckDBPyConnection) -> None:
    with contextlib.suppress(duckdb.Error):
        con.execute("ROLLBACK")  # a conflict or a failed statement may have ended it already


def _check_not_aborted(con: duckdb.DuckDBPyConnection) -> None:
    """Raise when the open transaction was aborted by a statement error the block caught.

    DuckDB aborts a transaction when a statement in it fails, and a later ``COMMIT`` of that
    transaction then returns without an error having written nothing: a save would report
    success and be gone. Any statement on an aborted transaction raises, so one cheap one
    tells.
    """
    try:
        con.execute("SELECT 1")
    except duckdb.TransactionException as error:
        _roll_back(con)
        raise WarehouseAbortedError(
            f"a statement of this transaction failed and the error was caught ({error}); "
            "nothing was written") from error


@contextmanager
def warehouse(
    path: Path | str | None = None,
    *,
    read_only: bool = False,
    timeout_s: float | None = None,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse, run the block in one transaction, commit, close.

    An exception inside the block rolls everything back. Readers pass ``read_only=True``; a
    missing database is created (with its schema) by a short write first, so a fresh
    ``WICS_HOME`` works for readers too. Writers of one process take turns (so
    ``with warehouse() as con: add_count(con, ...)`` is safe from any number of threads);
    a write-write conflict with a writer outside WICS raises ``WarehouseConflictError``
    (nothing written; ``in_transaction`` re-runs a block that may be re-run).
    """
    settings = get_settings()
    db_path = Path(path) if path is not None else settings.database
    db_path = db_path.resolve()
    timeout_s = settings.lock_timeout_seconds if timeout_s is None else timeout_s
    db_path.parent.mkdir(parents=True, exist_ok=True)
    gate = _gate(db_path)
    if read_only and (not db_path.exists() or gate.schema_key != _schema_key(db_path)):
        with warehouse(db_path, timeout_s=timeout_s):
            pass
    with _connection(db_path, read_only, timeout_s, settings.keep_open_seconds) as con:
        if not read_only and gate.schema_key != _schema_key(db_path):
            create_schema(con)  # once per process and file: we hold the writer lock
            gate.schema_key = _schema_key(db_path)
        con.execute("BEGIN TRANSACTION")
        try:
            yield con
        except BaseException as error:
            _roll_back(con)
            if _is_write_conflict(error):
                raise WarehouseConflictError(
                    f"another transaction changed the same rows first ({error}); "
                    "nothing was written") from error
            raise
        _check_not_aborted(con)
        try:
            con.execute("COMMIT")
        except duckdb.TransactionException as error:
            _roll_back(con)
            raise WarehouseConflictError(
                f"could not commit ({error}); nothing was written") from error


@contextmanager
def exclusive(path: Path | str | None = None, *, timeout_s: float = 5.0) -> Iterator[Path]:
    """Nobody in any WICS process has the file open while the block runs (restore swaps it).

    Takes this process's writer lock and both turnstiles, then checks that no process holds
    the file (a short read-write open); raises WarehouseBusyError when one does. Openers of
    every WICS process wait at the turnstile until the block ends.
    """
    db_path = (Path(path) if path is not None else get_settings().database).resolve()
    gate = _gate(db_path)
    deadline = time.monotonic() + timeout_s
    if gate.writer_thread == threading.get_ident() or _held().get(str(db_path)):
        raise RuntimeError("cannot take the warehouse exclusively inside a warehouse() block")
    if not gate.writer.acquire(timeout=timeout_s):
        raise _busy(db_path, timeout_s, "a save or load of this process is writing")
    gate.writer_thread, gate.writer_since = threading.get_ident(), datetime.now()
    try:
        _drop_anchor(gate)
        with _in_turn(gate, deadline, timeout_s):
            if db_path.exists():
                con, _ = _connect(gate, False, deadline, timeout_s, nested=False)
                _close(gate, con, 0.0)  # it could be opened: nobody else has it
                _drop_anchor(gate)
            yield db_path
    finally:
        gate.writer_thread = gate.writer_since = None
        gate.writer.release()


def in_transaction(
    work: Callable[..., T],
    *args: Any,
    path: Path | str | None = None,
    attempts: int = 4,
    **kwargs: Any,
) -> T:
    """``work(con, *args, **kwargs)`` in one write transaction, re-run whole on a conflict.

    Only for work that touches nothing but the warehouse through ``con`` (a re-run must be
    harmless). Writers of WICS never conflict with each other (they take turns); this covers
    writers outside WICS on the same file.
    """
    for attempt in range(1, attempts + 1):
        try:
            with warehouse(path) as con:
                return work(con, *args, **kwargs)
        except WarehouseConflictError:
            if attempt == attempts:
                raise
            time.sleep(0.05 * attempt * (0.5 + random.random()))
    raise AssertionError("unreachable")


def query(
    sql: str,
    params: Sequence[Any] | dict[str, Any] | None = None,
    *,
    path: Path | str | None = None,
) -> pl.DataFrame:
    """Run one read-only query and return its rows as a polars frame."""
    with warehouse(path, read_only=True) as con:
        return fetch(con, sql, params)


def fetch(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    params: Sequence[Any] | dict[str, Any] | None = None,
) -> pl.DataFrame:
    """Rows of ``sql`` on an open connection, as polars (parameters are always bound)."""
    return con.sql(sql, params=params).pl()
