"""The demo-data generator: deterministic, realistic frames and every export format it writes."""

from __future__ import annotations

import csv
import io
import math
import zipfile
from datetime import date, datetime
from pathlib import Path

import fastexcel
import polars as pl
import pytest

from pipelines.demo import files, generate
from pipelines.sap.headers import PHYSICAL_STOCK, field_for_label

COUNT_DAY = date(2026, 11, 3)


@pytest.fixture(scope="module")
def master() -> pl.DataFrame:
    return generate.generate_master(1200, seed=3)


@pytest.fixture(scope="module")
def stock(master: pl.DataFrame) -> pl.DataFrame:
    return generate.generate_stock(master, 3000, seed=4)


def _alpha(material: str) -> str:
    """ALPHA conversion as DESIGN.md describes it: an all-digit number loses leading zeros."""
    text = material.strip().upper()
    return text.lstrip("0") or "0" if text.isdigit() else text


def _quantity(text: str) -> float:
    """Value of a typed count such as ``24*10+3`` (a tiny parser: sums of products)."""
    return sum(math.prod(float(f) for f in term.split("*")) for term in text.split("+"))


def _lines(path: Path, encoding: str) -> list[str]:
    raw = path.read_bytes().decode(encoding)
    assert raw.endswith("\r\n") and raw.count("\n") == raw.count("\r\n")  # CRLF only
    return raw.split("\r\n")[:-1]


# ------------------------------------------------------------------------------- labels

def test_every_label_maps_back_to_its_field() -> None:
    for style, labels in files.LABELS.items():
        for field, label in labels.items():
            assert field_for_label(label) == field, (style, field, label)
    assert set(files.LABELS["long"]) >= set(files.LABELS["short"]) | set(files.LABELS["german"])


def test_header_labels_fall_back_to_long_and_name_created_columns() -> None:
    columns = ["material", "count_date", "quantity", "created_on", "created_by", "odd_extra"]
    assert files.header_labels(columns, "short") == [
        "Material", "Count Date", "Counted Qty", "Created On", "Created By", "Odd Extra"]
    assert files.header_labels(["plant", "quantity"], "german") == ["Werk", "Zählmenge"]
    with pytest.raises(ValueError):
        files.header_labels(["material"], "klingon")


# ------------------------------------------------------------------------------- master

def test_master_is_deterministic_per_seed(master: pl.DataFrame) -> None:
    assert master.equals(generate.generate_master(1200, seed=3))
    assert not master.equals(generate.generate_master(1200, seed=4))


def test_master_looks_like_mm60(master: pl.DataFrame) -> None:
    assert master.height == 1200
    assert master.columns == list(generate.MASTER_SCHEMA)
    numeric = master.filter(pl.col("material").str.contains(r"^\d+$"))
    assert (numeric["material"].str.len_chars() == 18).all()
    assert numeric["material"].str.starts_with("0000000000").all()
    alpha_share = 1 - numeric.height / master.height
    assert 0.01 < alpha_share < 0.12
    currency = dict(master.select("plant", "currency").unique().iter_rows())
    assert currency == {"1000": "EUR", "1100": "EUR", "1200": "EUR", "3000": "GBP"}
    assert (master["price"] >= 0).all() and (master["price"] == master["price"].round(2)).all()
    assert set(master["price_unit"].unique()) <= {1, 10, 100, 1000}
    assert (master["price_unit"] == 1).mean() > 0.6
    assert set(master["material_type"].unique()) <= {"ROH", "HALB", "FERT", "HAWA", "ERSA", "VERP"}
    assert set(master["base_uom"].unique()) <= {"EA", "PC", "KG", "M", "BOX", "L"}
    abc = master["abc_indicator"].fill_null("").value_counts(normalize=True)
    share = dict(abc.iter_rows())
    assert 0.5 < share["C"] < 0.8 and 0.03 < share["A"] < 0.2 and share[""] < 0.12
    assert (master["description"].str.len_chars() <= 40).all()
    assert master["description"].str.contains(r"M\d+X\d+").any()  # fastener sizes
    # A material's master data is the same in every plant.
    per_material = master.group_by("material").agg(pl.col("description").n_unique())
    assert (per_material["description"] == 1).all()


