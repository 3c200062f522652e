"""Delimited text: streamed block by block with pyarrow, any encoding, bad records kept.

The file is read once (`ingest.stream.LandingStream`: sha256 and UTF-8 conversion on the way).
Records with the wrong number of fields (a truncated last line, a stray delimiter) are not dropped:
pyarrow hands them to us with their text and record number and they go to quarantine. Values are
kept as written: only an empty field reads as missing (`N/A` in a date column is quarantined as an
unparseable date, not landed as a null), unless the source lists more `null_values`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ingest.config import DEFAULT_NULL_VALUES
from ingest.encoding import UNDECODABLE_MARK, guess_encoding, is_utf8
from ingest.errors import FileFailed
from ingest.readers.base import RawBatch, ReadRequest, rejects_frame, valid_row_numbers
from ingest.stream import LandingStream

HEADER_PEEK_BYTES = 64 << 10


def open_stream(request: ReadRequest) -> LandingStream:
    """The item as a one-pass UTF-8 stream in its declared encoding (`encoding_overrides` applied)."""
    assert request.item.path is not None
    encoding = request.entity.encoding_for(request.item.name)
    item = request.item
    return LandingStream(
        item.path, encoding, chunk_bytes=request.block_bytes, start=item.tail_from, head=item.head_bytes
    )


def close_stream(request: ReadRequest, stream: LandingStream) -> None:
    """Record what the pass learnt: the sha256 (when read to the end) and undecodable bytes."""
    request.notes.sha256 = stream.sha256()
    stream.close()
    encoding = request.entity.encoding_for(request.item.name)
    if stream.first_undecodable is not None and is_utf8(encoding):
        assert request.item.path is not None
        guess = guess_encoding(request.item.path, ("gb18030", "big5", "utf-16", "cp1252"))
        hint = (
            f" (it decodes as {guess}: set `encoding` or `encoding_overrides` for this file)" if guess else ""
        )
        request.notes.messages.append(
            f"not valid {encoding} from byte {stream.first_undecodable:,}: undecodable rows quarantined{hint}"
        )


def header(stream: LandingStream, delimiter: str) -> list[str]:
    """Column names from the first record (parsed with the csv module: quotes respected)."""
    text = stream.peek_text(HEADER_PEEK_BYTES)
    if not text.strip():
        raise FileFailed("file is empty: no header and no rows")
    first = next(csv.reader(io.StringIO(text), delimiter=delimiter), [])
    names = [name.strip().lstrip("\ufeff") for name in first]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise FileFailed(f"duplicate column(s) in the header: {', '.join(duplicates)}")
    return names


def read_csv(request: ReadRequest) -> Iterator[RawBatch]:
    entity = request.entity
    stream = open_stream(request)
    try:
        names = header(stream, entity.delimiter)
        invalid: dict[int, tuple[str, int, int]] = {}

        def keep_invalid(row: pacsv.InvalidRow) -> str:
            invalid[row.number - 1] = (row.text, row.expected_columns, row.actual_columns)
            return "skip"

        reader = pacsv.open_csv(
            stream,
            read_options=pacsv.ReadOptions(
                use_threads=False, block_size=request.block_bytes, column_names=names, skip_rows=1
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=entity.delimiter, newlines_in_values=True, invalid_row_handler=keep_invalid
            ),
            # Only the source's `null_values` are missing (by default an empty field). pyarrow's
            # default null markers ("N/A", "NULL", "NaN", "null"...) would turn a till's `N/A` in a
            # typed column into a silent null instead of a quarantined unparseable value, and would
            # erase text a source really wrote.
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in names},
                strings_can_be_null=True,
                null_values=entity.null_values if entity.null_values is not None else DEFAULT_NULL_VALUES,
            ),
        )
        next_number = 1
        produced = False
        for batch in reader:
            produced = True
            numbers, next_number = valid_row_numbers(next_number, batch.num_rows, set(invalid))
            done = [n for n in invalid if n < next_number]
            table, numbers, runaway = _without_runaway_quotes(
                pa.Table.from_batches([batch]), numbers, entity.delimiter
            )
            rejects = _reject_rows(invalid, done, entity.delimiter, runaway)
            yield RawBatch(table, numbers, rejects, marked=stream.marked)
        if (
            invalid or not produced
        ):  # bad records after the last good one (a truncated last line), or header only
            empty = pl.DataFrame(schema=dict.fromkeys(names, pl.String))
            yield RawBatch(
                empty, np.empty(0, dtype=np.int64), _reject_rows(invalid, list(invalid), entity.delimiter)
            )
    finally:
        close_stream(request, stream)


def _reject_rows(
    invalid: dict[int, tuple[str, int, int]],
    numbers: list[int],
    delimiter: str,
    runaway: list[tuple[int, str, str, str]] | None = None,
) -> pl.DataFrame | None:
    """Quarantine rows for the records pyarrow skipped (they leave `invalid` once reported) and
    the records a runaway quote ran into (`_without_runaway_quotes`)."""
    rows = list(runaway or [])
    for n in sorted(numbers):
        text, expected, actual = invalid.pop(n)
        if UNDECODABLE_MARK in text:
            rows.append((n, text, "undecodable_bytes", "bytes that do not decode in the declared encoding"))
        elif '"' in text and _runs_over_records(text.split("\n")[1:], delimiter, expected):
            detail = (
                f"expected {expected} fields, found {actual}: a quote that is not closed ran over "
                f"{text.count(chr(10))} more line(s) that look like records; fix the quoting and "
                "deliver the file again"
            )
            rows.append((n, text, "unbalanced_quote", detail))
        else:
            rows.append((n, text, "wrong_column_count", f"expected {expected} fields, found {actual}"))
    return rejects_frame(sorted(rows))


def _runs_over_records(lines: list[str], delimiter: str, columns: int) -> bool:
    """Whether any of a value's later lines holds as many delimiters as a record (not an address line)."""
    least = max(2, columns - 1)
    return any(line.count(delimiter) >= least for line in lines)


