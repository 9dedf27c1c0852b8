"""The drop folder: which files are ready, what they are, and in which order to load them.

Plain functions for the Dagster sensor (and anyone else): a file is ready once it has stopped
growing, is identified by its content hash, and classified by its headers, never its name.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from pipelines.ingest.load import file_sha256
from pipelines.ingest.names import (
    NameDateError,
    date_from_file_name,
    fit_name,
    free_name,
    printable_name,
)
from pipelines.sap.formats import UnreadableFile, identify
from pipelines.sap.headers import ExportKind
from pipelines.settings import Settings
from pipelines.warehouse.db import query

# Master data first: stock and counts are checked against it.
LOAD_ORDER = {ExportKind.MM60: 0, ExportKind.MB52: 1, ExportKind.COUNT_SHEET: 2}
# Names of files that are not exports: editor and browser partials, our own error reports.
_IGNORED_PREFIXES = (".", "~$")
_IGNORED_SUFFIXES = (".error.txt", ".part", ".partial", ".tmp", ".crdownload", ".swp")


@dataclass(frozen=True)
class DroppedFile:
    path: Path
    size: int
    mtime_ns: int
    sha256: str
    kind: ExportKind | None
    snapshot_date: date | None
    problem: str | None = None  # why the file cannot be classified (it will be rejected)

    @property
    def run_key(self) -> str:
        return drop_key(self.path, self.sha256, self.mtime_ns)


def drop_key(path: Path, sha256: str, mtime_ns: int) -> str:
    """One drop of one file: a file dropped again (new mtime) may run again, the same drop
    never runs twice."""
    return f"{path.name}:{sha256[:16]}:{mtime_ns}"


def ready_files(drop_dir: Path, *, settle_s: float, now: float | None = None) -> list[Path]:
    """Files in the drop folder that have not been written to for ``settle_s`` seconds
    (WICS_DROP_SETTLE_SECONDS)."""
    now = time.time() if now is None else now
    ready = []
    for path in sorted(drop_dir.iterdir()) if drop_dir.exists() else []:
        name = path.name
        if not path.is_file() or name.startswith(_IGNORED_PREFIXES) or name == ".gitkeep" \
                or name.lower().endswith(_IGNORED_SUFFIXES):
            continue
        if now - path.stat().st_mtime >= settle_s:
            ready.append(tidy_name(path))
    return ready


def tidy_name(path: Path) -> Path:
    """A dropped file whose name is not valid UTF-8 or too long to archive with its error
    report is renamed in place first, so every later step (log, tags, archive) can use it."""
    name = path.name
    fitted = fit_name(printable_name(name))
    if fitted == name:
        return path
    target = free_name(path.parent, fitted)
    path.rename(target)
    return target


def describe(path: Path, settings: Settings, sha256: str | None = None) -> DroppedFile:
    """Hash and classify one file (by its header; calamine reads a whole xlsx sheet, so
    callers skip files they have already handled, see ``drop_key``)."""
    stat = path.stat()
    try:
        kind, problem = identify(path, settings).kind, None
    except UnreadableFile as error:
        kind, problem = None, str(error)
    try:
        named = date_from_file_name(path.name)
    except NameDateError:
        named = None  # the load refuses it, with the reason
    return DroppedFile(path=path, size=stat.st_size, mtime_ns=stat.st_mtime_ns,
                       sha256=sha256 or file_sha256(path), kind=kind,
                       snapshot_date=named, problem=problem)


def in_load_order(files: list[DroppedFile]) -> list[DroppedFile]:
    """MM60 before MB52 before count sheets; within a kind, oldest snapshot first."""
    return sorted(files, key=lambda f: (LOAD_ORDER.get(f.kind, 3),
                                        f.snapshot_date or date.max, f.mtime_ns, f.path.name))


def loaded_hashes(settings: Settings, hashes: set[str]) -> set[str]:
    """Which of these contents the warehouse has already loaded."""
    if not hashes:
        return set()
    frame = query("SELECT DISTINCT sha256 FROM load_log WHERE status = 'loaded' "
                  "AND sha256 IN (SELECT unnest(?))", [sorted(hashes)], path=settings.database)
    return set(frame["sha256"].to_list())
