"""Loads: every MM60, MB52 and count-sheet rule, on a real DuckDB file per test."""

from __future__ import annotations

import os
import shutil
from datetime import date, datetime

import pytest

from pipelines.ingest.load import date_from_file_name, load_file
from pipelines.warehouse.db import query

from conftest import mb52_row, mm60_row


def materials(settings) -> dict[tuple[str, str], dict]:
    frame = query("SELECT * FROM material ORDER BY ALL", path=settings.database)
    return {(r["material"], r["plant"]): r for r in frame.iter_rows(named=True)}


def changes(settings, load_id: int) -> set[tuple]:
    frame = query(
        "SELECT change, material, plant, field, old_value, new_value FROM material_change "
        "WHERE load_id = ?", [load_id], path=settings.database)
    return set(frame.iter_rows())


def test_mm60_first_load_adds_every_material(wics_home, mm60_file):
    result = load_file(mm60_file([mm60_row("000000000010000001"), mm60_row("BRKT-1", "1100")]))
    assert result.status == "loaded" and result.kind == "mm60"
    assert result.rows_loaded == 2
    assert result.summary["added"] == 2
    rows = materials(wics_home)
    assert set(rows) == {("10000001", "1000"), ("BRKT-1", "1100")}
    assert rows[("10000001", "1000")]["is_active"] is True
    assert changes(wics_home, result.load_id) == {
        ("added", "10000001", "1000", None, None, None),
        ("added", "BRKT-1", "1100", None, None, None),
    }


def test_mm60_update_records_changes_removals_and_reactivations(wics_home, mm60_file):
    first = load_file(mm60_file([
        mm60_row("1", price=10.0), mm60_row("2"), mm60_row("3"), mm60_row("9", "2000"),
    ], name="MM60_2026-10-01.xlsx"))
    stamp = materials(wics_home)[("2", "1000")]["updated_at"]
    second = load_file(mm60_file([
        mm60_row("1", price=12.5, abc="B"), mm60_row("2"), mm60_row("4"),
    ], name="MM60_2026-11-01.xlsx"))
    assert second.summary | {"collapsed": []} == second.summary | {
        "added": 1, "removed": 1, "changed": 1, "reactivated": 0, "collapsed": []}
    assert changes(wics_home, second.load_id) == {
        ("changed", "1", "1000", "price", "10.0", "12.5"),
        ("changed", "1", "1000", "abc_indicator", "A", "B"),
        ("removed", "3", "1000", None, None, None),
        ("added", "4", "1000", None, None, None),
    }
    rows = materials(wics_home)
    assert rows[("3", "1000")]["is_active"] is False  # never deleted
    assert rows[("9", "2000")]["is_active"] is True  # plant 2000 not in the file: untouched
    assert rows[("2", "1000")]["updated_at"] == stamp  # unchanged rows keep their stamp
    assert rows[("1", "1000")]["price"] == 12.5

    third = load_file(mm60_file([mm60_row("1", price=12.5, abc="B"), mm60_row("2"),
                                 mm60_row("3", description="BOLT M8 NEW")],
                                name="MM60_2026-12-01.xlsx"))
    assert changes(wics_home, third.load_id) == {
        ("reactivated", "3", "1000", None, None, None),
        ("changed", "3", "1000", "description", "BOLT M8", "BOLT M8 NEW"),
        ("removed", "4", "1000", None, None, None),
    }
    assert materials(wics_home)[("3", "1000")]["is_active"] is True
    assert first.load_id < second.load_id < third.load_id


def test_mm60_collapses_valuation_types_and_duplicates(wics_home, mm60_file):
    result = load_file(mm60_file([
        mm60_row("7", price=1.0, valuation_type="NEW", last_change=date(2026, 10, 20)),
        mm60_row("7", price=2.0, valuation_type=None, last_change=date(2026, 1, 1)),
        mm60_row("7", price=3.0, valuation_type="USED", last_change=date(2026, 10, 21)),
        mm60_row("8", price=4.0, last_change=date(2025, 1, 1), description="OLD"),
        mm60_row("8", price=5.0, last_change=date(2026, 1, 1), description="NEW"),
        mm60_row("9"), mm60_row("9"),
    ]))
    assert result.status == "loaded"
    rows = materials(wics_home)
    assert rows[("7", "1000")]["price"] == 2.0  # blank valuation type wins
    assert rows[("8", "1000")]["description"] == "NEW"  # then the latest Last Change
    assert result.rows_read == 7 and result.rows_loaded == 3
    assert result.summary["collapsed"] == [
        {"material": "7", "plant": "1000", "rows": [2, 3, 4], "kept_row": 3},
        {"material": "8", "plant": "1000", "rows": [5, 6], "kept_row": 6},
        {"material": "9", "plant": "1000", "rows": [7, 8], "kept_row": 8},
    ]


