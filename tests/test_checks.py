"""Asset checks: each rule shown passing on good data and failing on bad data."""

from __future__ import annotations

from datetime import date

import dagster as dg
import pytest

from pipelines.defs.ingest import load_run_config
from pipelines.ingest import quality
from pipelines.ingest.load import load_file
from pipelines.sap.headers import ExportKind
from pipelines.warehouse.db import query, warehouse

from conftest import mb52_row, mm60_row, table_fingerprint


@pytest.fixture
def loaded(wics_home, mm60_file, mb52_file, count_file):
    load_file(mm60_file([mm60_row("1"), mm60_row("2")], name="MM60_2026-11-01.xlsx"))
    load_file(mb52_file([mb52_row("1"), mb52_row("2")], name="MB52_2026-11-20.xlsx"))
    load_file(count_file([["2026-11-20", "1", "1000", "0001", "A1", 5, "ANA"]]))
    return wics_home


def rule(settings, check, *args):
    with warehouse(settings.database, read_only=True) as con:
        return check(con, *args)


def execute(settings, sql, params=()):
    with warehouse(settings.database) as con:
        con.execute(sql, list(params))


@pytest.mark.parametrize("table", sorted(quality.UNIQUE_KEYS))
def test_unique_keys_pass_on_loaded_data(loaded, table):
    assert rule(loaded, quality.unique_keys, table).passed


def test_unique_keys_fail_on_a_duplicate_stock_line(loaded):
    execute(loaded, "INSERT INTO sap_stock SELECT * FROM sap_stock WHERE material = '1'")
    outcome = rule(loaded, quality.unique_keys, "sap_stock")
    assert not outcome.passed
    assert outcome.metadata["duplicate_keys"] == 1
    assert outcome.metadata["examples"] == ["2026-11-20 / 1 / 1000 / 0001 /  /  / 2"]


def test_negative_stock_is_reported(loaded):
    assert rule(loaded, quality.negative_stock).passed
    execute(loaded, "UPDATE sap_stock SET blocked = -3 WHERE material = '2'")
    outcome = rule(loaded, quality.negative_stock)
    assert not outcome.passed and outcome.metadata["negative_lines"] == 1
    assert "negative stock" in outcome.message


def test_stock_and_counts_of_unknown_materials(loaded):
    assert rule(loaded, quality.stock_of_unknown_materials).passed
    assert rule(loaded, quality.counts_of_unknown_materials).passed
    execute(loaded, "DELETE FROM material WHERE material = '1'")
    stock = rule(loaded, quality.stock_of_unknown_materials)
    counts = rule(loaded, quality.counts_of_unknown_materials)
    assert not stock.passed and stock.metadata["examples"] == ["1 / 1000"]
    assert not counts.passed and counts.metadata["unknown"] == 1


def test_row_count_drop_flags_a_partial_export(loaded, mb52_file):
    load_file(mb52_file([mb52_row("1"), mb52_row("2", sloc="0002"), mb52_row("2", sloc="0003")],
                        name="MB52_2026-11-23.xlsx"))
    assert rule(loaded, quality.row_count_drop, "mb52", 20.0).passed
    load_file(mb52_file([mb52_row("1")], name="MB52_2026-11-24.xlsx"))
    outcome = rule(loaded, quality.row_count_drop, "mb52", 20.0)
    assert not outcome.passed
    assert outcome.metadata["drop_pct"] == pytest.approx(66.67)
    assert "over the 20 % limit" in outcome.message


def test_mm60_row_drop_compares_the_same_plants(loaded, mm60_file):
    load_file(mm60_file([mm60_row("9", "2000")], name="MM60_2026-11-02.xlsx"))
    assert rule(loaded, quality.row_count_drop, "mm60", 20.0).passed  # other plant
    load_file(mm60_file([mm60_row("1")], name="MM60_2026-11-03.xlsx"))
    assert not rule(loaded, quality.row_count_drop, "mm60", 20.0).passed  # 2 -> 1 rows


