"""Roles are enforced by the write functions themselves, before anything is written.

Viewers may write nothing; counters enter counts and correct or void their own; managers also
change other people's counts and the schedule. Every row records the acting user's name.
"""

from __future__ import annotations

import math
from datetime import datetime

import polars as pl
import pytest
from counting_support import AT, MON, TUE, add_material, add_stock

from pipelines.access import AccessDenied, Role, User
from pipelines.counting.records import (
    MAX_QUANTITY,
    CountError,
    add_count,
    edit_count,
    get_count,
    insert_counts,
    void_count,
)
from pipelines.counting.schedule import (
    add_to_schedule,
    cancel_scheduled,
    generate_schedule,
    request_count,
)
from pipelines.settings import get_settings
from pipelines.warehouse.db import fetch, warehouse

from conftest import table_fingerprint

VIEWER = User("vera", Role.VIEWER)
ANA = User("ana", Role.COUNTER)
BEN = User("ben", Role.COUNTER)
LEAD = User("lead", Role.MANAGER)


@pytest.fixture
def home(wics_home):
    with warehouse() as con:
        for material in ("M1", "M2", "M3"):
            add_material(con, material)
        add_stock(con, MON, "M1", unrestricted=10)
    return wics_home


def _count(con, user: User, material: str = "M1", quantity: object = "10") -> int:
    return add_count(con, count_date=MON, material=material, plant="1000", quantity=quantity,
                     location="R1", user=user, entered_at=AT, settings=get_settings())


def _refused(home, call) -> None:
    """``call(con)`` raises AccessDenied and leaves every table as it was."""
    before = table_fingerprint(home)
    with pytest.raises(AccessDenied), warehouse() as con:
        call(con)
    assert table_fingerprint(home) == before


def _schedule_line(home) -> int:
    with warehouse() as con:
        return add_to_schedule(con, count_date=TUE, material="M2", plant="1000", user=LEAD,
                               settings=get_settings())


def test_a_viewer_may_write_nothing(home):
    with warehouse() as con:
        count_id = _count(con, ANA)
    line = _schedule_line(home)
    frame = pl.DataFrame({"count_date": [MON], "material": ["M1"], "plant": ["1000"],
                          "quantity": [1.0], "quantity_expr": ["1"]})
    for call in (
        lambda con: _count(con, VIEWER),
        lambda con: edit_count(con, count_id, user=VIEWER, quantity="11", settings=get_settings()),
        lambda con: void_count(con, count_id, user=VIEWER, settings=get_settings()),
        lambda con: insert_counts(con, frame, user=VIEWER, entered_at=AT,
                                  config=get_settings().counting),
        lambda con: add_to_schedule(con, count_date=TUE, material="M3", plant="1000",
                                    user=VIEWER, settings=get_settings()),
        lambda con: request_count(con, material="M3", plant="1000", note="claim", user=VIEWER,
                                  settings=get_settings()),
        lambda con: cancel_scheduled(con, line, user=VIEWER),
        lambda con: generate_schedule(con, user=VIEWER, today=MON, config=get_settings().counting),
    ):
        _refused(home, call)


def test_a_counter_enters_and_corrects_their_own_counts_only(home):
    with warehouse() as con:
        mine = _count(con, ANA)
        theirs = _count(con, BEN, "M2")
        corrected = edit_count(con, mine, user=ANA, quantity="12", reason="miscounted",
                               settings=get_settings())
        assert get_count(con, corrected)["entered_by"] == "ana"
        assert get_count(con, mine)["voided_by"] == "ana"
        void_count(con, corrected, user=ANA, reason="wrong bin", settings=get_settings())
    _refused(home, lambda con: edit_count(con, theirs, user=ANA, quantity="1",
             settings=get_settings()))
    _refused(home, lambda con: void_count(con, theirs, user=ANA, settings=get_settings()))
    with warehouse(read_only=True) as con:
        assert get_count(con, theirs)["voided_at"] is None


def test_a_counter_may_not_change_the_schedule(home):
    line = _schedule_line(home)
    _refused(home, lambda con: add_to_schedule(con, count_date=TUE, material="M3",
                                               plant="1000", user=ANA, settings=get_settings()))
    _refused(home, lambda con: request_count(con, material="M3", plant="1000", note="claim",
                                             user=ANA, settings=get_settings()))
    _refused(home, lambda con: cancel_scheduled(con, line, user=ANA))
    _refused(home, lambda con: generate_schedule(con, user=ANA, today=MON,
             config=get_settings().counting))


