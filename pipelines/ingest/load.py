"""Load one file end to end: the single code path of the sensor, the assets and ``wics load``.

identify (sha256) -> read and validate -> load in one transaction -> archive, or reject whole:
the file goes to ``rejected/`` with ``<name>.error.txt`` naming every bad row, and the warehouse
tables stay exactly as they were. Every file seen gets a ``load_log`` row.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl

from pipelines.ingest.count_sheet import (
    load_count_sheet,
    missing_date_problems,
    rows_to_count,
    unknown_material_problems,
)
from pipelines.ingest.material_master import load_material_master
from pipelines.ingest.stock_snapshot import duplicate_stock_lines, load_stock_snapshot
from pipelines.sap.exports import PROBLEM_SCHEMA, ParsedExport, parse_export
from pipelines.sap.formats import UnreadableFile
from pipelines.sap.headers import ExportKind
from pipelines.settings import Settings, get_settings
from pipelines.warehouse.db import fetch, warehouse

ProgressCallback = Callable[[str, int, int], None]
ERROR_LINES_IN_LOG = 20


@dataclass
class LoadResult:
    load_id: int
    file_name: str
    sha256: str
    status: str  # loaded / rejected / duplicate
    kind: str | None = None
    snapshot_date: date | None = None
    rows_read: int = 0
    rows_loaded: int = 0
    summary: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    moved_to: Path | None = None
    parse_seconds: float = 0.0
    db_seconds: float = 0.0
    problems: pl.DataFrame | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("loaded", "duplicate")


class _Rejected(Exception):
    """Raised inside the load transaction to roll it back and reject the file."""

    def __init__(self, problems: pl.DataFrame) -> None:
        super().__init__(f"{problems.height} invalid rows")
        self.problems = problems


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


_NAME_DATES = (
    (re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)"), (1, 2, 3)),
    (re.compile(r"(?<!\d)(\d{2})\.(\d{2})\.(\d{4})(?!\d)"), (3, 2, 1)),
    (re.compile(r"(?<!\d)(\d{4})(\d{2})(\d{2})(?!\d)"), (1, 2, 3)),
)


def date_from_file_name(name: str) -> date | None:
    """``MB52_2026-11-20.xlsx``, ``MB52_20261120.XLS``, ``MB52 20.11.2026.txt``: 20 Nov 2026."""
    for pattern, (y, m, d) in _NAME_DATES:
        for match in pattern.finditer(name):
            try:
                return date(int(match.group(y)), int(match.group(m)), int(match.group(d)))
            except ValueError:
                continue
    return None


def snapshot_date_for(path: Path, as_of: date | None) -> date:
    """``--as-of`` when given, else a date in the file name, else the file's modification date."""
    if as_of is not None:
        return as_of
    return date_from_file_name(path.name) or date.fromtimestamp(path.stat().st_mtime)


def free_name(folder: Path, name: str) -> Path:
    """``folder/name``, or ``stem.1.ext``, ``stem.2.ext``... when taken (error reports too)."""
    target = folder / name
    stem, suffix, n = target.stem, target.suffix, 1
    while target.exists() or target.with_name(target.name + ".error.txt").exists():
        target = folder / f"{stem}.{n}{suffix}"
        n += 1
    return target


def settle_file(path: Path, folder: Path, settings: Settings) -> Path:
    """Move a dropped file to archive/ or rejected/; a file from elsewhere is copied, not moved."""
    folder.mkdir(parents=True, exist_ok=True)
    target = free_name(folder, path.name)
    if path.parent.resolve() == settings.drop_dir.resolve():
        shutil.move(path, target)
    else:
        shutil.copy2(path, target)
    return target


def format_problems(problems: pl.DataFrame, limit: int | None = None) -> list[str]:
    lines = []
    for row, column, value, reason in problems.head(limit).iter_rows() if limit else \
            problems.iter_rows():
        where = f"row {row}" if row is not None else "file"
        if column is not None:
            where += f', column "{column}"'
        shown = f', value "{value}"' if value is not None else ""
        lines.append(f"{where}{shown}: {reason}")
    if limit and problems.height > limit:
        lines.append(f"... and {problems.height - limit} more (see the .error.txt file)")
    return lines


