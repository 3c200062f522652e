"""Blocking and scoring as Spark jobs, partitioned by block; the same customers as the DuckDB engine.

The work that grows with the data is the candidate pairs: generating them (blocking) and comparing
them (comparison vectors with string similarity), which is quadratic inside each block. Here both
run on Spark, everything else is the one-machine engine's own code on the driver:

1. Features (`build_features` + `hygiene.apply_hygiene`) on the driver, one row per record, as the
   DuckDB engine does; the columns the comparisons need go to Spark with the record's row number.
2. Blocking: each rule of `settings.blocking_rules` is a Spark self-join on its columns inside
   blocks of 2..`block_limits()` records (`max_block_size`, or the rule's own; the SQL of
   `identity_resolution.blocking`, as DataFrame operations). A pair found by several rules belongs to the block of its first rule.
3. Comparison vectors: `groupBy(block).applyInPandas`, each group is one block's pairs with both
   records' features, compared by the engine's own `comparisons.comparison_vectors` (pure,
   pair by pair), so Spark distributes blocks over executors and nothing is reimplemented.
4. The Fellegi-Sunter model is trained on the driver from the collected gamma codes (small ints)
   with `model.train`, exactly as the DuckDB engine does (same pairs in the same order, same seed,
   hence the same model).
5. Scoring: `mapInPandas` with the model's m/u tables and each left record's term frequencies:
   match weight and probability per pair (`_partial_weights` mirrors `model.partial_weights`).
6. Decisions, manual overrides and guarded clustering on the driver with `linking` and
   `clustering`, as the DuckDB engine does.

A full run only: the incremental graph of `identity_resolution.engine` stays with the one-machine
engine. What would change on a real cluster is in docs/scaling.md.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa

from identity_resolution import clustering, comparisons, households, hygiene, linking, model
from identity_resolution.comparisons import gamma_column
from identity_resolution.engine import pair_conflicts
from identity_resolution.features import build_features
from identity_resolution.overrides import manual_pairs
from identity_resolution.settings import Comparison, IdentitySettings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

# Feature columns that comparison_vectors reads besides each comparison's own column.
NAME_COLUMNS = ("given_key", "family_key", "name_key", "name_is_display")


@dataclass
class SparkResolution:
    """Who is who, and the evidence the driver used to decide it."""

    clusters: pl.DataFrame  # record_id, cluster_id (the smallest record_id of the customer)
    scored: pl.DataFrame  # l_idx, r_idx, gamma_*, match_weight, match_probability, weight_*
    fs_model: model.FellegiSunterModel
    stats: dict[str, Any] = field(default_factory=dict)


def comparison_columns(features: pl.DataFrame, settings: IdentitySettings) -> list[str]:
    """The feature columns the comparisons read (their own columns and the name parts)."""
    wanted = {c.column for c in settings.comparisons} | set(NAME_COLUMNS)
    return [c for c in features.columns if c in wanted]


def _to_spark(spark: SparkSession, frame: pl.DataFrame) -> DataFrame:
    """A Polars frame as a Spark DataFrame through Arrow (plain string type: Spark has no views)."""
    table = frame.to_arrow(compat_level=pl.CompatLevel.oldest())
    schema = pa.schema(
        [
            pa.field(f.name, pa.string()) if pa.types.is_large_string(f.type) else f
            for f in table.schema  # type: ignore[union-attr]
        ]
    )
    return spark.createDataFrame(table.cast(schema))  # type: ignore[arg-type]


def _log_oversized(features: pl.DataFrame, settings: IdentitySettings) -> None:
    for rule, limit in zip(settings.blocking_rules, settings.block_limits(), strict=True):
        sizes = features.drop_nulls(rule).group_by(rule).len().filter(pl.col("len") > limit)
        if len(sizes):
            log.info(
                "blocking on %s: skipped %d blocks over %d records (%d records)",
                rule,
                len(sizes),
                limit,
                int(sizes["len"].sum()),
            )


def blocked_pairs(keys: DataFrame, settings: IdentitySettings) -> DataFrame:
    """Distinct candidate pairs (l_idx < r_idx) with the block they were found in.

    `keys`: one row per record, `idx` and the blocking columns. The block of a pair is a hash of
    its first rule (in configured order) and that rule's key values.
    """
    from pyspark.sql import functions as F

    found = []
    for number, (rule, limit) in enumerate(
        zip(settings.blocking_rules, settings.block_limits(), strict=True)
    ):
        keyed = keys.where(F.expr(" and ".join(f"`{c}` is not null" for c in rule))).select("idx", *rule)
        small = keyed.groupBy(*rule).count().where(F.col("count").between(2, limit)).drop("count")
        blocked = keyed.join(small, on=rule).withColumn(
            "block", F.xxhash64(F.lit(number), *[F.col(c).cast("string") for c in rule])
        )
        left = blocked.select(F.col("idx").alias("l_idx"), "block", *rule)
        right = blocked.select(F.col("idx").alias("r_idx"), *rule)
        found.append(
            left.join(right, on=rule)
            .where(F.col("l_idx") < F.col("r_idx"))
            .select("l_idx", "r_idx", F.lit(number).alias("rule"), "block")
        )
    if not found:
        return keys.sparkSession.createDataFrame([], "l_idx int, r_idx int, block bigint")
    union = found[0]
    for more in found[1:]:
        union = union.unionByName(more)
    return union.groupBy("l_idx", "r_idx").agg(F.min_by("block", "rule").alias("block"))


def _compare_block(columns: list[str], schema: pl.Schema, used: list[Comparison]) -> Any:
    """The applyInPandas function: one block's pairs (l_<col>, r_<col>) -> their gamma codes."""

    def compare(block: pd.DataFrame) -> pd.DataFrame:
        frame = pl.from_arrow(pa.Table.from_pandas(block, preserve_index=False))
        assert isinstance(frame, pl.DataFrame)
        sides = [
            frame.select(
                pl.col(f"{side}_idx").alias("idx"), *[pl.col(f"{side}_{c}").alias(c) for c in columns]
            )
            for side in ("l", "r")
        ]
        # A column that is null all through the block arrives untyped: cast each side first.
        local = pl.concat([side.cast(schema) for side in sides]).unique("idx", keep="first").sort("idx")  # type: ignore[arg-type]
        rows = local["idx"].to_numpy()
        left = np.searchsorted(rows, frame["l_idx"].to_numpy())
        right = np.searchsorted(rows, frame["r_idx"].to_numpy())
        vectors = comparisons.comparison_vectors(local, left, right, used)
        return pl.concat([frame.select("l_idx", "r_idx"), vectors], how="horizontal").to_pandas()

    return compare