def test_stock_freshness_counts_working_days(loaded):
    friday = date(2026, 11, 20)
    assert rule(loaded, quality.stock_freshness, date(2026, 11, 23)).passed  # Monday
    assert rule(loaded, quality.stock_freshness, date(2026, 11, 22)).passed  # Sunday
    stale = rule(loaded, quality.stock_freshness, date(2026, 11, 24))  # Tuesday
    assert not stale.passed and "older than 2026-11-23" in stale.message
    holiday = frozenset({date(2026, 11, 23)})
    assert rule(loaded, quality.stock_freshness, date(2026, 11, 24), holiday).passed
    assert friday.weekday() == 4


def test_master_freshness(loaded):
    assert rule(loaded, quality.master_freshness, date(2026, 12, 16), 45).passed
    stale = rule(loaded, quality.master_freshness, date(2026, 12, 17), 45)
    assert not stale.passed and stale.metadata["age_days"] == 46


def _check_results(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data.passed
            for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}


def test_load_jobs_run_their_checks(wics_home, mm60_file, mb52_file):
    from pipelines.definitions import defs as load_defs

    instance = dg.DagsterInstance.ephemeral()
    run = load_defs().resolve_job_def("load_mm60").execute_in_process(
        run_config=load_run_config(ExportKind.MM60, mm60_file([mm60_row("1")])),
        instance=instance)
    checks = _check_results(run)
    assert checks["material_unique_key"] is True
    assert checks["material_row_count_drop"] is True
    run = load_defs().resolve_job_def("load_mb52").execute_in_process(
        run_config=load_run_config(ExportKind.MB52, mb52_file([mb52_row("1"), mb52_row("5")])),
        instance=instance)
    checks = _check_results(run)
    assert checks["sap_stock_unique_key"] is True
    assert checks["sap_stock_materials_known"] is False  # material 5 is unknown: a warning
    assert run.success  # warnings do not fail the run


def test_a_partial_export_is_refused_before_commit_and_checks_only_monitor(
        wics_home, mm60_file, mb52_file, tmp_path):
    from pipelines.definitions import defs as load_defs

    defs = load_defs()

    instance = dg.DagsterInstance.ephemeral()
    load_file(mm60_file([mm60_row("1")]))
    lines = [mb52_row("1", sloc=f"{i:04d}") for i in range(30)]
    load_file(mb52_file(lines, name="MB52_2026-11-02.xlsx"))
    partial = mb52_file(lines[:2], name="MB52_2026-11-03.xlsx")
    before = table_fingerprint(wics_home)
    run = defs.resolve_job_def("load_mb52").execute_in_process(
        run_config=load_run_config(ExportKind.MB52, partial), instance=instance,
        raise_on_error=False)
    assert not run.success  # red exactly because the file did not load
    assert table_fingerprint(wics_home) == before
    status = query("SELECT status FROM load_log ORDER BY load_id DESC LIMIT 1",
                   path=wics_home.database).item()
    assert status == "rejected"

    # Forced, it loads: the run is green, the refresh happened, the check shows the drop.
    config = load_run_config(ExportKind.MB52, partial)
    config["ops"]["sap_stock"]["config"]["force"] = True
    run = defs.resolve_job_def("load_mb52").execute_in_process(
        run_config=config, instance=instance, raise_on_error=False)
    assert run.success
    assert _check_results(run)["sap_stock_row_count_drop"] is False  # a monitor, not a block
    assert instance.get_latest_materialization_event(dg.AssetKey("count_variance")) is not None
    forced = query("SELECT forced, refresh_state FROM load_log ORDER BY load_id DESC LIMIT 1",
                   path=wics_home.database).row(0)
    assert forced == (True, "done")


def test_freshness_job_turns_stale_data_red(wics_home, mm60_file, mb52_file):
    from pipelines.definitions import defs as load_defs

    load_file(mm60_file([mm60_row("1")], name="MM60_2020-01-01.xlsx"))
    load_file(mb52_file([mb52_row("1")], name="MB52_2020-01-02.xlsx"))
    run = load_defs().resolve_job_def("check_sap_freshness").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    assert _check_results(run) == {"sap_stock_fresh": False, "material_fresh": False}
