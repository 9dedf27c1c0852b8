"""Schedule views and moves, count entry's material search and day's entries, the schedule-sheet
upload."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest
from counting_support import AT, MON, TUE, WED, add_material, schedule_rows

from pipelines.access import AccessDenied, Role, User
from pipelines.counting.materials import search_materials
from pipelines.counting.planning import (
    lines_per_day_and_counter,
    move_scheduled,
    schedule_lines,
)
from pipelines.counting.records import add_count, list_counts, void_count
from pipelines.counting.schedule import ScheduleError, add_to_schedule
from pipelines.counting.schedule_sheet import (
    ScheduleSheetRejected,
    read_schedule_sheet,
    schedule_from_sheet,
)
from pipelines.sap.formats import UnreadableFile
from pipelines.warehouse.db import warehouse

from conftest import write_text, write_xlsx

BOSS = User("boss", Role.MANAGER)
ANA = User("ana", Role.COUNTER)


@pytest.fixture
def settings(wics_home):
    return wics_home


@pytest.fixture
def con(wics_home):
    with warehouse() as connection:
        add_material(connection, "10000001", description="BOLT M8 ZINC")
        add_material(connection, "10000002", description="NUT M8")
        add_material(connection, "BRKT-1", "1100", description="Bracket steel")
        add_material(connection, "10000009", description="old bolt", active=False)
        yield connection


def test_count_entry_search_leaves_inactive_materials_out(con, settings):
    def found(text: str, **kwargs) -> list[str]:
        return search_materials(con, text, active_only=True, settings=settings,
                                **kwargs)["material"].to_list()

    assert found("000000000010000001")[0] == found("10000001")[0] == "10000001"
    assert found("1000000") == ["10000001", "10000002"]  # not the inactive 10000009
    assert "10000009" in search_materials(con, "1000000", settings=settings)["material"]
    assert found("bolt") == ["10000001"]
    assert found("nut", plant="1100") == []


def test_a_counters_day_lists_their_entries_with_description_and_unit(con, settings):
    kept = add_count(con, count_date=MON, material="10000001", plant="1000", quantity="2*6",
                     location="A1", counter="ana", user=ANA, entered_at=AT, settings=settings)
    gone = add_count(con, count_date=MON, material="10000002", plant="1000", quantity=3,
                     counter="ana", location="A2", user=ANA, entered_at=AT, settings=settings)
    add_count(con, count_date=MON, material="10000002", plant="1000", quantity=1,
              counter="ben", user=BOSS, entered_at=AT, settings=settings)
    void_count(con, gone, user=ANA, settings=settings)

    def day(**kwargs):
        return list_counts(con, count_date=MON, settings=settings, **kwargs)

    rows = day(counter="ana")
    assert rows["count_id"].to_list() == [kept]
    row = rows.row(0, named=True)
    assert (row["description"], row["base_uom"], row["quantity_expr"]) \
        == ("BOLT M8 ZINC", "EA", "2*6")
    assert set(day(counter="ana", include_voided=True)["count_id"]) == {kept, gone}
    assert day().height == 2


def test_lines_and_the_calendar_of_days_by_counter(con, settings):
    add_to_schedule(con, count_date=MON, material="10000001", plant="1000", counter="ana",
                    user=BOSS, settings=settings)
    add_to_schedule(con, count_date=MON, material="10000002", plant="1000", counter="ben",
                    user=BOSS, settings=settings)
    add_to_schedule(con, count_date=TUE, material="BRKT-1", plant="1100", counter="ana",
                    user=BOSS, settings=settings)
    lines = schedule_lines(con, MON, WED)
    assert lines.height == 3
    assert schedule_lines(con, MON, WED, plant="1100")["material"].to_list() == ["BRKT-1"]
    assert schedule_lines(con, MON, WED, counter="ben")["material"].to_list() == ["10000002"]
    calendar = lines_per_day_and_counter(lines)
    assert calendar.columns == ["count_date", "day", "ana", "ben", "total", "counted"]
    assert calendar.rows() == [(MON, "Mon", 1, 1, 2, 0), (TUE, "Tue", 1, 0, 1, 0)]
    assert lines_per_day_and_counter(lines.clear()).is_empty()


def test_move_to_another_day_and_counter_keeps_who_moved_it(con, settings):
    today = MON
    line = add_to_schedule(con, count_date=MON, material="10000001", plant="1000",
                           counter="ana", user=BOSS, settings=settings)
    move_scheduled(con, line, user=BOSS, count_date=WED, counter="ben", today=today)
    row = schedule_rows(con, "schedule_id = ?", [line])[0]
    assert (row["count_date"], row["counter"], row["status"]) == (WED, "ben", "planned")
    assert row["request_note"] == f"moved from {MON} and from counter ana by boss"


def test_move_is_refused_for_the_past_a_clash_a_counter_and_a_done_line(con, settings):
    first = add_to_schedule(con, count_date=TUE, material="10000001", plant="1000",
                            user=BOSS, settings=settings)
    add_to_schedule(con, count_date=WED, material="10000001", plant="1000", user=BOSS,
                    settings=settings)
    with pytest.raises(ScheduleError, match="into the past"):
        move_scheduled(con, first, user=BOSS, count_date=MON, today=TUE)
    with pytest.raises(ScheduleError, match="already on the schedule of 2026-11-04"):
        move_scheduled(con, first, user=BOSS, count_date=WED, today=TUE)
    with pytest.raises(AccessDenied):
        move_scheduled(con, first, user=ANA, count_date=WED, today=TUE)
    add_count(con, count_date=TUE, material="10000001", plant="1000", quantity=1,
              user=ANA, entered_at=AT, settings=settings)
    with pytest.raises(ScheduleError, match="is counted, not planned"):
        move_scheduled(con, first, user=BOSS, counter="ben", today=TUE)


SHEET_HEADER = ["Count Date", "Material", "Plant", "SLoc", "Counter", "Notes"]


def test_a_valid_sheet_schedules_every_line(con, tmp_path, settings):
    day = date.today() + timedelta(days=3)
    path = write_xlsx(tmp_path / "plan.xlsx", [
        ["Counts requested by finance"], [],
        SHEET_HEADER,
        [day.isoformat(), "000000000010000001", "1000", "0001", "ana", "audit"],
        [day.strftime("%d.%m.%Y"), "BRKT-1", "1100", None, None, None],
    ])
    assert schedule_from_sheet(con, path, user=BOSS, settings=settings) == 2
    rows = schedule_rows(con)
    assert [(r["material"], r["plant"], r["storage_location"], r["counter"], r["reason"],
             r["request_note"], r["created_by"]) for r in rows] == [
        ("10000001", "1000", "0001", "ana", "manual", "audit", "boss"),
        ("BRKT-1", "1100", None, None, "manual", None, "boss"),
    ]


def test_a_bad_sheet_is_rejected_whole_with_row_and_reason(con, tmp_path, settings):
    day = date.today() + timedelta(days=3)
    add_to_schedule(con, count_date=day, material="10000002", plant="1000", reason="request",
                    requested_by="qa", note="claim", user=BOSS, settings=settings)
    path = write_text(tmp_path / "plan.csv", "\n".join([
        "Count Date;Material;Plant",
        f"{day};10000001;1000",  # fine on its own
        f"{day};99999999;1000",  # unknown
        "31.02.2026;10000001;1000",  # no such date
        f"{day};;1000",  # no material
        f"{day - timedelta(days=30)};10000002;1000",  # past
        f"{day};0010000001;1000",  # twice in the file
        f"{day};10000002;1000",  # already requested that day
    ]))
    with pytest.raises(ScheduleSheetRejected) as rejected:
        schedule_from_sheet(con, path, user=BOSS, settings=settings)
    problems = {p["row"]: p["reason"] for p in rejected.value.problems.to_dicts()}
    assert problems == {
        3: "material 99999999 is not in the material master of plant 1000",
        4: "not a date (expected e.g. 2026-11-20, 20.11.2026)",
        5: "material number is missing",
        6: f"count date is in the past (today is {date.today()})",
        7: "material 10000001 of plant 1000 is already on row 2 for that date",
        8: problems[8],
    }
    assert problems[8].startswith(f"already on the schedule of {day} (line 1, request)")
    assert len(schedule_rows(con)) == 1  # only the request from before


def test_sheet_without_the_needed_columns_says_what_it_needs(con, tmp_path, settings):
    path = write_text(tmp_path / "plan.csv", "Material;Plant\n10000001;1000\n")
    with pytest.raises(UnreadableFile, match="no header row of a schedule sheet"):
        read_schedule_sheet(path, settings)
    with pytest.raises(AccessDenied):
        schedule_from_sheet(con, path, user=ANA, settings=settings)


def test_reading_types_the_lines(con, tmp_path, settings):
    day = date.today() + timedelta(days=1)
    sheet = read_schedule_sheet(write_text(tmp_path / "p.txt", (
        f"Material\tPlnt\tDate\tCounted By\n 0010000002 \t1000\t{day}\tben\n")), settings)
    assert sheet.problems.is_empty()
    assert sheet.rows.select("count_date", "material", "plant", "counter").rows() == [
        (day, "10000002", "1000", "ben")]
    assert sheet.rows.schema["count_date"] == pl.Date


def test_a_sheet_naming_one_field_twice_is_refused_like_an_export(con, tmp_path, settings):
    day = date.today() + timedelta(days=1)
    path = write_text(tmp_path / "plan.csv", (
        f"Count Date;Material;Plant;Werk\n{day};10000001;1000;1000\n"))
    with pytest.raises(ScheduleSheetRejected, match="ambiguous header"):
        schedule_from_sheet(con, path, user=BOSS, settings=settings)
    assert schedule_rows(con) == []
