"""The fast xlsx head reader (pipelines/sap/xlsx.py) against calamine, cell for cell.

``read_head`` must give exactly the first rows calamine's ``load_sheet(header_row=None,
dtypes="string")`` gives, for every kind of cell it reads; anything else must raise ``NotFast``
so that the caller uses calamine. ``identify`` and ``read_workbook`` must answer exactly as the
calamine-only code did.
"""

from __future__ import annotations

import datetime as dt
import io
import random
import zipfile
from pathlib import Path

import fastexcel
import openpyxl
import polars as pl
import pytest
from openpyxl.utils import get_column_letter
from polars.testing import assert_frame_equal

from pipelines.sap import formats, xlsx
from pipelines.sap.formats import EXPORT_HEADER, HEADER_SEARCH_ROWS, identify, read_workbook
from pipelines.settings import Settings

from conftest import MB52_HEADER, MM60_HEADER, SHARED, mb52_row, mm60_row, write_xlsx

# ------------------------------------------------------------------------------------------
# Oracles: calamine, as the code read workbooks before the fast reader
# ------------------------------------------------------------------------------------------

def _calamine_sheets(path: Path) -> list[pl.DataFrame]:
    reader = fastexcel.read_excel(path)
    frames = []
    for index in range(len(reader.sheet_names)):
        frame = reader.load_sheet(index, header_row=None, dtypes="string").to_polars()
        frames.append(frame.rename({old: f"c{i}" for i, old in enumerate(frame.columns)}))
    return frames


def _trimmed(frame: pl.DataFrame) -> pl.DataFrame:
    """Without all-empty columns at either side and all-empty rows at the end (calamine's
    columns span the whole sheet, a head's only its own rows)."""
    used = [c for c in frame.columns if frame[c].null_count() < frame.height]
    if not used:
        return pl.DataFrame()
    first, last = frame.columns.index(used[0]), frame.columns.index(used[-1])
    frame = frame.select(frame.columns[first : last + 1])
    frame = frame.rename({old: f"c{i}" for i, old in enumerate(frame.columns)})
    filled = frame.select(pl.any_horizontal(pl.all().is_not_null()).alias("x"))["x"]
    last_row = max(i for i, used_row in enumerate(filled.to_list()) if used_row)
    return frame.head(last_row + 1)


def _head(path: Path, index: int = 0) -> tuple[pl.DataFrame, int]:
    with zipfile.ZipFile(path) as archive:
        parts = xlsx.open_parts(archive)
        return xlsx.read_head(parts, parts.sheets[index].member, HEADER_SEARCH_ROWS)


def assert_head_matches_calamine(path: Path, first_row: int | None = None) -> None:
    """Every sheet's head, cell for cell, as calamine's first rows of that sheet."""
    for index, whole in enumerate(_calamine_sheets(path)):
        head, first = _head(path, index)
        expected = _trimmed(whole.head(HEADER_SEARCH_ROWS)) if whole.height else pl.DataFrame()
        if expected.is_empty():
            assert head.is_empty()
            continue
        assert_frame_equal(_trimmed(head), expected)
        if first_row is not None and index == 0:
            assert first == first_row


def _old_read_workbook(path: Path) -> formats.Grid:
    """read_workbook as it was: calamine for every sheet, rows numbered from the first row tag."""
    first_rows = formats._first_rows_of_sheets(path)
    for index, frame in enumerate(_calamine_sheets(path)):
        found = formats._best_header([list(r) for r in frame.head(HEADER_SEARCH_ROWS).rows()])
        if found is None:
            continue
        offset = first_rows[index] if index < len(first_rows) else 1
        cells = frame.with_row_index("_row", offset=offset).with_columns(
            pl.col("_row").cast(pl.Int64))
        return formats.Grid(cells.slice(found[0] + 1), found[1], offset + found[0], "xlsx",
                            sheet=fastexcel.read_excel(path).sheet_names[index])
    raise AssertionError("no header")


def assert_reads_as_before(path: Path, settings: Settings) -> None:
    old = _old_read_workbook(path)
    new = read_workbook(path, "xlsx", settings)
    assert (new.header, new.header_row, new.sheet) == (old.header, old.header_row, old.sheet)
    assert_frame_equal(new.cells, old.cells)
    assert identify(path, settings).kind == old.header.kind


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home")


# ------------------------------------------------------------------------------------------
# Generated workbooks: every kind of cell
# ------------------------------------------------------------------------------------------

