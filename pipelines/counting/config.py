"""Counting configuration: every knob of reconciliation and scheduling, as one value.

``pipelines.settings.Settings.counting`` builds it from the ``WICS_*`` variables (and
``wics.toml``); the domain functions receive it as an argument and never read the environment.
The defaults are DESIGN.md's:

``stock_basis`` (``WICS_STOCK_BASIS``)
    Which MB52 stock columns make the SAP quantity a count is compared with: ``physical``
    (default: unrestricted + quality inspection + restricted + blocked + returns),
    ``unrestricted``, ``all`` (physical + in transit), or a comma-separated list of
    ``unrestricted, quality_inspection, restricted, blocked, returns, in_transit``.
``tolerance_pct`` (``WICS_TOLERANCE_A`` / ``_B`` / ``_C`` / ``_OTHER``)
    Tolerance in percent by ABC indicator (1, 3, 5; others default to the C value).
``counts_per_year`` (``WICS_COUNTS_PER_YEAR_A`` / ``_B`` / ``_C`` / ``_OTHER``)
    Cycle counts per year by ABC indicator (12, 4, 1; others default to the C value; 0 = never
    cycle-counted).
``holidays`` (``WICS_HOLIDAYS``)
    Non-working days: comma-separated ISO dates, or the path of a file with one ISO date per
    line (``#`` starts a comment). Saturdays and Sundays are never working days.
``counters`` (``WICS_COUNTERS``)
    Comma-separated names of the counters the schedule assigns work to (none: one unnamed team).
``daily_cap_per_counter`` (``WICS_DAILY_CAP_PER_COUNTER``)
    Most counts one counter is given on one day (default 40).
``skip_zero_stock`` (``WICS_SKIP_ZERO_STOCK``)
    ``1``/``true``: the cycle schedule skips materials without stock in the latest snapshot.
``horizon_days`` (``WICS_SCHEDULE_HORIZON_DAYS``)
    Calendar days the cycle schedule plans ahead (default 28).
``recount_lookback_days`` (``WICS_RECOUNT_LOOKBACK_DAYS``)
    Out-of-tolerance lines older than this many days get no automatic recount (default 14).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from pipelines.sap.headers import PHYSICAL_STOCK, STOCK_FIELDS

# Named stock bases (column names go into SQL, so only STOCK_FIELDS are accepted).
STOCK_BASES: dict[str, tuple[str, ...]] = {
    "physical": PHYSICAL_STOCK,
    "unrestricted": ("unrestricted",),
    "all": STOCK_FIELDS,
}


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