def _describe(parsed: ParsedExport | None) -> str:
    if parsed is None:
        return ""
    where = f"sheet {parsed.sheet!r}, " if parsed.sheet else ""
    encoding = f", {parsed.encoding}" if parsed.encoding else ""
    return (
        f"Read as: {parsed.kind.value.upper()} ({parsed.file_format}{encoding}), {where}"
        f"header on row {parsed.header_row}, numbers {parsed.number_format}\n"
    )


def write_error_report(target: Path, file_name: str, parsed: ParsedExport | None,
                       problems: pl.DataFrame) -> Path:
    report = target.with_name(target.name + ".error.txt")
    invalid_rows = problems.filter(pl.col("row").is_not_null())["row"].n_unique()
    headline = (
        f"{invalid_rows} invalid row(s), {problems.height} problem(s)" if invalid_rows
        else problems["reason"][0]
    )
    report.write_text(
        f"WICS rejected {file_name}\n{_describe(parsed)}"
        f"Reason: {headline}. Nothing was loaded; fix the file and drop it again.\n\n"
        + "\n".join(format_problems(problems)) + "\n",
        encoding="utf-8",
    )
    return report


def _progress(settings: Settings, load_id: int, callback: ProgressCallback | None,
              phase: str, done: int, total: int) -> None:
    if callback is not None:
        callback(phase, done, total)
    with warehouse(settings.database) as con:
        con.execute(
            """UPDATE load_log SET progress_phase = ?, progress_done = ?, progress_total = ?
               WHERE load_id = ?""",
            [phase, done, total, load_id],
        )


def _finish(settings: Settings, result: LoadResult, finished_at: datetime) -> None:
    with warehouse(settings.database) as con:
        _write_log(con, result, finished_at)


def _write_log(con: Any, result: LoadResult, finished_at: datetime) -> None:
    con.execute(
        """UPDATE load_log SET kind = ?, snapshot_date = ?, rows_read = ?, rows_loaded = ?,
                  status = ?, error = ?, summary = ?, finished_at = ?, progress_phase = 'done'
           WHERE load_id = ?""",
        [result.kind, result.snapshot_date, result.rows_read, result.rows_loaded, result.status,
         result.error, json.dumps(result.summary, default=str), finished_at, result.load_id],
    )


