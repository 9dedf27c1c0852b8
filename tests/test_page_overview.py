"""Overview page: the morning figures of a small warehouse, computed by hand."""

from __future__ import annotations

from datetime import date

import pytest
from streamlit.testing.v1 import AppTest

from pipelines.access import Role, User
from pipelines.counting.calendar import previous_working_day
from pipelines.counting.records import add_count
from pipelines.counting.schedule import add_to_schedule
from pipelines.ingest.load import load_file
from pipelines.settings import get_settings
from pipelines.warehouse.db import warehouse

from auth import USER_KEY
from conftest import REPO, mb52_row, mm60_row, write_text

APP = str(REPO / "dashboard" / "streamlit_app.py")
TODAY = date.today()


@pytest.fixture(autouse=True)
def fresh_cache():
    import streamlit as st

    st.cache_data.clear()


def _overview() -> AppTest:
    app = AppTest.from_file(APP, default_timeout=60)
    app.session_state[USER_KEY] = User("vera", Role.VIEWER)  # the overview is for everyone
    app.run()
    assert not app.exception, app.exception
    return app


def _in_gbp(row: list[object]) -> list[object]:
    row[9] = "GBP"  # the Currency column of MM60_HEADER
    return row


@pytest.fixture
def morning(wics_home, mm60_file, mb52_file):
    """Plant 1000, materials 1 (A, 10.00), 2 (B, 5.00), 3 (C, 2.00); plant 3000 material 9
    in GBP. SAP: 100, 50, 10 and 7, snapshot of the previous working day. Three lines
    scheduled today; 1 counted exact, 2 counted 45 (-10 %, out of B's 3 %: -25.00 EUR),
    3 not counted; 9 counted 8 unscheduled (+1, C 5 % -> out: +4.00 GBP)."""
    snapshot = previous_working_day(TODAY)
    load_file(mm60_file([mm60_row("1", abc="A", price=10.0), mm60_row("2", abc="B", price=5.0),
                         mm60_row("3", abc="C", price=2.0),
                         _in_gbp(mm60_row("9", "3000", abc="C", price=4.0))],
                        name=f"MM60_{TODAY.isoformat()}.xlsx"))
    load_file(mb52_file([mb52_row("1", unrestricted=100), mb52_row("2", unrestricted=50),
                         mb52_row("3", unrestricted=10), mb52_row("9", "3000", unrestricted=7)],
                        name=f"MB52_{snapshot.isoformat()}.xlsx"))
    load_file(write_text(wics_home.drop_dir / f"MB52_{TODAY.isoformat()}.XLS", "nonsense\n"))
    with warehouse(wics_home.database) as con:
        for material in ("1", "2", "3"):
            add_to_schedule(con, count_date=TODAY, material=material, plant="1000",
                            counter="ANA", reason="cycle", user=User.system("test"),
                            settings=get_settings())
        for material, plant, quantity in (("1", "1000", "100"), ("2", "1000", "9*5"),
                                          ("9", "3000", 8)):
            add_count(con, count_date=TODAY, material=material, plant=plant,
                      quantity=quantity, location="A-01", counter="ANA", user=User.system("ANA"),
                      settings=get_settings())
    return wics_home


def test_morning_figures_match_the_hand_computed_ones(morning):
    app = _overview()
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Accuracy today"] == "33.3 %"  # 1 of 3 lines within tolerance
    assert metrics["Accuracy this week"] == "33.3 %"
    assert metrics["Counts today"] == "2 of 3"  # material 3 still open
    assert metrics["Open recounts"] == "2"  # materials 2 and 9, next working day
    assert metrics["Out of tolerance this week"] == "EUR 25"
    value = next(m for m in app.metric if m.label == "Out of tolerance this week")
    assert "GBP 4" in value.help


def test_freshness_and_loads(morning):
    app = _overview()
    text = " ".join(m.value for m in app.markdown)
    assert "MB52 stock** is fresh" in text
    assert "MM60 material list** is fresh" in text
    loads = app.dataframe[1].value  # recounts first, then recent loads
    assert loads["file_name"].tolist()[0] == f"MB52_{TODAY.isoformat()}.XLS"
    assert loads["status"].tolist()[0] == "rejected"
    assert "no header row" in loads["error"].tolist()[0]


def test_stale_sap_data_is_red_with_its_date(wics_home, mm60_file, mb52_file):
    load_file(mm60_file([mm60_row("1")], name="MM60_2026-01-05.xlsx"))
    load_file(mb52_file([mb52_row("1")], name="MB52_2026-01-06.xlsx"))
    app = _overview()
    text = " ".join(m.value for m in app.markdown)
    assert ":red[:material/error: **MB52 stock is stale** — latest MB52 snapshot is " \
           "2026-01-06, older than" in text
    assert "**MM60 material list is stale** — latest MM60 is from 2026-01-05" in text


def test_recounts_table_and_trend(morning):
    app = _overview()
    recounts = app.dataframe[0].value
    assert sorted(recounts["material"].tolist()) == ["2", "9"]
    by_material = dict(zip(recounts["material"], recounts["variance_value"], strict=True))
    assert by_material == {"2": pytest.approx(-25.0), "9": pytest.approx(4.0)}
    assert "week" in _chart_spec(app)


def _chart_spec(app: AppTest) -> str:
    charts = app.get("vega_lite_chart")
    assert charts, "no chart on the page"
    return charts[0].proto.spec


def test_trend_split_by_plant(morning):
    app = _overview()
    assert '"color"' not in _chart_spec(app)
    app.session_state["trend_split"] = "Plant"
    app.run()
    assert not app.exception
    assert '"field":"plant"' in _chart_spec(app).replace(" ", "")


def test_an_empty_warehouse_says_what_to_do(wics_home):
    app = _overview()
    assert "The warehouse is empty" in app.info[0].value
    assert {m.label: m.value for m in app.metric}["Accuracy today"] == "–"
