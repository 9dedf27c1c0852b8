"""Cached reads and the writes of the Materials and Counts pages.

Every read opens the warehouse read-only for one query and closes it (no connection is held
across reruns), cached for a short time; a write clears these caches so the page shows it at
once. The queries themselves are the domain's (``pipelines.counting.materials``,
``pipelines.counting.records``): nothing here knows SQL.
"""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import streamlit as st

from pipelines.access import User
from pipelines.counting import materials
from pipelines.counting.records import edit_count, list_counts, void_count
from pipelines.reports.xlsx import write_workbook
from pipelines.settings import get_settings
from pipelines.warehouse.db import warehouse

from warehouse_data import clear_caches

TTL_SECONDS = 15
COUNT_LIST_LIMIT = 5_000  # rows a counts list shows; the caption says when there are more
PART_LOCATION_MATERIALS = 300  # materials of the part-locations report shown on screen


def _read(function, *args: Any, **kwargs: Any) -> Any:
    with warehouse(read_only=True) as con:
        return function(con, *args, **kwargs)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def search(text: str, plant: str | None = None) -> pl.DataFrame:
    return _read(materials.search_materials, text, plant=plant, settings=get_settings())


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def material_details(material: str, plant: str) -> dict[str, Any] | None:
    """Master data, stock, places, counts, variances, schedule and changes of one material ×
    plant (one visit to the warehouse)."""
    return _read(materials.material_details, material, plant, settings=get_settings())


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def part_locations_screen(plant: str | None = None) -> tuple[pl.DataFrame, dict[str, int]]:
    """The first PART_LOCATION_MATERIALS materials of the part-locations report, and how big
    the whole report is (the whole of it is the download)."""
    with warehouse(read_only=True) as con:
        return (materials.part_locations(con, plant=plant,
                                         first_materials=PART_LOCATION_MATERIALS,
                                         settings=get_settings()),
                materials.part_location_totals(con, plant=plant))


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def counters() -> list[str]:
    return _read(materials.counters_seen)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def counts_list(start: date | None, end: date | None, counter: str | None,
                material: str | None, include_voided: bool) -> pl.DataFrame:
    """Count entries of the filters, newest first; one row more than the limit tells the
    page there are more."""
    return _read(list_counts, start=start, end=end, counter=counter, material=material,
                 include_voided=include_voided, limit=COUNT_LIST_LIMIT + 1,
                 settings=get_settings())


def part_locations_xlsx(plant: str | None = None) -> bytes:
    """The part-locations report of every material as an xlsx (text never a formula); made
    when the download is asked for, not with every render."""
    frame = _read(materials.part_locations, plant=plant, settings=get_settings())
    with tempfile.TemporaryDirectory() as folder:
        path = write_workbook(Path(folder) / "part_locations.xlsx",
                              {"Part locations": frame},
                              titles={"Part locations": [
                                  "Part locations: where each material was last found",
                                  f"plant {plant or 'all'}, {frame.height:,} places"]})
        return path.read_bytes()


def change_count(count_id: int, *, user: User, reason: str | None = None,
                 **changes: Any) -> int:
    """Correct a count (void + re-insert, history kept); the new count_id."""
    with warehouse() as con:
        new_id = edit_count(con, count_id, user=user, reason=reason,
                            settings=get_settings(), **changes)
    clear_caches()  # every cached read of the counts may be stale now
    return new_id


def void(count_id: int, *, user: User, reason: str) -> None:
    with warehouse() as con:
        void_count(con, count_id, user=user, reason=reason, settings=get_settings())
    clear_caches()  # every cached read of the counts may be stale now
