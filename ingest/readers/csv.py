"""Delimited text: streamed block by block with pyarrow, any encoding, bad records kept.

Records with the wrong number of fields (a truncated last line, a stray delimiter) are not dropped:
pyarrow hands them to us with their text and record number and they go to quarantine.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv

from ingest.encoding import UNDECODABLE_MARK, first_undecodable_offset, is_utf8, transcode_to_utf8
from ingest.errors import FileFailed
from ingest.readers.base import RawBatch, ReadRequest, rejects_frame, valid_row_numbers


def utf8_path(request: ReadRequest, encoding: str) -> Path:
    """The item itself when it is clean UTF-8, else a transcoded scratch copy (undecodable bytes marked)."""
    path = request.item.path
    assert path is not None
    if is_utf8(encoding):
        offset = first_undecodable_offset(path, encoding)
        if offset is None:
            return path
        request.notes.messages.append(
            f"not valid {encoding} from byte {offset:,}: undecodable rows quarantined" + _encoding_hint(path)
        )
    target = request.scratch / (request.item.sha256 + ".utf8")
    transcode_to_utf8(path, encoding, target)
    return target


def _encoding_hint(path: Path) -> str:
    from ingest.encoding import guess_encoding

    guess = guess_encoding(path, ("gb18030", "big5", "utf-16"))
    return f" (it decodes as {guess}: set `encoding` or `encoding_overrides` for this file)" if guess else ""


def header(path: Path, delimiter: str) -> list[str]:
    try:
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(block_size=1 << 20),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, newlines_in_values=True, invalid_row_handler=lambda _row: "skip"
            ),
        )
    except pa.ArrowInvalid as exc:
        if "Empty CSV file" in str(exc):
            raise FileFailed("file is empty: no header and no rows") from exc
        raise FileFailed(f"cannot parse the header: {exc}") from exc
    names = [name.strip().lstrip("\ufeff") for name in reader.schema.names]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise FileFailed(f"duplicate column(s) in the header: {', '.join(duplicates)}")
    return names


def read_csv(request: ReadRequest) -> Iterator[RawBatch]:
    entity = request.entity
    path = utf8_path(request, entity.encoding_for(request.item.name))
    names = header(path, entity.delimiter)
    invalid: dict[int, tuple[str, int, int]] = {}

    def keep_invalid(row: pacsv.InvalidRow) -> str:
        invalid[row.number - 1] = (row.text, row.expected_columns, row.actual_columns)
        return "skip"

    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(
            use_threads=False, block_size=request.block_bytes, column_names=names, skip_rows=1
        ),
        parse_options=pacsv.ParseOptions(
            delimiter=entity.delimiter, newlines_in_values=True, invalid_row_handler=keep_invalid
        ),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in names}, strings_can_be_null=True
        ),
    )
    next_number = 1
    produced = False
    for batch in reader:
        produced = True
        numbers, next_number = valid_row_numbers(next_number, batch.num_rows, set(invalid))
        done = [n for n in invalid if n < next_number]
        yield RawBatch(pl.from_arrow(pa.Table.from_batches([batch])), numbers, _reject_rows(invalid, done))
    if invalid or not produced:  # bad records after the last good one (a truncated last line), or header only
        empty = pl.DataFrame(schema=dict.fromkeys(names, pl.String))
        yield RawBatch(empty, np.empty(0, dtype=np.int64), _reject_rows(invalid, list(invalid)))


def _reject_rows(invalid: dict[int, tuple[str, int, int]], numbers: list[int]) -> pl.DataFrame:
    """Quarantine rows for the records pyarrow skipped; they leave `invalid` once reported."""
    rows = []
    for n in sorted(numbers):
        text, expected, actual = invalid.pop(n)
        if UNDECODABLE_MARK in text:
            rows.append((n, text, "undecodable_bytes", "bytes that do not decode in the declared encoding"))
        else:
            rows.append((n, text, "wrong_column_count", f"expected {expected} fields, found {actual}"))
    return rejects_frame(rows)
