"""From the bytes of an SAP export to a grid of text cells, whatever the file claims to be.

The format is read from the first bytes, never the extension: SAP GUI's "Spreadsheet" .XLS is
tab-separated text, "unconverted" lists are pipe-separated text with dashed rules, HTML exports
are tables, and a real workbook is a zip (xlsx) or OLE2 (xls) file. Text may be UTF-8, UTF-16 or
cp1252, and real files mix cp1252 and UTF-8 bytes, so decoding never fails a file on its own.
"""

from __future__ import annotations

import codecs
import csv
import email
import io
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from html.parser import HTMLParser
from pathlib import Path
from xml.etree import ElementTree

import fastexcel
import polars as pl

from pipelines.sap import xlsx
from pipelines.sap.headers import HeaderMatch, match_header
from pipelines.sap.xlsx import NotFast
from pipelines.settings import Settings

HEADER_SEARCH_ROWS = 60
TEXT_SEPARATORS = ("\t", "|", ";", ",")


@dataclass(frozen=True)
class HeaderRule:
    """Which header rows a reader accepts, and how a refusal names what it looked for."""

    accepts: Callable[[HeaderMatch], bool]
    expected: str  # e.g. "an MM60, MB52 or count sheet"
    needs: str  # e.g. "Material and Plant columns plus ..."


# SAP exports and count sheets: a header whose columns make it one of the export kinds.
EXPORT_HEADER = HeaderRule(
    accepts=lambda match: match.kind is not None,
    expected="an MM60, MB52 or count sheet",
    needs="Material and Plant columns plus stock, master-data or counted-quantity columns",
)


class UnreadableFile(ValueError):
    """The file is not an export WICS can read; the message says why, for a person, and
    ``row`` the file's row or line where the problem is, when it is in one place."""

    def __init__(self, message: str, row: int | None = None) -> None:
        super().__init__(message)
        self.row = row
        self.open_quote = False  # a quote still open where the text read ended


# A line may hold many fields, but one this many times the field limit is not an export line;
# refusing it before decoding keeps a 200 MB file without a newline from costing gigabytes.
LINE_LIMIT_FIELDS = 4


@dataclass(frozen=True)
class Grid:
    """Every cell of the table part of a file as text, with the file's own row numbers."""

    cells: pl.DataFrame  # columns c0..cN (String) and "_row" (1-based row/line in the file)
    header: HeaderMatch
    header_row: int  # 1-based row/line number of the header in the file
    file_format: str
    encoding: str | None = None
    sheet: str | None = None


def _cp1252_fallback(error: UnicodeError) -> tuple[str, int]:
    # One undecodable byte at a time as cp1252 (latin-1 for its five unassigned bytes), so the
    # UTF-8 sequences around it still decode as UTF-8.
    assert isinstance(error, UnicodeDecodeError)
    chunk = error.object[error.start : error.end]
    return "".join(
        bytes([b]).decode("cp1252", errors="strict") if b not in b"\x81\x8d\x8f\x90\x9d"
        else chr(b) for b in chunk
    ), error.end


codecs.register_error("wics_cp1252", _cp1252_fallback)

# The same mapping as a table, for a file with no UTF-8 sequence at all: decoding it whole in C
# gives the text the per-byte fallback would, at memory speed.
_CP1252_TABLE = "".join(
    chr(b) if b in b"\x81\x8d\x8f\x90\x9d" else bytes([b]).decode("cp1252") for b in range(256)
)


def _has_utf8_pair(data: bytes) -> bool:
    """Whether a UTF-8 lead byte is followed by a continuation byte anywhere in ``data``
    (``[\\xc2-\\xf4][\\x80-\\xbf]``), looking only at the bytes above ASCII."""
    import numpy as np  # not at import: numpy costs every start of ``wics`` a tenth of a second

    codes = np.frombuffer(data, dtype=np.uint8)
    high = np.flatnonzero(codes >= 0x80)
    high = high[high + 1 < len(codes)]
    lead, follower = codes[high], codes[high + 1]
    return bool(np.any((lead >= 0xC2) & (lead <= 0xF4) & (follower >= 0x80) & (follower <= 0xBF)))


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode text bytes; returns the text and the encoding found."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16"), "utf-16"
    if data.startswith(codecs.BOM_UTF8):
        data = data[3:]
    head = data[:4096]
    if head and head.count(b"\x00") > len(head) // 4:
        # UTF-16 without a byte order mark: ASCII text has its NULs on one side.
        odd_nuls = head[1::2].count(b"\x00")
        encoding = "utf-16-le" if odd_nuls > head[0::2].count(b"\x00") else "utf-16-be"
        return data.decode(encoding, errors="replace"), encoding
    return _decode_8bit(data)


