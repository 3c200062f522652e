"""Landing one source in bronze: discover files, skip what is loaded, read, check, write, record.

For each entity of the source: a file loaded before is fingerprinted (sha256 plus the reading
rules) and skipped when unchanged; a new or changed file is read once (its sha256 taken on the way)
and a changed one replaces its earlier rows. Rows that fail a check go to quarantine with their raw
text; an invalid value of a `null_if_invalid` column (a birthday) is nulled in a row that lands and
recorded in quarantine as `invalid_value_nulled`, counted per file as `fields_nulled`, not as a
quarantined row. Rows the caller's `RowFilter` names (an erased person's, re-delivered in an old
export) are neither landed nor quarantined, only counted. Every file gets a manifest row and reconciles: rows
read = rows landed + rows quarantined + rows suppressed. A file that cannot be loaded at all (empty, a required column gone) fails alone: the others land,
and the source then raises `SourceFailed` naming each file and why.

A re-delivery without a single record (0 bytes, or a header only) of a file whose last load had
records is held (`EmptyGuard`): such a file is far more often a broken export than a real deletion,
so it fails like an unreadable file and its earlier rows stay, until it comes again with rows or
the caller accepts the deletion (`FileChoices.accept_empty`, `cdp ingest --accept-empty FILE`).
Files the caller names in `FileChoices.reread` (`cdp ingest --reread GLOB`) are read again although
unchanged: the way to apply a fixed reader or a new check (one outside the files' fingerprint, like
the default plausible dates) to files loaded before it.

Per-file cost is what matters for the sources that drop a thousand small monthly exports, so files
are read into *groups* (`ingest.group_rows` rows of files with the same columns and encoding) that
are checked in one vectorised pass (`ingest.validate.check_group`) and share Delta commits; one
DuckDB connection serves the whole source run. A large file is streamed block by block and may span
several groups; memory stays at about one group plus one commit's buffer.

Both cores: when an entity's new files add up to several runs of `ingest.unit_bytes`, the runs are
read and checked in `ingest.workers` processes (`read_unit`, the same `EntityLoad` code) while this
process replays their checked groups, in landing order, into the one pair of writers (see the
section "reading in worker processes" below); memory is then one group per worker plus the buffer.
"""

from __future__ import annotations

import contextlib
import fnmatch
import logging
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa

from ingest import parallel, schema_registry
from ingest.config import (
    EntityConfig,
    IngestSettings,
    PlausibleDates,
    ingest_settings,
    sources_config,
    standardize_settings,
)
from ingest.errors import FileFailed, IngestError, SourceFailed
from ingest.landing import LandedItem, appended, landed_file, matching_files, missing_folders
from ingest.readers import READERS, RawBatch, ReadNotes, ReadRequest
from ingest.readers.database import postgres_item
from ingest.tables import (
    MANIFEST_SCHEMA,
    NULLED_REASON,
    ReplacingWriter,
    latest_loads,
    manifest_rows_of_batch,
    now,
)
from ingest.validate import (
    READ_REJECT_SCHEMA,
    EntityCheck,
    check_group,
    check_required_columns,
    first_seen_keys,
)
from warehouse import delta
from warehouse.batches import batch_day
from warehouse.config import CdpConfig
from warehouse.delta import sql_string
from warehouse.duckdb_connections import connect
from warehouse.paths import LakePaths

log = logging.getLogger("cdp.ingest")
# What every file's rows add up to: read = landed + quarantined + suppressed.
ROW_COUNTS = ("rows_read", "rows_landed", "rows_quarantined", "rows_suppressed")


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


@dataclass(frozen=True)
class FileChoices:
    """What the person running ingest decided about particular files (`cdp ingest` options)."""

    # `_file` names whose re-delivery without records really removes their rows
    accept_empty: frozenset[str] = frozenset()
    # globs of `_file` names (fnmatch: `*` crosses folders) read again although unchanged
    reread: tuple[str, ...] = ()

    def rereads(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.reread)


