"""Materials and Counts pages: AppTest on a real warehouse file (two MM60 loads, two MB52
snapshots, counts by two counters)."""

from __future__ import annotations

import io
from datetime import date, datetime

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from pipelines.access import Role, User
from pipelines.counting.materials import (
    last_locations,
    part_location_totals,
    part_locations,
    search_materials,
    stock_history,
)
from pipelines.counting.records import add_count
from pipelines.ingest.load import load_file
from pipelines.settings import get_settings
from pipelines.warehouse.db import warehouse

from conftest import REPO, mb52_row, mm60_row

APP = str(REPO / "dashboard" / "streamlit_app.py")
MATERIALS = "app_pages/materials.py"
COUNTS = "app_pages/counts.py"
ANNA = User("anna", Role.COUNTER)
BEN = User("ben", Role.COUNTER)
BOSS = User("boss", Role.MANAGER)
VIEWER = User("vera", Role.VIEWER)
MON, TUE = date(2026, 11, 2), date(2026, 11, 3)


@pytest.fixture(autouse=True)
def fresh_cache():
    """Cached reads are keyed by arguments, not WICS_HOME; each test has its own warehouse."""
    import streamlit as st

    st.cache_data.clear()


@pytest.fixture
def warehouse_file(wics_home, mm60_file, mb52_file):
    load_file(mm60_file([mm60_row("000000000010000001", description="HEX BOLT M8X40", abc="A"),
                         mm60_row("10000002", description="WASHER M8", abc="C"),
                         mm60_row("ZZ-KIT/7", "1100", description="SERVICE KIT PUMP")],
                        name="MM60_2026-10-01.xlsx"))
    load_file(mm60_file([mm60_row("10000001", description="HEX BOLT M8X40", abc="A",
                                  price=12.5),
                         mm60_row("10000002", description="WASHER M8", abc="C"),
                         mm60_row("ZZ-KIT/7", "1100", description="SERVICE KIT PUMP")],
                        name="MM60_2026-11-01.xlsx"))
    load_file(mb52_file([mb52_row("10000001", sloc="0001", unrestricted=100),
                         mb52_row("10000001", sloc="0002", unrestricted=20),
                         mb52_row("10000002", unrestricted=500)],
                        name="MB52_2026-10-26.xlsx"))
    load_file(mb52_file([mb52_row("10000001", sloc="0001", unrestricted=90),
                         mb52_row("10000002", unrestricted=480)],
                        name="MB52_2026-11-02.xlsx"))
    entered = datetime(2026, 11, 3, 9, 0)
    settings = get_settings()
    with warehouse() as con:
        ids = {
            "anna_bolt": add_count(con, count_date=MON, material="10000001", plant="1000",
                                   quantity="24*3+16", storage_location="0001",
                                   location="R01-A-1", counter="anna", user=ANNA,
                                   entered_at=entered, settings=settings),
            "ben_bolt": add_count(con, count_date=MON, material="10000001", plant="1000",
                                  quantity=4, storage_location="0001", location="OVERFLOW-1",
                                  counter="ben", user=BEN, entered_at=entered, settings=settings),
            "ben_washer": add_count(con, count_date=TUE, material="10000002", plant="1000",
                                    quantity=480, storage_location="0001", location="R07-C-2",
                                    counter="ben", user=BEN, entered_at=entered, settings=settings),
            "anna_washer_seen": add_count(con, count_date=TUE, material="10000002",
                                          plant="1000", quantity=None, location="DOCK-3",
                                          counter="anna", user=ANNA, entered_at=entered,
                                          settings=settings),
        }
    return ids


def _app(user: User | None = BOSS, page: str = MATERIALS, **query: str) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=60)
    if user is not None:
        app.session_state["wics_user"] = user
    app.run()
    app.switch_page(page)
    for key, value in query.items():
        app.query_params[key] = value
    app.run()
    assert not app.exception, app.exception
    return app


def _search(app: AppTest, text: str) -> AppTest:
    app.text_input(key="material_search").set_value(text).run()
    assert not app.exception, app.exception
    return app


