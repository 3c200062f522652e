"""Loading one entity's new and changed files in one batch (`EntityLoad`): rows read into groups,
each group checked in one vectorised pass (`ingest.validate.check_group`) and handed to the bronze
and quarantine writers, with a result per file; and what the caller decides for the load (a
`RowFilter` of rows never to keep, an `EmptyGuard` for re-deliveries without records).

The orchestration (which files to read, the manifest, the summary) is in ingest/loader.py; reading
runs of files in worker processes with this same code is in ingest/worker_reading.py. Both import
from here, so the imports stay acyclic.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa

from ingest import schema_registry
from ingest.config import EntityConfig, IngestSettings
from ingest.errors import FileFailed, IngestError
from ingest.landing import LandedItem
from ingest.readers import READERS, RawBatch, ReadNotes, ReadRequest
from ingest.tables import NULLED_REASON, ReplacingWriter, now
from ingest.validate import READ_REJECT_SCHEMA, EntityCheck, check_group, check_required_columns

log = logging.getLogger("cdp.ingest")


@dataclass(frozen=True)
class RowFilter:
    """Rows that must not be kept anywhere, not even in quarantine: injected by the caller.

    Ingestion knows nothing of why (the pipeline passes the suppression list of erased people, so
    an old export delivered again does not bring them back). Each callable returns one boolean
    per row, True for a row to drop: `landed` sees bronze-shaped rows (the source's columns plus
    lineage), `rejected` the raw text of rows bound for quarantine.
    """

    landed: Callable[[str, str, pl.DataFrame], pl.Series]  # (source, entity, rows) -> drop
    rejected: Callable[[str, pl.Series], pl.Series]  # (source, raw text) -> drop


@dataclass(frozen=True)
class EmptyGuard:
    """Re-deliveries that must not empty their file's rows without being asked to.

    `earlier` maps each file this load replaces to the records its last load read; a file among
    them that now holds no record at all is held (it fails, its earlier rows stay) unless it is
    in `accepted`, the files whose emptying the caller confirmed.
    """

    earlier: dict[str, int] = field(default_factory=dict)
    accepted: frozenset[str] = frozenset()

    def holds(self, file: str, rows_read: int) -> bool:
        return rows_read == 0 and self.earlier.get(file, 0) > 0 and file not in self.accepted

    def message(self, file: str, source: str, what: str) -> str:
        return (
            f"re-delivered {what} while its last load read {self.earlier[file]:,} record(s): most likely a "
            "broken export, so the file's earlier rows are kept (bronze and quarantine) and it fails until "
            "it is delivered again with its rows; if every row really is gone, accept the deletion with "
            f"`cdp ingest --source {source} --accept-empty {file}`"
        )


@dataclass
class FileResult:
    rows_read: int = 0
    rows_landed: int = 0
    rows_quarantined: int = 0
    rows_suppressed: int = 0
    fields_nulled: int = 0  # values of rows that landed nulled and recorded (null_if_invalid): not rows
    reasons: Counter[str] = field(default_factory=Counter)
    messages: list[str] = field(default_factory=list)
    sha256: str | None = None
    started_at: datetime = field(default_factory=now)
    finished_at: datetime | None = None


@dataclass
class Group:
    """Rows of consecutive files with the same columns and encoding, waiting to be checked together.

    Parts are kept as the readers gave them; lineage columns are built once for the whole group
    (a gather and a repeat), so adding a small file costs no DataFrame operation at all.
    """

    columns: list[str] = field(default_factory=list)
    encoding: str = ""
    parts: list[pl.DataFrame | pa.Table] = field(default_factory=list)
    part_files: list[str] = field(default_factory=list)
    part_first: list[bool] = field(default_factory=list)
    numbers: list[np.ndarray] = field(default_factory=list)
    rejects: list[pl.DataFrame] = field(default_factory=list)
    hashes: list[pl.Series | None] = field(default_factory=list)
    rows: int = 0  # records held, rows and rejects: a group is checked once it holds `group_rows`
    marked: bool = False  # some part may carry the undecodable-bytes marker
    files: dict[str, bool] = field(default_factory=dict)  # file -> fully read

    def fits(self, columns: list[str], encoding: str) -> bool:
        return not self.parts or (set(columns) == set(self.columns) and encoding == self.encoding)

    def add(self, file: str, batch: RawBatch, first: bool, encoding: str) -> None:
        if not self.parts:  # the group's first rows set its columns (a new JSON key opens a new group)
            self.columns, self.encoding = batch.columns, encoding
        self.parts.append(batch.data)
        self.part_files.append(file)
        self.part_first.append(first)
        self.numbers.append(batch.row_numbers)
        self.hashes.append(batch.row_hashes)
        self.rows += len(batch.row_numbers)
        self.marked = self.marked or batch.marked
        self.add_rejects(file, batch)

    def add_rejects(self, file: str, batch: RawBatch) -> None:
        """The records a block's reader rejected; alone, for a block without rows or columns (a
        JSON-lines block with no parsable line), they join any group: they carry their own reason."""
        if batch.rejects is not None and not batch.rejects.is_empty():
            self.rejects.append(
                batch.rejects.with_columns(_file=pl.lit(file)).select(list(READ_REJECT_SCHEMA))
            )
            self.rows += batch.rejects.height
        self.files.setdefault(file, False)

    def discard(self, file: str) -> None:
        keep = [i for i, f in enumerate(self.part_files) if f != file]
        self.parts = [self.parts[i] for i in keep]
        self.part_files = [self.part_files[i] for i in keep]
        self.part_first = [self.part_first[i] for i in keep]
        self.numbers = [self.numbers[i] for i in keep]
        self.hashes = [self.hashes[i] for i in keep]
        self.rejects = [f.filter(pl.col("_file") != file) for f in self.rejects]
        self.rows = sum(len(n) for n in self.numbers) + sum(f.height for f in self.rejects)
        self.files.pop(file, None)

    def frame(self) -> pl.DataFrame:
        """All rows with `_file`, `_row_number` and `_first` (row of its file's first block)."""
        if not self.parts:
            lineage = {"_file": pl.String, "_row_number": pl.Int64, "_first": pl.Boolean}
            return pl.DataFrame(schema={**dict.fromkeys(self.columns, pl.String), **lineage})
        if all(isinstance(p, pa.Table) for p in self.parts):
            tables = [p.select(self.columns) for p in self.parts]  # type: ignore[union-attr]
            data = pl.from_arrow(pa.concat_tables(tables).combine_chunks())
            assert isinstance(data, pl.DataFrame)
        else:
            frames = [_polars(p).select(self.columns) for p in self.parts]
            data = pl.concat(frames, how="vertical_relaxed") if frames else pl.DataFrame()
        heights = np.fromiter((len(n) for n in self.numbers), dtype=np.int64, count=len(self.numbers))
        part = np.repeat(np.arange(len(self.parts)), heights)
        if self.hashes and all(h is not None for h in self.hashes):
            data = data.with_columns(_row_hash=pl.concat(self.hashes))  # type: ignore[arg-type]
        return data.with_columns(
            _file=pl.Series(self.part_files, dtype=pl.String).gather(part),
            _row_number=pl.Series(np.concatenate(self.numbers) if self.numbers else [], dtype=pl.Int64),
            _first=pl.Series(np.repeat(np.asarray(self.part_first, dtype=bool), heights), dtype=pl.Boolean),
        )

    def read_rejects(self) -> pl.DataFrame:
        if not self.rejects:
            return pl.DataFrame(schema=READ_REJECT_SCHEMA)
        return pl.concat(self.rejects, how="vertical_relaxed")


def _shifted(batch: RawBatch, offset: int) -> RawBatch:
    """The batch with its record numbers moved `offset` on (they restart at 1 in an append's tail)."""
    rejects = None if batch.rejects is None else batch.rejects.with_columns(pl.col("row_number") + offset)
    return replace(batch, row_numbers=batch.row_numbers + offset, rejects=rejects)


def _polars(data: pl.DataFrame | pa.Table) -> pl.DataFrame:
    frame = pl.from_arrow(data) if isinstance(data, pa.Table) else data
    assert isinstance(frame, pl.DataFrame)
    return frame


@dataclass
class EntityLoad:
    """Loading one entity's new and changed files in one batch: groups, writers, per-file results."""

    source: str
    name: str
    entity: EntityConfig
    settings: IngestSettings
    check: EntityCheck
    bronze: ReplacingWriter
    quarantine: ReplacingWriter
    con: duckdb.DuckDBPyConnection
    previous_schema: pl.DataFrame | None = None
    row_filter: RowFilter | None = None
    empty_guard: EmptyGuard = field(default_factory=EmptyGuard)
    observed: schema_registry.ObservedSchema = field(default_factory=schema_registry.ObservedSchema)
    group: Group = field(default_factory=Group)
    results: dict[str, FileResult] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)

    def read(self, item: LandedItem) -> None:
        """Read one item into the current group (checking groups as they fill); a failure stays with the file."""
        result = self.results.setdefault(item.name, FileResult(sha256=item.sha256))
        notes = ReadNotes()
        try:
            if item.path is not None and not item.path.exists():
                raise FileFailed(
                    f"cannot be read: a link to {item.path.readlink()}, which does not exist "
                    "(a share not mounted, a file moved away?)"
                )
            if item.path is None or item.size_bytes > 0:
                self._read_batches(item, notes, result)
            elif self.empty_guard.holds(item.name, 0):
                raise FileFailed(self.empty_guard.message(item.name, self.source, "empty (0 bytes)"))
            elif item.name not in self.empty_guard.accepted:  # accepted: no record, its rows go
                raise FileFailed(
                    "file is empty (0 bytes): no header and no rows; expected columns "
                    + ", ".join(self.entity.required_columns())
                )
        except FileFailed as exc:
            self.fail(item.name, str(exc))
        except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
            self.fail(item.name, f"cannot be read as {self.entity.format}: {exc}")
        appended_note = [f"appended after record {item.rows_before:,}"] if item.tail_from else []
        result.messages = [*appended_note, *notes.messages]
        result.sha256 = result.sha256 or notes.sha256 or _sha256_if_readable(item)
        if item.name in self.group.files:
            self.group.files[item.name] = True  # done when its group is checked and handed over
        else:
            self.finish_files([item.name])

    def _read_batches(self, item: LandedItem, notes: ReadNotes, result: FileResult) -> None:
        encoding = self.entity.encoding_for(item.name)
        request = ReadRequest(item, self.entity, self.settings.csv_block_bytes, notes, self.con)
        read_any = False
        first = True  # the file's first block that names its columns: they are checked, a retype judged
        with contextlib.closing(READERS[self.entity.format](request)) as batches:
            for batch in batches:
                read_any = True
                if item.rows_before:  # an append: its records follow those loaded before
                    batch = _shifted(batch, item.rows_before)
                columns = batch.columns
                if not columns:  # a JSON-lines block without one parsable record names no column
                    self.group.add_rejects(item.name, batch)
                    result.rows_read += batch.rows_read
                    if self.group.rows >= self.settings.group_rows:
                        self.process_group()
                    continue
                if first:
                    check_required_columns(columns, self.check, item.name)
                    if notes.physical_types and self.previous_schema is not None:
                        schema_registry.check_physical_types(
                            self.previous_schema, notes.physical_types, self.entity, item.name
                        )
                self.observed.observe(columns, notes.physical_types, item.name)
                if not self.group.fits(columns, encoding):
                    self.process_group()
                self.group.add(item.name, batch, first, encoding)
                result.rows_read += batch.rows_read
                first = False
                if self.group.rows >= self.settings.group_rows:
                    self.process_group()
                if item.name in self.failed:  # its first block showed a retyped column
                    return
        if not read_any:
            raise FileFailed(f"nothing to read in {item.name}")

    def fail(self, file: str, message: str) -> None:
        """Drop what a failed file put in the group and the writers (and earlier commits of this run)."""
        self.failed[file] = message
        self.group.discard(file)
        self.bronze.discard(file)
        self.quarantine.discard(file)
        log.error("%s/%s: %s: %s", self.source, self.name, file, message)

    def process_group(self) -> None:
        """Check the group's rows in one pass and hand them to the writers; files fully read are done."""
        group = self.group
        self.group = Group()
        if not group.files:
            return
        continuing = {f for f, done in group.files.items() if not done}
        if not group.parts and not group.rejects:  # only files whose last block was checked already
            self.group.files.update(dict.fromkeys(continuing, False))
            self.finish_files([f for f, done in group.files.items() if done])
            return
        checked = check_group(
            group.frame(),
            group.read_rejects(),
            group.columns,
            group.encoding,
            self.check,
            continuing,
            group.marked,
        )
        for file, message in checked.failed.items():
            self.fail(file, message)
        self.hand_over(checked.landed, checked.quarantined)
        for file in continuing - set(checked.failed):
            self.group.files[file] = False  # its next block opens the next group
        self.finish_files([f for f, done in group.files.items() if done and f not in checked.failed])

    def hand_over(self, landed: pl.DataFrame, quarantined: pl.DataFrame) -> None:
        """A checked group's rows to the writers (less what the row filter drops), counted per file.

        Quarantine records of values nulled in rows that landed (`NULLED_REASON`) are written with
        the rejected rows but counted apart, as `fields_nulled`: their rows are counted as landed."""
        landed, quarantined = self._filtered(landed, quarantined)
        self.bronze.add(landed)
        self.quarantine.add(quarantined)
        for file, rows in landed.group_by("_file").len().iter_rows():
            self.results[file].rows_landed += rows
        for file, reason, rows in quarantined.group_by("file", "reason").len().iter_rows():
            if reason == NULLED_REASON:
                self.results[file].fields_nulled += rows
                continue
            self.results[file].rows_quarantined += rows
            self.results[file].reasons[reason] += rows

    def _filtered(self, landed: pl.DataFrame, quarantined: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The group's rows without those the row filter drops, counted per file as suppressed.

        A nulled value's record goes with its row: dropped (and not counted again) when the row is."""
        if self.row_filter is None:
            return landed, quarantined
        drop_landed = self.row_filter.landed(self.source, self.name, landed)
        drop_rejected = self.row_filter.rejected(self.source, quarantined["raw"])
        is_nulled = quarantined["reason"] == NULLED_REASON
        dropped = pl.concat(
            [
                landed.filter(drop_landed).select(file="_file"),
                quarantined.filter(drop_rejected & ~is_nulled).select("file"),
            ]
        )
        for file, rows in dropped.group_by("file").len().iter_rows():
            self.results[file].rows_suppressed += rows
        kept = quarantined.filter(~drop_rejected)
        gone = landed.filter(drop_landed).select(file="_file", row_number="_row_number")
        if not gone.is_empty() and is_nulled.any():
            nulled = pl.col("reason") == NULLED_REASON
            kept = pl.concat(
                [
                    kept.filter(~nulled),
                    kept.filter(nulled).join(gone, on=["file", "row_number"], how="anti"),
                ]
            )
        return landed.filter(~drop_landed), kept

    def finish_files(self, files: list[str]) -> None:
        for file in files:
            if file in self.failed:
                continue
            if self.empty_guard.holds(file, self.results[file].rows_read):  # a header and no record
                self.fail(file, self.empty_guard.message(file, self.source, "with a header only (0 records)"))
                continue
            self.bronze.file_done(file)
            self.quarantine.file_done(file)
            self.results[file].finished_at = now()

    def finish(self) -> None:
        self.process_group()
        self.bronze.flush()
        self.quarantine.flush()
        for file, result in self.results.items():
            if file in self.failed:
                continue
            kept = result.rows_landed + result.rows_quarantined + result.rows_suppressed
            if result.rows_read != kept:
                raise IngestError(
                    f"{file}: reconciliation failed: {result.rows_read} read, "
                    f"{result.rows_landed} landed + {result.rows_quarantined} quarantined"
                    f" + {result.rows_suppressed} suppressed"
                )
            if result.rows_read == 0 and self.empty_guard.earlier.get(file, 0):
                earlier = self.empty_guard.earlier[file]
                result.messages.append(
                    f"empty re-delivery accepted: its {earlier:,} earlier record(s) removed"
                )
            elif result.rows_read == 0:
                result.messages.append("header only: 0 rows")


def _sha256_if_readable(item: LandedItem) -> str | None:
    """The item's sha256, or None when its bytes cannot be read (the file has failed already)."""
    try:
        return item.hashed().sha256
    except OSError:
        return None