def test_a_manager_changes_anyones_counts_and_the_schedule(home, monkeypatch):
    monkeypatch.setenv("WICS_COUNTERS", "ANA,BEN")
    with warehouse() as con:
        theirs = _count(con, ANA)
        corrected = edit_count(con, theirs, user=LEAD, quantity="9", settings=get_settings())
        void_count(con, corrected, user=LEAD, reason="double entry", settings=get_settings())
        manual = add_to_schedule(con, count_date=TUE, material="M3", plant="1000", user=LEAD,
                                 settings=get_settings())
        requested = request_count(con, material="M2", plant="1000", note="claim", user=LEAD,
                                  requested_by="sales: Kim", now=datetime(2026, 11, 2, 16),
                                                                          settings=get_settings())
        cancel_scheduled(con, manual, user=LEAD, note="not needed")
        generate_schedule(con, user=LEAD, today=MON, config=get_settings().counting)
        voided = get_count(con, corrected)
        lines = fetch(con, "SELECT schedule_id, created_by, requested_by, status, "
                           "request_note FROM count_schedule WHERE schedule_id IN (?, ?)",
                      [manual, requested]).rows_by_key("schedule_id", named=True, unique=True)
    assert (voided["entered_by"], voided["voided_by"]) == ("lead", "lead")
    assert lines[manual]["status"] == "cancelled"
    assert "cancelled by lead: not needed" in lines[manual]["request_note"]
    assert (lines[requested]["created_by"], lines[requested]["requested_by"]) == (
        "lead", "sales: Kim")


def test_a_request_without_requester_is_the_users_own(home):
    with warehouse() as con:
        line = request_count(con, material="M2", plant="1000", note="looks short", user=LEAD,
                             settings=get_settings())
        row = fetch(con, "SELECT requested_by, created_by FROM count_schedule "
                         "WHERE schedule_id = ?", [line]).row(0)
    assert row == ("lead", "lead")


@pytest.mark.parametrize("quantity, message", [
    (math.nan, "not a number"),
    (math.inf, "too large"),
    (-math.inf, "negative"),
    (1e308, "too large"),
    (10**400, "too large"),
    (MAX_QUANTITY + 1, "too large"),
    (True, "must be a number"),
    (False, "must be a number"),
    ([1], "must be a number"),
    ("9" * 150, "too large"),
    ("9" * 5000, "too long"),
    ("1e400", "not a quantity"),
    ("12 boxes", "not a quantity"),
    ("-3", "negative"),
])
def test_every_impossible_quantity_is_a_count_error_and_writes_nothing(home, quantity,
                                                                       message):
    before = table_fingerprint(home)
    with pytest.raises(CountError, match=message), warehouse() as con:
        _count(con, ANA, quantity=quantity)
    assert table_fingerprint(home) == before


@pytest.mark.parametrize("quantity, value", [
    (0, 0.0), (MAX_QUANTITY, float(MAX_QUANTITY)), ("0,5", 0.5), ("24*12+7", 295.0),
    (12.25, 12.25),
])
def test_sane_quantities_are_kept(home, quantity, value):
    with warehouse() as con:
        assert get_count(con, _count(con, ANA, quantity=quantity))["quantity"] == value


def test_long_free_text_is_refused_with_a_reason(home):
    with pytest.raises(CountError, match="notes is too long"), warehouse() as con:
        add_count(con, count_date=MON, material="M1", plant="1000", quantity="1",
                  notes="x" * 100_000, user=ANA, settings=get_settings())


def test_a_save_rewrites_only_the_variance_line_it_touches(home):
    with warehouse() as con:
        _count(con, ANA, "M1")
        _count(con, ANA, "M2")
        first = dict(fetch(con, "SELECT material, computed_at FROM count_variance").rows())
    # computed_at is the transaction's time: a line rewritten by the next save changes it.
    with warehouse() as con:
        add_count(con, count_date=MON, material="M1", plant="1000", quantity="3", user=ANA,
                  entered_at=datetime(2026, 11, 3, 11), settings=get_settings())
        after = fetch(con, "SELECT material, computed_at, counted_qty FROM count_variance "
                           "ORDER BY material").rows()
    assert after[0][0] == "M1" and after[0][2] == 13  # 10 + 3
    assert after[0][1] > first["M1"]  # recomputed
    assert after[1][:2] == ("M2", first["M2"])  # untouched