NUMBERS = [
    12.0, 12, 0, -0.0, -7, 0.1 + 0.2, 1 / 3, 2 / 3, 1e-7, -1e-12, 3.14159e-05, 1e21, 1e15,
    1e16, 12345678901234567890, 2**53 + 1, 123456789012.5, 12345678.91, 10000000000.1,
    0.0009765625, 0.0029296875, 999999.999999999, 5e-324, 1e-300, 0.000123, 123456.789,
    -42.125, 1.5, 100.0, 29.020000000000003, 4194304.123456789,
]
TEXTS = [
    "plain", "  padded  ", "", "a&b<c>\"d'", "Ø 50MM MESSING", "€ 12", "中文", "line\nbreak",
    "tab\there", "0012", "=not a formula", "100", "1e5", "TRUE", "&amp;", "&#38;", "x > y",
    "emoji 🙂", "trailing ", " leading",
]


def _book_of(rows: list[list[object]], path: Path, *, start_row: int = 1, start_col: int = 1,
             formats_by_col: dict[int, str] | None = None) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if value is None:
                continue
            cell = sheet.cell(row=start_row + r, column=start_col + c, value=value)
            if isinstance(value, str):
                cell.data_type = "s"
            if formats_by_col and c in formats_by_col:
                cell.number_format = formats_by_col[c]
    book.save(path)
    return path


def test_every_number_renders_as_calamine(tmp_path: Path) -> None:
    rows = [[repr(n), n, -n if n else n] for n in NUMBERS]
    path = _book_of(rows, tmp_path / "numbers.xlsx")
    assert_head_matches_calamine(path, first_row=1)


def test_every_text_renders_as_calamine(tmp_path: Path) -> None:
    rows = [[f"t{i}", text, True, False] for i, text in enumerate(TEXTS)]
    path = _book_of(rows, tmp_path / "texts.xlsx")
    assert_head_matches_calamine(path, first_row=1)


@pytest.mark.parametrize("number_format", [
    "dd.mm.yyyy", "yyyy-mm-dd", "yyyy-mm-dd h:mm:ss", "d/m/yy", "mm-dd-yy", "h:mm AM/PM",
    "hh:mm:ss", "0.00", "#,##0.000", "#,##0.00;[Red]-#,##0.00", "0%", "@", "General",
    '0.00 "m"', "0.00E+00", "[$-407]dd. mmmm yyyy", "yyyy\\-mm\\-dd",
])
def test_dates_and_number_formats_render_as_calamine(tmp_path: Path, number_format: str) -> None:
    values = [dt.date(2024, 1, 2), dt.datetime(2024, 1, 2, 3, 4, 5), -42.125, -1, 1e-7, 59.999,
              dt.datetime(2024, 2, 29, 23, 59, 59, 500000), dt.datetime(1900, 3, 1),
              dt.date(1999, 12, 31), dt.time(13, 5), 45293, 45293.75, 0.5, 12.5, 60, 61]
    rows = [[f"v{i}", value] for i, value in enumerate(values)]
    path = _book_of(rows, tmp_path / "dates.xlsx", formats_by_col={1: number_format})
    assert_head_matches_calamine(path)


def test_builtin_date_ids(tmp_path: Path) -> None:
    path = tmp_path / "builtin.xlsx"
    book = openpyxl.Workbook()
    for row, builtin in enumerate([14, 15, 16, 17, 18, 19, 20, 21, 22, 45, 47, 1, 2, 3, 4,
                                   9, 10, 11, 12, 13, 37, 38, 39, 40, 48, 49], start=1):
        cell = book.active.cell(row=row, column=1, value=45293.5)
        cell.number_format = openpyxl.styles.numbers.BUILTIN_FORMATS[builtin]
    book.save(path)
    assert_head_matches_calamine(path)


def test_sparse_rows_leading_empty_rows_and_wide_sheets(tmp_path: Path) -> None:
    rows: list[list[object]] = [[None] * 60 for _ in range(30)]
    for r in range(0, 30, 3):
        for c in range(0, 60, 7):
            rows[r][c] = f"r{r}c{c}" if c % 2 else r * 100 + c
    rows[29][59] = "last"
    path = _book_of(rows, tmp_path / "sparse.xlsx", start_row=5, start_col=3)
    assert_head_matches_calamine(path, first_row=5)
    frame, _ = _head(path)
    assert frame.width == 60  # C .. BJ, past Z