def test_mb52_snapshot_date_from_as_of_name_or_mtime(wics_home, mb52_file, tmp_path):
    assert date_from_file_name("MB52_stock_2026-11-20.xlsx") == date(2026, 11, 20)
    assert date_from_file_name("MB52_20261120.XLS") == date(2026, 11, 20)
    assert date_from_file_name("Bestand 20.11.2026.txt") == date(2026, 11, 20)
    assert date_from_file_name("MB52_stock.xlsx") is None

    named = load_file(mb52_file([mb52_row("1")], name="MB52_20261120.xlsx"))
    assert named.snapshot_date == date(2026, 11, 20)
    forced = load_file(mb52_file([mb52_row("2")], name="MB52_2026-11-21.xlsx"),
                       as_of=date(2026, 11, 19))
    assert forced.snapshot_date == date(2026, 11, 19)
    unnamed = mb52_file([mb52_row("3")], name="MB52_stock.xlsx")
    stamp = datetime(2026, 11, 18, 6, 30).timestamp()
    os.utime(unnamed, (stamp, stamp))
    assert load_file(unnamed).snapshot_date == date(2026, 11, 18)
    dates = query("SELECT snapshot_date, material FROM sap_stock ORDER BY 1",
                  path=wics_home.database).rows()
    assert dates == [(date(2026, 11, 18), "3"), (date(2026, 11, 19), "2"),
                     (date(2026, 11, 20), "1")]


def test_mb52_reload_of_a_date_replaces_it_and_reports_unknown_materials(wics_home, mm60_file,
                                                                          mb52_file):
    load_file(mm60_file([mm60_row("1"), mm60_row("2")]))
    first = load_file(mb52_file([mb52_row("1", unrestricted=5), mb52_row("2", sloc="0002"),
                                 mb52_row("1", sloc="0002", batch="B1", quality=2)]))
    assert first.rows_loaded == 3 and first.summary["unknown_materials"] == 0
    second = load_file(mb52_file([mb52_row("1", unrestricted=7), mb52_row("77", "1000")],
                                 name="MB52_2026-11-02_rerun.xlsx"))
    assert second.snapshot_date == first.snapshot_date
    assert second.summary["replaced_lines"] == 3
    assert second.summary["unknown_materials"] == 1
    assert second.summary["unknown_examples"] == ["77 / 1000"]
    stock = query("SELECT material, unrestricted FROM sap_stock ORDER BY 1",
                  path=wics_home.database).rows()
    assert stock == [("1", 7.0), ("77", 5.0)]  # loaded although unknown


def test_count_sheet_expressions_locations_and_blank_lines(wics_home, mm60_file, count_file):
    load_file(mm60_file([mm60_row("10000001"), mm60_row("10000002")]))
    result = load_file(count_file([
        ["2026-11-02", "000000000010000001", "1000", "0001", "R01-A", "24*10", "ANA", None],
        ["2026-11-02", "10000001", "1000", "0002", "R02-B", 0, "BEN", "empty bin"],
        ["2026-11-02", "10000002", "1000", "0001", "R03-C", None, "ANA", "seen"],
        [None, "10000002", "1000", None, None, None, None, None],  # blank worksheet line
        [None, "10000002", "1000", "0001", "R04", "3*(2+1)", "BEN", None],  # date from name
    ]))
    assert result.status == "loaded", result.error
    assert result.summary["counted"] == 3 and result.summary["locations_only"] == 1
    assert result.summary["blank_lines"] == 1
    rows = query(
        """SELECT material, location, quantity, quantity_expr, counter, count_date, load_id,
                  entered_by FROM physical_count ORDER BY location""", path=wics_home.database
    ).rows()
    assert [r[:5] for r in rows] == [
        ("10000001", "R01-A", 240.0, "24*10", "ANA"),
        ("10000001", "R02-B", 0.0, "0", "BEN"),
        ("10000002", "R03-C", None, None, "ANA"),
        ("10000002", "R04", 9.0, "3*(2+1)", "BEN"),
    ]
    assert {r[5] for r in rows} == {date(2026, 11, 2)}
    assert {r[6] for r in rows} == {result.load_id}
    assert rows[0][7] == "sheet:counts_2026-11-02.xlsx"


def test_same_bytes_twice_are_loaded_once(wics_home, mm60_file, tmp_path):
    path = mm60_file([mm60_row("1")])
    copy = tmp_path / "renamed.xlsx"
    shutil.copy(path, copy)
    assert load_file(path).status == "loaded"
    again = load_file(copy)
    assert again.status == "duplicate"
    assert again.summary["duplicate_of_load"] == 1
    assert load_file(copy, force=True).status == "loaded"
    statuses = query("SELECT status FROM load_log ORDER BY load_id",
                     path=wics_home.database)["status"].to_list()
    assert statuses == ["loaded", "duplicate", "loaded"]
    hashes = query("SELECT DISTINCT sha256 FROM load_log", path=wics_home.database)["sha256"]
    assert hashes.to_list() == [again.sha256] and len(again.sha256) == 64


