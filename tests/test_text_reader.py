"""The text readers split lines with polars (issue 12): the same cells as Python's own splitting.

Each test states, with Python's ``str.split``/``csv`` module as the reference, what a text
export's lines must become, on the quirks the vectorised path handles itself (quotes, empty
fields, inch marks, last empty line, old Mac line ends, cp1252 bytes) and on the history-aware
size gate that keeps a daily MB52 load's cost flat in the snapshots kept.
"""

from __future__ import annotations

import codecs
import csv
import io
from datetime import date, timedelta

import polars as pl
import pytest

from pipelines.ingest import gates
from pipelines.ingest.stock_snapshot import COLUMNS, duplicate_stock_lines
from pipelines.sap.formats import UnreadableFile, decode_text, read_text
from pipelines.settings import Settings
from pipelines.warehouse.db import warehouse

MB52_HEADER = "Material{0}Plant{0}Storage Location{0}Unrestricted{0}Description"


def _cells(data: bytes, limit: int = 131_072) -> list[tuple]:
    grid = read_text(data, limit)
    columns = sorted((c for c in grid.cells.columns if c != "_row"), key=lambda c: int(c[1:]))
    return [tuple(row) for row in grid.cells.select("_row", *columns).iter_rows()]


def _expected(lines: list[list[str] | None], first: int, width: int) -> list[tuple]:
    return [(first + i, *[(r[j] if r is not None and j < len(r) else None)
                          for j in range(width)]) for i, r in enumerate(lines)]


@pytest.mark.parametrize("separator", [",", ";"])
def test_quoted_lines_split_as_the_csv_module_splits_them(separator):
    body = [
        '10000{s}1000{s}"0001"{s}"1{s}5"{s}"BOLT ""M8"""',
        '12" PIPE{s}1000{s}{s}5{s}a"b',
        '{s}{s}{s}',
        '',
        '"q"{s}1100{s}"{s}"{s}""{s}x',
        '10001{s}1000',
    ]
    lines = [line.format(s=separator) for line in body]
    data = ("Title\r\n" + MB52_HEADER.format(separator) + "\r\n" + "\r\n".join(lines)
            + "\r\n\r\n").encode()
    reference = [next(csv.reader([line], delimiter=separator, strict=True)) if line else None
                 for line in lines]
    width = max(len(r) for r in reference if r)
    assert _cells(data) == _expected(reference, 3, width)
    # The last empty line ends the file (the csv module reads no row there): 6 rows, not 7.


def test_tab_and_pipe_lines_split_on_their_separator_only():
    rows = ["10000\t1000\t\t12\"\tPIPE", "", "*\t1000", "a\"b\t\"q\""]
    data = ("MB52\n" + MB52_HEADER.format("\t") + "\n" + "\n".join(rows)).encode()
    assert _cells(data) == _expected([r.split("\t") for r in rows], 3, 5)

    pipe = ["Page 1", "-" * 30, "| 10000 | 1000 | 0001 |  5 | BOLT |", "  |1|2|  ", "|x"]
    data = ("|Material|Plant|Storage Location|Unrestricted|Description|\n"
            + "\n".join(pipe)).encode()
    reference = [s.strip()[1:].removesuffix("|").split("|") if s.strip().startswith("|")
                 else None for s in pipe]
    assert _cells(data) == _expected(reference, 2, 5)


def test_old_mac_line_ends_and_form_feeds_cut_lines_as_python_does():
    text = "Title\r" + MB52_HEADER.format("\t") + "\r10000\t1000\x0c10001\t1100\r"
    assert _cells(text.encode()) == _expected(
        [["10000", "1000"], ["10001", "1100"]], 3, 2)


