"""Getting any declared encoding to UTF-8 without reading a file whole, and without losing bytes.

The CSV and JSON-lines readers work on UTF-8. A GBK file (or a file declared UTF-8 that is not) is
transcoded in chunks to a scratch file; bytes that do not decode are kept visibly as `\\xNN` escapes
behind a U+FFFD marker, so the row they sit in is quarantined as `undecodable_bytes` with its
original bytes still readable, and every other row loads.
"""

from __future__ import annotations

import codecs
from pathlib import Path

UNDECODABLE_MARK = "\ufffd"
ERROR_HANDLER = "cdp_mark_undecodable"
CHUNK_BYTES = 16 << 20
UTF8_NAMES = {"utf-8", "utf8", "utf_8", "utf-8-sig", "utf_8_sig"}


def _mark_undecodable(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    bad = error.object[error.start : error.end]
    return UNDECODABLE_MARK + "".join(f"\\x{b:02x}" for b in bad), error.end


codecs.register_error(ERROR_HANDLER, _mark_undecodable)


def is_utf8(encoding: str) -> bool:
    return codecs.lookup(encoding).name in {codecs.lookup(n).name for n in UTF8_NAMES}


def first_undecodable_offset(path: Path, encoding: str) -> int | None:
    """Byte offset of the first byte that does not decode, or None when the whole file decodes."""
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    offset = 0
    with path.open("rb") as handle:
        while True:
            chunk = handle.read(CHUNK_BYTES)
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                return offset + exc.start
            if not chunk:
                return None
            offset += len(chunk)


def transcode_to_utf8(source: Path, encoding: str, target: Path) -> None:
    """Stream `source` in `encoding` into UTF-8 `target`, marking undecodable bytes."""
    decoder = codecs.getincrementaldecoder(encoding)(ERROR_HANDLER)
    with source.open("rb") as reader, target.open("w", encoding="utf-8", newline="") as writer:
        while True:
            chunk = reader.read(CHUNK_BYTES)
            writer.write(decoder.decode(chunk, final=not chunk))
            if not chunk:
                return


def guess_encoding(path: Path, candidates: tuple[str, ...] = ("utf-8", "gb18030", "big5")) -> str | None:
    """The first candidate that decodes the file's first chunk: a hint for the error message only."""
    with path.open("rb") as handle:
        sample = handle.read(1 << 20)
    for candidate in candidates:
        try:
            sample.decode(candidate)
        except UnicodeDecodeError as exc:
            if exc.start >= len(sample) - 4:  # a character cut by the sample's end
                return candidate
            continue
        return candidate
    return None
