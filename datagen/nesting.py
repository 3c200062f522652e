"""Nested columns (a web order's line items and status history) built from flat rows in one step.

The spool keeps everything flat, because nested Parquet columns are slow to write and to read; the
export nests rows just before writing JSON. Rows that belong together are already consecutive, so a
list column is only an offsets buffer over the flat values: no group-by and no copy of the values.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa


def nest(values: pl.DataFrame, counts: np.ndarray, name: str) -> pl.Series:
    """A list-of-struct column whose row i holds the next `counts[i]` rows of `values`, in order."""
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    if offsets[-1] != values.height:
        raise ValueError(f"counts add up to {offsets[-1]} rows, values have {values.height}")
    struct = values.rechunk().to_struct(name).to_arrow(compat_level=pl.CompatLevel.newest())
    array = pa.Array.from_buffers(
        pa.large_list(struct.type), len(counts), [None, pa.py_buffer(offsets)], children=[struct]
    )
    return pl.Series(name, array)
