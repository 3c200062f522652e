"""Parquet: streamed by row group; typed columns become text so bronze stays uniformly raw.

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
        else:
            out.append(pl.col(name).cast(pl.String).alias(name))
    return frame.select(out)
