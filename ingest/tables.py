"""The ingestion's own Delta tables: bronze, quarantine, load manifest and schema registry.

Shapes are in docs/data_model.md sections 2-3. `ReplacingWriter` is the one write mechanism for
bronze and quarantine: rows of many files are buffered into few commits, and the first commit that
carries a file replaces whatever an earlier load left for that file, so a corrected re-delivery
replaces its rows and a crashed run can simply be re-run. `replace_keys` is its counterpart for
silver's incremental builds: the rows of some keys are replaced in one commit that rewrites only
the data files holding those keys (new keys are a plain append).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
from deltalake import CommitProperties
from deltalake.exceptions import CommitFailedError

from ingest.config import Compaction
from warehouse import delta
from warehouse.delta import sql_string

log = logging.getLogger("cdp.ingest")

TIMESTAMP = pl.Datetime("us", "UTC")

LINEAGE_COLUMNS = ["_source", "_file", "_row_number", "_batch_id", "_ingested_at", "_row_hash"]

QUARANTINE_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.String(),
    "entity": pl.String(),
    "file": pl.String(),
    "row_number": pl.Int64(),
    "raw": pl.String(),
    "reason": pl.String(),
    "detail": pl.String(),
    "batch_id": pl.String(),
    "quarantined_at": TIMESTAMP,
}

# The quarantine reason of a value nulled in a row that landed (`null_if_invalid`: a birthday nobody can
# read costs the birthday, not the member), as opposed to a row rejected whole; the detail names the
# field, the value and the reason it would have had.
NULLED_REASON = "invalid_value_nulled"

MANIFEST_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.String(),
    "entity": pl.String(),
    "file": pl.String(),
    "size_bytes": pl.Int64(),
    "sha256": pl.String(),
    "rows_read": pl.Int64(),
    "rows_landed": pl.Int64(),
    "rows_quarantined": pl.Int64(),
    "rows_suppressed": pl.Int64(),  # dropped by the caller's row filter (erased people): not kept anywhere
    "batch_id": pl.String(),
    "status": pl.String(),  # loaded | skipped | replaced | failed
    "message": pl.String(),
    "started_at": TIMESTAMP,
    "finished_at": TIMESTAMP,
    "config_hash": pl.String(),  # reading rules in force: a change re-reads the file
    "row_offset": pl.Int64(),  # records of the file loaded before this load (an append; 0: whole file)
    "mtime_ns": pl.Int64(),  # the file's modification time (with its size: unchanged without hashing)
    "fields_nulled": pl.Int64(),  # invalid null_if_invalid values nulled in rows that landed (not rows)
}

SCHEMA_REGISTRY_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.String(),
    "entity": pl.String(),
    "column": pl.String(),
    "physical_type": pl.String(),
    "status": pl.String(),  # expected | added | missing
    "first_seen_file": pl.String(),
    "first_seen_batch": pl.String(),
    "last_seen_file": pl.String(),
    "last_seen_batch": pl.String(),
    "updated_at": TIMESTAMP,
}

LANDED_STATUSES = ("loaded", "replaced")


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class ReplacingWriter:
    """Buffer rows of many files; each commit replaces the earlier rows of the files it starts.

    `file_column` names the lineage column; `scope` narrows the replace predicate (the quarantine
    holds every source, so its scope is the source and entity). A file's first commit in a run
    removes all its earlier rows, so its later commits (a large file spans several) simply append.
    """

    path: Path
    commit_rows: int
    batch_id: str
    file_column: str = "_file"
    scope: str | None = None
    row_column: str = "_row_number"
    row_group_rows: int | None = None
    commits: int = 0
    _buffer: list[pl.DataFrame] = field(default_factory=list)
    _buffered_rows: int = 0
    _buffered_files: set[str] = field(default_factory=set)
    _started: set[str] = field(default_factory=set)
    _emptied: list[str] = field(default_factory=list)
    _kept: dict[str, int] = field(default_factory=dict)  # appended files -> rows kept from earlier loads

    def keep_earlier(self, name: str, rows_before: int) -> None:
        """An append: the file's earlier rows stay (its new rows are appended, never replace them)."""
        self._kept[name] = rows_before
        self._started.add(name)

    def add(self, frame: pl.DataFrame) -> None:
        if frame.is_empty():
            return
        self._buffer.append(frame)
        self._buffered_rows += frame.height
        self._buffered_files.update(frame[self.file_column].unique().to_list())
        if self._buffered_rows >= self.commit_rows:
            self.flush()

    def file_done(self, name: str) -> None:
        """A file that produced no rows still has to lose the rows an earlier load left."""
        if name not in self._started and name not in self._buffered_files:
            self._emptied.append(name)

    def discard(self, name: str) -> None:
        """Drop what a failed file put in the buffer (and in earlier commits of this run)."""
        if name in self._buffered_files:
            self._buffer = [f.filter(pl.col(self.file_column) != name) for f in self._buffer]
            self._buffered_rows = sum(f.height for f in self._buffer)
            self._buffered_files.discard(name)
        if name in self._emptied:
            self._emptied.remove(name)
        if name in self._started:
            predicate = f"{self.file_column} = {sql_string(name)}"
            if name in self._kept:  # only the rows this run appended
                predicate += f" AND {self.row_column} > {self._kept[name]}"
            delta.delete_where(self.path, self._scoped(predicate))
            self._started.discard(name)
            self.commits += 1

    def flush(self) -> None:
        if self._emptied:
            predicate = self._scoped(f"{self.file_column} IN ({_in_list(self._emptied)})")
            if delta.exists(self.path):
                delta.delete_where(self.path, predicate)
                self.commits += 1
            self._started.update(self._emptied)
            self._emptied = []
        if not self._buffer:
            return
        data = pl.concat(self._buffer, how="diagonal_relaxed")
        self._buffer, self._buffered_rows, self._buffered_files = [], 0, set()
        starting = [f for f in data[self.file_column].unique().to_list() if f not in self._started]
        if not delta.exists(self.path) or not starting:
            # Files already started in this run lost their earlier rows in their first commit:
            # the rest of a large file is a plain append (no predicate to evaluate).
            delta.write(data, self.path, "append", **self._commit())
        else:
            # A predicate overwrite refuses rows outside its predicate, so the rest of a file
            # started in an earlier commit (a file larger than commit_rows) is appended apart.
            is_starting = pl.col(self.file_column).is_in(starting)
            delta.write(
                data.filter(is_starting),
                self.path,
                "overwrite",
                predicate=self._scoped(f"{self.file_column} IN ({_in_list(starting)})"),
                **self._commit(),
            )
            continuing = data.filter(~is_starting)
            if not continuing.is_empty():
                delta.write(continuing, self.path, "append", **self._commit())
                self.commits += 1
        self._started.update(starting)
        self.commits += 1

    def _commit(self) -> dict[str, Any]:
        return {"batch_id": self.batch_id, "operation": "ingest", "row_group_rows": self.row_group_rows}

    def _scoped(self, predicate: str) -> str:
        return f"({self.scope}) AND ({predicate})" if self.scope else predicate