def _frame(app: AppTest, column: str) -> pl.DataFrame:
    """The first dataframe on the page that has ``column``."""
    for element in app.dataframe:
        if column in element.value.columns:
            return pl.from_pandas(element.value)
    raise AssertionError(f"no table with {column}: {[e.value.columns for e in app.dataframe]}")


# --- domain -----------------------------------------------------------------------------------

def test_search_by_number_with_or_without_zeros_and_by_description(warehouse_file):
    settings = get_settings()
    with warehouse(read_only=True) as con:
        def find(text: str) -> pl.DataFrame:
            return search_materials(con, text, settings=settings)

        for typed in ("000000000010000001", "10000001", " 10000001\u00a0"):
            found = find(typed)
            assert found.row(0, named=True)["material"] == "10000001", typed
            assert found.row(0, named=True)["match"] == "number"
        assert set(find("1000000")["material"]) == {"10000001", "10000002"}
        assert find("bolt m8")["material"].to_list() == ["10000001"]
        assert find("m8 HEX")["material"].to_list() == ["10000001"]
        assert find("kit/7")["material"].to_list() == []  # not a prefix
        assert find("zz-kit/7")["plant"].to_list() == ["1100"]
        assert find("100%").is_empty()  # typed text is data, not a pattern
        assert find("").is_empty()


def test_stock_history_fills_snapshots_without_a_line_with_zero(warehouse_file):
    with warehouse(read_only=True) as con:
        stock = stock_history(con, "010000001", "1000", settings=get_settings())
    rows = {(r["snapshot_date"], r["storage_location"]): r["sap_qty"]
            for r in stock.iter_rows(named=True)}
    assert rows == {(date(2026, 10, 26), "0001"): 100, (date(2026, 10, 26), "0002"): 20,
                    (date(2026, 11, 2), "0001"): 90, (date(2026, 11, 2), "0002"): 0}


def test_part_locations_and_worksheet_last_locations(warehouse_file):
    with warehouse(read_only=True) as con:
        places = part_locations(con, settings=get_settings())
        bolt = part_locations(con, material="000000000010000001", plant="1000",
                              settings=get_settings())
        last = last_locations(con, before=date(2026, 11, 4))
        before_tue = last_locations(con, before=TUE)
    assert places.height == 4 and set(places["material"]) == {"10000001", "10000002"}
    assert sorted(bolt["location"].to_list()) == ["OVERFLOW-1", "R01-A-1"]
    r01 = bolt.filter(pl.col("location") == "R01-A-1").row(0, named=True)
    assert (r01["last_seen"], r01["last_quantity"], r01["last_counters"]) == (MON, 88, "anna")
    dock = places.filter(pl.col("location") == "DOCK-3").row(0, named=True)
    assert dock["last_quantity"] is None  # seen there, not counted
    washer = last.filter(pl.col("material") == "10000002")["last_locations"].item()
    assert washer == "0001/R07-C-2, DOCK-3"  # same day: by place
    assert before_tue["material"].to_list() == ["10000001"]


def test_part_locations_screen_and_download(warehouse_file, monkeypatch):
    import openpyxl

    monkeypatch.syspath_prepend(str(REPO / "dashboard"))
    import materials_data

    with warehouse() as con:
        add_count(con, count_date=TUE, material="ZZ-KIT/7", plant="1100", quantity=1,
                  location="=HYPERLINK(\"http://x\")", user=BOSS, settings=get_settings())
    with warehouse(read_only=True) as con:
        first = part_locations(con, first_materials=1, settings=get_settings())
        totals = part_location_totals(con)
    assert set(first["material"]) == {"10000001"}  # the first material, all its places
    assert first.height == 2
    assert totals == {"materials": 3, "places": 5}
    book = openpyxl.load_workbook(io.BytesIO(materials_data.part_locations_xlsx()))
    rows = list(book.active.iter_rows(values_only=True))
    header = rows.index(next(r for r in rows if r and r[0] == "material"))
    assert len(rows) - header - 1 == 5
    cell = next(c for row in book.active.iter_rows() for c in row
                if isinstance(c.value, str) and "HYPERLINK" in c.value)
    assert cell.data_type == "s"  # text from a counter never becomes a formula