def comparison_vectors(spark: SparkSession, features: pl.DataFrame, settings: IdentitySettings) -> DataFrame:
    """Spark DataFrame of l_idx, r_idx and one gamma column per comparison, computed per block."""
    from pyspark.sql import functions as F

    columns = comparison_columns(features, settings)
    blocking_columns = sorted({c for rule in settings.blocking_rules for c in rule})
    indexed = features.with_row_index("idx").with_columns(pl.col("idx").cast(pl.Int32))
    keys = _to_spark(spark, indexed.select("idx", *blocking_columns))
    values = _to_spark(spark, indexed.select("idx", *columns))
    pairs = blocked_pairs(keys, settings)
    left = values.select(*[F.col(c).alias(f"l_{c}") for c in values.columns])
    right = values.select(*[F.col(c).alias(f"r_{c}") for c in values.columns])
    wide = pairs.join(left, on="l_idx").join(right, on="r_idx")
    gammas = ", ".join(f"`{gamma_column(c)}` tinyint" for c in settings.comparisons)
    schema = indexed.select("idx", *columns).schema
    return wide.groupBy("block").applyInPandas(
        _compare_block(columns, schema, settings.comparisons), f"l_idx int, r_idx int, {gammas}"
    )


def _partial_weights(
    frame: pd.DataFrame, fs_model: model.FellegiSunterModel, used: list[Comparison], min_probability: float
) -> dict[str, np.ndarray]:
    """`model.partial_weights` on a partition: the term frequency of each left record comes in a
    `tf_<comparison>` column (computed over all records on the driver) instead of from the
    features table, which the partition does not have."""
    out = {}
    for c in used:
        codes = frame[gamma_column(c)].to_numpy()
        table = np.append(np.log2(fs_model.m[c.name] / fs_model.u[c.name]), 0.0)
        weights = table[codes]
        if c.term_frequency:
            tf = frame[f"tf_{c.name}"].to_numpy(dtype=np.float64)
            exact = codes == 0
            tf_u = np.maximum(np.nan_to_num(tf[exact], nan=1.0), min_probability)
            weights[exact] = np.log2(fs_model.m[c.name][0] / tf_u)
        out[c.name] = weights
    return out


