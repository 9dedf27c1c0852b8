"""Load one file end to end: the single code path of the sensor, the assets and ``wics load``.

    read (file gates) and hash (sha256), side by side -> the same bytes loaded before: a
    duplicate -> one transaction: warehouse gates, then the write -> archive; or refuse
    whole: the file goes to ``rejected/`` with ``<name>.error.txt`` naming every problem, and
    the warehouse tables stay exactly as they were.

Every refusal is decided before the commit (``pipelines.ingest.gates``). Every file seen gets a
``load_log`` row that records the process loading it, so a load whose process died is marked
failed by the next one (``pipelines.ingest.recovery``). A loaded file's row says its refresh is
``pending`` until ``pipelines.ingest.after_load`` has run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import queue
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from pipelines.access import Action, User, require
from pipelines.background import Ahead
from pipelines.ingest import gates
from pipelines.ingest.count_sheet import load_count_sheet, rows_to_count
from pipelines.ingest.material_master import load_material_master
from pipelines.ingest.names import (
    ERROR_SUFFIX,
    NameDateError,
    date_from_file_name,
    free_name,
    printable_name,
)
from pipelines.ingest.recovery import ProcessIdentity, mark_interrupted
from pipelines.ingest.stock_snapshot import (
    STOCK_KEY,
    SnapshotWriter,
    duplicate_stock_lines,
    load_stock_snapshot,
)
from pipelines.sap.exports import (
    PROBLEM_SCHEMA,
    ExportStream,
    NumberFormatChanged,
    ParsedExport,
    collect,
)
from pipelines.sap.formats import UnreadableFile
from pipelines.sap.headers import ExportKind
from pipelines.settings import Settings, get_settings
from pipelines.warehouse.db import fetch, warehouse

# Re-exported: callers know these names from here.
__all__ = ["LoadResult", "date_from_file_name", "file_sha256", "force_load", "free_name",
           "load_file"]

ProgressCallback = Callable[[str, int, int], None]
ERROR_LINES_IN_LOG = 20


@dataclass
class LoadResult:
    load_id: int
    file_name: str
    sha256: str | None  # None until the file's hash is known
    status: str  # loaded / rejected / duplicate / failed
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
    forced: bool = False
    # A refusal that ``--force`` (a manager's "load anyway") would override.
    forceable: bool = False

    @property
    def ok(self) -> bool:
        return self.status in ("loaded", "duplicate")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def file_date(path: Path, as_of: date | None) -> date:
    """``--as-of`` when given, else a date in the file name, else the modification date."""
    if as_of is not None:
        return as_of
    return date_from_file_name(path.name) or date.fromtimestamp(path.stat().st_mtime)


def settle_file(path: Path, folder: Path, settings: Settings) -> Path:
    """Move a dropped file to archive/ or rejected/; a file from elsewhere is copied, not moved."""
    folder.mkdir(parents=True, exist_ok=True)
    target = free_name(folder, path.name)
    if path.parent.resolve() == settings.drop_dir.resolve():
        shutil.move(path, target)
    else:
        shutil.copy2(path, target)
    return target


# ------------------------------------------------------------------------------------------
# Error reports
# ------------------------------------------------------------------------------------------

def format_problems(problems: pl.DataFrame, limit: int | None = None) -> list[str]:
    lines = []
    shown = problems.head(limit) if limit else problems
    for row, column, value, reason in shown.iter_rows():
        where = f"row {row}" if row is not None else "file"
        if column is not None:
            where += f', column "{column}"'
        value_text = f', value "{value[:200]}"' if value is not None else ""
        lines.append(f"{where}{value_text}: {reason}")
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
                       problems: pl.DataFrame, forceable: bool = False) -> Path:
    report = target.with_name(target.name + ERROR_SUFFIX)
    invalid_rows = problems.filter(pl.col("row").is_not_null())["row"].n_unique()
    headline = (
        f"{invalid_rows} invalid row(s), {problems.height} problem(s)" if invalid_rows
        and problems.height > 1 else problems["reason"][0]
    )
    advice = ("Nothing was loaded. If the file is right, load it anyway: "
              f"wics load --force \"{target}\"" if forceable
              else "Nothing was loaded; fix the file and drop it again.")
    report.write_text(
        f"WICS rejected {file_name}\n{_describe(parsed)}"
        f"Reason: {headline}.\n{advice}\n\n"
        + "\n".join(format_problems(problems)) + "\n",
        encoding="utf-8",
    )
    return report


# ------------------------------------------------------------------------------------------
# load_log
# ------------------------------------------------------------------------------------------

def _start_log(settings: Settings, name: str, run_id: str | None, force: bool) -> int:
    """Insert this load's ``running`` row (marking dead loads failed first); its id."""
    me = ProcessIdentity.current()
    with warehouse(settings.database) as con:
        mark_interrupted(con)
        load_id = con.execute("SELECT nextval('load_id')").fetchone()[0]
        con.execute(
            """INSERT INTO load_log (load_id, file_name, status, started_at, run_id,
                                     progress_phase, forced, pid, host, boot_id, start_ticks)
               VALUES (?, ?, 'running', ?, ?, 'reading', ?, ?, ?, ?, ?)""",
            [load_id, name, datetime.now(), run_id, force, me.pid, me.host, me.boot_id,
             me.start_ticks],
        )
    return load_id