def test_master_keys_unique_apart_from_valuation_rows(master: pl.DataFrame) -> None:
    headers = master.filter(pl.col("valuation_type").is_null())
    valuated = master.filter(pl.col("valuation_type").is_not_null())
    assert not headers.select("material", "plant").is_duplicated().any()
    assert not master.select("material", "plant", "valuation_type").is_duplicated().any()
    assert valuated.height > 0
    assert set(valuated["valuation_type"].unique()) <= {"NEW", "USED", "REPAIRED"}
    # Every valuated key also has its header row, and keys are a little fewer than rows.
    assert valuated.join(headers, on=["material", "plant"], how="anti").height == 0
    keys = master.select("material", "plant").n_unique()
    assert keys == headers.height and keys < master.height
    assert generate.generate_master(10).height == 10


def test_master_accepts_other_plants() -> None:
    frame = generate.generate_master(300, seed=1, plants=("2000", "3000"))
    assert set(frame["plant"].unique()) == {"2000", "3000"}
    assert dict(frame.select("plant", "currency").unique().iter_rows()) == {
        "2000": "USD", "3000": "GBP"}


# ------------------------------------------------------------------------------- churn

def _key_set(frame: pl.DataFrame) -> set[tuple[str, str]]:
    return set(frame.select("material", "plant").iter_rows())


def test_churn_shares_roughly_as_asked() -> None:
    before = generate.generate_master(4000, seed=5)
    after = generate.churn_master(before, seed=6)
    assert after.equals(generate.churn_master(before, seed=6))
    old, new = _key_set(before), _key_set(after)
    n = len(old)
    assert abs(len(new - old) / n - 0.02) < 0.006
    assert abs(len(old - new) / n - 0.01) < 0.004
    fields = ["description", "price", "abc_indicator", "material_group"]
    head_before = before.filter(pl.col("valuation_type").is_null())
    head_after = after.filter(pl.col("valuation_type").is_null())
    both = head_before.join(head_after, on=["material", "plant"], suffix="_new")
    differs = pl.any_horizontal([
        pl.col(f).ne_missing(pl.col(f"{f}_new")) for f in fields])
    changed = both.filter(differs)
    assert abs(changed.height / n - 0.05) < 0.01
    latest = before["last_change"].max()
    assert (changed["last_change_new"] > latest).all()
    assert not after.filter(pl.col("valuation_type").is_null()).select(
        "material", "plant").is_duplicated().any()
    # Other shares are honoured too.
    more = generate.churn_master(before, seed=6, added=0.1, removed=0.0, changed=0.0)
    grown = _key_set(more)
    assert old <= grown and abs(len(grown - old) / n - 0.1) < 0.02


# ------------------------------------------------------------------------------- stock

def test_stock_lines_unique_and_from_master(master: pl.DataFrame, stock: pl.DataFrame) -> None:
    assert stock.height == 3000 and stock.columns == list(generate.STOCK_SCHEMA)
    assert stock.equals(generate.generate_stock(master, 3000, seed=4))
    assert not stock.select(generate.STOCK_KEY).is_duplicated().any()
    assert stock.join(master, on=["material", "plant"], how="anti").height == 0
    sloc = stock["storage_location"]
    assert (sloc.str.len_chars() == 4).all() and {"0001", "FG01", "RM01"} <= set(sloc)
    assert 0.5 < stock["batch"].null_count() / stock.height < 0.95
    assert 0.85 < stock["special_stock"].null_count() / stock.height < 0.99
    assert set(stock["special_stock"].drop_nulls()) <= {"E", "K", "Q"}
    assert (stock["unrestricted"] < 0).mean() < 0.01
    assert (stock["in_transit"] == 0).mean() > 0.9
    pieces = stock.filter(pl.col("base_uom").is_in(["EA", "PC", "BOX"]))["unrestricted"]
    assert (pieces == pieces.round(0)).all()
    kilos = stock.filter(pl.col("base_uom") == "KG")["unrestricted"]
    assert (kilos != kilos.round(0)).any() and (kilos == kilos.round(3)).all()
    priced = stock.join(
        master.filter(pl.col("valuation_type").is_null()).select(
            "material", "plant", "price", "price_unit"), on=["material", "plant"])
    expected = (priced["unrestricted"] * priced["price"] / priced["price_unit"]).round(2)
    assert ((priced["value_unrestricted"] - expected).abs() < 0.011).all()


