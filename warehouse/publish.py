"""Publishing the built marts: `marts/<mart>.parquet` and tables in `cdp.duckdb`, swapped in atomically.

dbt never writes where readers look: it builds into `build/cdp_build.duckdb`. A build that
succeeded leaves a marker (`build/marts_build.json`) naming its batch; `publish` refuses to run
without the marker of its own batch, so a failed build (or a failed gold gate, which stops the DAG
before publish) leaves the last good marts in place. Publishing then

1. fingerprints every built mart (its rows, columns and the publishing treatment) and compares it
   with the fingerprint in the published `cdp.duckdb`'s publish log: an unchanged mart is not
   written again anywhere (its Parquet file and its table stay as published);
2. writes every changed mart to a staging folder under `build/` as Parquet and stages the next
   `cdp.duckdb` (a copy of the published one with the changed tables replaced, or a fresh file;
   in the copy, the marts dbt builds incrementally, the big facts, are updated row by row:
   `sync_table` deletes and inserts only the rows that differ, found by the build time every
   row carries, `_built_at`, or else by a hash of every row), and generates the dbt docs
   there, checking row counts against the build database. Such a fact's Parquet file is carried
   forward (`Carry`): only the rows built since the published file are read from the build and
   treated, the other rows come from the published file as they are;
3. only when everything is written, renames each staged file over the published one
   (`os.replace`, atomic on one file system): a reader sees the old mart or the new one, never half
   of one; `cdp.duckdb` is replaced in one rename (open readers keep the old file until they close).

A mart named in `publish.partition_by` (`cdp.yaml`; none by default) is published as a folder of
Parquet files, one per month of a date column (`marts/<mart>/<YYYY-MM>.parquet`): each month has its own
fingerprint, so a daily publish writes only the months whose rows changed, hard-links the others
into the staged folder and swaps the whole folder in with one atomic exchange (`renameat2`), and
`cdp.duckdb` replaces only those months' rows (`replace_parts`).

A mart named in `publish.file_rows` (the big facts by default) is published as a folder of files
of about that many rows each (`FileSplit`), so that carrying it forward rewrites only the files that
hold a key rebuilt since: the others are hard-linked into the staged folder, the day's rows added as
new files, and the folder swapped in as a monthly one is.

A mart named in `publish.cluster_by` is written with its rows grouped by those columns
(`Clustered`): the ids that repeat along a device or a customer then sit side by side, where
Parquet's dictionaries and zstd find them, so the file is smaller and cheaper to write and read.
A carried file keeps the published order and appends the day's rows, grouped the same way.

Which models are marts comes from dbt's manifest (models under `models/marts/`), so a model
dropped from the project is not published from a stale table.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import sys
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt

from warehouse import dbt
from warehouse.config import CdpConfig
from warehouse.duckdb_connections import capped_connection, connect
from warehouse.errors import CdpError
from warehouse.paths import LakePaths, mart_location, parquet_files, parquet_glob

log = logging.getLogger("cdp.publish")

BUILD_MARKER = "marts_build.json"
DOCS_SUBDIR = "dbt"
PUBLISH_LOG_TABLE = "cdp_publish_log"
# Part of every mart fingerprint: raise it when publishing writes marts differently from the same rows.
PUBLISH_FORMAT = "1"
# A database is re-published from a copy of its last version only while the tables it keeps weigh at
# least this share of all its tables (`reuse_copy`); below it, a fresh file is smaller and as cheap.
REUSE_MIN_SHARE = 0.5
# A mart that dbt builds incrementally is updated in the staged database row by row (only the rows
# that differ deleted and inserted, `sync_table`) while at most this share of its rows differ;
# beyond it the table is loaded anew.
DELTA_MAX_SHARE = 0.2
# The column each incrementally built mart carries: when the dbt run that wrote the row started. A
# daily build rewrites only the keys it rebuilt, so a copy of the mart (a `cdp.duckdb` table, a role
# database's table) differs from the new build exactly by the keys of the rows newer than the
# copy's latest `_built_at`, plus keys the build dropped (`sync_since_built`).
BUILT_AT = "_built_at"
# How every published Parquet file is written: zstd at level 1 compresses the marts ~5% less than
# DuckDB's default level 3 for ~40% less CPU (measured on the 100k marts, bench/RESULTS.md).
PARQUET_OPTIONS = "format parquet, compression zstd, compression_level 1"
# DuckDB's memory while the published Parquet is written (`staging_connection`). Sorting a clustered
# mart written whole (21M events at 1M people) held every row otherwise: 10.3 GB at peak. Capped,
# the sort spills to disk and that publish peaked at 4.2 GB (bench/RESULTS.md, "Round 16").
STAGING_MEMORY_LIMIT = "4GB"

# Marts published as a folder of monthly Parquet files (mart -> date column), `publish.partition_by` in
# `cdp.yaml`; none by default: on the generated data identity resolution re-keys a few old facts in
# every month each day, so every month's file changed daily and the folders cost more than one file
# (bench/RESULTS.md, "Round 6: publish"). Worth it where old months stay as they were.
DEFAULT_PARTITION_BY: dict[str, str] = {}
# Marts whose published rows are grouped by columns (mart -> columns), `publish.cluster_by` in
# `cdp.yaml`. Pseudonymised device and session ids are random hex, unique per device or session;
# spread over 21M events at 1M people they took 680 MB of fct_events' 1.26 GB. Grouped by device
# the file is 534 MB and written in 8 s instead of 12; the sort costs ~11 s once, in a publish
# that writes the mart whole (bench/RESULTS.md, "Round 16"). Customer first: a customer's devices
# stay together, and so do the rows a day re-keys when customers merge (`FileSplit`).
DEFAULT_CLUSTER_BY: dict[str, list[str]] = {
    "fct_events": ["customer_id", "device_id", "occurred_at"],
    "fct_orders": ["customer_id", "ordered_at"],
    "fct_order_lines": ["customer_id", "order_date"],
}
# Marts published as a folder of files of about this many rows each (mart -> rows), `publish.file_rows`
# in `cdp.yaml`. A carried fact (`Carry`) then rewrites only the files holding a key rebuilt since
# and adds one file of the rows built since; the other files are hard-linked as published. Grouped
# by `cluster_by`, the few customers re-keyed in a day sit in few files: at 1M people the bench
# day's rebuilt rows sit in 11 of fct_events' 85 files and 31 of fct_orders' 159; the daily
# publish went from 54 to 40 s (bench/RESULTS.md, "Round 18").
DEFAULT_FILE_ROWS: dict[str, int] = {"fct_events": 245_760, "fct_orders": 61_440, "fct_order_lines": 61_440}
# Rows per Parquet row group (DuckDB's default); a folder mart's files hold whole row groups.
ROW_GROUP_ROWS = 122_880
# A carried folder mart whose files have grown to more than this many times the files it would be
# written in whole (each day adds one, and rewritten files shrink) is written whole again.
MAX_FILES_GROWTH = 2
PART_NONE = "none"  # the part of rows without a date
PART_COLUMN = "cdp_part"  # transient column naming a row's part while a folder is written

# (build database, staging folder, mart names, plans) -> details; writes <staging>/<mart>.parquet per
# mart as its plan says (`write_mart`): the folder <staging>/<mart>/ of the months to write for a
# `PartPlan`, the published file carried forward for a `Carry`, the built rows grouped for a
# `Clustered`, the built rows as they are otherwise.
StageMarts = Callable[[Path, Path, list[str], "dict[str, WritePlan]"], dict[str, Any]]


class PublishError(CdpError):
    """Nothing was published: the message says why (no successful build, a mart missing, ...)."""


class SwapFailed(PublishError):
    """The file system refused a swap (permissions, space): the marts named were swapped in before it."""


@dataclass(frozen=True)
class PartPlan:
    """A mart published as a folder of monthly files: its date column and the months to write now."""

    column: str
    parts: tuple[str, ...] | None = None  # None: every month (the folder is written whole)


@dataclass(frozen=True)
class Carry:
    """A changed incremental mart whose published file is carried forward rather than written anew.

    dbt rewrites every row of a key it rebuilds, stamped `_built_at`, so the build differs from the
    published file (same treatment, same columns) only by the keys of the rows built after `since`,
    the published file's latest `_built_at`: the next file is those rows, treated now, plus the
    published rows of every other key, already treated. At 1M people that spares pseudonymising
    21M events to publish a day's 74k (`carried_marts` decides which marts qualify).
    """

    published: Path
    key: str
    since: datetime
    keys_dropped: bool = False  # the build dropped keys: the carried rows are checked against its keys
    cluster: tuple[str, ...] = ()  # the rows built since are grouped by these (`Clustered`)
    files: FileSplit | None = None  # published as a folder of files (`FileSplit`), carried file by file
    touched: frozenset[str] = frozenset()  # a folder's files holding rows not carried (names)

    def rows_since(self, source: str) -> str:
        """The rows of `source` (a built mart) to treat now, as a subquery."""
        return f'(select * from {source} where "{BUILT_AT}" > {_timestamp(self.since)})'

    def carried_rows(self, source: str, read: str | None = None) -> str:
        """The published rows to keep: those of the keys with no row built since in `source` (and,
        when keys were dropped, still in it); `read` reads the published rows another way (some of
        a folder's files, their names as a column) than `parquet_source`."""
        key = f'"{self.key}"'
        query = (
            f"select * from {read or parquet_source(self.published)} as p "
            f"where not exists (select 1 from {self.rows_since(source)} as n where n.{key} = p.{key})"
        )
        if self.keys_dropped:
            query += f" and exists (select 1 from {source} as b where b.{key} = p.{key})"
        return query


@dataclass(frozen=True)
class FileSplit:
    """A mart published as a folder of files of about `rows` rows each, in the order written
    (`publish.file_rows`): `marts/<mart>/<stamp>-<n>.parquet`.

    One file would be rewritten whole to change a few rows; a folder lets a carried fact rewrite
    only the files that hold them (`Carry`). Files are whole row groups, so the split costs no
    compression."""

    rows: int

    def options(self) -> str:
        """`COPY` options that split a query's rows into files of `rows` rows."""
        group = min(self.rows, ROW_GROUP_ROWS)
        return f"row_group_size {group}, row_groups_per_file {max(1, self.rows // group)}"

    def max_files(self, rows: int) -> int:
        """Files beyond which a carried folder is written whole again (`MAX_FILES_GROWTH`)."""
        return MAX_FILES_GROWTH * max(1, -(-rows // self.rows)) + 1


@dataclass(frozen=True)
class Clustered:
    """A mart written whole, one file or a folder of files (`files`), with its rows grouped by
    `columns` (`publish.cluster_by`).

    The first column is sorted by its hash: equal values still end up side by side, at a fraction
    of the cost of comparing strings; the others order the rows within a group. The order is a
    layout, not a promise to readers (`select` without `order by` has none)."""

    columns: tuple[str, ...]
    files: FileSplit | None = None  # written as a folder of files (`FileSplit`)

    def ordered(self, con: Any, query: str) -> str:
        """`query` sorted by the columns, or as it is when it does not return them all."""
        if not self.columns or not set(self.columns) <= {name for name, _ in _shape(con, query)}:
            return query
        first, *rest = (f'"{c}"' for c in self.columns)
        return f"select * from ({query}) order by {', '.join([f'hash({first})', *rest])}"


WritePlan = PartPlan | Carry | Clustered


class PublishSettings(BaseModel):
    """The `publish:` section of cdp.yaml, validated so that a misspelt key or a wrong type fails
    with the key named (not silently ignored, nor a ValueError half way through a publish).
    `{}` or an empty value turns a setting off; a mart given 0 / null / [] is left out of it."""

    model_config = ConfigDict(extra="forbid")

    partition_by: dict[str, str] | None = Field(default_factory=lambda: dict(DEFAULT_PARTITION_BY))
    cluster_by: dict[str, list[str] | None] | None = Field(default_factory=lambda: dict(DEFAULT_CLUSTER_BY))
    file_rows: dict[str, NonNegativeInt | None] | None = Field(
        default_factory=lambda: dict(DEFAULT_FILE_ROWS)
    )


def publish_settings(config: CdpConfig) -> PublishSettings:
    return config.section("publish", PublishSettings)


def file_rows(config: CdpConfig) -> dict[str, FileSplit]:
    """Mart -> how its published folder is split into files (`publish.file_rows`)."""
    configured = publish_settings(config).file_rows or {}
    return {m: FileSplit(rows) for m, rows in configured.items() if rows}


def cluster_columns(config: CdpConfig) -> dict[str, tuple[str, ...]]:
    """Mart -> columns its published rows are grouped by (`publish.cluster_by`)."""
    configured = publish_settings(config).cluster_by or {}
    return {m: tuple(columns) for m, columns in configured.items() if columns}


def partition_columns(config: CdpConfig) -> dict[str, str]:
    """Mart -> date column whose month splits its published folder (`publish.partition_by`)."""
    return dict(publish_settings(config).partition_by or {})


def part_sql(column: str) -> str:
    """The part (month, `YYYY-MM`) of a row as SQL: the same expression on built and published rows."""
    return f"coalesce(strftime(\"{column}\", '%Y-%m'), '{PART_NONE}')"


def part_of(file: Path) -> str:
    """The month a published part file holds (`2026-10.parquet`, `2026-10_1.parquet`)."""
    return file.name.removesuffix(".parquet").split("_")[0]


def parquet_source(path: Path) -> str:
    """`read_parquet` of a published mart, a file or a folder of Parquet files."""
    return f"read_parquet({_literal(parquet_glob(path))})"


def write_mart(
    con: Any,
    items: str,
    source: str,
    out_dir: Path,
    mart: str,
    plan: WritePlan | None,
    prepare: Callable[[str], None] | None = None,
) -> None:
    """Write `select <items> from <source>` as `out_dir/<mart>.parquet`, or as `plan` says.

    The one writer of published Parquet (plain copy or pseudonymised alike): a folder mart
    (`PartPlan`) is one `COPY ... PARTITION_BY` over the months to write, whose files are renamed
    `<YYYY-MM>.parquet` into `out_dir/<mart>/` (the month column itself is not written). A folder
    with no rows gets one empty file, so its columns stay readable. A `Carry` evaluates `items` on
    the rows built since the published file only and adds the published file's other rows; when
    the published columns are not what `items` gives now, the mart is written whole instead.
    `prepare(rows)`, when given, is called first with the subquery `items` will be evaluated on
    (for example to look up pseudonyms for just those rows).
    """
    if isinstance(plan, Carry):
        rows = plan.rows_since(source)
        if prepare is not None:
            prepare(rows)
        treated = f"select {items} from {rows}"
        if _written_shape(con, treated, out_dir, mart) == _shape(
            con, f"select * from {parquet_source(plan.published)}"
        ):
            added = Clustered(plan.cluster).ordered(con, treated)
            if plan.files is not None:
                _carry_files(con, plan, plan.files, added, source, out_dir / mart)
                return
            _write_file(con, f"{plan.carried_rows(source)} union all ({added})", out_dir, mart)
            return
        log.info("%s: the published columns differ from the build's: written whole", mart)
        plan = Clustered(plan.cluster, plan.files)
    if prepare is not None:
        prepare(source)
    if plan is None or isinstance(plan, Clustered):
        query = f"select {items} from {source}"
        ordered = plan.ordered(con, query) if plan else query
        if plan is not None and plan.files is not None:
            folder = out_dir / mart
            _write_files(con, ordered, folder, plan.files, _file_stamp())
            _keep_readable(con, ordered, folder)
            return
        _write_file(con, ordered, out_dir, mart)
        return
    folder = out_dir / mart
    scratch = out_dir / f".{mart}.parts"
    shutil.rmtree(scratch, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    where = ""
    if plan.parts is not None:
        if not plan.parts:
            return
        where = f" where {part_sql(plan.column)} in ({', '.join(_literal(p) for p in plan.parts)})"
    con.execute(
        f"copy (select {items}, {part_sql(plan.column)} as {PART_COLUMN} from {source}{where}) "
        f"to {_literal(str(scratch))} ({PARQUET_OPTIONS}, partition_by ({PART_COLUMN}))"
    )
    written = 0
    for part_dir in sorted(scratch.glob(f"{PART_COLUMN}=*")):
        part = part_dir.name.split("=", 1)[1]
        for i, file in enumerate(sorted(part_dir.glob("*.parquet"))):
            os.replace(file, folder / (f"{part}.parquet" if i == 0 else f"{part}_{i}.parquet"))
            written += 1
    shutil.rmtree(scratch, ignore_errors=True)
    if plan.parts is None:
        _keep_readable(con, f"select {items} from {source}", folder)


def _carry_files(con: Any, plan: Carry, split: FileSplit, added: str, source: str, folder: Path) -> None:
    """A carried folder mart (`FileSplit`): the published files holding only rows carried
    forward hard-linked into `folder` as they are; the carried rows of the others (`plan.touched`)
    written again, in their order, as new files (one `COPY`, so DuckDB writes them side by side);
    the rows built since (`added`) as new files too.

    At 1M people a day re-keys the events of a few dozen customers: grouped by customer, they sit
    in 11 of fct_events' 85 files, and the others cost a link each instead of a read and a write."""
    files = parquet_files(plan.published)
    folder.mkdir(parents=True, exist_ok=True)
    for file in files:
        if file.name not in plan.touched:
            link_or_copy(file, folder / file.name)
    stamp = _file_stamp()
    rewritten = [_literal(str(f)) for f in files if f.name in plan.touched]
    written = 0
    if rewritten:
        kept = plan.carried_rows(source, f"read_parquet([{', '.join(rewritten)}])")
        written = _write_files(con, kept, folder, split, f"{stamp}-kept")
    new = _write_files(con, added, folder, split, f"{stamp}-added")
    _keep_readable(con, added, folder)
    log.info(
        "%s: %d of %d files held keys built since, their other rows written again as %d; %d files added",
        folder.name,
        len(rewritten),
        len(files),
        written,
        new,
    )


def link_or_copy(source: Path, target: Path) -> None:
    """A published file kept as it is in a staged folder: a hard link (no bytes, no time, same size
    and modification time, so role databases see it unchanged), or a copy keeping its times where
    the staging is on another file system or links are not allowed."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _write_files(con: Any, query: str, folder: Path, split: FileSplit, prefix: str) -> int:
    """Write `query` into `folder` as files of `split.rows` rows (at least 2,048: DuckDB's vector),
    `<prefix>-<n>.parquet` in the order written; returns the number of files."""
    scratch = folder.with_name(f".{folder.name}.{prefix}.files")
    shutil.rmtree(scratch, ignore_errors=True)
    rows = con.execute(f"copy ({query}) to {_literal(str(scratch))} ({PARQUET_OPTIONS}, {split.options()})")
    folder.mkdir(parents=True, exist_ok=True)
    # no rows, no file (DuckDB writes one empty file)
    written = sorted(scratch.glob("*.parquet"), key=_written_order) if rows.fetchall()[0][0] else []
    for n, file in enumerate(written):
        os.replace(file, folder / f"{prefix}-{n:05d}.parquet")
    shutil.rmtree(scratch, ignore_errors=True)
    return len(written)


def _written_order(file: Path) -> tuple[int, str]:
    """DuckDB names the files of one `COPY` `data_0.parquet`, `data_1.parquet`, ... in order."""
    digits = re.search(r"(\d+)$", file.stem)
    return (int(digits.group(1)) if digits else -1, file.name)


def _keep_readable(con: Any, query: str, folder: Path) -> None:
    """A folder mart left with no file gets one empty file, so its columns stay readable."""
    if not any(folder.glob("*.parquet")):
        empty = folder / f"{PART_NONE}.parquet"
        con.execute(f"copy (select * from ({query}) limit 0) to {_literal(str(empty))} ({PARQUET_OPTIONS})")


def _file_stamp() -> str:
    """Names a write's files apart from every earlier one (a reader's file list changes with them)."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")


def _write_file(con: Any, query: str, out_dir: Path, mart: str) -> None:
    partial = out_dir / f".{mart}.parquet.partial"
    con.execute(f"copy ({query}) to {_literal(str(partial))} ({PARQUET_OPTIONS})")
    os.replace(partial, out_dir / f"{mart}.parquet")


def _shape(con: Any, query: str) -> list[tuple[str, str]]:
    """Column names and types of a query's result."""
    return [(row[0], row[1]) for row in con.execute(f"describe {query}").fetchall()]


def _written_shape(con: Any, query: str, out_dir: Path, mart: str) -> list[tuple[str, str]]:
    """Column names and types of a query's result as Parquet stores them (a HUGEINT is a DOUBLE)."""
    empty = out_dir / f".{mart}.shape.parquet"
    con.execute(f"copy (select * from ({query}) limit 0) to {_literal(str(empty))} ({PARQUET_OPTIONS})")
    try:
        return _shape(con, f"select * from {parquet_source(empty)}")
    finally:
        empty.unlink()


@dataclass(frozen=True)
class PublishResult:
    batch_id: str
    marts: dict[str, int] = field(default_factory=dict)
    marts_dir: Path | None = None
    duckdb_path: Path | None = None
    docs_path: Path | None = None
    unchanged: tuple[str, ...] = ()  # marts whose published Parquet and table were kept as they were

    def summary(self) -> dict[str, Any]:
        return {
            "marts_published": len(self.marts),
            "mart_rows": self.marts,
            "marts": str(self.marts_dir),
            "duckdb": str(self.duckdb_path),
            "dbt_docs": str(self.docs_path) if self.docs_path else None,
            "unchanged_marts": list(self.unchanged),
        }


# --- the build marker ----------------------------------------------------------------------
def marker_path(config: CdpConfig) -> Path:
    return LakePaths.at(config.data_root).build / BUILD_MARKER


def start_build(config: CdpConfig, batch_id: str) -> None:
    """Forget the previous build's success before dbt touches the build database."""
    marker_path(config).parent.mkdir(parents=True, exist_ok=True)
    marker_path(config).unlink(missing_ok=True)
    log.info("marts build %s started", batch_id)


def finish_build(config: CdpConfig, batch_id: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """Record that `batch_id`'s dbt build succeeded (only then may it be published).

    Also closes dbt-duckdb's connection if dbt ran in this process (Cosmos' in-process runner,
    `airflow dags test`), so the gold gate and publish can open the build database.
    """
    dbt.release_duckdb()
    path = marker_path(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"batch_id": batch_id, "finished_at": datetime.now(UTC).isoformat(), **(details or {})}
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(record, indent=2, default=str), encoding="utf-8")
    os.replace(temporary, path)
    return record


def built_batch(config: CdpConfig) -> str | None:
    path = marker_path(config)
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8")).get("batch_id")


def build_marts(config: CdpConfig, batch_id: str) -> dict[str, Any]:
    """`dbt build` of every model and test into the build database, then the success marker."""
    start_build(config, batch_id)
    result = dbt.build(config)
    finish_build(config, batch_id, result.summary())
    return result.summary()


# --- which marts ---------------------------------------------------------------------------
def mart_names(manifest_path: Path) -> list[str]:
    """Models under `models/marts/` in dbt's manifest, by their relation name."""
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    names = [
        node.get("alias") or node["name"]
        for node in manifest["nodes"].values()
        if node.get("resource_type") == "model" and node.get("fqn", [None, None])[1] == "marts"
    ]
    return sorted(names)


def incremental_marts(manifest_path: Path) -> dict[str, str | None]:
    """Marts dbt builds incrementally (the big facts): few of their rows change from one day to the next.

    Mart -> its `unique_key` (the key dbt deletes and inserts by; None when it has none or several
    columns).
    """
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    return {
        node.get("alias") or node["name"]: _single_key(node.get("config", {}).get("unique_key"))
        for node in manifest["nodes"].values()
        if node.get("resource_type") == "model"
        and node.get("fqn", [None, None])[1] == "marts"
        and node.get("config", {}).get("materialized") == "incremental"
    }


def _single_key(unique_key: Any) -> str | None:
    if isinstance(unique_key, list):
        return unique_key[0] if len(unique_key) == 1 else None
    return unique_key if isinstance(unique_key, str) and unique_key else None


# --- publishing ----------------------------------------------------------------------------
def publish(
    config: CdpConfig,
    batch_id: str,
    *,
    with_docs: bool = True,
    stage_marts: StageMarts | None = None,
    treatment: str = "",
    rewrite: Collection[str] = (),
) -> PublishResult:
    """Swap the marts built for `batch_id` in atomically; see the module docstring.

    `stage_marts(build_db, out_dir, marts)` writes `out_dir/<mart>.parquet` for every mart it is
    given; the default copies them as built. A caller higher up can pass a treatment instead (for
    example pseudonymisation of direct identifiers) and `treatment`, a string that changes whenever
    that treatment would write something else from the same rows (its settings, keys, code);
    `cdp.duckdb` is loaded from whatever it staged.

    Only marts whose fingerprint (`mart_fingerprints`: their rows, columns and `treatment`) differs
    from the published one are staged and swapped in; the others keep their Parquet file and their
    table (carried over from the published `cdp.duckdb`), so a daily run rewrites only what changed.
    Marts in `rewrite` are staged even when unchanged (for example when a copy that the staging
    writes beside the Parquet is missing).
    """
    paths = LakePaths.at(config.data_root)
    built = built_batch(config)
    if built != batch_id:
        last = f"the last successful build is batch {built}" if built else "no build has succeeded there yet"
        raise PublishError(
            f"no successful marts build for batch {batch_id} in {paths.build} ({last}); the published "
            "marts were left as they were: build first (cdp marts build --batch-id B), or publish the "
            "batch that was built"
        )
    staging = paths.build / f"publish_{batch_id}"
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "marts").mkdir(parents=True)

    docs_index = None
    if with_docs:
        docs_index = dbt.docs_generate(config, staging / "docs", reuse_from=paths.docs / DOCS_SUBDIR)
    manifest = (staging / "docs" / "manifest.json") if with_docs else dbt.target_dir(config) / "manifest.json"
    if not manifest.exists():
        raise PublishError(f"dbt manifest not found at {manifest}; run the marts build first")
    marts = mart_names(manifest)

    columns_of = _built_columns(paths.build_duckdb, marts)
    partitioned = {m: c for m, c in partition_columns(config).items() if c in columns_of.get(m, ())}
    split = {m: f for m, f in file_rows(config).items() if m in columns_of and m not in partitioned}
    incremental = incremental_marts(manifest)
    by_build = [m for m in incremental if BUILT_AT in columns_of.get(m, ()) and m not in partitioned]
    built = _built_marts(paths.build_duckdb, marts, treatment, partitioned, by_build)
    previous, previous_parts = published_fingerprints(paths), published_parts(paths)
    if published_treatment(paths) != treatment_id(treatment):
        # rows the build did not touch are published differently now: keys cannot tell what changed
        incremental = dict.fromkeys(incremental)
    unchanged = [
        m
        for m in marts
        if previous.get(m) == built[m].fingerprint
        and paths.mart(m) == _layout(paths, m, [*partitioned, *split])
        and paths.mart(m).exists()
        and m not in rewrite
    ]
    changed = [m for m in marts if m not in unchanged]
    plans = _part_plans(paths, built, changed, partitioned, previous_parts)
    carried = carried_marts(
        paths,
        built,
        {m: key for m in changed if (key := incremental.get(m)) and m in by_build and m not in rewrite},
        split,
    )
    cluster = {m: c for m, c in cluster_columns(config).items() if m in changed and m not in partitioned}
    carried = {m: replace(carry, cluster=cluster.get(m, ())) for m, carry in carried.items()}
    clustered = {
        m: Clustered(cluster.get(m, ()), split.get(m))
        for m in changed
        if (m in cluster or m in split) and m not in carried and m not in partitioned
    }
    staged_db = staging / "cdp.duckdb"
    deltas = _updated_in_place(built, unchanged, incremental, plans)
    # The copy of the published cdp.duckdb is disk work and the Parquet staging CPU work: side by side.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="publish-copy") as pool:
        copying = pool.submit(
            reuse_copy,
            paths.duckdb,
            staged_db,
            {m: built[m].rows for m in [*unchanged, *deltas]},
            {m: b.rows for m, b in built.items() if m not in unchanged and m not in deltas},
        )
        if changed:
            (stage_marts or copy_marts)(
                paths.build_duckdb, staging / "marts", changed, {**plans, **carried, **clustered}
            )
        for mart, plan in plans.items():
            _link_kept_parts(paths.marts / mart, staging / "marts" / mart, built[mart], plan)
        kept = copying.result()
    _stage_database(
        paths,
        staged_db,
        staging / "marts",
        built,
        unchanged,
        batch_id,
        kept,
        deltas,
        incremental,
        plans,
        treatment_id(treatment),
    )
    swapped: list[str] = []
    try:
        _swap(paths, staging, changed, staged_db, docs_index, swapped)
    except OSError as exc:
        raise SwapFailed(
            f"publishing {batch_id} stopped while swapping the staged marts in: {exc}. "
            f"Swapped in before it: {', '.join(swapped) or 'nothing'}; the rest (marts, "
            f"{paths.duckdb.name}, docs) are as last published. Fix the cause (permissions or space "
            f"under {paths.root}) and publish again: `cdp marts publish --batch-id {batch_id}` (the build is kept)"
        ) from exc
    shutil.rmtree(staging, ignore_errors=True)
    log.info(
        "published %d marts for %s to %s and %s (%d unchanged, kept as published: %s)",
        len(changed),
        batch_id,
        paths.marts,
        paths.duckdb,
        len(unchanged),
        ", ".join(unchanged) or "none",
    )
    return PublishResult(
        batch_id=batch_id,
        marts={m: built[m].rows for m in marts},
        marts_dir=paths.marts,
        duckdb_path=paths.duckdb,
        docs_path=(paths.docs / DOCS_SUBDIR / docs_index.name) if docs_index else None,
        unchanged=tuple(unchanged),
    )


def staging_connection() -> AbstractContextManager[Any]:
    """An in-memory DuckDB connection for writing published Parquet (`write_mart`), its memory
    capped at `STAGING_MEMORY_LIMIT`."""
    return capped_connection(STAGING_MEMORY_LIMIT, "publish")


def copy_marts(
    build_db: Path, out_dir: Path, marts: list[str], parts: dict[str, WritePlan] | None = None
) -> dict[str, Any]:
    """The default staging: each mart from the build database to `out_dir` as it is (`write_mart`)."""
    with staging_connection() as con:
        con.execute(f"attach '{_sql_path(build_db)}' as build (read_only)")
        for mart in marts:
            source = f'build.{dbt.MARTS_SCHEMA}."{mart}"'
            write_mart(con, "*", source, out_dir, mart, (parts or {}).get(mart))
    return {"treatment": "as built"}


def _layout(paths: LakePaths, mart: str, folders: Collection[str]) -> Path:
    """Where `mart` belongs under the current settings: a folder (`folders`: monthly or split into
    files) or one file."""
    return paths.marts / mart if mart in folders else paths.marts / f"{mart}.parquet"


def _part_plans(
    paths: LakePaths,
    built: dict[str, BuiltMart],
    changed: list[str],
    partitioned: dict[str, str],
    previous_parts: dict[str, dict[str, str]],
) -> dict[str, PartPlan]:
    """For each changed folder mart, the months to write: all of them unless its folder is published
    and its months' fingerprints are known, then only the months whose fingerprint differs or whose
    file is missing."""
    plans: dict[str, PartPlan] = {}
    for mart in changed:
        if mart not in partitioned:
            continue
        folder = paths.marts / mart
        known = previous_parts.get(mart)
        if not known or not folder.is_dir():
            plans[mart] = PartPlan(partitioned[mart])
            continue
        on_disk = {part_of(f) for f in folder.glob("*.parquet")}
        write = tuple(
            sorted(p for p, fp in built[mart].parts.items() if known.get(p) != fp or p not in on_disk)
        )
        plans[mart] = PartPlan(partitioned[mart], write)
    return plans


def carried_marts(
    paths: LakePaths,
    built: dict[str, BuiltMart],
    keys: dict[str, str],
    split: dict[str, FileSplit] | None = None,
) -> dict[str, Carry]:
    """Which of the changed incremental marts `keys` (mart -> key) to carry forward (`Carry`).

    A mart qualifies when it is published as one file holding its key and `_built_at` (a folder of
    files for a mart in `split`, `FileSplit`, as long as it has not grown too many), at most
    `DELTA_MAX_SHARE` of its built rows are newer than that file's latest `_built_at`, and those
    rows plus the file's rows of every other key are exactly the build's row count. Keys the build
    dropped (a customer merged away, rows gone upstream) fail that count; checked against the
    build's keys too the rows may add up again, else the mart is written whole. The caller passes
    only marts published under the same treatment (their keys are known).
    """
    found: dict[str, Carry] = {}
    if not keys:
        return found
    with connect() as con:
        con.execute(f"attach {_literal(str(paths.build_duckdb))} as build (read_only)")
        for mart, key in keys.items():
            files = (split or {}).get(mart)
            published = _layout(paths, mart, [mart] if files else [])
            if not published.exists() or published.is_dir() != bool(files):
                continue
            count = len(parquet_files(published))
            if files and count > files.max_files(built[mart].rows):
                log.info("%s: %d files, more than a whole write makes: written whole", mart, count)
                continue
            carry = _carry(con, published, key, f'build.{dbt.MARTS_SCHEMA}."{mart}"', built[mart].rows)
            if carry is not None:
                found[mart] = replace(carry, files=files)
    return found


def _carry(con: Any, published: Path, key: str, source: str, rows: int) -> Carry | None:
    columns = [name for name, _ in _shape(con, f"select * from {parquet_source(published)}")]
    if key not in columns or BUILT_AT not in columns:
        return None
    since = con.execute(f'select max("{BUILT_AT}") from {parquet_source(published)}').fetchall()[0][0]
    if since is None:
        return None
    new = con.execute(f"select count(*) from {Carry(published, key, since).rows_since(source)}").fetchall()[
        0
    ][0]
    if new > DELTA_MAX_SHARE * max(rows, 1):
        return None
    by_file = f"read_parquet({_literal(parquet_glob(published))}, filename = true)"
    for dropped in (False, True):
        carry = Carry(published, key, since, keys_dropped=dropped)
        kept = {
            Path(name).name: count
            for name, count in con.execute(
                f"select filename, count(*) from ({carry.carried_rows(source, by_file)}) group by filename"
            ).fetchall()
        }
        if new + sum(kept.values()) == rows:
            log.info(
                "%s: %d rows built since %s, the others carried forward from it", published.name, new, since
            )
            return replace(carry, touched=_files_not_kept_whole(con, published, kept))
    log.info(
        "%s: its rows and the %d built since do not add up to the build's: written whole", published.name, new
    )
    return None


def _files_not_kept_whole(con: Any, published: Path, kept: dict[str, int]) -> frozenset[str]:
    """The files of a folder mart with fewer rows `kept` (file name -> rows) than they hold (none
    for a single file: it is written again whole anyway)."""
    if not published.is_dir():
        return frozenset()
    held = con.execute(
        f"select file_name, num_rows from parquet_file_metadata({_literal(parquet_glob(published))})"
    ).fetchall()
    return frozenset(Path(name).name for name, rows in held if kept.get(Path(name).name, 0) < rows)


def _link_kept_parts(published: Path, staged: Path, built: BuiltMart, plan: PartPlan) -> None:
    """Hard-link (`link_or_copy`) the published files of the months not written again into the staged folder.

    Months the build no longer has are left out; a link costs no bytes and no time, and the file
    keeps its size and modification time (role databases see it as unchanged).
    """
    staged.mkdir(parents=True, exist_ok=True)
    if plan.parts is None or not published.is_dir():
        return
    write = set(plan.parts)
    for file in sorted(published.glob("*.parquet")):
        part = part_of(file)
        if part in built.parts and part not in write:
            link_or_copy(file, staged / file.name)


@dataclass(frozen=True)
class BuiltMart:
    rows: int
    fingerprint: str
    parts: dict[str, str] = field(default_factory=dict)  # month -> fingerprint, for a folder mart


def mart_fingerprints(
    con: Any,
    schema: str,
    marts: list[str],
    treatment: str = "",
    partitioned: dict[str, str] | None = None,
    by_build: Collection[str] = (),
) -> dict[str, BuiltMart]:
    """Row count and fingerprint of each mart in `schema` of `con`: equal fingerprints, equal tables.

    The fingerprint hashes the columns (names and types), the row count, the sum of DuckDB's hash of
    every row (order does not matter, a changed, added or removed row does), `treatment` and the
    publish format: one scan of each table inside DuckDB, far cheaper than writing it again. A mart
    in `partitioned` (mart -> date column) gets a fingerprint per month from the same scan. A mart
    in `by_build`, built incrementally with `BUILT_AT`, is told by its row count and latest build
    time instead (a scan of one column): dbt stamps every row it rewrites, so rows rebuilt raise
    the latest time and keys dropped lower the count.
    """
    import duckdb

    found: dict[str, BuiltMart] = {}
    for mart in marts:
        columns = con.execute(
            "select list(column_name || ' ' || data_type order by ordinal_position) "
            "from information_schema.columns where table_schema = ? and table_name = ?",
            [schema, mart],
        ).fetchall()[0][0]
        stem = f"{PUBLISH_FORMAT}|{duckdb.__version__}|{treatment}|{columns}"
        column = (partitioned or {}).get(mart)
        parts: dict[str, str] = {}
        if mart in by_build and column is None:
            rows, latest = con.execute(
                f'select count(*), max("{BUILT_AT}") from {schema}."{mart}"'
            ).fetchall()[0]
            total = f"built {latest}"
        elif column is None:
            rows, total = con.execute(
                f'select count(*), coalesce(sum(hash(t)::hugeint), 0) from {schema}."{mart}" as t'
            ).fetchall()[0]
        else:
            counted = con.execute(
                f"select {part_sql(column)} as part, count(*), sum(hash(t)::hugeint) "
                f'from {schema}."{mart}" as t group by part'
            ).fetchall()
            rows, total = sum(int(r[1]) for r in counted), sum(int(r[2]) for r in counted)
            parts = {
                part: hashlib.sha256(f"{stem}|{part}|{n}|{h}".encode()).hexdigest() for part, n, h in counted
            }
        text = f"{stem}|{rows}|{total}"
        found[mart] = BuiltMart(int(rows), hashlib.sha256(text.encode()).hexdigest(), parts)
    return found


def published_fingerprints(paths: LakePaths) -> dict[str, str]:
    """Mart -> fingerprint of what `cdp.duckdb` (and marts/) hold now, from its publish log.

    Empty (everything is published again) when there is no `cdp.duckdb`, it has a write-ahead log
    (something other than publish wrote it), or its log predates fingerprints.
    """
    import duckdb

    if not paths.duckdb.is_file() or paths.duckdb.with_name(paths.duckdb.name + ".wal").exists():
        return {}
    try:
        with connect(paths.duckdb, read_only=True) as con:
            return dict(
                con.execute(
                    f"select mart, fingerprint from {PUBLISH_LOG_TABLE} where fingerprint is not null"
                ).fetchall()
            )
    except duckdb.Error as exc:  # no log, or a log without fingerprints: publish everything
        log.info(
            "no fingerprints in %s (%s): every mart is published", paths.duckdb, str(exc).splitlines()[0]
        )
        return {}


def treatment_id(treatment: str) -> str:
    """What the publish log records of a publish's treatment: equal ids, rows published alike."""
    return hashlib.sha256(f"{PUBLISH_FORMAT}|{treatment}".encode()).hexdigest()[:16]


def published_treatment(paths: LakePaths) -> str | None:
    """The treatment id (`treatment_id`) of what `cdp.duckdb` holds; None when unknown."""
    rows = _read_log(paths, "treatment")
    return rows[0][1] if rows else None


def _read_log(paths: LakePaths, *columns: str) -> list[tuple]:
    """(mart, *columns) of every mart in `cdp.duckdb`'s publish log; empty when there is no
    database, it was written by something other than publish (a write-ahead log), or its log
    predates one of `columns`."""
    import duckdb

    if not paths.duckdb.is_file() or paths.duckdb.with_name(paths.duckdb.name + ".wal").exists():
        return []
    try:
        with connect(paths.duckdb, read_only=True) as con:
            return con.execute(f"select mart, {', '.join(columns)} from {PUBLISH_LOG_TABLE}").fetchall()
    except duckdb.Error:
        return []


def published_parts(paths: LakePaths) -> dict[str, dict[str, str]]:
    """Folder mart -> month -> fingerprint of what is published, from `cdp.duckdb`'s publish log
    (empty for a log that predates folder marts)."""
    return {mart: json.loads(parts) for mart, parts in _read_log(paths, "parts") if parts is not None}


@dataclass(frozen=True)
class DeltaPublished:
    """A mart the last publish updated row by row in `cdp.duckdb`: how a copy can follow it."""

    key: str | None  # its key, when the update went by build time (`sync_since_built`)
    replaced: str | None  # the signature (`mart_signature`) of the files this publish replaced


def delta_published(paths: LakePaths) -> dict[str, DeltaPublished]:
    """Marts that the last publish brought up to date row by row in `cdp.duckdb` (`sync_table`).

    Their published Parquet was rewritten, but few rows changed: a database built from it (a role
    database) can be updated the same way; by build time too when it was a copy of the files this
    publish replaced. Empty when the log predates row-level updates.
    """
    rows = _read_log(paths, "delta_rows", "sync_key", "replaced") or [
        (*row, None, None) for row in _read_log(paths, "delta_rows")
    ]
    return {mart: DeltaPublished(key, replaced) for mart, delta, key, replaced in rows if delta is not None}


def mart_signature(paths: LakePaths, mart: str) -> str:
    """Identity of a published mart's Parquet: each file's name, size and modification time (ns).

    Publishing writes a changed mart's file anew and leaves an unchanged one alone, and so does
    erasure's filtering: a table loaded from files with the same signature holds the same rows. (A
    copy of the data root that keeps modification times, like `cp -a`, keeps the signatures too.)
    """
    return ";".join(file_signature(f) for f in paths.mart_files(mart))


def file_signature(file: Path) -> str:
    stat = file.stat()
    return f"{file.name}:{stat.st_size}:{stat.st_mtime_ns}"


def _built_columns(build_db: Path, marts: list[str]) -> dict[str, list[str]]:
    """Columns of each built mart (none when the build database is missing: `_built_marts` says so)."""
    if not build_db.exists():
        return {}
    _release_dbt()
    with connect(build_db, read_only=True) as build:
        rows = build.execute(
            "select table_name, list(column_name) from information_schema.columns "
            "where table_schema = ? group by table_name",
            [dbt.MARTS_SCHEMA],
        ).fetchall()
    return {t: list(c) for t, c in rows if t in marts}


def _built_marts(
    build_db: Path,
    marts: list[str],
    treatment: str,
    partitioned: dict[str, str] | None = None,
    by_build: Collection[str] = (),
) -> dict[str, BuiltMart]:
    """Every mart must be in the build database; their row counts and fingerprints."""
    if not build_db.exists():
        raise PublishError(f"build database not found: {build_db}")
    _release_dbt()
    with connect(build_db, read_only=True) as build:
        available = {
            r[0]
            for r in build.execute(
                f"select table_name from information_schema.tables where table_schema = '{dbt.MARTS_SCHEMA}'"
            ).fetchall()
        }
        missing = [m for m in marts if m not in available]
        if missing:
            raise PublishError(
                f"marts missing from {build_db}: {', '.join(missing)}; the build is incomplete"
            )
        return mart_fingerprints(build, dbt.MARTS_SCHEMA, marts, treatment, partitioned, by_build)


def _release_dbt() -> None:
    """Close dbt's connection to the build database if dbt ran in this process (no dbt import otherwise)."""
    if "dbt.adapters.duckdb" in sys.modules:
        dbt.release_duckdb()


def reuse_copy(previous: Path, target: Path, keep: dict[str, float], rebuild: dict[str, float]) -> set[str]:
    """Start `target` as a file copy of the database `previous`, keeping only the tables in `keep`.

    `keep` and `rebuild` weigh the tables kept and the tables that will be written again (rows,
    bytes). Copying pays only while the kept tables weigh at least as much as the rebuilt ones
    (`REUSE_MIN_SHARE`): a table dropped from the copy leaves its blocks free in the file, so a copy
    with most tables replaced would be nearly twice the size of a fresh one. Returns the tables kept
    (empty: nothing copied, start from an empty database).
    """
    kept_weight, total = sum(keep.values()), sum(keep.values()) + sum(rebuild.values())
    if not keep or not previous.is_file() or kept_weight < REUSE_MIN_SHARE * total:
        return set()
    shutil.copyfile(previous, target)
    with connect(target) as con:
        for (table,) in con.execute("select table_name from duckdb_tables()").fetchall():
            if table not in keep:
                con.execute(f'drop table main."{table}"')
        con.execute("checkpoint")
    return set(keep)


def _updated_in_place(
    built: dict[str, BuiltMart],
    unchanged: list[str],
    incremental: dict[str, str | None],
    plans: dict[str, PartPlan],
) -> list[str]:
    """Changed marts that a copy of the published `cdp.duckdb` can update instead of reloading:
    incremental marts (row by row) and folder marts of which only some months were written."""
    partial = {m for m, p in plans.items() if p.parts is not None}
    return [m for m in built if m not in unchanged and (m in incremental or m in partial)]


def _stage_database(
    paths: LakePaths,
    staged_db: Path,
    parquet_dir: Path,
    built: dict[str, BuiltMart],
    unchanged: list[str],
    batch_id: str,
    kept: set[str],
    deltas: list[str],
    incremental: dict[str, str | None] | None = None,
    plans: dict[str, PartPlan] | None = None,
    treatment: str = "",
) -> None:
    """The next `cdp.duckdb`: changed marts from their staged Parquet, unchanged ones as published.

    `staged_db` is already there as `reuse_copy` left it: when the marts kept as published and the
    ones updated in place (`deltas`, `_updated_in_place`) hold most rows, a copy of the published
    file holding the tables `kept`, where only the other changed tables are replaced; otherwise
    nothing, and every table is loaded into a fresh file, the unchanged ones from their published Parquet.
    Updated in place: a folder mart of which only some months were written gets those months'
    rows replaced (`replace_parts`); an incremental mart otherwise is synced row by row: by its key
    (`incremental`: mart -> key) and build time (`sync_since_built`), or by a hash of every row
    (`sync_table`). Every table holds the build's row count, checked mart by mart. The publish log
    records, per mart, the rows an update in place changed (`delta_rows`), the key it went by
    (`sync_key`) and the signature of the published files it replaced (`replaced`: a role database
    built from those can follow by build time too), for a folder mart its months' fingerprints
    (`parts`), and the publish's `treatment` id.
    """
    plans = plans or {}
    incremental = incremental or {}
    partial = {m: p for m, p in plans.items() if p.parts is not None}
    now = datetime.now(UTC).replace(tzinfo=None)
    delta_rows: dict[str, int | None] = {}
    sync_keys: dict[str, str] = {}
    replaced = {m: mart_signature(paths, m) for m in deltas}
    with connect(staged_db) as con:
        columns = dict(
            con.execute(
                "select table_name, list(column_name) from duckdb_columns() "
                "where database_name = current_database() and schema_name = 'main' group by table_name"
            ).fetchall()
        )
        for mart, expected in built.items():
            if mart in kept and mart in unchanged:
                continue
            source = paths.mart(mart) if mart in unchanged else _staged(parquet_dir, mart)
            if not source.exists():
                raise PublishError(f"staging wrote no {source}")
            select = f"select * from {parquet_source(source)}"
            plan = partial.get(mart)
            few = plan is not None and len(plan.parts or ()) <= DELTA_MAX_SHARE * max(len(expected.parts), 1)
            if mart in kept and plan is not None and few and plan.column in columns.get(mart, ()):
                written = [f for f in sorted(source.glob("*.parquet")) if part_of(f) in plan.parts]
                delta_rows[mart] = replace_parts(
                    con, mart, plan.column, plan.parts, set(expected.parts), files_source(written)
                )
            elif mart in kept and mart in columns:  # a new mart is not in the published file yet
                delta_rows[mart], by_key = sync_rows(con, mart, select, incremental.get(mart))
                if by_key is not None:
                    sync_keys[mart] = by_key
            else:
                con.execute(f'create table main."{mart}" as {select}')
            rows = int(con.execute(f'select count(*) from main."{mart}"').fetchall()[0][0])
            if rows != expected.rows:
                raise PublishError(f"{source}: {rows} rows staged, the build has {expected.rows}")
        con.execute(
            f"create table {PUBLISH_LOG_TABLE} (batch_id varchar, published_at timestamp, mart varchar, "
            "row_count bigint, fingerprint varchar, rewritten boolean, delta_rows bigint, parts varchar, "
            "sync_key varchar, replaced varchar, treatment varchar)"
        )
        con.executemany(
            f"insert into {PUBLISH_LOG_TABLE} values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                [
                    batch_id,
                    now,
                    mart,
                    b.rows,
                    b.fingerprint,
                    mart not in unchanged,
                    delta_rows.get(mart),
                    json.dumps(b.parts, sort_keys=True) if b.parts or mart in plans else None,
                    sync_keys.get(mart),
                    replaced.get(mart) if delta_rows.get(mart) is not None else None,
                    treatment,
                ]
                for mart, b in built.items()
            ],
        )
        con.execute("checkpoint")