def _earlier_load(con: duckdb.DuckDBPyConnection, sha: str) -> dict[str, Any] | None:
    """The latest load that loaded the same bytes, if any."""
    earlier = fetch(
        con,
        """SELECT load_id, file_name, kind, snapshot_date FROM load_log
           WHERE sha256 = ? AND status = 'loaded' ORDER BY load_id DESC LIMIT 1""",
        [sha],
    )
    return earlier.row(0, named=True) if earlier.height else None


class _Duplicate(Exception):
    """The same bytes were loaded before: nothing of this load is committed."""

    def __init__(self, first: dict[str, Any]) -> None:
        super().__init__(first["file_name"])
        self.first = first


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


def _write_log(con: duckdb.DuckDBPyConnection, result: LoadResult, finished_at: datetime) -> None:
    con.execute(
        """UPDATE load_log SET kind = ?, snapshot_date = ?, rows_read = ?, rows_loaded = ?,
                  status = ?, error = ?, summary = ?, finished_at = ?, progress_phase = 'done',
                  forced = ?, sha256 = ?,
                  refresh_state = CASE WHEN ? = 'loaded' THEN 'pending' END
           WHERE load_id = ?""",
        [result.kind, result.snapshot_date, result.rows_read, result.rows_loaded, result.status,
         result.error, json.dumps(result.summary, default=str), finished_at, result.forced,
         result.sha256, result.status, result.load_id],
    )


def _finish(settings: Settings, result: LoadResult) -> None:
    with warehouse(settings.database) as con:
        _write_log(con, result, datetime.now())


# ------------------------------------------------------------------------------------------
# One loader per kind: its date, its warehouse gates, its write
# ------------------------------------------------------------------------------------------

@dataclass
class LoadContext:
    path: Path
    file_name: str
    load_id: int
    as_of: date | None
    settings: Settings
    now: datetime


@dataclass(frozen=True)
class KindLoader:
    """How one kind of file is dated, checked against the warehouse and written."""

    # Rows to write (a count sheet drops its blank lines) and what the summary says of that.
    prepare: Callable[[pl.DataFrame, LoadContext], tuple[pl.DataFrame, dict[str, Any]]]
    # The load's date (MB52 snapshot, MM60 list date, count sheet's latest count date).
    dated: Callable[[pl.DataFrame, LoadContext], date | None]
    # Warehouse gates, run on the load's transaction before any write.
    gates: Callable[[duckdb.DuckDBPyConnection, pl.DataFrame, LoadContext, date | None],
                    gates.GateResult]
    write: Callable[[duckdb.DuckDBPyConnection, pl.DataFrame, LoadContext, date | None],
                    dict[str, Any]]
    rows_loaded_key: str


