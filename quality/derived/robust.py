"""Robust spread of a run's figure against its recent runs (median and median absolute deviation).

Shared by the volume and fill-rate rules so both read a robust z the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    pass


MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution times this estimates its standard deviation


MEAN_AD_TO_SIGMA = 1.2533  # the same for the mean absolute deviation (sqrt(pi / 2))


def spread(value: str) -> list[pl.Expr]:
    """history_runs, history_median and the two robust spreads of `value` (aggregations)."""
    median = pl.col(value).median()
    return [
        pl.len().alias("history_runs"),
        median.alias("history_median"),
        ((pl.col(value) - median).abs().median() * MAD_TO_SIGMA).alias("mad_scale"),
        ((pl.col(value) - median).abs().mean() * MEAN_AD_TO_SIGMA).alias("mean_ad_scale"),
    ]


def robust_scale(flat: float) -> pl.Expr:
    """1.4826 x MAD; 1.2533 x the mean absolute deviation when more than half the history is
    equal; `flat` when the whole history is."""
    return (
        pl.when(pl.col("mad_scale") > 0)
        .then(pl.col("mad_scale"))
        .when(pl.col("mean_ad_scale") > 0)
        .then(pl.col("mean_ad_scale"))
        .otherwise(flat)
    )


def recent_runs(frame: pl.DataFrame, batch_id: str, keys: list[str], window: int) -> pl.DataFrame:
    """Each key's newest `window` batches before `batch_id` (batch ids sort by time)."""
    return (
        frame.filter(pl.col("batch_id") < batch_id)
        .sort("batch_id", descending=True)
        .group_by(keys, maintain_order=True)
        .head(window)
    )