def test_stock_unknown_share_and_many_lines_per_key(master: pl.DataFrame) -> None:
    lines = generate.generate_stock(master, 2000, seed=2, unknown_share=0.02)
    unknown = lines.join(master, on="material", how="anti")
    assert unknown.height == 40
    # Far more lines than keys: batches keep the line key unique.
    crowded = generate.generate_stock(master.head(20), 1500, seed=2)
    assert crowded.height == 1500
    assert not crowded.select(generate.STOCK_KEY).is_duplicated().any()


# ------------------------------------------------------------------------------- counts

def test_counts_reference_stock(stock: pl.DataFrame) -> None:
    counts = generate.generate_counts(stock, COUNT_DAY, 150, seed=11)
    assert counts.height == 150 and counts.columns == list(generate.COUNT_SCHEMA)
    assert counts.equals(generate.generate_counts(stock, COUNT_DAY, 150, seed=11))
    assert (counts["count_date"] == COUNT_DAY).all()
    assert set(counts["counter"]) <= {"ANA", "BEN", "CHRIS", "DANA"}
    assert counts["notes"].null_count() > counts.height / 2
    typed = counts["material"]
    digits = typed.filter(typed.str.contains(r"^\d+$"))
    assert digits.str.starts_with("0").mean() < 0.4
    assert not digits.str.starts_with("0").all()
    counted = counts.with_columns(
        material=pl.col("material").map_elements(_alpha, return_dtype=pl.String),
        qty=pl.col("quantity").map_elements(_quantity, return_dtype=pl.Float64),
    ).group_by("material", "plant", "storage_location").agg(pl.col("qty").sum())
    physical = stock.with_columns(
        material=pl.col("material").map_elements(_alpha, return_dtype=pl.String),
        qty=pl.sum_horizontal(*PHYSICAL_STOCK).clip(lower_bound=0),
    ).group_by("material", "plant", "storage_location").agg(pl.col("qty").sum())
    joined = counted.join(physical, on=["material", "plant", "storage_location"], how="left",
                          suffix="_sap")
    assert joined["qty_sap"].null_count() == 0  # every counted location exists in the stock
    exact = ((joined["qty"] - joined["qty_sap"]).abs() < 1e-6).mean()
    assert 0.6 < exact < 0.97
    expressions = counts.filter(pl.col("quantity").str.contains(r"\*"))
    assert 1 <= expressions.height <= counts.height * 0.1  # a few, not many
    assert expressions["quantity"].str.contains(r"^\d+\*\d+(\+\d+)?$").all()


# ------------------------------------------------------------------------------- writers

@pytest.fixture
def sample_stock() -> pl.DataFrame:
    """A few hand-made lines with the numbers formatting has to get right."""
    frame = pl.DataFrame({
        "material": ["000000000010000001", "000000000010000001", "BRKT-4471-A", "M8 WASHER/ZN"],
        "plant": ["1000", "1000", "1100", "3000"],
        "storage_location": ["0001", "FG01", "RM01", "0002"],
        "description": ["MUTTER M4X25 ISO7089 8.8 ZN", "MUTTER M4X25 ISO7089 8.8 ZN",
                        "GUSS GEHÄUSE 314X481, WHITE", "VALVE Ø12MM <SS> & CO"],
        "base_uom": ["EA", "EA", "KG", "PC"],
        "batch": [None, "B2026-0113", None, None],
        "special_stock": [None, None, "E", None],
        "unrestricted": [1234.5, 77.0, -12.0, 2_800_000.0],
        "currency": ["EUR", "EUR", "EUR", "GBP"],
        "value_unrestricted": [3208.59, 0.0, -5.5, 2_800_000.0],
        "in_transit": [0.0, 0.0, 0.0, 0.0],
        "quality_inspection": [6.0, 0.0, 0.25, 0.0],
        "restricted": [0.0] * 4, "blocked": [0.0] * 4, "returns": [0.0] * 4,
    })
    return generate._conform(frame, generate.STOCK_SCHEMA)


