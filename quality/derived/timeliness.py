"""Timeliness: when files arrived (`derived.freshness`) and what the data's own dates say
(`derived.data_freshness`), each against its SLA.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import polars as pl

from quality.derived.lake import LANDED_STATUSES, read_manifest
from quality.settings import DataFreshnessSettings, FreshnessDefaults, QualitySettings

if TYPE_CHECKING:
    from quality.catalog import Catalog


def freshness_slas(sources: Mapping[str, Any], defaults: FreshnessDefaults) -> pl.DataFrame:
    """source, warn_hours, fail_hours from the raw `sources:` registry (ingest owns its model)."""
    rows = []
    for name, entry in (sources or {}).items():
        sla = (entry or {}).get("freshness") or {}
        rows.append(
            {
                "source": name,
                "warn_hours": float(sla.get("warn_hours", defaults.warn_hours)),
                "fail_hours": float(sla.get("fail_hours", defaults.fail_hours)),
            }
        )
    return pl.DataFrame(
        rows, schema={"source": pl.String, "warn_hours": pl.Float64, "fail_hours": pl.Float64}
    )


def freshness(manifest: pl.DataFrame, slas: pl.DataFrame, now: datetime) -> pl.DataFrame:
    """Hours since each configured source's newest landed file (null: it never landed one).

    `hours_without_delivery`: for a source that never landed a file, the hours since the pipeline
    first loaded anything (its first manifest row, any source, any status); null otherwise. A
    source that never delivers is a warning at first (it may be new), critical once this passes
    its fail_hours: without it, a source configured but never connected warned for ever.
    """
    finished = pl.col("finished_at")
    if isinstance(manifest.schema["finished_at"], pl.Datetime) and manifest.schema["finished_at"].time_zone:
        finished = finished.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    newest = (
        manifest.filter(pl.col("status").is_in(LANDED_STATUSES))
        .group_by("source")
        .agg(finished.max().alias("newest_landed_at"))
    )
    first_load = manifest.select(finished.min()).item() if manifest.height else None
    reference = pl.lit(now.replace(tzinfo=None) if now.tzinfo is None else _utc_naive(now))
    hours = ((reference - pl.lit(first_load, dtype=pl.Datetime("us"))).dt.total_seconds() / 3600).round(2)
    return (
        slas.join(newest, on="source", how="left")
        .with_columns(
            freshness_hours=((reference - pl.col("newest_landed_at")).dt.total_seconds() / 3600).round(2),
            hours_without_delivery=pl.when(pl.col("newest_landed_at").is_null()).then(hours),
        )
        .select(
            "source",
            "newest_landed_at",
            "freshness_hours",
            "hours_without_delivery",
            "warn_hours",
            "fail_hours",
        )
        .sort("source")
    )


def _utc_naive(moment: datetime) -> datetime:
    from datetime import UTC

    return moment.astimezone(UTC).replace(tzinfo=None)


DATED_SCHEMA = {"source": pl.String, "entity": pl.String, "newest_data_at": pl.Datetime("us")}


def data_freshness_slas(sources: Mapping[str, Any], settings: DataFreshnessSettings) -> pl.DataFrame:
    """source, entity, data_column, warn_hours, fail_hours: a row per source feeding a silver table
    named in `quality.data_freshness.columns` (the registry's `silver:` mappings say which)."""
    rows = []
    for source, entry in sorted((sources or {}).items()):
        tables = {
            table
            for spec in ((entry or {}).get("entities") or {}).values()
            for table in ((spec or {}).get("silver") or {})
        }
        warn, fail = settings.sla(source)
        rows += [
            {
                "source": source,
                "entity": t,
                "data_column": settings.columns[t],
                "warn_hours": warn,
                "fail_hours": fail,
            }
            for t in sorted(tables & settings.columns.keys())
        ]
    schema = {"source": pl.String, "entity": pl.String, "data_column": pl.String}
    return pl.DataFrame(rows, schema={**schema, "warn_hours": pl.Float64, "fail_hours": pl.Float64})


def data_freshness(
    slas: pl.DataFrame,
    landed: pl.DataFrame,
    recorded: pl.DataFrame,
    reference: datetime,
    missing_columns: Collection[str] = (),
) -> pl.DataFrame:
    """Per source and silver table, hours from its newest business date to the run's logical moment.

    The newest date is the later of what the rows landed since the last passing gate hold
    (`landed`) and what earlier gates measured (`recorded`, dq_metrics `newest_data_at`): the
    daily gate reads only the day's rows, never the whole history. Null when neither has a date.
    All times local and naive, like silver's. `data_column_found` is false for the tables in
    `missing_columns` (the declared column is not in silver: a configuration mistake to report).
    """
    newest = (
        pl.concat([landed.select(list(DATED_SCHEMA)), recorded.select(list(DATED_SCHEMA))])
        .group_by("source", "entity")
        .agg(pl.col("newest_data_at").max())
    )
    age = (pl.lit(reference.replace(tzinfo=None)) - pl.col("newest_data_at")).dt.total_seconds() / 3600
    return (
        slas.join(newest, on=["source", "entity"], how="left")
        .with_columns(
            data_age_hours=age.round(2), data_column_found=~pl.col("entity").is_in(list(missing_columns))
        )
        .select(
            "source",
            "entity",
            "data_column",
            "data_column_found",
            "newest_data_at",
            "data_age_hours",
            "warn_hours",
            "fail_hours",
        )
        .sort("source", "entity")
    )


def build_freshness(
    catalog: Catalog, sources: Mapping[str, Any], settings: QualitySettings
) -> pl.DataFrame | None:
    manifest = read_manifest(catalog)
    if manifest is None or not sources:
        return None
    return freshness(
        manifest, freshness_slas(sources, settings.freshness_defaults), catalog.parameters["checked_at"]
    )


def build_data_freshness(
    catalog: Catalog, sources: Mapping[str, Any], settings: QualitySettings
) -> pl.DataFrame | None:
    """`data_freshness` from the rows of each declared silver table landed since the last passing
    gate (`changed.<table>`: the whole table in a full gate) and the newest dates earlier gates
    recorded; None when no declared table exists yet."""
    slas = data_freshness_slas(sources, settings.data_freshness)
    tables = [t for t in slas.get_column("entity").unique().sort() if catalog.ensure(f"changed.{t}")]
    if not tables:
        return None
    missing = [t for t in tables if not _has_column(catalog, t, slas)]
    landed = [_newest_landed(catalog, t, slas) for t in tables if t not in missing]
    return data_freshness(
        slas.filter(pl.col("entity").is_in(tables)),
        pl.concat(landed) if landed else pl.DataFrame(schema=DATED_SCHEMA),
        _recorded_newest(catalog),
        catalog.parameters.get("logical_local", catalog.parameters["now_local"]),
        missing,
    )


def _has_column(catalog: Catalog, table: str, slas: pl.DataFrame) -> bool:
    column = slas.filter(pl.col("entity") == table).get_column("data_column")[0]
    return column in {row[0] for row in catalog.con.sql(f'describe changed."{table}"').fetchall()}


def _newest_landed(catalog: Catalog, table: str, slas: pl.DataFrame) -> pl.DataFrame:
    """source, entity, newest_data_at of one silver table's changed rows (one aggregate query).

    A table without a `source` column (the loyalty ledger) is attributed to the sources that feed it.
    """
    feeding = slas.filter(pl.col("entity") == table)
    column = feeding.get_column("data_column")[0]
    columns = {row[0] for row in catalog.con.sql(f'describe changed."{table}"').fetchall()}
    newest = f'max("{column}")::timestamp as newest_data_at'
    if "source" in columns:
        sql = f'select source, {newest} from changed."{table}" group by source'
        frame = catalog.frame(sql)
    else:
        found = catalog.frame(f'select {newest} from changed."{table}"')
        frame = feeding.select("source").join(found, how="cross")
    return frame.with_columns(entity=pl.lit(table)).select(list(DATED_SCHEMA)).cast(DATED_SCHEMA)  # type: ignore[arg-type]


def _recorded_newest(catalog: Catalog) -> pl.DataFrame:
    """The newest business date per source and table that earlier gates measured (dq_metrics)."""
    if not catalog.ensure("quality.dq_metrics"):
        return pl.DataFrame(schema=DATED_SCHEMA)
    return catalog.frame(
        "select source, entity, make_timestamp(cast(max(value) * 1000000 as bigint)) as newest_data_at "
        "from quality.dq_metrics where metric = 'newest_data_at' group by all"
    ).cast(DATED_SCHEMA)  # type: ignore[arg-type]
