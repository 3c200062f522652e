"""(b) Blocking and scoring as Spark jobs give the same customers as the DuckDB engine."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import polars as pl
import pytest

from identity_resolution import engine, hygiene, model
from identity_resolution.evaluation import load_febrl
from identity_resolution.features import build_features
from identity_resolution.records import validate_records
from identity_resolution.settings import load_settings
from identity_resolution.spark.engine import resolve_clusters
from warehouse import delta
from warehouse.config import REPO_ROOT, load_config

pytestmark = pytest.mark.spark

RESOLVED_AT = datetime(2026, 1, 15, 3, 0, 0)


def same_partition(left: pl.DataFrame, right: pl.DataFrame, left_key: str, right_key: str) -> bool:
    """Do two labellings of the same records group them identically (labels may differ)?"""
    joined = left.join(right, on="record_id", how="full", coalesce=True)
    if joined[left_key].null_count() or joined[right_key].null_count():
        return False
    return bool(
        joined.group_by(left_key).agg(pl.col(right_key).n_unique())[right_key].max() == 1
        and joined.group_by(right_key).agg(pl.col(left_key).n_unique())[left_key].max() == 1
    )


def test_spark_engine_gives_the_duckdb_engines_customers_and_weights(spark, small_lake: Path) -> None:
    config = load_config(REPO_ROOT / "cdp.yaml", data_root=small_lake)
    settings = load_settings(config)
    records = validate_records(delta.read(small_lake / "lake" / "silver" / "customer_records"))
    region = config.default_phone_region
    reference = engine.resolve(records, settings, default_region=region, run_id="t", resolved_at=RESOLVED_AT)
    on_spark = resolve_clusters(spark, records, settings, default_region=region, resolved_at=RESOLVED_AT)

    assert on_spark.stats["records"] == len(records)
    assert on_spark.stats["customers"] == reference.stats["customers"] < len(records)  # some records merge
    assert on_spark.stats["candidate_pairs"] == reference.stats["candidate_pairs"] > 0
    assert on_spark.stats["links"] == reference.stats["links"]
    assert same_partition(
        reference.links.select("record_id", "customer_id"), on_spark.clusters, "customer_id", "cluster_id"
    )
    # The same pairs with the same comparison levels, so the same model and match weights.
    # (both number records in record_id order: l_idx / r_idx are the same rows)
    saved = reference.graph.pairs.sort("l_idx", "r_idx")
    spark_pairs = on_spark.scored.select(
        "l_idx", "r_idx", *[c for c in saved.columns if c.startswith("gamma_")]
    ).sort("l_idx", "r_idx")
    assert spark_pairs.equals(saved.select(spark_pairs.columns))
    # Scoring on Spark (per partition, term frequencies joined in) equals model.score on the driver.
    features, _ = hygiene.apply_hygiene(
        build_features(records.sort("record_id"), region, settings, RESOLVED_AT.date()), settings
    )
    gammas = [c for c in on_spark.scored.columns if c.startswith("gamma_")]
    expected = model.score(
        features,
        on_spark.scored.select("l_idx", "r_idx", *gammas),
        on_spark.fs_model,
        settings.comparisons,
        settings.model.min_probability,
    )
    assert on_spark.scored["match_weight"].to_list() == pytest.approx(
        expected["match_weight"].to_list(), abs=1e-9
    )
    assert on_spark.fs_model.prior == pytest.approx(reference.graph.model.prior, rel=1e-12)  # type: ignore[union-attr]


def test_where_the_data_shows_no_households_both_engines_apply_the_vouch(spark) -> None:
    # FEBRL3: duplicates whose birthday and national id were both replaced are joined only by the
    # same-name-at-same-address vouch, which the household share lets apply (identity round 12).
    settings = load_settings(load_config(REPO_ROOT / "cdp.yaml"))
    records = validate_records(load_febrl(3)[0])
    reference = engine.resolve(records, settings, default_region="AU", run_id="t", resolved_at=RESOLVED_AT)
    without = settings.model_copy(
        update={"guards": settings.guards.model_copy(update={"identity_vouches": []})}
    )
    unvouched = engine.resolve(records, without, default_region="AU", run_id="t", resolved_at=RESOLVED_AT)
    on_spark = resolve_clusters(spark, records, settings, default_region="AU", resolved_at=RESOLVED_AT)

    assert reference.stats["customers"] < unvouched.stats["customers"]  # the vouch joined some
    assert on_spark.stats["customers"] == reference.stats["customers"]
    assert same_partition(
        reference.links.select("record_id", "customer_id"), on_spark.clusters, "customer_id", "cluster_id"
    )