def load_source(
    config: CdpConfig,
    source: str,
    batch_id: str,
    row_filter: RowFilter | None = None,
    choices: FileChoices = FileChoices(),
) -> dict[str, Any]:
    """Land every entity of `source`; raises `SourceFailed` (after landing the rest) if any file failed.

    `row_filter` drops rows that must not be kept at all (counted as `rows_suppressed`).
    `choices`: files whose re-delivery without records really removes their rows (any other such
    re-delivery of a file that had records fails and keeps them), files to read again.
    """
    source_config = sources_config(config).get(source)
    summary: dict[str, Any] = {"source": source, "batch_id": batch_id, "entities": {}}
    problems: list[str] = []
    warnings: list[str] = []
    workers = ingest_settings(config).workers
    pool = parallel.Pool(workers)
    landing = LakePaths.at(config.data_root).landing
    with contextlib.closing(connect()) as con:
        for name, entity in source_config.entities.items():
            if entity.format != "postgres":
                warnings += [
                    f"{name}: the landing folder {folder} does not exist (a share not mounted, an export "
                    "folder renamed?): nothing could be read from it"
                    for folder in missing_folders(landing, entity)
                ]
            entity_summary, entity_problems = load_entity(
                config, source, name, entity, batch_id, con, row_filter, pool, choices
            )
            summary["entities"][name] = entity_summary
            problems += [f"{name}: {p}" for p in entity_problems]
    for warning in warnings:
        log.warning("%s: %s", source, warning)
    if warnings:
        summary["warnings"] = warnings
    totals: Counter[str] = Counter()
    for entity_summary in summary["entities"].values():
        for key in (*ROW_COUNTS, "fields_nulled"):
            totals[key] += entity_summary[key]
    summary.update(totals)
    summary["status"] = "failed" if problems else "ok"
    log.info(
        "%s: %s rows read, %s landed, %s quarantined%s%s%s",
        source,
        f"{totals['rows_read']:,}",
        f"{totals['rows_landed']:,}",
        f"{totals['rows_quarantined']:,}",
        f", {totals['rows_suppressed']:,} suppressed" if totals["rows_suppressed"] else "",
        f" ({totals['fields_nulled']:,} invalid values nulled)" if totals["fields_nulled"] else "",
        f"; {len(problems)} problem(s)" if problems else "",
    )
    if problems:
        error = SourceFailed(source, problems)
        error.summary = summary  # type: ignore[attr-defined]
        raise error
    return summary


def discover(landing, entity: EntityConfig) -> list[LandedItem]:
    if entity.format == "postgres":
        return [postgres_item(entity)]
    return [landed_file(landing, path) for path in matching_files(landing, entity)]


