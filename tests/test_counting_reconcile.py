"""Reconciliation: every rule of DESIGN.md, with numbers worked out by hand."""

from __future__ import annotations

from datetime import date

import pytest
from counting_support import (
    AT,
    FRI,
    MON,
    THU,
    TUE,
    WED,
    add_material,
    add_stock,
    variance_row,
)

from pipelines.access import User
from pipelines.counting.reconcile import reconcile, sap_quantities, variance_lines
from pipelines.counting.records import add_count, edit_count, void_count
from pipelines.settings import ConfigError, get_settings, parse_stock_basis
from pipelines.warehouse.db import fetch, warehouse


def count(con, day, material, quantity, *, plant="1000", **extra):
    return add_count(con, count_date=day, material=material, plant=plant, quantity=quantity,
                     user=User.system("test"), entered_at=AT, **extra, settings=get_settings())


@pytest.fixture
def con(wics_home):
    with warehouse() as connection:
        yield connection


def test_sap_qty_sums_the_physical_stock_of_every_location_batch_and_special_stock(con):
    # Price 250 per 100 units: 2.50 a unit.
    add_material(con, "P1", abc="A", price=250.0, price_unit=100)
    add_stock(con, MON, "P1", sloc="0001", batch="B1", unrestricted=100, quality=10, blocked=5,
              transit=50)
    add_stock(con, MON, "P1", sloc="0001", batch="B2", unrestricted=40, restricted=3, returns=2)
    add_stock(con, MON, "P1", sloc="0002", special="K", unrestricted=20)
    # Tuesday has no snapshot: Monday's counts. Two counters, two locations, one location seen.
    count(con, TUE, "P1", "150", location="R1", counter="ANA", storage_location="0001")
    count(con, TUE, "P1", "24+5", location="R2", counter="BEN", storage_location="0002")
    count(con, TUE, "P1", None, location="R3", counter="ANA")

    line = variance_row(con, TUE, "P1")
    # 100+10+5 + 40+3+2 + 20 = 180 (the 50 in transit is not in the warehouse)
    assert line["sap_qty"] == 180
    assert line["sap_snapshot_date"] == MON
    assert line["counted_qty"] == 179  # 150 + 29; the location-only entry adds nothing
    assert line["count_lines"] == 2
    assert line["counters"] == "ANA, BEN"
    assert line["variance_qty"] == -1
    assert line["variance_pct"] == pytest.approx(-100 / 180)  # -0.556 %
    assert line["unit_price"] == pytest.approx(2.5)
    assert line["variance_value"] == pytest.approx(-2.5)
    assert line["tolerance_pct"] == 1.0
    assert line["within_tolerance"] is True
    assert line["needs_recount"] is False
    assert line["stock_basis"] == "physical"


@pytest.mark.parametrize(
    ("abc", "counted", "pct", "tolerance", "within"),
    [
        ("A", 202, 1.0, 1.0, True), ("A", 203, 1.5, 1.0, False),
        ("B", 206, 3.0, 3.0, True), ("B", 207, 3.5, 3.0, False),
        ("C", 190, -5.0, 5.0, True), ("C", 189, -5.5, 5.0, False),
        (None, 210, 5.0, 5.0, True), ("X", 211, 5.5, 5.0, False),
    ],
)
def test_tolerance_by_abc_indicator_inclusive_at_the_limit(con, abc, counted, pct, tolerance,
                                                            within):
    add_material(con, "T", abc=abc)
    add_stock(con, MON, "T", unrestricted=200)
    count(con, MON, "T", counted)
    line = variance_row(con, MON, "T")
    assert line["variance_pct"] == pytest.approx(pct)
    assert line["tolerance_pct"] == tolerance
    assert line["within_tolerance"] is within
    assert line["needs_recount"] is (not within)


def test_zero_sap_stock(con):
    add_material(con, "Z0", price=10.0)
    add_material(con, "Z1", price=10.0)
    add_material(con, "OTHER")
    add_stock(con, MON, "OTHER", unrestricted=1)  # the plant has a Monday snapshot
    add_stock(con, MON, "Z1", unrestricted=0, transit=7)  # only in transit: 0 in the warehouse
    count(con, MON, "Z0", "0")  # not in the snapshot at all, counted zero
    count(con, MON, "Z1", "3")

    zero = variance_row(con, MON, "Z0")
    assert (zero["sap_qty"], zero["counted_qty"], zero["variance_qty"]) == (0, 0, 0)
    assert zero["variance_pct"] is None
    assert zero["within_tolerance"] is True  # both quantities 0
    assert zero["needs_recount"] is False

    found = variance_row(con, MON, "Z1")
    assert found["sap_qty"] == 0 and found["variance_qty"] == 3
    assert found["variance_pct"] is None  # no percentage of zero
    assert found["variance_value"] == 30
    assert found["within_tolerance"] is False
    assert found["needs_recount"] is True


