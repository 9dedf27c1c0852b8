"""The counting assets, materialized for real on a warehouse in a temporary WICS_HOME."""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg
from counting_support import AT, add_material, add_stock

from pipelines.access import User
from pipelines.counting.records import add_count
from pipelines.defs.counting import (
    count_schedule,
    counting_assets,
    counting_jobs,
    counting_schedules,
)
from pipelines.defs.resources import WicsWarehouse
from pipelines.settings import get_settings
from pipelines.warehouse.db import fetch, warehouse


def test_counting_assets_materialize_and_describe_themselves(wics_home, monkeypatch):
    monkeypatch.setenv("WICS_COUNTERS", "ANA,BEN")
    today = date.today()
    with warehouse() as con:
        for i in range(12):
            add_material(con, f"M{i:02d}", abc="ABC"[i % 3], price=2.0)
            add_stock(con, today - timedelta(days=3), f"M{i:02d}", unrestricted=10)
        add_count(con, count_date=today - timedelta(days=2), material="M00", plant="1000",
                  quantity="12", user=User.system("t"), entered_at=AT, refresh=False,
                  settings=get_settings())
        add_count(con, count_date=today - timedelta(days=2), material="M01", plant="1000",
                  quantity="10", user=User.system("t"), entered_at=AT, refresh=False,
                  settings=get_settings())

    result = dg.materialize(
        counting_assets,
        resources={"wics": WicsWarehouse()},
        run_config={"ops": {"count_schedule": {"config": {"include_today": True}}}},
    )
    assert result.success
    events = {e.asset_key.to_user_string(): e.materialization.metadata
              for e in result.get_asset_materialization_events()}
    assert set(events) == {"count_variance", "count_schedule", "count_accuracy"}
    variance = events["count_variance"]
    assert variance["dagster/row_count"].value == 2
    assert variance["out_of_tolerance"].value == 1  # M00: 12 vs 10, A: 20 % out
    assert "| M00 |" in variance["preview"].value
    schedule = events["count_schedule"]
    assert schedule["recounts_added"].value == 1
    assert schedule["cycle_lines_planned"].value > 0
    accuracy = events["count_accuracy"]
    assert accuracy["ira_pct_last_30_days"].value == 50.0
    with warehouse(read_only=True) as con:
        assert fetch(con, "SELECT count(*) FROM count_variance").item() == 2
        assert fetch(con, "SELECT count(*) FROM count_schedule WHERE reason = 'recount'"
                     ).item() == 1


def test_counting_definitions_load():
    defs = dg.Definitions(assets=counting_assets, jobs=counting_jobs,
                          schedules=counting_schedules(get_settings()),
                          resources={"wics": WicsWarehouse()})
    job = defs.resolve_job_def("counting_refresh")
    assert {n.name for n in job.nodes_in_topological_order} == {
        "count_variance", "count_schedule", "count_accuracy"}
    for asset in counting_assets:
        spec = next(iter(asset.specs))
        assert spec.group_name == "counting" and spec.description
    deps = {d.asset_key.to_user_string() for d in next(iter(count_schedule.specs)).deps}
    assert {"count_variance", "material", "sap_stock"} <= deps
    assert counting_schedules(get_settings())[0].cron_schedule == "0 5 * * 1-5"
