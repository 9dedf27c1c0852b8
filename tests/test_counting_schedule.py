"""The cycle-count schedule: frequencies, levelling, calendar, recounts, requests."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta

import polars as pl
import pytest
from counting_support import (
    AT,
    FRI,
    MON,
    NEXT_MON,
    TUE,
    WED,
    add_material,
    add_stock,
    schedule_rows,
    variance_row,
)

from pipelines.access import User
from pipelines.counting.calendar import WorkingCalendar, next_working_day, working_days
from pipelines.counting.records import add_count, void_count
from pipelines.counting.schedule import (
    ScheduleError,
    add_to_schedule,
    cancel_scheduled,
    generate_schedule,
    mark_counted,
    plan_cycle_counts,
    request_count,
    schedule_for,
    sync_recounts,
    write_cycle_plan,
)
from pipelines.settings import ConfigError, get_settings, parse_holidays
from pipelines.warehouse.db import fetch, warehouse

YEAR_START = date(2027, 1, 4)  # a Monday
HOLIDAYS = (date(2027, 4, 5), date(2027, 12, 24), date(2027, 12, 27))


@pytest.fixture
def con(wics_home):
    with warehouse() as connection:
        yield connection


def test_a_simulated_year_counts_by_abc_and_never_exceeds_the_cap(con, monkeypatch):
    monkeypatch.setenv("WICS_COUNTERS", "ANA,BEN,CARL")
    monkeypatch.setenv("WICS_DAILY_CAP_PER_COUNTER", "3")
    monkeypatch.setenv("WICS_HOLIDAYS", ",".join(d.isoformat() for d in HOLIDAYS))
    abc = {f"A{i:03d}": "A" for i in range(60)}
    abc |= {f"B{i:03d}": "B" for i in range(120)}
    abc |= {f"C{i:03d}": "C" for i in range(300)}
    for n, (material, indicator) in enumerate(sorted(abc.items())):
        add_material(con, material, "1000" if n % 2 else "2000", abc=indicator)
    # A third of them have a count history, some of it long overdue.
    for n, material in enumerate(sorted(abc)[::3]):
        plant = "1000" if sorted(abc).index(material) % 2 else "2000"
        add_count(con, count_date=YEAR_START - timedelta(days=3 + n % 400), material=material,
                  plant=plant, quantity=1, user=User.system("history"), entered_at=AT,
                                                            refresh=False,
                  settings=get_settings())
    end = YEAR_START + timedelta(days=364)
    plan = plan_cycle_counts(con, start=YEAR_START, end=end, config=get_settings().counting)

    per_material = Counter(plan["material"].to_list())
    a = [per_material[m] for m in abc if abc[m] == "A"]
    b = [per_material[m] for m in abc if abc[m] == "B"]
    c = [per_material[m] for m in abc if abc[m] == "C"]
    assert min(a) >= 11 and max(a) <= 13
    assert abs(sum(a) / len(a) - 12) <= 0.5
    assert min(b) >= 3 and max(b) <= 5 and abs(sum(b) / len(b) - 4) <= 0.3
    assert max(c) <= 2 and sum(c) / len(c) >= 0.95

    per_counter_day = plan.group_by("count_date", "counter").len()
    assert per_counter_day["len"].max() <= 3  # nobody over the cap, ever
    assert set(plan["counter"].unique()) == {"ANA", "BEN", "CARL"}
    dates = set(plan["count_date"].to_list())
    assert all(d.weekday() < 5 for d in dates)
    assert not dates & set(HOLIDAYS)
    # Level: the yearly demand (60*12 + 120*4 + 300 = 1,500 counts over 257 working days,
    # 5.8 a day) is spread evenly, not in piles.
    per_day = plan.group_by("count_date").len()["len"]
    workdays = working_days(YEAR_START, end, HOLIDAYS)
    assert len(dates) == len(workdays)  # work every working day
    assert per_day.min() >= 4
    assert per_day.is_between(5, 7).mean() >= 0.9  # nine days in ten within one of 5.8
    assert abs(plan.height - 1500) <= 45  # within 3 %


def test_due_counts_that_do_not_fit_roll_forward_most_overdue_first(con, monkeypatch):
    monkeypatch.setenv("WICS_COUNTERS", "ANA")
    monkeypatch.setenv("WICS_DAILY_CAP_PER_COUNTER", "3")
    for i in range(100):  # 1,200 counts a year for one counter with room for 3 a day
        add_material(con, f"M{i:03d}", abc="A")
        add_count(con, count_date=date(2026, 6, 1) + timedelta(days=i), material=f"M{i:03d}",
                  plant="1000", quantity=1, user=User.system("history"), entered_at=AT,
                                                             refresh=False,
                  settings=get_settings())
    plan = plan_cycle_counts(con, start=YEAR_START, end=YEAR_START + timedelta(days=27),
                             config=get_settings().counting)
    per_day = plan.group_by("count_date").len().sort("count_date")
    assert per_day["len"].to_list() == [3] * 20  # every working day full, never more
    first_day = plan.filter(pl.col("count_date") == YEAR_START)["material"].to_list()
    assert sorted(first_day) == ["M000", "M001", "M002"]  # the longest overdue
    assert plan["material"].n_unique() == 60  # each once, in order of their last count
    assert plan.sort("count_date", "material")["material"].to_list() == \
        [f"M{i:03d}" for i in range(60)]
    assert plan["due_date"].to_list()[0] < YEAR_START


def test_lines_already_scheduled_use_the_cap_first(con, monkeypatch):
    monkeypatch.setenv("WICS_COUNTERS", "ANA,BEN")
    monkeypatch.setenv("WICS_DAILY_CAP_PER_COUNTER", "2")
    for i in range(8):
        add_material(con, f"M{i}", abc="A")
    add_material(con, "REQ", abc="C")
    add_to_schedule(con, count_date=YEAR_START, material="REQ", plant="1000", counter="ANA",
                    reason="manual", user=User.system("lead"), settings=get_settings())
    add_to_schedule(con, count_date=YEAR_START, material="M0", plant="1000", counter="ANA",
                    reason="manual", user=User.system("lead"), settings=get_settings())
    plan = plan_cycle_counts(con, start=YEAR_START, end=YEAR_START + timedelta(days=13),
                             config=get_settings().counting)
    first = plan.filter(pl.col("count_date") == YEAR_START)
    assert first.filter(pl.col("counter") == "ANA").height <= 0  # ANA is full with 2 lines
    assert first.filter(pl.col("counter") == "BEN").height <= 2
    assert "M0" not in first["material"].to_list()  # counted by the manual line that day
    assert plan.group_by("count_date", "counter").len()["len"].max() <= 2


def test_weekends_and_holidays_are_not_working_days(tmp_path, monkeypatch):
    holidays_file = tmp_path / "holidays.txt"
    holidays_file.write_text("# plant holidays\n2026-11-09  # Monday\n2026-12-25\n")
    monkeypatch.setenv("WICS_HOLIDAYS", str(holidays_file))
    config = get_settings().counting
    assert config.holidays == {NEXT_MON, date(2026, 12, 25)}
    assert next_working_day(FRI, config.holidays) == date(2026, 11, 10)
    assert working_days(FRI, date(2026, 11, 11), config.holidays) == [
        FRI, date(2026, 11, 10), date(2026, 11, 11)]
    calendar = WorkingCalendar(config.holidays)
    assert calendar.ordinal(date(2026, 11, 10)) - calendar.ordinal(FRI) == 1
    assert parse_holidays("2026-12-24, 2026-12-31") == {date(2026, 12, 24),
                                                         date(2026, 12, 31)}
    with pytest.raises(ConfigError):
        parse_holidays("24.12.2026,2026-12-31")


def test_materials_without_stock_can_be_skipped(con, monkeypatch):
    for material in ("STOCK", "EMPTY", "NEG", "GONE", "INACTIVE"):
        add_material(con, material, abc="A", active=material != "INACTIVE")
    add_material(con, "OTHERPLANT", "2000", abc="A")  # plant 2000 has no snapshot at all
    add_stock(con, MON, "STOCK", unrestricted=5)
    add_stock(con, MON, "EMPTY", unrestricted=0, transit=9)
    add_stock(con, MON, "NEG", unrestricted=-2)
    add_stock(con, MON, "INACTIVE", unrestricted=5)
    everything = set(plan_cycle_counts(con, start=TUE, end=TUE + timedelta(days=40),
                                       config=get_settings().counting)["material"])
    assert everything == {"STOCK", "EMPTY", "NEG", "GONE", "OTHERPLANT"}  # never inactive ones
    monkeypatch.setenv("WICS_SKIP_ZERO_STOCK", "true")
    skipped = set(plan_cycle_counts(con, start=TUE, end=TUE + timedelta(days=40),
                                    config=get_settings().counting)["material"])
    assert skipped == {"STOCK", "NEG", "OTHERPLANT"}


def test_zero_counts_per_year_means_never_cycle_counted(con, monkeypatch):
    add_material(con, "A1", abc="A")
    add_material(con, "C1", abc="C")
    add_material(con, "X1", abc=None)
    monkeypatch.setenv("WICS_COUNTS_PER_YEAR_C", "0")
    monkeypatch.setenv("WICS_COUNTS_PER_YEAR_OTHER", "2")
    plan = plan_cycle_counts(con, start=YEAR_START, end=YEAR_START + timedelta(days=364),
                             config=get_settings().counting)
    counts = Counter(plan["material"].to_list())
    assert counts["C1"] == 0
    assert counts["A1"] in (12, 13)  # the 13th only when the first is on the first day
    assert counts["X1"] in (2, 3)


def test_out_of_tolerance_gets_a_recount_on_the_next_working_day(con, monkeypatch):
    monkeypatch.setenv("WICS_COUNTERS", "ANA,BEN")
    monkeypatch.setenv("WICS_HOLIDAYS", NEXT_MON.isoformat())
    add_material(con, "R", abc="A")
    add_stock(con, MON, "R", unrestricted=100)
    friday = datetime(2026, 11, 6, 10, 0)
    first = add_count(con, count_date=FRI, material="R", plant="1000", quantity="60",
                      location="R1", counter="ANA", user=User.system("ana"), entered_at=friday,
                      settings=get_settings())
    recount = schedule_rows(con, "reason = 'recount'")
    assert len(recount) == 1
    # Friday's next working day is Monday, a holiday here: Tuesday.
    assert recount[0]["count_date"] == date(2026, 11, 10)
    assert recount[0]["counter"] == "BEN"  # someone else than who counted
    assert recount[0]["source_count_date"] == FRI
    assert recount[0]["priority"] == 1

    # The second location turns up: back within tolerance, the recount is withdrawn.
    second = add_count(con, count_date=FRI, material="R", plant="1000", quantity="40",
                       location="R2", counter="ANA", user=User.system("ana"), entered_at=friday,
                       settings=get_settings())
    assert variance_row(con, FRI, "R")["within_tolerance"] is True
    assert schedule_rows(con, "reason = 'recount'") == []
    void_count(con, second, user=User.system("lead"), voided_at=friday, settings=get_settings())
    assert len(schedule_rows(con, "reason = 'recount'")) == 1

    # The recount is done and is still out: no recount of the recount.
    add_count(con, count_date=date(2026, 11, 10), material="R", plant="1000", quantity="61",
              counter="BEN", user=User.system("ben"), entered_at=datetime(2026, 11, 10, 9),
              settings=get_settings())
    rows = schedule_rows(con, "reason = 'recount'")
    assert len(rows) == 1 and rows[0]["status"] == "counted"
    assert rows[0]["counted_on"] == date(2026, 11, 10)
    assert variance_row(con, date(2026, 11, 10), "R")["needs_recount"] is True
    assert first is not None


def test_a_late_reconciliation_schedules_the_recount_from_today(con):
    add_material(con, "L", abc="A")
    add_stock(con, MON, "L", unrestricted=10)
    add_count(con, count_date=MON, material="L", plant="1000", quantity="5",
              user=User.system("t"), entered_at=AT, refresh=False, settings=get_settings())
    from pipelines.counting.reconcile import reconcile

    reconcile(con, config=get_settings().counting)
    result = sync_recounts(con, today=FRI, config=get_settings().counting)
    assert result.added == 1
    assert schedule_rows(con)[0]["count_date"] == FRI  # Tuesday is past: today
    assert sync_recounts(con, today=FRI, config=get_settings().counting).added == 0  # idempotent


def test_a_recount_replaces_that_days_cycle_line(con):
    add_material(con, "K", abc="A")
    add_stock(con, MON, "K", unrestricted=10)
    plan = pl.DataFrame({"count_date": [TUE], "material": ["K"], "plant": ["1000"],
                         "storage_location": [None], "counter": [None], "priority": [3],
                         "reason": ["cycle"], "due_date": [TUE]},
                        schema_overrides={"storage_location": pl.String, "counter": pl.String})
    write_cycle_plan(con, plan, start=TUE)
    add_count(con, count_date=MON, material="K", plant="1000", quantity="1",
              user=User.system("t"), entered_at=datetime(2026, 11, 2, 15), settings=get_settings())
    rows = schedule_rows(con)
    assert len(rows) == 1  # one line, not a cycle count and a recount of the same material
    assert rows[0]["reason"] == "recount" and rows[0]["source_count_date"] == MON


def test_requests_are_filled_by_the_next_count_whenever_it_happens(con, monkeypatch):
    monkeypatch.setenv("WICS_COUNTERS", "ANA,BEN")
    add_material(con, "Q", abc="C")
    schedule_id = request_count(con, user=User.system(), material="Q", plant="1000",
                                requested_by="sales: Kim",
                                note="customer claims short delivery",
                                now=datetime(2026, 11, 2, 16), settings=get_settings())
    line = schedule_rows(con)[0]
    assert line["schedule_id"] == schedule_id
    assert (line["count_date"], line["reason"], line["requested_by"]) == (TUE, "request",
                                                                          "sales: Kim")
    assert line["request_note"] == "customer claims short delivery"
    assert line["counter"] == "ANA" and line["status"] == "planned"
    add_count(con, count_date=WED, material="Q", plant="1000", quantity="4",
              user=User.system("t"), entered_at=datetime(2026, 11, 4, 9),
              settings=get_settings())  # a day late
    line = schedule_rows(con)[0]
    assert line["status"] == "counted" and line["counted_on"] == WED
    with pytest.raises(ScheduleError, match="why"):
        request_count(con, user=User.system(), material="Q", plant="1000", requested_by="Kim",
                      note=" ",
                      settings=get_settings())


def test_manual_lines_cancel_and_refuse_duplicates(con):
    add_material(con, "M1")
    add_material(con, "M2")
    write_cycle_plan(con, pl.DataFrame(
        {"count_date": [WED], "material": ["M2"], "plant": ["1000"], "storage_location": [None],
         "counter": ["ANA"], "priority": [3], "reason": ["cycle"], "due_date": [WED]},
        schema_overrides={"storage_location": pl.String}), start=WED)
    manual = add_to_schedule(con, count_date=WED, material=" m1 ", plant="1000",
                             storage_location="0001", reason="manual", user=User.system("lead"),
                             note="damaged rack", settings=get_settings())
    with pytest.raises(ScheduleError, match="already on the schedule"):
        add_to_schedule(con, user=User.system(), count_date=WED, material="M1", plant="1000",
                        settings=get_settings())
    # A manual line on a day with a cycle count of that material takes the cycle line over.
    upgraded = add_to_schedule(con, count_date=WED, material="M2", plant="1000",
                               reason="manual", user=User.system("lead"), note="check",
                               settings=get_settings())
    assert len(schedule_rows(con)) == 2
    assert schedule_rows(con, "schedule_id = ?", [upgraded])[0]["reason"] == "manual"
    assert schedule_rows(con, "schedule_id = ?", [upgraded])[0]["counter"] == "ANA"
    cancel_scheduled(con, manual, user=User.system("lead"), note="rack repaired")
    cancelled = schedule_rows(con, "schedule_id = ?", [manual])[0]
    assert cancelled["status"] == "cancelled"
    assert "cancelled by lead: rack repaired" in cancelled["request_note"]
    with pytest.raises(ScheduleError, match="not planned"):
        cancel_scheduled(con, manual, user=User.system("lead"))
    with pytest.raises(ScheduleError, match="not in the material master"):
        add_to_schedule(con, user=User.system(), count_date=WED, material="NOPE", plant="1000",
                        settings=get_settings())
    assert [r["material"] for r in schedule_for(con, WED).to_dicts()] == ["M2"]


def test_daily_planning_rolls_missed_counts_forward(con, monkeypatch):
    monkeypatch.setenv("WICS_COUNTERS", "ANA,BEN")
    monkeypatch.setenv("WICS_DAILY_CAP_PER_COUNTER", "3")
    for i in range(40):
        add_material(con, f"P{i:02d}", abc="A")
    missed: list[str] = []
    counted: Counter[str] = Counter()
    day, missed_yesterday = MON, None
    for _ in range(10):
        result = generate_schedule(con, user=User.system(), today=day, include_today=True,
                                   config=get_settings().counting)
        assert result.start == day
        todays = schedule_for(con, day).filter(pl.col("status") == "planned")
        assert todays.group_by("counter").len()["len"].max() <= 3
        if missed_yesterday:  # what was missed yesterday is on today's list
            assert missed_yesterday in todays["material"].to_list()
        missed_yesterday = todays["material"][0] if day in (MON, WED) else None
        for row in todays.iter_rows(named=True):
            if row["material"] == missed_yesterday:
                missed.append(row["material"])
                continue
            add_count(con, count_date=day, material=row["material"], plant=row["plant"],
                      quantity=1, counter=row["counter"], user=User.system(row["counter"]),
                      entered_at=datetime.combine(day, datetime.min.time()),
                      settings=get_settings())
            counted[row["material"]] += 1
        day = next_working_day(day)
    assert max(counted.values()) == 1  # nobody counted twice within ten days (A: monthly)
    assert set(missed) <= set(counted)  # both missed counts were made up
    statuses = fetch(con, "SELECT status, count(*) FROM count_schedule WHERE count_date < ? "
                          "GROUP BY ALL", [day])
    assert dict(statuses.iter_rows()) == {"counted": sum(counted.values()), "planned": 2}


def test_the_run_during_the_day_keeps_todays_lines(con):
    for i in range(30):
        add_material(con, f"T{i:02d}", abc="A")
    generate_schedule(con, user=User.system(), today=MON, include_today=True,
                      config=get_settings().counting)
    monday = schedule_rows(con, "count_date = ?", [MON])
    later = generate_schedule(con, user=User.system(), today=MON, config=get_settings().counting)
    assert later.start == TUE
    assert schedule_rows(con, "count_date = ?", [MON]) == monday
    # Monday's open lines count as done Monday: not planned again on the following days.
    again = schedule_rows(con, "count_date > ? AND material IN (SELECT unnest(?))",
                          [MON, [r["material"] for r in monday]])
    assert monday and again == []


def test_mark_counted_follows_voids(con):
    add_material(con, "V")
    add_to_schedule(con, user=User.system(), count_date=MON, material="V", plant="1000",
                    settings=get_settings())
    count_id = add_count(con, count_date=MON, material="V", plant="1000", quantity="2",
                         user=User.system("t"), entered_at=AT, settings=get_settings())
    assert schedule_rows(con)[0]["status"] == "counted"
    void_count(con, count_id, user=User.system("lead"), voided_at=AT, settings=get_settings())
    assert schedule_rows(con)[0]["status"] == "planned"
    assert schedule_rows(con)[0]["counted_on"] is None
    assert mark_counted(con) == 0
