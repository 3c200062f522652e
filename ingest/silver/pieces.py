"""Bounded memory for silver builds: split a bronze table into key pieces, write silver from spills.

Every silver step is local to a key: exact copies share every value (so their key), the latest
version of a key competes only with that key's other rows, a POS order is the sum of its own
lines. So a bronze table larger than `standardize.piece_rows` is split by a hash of its key in one
streaming pass (mapped and typed on the way, so the spill is already the canonical columns) and
each piece is built in memory on its own: memory follows the piece size, not the data set, and
the cost stays linear (one extra write and read of the canonical rows). A table that fits is built
in one piece, exactly as before, with no spill.

`SilverSink` collects one silver table's pieces and writes it in one Delta commit (spilling to
Parquet first when the table is large), so readers never see a half-built table.

The same locality makes the daily run incremental (`ingest.standardize`): only the keys whose
bronze rows changed are rebuilt, and a sink told which keys it `replaces` commits only their rows
(`ingest.tables.replace_keys`): the data files holding only other keys are not rewritten.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.dataset as pads

from ingest.tables import replace_keys
from warehouse import delta

SPILL_COMPRESSION = "lz4"  # scratch only: fast to write and read back
SCAN_BATCH_ROWS = 65_536  # rows per batch when a sink streams its spills into the Delta commit
# Rows per row group of the key-hash spill files: the streaming sink buffers a whole row group per
# partition, so small groups bound what the spill pass holds (at 100k: events 1,045 -> 939 MB peak).
SPILL_ROW_GROUP_ROWS = 16_384


def pieces(plan: pl.LazyFrame, key: str, rows: int, piece_rows: int, scratch: Path) -> Iterator[pl.DataFrame]:
    """The plan's rows in pieces of about `piece_rows`, all rows of one `key` value in the same piece."""
    if rows <= piece_rows:
        yield plan.collect()
        return
    count = math.ceil(rows / piece_rows)
    folder = scratch / f"pieces-{key}"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    plan.with_columns(_piece=(pl.col(key).hash() % count).cast(pl.Int32)).sink_parquet(
        pl.PartitionBy(folder, key="_piece", include_key=False),
        compression=SPILL_COMPRESSION,
        row_group_size=SPILL_ROW_GROUP_ROWS,
        mkdir=True,
        engine="streaming",
    )
    try:
        for piece in sorted(p for p in folder.iterdir() if p.is_dir()):
            files = sorted(piece.rglob("*.parquet"))
            if files:
                yield pl.read_parquet(files)
            shutil.rmtree(piece)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@dataclass
class SilverSink:
    """One silver table built piece by piece, written in one commit; spilled when it grows large.

    With `replaces` (the key values rebuilt, in a column named like the table's key), the commit
    replaces only those keys' rows; without, the whole table.
    """

    path: Path
    schema: dict[str, pl.DataType]
    scratch: Path
    spill_rows: int
    replaces: pl.DataFrame | None = None
    row_group_rows: int | None = None
    frames: list[pl.DataFrame] = field(default_factory=list)
    spills: list[Path] = field(default_factory=list)
    buffered: int = 0
    rows: int = 0

    def add(self, frame: pl.DataFrame) -> None:
        self.frames.append(frame)
        self.buffered += frame.height
        self.rows += frame.height
        if self.buffered >= self.spill_rows:
            self._spill()

    def _spill(self) -> None:
        if not self.frames:
            return
        target = self.scratch / f"sink-{self.path.name}-{len(self.spills):05d}.parquet"
        pl.concat(self.frames, how="vertical_relaxed").write_parquet(target, compression=SPILL_COMPRESSION)
        self.spills.append(target)
        self.frames, self.buffered = [], 0

    def _added(self) -> pa.Table | pa.RecordBatchReader:
        """Everything added: in memory, or streamed from the spills."""
        if not self.spills:
            frames = self.frames or [pl.DataFrame(schema=self.schema)]
            return pl.concat(frames, how="vertical_relaxed").to_arrow()
        self._spill()
        spills = pads.dataset([str(p) for p in self.spills], format="parquet")
        # One spill file and a few batches in flight: the commit streams, it does not buffer.
        return spills.scanner(batch_size=SCAN_BATCH_ROWS, batch_readahead=2, fragment_readahead=1).to_reader()

    def commit(self, batch_id: str) -> None:
        """Write everything added in one Delta commit: the whole table, or only the keys it replaces."""
        rows = self._added()
        if self.replaces is None:
            delta.write(
                rows,  # type: ignore[arg-type]
                self.path,
                "overwrite",
                batch_id=batch_id,
                operation="standardize",
                row_group_rows=self.row_group_rows,
            )
        else:
            replace_keys(
                self.path,
                rows,
                self.replaces,
                batch_id=batch_id,
                operation="standardize",
                row_group_rows=self.row_group_rows,
            )
        for spill in self.spills:
            spill.unlink(missing_ok=True)