def _without_runaway_quotes(
    table: pa.Table, numbers: np.ndarray, delimiter: str
) -> tuple[pa.Table, np.ndarray, list[tuple[int, str, str, str]]]:
    """The records whose value ran on over lines that look like records of their own, taken out
    for quarantine (`unbalanced_quote`), and the rest.

    A quote opened and never closed makes the parser read the following lines into one field:
    with newlines allowed in values (addresses have them), the record still has its right number
    of fields and would land with the next records swallowed. A line inside a value holding as
    many delimiters as a record has is not an address line. Only values with a newline are looked
    at, so a clean file costs one substring scan per column.
    """
    suspect = None
    for column in table.columns:
        has_newline = pc.fill_null(pc.match_substring(column, "\n"), False)
        suspect = has_newline if suspect is None else pc.or_(suspect, has_newline)
    if suspect is None or not pc.any(suspect).as_py():
        return table, numbers, []
    keep = np.ones(table.num_rows, dtype=bool)
    rows = []
    for index in np.flatnonzero(np.asarray(suspect)):
        values = table.slice(int(index), 1).to_pylist()[0]
        for name, value in values.items():
            lines = (value or "").split("\n")[1:]
            if _runs_over_records(lines, delimiter, table.num_columns):
                keep[index] = False
                raw = delimiter.join("" if v is None else v for v in values.values())
                detail = (
                    f"field '{name}' opens a quote that is not closed: it runs over {len(lines)} more "
                    "line(s) that look like records; fix the quoting and deliver the file again"
                )
                rows.append((int(numbers[index]), raw, "unbalanced_quote", detail))
                break
    if not rows:
        return table, numbers, []
    return table.filter(pa.array(keep)), numbers[keep], rows