# --- Materials page ---------------------------------------------------------------------------

def test_page_search_finds_with_and_without_leading_zeros_and_by_description(warehouse_file):
    app = _app()
    for typed in ("000000000010000001", "10000001"):
        _search(app, typed)
        assert app.selectbox(key="material_choice").value == ("10000001", "1000")
        assert app.header[0].value.startswith("10000001 · HEX BOLT M8X40")
    _search(app, "washer")
    assert app.selectbox(key="material_choice").value == ("10000002", "1000")
    assert app.header[0].value == "10000002 · WASHER M8"
    _search(app, "no such thing")
    assert "No material matches" in app.warning[0].value
    assert not app.header


def test_chosen_material_shows_its_stock_counts_and_changes(warehouse_file):
    app = _search(_app(), "10000001")
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["SAP stock"] == "90 EA"  # latest snapshot, all storage locations
    assert metrics["Last count"] == "2026-11-02"
    assert metrics["Unit price"] == "EUR 12.50"
    places = _frame(app, "last_seen")
    assert sorted(places["location"].to_list()) == ["OVERFLOW-1", "R01-A-1"]
    variances = _frame(app, "variance_qty")
    line = variances.row(0, named=True)
    # Counted 88 + 4 against 90 + 0 in the snapshot of Nov 2.
    assert (line["counted_qty"], line["sap_qty"], line["variance_qty"]) == (92, 90, 2)
    entries = _frame(app, "quantity_expr")
    assert "24*3+16" in entries["quantity_expr"].to_list()
    changes = _frame(app, "old_value")
    price = changes.filter(pl.col("field") == "price").row(0, named=True)
    assert (price["old_value"], price["new_value"]) == ("10.0", "12.5")
    schedule = _frame(app, "reason")  # the out-of-tolerance count got a recount
    assert schedule["reason"].to_list() == ["recount"]
    assert app.tabs[2].label == f"MM60 changes ({changes.height})"


def test_material_from_the_address(warehouse_file):
    app = _app(material="10000002", plant="1000")
    assert app.header[0].value == "10000002 · WASHER M8"
    without_plant = _app(material="000000000010000001")
    assert without_plant.selectbox(key="material_choice").value == ("10000001", "1000")


def test_counts_of_a_material_linked_from_its_page(warehouse_file):
    app = _app(page=COUNTS, material="10000001")
    assert app.text_input(key="counts_material").value == "10000001"
    _period(app, MON, TUE)
    assert set(_counts(app)["material"]) == {"10000001"}


def test_part_locations_of_all_materials(warehouse_file):
    app = _app()
    app.radio(key="materials_view").set_value("Part locations of all materials").run()
    places = _frame(app, "last_seen")
    assert places.height == 4
    app.text_input(key="part_locations_plant").set_value("1100").run()
    assert "No count has recorded a location yet." in app.info[0].value
    assert app.get("download_button") == []


# --- Counts page ------------------------------------------------------------------------------

def _counts(app: AppTest) -> pl.DataFrame:
    return _frame(app, "entered_by")


def _period(app: AppTest, start: date, end: date) -> AppTest:
    app.date_input(key="counts_period").set_value((start, end)).run()
    assert not app.exception, app.exception
    return app


def test_count_list_filters_change_the_rows(warehouse_file):
    app = _period(_app(page=COUNTS), MON, TUE)
    assert _counts(app).height == 4
    _period(app, TUE, TUE)
    assert set(_counts(app)["material"]) == {"10000002"}
    _period(app, MON, TUE)
    app.selectbox(key="counts_counter").set_value("anna").run()
    assert set(_counts(app)["counter"]) == {"anna"} and _counts(app).height == 2
    app.selectbox(key="counts_counter").set_value("Everyone").run()
    app.text_input(key="counts_material").set_value("000000000010000001").run()
    assert set(_counts(app)["material"]) == {"10000001"} and _counts(app).height == 2
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Count entries"] == "2" and metrics["Materials × plants"] == "1"
    assert metrics["Counters"] == "2"


