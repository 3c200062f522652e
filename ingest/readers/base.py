"""What every format reader produces: batches of raw text rows plus the rows it could not read.

Readers are small and know only their format. They yield `RawBatch`es (every column as text,
source column names, 1-based record numbers) and the records they could not split into the right
columns, and leave validation, lineage and writing to the loader.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa

from ingest.config import EntityConfig
from ingest.landing import LandedItem

REJECT_SCHEMA: dict[str, pl.DataType] = {
    "row_number": pl.Int64(),
    "raw": pl.String(),
    "reason": pl.String(),
    "detail": pl.String(),
}


@dataclass
class RawBatch:
    """Rows as text (`data`), their record numbers in the item, and records rejected while reading.

    `data` may stay an Arrow table (what pyarrow's CSV reader gives): the loader converts the rows of
    many files at once, which is much cheaper than one conversion per small file.
    """

    data: pl.DataFrame | pa.Table
    row_numbers: np.ndarray
    rejects: pl.DataFrame | None = None  # None: nothing rejected
    marked: bool = True  # a value may carry the undecodable-bytes marker (False: the stream saw none)
    row_hashes: pl.Series | None = None  # `_row_hash` when the reader computed it on the way (JSON lines)

    @property
    def columns(self) -> list[str]:
        return list(self.data.column_names if isinstance(self.data, pa.Table) else self.data.columns)

    @property
    def rows_read(self) -> int:
        """Records read: rows plus rejects (what reconciliation counts)."""
        return len(self.row_numbers) + (0 if self.rejects is None else self.rejects.height)


@dataclass
class ReadNotes:
    """What a reader observed about an item beyond its rows (for the manifest and the schema registry)."""

    messages: list[str] = field(default_factory=list)
    physical_types: dict[str, str] = field(default_factory=dict)
    sha256: str | None = None  # set by readers that hash while reading (one pass over the file)


@dataclass(frozen=True)
class ReadRequest:
    """One item to read. `con` is the source run's DuckDB connection: opening one costs ~0.1 s,
    far more than reading a monthly export, so readers share it instead of opening their own."""

    item: LandedItem
    entity: EntityConfig
    block_bytes: int
    notes: ReadNotes
    con: duckdb.DuckDBPyConnection


Reader = Callable[[ReadRequest], Iterator[RawBatch]]


def rejects_frame(rows: list[tuple[int, str, str, str]]) -> pl.DataFrame | None:
    """Rejected records as a frame; None when there are none (the common case costs nothing)."""
    return pl.DataFrame(rows, schema=REJECT_SCHEMA, orient="row") if rows else None


def valid_row_numbers(start: int, count: int, invalid: set[int]) -> tuple[np.ndarray, int]:
    """The `count` record numbers from `start` on that are not invalid; returns them and the next start.

    Readers that skip bad records (pyarrow's CSV parser) report the skipped record numbers; the
    rows that did parse take the numbers in between, so every record keeps its place in the file.
    """
    numbers = np.empty(count, dtype=np.int64)
    filled = 0
    current = start
    # Walk only over the (few) invalid numbers in the window; the rest is a vectorised arange.
    for bad in sorted(n for n in invalid if n >= start):
        if filled >= count:
            break
        take = min(bad - current, count - filled)
        numbers[filled : filled + take] = np.arange(current, current + take)
        filled += take
        current += take
        if current == bad:
            current += 1
    if filled < count:
        numbers[filled:] = np.arange(current, current + count - filled)
        current += count - filled
    return numbers, current
