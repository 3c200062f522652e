"""One DuckDB connection in which the suites' queries see the whole platform as `schema.table`.

- `bronze.*`, `silver.*`, `identity.*`, `quality.*`, `meta.*` are the lake's Delta tables. A table
  whose current version is plain Parquet files (what `warehouse.delta` writes) is a view over
  exactly those files, read by DuckDB's own parallel Parquet reader; anything else (partitions,
  deletion vectors) is its lazy Arrow dataset, scanned through Python. Either way DuckDB pushes
  projections and filters down and nothing is copied up front;
  `meta.quarantine` is the quarantine table;
- `gold.*` are the marts in dbt's *build* database (attached read-only), so the gold gate judges
  what is about to be published, never what readers already see;
- `changed.*` are the rows of a lake table (`changed.orders` for `silver.orders`) that the gate's
  scope says to judge row by row: the data files added since the last passing gate, or the whole
  table in a full-scope gate (`quality/scope.py`);
- `derived.*` are small frames computed in Python from several sources (freshness against the
  registry's SLAs, volume statistics, fill rates, the bronze structure profile), registered on
  first use.

Tables are registered only when a suite asks for them, so a gate never opens what it does not read.
The run's parameters are DuckDB variables (`getvariable('checked_at')`) as well as GX parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa

from quality.scope import GateScope, changed_files
from warehouse import delta
from warehouse.dbt import MARTS_SCHEMA
from warehouse.duckdb_connections import connect
from warehouse.paths import LakePaths

DerivedBuilder = Callable[["Catalog"], "pl.DataFrame | None"]

LAKE_SCHEMAS = ("bronze", "silver", "identity", "quality")
CHANGED_SCHEMA = "changed"
_SCOPED_SCHEMAS = ("silver", "bronze", "identity")  # where a `changed.<table>` name is looked up
BUILD_ALIAS = "build"


class Catalog:
    """Lake, build database and derived frames behind `schema.table` names."""

    def __init__(
        self,
        paths: LakePaths,
        parameters: Mapping[str, Any],
        derived: Mapping[str, DerivedBuilder] | None = None,
        scope: GateScope | None = None,
    ) -> None:
        self.paths = paths
        self.scope = scope or GateScope(gate="")
        self._files: dict[str, list[str] | None] = {}  # schema.table -> the Parquet files read
        self.parameters = dict(parameters)
        self._derived = dict(derived or {})
        self._known: dict[str, bool] = {}
        self._keep_alive: list[Any] = []  # registered Arrow objects must outlive their views
        self.con = connect()  # no progress bar in Airflow task logs (warehouse.duckdb_connections)
        for schema in (*LAKE_SCHEMAS, "meta", "gold", "derived", CHANGED_SCHEMA):
            self.con.execute(f"create schema {schema}")
        for name, value in self.parameters.items():
            self.con.execute(f"set variable {name} = ?", [value])
        # suites that judge key uniqueness over the whole table pick their branch by it: every key
        # when every row is judged, else only the changed rows' keys (DuckDB prunes the other)
        self.con.execute("set variable full_scope = ?", [self.scope.full])
        self._build_attached = False

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- what exists --------------------------------------------------------------------
    def delta_path(self, schema: str, table: str) -> Path:
        if schema == "meta":
            return self.paths.quarantine if table == "quarantine" else self.paths.meta(table)
        return self.paths.lake / schema / table

    def lake_tables(self, schema: str) -> list[str]:
        """Names of the Delta tables present in one lake schema (e.g. every bronze table)."""
        folder = self.paths.lake / schema
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if p.is_dir() and delta.exists(p))

    def marts(self) -> list[str]:
        """Tables of the build database's marts schema (empty before the first dbt build)."""
        if not self._attach_build():
            return []
        rows = self.con.execute(
            "select table_name from information_schema.tables where table_catalog = ? and table_schema = ? "
            "order by table_name",
            [BUILD_ALIAS, MARTS_SCHEMA],
        ).fetchall()
        return [row[0] for row in rows]

    def missing(self, tables: list[str]) -> list[str]:
        """The `schema.table` names among `tables` that cannot be read (registering the rest)."""
        return [name for name in tables if not self.ensure(name)]

    def ensure(self, name: str) -> bool:
        if name not in self._known:
            schema, table = name.split(".", 1)
            self._known[name] = self._register(schema, table)
        return self._known[name]

    # --- reading ------------------------------------------------------------------------
    def query(self, sql: str) -> pa.Table:
        return self.con.sql(sql).to_arrow_table()

    def frame(self, sql: str) -> pl.DataFrame:
        return pl.from_arrow(self.query(sql))  # type: ignore[return-value]

    # --- registration -------------------------------------------------------------------
    def _register(self, schema: str, table: str) -> bool:
        if schema == "gold":
            return self._register_mart(table)
        if schema == CHANGED_SCHEMA:
            return self._register_changed(table)
        if schema == "derived":
            builder = self._derived.get(table)
            frame = builder(self) if builder else None
            if frame is None:
                return False
            self._register_arrow(schema, table, frame.to_arrow())
            return True
        path = self.delta_path(schema, table)
        if not delta.exists(path):
            return False
        # the version first, then its files: a commit in between makes the recorded version older
        # than what was read, so the next gate judges a little more, never less
        self.scope.read[f"{schema}.{table}"] = delta.open_table(path).version()
        files = delta.plain_parquet_files(path)
        self._files[f"{schema}.{table}"] = files
        if files is None:
            self._register_arrow(schema, table, delta.dataset(path))
        else:
            self.con.execute(f'create or replace view {schema}."{table}" as {_read_parquet(files)}')
        return True

    def _register_changed(self, table: str) -> bool:
        """`changed.<table>`: the rows of the lake table in files added since the judged version."""
        schema = next((s for s in _SCOPED_SCHEMAS if (self.paths.lake / s / table).is_dir()), None)
        if schema is None or not self.ensure(f"{schema}.{table}"):
            return False
        name = f"{schema}.{table}"
        since, files = self.scope.since(name), self._files.get(name)
        changed = (
            changed_files(self.delta_path(schema, table), since, files)
            if since is not None and files
            else None
        )
        if changed is None:  # full scope, no judged version, or not plain Parquet: the whole table
            body = f'select * from {schema}."{table}"'
        elif not changed:
            body = f'select * from {schema}."{table}" where false'
        else:
            body = _read_parquet(changed)
        self.con.execute(f'create or replace view {CHANGED_SCHEMA}."{table}" as {body}')
        return True

    def _register_arrow(self, schema: str, table: str, data: Any) -> None:
        alias = f"{schema}__{table}"
        self._keep_alive.append(data)
        self.con.register(alias, data)
        self.con.execute(f'create or replace view {schema}."{table}" as select * from "{alias}"')

    def _attach_build(self) -> bool:
        database = self.paths.build_duckdb
        if not self._build_attached and database.is_file():
            quoted = str(database).replace("'", "''")
            self.con.execute(f"attach '{quoted}' as {BUILD_ALIAS} (read_only)")
            self._build_attached = True
        return self._build_attached

    def _register_mart(self, table: str) -> bool:
        if table not in self.marts():
            return False
        self.con.execute(
            f'create or replace view gold."{table}" as select * from {BUILD_ALIAS}.{MARTS_SCHEMA}."{table}"'
        )
        return True


def _read_parquet(files: list[str]) -> str:
    listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
    return f"select * from read_parquet([{listed}], union_by_name = true)"
