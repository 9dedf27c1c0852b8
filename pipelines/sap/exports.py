"""Read an SAP export (or a count sheet) into typed, validated rows of its kind.

``parse_export`` is the whole reading side of a load: grid, header, kind, cleaning, typing and
row validation. It never touches the warehouse; problems come back as rows (file row number,
column label, value, reason) so that a rejected file's error report names every one of them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path

import polars as pl

from pipelines.sap.expression import QuantityError, evaluate_quantity
from pipelines.sap.formats import TEXT_FORMATS, Grid, read_grid_batches
from pipelines.sap.headers import STOCK_FIELDS, ExportKind, ambiguity_reasons
from pipelines.sap.material import clean_text, normalise_material, normalise_plant
from pipelines.sap.numbers import (
    NumberFormat,
    date_problem_of,
    detect_number_format,
    number_problem_of,
    parse_date,
    parse_numbers,
)
from pipelines.settings import Settings

# Columns each kind carries into the warehouse, by type.
TEXT_FIELDS: dict[ExportKind, tuple[str, ...]] = {
    ExportKind.MM60: (
        "description", "material_type", "material_group", "base_uom", "abc_indicator",
        "currency", "valuation_type",
    ),
    ExportKind.MB52: (
        "storage_location", "batch", "special_stock", "description", "base_uom", "currency",
    ),
    ExportKind.COUNT_SHEET: ("storage_location", "location", "counter", "notes"),
}
NUMBER_FIELDS: dict[ExportKind, tuple[str, ...]] = {
    ExportKind.MM60: ("price", "price_unit"),
    ExportKind.MB52: (*STOCK_FIELDS, "value_unrestricted"),
    ExportKind.COUNT_SHEET: (),
}
DATE_FIELDS: dict[ExportKind, tuple[str, ...]] = {
    ExportKind.MM60: ("last_change",),
    ExportKind.MB52: (),
    ExportKind.COUNT_SHEET: ("count_date",),
}
PROBLEM_SCHEMA = {"row": pl.Int64, "column": pl.String, "value": pl.String, "reason": pl.String}


@dataclass
class ParsedExport:
    path: Path
    kind: ExportKind
    file_format: str
    encoding: str | None
    sheet: str | None
    header_row: int
    number_format: NumberFormat
    rows: pl.DataFrame  # typed canonical columns and "_row"
    rows_read: int  # data rows below the header, before dropping blank/subtotal/header rows
    skipped: dict[str, int] = field(default_factory=dict)
    problems: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=PROBLEM_SCHEMA))

    @property
    def ok(self) -> bool:
        return self.problems.is_empty()


def _labelled_columns(grid: Grid) -> tuple[pl.DataFrame, dict[str, str]]:
    """The grid's recognised columns under their canonical names, and each one's file label."""
    columns = grid.header.columns
    # Lazy, so that the common subexpressions of clean_text are computed once per column.
    frame = grid.cells.lazy().select(
        "_row",
        *[
            clean_text(pl.col(f"c{index}")).alias(name)
            for name, index in columns.items()
            if f"c{index}" in grid.cells.columns
        ],
    ).collect()
    for name in columns:
        if name not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(name))
    labels = {name: grid.header.labels[index].strip() for name, index in columns.items()}
    return frame, labels


def _drop_non_data_rows(frame: pl.DataFrame, labels: dict[str, str]) -> tuple[pl.DataFrame, dict]:
    """Drop blank rows, dashed rules, subtotal rows (``*``/``**``) and repeated headers."""
    fields = [c for c in frame.columns if c != "_row"]

    def empty_or_rule(name: str) -> pl.Expr:
        return pl.col(name).is_null() | pl.col(name).str.contains(r"^[-=+_|]+$")

    # A blank row has every field empty or a rule, so only rows whose first field is one can
    # be blank: the other fields are checked on those few rows alone.
    blank_rows = frame.filter(empty_or_rule(fields[0])).filter(
        pl.all_horizontal([empty_or_rule(c) for c in fields]))["_row"]
    blank = pl.col("_row").is_in(blank_rows.implode())
    subtotal = pl.any_horizontal([pl.col(c).str.starts_with("*") for c in fields]).fill_null(False)
    repeated = pl.all_horizontal(
        [pl.col(n).str.to_lowercase() == labels[n].lower() for n in ("material", "plant")]
    ).fill_null(False)
    marked = frame.with_columns(
        _kind=pl.when(blank).then(pl.lit("blank"))
        .when(subtotal).then(pl.lit("subtotal"))
        .when(repeated).then(pl.lit("repeated_header"))
    )
    skipped = dict(
        marked.filter(pl.col("_kind").is_not_null()).group_by("_kind").len().iter_rows()
    )
    return marked.filter(pl.col("_kind").is_null()).drop("_kind"), skipped


def _problems(frame: pl.DataFrame, checks: list[tuple[str, str, pl.Expr]]) -> pl.DataFrame:
    """Long table of (row, column label, value, reason) for every failing check."""
    found = frame.select(
        "_row",
        *[reason.alias(f"__p{i}") for i, (_, _, reason) in enumerate(checks)],
        *[pl.col(name).cast(pl.String).alias(f"__v{i}") for i, (name, _, _) in enumerate(checks)],
    )
    parts = [
        found.filter(pl.col(f"__p{i}").is_not_null()).select(
            row=pl.col("_row"),
            column=pl.lit(label),
            value=pl.col(f"__v{i}"),
            reason=pl.col(f"__p{i}"),
        )
        for i, (_, label, _) in enumerate(checks)
    ]
    parts = [p for p in parts if not p.is_empty()]
    if not parts:
        return pl.DataFrame(schema=PROBLEM_SCHEMA)
    return pl.concat(parts).cast(PROBLEM_SCHEMA).sort("row", "column")


def _count_quantities(texts: pl.Series) -> tuple[pl.Series, pl.Series]:
    """Evaluate typed count quantities (expressions allowed); reasons where they fail."""
    values: list[float | None] = []
    reasons: list[str | None] = []
    for text in texts.to_list():
        try:
            value = evaluate_quantity(text)
        except QuantityError as error:
            values.append(None)
            reasons.append(f"not a quantity or arithmetic expression: {error}")
            continue
        values.append(value)
        reasons.append("a counted quantity cannot be negative" if value and value < 0 else None)
    return pl.Series(values, dtype=pl.Float64), pl.Series(reasons, dtype=pl.String)


def by_distinct(texts: pl.Series, function: Callable[[pl.Series], pl.Series],
                distinct: pl.Series | None = None) -> pl.Series:
    """``function`` of every text, evaluated once per distinct text and mapped back.

    For the pure per-value functions of reading (numbers, dates, material numbers): exports
    repeat the same texts (quantities of 0, a few units, dates, plants) so most columns have far
    fewer distinct values than rows. A column of mostly distinct values is evaluated directly.
    ``distinct`` may pass the column's distinct non-null values when already known.
    """
    name = texts.name
    if distinct is None:
        distinct = texts.drop_nulls().unique()
    if distinct.len() * 2 > texts.len():
        return function(texts).alias(name)
    mapped = function(distinct)
    of_null = function(pl.Series([None], dtype=texts.dtype)).item()
    return texts.replace_strict(distinct, mapped, default=of_null,
                                return_dtype=mapped.dtype).alias(name)


def _on_series(function: Callable[[pl.Expr], pl.Expr]) -> Callable[[pl.Series], pl.Series]:
    """An expression function as a function of a column."""
    return lambda texts: texts.to_frame("t").select(function(pl.col("t"))).to_series()


def header_problems(grid: Grid) -> pl.DataFrame:
    """Two columns for one field: the file is refused, naming both (never first-one-wins)."""
    return pl.DataFrame(
        [{"row": grid.header_row, "column": None, "value": None, "reason": reason}
         for reason in ambiguity_reasons(grid.header)],
        schema=PROBLEM_SCHEMA,
    )


def oversized_fields(grid: Grid, max_chars: int) -> pl.DataFrame:
    """Cells longer than the field limit (a pasted document, a damaged file)."""
    columns = [c for c in grid.cells.columns if c != "_row"]
    longest = grid.cells.select(pl.max_horizontal(
        [pl.col(c).str.len_chars().max() for c in columns])).item() if columns else None
    if longest is None or longest <= max_chars:
        return pl.DataFrame(schema=PROBLEM_SCHEMA)
    long_cells = grid.cells.select(
        "_row", *[pl.col(c).str.len_chars().alias(c) for c in columns]
    ).unpivot(index="_row", variable_name="column", value_name="chars").filter(
        pl.col("chars") > max_chars).sort("_row").head(50)
    return long_cells.select(
        row=pl.col("_row"),
        column=pl.lit(None, dtype=pl.String),
        value=pl.lit(None, dtype=pl.String),
        reason=pl.format("a field of {} characters, over the size limit of " + f"{max_chars:,}"
                         + " (WICS_MAX_FIELD_CHARS)", pl.col("chars")),
    ).cast(PROBLEM_SCHEMA)


class NumberFormatChanged(Exception):
    """The file's later batches outvoted the decimal convention its first batch was typed
    with: read it again with ``number_format`` (a load rolls back what it wrote first)."""

    def __init__(self, number_format: NumberFormat) -> None:
        super().__init__(f"the whole file reads as {number_format}")
        self.number_format = number_format


class _DistinctTexts:
    """The distinct texts of many batches, merged once the unmerged ones outgrow the merged
    (so each text is hashed a few times at most, and memory follows the distinct texts)."""

    def __init__(self) -> None:
        self.merged = pl.Series([], dtype=pl.String)
        self.parts: list[pl.Series] = []
        self.unmerged = 0

    def add(self, texts: pl.Series) -> None:
        self.parts.append(texts)
        self.unmerged += texts.len()
        if self.unmerged > max(self.merged.len(), 100_000):
            self.all()

    def all(self) -> pl.Series:
        if self.parts:
            self.merged = pl.concat([self.merged, *self.parts]).unique()
            self.parts, self.unmerged = [], 0
        return self.merged


class ExportStream:
    """An export read, typed and validated batch by batch (a text export in batches of
    ``WICS_TEXT_BATCH_BYTES``, any other file in one): iterate it for each batch's typed rows
    and row problems; ``parsed`` then holds what is said of the whole file (rows empty).

    Every batch is typed with the decimal convention of the first one; the convention is
    voted on the whole file's texts as the batches go by, and if the whole file votes
    otherwise the iteration ends with ``NumberFormatChanged`` (read again with that one).
    Creating the stream reads the first batch (the header): ``UnreadableFile`` is raised there
    or at any later batch, as a whole-file read would raise it.
    """

    def __init__(self, path: Path, settings: Settings,
                 number_format: NumberFormat | None = None) -> None:
        self.settings = settings
        self._grids = read_grid_batches(path, settings)
        self._first: Grid | None = next(self._grids)
        grid = self._first
        kind = grid.header.kind
        assert kind is not None  # read_grid only returns grids whose header has a kind
        self.kind: ExportKind = kind
        self._forced = number_format
        self.seconds = 0.0  # spent reading (the caller's work between batches not counted)
        # More than one batch: a text export bigger than a batch.
        self.batched = (grid.file_format in TEXT_FORMATS.values()
                        and path.stat().st_size > settings.text_batch_bytes)
        self.parsed = ParsedExport(
            path=path, kind=kind, file_format=grid.file_format, encoding=grid.encoding,
            sheet=grid.sheet, header_row=grid.header_row,
            number_format=number_format or NumberFormat.UNDECIDED, rows=pl.DataFrame(),
            rows_read=0, problems=header_problems(grid))

    def __iter__(self) -> Iterator[tuple[pl.DataFrame, pl.DataFrame]]:
        parsed, settings = self.parsed, self.settings
        oversized: list[pl.DataFrame] = []
        texts = _DistinctTexts()
        number_format = self._forced
        first, self._first = self._first, None
        assert first is not None, "an ExportStream is read once"
        batches = 0
        started = time.perf_counter()
        grids = chain([first], self._grids)
        while (grid := next(grids, None)) is not None:
            batches += 1
            parsed.encoding = grid.encoding
            oversized.append(oversized_fields(grid, settings.max_field_chars))
            frame, labels = _labelled_columns(grid)
            del grid  # the raw cells are not read again: let them go before typing
            parsed.rows_read += frame.height
            frame, skipped = _drop_non_data_rows(frame, labels)
            for reason, count in skipped.items():
                parsed.skipped[reason] = parsed.skipped.get(reason, 0) + count
            number_texts = [frame[n].drop_nulls().unique() if n in frame.columns
                            else pl.Series(n, [], dtype=pl.String)
                            for n in NUMBER_FIELDS[self.kind]]
            voting = [t for t, n in zip(number_texts, NUMBER_FIELDS[self.kind], strict=True)
                      if n in labels]
            if number_format is None:
                # The convention is voted on distinct texts, so the distinct values of each
                # column give the same decision as the full columns.
                number_format = detect_number_format(voting)
                parsed.number_format = number_format
            if self._forced is None:
                for t in voting:  # only a text with "." or "," votes
                    texts.add(t.filter(t.str.contains(r"[.,]")))
            typed = _typed(frame, labels, self.kind, number_format, number_texts, settings)
            self.seconds += time.perf_counter() - started
            yield typed
            started = time.perf_counter()
        found = pl.concat(oversized)
        parsed.problems = pl.concat([parsed.problems, found.sort("row").head(50)])
        if self._forced is None and batches > 1:
            whole = detect_number_format([texts.all()])
            if whole is not number_format:
                raise NumberFormatChanged(whole)


def _typed(frame: pl.DataFrame, labels: dict[str, str], kind: ExportKind,
           number_format: NumberFormat, number_texts: list[pl.Series],
           settings: Settings) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Typed rows of the cleaned data rows ``frame``, and the problems of their values."""

    def label(name: str) -> str:
        return labels.get(name, name)

    for name in (*TEXT_FIELDS[kind], *NUMBER_FIELDS[kind], *DATE_FIELDS[kind]):
        if name not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(name))

    number_fields = [n for n in NUMBER_FIELDS[kind] if n in labels]
    distinct = dict(zip(NUMBER_FIELDS[kind], number_texts, strict=True))
    # Every number, date and material text is parsed once, per distinct text, into a column
    # that both the checks and the typed rows read. Recognised columns are already clean text
    # (``_labelled_columns``), so a cell is empty exactly when its column value is null.
    number = {n: f"__number_{n}" for n in NUMBER_FIELDS[kind]}
    day = {n: f"__date_{n}" for n in DATE_FIELDS[kind]}
    material = _on_series(
        lambda e: normalise_material(e, lexicographic=settings.lexicographic_materials))
    frame = frame.with_columns(
        *[by_distinct(frame[n], lambda s: parse_numbers(s, number_format, cleaned=True),
                      distinct[n])
          .alias(number[n]) for n in NUMBER_FIELDS[kind]],
        *[by_distinct(frame[n], _on_series(parse_date)).alias(day[n])
          for n in DATE_FIELDS[kind]],
        by_distinct(frame["material"], material).alias("__material"),
        by_distinct(frame["plant"], _on_series(normalise_plant)).alias("__plant"),
    )
    checks: list[tuple[str, str, pl.Expr]] = [
        ("material", label("material"),
         pl.when(pl.col("material").is_null()).then(pl.lit("material number is missing"))),
        ("plant", label("plant"),
         pl.when(pl.col("plant").is_null()).then(pl.lit("plant is missing"))),
    ]
    checks += [(n, label(n), number_problem_of(pl.col(n), pl.col(number[n]), number_format))
               for n in number_fields]
    checks += [(n, label(n), date_problem_of(pl.col(n), pl.col(day[n])))
               for n in DATE_FIELDS[kind] if n in labels]

    typed = [
        pl.col("__material").alias("material"),
        pl.col("__plant").alias("plant"),
        *[pl.col(n) for n in TEXT_FIELDS[kind] if n != "storage_location"],
        *[pl.col(day[n]).alias(n) for n in DATE_FIELDS[kind]],
    ]
    if kind is ExportKind.MB52:
        typed += [pl.col(number[n]).fill_null(0.0).alias(n) for n in STOCK_FIELDS]
        typed += [pl.col(number["value_unrestricted"]).alias("value_unrestricted")]
        typed += [normalise_plant(pl.col("storage_location")).alias("storage_location")]
    elif kind is ExportKind.MM60:
        typed += [
            pl.col(number["price"]).alias("price"),
            pl.col(number["price_unit"]).fill_null(1.0).alias("price_unit"),
        ]
        checks.append(("price_unit", label("price_unit"),
                       pl.when(pl.col(number["price_unit"]) <= 0)
                       .then(pl.lit("price unit must be positive"))))
    else:
        quantities, reasons = _count_quantities(frame["quantity"] if "quantity" in frame.columns
                                                else pl.Series([None] * frame.height))
        frame = frame.with_columns(
            quantity_expr=pl.col("quantity"), _quantity=quantities, _quantity_problem=reasons
        )
        typed += [pl.col("_quantity").alias("quantity"), pl.col("quantity_expr"),
                  normalise_plant(pl.col("storage_location")).alias("storage_location")]
        checks.append(("quantity", label("quantity"), pl.col("_quantity_problem")))
    return frame.select("_row", *typed), _problems(frame, checks)


def collect(stream: ExportStream, path: Path, settings: Settings) -> ParsedExport:
    """The whole of an export stream in one ``ParsedExport`` (read again with the whole
    file's decimal convention if its later batches outvoted the first)."""
    try:
        batches = list(stream)
    except NumberFormatChanged as changed:
        stream = ExportStream(path, settings, changed.number_format)
        batches = list(stream)
    parsed = stream.parsed
    parsed.rows = pl.concat([rows for rows, _ in batches])
    parsed.problems = pl.concat([parsed.problems, *[problems for _, problems in batches]])
    return parsed


def parse_export(path: Path, settings: Settings) -> ParsedExport:
    """Read, type and validate one export file. Raises UnreadableFile for whole-file problems."""
    return collect(ExportStream(path, settings), path, settings)