def _in_list(values: list[str]) -> str:
    return ", ".join(sql_string(v) for v in values)


# Marks the source rows of a `replace_keys` merge that only name a key to delete.
_DELETE_MARK = "_cdp_delete_key"


def replace_keys(
    path: Path,
    rows: pa.Table | pa.RecordBatchReader,
    keys: pl.DataFrame,
    *,
    batch_id: str,
    operation: str,
    row_group_rows: int | None = None,
) -> None:
    """Replace every row of the table whose `keys` columns match a row of `keys` by `rows`, in one commit.

    `rows` must hold only those keys (what was rebuilt for them; a key may lose all its rows). Keys
    the table does not hold yet are a plain append; otherwise one Delta MERGE deletes the old rows
    and inserts the new ones, rewriting only the data files that held an old row (the other files
    stay as they are). Readers see the old table or the new one, never a mix.
    """
    on = keys.columns
    old = delta.scan(path).select(on).join(keys.lazy().unique(), on=on, how="semi").unique().collect()
    if old.is_empty():
        delta.write(
            rows, path, "append", batch_id=batch_id, operation=operation, row_group_rows=row_group_rows
        )  # type: ignore[arg-type]
        return
    # One source row per old key marks it for deletion; the rows to insert never match (the merge
    # predicate asks for the mark), so a key with several rows on both sides (order lines) is fine.
    schema = rows.schema.append(pa.field(_DELETE_MARK, pa.bool_()))
    marks = pa.table(
        {
            field.name: old[field.name].to_arrow().cast(field.type)
            if field.name in on
            else pa.nulls(old.height, field.type)
            for field in rows.schema
        }
    ).append_column(_DELETE_MARK, pa.repeat(True, old.height))

    def batches():
        for batch in rows.to_batches() if isinstance(rows, pa.Table) else rows:
            yield pa.RecordBatch.from_arrays(
                [*batch.columns, pa.nulls(batch.num_rows, pa.bool_())], schema=schema
            )
        yield from marks.cast(schema).to_batches()

    matched = " AND ".join(f"t.`{k}` = s.`{k}`" for k in on)
    (
        delta.open_table(path)
        .merge(
            pa.RecordBatchReader.from_batches(schema, batches()),
            predicate=f"{matched} AND s.`{_DELETE_MARK}`",
            source_alias="s",
            target_alias="t",
            merge_schema=True,  # like `delta.write`: a column added to silver needs no migration
            writer_properties=delta.writer_properties(row_group_rows),
            commit_properties=CommitProperties(
                custom_metadata={"cdp_batch_id": batch_id, "cdp_operation": operation}
            ),
        )
        .when_matched_delete()
        .when_not_matched_insert_all(predicate=f"s.`{_DELETE_MARK}` IS NULL", except_cols=[_DELETE_MARK])
        .execute()
    )


# Commits that move rows between files without changing any (compaction and its vacuum).
DATA_NEUTRAL = frozenset({"OPTIMIZE", "VACUUM START", "VACUUM END"})


