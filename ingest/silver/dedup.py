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
    Only rows whose hash repeats are sorted and grouped: the rest are kept as they are.
    """
    repeated = frame["_row_hash"].is_duplicated()
    if not repeated.any():
        return frame, _empty_log()
    ordered = frame.filter(repeated).sort(DELIVERY_ORDER, nulls_last=True)
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
    return pl.concat([frame.filter(~repeated), kept]), _as_log(log)


def keep_latest(
    frame: pl.DataFrame, key: str, log_key: str, latest_by: str | None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One row per `key`: the latest by `latest_by` (then by delivery); older versions logged as superseded.

    Only keys with several rows are sorted and grouped: the rest are kept as they are.
    """
    repeated = frame[key].is_duplicated()
    if not repeated.any():
        return frame, _empty_log()
    order = ([latest_by] if latest_by else []) + DELIVERY_ORDER
    ordered = frame.filter(repeated).sort(order, descending=True, nulls_last=True)
    counts = ordered.group_by(key).agg(
        pl.col(log_key).first().alias("duplicate_key"), (pl.len() - 1).alias("copies_removed")
    )
    log = counts.filter(pl.col("copies_removed") > 0).with_columns(kind=pl.lit("superseded"))
    kept = ordered.unique(subset=[key], keep="first", maintain_order=False)
    return pl.concat([frame.filter(~repeated), kept]), _as_log(log)


LOG_SCHEMA = {"duplicate_key": pl.String, "copies_removed": pl.Int64, "kind": pl.String}


def _as_log(log: pl.DataFrame) -> pl.DataFrame:
    return log.select(list(LOG_SCHEMA)).cast(LOG_SCHEMA)  # type: ignore[arg-type]


def _empty_log() -> pl.DataFrame:
    return pl.DataFrame(schema=LOG_SCHEMA)


def log_rows(log: pl.DataFrame, source: str, entity: str, batch_id: str) -> pl.DataFrame:
    return log.select(
        source=pl.lit(source),
        entity=pl.lit(entity),
        duplicate_key=pl.col("duplicate_key"),
        copies_removed=pl.col("copies_removed"),
        batch_id=pl.lit(batch_id),
        kind=pl.col("kind"),
    ).cast(DEDUP_LOG)
