"""The first rows of an xlsx worksheet as text cells, the grid calamine gives, without
parsing the whole sheet.

calamine (through fastexcel) parses a whole worksheet even when asked for its first rows, so
finding which sheet of a workbook holds the header, or which export a dropped file is, cost a
full parse. ``read_head`` inflates the worksheet part a piece (256 KiB) at a time, cuts the
``<sheetData>`` at row boundaries, and turns the cells into (row, column, text) with vectorised
polars string operations (split at ``<c ``, literal splits for the reference, attributes and
value, a join for the attribute strings, lookups for shared strings), stopping once it has the
rows asked for. Values are rendered as ``load_sheet(..., dtypes="string")`` renders them:
strings as they are (XML entities and character references decoded, text not marked
``xml:space="preserve"`` trimmed, rich-text runs joined, phonetic runs left out), booleans as
``true``/``false``, numbers as Rust's ``{:.9}`` with trailing zeros trimmed, and numbers in a
date format as calamine's ``YYYY-MM-DD HH:MM:SS[.mmm]``.

It reads the cells that export writers produce (SAP, Excel, openpyxl); a sheet holding anything
else — a formula, an inline rich string, an error cell, an attribute it does not know, Excel's
``_xHHHH_`` escapes, a carriage return, a duration format or 1904 dates — raises ``NotFast``
and the caller uses calamine for it. The whole sheet is always read by calamine: with two
cores, polars' string operations over every cell of a 100,000-row sheet take longer than
calamine's single-threaded parse (docs/loading.md, section 2).
"""

from __future__ import annotations

import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from xml.etree import ElementTree

import polars as pl

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_NS = {
    "m": MAIN_NS,
    "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
    "rel": "http://schemas.openxmlformats.org/package/2006/relationships",
}
HEAD_BYTES = 256 * 1024  # inflated XML read at a time for a sheet's first rows

# Number formats calamine reads as dates (built-in ids; custom codes are classified below).
_DATE_IDS = set(range(14, 23)) | set(range(27, 37)) | {45, 47} | set(range(50, 59)) \
    | set(range(71, 82))
_DURATION_IDS = {46}
_EXCEL_EPOCH_MS = -2_209_075_200_000  # 1899-12-31 00:00:00 UTC in ms since 1970
_DAY_MS = 86_400_000
# The value forms after ``<c r="..." ...>`` the fast path reads, and what must follow the value.
_VALUE_FORMS = (
    ("<v>", "</v></c>", False),
    ("<is><t>", "</t></is></c>", False),
    ('<is><t xml:space="preserve">', "</t></is></c>", True),
)
_XML_WHITESPACE = " \t\n\r"


class NotFast(Exception):
    """The sheet holds something the fast path does not read; use calamine."""


# What reading a part may raise on a file the fast path does not expect: calamine decides.
_READ_ERRORS = (KeyError, ValueError, IndexError, OSError, EOFError, zlib.error,
                zipfile.BadZipFile, ElementTree.ParseError, pl.exceptions.PolarsError)


@dataclass(frozen=True)
class SheetPart:
    name: str
    member: str


def sheet_members(archive: zipfile.ZipFile) -> list[SheetPart]:
    """Every sheet of the workbook, in workbook order, with its zip member name."""
    book = ElementTree.fromstring(archive.read("xl/workbook.xml"))
    rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    targets = {r.get("Id"): r.get("Target", "") for r in rels.findall("rel:Relationship", _NS)}
    parts = []
    for sheet in book.findall("m:sheets/m:sheet", _NS):
        target = targets.get(sheet.get(f"{{{_NS['r']}}}id"), "")
        member = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
        parts.append(SheetPart(sheet.get("name", ""), member))
    return parts


def sheet_parts(archive: zipfile.ZipFile) -> list[SheetPart]:
    """The worksheets in workbook order with their zip member names (NotFast for another
    kind of sheet, such as a chart sheet)."""
    parts = sheet_members(archive)
    for part in parts:
        if not part.member.startswith("xl/worksheets/"):
            raise NotFast(f"a sheet that is not a worksheet: {part.member}")
    return parts


# ------------------------------------------------------------------------------------------
# Workbook parts: date system, styles, shared strings
# ------------------------------------------------------------------------------------------

def _uses_1904(archive: zipfile.ZipFile) -> bool:
    head = archive.read("xl/workbook.xml")
    match = re.search(rb"date1904=\"(\w+)\"", head)
    return bool(match and match.group(1).lower() in (b"1", b"true"))