def load_entity(
    config: CdpConfig,
    source: str,
    name: str,
    entity: EntityConfig,
    batch_id: str,
    con: duckdb.DuckDBPyConnection | None = None,
    row_filter: RowFilter | None = None,
    pool: parallel.Pool | None = None,
    choices: FileChoices = FileChoices(),
) -> tuple[dict[str, Any], list[str]]:
    if con is None:
        with contextlib.closing(connect()) as own:
            return load_entity(config, source, name, entity, batch_id, own, row_filter, pool, choices)
    paths = LakePaths.at(config.data_root)
    settings = ingest_settings(config)
    rules = standardize_settings(config)
    started_at = now()
    manifest_path = paths.meta("load_manifest")
    scope = f"source = {sql_string(source)} AND entity = {sql_string(name)}"
    load = EntityLoad(
        source=source,
        name=name,
        entity=entity,
        settings=settings,
        check=EntityCheck(
            source=source,
            entity_name=name,
            entity=entity,
            batch_id=batch_id,
            ingested_at=started_at,
            date_formats=entity.date_formats or rules.date_formats,
            timestamp_formats=entity.timestamp_formats or rules.timestamp_formats,
            timezone=config.timezone,
            con=con,
            retyped_share=settings.retyped_share,
            retyped_min_values=settings.retyped_min_values,
            date_bounds=_date_bounds(entity, settings, started_at, config.timezone, batch_id),
        ),
        bronze=ReplacingWriter(
            paths.bronze(source, name), settings.commit_rows, batch_id, row_group_rows=settings.row_group_rows
        ),
        quarantine=ReplacingWriter(
            paths.quarantine,
            settings.commit_rows,
            batch_id,
            "file",
            scope=scope,
            row_column="row_number",
            row_group_rows=settings.row_group_rows,
        ),
        con=con,
        previous_schema=schema_registry.recorded(paths.meta("schema_registry"), source, name),
        row_filter=row_filter,
    )
    loaded_before = {
        row["file"]: row for row in latest_loads(manifest_path, source, name).iter_rows(named=True)
    }
    seen_in_batch = set(manifest_rows_of_batch(manifest_path, source, name, batch_id)["file"].to_list())
    fingerprint = entity.fingerprint(_changed_date_bounds(entity, settings))
    manifest: list[dict[str, Any]] = []
    to_load: list[tuple[LandedItem, bool]] = []
    for item in discover(paths.landing, entity):
        before = loaded_before.get(item.name)
        if before is not None:  # only a file loaded before needs its sha256 up front
            try:
                item = _fingerprinted(item, before, entity, settings, fingerprint)
            except OSError as exc:  # unreadable now: read it, so that it fails as a file, not the source
                log.debug("%s: cannot be fingerprinted (%s); reading it", item.name, exc)
            if choices.rereads(item.name):  # the whole file again, replacing its rows
                item = replace(item, tail_from=0, head_bytes=0, rows_before=0)
            elif (item.sha256, fingerprint) == (before["sha256"], before["config_hash"]):
                if item.name not in seen_in_batch:
                    manifest.append(
                        _manifest_row(load, item.name, item, "skipped", FileResult(), fingerprint)
                    )
                continue
        to_load.append((item, before is not None and not item.tail_from))
    load.empty_guard = EmptyGuard(
        earlier={
            item.name: loaded_before[item.name]["rows_total"] or 0 for item, replacing in to_load if replacing
        },
        accepted=choices.accept_empty,
    )
    _keep_earlier_rows(load, [item for item, _ in to_load if item.tail_from], paths.bronze(source, name))
    _read_all(load, [item for item, _ in to_load], pool)
    load.finish()
    problems: list[str] = []
    for item, replacing in to_load:
        result = load.results[item.name]
        if item.name in load.failed:
            problems.append(f"{item.name}: {load.failed[item.name]}")
            failed = FileResult(
                messages=[load.failed[item.name]], sha256=result.sha256, started_at=result.started_at
            )
            manifest.append(_manifest_row(load, item.name, item, "failed", failed, fingerprint))
        else:
            status = "replaced" if replacing else "loaded"
            manifest.append(_manifest_row(load, item.name, item, status, result, fingerprint))
    if manifest:
        manifest = [row for row in manifest if not _repeat_failure(row, seen_in_batch)]
        delta.write(
            pl.DataFrame(manifest, schema=MANIFEST_SCHEMA),
            manifest_path,
            batch_id=batch_id,
            operation="manifest",
        )
    added = schema_registry.update(
        paths.meta("schema_registry"), source, name, entity, load.observed, batch_id
    )
    reasons: Counter[str] = Counter()
    for file, result in load.results.items():
        if file not in load.failed:
            reasons.update(result.reasons)
    return _entity_summary(manifest, reasons, added, load), problems


def _date_bounds(
    entity: EntityConfig, settings: IngestSettings, ingested_at: datetime, timezone: str, batch_id: str
) -> dict[str, tuple[date | None, date | None]]:
    """Each typed date/timestamp column's plausible (earliest, latest) day for rows ingested now.

    "Now" is the day in the sources' time zone (a birthday of today in Shanghai is still plausible
    at 01:00 there, when UTC is on the day before), or the batch's logical day when that is later:
    a run scheduled for a day ahead of the clock (a simulation, a generated increment) judges that
    day's rows by it. A backfill of a past day keeps today's bound, so late exports still land."""
    today = ingested_at.astimezone(ZoneInfo(timezone)).date()
    logical = batch_day(batch_id)
    if logical is not None and logical > today:
        today = logical
    return {column: rule.on(today) for column, rule in settings.plausible_dates.for_entity(entity).items()}


def _changed_date_bounds(entity: EntityConfig, settings: IngestSettings) -> dict[str, Any] | None:
    """The entity's date bounds for its fingerprint when they are not the defaults: changing them
    re-reads the files, while the defaults re-read nothing loaded before they existed."""
    rules = settings.plausible_dates.for_entity(entity)
    if rules == PlausibleDates().for_entity(entity):
        return None
    return {column: rule.model_dump(mode="json") for column, rule in rules.items()}


def _sha256_if_readable(item: LandedItem) -> str | None:
    """The item's sha256, or None when its bytes cannot be read (the file has failed already)."""
    try:
        return item.hashed().sha256
    except OSError:
        return None


