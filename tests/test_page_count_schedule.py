"""Count schedule page: its logic with Streamlit's AppTest on a real warehouse file."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from counting_support import add_material, add_stock
from streamlit.testing.v1 import AppTest

from pipelines.access import Role, User
from pipelines.counting.calendar import first_working_day_from, next_working_day
from pipelines.counting.schedule import add_to_schedule
from pipelines.settings import get_settings
from pipelines.warehouse.db import fetch, warehouse

from conftest import REPO

APP = str(REPO / "dashboard" / "streamlit_app.py")
PAGE = "app_pages/count_schedule.py"
BOSS = User("boss", Role.MANAGER)
DAY = first_working_day_from(date.today() + timedelta(days=1))


@pytest.fixture(autouse=True)
def fresh_cache():
    import streamlit as st

    st.cache_data.clear()


@pytest.fixture
def warehouse_file(wics_home, monkeypatch):
    monkeypatch.setenv("WICS_COUNTERS", "ana,ben")
    with warehouse() as con:
        for n in range(1, 21):
            add_material(con, f"{10000000 + n}", abc="ABC"[n % 3])
            add_stock(con, date.today() - timedelta(days=1), f"{10000000 + n}",
                      unrestricted=n)
        add_material(con, "BRKT-1", "1100", abc="A")
    return wics_home


def page(user: User = BOSS, day: date | None = None) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=60)
    app.session_state["wics_user"] = user
    app.run()
    app.switch_page(PAGE)
    app.run()
    if day is not None:
        app.date_input(key="schedule_day").set_value(day).run()
    assert not app.exception, app.exception
    return app


def day_rows(app: AppTest):
    return app.dataframe[0].value


def test_generating_the_plan_fills_the_day(warehouse_file):
    app = page()
    assert any("Nothing is scheduled" in i.value for i in app.info)
    app.number_input[0].set_value(10)  # horizon
    app.checkbox[0].check()  # replan today too
    app.button(key="FormSubmitter:generate-Generate plan").click().run()
    assert not app.exception, app.exception
    assert "Planned" in app.success[0].value
    with warehouse(read_only=True) as con:
        planned = fetch(con, "SELECT count_date, count(*) AS n FROM count_schedule "
                             "GROUP BY ALL ORDER BY 1")
    first_day = planned["count_date"][0]
    assert first_day == first_working_day_from(date.today())
    assert planned["count_date"].max() <= date.today() + timedelta(days=9)
    # The page moved to the first planned day and lists its lines.
    assert app.date_input(key="schedule_day").value == first_day
    rows = day_rows(app)
    assert len(rows) == planned["n"][0] > 0
    assert set(rows["counter"]) <= {"ana", "ben"}


def test_filters_change_the_rows(warehouse_file):
    with warehouse() as con:
        for material, plant, counter in (("10000001", "1000", "ana"),
                                         ("10000002", "1000", "ben"),
                                         ("BRKT-1", "1100", "ana")):
            add_to_schedule(con, count_date=DAY, material=material, plant=plant,
                            counter=counter, user=BOSS, settings=get_settings())
        add_to_schedule(con, count_date=next_working_day(DAY), material="10000003",
                        plant="1000", counter="ben", user=BOSS, settings=get_settings())
    app = page(day=DAY)
    assert sorted(day_rows(app)["material"]) == ["10000001", "10000002", "BRKT-1"]
    app.selectbox(key="schedule_plant").select("1100").run()
    assert list(day_rows(app)["material"]) == ["BRKT-1"]
    app.selectbox(key="schedule_plant").select("All").run()
    app.selectbox(key="schedule_counter").select("ben").run()
    assert list(day_rows(app)["material"]) == ["10000002"]
    # The week view counts lines per day and counter.
    week = app.dataframe[1].value
    assert "ana" not in week.columns  # only ben's lines
    assert list(week["total"]) == [1] * len(week) and len(week) >= 1


def test_a_counter_sees_the_schedule_but_cannot_change_it(warehouse_file):
    with warehouse() as con:
        add_to_schedule(con, count_date=DAY, material="10000001", plant="1000",
                        counter="ana", user=BOSS, settings=get_settings())
    app = page(User("ana", Role.COUNTER), day=DAY)
    assert list(day_rows(app)["material"]) == ["10000001"]
    assert [t.label for t in app.tabs] == ["Day", "Week / month", "Daily summary",
                                           "Worksheets"]
    assert not [b for b in app.button if "Generate" in str(b.label)]
    assert not app.file_uploader


def test_add_move_and_cancel_lines(warehouse_file):
    later = next_working_day(DAY)
    app = page(day=DAY)
    form = [t for t in app.text_input if t.label == "Material"][0]
    form.set_value("000010000005")
    app.radio[1].set_value("request")
    [t for t in app.text_input if t.label == "Requested by"][0].set_value("finance")
    [t for t in app.text_input if t.label == "Why"][0].set_value("customer claim")
    app.button(key="FormSubmitter:add_line-Add to the schedule").click().run()
    assert not app.exception, app.exception
    assert "Added line" in app.success[0].value
    with warehouse(read_only=True) as con:
        line = fetch(con, "SELECT * FROM count_schedule").row(0, named=True)
    assert (line["material"], line["reason"], line["requested_by"], line["request_note"],
            line["created_by"], line["count_date"]) == (
        "10000005", "request", "finance", "customer claim", "boss", DAY)
    assert line["counter"] in ("ana", "ben")

    app.date_input(key="schedule_day").set_value(DAY).run()
    move_form = [d for d in app.date_input if d.label == "Move to date"][0]
    move_form.set_value(later)
    app.button(key="FormSubmitter:move_line-Move").click().run()
    assert "Moved line" in app.success[0].value
    with warehouse(read_only=True) as con:
        assert fetch(con, "SELECT count_date FROM count_schedule").item() == later

    app.date_input(key="schedule_day").set_value(later).run()
    [t for t in app.text_input if t.label == "Why cancel"][0].set_value("found it")
    app.button(key="FormSubmitter:cancel_line-Cancel the line").click().run()
    assert "Cancelled line" in app.success[0].value
    with warehouse(read_only=True) as con:
        row = fetch(con, "SELECT status, request_note FROM count_schedule").row(0, named=True)
    assert row["status"] == "cancelled" and "cancelled by boss: found it" in row["request_note"]


def test_a_bad_schedule_sheet_is_rejected_with_row_and_reason(warehouse_file):
    app = page(day=DAY)
    sheet = f"Count Date;Material;Plant\n{DAY};10000001;1000\n{DAY};77777777;1000\n"
    app.file_uploader(key="schedule_upload").set_value(
        ("plan.csv", sheet.encode(), "text/csv")).run()
    app.button(key="schedule_upload_go").click().run()
    assert not app.exception, app.exception
    assert "plan.csv was rejected, nothing was scheduled" in app.error[0].value
    problems = app.dataframe[-1].value
    assert problems.to_dict("records") == [{
        "row": 3, "column": "Material", "value": "77777777",
        "reason": "material 77777777 is not in the material master of plant 1000"}]
    with warehouse(read_only=True) as con:
        assert fetch(con, "SELECT count(*) AS n FROM count_schedule").item() == 0

    good = f"Count Date;Material;Plant;Counter\n{DAY};10000001;1000;ben\n"
    app.file_uploader(key="schedule_upload").set_value(
        ("plan2.csv", good.encode(), "text/csv")).run()
    app.button(key="schedule_upload_go").click().run()
    assert "Scheduled 1 lines from plan2.csv" in app.success[0].value
    assert list(day_rows(app)["counter"]) == ["ben"]


def test_summary_and_worksheets_of_the_day(warehouse_file):
    from pipelines.counting.records import add_count

    with warehouse() as con:
        add_to_schedule(con, count_date=DAY, material="10000001", plant="1000",
                        counter="ana", user=BOSS, settings=get_settings())
        add_to_schedule(con, count_date=DAY, material="10000002", plant="1000",
                        counter="ben", user=BOSS, settings=get_settings())
        add_count(con, count_date=DAY, material="10000001", plant="1000", quantity=1,
                  user=BOSS, settings=get_settings())
        add_count(con, count_date=DAY, material="10000003", plant="1000", quantity=3,
                  user=BOSS, settings=get_settings())
    app = page(day=DAY)
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Scheduled and counted"] == "1"
    assert metrics["Scheduled, not counted"] == "1"
    assert metrics["Counted, not scheduled"] == "1"
    app.multiselect(key="summary_status").set_value(["counted, not scheduled"]).run()
    summary = [d for d in app.dataframe if "counters" in d.value.columns][0].value
    assert list(summary["material"]) == ["10000003"]
    # Worksheets: only open lines, one file per counter.
    names = [b.label for b in app.get("download_button")]
    assert names == [f"count_{DAY}_ben.xlsx"]