def _custom_format_kind(code: str) -> str:
    """``date``, ``duration`` or ``other`` for a custom number format, as calamine decides it
    (the first section only; quoted text, escapes and bracketed parts skipped)."""
    escaped = quoted = False
    brackets = 0
    previous = " "
    ampm = False
    hms = False
    for char in code:
        if escaped:
            escaped = False
        elif char in "_\\":
            escaped = True
        elif quoted:
            if char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char == ";":
            return "other"
        elif char == "[":
            brackets += 1
        elif char == "]" and brackets == 1 and hms:
            return "duration"
        elif char == "]":
            brackets = max(brackets - 1, 0)
        elif char in "aA" and not ampm and brackets == 0:
            ampm = True
        elif brackets == 0 and (char in "pm/PM" if ampm else char in "dmhysDMHYS"):
            return "date"
        else:
            if not (hms and char.lower() == previous.lower()):
                hms = previous == "[" and char in "mhsMHS"
        previous = char
    return "other"


def _style_kinds(archive: zipfile.ZipFile) -> list[str]:
    """For each cell style index (``s``), how calamine reads a number in it."""
    try:
        data = archive.read("xl/styles.xml")
    except KeyError:
        return []
    root = ElementTree.fromstring(data)
    custom = {
        int(f.get("numFmtId", "-1")): f.get("formatCode", "")
        for f in root.findall("m:numFmts/m:numFmt", _NS)
    }
    kinds = []
    for xf in root.findall("m:cellXfs/m:xf", _NS):
        number_format = int(xf.get("numFmtId", "0"))
        if number_format in custom:
            kinds.append(_custom_format_kind(custom[number_format]))
        elif number_format in _DATE_IDS:
            kinds.append("date")
        elif number_format in _DURATION_IDS:
            kinds.append("duration")
        else:
            kinds.append("other")
    return kinds


def _shared_strings(archive: zipfile.ZipFile, member: str | None, count: int) -> list[str]:
    """The first ``count`` (or more) shared strings as calamine reads them (runs joined,
    phonetic runs left out, white space trimmed where not preserved); the table is parsed
    only as far as that, since a sheet's first rows use the strings at its start."""
    if member is None:
        return []
    texts: list[str] = []
    t_tag, r_tag, si_tag = f"{{{MAIN_NS}}}t", f"{{{MAIN_NS}}}r", f"{{{MAIN_NS}}}si"
    space = "{http://www.w3.org/XML/1998/namespace}space"
    with archive.open(member) as stream:
        head = stream.read(HEAD_BYTES)
        if b"_x" in head or b"\r" in head or b"<!--" in head or b"<!DOCTYPE" in head:
            raise NotFast("escapes, carriage returns, comments or a DTD in shared strings")
        parser = ElementTree.XMLPullParser(events=("end",))
        chunk = head
        while chunk and len(texts) < count:
            if b"_x" in chunk or b"\r" in chunk:
                raise NotFast("escapes or carriage returns in shared strings")
            parser.feed(chunk)
            for _, item in parser.read_events():
                if item.tag != si_tag:
                    continue
                pieces: list[str] = []
                for child in item:
                    if child.tag == t_tag:
                        pieces.append(_t_text(child, space))
                    elif child.tag == r_tag:
                        pieces.extend(_t_text(t, space) for t in child.findall("m:t", _NS))
                texts.append("".join(pieces))
                item.clear()
            chunk = stream.read(HEAD_BYTES)
    if any("\r" in text for text in texts):
        raise NotFast("a carriage return (&#13;) in shared strings")
    return texts


def _t_text(element: ElementTree.Element, space: str) -> str:
    text = element.text or ""
    return text if element.get(space) == "preserve" else text.strip(_XML_WHITESPACE)


def _shared_strings_member(archive: zipfile.ZipFile) -> str | None:
    rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    for rel in rels.findall("rel:Relationship", _NS):
        if rel.get("Type", "").endswith("/sharedStrings"):
            target = rel.get("Target", "")
            return target.lstrip("/") if target.startswith("/") else f"xl/{target}"
    return None


# ------------------------------------------------------------------------------------------
# The sheet XML, in pieces
# ------------------------------------------------------------------------------------------

