"""The files SAP users really send, written from the frames of ``pipelines.demo.generate``.

xlsx, the GUI's "Spreadsheet" .XLS (tab-separated text), the pipe-separated "unconverted" list
with page headers and subtotals, CSV and HTML; and ``write_demo_exports``, the demo drop of
``wics demo``. The text writers give the same bytes for the same frame, and xlsx files get
fixed document properties and zip entry times so they are byte-identical too. Only the writers
loop over rows.
"""

from __future__ import annotations

import datetime as dt
import html
import os
import shutil
import zipfile
from collections.abc import Sequence
from pathlib import Path

import polars as pl
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.writer.excel import ExcelWriter

from pipelines.demo.generate import (
    generate_counts,
    generate_master,
    generate_stock,
    next_day_stock,
)
from pipelines.sap.headers import STOCK_FIELDS

FIXED_CREATED = dt.datetime(2026, 11, 2, 7, 30)
DEFAULT_REPORT_DATE = dt.date(2026, 11, 2)
# Columns the unconverted list sums in its subtotal lines.
SUMMED_FIELDS: tuple[str, ...] = (*STOCK_FIELDS, "value_unrestricted")

# Header labels per style: canonical field -> label as SAP prints it.
LABELS: dict[str, dict[str, str]] = {
    "long": {
        "material": "Material", "plant": "Plant", "storage_location": "Storage Location",
        "description": "Material Description", "base_uom": "Base Unit of Measure",
        "batch": "Batch", "special_stock": "Special Stock", "unrestricted": "Unrestricted",
        "currency": "Currency", "value_unrestricted": "Value Unrestricted",
        "in_transit": "Transit/Transf.", "quality_inspection": "In Quality Insp.",
        "restricted": "Restricted-Use Stock", "blocked": "Blocked", "returns": "Returns",
        "material_type": "Material Type", "material_group": "Material Group",
        "abc_indicator": "ABC Indicator", "price": "Price", "price_unit": "Price Unit",
        "valuation_type": "Valuation Type", "last_change": "Last Change",
        "count_date": "Count Date", "location": "Location", "quantity": "Counted Qty",
        "counter": "Counter", "notes": "Notes",
    },
    "short": {
        "material": "Material", "plant": "Plnt", "storage_location": "SLoc",
        "description": "Material Description", "base_uom": "BUn", "batch": "Batch",
        "special_stock": "S", "unrestricted": "Unrestricted", "currency": "Crcy",
        "value_unrestricted": "Value Unrestricted", "in_transit": "Transit/Transf.",
        "quality_inspection": "In Quality Insp.", "restricted": "Restricted-Use",
        "blocked": "Blocked", "returns": "Returns", "material_type": "MTyp",
        "material_group": "Matl Group", "abc_indicator": "ABC", "price": "Price",
        "price_unit": "per", "valuation_type": "Valuation Type", "last_change": "Last Change",
    },
    "german": {
        "material": "Material", "plant": "Werk", "storage_location": "Lagerort",
        "description": "Materialkurztext", "base_uom": "Basismengeneinheit", "batch": "Charge",
        "special_stock": "Sonderbestand", "unrestricted": "Frei verwendbar",
        "currency": "Währung", "value_unrestricted": "Wert frei verwendbar",
        "in_transit": "Transit/Umlag.", "quality_inspection": "Qualitätsprüfung",
        "restricted": "Eingeschränkt verwendbar", "blocked": "Gesperrt", "returns": "Retouren",
        "material_type": "Materialart", "material_group": "Warengruppe",
        "abc_indicator": "ABC-Kennzeichen", "price": "Preis", "price_unit": "Preiseinheit",
        "valuation_type": "Bewertungsart", "last_change": "Letzte Änderung",
        "count_date": "Zähldatum", "location": "Lagerplatz", "quantity": "Zählmenge",
        "counter": "Zähler", "notes": "Bemerkung",
    },
}
# Columns WICS does not load but MM60 carries; the same label in every style.
_EXTRA_LABELS: dict[str, str] = {"created_on": "Created On", "created_by": "Created By"}

_NUMBER_STYLES: dict[str, tuple[str, str, str]] = {
    # thousands separator, decimal point, date format
    "de": (".", ",", "%d.%m.%Y"),
    "en": (",", ".", "%m/%d/%Y"),
}



def header_labels(columns: Sequence[str], style: str = "long") -> list[str]:
    """The header label of each column in a label style (long label as the fallback)."""
    if style not in LABELS:
        raise ValueError(f"unknown label style {style!r}; use one of {sorted(LABELS)}")
    chosen = LABELS[style]
    return [chosen.get(c) or _EXTRA_LABELS.get(c) or LABELS["long"].get(c)
            or c.replace("_", " ").title() for c in columns]


