"""``make loadtest``: many counters saving at once while SAP exports load.

Simulated counters save counts through the dashboard's write path, ``with warehouse() as con:
add_count(con, ..., user=...)``: most as threads of one process (Streamlit serves every user
from threads of one process), the rest as threads of a second process, while a third process
loads an MM60 update and an MB52 snapshot (as Dagster's run workers do) with the real
``load_file`` + ``refresh_after_load``. Every save is tagged; afterwards the warehouse must
hold every save that returned exactly once, and no caller may have seen an error.

Bounded: a fixed number of saves per counter, a time limit for the whole run, files only on
the local disk (no network at all). Inputs come from ``pipelines/demo/exports.py`` through
``benchmarks/inputs.py`` (cached). Results: median, p95 and worst save latency per group,
also for the saves made while the loads ran; written to ``benchmarks/results/loadtest.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

RESULT_MARK = "LOADTEST-RESULT:"
SEED = 7


@dataclass
class Save:
    counter: str
    tag: str
    started: float  # time.time(), comparable across processes
    seconds: float
    error: str | None = None


@dataclass
class Config:
    home: Path
    counters_in_process: int = 16
    counters_in_second_process: int = 4
    saves_per_counter: int = 50
    # Mean pause between two saves of one counter (uniform 0..2x). A person counting a bin
    # takes a minute or more; 3 s each makes 20 counters save about 6-7 times a second, some
    # twenty times what a busy floor types: still a stress test, but no longer one that only
    # measures a queue (at 1 s the writers are busy nearly all the time).
    think_s: float = 3.0
    mm60_rows: int = 100_000
    mb52_rows: int = 300_000
    # The MM60 update and the MB52 loaded this many times one after the other (again with
    # force: the same bytes, an older MM60), so that many saves fall while loads run.
    load_rounds: int = 1
    time_limit_s: float = 600.0
    loads: bool = True  # False: the same counters with nothing loading (the baseline)
    cache: Path | None = None
    log: bool = True


@dataclass
class Outcome:
    saves: list[Save] = field(default_factory=list)
    second_process: list[Save] = field(default_factory=list)
    loads: list[dict] = field(default_factory=list)
    load_window: tuple[float, float] = (0.0, 0.0)
    in_warehouse: dict[str, int] = field(default_factory=dict)  # tag -> rows
    wall_s: float = 0.0
    # Moments the file watch saw the database open for writing by two processes at once, or
    # by one process through two descriptors (either would let commits be lost).
    double_writers: list[str] = field(default_factory=list)
    watch_samples: int = 0

    @property
    def all_saves(self) -> list[Save]:
        return self.saves + self.second_process

    @property
    def errors(self) -> list[Save]:
        return [s for s in self.all_saves if s.error]

    @property
    def lost(self) -> list[str]:
        return [s.tag for s in self.all_saves if not s.error and s.tag not in self.in_warehouse]

    @property
    def duplicated(self) -> list[str]:
        return [tag for tag, n in self.in_warehouse.items() if n > 1]

    @property
    def phantom(self) -> list[str]:
        """Rows of saves that told their caller they failed."""
        failed = {s.tag for s in self.errors}
        return [tag for tag in self.in_warehouse if tag in failed]


# --------------------------------------------------------------------------------------------
# The counters
# --------------------------------------------------------------------------------------------

def _counter(name: str, keys: list[tuple[str, str]], saves: int, think_s: float,
             count_date, seed: int, out: list[Save], deadline: float) -> None:
    from pipelines.access import Role, User
    from pipelines.counting.records import add_count
    from pipelines.settings import get_settings
    from pipelines.warehouse.db import warehouse

    user = User(name, Role.COUNTER)
    settings = get_settings()
    rng = random.Random(seed)
    for i in range(saves):
        if time.time() > deadline:
            break
        time.sleep(rng.uniform(0, 2 * think_s))
        material, plant = keys[rng.randrange(len(keys))]
        tag = f"lt:{name}:{i}"
        started = time.time()
        t0 = time.perf_counter()
        try:
            # Exactly what a dashboard page does for one count.
            with warehouse() as con:
                add_count(con, count_date=count_date, material=material, plant=plant,
                          quantity=f"{rng.randint(1, 40)}*{rng.randint(1, 12)}",
                          location=f"R{rng.randint(1, 40):02d}", counter=name, notes=tag,
                          user=user, settings=settings)
            out.append(Save(name, tag, started, time.perf_counter() - t0))
        except Exception as error:  # the load test counts every error a caller sees
            out.append(Save(name, tag, started, time.perf_counter() - t0,
                            f"{type(error).__name__}: {error}"))


def run_counters(prefix: str, n: int, keys: list[tuple[str, str]], saves: int, think_s: float,
                 count_date, deadline: float) -> list[Save]:
    out: list[Save] = []
    threads = [
        threading.Thread(target=_counter, name=f"{prefix}{k:02d}",
                         args=(f"{prefix}{k:02d}", keys, saves, think_s, count_date,
                               SEED * 1000 + sum(map(ord, prefix)) + k, out, deadline))
        for k in range(n)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return out


class FileWatch(threading.Thread):
    """Samples which of the test's processes hold the database file, and DuckDB's lock on it.

    DuckDB keeps a second writer out with an fcntl lock, which is per process: a second
    descriptor on the file in the same process (a second DuckDB instance, or anything that
    opens and closes it) drops the lock silently, and the process writes on without it. This
    watch is the load test's witness, from ``/proc``: a finding is two processes holding a
    write lock on the file at once, or a process with the file open read-write that holds no
    lock on it for ``persist_s`` running (a process waiting for the file opens it read-write
    for a few milliseconds to try the lock; that is not a finding, but on a loaded machine a
    try can take longer, so findings are for a person to look at, not proof).
    """

    def __init__(self, database: Path, pids: list[int], every_s: float = 0.05,
                 persist_s: float = 1.0) -> None:
        super().__init__(daemon=True, name="file-watch")
        self.database, self.pids, self.every_s = str(database), pids, every_s
        self.persist_s = persist_s
        self.stop = threading.Event()
        self.samples = 0
        self.findings: list[str] = []

    def _open_rw(self, pid: int) -> list[bool]:
        """For each descriptor of ``pid`` on the file: whether it is open for writing."""
        held = []
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError, IndexError, ValueError):
                    if os.readlink(f"/proc/{pid}/fd/{fd}") != self.database:
                        continue
                    flags = Path(f"/proc/{pid}/fdinfo/{fd}").read_text().split("flags:")[1]
                    held.append(bool(int(flags.split()[0], 8) & os.O_RDWR))
        return held

    def _locks(self) -> dict[int, str]:
        """pid -> lock type (WRITE/READ) of the POSIX locks on the file."""
        try:
            stat = os.stat(self.database)
        except OSError:
            return {}
        inode = f"{os.major(stat.st_dev):02x}:{os.minor(stat.st_dev):02x}:{stat.st_ino}"
        locks: dict[int, str] = {}
        for line in Path("/proc/locks").read_text().splitlines():
            fields = line.split()
            if len(fields) >= 6 and fields[1] == "POSIX" and fields[5] == inode:
                locks[int(fields[4])] = fields[3]
        return locks

    def run(self) -> None:
        unlocked_since: dict[int, float] = {}
        while not self.stop.wait(self.every_s):
            self.samples += 1
            locks = self._locks()
            open_rw = {pid: fds for pid in self.pids if any(fds := self._open_rw(pid))}
            writers = [pid for pid, kind in locks.items() if kind == "WRITE"]
            unlocked = {pid for pid in open_rw if pid not in locks}
            if len(writers) > 1:
                self.findings.append(f"{datetime.now():%H:%M:%S.%f}: two write locks {locks}")
            now = time.monotonic()
            unlocked_since = {pid: unlocked_since.get(pid, now) for pid in unlocked}
            for pid, since in unlocked_since.items():
                if now - since >= self.persist_s:
                    self.findings.append(
                        f"{datetime.now():%H:%M:%S.%f}: process {pid} has had the file open "
                        f"read-write without a lock for {now - since:.3f} s (locks {locks}, "
                        f"descriptors {open_rw})")


# --------------------------------------------------------------------------------------------
# The other processes
# --------------------------------------------------------------------------------------------

def _child(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, str(Path(__file__).resolve()), *args],
                            stdout=subprocess.PIPE, text=True, env=env, cwd=REPO)


def _result(process: subprocess.Popen, timeout: float) -> dict:
    out, _ = process.communicate(timeout=timeout)
    for line in out.splitlines():
        if line.startswith(RESULT_MARK):
            return json.loads(line[len(RESULT_MARK):])
    raise RuntimeError(f"child process ended ({process.returncode}) without a result:\n{out}")


def loader_main(files: list[str], rounds: int = 1) -> None:
    """The loads, one after the other, as Dagster's run workers do them; after the first
    round forced (the same bytes again, replacing what the first round loaded)."""
    from pipelines.ingest.after_load import refresh_after_load
    from pipelines.ingest.load import load_file
    from pipelines.settings import get_settings

    settings = get_settings()
    loads = []
    print("started", flush=True)
    for round_ in range(rounds):
        for name in files:
            started = time.time()
            result = load_file(Path(name), settings=settings, force=round_ > 0)
            refresh_after_load(result, settings)
            loads.append({"file": Path(name).name, "status": result.status,
                          "rows": result.rows_loaded, "started": started,
                          "seconds": time.time() - started, "db_seconds": result.db_seconds})
    print(RESULT_MARK + json.dumps(loads), flush=True)


def counters_main(spec: dict) -> None:
    from datetime import date

    saves = run_counters(spec["prefix"], spec["n"], [tuple(k) for k in spec["keys"]],
                         spec["saves"], spec["think_s"], date.fromisoformat(spec["date"]),
                         spec["deadline"])
    print(RESULT_MARK + json.dumps([asdict(s) for s in saves]), flush=True)


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------

def _say(config: Config, text: str) -> None:
    if config.log:
        print(text, flush=True)


def prepare_inputs(config: Config) -> tuple[Path, Path, Path]:
    """Month 1 MM60 (loaded before the test), month 2 MM60 and the MB52 (loaded during it)."""
    from benchmarks import inputs

    def log(text: str) -> None:
        _say(config, text)

    mm60 = inputs.mm60_inputs(config.mm60_rows, SEED, root=config.cache, log=log)
    mb52 = inputs.mb52_input(config.mm60_rows, config.mb52_rows, SEED, root=config.cache,
                             log=log)
    return mm60.mm60_month1, mm60.mm60_month2, mb52


def run(config: Config) -> Outcome:
    """Set up a warehouse in ``config.home``, run the counters and the loads, check it."""
    from benchmarks import inputs
    from pipelines.ingest.load import load_file
    from pipelines.warehouse.db import query

    month1, month2, mb52 = prepare_inputs(config)
    home = config.home
    shutil.rmtree(home, ignore_errors=True)
    os.environ["WICS_HOME"] = str(home)
    (home / "in").mkdir(parents=True)
    # Copies: a load moves nothing from outside drop/, but the names must be the loads' own.
    staged = [shutil.copy2(p, home / "in" / p.name) for p in (month1, month2, mb52)]
    _say(config, f"setup: loading {month1.name} (not timed) ...")
    first = load_file(staged[0])
    assert first.status == "loaded", first.error
    keys = [tuple(r) for r in query(
        "SELECT material, plant FROM material ORDER BY hash(material || plant) LIMIT 5000",
    ).iter_rows()]
    count_date = inputs.COUNT_DATE
    started = time.time()
    deadline = started + config.time_limit_s

    loader = _child(["--load-rounds", str(config.load_rounds), "--loader",
                     *map(str, staged[1:])]) if config.loads else None
    if loader is not None:
        assert loader.stdout is not None
        assert loader.stdout.readline().strip() == "started"
    second = None
    if config.counters_in_second_process:
        spec = {"prefix": "p2c", "n": config.counters_in_second_process, "keys": keys,
                "saves": config.saves_per_counter, "think_s": config.think_s,
                "date": count_date.isoformat(), "deadline": deadline}
        second = _child(["--counters", json.dumps(spec)])
    _say(config, f"{config.counters_in_process} counters in this process"
                 f" + {config.counters_in_second_process} in a second one, "
                 f"{config.saves_per_counter} saves each, while {month2.name} and {mb52.name} "
                 f"load {config.load_rounds} time(s) in a third ...")
    outcome = Outcome()
    from pipelines.settings import get_settings
    watch = FileWatch(get_settings().database.resolve(),
                      [os.getpid()] + [p.pid for p in (loader, second) if p is not None])
    if sys.platform.startswith("linux"):
        watch.start()
    outcome.saves = run_counters("p1c", config.counters_in_process, keys,
                                 config.saves_per_counter, config.think_s, count_date, deadline)
    remaining = max(deadline - time.time(), 1.0)
    if second is not None:
        outcome.second_process = [Save(**s) for s in _result(second, remaining)]
    outcome.loads = _result(loader, max(deadline - time.time(), 1.0)) if loader else []
    outcome.wall_s = time.time() - started
    watch.stop.set()
    if watch.is_alive():
        watch.join()
    outcome.double_writers, outcome.watch_samples = watch.findings, watch.samples
    if outcome.loads:
        outcome.load_window = (min(x["started"] for x in outcome.loads),
                               max(x["started"] + x["seconds"] for x in outcome.loads))
    rows = query("SELECT notes, count(*) AS n FROM physical_count "
                 "WHERE notes LIKE 'lt:%' GROUP BY notes")
    outcome.in_warehouse = dict(rows.iter_rows())
    return outcome


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------

def _stats(values: list[float]) -> tuple[str, str, str, str]:
    if not values:
        return "0", "-", "-", "-"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]
    return (f"{len(values):,}", f"{statistics.median(values):.3f} s", f"{p95:.3f} s",
            f"{ordered[-1]:.3f} s")


def report(outcome: Outcome, config: Config) -> str:
    start, end = outcome.load_window

    def during(saves: list[Save]) -> list[float]:
        return [s.seconds for s in saves
                if not s.error and s.started < end and s.started + s.seconds > start]

    ok = [s for s in outcome.all_saves if not s.error]
    groups = [
        ("threads of one process (the dashboard), all saves",
         [s.seconds for s in outcome.saves if not s.error]),
        ("threads of one process, saves while the loads ran", during(outcome.saves)),
        ("second process, all saves", [s.seconds for s in outcome.second_process
                                       if not s.error]),
        ("second process, saves while the loads ran", during(outcome.second_process)),
    ]
    lines = [
        "# WICS load test: counters saving while SAP exports load",
        "",
        f"`python benchmarks/loadtest.py` on {datetime.now():%Y-%m-%d %H:%M}, "
        f"{outcome.wall_s:.0f} s of counting.",
        "",
        f"- {config.counters_in_process} counters as threads of one process + "
        f"{config.counters_in_second_process} as threads of a second process, "
        f"{config.saves_per_counter} saves each, a pause of 0 to {2 * config.think_s:g} s "
        "between two saves of a counter; each save is "
        "`with warehouse() as con: add_count(con, ..., user=..., settings=get_settings())`.",
        (f"- Loaded meanwhile by a third process, {config.load_rounds} round(s), the later "
         "ones forced (`load_file` + `refresh_after_load`): "
         + ", ".join(f"{x['file']} ({x['status']}, {x['rows']:,} rows, {x['seconds']:.1f} s, "
                     f"database {x['db_seconds']:.1f} s)" for x in outcome.loads) + "."
         if outcome.loads else "- Nothing loading meanwhile (`--no-loads`, the baseline)."),
        f"- Machine: {os.cpu_count()} cores, load average "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} after the run (shared machine).",
        "",
        "| saves | attempted | saved | lost | duplicated | errors seen by callers |",
        "|---|---:|---:|---:|---:|---:|",
        f"| all | {len(outcome.all_saves):,} | {len(ok):,} | {len(outcome.lost)} | "
        f"{len(outcome.duplicated)} | {len(outcome.errors)} |",
        "",
        "| save latency | saves | median | p95 | worst |",
        "|---|---:|---:|---:|---:|",
        *[f"| {label} | " + " | ".join(_stats(values)) + " |" for label, values in groups],
    ]
    if outcome.errors:
        lines += ["", "Errors:", *sorted({f"- {s.error}" for s in outcome.errors})]
    lines += ["", f"File watch: {outcome.watch_samples:,} samples of the three processes' "
              f"descriptors and locks on the database; {len(outcome.double_writers)} with two "
              "writers (two write locks, or the file open read-write without the lock)."]
    lines += [f"- {x}" for x in outcome.double_writers[:20]]
    if outcome.lost or outcome.duplicated or outcome.phantom:
        lost = sorted((s for s in outcome.all_saves if s.tag in set(outcome.lost)),
                      key=lambda s: s.started)
        lines += ["", f"Lost (saved, not in the warehouse): {len(lost)}", *[
            f"- {s.tag}: saved {s.started - start:+.2f} s after the loads began, "
            f"in {s.seconds:.3f} s" for s in lost[:20]],
            f"Duplicated: {', '.join(outcome.duplicated[:20])}",
            f"Failed but written: {', '.join(outcome.phantom[:20])}"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--loader", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--counters", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=16, help="counters in this process")
    parser.add_argument("--second", type=int, default=4, help="counters in a second process")
    parser.add_argument("--saves", type=int, default=50, help="saves per counter")
    parser.add_argument("--think", type=float, default=3.0,
                        help="mean pause between two saves of one counter, seconds")
    parser.add_argument("--mm60-rows", type=int, default=100_000)
    parser.add_argument("--mb52-rows", type=int, default=300_000)
    parser.add_argument("--load-rounds", type=int, default=3,
                        help="times the MM60 update and the MB52 are loaded (again forced)")
    parser.add_argument("--time-limit", type=float, default=600.0, help="seconds, whole run")
    parser.add_argument("--no-loads", action="store_true",
                        help="the same counters with nothing loading meanwhile")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "loadtest.md")
    args = parser.parse_args(argv)
    if args.loader:
        loader_main(args.loader, args.load_rounds)
        return 0
    if args.counters:
        counters_main(json.loads(args.counters))
        return 0
    with tempfile.TemporaryDirectory(prefix="wics-loadtest-") as folder:
        config = Config(home=Path(folder) / "home", counters_in_process=args.threads,
                        counters_in_second_process=args.second, saves_per_counter=args.saves,
                        think_s=args.think, mm60_rows=args.mm60_rows,
                        mb52_rows=args.mb52_rows, load_rounds=args.load_rounds,
                        time_limit_s=args.time_limit,
                        loads=not args.no_loads)
        try:
            outcome = run(config)
        except Exception:
            traceback.print_exc()
            return 2
        text = report(outcome, config)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    # The file watch's findings are listed, not failed on: a process waiting for the file
    # holds it open read-write, unlocked, while it tries the lock, and on a loaded machine a
    # try can be slow; lost saves are what fails a run.
    failed = outcome.lost or outcome.duplicated or outcome.errors or outcome.phantom
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
