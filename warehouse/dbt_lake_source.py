"""dbt-duckdb plugin that puts the lake's Delta tables in front of dbt as `lake_<layer>.<table>` views.

DuckDB's delta extension cannot be installed offline, so `deltalake` resolves each table's current
version. When that version is plain Parquet files (no partition columns, deletion vectors or
column mapping: what `warehouse.delta` writes), the view reads exactly those files with DuckDB's
own parallel Parquet reader (`read_parquet([...], union_by_name)`, so columns added later read as
null in older files). Anything else falls back to the table's lazy Arrow dataset, which DuckDB
scans with projection and filter pushdown (no pandas copy), but through Python and its GIL, which
made a 1M-customer build several times slower. dbt sources point at plain schemas
(`schema: lake_silver` in `models/staging/__sources.yml`), which is also what a Spark port would
register.

Why not dbt-duckdb's own `delta` source plugin: it re-registers a source on every `source()` call
into a dict that other threads iterate, so a multi-threaded `dbt build` fails at random
("dictionary changed size during iteration"). Here every table is discovered once, when the
connection is opened (single-threaded), registered on each cursor from a dict that never changes
afterwards, and wrapped in a view created once.

The plugin also lists every table's data files in `lake_files.data_files` (file names relative to
the table's folder: those of the current version, and those still on disk that it no longer
references). The incremental facts record the files they were built from and, on the next build,
rebuild only the keys found in files added or removed since (`dbt_project/macros/incremental.sql`).

Profile: `plugins: [{module: warehouse.dbt_lake_source, alias: lake, config: {data_root: ...}}]`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin

from warehouse import delta
from warehouse.errors import CdpError
from warehouse.paths import LakePaths

# Lake layers exposed to dbt (docs/data_model.md sections 4-6) and the stage that writes each.
LAYERS = {
    "silver": "`cdp run --until standardize`",
    "identity": "`cdp run --until resolve`",
    "quality": "the quality gate",
}
SCHEMA_PREFIX = "lake_"
# Schema and view of the data-file listing (the lineage the incremental facts read).
FILES_VIEW = '"lake_files"."data_files"'


class MissingLakeTableError(CdpError):
    """A dbt source points at a Delta table that has not been written."""


def schema_name(layer: str) -> str:
    return f"{SCHEMA_PREFIX}{layer}"


def _registered_name(layer: str, table: str) -> str:
    return f"__cdp_lake__{layer}__{table}"


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def data_files(root: Path, current: list[str]) -> list[tuple[str, bool]]:
    """The table's Parquet files relative to its folder: (name, in the current version), for the
    current version's files and the other Parquet files still on disk (replaced, not vacuumed)."""
    names = {
        Path(uri.removeprefix("file://")).resolve().relative_to(root.resolve()).as_posix() for uri in current
    }
    on_disk = {f.relative_to(root).as_posix() for f in root.rglob("*.parquet") if "_delta_log" not in f.parts}
    return [(name, True) for name in sorted(names)] + [(name, False) for name in sorted(on_disk - names)]


def discover_tables(paths: LakePaths) -> dict[tuple[str, str], Path]:
    """Every Delta table under lake/<layer>/ for the exposed layers, keyed by (layer, table)."""
    found: dict[tuple[str, str], Path] = {}
    for layer in LAYERS:
        folder = paths.lake / layer
        if not folder.is_dir():
            continue
        for table in sorted(folder.iterdir()):
            if table.is_dir() and delta.exists(table):
                found[(layer, table.name)] = table
    return found


class Plugin(BasePlugin):
    def initialize(self, plugin_config: dict[str, Any]) -> None:
        root = plugin_config.get("data_root")
        if not root:
            raise MissingLakeTableError("the lake plugin needs `data_root` (set CDP_DATA_ROOT)")
        self.paths = LakePaths.at(root)
        self.tables = discover_tables(self.paths)
        self.files = {key: delta.plain_parquet_files(path) for key, path in self.tables.items()}
        # Built once, never mutated: safe to read from every dbt thread.
        self.datasets = {
            _registered_name(layer, table): delta.dataset(path)
            for (layer, table), path in self.tables.items()
            if self.files[(layer, table)] is None
        }

    def configure_connection(self, conn: Any) -> None:
        """Create one view per table (and drop views of tables that no longer exist)."""
        self.configure_cursor(conn)
        for layer in LAYERS:
            conn.execute(f'create schema if not exists "{schema_name(layer)}"')
        existing = conn.execute(
            "select schema_name, view_name from duckdb_views() "
            "where not internal and starts_with(schema_name, ?)",
            [SCHEMA_PREFIX],
        ).fetchall()
        wanted = {(schema_name(layer), table) for layer, table in self.tables}
        for schema, view in existing:
            if (schema, view) not in wanted:
                conn.execute(f'drop view if exists "{schema}"."{view}"')
        for (layer, table), files in self.files.items():
            if files is None:
                reader = f'"{_registered_name(layer, table)}"'
            else:
                listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
                reader = f"read_parquet([{listed}], union_by_name = true)"
            conn.execute(f'create or replace view "{schema_name(layer)}"."{table}" as select * from {reader}')
        self._list_data_files(conn)

    def _list_data_files(self, conn: Any) -> None:
        """`lake_files.data_files(layer, table_name, root, file, current)` for the plain-Parquet tables."""
        rows = [
            f"({_sql_string(layer)}, {_sql_string(table)}, {_sql_string(self.tables[(layer, table)].resolve().as_posix())}, "
            f"{_sql_string(name)}, {str(current).lower()})"
            for (layer, table), files in sorted(self.files.items())
            if files is not None
            for name, current in data_files(self.tables[(layer, table)], files)
        ]
        empty = "(select null, null, null, null, null where false)"
        values = f"(values {', '.join(rows)})" if rows else empty
        conn.execute('create schema if not exists "lake_files"')
        conn.execute(
            f"create or replace view {FILES_VIEW} as "
            "select cast(layer as varchar) as layer, cast(table_name as varchar) as table_name, "
            "cast(root as varchar) as root, cast(file as varchar) as file, cast(current as boolean) as current "
            f"from {values} as files(layer, table_name, root, file, current)"
        )

    def configure_cursor(self, cursor: Any) -> None:
        for name, dataset in self.datasets.items():
            cursor.register(name, dataset)
