"""Counting configuration: every knob of reconciliation and scheduling, from the environment.

Read each time it is asked for (tests and the dashboard change the environment between calls);
the defaults are DESIGN.md's. Every variable is optional:

``WICS_STOCK_BASIS``
    Which MB52 stock columns make the SAP quantity a count is compared with: ``physical``
    (default: unrestricted + quality inspection + restricted + blocked + returns),
    ``unrestricted``, ``all`` (physical + in transit), or a comma-separated list of
    ``unrestricted, quality_inspection, restricted, blocked, returns, in_transit``.
``WICS_TOLERANCE_A`` / ``_B`` / ``_C`` / ``_OTHER``
    Tolerance in percent by ABC indicator (1, 3, 5; others default to the C value).
``WICS_COUNTS_PER_YEAR_A`` / ``_B`` / ``_C`` / ``_OTHER``
    Cycle counts per year by ABC indicator (12, 4, 1; others default to the C value; 0 = never
    cycle-counted).
``WICS_HOLIDAYS``
    Non-working days: comma-separated ISO dates, or the path of a file with one ISO date per
    line (``#`` starts a comment). Saturdays and Sundays are never working days.
``WICS_COUNTERS``
    Comma-separated names of the counters the schedule assigns work to (none: one unnamed team).
``WICS_DAILY_CAP_PER_COUNTER``
    Most counts one counter is given on one day (default 40).
``WICS_SKIP_ZERO_STOCK``
    ``1``/``true``: the cycle schedule skips materials without stock in the latest snapshot.
``WICS_SCHEDULE_HORIZON_DAYS``
    Calendar days the cycle schedule plans ahead (default 28).
``WICS_RECOUNT_LOOKBACK_DAYS``
    Out-of-tolerance lines older than this many days get no automatic recount (default 14).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

# MB52 stock columns a basis may use (column names go into SQL, so only these are accepted).
STOCK_COLUMNS = (
    "unrestricted", "quality_inspection", "restricted", "blocked", "returns", "in_transit",
)
STOCK_BASES: dict[str, tuple[str, ...]] = {
    "physical": ("unrestricted", "quality_inspection", "restricted", "blocked", "returns"),
    "unrestricted": ("unrestricted",),
    "all": STOCK_COLUMNS,
}


class ConfigError(ValueError):
    """A WICS_* counting variable has a value that cannot be used."""


@dataclass(frozen=True)
class CountingConfig:
    stock_basis: tuple[str, ...] = STOCK_BASES["physical"]
    tolerance_pct: dict[str, float] = field(
        default_factory=lambda: {"A": 1.0, "B": 3.0, "C": 5.0})
    tolerance_other_pct: float = 5.0
    counts_per_year: dict[str, int] = field(default_factory=lambda: {"A": 12, "B": 4, "C": 1})
    counts_per_year_other: int = 1
    holidays: frozenset[date] = frozenset()
    counters: tuple[str, ...] = ()
    daily_cap_per_counter: int = 40
    skip_zero_stock: bool = False
    horizon_days: int = 28
    recount_lookback_days: int = 14

    def tolerance_for(self, abc: str | None) -> float:
        key = (abc or "").strip().upper()
        return self.tolerance_pct.get(key, self.tolerance_other_pct)

    def frequency_for(self, abc: str | None) -> int:
        key = (abc or "").strip().upper()
        return self.counts_per_year.get(key, self.counts_per_year_other)

    @property
    def stock_basis_name(self) -> str:
        for name, columns in STOCK_BASES.items():
            if columns == self.stock_basis:
                return name
        return "+".join(self.stock_basis)

    @property
    def team(self) -> tuple[str | None, ...]:
        """Who the schedule assigns work to; one unnamed counter when none is configured."""
        return self.counters or (None,)


def parse_stock_basis(text: str | None) -> tuple[str, ...]:
    raw = (text or "").strip().lower()
    if not raw:
        return STOCK_BASES["physical"]
    if raw in STOCK_BASES:
        return STOCK_BASES[raw]
    columns = tuple(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
    unknown = [c for c in columns if c not in STOCK_COLUMNS]
    if unknown or not columns:
        raise ConfigError(
            f"WICS_STOCK_BASIS {text!r}: use physical, unrestricted, all or a comma-separated "
            f"list of {', '.join(STOCK_COLUMNS)}"
        )
    # Column order of the table, so that equal bases compare equal.
    return tuple(c for c in STOCK_COLUMNS if c in columns)


def parse_holidays(text: str | None) -> frozenset[date]:
    """ISO dates separated by commas or newlines, or a file of them."""
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


def _number(name: str, default: float, *, minimum: float = 0.0) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw.replace(",", "."))
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if value < minimum:
        raise ConfigError(f"{name}={raw!r} must be at least {minimum:g}")
    return value


def _integer(name: str, default: int, *, minimum: int = 0) -> int:
    value = _number(name, float(default), minimum=minimum)
    if value != int(value):
        raise ConfigError(f"{name}={value!r} must be a whole number")
    return int(value)


def _flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={raw!r}: use true or false")


def get_counting_config() -> CountingConfig:
    """The counting configuration from the environment (DESIGN.md's defaults)."""
    tolerance = {k: _number(f"WICS_TOLERANCE_{k}", d) for k, d in (("A", 1.0), ("B", 3.0),
                                                                    ("C", 5.0))}
    frequency = {k: _integer(f"WICS_COUNTS_PER_YEAR_{k}", d) for k, d in (("A", 12), ("B", 4),
                                                                          ("C", 1))}
    counters = tuple(dict.fromkeys(
        name.strip() for name in os.environ.get("WICS_COUNTERS", "").split(",") if name.strip()
    ))
    return CountingConfig(
        stock_basis=parse_stock_basis(os.environ.get("WICS_STOCK_BASIS")),
        tolerance_pct=tolerance,
        tolerance_other_pct=_number("WICS_TOLERANCE_OTHER", tolerance["C"]),
        counts_per_year=frequency,
        counts_per_year_other=_integer("WICS_COUNTS_PER_YEAR_OTHER", frequency["C"]),
        holidays=parse_holidays(os.environ.get("WICS_HOLIDAYS")),
        counters=counters,
        daily_cap_per_counter=_integer("WICS_DAILY_CAP_PER_COUNTER", 40, minimum=1),
        skip_zero_stock=_flag("WICS_SKIP_ZERO_STOCK", False),
        horizon_days=_integer("WICS_SCHEDULE_HORIZON_DAYS", 28, minimum=1),
        recount_lookback_days=_integer("WICS_RECOUNT_LOOKBACK_DAYS", 14),
    )
