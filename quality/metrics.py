"""Run-level measurements that are not pass/fail rules: the rows of `dq_metrics`.

Each metric is a DuckDB query over the catalog returning (metric, source, entity, value); a metric
whose tables do not exist yet is simply not measured. The duplicate rates put identity resolution
on the scorecard:

- `duplicate_rate_before`: share of customer records that are redundant copies of a person, as the
  resolution found them: 1 - customers / records (per source: copies within that source);
- `duplicate_rate_after`: share of resolved customers that still share an email or a phone with
  another customer: duplicates the resolution left behind;
- `records_per_customer`: records / customers, the same evidence as a ratio.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from quality.catalog import Catalog

METRICS_SCHEMA = {"metric": pl.String, "source": pl.String, "entity": pl.String, "value": pl.Float64}
MEASURED_SCHEMA = {**METRICS_SCHEMA, "layer": pl.String}


@dataclass(frozen=True)
class Metric:
    name: str
    layer: str
    requires: tuple[str, ...]
    sql: str


_DUPLICATE_KEYS = """
    with keys as (
        select customer_id, 'email:' || email as contact from identity.golden_customer where email is not null
        union all
        select customer_id, 'phone:' || phone from identity.golden_customer where phone is not null
    ),
    shared as (select contact from keys group by contact having count(distinct customer_id) > 1)
"""

METRICS: tuple[Metric, ...] = (
    Metric(
        "freshness_hours",
        "bronze",
        ("derived.freshness",),
        "select 'freshness_hours', source, 'all', freshness_hours from derived.freshness "
        "where freshness_hours is not null",
    ),
    Metric(
        "data_freshness_hours",
        "silver",
        ("derived.data_freshness",),
        "select 'data_freshness_hours', source, entity, data_age_hours from derived.data_freshness "
        "where data_age_hours is not null",
    ),
    Metric(  # epoch seconds (local time): what the next daily gate starts from (derived.data_freshness)
        "newest_data_at",
        "silver",
        ("derived.data_freshness",),
        "select 'newest_data_at', source, entity, epoch(newest_data_at) from derived.data_freshness "
        "where newest_data_at is not null",
    ),
    Metric(
        "rows_landed",
        "bronze",
        ("derived.volumes",),
        "select 'rows_landed', source, entity, rows_landed from derived.volumes",
    ),
    Metric(
        "duplicate_rate_before",
        "silver",
        ("identity.identity_links",),
        """
        select 'duplicate_rate_before', coalesce(source, 'all'), 'customer_records',
               1 - count(distinct customer_id) / count(*)
        from identity.identity_links group by grouping sets ((source), ())
        """,
    ),
    Metric(
        "records_per_customer",
        "silver",
        ("identity.identity_links",),
        "select 'records_per_customer', 'all', 'customer_records', count(*) / count(distinct customer_id) "
        "from identity.identity_links having count(*) > 0",
    ),
    Metric(
        "duplicate_rate_after",
        "silver",
        ("identity.golden_customer",),
        _DUPLICATE_KEYS
        + """
        select 'duplicate_rate_after', 'all', 'customer_records',
               count(distinct k.customer_id) filter (where k.contact in (select contact from shared))
               / (select count(*) from identity.golden_customer)
        from keys k having (select count(*) from identity.golden_customer) > 0
        """,
    ),
    Metric(
        "duplicates_removed",
        "silver",
        ("silver.dedup_log",),
        "select 'duplicates_removed', source, entity, sum(copies_removed) from silver.dedup_log group by all",
    ),
    Metric(
        "repair_list_records",
        "silver",
        ("derived.repair_list",),
        "select 'repair_list_records', source, 'customer_records', count(*) from derived.repair_list group by all",
    ),
)


def measure(catalog: Catalog, layers: list[str]) -> pl.DataFrame:
    """Every metric of the given layers whose tables exist, plus row counts per table and source.

    Each row carries the layer whose gate measured it, so a gate re-run replaces only its own.
    """
    frames = [
        catalog.frame(metric.sql).pipe(_named).with_columns(layer=pl.lit(metric.layer))
        for metric in METRICS
        if metric.layer in layers and not catalog.missing(list(metric.requires))
    ]
    for layer in ("silver", "gold"):
        if layer in layers:
            frames += [
                _row_counts(catalog, layer, table).with_columns(layer=pl.lit(layer))
                for table in _tables(catalog, layer)
            ]
    frames = [f for f in frames if not f.is_empty()]
    return pl.concat(frames) if frames else pl.DataFrame(schema=MEASURED_SCHEMA)


def _named(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.rename(dict(zip(frame.columns, METRICS_SCHEMA, strict=True))).cast(METRICS_SCHEMA)  # type: ignore[arg-type]


def _tables(catalog: Catalog, schema: str) -> list[str]:
    if schema == "gold":
        return catalog.marts()
    return catalog.lake_tables(schema)


def _row_counts(catalog: Catalog, schema: str, table: str) -> pl.DataFrame:
    """`row_count` per source (tables with a `source` column) or for the whole table."""
    catalog.ensure(f"{schema}.{table}")
    columns = {row[0] for row in catalog.con.sql(f'describe {schema}."{table}"').fetchall()}
    source = "coalesce(source, 'unknown')" if "source" in columns else "'all'"
    return catalog.frame(
        f"select 'row_count', {source}, '{table}', count(*) from {schema}.\"{table}\" group by all"
    ).pipe(_named)