def _decode_8bit(data: bytes) -> tuple[str, str]:
    """UTF-8, cp1252 or a mix of both (a file's later batches: no byte order mark there)."""
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        if not _has_utf8_pair(data):
            # No byte pair of a UTF-8 sequence: every byte above ASCII is a cp1252 byte.
            return codecs.charmap_decode(data, "strict", _CP1252_TABLE)[0], "cp1252"
        return data.decode("utf-8", errors="wics_cp1252"), "utf-8 with cp1252 bytes"


def _is_utf16(data: bytes) -> bool:
    """Whether text starting with these bytes is UTF-16 (a byte order mark, or NULs)."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return True
    head = (data[3:] if data.startswith(codecs.BOM_UTF8) else data)[:4096]
    return bool(head) and head.count(b"\x00") > len(head) // 4


def sniff_format(head: bytes) -> str:
    """The real format of a file from its first bytes."""
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "xls"
    probe = head[:8192]
    if probe.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or probe.count(b"\x00") > 64:
        probe = decode_text(probe)[0].encode("utf-8", errors="replace")
    lowered = probe.lower().lstrip(b"\xef\xbb\xbf \t\r\n")
    if lowered.startswith(b"mime-version") or b"content-type: multipart/related" in lowered:
        return "mhtml"
    if lowered.startswith((b"<!doctype html", b"<html", b"<?xml", b"<table", b"<meta")) or (
        b"<table" in lowered and b"</td>" in lowered
    ):
        return "html"
    return "text"


def check_zip(path: Path, settings: Settings) -> None:
    """Refuse a zip whose inflated size or compression ratio is absurd, before inflating it."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except zipfile.BadZipFile as error:
        raise UnreadableFile(f"not a valid xlsx file (damaged zip archive: {error})") from error
    inflated = sum(m.file_size for m in members)
    packed = max(sum(m.compress_size for m in members), 1)
    limit = settings.max_inflated_mb * 1024 * 1024
    if inflated > limit:
        raise UnreadableFile(
            f"xlsx inflates to {inflated / 2**20:,.0f} MiB, over the limit of "
            f"{settings.max_inflated_mb:,.0f} MiB (WICS_MAX_INFLATED_MB); refused unread"
        )
    for member in members:
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > 1024 * 1024 and ratio > settings.max_compression_ratio:
            raise UnreadableFile(
                f"xlsx member {member.filename} is compressed {ratio:,.0f}:1 "
                f"(limit {settings.max_compression_ratio:,.0f}:1, WICS_MAX_COMPRESSION_RATIO); "
                "this looks like a zip bomb and was refused unread"
            )
    if inflated / packed > settings.max_compression_ratio:
        raise UnreadableFile(
            f"xlsx is compressed {inflated / packed:,.0f}:1 overall; refused unread"
        )


def _first_rows_of_sheets(path: Path) -> list[int]:
    """1-based number of each sheet's first used row (calamine trims leading empty rows)."""
    firsts: list[int] = []
    try:
        with zipfile.ZipFile(path) as archive:
            for sheet in xlsx.sheet_members(archive):
                with archive.open(sheet.member) as stream:
                    head = stream.read(256 * 1024).decode("utf-8", errors="replace")
                match = re.search(r"<(?:\w+:)?row\b[^>]*?\br=\"(\d+)\"", head)
                firsts.append(int(match.group(1)) if match else 1)
    except (KeyError, ElementTree.ParseError, zipfile.BadZipFile):
        return []
    return firsts


def _best_header(rows: list[list[object]],
                 rule: HeaderRule = EXPORT_HEADER) -> tuple[int, HeaderMatch] | None:
    best: tuple[int, HeaderMatch] | None = None
    for index, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        match = match_header(row)
        if not rule.accepts(match):
            continue
        if best is None or match.score > best[1].score:
            best = (index, match)
    return best