def test_negative_sap_stock(con):
    add_material(con, "N", abc="B", price=4.0)
    add_stock(con, MON, "N", sloc="0001", unrestricted=-10)
    add_stock(con, MON, "N", sloc="0002", unrestricted=4, blocked=1)
    count(con, MON, "N", "0")
    line = variance_row(con, MON, "N")
    assert line["sap_qty"] == -5  # -10 + 4 + 1
    assert line["variance_qty"] == 5  # 0 - (-5)
    assert line["variance_pct"] == pytest.approx(100.0)  # 100 * 5 / abs(-5)
    assert line["variance_value"] == pytest.approx(20.0)
    assert line["needs_recount"] is True


def test_counts_use_the_latest_snapshot_on_or_before_their_date(con):
    add_material(con, "S")
    add_stock(con, MON, "S", unrestricted=100)
    add_stock(con, THU, "S", unrestricted=90)
    count(con, date(2026, 10, 30), "S", "100")  # before any snapshot
    count(con, WED, "S", "100")  # no Wednesday snapshot: Monday's
    count(con, THU, "S", "90")
    count(con, FRI, "S", "90")  # Thursday's

    before = variance_row(con, date(2026, 10, 30), "S")
    assert before["sap_snapshot_date"] is None and before["sap_qty"] is None
    assert before["variance_qty"] is None and before["variance_value"] is None
    assert before["within_tolerance"] is None and before["needs_recount"] is False
    assert variance_row(con, WED, "S")["sap_snapshot_date"] == MON
    assert variance_row(con, WED, "S")["sap_qty"] == 100
    assert variance_row(con, THU, "S")["sap_snapshot_date"] == THU
    assert variance_row(con, FRI, "S")["sap_qty"] == 90


def test_each_plant_uses_its_own_latest_snapshot(con):
    add_material(con, "M", plant="1000")
    add_material(con, "M", plant="2000")
    add_stock(con, MON, "M", plant="1000", unrestricted=10)
    add_stock(con, MON, "M", plant="2000", unrestricted=20)
    add_stock(con, WED, "M", plant="1000", unrestricted=11)  # a file of plant 1000 only
    count(con, THU, "M", "11", plant="1000")
    count(con, THU, "M", "20", plant="2000")
    assert variance_row(con, THU, "M", "1000")["sap_qty"] == 11
    plant_2000 = variance_row(con, THU, "M", "2000")
    assert plant_2000["sap_snapshot_date"] == MON and plant_2000["sap_qty"] == 20


def test_voided_and_edited_counts_do_not_count(con):
    add_material(con, "V", price=2.0)
    add_stock(con, MON, "V", unrestricted=100)
    first = count(con, MON, "V", "60", location="R1")
    second = count(con, MON, "V", "50", location="R2")
    assert variance_row(con, MON, "V")["counted_qty"] == 110
    void_count(con, second, user=User.system("lead"), voided_at=AT, settings=get_settings())
    assert variance_row(con, MON, "V")["counted_qty"] == 60
    edit_count(con, first, user=User.system("lead"), entered_at=AT, quantity="99",
               settings=get_settings())
    line = variance_row(con, MON, "V")
    assert line["counted_qty"] == 99 and line["count_lines"] == 1
    assert line["variance_value"] == -2.0
    assert line["within_tolerance"] is True
    rows = fetch(con, "SELECT count(*) AS n FROM physical_count WHERE material = 'V'").item()
    assert rows == 3  # nothing deleted: two voided rows and the live one
    live = fetch(con, "SELECT count_id FROM physical_count WHERE voided_at IS NULL "
                      "AND material = 'V'")["count_id"].to_list()
    void_count(con, live[0], user=User.system("lead"), voided_at=AT, settings=get_settings())
    assert variance_row(con, MON, "V") is None  # no counted quantity left: no line


def test_location_only_entries_make_no_line_and_price_may_be_missing(con):
    add_material(con, "L")
    add_material(con, "NP", price=None)
    add_stock(con, MON, "NP", unrestricted=8)
    count(con, MON, "L", None, location="R9")
    count(con, MON, "NP", "8")
    assert variance_row(con, MON, "L") is None
    line = variance_row(con, MON, "NP")
    assert line["unit_price"] is None and line["variance_value"] is None
    assert line["within_tolerance"] is True


def test_float_noise_never_decides_a_line(con):
    add_material(con, "F", abc="A")
    add_stock(con, MON, "F", unrestricted=0.3)
    count(con, MON, "F", "0.1", location="a")
    count(con, MON, "F", "0.2", location="b")
    line = variance_row(con, MON, "F")
    assert line["variance_qty"] == 0 and line["within_tolerance"] is True