def test_head_stops_at_the_rows_asked_for(tmp_path: Path) -> None:
    rows = [[f"m{i}", i, i / 7] for i in range(5000)]
    path = _book_of(rows, tmp_path / "long.xlsx", start_row=3)
    frame, first = _head(path)
    assert first == 3
    assert frame.height == HEADER_SEARCH_ROWS
    assert frame["c0"].to_list() == [f"m{i}" for i in range(HEADER_SEARCH_ROWS)]
    assert_head_matches_calamine(path, first_row=3)


@pytest.mark.parametrize("seed", range(25))
def test_random_workbooks(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    height, width = rng.randint(1, 90), rng.randint(1, 40)
    pool: list[object] = [*NUMBERS, *TEXTS, True, False, dt.date(2020, 5, 17),
                          dt.datetime(2021, 6, 1, 12, 30)]
    formats_by_col = {c: rng.choice(["dd.mm.yyyy", "0.00", "General"])
                      for c in range(width) if rng.random() < 0.3}
    # Numbers in a date format stay within the years both print alike (others: NotFast).
    dated_pool = [v for v in pool if not isinstance(v, float | int) or -1e5 < v < 2e6]
    rows = [[rng.choice(dated_pool if formats_by_col.get(c) == "dd.mm.yyyy" else pool)
             if rng.random() < 0.6 else None for c in range(width)] for _ in range(height)]
    rows[0][0] = "first"
    start_row, start_col = rng.randint(1, 5), rng.randint(1, 30)
    path = _book_of(rows, tmp_path / f"random{seed}.xlsx", start_row=start_row,
                    start_col=start_col, formats_by_col=formats_by_col)
    assert_head_matches_calamine(path, first_row=start_row)


# ------------------------------------------------------------------------------------------
# Hand-written XML: shared strings, inline forms, fallbacks
# ------------------------------------------------------------------------------------------

def _with_sheet_xml(base: Path, path: Path, sheet_data: str, shared: str | None = None,
                    workbook_attrs: str = "") -> Path:
    """``base`` with its first sheet's rows replaced (and a shared strings part added)."""
    source = zipfile.ZipFile(base)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for name in source.namelist():
            data = source.read(name)
            if name == "xl/worksheets/sheet1.xml":
                start, end = data.find(b"<sheetData"), data.find(b"</sheetData>")
                if end < 0:
                    end = data.find(b"/>", start) + 2
                    data = data[:start] + b"<sheetData>" + sheet_data.encode() \
                        + b"</sheetData>" + data[end:]
                else:
                    data = data[:start] + b"<sheetData>" + sheet_data.encode() + data[end:]
            elif name == "xl/workbook.xml" and workbook_attrs:
                data = data.replace(b"<workbookPr", b"<workbookPr " + workbook_attrs.encode())
            elif name == "xl/_rels/workbook.xml.rels" and shared is not None:
                data = data.replace(b"</Relationships>", (
                    b'<Relationship Id="rIdSST" Type="http://schemas.openxmlformats.org/'
                    b'officeDocument/2006/relationships/sharedStrings" '
                    b'Target="sharedStrings.xml"/></Relationships>'))
            elif name == "[Content_Types].xml" and shared is not None:
                data = data.replace(b"</Types>", (
                    b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
                    b'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
                    b"</Types>"))
            target.writestr(name, data)
        if shared is not None:
            target.writestr("xl/sharedStrings.xml", (
                '<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.'
                f'openxmlformats.org/spreadsheetml/2006/main">{shared}</sst>'))
    path.write_bytes(out.getvalue())
    return path


@pytest.fixture
def base(tmp_path: Path) -> Path:
    book = openpyxl.Workbook()
    book.active["A1"] = 1
    cell = book.active["B1"]
    cell.value = 45293
    cell.number_format = "dd.mm.yyyy"
    path = tmp_path / "base.xlsx"
    book.save(path)
    return path


SHARED_STRINGS = (
    "<si><t>Material</t></si>"
    "<si><t>  trimmed  </t></si>"
    '<si><t xml:space="preserve">  kept  </t></si>'
    "<si><t></t></si>"
    "<si><t/></si>"
    '<si><r><t>rich</t></r><r><rPr><b/></rPr><t xml:space="preserve"> text</t></r>'
    "<rPh sb=\"0\" eb=\"1\"><t>phonetic</t></rPh></si>"
    "<si><t>&amp;&lt;&#216;&#x20AC;</t></si>"
    "<si><t>line\nbreak</t></si>"
)


def test_shared_strings_as_calamine(tmp_path: Path, base: Path) -> None:
    rows = "".join(
        f'<row r="{i + 2}"><c r="A{i + 2}" t="s"><v>{i}</v></c>'
        f'<c r="C{i + 2}" s="1"><v>4529{i}</v></c><c r="D{i + 2}" t="b"><v>{i % 2}</v></c></row>'
        for i in range(8))
    path = _with_sheet_xml(base, tmp_path / "sst.xlsx", rows, SHARED_STRINGS)
    assert_head_matches_calamine(path, first_row=2)
    head, _ = _head(path)
    assert head["c0"].to_list() == ["Material", "trimmed", "  kept  ", "", "", "rich text",
                                    "&<Ø€", "line\nbreak"]


def test_inline_forms_and_empty_cells_as_calamine(tmp_path: Path, base: Path) -> None:
    rows = (
        '<row r="3" spans="1:5"><c r="A3" s="1"/><c r="B3" t="n"></c><c r="C3"><v></v></c></row>'
        '<row r="4"><c r="B4" t="inlineStr"><is><t>  inline  </t></is></c>'
        '<c r="C4" t="inlineStr"><is><t xml:space="preserve">  kept  </t></is></c>'
        '<c r="D4" t="inlineStr"><is><t></t></is></c><c r="E4" t="inlineStr"></c>'
        '<c r="F4" t="str"><v>formula text</v></c></row>'
        '<row r="7"><c r="AA7"><v>1.50</v></c><c r="AB7"><v>-0</v></c><c r="AC7"><v>1E-3</v></c>'
        '<c r="AD7"><v>.5</v></c><c r="AE7" t="inlineStr"><is><t>a&gt;b &quot;q&quot; '
        "&#65;&#x42;</t></is></c></row>"
    )
    path = _with_sheet_xml(base, tmp_path / "inline.xlsx", rows)
    assert_head_matches_calamine(path, first_row=4)


@pytest.mark.parametrize("rows", [
    '<row r="1"><c r="A1"><f>1+1</f><v>2</v></c></row>',  # a formula
    '<row r="1"><c r="A1" t="e"><v>#N/A</v></c><c r="B1"><v>1</v></c></row>',  # an error
    '<row r="1"><c t="inlineStr"><is><t>no ref</t></is></c></row>',  # a cell without r
    '<row r="1"><c r="A1" t="d"><v>2024-01-02T00:00:00</v></c></row>',  # an ISO date cell
    '<row r="1"><c r="A1" t="inlineStr"><is><t>x_x000D_y</t></is></c></row>',  # _xHHHH_
    '<row r="1"><c r="A1" t="inlineStr"><is><r><t>ri</t></r><r><t>ch</t></r></is></c></row>',
    '<row r="1"><c r="A1" t="inlineStr"><is><t>a\r\nb</t></is></c></row>',  # carriage return
    '<row r="1"><c r="A1" cm="1"><v>1</v></c></row>',  # an attribute it does not know
    "<row r='1'><c r='A1'><v>1</v></c></row>",  # single quotes
    '<row r="1"><c r="A1"><v>1</v></c><c r="A1"><v>2</v></c></row>',  # a cell twice
    '<row r="1"><c r="A1" t="s"><v>99</v></c></row>',  # a shared string that is not there
    '<row r="1"><c r="A1"><v>INF</v></c></row>',  # not a number
])
def test_what_the_fast_path_does_not_read_falls_back(tmp_path: Path, base: Path,
                                                    rows: str) -> None:
    path = _with_sheet_xml(base, tmp_path / "odd.xlsx", rows, "<si><t>x</t></si>")
    with pytest.raises(xlsx.NotFast):
        _head(path)


def test_1904_dates_and_durations_fall_back(tmp_path: Path, base: Path) -> None:
    path = _with_sheet_xml(base, tmp_path / "1904.xlsx",
                           '<row r="1"><c r="B1" s="1"><v>45293</v></c></row>',
                           workbook_attrs='date1904="1"')
    with pytest.raises(xlsx.NotFast):
        _head(path)
    book = openpyxl.Workbook()
    book.active["A1"] = dt.timedelta(hours=30)
    book.active["A1"].number_format = "[h]:mm:ss"
    book.save(tmp_path / "duration.xlsx")
    with pytest.raises(xlsx.NotFast):
        _head(tmp_path / "duration.xlsx")


def test_a_sheet_calamine_must_read_is_still_read(tmp_path: Path, settings: Settings,
                                                  base: Path) -> None:
    """A formula cell in an export: the fast head reader steps aside, calamine reads it all."""
    header = "".join(f'<c r="{get_column_letter(i + 1)}1" t="inlineStr"><is><t>{label}</t></is>'
                     "</c>" for i, label in enumerate(MB52_HEADER))
    body = "".join(
        f'<row r="{r}"><c r="A{r}" t="inlineStr"><is><t>M{r}</t></is></c>'
        f'<c r="B{r}" t="inlineStr"><is><t>1000</t></is></c>'
        f'<c r="E{r}"><f>1+{r}</f><v>{1 + r}</v></c></row>' for r in range(2, 6))
    path = _with_sheet_xml(base, tmp_path / "MB52_formula.xlsx", f'<row r="1">{header}</row>'
                           + body)
    with pytest.raises(xlsx.NotFast):
        _head(path)
    assert_reads_as_before(path, settings)


# ------------------------------------------------------------------------------------------
# Whole reads: read_workbook and identify answer as before
# ------------------------------------------------------------------------------------------

def test_exports_read_as_before(tmp_path: Path, settings: Settings) -> None:
    materials = [str(n) for n in range(1, 301)]
    for path in (
        write_xlsx(tmp_path / "MB52.xlsx", [MB52_HEADER, *[mb52_row(m) for m in materials]]),
        write_xlsx(tmp_path / "MM60.xlsx", [MM60_HEADER, *[mm60_row(m) for m in materials]]),
        write_xlsx(tmp_path / "titled.xlsx", [["Stock list"], [], [], MB52_HEADER,
                                              *[mb52_row(m) for m in materials]]),
    ):
        assert_head_matches_calamine(path)
        assert_reads_as_before(path, settings)


def test_the_header_on_a_later_sheet(tmp_path: Path, settings: Settings) -> None:
    book = openpyxl.Workbook()
    book.active.title = "Notes"
    book.active["A1"] = "read me"
    data = book.create_sheet("Stock")
    for row in [MB52_HEADER, *[mb52_row(str(m)) for m in range(1, 50)]]:
        data.append(row)
    path = tmp_path / "two_sheets.xlsx"
    book.save(path)
    assert_reads_as_before(path, settings)
    assert read_workbook(path, "xlsx", settings).sheet == "Stock"


def test_rows_are_numbered_from_the_first_used_row(tmp_path: Path, settings: Settings,
                                                   base: Path) -> None:
    """A first row that holds only formatting is not the range's first row: calamine starts
    at row 3 here, and so do the row numbers (the first row tag said 2)."""
    header = "".join(f'<c r="{get_column_letter(i + 1)}3" t="inlineStr"><is><t>{label}</t></is>'
                     "</c>" for i, label in enumerate(MB52_HEADER))
    row = "".join(f'<c r="{get_column_letter(i + 1)}4" t="inlineStr"><is><t>{value}</t></is>'
                  "</c>" for i, value in enumerate(mb52_row("1")))
    path = _with_sheet_xml(base, tmp_path / "styled_first_row.xlsx",
                           f'<row r="2"><c r="A2" s="1"/></row><row r="3">{header}</row>'
                           f'<row r="4">{row}</row>')
    grid = read_workbook(path, "xlsx", settings)
    assert grid.header_row == 3
    assert grid.cells["_row"].to_list() == [4]
    assert formats._first_rows_of_sheets(path) == [2]  # what the numbering used to start from


def test_demo_exports(tmp_path: Path, settings: Settings) -> None:
    from pipelines.demo.files import write_demo_exports

    for path in write_demo_exports(tmp_path, materials=300, stock_rows=900, count_rows=40):
        if path.suffix == ".xlsx":
            assert_head_matches_calamine(path, first_row=1)
            assert_reads_as_before(path, settings)


def test_demo_with_title_rows_and_plain_numbers(tmp_path: Path, settings: Settings) -> None:
    from pipelines.demo.files import write_xlsx as demo_xlsx
    from pipelines.demo.generate import generate_master, generate_stock

    master = generate_master(200, seed=3)
    stock = generate_stock(master, 500, seed=4)
    for frame, name, number_formats in ((master, "MM60_t.xlsx", False),
                                        (stock, "MB52_t.xlsx", True)):
        path = demo_xlsx(frame, tmp_path / name, title_rows=["Title", "03.11.2026"],
                         number_formats=number_formats)
        assert_head_matches_calamine(path, first_row=1)
        assert_reads_as_before(path, settings)


def test_hostile_corpus_workbooks(tmp_path: Path, settings: Settings, wics_home) -> None:
    # wics_home: the corpus's upload writers put their files into WICS_HOME's drop folder,
    # which must be this test's, not the checkout's data/drop.
    from test_hostile_corpus import HOSTILE

    seen = 0
    for name, (writer, _) in HOSTILE.items():
        staging = tmp_path / name
        staging.mkdir()
        try:
            path = writer(staging)
        except Exception:  # a writer that cannot run outside its own test
            continue
        if not path.exists() or path.read_bytes()[:4] != b"PK\x03\x04":
            continue
        seen += 1
        try:
            formats.check_zip(path, settings)
        except formats.UnreadableFile:
            with pytest.raises(formats.UnreadableFile):
                read_workbook(path, "xlsx", settings)
            continue
        try:
            _old_read_workbook(path)
        except (AssertionError, Exception):
            continue  # no header or not a workbook: refused the same way below
        assert_reads_as_before(path, settings)
    assert seen >= 5


def _shared_workbooks() -> list[Path]:
    folders = [SHARED / "real", SHARED / "samples"]
    return sorted(p for f in folders if f.is_dir() for p in f.iterdir()
                  if p.suffix.lower() == ".xlsx")


@pytest.mark.skipif(not _shared_workbooks(), reason="no ../shared workbooks beside the clone")
@pytest.mark.parametrize("path", _shared_workbooks(), ids=lambda p: p.name)
def test_shared_workbooks(path: Path, settings: Settings) -> None:
    try:
        _head(path)
    except xlsx.NotFast:
        pass  # calamine reads it; the whole read below still has to agree
    else:
        assert_head_matches_calamine(path)
    assert_reads_as_before(path, settings)


def test_bombs_are_refused_before_any_reading(tmp_path: Path, settings: Settings) -> None:
    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"<a>" + b" " * (64 * 1024 * 1024) + b"</a>")
    for read in (lambda: read_workbook(path, "xlsx", settings), lambda: identify(path, settings)):
        with pytest.raises(formats.UnreadableFile, match="compressed"):
            read()


