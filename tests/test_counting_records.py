"""Count records: add, edit and void through one API; history is never overwritten."""

from __future__ import annotations

from datetime import datetime

import polars as pl
import pytest
from counting_support import AT, MON, TUE, add_material, add_stock, variance_row

from pipelines.access import User
from pipelines.counting.records import (
    CountError,
    add_count,
    count_history,
    edit_count,
    get_count,
    insert_counts,
    list_counts,
    void_count,
)
from pipelines.settings import get_settings
from pipelines.warehouse.db import fetch, warehouse


@pytest.fixture
def con(wics_home):
    with warehouse() as connection:
        add_material(connection, "10000001", abc="B")
        add_material(connection, "BRKT-1", abc="C")
        yield connection


def test_quantity_expression_is_evaluated_and_kept_as_typed(con):
    count_id = add_count(con, count_date=MON, material="000000000010000001", plant=" 1000 ",
                         quantity="24*12+7", location="R01-A", counter="ANA",
                         notes="two pallets", user=User.system("tablet:ana"), entered_at=AT,
                         settings=get_settings())
    row = get_count(con, count_id)
    assert row["material"] == "10000001"  # ALPHA: leading zeros gone
    assert row["plant"] == "1000"
    assert row["quantity"] == 295
    assert row["quantity_expr"] == "24*12+7"
    assert (row["counter"], row["notes"], row["entered_by"]) == ("ANA", "two pallets",
                                                                 "tablet:ana")
    assert row["entered_at"] == AT
    assert row["voided_at"] is None


def test_location_only_is_not_a_counted_zero(con):
    seen = add_count(con, count_date=MON, material="BRKT-1", plant="1000", quantity="",
                     location="R09", user=User.system("t"), entered_at=AT, settings=get_settings())
    zero = add_count(con, count_date=MON, material="BRKT-1", plant="1000", quantity="0",
                     location="R10", user=User.system("t"), entered_at=AT, settings=get_settings())
    assert get_count(con, seen)["quantity"] is None
    assert get_count(con, seen)["quantity_expr"] is None
    assert get_count(con, zero)["quantity"] == 0
    assert get_count(con, zero)["quantity_expr"] == "0"
    assert variance_row(con, MON, "BRKT-1")["counted_qty"] == 0


def test_flags_are_recorded_and_reach_the_variance_line(con):
    add_count(con, count_date=MON, material="BRKT-1", plant="1000", quantity=4,
              movement_during_count=True, user=User.system("t"), entered_at=AT,
                                                           settings=get_settings())
    add_count(con, count_date=MON, material="10000001", plant="1000", quantity=2.5,
              possibly_not_received=True, user=User.system("t"), entered_at=AT,
                                                           settings=get_settings())
    flags = fetch(con, "SELECT material, quantity_expr, movement_during_count, "
                       "possibly_not_received FROM physical_count ORDER BY material")
    assert flags.rows() == [("10000001", "2.5", False, True), ("BRKT-1", "4", True, False)]
    assert variance_row(con, MON, "BRKT-1")["movement_during_count"] is True
    assert variance_row(con, MON, "10000001")["possibly_not_received"] is True


def test_edit_voids_the_old_row_and_inserts_a_new_one(con):
    first = add_count(con, count_date=MON, material="BRKT-1", plant="1000", quantity="3*4",
                      location="R1", counter="ANA", user=User.system("ana"), entered_at=AT,
                      settings=get_settings())
    later = datetime(2026, 11, 3, 11, 0)
    second = edit_count(con, first, user=User.system("lead"), entered_at=later,
                        notes="recounted box",
                        settings=get_settings())
    third = edit_count(con, second, user=User.system("lead"), entered_at=later, quantity="13",
                       reason="typo", settings=get_settings())
    old = get_count(con, first)
    assert old["voided_at"] == later and old["voided_by"] == "lead"
    assert old["quantity"] == 12  # the old row is untouched apart from the void
    kept = get_count(con, second)
    assert kept["quantity_expr"] == "3*4"  # an edit of the notes keeps what was typed
    assert kept["replaces_count_id"] == first and kept["notes"] == "recounted box"
    assert get_count(con, second)["void_reason"] == "typo"
    new = get_count(con, third)
    assert new["quantity"] == 13 and new["voided_at"] is None
    assert (new["location"], new["counter"]) == ("R1", "ANA")
    history = count_history(con, second)
    assert history["count_id"].to_list() == [first, second, third]
    assert history["voided_at"].is_null().to_list() == [False, False, True]
    assert list_counts(con, count_date=MON,
                       settings=get_settings())["count_id"].to_list() == [third]
    assert len(list_counts(con, count_date=MON, include_voided=True, settings=get_settings())) == 3
    with pytest.raises(CountError, match="already voided"):
        edit_count(con, first, user=User.system("lead"), quantity="1", settings=get_settings())


