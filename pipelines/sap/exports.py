"""Read an SAP export (or a count sheet) into typed, validated rows of its kind.

``parse_export`` is the whole reading side of a load: grid, header, kind, cleaning, typing and
row validation. It never touches the warehouse; problems come back as rows (file row number,
column label, value, reason) so that a rejected file's error report names every one of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from pipelines.counting.expression import QuantityError, evaluate_quantity
from pipelines.sap.formats import Grid, read_grid
from pipelines.sap.headers import STOCK_FIELDS, ExportKind
from pipelines.sap.material import clean_text, normalise_material, normalise_plant
from pipelines.sap.numbers import (
    NumberFormat,
    date_problem,
    detect_number_format,
    number_problem,
    parse_date,
    parse_number,
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
    frame = grid.cells.select(
        "_row",
        *[
            clean_text(pl.col(f"c{index}")).alias(name)
            for name, index in columns.items()
            if f"c{index}" in grid.cells.columns
        ],
    )
    for name in columns:
        if name not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(name))
    labels = {name: grid.header.labels[index].strip() for name, index in columns.items()}
    return frame, labels


def _drop_non_data_rows(frame: pl.DataFrame, labels: dict[str, str]) -> tuple[pl.DataFrame, dict]:
    """Drop blank rows, dashed rules, subtotal rows (``*``/``**``) and repeated headers."""
    fields = [c for c in frame.columns if c != "_row"]
    blank = pl.all_horizontal(
        [pl.col(c).is_null() | pl.col(c).str.contains(r"^[-=+_|]+$") for c in fields]
    )
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


def parse_export(path: Path, settings: Settings) -> ParsedExport:
    """Read, type and validate one export file. Raises UnreadableFile for whole-file problems."""
    grid = read_grid(path, settings)
    kind = grid.header.kind
    assert kind is not None  # read_grid only returns grids whose header has a kind
    frame, labels = _labelled_columns(grid)
    rows_read = frame.height
    frame, skipped = _drop_non_data_rows(frame, labels)

    def label(name: str) -> str:
        return labels.get(name, name)

    for name in (*TEXT_FIELDS[kind], *NUMBER_FIELDS[kind], *DATE_FIELDS[kind]):
        if name not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(name))

    number_fields = [n for n in NUMBER_FIELDS[kind] if n in labels]
    number_format = detect_number_format([frame[n] for n in number_fields])
    checks: list[tuple[str, str, pl.Expr]] = [
        ("material", label("material"),
         pl.when(pl.col("material").is_null()).then(pl.lit("material number is missing"))),
        ("plant", label("plant"),
         pl.when(pl.col("plant").is_null()).then(pl.lit("plant is missing"))),
    ]
    checks += [(n, label(n), number_problem(pl.col(n), number_format)) for n in number_fields]
    checks += [(n, label(n), date_problem(pl.col(n))) for n in DATE_FIELDS[kind] if n in labels]

    typed = [
        normalise_material(pl.col("material"), lexicographic=settings.lexicographic_materials)
        .alias("material"),
        normalise_plant(pl.col("plant")).alias("plant"),
        *[pl.col(n) for n in TEXT_FIELDS[kind] if n != "storage_location"],
        *[parse_date(pl.col(n)).alias(n) for n in DATE_FIELDS[kind]],
    ]
    if kind is ExportKind.MB52:
        typed += [parse_number(pl.col(n), number_format).fill_null(0.0).alias(n)
                  for n in STOCK_FIELDS]
        typed += [parse_number(pl.col("value_unrestricted"), number_format)
                  .alias("value_unrestricted")]
        typed += [normalise_plant(pl.col("storage_location")).alias("storage_location")]
    elif kind is ExportKind.MM60:
        typed += [
            parse_number(pl.col("price"), number_format).alias("price"),
            parse_number(pl.col("price_unit"), number_format).fill_null(1.0).alias("price_unit"),
        ]
        checks.append(("price_unit", label("price_unit"),
                       pl.when(parse_number(pl.col("price_unit"), number_format) <= 0)
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

    problems = _problems(frame, checks)
    rows = frame.select("_row", *typed)
    return ParsedExport(
        path=path, kind=kind, file_format=grid.file_format, encoding=grid.encoding,
        sheet=grid.sheet, header_row=grid.header_row, number_format=number_format, rows=rows,
        rows_read=rows_read, skipped=skipped, problems=problems,
    )
