"""`cdp query --role R "SQL"`: run an analyst's query as a role, refuse what the role may not see.

Two locks, one behind the other:
1. The query is parsed (DuckDB's `json_serialize_sql`) before anything runs: one SELECT only, no
   table functions (`read_parquet`, `duckdb_tables()`, ...), only the role's tables, and no column
   the role is not granted. A refusal names the table or column and is logged.
2. It then runs against the role's own database only, opened read-only with external access disabled
   and the configuration locked: even a query that slipped past the parser can reach nothing else.

Every query is audited: who, role, tables, columns, rows returned, outcome, and the statement with
its literals redacted (`audit.record(sql=...)`); `--output` is an export.
"""

from __future__ import annotations

import functools
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow.parquet as pq

from privacy import audit
from privacy.encryption import read_encrypted
from privacy.errors import AccessDenied, PrivacyError
from privacy.keys import encryption_key
from privacy.layout import PrivacyPaths
from privacy.roles import AUDIT_TABLE, RESTRICTED_TABLE_SUFFIX, published_columns, role_settings, role_tables
from privacy.settings import PrivacySettings, load_settings
from warehouse.config import CdpConfig
from warehouse.paths import LakePaths

ALLOWED_SCHEMAS = {"", "main"}


@dataclass
class References:
    """What a parsed query touches."""

    tables: set[str] = field(default_factory=set)
    ctes: set[str] = field(default_factory=set)
    columns: set[str] = field(default_factory=set)
    table_functions: set[str] = field(default_factory=set)
    foreign_schemas: set[str] = field(default_factory=set)


@dataclass
class QueryResult:
    frame: pl.DataFrame
    tables: list[str]
    columns: list[str]


def parse(sql: str) -> References:
    """Tables, CTEs, column names and table functions a single SELECT refers to (nothing runs)."""
    tree = json.loads(_parser().cursor().execute("select json_serialize_sql(?)", [sql]).fetchall()[0][0])
    if tree.get("error"):
        raise AccessDenied(
            f"only a single SELECT query is allowed: {tree.get('error_message', 'cannot parse')}"
        )
    if len(tree["statements"]) != 1:
        raise AccessDenied(f"only a single SELECT query is allowed; got {len(tree['statements'])} statements")
    refs = References()
    for node in _nodes(tree["statements"][0]):
        kind = node.get("type")
        if kind == "BASE_TABLE":
            refs.tables.add(node["table_name"].lower())
            schema = ".".join(p for p in (node.get("catalog_name"), node.get("schema_name")) if p)
            if schema.lower() not in ALLOWED_SCHEMAS:
                refs.foreign_schemas.add(f"{schema}.{node['table_name']}")
        elif kind == "TABLE_FUNCTION":
            refs.table_functions.add(str(node.get("function", {}).get("function_name", "?")))
        elif kind == "COLUMN_REF":
            refs.columns.add(node["column_names"][-1].lower())
        cte_map = node.get("cte_map")
        if isinstance(cte_map, dict):
            refs.ctes.update(entry["key"].lower() for entry in cte_map.get("map", []))
    return refs


@functools.cache
def _parser() -> duckdb.DuckDBPyConnection:
    """An empty in-memory database used only to parse; one per process."""
    return duckdb.connect(config={"enable_external_access": False})


