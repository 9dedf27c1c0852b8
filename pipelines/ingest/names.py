"""File names: dates in them, names safe to store, and free names in archive/ and rejected/.

File systems allow 255 bytes per name. A file dropped with a 250-byte name must still be
archived or rejected, and its rejected copy needs room for ``.error.txt`` and a ``.N`` counter,
so every name WICS writes is fitted into that budget. Names come from people and browsers:
path parts, NUL, control characters and bytes that are not UTF-8 never reach the disk or the
database.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from pathlib import Path

NAME_MAX_BYTES = 255
ERROR_SUFFIX = ".error.txt"
# Room kept in every stored name for the error report suffix and a ".999" counter.
_RESERVED = len(ERROR_SUFFIX) + 4
_MAX_SUFFIX_BYTES = 16
UPLOAD_FALLBACK = "upload"


class NameDateError(ValueError):
    """A file name holds a date that does not exist (``MB52_2026-02-31.xlsx``)."""


_NAME_DATES = (
    (re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)"), (1, 2, 3), "{0}-{1}-{2}"),
    (re.compile(r"(?<!\d)(\d{2})\.(\d{2})\.(\d{4})(?!\d)"), (3, 2, 1), "{2}.{1}.{0}"),
    (re.compile(r"(?<!\d)(\d{4})(\d{2})(\d{2})(?!\d)"), (1, 2, 3), "{0}{1}{2}"),
)


def date_from_file_name(name: str) -> date | None:
    """``MB52_2026-11-20.xlsx``, ``MB52_20261120.XLS``, ``MB52 20.11.2026.txt``: 20 Nov 2026.

    Raises ``NameDateError`` for a written date that does not exist (31 February, month 13):
    loading such a file under another date would file its stock under the wrong day. Eight
    digits count as a date only when they start with a plausible year (19xx-21xx), so other
    numbers in a name are left alone.
    """
    for pattern, (y, m, d), shape in _NAME_DATES:
        for match in pattern.finditer(name):
            year, month, day = (int(match.group(i)) for i in (y, m, d))
            if shape == "{0}{1}{2}" and not 1900 <= year <= 2199:
                continue
            try:
                return date(year, month, day)
            except ValueError:
                raise NameDateError(
                    f'the file name holds the date "{match.group(0)}", which does not exist; '
                    "rename the file with the export's real date (or load it with --as-of)"
                ) from None
    return None


def printable_name(name: str) -> str:
    """A name as valid UTF-8 text: bytes a file system gave back undecoded (surrogate
    escapes) become U+FFFD, so the name can be logged, stored and shown."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _cut_utf8(text: str, max_bytes: int) -> str:
    """``text`` cut to at most ``max_bytes`` of UTF-8, never inside a character."""
    return text.encode("utf-8")[:max(max_bytes, 0)].decode("utf-8", "ignore")


def fit_name(name: str, max_bytes: int = NAME_MAX_BYTES - _RESERVED) -> str:
    """``name`` shortened (its stem, keeping a short extension) to ``max_bytes`` of UTF-8."""
    name = printable_name(name)
    if len(name.encode("utf-8")) <= max_bytes:
        return name
    stem, dot, suffix = name.rpartition(".")
    if not dot or not stem or len(suffix.encode("utf-8")) > _MAX_SUFFIX_BYTES:
        return _cut_utf8(name, max_bytes)
    suffix = "." + suffix
    return _cut_utf8(stem, max_bytes - len(suffix.encode("utf-8"))) + suffix


def free_name(folder: Path, name: str) -> Path:
    """``folder/name``, or ``stem.1.ext``, ``stem.2.ext``... when taken (error reports too).

    The name is fitted first, so the result and its ``.error.txt`` stay within 255 bytes.
    """
    target = folder / fit_name(name)
    stem, suffix, n = target.stem, target.suffix, 1
    while target.exists() or target.with_name(target.name + ERROR_SUFFIX).exists():
        target = folder / f"{stem}.{n}{suffix}"
        n += 1
    return target


def safe_upload_name(name: str | bytes) -> str:
    """The name an uploaded file gets in drop/: its last path part only (``../../x`` and
    ``C:\\x`` are cut to ``x``), no NUL or control characters, valid UTF-8, not hidden (the
    sensor skips dot files), and short enough to be archived or rejected."""
    if isinstance(name, bytes):
        name = name.decode("utf-8", "replace")
    name = printable_name(name)
    name = "".join(" " if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c
                   for c in name)
    name = name.replace("\\", "/").rsplit("/", 1)[-1].strip().lstrip(".~$ ").strip()
    if not name:
        return UPLOAD_FALLBACK
    # ".part" is added while the upload is written; the stored name must leave room for it.
    return fit_name(name, NAME_MAX_BYTES - _RESERVED - len(".part"))