def test_spreadsheet_text_is_sap_gui_xls(tmp_path: Path, sample_stock: pl.DataFrame) -> None:
    path = files.write_spreadsheet_text(sample_stock, tmp_path / "new" / "MB52.XLS",
                                     report_date=date(2026, 11, 3))
    assert path.exists() and "Ä".encode("cp1252") in path.read_bytes()
    lines = _lines(path, "cp1252")
    assert lines[0].startswith("Lagerbestand Werke")
    assert lines[1] == "03.11.2026" and lines[2] == ""
    header = lines[3].split("\t")
    assert header[:7] == ["Material", "Plnt", "SLoc", "Material Description", "BUn", "Batch", "S"]
    assert [field_for_label(label) for label in header] == sample_stock.columns
    rows = [line.split("\t") for line in lines[4:]]
    assert len(rows) == 4 and all(len(r) == len(header) for r in rows)
    assert rows[0][0] == "000000000010000001" and rows[0][7] == "1.234,500"
    assert rows[0][9] == "3.208,59" and rows[0][11] == "6,000"
    assert rows[1][5] == "B2026-0113" and rows[1][5 + 1] == ""
    assert rows[2][7] == "12,000-" and rows[2][9] == "5,50-" and rows[2][11] == "0,250"
    assert rows[3][7] == "2.800.000,000"
    again = files.write_spreadsheet_text(sample_stock, tmp_path / "again.XLS",
                                      report_date=date(2026, 11, 3))
    assert again.read_bytes() == path.read_bytes()


def test_spreadsheet_text_utf16_and_english(tmp_path: Path, sample_stock: pl.DataFrame) -> None:
    path = files.write_spreadsheet_text(sample_stock, tmp_path / "u16.XLS", encoding="utf-16",
                                     numbers="en", title_rows=["Stock", "Plants 1000-3000"],
                                     report_date=date(2021, 9, 28))
    raw = path.read_bytes()
    assert raw[:2] == b"\xff\xfe"
    lines = _lines(path, "utf-16")
    assert lines[:4] == ["Stock", "Plants 1000-3000", "09/28/2021", ""]
    rows = [line.split("\t") for line in lines[5:]]
    assert rows[0][7] == "1,234.500" and rows[2][7] == "12.000-" and rows[0][9] == "3,208.59"
    assert "Ø" in rows[3][3]
    utf8 = files.write_spreadsheet_text(sample_stock, tmp_path / "u8.XLS", encoding="utf-8")
    assert "VALVE Ø12MM" in utf8.read_bytes().decode("utf-8")


