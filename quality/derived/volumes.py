"""Volume anomalies (`derived.volumes`): per source entity, rows added by this run against the
recent runs (robust z-score; a file re-delivered whole adds its rows minus those it replaces).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from quality.derived.lake import landed_per_batch, manifest_and_batch
from quality.derived.robust import recent_runs, robust_scale, spread
from quality.settings import QualitySettings

if TYPE_CHECKING:
    from quality.catalog import Catalog


def volumes(
    per_batch: pl.DataFrame,
    batch_id: str,
    *,
    window: int,
    min_history: int,
    max_robust_z: float,
    min_change: int,
) -> pl.DataFrame:
    """This batch's added rows per source entity against the previous `window` batches.

    `per_batch` is `landed_per_batch`: the rows a batch added are judged, not the rows it wrote,
    so a snapshot re-delivered whole is measured by its growth, like a daily file, and one that
    comes back half-empty is a large negative change.
    robust z = (rows added - median) / scale, with scale = 1.4826 x MAD (the median absolute
    deviation), falling back to 1.2533 x the mean absolute deviation when more than half the
    history is equal, and to one row when the whole history is equal. `anomalous` (1 or 0) is
    null until `min_history` batches exist; 1 when |robust z| > `max_robust_z` *and* the change
    from the median is at least `min_change` rows: an entity that adds a handful of rows a day
    (new loyalty members of a small retailer) swings by multiples, 2 one day and 11 the next,
    which is a large z but no broken delivery.
    """
    current = per_batch.filter(pl.col("batch_id") == batch_id).select(
        "source", "entity", "rows_landed", "rows_added"
    )
    history = recent_runs(per_batch, batch_id, ["source", "entity"], window)
    stats = history.group_by("source", "entity").agg(spread("rows_added"))
    judged = pl.col("history_runs") >= min_history
    z = pl.when(judged).then((pl.col("rows_added") - pl.col("history_median")) / robust_scale(1.0))
    unusual = (pl.col("robust_z").abs() > max_robust_z) & (pl.col("change").abs() >= min_change)
    return (
        current.join(stats, on=["source", "entity"], how="left")
        .with_columns(
            pl.col("history_runs").fill_null(0),
            robust_z=z.round(3),
            change=pl.when(judged).then(pl.col("rows_added") - pl.col("history_median")),
        )
        .with_columns(
            abs_robust_z=pl.col("robust_z").abs(),
            anomalous=pl.when(judged).then(unusual).cast(pl.Int8),
        )
        .select(
            "source",
            "entity",
            "rows_landed",
            "rows_added",
            "history_runs",
            "history_median",
            "change",
            "robust_z",
            "abs_robust_z",
            "anomalous",
        )
        .sort("source", "entity")
    )


def build_volumes(catalog: Catalog, settings: QualitySettings) -> pl.DataFrame | None:
    found = manifest_and_batch(catalog)
    if found is None:
        return None
    manifest, batch = found
    per_batch = landed_per_batch(manifest)
    rule = settings.volume
    return volumes(
        per_batch,
        batch,
        window=rule.window,
        min_history=rule.min_history,
        max_robust_z=rule.max_robust_z,
        min_change=rule.min_change,
    )