def _inflated(archive: zipfile.ZipFile, member: str, size: int) -> Iterator[bytes]:
    """The member's bytes in blocks of about ``size``, inflated as they are read."""
    with archive.open(member) as stream:
        while True:
            block = stream.read(size)
            if not block:
                return
            yield block


def _row_pieces(blocks: Iterator[bytes]) -> Iterator[bytes]:
    """The rows of ``<sheetData>`` in pieces that start at a ``<row`` tag and hold whole rows."""
    buffer = b""
    started = False
    for block in blocks:
        buffer += block
        if not started:
            start = buffer.find(b"<sheetData")
            if start < 0:
                if len(buffer) > 64 * HEAD_BYTES:
                    raise NotFast("no sheetData in the first part of the sheet")
                continue
            head = buffer[:start]
            if re.search(rb"<\w+:worksheet", head) or b"<!--" in head:
                raise NotFast("prefixed or commented worksheet XML")
            end_of_tag = buffer.find(b">", start)
            if end_of_tag < 0:
                continue
            if buffer[end_of_tag - 1 : end_of_tag] == b"/":
                return  # <sheetData/>: no rows
            buffer = buffer[end_of_tag + 1 :]
            started = True
        cut = buffer.rfind(b"<row")
        if cut > 0:
            yield buffer[:cut]
            buffer = buffer[cut:]
        elif len(buffer) > 64 * HEAD_BYTES:
            raise NotFast("a row of over 64 pieces (16 MiB) of XML")
    if not started:
        raise NotFast("no sheetData in the sheet")
    end = buffer.rfind(b"</sheetData>")
    if end < 0:
        raise NotFast("sheetData not closed")
    if buffer[:end]:
        yield buffer[:end]


def _piece_cells(piece: bytes) -> pl.DataFrame:
    """(ref, attrs, form, value) for each ``<c`` element of a piece of whole rows."""
    if b"<![CDATA[" in piece or b"<!--" in piece or b"\r" in piece:
        raise NotFast("CDATA, comments or carriage returns in cells")
    try:
        text = piece.decode("utf-8")
    except UnicodeDecodeError as error:
        raise NotFast("sheet XML is not UTF-8") from error
    # Every cell tag must be ``<c `` followed by r="...": count them against all ``<c`` tags.
    if text.count("<c") != text.count("<c "):
        raise NotFast("cell tags other than '<c '")
    chunks = pl.Series("x", [text]).str.split("<c ").explode().slice(1).to_frame()
    if chunks.is_empty():
        return pl.DataFrame(schema={"ref": pl.String, "attrs": pl.String, "form": pl.Int8,
                                    "value": pl.String})
    by_quote = pl.col("x").str.splitn('"', 3)
    frame = chunks.lazy().select(
        lead=by_quote.struct.field("field_0"),
        ref=by_quote.struct.field("field_1"),
        rest=by_quote.struct.field("field_2"),
    ).with_columns(after=pl.col("rest").str.splitn(">", 2)).select(
        "lead", "ref",
        attrs=pl.col("after").struct.field("field_0"),
        content=pl.col("after").struct.field("field_1"),
    )
    form = pl.lit(None, dtype=pl.Int8)
    value = pl.lit(None, dtype=pl.String)
    tail_ok = pl.lit(False)
    empty = pl.col("attrs").str.ends_with("/") | pl.col("content").str.starts_with("</c>")
    for index, (prefix, suffix, _) in reversed(list(enumerate(_VALUE_FORMS))):
        body = pl.col("content").str.strip_prefix(prefix).str.splitn("<", 2)
        matches = pl.col("content").str.starts_with(prefix)
        form = pl.when(matches).then(pl.lit(index, dtype=pl.Int8)).otherwise(form)
        value = pl.when(matches).then(body.struct.field("field_0")).otherwise(value)
        tail_ok = pl.when(matches).then(
            ("<" + body.struct.field("field_1")).str.starts_with(suffix)).otherwise(tail_ok)
    cells = frame.select(
        "ref", "attrs",
        bad=(pl.col("lead") != "r=") | pl.col("ref").is_null() | pl.col("attrs").is_null()
        | (~empty & ~tail_ok),
        form=pl.when(empty).then(pl.lit(None, dtype=pl.Int8)).otherwise(form),
        value=pl.when(empty).then(pl.lit(None, dtype=pl.String)).otherwise(value),
    ).collect()
    if cells["bad"].any():
        raise NotFast("a cell the fast path does not read (formula, rich text, ...)")
    return cells.drop("bad")