def _as_is(rows: pl.DataFrame, ctx: LoadContext) -> tuple[pl.DataFrame, dict[str, Any]]:
    return rows, {}


def _count_rows(rows: pl.DataFrame, ctx: LoadContext) -> tuple[pl.DataFrame, dict[str, Any]]:
    rows, blank = rows_to_count(rows, ctx.as_of or date_from_file_name(ctx.file_name))
    return rows, {"blank_lines": blank}


def _dated_by_file(rows: pl.DataFrame, ctx: LoadContext) -> date:
    return file_date(ctx.path, ctx.as_of)


def _dated_by_counts(rows: pl.DataFrame, ctx: LoadContext) -> date | None:
    latest = rows["count_date"].max() if rows.height else None
    return latest or ctx.as_of or date_from_file_name(ctx.file_name)  # type: ignore[return-value]


def _mm60_gates(con: duckdb.DuckDBPyConnection, rows: pl.DataFrame, ctx: LoadContext,
                day: date | None) -> gates.GateResult:
    assert day is not None
    return gates.GateResult(
        hard=gates.no_problems(),
        forceable=pl.concat([gates.stale_master_gate(con, rows, day),
                             gates.master_size_gate(con, rows, ctx.settings)]),
    )


def _mb52_gates(con: duckdb.DuckDBPyConnection, rows: pl.DataFrame, ctx: LoadContext,
                day: date | None) -> gates.GateResult:
    return gates.GateResult(hard=gates.no_problems(),
                            forceable=gates.stock_size_gate(con, rows, ctx.settings))


def _count_gates(con: duckdb.DuckDBPyConnection, rows: pl.DataFrame, ctx: LoadContext,
                 day: date | None) -> gates.GateResult:
    hard = pl.concat([gates.missing_count_dates(rows, "Count Date"),
                      gates.unknown_count_materials(con, rows)]).sort("row")
    return gates.GateResult(hard=hard, forceable=gates.no_problems())


def _write_mm60(con: duckdb.DuckDBPyConnection, rows: pl.DataFrame, ctx: LoadContext,
                day: date | None) -> dict[str, Any]:
    return load_material_master(con, rows, ctx.load_id, ctx.now)


def _write_mb52(con: duckdb.DuckDBPyConnection, rows: pl.DataFrame, ctx: LoadContext,
                day: date | None) -> dict[str, Any]:
    assert day is not None
    return load_stock_snapshot(con, rows, ctx.load_id, day)


def _write_counts(con: duckdb.DuckDBPyConnection, rows: pl.DataFrame, ctx: LoadContext,
                  day: date | None) -> dict[str, Any]:
    return load_count_sheet(con, rows, ctx.load_id, ctx.now, ctx.file_name,
                            ctx.settings.counting)


LOADERS: dict[ExportKind, KindLoader] = {
    ExportKind.MM60: KindLoader(_as_is, _dated_by_file, _mm60_gates, _write_mm60, "materials"),
    ExportKind.MB52: KindLoader(_as_is, _dated_by_file, _mb52_gates, _write_mb52, "lines"),
    ExportKind.COUNT_SHEET: KindLoader(_count_rows, _dated_by_counts, _count_gates,
                                       _write_counts, "counts"),
}


# ------------------------------------------------------------------------------------------
# The load
# ------------------------------------------------------------------------------------------

def _name_problems(name: str, as_of: date | None) -> pl.DataFrame:
    """An impossible date in the file name (when no ``--as-of`` dates the file)."""
    if as_of is None:
        try:
            date_from_file_name(name)
        except NameDateError as error:
            return gates.file_problem(str(error), value=name)
    return gates.no_problems()


def _empty_export(parsed: ParsedExport) -> pl.DataFrame:
    # An empty MB52 would replace its day's snapshot with nothing; an empty MM60 would
    # deactivate nothing and say it loaded. Either is a failed export.
    return gates.file_problem(
        f"a {parsed.kind.value.upper()} header on row {parsed.header_row} but no data "
        "rows below it: an empty export")


