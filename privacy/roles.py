"""Least privilege where analysts query: one DuckDB database per role with only what it may read.

`publish_roles` builds `roles/<role>.duckdb` from the published (pseudonymised) marts: a table per
mart the role may read, holding only the allowed columns, plus `cdp_role_access` (what the role can
see, so nobody has to guess) and, for roles with `audit_log: true`, the audit log. A role's database
simply does not contain what the role must not see, so no query can reach it; `cdp query` adds a
readable refusal on top (privacy.query). Restricted (full-identifier) marts are not copied in: they
stay encrypted on disk and are decrypted into memory only for a role allowed to read them.
"""

from __future__ import annotations

import logging
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from privacy import audit
from privacy.errors import AccessDenied, PrivacyError
from privacy.layout import PrivacyPaths
from privacy.pseudonymise import literal, quote
from privacy.settings import PrivacySettings, RoleSettings, load_settings
from warehouse.config import CdpConfig
from warehouse.duckdb_connections import connect
from warehouse.locks import locked
from warehouse.paths import LakePaths, parquet_glob
from warehouse.publish import (
    DELTA_MAX_SHARE,
    PUBLISH_LOG_TABLE,
    DeltaPublished,
    delta_published,
    file_signature,
    files_source,
    mart_signature,
    part_of,
    partition_columns,
    replace_parts,
    reuse_copy,
    sync_rows,
    sync_table,
)

log = logging.getLogger("cdp.privacy.roles")

ACCESS_TABLE = "cdp_role_access"
SOURCES_TABLE = "cdp_role_sources"  # what each table was built from: lets a re-publish keep unchanged tables
AUDIT_TABLE = "audit_log"
RESTRICTED_TABLE_SUFFIX = "_restricted"
ROLE_BUILDS_SIDE_BY_SIDE = 2  # role databases built at once (publish_roles)


@dataclass
class RoleGrant:
    """What one role may read: table -> allowed columns (as published)."""

    role: str
    tables: dict[str, list[str]] = field(default_factory=dict)
    restricted: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # configured but not published: skipped

    @property
    def restricted_tables(self) -> dict[str, str]:
        """Table name in queries -> restricted mart name."""
        return {f"{mart}{RESTRICTED_TABLE_SUFFIX}": mart for mart in self.restricted}


def role_settings(settings: PrivacySettings, role: str) -> RoleSettings:
    if role not in settings.roles:
        raise AccessDenied(f"unknown role {role!r}; the roles are: {', '.join(sorted(settings.roles))}")
    return settings.roles[role]


def published_columns(paths: LakePaths) -> dict[str, list[str]]:
    """Mart -> columns of the published (pseudonymised) Parquet under marts/."""
    marts = paths.published_marts()
    if not marts:
        return {}
    con = connect()
    try:
        return {
            mart: [
                row[0]
                for row in con.execute(
                    f"describe select * from read_parquet({literal(parquet_glob(item))})"
                ).fetchall()
            ]
            for mart, item in marts.items()
        }
    finally:
        con.close()


def grant(role: str, settings: RoleSettings, published: dict[str, list[str]]) -> RoleGrant:
    """Intersect the role's configuration with what is actually published."""
    result = RoleGrant(role, restricted=list(settings.restricted))
    for mart, allowed in settings.marts.items():
        if mart not in published:
            result.missing.append(mart)
            continue
        columns = published[mart] if allowed == "*" else [c for c in published[mart] if c in allowed]
        absent = [] if allowed == "*" else [c for c in allowed if c not in published[mart]]
        result.missing += [f"{mart}.{c}" for c in absent]
        result.tables[mart] = columns
    if settings.audit_log:
        result.tables[AUDIT_TABLE] = list(audit.AUDIT_SCHEMA)
    return result