# ------------------------------------------------------------------------------------------
# Values
# ------------------------------------------------------------------------------------------

_ATTR = re.compile(r'\s+(\w+)="([^"]*)"')


def _attribute_table(attrs: pl.Series, style_kinds: list[str]) -> pl.DataFrame:
    """Each distinct attribute string after ``r`` as (type, style kind)."""
    rows = []
    for text in attrs.unique().to_list():
        body = text.removesuffix("/")
        parsed = dict(_ATTR.findall(body))
        if _ATTR.sub("", body).strip() or set(parsed) - {"s", "t"}:
            raise NotFast(f"cell attributes the fast path does not read: {text!r}")
        kind = parsed.get("t", "n")
        if kind not in ("n", "s", "str", "inlineStr", "b"):
            raise NotFast(f"cell type {kind!r}")
        style = int(parsed.get("s", "0") or 0)
        if style and style >= len(style_kinds):
            raise NotFast("a cell style missing from styles.xml")
        style_kind = style_kinds[style] if style_kinds else "other"
        if kind == "n" and style_kind == "duration":
            raise NotFast("a number in a duration format")
        rows.append((text, kind, style_kind))
    return pl.DataFrame(rows, schema={"attrs": pl.String, "t": pl.String, "style": pl.String},
                        orient="row")


_PLAIN_NUMBER = r"^-?(?:0|[1-9][0-9]{0,14})$|^-?(?:0|[1-9][0-9]{0,5})\.[0-9]{1,9}$"
_ANY_NUMBER = r"^[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$"


def _rust_fixed9(text: str) -> str:
    """``format!("{:.9}", x)`` with trailing zeros and point trimmed (fastexcel's rendering);
    Python's ``%.9f`` rounds the exact binary value half-to-even as Rust does."""
    value = float(text)
    if value != value or value in (float("inf"), float("-inf")):
        raise NotFast("a number that is not finite")
    return f"{value:.9f}".rstrip("0").rstrip(".")


def _numbers(values: pl.Series) -> pl.Series:
    """Numbers as fastexcel renders them: the text itself where it is already what ``{:.9}``
    gives (short integers, up to nine decimals below a million), exact formatting otherwise."""
    plain = values.str.contains(_PLAIN_NUMBER)
    if not values.str.contains(_ANY_NUMBER).all():
        raise NotFast("a number the fast path does not read")
    trimmed = pl.when(plain & values.str.contains(".", literal=True)).then(
        values.str.strip_chars_end("0").str.strip_chars_end(".")).otherwise(values)
    out = values.to_frame("v").select(trimmed.alias("v")).to_series()
    odd = values.filter(~plain).unique()
    if odd.len():
        mapping = pl.DataFrame({"v": odd, "text": [_rust_fixed9(v) for v in odd.to_list()]})
        looked_up = values.to_frame("v").join(mapping, on="v", how="left",
                                              maintain_order="left")["text"]
        out = pl.select(pl.when(plain).then(out).otherwise(looked_up)).to_series()
    # Plain "-0" / "-0.000" render as "-0", which the trim already gives.
    return out


def _dates(values: pl.Series, is_1904: bool) -> pl.Series:
    """Serial numbers as calamine's ``as_datetime().to_string()``."""
    if is_1904:
        raise NotFast("1904 date system")
    serial = values.cast(pl.Float64, strict=False)
    # Years 257 to 9999 print alike in chrono (calamine) and polars; others go to calamine.
    if serial.is_null().any() or not serial.is_between(-600_000, 2_958_465).all():
        raise NotFast("a date serial outside the years 257-9999")
    # Excel's 1900 leap-year bug: from serial 60 on, one day less (calamine does the same).
    days = pl.when(pl.col("f") >= 60).then(pl.col("f") - 1).otherwise(pl.col("f"))
    ms = (days * _DAY_MS).round(0, mode="half_away_from_zero").cast(pl.Int64) + _EXCEL_EPOCH_MS
    moment = ms.cast(pl.Datetime("ms"))
    fraction = (ms % 1000 + 1000) % 1000
    return serial.to_frame("f").select(
        pl.when(fraction == 0).then(moment.dt.strftime("%Y-%m-%d %H:%M:%S"))
        .otherwise(moment.dt.strftime("%Y-%m-%d %H:%M:%S") + "."
                   + fraction.cast(pl.String).str.zfill(3))
    ).to_series()


