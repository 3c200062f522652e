"""Removing exact duplicates (the same row delivered twice) and superseded versions, with a count.

Two copies are exact duplicates when their bronze `_row_hash` (all source values) is equal: the POS
ticket exported twice. When one key still has several different rows (a corrected re-export), the
latest delivery wins. Both removals are counted per key in `dedup_log`; nothing disappears silently.
"""

from __future__ import annotations

import polars as pl

from ingest.silver.schema import DEDUP_LOG

DELIVERY_ORDER = ["_ingested_at", "_file", "_row_number"]


def remove_exact(frame: pl.DataFrame, key: str, log_key: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Keep the first delivery of each `_row_hash`; log per `key` the copies removed (max over its rows).

    The max (not the sum) makes a ticket of three lines exported twice count as one copy removed.
    """
    ordered = frame.sort(DELIVERY_ORDER, nulls_last=True)
    copies = ordered.group_by("_row_hash").agg(
        pl.col(key).first(), pl.col(log_key).first(), (pl.len() - 1).alias("n")
    )
    log = (
        copies.filter(pl.col("n") > 0)
        .group_by(key)
        .agg(pl.col(log_key).first().alias("duplicate_key"), pl.col("n").max().alias("copies_removed"))
        .with_columns(kind=pl.lit("exact"))
    )
    kept = ordered.unique(subset=["_row_hash"], keep="first", maintain_order=True)
    return kept, log.select("duplicate_key", "copies_removed", "kind")


def keep_latest(
    frame: pl.DataFrame, key: str, log_key: str, latest_by: str | None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One row per `key`: the latest by `latest_by` (then by delivery); older versions logged as superseded."""
    order = ([latest_by] if latest_by else []) + DELIVERY_ORDER
    ordered = frame.sort(order, descending=True, nulls_last=True)
    counts = ordered.group_by(key).agg(
        pl.col(log_key).first().alias("duplicate_key"), (pl.len() - 1).alias("copies_removed")
    )
    log = counts.filter(pl.col("copies_removed") > 0).with_columns(kind=pl.lit("superseded"))
    return ordered.unique(subset=[key], keep="first", maintain_order=False), log.select(
        "duplicate_key", "copies_removed", "kind"
    )


def log_rows(log: pl.DataFrame, source: str, entity: str, batch_id: str) -> pl.DataFrame:
    return log.select(
        source=pl.lit(source),
        entity=pl.lit(entity),
        duplicate_key=pl.col("duplicate_key"),
        copies_removed=pl.col("copies_removed"),
        batch_id=pl.lit(batch_id),
        kind=pl.col("kind"),
    ).cast(DEDUP_LOG)