def test_unconverted_list_pages_and_subtotals(tmp_path: Path, stock: pl.DataFrame) -> None:
    data = stock.head(40)
    path = files.write_unconverted(data, tmp_path / "MB52.txt", page_rows=12)
    lines = _lines(path, "utf-8")
    rule = lines[1]
    assert set(rule) == {"-"}
    header = next(line for line in lines if line.startswith("|Material"))
    assert [field_for_label(c.strip()) for c in header.strip("|").split("|")] == data.columns
    pages = [line for line in lines if "Page" in line]
    assert len(pages) == math.ceil(40 / 12)
    assert [p.split()[-1] for p in pages] == ["1", "2", "3", "4"]
    assert sum(line == header for line in lines) == len(pages)
    for i, line in enumerate(lines):
        if line == header:  # the header sits between two rules
            assert lines[i - 1] == rule and lines[i + 1] == rule
    table = [line for line in lines if line.startswith("|")]
    assert all(len(line) == len(rule) for line in table)  # every field padded to its width
    data_rows = [line for line in table if line != header and not line.startswith("|*")]
    assert len(data_rows) == 40
    assert any("|000000000010000" in row for row in data_rows)
    cells = [row.strip("|").split("|") for row in data_rows]
    unrestricted = data.columns.index("unrestricted")
    # Text left-aligned, numbers right-aligned, as SAP pads them.
    assert all(c[0] == c[0].lstrip() and c[unrestricted] == c[unrestricted].rstrip()
               for c in cells)
    assert any(c[unrestricted].startswith(" ") for c in cells)
    subtotals = [line for line in table if line.startswith("|*") and not line.startswith("|**")]
    plants = data["plant"].unique()
    assert len(subtotals) == len(plants)
    totals = [line for line in table if line.startswith("|**")]
    assert len(totals) == 1
    total_cells = totals[0].strip("|").split("|")
    expected = data["unrestricted"].sum()
    assert float(total_cells[unrestricted].strip().replace(",", "")) == pytest.approx(expected)
    plain = files.write_unconverted(data, tmp_path / "plain.txt", page_rows=100, subtotals=False,
                                 numbers="de")
    plain_text = plain.read_text("utf-8")
    assert "|*" not in plain_text and plain_text.count("Page") == 1
    assert files.write_unconverted(data, tmp_path / "again.txt", page_rows=12).read_bytes() == \
        path.read_bytes()


def test_csv_quotes_and_english_numbers(tmp_path: Path, sample_stock: pl.DataFrame) -> None:
    path = files.write_csv(sample_stock, tmp_path / "MB52.csv")
    text = path.read_bytes().decode("utf-8")
    assert '"2,800,000.00"' in text and '"GUSS GEHÄUSE 314X481, WHITE"' in text
    rows = list(csv.reader(io.StringIO(text)))
    assert [field_for_label(label) for label in rows[0]] == sample_stock.columns
    assert rows[1][7] == "1,234.500" and rows[3][7] == "-12.000" and rows[4][9] == "2,800,000.00"
    assert rows[3][3] == "GUSS GEHÄUSE 314X481, WHITE"
    dated = pl.DataFrame({"material": ["1"], "plant": ["1000"], "description": ["X"],
                          "last_change": [date(2021, 9, 28)]})
    assert "09/28/2021" in files.write_csv(dated, tmp_path / "mm60.csv").read_text("utf-8")


def test_html_table(tmp_path: Path, sample_stock: pl.DataFrame) -> None:
    path = files.write_html(sample_stock, tmp_path / "MB52.html")
    text = path.read_bytes().decode("utf-8")
    assert "<h1>" in text and "<table" in text and "<th>Storage Location</th>" in text
    assert text.count("<tr>") == sample_stock.height + 1
    assert "&lt;SS&gt; &amp; CO" in text and "<td>000000000010000001</td>" in text


