"""Accuracy metrics and the daily count summary, on hand-computed numbers.

Plant 1000, Monday snapshot: A1 100 and A2 50 (A, 10.00 each), B1 200 (B, 2.00), C1 1,000
(C, 1.00 per 100); plant 2000: A9 10 (A, 5.00).

    Mon  A1 110  +10  +10 %  out   +100.00   scheduled (cycle)
    Mon  A2  40  -10  -20 %  out   -100.00   not scheduled
    Mon  B1 200    0    0 %  in       0.00   scheduled (cycle)
    Mon  A3  -                                scheduled, not counted
    Mon  C1 location seen only
    Tue  C1 1000   0         in       0.00   requested
    Tue  A9 (2000) 10  0     in       0.00   not scheduled
    Mon 9th B1 190 -10  -5 %  out (B 3 %)  -20.00   not scheduled
"""

from __future__ import annotations

from datetime import date

import pytest
from counting_support import AT, MON, NEXT_MON, TUE, add_material, add_stock

from pipelines.access import User
from pipelines.counting.accuracy import accuracy_totals, inventory_accuracy
from pipelines.counting.reconcile import reconcile
from pipelines.counting.records import add_count
from pipelines.counting.schedule import add_to_schedule, mark_counted
from pipelines.counting.summary import count_summary, summary_totals
from pipelines.settings import get_settings
from pipelines.warehouse.db import warehouse

END = date(2026, 11, 30)


@pytest.fixture
def con(wics_home):
    with warehouse() as c:
        add_material(c, "A1", abc="A", price=10.0)
        add_material(c, "A2", abc="A", price=10.0)
        add_material(c, "A3", abc="A", price=10.0)
        add_material(c, "B1", abc="B", price=2.0)
        add_material(c, "C1", abc="C", price=1.0, price_unit=100)
        add_material(c, "A9", "2000", abc="A", price=5.0)
        for material, qty in (("A1", 100), ("A2", 50), ("B1", 200), ("C1", 1000)):
            add_stock(c, MON, material, unrestricted=qty)
        add_stock(c, MON, "A9", "2000", unrestricted=10)
        for material in ("A1", "B1", "A3"):
            add_to_schedule(c, user=User.system(), count_date=MON, material=material, plant="1000",
                            reason="cycle",
                            counter="ANA", settings=get_settings())
        add_to_schedule(c, user=User.system(), count_date=TUE, material="C1", plant="1000",
                        reason="request",
                        requested_by="Kim", note="claim", settings=get_settings())

        def count(day, material, qty, plant="1000", **extra):
            add_count(c, count_date=day, material=material, plant=plant, quantity=qty,
                      user=User.system("t"), entered_at=AT, refresh=False, **extra,
                      settings=get_settings())

        count(MON, "A1", "110", counter="ANA")
        count(MON, "A2", "40", counter="BEN")
        count(MON, "B1", "200", counter="ANA")
        count(MON, "C1", None, location="R5", counter="BEN")
        count(TUE, "C1", "1000")
        count(TUE, "A9", "10", plant="2000")
        count(NEXT_MON, "B1", "190")
        reconcile(c, config=get_settings().counting)
        mark_counted(c)
        yield c


def test_ira_by_day_never_nets_variances(con):
    daily = inventory_accuracy(con, period="day", by=(), end=END)
    monday = daily.filter(daily["period_start"] == MON).row(0, named=True)
    assert (monday["lines_counted"], monday["lines_within"], monday["lines_out"]) == (3, 1, 2)
    assert monday["ira_pct"] == pytest.approx(100 / 3)
    assert monday["abs_variance_value"] == pytest.approx(200.0)
    assert monday["net_variance_value"] == pytest.approx(0.0)  # +100 and -100: not "perfect"
    assert (monday["scheduled"], monday["scheduled_done"]) == (3, 2)
    assert monday["completion_pct"] == pytest.approx(200 / 3)
    assert monday["counted_unscheduled"] == 1  # A2