def score_pairs(
    spark: SparkSession,
    pairs: DataFrame,
    features: pl.DataFrame,
    fs_model: model.FellegiSunterModel,
    settings: IdentitySettings,
) -> DataFrame:
    """Match weight, probability and per-comparison weights for every pair, per partition."""
    used = settings.comparisons
    with_tf = [c for c in used if c.term_frequency]
    tf = pl.DataFrame({"l_idx": pl.int_range(len(features), dtype=pl.Int32, eager=True)}).with_columns(
        [model.term_frequencies(features, c).alias(f"tf_{c.name}") for c in with_tf]
    )
    joined = pairs.join(_to_spark(spark, tf), on="l_idx") if with_tf else pairs
    prior_weight = float(np.log2(fs_model.prior / (1 - fs_model.prior)))
    floor = settings.model.min_probability
    names = [c.name for c in used]
    gamma_names = [gamma_column(c) for c in used]

    def score(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for frame in batches:
            partial = _partial_weights(frame, fs_model, used, floor)
            total = prior_weight + (
                np.sum(list(partial.values()), axis=0) if partial else np.zeros(len(frame))
            )
            out = frame[["l_idx", "r_idx", *gamma_names]].copy()
            out["match_weight"] = total
            out["match_probability"] = 1.0 / (1.0 + np.exp2(-np.clip(total, -1000, 1000)))
            for name in names:
                out[f"weight_{name}"] = partial[name]
            yield out

    gammas = ", ".join(f"`{g}` tinyint" for g in gamma_names)
    weights = ", ".join(f"`weight_{n}` double" for n in names)
    return joined.mapInPandas(
        score, f"l_idx int, r_idx int, {gammas}, match_weight double, match_probability double, {weights}"
    )


def _collect(frame: DataFrame) -> pl.DataFrame:
    collected = pl.from_arrow(frame.toArrow())
    assert isinstance(collected, pl.DataFrame)
    return collected


def resolve_clusters(
    spark: SparkSession,
    records: pl.DataFrame,
    settings: IdentitySettings,
    *,
    default_region: str,
    resolved_at: datetime,
    overrides: pl.DataFrame | None = None,
) -> SparkResolution:
    """Resolve validated identity records (`records.validate_records`) with blocking and scoring
    on Spark; the same steps and functions as `identity_resolution.engine.resolve` otherwise."""
    records = records.sort("record_id")
    features, _ = hygiene.apply_hygiene(
        build_features(records, default_region, settings, resolved_at.date()), settings
    )
    _log_oversized(features, settings)
    vectors = comparison_vectors(spark, features, settings).cache()
    try:
        gammas = _collect(vectors).sort("l_idx", "r_idx")
        fs_model = model.train(features, gammas, settings)
        blocked = _collect(score_pairs(spark, vectors, features, fs_model, settings))
    finally:
        vectors.unpersist()
    gamma_names = [gamma_column(c) for c in settings.comparisons]
    blocked = blocked.cast({"l_idx": pl.Int32, "r_idx": pl.Int32, **dict.fromkeys(gamma_names, pl.Int8)})
    manual = manual_pairs(overrides, records["record_id"])
    manual_vectors = comparisons.comparison_vectors(
        features, manual["l_idx"].to_numpy(), manual["r_idx"].to_numpy(), settings.comparisons
    )
    manual_scored = model.score(
        features,
        pl.concat([manual.select("l_idx", "r_idx"), manual_vectors], how="horizontal"),
        fs_model,
        settings.comparisons,
        settings.model.min_probability,
    )
    scored = pl.concat([blocked.select(manual_scored.columns).cast(manual_scored.schema), manual_scored])
    scored = scored.sort("l_idx", "r_idx")
    shared = hygiene.shared_values(features, settings.deterministic_keys, settings.max_people_to_link_alone)
    deciding = households.applicable_settings(features, settings)
    decided = linking.apply_overrides(linking.decide(scored, shared, deciding), manual).sort("l_idx", "r_idx")
    edges = decided.filter(pl.col("accepted"))
    result = clustering.cluster(
        len(records),
        edges,
        linking.effective_conflicts(decided, decided.filter(pl.col("chain_conflict")), len(records)),
        pair_conflicts(features, deciding, fs_model),
        settings.guards.max_cluster_size,
        settings.guards.full_conflict_check_max_size,
    )
    ids = records["record_id"]
    clusters = pl.DataFrame({"record_id": ids, "cluster_id": ids.gather(result.labels)})
    stats = {
        "records": len(records),
        "customers": int(clusters["cluster_id"].n_unique()),
        "candidate_pairs": len(blocked),
        "links": len(edges),
        "refused_links": len(result.refused),
    }
    log.info("spark engine: resolved %(records)d records into %(customers)d customers", stats)
    return SparkResolution(clusters=clusters, scored=scored, fs_model=fs_model, stats=stats)
