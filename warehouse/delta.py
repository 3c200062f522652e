"""Delta Lake I/O for the bronze, silver, identity and meta tables.

Thin wrappers over `deltalake` so that every package writes tables the same way: schema evolution
by merge (an added source column is accepted), commits tagged with the pipeline batch, and reads as
lazy Polars frames or Arrow datasets that DuckDB can scan without copying.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import polars as pl
import pyarrow as pa
import pyarrow.dataset as pads
from deltalake import ColumnProperties, CommitProperties, DeltaTable, WriterProperties, write_deltalake

WriteMode = Literal["append", "overwrite"]


def exists(path: str | Path) -> bool:
    return DeltaTable.is_deltatable(str(path))


def open_table(path: str | Path) -> DeltaTable:
    return DeltaTable(str(path))


def scan(path: str | Path) -> pl.LazyFrame:
    """Lazy Polars scan of the table's current version."""
    return pl.scan_delta(str(path))


def read(path: str | Path, columns: Iterable[str] | None = None) -> pl.DataFrame:
    frame = scan(path)
    if columns is not None:
        frame = frame.select(list(columns))
    return frame.collect()


def read_or_empty(path: str | Path, schema: dict[str, pl.DataType] | pl.Schema) -> pl.DataFrame:
    """The table, or an empty frame of `schema` when it has never been written."""
    if exists(path):
        return read(path)
    return pl.DataFrame(schema=schema)


def dataset(path: str | Path) -> pads.Dataset:
    """Arrow dataset of the current version, for DuckDB scans and streaming reads."""
    return open_table(path).to_pyarrow_dataset()


def plain_parquet_files(path: str | Path) -> list[str] | None:
    """The Parquet files of the table's current version, or None when they alone do not hold it.

    Readers that scan Parquet directly (DuckDB's own reader: dbt's lake plugin, the quality
    catalog) are much faster than Arrow datasets in Python, but only correct when no partition
    values, deletion vectors or column mapping live outside the files.
    """
    table = open_table(path)
    features = set(table.protocol().reader_features or [])
    if table.metadata().partition_columns or features & {"deletionVectors", "columnMapping"}:
        return None
    return table.file_uris() or None


def _to_arrow(data: pl.DataFrame | pa.Table) -> pa.Table:
    return data.to_arrow() if isinstance(data, pl.DataFrame) else data


def _as_written(data: pl.DataFrame | pa.Table) -> pa.Table:
    """Polars' own Arrow buffers (string views), without a copy: the Parquet writer takes them as
    they are and the table's schema still says `string`. Converting to Arrow's classic strings
    first copied every string (0.5 s of 1.3M golden records, 2.3 s of a daily resolve's writes)."""
    return data.to_arrow(compat_level=pl.CompatLevel.newest()) if isinstance(data, pl.DataFrame) else data


def _commit(batch_id: str | None, operation: str | None) -> CommitProperties | None:
    metadata = {k: v for k, v in {"cdp_batch_id": batch_id, "cdp_operation": operation}.items() if v}
    return CommitProperties(custom_metadata=metadata) if metadata else None


def writer_properties(row_group_rows: int | None, compact: bool = False) -> WriterProperties | None:
    """Parquet writer settings: rows per row group (readers decode a row group whole; None: 1M).

    Bounded row groups are written with Zstandard level 1. `WriterProperties` without a codec
    writes *uncompressed* (delta-rs' snappy default applies only when no properties are given), which
    bronze and silver were until round 8: at 100k people their largest tables rewritten with zstd 1
    took 3.4x fewer bytes (605 -> 179 MB) for ~10% more write CPU (8.5 -> 9.4 s) and 0.6 s more to
    read back; snappy cost more CPU than zstd 1 and saved half as much (bench/RESULTS.md, round 8).

    `compact`: Zstandard level 1 without dictionary encoding, for tables of mostly unique values
    (ids, hashes, names) rewritten whole on every run, such as the identity tables. Dictionary
    encoding such columns is wasted work (the dictionary overflows and falls back to plain), and
    zstd 1 compresses better than the default snappy: at 100k people the identity tables were
    written with ~40% less CPU into ~40% fewer bytes, read as fast (bench/RESULTS.md, round 7).
    """
    if not (row_group_rows or compact):
        return None
    return WriterProperties(
        max_row_group_size=row_group_rows,
        compression="ZSTD",
        compression_level=1,
        default_column_properties=ColumnProperties(dictionary_enabled=False) if compact else None,
    )