def _staged(parquet_dir: Path, mart: str) -> Path:
    return mart_location(parquet_dir, mart)


def replace_parts(
    con: Any, table: str, column: str, parts: Collection[str], keep: Collection[str], source: str | None
) -> int:
    """Replace the rows of the months `parts` in `main.<table>` by the rows of the query `source`
    (those months' files); drop the months not in `keep`.

    The update in place of a folder mart: only the months whose files were written again are
    deleted and inserted (by column name), so a day that touched two months costs two months' rows,
    not a hash of the whole table. Returns the rows deleted plus inserted.
    """
    name = f'main."{table}"'
    replaced = [*parts, *[p for p in _table_parts(con, name, column) if p not in keep]]
    deleted = 0
    if replaced:
        deleted = int(
            con.execute(
                f"delete from {name} where {part_sql(column)} in ({', '.join(_literal(p) for p in replaced)})"
            ).fetchall()[0][0]
        )
    inserted = int(con.execute(f"insert into {name} by name {source}").fetchall()[0][0]) if source else 0
    return deleted + inserted


def files_source(files: list[Path], items: str = "*") -> str | None:
    """`select <items>` from the Parquet `files` (None without files)."""
    if not files:
        return None
    return f"select {items} from read_parquet([{', '.join(_literal(str(f)) for f in files)}])"


