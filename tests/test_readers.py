"""Readers: every format of the SAP export family and every quirk DESIGN.md names."""

from __future__ import annotations

import codecs
import quopri
from pathlib import Path

import polars as pl
import pytest

from pipelines.sap.exports import parse_export
from pipelines.sap.formats import decode_text, identify, sniff_format
from pipelines.sap.headers import ExportKind, classify, field_for_label, match_header
from pipelines.sap.material import normalise_material, normalise_material_value
from pipelines.sap.numbers import NumberFormat, detect_number_format, parse_numbers
from pipelines.settings import Settings

from conftest import MB52_HEADER, mb52_row, write_text, write_xlsx


def parse(path: Path, settings: Settings):
    parsed = parse_export(path, settings)
    assert parsed.problems.is_empty(), parsed.problems
    return parsed


GERMAN_SPREADSHEET = (
    "Lagerbestand Werke 1000-3000\r\n"
    "03.11.2026\r\n"
    "\r\n"
    "Material\tPlnt\tSLoc\tMaterial Description\tBUn\tBatch\tS\tUnrestricted\tCrcy\t"
    "Value Unrestricted\tTransit/Transf.\tIn Quality Insp.\tRestricted-Use\tBlocked\tReturns\r\n"
    "000000000010000001\t1100\t0001\tMUTTER M4X25 GRÖßE\tEA\t\t\t1.234,500\tEUR\t3.208,59\t"
    "0,000\t6,000\t0,000\t0,000\t0,000\r\n"
    "000000000010000002\t1100\t0002\tSTUD BOLT\tEA\t\tK\t12,000-\tEUR\t0,00\t0,000\t0,000\t"
    "0,000\t2,000\t0,000\r\n"
    "000000000010000003\t1100\t0002\tSTUD BOLT\tEA\tB1\t\t10,000\tEUR\t5,00\t\t\t\t\t\r\n"
)


def test_spreadsheet_xls_is_tab_text_in_cp1252_with_german_numbers(tmp_path, wics_home):
    path = write_text(tmp_path / "MB52_2026-11-03.XLS", GERMAN_SPREADSHEET, "cp1252")
    parsed = parse(path, wics_home)
    assert parsed.kind is ExportKind.MB52
    assert parsed.file_format == "tab-separated text"
    assert parsed.encoding == "cp1252"
    assert parsed.header_row == 4
    assert parsed.number_format is NumberFormat.GERMAN
    rows = parsed.rows.sort("_row")
    assert rows["_row"].to_list() == [5, 6, 7]
    assert rows["material"].to_list() == ["10000001", "10000002", "10000003"]
    assert rows["description"][0] == "MUTTER M4X25 GRÖßE"
    assert rows["unrestricted"].to_list() == [1234.5, -12.0, 10.0]  # 10,000 is ten here
    assert rows["value_unrestricted"][0] == pytest.approx(3208.59)
    assert rows["quality_inspection"][0] == 6.0
    assert rows["blocked"][1] == 2.0
    assert rows["special_stock"].to_list() == [None, "K", None]
    assert rows["quality_inspection"][2] == 0.0  # blank quantities are zero


def test_utf16_spreadsheet_with_bom(tmp_path, wics_home):
    text = GERMAN_SPREADSHEET.replace("GRÖßE", "ŁÓDŹ ☃")
    path = tmp_path / "MB52_20261103.XLS"
    path.write_bytes(codecs.BOM_UTF16_LE + text.encode("utf-16-le"))
    parsed = parse(path, wics_home)
    assert parsed.encoding == "utf-16"
    assert parsed.rows.sort("_row")["description"][0] == "MUTTER M4X25 ŁÓDŹ ☃"
    assert parsed.rows.height == 3


def test_utf8_spreadsheet_and_mixed_cp1252_bytes_never_fail(tmp_path, wics_home):
    body = GERMAN_SPREADSHEET.encode("utf-8").replace(b"STUD BOLT", b"STUD\x95BOLT\xa0")
    path = tmp_path / "mixed.txt"
    path.write_bytes(body)
    parsed = parse(path, wics_home)
    assert parsed.encoding == "utf-8 with cp1252 bytes"
    rows = parsed.rows.sort("_row")
    assert rows["description"][0] == "MUTTER M4X25 GRÖßE"  # the UTF-8 sequence
    assert rows["description"][1] == "STUD•BOLT"  # cp1252 bullet, trailing NBSP trimmed


