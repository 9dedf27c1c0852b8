"""`make bench` at a tiny size, so the benchmark never rots: every measurement runs for real.

No timing is asserted (the machine is shared); the results file must have every row and
column, and the figures must be sane (positive, phases within the whole, ratios consistent).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from conftest import REPO

pytestmark = pytest.mark.slow  # runs every benchmark step in its own processes

PAGE_SIZES = ["--page-count-lines", "300", "--page-snapshots", "3", "--page-runs", "1"]
SIZES = ["--mm60-rows", "300", "--mb52-rows", "900", "--old-way-rows", "200", "--history-days", "3",
         "--count-lines", "100", "--runs", "1", *PAGE_SIZES]
PAGES = sorted(p.name for p in (REPO / "dashboard" / "app_pages").glob("*.py")
               if not p.name.startswith("_"))


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict, str]:
    root = tmp_path_factory.mktemp("bench")
    out, raw = root / "results" / "latest.md", root / "results" / "latest.json"
    done = subprocess.run(
        [sys.executable, "benchmarks/run.py", *SIZES, "--cache", str(root / "cache"),
         "--work", str(root / "work"), "--out", str(out), "--json", str(raw)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
        env={**os.environ, "WICS_HOME": str(root / "unused-home")},
    )
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-3000:]
    return out.read_text(encoding="utf-8"), json.loads(raw.read_text()), done.stdout


def _table(text: str) -> dict[str, list[str]]:
    """The results table: label -> [median, min, max] cells (section rows left out)."""
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[1] and not cells[0].startswith(("measurement", "---")):
            rows[cells[0]] = cells[1:]
    return rows


def test_results_file_has_every_measurement(bench):
    text, _, stdout = bench
    assert text.startswith("# WICS load benchmark")
    assert "| measurement | median | min | max |" in text
    assert text in stdout  # printed as well as written
    table = _table(text)
    labels = list(table)
    expected = [
        "MM60 first load (empty warehouse): end to end",
        "MM60 first load (empty warehouse): same file read by calamine alone",
        "MM60 first load (empty warehouse): end to end / calamine read",
        "MB52 load: end to end",
        "MB52 load: peak memory (RSS of the load's process)",
        "MB52 load: same file read by calamine alone",
        "MB52 load: end to end / calamine read",
        "Old way: update to next month (200 rows)",
        "WICS: the same update, end to end (200 rows)",
        "Update: old way / WICS, same file",
        "Old way: first load (200 rows)",
        "Old way: update at 300 rows, extrapolated linearly from 200 (not measured)",
        "Reconcile and dashboard reads: peak memory",
        "the same, whole process",
    ]
    for label in expected:
        assert label in labels, label
    for prefix in ("MM60 update (next month: ", "Reconcile: recompute count_variance (",
                   "MM60 update: change report on demand (`wics changes`, not part of the load",
                   "Dashboard read: overview: warehouse totals", "Dashboard read: counts: "):
        assert any(label.startswith(prefix) for label in labels), prefix
    # The old way says what it ran on: a local PostgreSQL server, or SQLite when none starts.
    assert re.search(r"\*\*The old way: one Django update_or_create per row, 200-row MM60, on "
                     r"(PostgreSQL [\d.]+.* \(local server, unix socket\)|SQLite \(no "
                     r"PostgreSQL server: .+\))\*\*", text), text
    for phase in ("parse and validate", "database (load", "rest ("):
        assert any(label.startswith(phase) for label in labels), phase
    for page in PAGES:  # every page module, found rather than listed
        assert f"Page {page}: render, cache cleared" in labels, page
        assert f"Page {page}: render, cache warm" in labels, page
        assert f"| Page {page} renders in under 1 s (cache cleared) |" in text
    for label, cells in table.items():  # one run: median, min and max are the same figure
        assert re.match(r"[\d,.]+ ?(s|ms|MiB|x)$", cells[0]), cells
        assert label.startswith("History") or len(set(cells)) == 1, (label, cells)
    assert "## Targets" in text
    assert "| MB52 load end to end within 1.3x of the calamine read of the same file |" in text


def test_figures_are_sane(bench):
    _, raw, _ = bench
    value = {key: row["values"][0] for key, row in raw.items()}
    values = {key: row["values"] for key, row in raw.items()}
    # One run; the history section times three daily loads in it.
    assert all(len(row["values"]) == (3 if key.startswith(("hist.load", "hist.reads", "hist.q"))
                                      else 1) for key, row in raw.items())
    for key in ("mm60_first", "mm60_update", "mb52"):
        total = value[f"{key}.total"]
        phases = [value[f"{key}.{p}"] for p in ("parse", "db")]
        assert all(p > 0 for p in phases) and sum(phases) < total
        assert value[f"{key}.calamine"] > 0
        assert value[f"{key}.ratio"] == pytest.approx(total / value[f"{key}.calamine"])
        assert 50 < value[f"{key}.peak"] < 4096  # MiB: a real process, not a runaway
        assert value[f"{key}.peak.parse"] <= value[f"{key}.peak"]
    # The change report is not part of any load: timed on its own, on demand.
    assert not any(key.endswith(".report") for key in value)
    assert 0 < value["report.seconds"] < value["report.process"]
    assert value["report.peak"] > 50
    assert value["old.update"] > 0 and value["old.first"] > 0
    assert value["old.ratio_update"] == pytest.approx(value["old.update"]
                                                      / value["old.wics_update"])
    assert value["old.extrapolated"] > value["old.update"]  # more rows, same time per row
    assert value["rec.seconds"] > 0
    # Cost in history: the warm-up load of each warehouse apart, then the daily load timed.
    # 900 lines a snapshot: the loaded one and the warm-up's, and 3 days more in the history
    assert raw["hist.load.many"]["label"] == ("History: daily MB52 load (load_file + refresh), "
                                              "4,500 lines in sap_stock before the first")
    assert "1,800 lines in sap_stock before the first" in raw["hist.load.one"]["label"]
    assert value["hist.warm.one"] > 0 and value["hist.warm.many"] > 0
    assert value["hist.settle"] > 0  # at least one checkpoint, the fast one that ends it
    assert raw["hist.settle"]["label"].startswith("History: one-time settling after the bulk")
    assert values["hist.load.ratio"] == pytest.approx(
        [many / one for many, one in zip(values["hist.load.many"], values["hist.load.one"],
                                         strict=True)])
    queries = [k for k in value if k.startswith("rec.q.")]
    assert len(queries) >= 5 and all(value[k] > 0 for k in queries)
    label = raw["rec.seconds"]["label"]
    lines = int(re.search(r"\(([\d,]+) lines", label).group(1).replace(",", ""))
    assert lines > 0  # the count lines reconciled into variance lines
    # Side by side: the plain read, the read stored (the floor), WICS, and `wics load` itself.
    for key in ("mm60_first", "mm60_update", "mb52_xlsx", "mb52_tab", "mb52_csv"):
        plain, stored = value[f"side.{key}.plain"], value[f"side.{key}.stored"]
        wics, command = value[f"side.{key}.wics"], value[f"side.{key}.command"]
        assert stored > 0 and plain > 0
        assert value[f"side.{key}.floor_ratio"] == pytest.approx(stored / plain)
        assert value[f"side.{key}.ratio"] == pytest.approx(wics / plain)
        assert value[f"side.{key}.command_ratio"] == pytest.approx(command / plain)
        assert value[f"side.{key}.over_floor"] == pytest.approx(wics / stored)
        assert value[f"side.{key}.command_peak"] > 50


def test_inputs_are_cached_and_deterministic(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    from benchmarks import inputs

    quiet = []
    first = inputs.mm60_inputs(120, 3, tmp_path, log=quiet.append)
    again = inputs.mm60_inputs(120, 3, tmp_path, log=quiet.append)
    assert first.generated_seconds > 0 and again.generated_seconds == 0
    other = tmp_path / "other"
    third = inputs.mm60_inputs(120, 3, other, log=quiet.append)
    assert third.mm60_month1.read_bytes() == first.mm60_month1.read_bytes()
    assert third.mm60_month2.read_bytes() == first.mm60_month2.read_bytes()
    assert first.mm60_month1.parent.name.startswith("gen-")


def test_pages_alone(tmp_path):
    """``--pages`` runs the page section only, on its own results file."""
    out = tmp_path / "latest-pages.md"
    done = subprocess.run(
        [sys.executable, "benchmarks/run.py", "--pages", "--mm60-rows", "300", "--mb52-rows",
         "900", *PAGE_SIZES, "--cache", str(tmp_path / "cache"), "--work",
         str(tmp_path / "work"), "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
        env={**os.environ, "WICS_HOME": str(tmp_path / "unused-home")},
    )
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-3000:]
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# WICS page render benchmark")
    table = _table(text)
    assert {label.split()[1].rstrip(":") for label in table
            if label.endswith("cache cleared")} == set(PAGES)
    assert not any(label.startswith(("MM60", "MB52", "Old way")) for label in table)
    assert "failed" not in text  # every page rendered (how fast is not asserted)
