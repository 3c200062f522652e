"""Encodings: the marker for bytes that do not decode, and a guess for the error message.

The CSV and JSON-lines readers work on UTF-8 (`ingest.stream` converts while reading). Bytes that
do not decode are kept visibly as `\\xNN` escapes behind a U+FFFD marker, so the row they sit in is
quarantined as `undecodable_bytes` with its original bytes still readable, and every other row loads.
"""

from __future__ import annotations

import codecs
from pathlib import Path

UNDECODABLE_MARK = "\ufffd"
ERROR_HANDLER = "cdp_mark_undecodable"
UTF8_NAMES = {"utf-8", "utf8", "utf_8", "utf-8-sig", "utf_8_sig"}


def _mark_undecodable(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    bad = error.object[error.start : error.end]
    return UNDECODABLE_MARK + "".join(f"\\x{b:02x}" for b in bad), error.end


codecs.register_error(ERROR_HANDLER, _mark_undecodable)


def is_utf8(encoding: str) -> bool:
    return codecs.lookup(encoding).name in {codecs.lookup(n).name for n in UTF8_NAMES}


def guess_encoding(path: Path, candidates: tuple[str, ...] = ("utf-8", "gb18030", "big5")) -> str | None:
    """The first candidate that decodes the file's first chunk: a hint for the error message only.

    UTF-16 decodes almost any even-length run of bytes, so it is offered only for a sample that
    looks like it (a byte order mark, or NUL bytes in a fifth of its positions, as ASCII text in
    UTF-16 has): a Latin-1 file must not be told to read itself as UTF-16."""
    with path.open("rb") as handle:
        sample = handle.read(1 << 20)
    for candidate in candidates:
        if _is_utf16(candidate) and not _looks_utf16(sample):
            continue
        try:
            sample.decode(candidate)
        except UnicodeDecodeError as exc:
            if exc.start >= len(sample) - 4:  # a character cut by the sample's end
                return candidate
            continue
        return candidate
    return None


def _is_utf16(encoding: str) -> bool:
    return codecs.lookup(encoding).name.startswith("utf-16")


def _looks_utf16(sample: bytes) -> bool:
    return sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or sample.count(0) * 5 >= len(sample)