UNCONVERTED = """\
11/03/2026                 Warehouse Stocks of Material                        1
----------------------------------------------------------------------------------
|Material          |Plnt|SLoc|Batch     |S|   Unrestricted|Crcy| Value Unrestr.|
----------------------------------------------------------------------------------
|10000001          |1000|0001|          | |      1,200.000|EUR |      12,000.00|
|10000002          |1000|0001|B1        | |          7.000|EUR |          70.00|
|*                 |1000|    |          | |      1,207.000|EUR |      12,070.00|
----------------------------------------------------------------------------------
11/03/2026                 Warehouse Stocks of Material                        2
----------------------------------------------------------------------------------
|Material          |Plnt|SLoc|Batch     |S|   Unrestricted|Crcy| Value Unrestr.|
----------------------------------------------------------------------------------
|10000003          |3000|FG01|          |E|          12.000-|GBP |        -120.00|
|**                |    |    |          | |      1,195.000|    |               |
----------------------------------------------------------------------------------
"""


def test_unconverted_pipe_list_with_rules_page_headers_and_subtotals(tmp_path, wics_home):
    path = write_text(tmp_path / "stock.txt", UNCONVERTED)
    parsed = parse(path, wics_home)
    assert parsed.kind is ExportKind.MB52
    assert parsed.file_format.startswith("pipe-separated")
    assert parsed.number_format is NumberFormat.ENGLISH
    rows = parsed.rows.sort("_row")
    assert rows["material"].to_list() == ["10000001", "10000002", "10000003"]
    assert rows["_row"].to_list() == [5, 6, 13]
    assert rows["unrestricted"].to_list() == [1200.0, 7.0, -12.0]  # 7.000 is seven here
    assert rows["value_unrestricted"].to_list() == [12000.0, 70.0, -120.0]
    assert rows["batch"].to_list() == [None, "B1", None]
    assert parsed.skipped["subtotal"] == 2
    assert parsed.skipped["repeated_header"] == 1
    assert parsed.skipped["blank"] >= 4  # rules and page titles


def test_comma_csv_with_quotes_us_dates_and_thousands(tmp_path, wics_home):
    text = (
        "Material,Plant,Valuation Type,Material description,Last Change,Material type,"
        "Material Group,Base Unit of Measure,ABC Indicator,Price,Currency,Price unit\n"
        '0101K4P00-613-G,FW62,,"Rigid PCB,Server M/B, 16L",09/07/2022,ZROH,UMOTHR,EA,A,'
        '"2,800,000.00",USD,"10,000"\n'
        '7J-057-000,FW61,,"Blank label",07/15/2022,ZROH,UMOTHR,EA,C,0.00,USD,1\n'
    )
    path = write_text(tmp_path / "matlist.csv", text)
    parsed = parse(path, wics_home)
    assert parsed.kind is ExportKind.MM60
    assert parsed.file_format == "comma-separated text"
    row = parsed.rows.sort("_row").row(0, named=True)
    assert row["description"] == "Rigid PCB,Server M/B, 16L"
    assert row["price"] == 2_800_000.0
    assert row["price_unit"] == 10_000.0  # an English file: 10,000 is ten thousand
    assert str(row["last_change"]) == "2022-09-07"


def test_semicolon_csv_with_german_labels(tmp_path, wics_home):
    text = (
        "Material;Werk;Lagerort;Charge;Frei verwendbar;Gesperrt;Qualitätsprüfung;Währung\n"
        "4711;1000;0001;;1.234,000;0,000;1,500;EUR\n"
    )
    path = write_text(tmp_path / "bestand.csv", text, "cp1252")
    parsed = parse(path, wics_home)
    assert parsed.kind is ExportKind.MB52
    assert parsed.file_format == "semicolon-separated text"
    row = parsed.rows.row(0, named=True)
    assert (row["unrestricted"], row["quality_inspection"], row["currency"]) == (1234.0, 1.5, "EUR")


def test_html_table_export(tmp_path, wics_home):
    html = (
        "<html><head><meta charset='utf-8'><title>MB52</title></head><body>"
        "<h1>Warehouse stocks</h1><table border=1>"
        "<tr><th>Material</th><th>Plant</th><th>Storage Location</th><th>Unrestricted</th></tr>"
        "<tr><td>000000000010000001</td><td>1000</td><td>0001</td><td>1,234.000</td></tr>"
        "<tr><td>10000002</td><td>1000</td><td>0002</td><td>5.5</td></tr>"
        "</table></body></html>"
    )
    path = write_text(tmp_path / "export.xls", html)
    assert sniff_format(path.read_bytes()) == "html"
    parsed = parse(path, wics_home)
    assert parsed.rows["material"].to_list() == ["10000001", "10000002"]
    assert parsed.rows["unrestricted"].to_list() == [1234.0, 5.5]