_NAMED = {"&lt;": "<", "&gt;": ">", "&quot;": '"', "&apos;": "'", "&amp;": "&"}
_REFERENCE = r"&(?:#[0-9]+|#x[0-9a-fA-F]+|[A-Za-z]+);"


def _unescape(values: pl.Series) -> pl.Series:
    """XML entities and character references decoded, all in one pass (so ``&amp;#38;``
    stays ``&#38;``): the distinct references are looked up once each."""
    found = values.str.extract_all(_REFERENCE).explode().drop_nulls().unique().to_list()
    mapping = dict(_NAMED)
    for reference in found:
        if reference in mapping:
            continue
        if not reference.startswith("&#"):
            raise NotFast(f"an entity calamine would refuse: {reference}")
        body = reference[2:-1]
        code = int(body[1:], 16) if body.startswith("x") else int(body)
        if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF or (code < 0x20 and code not in (9, 10)):
            raise NotFast(f"a character reference the fast path does not read: {reference}")
        mapping[reference] = chr(code)
    if values.str.contains("&", literal=True).any() and (
            values.str.count_matches("&", literal=True).sum()
            != values.str.count_matches(_REFERENCE).sum()):
        raise NotFast("a bare & in cell text")
    return values.str.replace_many(list(mapping), list(mapping.values()))