def test_a_counter_may_change_only_own_counts(warehouse_file):
    ids = warehouse_file
    app = _period(_app(ANNA, page=COUNTS), MON, TUE)
    choice = app.selectbox(key="counts_change_id")
    assert len(choice.options) == 2
    assert all(f"{i} · " in " ".join(choice.options)
               for i in (ids["anna_bolt"], ids["anna_washer_seen"]))
    assert not any(option.startswith(f"{ids['ben_bolt']} ") for option in choice.options)
    manager = _period(_app(BOSS, page=COUNTS), MON, TUE)
    assert len(manager.selectbox(key="counts_change_id").options) == 4
    viewer = _period(_app(VIEWER, page=COUNTS), MON, TUE)
    assert "Correct or void a count" not in [s.value for s in viewer.subheader]
    assert not [b for b in viewer.button if b.label in ("Void count", "Save correction")]
    ben_only = _period(_app(ANNA, page=COUNTS), MON, TUE)
    ben_only.selectbox(key="counts_counter").set_value("ben").run()
    assert any("You can change the counts you entered yourself" in c.value
               for c in ben_only.caption)


def test_void_leaves_the_sums_and_stays_in_the_history(warehouse_file):
    ids = warehouse_file
    app = _period(_app(ANNA, page=COUNTS), MON, MON)
    before = pl.from_pandas(app.dataframe[1].value)
    assert before["counted_qty"].to_list() == [92]
    app.selectbox(key="counts_change_id").set_value(ids["anna_bolt"]).run()
    app.text_input(key="void_reason").set_value("counted the wrong bin")  # in the form
    [button] = [b for b in app.button if b.label == "Void count"]
    button.click().run()
    assert not app.exception, app.exception
    assert not app.error, [e.value for e in app.error]
    assert f"Count {ids['anna_bolt']} voided." in app.success[0].value
    assert _counts(app)["count_id"].to_list() == [ids["ben_bolt"]]
    assert pl.from_pandas(app.dataframe[1].value)["counted_qty"].to_list() == [4]
    assert {m.label: m.value for m in app.metric}["Count entries"] == "1"
    app.toggle(key="counts_voided").set_value(True).run()
    shown = _counts(app)
    assert shown.filter(pl.col("count_id") == ids["anna_bolt"])["state"].to_list() == ["voided"]
    assert pl.from_pandas(app.dataframe[1].value)["counted_qty"].to_list() == [4]

    history = _search(_app(ANNA), "10000001")
    entries = _frame(history, "quantity_expr")
    voided = entries.filter(pl.col("count_id") == ids["anna_bolt"]).row(0, named=True)
    assert (voided["state"], voided["void_reason"], voided["voided_by"]) == (
        "voided", "counted the wrong bin", "anna")
    assert _frame(history, "variance_qty").row(0, named=True)["counted_qty"] == 4


def test_correction_replaces_the_entry(warehouse_file):
    ids = warehouse_file
    app = _period(_app(BOSS, page=COUNTS), MON, MON)
    app.selectbox(key="counts_change_id").set_value(ids["ben_bolt"]).run()
    app.text_input(key="correct_reason").set_value("typing error")
    form_inputs = [t for t in app.text_input if t.label.startswith("Quantity")]
    form_inputs[0].set_value("2*3")
    [button] = [b for b in app.button if b.label == "Save correction"]
    button.click().run()
    assert not app.exception, app.exception
    assert "corrected" in app.success[0].value
    assert pl.from_pandas(app.dataframe[1].value)["counted_qty"].to_list() == [94]
    app.toggle(key="counts_voided").set_value(True).run()
    states = dict(_counts(app).select("count_id", "state").iter_rows())
    assert states[ids["ben_bolt"]] == "corrected"