def _table_parts(con: Any, name: str, column: str) -> list[str]:
    return [r[0] for r in con.execute(f"select distinct {part_sql(column)} from {name}").fetchall()]


def sync_since_built(
    con: Any, table: str, source: str, key: str, max_share: float = DELTA_MAX_SHARE
) -> int | None:
    """Make `main.<table>` hold exactly the rows of the query `source` from the rows built since it.

    For a copy of an incrementally built mart (`BUILT_AT`): dbt rewrites every row of a key it
    rebuilds, stamped with the run's start, so the source differs from the copy only by the keys of
    its rows newer than the copy's latest `_built_at` (deleted and inserted here) and by keys the
    build dropped. Those are found only when the row count says some are left (a scan of the key
    alone). Costs a scan of the key and a read of the new rows, where `sync_table` hashes every row
    of both. It assumes the copy was taken from this mart as published alike (same columns, same
    treatment): the caller's to know.

    Returns the rows deleted plus inserted, or None, with the table untouched, when it does not
    apply: no `_built_at` or key on either side, other columns, too many rows built since
    (`max_share`), or a result whose row count is not the source's.
    """
    name = f'main."{table}"'
    have = [r[0] for r in con.execute(f"select * from {name} limit 0").description]
    wanted = [r[0] for r in con.execute(f"select * from ({source}) limit 0").description]
    if sorted(have) != sorted(wanted) or BUILT_AT not in have or key not in have:
        return None
    latest = con.execute(f'select max("{BUILT_AT}") from {name}').fetchall()[0][0]
    if latest is None:
        return None
    rows = int(con.execute(f"select count(*) from ({source})").fetchall()[0][0])
    con.execute("begin transaction")
    try:
        con.execute(
            f'create temp table cdp_sync_built as select * from ({source}) as s where s."{BUILT_AT}" > ?',
            [latest],
        )
        built = int(con.execute("select count(*) from cdp_sync_built").fetchall()[0][0])
        if built > max_share * max(rows, 1):
            con.execute("rollback")
            return None
        changed = int(
            con.execute(
                f'delete from {name} where "{key}" in (select "{key}" from cdp_sync_built)'
            ).fetchall()[0][0]
        )
        changed += int(
            con.execute(f"insert into {name} by name select * from cdp_sync_built").fetchall()[0][0]
        )
        if int(con.execute(f"select count(*) from {name}").fetchall()[0][0]) != rows:  # keys dropped
            changed += int(
                con.execute(
                    f'delete from {name} where "{key}" not in '
                    f'(select s."{key}" from ({source}) as s where s."{key}" is not null)'
                ).fetchall()[0][0]
            )
        if int(con.execute(f"select count(*) from {name}").fetchall()[0][0]) != rows:
            log.warning(
                "%s: rows built since %s do not reproduce its source; syncing by row hash", table, latest
            )
            con.execute("rollback")
            return None
        con.execute("drop table temp.cdp_sync_built")
        con.execute("commit")
        log.info(
            "%s: %d rows built since %s applied by %s (%d rows changed)", table, built, latest, key, changed
        )
    except Exception:
        con.execute("rollback")
        raise
    return changed


