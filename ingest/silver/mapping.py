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


def narrowed_to_keys(bronze: pl.LazyFrame, mapping: SilverMapping, key: str, keys: pl.Series) -> pl.LazyFrame:
    """The bronze rows that can map to one of `keys` in canonical column `key` (a superset).

    The canonical key is a cleaned copy of its source column, so a filter on it cannot reach the
    Parquet scan: every bronze row would be read and mapped to keep a few. When the key comes from
    one source column, the raw values that clean to a wanted key are found first (one column
    read) and the bronze rows are filtered on those, which the scan applies as it reads. Other
    references (JSON paths, templates) leave the bronze rows as they are.
    """
    ref = mapping.columns.get(key)
    available = set(bronze.collect_schema().names())
    if ref is None or ref.column is None or ref.column not in available:
        return bronze
    raw = pl.col(ref.column)
    values = (
        bronze.select(raw)
        .filter(reference(ref, available).is_in(keys.implode()))
        .unique()
        .collect()
        .to_series()
    )
    return bronze.filter(raw.is_in(values.implode()))


def type_frame(
    frame: pl.DataFrame,
    schema: dict[str, pl.DataType],
    *,
    date_formats: list[str],
    timestamp_formats: list[str],
    timezone: str,
    decimal_comma: bool = False,
) -> pl.DataFrame:
    """Parse the canonical text columns into the schema's types with the same parsers bronze checked
    (`decimal_comma`: the entity writes numbers as `1.299,00`, as it was checked on landing).

    Dates and timestamps get the result of coalescing every format in order (the first format that
    parses a value wins), but each later format is tried only on the values the earlier ones left
    unparsed: eight configured timestamp formats cost one pass over a column, not eight.
    """
    single: list[pl.Expr] = []
    ordered: list[tuple[str, str]] = []
    for name, dtype in schema.items():
        if name not in frame.columns or frame.schema[name] != pl.String:
            continue
        kind = column_kind(dtype)
        if kind in ("date", "timestamp"):
            ordered.append((name, kind))
        elif kind != "string":
            single.append(
                parse_as(
                    pl.col(name),
                    kind,  # type: ignore[arg-type]
                    date_formats=date_formats,
                    timestamp_formats=timestamp_formats,
                    timezone=timezone,
                    decimal_comma=decimal_comma,
                ).alias(name)
            )
    if single:
        frame = frame.with_columns(single)
    for name, kind in ordered:
        formats = date_formats if kind == "date" else timestamp_formats
        frame = frame.with_columns(_parse_in_order(frame[name], kind, formats, timezone).alias(name))
    return frame


def _parse_in_order(values: pl.Series, kind: str, formats: list[str], timezone: str) -> pl.Series:
    text = values.to_frame("v").select(clean_text(pl.col("v"))).to_series()

    def parse(series: pl.Series, fmt: str) -> pl.Series:
        expr = parse_as(pl.col("v"), kind, date_formats=[fmt], timestamp_formats=[fmt], timezone=timezone)  # type: ignore[arg-type]
        return series.to_frame("v").select(expr).to_series()

    result = parse(text, formats[0])
    pending = text.is_not_null() & result.is_null()
    for fmt in formats[1:]:
        if not pending.any():
            break
        rows = pending.arg_true()
        parsed = parse(text.gather(rows), fmt)
        result = result.scatter(rows, parsed)
        pending = pending.scatter(rows, parsed.is_null())
    return result


def column_kind(dtype: pl.DataType) -> str:
    """The ingest column type (`types` in cdp.yaml) whose parser types a silver column of `dtype`: a
    source column feeding it is declared with this type, so a value that does not parse is judged on
    landing (rejected or recorded) instead of becoming null here."""
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
