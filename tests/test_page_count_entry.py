"""Count entry page: its logic with Streamlit's AppTest on a real warehouse file."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from counting_support import add_material, add_stock
from streamlit.testing.v1 import AppTest

from pipelines.access import Role, User
from pipelines.counting.records import count_history
from pipelines.counting.schedule import add_to_schedule
from pipelines.settings import get_settings
from pipelines.warehouse.db import fetch, warehouse

from conftest import REPO

APP = str(REPO / "dashboard" / "streamlit_app.py")
PAGE = "app_pages/count_entry.py"
ANA = User("ana", Role.COUNTER)
DAY = date.today()


@pytest.fixture(autouse=True)
def fresh_cache():
    import streamlit as st

    st.cache_data.clear()


@pytest.fixture
def line(wics_home, monkeypatch) -> int:
    """Ana's list of today: material 10000001 (SAP holds 300 of it)."""
    monkeypatch.setenv("WICS_COUNTERS", "ana,ben")
    with warehouse() as con:
        add_material(con, "10000001", abc="A", description="BOLT M8", price=2.0)
        add_material(con, "10000007", abc="C", description="WASHER 8MM")
        add_stock(con, DAY - timedelta(days=1), "10000001", unrestricted=300)
        return add_to_schedule(con, count_date=DAY, material="10000001", plant="1000",
                               counter="ana", user=User.system(), settings=get_settings())


def page(user: User = ANA) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=60)
    app.session_state["wics_user"] = user
    app.run()
    app.switch_page(PAGE)
    app.run()
    assert not app.exception, app.exception
    return app


def field(app: AppTest, key: str, name: str):
    return app.text_input(key=f"{key}_0_{name}")


def counts() -> list[dict]:
    with warehouse(read_only=True) as con:
        return fetch(con, "SELECT * FROM physical_count ORDER BY count_id").to_dicts()


def variance() -> list[dict]:
    with warehouse(read_only=True) as con:
        return fetch(con, "SELECT * FROM count_variance").to_dicts()


def test_the_list_is_the_counters_and_blind(line):
    app = page()
    assert app.selectbox(key="entry_counter").value == "ana"
    assert app.subheader[0].value == "To count: 1 of 1"
    assert "10000001 · BOLT M8" in app.expander[0].label
    text = " ".join(str(e.value) for e in app.markdown) + " ".join(c.value for c in app.caption)
    assert "300" not in text  # no SAP quantity anywhere


def test_a_bad_expression_shows_why_and_saves_nothing(line):
    key = f"line_{line}_ana_{DAY}"
    app = page()
    field(app, key, "loc").set_value("A-01")
    field(app, key, "qty").set_value("24*").run()
    assert "“24*” is not a quantity: expression ends too early" in app.error[0].value
    app.button(key=f"{key}_0_save").click().run()
    assert any(e.value.startswith("Not saved: “24*” is not a quantity") for e in app.error)
    assert counts() == []


def test_a_saved_count_is_recorded_with_its_numbers_and_reaches_the_variances(line):
    key = f"line_{line}_ana_{DAY}"
    app = page()
    field(app, key, "loc").set_value("A-01-02")
    field(app, key, "qty").set_value("24*12+7").run()
    assert any(m.value.startswith("= **295**") for m in app.markdown)
    app.checkbox(key=f"{key}_0_moved").check()
    app.button(key=f"{key}_0_save").click().run()
    assert not app.exception, app.exception
    assert app.success[0].value.startswith("Saved count")
    assert app.success[0].value.startswith("Saved count")
    [row] = counts()
    assert (row["material"], row["plant"], row["quantity"], row["quantity_expr"],
            row["location"], row["counter"], row["entered_by"],
            row["movement_during_count"]) == (
        "10000001", "1000", 295.0, "24*12+7", "A-01-02", "ana", "ana", True)
    [line_variance] = variance()
    assert (line_variance["counted_qty"], line_variance["sap_qty"],
            line_variance["variance_qty"], line_variance["variance_value"]) == (
        295.0, 300.0, -5.0, -10.0)
    assert line_variance["needs_recount"] is True  # 1.7 % off, class A allows 1 %
    # The form is empty again, the line is done, the entry is listed.
    assert app.text_input(key=f"{key}_1_qty").value == ""
    assert app.subheader[0].value == "To count: 0 of 1"
    listed = [d.value for d in app.dataframe][0]
    assert list(listed["quantity_expr"]) == ["24*12+7"]