def _nodes(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        yield value
        for child in value.values():
            yield from _nodes(child)
    elif isinstance(value, list):
        for child in value:
            yield from _nodes(child)


def check_access(
    role: str,
    refs: References,
    granted: dict[str, list[str]],
    published: dict[str, list[str]],
    withheld: set[str] = frozenset(),  # type: ignore[assignment]
) -> list[str]:
    """Raise AccessDenied naming what the role may not read; return the tables the query reads."""
    if refs.table_functions:
        raise AccessDenied(
            f"role {role}: table functions are not allowed ({', '.join(sorted(refs.table_functions))}); "
            f"query the role's tables: {', '.join(sorted(granted))}"
        )
    if refs.foreign_schemas:
        raise AccessDenied(
            f"role {role}: only the role's own tables can be read, not {', '.join(sorted(refs.foreign_schemas))}"
        )
    tables = sorted(refs.tables - refs.ctes)
    for table in tables:
        if table not in granted:
            known = table in published or table.endswith(RESTRICTED_TABLE_SUFFIX)
            raise AccessDenied(
                f"role {role} may not read table {table}" if known else f"role {role}: no table {table}"
            )
    readable = {c.lower() for t in tables for c in granted[t]}
    for column in sorted(refs.columns - readable):
        hidden = [t for t in tables if column in {c.lower() for c in published.get(t, [])}]
        if hidden:
            raise AccessDenied(f"role {role} may not read column {hidden[0]}.{column}")
        if column in withheld and not any(t.endswith(RESTRICTED_TABLE_SUFFIX) for t in tables):
            raise AccessDenied(
                f"column {column} is never published to analysts (privacy.catalogue: treatment drop)"
            )
    return tables


def withheld_columns(settings: PrivacySettings) -> set[str]:
    """Column names the catalogue never publishes anywhere (dropped in every mart)."""
    return {
        name.lower()
        for name, spec in settings.catalogue.columns.items()
        if spec.published_treatment == "drop" and not any(ch in name for ch in "*?[")
    }


def run_query(
    config: CdpConfig, role: str, sql: str, *, actor: str | None = None, output: Path | None = None
) -> QueryResult:
    """Check, run and audit one query as `role`; with `output`, also write the rows (an export)."""
    settings = load_settings(config)
    role_settings(settings, role)
    db = PrivacyPaths.of(config).role_db(role)
    granted = role_tables(config, role)
    published = published_columns(LakePaths.at(config.data_root))
    # what the statement may name; a double-quoted identifier naming none is a value: redacted
    names = {*granted, *published, *(c for cols in (*granted.values(), *published.values()) for c in cols)}
    try:
        refs = parse(sql)
        tables = check_access(role, refs, granted, published, withheld_columns(settings))
    except AccessDenied as exc:
        audit.record(
            config,
            "role_query",
            role=role,
            actor=actor,
            outcome="refused",
            detail={"reason": str(exc)},
            sql=sql,
            names=names,
        )
        raise
    try:
        frame = _execute(
            config, db, sql, [t for t in tables if t.endswith(RESTRICTED_TABLE_SUFFIX)], AUDIT_TABLE in tables
        )
    except duckdb.Error as exc:
        audit.record(
            config,
            "role_query",
            role=role,
            actor=actor,
            target=",".join(tables),
            outcome="failed",
            detail={"error": str(exc)},
            sql=sql,
            names=names,
        )
        raise PrivacyError(f"query failed for role {role}: {exc}") from exc
    columns = sorted(refs.columns) or frame.columns
    audit.record(
        config,
        "role_query",
        role=role,
        actor=actor,
        target=",".join(tables),
        columns=columns,
        row_count=frame.height,
        sql=sql,
        names=names,
    )
    if output is not None:
        _write(frame, output)
        audit.record(
            config,
            "export",
            role=role,
            actor=actor,
            target=str(output),
            columns=frame.columns,
            row_count=frame.height,
            detail={"tables": tables},
            sql=sql,
            names=names,
        )
    return QueryResult(frame, tables, columns)


def _execute(
    config: CdpConfig, db: Path, sql: str, restricted_tables: list[str], live_audit: bool
) -> pl.DataFrame:
    """Run on the role's database alone; restricted marts and the live audit log are lent in memory."""
    con = duckdb.connect(str(db), read_only=True, config={"enable_external_access": False})
    try:
        if live_audit:  # the copy in the role database is as of the last publish; admins see it now
            con.register(AUDIT_TABLE, audit.read(config).to_arrow())
        if restricted_tables:
            key = encryption_key(config)
            for table in restricted_tables:
                mart = table.removesuffix(RESTRICTED_TABLE_SUFFIX)
                data = read_encrypted(PrivacyPaths.of(config).restricted_mart(mart), key)
                con.register(table, pq.read_table(io.BytesIO(data)))
        con.execute("set lock_configuration = true")
        return con.sql(sql).pl()
    finally:
        con.close()


def _write(frame: pl.DataFrame, output: Path) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    if output.suffix == ".parquet":
        frame.write_parquet(output)
    elif output.suffix in {".csv", ".txt"}:
        frame.write_csv(output)
    else:
        raise PrivacyError(f"{output}: export as .csv or .parquet")
