"""The ../shared samples and the real MM60 export: the loads DESIGN.md promises on real files.

Skipped when the repository is cloned without ../shared beside it.
"""

from __future__ import annotations

from datetime import date

from pipelines.ingest.load import load_file
from pipelines.settings import get_settings
from pipelines.warehouse.db import query

from conftest import shared_file


def test_sample_exports_load_in_order(wics_home):
    mm60 = load_file(shared_file("samples", "MM60_materials_2026-11-01.xlsx"))
    assert (mm60.status, mm60.rows_loaded, mm60.summary["added"]) == ("loaded", 2000, 2000)
    mb52 = load_file(shared_file("samples", "MB52_stock_2026-11-02.xlsx"))
    assert (mb52.status, mb52.rows_loaded, mb52.snapshot_date) == ("loaded", 6000,
                                                                    date(2026, 11, 2))
    assert mb52.summary["unknown_materials"] == 0
    # The 40-line .XLS after a 6,000-line snapshot of the same plants is a likely partial
    # export (issue 9's first case): refused before the commit, then loaded knowingly.
    sample_xls = shared_file("samples", "MB52_stock_2026-11-03.XLS")
    refused = load_file(sample_xls)
    assert refused.status == "rejected" and "plant" in refused.error, refused.error
    assert query("SELECT count(*) FROM sap_stock WHERE snapshot_date = '2026-11-03'",
                 path=wics_home.database).item() == 0
    text = load_file(sample_xls, force=True)
    assert (text.status, text.snapshot_date, text.summary["format"]) == (
        "loaded", date(2026, 11, 3), "tab-separated text")
    assert text.summary["number_format"] == "1.234,56"
    counts = load_file(shared_file("samples", "counts_2026-11-02.xlsx"))
    assert counts.status == "loaded", counts.error
    stock = query(
        """SELECT unrestricted, quality_inspection, value_unrestricted FROM sap_stock
           WHERE snapshot_date = '2026-11-03' AND material = '10000001' AND plant = '1100'
             AND storage_location = '0002'""", path=wics_home.database).row(0)
    assert stock == (43.0, 6.0, 1791.81)  # "43,000" / "6,000" / "1.791,81" in the file
    expression = query("SELECT quantity FROM physical_count WHERE quantity_expr = '2*6'",
                       path=wics_home.database).item()
    assert expression == 12.0
    # the sample sheet types materials with and without leading zeros: all resolve
    assert query("SELECT count(*) FROM physical_count p ANTI JOIN material m "
                 "USING (material, plant)", path=wics_home.database).item() == 0


def test_real_mm60_alpha_numbering(wics_home):
    result = load_file(shared_file("real", "MM60_materials_2022.csv"))
    assert result.status == "loaded", result.error
    assert result.rows_read == 5888
    assert result.rows_loaded == 5882  # unique material × plant keys with ALPHA conversion
    collapsed = {(c["material"], c["plant"]) for c in result.summary["collapsed"]}
    assert {("7J-057-000", "FW61"), ("71020WT00-16G-G", "FW62"),
            ("1094081-05", "FW62"), ("7132441", "FW62")} <= collapsed
    rows = query(
        """SELECT material, price, price_unit FROM material
           WHERE material IN ('0101K4P00-613-G', 'ASTORIA-MOBO-AGENCY LABEL')""",
        path=wics_home.database).rows()
    assert ("0101K4P00-613-G", 2_800_000.0, 10_000.0) in rows
    assert any(r[0] == "ASTORIA-MOBO-AGENCY LABEL" for r in rows)
    assert query("SELECT count(*) FROM material WHERE material LIKE '%\u00a0%'",
                 path=wics_home.database).item() == 0


def test_real_mm60_lexicographic_numbering(wics_home, monkeypatch):
    monkeypatch.setenv("WICS_MATERIAL_NUMBERS", "lexicographic")
    result = load_file(shared_file("real", "MM60_materials_2022.csv"), settings=get_settings())
    assert result.rows_loaded == 5883  # 07132441 and 7132441 are two materials here
    both = query("SELECT material FROM material WHERE material IN ('07132441', '7132441') "
                 "ORDER BY 1", path=wics_home.database)["material"].to_list()
    assert both == ["07132441", "7132441"]