def sync_rows(con: Any, table: str, source: str, key: str | None) -> tuple[int | None, str | None]:
    """Make `main.<table>` hold exactly the rows of the query `source`: by the keys built since
    (`sync_since_built`) when `key` is given and that applies, else by row hash (`sync_table`).

    Returns the rows changed (None: loaded anew) and the key the update went by (None: by hash).
    """
    if key is not None:
        changed = sync_since_built(con, table, source, key)
        if changed is not None:
            return changed, key
    return sync_table(con, table, source), None


def sync_table(con: Any, table: str, source: str, max_share: float = DELTA_MAX_SHARE) -> int | None:
    """Make `main.<table>` hold exactly the rows of the query `source`, rewriting only the rows that differ.

    Rows are told apart by DuckDB's `hash` of the whole row: rows of the table that the source no
    longer has are deleted, rows of the source that the table lacks are inserted, so a fact table
    that gained a day of rows costs two hash scans instead of compressing every row again. When
    more than `max_share` of the rows differ, or the update would not reproduce the source's row
    count and sum of row hashes (duplicate rows, changed columns), the table is loaded anew.
    That check is arithmetic on the row hashes already computed (rows kept plus rows inserted), so
    it costs no third scan of the table.
    Returns the rows deleted plus inserted, or None when the table was loaded anew.
    """
    name = f'main."{table}"'
    con.execute(f"create or replace temp table cdp_sync_new as select hash(s) as h from ({source}) as s")
    con.execute(
        f"create or replace temp table cdp_sync_old as select rowid as rid, hash(t) as h from {name} as t"
    )
    con.execute(
        "create or replace temp table cdp_sync_gone as select rid from cdp_sync_old anti join cdp_sync_new using (h)"
    )
    con.execute(
        "create or replace temp table cdp_sync_added as select h from cdp_sync_new anti join cdp_sync_old using (h)"
    )
    rows, gone, added = con.execute(
        "select (select count(*) from cdp_sync_new), (select count(*) from cdp_sync_gone), "
        "(select count(*) from cdp_sync_added)"
    ).fetchall()[0]
    changed: int | None = int(gone) + int(added)
    if changed <= max_share * max(int(rows), 1):
        # The table after the update: its rows but the gone ones, plus every source row whose hash
        # was added (duplicates included); it must equal the source in count and sum of hashes.
        kept, source_total, inserted = con.execute(
            "select (select [count(*), coalesce(sum(h::hugeint), 0)] from cdp_sync_old "
            "        anti join cdp_sync_gone using (rid)), "
            "       (select [count(*), coalesce(sum(h::hugeint), 0)] from cdp_sync_new), "
            "       (select [count(*), coalesce(sum(h::hugeint), 0)] from cdp_sync_new semi join cdp_sync_added using (h))"
        ).fetchall()[0]
        if [kept[0] + inserted[0], kept[1] + inserted[1]] == list(source_total):
            con.execute(f"delete from {name} where rowid in (select rid from cdp_sync_gone)")
            con.execute(
                f"insert into {name} select s.* from ({source}) as s semi join cdp_sync_added as a on hash(s) = a.h"
            )
        else:
            log.warning("%s: a row-level update would not reproduce its source; loading it anew", table)
            changed = None
    else:
        changed = None
    if changed is None:
        con.execute(f"drop table {name}")
        con.execute(f"create table {name} as {source}")
    for temporary in ("cdp_sync_new", "cdp_sync_old", "cdp_sync_gone", "cdp_sync_added"):
        con.execute(f"drop table temp.{temporary}")
    return changed


