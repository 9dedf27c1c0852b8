"""Dagster: the code location loads, and the load jobs materialize real assets with metadata."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from pipelines.defs.ingest import load_run_config
from pipelines.sap.headers import ExportKind
from pipelines.warehouse.db import query

from conftest import MB52_HEADER, REPO, mb52_row, mm60_row, write_xlsx


@pytest.fixture
def defs():
    from pipelines.definitions import defs as load_defs

    return load_defs()


def _metadata(result: dg.ExecuteInProcessResult, asset: str,
              instance: dg.DagsterInstance | None = None) -> dict:
    """The asset's materialization by the run, or else the one its after_load reported."""
    for event in result.get_asset_materialization_events():
        if event.asset_key == dg.AssetKey(asset):
            return {k: getattr(v, "value", v) for k, v in
                    event.step_materialization_data.materialization.metadata.items()}
    record = instance.get_latest_materialization_event(dg.AssetKey(asset)) if instance else None
    if record is None or record.asset_materialization is None:
        raise AssertionError(f"{asset} was not materialized")
    return {k: getattr(v, "value", v) for k, v in record.asset_materialization.metadata.items()}


def test_definitions_describe_every_warehouse_table(defs):
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {"material", "material_change", "sap_stock", "physical_count", "load_log"} <= keys
    for key in ("material", "sap_stock", "physical_count", "load_log", "material_change"):
        node = graph.get(dg.AssetKey(key))
        assert node.description and len(node.description) > 40
        assert node.group_name in ("sap_master", "sap_stock", "counting", "operations")


def test_mm60_then_mb52_jobs_materialize_with_metadata(wics_home, defs, mm60_file, mb52_file):
    instance = dg.DagsterInstance.ephemeral()
    first = mm60_file([mm60_row("1"), mm60_row("2")], name="MM60_2026-10-01.xlsx")
    defs.resolve_job_def("load_mm60").execute_in_process(
        run_config=load_run_config(ExportKind.MM60, first), instance=instance)
    second = mm60_file([mm60_row("1", price=11.0), mm60_row("3")], name="MM60_2026-11-01.xlsx")
    result = defs.resolve_job_def("load_mm60").execute_in_process(
        run_config=load_run_config(ExportKind.MM60, second), instance=instance)
    assert result.success
    material = _metadata(result, "material")
    assert (material["added"], material["removed"], material["changed"]) == (1, 1, 1)
    assert material["dagster/row_count"] == 2
    changes = _metadata(result, "material_change", instance)
    assert (changes["added"], changes["removed"], changes["changed"]) == (1, 1, 1)
    assert "price" in changes["preview"]
    assert changes["dagster/row_count"] == 3
    # No file is written with the load: the metadata says how to get the report.
    assert "wics changes 2" in changes["report"]
    assert not (wics_home.reports_dir / "material_changes_load2.xlsx").exists()

    stock = mb52_file([mb52_row("1"), mb52_row("99")], name="MB52_2026-11-02.xlsx")
    result = defs.resolve_job_def("load_mb52").execute_in_process(
        run_config=load_run_config(ExportKind.MB52, stock), instance=instance)
    metadata = _metadata(result, "sap_stock")
    assert metadata["snapshot_date"] == "2026-11-02"
    assert metadata["unknown_materials"] == 1 and "99 / 1000" in metadata["unknown_examples"]
    log = _metadata(result, "load_log", instance)
    assert log["files_loaded"] == 3 and "MB52_2026-11-02.xlsx" in log["recent_loads"]
    assert query("SELECT count(*) FROM sap_stock", path=wics_home.database).item() == 2


def test_rejected_file_fails_the_run_loudly_with_the_reason(wics_home, defs, tmp_path):
    bad = write_xlsx(tmp_path / "MB52_2026-11-02.xlsx", [MB52_HEADER, mb52_row("1")[:7] + ["x"]])
    dropped = wics_home.drop_dir / bad.name
    shutil.move(bad, dropped)
    result = defs.resolve_job_def("load_mb52").execute_in_process(
        run_config=load_run_config(ExportKind.MB52, dropped),
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    assert not result.success
    failure = result.failure_data_for_node("sap_stock")
    assert failure is not None
    assert 'column "Unrestricted", value "x": not a number' in failure.error.message
    assert (wics_home.rejected_dir / "MB52_2026-11-02.xlsx.error.txt").exists()


def test_wrong_asset_for_the_file_is_an_error(wics_home, defs, mm60_file):
    path = mm60_file([mm60_row("1")])
    result = defs.resolve_job_def("load_mb52").execute_in_process(
        run_config=load_run_config(ExportKind.MB52, path),
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    assert not result.success
    assert "is a mm60 file, not mb52" in result.failure_data_for_node("sap_stock").error.message


@pytest.mark.slow
def test_workspace_yaml_loads_the_code_location(wics_home):
    completed = subprocess.run(
        [str(REPO / ".venv" / "bin" / "dagster") if (REPO / ".venv").exists()
         else str(Path(sys.executable).with_name("dagster")),
         "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO, capture_output=True, text=True, timeout=180,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "Validation successful" in completed.stdout + completed.stderr