def read_file(path: Path, name: str, as_of: date | None, settings: Settings,
              stream: ExportStream | None = None) -> tuple[ParsedExport | None, pl.DataFrame]:
    """The file gates: parse it, and every problem that makes it unloadable whatever the
    warehouse holds (bad rows, ambiguous headers, malformed text, an impossible name date).
    ``stream``: the file's export stream when it is open already."""
    problems = [_name_problems(name, as_of)]
    parsed: ParsedExport | None = None
    try:
        parsed = collect(stream or ExportStream(path, settings), path, settings)
        problems.append(parsed.problems)
        if parsed.rows.is_empty() and parsed.kind is not ExportKind.COUNT_SHEET:
            problems.append(_empty_export(parsed))
        if parsed.kind is ExportKind.MB52:
            problems.append(duplicate_stock_lines(parsed.rows))
    except UnreadableFile as error:
        parsed = None
        problems.append(gates.file_problem(str(error), row=error.row))
    return parsed, pl.concat([p.cast(PROBLEM_SCHEMA) for p in problems])


def load_file(
    path: Path | str,
    *,
    as_of: date | None = None,
    settings: Settings | None = None,
    run_id: str | None = None,
    progress: ProgressCallback | None = None,
    force: bool = False,
    forced_by: str | None = None,
) -> LoadResult:
    """Load one export or count sheet; never raises for a bad file (the result says rejected).

    ``force`` loads a file refused only for its size or age (and the same bytes again);
    ``forced_by`` names who decided that (the summary keeps it).
    """
    settings = settings or get_settings()
    settings.ensure_dirs()
    path = Path(path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"{printable_name(str(path))} does not exist or is not a file")
    # The file is read (for a workbook calamine's whole parse, for a text export its first
    # batch) and hashed in threads of their own while its log row is written: calamine,
    # polars and hashlib work outside the GIL, so on two cores neither the hash nor the log
    # row costs wall time. The hash is asked for before anything is committed.
    opening = Ahead("wics-open-export", ExportStream, path, settings)
    hashing = Ahead("wics-hash", file_sha256, path)
    try:
        name = printable_name(path.name)
        load_id = _start_log(settings, name, run_id, force)
        result = LoadResult(load_id=load_id, file_name=name, sha256=None, status="running",
                            forced=force)
        try:
            return _load(settings, result, path, as_of, progress, forced_by, opening, hashing)
        except Exception as error:
            # Not the file's fault (disk, lock timeout, bug): the transaction rolled back, the
            # file stays where it is so the load can be retried, and the log says what happened.
            if result.status == "running":
                result.status, result.error = "failed", f"{type(error).__name__}: {error}"
                with contextlib.suppress(Exception):  # a file that cannot be read has none
                    result.sha256 = hashing.result()
                _finish(settings, result)
            raise
    finally:
        opening.wait()
        hashing.wait()


def _duplicate(settings: Settings, result: LoadResult, path: Path, first: dict) -> LoadResult:
    result.status, result.kind = "duplicate", first["kind"]
    result.snapshot_date = first["snapshot_date"]
    result.summary = {"duplicate_of_load": first["load_id"], "first_file": first["file_name"]}
    result.error = (f"same bytes as {first['file_name']} (load {first['load_id']}); "
                    "not loaded again")
    result.moved_to = settle_file(path, settings.archive_dir, settings)
    _finish(settings, result)
    return result


