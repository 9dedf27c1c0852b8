"""The demo warehouse: every page has something to show, and the same seed gives the same data."""

from __future__ import annotations

import os
from datetime import date, timedelta

import polars as pl
import pytest

from pipelines.counting.accuracy import inventory_accuracy
from pipelines.demo.warehouse import (
    DEMO_COUNTERS,
    fill_demo_history,
    history_start,
    write_demo_drop,
)
from pipelines.ingest.load import load_file
from pipelines.reports.change_report import change_counts, material_changes
from pipelines.settings import Settings, get_settings
from pipelines.warehouse.db import query, warehouse

TODAY = date(2026, 12, 2)  # a Wednesday


def build_demo(settings: Settings, *, today: date = TODAY, materials: int = 400,
               seed: int = 7) -> None:
    """What `wics demo` does, with `load_file` instead of Dagster runs (same load path)."""
    assert os.environ["WICS_COUNTERS"] == ",".join(DEMO_COUNTERS)
    for path in write_demo_drop(settings.drop_dir, today=today, materials=materials,
                                seed=seed):
        result = load_file(path)
        assert result.status == "loaded", (path.name, result.error)
    with warehouse(settings.database) as con:
        fill_demo_history(con, today=today, seed=seed, config=get_settings().counting)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    monkeypatch = pytest.MonkeyPatch()
    home = tmp_path_factory.mktemp("demo") / "wics"
    monkeypatch.setenv("WICS_HOME", str(home))
    monkeypatch.setenv("WICS_COUNTERS", ",".join(DEMO_COUNTERS))  # as wics.toml after `wics demo`
    from pipelines.settings import get_settings

    settings = get_settings()
    settings.ensure_dirs()
    build_demo(settings)
    yield settings
    monkeypatch.undo()


def _q(settings: Settings, sql: str, params: object = None) -> pl.DataFrame:
    return query(sql, params, path=settings.database)


def test_two_material_lists_make_a_change_report(demo):
    loads = _q(demo, "SELECT load_id, kind, status FROM load_log ORDER BY load_id")
    assert loads["kind"].to_list() == ["mm60", "mb52", "mm60", "mb52", "mb52", "count_sheet"]
    second_mm60 = loads.filter(pl.col("kind") == "mm60")["load_id"][1]
    with warehouse(demo.database, read_only=True) as con:
        counts = change_counts(material_changes(con, second_mm60))
    assert counts["added"] > 0 and counts["removed"] > 0 and counts["changed"] > 0


def test_accuracy_has_a_rising_trend_with_most_lines_within(demo):
    with warehouse(demo.database, read_only=True) as con:
        weeks = inventory_accuracy(con, period="week", by=(), start=history_start(TODAY),
                                   end=TODAY)
    weeks = weeks.filter(pl.col("lines_counted") > 0)
    assert weeks.height >= 13
    assert weeks["lines_unreconciled"].sum() == 0  # every count has a snapshot to compare
    ira = weeks["ira_pct"].to_list()
    overall = 100 * weeks["lines_within"].sum() / weeks["lines_counted"].sum()
    assert 80 < overall < 97 and min(ira) > 60  # realistic: most within, some out
    assert sum(ira[-4:]) / 4 > sum(ira[:4]) / 4  # counting gets better over the quarter


def test_variances_include_flags_expressions_and_several_bins(demo):
    counts = _q(demo, "SELECT quantity_expr, location, counter FROM physical_count")
    assert counts["quantity_expr"].str.contains(r"\*").any()  # typed as 24*12+7
    assert counts["location"].str.starts_with("OVF").any()  # a second bin
    assert set(counts["counter"].drop_nulls()) >= {"ANA", "BEN", "CHRIS", "DANA"}
    lines = _q(demo, "SELECT needs_recount, sap_qty FROM count_variance")
    assert 0 < lines["needs_recount"].sum() < lines.height / 5


def test_schedule_for_today_and_the_coming_weeks_with_recounts(demo):
    days = _q(demo, """SELECT count_date, count(*) AS n,
                              count(*) FILTER (WHERE status = 'counted') AS done
                       FROM count_schedule WHERE count_date >= ? AND status <> 'cancelled'
                       GROUP BY ALL ORDER BY 1""", [TODAY])
    assert days["count_date"][0] == TODAY
    today = days.row(0, named=True)
    assert 0 < today["done"] < today["n"]  # part of today's list is counted already
    assert days["count_date"].max() >= TODAY + timedelta(weeks=3)
    recounts = _q(demo, """SELECT status, count(*) AS n FROM count_schedule
                           WHERE reason = 'recount' GROUP BY ALL""")
    by_status = dict(recounts.iter_rows())
    assert by_status.get("counted", 0) > 5  # recounts done in the past weeks
    assert by_status.get("planned", 0) > 0  # and some still open
    unassigned = _q(demo, "SELECT count(*) FROM count_schedule WHERE counter IS NULL").item()
    assert unassigned == 0  # the demo's counters got every line


def test_the_same_seed_gives_the_same_warehouse(demo, tmp_path, monkeypatch):
    monkeypatch.setenv("WICS_HOME", str(tmp_path / "again"))
    monkeypatch.setenv("WICS_COUNTERS", ",".join(DEMO_COUNTERS))
    from pipelines.settings import get_settings

    again = get_settings()
    again.ensure_dirs()
    build_demo(again)
    sql = """SELECT count_date, material, plant, counted_qty, sap_qty, variance_value
             FROM count_variance ORDER BY ALL"""
    assert _q(again, sql).equals(_q(demo, sql))
    schedule = "SELECT count_date, material, plant, counter, reason FROM count_schedule " \
               "ORDER BY ALL"
    assert _q(again, schedule).equals(_q(demo, schedule))
