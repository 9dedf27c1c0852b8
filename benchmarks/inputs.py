"""The benchmark's input files, made once by ``pipelines/demo/`` (``generate``, ``files``), cached.

Every file is deterministic (size + seed give the same bytes), so figures are reproducible on
any machine. Files live in ``benchmarks/.cache/`` (gitignored) under a folder named after a hash
of the generator's source: a changed generator never benchmarks stale files. A file is written
under a temporary name and renamed, so an interrupted run never leaves a half-written input.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pipelines.demo import files, generate

CACHE = Path(__file__).resolve().parent / ".cache"
# The MB52 snapshot date (also in its file name) and the day the counts were taken.
SNAPSHOT_DATE = dt.date(2026, 11, 2)
COUNT_DATE = dt.date(2026, 11, 3)


def generator_version() -> str:
    """Short hash of the generator's and the writers' source: part of every cached file's
    folder."""
    sources = b"".join(Path(m.__file__).read_bytes() for m in (generate, files))
    return hashlib.sha256(sources).hexdigest()[:10]


def cache_dir(root: Path | None = None) -> Path:
    folder = (root or CACHE) / f"gen-{generator_version()}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# Seeds of each frame, derived from the one benchmark seed.
def master_frame(rows: int, seed: int) -> pl.DataFrame:
    """Month 1's MM60: ``rows`` material x plant rows."""
    return generate.generate_master(rows, seed=seed)


def churned_frame(master: pl.DataFrame, seed: int) -> pl.DataFrame:
    """Month 2's MM60: ~2 % added, 1 % removed, 5 % changed."""
    return generate.churn_master(master, seed=seed + 1)


def stock_frame(master: pl.DataFrame, rows: int, seed: int) -> pl.DataFrame:
    """An MB52 of ``rows`` lines referencing month 1's materials."""
    return generate.generate_stock(master, rows, seed=seed + 2)


def counts_frame(stock: pl.DataFrame, rows: int, seed: int) -> pl.DataFrame:
    """``rows`` count-sheet lines of whole material x plant groups of the stock."""
    return generate.generate_counts(stock, COUNT_DATE, rows, seed=seed + 3)


@dataclass(frozen=True)
class Inputs:
    mm60_month1: Path
    mm60_month2: Path
    mb52: Path | None
    generated_seconds: float  # 0 when everything came from the cache


def _write(frame_of, path: Path, log) -> float:
    """Write an xlsx unless cached; returns the seconds spent."""
    if path.exists():
        return 0.0
    started = time.perf_counter()
    log(f"generating {path.name} (cached for later runs) ...")
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    files.write_xlsx(frame_of(), partial, number_formats=False)
    partial.replace(path)
    seconds = time.perf_counter() - started
    log(f"  {path.name}: {path.stat().st_size / 2**20:,.1f} MiB in {seconds:,.1f} s")
    return seconds


def mm60_inputs(rows: int, seed: int, root: Path | None = None, log=print) -> Inputs:
    """Month 1 and month 2 MM60 xlsx files of ``rows`` rows."""
    folder = cache_dir(root)
    month1 = folder / f"MM60_month1_{rows}r_s{seed}.xlsx"
    month2 = folder / f"MM60_month2_{rows}r_s{seed}.xlsx"
    master: list[pl.DataFrame] = []

    def month1_frame() -> pl.DataFrame:
        if not master:
            master.append(master_frame(rows, seed))
        return master[0]

    seconds = _write(month1_frame, month1, log)
    seconds += _write(lambda: churned_frame(month1_frame(), seed), month2, log)
    return Inputs(month1, month2, None, seconds)


def mb52_input(mm60_rows: int, rows: int, seed: int, root: Path | None = None,
               log=print) -> Path:
    """An MB52 xlsx of ``rows`` lines referencing the ``mm60_rows`` month 1 materials."""
    folder = cache_dir(root)
    path = folder / f"MB52_{SNAPSHOT_DATE.isoformat()}_{rows}r_of{mm60_rows}_s{seed}.xlsx"
    _write(lambda: stock_frame(master_frame(mm60_rows, seed), rows, seed), path, log)
    return path


def _write_file(write, path: Path, log) -> Path:
    """Write one input with ``write(partial_path)`` unless cached."""
    if path.exists():
        return path
    started = time.perf_counter()
    log(f"generating {path.name} (cached for later runs) ...")
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    write(partial)
    partial.replace(path)
    log(f"  {path.name}: {path.stat().st_size / 2**20:,.1f} MiB in "
        f"{time.perf_counter() - started:,.1f} s")
    return path


def mb52_tab_text(mm60_rows: int, rows: int, seed: int, root: Path | None = None,
                  log=print) -> Path:
    """The same MB52 as SAP GUI's "Spreadsheet" export: tab-separated cp1252 text, German
    numbers, title lines above the header."""
    path = cache_dir(root) / f"MB52_{SNAPSHOT_DATE.isoformat()}_{rows}r_of{mm60_rows}_s{seed}.XLS"
    return _write_file(lambda p: files.write_spreadsheet_text(
        stock_frame(master_frame(mm60_rows, seed), rows, seed), p, encoding="cp1252",
        numbers="de"), path, log)


def mb52_narrow_csv(mm60_rows: int, lines: int, seed: int, root: Path | None = None,
                    log=print) -> Path:
    """A large, narrow MB52 as comma-separated UTF-8 (material without SAP's leading zeros,
    plant, storage location, batch, unrestricted): month 1's materials over and over, each
    repetition its own batch so that no stock line repeats another's key. About 28 bytes a
    line, like the issue's 10M-line, 210 MiB CSV."""
    path = cache_dir(root) / f"MB52_{SNAPSHOT_DATE.isoformat()}_{lines}l_narrow_s{seed}.csv"

    def write(target: Path) -> None:
        keys = master_frame(mm60_rows, seed).select("material", "plant").unique(
            maintain_order=True)
        index = pl.int_range(0, lines, eager=True)
        frame = pl.DataFrame({"i": index}).select(
            pl.col("i") % keys.height, (pl.col("i") // keys.height).alias("rep"))
        table = frame.join(keys.with_row_index("i").with_columns(pl.col("i").cast(pl.Int64)),
                           on="i", how="left", maintain_order="left").select(
            Material=pl.col("material").str.strip_chars_start("0"), Plant=pl.col("plant"),
            **{"Storage Location": pl.lit("0001"),
               "Batch": pl.format("B{}", pl.col("rep")),
               "Unrestricted": ((pl.col("i") * 7 + pl.col("rep")) % 500).cast(pl.String)
               + ".000"})
        table.write_csv(target, line_terminator="\r\n")

    return _write_file(write, path, log)
