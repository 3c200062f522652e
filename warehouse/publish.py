"""Publishing the built marts: `marts/<mart>.parquet` and tables in `cdp.duckdb`, swapped in atomically.

dbt never writes where readers look: it builds into `build/cdp_build.duckdb`. A build that
succeeded leaves a marker (`build/marts_build.json`) naming its batch; `publish` refuses to run
without the marker of its own batch, so a failed build (or a failed gold gate, which stops the DAG
before publish) leaves the last good marts in place. Publishing then

1. writes every mart to a staging folder under `build/` as Parquet and into a fresh DuckDB file,
   and generates the dbt docs there, checking row counts against the build database;
2. only when everything is written, renames each staged file over the published one
   (`os.replace`, atomic on one file system): a reader sees the old mart or the new one, never half
   of one; `cdp.duckdb` is replaced in one rename (open readers keep the old file until they close).

Which models are marts comes from dbt's manifest (models under `models/marts/`), so a model
dropped from the project is not published from a stale table.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable
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

    def summary(self) -> dict[str, Any]:
        return {
            "marts_published": len(self.marts),
            "mart_rows": self.marts,
            "marts": str(self.marts_dir),
            "duckdb": str(self.duckdb_path),
            "dbt_docs": str(self.docs_path) if self.docs_path else None,
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


# --- publishing ----------------------------------------------------------------------------
def publish(
    config: CdpConfig,
    batch_id: str,
    *,
    with_docs: bool = True,
    stage_marts: StageMarts | None = None,
) -> PublishResult:
    """Swap the marts built for `batch_id` in atomically; see the module docstring.

    `stage_marts(build_db, out_dir, marts)` writes `out_dir/<mart>.parquet` for every mart; the
    default copies them as built. A caller higher up can pass a treatment instead (for example
    pseudonymisation of direct identifiers); `cdp.duckdb` is loaded from whatever it staged.
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

    staged_db = staging / "cdp.duckdb"
    rows = _stage(
        duckdb, paths.build_duckdb, staged_db, staging / "marts", marts, batch_id, stage_marts or copy_marts
    )
    _swap(paths, staging, marts, staged_db, docs_index)
    shutil.rmtree(staging, ignore_errors=True)
    log.info("published %d marts for %s to %s and %s", len(marts), batch_id, paths.marts, paths.duckdb)
    return PublishResult(
        batch_id=batch_id,
        marts=rows,
        marts_dir=paths.marts,
        duckdb_path=paths.duckdb,
        docs_path=(paths.docs / DOCS_SUBDIR / docs_index.name) if docs_index else None,
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
                f"to '{_sql_path(target)}' (format parquet, compression zstd)"
            )
    return {"treatment": "as built"}


def _stage(
    duckdb: Any,
    build_db: Path,
    staged_db: Path,
    parquet_dir: Path,
    marts: list[str],
    batch_id: str,
    stage_marts: StageMarts,
) -> dict[str, int]:
    """Stage every mart as Parquet (through `stage_marts`) and load those files into a fresh DuckDB.

    Both outputs hold the same rows as the build database, checked mart by mart.
    """
    if not build_db.exists():
        raise PublishError(f"build database not found: {build_db}")
    dbt.release_duckdb()  # this process may still hold dbt's connection to the build database
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
        built_rows = {
            m: int(build.execute(f'select count(*) from {dbt.MARTS_SCHEMA}."{m}"').fetchall()[0][0])
            for m in marts
        }
    stage_marts(build_db, parquet_dir, marts)
    now = datetime.now(UTC).replace(tzinfo=None)
    with duckdb.connect(str(staged_db)) as con:
        for mart in marts:
            source = parquet_dir / f"{mart}.parquet"
            if not source.exists():
                raise PublishError(f"staging wrote no {source}")
            con.execute(f"create table main.\"{mart}\" as select * from read_parquet('{_sql_path(source)}')")
            rows = int(con.execute(f'select count(*) from main."{mart}"').fetchall()[0][0])
            if rows != built_rows[mart]:
                raise PublishError(f"{source}: {rows} rows staged, the build has {built_rows[mart]}")
        con.execute(
            f"create table {PUBLISH_LOG_TABLE} "
            "(batch_id varchar, published_at timestamp, mart varchar, row_count bigint)"
        )
        con.executemany(
            f"insert into {PUBLISH_LOG_TABLE} values (?, ?, ?, ?)",
            [[batch_id, now, mart, count] for mart, count in built_rows.items()],
        )
        con.execute("checkpoint")
    return built_rows


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
