"""SAP numbers and dates as exports print them.

The decimal convention is decided once per file from its unambiguous values, never value by
value: SAP prints quantities with three decimals, so in a file that also holds ``1,200.000``,
``7.000`` is seven, and in one that holds ``1.234,000``, ``10,000`` is ten. A file with no
unambiguous value at all is read with its lone separators as decimal points (the three SAP
decimals), which is also right for both of those examples.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

import polars as pl

from pipelines.sap.material import clean_text


class NumberFormat(StrEnum):
    ENGLISH = "1,234.56"
    GERMAN = "1.234,56"
    UNDECIDED = "1234.56 (no thousands separators seen)"


# Digits with an optional sign removed; each pattern is a whole value in that convention.
_PATTERNS = {
    NumberFormat.ENGLISH: r"^(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]*)(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?$",
    NumberFormat.GERMAN: r"^(?:[0-9]{1,3}(?:\.[0-9]{3})+|[0-9]*)(?:,[0-9]*)?$",
    NumberFormat.UNDECIDED: r"^[0-9]*(?:[.,][0-9]*)?(?:[eE][-+]?[0-9]+)?$",
}


def _unsigned(text: pl.Expr) -> pl.Expr:
    """Cleaned text of a number without its sign or inner spaces (``12-`` and ``-12`` both
    give 12)."""
    return (text.str.replace_all(r"[\s\u00a0']", "")
            .str.strip_chars_start("-+").str.strip_chars_end("-"))


def detect_number_format(values: Iterable[pl.Series]) -> NumberFormat:
    """Decide a file's decimal convention from all its numeric columns at once."""
    texts = pl.concat([s.cast(pl.String) for s in values]) if values else pl.Series([], dtype=str)
    # The votes count distinct unsigned texts: unsigning distinct texts gives the same set.
    # A text without "." or "," votes for neither convention, so only those with one count.
    unique = (pl.DataFrame({"v": texts}).unique()
              .select(_unsigned(clean_text(pl.col("v"))).alias("v"))
              .filter(pl.col("v").str.contains("[.,]")).unique())
    votes = unique.select(
        has_dot=pl.col("v").str.contains(r"\.", literal=False),
        has_comma=pl.col("v").str.contains(","),
        dots=pl.col("v").str.count_matches(r"\."),
        commas=pl.col("v").str.count_matches(","),
        last_dot=pl.col("v").str.find(r"\.[0-9]*$"),
        last_comma=pl.col("v").str.find(r",[0-9]*$"),
        after_dot=pl.col("v").str.extract(r"\.([0-9]*)$").str.len_chars(),
        after_comma=pl.col("v").str.extract(r",([0-9]*)$").str.len_chars(),
    ).select(
        english=(
            (pl.col("has_dot") & pl.col("has_comma") & pl.col("last_dot").is_not_null())
            | (~pl.col("has_dot") & (pl.col("commas") > 1))
            | (~pl.col("has_comma") & (pl.col("dots") == 1) & (pl.col("after_dot") != 3))
        ).sum(),
        german=(
            (pl.col("has_dot") & pl.col("has_comma") & pl.col("last_comma").is_not_null())
            | (~pl.col("has_comma") & (pl.col("dots") > 1))
            | (~pl.col("has_dot") & (pl.col("commas") == 1) & (pl.col("after_comma") != 3))
        ).sum(),
    ).row(0, named=True)
    english, german = votes["english"] or 0, votes["german"] or 0
    if english == 0 and german == 0:
        return NumberFormat.UNDECIDED
    # Values against the majority fail validation later, row by row, with their reason.
    return NumberFormat.ENGLISH if english >= german else NumberFormat.GERMAN


def parse_numbers(texts: pl.Series, number_format: NumberFormat, *,
                  cleaned: bool = False) -> pl.Series:
    """Floats of a column of SAP number texts; null where a text is empty or not a number in
    ``number_format`` (``12-`` and ``-12`` are both minus twelve).

    Computed step by step so that each intermediate column is computed once, and regular
    expressions that only match one literal are literal operations.
    ``cleaned``: the texts already went through ``clean_text`` (trimmed, empty as null).
    """
    u = pl.col("u")
    if number_format is NumberFormat.ENGLISH:
        plain = u.str.replace_all(",", "", literal=True)
    elif number_format is NumberFormat.GERMAN:
        plain = u.str.replace_all(".", "", literal=True).str.replace(",", ".", literal=True)
    else:
        plain = u.str.replace(",", ".", literal=True)
    text = pl.col("t") if cleaned else clean_text(pl.col("t"))
    steps = texts.to_frame("t").lazy().select(text.alias("t")).select(
        u=_unsigned(pl.col("t")),
        negative=pl.col("t").str.starts_with("-") | pl.col("t").str.ends_with("-"),
    ).select(
        "negative",
        value=pl.when(u.str.contains(_PATTERNS[number_format]) & u.str.contains("[0-9]"))
        .then(plain.cast(pl.Float64, strict=False)),
    ).select(
        pl.when(pl.col("negative")).then(-pl.col("value")).otherwise(pl.col("value"))
    )
    return steps.collect().to_series().alias(texts.name)


def number_problem_of(text: pl.Expr, value: pl.Expr, number_format: NumberFormat) -> pl.Expr:
    """Reason text where a non-empty cell (``text``, cleaned) did not parse as a number of the
    file's format (``value`` null), else null."""
    bad = text.is_not_null() & value.is_null()
    return pl.when(bad).then(pl.lit(f"not a number in this file's format ({number_format})"))


# Formats SAP and Excel print dates in; the user's SAP date format decides dd.mm vs mm/dd.
_DATE_FORMATS = ("%Y-%m-%d", "%d.%m.%Y", "%m/%d/%Y", "%Y%m%d", "%d.%m.%y", "%m/%d/%y")


def parse_date(expr: pl.Expr) -> pl.Expr:
    """Date of a text cell (xlsx date cells arrive as ``2026-11-02 00:00:00``); null if none."""
    text = clean_text(expr).str.replace(r"^(\d{4}-\d{2}-\d{2})[ T].*$", "$1")
    return pl.coalesce([text.str.to_date(fmt, strict=False) for fmt in _DATE_FORMATS])


def date_problem_of(text: pl.Expr, value: pl.Expr) -> pl.Expr:
    """Reason text where a non-empty cell (``text``, cleaned) did not parse as a date
    (``value`` null), else null."""
    bad = text.is_not_null() & value.is_null()
    return pl.when(bad).then(pl.lit("not a date (expected e.g. 2026-11-20, 20.11.2026)"))
