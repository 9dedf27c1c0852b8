"""The SQL of each warehouse table as it is today: the contract in DESIGN.md, in one place.

``create_schema`` runs the migrations (``pipelines.warehouse.migrations``) the first time a
process opens the warehouse file (``warehouse()`` ensures it once per process and file): a
fresh ``WICS_HOME`` gets these tables from migration 1, a file made by an earlier WICS gets
the migrations it lacks. Changing a table here therefore
needs a migration too (see that module). More columns are welcome; renaming one needs the
whole project changed.
"""

from __future__ import annotations

import duckdb

TABLES: dict[str, str] = {
    "material": """
        CREATE TABLE IF NOT EXISTS material (
            material        VARCHAR NOT NULL,
            plant           VARCHAR NOT NULL,
            description     VARCHAR,
            material_type   VARCHAR,
            material_group  VARCHAR,
            base_uom        VARCHAR,
            abc_indicator   VARCHAR,
            price           DOUBLE,
            price_unit      DOUBLE,
            currency        VARCHAR,
            valuation_type  VARCHAR,
            last_change     DATE,
            is_active       BOOLEAN NOT NULL DEFAULT TRUE,
            updated_at      TIMESTAMP NOT NULL,
            load_id         BIGINT,
            PRIMARY KEY (material, plant)
        )""",
    "material_change": """
        CREATE TABLE IF NOT EXISTS material_change (
            load_id     BIGINT NOT NULL,
            material    VARCHAR NOT NULL,
            plant       VARCHAR NOT NULL,
            change      VARCHAR NOT NULL,  -- added / removed / changed / reactivated
            field       VARCHAR,           -- set for 'changed' rows, one row per field
            old_value   VARCHAR,
            new_value   VARCHAR,
            changed_at  TIMESTAMP NOT NULL
        )""",
    "sap_stock": """
        CREATE TABLE IF NOT EXISTS sap_stock (
            snapshot_date       DATE NOT NULL,
            material            VARCHAR NOT NULL,
            plant               VARCHAR NOT NULL,
            storage_location    VARCHAR,
            batch               VARCHAR,
            special_stock       VARCHAR,
            description         VARCHAR,
            base_uom            VARCHAR,
            unrestricted        DOUBLE NOT NULL DEFAULT 0,
            quality_inspection  DOUBLE NOT NULL DEFAULT 0,
            restricted          DOUBLE NOT NULL DEFAULT 0,
            blocked             DOUBLE NOT NULL DEFAULT 0,
            returns             DOUBLE NOT NULL DEFAULT 0,
            in_transit          DOUBLE NOT NULL DEFAULT 0,
            value_unrestricted  DOUBLE,
            currency            VARCHAR,
            load_id             BIGINT NOT NULL
        )""",
    "count_schedule": """
        CREATE TABLE IF NOT EXISTS count_schedule (
            schedule_id       BIGINT PRIMARY KEY DEFAULT nextval('count_schedule_id'),
            count_date        DATE NOT NULL,
            material          VARCHAR NOT NULL,
            plant             VARCHAR NOT NULL,
            storage_location  VARCHAR,          -- null = all storage locations
            counter           VARCHAR,
            priority          INTEGER NOT NULL DEFAULT 3,
            reason            VARCHAR NOT NULL DEFAULT 'cycle',  -- cycle/recount/request/manual
            requested_by      VARCHAR,
            request_note      VARCHAR,
            status            VARCHAR NOT NULL DEFAULT 'planned', -- planned/counted/cancelled
            created_at        TIMESTAMP NOT NULL DEFAULT current_timestamp,
            created_by        VARCHAR,
            source_count_date DATE,             -- recount: the count date found out of tolerance
            counted_on        DATE              -- the count date that filled this line
        )""",
    "physical_count": """
        CREATE TABLE IF NOT EXISTS physical_count (
            count_id          BIGINT PRIMARY KEY DEFAULT nextval('physical_count_id'),
            count_date        DATE NOT NULL,
            material          VARCHAR NOT NULL,
            plant             VARCHAR NOT NULL,
            storage_location  VARCHAR,
            location          VARCHAR,
            quantity          DOUBLE,   -- null = location seen, not counted; 0 = counted zero
            quantity_expr     VARCHAR,  -- what was typed, e.g. 24*10
            counter           VARCHAR,
            notes             VARCHAR,
            movement_during_count  BOOLEAN NOT NULL DEFAULT FALSE,
            possibly_not_received  BOOLEAN NOT NULL DEFAULT FALSE,
            entered_by        VARCHAR,
            entered_at        TIMESTAMP NOT NULL DEFAULT current_timestamp,
            voided_at         TIMESTAMP,
            voided_by         VARCHAR,
            replaces_count_id BIGINT,
            load_id           BIGINT,   -- set when the row came from an uploaded count sheet
            void_reason       VARCHAR
        )""",
    "count_variance": """
        CREATE TABLE IF NOT EXISTS count_variance (
            count_date         DATE NOT NULL,
            material           VARCHAR NOT NULL,
            plant              VARCHAR NOT NULL,
            counted_qty        DOUBLE,
            sap_snapshot_date  DATE,
            sap_qty            DOUBLE,
            variance_qty       DOUBLE,
            variance_pct       DOUBLE,
            unit_price         DOUBLE,
            variance_value     DOUBLE,
            tolerance_pct      DOUBLE,
            within_tolerance   BOOLEAN,
            needs_recount      BOOLEAN,
            abc_indicator      VARCHAR,
            currency           VARCHAR,
            count_lines        INTEGER,   -- non-voided counted rows summed into counted_qty
            counters           VARCHAR,   -- who counted, comma-separated
            movement_during_count  BOOLEAN,
            possibly_not_received  BOOLEAN,
            stock_basis        VARCHAR,   -- the MB52 columns sap_qty sums
            computed_at        TIMESTAMP NOT NULL DEFAULT current_timestamp,
            PRIMARY KEY (count_date, material, plant)
        )""",
    "load_log": """
        CREATE TABLE IF NOT EXISTS load_log (
            load_id        BIGINT PRIMARY KEY,
            file_name      VARCHAR NOT NULL,
            sha256         VARCHAR,
            kind           VARCHAR,          -- mm60 / mb52 / count_sheet, null if unrecognised
            snapshot_date  DATE,
            rows_read      BIGINT,
            rows_loaded    BIGINT,
            status         VARCHAR NOT NULL,  -- running/loaded/rejected/duplicate/failed
            error          VARCHAR,
            summary        JSON,
            progress_phase VARCHAR,
            progress_done  BIGINT,
            progress_total BIGINT,
            started_at     TIMESTAMP NOT NULL,
            finished_at    TIMESTAMP,
            run_id         VARCHAR,
            -- the columns below came with migration 2, which appends them in this order
            forced         BOOLEAN DEFAULT FALSE,  -- loaded with --force / "load anyway"
            -- the process running the load, so a dead one's row can be marked failed
            pid            BIGINT,
            host           VARCHAR,
            boot_id        VARCHAR,
            start_ticks    BIGINT,
            -- after_load of a loaded file: pending (committed, not refreshed yet) / done
            refresh_state  VARCHAR,
            refreshed_at   TIMESTAMP,
            refresh_error  VARCHAR
        )""",
}

# No secondary indexes: DuckDB's zone maps serve date and key filters, and ART indexes would
# slow down the bulk loads that matter most here.
SEQUENCES = ("load_id", "count_schedule_id", "physical_count_id")


def create_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Bring the file to today's schema: apply the migrations it lacks (outside a
    transaction; each migration is one)."""
    from pipelines.warehouse.migrations import migrate

    migrate(con)
