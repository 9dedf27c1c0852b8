"""One measurement in a fresh process: ``python benchmarks/worker.py TASK JSON-ARGS``.

Each measured load runs in its own process so that its peak memory (the kernel's high-water
mark, VmHWM) is its own: one run's peak never hides another's. The high-water mark is reset
(``/proc/self/clear_refs``) after the imports and between phases, so the worker also reports
the peak of each phase: parse, database, change report. The result is printed as one JSON
line after ``RESULT_MARK``.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

RESULT_MARK = "BENCH-RESULT:"


# --------------------------------------------------------------------------------------------
# Memory
# --------------------------------------------------------------------------------------------

def _status_kib(field: str) -> int | None:
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    match = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) if match else None


def peak_mib() -> float:
    """Peak resident memory of this process so far (since the last reset), MiB."""
    kib = _status_kib("VmHWM")
    if kib is None:  # not Linux: the lifetime peak, never reset
        import resource

        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / 1024


def rss_mib() -> float:
    kib = _status_kib("VmRSS")
    return (kib or 0) / 1024


def reset_peak() -> bool:
    """Reset the high-water mark to the current RSS (Linux >= 4.0); False where impossible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


class PhasePeaks:
    """Peak RSS per phase: reset the mark when a phase starts, read it when it ends."""

    def __init__(self) -> None:
        self.resettable = reset_peak()
        self.peaks: dict[str, float] = {}
        self.phase: str | None = None
        self.overall = peak_mib()

    def start(self, phase: str) -> None:
        self.stop()
        self.phase = phase
        if self.resettable:
            reset_peak()

    def stop(self) -> None:
        if self.phase is not None:
            peak = peak_mib()
            self.peaks[self.phase] = round(peak, 1)
            self.overall = max(self.overall, peak)
            self.phase = None

    def result(self) -> dict:
        self.stop()
        return {"peak_rss_mib": round(max(self.overall, peak_mib()), 1),
                "phase_peak_rss_mib": self.peaks if self.resettable else {}}


# --------------------------------------------------------------------------------------------
# Tasks
# --------------------------------------------------------------------------------------------

class _Stopwatch:
    """Seconds spent in named functions of a module, by wrapping them where they are called."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def wrap(self, module, name: str, key: str) -> None:
        function = getattr(module, name, None)
        if function is None:
            return

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[key] = self.seconds.get(key, 0.0) + time.perf_counter() - started

        setattr(module, name, timed)


def wics_load(args: dict) -> dict:
    """The real load of one file: ``load_file``, then ``refresh_after_load`` as ``wics load``.

    The refresh recomputes ``count_variance`` (timed apart by wrapping the function
    ``after_load`` calls); an MM60's change report is not part of the load (``change_report``
    times it on demand).
    """
    from pipelines.ingest import after_load as refresh
    from pipelines.ingest.load import load_file
    from pipelines.settings import Settings

    settings = Settings(home=Path(args["home"]))
    as_of = date.fromisoformat(args["as_of"]) if args.get("as_of") else None
    watch = _Stopwatch()
    watch.wrap(refresh, "reconcile", "reconcile")
    baseline = rss_mib()
    peaks = PhasePeaks()

    def progress(phase: str, done: int, total: int) -> None:
        if phase == "writing":  # parsing and validation are over, the database phase starts
            peaks.start("database")

    peaks.start("parse")
    started = time.perf_counter()
    result = load_file(args["path"], settings=settings, as_of=as_of, force=True,
                       progress=progress)
    loaded = time.perf_counter()
    if result.status != "loaded":
        raise RuntimeError(f"{result.file_name} was {result.status}: {result.error}")
    peaks.start("refresh")
    refresh.refresh_after_load(result, settings)
    finished = time.perf_counter()
    summary = result.summary
    return {
        "seconds": finished - started,
        "load_seconds": loaded - started,
        "parse_seconds": result.parse_seconds,
        "db_seconds": result.db_seconds,
        "refresh_seconds": finished - loaded,
        "reconcile_seconds": watch.seconds.get("reconcile", 0.0),
        "rows_read": result.rows_read,
        "rows_loaded": result.rows_loaded,
        "kind": result.kind,
        "changes": {k: summary.get(k) for k in ("added", "removed", "changed", "reactivated")
                    if k in summary},
        "baseline_rss_mib": round(baseline, 1),
        **peaks.result(),
    }


def wics_command(args: dict) -> dict:
    """``wics load --force [--as-of DAY] PATH`` as a person runs it, in this process: the load,
    the refresh, the Dagster record (into ``home``/dagster) and the command's own exit."""
    os.environ["WICS_HOME"] = args["home"]
    os.environ["DAGSTER_HOME"] = str(Path(args["home"]) / "dagster")
    from pipelines.cli import main as wics

    as_of = ["--as-of", args["as_of"]] if args.get("as_of") else []
    started = time.perf_counter()
    code = wics(["load", "--force", *as_of, args["path"]])
    if code != 0:
        raise RuntimeError(f"wics load {args['path']} exited {code}")
    return {"seconds": time.perf_counter() - started, "exit_code": code}