def _prepare(path: Path | str) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


def _kind(name: str, dtype: pl.DataType) -> str:
    if dtype == pl.Date or isinstance(dtype, pl.Datetime):
        return "date"
    if dtype.is_integer():
        return "int"
    if dtype.is_float() or dtype.is_decimal():
        return "qty" if name in STOCK_FIELDS else "amount"
    return "text"


def _grouped(integer: pl.Expr, separator: str) -> pl.Expr:
    """Non-negative integers with thousands separators, vectorised (no per-row Python)."""
    text = integer.cast(pl.String)
    if not separator:
        return text
    for k in range(1, 7):
        pieces: list[pl.Expr] = [(integer // 1000**k).cast(pl.String)]
        for g in range(k - 1, -1, -1):
            pieces += [pl.lit(separator), ((integer // 1000**g) % 1000).cast(pl.String)
                       .str.zfill(3)]
        text = pl.when(integer >= 1000**k).then(pl.concat_str(pieces)).otherwise(text)
    return text


def _number_text(
    name: str, decimals: int, thousands: str, point: str, negative: str,
) -> pl.Expr:
    value = pl.col(name).cast(pl.Float64)
    scaled = (value.abs() * 10**decimals).round(0, mode="half_away_from_zero").cast(pl.Int64)
    text = _grouped(scaled // 10**decimals, thousands)
    if decimals:
        text = pl.concat_str([text, pl.lit(point),
                              (scaled % 10**decimals).cast(pl.String).str.zfill(decimals)])
    is_negative = (value < 0) & (scaled > 0)
    if negative == "trailing":  # SAP lists print 12,000-
        text = pl.when(is_negative).then(text + "-").otherwise(text)
    else:
        text = pl.when(is_negative).then("-" + text).otherwise(text)
    return text.fill_null("").alias(name)


def _text_frame(df: pl.DataFrame, numbers: str, *, negative: str = "trailing") -> pl.DataFrame:
    """Every column as the text SAP prints for it in the given number style."""
    if numbers not in _NUMBER_STYLES:
        raise ValueError(f"unknown number style {numbers!r}; use 'de' or 'en'")
    thousands, point, date_format = _NUMBER_STYLES[numbers]
    exprs: list[pl.Expr] = []
    for name, dtype in df.schema.items():
        kind = _kind(name, dtype)
        if kind == "date":
            exprs.append(pl.col(name).dt.strftime(date_format).fill_null("").alias(name))
        elif kind == "int":
            exprs.append(_number_text(name, 0, thousands, point, negative))
        elif kind in ("qty", "amount"):
            exprs.append(_number_text(name, 3 if kind == "qty" else 2, thousands, point,
                                      negative))
        else:
            exprs.append(pl.col(name).cast(pl.String).fill_null("").alias(name))
    return df.select(exprs)


def _export_kind(df: pl.DataFrame) -> str:
    if "unrestricted" in df.columns:
        return "mb52"
    if "quantity" in df.columns:
        return "counts"
    return "mm60"


def _default_title(df: pl.DataFrame, german: bool) -> str:
    kind = _export_kind(df)
    plants = sorted(p for p in df["plant"].unique().to_list() if p) if "plant" in df.columns else []
    span = (f"{plants[0]}-{plants[-1]}" if len(plants) > 1 else plants[0]) if plants else ""
    if kind == "mb52":
        return (f"Lagerbestand Werke {span}" if german
                else f"Display Warehouse Stocks of Material {span}").strip()
    if kind == "counts":
        return "Zählliste" if german else "Physical Inventory Count Sheet"
    return "Materialliste" if german else "Materials List"


def _rows(texts: pl.DataFrame, separator: str) -> list[str]:
    if not texts.width:
        return []
    return texts.select(pl.concat_str(pl.all(), separator=separator)).to_series().to_list()


def _encode(text: str, encoding: str) -> bytes:
    if encoding.lower().replace("_", "-") in ("utf-16", "utf16"):
        # SAP writes little-endian UTF-16 with a BOM; fixed byte order keeps output stable.
        return b"\xff\xfe" + text.encode("utf-16-le")
    return text.encode(encoding, errors="replace")


class _StableZip(zipfile.ZipFile):
    """A zip whose entries carry a fixed time and mode, so equal content gives equal bytes."""

    def __init__(self, file: Path, stamp: dt.datetime) -> None:
        super().__init__(file, "w", zipfile.ZIP_DEFLATED, allowZip64=True)
        self.stamp = stamp.timetuple()[:6]

    def _info(self, name: str, size: int = 0) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, date_time=self.stamp)
        info.compress_type = self.compression
        info.external_attr = 0o600 << 16
        info.file_size = size
        return info

    def writestr(self, zinfo_or_arcname, data, compress_type=None, compresslevel=None):
        if not isinstance(zinfo_or_arcname, zipfile.ZipInfo):
            zinfo_or_arcname = self._info(zinfo_or_arcname)
        super().writestr(zinfo_or_arcname, data, compress_type, compresslevel)

    def write(self, filename, arcname=None, compress_type=None, compresslevel=None):
        name = arcname or os.path.basename(filename)
        info = self._info(name, os.path.getsize(filename))
        with open(filename, "rb") as source, self.open(info, "w") as target:
            shutil.copyfileobj(source, target, 1024 * 1024)


_XLSX_TITLES = {"mb52": "Display Warehouse Stocks of Material", "mm60": "Materials List",
                "counts": "Physical Inventory Count Sheet"}
_XLSX_FORMATS = {"qty": "#,##0.000", "amount": "#,##0.00", "date": "dd.mm.yyyy"}


def write_xlsx(
    df: pl.DataFrame, path: Path | str, *, labels: str = "long",
    title_rows: list[str] | None = None, sheet_name: str = "Sheet1",
    created: dt.datetime = FIXED_CREATED, number_formats: bool = True,
) -> Path:
    """An Excel export as SAP's "Excel" download makes it (openpyxl write-only, so fast).

    Material numbers and storage locations stay text cells (leading zeros survive), quantities
    and amounts are number cells, dates date cells. Optional title lines and a blank row sit
    above the header. Document properties are fixed (created) so output is reproducible.
    number_formats=False leaves quantities and amounts unformatted (dates keep a date format):
    about 40 % faster for benchmark-sized files, since openpyxl styles cell by cell.
    """
    target = _prepare(path)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(sheet_name)
    header_row = len(title_rows) + 2 if title_rows else 1
    ws.freeze_panes = f"A{header_row + 1}"
    bold = Font(bold=True)

    def bold_cell(value: str) -> WriteOnlyCell:
        cell = WriteOnlyCell(ws, value=value)
        cell.font = bold
        return cell

    if title_rows:
        for line in title_rows:
            ws.append([bold_cell(line)])
        ws.append([])
    ws.append([bold_cell(label) for label in header_labels(df.columns, labels)])

    columns: list[list[object]] = []
    templates: list[WriteOnlyCell | None] = []
    for name, dtype in df.schema.items():
        kind = _kind(name, dtype)
        series = df[name]
        template = None
        if kind == "text" and name == "quantity":
            # Counters type numbers, and sometimes an expression Excel keeps as text.
            numeric = series.cast(pl.Float64, strict=False).to_list()
            values: list[object] = [
                (int(n) if n.is_integer() else n) if n is not None else t
                for n, t in zip(numeric, series.to_list(), strict=True)
            ]
        else:
            values = series.to_list()
        if kind == "date" or (number_formats and kind in _XLSX_FORMATS):
            template = WriteOnlyCell(ws)
            template.number_format = _XLSX_FORMATS[kind]
        columns.append(values)
        templates.append(template)
    styled = [i for i, t in enumerate(templates) if t is not None]
    for values in zip(*columns, strict=True):
        row = list(values)
        for i in styled:
            if row[i] is not None:
                cell = templates[i]
                cell.value = row[i]  # type: ignore[union-attr]
                row[i] = cell  # the row is written before the template is reused
        ws.append(row)

    wb.properties.creator = "SAP"
    wb.properties.lastModifiedBy = "SAP"
    wb.properties.title = _XLSX_TITLES[_export_kind(df)]
    wb.properties.created = created
    wb.properties.modified = created
    with _StableZip(target, created) as archive:
        ExcelWriter(wb, archive).save()
    return target


def write_spreadsheet_text(
    df: pl.DataFrame, path: Path | str, *, encoding: str = "cp1252", numbers: str = "de",
    labels: str = "short", title_rows: list[str] | None = None,
    report_date: dt.date = DEFAULT_REPORT_DATE,
) -> Path:
    """SAP GUI's "Spreadsheet" export: an .XLS that is tab-separated text with CRLF line ends.

    Title line(s), the report date, a blank line, the header, the rows. Quantities print with
    three decimals, amounts with two, in the user's number format (de: 1.234,500 and 12,000-;
    en: 1,234.500 and 12.000-). encoding "utf-16" writes little-endian with a BOM as SAP does.
    """
    target = _prepare(path)
    texts = _text_frame(df, numbers)
    titles = title_rows if title_rows is not None else [_default_title(df, numbers == "de")]
    lines = [*titles, report_date.strftime(_NUMBER_STYLES[numbers][2]), "",
             "\t".join(header_labels(df.columns, labels)), *_rows(texts, "\t")]
    target.write_bytes(_encode("\r\n".join(lines) + "\r\n", encoding))
    return target


def write_unconverted(
    df: pl.DataFrame, path: Path | str, *, numbers: str = "en", labels: str = "short",
    page_rows: int = 50, subtotals: bool = True, report_date: dt.date = DEFAULT_REPORT_DATE,
    title: str | None = None,
) -> Path:
    """SAP's "unconverted" list download: padded pipe-separated fields, ruled header, pages.

    Every page_rows data rows a page header repeats (title line with date and "Page N", rule,
    column header, rule). With subtotals the rows are grouped by plant (SAP sorts by the
    subtotal field) and each plant ends with a ``*`` line summing quantities and values; a
    ``**`` line totals the list. UTF-8, CRLF.
    """
    target = _prepare(path)
    if page_rows < 1:
        raise ValueError("page_rows must be at least 1")
    summed = [c for c in SUMMED_FIELDS if c in df.columns]
    subtotals = subtotals and "plant" in df.columns and bool(summed) and df.height > 0
    data = df.sort("plant", maintain_order=True) if subtotals else df
    texts = _text_frame(data, numbers)
    first = df.columns[0] if df.columns else ""

    sub_texts = texts.clear()
    plant_sizes: list[int] = []
    if subtotals:
        by_plant = data.group_by("plant", maintain_order=True)
        sums = by_plant.agg(
            *[pl.col(c).sum() for c in summed],
            # One company-code currency per plant, printed beside its subtotal.
            *([pl.col("currency").first()] if "currency" in data.columns else []),
            pl.len().alias("_rows"),
        )
        plant_sizes = sums["_rows"].to_list()
        grand = data.select(*[pl.col(c).sum() for c in summed])
        totals = pl.concat([
            sums.drop("_rows").with_columns(pl.lit("*").alias("_mark")),
            grand.with_columns(pl.lit("**").alias("_mark")),
        ], how="diagonal_relaxed")
        # Subtotal rows in the frame's shape: the mark in the first cell, sums below columns.
        frame = pl.DataFrame({c: pl.Series([None] * totals.height, dtype=t)
                              for c, t in data.schema.items()})
        frame = frame.with_columns(
            [totals[c].cast(data.schema[c]).alias(c) for c in totals.columns
             if c in data.columns])
        sub_texts = _text_frame(frame, numbers)
        # The mark opens the line ("*", "**"), before whatever the first cell holds.
        sub_texts = sub_texts.with_columns(
            pl.concat_str([totals["_mark"], sub_texts[first]], separator=" ")
            .str.strip_chars_end().alias(first))
    header = header_labels(df.columns, labels)
    widths = {}
    for i, name in enumerate(texts.columns):
        longest = pl.concat([texts[name], sub_texts[name]]).str.len_chars().max() or 0
        widths[name] = max(len(header[i]), int(longest))  # type: ignore[arg-type]
    right = {n for n, t in data.schema.items() if _kind(n, t) in ("qty", "amount", "int")}

    def aligned(frame: pl.DataFrame) -> list[str]:
        padded = frame.select([
            (pl.col(n).str.pad_start(widths[n]) if n in right
             else pl.col(n).str.pad_end(widths[n])) for n in frame.columns])
        return ["|" + line + "|" for line in _rows(padded, "|")]

    lines_data = aligned(texts)
    lines_sub = aligned(sub_texts) if subtotals else []
    header_line = "|" + "|".join(
        label.rjust(widths[n]) if n in right else label.ljust(widths[n])
        for n, label in zip(texts.columns, header, strict=True)) + "|"
    rule = "-" * len(header_line)
    heading = title or _default_title(df, numbers == "de")
    date_text = report_date.strftime(_NUMBER_STYLES[numbers][2])

    out: list[str] = []
    page = 0

    def start_page() -> None:
        nonlocal page
        page += 1
        page_text = f"Page {page:>4}"
        gap = max(len(rule) - len(date_text) - len(page_text), len(heading) + 2)
        if page > 1:
            out.append("")
        out.extend([date_text + heading.center(gap) + page_text, rule, header_line, rule])

    start_page()
    on_page = 0
    groups = plant_sizes if subtotals else [len(lines_data)]
    position = 0
    for g_idx, size in enumerate(groups):
        for line in lines_data[position:position + size]:
            if on_page == page_rows:
                out.append(rule)
                start_page()
                on_page = 0
            out.append(line)
            on_page += 1
        position += size
        if subtotals:
            out.append(lines_sub[g_idx])
    if subtotals:
        out.append(rule)
        out.append(lines_sub[-1])
    out.append(rule)
    target.write_bytes(("\r\n".join(out) + "\r\n").encode("utf-8"))
    return target


def _csv_field(expr: pl.Expr) -> pl.Expr:
    needs_quotes = expr.str.contains(r'[,"\r\n]')
    quoted = pl.lit('"') + expr.str.replace_all('"', '""', literal=True) + pl.lit('"')
    return pl.when(needs_quotes).then(quoted).otherwise(expr)


def write_csv(
    df: pl.DataFrame, path: Path | str, *, numbers: str = "en", labels: str = "long",
) -> Path:
    """Comma-separated text as Excel saves an export: quoted fields with commas, UTF-8, CRLF.

    English numbers keep their thousands separators (``"2,800,000.00"``), negatives a leading
    minus, dates are US style (09/28/2021).
    """
    target = _prepare(path)
    texts = _text_frame(df, numbers, negative="leading")
    quoted = texts.select([_csv_field(pl.col(c)).alias(c) for c in texts.columns])
    header = ",".join(
        f'"{label}"' if any(ch in label for ch in ',"') else label
        for label in header_labels(df.columns, labels))
    target.write_bytes(("\r\n".join([header, *_rows(quoted, ",")]) + "\r\n").encode("utf-8"))
    return target


def write_html(
    df: pl.DataFrame, path: Path | str, *, labels: str = "long", numbers: str = "en",
    title: str | None = None,
) -> Path:
    """SAP's HTML download: a heading and one ``<table>`` with ``<th>`` header cells, UTF-8."""
    target = _prepare(path)
    texts = _text_frame(df, numbers)
    escaped = texts.select([
        pl.col(c).str.replace_all("&", "&amp;", literal=True)
        .str.replace_all("<", "&lt;", literal=True)
        .str.replace_all(">", "&gt;", literal=True) for c in texts.columns])
    cells = escaped.select(
        [(pl.lit("<td>") + pl.col(c) + pl.lit("</td>")).alias(c) for c in texts.columns])
    heading = html.escape(title or _default_title(df, False))
    lines = [
        "<!DOCTYPE html>",
        "<html>",
        f'<head><meta charset="utf-8"><title>{heading}</title></head>',
        "<body>",
        f"<h1>{heading}</h1>",
        '<table border="1">',
        "<tr>" + "".join(f"<th>{html.escape(label)}</th>"
                         for label in header_labels(df.columns, labels)) + "</tr>",
        *("<tr>" + line + "</tr>" for line in _rows(cells, "")),
        "</table>",
        "</body>",
        "</html>",
    ]
    target.write_bytes(("\n".join(lines) + "\n").encode("utf-8"))
    return target


def write_demo_exports(
    folder: Path, *, materials: int = 2000, stock_rows: int = 6000, count_rows: int = 120,
    start: dt.date = dt.date(2026, 11, 2), seed: int = 7,
) -> list[Path]:
    """A realistic demo drop: MM60 xlsx, MB52 xlsx, next day's MB52 as SAP .XLS text, counts.

    Returned in load order (the material list first, so stock and counts find their materials).
    """
    folder = Path(folder)
    before, after = start - dt.timedelta(days=1), start + dt.timedelta(days=1)
    master = generate_master(materials, seed=seed)
    stock = generate_stock(master, stock_rows, seed=seed + 2)
    next_stock = next_day_stock(stock, master, seed + 3)
    counts = generate_counts(next_stock, after, count_rows, seed=seed + 4)

    def stamp(day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(7, 30))

    return [
        write_xlsx(master, folder / f"MM60_materials_{before.isoformat()}.xlsx",
                   created=stamp(before)),
        write_xlsx(stock, folder / f"MB52_stock_{start.isoformat()}.xlsx", created=stamp(start)),
        write_spreadsheet_text(next_stock, folder / f"MB52_stock_{after.isoformat()}.XLS",
                               encoding="cp1252", numbers="de", labels="short",
                               report_date=after),
        write_xlsx(counts, folder / f"counts_{after.isoformat()}.xlsx", sheet_name="Counts",
                   created=stamp(after)),
    ]