def test_mhtml_export(tmp_path, wics_home):
    html = (
        "<html><body><table><tr><td>Material</td><td>Plnt</td><td>Unrestricted</td></tr>"
        "<tr><td>10000009</td><td>1200</td><td>3,000</td></tr></table></body></html>"
    )
    body = quopri.encodestring(html.encode()).decode()
    mhtml = (
        "MIME-Version: 1.0\r\nContent-Type: multipart/related; boundary=\"XX\"\r\n\r\n"
        "--XX\r\nContent-Type: text/html; charset=\"utf-8\"\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n" + body + "\r\n--XX--\r\n"
    )
    path = write_text(tmp_path / "export.mhtml", mhtml)
    parsed = parse(path, wics_home)
    assert parsed.file_format == "MHTML table"
    assert parsed.rows["material"].to_list() == ["10000009"]
    assert parsed.rows["unrestricted"].to_list() == [3.0]  # undecided file: lone separator


def test_xlsx_header_below_title_rows_and_repeated_header(tmp_path, wics_home):
    rows = [["Stock overview plants 1000-3000"], [None], ["run 2026-11-02"], [None],
            MB52_HEADER, mb52_row("000000000010000001", unrestricted=4), MB52_HEADER,
            mb52_row(10000002, unrestricted=2.5), ["**", None, None, None, None, None, None, 6.5]]
    path = write_xlsx(tmp_path / "report.xlsx", rows)
    parsed = parse(path, wics_home)
    assert parsed.header_row == 5
    assert parsed.rows["_row"].to_list() == [6, 8]
    assert parsed.rows["material"].to_list() == ["10000001", "10000002"]  # text and number cell
    assert parsed.rows["unrestricted"].to_list() == [4.0, 2.5]
    assert parsed.skipped == {"repeated_header": 1, "subtotal": 1}


def test_xlsx_rows_count_from_the_sheet_even_when_it_starts_lower(tmp_path, wics_home):
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    for column, label in enumerate(["Material", "Plant", "Unrestricted"], start=3):
        sheet.cell(row=4, column=column, value=label)
    for column, value in enumerate(["10000001", "1000", "x"], start=3):
        sheet.cell(row=5, column=column, value=value)
    path = tmp_path / "offset.xlsx"
    book.save(path)
    parsed = parse_export(path, wics_home)
    assert parsed.header_row == 4
    assert parsed.problems.row(0, named=True) == {
        "row": 5, "column": "Unrestricted", "value": "x",
        "reason": "not a number in this file's format (1234.56 (no thousands separators seen))",
    }


def test_second_sheet_is_used_when_the_first_is_a_cover_page(tmp_path, wics_home):
    import openpyxl

    book = openpyxl.Workbook()
    book.active.append(["Cover page", "nothing here"])
    data = book.create_sheet("Data")
    data.append(["Material", "Plant", "Counted Qty", "Count Date"])
    data.append(["42", "1000", "24*10", "2026-11-02"])
    path = tmp_path / "sheet.xlsx"
    book.save(path)
    parsed = parse(path, wics_home)
    assert parsed.kind is ExportKind.COUNT_SHEET
    assert parsed.sheet == "Data"
    assert parsed.rows.row(0, named=True)["quantity"] == 240.0
    assert parsed.rows.row(0, named=True)["quantity_expr"] == "24*10"


@pytest.mark.parametrize(
    ("label", "field"),
    [("Plnt", "plant"), ("Plant", "plant"), ("Werk", "plant"), ("SLoc", "storage_location"),
     ("Stor. Loc.", "storage_location"), ("storage  location", "storage_location"),
     ("Lagerort", "storage_location"), ("BUn", "base_uom"),
     ("Base Unit of Measure", "base_uom"), ("S", "special_stock"), ("Crcy", "currency"),
     ("per", "price_unit"), ("Price Unit", "price_unit"), ("MTyp", "material_type"),
     ("Matl Group", "material_group"), ("ABC", "abc_indicator"),
     ("ABC Indicator", "abc_indicator"), ("Frei verwendbar", "unrestricted"),
     ("Gesperrt", "blocked"), ("Charge", "batch"), ("UNRESTRICTED", "unrestricted"),
     ("In Quality Insp.", "quality_inspection"), ("Restricted-Use Stock", "restricted"),
     ("Transit/Transf.", "in_transit"), ("Material description", "description"),
     ("Counted Qty", "quantity"), ("Valuation Type", "valuation_type")],
)
def test_header_synonyms(label, field):
    assert field_for_label(label) == field


def test_unknown_columns_are_ignored_and_kinds_follow_the_headers():
    assert field_for_label("Purchasing Group") is None
    assert match_header(["Material", "Plnt", "Unrestricted"]).kind is ExportKind.MB52
    assert match_header(["Material", "Plant", "MTyp", "Price"]).kind is ExportKind.MM60
    assert match_header(["Material", "Plant", "Counted Qty"]).kind is ExportKind.COUNT_SHEET
    assert classify({"material": 0, "unrestricted": 1}) is None  # no plant: not an export