def test_cp1252_by_table_is_the_per_byte_fallback():
    every_byte = bytes(range(0x80, 0x100))
    text, encoding = decode_text(b"Gr" + every_byte)
    assert encoding == "cp1252"
    assert text == "Gr" + (b"Gr" + every_byte).decode("utf-8", errors="wics_cp1252")[2:]
    # A file mixing UTF-8 and cp1252 bytes keeps both, as before.
    mixed = "Größe".encode() + "Größe".encode("cp1252")
    assert decode_text(mixed) == ("GrößeGröße", "utf-8 with cp1252 bytes")
    data = (MB52_HEADER.format("\t") + "\r\n10000\t1000\t\t1\tGr\xf6\xdfe\r\n").encode("latin-1")
    assert _cells(data)[0][-1] == "Größe"
    utf16 = codecs.BOM_UTF16_LE + (MB52_HEADER.format("\t") + "\r\n1\t2\r\n").encode("utf-16-le")
    assert read_text(utf16).encoding == "utf-16"


def test_strict_refusals_stay_with_their_line():
    header = MB52_HEADER.format(";")
    with pytest.raises(UnreadableFile) as opened:
        read_text(f'{header}\n1;1000\n"12 INCH PIPE;5\n2;1000\n'.encode())
    assert opened.value.row == 3
    with pytest.raises(UnreadableFile, match="over the size limit") as big:
        read_text(f"{header}\n1;1000\n2;1000;;{'x' * 300}\n".encode(), max_field_chars=200)
    assert big.value.row == 3
    with pytest.raises(UnreadableFile, match="without a line break") as long_line:
        read_text(f"{header}\n1;1000\n{'y' * 900}\n".encode(), max_field_chars=200)
    assert long_line.value.row == 3


def test_a_file_without_duplicate_keys_has_no_duplicate_problems():
    rows = pl.DataFrame({"_row": [2, 3, 4], "material": ["1", "1", "2"],
                         "plant": ["1000", "1000", "1000"], "storage_location": ["A", "B", "A"],
                         "batch": [None, None, None], "special_stock": [None, None, None]})
    assert duplicate_stock_lines(rows).is_empty()
    twice = pl.concat([rows, rows.head(1).with_columns(_row=pl.lit(5, dtype=pl.Int64))])
    found = duplicate_stock_lines(twice)
    assert found["row"].to_list() == [5] and "as row 2" in found["reason"][0]


def _stock(con, day: date, plant: str, lines: int) -> None:
    frame = pl.DataFrame({"material": [str(i) for i in range(lines)]}).with_columns(
        plant=pl.lit(plant), **{c: pl.lit(None, dtype=pl.String) for c in COLUMNS
                                if c not in ("material", "plant")})
    frame = frame.with_columns(**{c: pl.lit(0.0) for c in (
        "unrestricted", "quality_inspection", "restricted", "blocked", "returns", "in_transit")})
    con.register("frame", frame.select(COLUMNS))
    con.execute(f"INSERT INTO sap_stock (snapshot_date, {', '.join(COLUMNS)}, load_id) "
                f"SELECT ?, {', '.join(COLUMNS)}, 0 FROM frame", [day])
    con.unregister("frame")


def test_size_gate_compares_each_plant_with_its_own_latest_snapshot(wics_home: Settings):
    day = date(2026, 11, 2)
    with warehouse(wics_home.database) as con:
        for back in range(5, 0, -1):  # history: both plants, daily
            _stock(con, day - timedelta(days=back), "1000", 100)
            _stock(con, day - timedelta(days=back), "2000", 100)
        _stock(con, day, "1000", 100)  # the newest snapshot lacks plant 2000
        rows = pl.DataFrame({"plant": ["1000"] * 100 + ["2000"] * 10})
        problems = gates.stock_size_gate(con, rows, wics_home)
        # Plant 2000 is compared with its own latest snapshot (100 lines), not left out.
        assert problems.height == 1 and "plant 2000: 10 rows, previous load 100" in (
            problems["reason"][0])
        rows = pl.DataFrame({"plant": ["1000"] * 10})
        assert "plant 1000: 10 rows" in gates.stock_size_gate(con, rows, wics_home)["reason"][0]
        assert gates.stock_size_gate(con, pl.DataFrame({"plant": ["9"]}), wics_home).is_empty()


def test_read_text_keeps_text_as_text():
    data = io.BytesIO()
    data.write((MB52_HEADER.format(",") + "\n007,1000,,1.500,\"=SUM(A1)\"\n").encode())
    assert _cells(data.getvalue())[0] == (2, "007", "1000", "", "1.500", "=SUM(A1)")
