"""Where WICS keeps its data and how it reads SAP, from environment variables.

Every path derives from ``WICS_HOME`` (default ``./data``) so that a test, a demo and production
are the same code pointed at different folders.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw not in (None, "") else default


@dataclass(frozen=True)
class Settings:
    home: Path
    # SAP systems set up for lexicographic material numbers keep leading zeros significant.
    lexicographic_materials: bool = False
    # Hostile or broken xlsx files: refuse before inflating them.
    max_file_mb: float = 1024.0
    max_inflated_mb: float = 4096.0
    max_compression_ratio: float = 200.0
    # Time zone of the schedules and freshness deadlines (IANA name).
    timezone: str = "UTC"
    # Longest wait of any open of the warehouse (a save behind a running load, a load behind
    # a backup) before it gives up with a clear WarehouseBusyError.
    lock_timeout_s: float = 60.0

    @property
    def drop_dir(self) -> Path:
        return self.home / "drop"

    @property
    def archive_dir(self) -> Path:
        return self.home / "archive"

    @property
    def rejected_dir(self) -> Path:
        return self.home / "rejected"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def database(self) -> Path:
        return self.home / "wics.duckdb"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    def ensure_dirs(self) -> None:
        for folder in (self.drop_dir, self.archive_dir, self.rejected_dir, self.reports_dir,
                       self.dagster_home):
            folder.mkdir(parents=True, exist_ok=True)


def get_settings() -> Settings:
    """Read the settings from the environment each time (tests change WICS_HOME per test)."""
    home = Path(os.environ.get("WICS_HOME", "data")).expanduser().resolve()
    numbering = os.environ.get("WICS_MATERIAL_NUMBERS", "alpha").strip().lower()
    if numbering not in ("alpha", "lexicographic"):
        raise ValueError(
            f"WICS_MATERIAL_NUMBERS must be 'alpha' or 'lexicographic', not {numbering!r}"
        )
    return Settings(
        home=home,
        lexicographic_materials=numbering == "lexicographic",
        max_file_mb=_env_float("WICS_MAX_FILE_MB", 1024.0),
        max_inflated_mb=_env_float("WICS_MAX_INFLATED_MB", 4096.0),
        max_compression_ratio=_env_float("WICS_MAX_COMPRESSION_RATIO", 200.0),
        timezone=os.environ.get("WICS_TIMEZONE", "UTC"),
        lock_timeout_s=_env_float("WICS_LOCK_TIMEOUT_SECONDS", 60.0),
    )
