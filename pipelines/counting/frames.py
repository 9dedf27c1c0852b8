"""Polars frames handed to DuckDB by name, for the length of one statement block."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb
import polars as pl

_names = itertools.count()


@contextmanager
def registered(con: duckdb.DuckDBPyConnection, frame: pl.DataFrame,
               prefix: str = "frame") -> Iterator[str]:
    """Register ``frame`` under a fresh view name; unregister it afterwards."""
    name = f"_wics_{prefix}_{next(_names)}"
    con.register(name, frame)
    try:
        yield name
    finally:
        con.unregister(name)