def test_xlsx_round_trip_with_title_rows(tmp_path: Path, sample_stock: pl.DataFrame) -> None:
    title = ["Display Warehouse Stocks of Material", "Plants 1000-3000"]
    path = files.write_xlsx(sample_stock, tmp_path / "x" / "MB52.xlsx", title_rows=title)
    reader = fastexcel.read_excel(path)
    raw = reader.load_sheet(0, header_row=None).to_polars()
    first = raw[:, 0].to_list()
    assert first[:3] == [*title, None]
    header_at = first.index("Material")
    assert header_at == 3
    labels = list(raw.row(header_at))
    assert [field_for_label(label) for label in labels] == sample_stock.columns
    table = reader.load_sheet(0, header_row=header_at).to_polars()
    assert table["Material"].to_list() == sample_stock["material"].to_list()
    assert table["Storage Location"].to_list() == ["0001", "FG01", "RM01", "0002"]
    assert table["Unrestricted"].dtype == pl.Float64
    assert table["Unrestricted"].to_list() == sample_stock["unrestricted"].to_list()
    assert table["Value Unrestricted"].to_list() == sample_stock["value_unrestricted"].to_list()
    again = files.write_xlsx(sample_stock, tmp_path / "again.xlsx", title_rows=title)
    assert again.read_bytes() == path.read_bytes()  # fixed properties and zip times
    with zipfile.ZipFile(path) as archive:
        core = archive.read("docProps/core.xml").decode("utf-8")
        assert {info.date_time for info in archive.infolist()} == {(2026, 11, 2, 7, 30, 0)}
    assert core.count("2026-11-02T07:30:00Z") == 2  # created and modified
    plain = files.write_xlsx(sample_stock, tmp_path / "plain.xlsx", number_formats=False)
    values = fastexcel.read_excel(plain).load_sheet(0).to_polars()["Unrestricted"]
    assert values.to_list() == sample_stock["unrestricted"].to_list()
    with zipfile.ZipFile(plain) as archive:
        assert "#,##0.000" not in archive.read("xl/styles.xml").decode("utf-8")
    with zipfile.ZipFile(path) as archive:
        assert "#,##0.000" in archive.read("xl/styles.xml").decode("utf-8")


def test_xlsx_master_and_count_sheet(tmp_path: Path, master: pl.DataFrame,
                                     stock: pl.DataFrame) -> None:
    mm60 = files.write_xlsx(master.head(50), tmp_path / "MM60.xlsx", labels="short")
    table = fastexcel.read_excel(mm60).load_sheet(0).to_polars()
    assert table.columns[:3] == ["Material", "Plnt", "Material Description"]
    assert "Created On" in table.columns and "per" in table.columns
    assert table["Last Change"].dtype == pl.Datetime("ms")
    first_date = master.head(50)["created_on"][0]
    assert table["Created On"][0] == datetime.combine(first_date, datetime.min.time())
    assert table["Price"].to_list() == master.head(50)["price"].to_list()

    counts = generate.generate_counts(stock, COUNT_DAY, 40, seed=12)
    sheet = files.write_xlsx(counts, tmp_path / "counts.xlsx", sheet_name="Counts")
    reader = fastexcel.read_excel(sheet)
    assert reader.sheet_names == ["Counts"]
    raw = reader.load_sheet("Counts", header_row=None).to_polars()
    assert list(raw.row(0)) == files.header_labels(counts.columns, "long")
    typed = [str(v) for v in raw[1:, 5].to_list()]
    expected = counts["quantity"].to_list()
    assert [_quantity(t) for t in typed] == [_quantity(e) for e in expected]
    assert any("*" in t for t in typed)


def test_write_demo_exports(tmp_path: Path) -> None:
    paths = files.write_demo_exports(tmp_path / "drop", materials=300, stock_rows=900,
                                  count_rows=40)
    assert [p.name for p in paths] == [
        "MM60_materials_2026-11-01.xlsx", "MB52_stock_2026-11-02.xlsx",
        "MB52_stock_2026-11-03.XLS", "counts_2026-11-03.xlsx"]
    assert all(p.parent == tmp_path / "drop" and p.stat().st_size > 0 for p in paths)
    lines = _lines(paths[2], "cp1252")
    assert lines[1] == "03.11.2026" and lines[3].split("\t")[1:3] == ["Plnt", "SLoc"]
    assert len(lines) == 4 + 900 and any("," in line.split("\t")[7] for line in lines[4:])
    assert fastexcel.read_excel(paths[3]).sheet_names == ["Counts"]
    mm60 = fastexcel.read_excel(paths[0]).load_sheet(0).to_polars()
    assert mm60.height == 300 and mm60.columns[0] == "Material"
    again = files.write_demo_exports(tmp_path / "again", materials=300, stock_rows=900,
                                  count_rows=40)
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in paths]
