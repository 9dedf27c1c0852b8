"""Every WICS setting in one typed object, read from the environment and ``WICS_HOME/wics.toml``.

Each field is the environment variable ``WICS_<FIELD>`` (``max_file_mb`` is ``WICS_MAX_FILE_MB``)
and the key ``<field>`` of the optional ``wics.toml`` in ``WICS_HOME``; the environment wins over
the file, the file over the default. Every path derives from ``WICS_HOME`` (default ``./data``)
so that a test, a demo and production are the same code pointed at different folders.

Nothing is read at import time: ``get_settings()`` reads afresh on each call (tests change the
environment per test). Callers at the edge (the ``wics`` command, the Dagster resource, the
dashboard) call it and pass the object, or its ``counting`` part, to the domain functions.
"""

from __future__ import annotations

import os
import tomllib
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from pipelines.counting.config import STOCK_BASES, CountingConfig
from pipelines.sap.headers import STOCK_FIELDS

ENV_PREFIX = "WICS_"
TOML_NAME = "wics.toml"
DEFAULT_HOME = "data"


class ConfigError(ValueError):
    """A WICS setting has a value that cannot be used (the message names the variable)."""


def parse_stock_basis(text: str | None) -> tuple[str, ...]:
    """``physical``, ``unrestricted``, ``all`` or a comma-separated list of stock columns."""
    raw = (text or "").strip().lower()
    if not raw:
        return STOCK_BASES["physical"]
    if raw in STOCK_BASES:
        return STOCK_BASES[raw]
    columns = tuple(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
    unknown = [c for c in columns if c not in STOCK_FIELDS]
    if unknown or not columns:
        raise ConfigError(
            f"WICS_STOCK_BASIS {text!r}: use physical, unrestricted, all or a comma-separated "
            f"list of {', '.join(STOCK_FIELDS)}"
        )
    # Column order of the table, so that equal bases compare equal.
    return tuple(c for c in STOCK_FIELDS if c in columns)


def parse_holidays(text: str | None) -> frozenset[date]:
    """ISO dates separated by commas or newlines, or a file of them (``#`` starts a comment)."""
    raw = (text or "").strip()
    if not raw:
        return frozenset()
    candidate = Path(raw).expanduser()
    if "," not in raw and (candidate.is_file() or not _looks_like_date(raw)):
        if not candidate.is_file():
            raise ConfigError(f"WICS_HOLIDAYS: {raw!r} is neither an ISO date nor a file")
        raw = "\n".join(line.split("#", 1)[0] for line in candidate.read_text().splitlines())
    days = set()
    for part in raw.replace("\n", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            days.add(date.fromisoformat(part))
        except ValueError:
            raise ConfigError(f"WICS_HOLIDAYS: {part!r} is not an ISO date (2026-12-25)") from None
    return frozenset(days)


def _looks_like_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _names(value: object) -> tuple[str, ...]:
    """A comma-separated string or a list (wics.toml) of names, blanks and repeats dropped."""
    parts = value.split(",") if isinstance(value, str) else list(value or ())
    return tuple(dict.fromkeys(str(p).strip() for p in parts if str(p).strip()))


Percent = Annotated[float, Field(ge=0)]
Count = Annotated[int, Field(ge=0)]


class Settings(BaseSettings):
    """The effective settings; see the README's configuration table for what each one does."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_ignore_empty=True, extra="forbid", frozen=True,
        validate_default=True,
    )

    # Where everything lives.
    home: Path = Path(DEFAULT_HOME)
    # SAP systems set up for lexicographic material numbers keep leading zeros significant.
    material_numbers: Literal["alpha", "lexicographic"] = "alpha"
    # Hostile or broken xlsx files: refuse before inflating them.
    max_file_mb: Annotated[float, Field(gt=0)] = 1024.0
    max_inflated_mb: Annotated[float, Field(gt=0)] = 4096.0
    max_compression_ratio: Annotated[float, Field(gt=0)] = 200.0
    # Time zone of the schedules and freshness deadlines (IANA name).
    timezone: str = "UTC"
    # Longest wait of any open of the warehouse (a save behind a running load, a load behind
    # a backup) before it gives up with a clear WarehouseBusyError.
    lock_timeout_seconds: Annotated[float, Field(gt=0)] = 60.0
    # How long a process keeps the warehouse open after its last use, for its next save or
    # read (opening and closing cost more than a save); handed over at once when another
    # process asks for the file. 0 closes it after every use.
    keep_open_seconds: Annotated[float, Field(ge=0)] = 2.0
    # Longest text field a file may hold (a description is at most a few hundred characters).
    max_field_chars: Annotated[int, Field(ge=1)] = 131_072
    # Text exports are read, checked and written this many bytes of the file at a time, so a
    # load's memory follows the batch, not the file.
    # 6 MiB: a 10M-line CSV MB52 loads in 9.5 s at 0.82 GiB peak (4 MiB: 10.6-11.0 s, 0.71 GiB;
    # 8 MiB: 9.6 s, 0.89 GiB).
    text_batch_bytes: Annotated[int, Field(ge=1)] = 6 * 1024 * 1024
    # A text MB52 bigger than this is written batch by batch as it is read (memory bounded by
    # the batch); a smaller one is read whole before the write begins, so the warehouse is
    # held only for the write and counters' saves wait less (read whole, a file peaks at
    # about 100 MiB plus 16-21 times its size: 0.6 GiB for a 300,000-line, 32 MiB export,
    # under 1 GiB up to this size).
    stream_text_above_mb: Annotated[float, Field(ge=0)] = 40.0
    # The drop folder and the Dagster schedules. Dagster's sensor daemon loops every 5 s, so
    # an interval up to 4 ticks on every loop (5 would often wait for the second one).
    drop_settle_seconds: Annotated[float, Field(ge=0)] = 2.0
    sensor_interval_seconds: Annotated[int, Field(ge=1)] = 3
    daily_refresh_cron: str = "0 5 * * 1-5"
    backup_cron: str = "0 2 * * 0"
    backups_keep: Annotated[int, Field(ge=1)] = 8
    # A suspiciously small export: a plant's rows more than this % below its previous load,
    # and at least min_drop_rows fewer, refuse the file unless forced (the checks use it too).
    max_row_drop_pct: Percent = 50.0
    min_drop_rows: Count = 10
    # Asset checks.
    mm60_max_age_days: Count = 45
    # Where `wics up` serves.
    host: str = "127.0.0.1"
    dagster_port: Annotated[int, Field(ge=1, le=65535)] = 3000
    dashboard_port: Annotated[int, Field(ge=1, le=65535)] = 8501
    # What `wics up` prints of Dagster: warning hides the info line of every sensor tick.
    dagster_log_level: Literal["critical", "error", "warning", "info", "debug"] = "warning"
    # The Dagster UI as a browser reaches it (the dashboard links runs there); empty:
    # http://<host>:<dagster port>.
    dagster_url: str = ""
    # Counting (reconciliation and the cycle-count schedule); see docs/counting.md.
    stock_basis: Annotated[tuple[str, ...], NoDecode] = STOCK_BASES["physical"]
    tolerance_a: Percent = 1.0
    tolerance_b: Percent = 3.0
    tolerance_c: Percent = 5.0
    tolerance_other: Percent | None = None  # None: the C value
    counts_per_year_a: Count = 12
    counts_per_year_b: Count = 4
    counts_per_year_c: Count = 1
    counts_per_year_other: Count | None = None  # None: the C value
    holidays: Annotated[frozenset[date], NoDecode] = frozenset()
    counters: Annotated[tuple[str, ...], NoDecode] = ()
    daily_cap_per_counter: Annotated[int, Field(ge=1)] = 40
    skip_zero_stock: bool = False
    schedule_horizon_days: Annotated[int, Field(ge=1)] = 28
    recount_lookback_days: Count = 14
    # Sign-in through an OpenID Connect identity provider (st.login); unset: local accounts only.
    oidc_metadata_url: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    oidc_redirect_uri: str = ""  # empty: http://<host>:<dashboard port>/oauth2callback
    oidc_provider_name: str = "single sign-on"
    oidc_role_claim: str = "wics_role"  # an ID-token claim naming the role (or groups)
    # The role of users whom neither the claim nor an account places.
    oidc_default_role: Literal["viewer", "counter", "manager"] = "viewer"

    @field_validator("home", mode="after")
    @classmethod
    def _absolute_home(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("material_numbers", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("max_file_mb", "max_inflated_mb", "max_compression_ratio",
                     "drop_settle_seconds", "lock_timeout_seconds", "keep_open_seconds",
                     "stream_text_above_mb",
                     "max_row_drop_pct",
                     "tolerance_a", "tolerance_b",
                     "tolerance_c", "tolerance_other", mode="before")
    @classmethod
    def _decimal_comma(cls, value: object) -> object:
        # Sites with a German locale write 0,5.
        return value.strip().replace(",", ".") if isinstance(value, str) else value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone (Europe/Berlin, UTC)") from None
        return value

    @field_validator("daily_refresh_cron", "backup_cron")
    @classmethod
    def _cron_fields(cls, value: str) -> str:
        if len(value.split()) != 5:
            raise ValueError(f"{value!r} is not a cron expression of five fields (0 5 * * 1-5)")
        return value

    @field_validator("stock_basis", mode="before")
    @classmethod
    def _stock_basis(cls, value: object) -> tuple[str, ...]:
        return parse_stock_basis(value if isinstance(value, str) else ",".join(value))

    @field_validator("holidays", mode="before")
    @classmethod
    def _holidays(cls, value: object) -> frozenset[date]:
        if isinstance(value, str):
            return parse_holidays(value)
        # wics.toml: a list of TOML dates (or ISO strings); a date prints as its ISO form.
        return parse_holidays(",".join(str(day) for day in value))

    @field_validator("counters", mode="before")
    @classmethod
    def _counters(cls, value: object) -> tuple[str, ...]:
        return _names(value)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        home = init_settings.init_kwargs.get("home") or _environment().get("HOME")
        toml = TomlConfigSettingsSource(settings_cls, toml_file=toml_path(home))
        return init_settings, env_settings, toml

    @property
    def lexicographic_materials(self) -> bool:
        return self.material_numbers == "lexicographic"

    @property
    def counting(self) -> CountingConfig:
        """The knobs of reconciliation and scheduling, for the counting domain functions."""
        return CountingConfig(
            stock_basis=self.stock_basis,
            tolerance_pct={"A": self.tolerance_a, "B": self.tolerance_b, "C": self.tolerance_c},
            tolerance_other_pct=self.tolerance_c if self.tolerance_other is None
            else self.tolerance_other,
            counts_per_year={"A": self.counts_per_year_a, "B": self.counts_per_year_b,
                             "C": self.counts_per_year_c},
            counts_per_year_other=self.counts_per_year_c if self.counts_per_year_other is None
            else self.counts_per_year_other,
            holidays=self.holidays,
            counters=self.counters,
            daily_cap_per_counter=self.daily_cap_per_counter,
            skip_zero_stock=self.skip_zero_stock,
            horizon_days=self.schedule_horizon_days,
            recount_lookback_days=self.recount_lookback_days,
        )

    @property
    def oidc_configured(self) -> bool:
        return bool(self.oidc_metadata_url and self.oidc_client_id)

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

    @property
    def toml_file(self) -> Path:
        return self.home / TOML_NAME

    def ensure_dirs(self) -> None:
        for folder in (self.drop_dir, self.archive_dir, self.rejected_dir, self.reports_dir,
                       self.dagster_home):
            folder.mkdir(parents=True, exist_ok=True)


def setting_default(field: str) -> Any:
    """The default of a setting, for descriptions that quote it (never copied by hand)."""
    return Settings.model_fields[field].default


def env_name(field: str) -> str:
    return ENV_PREFIX + field.upper()


def toml_path(home: object = None) -> Path:
    return Path(str(home or DEFAULT_HOME)).expanduser().resolve() / TOML_NAME


def _environment() -> dict[str, str]:
    """The non-empty WICS_* variables, by name without the prefix (upper case)."""
    return {k.upper().removeprefix(ENV_PREFIX): v for k, v in os.environ.items()
            if k.upper().startswith(ENV_PREFIX) and v != ""}


def _toml_keys(path: Path) -> set[str]:
    if not path.is_file():
        return set()
    with path.open("rb") as file:
        return set(tomllib.load(file))


def _origin(field: str, environment: dict[str, str], toml_keys: set[str], path: Path) -> str:
    if field.upper() in environment:
        return f"environment variable {env_name(field)}"
    if field in toml_keys:
        return str(path)
    return "default"


def get_settings(**overrides: Any) -> Settings:
    """The settings as they are now (environment, then ``wics.toml``, then the defaults).

    ``overrides`` win over both (the Dagster resource's ``home``). A bad value raises
    ``ConfigError`` naming the variable, where it came from and what is wrong.
    """
    path = toml_path(overrides.get("home") or _environment().get("HOME"))
    try:
        toml_keys = _toml_keys(path)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"{path}: {error}") from None
    if "home" in toml_keys:
        raise ConfigError(f"{path}: home cannot be set in the file that lives in it; "
                          "use the WICS_HOME environment variable")
    try:
        return Settings(**overrides)
    except ValidationError as error:
        environment = _environment()
        problems = []
        for problem in error.errors():
            field = str(problem["loc"][0]) if problem["loc"] else "?"
            if problem["type"] == "extra_forbidden":
                problems.append(f"{path}: unknown setting {field!r}")
                continue
            message = problem["msg"].removeprefix("Value error, ")
            origin = _origin(field, environment, toml_keys, path)
            problems.append(f"{env_name(field)} = {problem['input']!r} ({origin}): {message}")
        raise ConfigError("; ".join(problems)) from None


def describe_settings(settings: Settings) -> list[tuple[str, str, str]]:
    """(variable, effective value, where it came from) for every setting (``wics config``)."""
    environment = _environment()
    path = settings.toml_file
    toml_keys = _toml_keys(path)
    rows = []
    for field in Settings.model_fields:
        value = getattr(settings, field)
        if field == "stock_basis":
            value = settings.counting.stock_basis_name
        if isinstance(value, tuple | frozenset):
            value = ", ".join(sorted(map(str, value)) if isinstance(value, frozenset)
                              else map(str, value))
        origin = _origin(field, environment, toml_keys, path)
        if origin == "default" and field in settings.model_fields_set:
            origin = "set by the caller"
        if "secret" in field and value:
            value = "(set, not shown)"
        if value is None:  # tolerance_other, counts_per_year_other
            value = f"as {env_name(field.removesuffix('_other'))}_C"
        rows.append((env_name(field), str(value), origin))
    return rows