def _render(cells: pl.DataFrame, workbook: WorkbookParts) -> pl.DataFrame:
    """(row, col, text) of every non-empty cell."""
    table = _attribute_table(cells["attrs"], workbook.style_kinds)
    cells = cells.filter(pl.col("form").is_not_null()).join(
        table, on="attrs", how="left", maintain_order="left")
    if cells.is_empty():
        return pl.DataFrame(schema={"row": pl.Int64, "col": pl.Int64, "text": pl.String})
    inline = pl.col("t").is_in(["inlineStr", "str"])
    value_form = pl.col("form") == 0
    if cells.select(((pl.col("t") == "inlineStr") == value_form).any()).item():
        raise NotFast("an inline string without <is> or a value with <is>")
    strings = cells.filter(inline | (pl.col("t") == "s"))
    if strings.select(pl.col("value").str.contains("_x", literal=True).any()).item():
        raise NotFast("_xHHHH_ escapes in cells")
    cells = cells.with_columns(
        col=pl.col("ref").str.strip_chars_end("0123456789"),
        row=pl.col("ref").str.strip_chars_start("ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
    )
    if cells.select(~pl.col("row").str.contains(r"^[1-9][0-9]{0,6}$").all()
                    | ~pl.col("col").str.contains(r"^[A-Z]{1,3}$").all()).item():
        raise NotFast("a cell reference the fast path does not read")
    letters = cells["col"].unique().to_list()
    columns = pl.DataFrame({"col": letters, "c": [_column_index(x) for x in letters]},
                           schema={"col": pl.String, "c": pl.Int64})
    cells = cells.join(columns, on="col", how="left", maintain_order="left").with_columns(
        row=pl.col("row").cast(pl.Int64))

    texts = cells.with_columns(
        # Unpreserved text is trimmed; preserved text (form 2) kept as it is.
        value=pl.when(inline & (pl.col("form") != 2))
        .then(pl.col("value").str.strip_chars(_XML_WHITESPACE)).otherwise(pl.col("value"))
    )
    escaped = texts.select(inline & pl.col("value").str.contains("&", literal=True)).to_series()
    if escaped.any():
        marked = texts.filter(escaped)
        texts = pl.concat([texts.filter(~escaped),
                           marked.with_columns(value=_unescape(marked["value"]))])
    out = texts.select("row", "c", "t", "style", "value")
    rendered = [out.filter(inline).select("row", "c", text=pl.col("value"))]
    shared = out.filter(pl.col("t") == "s")
    if shared.height:
        index = shared["value"].cast(pl.Int64, strict=False)
        if index.is_null().any() or (index.min() or 0) < 0:
            raise NotFast("a shared string index that is not a number")
        sst = workbook.shared_strings((index.max() or 0) + 1)
        if (index.max() or 0) >= sst.len():
            raise NotFast("a shared string index outside the table")
        rendered.append(shared.select("row", "c", text=sst.gather(index)))
    booleans = out.filter(pl.col("t") == "b")
    if booleans.height:
        if not booleans["value"].is_in(["0", "1"]).all():
            raise NotFast("a boolean that is not 0 or 1")
        rendered.append(booleans.select("row", "c", text=pl.when(pl.col("value") == "1")
                                     .then(pl.lit("true")).otherwise(pl.lit("false"))))
    numbers = out.filter(pl.col("t") == "n")
    if numbers.height:
        # <v></v> is an empty cell.
        numbers = numbers.filter(pl.col("value") != "")
        dated = numbers.filter(pl.col("style") == "date")
        plain = numbers.filter(pl.col("style") != "date")
        if plain.height:
            rendered.append(plain.select("row", "c").with_columns(text=_numbers(plain["value"])))
        if dated.height:
            rendered.append(dated.select("row", "c").with_columns(
                text=_dates(dated["value"], workbook.is_1904)))
    return pl.concat(rendered).rename({"c": "col"})


def _column_index(letters: str) -> int:
    index = 0
    for letter in letters:
        index = index * 26 + ord(letter) - 64
    return index - 1


def _grid(cells: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """The cells as calamine's range: columns from the first used to the last used one, rows
    from the first used to the last used; returns the frame (columns c0..) and its first row."""
    if cells.is_empty():
        return pl.DataFrame(), 1
    if (cells["row"] * 20_000 + cells["col"]).is_duplicated().any():
        raise NotFast("a cell written twice")
    first_row, last_row = cells["row"].min(), cells["row"].max()
    first_col, last_col = cells["col"].min(), cells["col"].max()
    assert isinstance(first_row, int) and isinstance(last_row, int)
    assert isinstance(first_col, int) and isinstance(last_col, int)
    height = last_row - first_row + 1
    position = (cells["row"] - first_row).cast(pl.Int64)
    columns = {}
    by_column = cells.with_columns(position=position).partition_by("col", as_dict=True)
    for col in range(first_col, last_col + 1):
        series = pl.Series(f"c{col - first_col}", [None], dtype=pl.String).extend_constant(
            None, height - 1)
        part = by_column.get((col,))
        if part is not None:
            series = series.scatter(part["position"], part["text"])
        columns[series.name] = series
    return pl.DataFrame(columns), first_row


# ------------------------------------------------------------------------------------------
# The reader
# ------------------------------------------------------------------------------------------

@dataclass
class WorkbookParts:
    archive: zipfile.ZipFile
    sheets: list[SheetPart]
    style_kinds: list[str]
    is_1904: bool
    sst_member: str | None
    _sst: list[str] | None = None

    def shared_strings(self, count: int) -> pl.Series:
        """At least the first ``count`` shared strings (fewer if the table is shorter)."""
        if self._sst is None or len(self._sst) < count:
            try:
                self._sst = _shared_strings(self.archive, self.sst_member, count)
            except _READ_ERRORS as error:
                raise NotFast(f"shared strings: {error}") from error
        return pl.Series("sst", self._sst, dtype=pl.String)


def open_parts(archive: zipfile.ZipFile) -> WorkbookParts:
    try:
        return WorkbookParts(archive, sheet_parts(archive), _style_kinds(archive),
                             _uses_1904(archive), _shared_strings_member(archive))
    except _READ_ERRORS as error:
        raise NotFast(f"workbook parts: {error}") from error


def read_head(parts: WorkbookParts, member: str, rows: int) -> tuple[pl.DataFrame, int]:
    """The first ``rows`` rows of a worksheet's range as calamine's
    ``load_sheet(header_row=None, dtypes="string")`` gives them (columns c0..cN from the first
    used column of those rows), and the 1-based sheet row of the range's first row.

    Only as much of the sheet part is inflated and parsed as those rows need (pieces of
    256 KiB), where calamine parses the whole sheet even for ``n_rows``.
    """
    try:
        return _head_of(parts, member, rows)
    except _READ_ERRORS as error:
        raise NotFast(f"sheet part: {error}") from error


def _head_of(parts: WorkbookParts, member: str, rows: int) -> tuple[pl.DataFrame, int]:
    found: list[pl.DataFrame] = []
    for piece in _row_pieces(_inflated(parts.archive, member, HEAD_BYTES)):
        found.append(_render(_piece_cells(piece), parts))
        cells = pl.concat(found)
        if cells.height and (cells["row"].max() or 0) >= (cells["row"].min() or 0) + rows:
            break
    if not found:
        return pl.DataFrame(), 1
    cells = pl.concat(found)
    if cells.height:
        cells = cells.filter(pl.col("row") < (cells["row"].min() or 0) + rows)
    return _grid(cells)
