"""Parquet: streamed by row group; typed columns become text so bronze stays uniformly raw.

The text is what the landing checks and silver parse: timestamps in ISO 8601 with their fraction
(and offset, when zoned), as `standardize.timestamp_formats` reads them; floats written out in
digits, never in exponent notation, which no number pattern accepts.

The physical types are kept in the read notes: the schema registry compares them run to run,
which is how a retyped column is caught in a self-describing format.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from ingest.errors import FileFailed
from ingest.readers.base import RawBatch, ReadRequest


def read_parquet(request: ReadRequest) -> Iterator[RawBatch]:
    assert request.item.path is not None
    try:
        handle = pq.ParquetFile(request.item.path)
    except Exception as exc:
        raise FileFailed(f"not a readable Parquet file: {exc}") from exc
    request.notes.physical_types.update({f.name: str(f.type) for f in handle.schema_arrow})
    start = 1
    for batch in handle.iter_batches(batch_size=500_000):
        frame = pl.from_arrow(batch)
        assert isinstance(frame, pl.DataFrame)
        yield RawBatch(as_text(frame), np.arange(start, start + frame.height, dtype=np.int64))
        start += frame.height


# Polars casts a timestamp to "2026-10-01 10:00:00.000000" (zoned: "...+08:00"), which no configured
# format reads. In ISO form with a "T" (the fraction written only when not zero) it is what
# `%Y-%m-%dT%H:%M:%S%.f` and `%Y-%m-%dT%H:%M:%S%.f%z` parse.
TIMESTAMP_TEXT = "%Y-%m-%dT%H:%M:%S%.f"
ZONED_TIMESTAMP_TEXT = "%Y-%m-%dT%H:%M:%S%.f%:z"


def as_text(frame: pl.DataFrame) -> pl.DataFrame:
    """Every column as text; nested values as JSON text (what a JSON-lines source would give)."""
    out = []
    for name, dtype in frame.schema.items():
        if dtype.is_nested():
            # Encode {"name": value} and cut the wrapper off: JSON of the value itself.
            prefix = len(json.dumps({name: None})) - len("null}")
            encoded = pl.struct(pl.col(name)).struct.json_encode()
            text = encoded.str.slice(prefix, encoded.str.len_chars() - prefix - 1)
            out.append(pl.when(pl.col(name).is_not_null()).then(text).alias(name))
        elif isinstance(dtype, pl.Datetime):
            form = ZONED_TIMESTAMP_TEXT if dtype.time_zone else TIMESTAMP_TEXT
            out.append(pl.col(name).dt.strftime(form).alias(name))
        else:
            out.append(pl.col(name).cast(pl.String).alias(name))
    text = frame.select(out)
    floats = [name for name, dtype in frame.schema.items() if dtype.is_float()]
    return text.with_columns(plain_floats(frame[name], text[name]) for name in floats)


def plain_floats(values: pl.Series, text: pl.Series) -> pl.Series:
    """Float text in digits: Polars writes 1e20 as "1e+20" and 1e-7 as "1e-7", which no number parses.

    Only those few values (from 1e16 up, or below 1e-5) are rewritten, in NumPy's shortest digits
    that read back as the same float; the others keep the cast's text.
    """
    rows = text.str.contains("e", literal=True).fill_null(False).arg_true()
    if rows.is_empty():
        return text
    digits = [np.format_float_positional(v, trim="0") for v in values.gather(rows).to_numpy()]
    return text.scatter(rows, digits)