def test_dropped_files_move_and_outside_files_are_only_copied(wics_home, mm60_file):
    outside = mm60_file([mm60_row("1")])
    result = load_file(outside)
    assert outside.exists()  # never moved out of a folder WICS does not own
    assert result.moved_to == wics_home.archive_dir / outside.name
    dropped = wics_home.drop_dir / "MM60_2026-12-01.xlsx"
    shutil.copy(mm60_file([mm60_row("1"), mm60_row("2")], name="other.xlsx"), dropped)
    second = load_file(dropped)
    assert not dropped.exists()
    assert second.moved_to.parent == wics_home.archive_dir and second.moved_to.exists()


def test_load_log_records_every_file(wics_home, mm60_file):
    result = load_file(mm60_file([mm60_row("1")]))
    log = query("SELECT * FROM load_log", path=wics_home.database).row(0, named=True)
    assert log["load_id"] == result.load_id
    assert log["kind"] == "mm60" and log["status"] == "loaded"
    assert log["rows_read"] == 1 and log["rows_loaded"] == 1
    assert log["sha256"] == result.sha256 and len(log["sha256"]) == 64
    assert log["finished_at"] >= log["started_at"]
    assert log["snapshot_date"] == date(2026, 11, 1)


def test_a_failure_that_is_not_the_files_fault_leaves_the_file_to_retry(
        wics_home, mm60_file, monkeypatch):
    import pipelines.ingest.load as runner

    dropped = wics_home.drop_dir / "MM60_2026-11-01.xlsx"
    shutil.copy(mm60_file([mm60_row("1")]), dropped)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(runner, "load_material_master", broken)
    with pytest.raises(OSError):
        load_file(dropped)
    assert dropped.exists()  # still in drop/, ready for a retry
    assert query("SELECT count(*) FROM material", path=wics_home.database).item() == 0
    log = query("SELECT status, error FROM load_log", path=wics_home.database).row(0)
    assert log == ("failed", "OSError: disk full")


def test_change_report_lists_every_change_but_not_a_first_load(wics_home, mm60_file):
    import openpyxl

    from pipelines.ingest.after_load import refresh_after_load
    from pipelines.reports.change_report import write_load_change_report

    def report(load_id: int | None = None) -> openpyxl.Workbook:
        _, path = write_load_change_report(wics_home.reports_dir / "r.xlsx", load_id)
        return openpyxl.load_workbook(path)

    first = load_file(mm60_file([mm60_row("1"), mm60_row("2")], name="MM60_2026-10-01.xlsx"))
    assert refresh_after_load(first, wics_home) == [
        "change report on demand: wics changes 1",
        "count_variance: 0 lines, 0 out of tolerance"]
    assert list(wics_home.reports_dir.iterdir()) == []  # the load wrote no report
    book = report(first.load_id)
    assert "First load of these plants: 2 materials added" in book["Summary"]["A3"].value
    assert book["All changes"].max_row == 1  # the header only
    second = load_file(mm60_file([mm60_row("1", description='=HYPERLINK("x")'),
                                  mm60_row("3")]))
    refresh_after_load(second, wics_home)
    book = report()  # the latest MM60 load
    rows = list(book["All changes"].iter_rows(min_row=2, values_only=True))
    assert [(r[0], r[1], r[4]) for r in rows] == [
        ("added", "3", None), ("changed", "1", "description"), ("removed", "2", None)]
    formula_cell = book["All changes"]["G3"]
    assert formula_cell.value == '=HYPERLINK("x")' and formula_cell.data_type == "s"


def test_change_report_continues_on_further_sheets_past_the_sheet_limit(wics_home, mm60_file,
                                                                        monkeypatch):
    import openpyxl

    from pipelines.reports import change_report

    load_file(mm60_file([mm60_row("1"), mm60_row("2")], name="MM60_2026-10-01.xlsx"))
    load_file(mm60_file([mm60_row(str(n)) for n in range(3, 8)]))  # 5 added, 2 removed
    monkeypatch.setattr(change_report, "SHEET_ROWS", 3)  # Excel's 1,048,575, made small
    _, path = change_report.write_load_change_report(wics_home.reports_dir / "r.xlsx")
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["Summary", "Changed fields", "All changes", "All changes 2",
                               "All changes 3"]
    listed = [row for name in book.sheetnames[2:]
              for row in book[name].iter_rows(min_row=2, values_only=True)]
    assert [len(list(book[name].iter_rows(min_row=2))) for name in book.sheetnames[2:]] == [
        3, 3, 1]
    assert sorted((r[0], r[1]) for r in listed) == sorted(
        [("added", str(n)) for n in range(3, 8)] + [("removed", "1"), ("removed", "2")])