def _load(settings: Settings, result: LoadResult, path: Path, as_of: date | None,
          progress: ProgressCallback | None, forced_by: str | None,
          opening: Ahead[ExportStream], hashing: Ahead[str]) -> LoadResult:
    if progress is not None:
        progress("reading", 0, 0)
    if forced_by:
        result.summary["forced_by"] = forced_by
    stream: ExportStream | None = None
    with contextlib.suppress(UnreadableFile):  # read_file reads it again and says why
        stream = opening.result()
    t0 = time.perf_counter() - opening.seconds  # the parse counts the opening, done ahead
    if stream is not None and stream.batched and stream.kind is ExportKind.MB52 \
            and path.stat().st_size > settings.stream_text_above_mb * 2**20:
        # A large text MB52: read and written batch by batch, in one transaction, so that
        # memory follows the batch and not the file. The transaction (and so the file) is
        # held while it reads, which is why smaller files are read first.
        return _load_stock_stream(settings, result, path, as_of, progress, stream, hashing)
    parsed, problems = read_file(path, result.file_name, as_of, settings, stream)
    result.parse_seconds = time.perf_counter() - t0
    result.sha256 = hashing.result()
    if not result.forced:
        with warehouse(settings.database, read_only=True) as con:
            earlier = _earlier_load(con, result.sha256)
        if earlier is not None:
            return _duplicate(settings, result, path, earlier)
    if parsed is not None:
        _describe_in(result, parsed)
    if not problems.is_empty() or parsed is None:
        return _reject(settings, result, path, parsed,
                       gates.GateResult(problems, gates.no_problems()))

    loader = LOADERS[parsed.kind]
    ctx = _context(settings, result, path, as_of)
    rows, prepared = loader.prepare(parsed.rows, ctx)
    result.summary.update(prepared)
    if progress is not None:
        progress("parsed", parsed.rows_read, parsed.rows_read)
    _progress(settings, result.load_id, progress, "writing", 0, rows.height)
    t1 = time.perf_counter()
    try:
        with warehouse(settings.database) as con:
            day = loader.dated(rows, ctx)
            checked = loader.gates(con, rows, ctx, day)
            if checked.refused_unless_forced(result.forced):
                raise gates.Refused(checked)
            details = loader.write(con, rows, ctx, day)
            result.db_seconds = time.perf_counter() - t1
            _loaded(con, result, checked, details, day, loader.rows_loaded_key)
    except gates.Refused as refusal:
        result.status = "running"
        return _reject(settings, result, path, parsed, refusal.gates)
    except BaseException:
        result.status = "running"  # rolled back: load_file records the failure
        raise
    return _settled(settings, result, path, progress)


def _describe_in(result: LoadResult, parsed: ParsedExport) -> None:
    """What the file was read as, into the load's result and summary."""
    result.kind, result.rows_read = parsed.kind.value, parsed.rows_read
    result.summary.update({"format": parsed.file_format, "encoding": parsed.encoding,
                           "header_row": parsed.header_row,
                           "number_format": parsed.number_format.value,
                           "skipped_rows": parsed.skipped})


def _context(settings: Settings, result: LoadResult, path: Path,
             as_of: date | None) -> LoadContext:
    return LoadContext(path=path, file_name=result.file_name, load_id=result.load_id,
                       as_of=as_of, settings=settings, now=datetime.now())


def _loaded(con: duckdb.DuckDBPyConnection, result: LoadResult, checked: gates.GateResult,
            details: dict[str, Any], day: date | None, rows_loaded_key: str) -> None:
    """Record a written load in its own transaction (``load_log`` commits with the rows)."""
    if not checked.forceable.is_empty():
        result.summary["forced_past"] = checked.forceable["reason"].to_list()
    result.snapshot_date = day
    result.summary.update(details)
    result.rows_loaded = details[rows_loaded_key]
    result.status = "loaded"
    result.summary["parse_seconds"] = round(result.parse_seconds, 3)
    result.summary["db_seconds"] = round(result.db_seconds, 3)
    _write_log(con, result, datetime.now())


def _settled(settings: Settings, result: LoadResult, path: Path,
             progress: ProgressCallback | None) -> LoadResult:
    result.moved_to = settle_file(path, settings.archive_dir, settings)
    if progress is not None:
        progress("done", result.rows_loaded, result.rows_loaded)
    return result


