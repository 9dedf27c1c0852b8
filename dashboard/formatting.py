"""How the dashboard writes numbers: thousands separators, currency codes, percentages."""

from __future__ import annotations

from collections.abc import Iterable


def number(value: float | int | None, decimals: int = 0) -> str:
    return "–" if value is None else f"{value:,.{decimals}f}"


def quantity(value: float | None) -> str:
    """A quantity as SAP prints it, without trailing zeros: ``1,780.724``, ``313``."""
    if value is None:
        return "–"
    return f"{value:,.3f}".rstrip("0").rstrip(".")


def money(value: float | None, currency: str | None = None, decimals: int = 2) -> str:
    """``EUR 12,345.67`` (negative values keep their minus: ``EUR -1,200.00``)."""
    if value is None:
        return "–"
    return f"{currency + ' ' if currency else ''}{value:,.{decimals}f}"


def percent(value: float | None, decimals: int = 1) -> str:
    return "–" if value is None else f"{value:,.{decimals}f} %"


def money_by_currency(rows: Iterable[tuple[str | None, float | None]],
                      decimals: int = 2) -> str:
    """Amounts in several currencies on one line: ``EUR 1,200.00 · USD 30.00``."""
    parts = [money(value, currency, decimals) for currency, value in rows if value is not None]
    return " · ".join(parts) or money(0.0, decimals=decimals)


def main_and_other_currencies(rows: Iterable[tuple[str | None, float | None]],
                              decimals: int = 0) -> tuple[str, str]:
    """The amount of the biggest currency for a metric, and the others for its caption."""
    amounts = sorted(((c, v) for c, v in rows if v is not None), key=lambda r: -abs(r[1]))
    if not amounts:
        return money(0.0, decimals=decimals), ""
    main = money(amounts[0][1], amounts[0][0], decimals)
    return main, money_by_currency(amounts[1:], decimals) if len(amounts) > 1 else ""