def test_stock_basis_and_tolerances_are_configurable(con, monkeypatch):
    add_material(con, "C", abc="A")
    add_stock(con, MON, "C", unrestricted=100, quality=60, transit=70)
    count(con, MON, "C", "159")
    assert variance_row(con, MON, "C")["sap_qty"] == 160

    monkeypatch.setenv("WICS_STOCK_BASIS", "unrestricted")
    reconcile(con, config=get_settings().counting)
    line = variance_row(con, MON, "C")
    assert line["sap_qty"] == 100 and line["stock_basis"] == "unrestricted"
    monkeypatch.setenv("WICS_STOCK_BASIS", "all")
    reconcile(con, config=get_settings().counting)
    assert variance_row(con, MON, "C")["sap_qty"] == 230
    monkeypatch.setenv("WICS_STOCK_BASIS", "unrestricted, quality_inspection")
    monkeypatch.setenv("WICS_TOLERANCE_A", "0.5")
    reconcile(con, config=get_settings().counting)
    line = variance_row(con, MON, "C")
    assert line["sap_qty"] == 160 and line["tolerance_pct"] == 0.5
    assert line["within_tolerance"] is False  # 0.625 % > 0.5 %
    assert line["stock_basis"] == "unrestricted+quality_inspection"


def test_bad_configuration_is_refused(monkeypatch):
    with pytest.raises(ConfigError):
        parse_stock_basis("unrestricted; DROP TABLE sap_stock")
    monkeypatch.setenv("WICS_TOLERANCE_B", "three")
    with pytest.raises(ConfigError):
        get_settings()


def test_recomputes_when_snapshot_or_price_changes(con):
    add_material(con, "R", price=10.0)
    add_stock(con, MON, "R", unrestricted=50)
    count(con, TUE, "R", "48")
    assert variance_row(con, TUE, "R")["variance_value"] == -20
    con.execute("UPDATE material SET price = 30, price_unit = 10 WHERE material = 'R'")
    reconcile(con, config=get_settings().counting)
    assert variance_row(con, TUE, "R")["variance_value"] == pytest.approx(-6.0)
    add_stock(con, TUE, "R", unrestricted=48)  # a Tuesday snapshot arrives late
    result = reconcile(con, config=get_settings().counting)
    line = variance_row(con, TUE, "R")
    assert line["sap_snapshot_date"] == TUE and line["variance_qty"] == 0
    assert result.lines == 1 and result.out_of_tolerance == 0


def test_scoped_reconcile_touches_only_its_dates(con):
    add_material(con, "D")
    add_stock(con, MON, "D", unrestricted=10)
    count(con, MON, "D", "10")
    count(con, TUE, "D", "10")
    con.execute("UPDATE sap_stock SET unrestricted = 20")
    reconcile(con, count_dates=[TUE], config=get_settings().counting)
    assert variance_row(con, MON, "D")["sap_qty"] == 10  # not in scope: as it was
    assert variance_row(con, TUE, "D")["sap_qty"] == 20
    preview = variance_lines(con, since=MON, config=get_settings().counting)
    assert preview["sap_qty"].to_list() == [20, 20]  # computed, not written
    assert variance_row(con, MON, "D")["sap_qty"] == 10


def test_sap_quantities_by_storage_location(con):
    import polars as pl

    add_material(con, "Q")
    add_stock(con, MON, "Q", sloc="0001", unrestricted=3)
    add_stock(con, MON, "Q", sloc="0001", batch="B", unrestricted=4)
    add_stock(con, MON, "Q", sloc="0002", blocked=5)
    keys = pl.DataFrame({"count_date": [TUE], "material": ["Q"], "plant": ["1000"]})
    total = sap_quantities(con, keys, config=get_settings().counting)
    assert total["sap_qty"].to_list() == [12]
    by_location = sap_quantities(con, keys, by_storage_location=True,
                                 config=get_settings().counting)
    assert dict(by_location.select("storage_location", "sap_qty").iter_rows()) == {
        "0001": 7, "0002": 5}


def test_an_mb52_load_recomputes_the_counts_on_and_after_its_date_only(wics_home, tmp_path):
    from pipelines.ingest.after_load import after_load
    from pipelines.ingest.load import load_file

    from conftest import MB52_HEADER, MM60_HEADER, mb52_row, mm60_row, write_xlsx

    load_file(write_xlsx(tmp_path / "MM60_2026-11-01.xlsx", [MM60_HEADER, mm60_row("1")]))
    load_file(write_xlsx(tmp_path / "MB52_2026-11-02.xlsx", [MB52_HEADER, mb52_row("1")]))
    with warehouse() as con:
        count(con, MON, "1", "5")  # 2026-11-02
        count(con, THU, "1", "5")  # 2026-11-05
        # A mark on the earlier line: only a recomputation of it would remove it.
        con.execute("UPDATE count_variance SET counters = 'untouched' WHERE count_date = ?",
                    [MON])
    later = load_file(write_xlsx(tmp_path / "MB52_2026-11-04.xlsx",
                                 [MB52_HEADER, mb52_row("1", unrestricted=50)]))
    after_load(later.load_id, get_settings(), today=FRI)
    with warehouse(read_only=True) as con:
        lines = fetch(con, "SELECT count_date, sap_snapshot_date, sap_qty, counters "
                           "FROM count_variance ORDER BY count_date").rows()
    assert lines == [(MON, MON, 5.0, "untouched"),
                     (THU, date(2026, 11, 4), 50.0, None)]