def _load_stock_stream(settings: Settings, result: LoadResult, path: Path, as_of: date | None,
                       progress: ProgressCallback | None, stream: ExportStream,
                       hashing: Ahead[str]) -> LoadResult:
    """An MB52 read batch by batch, each batch written as soon as it is read, inside the
    load's one transaction. Every refusal of a whole-file read is still decided before the
    commit: the file gates on what the batches found, the warehouse gates on the lines per
    plant (the rows written so far are not the previous snapshot); a refusal rolls back
    every batch written. A file whose later batches outvote the first batch's decimal
    convention is read and written again with the whole file's."""
    ctx = _context(settings, result, path, as_of)
    day = _dated_by_file(pl.DataFrame(), ctx)
    _progress(settings, result.load_id, progress, "writing", 0, 0)
    started = time.perf_counter()
    while True:
        parsed: ParsedExport | None = None
        try:
            with warehouse(settings.database) as con:
                problems = [_name_problems(result.file_name, as_of)]
                writer = SnapshotWriter(con, result.load_id, day)
                try:
                    per_plant, found = _write_stock_stream(writer, stream, progress)
                    parsed = stream.parsed
                    _describe_in(result, parsed)
                    problems.append(found)
                except UnreadableFile as error:
                    problems.append(gates.file_problem(str(error), row=error.row))
                result.sha256 = hashing.result()
                earlier = None if result.forced else _earlier_load(con, result.sha256)
                if earlier is not None:
                    raise _Duplicate(earlier)
                refusals = pl.concat([p.cast(PROBLEM_SCHEMA) for p in problems])
                if not refusals.is_empty():
                    raise gates.Refused(gates.GateResult(refusals, gates.no_problems()))
                checked = gates.GateResult(
                    hard=gates.no_problems(),
                    forceable=gates.stock_size_problems(con, per_plant, settings,
                                                        result.load_id))
                if checked.refused_unless_forced(result.forced):
                    raise gates.Refused(checked)
                details = writer.finish()
                # Reading and inserting overlap: the reading is timed apart by the stream.
                result.parse_seconds = stream.seconds
                result.db_seconds = time.perf_counter() - started - stream.seconds
                _loaded(con, result, checked, details, day, "lines")
        except NumberFormatChanged as changed:
            stream = ExportStream(path, settings, changed.number_format)
            continue
        except _Duplicate as duplicate:  # rolled back: every batch written is gone
            result.status = "running"
            return _duplicate(settings, result, path, duplicate.first)
        except gates.Refused as refusal:
            result.status = "running"
            result.parse_seconds = time.perf_counter() - started
            return _reject(settings, result, path, parsed, refusal.gates)
        except BaseException:
            result.status = "running"  # rolled back: load_file records the failure
            raise
        return _settled(settings, result, path, progress)


def _write_stock_stream(writer: SnapshotWriter, stream: ExportStream,
                        progress: ProgressCallback | None,
                        ) -> tuple[dict[str, int], pl.DataFrame]:
    """Read every batch of an MB52 and write it while the file has no problem; the lines
    per plant and the problems a whole-file read finds (rows, file, empty, duplicates).

    The batches are read in a thread of their own, one ahead of DuckDB inserting the last
    (polars and DuckDB both work without the GIL)."""
    per_plant: dict[str, int] = {}
    found: list[pl.DataFrame] = []
    # Each line's key as one hash: equal keys hash equal, so a key repeated in two batches
    # shows as a repeated hash, and only then are the keys themselves compared.
    hashes: list[pl.Series] = []

    def batches() -> Iterator[pl.DataFrame]:
        for rows, problems in stream:
            if not problems.is_empty():
                found.append(problems)
            hashes.append(rows.select(STOCK_KEY).hash_rows())
            for plant, lines in rows.group_by("plant").len().iter_rows():
                per_plant[plant] = per_plant.get(plant, 0) + lines
            if progress is not None:
                progress("writing", stream.parsed.rows_read, 0)
            if not found and stream.parsed.problems.is_empty():
                yield rows  # a file with problems is refused: no need to write on

    ahead = _ReadAhead(batches())
    try:
        writer.write(ahead)
    finally:
        ahead.close()  # waits for the reader; raises what stopped it
    parsed = stream.parsed
    problems = [parsed.problems, *found]
    if not per_plant:
        problems.append(_empty_export(parsed))
    # Sorted, a repeated hash sits beside its twin: no hash table of every line.
    keys = pl.concat(hashes).sort() if hashes else pl.Series([], dtype=pl.UInt64)
    twins = keys == keys.shift(1)
    if twins.any():
        suspects = keys.filter(twins).unique().implode()
        again = ExportStream(parsed.path, stream.settings, parsed.number_format)
        candidates = [rows.filter(rows.select(STOCK_KEY).hash_rows().is_in(suspects))
                      for rows, _ in again]
        problems.append(duplicate_stock_lines(pl.concat(candidates)))
    return per_plant, pl.concat([p.cast(PROBLEM_SCHEMA) for p in problems])