def write(
    data: pl.DataFrame | pa.Table,
    path: str | Path,
    mode: WriteMode = "append",
    *,
    partition_by: list[str] | None = None,
    predicate: str | None = None,
    batch_id: str | None = None,
    operation: str | None = None,
    row_group_rows: int | None = None,
    compact: bool = False,
) -> None:
    """Append or overwrite; with `predicate` an overwrite replaces only the matching rows.

    New columns are merged into the table schema so that schema drift upstream does not need a
    migration here. `row_group_rows` bounds the Parquet row groups (what a reader decodes at once);
    `compact`: see `writer_properties`.
    """
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_deltalake(
        str(path),
        _as_written(data),
        mode=mode,
        partition_by=partition_by if not exists(path) else None,
        schema_mode="merge" if mode == "append" else ("merge" if predicate else "overwrite"),
        predicate=predicate,
        commit_properties=_commit(batch_id, operation),
        writer_properties=writer_properties(row_group_rows, compact),
    )


def merge_upsert(
    data: pl.DataFrame | pa.Table,
    path: str | Path,
    keys: list[str],
    *,
    batch_id: str | None = None,
    partition_by: list[str] | None = None,
) -> None:
    """Insert new rows and update rows whose `keys` match: the idempotent load primitive."""
    arrow = _to_arrow(data)
    if not exists(path):
        write(arrow, path, "append", partition_by=partition_by, batch_id=batch_id, operation="create")
        return
    predicate = " AND ".join(f"t.`{k}` = s.`{k}`" for k in keys)
    (
        open_table(path)
        .merge(
            arrow,
            predicate=predicate,
            source_alias="s",
            target_alias="t",
            merge_schema=True,
            commit_properties=_commit(batch_id, "merge"),
        )
        .when_matched_update_all()
        .when_not_matched_insert_all()
        .execute()
    )


def delete_where(path: str | Path, predicate: str) -> int:
    """Delete matching rows; returns how many were deleted (0 when the table does not exist)."""
    if not exists(path):
        return 0
    metrics = open_table(path).delete(predicate)
    return int(metrics.get("num_deleted_rows", 0))


def vacuum_all_history(path: str | Path) -> list[str]:
    """Physically remove every file no longer referenced by the current version.

    Used by erasure: a deleted person must not survive in an old table version.
    """
    if not exists(path):
        return []
    return open_table(path).vacuum(
        retention_hours=0, dry_run=False, enforce_retention_duration=False, full=True
    )


def vacuum_replaced(path: str | Path, retain_hours: float) -> int:
    """Delete the data files the table stopped referencing more than `retain_hours` ago (readers
    that listed the older version keep working until then); returns how many were deleted.

    Tables rewritten on every run (the identity tables) would otherwise keep every day's copy on
    disk. Commits only when such files are still on disk (a vacuum commits even when they are not).
    """
    if not exists(path):
        return 0
    table = open_table(path)
    retention = {"retention_hours": math.ceil(retain_hours), "enforce_retention_duration": False}
    if not any(Path(path, name).exists() for name in table.vacuum(dry_run=True, **retention)):
        return 0
    return len(table.vacuum(dry_run=False, **retention))


def row_count(path: str | Path) -> int:
    if not exists(path):
        return 0
    return int(open_table(path).count())


def sql_string(value: str) -> str:
    """Quote a value for a Delta predicate."""
    return "'" + value.replace("'", "''") + "'"