def dagster_instance(args: dict) -> dict:
    """A Dagster instance made at ``home``/dagster as ``wics load`` makes it (its storage
    created once), for the timed commands to start from, as they do on a set-up machine."""
    from pipelines.cli import _ensure_dagster_home
    from pipelines.defs.load_report import open_instance
    from pipelines.settings import Settings

    settings = Settings(home=Path(args["home"]))
    os.environ["DAGSTER_HOME"] = str(settings.dagster_home)
    started = time.perf_counter()
    _ensure_dagster_home(settings)
    with open_instance(settings):
        pass
    return {"seconds": time.perf_counter() - started}


def change_report(args: dict) -> dict:
    """The change report of the latest MM60 load, as ``wics changes`` writes it on demand:
    the query of ``material_change`` and the xlsx, with the process's peak memory."""
    import tempfile

    from pipelines.reports.change_report import material_changes, write_load_change_report
    from pipelines.warehouse.db import warehouse

    database = Path(args["home"]) / "wics.duckdb"
    peaks = PhasePeaks()
    peaks.start("report")
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        load_id, path = write_load_change_report(Path(folder) / "changes.xlsx",
                                                 database=database)
        seconds = time.perf_counter() - started
        size = path.stat().st_size
    with warehouse(database, read_only=True) as con:
        rows = material_changes(con, load_id).height
    return {"seconds": seconds, "rows": rows, "bytes": size, **peaks.result()}


def calamine(args: dict) -> dict:
    """The parse limit: the same workbook read into a polars frame by fastexcel alone."""
    import fastexcel
    import polars  # noqa: F401 - imported before the clock starts, as in the WICS worker
    import pyarrow  # noqa: F401

    baseline = rss_mib()
    peaks = PhasePeaks()
    peaks.start("read")
    started = time.perf_counter()
    frame = fastexcel.read_excel(args["path"]).load_sheet(0).to_polars()
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": frame.height, "columns": frame.width,
            "baseline_rss_mib": round(baseline, 1), **peaks.result()}


def plain_read(args: dict) -> dict:
    """The naive read WICS is compared with, in a process of its own (imports included, as
    in ``wics load``): ``pl.read_excel`` of a workbook, ``pl.read_csv`` of a text export
    (its header line on, every column as text, bytes that are not UTF-8 replaced)."""
    started = time.perf_counter()
    frame = _plain_frame(args)
    return {"seconds": time.perf_counter() - started, "rows": frame.height,
            "columns": frame.width}


def _plain_frame(args: dict):
    import polars as pl

    path = args["path"]
    if args["format"] == "xlsx":
        return pl.read_excel(path)
    return pl.read_csv(path, separator=args["separator"], skip_lines=args["skip_lines"],
                       encoding="utf8-lossy", infer_schema=False,
                       quote_char='"' if args["separator"] in ",;" else None)


def read_and_store(args: dict) -> dict:
    """The least a load that keeps the rows can do, in a process of its own: the plain read
    of ``plain_read``, then the frame stored as it is in a new DuckDB file (one ``CREATE TABLE
    AS``, commit, close). No typing, no checks, no history: a floor, not a load."""
    import duckdb

    started = time.perf_counter()
    frame = _plain_frame(args)
    con = duckdb.connect(args["database"])
    con.execute("CREATE TABLE rows AS SELECT * FROM frame")
    con.close()
    return {"seconds": time.perf_counter() - started, "rows": frame.height,
            "columns": frame.width}


def grow_history(args: dict) -> dict:
    """Add ``days`` daily snapshots before the one loaded (copies of it, one date each,
    inserted in date order as daily loads would leave them), each its own autocommitted
    ``INSERT ... SELECT``. Not timed: the run's first daily load after it is the one-time
    cost (see ``run._history``)."""
    from datetime import timedelta

    from pipelines.ingest.stock_snapshot import COLUMNS
    from pipelines.warehouse.db import warehouse

    day = date.fromisoformat(args["snapshot_date"])
    columns = ", ".join(COLUMNS)
    started = time.perf_counter()
    with warehouse(Path(args["home"]) / "wics.duckdb") as con:
        for back in range(args["days"], 0, -1):
            con.execute(
                f"""INSERT INTO sap_stock (snapshot_date, {columns}, load_id)
                    SELECT ?, {columns}, load_id FROM sap_stock WHERE snapshot_date = ?""",
                [day - timedelta(days=back), day])
        lines = con.execute("SELECT count(*) FROM sap_stock").fetchone()[0]
    return {"seconds": time.perf_counter() - started, "lines": lines}