def test_header_rule_of_the_fast_path_is_the_readers(tmp_path: Path, settings: Settings) -> None:
    """No sheet with a header: the refusal names the sheets, as calamine's reading did."""
    path = write_xlsx(tmp_path / "nothing.xlsx", [["just", "words"], ["and", "more"]],
                      sheet="Data")
    with pytest.raises(formats.UnreadableFile, match="in sheets Data"):
        read_workbook(path, "xlsx", settings, EXPORT_HEADER)


def test_a_giant_first_row_is_left_to_calamine(tmp_path: Path, base: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A row longer than the head reader's buffer (64 pieces) is not buffered further."""
    monkeypatch.setattr(xlsx, "HEAD_BYTES", 1024)
    text = "".join(random.Random(1).choice("abcdefgh") for _ in range(100_000))
    path = _with_sheet_xml(base, tmp_path / "giant.xlsx",
                           f'<row r="1"><c r="A1" t="inlineStr"><is><t>{text}</t></is></c></row>')
    with pytest.raises(xlsx.NotFast, match="16 MiB"):
        _head(path)


def test_a_shared_strings_export_reads_as_before(tmp_path: Path, settings: Settings,
                                                 base: Path) -> None:
    """Excel's and SAP's files keep their texts in the shared strings table."""
    texts = [*MB52_HEADER, *[v for m in range(1, 40) for v in mb52_row(str(m))]]
    unique = list(dict.fromkeys(str(t) for t in texts))
    index = {text: i for i, text in enumerate(unique)}
    shared = "".join(f'<si><t xml:space="preserve">{t}</t></si>' for t in unique)
    rows = []
    for r, values in enumerate([MB52_HEADER, *[mb52_row(str(m)) for m in range(1, 40)]], 1):
        cells = "".join(f'<c r="{get_column_letter(c + 1)}{r}" t="s"><v>{index[str(v)]}</v></c>'
                        for c, v in enumerate(values))
        rows.append(f'<row r="{r}">{cells}</row>')
    path = _with_sheet_xml(base, tmp_path / "MB52_sst.xlsx", "".join(rows), shared)
    assert_head_matches_calamine(path, first_row=1)
    assert_reads_as_before(path, settings)