def _swap(
    paths: LakePaths,
    staging: Path,
    marts: list[str],
    staged_db: Path,
    docs_index: Path | None,
    swapped: list[str],
) -> None:
    """Rename staged files and folders over the published ones (same file system, each swap atomic);
    `swapped` collects what is in, for the message when a later swap fails."""
    paths.marts.mkdir(parents=True, exist_ok=True)
    for mart in marts:
        staged = _staged(staging / "marts", mart)
        if staged.is_dir():
            swap_folder(staged, paths.marts / mart)
            (paths.marts / f"{mart}.parquet").unlink(missing_ok=True)  # the layout before folders
        else:
            os.replace(staged, paths.marts / f"{mart}.parquet")
            if (paths.marts / mart).is_dir():  # no longer a folder mart
                shutil.rmtree(paths.marts / mart)
        swapped.append(mart)
    stale_wal = paths.duckdb.with_name(paths.duckdb.name + ".wal")
    if stale_wal.exists():
        log.warning("removing a stale write-ahead log %s (cdp.duckdb is only written by publish)", stale_wal)
        stale_wal.unlink()
    os.replace(staged_db, paths.duckdb)
    swapped.append(paths.duckdb.name)
    if docs_index is not None:
        target = paths.docs / DOCS_SUBDIR
        previous = paths.docs / f".{DOCS_SUBDIR}.previous"
        shutil.rmtree(previous, ignore_errors=True)
        paths.docs.mkdir(parents=True, exist_ok=True)
        if target.exists():
            os.replace(target, previous)
        os.replace(docs_index.parent, target)
        shutil.rmtree(previous, ignore_errors=True)


RENAME_EXCHANGE = 2  # renameat2 flag (Linux >= 3.15): swap two paths atomically
AT_FDCWD = -100


def swap_folder(staged: Path, published: Path) -> None:
    """Put the folder `staged` where `published` is, in one atomic step; the old folder is deleted.

    With `renameat2(RENAME_EXCHANGE)` a reader globbing the folder sees every old file or every new
    one, never a mix; where the call is missing (not Linux) the old folder is renamed away first,
    leaving a moment without the mart. The old folder is then removed: its files may share inodes
    with the new folder's (hard links), so an erasure that rewrites a published file leaves no copy.
    """
    if not published.exists():
        os.replace(staged, published)
        return
    if not _exchange(staged, published):
        aside = staged.with_name(staged.name + ".old")
        os.replace(published, aside)
        os.replace(staged, published)
        staged = aside
    shutil.rmtree(staged)


def _exchange(a: Path, b: Path) -> bool:
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    result = renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE)
    if result != 0:
        error = ctypes.get_errno()
        if error in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: the file system cannot exchange
            return False
        raise OSError(error, os.strerror(error), str(b))
    return True


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _timestamp(value: datetime) -> str:
    return f"cast({_literal(value.isoformat(sep=' '))} as timestamp)"