def _grid_from_rows(rows: list[list[str]], row_numbers: list[int]) -> pl.DataFrame:
    width = max((len(r) for r in rows), default=0)
    columns = {f"c{i}": [r[i] if i < len(r) else None for r in rows] for i in range(width)}
    frame = pl.DataFrame(columns, schema={name: pl.String for name in columns})
    return frame.with_columns(pl.Series("_row", row_numbers, dtype=pl.Int64))


def read_workbook(path: Path, file_format: str, settings: Settings,
                  rule: HeaderRule = EXPORT_HEADER) -> Grid:
    if file_format == "xlsx":
        check_zip(path, settings)
    try:
        reader = fastexcel.read_excel(path)
    except Exception as error:  # calamine raises its own error types per format problem
        raise UnreadableFile(f"cannot open the workbook: {error}") from error
    heads = _xlsx_heads(path, rule) if file_format == "xlsx" else None
    if heads is not None and max(heads, default=-1) >= len(reader.sheet_names):
        heads = None  # the workbook lists sheets calamine does not: let calamine read them
    if heads is None:
        # No look at the first rows first: every sheet is read until one has a header.
        first_rows = _first_rows_of_sheets(path) if file_format == "xlsx" else []
        candidates = {index: first_rows[index] if index < len(first_rows) else 1
                      for index in range(len(reader.sheet_names))}
    else:
        candidates = heads
    for index, offset in candidates.items():
        name = reader.sheet_names[index]
        # One read of the sheet: calamine parses the whole sheet even for n_rows, so the
        # header is searched in the rows of this one read. Eagerly: the cells then borrow
        # the shared strings instead of copying each (a fifth faster on Excel's files).
        sheet = pl.from_arrow(reader.load_sheet(index, header_row=None, dtypes="string",
                                                eager=True))
        assert isinstance(sheet, pl.DataFrame)
        found = _best_header([list(r) for r in sheet.head(HEADER_SEARCH_ROWS).rows()], rule)
        if found is None:
            continue
        header_index, header = found
        cells = sheet.rename({old: f"c{i}" for i, old in enumerate(sheet.columns)})
        cells = cells.with_row_index("_row", offset=offset).with_columns(
            pl.col("_row").cast(pl.Int64)
        )
        return Grid(cells.slice(header_index + 1), header, offset + header_index, file_format,
                    sheet=name)
    raise UnreadableFile(_no_header_message(reader.sheet_names, rule))