@pytest.mark.parametrize(
    ("values", "expected_format", "parsed"),
    [
        (["1,200.000", "7.000"], NumberFormat.ENGLISH, [1200.0, 7.0]),
        (["1.234,000", "10,000"], NumberFormat.GERMAN, [1234.0, 10.0]),
        (["12-", "3,5"], NumberFormat.GERMAN, [-12.0, 3.5]),
        (["2,800,000.00", "10,000"], NumberFormat.ENGLISH, [2_800_000.0, 10_000.0]),
        (["7.000", "10,000"], NumberFormat.UNDECIDED, [7.0, 10.0]),
        (["1.234.567", "5"], NumberFormat.GERMAN, [1_234_567.0, 5.0]),
        (["-4.25", ""], NumberFormat.ENGLISH, [-4.25, None]),
    ],
)
def test_decimal_convention_is_decided_per_file(values, expected_format, parsed):
    series = pl.Series(values)
    number_format = detect_number_format([series])
    assert number_format is expected_format
    result = parse_numbers(series, number_format).to_list()
    assert result == parsed


def test_values_against_the_files_convention_are_invalid_not_guessed():
    series = pl.Series(["1,234.50", "2,000.000", "1.234,5"])
    number_format = detect_number_format([series])
    assert number_format is NumberFormat.ENGLISH
    result = parse_numbers(series, number_format).to_list()
    assert result == [1234.5, 2000.0, None]


@pytest.mark.parametrize(
    ("raw", "alpha", "lexicographic"),
    [("000000000010000001", "10000001", "000000000010000001"), ("10000001", "10000001",
      "10000001"), ("1094081-05\u00a0", "1094081-05", "1094081-05"),
     (" astoria-mobo-agency label ", "ASTORIA-MOBO-AGENCY LABEL", "ASTORIA-MOBO-AGENCY LABEL"),
     ("07132441", "7132441", "07132441"), ("A.B/C@1", "A.B/C@1", "A.B/C@1"), ("000", "0", "000")],
)
def test_material_normalisation(raw, alpha, lexicographic):
    assert normalise_material_value(raw) == alpha
    assert normalise_material_value(raw, lexicographic=True) == lexicographic
    frame = pl.DataFrame({"m": [raw]}).select(normalise_material(pl.col("m")))
    assert frame.item() == alpha


def test_lexicographic_numbering_is_a_setting(tmp_path, wics_home, monkeypatch):
    from pipelines.settings import get_settings

    path = write_xlsx(tmp_path / "s.xlsx", [["Material", "Plant", "Unrestricted"],
                                            ["07132441", "FW62", 1], ["7132441", "FW62", 2]])
    assert parse(path, wics_home).rows["material"].to_list() == ["7132441", "7132441"]
    monkeypatch.setenv("WICS_MATERIAL_NUMBERS", "lexicographic")
    lexicographic = parse(path, get_settings()).rows["material"].to_list()
    assert lexicographic == ["07132441", "7132441"]


def test_decode_text_encodings():
    assert decode_text("Größe".encode("cp1252")) == ("Größe", "cp1252")
    assert decode_text("Größe".encode()) == ("Größe", "utf-8")
    assert decode_text(codecs.BOM_UTF8 + b"abc") == ("abc", "utf-8")
    assert decode_text("Material\tPlnt".encode("utf-16-le")) == ("Material\tPlnt", "utf-16-le")


def test_identify_reads_only_the_header(tmp_path, wics_home):
    path = write_text(tmp_path / "stock.txt", UNCONVERTED)
    assert identify(path, wics_home).kind is ExportKind.MB52
    utf16 = tmp_path / "u16.XLS"
    utf16.write_bytes(codecs.BOM_UTF16_LE + GERMAN_SPREADSHEET.encode("utf-16-le"))
    assert identify(utf16, wics_home).kind is ExportKind.MB52


def test_legacy_binary_xls_workbook(tmp_path, wics_home):
    import xlwt  # writes real BIFF8 .xls files, as old SAP GUI "Excel" exports are

    book = xlwt.Workbook()
    sheet = book.add_sheet("MB52")
    sheet.write(0, 0, "Warehouse stocks")
    for column, label in enumerate(["Material", "Plnt", "SLoc", "Unrestricted", "Blocked"]):
        sheet.write(2, column, label)
    for column, value in enumerate(["000000000010000001", "1000", "0001", 12.5, 2]):
        sheet.write(3, column, value)
    path = tmp_path / "MB52_2026-11-02.xls"
    book.save(str(path))
    assert sniff_format(path.read_bytes()[:8]) == "xls"
    parsed = parse(path, wics_home)
    assert (parsed.file_format, parsed.header_row) == ("xls", 3)
    row = parsed.rows.row(0, named=True)
    assert (row["_row"], row["material"], row["unrestricted"], row["blocked"]) == (
        4, "10000001", 12.5, 2.0)
