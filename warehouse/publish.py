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
   `sync_table` deletes and inserts only the rows that differ), and generates the dbt docs
   there, checking row counts against the build database;
3. only when everything is written, renames each staged file over the published one
   (`os.replace`, atomic on one file system): a reader sees the old mart or the new one, never half
   of one; `cdp.duckdb` is replaced in one rename (open readers keep the old file until they close).

Which models are marts comes from dbt's manifest (models under `models/marts/`), so a model
dropped from the project is not published from a stale table.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sys
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from warehouse import dbt
from warehouse.config import CdpConfig
from warehouse.errors import CdpError
from warehouse.paths import LakePaths

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
# How every published Parquet file is written: zstd at level 1 compresses the marts ~5% less than
# DuckDB's default level 3 for ~40% less CPU (measured on the 100k marts, bench/RESULTS.md).
PARQUET_OPTIONS = "format parquet, compression zstd, compression_level 1"

# (build database, staging folder, mart names) -> details; writes <staging>/<mart>.parquet per mart.
StageMarts = Callable[[Path, Path, list[str]], dict[str, Any]]


class PublishError(CdpError):
    """Nothing was published: the message says why (no successful build, a mart missing, ...)."""


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


def incremental_marts(manifest_path: Path) -> set[str]:
    """Marts dbt builds incrementally (the big facts): few of their rows change from one day to the next."""
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    return {
        node.get("alias") or node["name"]
        for node in manifest["nodes"].values()
        if node.get("resource_type") == "model"
        and node.get("fqn", [None, None])[1] == "marts"
        and node.get("config", {}).get("materialized") == "incremental"
    }


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
    import duckdb

    paths = LakePaths.at(config.data_root)
    if built_batch(config) != batch_id:
        raise PublishError(
            f"no successful marts build for batch {batch_id} in {paths.build} (found: {built_batch(config)}); "
            "the published marts were left as they were"
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

    built = _built_marts(duckdb, paths.build_duckdb, marts, treatment)
    previous = published_fingerprints(paths)
    unchanged = [
        m
        for m in marts
        if previous.get(m) == built[m].fingerprint and paths.mart(m).exists() and m not in rewrite
    ]
    changed = [m for m in marts if m not in unchanged]
    staged_db = staging / "cdp.duckdb"
    if changed:
        (stage_marts or copy_marts)(paths.build_duckdb, staging / "marts", changed)
    _stage_database(
        duckdb, paths, staged_db, staging / "marts", built, unchanged, batch_id, incremental_marts(manifest)
    )
    _swap(paths, staging, changed, staged_db, docs_index)
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


def copy_marts(build_db: Path, out_dir: Path, marts: list[str]) -> dict[str, Any]:
    """The default staging: each mart from the build database to `out_dir/<mart>.parquet` as it is."""
    import duckdb

    with duckdb.connect() as con:
        con.execute(f"attach '{_sql_path(build_db)}' as build (read_only)")
        for mart in marts:
            target = out_dir / f"{mart}.parquet"
            con.execute(
                f'copy (select * from build.{dbt.MARTS_SCHEMA}."{mart}") '
                f"to '{_sql_path(target)}' ({PARQUET_OPTIONS})"
            )
    return {"treatment": "as built"}


@dataclass(frozen=True)
class BuiltMart:
    rows: int
    fingerprint: str


def mart_fingerprints(con: Any, schema: str, marts: list[str], treatment: str = "") -> dict[str, BuiltMart]:
    """Row count and fingerprint of each mart in `schema` of `con`: equal fingerprints, equal tables.

    The fingerprint hashes the columns (names and types), the row count, the sum of DuckDB's hash of
    every row (order does not matter, a changed, added or removed row does), `treatment` and the
    publish format: one scan of each table inside DuckDB, far cheaper than writing it again.
    """
    import duckdb

    found: dict[str, BuiltMart] = {}
    for mart in marts:
        columns = con.execute(
            "select list(column_name || ' ' || data_type order by ordinal_position) "
            "from information_schema.columns where table_schema = ? and table_name = ?",
            [schema, mart],
        ).fetchall()[0][0]
        rows, total = con.execute(
            f'select count(*), coalesce(sum(hash(t)::hugeint), 0) from {schema}."{mart}" as t'
        ).fetchall()[0]
        text = f"{PUBLISH_FORMAT}|{duckdb.__version__}|{treatment}|{columns}|{rows}|{total}"
        found[mart] = BuiltMart(int(rows), hashlib.sha256(text.encode()).hexdigest())
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
        with duckdb.connect(str(paths.duckdb), read_only=True) as con:
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


def delta_published(paths: LakePaths) -> set[str]:
    """Marts that the last publish brought up to date row by row in `cdp.duckdb` (`sync_table`).

    Their published Parquet was rewritten, but few rows changed: a database built from it (a role
    database) can be updated the same way. Empty when the log predates row-level updates.
    """
    import duckdb

    if not paths.duckdb.is_file():
        return set()
    try:
        with duckdb.connect(str(paths.duckdb), read_only=True) as con:
            rows = con.execute(
                f"select mart from {PUBLISH_LOG_TABLE} where delta_rows is not null"
            ).fetchall()
    except duckdb.Error:  # no log, or one without delta_rows
        return set()
    return {r[0] for r in rows}


def _built_marts(duckdb: Any, build_db: Path, marts: list[str], treatment: str) -> dict[str, BuiltMart]:
    """Every mart must be in the build database; their row counts and fingerprints."""
    if not build_db.exists():
        raise PublishError(f"build database not found: {build_db}")
    _release_dbt()
    with duckdb.connect(str(build_db), read_only=True) as build:
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
        return mart_fingerprints(build, dbt.MARTS_SCHEMA, marts, treatment)


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
    import duckdb

    kept_weight, total = sum(keep.values()), sum(keep.values()) + sum(rebuild.values())
    if not keep or not previous.is_file() or kept_weight < REUSE_MIN_SHARE * total:
        return set()
    shutil.copyfile(previous, target)
    with duckdb.connect(str(target)) as con:
        for (table,) in con.execute("select table_name from duckdb_tables()").fetchall():
            if table not in keep:
                con.execute(f'drop table main."{table}"')
        con.execute("checkpoint")
    return set(keep)


def _stage_database(
    duckdb: Any,
    paths: LakePaths,
    staged_db: Path,
    parquet_dir: Path,
    built: dict[str, BuiltMart],
    unchanged: list[str],
    batch_id: str,
    incremental: Collection[str] = (),
) -> None:
    """The next `cdp.duckdb`: changed marts from their staged Parquet, unchanged ones as published.

    When the marts kept as published and the incremental ones (brought up to date row by row,
    `sync_table`) hold most rows, the published file is copied and only the other changed tables
    are replaced in it (`reuse_copy`); otherwise every table is loaded into a fresh file, the
    unchanged ones from their published Parquet. Every table holds the build's row count, checked
    mart by mart. The publish log records, per mart, the rows a row-level update changed (`delta_rows`).
    """
    deltas = [m for m in built if m not in unchanged and m in incremental]
    kept = reuse_copy(
        paths.duckdb,
        staged_db,
        {m: built[m].rows for m in [*unchanged, *deltas]},
        {m: b.rows for m, b in built.items() if m not in unchanged and m not in deltas},
    )
    now = datetime.now(UTC).replace(tzinfo=None)
    delta_rows: dict[str, int | None] = {}
    with duckdb.connect(str(staged_db)) as con:
        present = {r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()}
        for mart, expected in built.items():
            if mart in kept and mart in unchanged:
                continue
            source = paths.mart(mart) if mart in unchanged else parquet_dir / f"{mart}.parquet"
            if not source.exists():
                raise PublishError(f"staging wrote no {source}")
            select = f"select * from read_parquet('{_sql_path(source)}')"
            if mart in kept and mart in present:  # a new mart is not in the published file yet
                delta_rows[mart] = sync_table(con, mart, select)
            else:
                con.execute(f'create table main."{mart}" as {select}')
            rows = int(con.execute(f'select count(*) from main."{mart}"').fetchall()[0][0])
            if rows != expected.rows:
                raise PublishError(f"{source}: {rows} rows staged, the build has {expected.rows}")
        con.execute(
            f"create table {PUBLISH_LOG_TABLE} (batch_id varchar, published_at timestamp, mart varchar, "
            "row_count bigint, fingerprint varchar, rewritten boolean, delta_rows bigint)"
        )
        con.executemany(
            f"insert into {PUBLISH_LOG_TABLE} values (?, ?, ?, ?, ?, ?, ?)",
            [
                [batch_id, now, mart, b.rows, b.fingerprint, mart not in unchanged, delta_rows.get(mart)]
                for mart, b in built.items()
            ],
        )
        con.execute("checkpoint")


def sync_table(con: Any, table: str, source: str, max_share: float = DELTA_MAX_SHARE) -> int | None:
    """Make `main.<table>` hold exactly the rows of the query `source`, rewriting only the rows that differ.

    Rows are told apart by DuckDB's `hash` of the whole row: rows of the table that the source no
    longer has are deleted, rows of the source that the table lacks are inserted, so a fact table
    that gained a day of rows costs two hash scans instead of compressing every row again. When
    more than `max_share` of the rows differ, or the result does not reproduce the source's row
    count and sum of row hashes (duplicate rows, changed columns), the table is loaded anew.
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
        con.execute(f"delete from {name} where rowid in (select rid from cdp_sync_gone)")
        con.execute(
            f"insert into {name} select s.* from ({source}) as s semi join cdp_sync_added as a on hash(s) = a.h"
        )
        target = con.execute(
            f"select count(*), coalesce(sum(hash(t)::hugeint), 0) from {name} as t"
        ).fetchall()[0]
        wanted = con.execute("select count(*), coalesce(sum(h::hugeint), 0) from cdp_sync_new").fetchall()[0]
        if target != wanted:
            log.warning("%s: the row-level update did not reproduce its source; loading it anew", table)
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
    paths: LakePaths, staging: Path, marts: list[str], staged_db: Path, docs_index: Path | None
) -> None:
    """Rename staged files over the published ones (same file system, each rename atomic)."""
    paths.marts.mkdir(parents=True, exist_ok=True)
    for mart in marts:
        os.replace(staging / "marts" / f"{mart}.parquet", paths.mart(mart))
    stale_wal = paths.duckdb.with_name(paths.duckdb.name + ".wal")
    if stale_wal.exists():
        log.warning("removing a stale write-ahead log %s (cdp.duckdb is only written by publish)", stale_wal)
        stale_wal.unlink()
    os.replace(staged_db, paths.duckdb)
    if docs_index is not None:
        target = paths.docs / DOCS_SUBDIR
        previous = paths.docs / f".{DOCS_SUBDIR}.previous"
        shutil.rmtree(previous, ignore_errors=True)
        paths.docs.mkdir(parents=True, exist_ok=True)
        if target.exists():
            os.replace(target, previous)
        os.replace(docs_index.parent, target)
        shutil.rmtree(previous, ignore_errors=True)


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")