def _fingerprinted(
    item: LandedItem, before: dict[str, Any], entity: EntityConfig, settings: IngestSettings, fingerprint: str
) -> LandedItem:
    """A file loaded before, with its sha256: taken from the manifest when its size and modification
    time are those of its last load (`ingest.trust_file_stat`), else hashed; a file that only grew
    since (same reading rules, earlier bytes unchanged) comes back marked as an append (`ingest.appends`)."""
    if before["config_hash"] != fingerprint:
        return item.hashed()
    if settings.trust_file_stat and (item.size_bytes, item.mtime_ns) == (
        before["size_bytes"],
        before["mtime_ns"],
    ):
        return replace(item, sha256=before["sha256"])
    appendable = entity.format in APPENDABLE_FORMATS and not _wide_encoding(entity.encoding_for(item.name))
    if not (settings.appends and appendable and before["size_bytes"] and before["rows_total"] is not None):
        return item.hashed()
    return appended(
        item, before["size_bytes"], before["sha256"], before["rows_total"], header=entity.format == "csv"
    )


# Line formats whose new lines can be read alone (a CSV's header is re-read in front of them).
APPENDABLE_FORMATS = ("csv", "jsonl")


def _wide_encoding(encoding: str) -> bool:
    """UTF-16/32: a newline byte may sit inside a character, so byte offsets are not line boundaries."""
    return any(width in encoding.lower().replace("-", "").replace("_", "") for width in ("utf16", "utf32"))


def _keep_earlier_rows(load: EntityLoad, items: list[LandedItem], bronze: Path) -> None:
    """Appends keep their earlier rows in bronze and quarantine; their keys still count as seen."""
    for item in items:
        load.bronze.keep_earlier(item.name, item.rows_before)
        load.quarantine.keep_earlier(item.name, item.rows_before)
    keys = load.entity.primary_key
    if items and keys and delta.exists(bronze):  # one scan for all of the entity's appends
        earlier = delta.scan(bronze).filter(pl.col("_file").is_in([item.name for item in items]))
        load.check.kept.update(first_seen_keys(earlier, keys))


# --- reading in worker processes -------------------------------------------------------------
# Reading and checking (parsing, type masks, row hashes, duplicate keys) is the CPU-heavy part of
# a load and is per file; writing bronze and quarantine is not, and must stay in one process (a
# file's first commit replaces its earlier rows). So the files to load are cut into runs of about
# `ingest.unit_bytes` (whole files, landing order), each run is read and checked in a worker with the
# very same `EntityLoad` code, its checked groups spilled as Arrow IPC, and this process replays the
# runs in order into the one pair of writers: same rows, same counts, same manifest as one process.


@dataclass(frozen=True)
class UnitJob:
    """One run of files for a worker: everything `EntityLoad` needs except the writers and connection."""

    source: str
    name: str
    entity: EntityConfig
    settings: IngestSettings
    check: EntityCheck  # with con=None: the worker opens its own
    previous_schema: pl.DataFrame | None
    items: list[LandedItem]
    scratch: Path
    index: int  # the run's place in the load: names its spill files
    empty_guard: EmptyGuard = field(
        default_factory=EmptyGuard
    )  # judges 0-byte files (header-only: on replay)


@dataclass
class UnitOutput:
    """What a worker learnt about its files, and its checked groups as spill files, in order.

    `events` are ("group", landed IPC, quarantined IPC) and ("done", files): replayed in order they
    drive the writers exactly as the groups and finished files of a one-process run do.
    """

    results: dict[str, FileResult]
    failed: dict[str, str]
    observed: schema_registry.ObservedSchema
    events: list[tuple[Any, ...]]


@dataclass
class _UnitLoad(EntityLoad):
    """`EntityLoad` in a worker: checked groups go to spill files instead of writers."""

    scratch: Path = Path()
    prefix: str = "run"
    events: list[tuple[Any, ...]] = field(default_factory=list)

    def fail(self, file: str, message: str) -> None:
        self.failed[file] = message  # rows already spilled are dropped when replayed
        self.group.discard(file)

    def hand_over(self, landed: pl.DataFrame, quarantined: pl.DataFrame) -> None:
        if landed.is_empty() and quarantined.is_empty():
            return
        stem = self.scratch / f"{self.prefix}-{len(self.events):05d}"
        paths = (stem.with_suffix(".landed.arrow"), stem.with_suffix(".quarantined.arrow"))
        landed.write_ipc(paths[0], compression="uncompressed")
        quarantined.write_ipc(paths[1], compression="uncompressed")
        self.events.append(("group", *paths))

    def finish_files(self, files: list[str]) -> None:
        self.events.append(("done", [f for f in files if f not in self.failed]))


_WORKER_CON: duckdb.DuckDBPyConnection | None = None


