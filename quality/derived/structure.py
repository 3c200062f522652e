"""Bronze structure (`derived.bronze_profile`): per bronze table, its columns against the registry
and this run's rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import polars as pl

from quality.derived.lake import LINEAGE_COLUMNS, TEXT_TYPES
from quality.settings import QualitySettings

if TYPE_CHECKING:
    from quality.catalog import Catalog


def expected_bronze_columns(
    sources: Mapping[str, Any], source: str, entity: str
) -> tuple[list[str], list[str]]:
    """(key columns, required columns) of one bronze table from the raw source registry.

    Required: the primary key, the typed columns and those listed as `required`, unless listed as
    `optional` (the registry's own rule for what every file must carry, minus the silver mappings,
    which the silver suites judge on their own columns).
    """
    entry = ((sources or {}).get(source) or {}).get("entities", {}).get(entity) or {}
    keys = [str(c) for c in entry.get("primary_key") or []]
    optional = {str(c) for c in entry.get("optional") or []}
    declared = [
        *keys,
        *(str(c) for c in entry.get("types") or {}),
        *(str(c) for c in entry.get("required") or []),
    ]
    return keys, [c for c in dict.fromkeys(declared) if c not in optional]


def bronze_table_profile(
    catalog: Catalog, table: str, keys: list[str], required: list[str], batch_id: str, sample_rows: int
) -> dict[str, Any]:
    """Columns present vs expected, and this run's rows missing a key or lineage (one SQL pass).

    "This run's rows" are those of `batch_id`, or of the table's newest batch when this run landed
    nothing in it (an unchanged source, or `cdp quality` run on its own).
    """
    source, _, entity = table.partition("__")
    name = f'bronze."{table}"'
    types = {row[0]: str(row[1]) for row in catalog.con.sql(f"describe {name}").fetchall()}
    missing_columns = [c for c in [*LINEAGE_COLUMNS, *required] if c not in types]
    retyped = [c for c, t in types.items() if c not in LINEAGE_COLUMNS and t not in TEXT_TYPES]
    key_null = _any_null([c for c in keys if c in types])
    lineage_null = _any_null([c for c in LINEAGE_COLUMNS if c in types])
    locator = "_file || ':' || _row_number" if {"_file", "_row_number"} <= types.keys() else "null"
    has_batch = "_batch_id" in types
    batch_column = "max(_batch_id)" if has_batch else "null"
    batch_filter = (
        f"where _batch_id = (select coalesce(max(_batch_id) filter (where _batch_id = $batch), "
        f"max(_batch_id)) from {name})"
        if has_batch
        else ""
    )
    parameters: dict[str, Any] = {"sample": sample_rows} | ({"batch": batch_id} if has_batch else {})
    row = catalog.con.execute(
        f"""
        select
            count(*),
            count(*) filter (where {key_null}),
            min({locator}, $sample) filter (where {key_null}),
            count(*) filter (where {lineage_null}),
            min({locator}, $sample) filter (where {lineage_null}),
            {batch_column}
        from {name} {batch_filter}
        """,
        parameters,
    ).fetchall()[0]
    rows, rows_missing_key, sample_key, rows_missing_lineage, sample_lineage, batch = row
    return {
        "source": source,
        "entity": entity,
        "table_name": table,
        "batch_id": batch,
        "columns": len(types),
        "missing_columns": ", ".join(missing_columns) or None,
        "missing_column_count": len(missing_columns),
        "retyped_columns": ", ".join(retyped) or None,
        "retyped_column_count": len(retyped),
        "rows": rows,
        "key_columns": ", ".join(keys) or None,
        "rows_missing_key": rows_missing_key,
        "sample_missing_key": ", ".join(sample_key or []) or None,
        "rows_missing_lineage": rows_missing_lineage,
        "sample_missing_lineage": ", ".join(sample_lineage or []) or None,
    }


def _any_null(columns: list[str]) -> str:
    return " or ".join(f'"{c}" is null' for c in columns) or "false"


def build_bronze_profile(
    catalog: Catalog, sources: Mapping[str, Any], settings: QualitySettings
) -> pl.DataFrame | None:
    tables = catalog.lake_tables("bronze")
    if not tables:
        return None
    profiles = []
    for table in tables:  # one query per table, not per row
        catalog.ensure(f"bronze.{table}")
        source, _, entity = table.partition("__")
        keys, required = expected_bronze_columns(sources, source, entity)
        profiles.append(
            bronze_table_profile(
                catalog, table, keys, required, catalog.parameters["run_id"], settings.sample_rows
            )
        )
    return pl.DataFrame(profiles, infer_schema_length=None)