def load_file(
    path: Path | str,
    *,
    as_of: date | None = None,
    settings: Settings | None = None,
    run_id: str | None = None,
    progress: ProgressCallback | None = None,
    force: bool = False,
) -> LoadResult:
    """Load one export or count sheet; never raises for a bad file (the result says rejected)."""
    settings = settings or get_settings()
    settings.ensure_dirs()
    path = Path(path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist or is not a file")
    sha = file_sha256(path)
    started = datetime.now()
    with warehouse(settings.database) as con:
        load_id = con.execute("SELECT nextval('load_id')").fetchone()[0]
        con.execute(
            """INSERT INTO load_log (load_id, file_name, sha256, status, started_at, run_id,
                                     progress_phase)
               VALUES (?, ?, ?, 'running', ?, ?, 'reading')""",
            [load_id, path.name, sha, started, run_id],
        )
        earlier = fetch(
            con,
            """SELECT load_id, file_name, kind, snapshot_date FROM load_log
               WHERE sha256 = ? AND status = 'loaded' ORDER BY load_id DESC LIMIT 1""",
            [sha],
        )
    result = LoadResult(load_id=load_id, file_name=path.name, sha256=sha, status="running")

    if not earlier.is_empty() and not force:
        first = earlier.row(0, named=True)
        result.status, result.kind = "duplicate", first["kind"]
        result.snapshot_date = first["snapshot_date"]
        result.summary = {"duplicate_of_load": first["load_id"], "first_file": first["file_name"]}
        result.error = (f"same bytes as {first['file_name']} (load {first['load_id']}); "
                        "not loaded again")
        result.moved_to = settle_file(path, settings.archive_dir, settings)
        _finish(settings, result, datetime.now())
        return result

    if progress is not None:
        progress("reading", 0, 0)
    t0 = time.perf_counter()
    parsed: ParsedExport | None = None
    try:
        parsed = parse_export(path, settings)
        problems = parsed.problems
        if parsed.kind is ExportKind.MB52:
            problems = pl.concat([problems, duplicate_stock_lines(parsed.rows)]).cast(
                PROBLEM_SCHEMA)
    except UnreadableFile as error:
        problems = pl.DataFrame(
            [{"row": None, "column": None, "value": None, "reason": str(error)}],
            schema=PROBLEM_SCHEMA,
        )
    result.parse_seconds = time.perf_counter() - t0
    if parsed is not None:
        result.kind, result.rows_read = parsed.kind.value, parsed.rows_read
        result.summary = {"format": parsed.file_format, "encoding": parsed.encoding,
                          "header_row": parsed.header_row,
                          "number_format": parsed.number_format.value,
                          "skipped_rows": parsed.skipped}
    if not problems.is_empty():
        return _reject(settings, result, path, parsed, problems)

    assert parsed is not None
    rows = parsed.rows
    if progress is not None:
        progress("parsed", parsed.rows_read, parsed.rows_read)
    _progress(settings, load_id, progress, "writing", 0, rows.height)
    t1 = time.perf_counter()
    now = datetime.now()
    try:
        with warehouse(settings.database) as con:
            if parsed.kind is ExportKind.MM60:
                result.snapshot_date = snapshot_date_for(path, as_of)
                details = load_material_master(con, rows, load_id, now)
                result.rows_loaded = details["materials"]
            elif parsed.kind is ExportKind.MB52:
                result.snapshot_date = snapshot_date_for(path, as_of)
                details = load_stock_snapshot(con, rows, load_id, result.snapshot_date)
                result.rows_loaded = details["lines"]
            else:
                default_date = as_of or date_from_file_name(path.name)
                rows, blank = rows_to_count(rows, default_date)
                problems = pl.concat([missing_date_problems(rows, "Count Date"),
                                      unknown_material_problems(con, rows)])
                if not problems.is_empty():
                    raise _Rejected(problems.sort("row"))
                details = load_count_sheet(con, rows, load_id, now, path.name,
                                           settings.counting)
                details["blank_lines"] = blank
                result.rows_loaded = details["counts"]
                result.snapshot_date = rows["count_date"].max() if rows.height else default_date
            result.summary.update(details)
            result.status = "loaded"
            result.db_seconds = time.perf_counter() - t1
            result.summary["parse_seconds"] = round(result.parse_seconds, 3)
            result.summary["db_seconds"] = round(result.db_seconds, 3)
            _write_log(con, result, datetime.now())
    except _Rejected as rejection:
        return _reject(settings, result, path, parsed, rejection.problems)
    except Exception as error:
        # Not the file's fault (disk, lock timeout, bug): the transaction rolled back, the file
        # stays where it is so the load can be retried, and the log says what happened.
        result.status, result.error = "failed", f"{type(error).__name__}: {error}"
        _finish(settings, result, datetime.now())
        raise
    result.moved_to = settle_file(path, settings.archive_dir, settings)
    if progress is not None:
        progress("done", result.rows_loaded, result.rows_loaded)
    return result


def _reject(settings: Settings, result: LoadResult, path: Path, parsed: ParsedExport | None,
            problems: pl.DataFrame) -> LoadResult:
    result.status = "rejected"
    result.problems = problems
    result.rows_loaded = 0
    target = settle_file(path, settings.rejected_dir, settings)
    write_error_report(target, result.file_name, parsed, problems)
    result.moved_to = target
    result.error = "\n".join(format_problems(problems, ERROR_LINES_IN_LOG))
    result.summary["problems"] = problems.height
    _finish(settings, result, datetime.now())
    return result