def test_edit_can_move_a_count_to_another_day(con):
    add_stock(con, MON, "BRKT-1", unrestricted=5)
    first = add_count(con, count_date=MON, material="BRKT-1", plant="1000", quantity="5",
                      user=User.system("t"), entered_at=AT, settings=get_settings())
    edit_count(con, first, user=User.system("lead"), entered_at=AT, count_date=TUE,
               settings=get_settings())
    assert variance_row(con, MON, "BRKT-1") is None  # both days were refreshed
    assert variance_row(con, TUE, "BRKT-1")["counted_qty"] == 5


def test_void_keeps_the_row_with_who_and_when(con):
    count_id = add_count(con, count_date=MON, material="BRKT-1", plant="1000", quantity="7",
                         user=User.system("t"), entered_at=AT, settings=get_settings())
    void_count(con, count_id, user=User.system("lead"), voided_at=AT, reason="wrong material",
               settings=get_settings())
    row = get_count(con, count_id)
    assert (row["voided_by"], row["void_reason"], row["quantity"]) == ("lead",
                                                                       "wrong material", 7)
    with pytest.raises(CountError, match="already voided"):
        void_count(con, count_id, user=User.system("lead"), settings=get_settings())
    with pytest.raises(CountError, match="no count"):
        void_count(con, 999_999, user=User.system("lead"), settings=get_settings())


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"material": "NOPE"}, "not in the material master"),
        ({"plant": "9999"}, "not in the material master"),
        ({"quantity": "-3"}, "cannot be negative"),
        ({"quantity": "2**8"}, "not a quantity"),
        ({"quantity": "__import__('os')"}, "not a quantity"),
        ({"quantity": None, "location": None}, "quantity, or the location"),
        ({"count_date": "yesterday"}, "not a date"),
        ({"material": "  "}, "material is missing"),
    ],
)
def test_entries_that_cannot_be_recorded_are_refused(con, entry, message):
    base = {"count_date": MON, "material": "BRKT-1", "plant": "1000", "quantity": "1",
            "location": None}
    with pytest.raises(CountError, match=message):
        add_count(con, **(base | entry), user=User.system("t"), entered_at=AT,
                  settings=get_settings())
    assert fetch(con, "SELECT count(*) FROM physical_count").item() == 0


def test_text_goes_in_as_data_never_as_sql(con):
    add_material(con, "X'); DROP TABLE MATERIAL; --")
    add_count(con, count_date=MON, material="x'); drop table material; --", plant="1000",
              quantity="1", notes="'; DELETE FROM physical_count; --", user=User.system("t"),
              entered_at=AT, settings=get_settings())
    assert fetch(con, "SELECT count(*) FROM material").item() == 3
    assert fetch(con, "SELECT notes FROM physical_count").item().startswith("';")


def test_insert_counts_keeps_the_loader_signature_and_refreshes(con):
    add_stock(con, MON, "BRKT-1", unrestricted=10)
    frame = pl.DataFrame({
        "count_date": [MON, MON], "material": ["BRKT-1", "BRKT-1"], "plant": ["1000", "1000"],
        "storage_location": ["0001", None], "location": ["A", "B"], "quantity": [6.0, 4.0],
        "quantity_expr": ["2*3", "4"], "counter": ["ANA", "BEN"], "notes": [None, None],
    })
    assert insert_counts(con, frame, user=User.system("sheet:x.xlsx"), entered_at=AT, load_id=7,
                         config=get_settings().counting) == 2
    rows = fetch(con, "SELECT * FROM physical_count ORDER BY location")
    assert rows["load_id"].to_list() == [7, 7]
    assert rows["movement_during_count"].to_list() == [False, False]
    assert variance_row(con, MON, "BRKT-1")["counted_qty"] == 10
    assert insert_counts(con, frame.head(0), user=User.system("x"), entered_at=AT,
                         config=get_settings().counting) == 0
