"""Schema migrations: how a warehouse file made by an earlier WICS reaches today's schema.

``schema_version`` records every migration applied to the file (version, name, when). Opening
the warehouse for writing (``db.warehouse`` → ``schema.create_schema``) runs the ones it lacks,
in order, each in its own transaction together with its ``schema_version`` row: a migration
is applied completely or not at all.

The rules for a new migration (see docs/architecture.md):

- ``schema.TABLES`` always holds the *current* SQL of every table, so a new file is made
  whole by migration 1. A change after that is two edits: the table's SQL in ``TABLES`` and a
  ``Migration`` appended to ``MIGRATIONS`` that brings an older file to the same shape.
- Write each migration so that it changes nothing on a file that already has that shape
  (``ADD COLUMN IF NOT EXISTS``, ``CREATE TABLE IF NOT EXISTS``): a new file runs it after
  migration 1 has created the tables as they are today.
- Never edit or renumber a migration that has shipped; add another.

``tests/test_migrations.py`` upgrades a file made by the schema before migrations existed
(``tests/fixtures/warehouse_ced9950.duckdb``) and checks it ends with the columns of a new file.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass

import duckdb


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: Callable[[duckdb.DuckDBPyConnection], None]


def _baseline(con: duckdb.DuckDBPyConnection) -> None:
    """Every sequence and table as ``schema.TABLES`` has them (nothing if they exist)."""
    from pipelines.warehouse.schema import SEQUENCES, TABLES

    for name in SEQUENCES:
        con.execute(f"CREATE SEQUENCE IF NOT EXISTS {name} START 1")
    for ddl in TABLES.values():
        con.execute(ddl)


def _load_log_forced_process_refresh(con: duckdb.DuckDBPyConnection) -> None:
    """load_log: whether a load was forced, the process running it (crash recovery) and the
    state of its after-load refresh."""
    for column, sql_type in (
        ("forced", "BOOLEAN DEFAULT FALSE"),  # ADD COLUMN takes a default, not NOT NULL
        ("pid", "BIGINT"),
        ("host", "VARCHAR"),
        ("boot_id", "VARCHAR"),
        ("start_ticks", "BIGINT"),
        ("refresh_state", "VARCHAR"),
        ("refreshed_at", "TIMESTAMP"),
        ("refresh_error", "VARCHAR"),
    ):
        con.execute(f"ALTER TABLE load_log ADD COLUMN IF NOT EXISTS {column} {sql_type}")


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "the tables of WICS before migrations existed", _baseline),
    Migration(2, "load_log: forced, the loading process, the refresh state",
              _load_log_forced_process_refresh),
)

VERSION_TABLE = """
    CREATE TABLE IF NOT EXISTS schema_version (
        version     INTEGER PRIMARY KEY,
        name        VARCHAR NOT NULL,
        applied_at  TIMESTAMP NOT NULL DEFAULT current_timestamp
    )"""

# Another connection of this process (a dashboard thread, say) may migrate the same file at
# the same moment; DuckDB then fails one of the two transactions with a conflict.
_CONFLICTS = (duckdb.TransactionException, duckdb.ConstraintException, duckdb.CatalogException)


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    """The newest migration recorded in the file (0: none, or no schema_version table)."""
    exists = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = "
                         "'schema_version' AND schema_name = current_schema()").fetchone()
    if not exists or not exists[0]:
        return 0
    row = con.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
    return int(row[0]) if row else 0


def migrate(con: duckdb.DuckDBPyConnection,
            migrations: Sequence[Migration] = MIGRATIONS) -> list[int]:
    """Apply the migrations the file lacks, oldest first; returns the versions applied here.

    Must be called outside a transaction (each migration is its own). Safe to call from two
    connections at once: the loser of a conflict rolls back and finds the version recorded.
    """
    versions = [m.version for m in migrations]
    if versions != sorted(set(versions)):
        raise ValueError(f"migration versions must be unique and ascending: {versions}")
    if migrations and schema_version(con) >= migrations[-1].version:
        return []  # the usual case: one query per open
    _create_version_table(con)
    applied = []
    for migration in migrations:
        if _apply(con, migration):
            applied.append(migration.version)
    return applied


def _create_version_table(con: duckdb.DuckDBPyConnection) -> None:
    try:
        con.execute(VERSION_TABLE)
    except _CONFLICTS:
        con.execute(VERSION_TABLE)  # the other connection created it meanwhile


def _recorded(con: duckdb.DuckDBPyConnection, version: int) -> bool:
    row = con.execute("SELECT count(*) FROM schema_version WHERE version = ?",
                      [version]).fetchone()
    return bool(row and row[0])


def _apply(con: duckdb.DuckDBPyConnection, migration: Migration, attempts: int = 50) -> bool:
    for attempt in range(attempts):
        con.execute("BEGIN TRANSACTION")
        try:
            if _recorded(con, migration.version):
                con.execute("ROLLBACK")
                return False
            migration.apply(con)
            con.execute("INSERT INTO schema_version (version, name) VALUES (?, ?)",
                        [migration.version, migration.name])
            con.execute("COMMIT")
        except _CONFLICTS:
            _rollback(con)
            if _recorded(con, migration.version):
                return False  # applied by the other connection
            if attempt + 1 == attempts:
                raise
            # An ALTER conflicts at once, while the other connection's migration is still
            # open: wait for it to commit (then this one finds the version recorded).
            time.sleep(0.02 * (attempt + 1))
            continue
        except BaseException:
            _rollback(con)
            raise
        return True
    return False


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    # A failed COMMIT has already ended the transaction.
    with suppress(duckdb.TransactionException):
        con.execute("ROLLBACK")