class _ReadAhead(Iterator[pl.DataFrame]):
    """The items of ``source`` computed in a thread, one ahead of the consumer. ``close``
    waits for the thread and raises the exception that ended ``source``, if any; the
    consumer sees the items up to it (a DuckDB scan must not see a Python exception)."""

    _END = object()

    def __init__(self, source: Iterator[pl.DataFrame]) -> None:
        self._queue: queue.Queue[object] = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self.seconds = 0.0
        self._thread = threading.Thread(target=self._run, args=(source,),
                                        name="wics-read", daemon=True)
        self._thread.start()

    def _run(self, source: Iterator[pl.DataFrame]) -> None:
        try:
            for item in source:
                if not self._put(item):
                    return
        except BaseException as error:  # handed to the consumer by close()
            self._error = error
        self._put(self._END)

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __next__(self) -> pl.DataFrame:
        if self._stop.is_set():
            raise StopIteration
        item = self._queue.get()
        if item is self._END:
            self._stop.set()
            raise StopIteration
        assert isinstance(item, pl.DataFrame)
        return item

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        if self._error is not None:
            raise self._error


def _reject(settings: Settings, result: LoadResult, path: Path, parsed: ParsedExport | None,
            found: gates.GateResult) -> LoadResult:
    problems = found.all()
    result.problems = problems
    result.rows_loaded = 0
    result.forceable = found.hard.is_empty()
    result.forced = False
    target = settle_file(path, settings.rejected_dir, settings)
    write_error_report(target, result.file_name, parsed, problems, result.forceable)
    result.status = "rejected"
    result.moved_to = target
    result.error = "\n".join(format_problems(problems, ERROR_LINES_IN_LOG))
    result.summary["problems"] = problems.height
    result.summary["forceable"] = result.forceable
    result.summary["rejected_file"] = str(target)
    _finish(settings, result)
    return result


class NotForceable(ValueError):
    """The load asked to be forced was not refused for its size or age alone."""


def force_load(load_id: int, *, user: User, settings: Settings | None = None) -> LoadResult:
    """Load anyway the file of a refusal that only a manager may override (a suspiciously
    small export, an older MM60): the dashboard's "load anyway". ``load_log`` records it as
    forced. The caller runs ``after_load`` (and reports to Dagster) as for any load."""
    require(user, Action.FORCE_LOADS)
    settings = settings or get_settings()
    rows = fetch_log(settings, load_id)
    if rows is None or rows["status"] != "rejected":
        raise NotForceable(f"load {load_id} is not a refused file")
    summary = json.loads(rows["summary"] or "{}")
    path = Path(summary.get("rejected_file", ""))
    if not summary.get("forceable"):
        raise NotForceable(f"{rows['file_name']} has problems no one may override; fix the "
                           "file and drop it again")
    if not path.is_file():
        raise NotForceable(f"{path} is no longer there")
    return load_file(path, settings=settings, force=True, forced_by=user.name)


def fetch_log(settings: Settings, load_id: int) -> dict[str, Any] | None:
    with warehouse(settings.database, read_only=True) as con:
        rows = fetch(con, "SELECT * FROM load_log WHERE load_id = ?", [load_id])
    return rows.row(0, named=True) if rows.height else None
