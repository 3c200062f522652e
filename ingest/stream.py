"""Reading a landed text file once: sha256, size and conversion to UTF-8 in the same pass.

The CSV and JSON-lines readers parse UTF-8. Before, each file was read three times (sha256, a UTF-8
check, the parse) plus a transcoded scratch copy for GBK; per file that cost more than parsing the
small monthly exports. `LandingStream` is a file object that pyarrow reads from directly: every raw
chunk updates the sha256 and is checked as UTF-8 (valid bytes pass through untouched) or
transcoded from the declared encoding. Bytes that do not decode are kept visibly as `\\xNN`
escapes behind a U+FFFD marker, so the row they sit in is quarantined as `undecodable_bytes` with
its original bytes still readable, and every other row loads. Memory is one chunk, whatever the
file size.
"""

from __future__ import annotations

import codecs
import hashlib
import io
from pathlib import Path

import pyarrow as pa

from ingest.encoding import ERROR_HANDLER, UNDECODABLE_MARK, is_utf8

CHUNK_BYTES = 16 << 20
MARK_BYTES = UNDECODABLE_MARK.encode("utf-8")


class LandingStream(io.RawIOBase):
    """A read-only binary stream of `path` converted to UTF-8, hashing the raw bytes as they pass."""

    def __init__(
        self, path: Path, encoding: str, chunk_bytes: int = CHUNK_BYTES, start: int = 0, head: int = 0
    ):
        """`start` > 0 reads an append: the first `head` bytes (a header line), then from `start` on.

        The sha256 is then not the file's (`sha256()` gives None): the loader hashed it up front.
        """
        super().__init__()
        self._handle = path.open("rb")
        self._whole = start == 0
        self._preamble = b""
        if start:
            self._preamble = self._handle.read(head)
            self._handle.seek(start)
        self._chunk_bytes = chunk_bytes
        self._utf8 = is_utf8(encoding)
        self._decoder = None if self._utf8 else codecs.getincrementaldecoder(encoding)(ERROR_HANDLER)
        self._digest = hashlib.sha256()
        self._pending = b""  # raw bytes of a character cut by the chunk's end
        self._out = bytearray()  # converted bytes not yet handed out
        self._out_start = 0
        self._raw_offset = 0  # raw bytes consumed so far
        self._eof = False
        self.first_undecodable: int | None = None  # byte offset of the first undecodable byte
        self.marked = False  # undecodable bytes were marked: rows must be checked for the marker

    # -- what the loader asks after reading ------------------------------------------------
    def sha256(self) -> str | None:
        """The file's sha256, known once the stream was read to its end (None before)."""
        return self._digest.hexdigest() if self._eof and self._whole else None

    # -- io.RawIOBase ----------------------------------------------------------------------
    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        while len(self._out) - self._out_start < len(view) and not self._eof:
            self._fill()
        available = len(self._out) - self._out_start
        count = min(available, len(view))
        view[:count] = self._out[self._out_start : self._out_start + count]
        self._out_start += count
        if self._out_start > self._chunk_bytes:  # drop what was handed out, keep the buffer small
            del self._out[: self._out_start]
            self._out_start = 0
        return count

    def peek_text(self, limit: int = 1 << 20) -> str:
        """Up to `limit` converted bytes from the current position, decoded, without consuming them."""
        while len(self._out) - self._out_start < limit and not self._eof:
            self._fill()
        head = bytes(self._out[self._out_start : self._out_start + limit])
        return head.decode("utf-8", errors="replace")

    def close(self) -> None:
        self._handle.close()
        super().close()

    # -- conversion ------------------------------------------------------------------------
    def _fill(self) -> None:
        chunk = self._handle.read(self._chunk_bytes)
        if self._preamble:
            chunk, self._preamble = self._preamble + chunk, b""
        final = not chunk
        self._digest.update(chunk)
        start = self._raw_offset - len(self._pending)
        self._raw_offset += len(chunk)
        self._eof = final
        self._out += self._convert(self._pending + chunk if self._pending else chunk, start, final)

    def _convert(self, data: bytes, start: int, final: bool) -> bytes:
        """UTF-8 passes through once checked; anything else is transcoded, bad bytes marked."""
        if self._decoder is not None:
            converted = self._decoder.decode(data, final).encode("utf-8")
            self.marked = self.marked or MARK_BYTES in converted
            return converted
        complete = len(data) if final else _complete_length(data)
        self._pending = data[complete:]
        if _is_utf8(data[:complete] if self._pending else data):
            return data[:complete] if self._pending else data
        try:
            codecs.utf_8_decode(data, "strict", final)
        except UnicodeDecodeError as exc:
            if self.first_undecodable is None:
                self.first_undecodable = start + exc.start
        text, consumed = codecs.utf_8_decode(data, ERROR_HANDLER, final)
        self._pending = data[consumed:]
        self.marked = True
        return text.encode("utf-8")


def _complete_length(data: bytes) -> int:
    """Length of `data` without a UTF-8 character cut off at its end (kept for the next chunk)."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 != 0x80:  # not a continuation byte: the last character starts here
            needed = (
                2 if byte >> 5 == 0b110 else 3 if byte >> 4 == 0b1110 else 4 if byte >> 3 == 0b11110 else 1
            )
            return len(data) - back if needed > back else len(data)
    return len(data)


def _is_utf8(data: bytes) -> bool:
    """Arrow's validator (several GB/s, no copy) instead of decoding into a Python string."""
    offsets = pa.array([0, len(data)], pa.int64()).buffers()[1]
    array = pa.Array.from_buffers(pa.large_binary(), 1, [None, offsets, pa.py_buffer(data)])
    try:
        array.cast(pa.large_string())
    except pa.ArrowInvalid:
        return False
    return True
