"""Variances page: filters, a saved count's numbers, a void, the drill-down and a recount."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from pipelines.access import Role, User
from pipelines.counting import variances as queries
from pipelines.counting.records import add_count, void_count
from pipelines.ingest.load import load_file
from pipelines.settings import get_settings
from pipelines.warehouse.db import query, warehouse

from auth import USER_KEY
from conftest import REPO, mb52_row, mm60_row

APP = str(REPO / "dashboard" / "streamlit_app.py")
DAY = date(2026, 11, 3)
VIEWER = User("vera", Role.VIEWER)


@pytest.fixture(autouse=True)
def fresh_cache():
    import streamlit as st

    st.cache_data.clear()


@pytest.fixture
def stocked(wics_home, mm60_file, mb52_file):
    """Plant 1000: A material 1 (price 10), B material 2 (price 5 per 10), C material 3;
    plant 1100: A material 4. SAP stock on 2026-11-02: 100, 40, 10, 20."""
    load_file(mm60_file([
        mm60_row("1", abc="A", price=10.0), mm60_row("2", abc="B", price=5.0, price_unit=10),
        mm60_row("3", abc="C", price=2.0), mm60_row("4", "1100", abc="A", price=1.0),
    ]))
    load_file(mb52_file([
        mb52_row("1", unrestricted=100), mb52_row("2", unrestricted=30, sloc="0001"),
        mb52_row("2", unrestricted=10, sloc="0002", quality=0), mb52_row("3", unrestricted=10),
        mb52_row("4", "1100", unrestricted=20),
    ]))
    return wics_home


def _count(settings, material: str, quantity: object, plant: str = "1000", day: date = DAY,
           location: str = "A-01", counter: str = "ANA") -> int:
    with warehouse(settings.database) as con:
        return add_count(con, count_date=day, material=material, plant=plant,
                         quantity=quantity, location=location, counter=counter,
                         user=User.system(counter), settings=get_settings())


def _page(user: User = VIEWER, **state: object) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=60)
    app.session_state[USER_KEY] = user
    for key, value in state.items():
        app.session_state[key] = value
    app.run()
    app.switch_page("app_pages/variances.py")
    app.run()
    assert not app.exception, app.exception
    return app


def _table(app: AppTest) -> pl.DataFrame:
    return pl.from_pandas(app.dataframe[0].value)


@pytest.fixture
def counted(stocked):
    """Four lines on DAY: 1 exact, 2 out (B, -25 %), 3 within (C, +5 %), 4 out (A, +50 %)."""
    _count(stocked, "1", 100)
    _count(stocked, "2", "15*2")
    _count(stocked, "3", "10,5")
    _count(stocked, "4", 30, plant="1100", counter="BEN")
    return stocked


def test_a_saved_count_appears_with_its_numbers(stocked):
    _count(stocked, "2", "24+6", location="A-01")
    _count(stocked, "2", 4, location="OVF-1", counter="BEN")
    app = _page()
    row = _table(app).row(0, named=True)
    assert (row["material"], row["plant"], row["count_date"].date()) == ("2", "1000", DAY)
    assert row["counted_qty"] == 34 and row["sap_qty"] == 40  # two bins, two storage locs
    assert row["variance_qty"] == -6
    assert row["variance_pct"] == pytest.approx(-15.0)
    assert row["variance_value"] == pytest.approx(-3.0)  # 6 units at 5 per 10
    assert row["within_tolerance"] is False or row["within_tolerance"] == 0
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Lines"] == "1"
    assert metrics["Accuracy"] == "0.0 %"
    assert metrics["Absolute variance value"] == "EUR 3"
    assert metrics["Net variance value"] == "EUR -3"


def test_a_void_removes_the_count_from_the_sums(stocked):
    _count(stocked, "1", 98)
    second = _count(stocked, "1", 3, location="OVF-1")
    before = _table(_page()).row(0, named=True)
    assert before["counted_qty"] == 101  # both locations add up: within A's 1 %
    with warehouse(stocked.database) as con:
        void_count(con, second, user=User.system("ANA"), reason="counted twice",
                   settings=get_settings())
    import streamlit as st

    st.cache_data.clear()
    app = _page()
    after = _table(app).row(0, named=True)
    assert after["counted_qty"] == 98 and after["variance_qty"] == -2
    assert after["variance_value"] == pytest.approx(-20.0)
    assert {m.label: m.value for m in app.metric}["Net variance value"] == "EUR -20"
    # The voided count stays in the line's history, marked void.
    with warehouse(stocked.database, read_only=True) as con:
        history = queries.counts_of_line(con, DAY, "1", "1000")
    assert history.height == 2
    assert history.filter(pl.col("voided_at").is_not_null())["quantity"].to_list() == [3.0]


def test_filters_change_the_rows(counted):
    assert sorted(_table(_page())["material"].to_list()) == ["1", "2", "3", "4"]
    assert _table(_page(plants=["1100"]))["material"].to_list() == ["4"]
    assert sorted(_table(_page(abc=["A"]))["material"].to_list()) == ["1", "4"]
    assert sorted(_table(_page(out_only=True))["material"].to_list()) == ["2", "4"]
    out_a = _page(out_only=True, abc=["A"])
    assert _table(out_a)["material"].to_list() == ["4"]
    assert {m.label: m.value for m in out_a.metric}["Lines"] == "1"
    assert _table(_page(recount_only=True, plants=["1000"]))["material"].to_list() == ["2"]
    assert _table(_page(material=" 000000000000000003 "))["material"].to_list() == ["3"]
    later = _page(dates=(DAY + timedelta(days=1), DAY + timedelta(days=2)))
    assert later.info and "No variance line matches" in later.info[0].value


def test_lines_are_sorted_by_absolute_value(counted):
    values = _table(_page())["variance_value"].to_list()
    assert [abs(v) for v in values] == sorted((abs(v) for v in values), reverse=True)
    assert values[0] == pytest.approx(10.0)  # material 4: +10 at 1.00


def test_drilling_into_a_line_shows_its_counts_and_sap_lines(counted):
    _count(counted, "2", 4, location="OVF-2", counter="BEN")
    table = _table(_page())
    position = table["material"].to_list().index("2")
    app = _page(variance_table={"selection": {"rows": [position], "columns": [],
                                              "cells": []}})
    assert any("2 · plant 1000 · 2026-11-03" in s.value for s in app.subheader)
    counts = pl.from_pandas(app.dataframe[1].value)
    assert sorted(counts["quantity_expr"].to_list()) == ["15*2", "4"]
    assert sorted(counts["counter"].to_list()) == ["ANA", "BEN"]
    stock = pl.from_pandas(app.dataframe[2].value)
    assert sorted(stock["storage_location"].to_list()) == ["0001", "0002"]
    assert stock["in_basis"].sum() == 40
    assert not [b for b in app.button if b.label == "Schedule a recount"]  # a viewer


def test_a_manager_schedules_a_recount_from_a_line(counted):
    table = _table(_page())
    position = table["material"].to_list().index("3")
    selection = {"variance_table": {"selection": {"rows": [position], "columns": [],
                                                  "cells": []}}}
    viewer = _page(VIEWER, **selection)
    assert "Only a manager can schedule a recount." in [c.value for c in viewer.caption]
    app = _page(User("maria", Role.MANAGER), **selection)
    app.button(key="FormSubmitter:recount-Schedule a recount").click().run()
    assert not app.exception, app.exception
    assert any("Recount scheduled" in s.value for s in app.success)
    lines = query("""SELECT material, plant, reason, requested_by, request_note
                     FROM count_schedule WHERE reason = 'recount' AND material = '3'""",
                  path=counted.database)
    assert lines.rows() == [("3", "1000", "recount", "maria", "variance 5.0 % on 2026-11-03")]


def test_the_variance_report_downloads_as_xlsx(counted):
    import io

    from openpyxl import load_workbook

    from warehouse_data import variance_report_xlsx

    data = variance_report_xlsx(DAY, DAY, "1000", True)
    book = load_workbook(io.BytesIO(data))
    detail = book["Variances"]
    materials = [row[1] for row in detail.iter_rows(min_row=2, values_only=True)]
    assert materials == ["2"]  # plant 1000, out of tolerance only


def test_an_empty_warehouse_says_nothing_is_counted(wics_home):
    app = _page()
    assert "Nothing has been counted yet" in app.info[0].value


def test_domain_counts_of_a_line_keep_voided_rows(counted):
    with warehouse(counted.database) as con:
        first = queries.counts_of_line(con, DAY, "1", "1000")["count_id"].item()
        void_count(con, first, user=User.system("ANA"), reason="wrong bin", settings=get_settings())
        rows = queries.counts_of_line(con, DAY, "1", "1000")
        assert rows["void_reason"].to_list() == ["wrong bin"]
        lines = queries.find_variances(con, start=DAY, end=DAY, plants=["1000"])
    assert "1" not in lines["material"].to_list()  # its only count is void: no line
