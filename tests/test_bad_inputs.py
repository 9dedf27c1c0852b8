"""Bad input: each file is rejected whole with a clear reason, and the warehouse is unchanged."""

from __future__ import annotations

import io
import shutil
import zipfile
from collections.abc import Callable
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


def _zip_bomb(path: Path) -> Path:
    """A valid-looking xlsx whose sheet inflates 1,000:1 to 200 MiB."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        block = b"<row><c><v>0</v></c></row>" * 40_000
        with archive.open("xl/worksheets/sheet1.xml", "w") as sheet:
            for _ in range(200):
                sheet.write(block)
    path.write_bytes(buffer.getvalue())
    return path


# name -> (writer of the bad file in `folder`, text the error file must contain)
BAD_FILES: dict[str, tuple[Callable[[Path], Path], list[str]]] = {
    "quantity_not_a_number": (
        lambda d: write_xlsx(d / "MB52_2026-11-03.xlsx",
                             [MB52_HEADER, mb52_row("1"), mb52_row("1", sloc="0002")[:7]
                              + ["12 pcs"] + mb52_row("1")[8:]]),
        ['row 3, column "Unrestricted", value "12 pcs": not a number'],
    ),
    "material_missing": (
        lambda d: write_xlsx(d / "MM60_2026-11-05.xlsx",
                             [MM60_HEADER, mm60_row("1"), mm60_row(None), mm60_row("3")]),
        ['row 3, column "Material": material number is missing'],
    ),
    "plant_missing_in_text_export": (
        lambda d: write_text(d / "MB52_2026-11-03.XLS",
                             "Material\tPlnt\tSLoc\tUnrestricted\n1\t1000\t0001\t5,000\n"
                             "2\t\t0001\t6,000\n"),
        ['row 3, column "Plnt": plant is missing'],
    ),
    "bad_last_change_date": (
        lambda d: write_xlsx(d / "MM60_2026-11-05.xlsx",
                             [MM60_HEADER, mm60_row("1")[:11] + ["31.02.2026"]]),
        ['row 2, column "Last Change", value "31.02.2026": not a date'],
    ),
    "number_against_the_files_convention": (
        lambda d: write_text(d / "MB52_2026-11-03.txt",
                             "Material;Plnt;Unrestricted\n1;1000;1.234,500\n2;1000;2,500.000\n"
                             "3;1000;7,25\n"),
        ['row 3, column "Unrestricted", value "2,500.000": not a number in this file\'s format '
         '(1.234,56)'],
    ),
    "count_unknown_material": (
        lambda d: write_xlsx(d / "counts_2026-11-02.xlsx",
                             [COUNT_HEADER, ["2026-11-02", "1", "1000", "0001", "A1", 5, "ANA"],
                              ["2026-11-02", "999", "1000", "0001", "A2", 5, "ANA"]]),
        ['row 3, column "Material", value "999": material 999 is not in the material master '
         "of plant 1000"],
    ),
    "count_bad_expression": (
        lambda d: write_xlsx(d / "counts_2026-11-02.xlsx",
                             [COUNT_HEADER, ["2026-11-02", "1", "1000", "0001", "A1", "2*/3"]]),
        ['row 2, column "Counted Qty", value "2*/3": not a quantity or arithmetic expression'],
    ),
    "count_negative_quantity": (
        lambda d: write_xlsx(d / "counts_2026-11-02.xlsx",
                             [COUNT_HEADER, ["2026-11-02", "1", "1000", "0001", "A1", "5-9"]]),
        ['row 2, column "Counted Qty", value "5-9": a counted quantity cannot be negative'],
    ),
    "count_code_injection": (
        lambda d: write_xlsx(d / "counts_2026-11-02.xlsx",
                             [COUNT_HEADER, ["2026-11-02", "1", "1000", "0001", "A1",
                                             "__import__('os').system('touch /tmp/pwned')"]]),
        ["not a quantity or arithmetic expression: unexpected character '_'"],
    ),
    "duplicate_stock_line": (
        lambda d: write_xlsx(d / "MB52_2026-11-03.xlsx",
                             [MB52_HEADER, mb52_row("1", batch="B1"), mb52_row("2"),
                              mb52_row("1", batch="B1")]),
        ["row 4, column \"Material\", value \"1\": duplicate stock line: same material, plant, "
         "storage location, batch and special stock as row 2"],
    ),
    "price_unit_zero": (
        lambda d: write_xlsx(d / "MM60_2026-11-05.xlsx",
                             [MM60_HEADER, mm60_row("1", price_unit=0)]),
        ['row 2, column "Price Unit", value "0": price unit must be positive'],
    ),
    "no_header": (
        lambda d: write_text(d / "notes.csv", "name,age\nAna,31\nBen,42\n"),
        ["no header row of an MM60, MB52 or count sheet found in the first 60 rows"],
    ),
    "empty_file": (
        lambda d: write_text(d / "MB52_2026-11-03.XLS", ""),
        ["the file is empty"],
    ),
    "zip_bomb": (
        lambda d: _zip_bomb(d / "MB52_2026-11-03.xlsx"),
        ["looks like a zip bomb and was refused unread"],
    ),
    "damaged_xlsx": (
        lambda d: (d / "MM60_2026-11-05.xlsx").write_bytes(b"PK\x03\x04" + b"\x00garbage" * 50)
        and d / "MM60_2026-11-05.xlsx",
        ["not a valid xlsx file (damaged zip archive"],
    ),
    "binary_garbage": (
        lambda d: (d / "MB52.bin").write_bytes(bytes(range(256)) * 64) and d / "MB52.bin",
        ["binary data, not a spreadsheet or text export"],
    ),
}


@pytest.fixture
def loaded_warehouse(wics_home, tmp_path):
    """A warehouse with master data, a snapshot and counts, so 'unchanged' means something."""
    folder = tmp_path / "good"
    folder.mkdir()
    load_file(write_xlsx(folder / "MM60_2026-11-01.xlsx",
                         [MM60_HEADER, mm60_row("1"), mm60_row("2"), mm60_row("3")]))
    load_file(write_xlsx(folder / "MB52_2026-11-02.xlsx",
                         [MB52_HEADER, mb52_row("1"), mb52_row("2", unrestricted=9)]))
    load_file(write_xlsx(folder / "counts_2026-11-02.xlsx",
                         [COUNT_HEADER, ["2026-11-02", "1", "1000", "0001", "A1", 5, "ANA"]]))
    return wics_home


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_file_is_rejected_whole(case, loaded_warehouse, tmp_path):
    settings = loaded_warehouse
    make, expected = BAD_FILES[case]
    staging = tmp_path / "staging"
    staging.mkdir()
    made = make(staging)
    dropped = settings.drop_dir / made.name
    shutil.move(made, dropped)
    before = table_fingerprint(settings)

    result = load_file(dropped)

    assert result.status == "rejected"
    assert table_fingerprint(settings) == before  # the warehouse is unchanged
    assert not dropped.exists()
    assert result.moved_to == settings.rejected_dir / dropped.name
    assert result.moved_to.exists()
    report = (settings.rejected_dir / f"{dropped.name}.error.txt").read_text()
    assert report.startswith(f"WICS rejected {dropped.name}\n")
    assert "Nothing was loaded" in report
    for text in expected:
        assert text in report
        assert text in result.error
    log = query("SELECT status, error FROM load_log WHERE load_id = ?", [result.load_id],
                path=settings.database).row(0)
    assert log[0] == "rejected" and expected[0] in log[1]


def test_every_bad_row_is_named_not_just_the_first(wics_home, tmp_path):
    path = write_xlsx(tmp_path / "MB52_2026-11-03.xlsx", [
        MB52_HEADER, mb52_row("1"),
        ["2", None, "0001", "X", "EA", None, None, "abc"],
        [None, "1000", "0001", "X", "EA", None, None, 3],
    ])
    result = load_file(path)
    report = (wics_home.rejected_dir / "MB52_2026-11-03.xlsx.error.txt").read_text()
    assert "2 invalid row(s), 3 problem(s)" in report
    assert 'row 3, column "Plnt": plant is missing' in report
    assert 'row 3, column "Unrestricted", value "abc"' in report
    assert 'row 4, column "Material": material number is missing' in report
    assert result.problems.height == 3


def test_rejected_name_is_never_overwritten(wics_home, tmp_path):
    for attempt in range(2):
        bad = write_text(wics_home.drop_dir / "MB52_2026-11-03.XLS", f"garbage {attempt}\n")
        load_file(bad)
    names = sorted(p.name for p in wics_home.rejected_dir.iterdir())
    assert names == ["MB52_2026-11-03.1.XLS", "MB52_2026-11-03.1.XLS.error.txt",
                     "MB52_2026-11-03.XLS", "MB52_2026-11-03.XLS.error.txt"]
