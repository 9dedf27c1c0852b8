"""Text exports read and loaded batch by batch (issue 12): memory follows the batch, and a file
of many batches is read, refused and loaded exactly as a file of one.

``WICS_TEXT_BATCH_BYTES`` is set to a few kilobytes here, so that files of a few hundred lines
span several batches (the first batch always holds the header search's 60 lines and more).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from pipelines.ingest.load import load_file
from pipelines.sap.exports import parse_export
from pipelines.sap.formats import _text_pieces, read_grid, read_text, read_text_batches
from pipelines.sap.numbers import NumberFormat
from pipelines.settings import get_settings
from pipelines.warehouse.db import query
from tests.conftest import table_fingerprint

BATCH = 4_000
HEADER = ("Material\tPlnt\tSLoc\tMaterial Description\tBUn\tBatch\tS\tUnrestricted\tCrcy\t"
          "Value Unrestricted")


def _line(i: int, unrestricted: str = "1.234,500", sloc: str = "0001") -> str:
    return (f"{10000000 + i:018d}\t{1000 if i % 3 else 3000}\t{sloc}\tBOLT M{i % 40} ÄÖÜ\tEA\t\t"
            f"\t{unrestricted}\tEUR\t{i % 97},50")


def _mb52(path: Path, lines: list[str], encoding: str = "cp1252") -> Path:
    """An MB52 tab text as SAP writes it: title, date, page rules, CRLF, cp1252."""
    head = ["Lagerbestand Werke 1000-3000", "02.11.2026", "", HEADER]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\r\n".join(head + lines) + "\r\n").encode(encoding))
    return path


@pytest.fixture
def small_batches(wics_home, monkeypatch):
    monkeypatch.setenv("WICS_TEXT_BATCH_BYTES", str(BATCH))
    monkeypatch.setenv("WICS_STREAM_TEXT_ABOVE_MB", "0")  # every multi-batch MB52 streams
    return get_settings()


def _loaded_stock() -> pl.DataFrame:
    return query("SELECT * EXCLUDE (load_id) FROM sap_stock ORDER BY ALL")


def test_a_file_of_many_batches_reads_as_one(small_batches, tmp_path):
    lines = [_line(i) for i in range(1_000)]
    # The quirks every batch must keep: subtotals, repeated headers, rules, blank lines.
    lines[300:300] = ["*\t1000\t\t\t\t\t\t99,000", HEADER, "-" * 60, ""]
    lines[700] = lines[700].replace("ÄÖÜ", "naïve")  # one UTF-8 pair in a cp1252 file
    path = tmp_path / "MB52_2026-11-02.txt"
    data = ("\r\n".join(["Lagerbestand", "02.11.2026", "", HEADER, *lines]) + "\r\n")
    path.write_bytes(data.replace("naïve", "\0").encode("cp1252").replace(
        b"\0", "naïve".encode()))
    grids = list(read_text_batches(path, small_batches))
    assert len(grids) > 5
    whole = read_text(path.read_bytes(), small_batches.max_field_chars)
    assert read_grid(path, small_batches).cells.equals(whole.cells)
    assert grids[-1].encoding == whole.encoding == "utf-8 with cp1252 bytes"
    assert grids[0].encoding == "cp1252"  # the first batch alone has no UTF-8 in it

    batched = parse_export(path, small_batches)
    assert batched.rows.height == 1_000
    assert batched.skipped == {"subtotal": 1, "repeated_header": 1, "blank": 2}


def test_a_batched_load_writes_what_a_whole_file_load_writes(small_batches, tmp_path,
                                                             monkeypatch):
    lines = [_line(i) for i in range(1_500)]
    batched = load_file(_mb52(tmp_path / "a" / "MB52_2026-11-02.txt", lines))
    assert batched.status == "loaded", batched.error
    assert batched.rows_loaded == 1_500 and batched.summary["encoding"] == "cp1252"
    assert batched.summary["number_format"] == NumberFormat.GERMAN.value
    stock = _loaded_stock()

    monkeypatch.setenv("WICS_TEXT_BATCH_BYTES", str(1 << 30))
    whole = load_file(_mb52(tmp_path / "b" / "MB52_2026-11-02.txt", lines + [_line(1_500)]))
    assert whole.status == "loaded", whole.error
    assert whole.summary["replaced_lines"] == 1_500  # the batched snapshot, replaced whole
    assert _loaded_stock().filter(pl.col("material") != "10001500").equals(stock)
    for key in ("plants", "skipped_rows", "format", "encoding", "header_row"):
        assert batched.summary[key] == whole.summary[key]
    assert batched.summary["materials"] + 1 == whole.summary["materials"]


def test_a_bad_row_in_a_late_batch_refuses_the_file_and_writes_nothing(small_batches,
                                                                       tmp_path):
    first = load_file(_mb52(tmp_path / "MB52_2026-11-01.txt", [_line(i) for i in range(900)]))
    assert first.status == "loaded"
    before = table_fingerprint(small_batches)
    lines = [_line(i) for i in range(900)]
    lines[850] = _line(850, unrestricted="12,5,5")
    path = _mb52(tmp_path / "MB52_2026-11-02.txt", lines)
    assert path.stat().st_size > 8 * BATCH
    result = load_file(path)
    assert result.status == "rejected"
    assert table_fingerprint(small_batches) == before
    assert result.problems.height == 1
    row, column, value, reason = result.problems.row(0)
    assert (row, column, value) == (4 + 851, "Unrestricted", "12,5,5")
    report = Path(f"{result.moved_to}.error.txt").read_text(encoding="utf-8")
    assert f'row {4 + 851}, column "Unrestricted", value "12,5,5"' in report


def test_a_key_repeated_in_two_batches_is_a_duplicate_line(small_batches, tmp_path):
    before = table_fingerprint(small_batches)
    lines = [_line(i) for i in range(900)]
    lines[880] = _line(5)  # the key of file line 4 + 6, eight batches earlier
    result = load_file(_mb52(tmp_path / "MB52_2026-11-02.txt", lines))
    assert result.status == "rejected"
    assert table_fingerprint(small_batches) == before
    assert result.problems.select("row", "reason").rows() == [
        (4 + 881, "duplicate stock line: same material, plant, storage location, batch and "
                  "special stock as row 10")]


def test_a_partial_export_is_refused_against_the_previous_snapshot(small_batches, tmp_path):
    full = load_file(_mb52(tmp_path / "MB52_2026-11-01.txt", [_line(i) for i in range(1_200)]))
    assert full.status == "loaded"
    before = table_fingerprint(small_batches)
    partial = load_file(_mb52(tmp_path / "MB52_2026-11-02.txt", [_line(i) for i in range(400)]))
    assert partial.status == "rejected" and partial.forceable
    assert "suspiciously small export: plant 1000: 266 rows, previous load 800" in \
        partial.error
    assert table_fingerprint(small_batches) == before
    # The same day loaded again in batches: its own earlier rows are the previous snapshot.
    again = load_file(_mb52(tmp_path / "x" / "MB52_2026-11-01.txt",
                            [_line(i, sloc="0002") for i in range(1_200)]))
    assert again.status == "loaded" and again.summary["replaced_lines"] == 1_200
    assert query("SELECT DISTINCT storage_location FROM sap_stock").rows() == [("0002",)]


def test_a_later_batch_outvoting_the_decimal_convention_is_read_again(small_batches,
                                                                      tmp_path):
    # The first batches' numbers are ambiguous ("1,500": a thousand or one and a half);
    # later ones say "English" (1,234.50), so the whole file is English.
    lines = [_line(i, unrestricted="1,500") for i in range(600)]
    lines += [_line(i, unrestricted=f"1,{i:03d}.50") for i in range(600, 900)]
    lines = [line.rsplit("\t", 1)[0] + "\t7.25" for line in lines]
    result = load_file(_mb52(tmp_path / "MB52_2026-11-02.txt", lines))
    assert result.status == "loaded", result.error
    assert result.summary["number_format"] == NumberFormat.ENGLISH.value
    assert query("SELECT min(unrestricted), max(unrestricted) FROM sap_stock").row(0) == (
        1500.0, 1899.5)


def test_an_unreadable_line_in_a_late_batch_is_named_as_a_whole_read_names_it(small_batches,
                                                                             tmp_path):
    header = "Material;Plant;Storage Location;Unrestricted"
    lines = [f"{10000 + i};1000;0001;{i}" for i in range(800)]
    lines[700] = '10700;1000;"0001;5'  # a quote never closed, seven batches in
    path = tmp_path / "MB52_2026-11-02.csv"
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    result = load_file(path)
    assert result.status == "rejected"
    assert result.problems.select("row", "reason").rows() == [
        (702, 'line 702: a quote (") is opened and never closed; the rest of the file would '
              "be read as one field, so nothing was loaded")]
    assert query("SELECT count(*) AS n FROM sap_stock").item() == 0


def test_a_quote_closing_in_the_next_batch_is_refused_as_in_a_whole_read(small_batches,
                                                                        tmp_path):
    header = "Material;Plant;Storage Location;Unrestricted"
    lines = [f"{10000 + i};1000;0001;{i}" for i in range(800)]
    data = ("\n".join([header, *lines]) + "\n").encode()
    path = tmp_path / "MB52_2026-11-02.csv"
    path.write_bytes(data)
    pieces = [len(piece) for piece, _, _ in _text_pieces(path, BATCH, 1 << 20)]
    end = sum(pieces[:3]) - 1  # the line break ending the third batch
    cut = data.rindex(b";", 0, end) + 1  # a quote opens the last field of its last line
    data = data[:cut] + b'"' + data[cut:cut + 40] + b'"' + data[cut + 40:]
    path = tmp_path / "MB52_2026-11-02.csv"
    path.write_bytes(data)
    with pytest.raises(Exception) as batched:
        list(read_text_batches(path, small_batches))
    with pytest.raises(Exception) as reference:
        read_text(data, small_batches.max_field_chars)
    assert str(batched.value) == str(reference.value)
    assert batched.value.row == data.count(b"\n", 0, cut) + 1


def test_a_giant_line_in_a_late_batch_is_refused_with_its_number(small_batches, tmp_path,
                                                                 monkeypatch):
    monkeypatch.setenv("WICS_MAX_FIELD_CHARS", "1000")
    settings = get_settings()
    lines = [_line(i) for i in range(400)]
    lines[300] = "x" * 9_000  # over 4 x 1000 bytes without a line break (and its "\r")
    path = _mb52(tmp_path / "MB52_2026-11-02.txt", lines)
    with pytest.raises(Exception) as batched:
        list(read_text_batches(path, settings))
    assert str(batched.value).startswith("line 305 is 9,001 bytes long without a line break")
    with pytest.raises(Exception) as reference:
        read_text(path.read_bytes(), settings.max_field_chars)
    assert str(batched.value) == str(reference.value)


def test_batches_keep_bytes_that_only_look_like_a_file_start(small_batches, tmp_path):
    """A later batch starting with a UTF-8 byte order mark or "ÿþ" (a UTF-16 mark in cp1252)
    is not a new file: those bytes stay text, as in a whole read."""
    lines = [_line(i) for i in range(600)]
    path = _mb52(tmp_path / "MB52_2026-11-02.txt", lines)
    data = path.read_bytes()
    starts = [i + 1 for i in range(len(data)) if data[i] == 10]
    patched = bytearray(data)
    for start in starts[100::40]:  # the first field of many lines, some at a batch start
        patched[start:start + 2] = "ÿþ".encode("cp1252")
    path.write_bytes(bytes(patched))
    whole = read_text(bytes(patched), small_batches.max_field_chars)
    assert len(list(read_text_batches(path, small_batches))) > 3
    assert read_grid(path, small_batches).cells.equals(whole.cells)


def test_only_an_mb52_over_the_streaming_size_holds_the_warehouse_while_it_reads(
        small_batches, tmp_path, monkeypatch):
    from pipelines.ingest import load as load_module

    streamed = []
    real = load_module._load_stock_stream

    def spy(*args, **kwargs):
        streamed.append(args[2].name)
        return real(*args, **kwargs)

    monkeypatch.setattr(load_module, "_load_stock_stream", spy)
    lines = [_line(i) for i in range(1_500)]
    path = _mb52(tmp_path / "a" / "MB52_2026-11-02.txt", lines)
    size_mb = path.stat().st_size / 2**20
    # Under the threshold: read whole first (several batches all the same), then written.
    monkeypatch.setenv("WICS_STREAM_TEXT_ABOVE_MB", str(size_mb * 2))
    read_first = load_file(path)
    assert read_first.status == "loaded" and read_first.rows_loaded == 1_500
    assert streamed == []
    stock = _loaded_stock()
    # Over it: streamed into the transaction, with the same rows in the end.
    monkeypatch.setenv("WICS_STREAM_TEXT_ABOVE_MB", str(size_mb / 2))
    again = load_file(_mb52(tmp_path / "b" / "MB52_2026-11-02.txt", lines + [_line(1_500)]))
    assert again.status == "loaded" and streamed == ["MB52_2026-11-02.txt"]
    assert _loaded_stock().filter(pl.col("material") != "10001500").equals(stock)


def test_the_same_bytes_streamed_again_are_a_duplicate_that_writes_nothing(small_batches,
                                                                          tmp_path):
    # The hash is computed while the batches are read and written, and asked for before the
    # commit: the second load's batches, already written, are rolled back.
    lines = [_line(i) for i in range(900)]
    first = load_file(_mb52(tmp_path / "a" / "MB52_2026-11-02.txt", lines))
    assert first.status == "loaded" and first.sha256 is not None
    before = table_fingerprint(small_batches)
    again_path = _mb52(tmp_path / "b" / "MB52_stock_2026-11-02.txt", lines)
    again = load_file(again_path)
    assert again.status == "duplicate", again.error
    assert again.summary["duplicate_of_load"] == first.load_id
    assert table_fingerprint(small_batches) == before
    assert again.moved_to is not None and again.moved_to.parent == small_batches.archive_dir
    logged = query("SELECT status, sha256 FROM load_log ORDER BY load_id")
    assert logged.rows() == [("loaded", first.sha256), ("duplicate", first.sha256)]