def test_ira_by_week_and_month(con):
    weekly = {r["period_start"]: r for r in
              inventory_accuracy(con, period="week", by=(), end=END).to_dicts()}
    assert set(weekly) == {MON, NEXT_MON}  # ISO weeks start on Monday
    assert (weekly[MON]["lines_counted"], weekly[MON]["lines_within"]) == (5, 3)
    assert weekly[MON]["ira_pct"] == pytest.approx(60.0)
    assert weekly[NEXT_MON]["ira_pct"] == 0.0
    assert weekly[NEXT_MON]["net_variance_value"] == pytest.approx(-20.0)

    month = inventory_accuracy(con, period="month", by=(), end=END).row(0, named=True)
    assert month["period_start"] == date(2026, 11, 1)
    assert (month["lines_counted"], month["lines_within"]) == (6, 3)
    assert month["ira_pct"] == pytest.approx(50.0)
    assert month["abs_variance_value"] == pytest.approx(220.0)
    assert month["net_variance_value"] == pytest.approx(-20.0)
    assert (month["scheduled"], month["scheduled_done"]) == (4, 3)
    assert month["counted_unscheduled"] == 3  # A2, A9, B1 on the 9th


def test_ira_by_plant_and_abc_class(con):
    by_group = {(r["plant"], r["abc_indicator"]): r for r in
                inventory_accuracy(con, period="month", end=END).to_dicts()}
    assert set(by_group) == {("1000", "A"), ("1000", "B"), ("1000", "C"), ("2000", "A")}
    a = by_group[("1000", "A")]
    assert (a["lines_counted"], a["lines_within"], a["ira_pct"]) == (2, 0, 0.0)
    assert (a["scheduled"], a["scheduled_done"]) == (2, 1)  # A1 done, A3 not
    b = by_group[("1000", "B")]
    assert (b["lines_counted"], b["lines_within"], b["ira_pct"]) == (2, 1, 50.0)
    assert by_group[("1000", "C")]["ira_pct"] == 100.0
    assert by_group[("2000", "A")]["lines_counted"] == 1
    by_plant = {r["plant"]: r["ira_pct"] for r in
                inventory_accuracy(con, period=None, by=("plant",), end=END).to_dicts()}
    assert by_plant == {"1000": pytest.approx(40.0), "2000": 100.0}


def test_totals_and_range(con):
    totals = accuracy_totals(con, start=MON, end=TUE)
    assert (totals["lines_counted"], totals["lines_within"]) == (5, 3)
    assert totals["abs_variance_value"] == pytest.approx(200.0)
    empty = accuracy_totals(con, start=date(2027, 1, 1), end=date(2027, 1, 31))
    assert empty["lines_counted"] == 0 and empty["ira_pct"] is None
    with pytest.raises(ValueError):
        inventory_accuracy(con, period="year")
    with pytest.raises(ValueError):
        inventory_accuracy(con, by=("plant; DROP TABLE material",))


def test_count_summary_of_a_day(con):
    summary = count_summary(con, MON)
    lines = {r["material"]: r for r in summary.to_dicts()}
    assert {m: r["status"] for m, r in lines.items()} == {
        "A3": "scheduled, not counted",
        "A1": "scheduled and counted",
        "B1": "scheduled and counted",
        "A2": "counted, not scheduled",
        "C1": "seen, not counted",
    }
    assert summary["material"].to_list()[0] == "A3"  # what is still open comes first
    a1 = lines["A1"]
    assert (a1["counted_qty"], a1["sap_qty"], a1["variance_qty"]) == (110, 100, 10)
    assert a1["variance_pct"] == pytest.approx(10.0) and a1["variance_value"] == 100
    assert a1["needs_recount"] is True and a1["reasons"] == "cycle"
    assert a1["scheduled_counters"] == "ANA" and a1["counters"] == "ANA"
    assert lines["C1"]["seen_only"] is True and lines["C1"]["locations"] == "R5"
    assert lines["A3"]["counted_qty"] is None

    totals = summary_totals(summary)
    assert totals["scheduled"] == 3 and totals["counted"] == 3
    assert totals["scheduled and counted"] == 2
    assert totals["scheduled, not counted"] == 1
    assert totals["counted, not scheduled"] == 1
    assert totals["seen, not counted"] == 1
    assert totals["ira_pct"] == pytest.approx(100 / 3)
    assert totals["abs_variance_value"] == 200 and totals["net_variance_value"] == 0

    tuesday = count_summary(con, TUE, plant="1000").to_dicts()
    assert [(r["material"], r["status"], r["requested_by"]) for r in tuesday] == [
        ("C1", "scheduled and counted", "Kim")]