@locked("publish role databases")
def publish_roles(config: CdpConfig, *, batch_id: str | None = None, reuse: bool = False) -> dict[str, Any]:
    """(Re)build every role's database; each file is swapped in whole, so readers never see half.

    With `reuse` (the pipeline's publish), a role whose grants are unchanged starts from a copy of
    its current database and only the tables whose published Parquet was replaced since are built
    again (`_reuse_previous`). Without it (erasure, `cdp publish-roles`) every database is built
    from nothing, so no earlier version of a table survives in a file's free space.
    """
    settings = load_settings(config)
    lake = LakePaths.at(config.data_root)
    paths = PrivacyPaths(lake)
    published = published_columns(lake)
    if not published:
        raise PrivacyError(f"no published marts under {lake.marts}: run the pipeline's publish step first")
    paths.roles.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {}
    grants = {role: grant(role, role_config, published) for role, role_config in settings.roles.items()}
    # A role database is mostly disk work (copying the previous file) or CPU work (rows synced):
    # two side by side keep both busy.
    with ThreadPoolExecutor(max_workers=ROLE_BUILDS_SIDE_BY_SIDE, thread_name_prefix="role-db") as pool:
        builds = [
            pool.submit(_build_role_db, config, lake, paths.role_db(role), granted, reuse=reuse)
            for role, granted in grants.items()
        ]
        for build in builds:
            build.result()
    for role, granted in grants.items():
        if granted.missing:
            log.warning(
                "role %s: configured but not published (skipped): %s", role, ", ".join(granted.missing)
            )
        summary[role] = {
            "database": str(paths.role_db(role)),
            "tables": {t: len(c) for t, c in granted.tables.items()},
            "restricted": granted.restricted,
            "skipped": granted.missing,
        }
    audit.record(config, "publish_roles", target=",".join(sorted(summary)), detail=summary, batch_id=batch_id)
    return summary


def _build_role_db(
    config: CdpConfig, lake: LakePaths, target: Path, granted: RoleGrant, *, reuse: bool = False
) -> None:
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    sources = {t: mart_signature(lake, t) for t in granted.tables if t != AUDIT_TABLE}
    deltas = delta_published(lake)
    kept: set[str] = set()
    synced: set[str] = set()
    before: dict[str, str] = {}
    copied = _copy_published_db(lake, partial, granted)
    if copied is not None:
        kept = set(sources)
    elif reuse:
        kept, synced, before = _reuse_previous(lake, target, partial, granted, sources, set(deltas))
    partitioned = partition_columns(config)
    con = connect(partial)
    try:
        for table in copied or []:
            con.execute(f"drop table {quote(table)}")
        for table, columns in granted.tables.items():
            if table in synced:
                _update_table(
                    con, lake, table, columns, partitioned.get(table), before.get(table), deltas[table]
                )
                continue
            if table in kept:
                continue
            if table == AUDIT_TABLE:
                log_frame = audit.read(config).to_arrow()
                con.register("__audit", log_frame)
                con.execute(f"create table {AUDIT_TABLE} as select * from __audit")
                con.unregister("__audit")
                continue
            con.execute(f"create table {quote(table)} as {_select_published(lake, table, columns)}")
        access = [(t, c, False) for t, cols in granted.tables.items() for c in cols]
        access += [(t, None, True) for t in granted.restricted_tables]
        con.execute(
            f"create table {ACCESS_TABLE} (table_name varchar, column_name varchar, restricted boolean)"
        )
        if access:
            con.executemany(f"insert into {ACCESS_TABLE} values (?, ?, ?)", access)
        con.execute(f"create table {SOURCES_TABLE} (table_name varchar, columns varchar[], source varchar)")
        if sources:
            con.executemany(
                f"insert into {SOURCES_TABLE} values (?, ?, ?)",
                [(t, granted.tables[t], signature) for t, signature in sources.items()],
            )
        con.execute("checkpoint")
    finally:
        con.close()
    os.replace(partial, target)


def _update_table(
    con: duckdb.DuckDBPyConnection,
    lake: LakePaths,
    table: str,
    columns: list[str],
    column: str | None,
    before: str | None,
    delta: DeltaPublished,
) -> None:
    """Bring a kept table up to date with its published mart, rewriting as little as possible.

    A folder mart whose month column the role may read: while few months' files changed since the
    database was built (file size and modification time, `mart_signature`), only those months
    are replaced (`replace_parts`); otherwise the rows that differ are synced: by build time when
    the table was built from the very files the publish replaced and publish went that way too
    (`sync_rows`), else by a hash of every row.
    """
    folder = lake.marts / table
    if column is None or column not in columns or before is None or not folder.is_dir():
        select = _select_published(lake, table, columns)
        follows = before is not None and before == delta.replaced
        sync_rows(con, table, select, delta.key if follows else None)
        return
    files = lake.mart_files(table)
    previous = set(before.split(";"))
    now = {f: file_signature(f) for f in files}
    changed = {part_of(f) for f, signature in now.items() if signature not in previous}
    if len(changed) > DELTA_MAX_SHARE * max(len({part_of(f) for f in files}), 1):  # most months: rows
        sync_table(con, table, _select_published(lake, table, columns))
        return
    written = [f for f in files if part_of(f) in changed]
    select = ", ".join(quote(c) for c in columns)
    replace_parts(con, table, column, changed, {part_of(f) for f in files}, files_source(written, select))


