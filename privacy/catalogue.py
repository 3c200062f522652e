"""The PII catalogue applied to what actually exists: every column of every table, classified.

Tables are discovered, never listed by hand: every Delta table under `lake/` (bronze, silver,
identity, quality, meta, audit, quarantine, ...), the marts in the build database and under
`marts/`, and the columns the dbt project documents for its marts. A column with no entry in
`privacy.catalogue` is reported by `unclassified_columns` (and `cdp privacy check`), so a new column
cannot reach an analyst without someone deciding how personal it is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import yaml

from privacy.errors import CatalogueError
from privacy.settings import load_settings
from warehouse import delta
from warehouse.config import REPO_ROOT, CdpConfig
from warehouse.duckdb_connections import connect
from warehouse.paths import LakePaths

MARTS_LAYER = "marts"
BUILD_MARTS_SCHEMA = "marts"  # schema of the build database that holds the marts (warehouse.dbt)
DBT_MARTS_DOCS = REPO_ROOT / "dbt_project" / "models" / "marts"


@dataclass(frozen=True)
class TableColumns:
    """One table's columns and where they were found."""

    layer: str
    table: str
    columns: tuple[str, ...]
    location: str

    @property
    def name(self) -> str:
        return f"{self.layer}/{self.table}"


@dataclass(frozen=True)
class Unclassified:
    layer: str
    table: str
    column: str
    location: str

    def __str__(self) -> str:
        return f"{self.layer}/{self.table}.{self.column} (in {self.location})"


def lake_tables(paths: LakePaths) -> list[TableColumns]:
    """Every Delta table directly under lake/<layer>/, plus the quarantine (a layer of one table)."""
    found: list[TableColumns] = []
    if delta.exists(paths.quarantine):
        found.append(_delta_columns("quarantine", "quarantine", paths.quarantine))
    if not paths.lake.is_dir():
        return found
    for layer in sorted(p for p in paths.lake.iterdir() if p.is_dir() and p != paths.quarantine):
        for table in sorted(p for p in layer.iterdir() if p.is_dir() and delta.exists(p)):
            found.append(_delta_columns(layer.name, table.name, table))
    return found


def _delta_columns(layer: str, table: str, path: Path) -> TableColumns:
    fields = delta.open_table(path).schema().fields
    return TableColumns(layer, table, tuple(f.name for f in fields), str(path))


def published_marts(paths: LakePaths) -> list[TableColumns]:
    """Marts under marts/ (a Parquet file or a folder of Parquet files each)."""
    if not paths.marts.is_dir():
        return []
    found = []
    con = connect()
    for item in sorted(paths.marts.iterdir()):
        if item.suffix == ".parquet" or item.is_dir():
            pattern = str(item / "*.parquet") if item.is_dir() else str(item)
            columns = con.execute(f"describe select * from read_parquet('{pattern}')").fetchall()
            found.append(
                TableColumns(
                    MARTS_LAYER, item.name.removesuffix(".parquet"), tuple(c[0] for c in columns), str(item)
                )
            )
    con.close()
    return found


def built_marts(build_db: Path) -> list[TableColumns]:
    """Marts in the build database (what dbt produced, before any treatment)."""
    if not build_db.is_file():
        return []
    try:
        con = connect(build_db, read_only=True)
    except duckdb.Error as exc:
        raise CatalogueError(f"{build_db}: cannot open the build database ({exc}); is dbt running?") from exc
    try:
        rows = con.execute(
            "select table_name, list(column_name order by ordinal_position) from information_schema.columns "
            "where table_schema = ? group by table_name order by table_name",
            [BUILD_MARTS_SCHEMA],
        ).fetchall()
    finally:
        con.close()
    return [TableColumns(MARTS_LAYER, name, tuple(columns), str(build_db)) for name, columns in rows]


def declared_marts(docs_dir: Path = DBT_MARTS_DOCS) -> list[TableColumns]:
    """Columns the dbt project documents for its marts (models/marts/*.yml)."""
    found = []
    for path in sorted(docs_dir.glob("*.yml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for model in document.get("models") or []:
            columns = tuple(c["name"] for c in model.get("columns") or [] if "name" in c)
            found.append(TableColumns(MARTS_LAYER, model["name"], columns, str(path)))
    return found


def discover(config: CdpConfig, *, include_declared: bool = True) -> list[TableColumns]:
    paths = LakePaths.at(config.data_root)
    tables = [*lake_tables(paths), *built_marts(paths.build_duckdb), *published_marts(paths)]
    if include_declared:
        tables += declared_marts()
    return tables


def unclassified_columns(
    config: CdpConfig, tables: Iterable[TableColumns] | None = None
) -> list[Unclassified]:
    """Columns of the discovered (or given) tables that the catalogue does not classify."""
    catalogue = load_settings(config).catalogue
    found = tables if tables is not None else discover(config)
    missing: dict[tuple[str, str, str], Unclassified] = {}
    for table in found:
        for column in table.columns:
            if catalogue.spec(table.layer, table.table, column) is None:
                missing.setdefault(
                    (table.layer, table.table, column),
                    Unclassified(table.layer, table.table, column, table.location),
                )
    return sorted(missing.values(), key=lambda u: (u.layer, u.table, u.column))


def catalogue_rows(
    config: CdpConfig, tables: Iterable[TableColumns] | None = None
) -> list[dict[str, object]]:
    """The record of processing: one row per column with its class, grade and published treatment."""
    catalogue = load_settings(config).catalogue
    rows = []
    seen: set[tuple[str, str, str]] = set()
    for table in tables if tables is not None else discover(config):
        for column in table.columns:
            if (table.layer, table.table, column) in seen:
                continue
            seen.add((table.layer, table.table, column))
            spec = catalogue.spec(table.layer, table.table, column)
            rows.append(
                {
                    "layer": table.layer,
                    "table": table.table,
                    "column": column,
                    "class": spec.classification if spec else None,
                    "grade": spec.grade if spec else None,
                    "treatment": spec.published_treatment if spec else None,
                    "identifies": spec.identifies if spec else None,
                }
            )
    return rows
