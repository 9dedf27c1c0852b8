"""Material numbers: the one normalisation used by every reader, load, page and query.

``000000000010000001``, ``10000001`` and the number cell 10000001 are the same material
(SAP ALPHA conversion); a trailing non-breaking space is not part of the number; inner spaces
and characters such as ``@ . / -`` are. Systems with lexicographic material numbers keep
leading zeros significant.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

# Spaces SAP exports and hand-typed sheets carry around values: NBSP, narrow NBSP, BOM, ...
EDGE_WHITESPACE = " \t\r\n\u00a0\u2007\u202f\ufeff"


def clean_text(expr: pl.Expr) -> pl.Expr:
    """Trim edge whitespace (non-breaking spaces included); empty text becomes null."""
    trimmed = expr.cast(pl.String).str.strip_chars(EDGE_WHITESPACE)
    return pl.when(trimmed == "").then(None).otherwise(trimmed)


def normalise_material(expr: pl.Expr, *, lexicographic: bool = False) -> pl.Expr:
    """Trimmed, upper-cased material number; all-digit numbers lose leading zeros (ALPHA)."""
    text = clean_text(expr).str.to_uppercase()
    if lexicographic:
        return text
    stripped = text.str.strip_chars_start("0")
    return (
        pl.when(text.str.contains(r"^[0-9]+$"))
        .then(pl.when(stripped == "").then(pl.lit("0")).otherwise(stripped))
        .otherwise(text)
    )


def normalise_plant(expr: pl.Expr) -> pl.Expr:
    return clean_text(expr).str.to_uppercase()


def _one(normalise: Callable[[pl.Expr], pl.Expr], value: object) -> str | None:
    """A column normalisation applied to one value typed into a form (None stays None)."""
    if value is None:
        return None
    return pl.select(normalise(pl.lit(str(value), dtype=pl.String))).item()


def normalise_material_value(value: object, *, lexicographic: bool = False) -> str | None:
    """``normalise_material`` for one value typed into a form."""
    return _one(lambda expr: normalise_material(expr, lexicographic=lexicographic), value)


def normalise_plant_value(value: object) -> str | None:
    """``normalise_plant`` for one value (plants and storage locations)."""
    return _one(normalise_plant, value)


def clean_text_value(value: object) -> str | None:
    """``clean_text`` for one value: trimmed, empty as None."""
    return _one(clean_text, value)