def settle(args: dict) -> dict:
    """Checkpoints after the bulk growth until one is fast: each a ``nextval`` (a catalog
    change, as every load makes) and a close, on a connection of its own (the warehouse()
    lease would keep the file open and checkpoint once, at exit). Stops at the first close
    under ``fast`` seconds, or after ``limit``; returns every close's time."""
    import duckdb

    database = str(Path(args["home"]) / "wics.duckdb")
    closes: list[float] = []
    for _ in range(args.get("limit", 12)):
        con = duckdb.connect(database)
        con.execute("SELECT nextval('load_id')").fetchall()
        started = time.perf_counter()
        con.close()
        closes.append(time.perf_counter() - started)
        if closes[-1] < args.get("fast", 0.5):
            break
    return {"seconds": sum(closes), "closes": closes}


def dashboard(args: dict) -> dict:
    """The dashboard's reads on a warehouse, each timed on its own."""
    from pipelines.warehouse.db import warehouse

    os.environ["WICS_HOME"] = args["home"]
    database = Path(args["home"]) / "wics.duckdb"
    queries = []
    for name, run in _dashboard_queries(database):
        took, value = _timed(run)
        queries.append({"name": name, "seconds": took, "rows": getattr(value, "height", 1)})
    with warehouse(database, read_only=True) as con:
        lines = con.execute("SELECT count(*) FROM sap_stock").fetchone()[0]
    return {"seconds": sum(q["seconds"] for q in queries), "queries": queries,
            "stock_lines": lines}


def old_way(args: dict) -> dict:
    """The seed system's update, first load (month 1) then month 2, on a PostgreSQL server
    (``args["postgres"]``: connection settings) or a SQLite file (``args["database"]``)."""
    from benchmarks import django_seed

    django_seed.setup(django_seed.postgres_database(args["postgres"]) if args.get("postgres")
                      else Path(args["database"]))
    baseline = rss_mib()
    peaks = PhasePeaks()
    peaks.start("first")
    first = django_seed.update_material_list(Path(args["month1"]))
    peaks.start("update")
    update = django_seed.update_material_list(Path(args["month2"]))
    return {"first": first, "update": update, "baseline_rss_mib": round(baseline, 1),
            **peaks.result()}


def _insert_counts(con, counts) -> int:
    """Count lines as the count-sheet load writes them (quantity evaluated, expression kept)."""
    import polars as pl

    from pipelines.sap.expression import evaluate_quantity
    from pipelines.sap.material import normalise_material

    rows = counts.select(
        "count_date",
        normalise_material(pl.col("material")).alias("material"),
        "plant", "storage_location", "location",
        pl.col("quantity").map_elements(evaluate_quantity, return_dtype=pl.Float64)
        .alias("quantity"),
        pl.col("quantity").alias("quantity_expr"),
        "counter", "notes",
    )
    con.register("bench_counts", rows)
    con.execute(
        """INSERT INTO physical_count (count_date, material, plant, storage_location, location,
                                       quantity, quantity_expr, counter, notes, entered_by)
           SELECT count_date, material, plant, storage_location, location, quantity,
                  quantity_expr, counter, notes, 'benchmark' FROM bench_counts""")
    con.unregister("bench_counts")
    return rows.height


def _insert_stock(con, stock, snapshot: date, load_id: int) -> int:
    from pipelines.ingest.stock_snapshot import COLUMNS

    con.register("bench_stock", stock)
    con.execute(
        f"""INSERT INTO sap_stock (snapshot_date, {", ".join(COLUMNS)}, load_id)
            SELECT ?, {", ".join(COLUMNS)}, ? FROM bench_stock""", [snapshot, load_id])
    con.unregister("bench_stock")
    return stock.height


def _timed(function, *args, **kwargs) -> tuple[float, object]:
    started = time.perf_counter()
    value = function(*args, **kwargs)
    return time.perf_counter() - started, value