def _select_published(lake: LakePaths, table: str, columns: list[str]) -> str:
    """The query for a role's table: the granted columns of the published mart."""
    select = ", ".join(quote(c) for c in columns)
    return f"select {select} from read_parquet({literal(lake.parquet_glob(table))})"


def _reuse_previous(
    lake: LakePaths,
    target: Path,
    partial: Path,
    granted: RoleGrant,
    sources: dict[str, str],
    delta_marts: set[str],
) -> tuple[set[str], set[str], dict[str, str]]:
    """Copy the role's current database to `partial`, keeping the tables whose source is unchanged.

    Tables of `delta_marts`, the marts that the publish updated row by row
    (`warehouse.publish.delta_published`: the big incremental facts), are kept too, to be updated
    the same way (`_update_table`) instead of written anew. Only when the role's grants (tables
    and columns) are exactly those the database was built with: after a grant was narrowed, a
    dropped table's bytes could linger in the copy's free blocks, so the database is built from
    nothing instead. Returns the tables kept (the rest of the copy is dropped, bookkeeping tables
    included), among them those to update, and the source signatures the database was built from;
    empty when nothing is reused.
    """
    if not target.is_file():
        return set(), set(), {}
    try:
        with connect(target, read_only=True) as con:
            previous = {
                t: (list(c), s) for t, c, s in con.execute(f"select * from {SOURCES_TABLE}").fetchall()
            }
            tables = [r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()]
    except duckdb.Error:  # built before sources were recorded
        return set(), set(), {}
    granted_marts = {t: c for t, c in granted.tables.items() if t != AUDIT_TABLE}
    if {t: c for t, (c, _) in previous.items()} != granted_marts:
        return set(), set(), {}
    unchanged = {t for t, (_, signature) in previous.items() if sources.get(t) == signature and t in tables}
    deltas = (delta_marts & set(tables)) - unchanged
    size = {t: sum(f.stat().st_size for f in lake.mart_files(t)) for t in granted_marts}
    kept = reuse_copy(
        target,
        partial,
        {t: size[t] for t in unchanged | deltas},
        {t: size[t] for t in granted_marts if t not in unchanged | deltas},
    )
    if kept:
        log.info(
            "role database %s: kept %d unchanged tables, updating %d row by row",
            target.name,
            len(kept - deltas),
            len(kept & deltas),
        )
    return kept, kept & deltas, {t: signature for t, (_, signature) in previous.items()}


def _copy_published_db(lake: LakePaths, partial: Path, granted: RoleGrant) -> list[str] | None:
    """For a role that may read every published mart whole, start from a file copy of `cdp.duckdb`.

    Its tables are the published marts as loaded from the same Parquet files, so the copy holds
    what the table-by-table build would write, without re-compressing every row once more (at 1M
    people that is the largest role database). Returns the tables of the copy that are not marts
    (the publish log: dropped, nothing personal), or None when the role is not eligible.
    """
    source = lake.duckdb
    if not source.is_file() or source.with_name(source.name + ".wal").exists():
        return None
    con = connect(source, read_only=True)
    try:
        tables = dict(
            con.execute(
                "select t.table_name, list(c.column_name order by c.column_index) "
                "from duckdb_tables() as t join duckdb_columns() as c using (database_name, schema_name, table_name) "
                "where t.database_name = current_database() and t.schema_name = 'main' group by t.table_name"
            ).fetchall()
        )
    finally:
        con.close()
    marts = {table: columns for table, columns in granted.tables.items() if table != AUDIT_TABLE}
    if not marts or any(tables.get(table) != columns for table, columns in marts.items()):
        return None
    extra = sorted(set(tables) - set(marts))
    if extra and extra != [PUBLISH_LOG_TABLE]:
        return None
    shutil.copyfile(source, partial)
    return extra


def role_tables(config: CdpConfig, role: str) -> dict[str, list[str]]:
    """What a built role database holds (from its access table), restricted tables with no columns."""
    path = PrivacyPaths.of(config).role_db(role)
    if not path.is_file():
        raise PrivacyError(f"no database for role {role!r} at {path}: run `cdp publish-roles` first")
    con = connect(path, read_only=True)
    try:
        rows = con.execute(f"select table_name, column_name from {ACCESS_TABLE}").fetchall()
    finally:
        con.close()
    tables: dict[str, list[str]] = {}
    for table, column in rows:
        tables.setdefault(table, [])
        if column is not None:
            tables[table].append(column)
    return tables
