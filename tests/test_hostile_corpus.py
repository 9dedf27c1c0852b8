"""The hostile-input corpus: every file is refused whole with an error naming the file, the row
(where there is one) and the reason; the data tables stay checksum-identical; memory stays
bounded. It holds every case of the load-integrity issue, the earlier bad-input cases
(tests/test_bad_inputs.py) and odd upload names from the dashboard.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from pipelines.ingest.load import load_file
from pipelines.warehouse.db import query

from conftest import (
    COUNT_HEADER,
    MB52_HEADER,
    MM60_HEADER,
    mb52_row,
    mm60_row,
    table_fingerprint,
    write_text,
    write_xlsx,
)
from test_bad_inputs import BAD_FILES

MATERIALS = [str(n) for n in range(1, 101)]
# Peak resident memory a refusal may add to the test process (the largest file is 20 MiB).
MEMORY_BOUND_MIB = 400


def _semicolon(d: Path, name: str, body: str) -> Path:
    return write_text(d / name, "Material;Plnt;SLoc;Material Description;Unrestricted\n" + body)


def _huge_line(d: Path) -> Path:
    path = d / "MB52_2026-12-01.txt"
    with path.open("wb") as stream:
        stream.write(b"Material;Plnt;Unrestricted\n1;1000;")
        for _ in range(20):
            stream.write(b"9" * (1024 * 1024))
    return path


def _dated(path: Path, day: datetime) -> Path:
    os.utime(path, (day.timestamp(), day.timestamp()))
    return path


def _upload(name: str | bytes, data: bytes) -> Path:
    from pipelines.access import Role, User

    from warehouse_data import save_to_drop_folder

    return save_to_drop_folder(name, data, user=User("mia", Role.MANAGER))


GARBAGE = b"this is not an export\n"
LONG = "MB52_2026-11-02_" + "x" * (255 - len("MB52_2026-11-02_") - len(".XLS")) + ".XLS"

# name -> (writer of the file in a staging folder, texts the error must contain). Writers that
# return a path inside drop/ put it there themselves (uploads, odd names on disk).
HOSTILE: dict[str, tuple[Callable[[Path], Path], list[str]]] = {
    # issue 9, 1: a partial export
    "partial_mb52": (
        lambda d: write_xlsx(d / "MB52_2026-12-01.xlsx",
                             [MB52_HEADER, *[mb52_row(m) for m in MATERIALS[:40]]]),
        ["suspiciously small export: plant 1000: 40 rows, previous load 100"],
    ),
    "partial_mm60": (
        lambda d: write_xlsx(d / "MM60_2026-12-01.xlsx",
                             [MM60_HEADER, *[mm60_row(m) for m in MATERIALS[:30]]]),
        ["suspiciously small export: plant 1000: 30 rows, previous load 100"],
    ),
    # 2: an older material list
    "older_mm60_by_name": (
        lambda d: write_xlsx(d / "MM60_2026-11-01.xlsx",
                             [MM60_HEADER, *[mm60_row(m, price=9.0) for m in MATERIALS]]),
        ["this MM60 is dated 2026-11-01", "plant 1000 has the MM60 of 2026-11-29"],
    ),
    "older_mm60_by_mtime": (
        lambda d: _dated(write_xlsx(d / "materials.xlsx",
                                    [MM60_HEADER, *[mm60_row(m, "1000", "OLD TEXT")
                                                    for m in MATERIALS]]),
                         datetime(2026, 10, 1)),
        ["this MM60 is dated 2026-10-01"],
    ),
    # 3: unbalanced quotes
    "unclosed_quote_semicolon": (
        lambda d: _semicolon(d, "MB52_2026-12-01.csv", '1;1000;0001;"12 INCH PIPE;5\n'
                             "2;1000;0001;X;7\n3;1000;0001;Y;9\n"),
        ['line 2: a quote (") is opened and never closed'],
    ),
    "unclosed_quote_comma": (
        lambda d: write_text(d / "MB52_2026-12-01.csv",
                             'Material,Plnt,Unrestricted\n1,1000,5\n2,"1000,7\n3,1000,9\n'),
        ['line 3: a quote (") is opened and never closed'],
    ),
    "quote_spanning_lines": (
        lambda d: _semicolon(d, "MB52_2026-12-01.csv", '1;1000;0001;"PIPE;5\n'
                             '2;1000;0001;X";7\n'),
        ["line 2: a quote", "a field may not span lines"],
    ),
    # 4: fields over the size limit
    "long_field_semicolon": (
        lambda d: _semicolon(d, "MB52_2026-12-01.txt", f"1;1000;0001;{'D' * 140_000};5\n"),
        ["line 2 has a field over the size limit of 131,072 characters"],
    ),
    "long_field_tab": (
        lambda d: write_text(d / "MB52_2026-12-01.XLS",
                             "Material\tPlnt\tMaterial Description\tUnrestricted\n"
                             f"1\t1000\t{'D' * 140_000}\t5\n"),
        ["row 2: a field of 140000 characters, over the size limit of 131,072"],
    ),
    "huge_line_without_newline": (
        _huge_line,
        ["line 2 is 20,971,527 bytes long without a line break"],
    ),
    # 5: a count sheet without any date
    "count_sheet_without_dates": (
        lambda d: write_xlsx(d / "counts.xlsx",
                             [COUNT_HEADER, [None, "1", "1000", "0001", "A1", 4, "ANA"]]),
        ['row 2, column "Count Date": count date is missing'],
    ),
    # 6: ambiguous headers
    "two_unrestricted_columns": (
        lambda d: write_xlsx(d / "MB52_2026-12-01.xlsx",
                             [["Material", "Plnt", "Unrestricted", "Unrestricted"],
                              ["1", "1000", 5, 6]]),
        ['row 1: ambiguous header: columns "Unrestricted" (column 3) and "Unrestricted" '
         "(column 4) all mean unrestricted"],
    ),
    "plant_and_werk": (
        lambda d: write_xlsx(d / "MB52_2026-12-01.xlsx",
                             [["Material", "Plant", "Werk", "Unrestricted"],
                              ["1", "1000", "2000", 5]]),
        ['"Plant" (column 2) and "Werk" (column 3) all mean plant'],
    ),
    "quantity_and_counted_qty": (
        lambda d: write_xlsx(d / "counts_2026-11-30.xlsx",
                             [["Count Date", "Material", "Plant", "Quantity", "Counted Qty"],
                              ["2026-11-30", "1", "1000", 100, 7]]),
        ['"Quantity" (column 4) and "Counted Qty" (column 5) all mean quantity'],
    ),
    # 7: impossible dates in names
    "name_date_feb_31": (
        lambda d: write_xlsx(d / "MB52_2026-02-31.xlsx", [MB52_HEADER, mb52_row("1")]),
        ['the file name holds the date "2026-02-31", which does not exist'],
    ),
    "name_date_month_13": (
        lambda d: write_text(d / "MB52_20261301.XLS", "Material\tPlnt\tUnrestricted\n"
                             "1\t1000\t5\n"),
        ['the file name holds the date "20261301", which does not exist'],
    ),
    "name_date_april_31_dotted": (
        lambda d: write_text(d / "Bestand 31.04.2026.txt", "Material\tPlnt\tUnrestricted\n"
                             "1\t1000\t5\n"),
        ['the file name holds the date "31.04.2026", which does not exist'],
    ),
    # 8: names: 255 bytes, not UTF-8, uploads with path traversal and NUL
    "name_255_bytes": (
        lambda d: write_text(d / LONG, "garbage\n"),
        ["no header row of an MM60, MB52 or count sheet"],
    ),
    "name_not_utf8_on_disk": (
        lambda d: (Path(os.fsdecode(bytes(d / "MB52_") + b"\xff\xfe.XLS")).write_bytes(GARBAGE)
                   and Path(os.fsdecode(bytes(d / "MB52_") + b"\xff\xfe.XLS"))),
        ["no header row of an MM60, MB52 or count sheet"],
    ),
    "upload_path_traversal": (
        lambda d: _upload("../../../etc/MB52_2026-11-03.XLS", GARBAGE),
        ["no header row"],
    ),
    "upload_windows_path": (
        lambda d: _upload("C:\\Users\\ana\\..\\MB52_2026-11-03.XLS", GARBAGE),
        ["no header row"],
    ),
    "upload_nul_and_controls": (
        lambda d: _upload("MB52\x00_\x1b[31m2026-11-03.XLS", GARBAGE),
        ["no header row"],
    ),
    "upload_not_utf8": (
        lambda d: _upload(b"MB52_\xff\xfe\xfd.XLS", GARBAGE),
        ["no header row"],
    ),
    "upload_255_bytes_multibyte": (
        lambda d: _upload("Ä" * 127 + ".XLS", GARBAGE),
        ["no header row"],
    ),
    "upload_hidden_name": (
        lambda d: _upload(".MB52_2026-11-03.XLS", GARBAGE),
        ["no header row"],
    ),
    # more hostile content
    "header_only_mb52": (
        lambda d: write_text(d / "MB52_2026-12-01.XLS", "Material\tPlnt\tUnrestricted\n"),
        ["a MB52 header on row 1 but no data rows below it"],
    ),
    "utf16_without_header": (
        lambda d: (d / "MB52_2026-12-01.txt").write_bytes("nur Text\r\n".encode("utf-16"))
        and d / "MB52_2026-12-01.txt",
        ["no header row"],
    ),
    "html_without_table": (
        lambda d: write_text(d / "MB52_2026-12-01.html", "<html><body><p>hello</p></body></html>"),
        ["no header row"],
    ),
    "quantity_inf_and_nan_in_text": (
        lambda d: write_text(d / "MB52_2026-12-01.XLS", "Material\tPlnt\tUnrestricted\n"
                             "1\t1000\tinf\n2\t1000\tnan\n"),
        ['row 2, column "Unrestricted", value "inf"', 'row 3, column "Unrestricted", value "nan"'],
    ),
}


def _hostile_cases() -> dict[str, tuple[Callable[[Path], Path], list[str]]]:
    return {**{f"bad_{name}": case for name, case in BAD_FILES.items()}, **HOSTILE}


def test_the_corpus_is_large_enough():
    assert len(_hostile_cases()) >= 30


@pytest.fixture
def warehouse_of_100(wics_home, tmp_path):
    """100 materials, a 100-line snapshot and a count: 'unchanged' means something."""
    good = tmp_path / "good"
    good.mkdir()
    for path in (
        write_xlsx(good / "MM60_2026-11-29.xlsx", [MM60_HEADER, *[mm60_row(m) for m in MATERIALS]]),
        write_xlsx(good / "MB52_2026-11-30.xlsx", [MB52_HEADER, *[mb52_row(m) for m in MATERIALS]]),
        write_xlsx(good / "counts_2026-11-30.xlsx",
                   [COUNT_HEADER, ["2026-11-30", "1", "1000", "0001", "A1", 5, "ANA"]]),
    ):
        assert load_file(path).status == "loaded"
    return wics_home


@pytest.mark.parametrize("case", sorted(_hostile_cases()))
def test_hostile_file_is_refused_cleanly(case, warehouse_of_100, tmp_path):
    from benchmarks.worker import peak_mib, reset_peak, rss_mib

    settings = warehouse_of_100
    make, expected = _hostile_cases()[case]
    staging = tmp_path / "staging"
    staging.mkdir()
    made = make(staging)
    if made.parent == settings.drop_dir:
        dropped = made
    else:
        dropped = settings.drop_dir / made.name
        shutil.move(made, dropped)
    assert dropped.parent == settings.drop_dir  # nothing escapes drop/
    before = table_fingerprint(settings)
    reset_peak()
    baseline = rss_mib()

    result = load_file(dropped)

    assert peak_mib() - baseline < MEMORY_BOUND_MIB
    assert result.status == "rejected", result.error
    assert table_fingerprint(settings) == before
    assert not dropped.exists()
    report_path = result.moved_to.with_name(result.moved_to.name + ".error.txt")
    assert result.moved_to.parent == settings.rejected_dir and report_path.exists()
    assert len(report_path.name.encode()) <= 255
    report = report_path.read_text(encoding="utf-8")
    assert report.startswith(f"WICS rejected {result.file_name}\n")  # names the file
    for text in expected:
        assert text in report, report
        assert text in result.error
    log = query("SELECT status, error, file_name FROM load_log WHERE load_id = ?",
                [result.load_id], path=settings.database).row(0)
    assert log[0] == "rejected" and expected[0] in log[1] and log[2] == result.file_name
    assert query("SELECT count(*) FROM load_log WHERE status = 'running'",
                 path=settings.database).item() == 0
