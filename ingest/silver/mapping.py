"""From a bronze table's source columns to canonical silver columns, as the registry says.

A mapping is data (cdp.yaml): canonical column -> source column, JSON path, template or constant.
The result keeps the lineage columns so later steps can deduplicate and trace every row.
"""

from __future__ import annotations

import string

import polars as pl

from ingest.config import ColumnRef, SilverMapping
from ingest.parsing import clean_text, parse_as

BRONZE_LINEAGE = ["_source", "_file", "_row_number", "_batch_id", "_ingested_at", "_row_hash"]


def reference(ref: ColumnRef, available: set[str]) -> pl.Expr:
    """One canonical column as text; a source column that a file did not have reads as null."""

    def column(name: str) -> pl.Expr:
        return pl.col(name) if name in available else pl.lit(None, dtype=pl.String)

    if ref.column is not None:
        return clean_text(column(ref.column))
    if ref.json_path is not None:
        root, _, path = ref.json_path.partition(".")
        return clean_text(column(root).str.json_path_match(f"$.{path}"))
    if ref.template is not None:
        parts = list(string.Formatter().parse(ref.template))
        pattern = "".join(
            literal.replace("{", "{{").replace("}", "}}") + ("{}" if name else "")
            for literal, name, _, _ in parts
        )
        return pl.format(pattern, *[clean_text(column(name)) for _, name, _, _ in parts if name])
    return pl.lit(ref.value, dtype=pl.String)


def apply_mapping(bronze: pl.LazyFrame, mapping: SilverMapping) -> pl.LazyFrame:
    """Canonical text columns plus bronze lineage."""
    available = set(bronze.collect_schema().names())
    columns = [reference(ref, available).alias(name) for name, ref in mapping.columns.items()]
    lineage = [pl.col(c) for c in BRONZE_LINEAGE if c in available]
    return bronze.select(*columns, *lineage)


def type_columns(
    frame: pl.LazyFrame,
    schema: dict[str, pl.DataType],
    *,
    date_formats: list[str],
    timestamp_formats: list[str],
    timezone: str,
) -> pl.LazyFrame:
    """Parse the canonical text columns into the schema's types with the same parsers bronze checked."""
    present = frame.collect_schema()
    casts = []
    for name, dtype in schema.items():
        if name not in present or present[name] != pl.String:
            continue
        kind = _kind(dtype)
        if kind != "string":
            casts.append(
                parse_as(
                    pl.col(name),
                    kind,
                    date_formats=date_formats,
                    timestamp_formats=timestamp_formats,
                    timezone=timezone,
                ).alias(name)
            )
    return frame.with_columns(casts) if casts else frame


def _kind(dtype: pl.DataType) -> str:
    if dtype == pl.Date:
        return "date"
    if dtype == pl.Datetime:
        return "timestamp"
    if dtype == pl.Boolean:
        return "boolean"
    if dtype.is_integer():
        return "integer"
    if dtype.is_decimal():
        return "decimal"
    return "string"
