"""Shared fixtures: a fresh WICS_HOME per test, small export writers, the ../shared samples."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest
from streamlit import config as streamlit_config

from pipelines.settings import Settings, get_settings
from pipelines.warehouse.db import warehouse

# AppTest runs in this process and does not read dashboard/.streamlit/config.toml: the same
# "no magic" setting here (see the comment there).
streamlit_config.set_option("runner.magicEnabled", False)
# Many tests open the DuckDB file directly (duckdb.connect, from this process or another) to
# look at what WICS wrote; a warehouse kept open between uses would be in their way. The
# lease itself is tested where it is set (test_write_path.py, test_loadtest.py); set the
# variable to run the whole suite with it (the servers and Dagster runs the tests start).
os.environ.setdefault("WICS_KEEP_OPEN_SECONDS", "0")

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
DATA_TABLES = ("material", "material_change", "sap_stock", "physical_count", "count_schedule",
               "count_variance")


@pytest.fixture(scope="session", autouse=True)
def checkout_data_untouched():
    """No test may write into the checkout's own data/ (the default WICS_HOME): a test that
    forgets ``wics_home`` would leave files that ``make demo`` then loads."""
    def listing() -> set[Path]:
        return {p for p in (REPO / "data").rglob("*") if p.is_file()}

    before = listing()
    yield
    leaked = sorted(str(p.relative_to(REPO)) for p in listing() - before)
    assert not leaked, f"tests wrote into the checkout's data/: {leaked[:10]}"


@pytest.fixture
def wics_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A fresh, empty WICS_HOME for one test (real DuckDB file, real folders)."""
    home = tmp_path / "wics"
    monkeypatch.setenv("WICS_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    monkeypatch.delenv("WICS_MATERIAL_NUMBERS", raising=False)
    settings = get_settings()
    settings.ensure_dirs()
    return settings


def shared_file(*parts: str) -> Path:
    """A file of ../shared, or skip the test when the clone has nothing beside it."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is not here (the repository is tested without ../shared)")
    return path


def write_xlsx(path: Path, rows: Sequence[Sequence[object]], sheet: str = "Sheet1") -> Path:
    """An xlsx written cell by cell, exactly as given (strings stay text cells)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    book = openpyxl.Workbook()
    book.active.title = sheet
    for row in rows:
        book.active.append(list(row))
    for cells in book.active.iter_rows():
        for cell in cells:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # text as SAP writes it, even "=..." (never a formula)
    book.save(path)
    return path


def write_text(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


MM60_HEADER = ["Material", "Plant", "Material Description", "Material Type", "Material Group",
               "Base Unit of Measure", "ABC Indicator", "Price", "Price Unit", "Currency",
               "Valuation Type", "Last Change"]
MB52_HEADER = ["Material", "Plnt", "SLoc", "Material Description", "BUn", "Batch", "S",
               "Unrestricted", "Crcy", "Value Unrestricted", "Transit/Transf.",
               "In Quality Insp.", "Restricted-Use", "Blocked", "Returns"]
COUNT_HEADER = ["Count Date", "Material", "Plant", "Storage Location", "Location",
                "Counted Qty", "Counter", "Notes"]


def mm60_row(material: str, plant: str = "1000", description: str = "BOLT M8", *,
             abc: str = "A", price: float = 10.0, price_unit: float = 1,
             valuation_type: str | None = None, last_change: date = date(2026, 10, 1),
             material_group: str = "FAST") -> list[object]:
    return [material, plant, description, "ROH", material_group, "EA", abc, price, price_unit,
            "EUR", valuation_type, datetime.combine(last_change, datetime.min.time())]


def mb52_row(material: str, plant: str = "1000", sloc: str = "0001", unrestricted: float = 5,
             *, batch: str | None = None, special: str | None = None, quality: float = 0,
             restricted: float = 0, blocked: float = 0, returns: float = 0,
             transit: float = 0, value: float = 50.0) -> list[object]:
    return [material, plant, sloc, "BOLT M8", "EA", batch, special, unrestricted, "EUR", value,
            transit, quality, restricted, blocked, returns]


@pytest.fixture
def mm60_file(tmp_path: Path) -> Callable[..., Path]:
    def make(rows: Sequence[Sequence[object]], name: str = "MM60_2026-11-01.xlsx") -> Path:
        return write_xlsx(tmp_path / "in" / name, [MM60_HEADER, *rows])
    return make


@pytest.fixture
def mb52_file(tmp_path: Path) -> Callable[..., Path]:
    def make(rows: Sequence[Sequence[object]], name: str = "MB52_2026-11-02.xlsx") -> Path:
        return write_xlsx(tmp_path / "in" / name, [MB52_HEADER, *rows])
    return make


@pytest.fixture
def count_file(tmp_path: Path) -> Callable[..., Path]:
    def make(rows: Sequence[Sequence[object]], name: str = "counts_2026-11-02.xlsx") -> Path:
        return write_xlsx(tmp_path / "in" / name, [COUNT_HEADER, *rows], sheet="Counts")
    return make


def table_fingerprint(settings: Settings) -> dict[str, str]:
    """A digest of every data table's full contents, to prove a rejection changed nothing."""
    digests = {}
    with warehouse(settings.database, read_only=True) as con:
        for table in DATA_TABLES:
            rows = con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
            digests[table] = hashlib.sha256(repr(rows).encode()).hexdigest()
    return digests