def read_unit(job: UnitJob) -> UnitOutput:
    """Read and check one run of files (in a worker process); rows go to spill files."""
    global _WORKER_CON  # one connection per worker process: opening one costs ~0.1 s
    if _WORKER_CON is None:
        _WORKER_CON = connect()
    load = _UnitLoad(
        source=job.source,
        name=job.name,
        entity=job.entity,
        settings=job.settings,
        check=replace(job.check, con=_WORKER_CON),
        bronze=None,  # type: ignore[arg-type]  # never used: hand_over spills instead
        quarantine=None,  # type: ignore[arg-type]
        con=_WORKER_CON,
        previous_schema=job.previous_schema,
        empty_guard=job.empty_guard,
        scratch=job.scratch,
        prefix=f"run{job.index:05d}",
    )
    for item in job.items:
        load.read(item)
    load.process_group()
    return UnitOutput(load.results, load.failed, load.observed, load.events)


def _read_all(load: EntityLoad, items: list[LandedItem], pool: parallel.Pool | None) -> None:
    """Read every item into `load`: here, or in the pool's workers when the files make several runs."""
    runs = parallel.runs(items, lambda item: item.size_bytes, load.settings.unit_bytes)
    if pool is None or pool.workers <= 1 or len(runs) <= 1:
        for item in items:
            load.read(item)
        return
    with tempfile.TemporaryDirectory(prefix="cdp-ingest-") as scratch:
        check = replace(load.check, con=None, lead_format={}, carried={})
        jobs = [
            UnitJob(
                load.source,
                load.name,
                load.entity,
                load.settings,
                check,
                load.previous_schema,
                run,
                Path(scratch),
                index,
                load.empty_guard,
            )
            for index, run in enumerate(runs)
        ]
        for output in pool.map_ordered(read_unit, jobs):
            _replay(load, output)


def _replay(load: EntityLoad, output: UnitOutput) -> None:
    """A worker's run into this process's writers, in the order the worker produced it."""
    for file, message in output.failed.items():
        load.failed[file] = message
        log.error("%s/%s: %s: %s", load.source, load.name, file, message)
    load.results.update(output.results)
    load.observed.merge(output.observed)
    failed = list(output.failed)
    for event in output.events:
        if event[0] == "done":
            load.finish_files(event[1])
            continue
        landed, quarantined = (pl.read_ipc(path) for path in event[1:])
        for path in event[1:]:
            path.unlink()
        if failed:
            landed = landed.filter(~pl.col("_file").is_in(failed))
            quarantined = quarantined.filter(~pl.col("file").is_in(failed))
        load.hand_over(landed, quarantined)


def _repeat_failure(row: dict[str, Any], seen_in_batch: set[str]) -> bool:
    """A re-run of the same batch records a failing file once, so a re-run changes nothing."""
    return row["status"] == "failed" and row["file"] in seen_in_batch


def _manifest_row(
    load: EntityLoad, file: str, item: LandedItem, status: str, result: FileResult, fingerprint: str
) -> dict[str, Any]:
    reasons = ", ".join(f"{reason}: {count}" for reason, count in result.reasons.most_common())
    nulled = [f"{result.fields_nulled} invalid value(s) nulled, their rows landed ({NULLED_REASON})"]
    message = "; ".join(
        [
            *result.messages,
            *([f"quarantined: {reasons}"] if reasons else []),
            *(nulled if result.fields_nulled else []),
        ]
    )
    return {
        "source": load.source,
        "entity": load.name,
        "file": file,
        "size_bytes": item.size_bytes,
        "sha256": result.sha256 or item.sha256,
        "rows_read": result.rows_read,
        "rows_landed": result.rows_landed,
        "rows_quarantined": result.rows_quarantined,
        "rows_suppressed": result.rows_suppressed,
        "batch_id": load.check.batch_id,
        "status": status,
        "message": message or None,
        "started_at": result.started_at,
        "finished_at": result.finished_at or now(),
        "config_hash": fingerprint,
        "row_offset": item.rows_before,
        "mtime_ns": item.mtime_ns,
        "fields_nulled": result.fields_nulled,
    }


def _entity_summary(
    manifest: list[dict[str, Any]], reasons: Counter[str], added: list[str], load: EntityLoad
) -> dict[str, Any]:
    statuses = Counter(row["status"] for row in manifest)
    return {
        "files": dict(statuses),
        **{key: sum(row[key] for row in manifest) for key in ROW_COUNTS},
        "fields_nulled": sum(row["fields_nulled"] for row in manifest),
        "quarantine_reasons": dict(reasons),
        "added_columns": added,
        "commits": load.bronze.commits + load.quarantine.commits,
    }
