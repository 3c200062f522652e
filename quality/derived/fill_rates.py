"""Fill-rate drift (`derived.fill_rates`): per bronze column, the share of non-empty values this
run landed against the recent runs (the history kept in `lake/quality/fill_profile`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import polars as pl

from quality.derived.lake import TEXT_TYPES, landed_per_batch, manifest_and_batch
from quality.derived.robust import recent_runs, robust_scale, spread
from quality.settings import QualitySettings
from warehouse.sql import quote_identifier

if TYPE_CHECKING:
    from quality.catalog import Catalog


# A column's fill share that never moved has no spread: a drop is then measured against one
# percentage point (the volumes' "one row"), so it still gets a finite, readable robust z.
FILL_SHARE_FLAT_SCALE = 0.01


FILL_PROFILE_SCHEMA: dict[str, pl.DataType] = {  # lake/quality/fill_profile (docs/data_model.md s. 6)
    "batch_id": pl.String(),
    "source": pl.String(),
    "entity": pl.String(),
    "column_name": pl.String(),
    "rows": pl.Int64(),
    "filled": pl.Int64(),
}


def fill_drift(
    profile: pl.DataFrame,
    batch_id: str,
    *,
    window: int,
    min_history: int,
    min_rows: int,
    min_drop: float,
    max_robust_z: float,
) -> pl.DataFrame:
    """Per bronze column of this batch: its fill share against the previous `window` batches.

    `profile`: batch_id, source, entity, column_name, rows (landed), filled (non-empty values).
    fill_drop = the history's median share - this run's share (rounded to 4 places, so the drop
    shown is the drop judged); robust z as for volumes, over the shares, one percentage point as
    the scale of a history that never moved. Batches with fewer than `min_rows` rows are noise:
    not history, and not judged; a row without a column (a batch bronze no longer holds) is left
    out. `drifted` (1 or 0) is null until `min_history` runs exist; 1 when
    the share fell by at least `min_drop` *and* robust z <= -`max_robust_z`.
    """
    keys = ["source", "entity", "column_name"]
    shares = profile.filter(pl.col("column_name").is_not_null()).with_columns(
        fill_share=pl.col("filled") / pl.col("rows")
    )
    current = shares.filter(pl.col("batch_id") == batch_id).select(*keys, "rows", "filled", "fill_share")
    history = recent_runs(shares.filter(pl.col("rows") >= min_rows), batch_id, keys, window)
    stats = history.group_by(keys).agg(spread("fill_share"))
    judged = (pl.col("history_runs") >= min_history) & (pl.col("rows") >= min_rows)
    drop = (pl.col("history_median") - pl.col("fill_share")).round(4)
    z = (pl.col("fill_share") - pl.col("history_median")) / robust_scale(FILL_SHARE_FLAT_SCALE)
    return (
        current.join(stats, on=keys, how="left")
        .with_columns(pl.col("history_runs").fill_null(0))
        .with_columns(
            fill_drop=pl.when(judged).then(drop),
            robust_z=pl.when(judged).then(z.round(3)),
        )
        .with_columns(
            drifted=pl.when(judged)
            .then((pl.col("fill_drop") >= min_drop) & (pl.col("robust_z") <= -max_robust_z))
            .cast(pl.Int8),
            fill_share=pl.col("fill_share").round(4),
            history_median_share=pl.col("history_median").round(4),
        )
        .select(
            *keys,
            "rows",
            "filled",
            "fill_share",
            "history_runs",
            "history_median_share",
            "fill_drop",
            "robust_z",
            "drifted",
        )
        .sort(keys)
    )


def fill_batches(per_batch: pl.DataFrame, batch_id: str, window: int, min_rows: int) -> pl.DataFrame:
    """source, entity, batch_id of the runs a fill-rate judgement needs: this one, for each entity
    it landed rows of, and those entities' newest `window` earlier runs that landed at least
    `min_rows` rows (an entity this run did not land is not judged, so its history is not read)."""
    landed = per_batch.filter(pl.col("rows_landed") > 0)
    current = landed.filter(pl.col("batch_id") == batch_id)
    earlier = landed.filter(pl.col("rows_landed") >= min_rows).join(
        current, on=["source", "entity"], how="semi"
    )
    history = recent_runs(earlier, batch_id, ["source", "entity"], window)
    return pl.concat([current, history]).select("source", "entity", "batch_id").unique().sort(pl.all())


def _filled_expression(column: str, column_type: str) -> str:
    """Non-empty values of one column: null, blank text and an empty list are empty."""
    quoted = quote_identifier(column)
    if column_type in TEXT_TYPES:
        return f"count(nullif(trim({quoted}), ''))"
    if column_type.endswith("[]"):
        return f"count(*) filter (where len({quoted}) > 0)"
    return f"count({quoted})"


def bronze_fill_counts(catalog: Catalog, table: str, batches: list[str], max_rows: int) -> pl.DataFrame:
    """Rows and non-empty values per data column of one bronze table, for some of its batches.

    One aggregate query reading only those batches' rows: bronze files are appended per batch, so
    each `_batch_id` filter skips the other files' row groups by their statistics, and a daily gate
    reads the day's rows, not the table. A batch is counted on at most `max_rows` rows (its first,
    in file order: the scan stops there), so an initial load of millions of rows costs a bounded
    read; `rows` is then the rows counted.
    """
    source, _, entity = table.partition("__")
    name = f'bronze."{table}"'
    types = {row[0]: str(row[1]) for row in catalog.con.sql(f"describe {name}").fetchall()}
    data_columns = [c for c in types if not c.startswith("_")]
    if "_batch_id" not in types or not data_columns or not batches:
        return pl.DataFrame(schema=FILL_PROFILE_SCHEMA)
    quoted = [quote_identifier(c) for c in data_columns]
    per_batch = " union all ".join(
        f"(select _batch_id, {', '.join(quoted)} from {name} where _batch_id = $b{i} limit $max_rows)"
        for i in range(len(batches))
    )
    counts = ", ".join(f"{_filled_expression(c, types[c])} as f{i}" for i, c in enumerate(data_columns))
    wide = catalog.con.sql(
        f"select _batch_id as batch_id, count(*) as rows, {counts} from ({per_batch}) group by _batch_id",
        params={"max_rows": max_rows} | {f"b{i}": b for i, b in enumerate(batches)},
    ).pl()
    counted = (
        wide.unpivot(index=["batch_id", "rows"], variable_name="field", value_name="filled")
        .with_columns(
            source=pl.lit(source),
            entity=pl.lit(entity),
            column_name=pl.col("field").replace_strict(
                {f"f{i}": c for i, c in enumerate(data_columns)}, return_dtype=pl.String
            ),
        )
        .select(list(FILL_PROFILE_SCHEMA))
        .cast(FILL_PROFILE_SCHEMA)  # type: ignore[arg-type]
    )
    return pl.concat([counted, _gone(source, entity, set(batches) - set(wide.get_column("batch_id")))])


def _gone(source: str, entity: str, batches: set[str]) -> pl.DataFrame:
    """One row per batch bronze no longer holds (its file re-delivered since): no column, 0 rows.

    Stored like a profile, it marks the batch as looked for, so no later gate reads bronze for it
    again; with 0 rows it is never history (`fill_drift` leaves it out).
    """
    rows = [
        {"batch_id": b, "source": source, "entity": entity, "rows": 0, "filled": 0} for b in sorted(batches)
    ]
    return pl.DataFrame(rows, schema=FILL_PROFILE_SCHEMA)


def build_fill_rates(
    catalog: Catalog, settings: QualitySettings, profiled: Callable[[pl.DataFrame], None]
) -> pl.DataFrame | None:
    """`derived.fill_rates` from the stored profile plus what it lacks, counted in bronze.

    The history is `lake/quality/fill_profile` (a few dozen rows per run). What it lacks is
    counted from bronze by `_batch_id`: this run's batch (always: a retried run may have landed
    more) and any earlier run in the window no gate profiled (a lake that predates the rule, a run
    whose gate never ran), so the rule judges from the first run after it is deployed. `profiled`
    receives the counted rows; the gate stores them with its results.
    """
    found = manifest_and_batch(catalog)
    if found is None:
        return None
    manifest, batch = found
    rule = settings.fill_rate
    needed = fill_batches(landed_per_batch(manifest), batch, rule.window, rule.min_rows)
    stored = _stored_fill_profile(catalog, needed, batch)
    missing = needed.join(
        stored.select("source", "entity", "batch_id").unique(),
        on=["source", "entity", "batch_id"],
        how="anti",
    )
    bronze = set(catalog.lake_tables("bronze"))
    counted = []
    for (source, entity), batches in missing.group_by("source", "entity", maintain_order=True):
        table = f"{source}__{entity}"
        if table in bronze and catalog.ensure(f"bronze.{table}"):
            wanted = batches.get_column("batch_id").to_list()
            counted.append(bronze_fill_counts(catalog, table, wanted, rule.max_rows))
    new = pl.concat(counted) if counted else pl.DataFrame(schema=FILL_PROFILE_SCHEMA)
    profiled(new)
    return fill_drift(
        pl.concat([stored, new]),
        batch,
        window=rule.window,
        min_history=rule.min_history,
        min_rows=rule.min_rows,
        min_drop=rule.min_drop,
        max_robust_z=rule.max_robust_z,
    )


def _stored_fill_profile(catalog: Catalog, needed: pl.DataFrame, batch: str) -> pl.DataFrame:
    """The stored profile rows of the needed earlier runs (this run's are always counted anew)."""
    if needed.is_empty() or not catalog.ensure("quality.fill_profile"):
        return pl.DataFrame(schema=FILL_PROFILE_SCHEMA)
    columns = ", ".join(f'"{c}"' for c in FILL_PROFILE_SCHEMA)
    oldest = needed.get_column("batch_id").min()
    stored = catalog.con.sql(
        f"select {columns} from quality.fill_profile where batch_id >= $oldest and batch_id < $batch",
        params={"oldest": oldest, "batch": batch},
    ).pl()
    return stored.cast(FILL_PROFILE_SCHEMA).join(  # type: ignore[arg-type]
        needed, on=["source", "entity", "batch_id"], how="semi"
    )