def compact(
    path: Path, settings: Compaction, *, batch_id: str, row_group_rows: int | None = None
) -> tuple[int, int] | None:
    """Small-file hygiene for one table: compact it when it holds more than `settings.max_files` data
    files smaller than `settings.target_bytes`, and vacuum the files that compactions and rewrites
    replaced more than `settings.retain_hours` ago.

    Compaction rewrites only those small files (daily appends, the tail of a load) into files of
    about `target_bytes`, row order kept; the large files of a full load stay as they are. It changes no row (a data-neutral commit), so readers see the same table before and
    after, and one that listed the old files keeps reading them until the vacuum, hours later.
    Returns (version before, version after) when it committed and nothing else did in between: the
    two versions hold the same rows. None: nothing done, or another writer got in first (the next
    run tries again).
    """
    if not delta.exists(path):
        return None
    table = delta.open_table(path)
    before = table.version()
    sizes = pa.table(table.get_add_actions(flatten=True)).column("size_bytes").to_pylist()
    if sum(size < settings.target_bytes for size in sizes) > settings.max_files:
        try:
            metrics = table.optimize.compact(
                target_size=settings.target_bytes,
                max_concurrent_tasks=1,
                writer_properties=delta.writer_properties(row_group_rows),
                commit_properties=CommitProperties(
                    custom_metadata={"cdp_batch_id": batch_id, "cdp_operation": "compact"}
                ),
            )
        except CommitFailedError as error:  # a concurrent writer (another source's ingest) won
            log.warning("compaction of %s skipped: %s", path, error)
            return None
        log.info("compacted %s: %d files -> %d", path, metrics["numFilesRemoved"], metrics["numFilesAdded"])
    delta.vacuum_replaced(path, settings.retain_hours)
    after = delta.open_table(path)
    since = after.version() - before
    if since == 0 or any(c["operation"] not in DATA_NEUTRAL for c in after.history(since)):
        return None
    return before, after.version()


LATEST_LOAD_SCHEMA: dict[str, pl.DataType] = {
    "file": pl.String(),
    "sha256": pl.String(),
    "config_hash": pl.String(),
    "size_bytes": pl.Int64(),
    "mtime_ns": pl.Int64(),
    "rows_total": pl.Int64(),
}


def latest_loads(manifest_path: Path, source: str, entity: str) -> pl.DataFrame:
    """Per file its last successful load: sha256, reading rules, size, modification time and the
    records the file held then (`rows_total`: an append's offset plus its rows)."""
    if not delta.exists(manifest_path):
        return pl.DataFrame(schema=LATEST_LOAD_SCHEMA)
    scan = delta.scan(manifest_path)
    names = scan.collect_schema().names()
    optional = [pl.lit(None, pl.Int64).alias(c) for c in ("row_offset", "mtime_ns") if c not in names]
    landed = pl.col("status").is_in(LANDED_STATUSES)
    rows = (
        scan.filter((pl.col("source") == source) & (pl.col("entity") == entity))
        .filter(landed | (pl.col("status") == "skipped"))
        .with_columns(optional)
        .sort("finished_at")
        .group_by("file")
        .agg(
            pl.col("sha256").filter(landed).last(),
            pl.col("config_hash").filter(landed).last(),
            # A skip confirmed the landed bytes: its size and time are the file's latest known ones.
            pl.col("size_bytes").last(),
            pl.col("mtime_ns").last(),
            (pl.col("row_offset").fill_null(0) + pl.col("rows_read"))
            .filter(landed)
            .last()
            .alias("rows_total"),
        )
        .filter(pl.col("sha256").is_not_null())
    )
    return rows.collect()


def failing_files(manifest_path: Path, batch_id: str) -> pl.DataFrame:
    """Files whose latest load attempt in `batch_id` failed: source, entity, file, message.

    A re-run of the batch that loaded the file clears it (its later row is not `failed`); a re-run
    that failed again adds no row (`_repeat_failure`), so the first failure still stands."""
    columns = ["source", "entity", "file", "message"]
    if not delta.exists(manifest_path):
        return pl.DataFrame(schema={c: MANIFEST_SCHEMA[c] for c in columns})
    return (
        delta.scan(manifest_path)
        .filter(pl.col("batch_id") == batch_id)
        .sort("finished_at")
        .group_by("source", "entity", "file")
        .agg(pl.col("status").last(), pl.col("message").last())
        .filter(pl.col("status") == "failed")
        .select(columns)
        .sort(columns[:3])
        .collect()
    )


def manifest_rows_of_batch(manifest_path: Path, source: str, entity: str, batch_id: str) -> pl.DataFrame:
    if not delta.exists(manifest_path):
        return pl.DataFrame(schema=MANIFEST_SCHEMA)
    return (
        delta.scan(manifest_path)
        .filter(
            (pl.col("source") == source) & (pl.col("entity") == entity) & (pl.col("batch_id") == batch_id)
        )
        .collect()
    )