def test_a_location_only_entry_and_an_unscheduled_material_found_by_number(line):
    app = page()
    app.text_input(key="entry_search").set_value("000010000007").run()
    assert "10000007 · plant 1000 · WASHER 8MM" in app.selectbox(key="entry_pick").format_func(
        app.selectbox(key="entry_pick").value)
    key = f"extra_10000007|1000_ana_{DAY}"
    field(app, key, "loc").set_value("B-07")
    app.run()
    assert any("location only" in c.value for c in app.caption)
    app.button(key=f"{key}_0_save").click().run()
    assert not app.exception, app.exception
    [row] = counts()
    assert (row["material"], row["quantity"], row["location"]) == ("10000007", None, "B-07")
    assert variance() == []  # seen, not counted: nothing to reconcile


def test_void_removes_the_count_from_the_sums_and_keeps_its_history(line):
    key = f"line_{line}_ana_{DAY}"
    app = page()
    field(app, key, "loc").set_value("A-01")
    field(app, key, "qty").set_value("300")
    app.button(key=f"{key}_0_save").click().run()
    assert variance()[0]["counted_qty"] == 300
    [first] = counts()

    # A correction voids the row and inserts a new one pointing back at it.
    form = [t for t in app.text_input if t.label == "Quantity" and t.value == "300"][0]
    form.set_value("290+5")
    app.button(key=f"FormSubmitter:edit_{first['count_id']}-Save correction").click().run()
    assert not app.exception, app.exception
    assert "Corrected entry" in app.success[0].value
    assert variance()[0]["counted_qty"] == 295

    newest = counts()[-1]
    [t for t in app.text_input if t.label == "Reason"][0].set_value("wrong material")
    app.button(key=f"FormSubmitter:edit_{newest['count_id']}-Void this entry").click().run()
    assert "Voided entry" in app.success[0].value
    assert variance() == []  # nothing counted any more on that day
    rows = counts()
    assert all(r["voided_at"] is not None for r in rows)
    assert rows[-1]["voided_by"] == "ana" and rows[-1]["void_reason"] == "wrong material"
    with warehouse(read_only=True) as con:
        history = count_history(con, newest["count_id"])
    assert history["quantity_expr"].to_list() == ["300", "290+5"]
    assert app.subheader[0].value == "To count: 1 of 1"  # the line is open again
    app.toggle(key="entry_voided").set_value(True).run()
    assert len([d.value for d in app.dataframe][0]) == 2


def test_a_counter_cannot_void_someone_elses_count(line):
    from pipelines.counting.records import add_count

    with warehouse() as con:
        add_count(con, count_date=DAY, material="10000001", plant="1000", quantity=1,
                  counter="ana", user=User("ben", Role.COUNTER), settings=get_settings())
    app = page()
    app.button(key=f"FormSubmitter:edit_{counts()[0]['count_id']}-Void this entry").click().run()
    assert "Not voided: ana is a counter and may not edit or void counts entered by " \
           "someone else" in app.error[0].value
    assert counts()[0]["voided_at"] is None


def test_a_viewer_has_no_count_entry_page(line):
    app = AppTest.from_file(APP, default_timeout=60)
    app.session_state["wics_user"] = User("vic", Role.VIEWER)
    app.run()
    assert not app.exception, app.exception
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        app.switch_page(PAGE)  # navigation.py: counters and managers only