def _dashboard_queries(database: Path) -> list[tuple[str, object]]:
    """The dashboard's reads, each as the page runs it: open read-only, query, close."""
    from pipelines.counting.accuracy import inventory_accuracy
    from pipelines.counting.config import CountingConfig
    from pipelines.counting.reconcile import variance_lines
    from pipelines.counting.summary import count_summary
    from pipelines.warehouse.db import warehouse

    sys.path.insert(0, str(REPO / "dashboard"))
    import warehouse_data as pages  # noqa: E402 - the dashboard's own cached reads

    def uncached(name: str):
        function = getattr(pages, name)
        return getattr(function, "__wrapped__", function)

    def reading(function, **kwargs):
        def run():
            with warehouse(database, read_only=True) as con:
                return function(con, **kwargs)
        return run

    from benchmarks.inputs import COUNT_DATE

    latest_mm60 = 0
    with warehouse(database, read_only=True) as con:
        latest_mm60 = con.execute(
            "SELECT max(load_id) FROM load_log WHERE kind = 'mm60' AND status = 'loaded'"
        ).fetchone()[0]
    return [
        ("overview: warehouse totals", uncached("warehouse_totals")),
        ("overview: stock value by plant", uncached("stock_value_by_plant")),
        ("loads: recent loads", uncached("recent_loads")),
        ("loads: changes of the latest MM60", lambda: uncached("material_changes_of_load")(
            latest_mm60)),
        ("counts: day summary (count_summary)", reading(count_summary, count_date=COUNT_DATE)),
        ("counts: accuracy by day x plant x ABC", reading(inventory_accuracy, period="day",
                                                          end=COUNT_DATE)),
        ("counts: variance lines (preview)", reading(variance_lines, config=CountingConfig())),
    ]


def reconcile(args: dict) -> dict:
    """Counts against SAP: N count lines against an M-line snapshot, written straight to DuckDB.

    The warehouse is a copy of the one the MM60 update left (materials, change history); the
    snapshot and the counts are inserted directly (not timed), then reconciliation recomputes
    ``count_variance`` and the dashboard's heaviest reads run, each timed on its own.
    """
    from benchmarks import inputs
    from pipelines.warehouse.db import warehouse

    os.environ["WICS_HOME"] = args["home"]  # the dashboard's reads find the warehouse here
    database = Path(args["home"]) / "wics.duckdb"
    master = inputs.master_frame(args["mm60_rows"], args["seed"])
    stock = inputs.stock_frame(master, args["stock_rows"], args["seed"])
    counts = inputs.counts_frame(stock, args["count_lines"], args["seed"])
    with warehouse(database) as con:
        stock_lines = _insert_stock(con, stock, inputs.SNAPSHOT_DATE, 0)
        count_lines = _insert_counts(con, counts)
    del master, stock, counts

    peaks = PhasePeaks()
    peaks.start("reconcile")
    from pipelines.counting.config import CountingConfig
    from pipelines.counting.reconcile import reconcile as recompute

    started = time.perf_counter()
    with warehouse(database) as con:
        outcome = recompute(con, config=CountingConfig())
    lines, out = outcome.lines, outcome.out_of_tolerance
    seconds = time.perf_counter() - started

    queries = []
    peaks.start("dashboard")
    for name, run in _dashboard_queries(database):
        took, value = _timed(run)
        height = getattr(value, "height", 1)
        queries.append({"name": name, "seconds": took, "rows": height})
    return {"seconds": seconds, "stock_lines": stock_lines,
            "count_lines": count_lines, "variance_lines": lines, "out_of_tolerance": out,
            "queries": queries, **peaks.result()}


def pages_build(args: dict) -> dict:
    """The large warehouse the pages are timed on, written into ``args["database"]``."""
    from benchmarks.pages import build_warehouse

    database = Path(args["database"])
    os.environ["WICS_HOME"] = str(database.parent)
    peaks = PhasePeaks()
    peaks.start("build")
    built = build_warehouse(
        database, materials=args["materials"], stock_lines=args["stock_lines"],
        count_lines=args["count_lines"], snapshots=args["snapshots"], seed=args["seed"],
        today=date.fromisoformat(args["today"]))
    return {**built, **peaks.result()}


def pages_render(args: dict) -> dict:
    """Every dashboard page rendered by AppTest on the warehouse in ``args["home"]``."""
    from benchmarks.pages import time_pages

    os.environ["WICS_HOME"] = args["home"]
    peaks = PhasePeaks()
    peaks.start("render")
    pages = time_pages(Path(args["home"]) / "wics.duckdb", args["runs"])
    return {"pages": pages, **peaks.result()}


TASKS = {"wics_load": wics_load, "wics_command": wics_command,
         "dagster_instance": dagster_instance, "change_report": change_report,
         "calamine": calamine, "old_way": old_way, "reconcile": reconcile,
         "plain_read": plain_read, "read_and_store": read_and_store,
         "grow_history": grow_history, "settle": settle, "dashboard": dashboard,
         "pages_build": pages_build, "pages_render": pages_render}


def main(argv: list[str]) -> int:
    task, raw = argv[1], argv[2]
    result = TASKS[task](json.loads(raw))
    # This process's own high-water mark at exit (since the last reset, if a task reset it;
    # such a task reports the peak of every phase in ``peak_rss_mib``). None off Linux.
    hwm = _status_kib("VmHWM")
    result["exit_peak_mib"] = None if hwm is None else round(hwm / 1024, 1)
    print(RESULT_MARK + json.dumps(result, default=str), flush=True)
    if task == "wics_command":  # and the end of the command itself
        from pipelines.cli import exit_without_teardown

        exit_without_teardown(0)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
