"""Cached reads and guarded writes for the Count schedule and Count entry pages.

Every read opens the warehouse, asks the counting domain and closes (no connection is kept
across reruns); results are cached briefly because a load or another counter may change them
any time, and dropped at once after this session writes (``warehouse_data.clear_caches``, the
dashboard's one cache-clearing helper). Writes go through
``write``, which runs a domain function in one transaction and turns the errors a person can
act on (a bad entry, a role that may not, a warehouse busy beyond patience) into one message.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import polars as pl
import streamlit as st

from pipelines.access import AccessDenied
from pipelines.counting.materials import search_materials
from pipelines.counting.planning import counters_in, plants, schedule_lines
from pipelines.counting.records import CountError, count_history, list_counts
from pipelines.counting.schedule import ScheduleError, schedule_for
from pipelines.counting.schedule_sheet import ScheduleSheetRejected
from pipelines.counting.summary import count_summary
from pipelines.reports.worksheets import write_worksheets
from pipelines.sap.expression import QuantityError
from pipelines.sap.formats import UnreadableFile
from pipelines.settings import ConfigError, Settings, get_settings
from pipelines.warehouse.db import WarehouseBusyError, warehouse

from warehouse_data import clear_caches

TTL_SECONDS = 10
T = TypeVar("T")

# Errors whose message is written for the person at the screen.
FRIENDLY_ERRORS = (CountError, ScheduleError, QuantityError, AccessDenied, UnreadableFile,
                   ConfigError)


def _read(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    with warehouse(read_only=True) as con:
        return function(con, *args, **kwargs)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def plant_list() -> list[str]:
    return _read(plants)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def counter_names(start: date, end: date) -> list[str]:
    """The configured team first, then anyone else on the schedule or in the counts."""
    team = list(get_settings().counting.counters)
    return team + [name for name in _read(counters_in, start, end) if name not in team]


def page_settings() -> Settings | None:
    """The settings for a page's writes, or None after showing why they cannot be used."""
    try:
        return get_settings()
    except ConfigError as error:
        st.error(f"The settings are wrong: {error}")
        return None


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def lines_between(start: date, end: date, plant: str | None = None,
                  counter: str | None = None, include_cancelled: bool = False) -> pl.DataFrame:
    return _read(schedule_lines, start, end, plant=plant, counter=counter,
                 include_cancelled=include_cancelled)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def day_list(day: date, counter: str | None) -> pl.DataFrame:
    """One counter's list of a day (blind: nothing of SAP's quantities)."""
    return _read(schedule_for, day, counter=counter)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def day_summary(day: date, plant: str | None = None) -> pl.DataFrame:
    return _read(count_summary, day, plant=plant)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def entered_counts(day: date, counter: str | None = None,
                   include_voided: bool = False) -> pl.DataFrame:
    return _read(list_counts, count_date=day, counter=counter, include_voided=include_voided,
                 settings=get_settings())


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def history_of(count_id: int) -> pl.DataFrame:
    return _read(count_history, count_id)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def materials_matching(text: str, plant: str | None = None) -> pl.DataFrame:
    return _read(search_materials, text, plant=plant, limit=25, active_only=True,
                 settings=get_settings())


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def worksheet_files(day: date, by: str, blind: bool,
                    plant: str | None = None) -> dict[str, bytes]:
    """The day's worksheets as {file name: xlsx bytes} (written by reports/worksheets.py)."""
    with tempfile.TemporaryDirectory() as directory, warehouse(read_only=True) as con:
        paths = write_worksheets(con, day, directory, by=by, blind=blind, plant=plant,
                                 config=get_settings().counting)
        return {path.name: path.read_bytes() for path in paths}


@dataclass(frozen=True)
class Outcome:
    """What a write did: its result, or the message (and problem lines) for the person."""

    result: Any = None
    error: str | None = None
    problems: pl.DataFrame | None = None  # rows of a rejected upload: row, column, reason

    @property
    def ok(self) -> bool:
        return self.error is None


def write(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Outcome:
    """Run a domain write in one transaction; nothing is half-written on an error."""
    try:
        with warehouse() as con:
            result = function(con, *args, **kwargs)
    except ScheduleSheetRejected as error:
        return Outcome(error=str(error), problems=error.problems)
    except FRIENDLY_ERRORS as error:
        return Outcome(error=str(error))
    except WarehouseBusyError:
        return Outcome(error="The warehouse is busy with a long load right now; nothing was "
                             "saved. Please try again in a minute.")
    clear_caches()  # counts and schedules feed every page's figures
    return Outcome(result=result)


def write_upload(function: Callable[..., Any], name: str, data: bytes,
                 **kwargs: Any) -> Outcome:
    """``write`` for a domain function that reads a file: the upload is put in a private
    temporary folder (the readers sniff real files) and removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="wics-upload-") as folder:
        path = Path(folder) / (Path(name).name or "upload")
        path.write_bytes(data)
        return write(function, path, **kwargs)