def _xlsx_head_matches(path: Path, rule: HeaderRule = EXPORT_HEADER
                       ) -> Iterator[tuple[int, int, HeaderMatch]]:
    """(sheet index, 1-based sheet row of its range's first row, header) of each sheet whose
    first rows hold a header, read from those rows alone (``pipelines.sap.xlsx``); raises
    NotFast when the fast reader cannot read them (calamine must read the sheets)."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise NotFast(str(error)) from error
    with archive:
        parts = xlsx.open_parts(archive)
        for index, sheet in enumerate(parts.sheets):
            frame, first_row = xlsx.read_head(parts, sheet.member, HEADER_SEARCH_ROWS)
            found = _best_header([list(r) for r in frame.rows()], rule)
            if found is not None:
                yield index, first_row, found[1]


def _xlsx_heads(path: Path, rule: HeaderRule = EXPORT_HEADER) -> dict[int, int] | None:
    """The sheets (by index) whose first rows hold a header, each with the 1-based sheet row
    of its range's first row; None when the fast reader cannot read them (calamine then reads
    every sheet)."""
    try:
        return {index: first_row for index, first_row, _ in _xlsx_head_matches(path, rule)}
    except (NotFast, zipfile.BadZipFile, OSError):
        return None


def _no_header_message(where: list[str] | None = None,
                       rule: HeaderRule = EXPORT_HEADER) -> str:
    place = f" in sheets {', '.join(where)}" if where else ""
    return (
        f"no header row of {rule.expected} found in the first {HEADER_SEARCH_ROWS} "
        f"rows{place} (a header needs {rule.needs})"
    )


def _split_line(line: str, separator: str) -> list[str]:
    if separator == "|":
        # Table lines are "|a|b|"; page titles and dashed rules between them are not rows.
        stripped = line.strip()
        if not stripped.startswith("|"):
            return []
        return stripped[1:].removesuffix("|").split("|")
    return line.split(separator)


def _split_quoted(line: str, separator: str) -> list[str]:
    try:
        return next(csv.reader([line], delimiter=separator))
    except (csv.Error, StopIteration):
        return []  # not a well-formed header line (header lines are never quoted oddly)


def _find_text_header(lines: list[str],
                      rule: HeaderRule = EXPORT_HEADER) -> tuple[int, HeaderMatch, str] | None:
    """The header line and separator: the split of the first lines that names most fields."""
    best: tuple[int, HeaderMatch, str] | None = None
    for separator in TEXT_SEPARATORS:
        split: Callable[[str], list[str]] = (
            (lambda s, sep=separator: _split_quoted(s, sep))
            if separator in ",;" else (lambda s, sep=separator: _split_line(s, sep))
        )
        # A header is short; a giant first line is data (and is refused by read_text).
        rows = [split(line) if line.strip() and len(line) <= 64 * 1024 else []
                for line in lines[:HEADER_SEARCH_ROWS]]
        found = _best_header(rows, rule)
        if found and (best is None or found[1].score > best[1].score):
            best = (found[0], found[1], separator)
    return best


def _line_too_long(number: int, length: int, limit: int) -> UnreadableFile:
    return UnreadableFile(
        f"line {number} is {length:,} bytes long without "
        f"a line break, over the limit of {limit:,} ({LINE_LIMIT_FIELDS} × "
        "WICS_MAX_FIELD_CHARS): a field over the size limit or a damaged file",
        row=number,
    )


def check_line_lengths(data: bytes, max_field_chars: int, first_line: int = 0) -> None:
    """Refuse, before decoding, a line far longer than any export line can be (``data`` is a
    piece of the file after ``first_line`` line breaks)."""
    limit = max_field_chars * LINE_LIMIT_FIELDS
    if len(data) <= limit:
        return
    import numpy as np

    # The line lengths of the whole file at once: the positions of its newlines, differenced.
    ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == ord("\n"))
    starts = np.concatenate(([0], ends + 1))
    lengths = np.append(ends, len(data)) - starts
    too_long = np.flatnonzero(lengths > limit)
    if too_long.size:
        index = int(too_long[0])
        raise _line_too_long(first_line + index + 1, int(lengths[index]), limit)


# Line breaks of str.splitlines other than \n and \r\n; polars splits lines on \n alone.
_OTHER_LINE_BREAKS = "[\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]"
# What str.strip() strips (Unicode white space), for the pipe lists' lines.
_PY_WHITESPACE = "".join(chr(c) for c in range(0x3001) if chr(c).isspace())


def text_lines(data: bytes, max_field_chars: int = 131_072, *, first_line: int = 0,
               start: bool = True) -> tuple[pl.Series, str]:
    """The lines of a text export (as ``str.splitlines`` cuts them) and the encoding found;
    a line over the length limit is refused first (``check_line_lengths``).

    Valid UTF-8 goes to polars' line reader as it is; other bytes are decoded losslessly
    (``decode_text``) and handed over re-encoded. Only a file with line breaks other than
    ``\n`` and ``\r\n`` (old Mac ``\r``, form feeds) is split by Python. ``data`` may be a
    later piece of a file (``start`` false, cut after a line break, ``first_line`` line breaks
    before it): no byte order mark or UTF-16 is looked for there.
    """
    lines: pl.Series | None = None
    encoding = "utf-8"
    plain = data[3:] if start and data.startswith(codecs.BOM_UTF8) else data
    decode = decode_text if start else _decode_8bit
    if not (start and _is_utf16(data)):
        try:
            lines = _polars_lines(plain)
        except pl.exceptions.ComputeError:  # not valid UTF-8
            lines = None
    if lines is not None:
        # Each line's bytes as polars holds them, plus the "\r" it cut: an upper bound of the
        # file's own line lengths, so the exact check runs only when a line comes near it.
        longest = lines.str.len_bytes().max()
        if isinstance(longest, int) and longest + 1 > max_field_chars * LINE_LIMIT_FIELDS:
            check_line_lengths(data, max_field_chars, first_line)
    text: str | None = None
    if lines is None:
        check_line_lengths(data, max_field_chars, first_line)  # before decoding: no giant line
        text, encoding = decode(data)
        lines = _polars_lines(text.encode("utf-8"))
    if lines.str.contains(_OTHER_LINE_BREAKS).any():
        if text is None:
            text, encoding = decode(data)
        lines = pl.Series("line", text.splitlines(), dtype=pl.String)
    return lines, encoding


def _polars_lines(data: bytes) -> pl.Series:
    if not data:
        return pl.Series("line", [], dtype=pl.String)
    return pl.read_lines(data, name="line").to_series()


def _plain_fields(body: pl.Series, separator: str) -> pl.Series:
    """Tab and pipe lines split into fields (no quoting: ``12"`` is an inch mark there)."""
    if separator != "|":
        return body.str.split(separator)
    # Table lines are "|a|b|"; page titles and dashed rules between them are not rows.
    stripped = body.str.strip_chars(_PY_WHITESPACE)
    return body.to_frame().select(
        pl.when(stripped.str.starts_with("|"))
        .then(stripped.str.slice(1).str.strip_suffix("|").str.split("|"))
    ).to_series()


def _quoted_fields(body: pl.Series, separator: str, first_line: int, max_field_chars: int,
                   last: bool = True) -> pl.Series | tuple[list[list[str]], list[int]]:
    """Comma/semicolon lines split into fields, quotes honoured strictly, in polars.

    A line is split here only when it is a well-formed record on its own line (the regular
    expression of a strict CSV record); a file with any other line (an unbalanced quote, a
    field over the size limit, a NUL) goes through the csv module whole (``_quoted_rows``),
    which refuses it with the line and reason. ``last``: the body ends the file.
    """
    s = separator
    field = f'"(?:[^"]|"")*"|[^"{s}\\x00][^{s}\\x00]*'
    quoted = body.str.contains('"', literal=True)
    suspicious = body.str.contains("\x00", literal=True)
    longest = body.str.len_bytes().max()
    if isinstance(longest, int) and longest > max_field_chars:  # a character: 1 to 4 bytes
        suspicious = suspicious | (body.str.len_chars() > max_field_chars)
    if quoted.any():  # the record pattern only where there is a quote to check
        suspicious = suspicious | (quoted & ~body.str.contains(
            f"^(?:{field})?(?:{s}(?:{field})?)*$"))
    if last and body.len() and body[-1] == "":
        # The csv module ends the file at the last line break: a last empty line is no row.
        body = body.head(-1)
        quoted, suspicious = quoted.head(-1), suspicious.head(-1)
    if suspicious.any():
        return _quoted_rows("\n".join(body.to_list()), separator, first_line, max_field_chars)
    if not quoted.any():
        # The csv module reads an empty line as a row without fields.
        return body.to_frame("line").select(
            pl.when(pl.col("line") != "").then(pl.col("line").str.split(separator))
        ).to_series()
    unquoted = pl.element().str.strip_prefix(s)
    split = pl.col("line").str.split(separator)
    # Every field after a separator: the line is given a leading one, so no match is empty.
    parsed = (pl.lit(s) + pl.col("line")).str.extract_all(f"{s}(?:{field})?").list.eval(
        pl.when(unquoted.str.starts_with('"'))
        .then(unquoted.str.slice(1, unquoted.str.len_chars() - 2)
              .str.replace_all('""', '"', literal=True))
        .otherwise(unquoted)
    )
    lines = pl.DataFrame({"line": body, "quoted": quoted}).with_row_index("i")
    # Each line through the cheaper split it needs (a plain split where it has no quote).
    fields = pl.concat([
        lines.filter(~pl.col("quoted")).select("i", fields=split),
        lines.filter(pl.col("quoted")).select("i", fields=parsed),
    ]).sort("i").with_columns(line=body)
    # The csv module reads an empty line as a row without fields.
    return fields.select(pl.when(pl.col("line") != "").then(pl.col("fields"))).to_series()


def _quoted_rows(body: str, separator: str, first_line: int,
                 max_field_chars: int) -> tuple[list[list[str]], list[int]]:
    """Rows of a comma/semicolon file, quotes honoured strictly.

    A quote that is not closed on its own line is a malformed file: merging the lines after it
    into one field would silently drop them (``"12 INCH PIPE;5`` swallowing the rest).
    """
    rows: list[list[str]] = []
    numbers: list[int] = []
    previous_limit = csv.field_size_limit(max_field_chars)
    reader = csv.reader(io.StringIO(body), delimiter=separator, strict=True)
    line = first_line
    try:
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                break
            except csv.Error as error:
                at = first_line + reader.line_num
                reason = str(error)
                if "field larger than field limit" in reason:
                    raise UnreadableFile(
                        f"line {line + 1} has a field over the size limit of "
                        f"{max_field_chars:,} characters (WICS_MAX_FIELD_CHARS)", row=line + 1,
                    ) from error
                if "unexpected end of data" in reason:
                    unclosed = UnreadableFile(
                        f'line {line + 1}: a quote (") is opened and never closed; the '
                        "rest of the file would be read as one field, so nothing was loaded",
                        row=line + 1)
                    unclosed.open_quote = True  # a batch's end: the next one may close it
                    raise unclosed from error
                if at > line + 1:  # the record began on an earlier line: its quote is open
                    raise UnreadableFile(
                        f'line {line + 1}: a quote (") opened on this line is not closed on '
                        f"it (unbalanced quote; a field may not span lines), so nothing was "
                        "loaded", row=line + 1) from error
                raise UnreadableFile(f"line {at}: malformed quoting ({reason})", row=at) from error
            if reader.line_num - (line - first_line) > 1:
                raise UnreadableFile(
                    f'line {line + 1}: a quote (") opened on this line closes only on line '
                    f"{first_line + reader.line_num}; a field may not span lines in a "
                    f"{'semicolon' if separator == ';' else 'comma'}-separated export "
                    "(an unbalanced quote), so nothing was loaded", row=line + 1)
            line = first_line + reader.line_num
            rows.append(fields)
            numbers.append(line)
    finally:
        csv.field_size_limit(previous_limit)
    return rows, numbers


def _grid_from_fields(fields: pl.Series, first_number: int) -> pl.DataFrame:
    """Cells c0..cN from lists of fields (null: a line without fields), numbered from
    ``first_number``."""
    width = fields.list.len().max() or 0
    assert isinstance(width, int)
    return fields.to_frame("f").select(
        *[pl.col("f").list.get(i, null_on_oob=True).alias(f"c{i}") for i in range(width)],
        pl.int_range(first_number, first_number + fields.len(), dtype=pl.Int64).alias("_row"))


TEXT_FORMATS = {"\t": "tab-separated text", "|": "pipe-separated text (unconverted list)",
                 ";": "semicolon-separated text", ",": "comma-separated text"}


def _text_header(lines: pl.Series, rule: HeaderRule) -> tuple[int, HeaderMatch, str]:
    best = _find_text_header(lines.head(HEADER_SEARCH_ROWS).to_list(), rule)
    if best is None:
        raise UnreadableFile(_no_header_message(rule=rule))
    return best


def _text_cells(body: pl.Series, separator: str, first_line: int, max_field_chars: int,
                last: bool = True) -> pl.DataFrame:
    """The cells of the lines ``body``, the first of which is line ``first_line + 1``."""
    if separator in ",;":
        fields = _quoted_fields(body, separator, first_line, max_field_chars, last)
    else:
        fields = _plain_fields(body, separator)
    if isinstance(fields, tuple):
        return _grid_from_rows(*fields)
    return _grid_from_fields(fields, first_line + 1)


def read_text(data: bytes, max_field_chars: int = 131_072,
              rule: HeaderRule = EXPORT_HEADER) -> Grid:
    """A whole text export in one grid (``read_text_batches`` reads a file batch by batch)."""
    lines, encoding = text_lines(data, max_field_chars)
    header_index, header, separator = _text_header(lines, rule)
    cells = _text_cells(lines.slice(header_index + 1), separator, header_index + 1,
                        max_field_chars)
    return Grid(cells, header, header_index + 1, TEXT_FORMATS[separator], encoding)


def _file_encoding(pieces: list[str]) -> str:
    """The encoding of a whole file from its pieces' (``_decode_8bit``'s, ``"ascii"`` for a
    UTF-8 piece of ASCII alone): as decoding the file at once would name it."""
    if all(e in ("utf-8", "ascii") for e in pieces):
        return "utf-8"
    if "utf-8" in pieces or "utf-8 with cp1252 bytes" in pieces:
        return "utf-8 with cp1252 bytes"  # a UTF-8 sequence somewhere, other bytes elsewhere
    return "cp1252"


def _text_pieces(path: Path, batch_bytes: int,
                 line_limit: int) -> Iterator[tuple[bytes, int, bool]]:
    """The bytes of a text file in pieces of about ``batch_bytes`` that end after a line
    break (the last one at the end of the file), each with the number of line breaks before
    it and whether it is the last. The first piece holds the lines the header is looked for
    in. A line longer than ``line_limit`` is refused as soon as it is seen, so no piece holds
    more than ``batch_bytes`` plus one line."""
    size = path.stat().st_size
    with path.open("rb") as stream:
        pending = b""
        before = 0  # line breaks before ``pending``
        first = True
        while True:
            data = pending + stream.read(batch_bytes)
            if stream.tell() >= size:
                yield data, before, True
                return
            cut = data.rfind(b"\n") + 1
            if len(data) - cut > line_limit:
                length = len(data) - cut
                while block := stream.read(1024 * 1024):  # the whole line's length
                    end = block.find(b"\n")
                    length += len(block) if end < 0 else end
                    if end >= 0:
                        break
                raise _line_too_long(before + data.count(b"\n", 0, cut) + 1, length,
                                     line_limit)
            if cut == 0 or (first and data.count(b"\n", 0, cut) <= HEADER_SEARCH_ROWS):
                pending = data
                continue
            pending = data[cut:]
            yield data[:cut], before, False
            before += data.count(b"\n", 0, cut)
            first = False


def read_text_batches(path: Path, settings: Settings,
                      rule: HeaderRule = EXPORT_HEADER) -> Iterator[Grid]:
    """A text export as grids of about ``WICS_TEXT_BATCH_BYTES`` of the file each, in file
    order, with the file's own line numbers: memory follows the batch, not the file.

    Every batch is read exactly as ``read_text`` reads the whole file (the same lines, cells,
    refusals and line numbers); each grid's ``encoding`` is the file's so far. A UTF-16 file
    is read whole. A comma/semicolon batch ending inside an open quote is read again with the
    next one, so the refusal names the lines a whole-file read would.
    """
    max_chars = settings.max_field_chars
    with path.open("rb") as stream:
        if _is_utf16(stream.read(4096)):
            yield read_text(path.read_bytes(), max_chars, rule)
            return
    found: tuple[int, HeaderMatch, str] | None = None
    encodings: list[str] = []
    lines_before = 0  # lines of the earlier batches (as ``text_lines`` cuts them)
    carried: tuple[bytes, int] | None = None
    for piece, breaks_before, last in _text_pieces(path, settings.text_batch_bytes,
                                                   max_chars * LINE_LIMIT_FIELDS):
        if carried is not None:
            piece, breaks_before = carried[0] + piece, carried[1]
            carried = None
        start = found is None
        lines, encoding = text_lines(piece, max_chars, first_line=breaks_before, start=start)
        if found is None:
            found = _text_header(lines, rule)
            body, first = lines.slice(found[0] + 1), found[0] + 1
        else:
            body, first = lines, lines_before
        try:
            cells = _text_cells(body, found[2], first, max_chars, last)
        except UnreadableFile as error:
            if error.open_quote and not last:
                carried = (piece, breaks_before)
                found = None if start else found
                continue
            raise
        encodings.append("ascii" if encoding == "utf-8" and piece.isascii() else encoding)
        lines_before += lines.len()
        header_index, header, separator = found
        yield Grid(cells, header, header_index + 1, TEXT_FORMATS[separator],
                   encoding if start and last else _file_encoding(encodings))


class _TableParser(HTMLParser):
    """Collects the rows of every <table> in a page as lists of cell texts."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._row is not None and self._cell is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _html_of_mhtml(data: bytes) -> str:
    message = email.message_from_bytes(data)
    for part in message.walk():
        if part.get_content_type() == "text/html":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                charset = part.get_content_charset() or "utf-8"
                return payload.decode(charset, errors="replace")
    raise UnreadableFile("MHTML file without an HTML part")


def read_html(data: bytes, file_format: str, rule: HeaderRule = EXPORT_HEADER) -> Grid:
    if file_format == "mhtml":
        text, encoding = _html_of_mhtml(data), "mhtml"
    else:
        text, encoding = decode_text(data)
    parser = _TableParser()
    parser.feed(text)
    parser.close()
    found = _best_header(parser.rows, rule)
    if found is None:
        raise UnreadableFile(_no_header_message(rule=rule))
    header_index, header = found
    body = parser.rows[header_index + 1 :]
    # HTML rows have no line numbers a person can use; count table rows instead (header = 1).
    numbers = list(range(header_index + 2, header_index + 2 + len(body)))
    return Grid(_grid_from_rows(body, numbers), header, header_index + 1,
                "HTML table" if file_format == "html" else "MHTML table", encoding)


def identify(path: Path, settings: Settings) -> HeaderMatch:
    """The header (and so the export kind) of a file, reading only its first rows."""
    with path.open("rb") as stream:
        head = stream.read(256 * 1024)
    if not head:
        raise UnreadableFile("the file is empty")
    file_format = sniff_format(head)
    if file_format in ("xlsx", "xls"):
        if file_format == "xlsx":
            check_zip(path, settings)
            try:
                found_fast = next((match for _, _, match in _xlsx_head_matches(path)), None)
            except (NotFast, OSError):
                found_fast = None
            if found_fast is not None:
                return found_fast
        try:
            reader = fastexcel.read_excel(path)
        except Exception as error:
            raise UnreadableFile(f"cannot open the workbook: {error}") from error
        for index in range(len(reader.sheet_names)):
            rows = reader.load_sheet(index, header_row=None, n_rows=HEADER_SEARCH_ROWS,
                                     dtypes="string").to_polars().rows()
            found = _best_header([list(r) for r in rows])
            if found:
                return found[1]
        raise UnreadableFile(_no_header_message(reader.sheet_names))
    if file_format in ("html", "mhtml"):
        return read_grid(path, settings).header
    if len(head) % 2 and head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        head = head[:-1]
    found = _find_text_header(decode_text(head)[0].splitlines()[:HEADER_SEARCH_ROWS])
    if found is None:
        raise UnreadableFile(_no_header_message())
    return found[1]


def read_grid(path: Path, settings: Settings, rule: HeaderRule = EXPORT_HEADER) -> Grid:
    """Read any supported export into a grid; raise UnreadableFile with a reason otherwise.

    ``rule`` says which header rows count (default: an SAP export or count sheet); other
    spreadsheets WICS reads, like a schedule upload, pass their own.
    """
    grids = list(read_grid_batches(path, settings, rule))
    if len(grids) == 1:
        return grids[0]
    width = max(g.cells.width for g in grids) - 1
    cells = pl.concat([g.cells for g in grids], how="diagonal").select(
        *[f"c{i}" for i in range(width)], "_row")
    return replace(grids[-1], cells=cells)


def read_grid_batches(path: Path, settings: Settings,
                      rule: HeaderRule = EXPORT_HEADER) -> Iterator[Grid]:
    """``read_grid`` in batches: a text export batch by batch (``read_text_batches``), any
    other file as one grid. The whole-file refusals (empty, too big, binary) come first."""
    size = path.stat().st_size
    if size == 0:
        raise UnreadableFile("the file is empty")
    if size > settings.max_file_mb * 1024 * 1024:
        raise UnreadableFile(
            f"the file is {size / 2**20:,.0f} MiB, over the limit of {settings.max_file_mb:,.0f} "
            "MiB (WICS_MAX_FILE_MB)"
        )
    with path.open("rb") as stream:
        head = stream.read(64 * 1024)
    file_format = sniff_format(head)
    if file_format in ("xlsx", "xls"):
        yield read_workbook(path, file_format, settings, rule)
        return
    if file_format in ("html", "mhtml"):
        yield read_html(path.read_bytes(), file_format, rule)
        return
    if b"\x00" in head and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) \
            and head.count(b"\x00") < len(head) // 4:
        raise UnreadableFile("binary data, not a spreadsheet or text export")
    yield from read_text_batches(path, settings, rule)
