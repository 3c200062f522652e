"""A daily run works in proportion to the day's change: features of new and changed records only,
the u sample's pairs only where records came or went, and still the model of a full rebuild."""

from __future__ import annotations

import numpy as np
import polars as pl

from identity_resolution.model import em_sample, pair_hashes, u_sample, u_sample_size
from identity_resolution.settings import ModelSettings

from .conftest import fast_settings, partition, run
from .test_incremental import assert_same_model, daily_and_scratch, febrl_days


def sample_pairs(ids: pl.Series, settings: ModelSettings) -> pl.DataFrame:
    sample = u_sample(ids, settings)
    return sample.select(
        "slot", ids.gather(sample["l_idx"]).alias("left"), ids.gather(sample["r_idx"]).alias("right")
    )


def test_a_daily_run_builds_features_only_for_new_and_changed_records():
    yesterday, everything = febrl_days()
    corrected = everything["record_id"].sort()[0]  # a record of yesterday, corrected today
    today = everything.with_columns(
        pl.when(pl.col("record_id") == corrected)
        .then(pl.lit("Nguyen"))
        .otherwise(pl.col("family_name"))
        .alias("family_name")
    )
    settings = fast_settings()
    daily, scratch = daily_and_scratch(yesterday, today, settings)
    # new, corrected, and those whose date of birth did not parse (a future date parses one day)
    unparsed = today.join(scratch.graph.features, on="record_id").filter(
        pl.col("date_of_birth").is_not_null() & pl.col("dob").is_null()
    )
    new = everything.join(yesterday, on="record_id", how="anti")
    expected = pl.concat([new["record_id"], pl.Series([corrected]), unparsed["record_id"]]).n_unique()
    assert daily.stats["features_built"] == expected < len(everything) / 4
    assert scratch.stats["features_built"] == len(everything)
    # the saved features are exactly what a rebuild computes, so the next day starts alike
    assert daily.graph.features.equals(scratch.graph.features)
    assert partition(daily) == partition(scratch)


def test_a_daily_run_compares_only_the_u_sample_pairs_that_moved_and_trains_the_same_model():
    yesterday, everything = febrl_days()
    settings = fast_settings()
    daily, scratch = daily_and_scratch(yesterday, everything, settings)
    assert scratch.stats["u_pairs_compared"] == len(scratch.graph.u_sample)
    assert 0 < daily.stats["u_pairs_compared"] < 0.6 * len(daily.graph.u_sample)  # a fifth are new
    assert daily.graph.u_sample.equals(scratch.graph.u_sample)
    assert_same_model(daily, scratch, settings)


def test_the_u_sample_moves_only_where_records_came_or_went():
    settings = ModelSettings(u_sample_pairs=50_000)
    ids = pl.Series("record_id", [f"r{i:05d}" for i in range(20_000)])
    newcomers = pl.Series("record_id", [f"n{i:05d}" for i in range(100)])  # 0.5% new records
    before = sample_pairs(ids, settings)
    after = sample_pairs(pl.concat([ids, newcomers]).sort(), settings)
    moved = after.join(before, on=["slot", "left", "right"], how="anti")
    assert 0 < len(moved) < 0.02 * len(after)  # about twice the newcomers' share
    # drawn from the records, not their order: a full rebuild draws the same sample
    shuffled = pl.concat([newcomers, ids]).shuffle(seed=1)
    assert sample_pairs(shuffled, settings).sort("slot").equals(after)


def test_with_few_records_the_u_sample_is_every_pair_once():
    ids = pl.Series("record_id", ["a", "b", "c", "d"])
    pairs = sample_pairs(ids, ModelSettings(u_sample_pairs=1000))
    assert sorted(pairs.select("left", "right").rows()) == [
        ("a", "b"),
        ("a", "c"),
        ("a", "d"),
        ("b", "c"),
        ("b", "d"),
        ("c", "d"),
    ]


def test_the_u_sample_is_proportionate_to_the_records_within_its_bounds():
    settings = ModelSettings(u_sample_pairs=50_000, u_sample_min_pairs=10_000, u_sample_pairs_per_record=5)
    assert [u_sample_size(n, settings) for n in (100, 4_000, 20_000)] == [10_000, 20_000, 50_000]
    # a floor above the cap is no floor
    assert u_sample_size(100, ModelSettings(u_sample_pairs=5_000, u_sample_min_pairs=10_000)) == 5_000


def test_a_u_sample_that_grows_with_the_records_keeps_its_slots():
    settings = ModelSettings(u_sample_pairs=50_000, u_sample_min_pairs=1_000, u_sample_pairs_per_record=2)
    ids = pl.Series("record_id", [f"r{i:05d}" for i in range(5_000)])
    newcomers = pl.Series("record_id", [f"n{i:05d}" for i in range(25)])  # 0.5% new records
    before = sample_pairs(ids, settings)
    after = sample_pairs(pl.concat([ids, newcomers]).sort(), settings)
    assert len(after) > len(before)  # 50 more slots for 25 more records
    moved = after.join(before, on=["slot", "left", "right"], how="anti")
    assert 0 < len(moved) < 0.03 * len(after)  # the new slots and those next to the newcomers


def candidate_pairs(ids: pl.Series, count: int, seed: int) -> pl.DataFrame:
    """`count` distinct pairs of rows of `ids`, l_idx < r_idx, sorted as the engine keeps them."""
    rng = np.random.default_rng(seed)
    left, right = rng.integers(0, len(ids), size=(2, count * 2))
    pairs = pl.DataFrame({"l_idx": np.minimum(left, right), "r_idx": np.maximum(left, right)})
    return pairs.filter(pl.col("l_idx") != pl.col("r_idx")).unique().head(count).sort("l_idx", "r_idx")


def sampled(ids: pl.Series, pairs: pl.DataFrame, size: int) -> set[tuple[str, str]]:
    rows = em_sample(ids, pairs, size, seed=42)
    chosen = pairs[rows]
    return set(zip(ids.gather(chosen["l_idx"]).to_list(), ids.gather(chosen["r_idx"]).to_list(), strict=True))


def test_the_em_sample_follows_the_pairs_not_their_rows():
    ids = pl.Series([f"r{i:06d}" for i in range(20_000)])
    pairs = candidate_pairs(ids, 60_000, seed=1)
    sample = sampled(ids, pairs, 10_000)
    assert len(sample) == 10_000
    # the same pairs in another order (new records shift every row number) give the same sample
    shuffled = pairs.sample(fraction=1.0, shuffle=True, seed=3)
    assert sampled(ids, shuffled, 10_000) == sample
    # a day adds 0.5% more pairs: the sample stays, but for about as many pairs as were added
    extra = candidate_pairs(ids, 300, seed=2).join(pairs, on=["l_idx", "r_idx"], how="anti")
    grown = sampled(ids, pl.concat([pairs, extra]), 10_000)
    assert len(grown) == 10_000
    assert len(sample - grown) <= 2 * len(extra) * 10_000 / 60_000 + 20
    # rows come back in their order, and no more rows than there are pairs
    rows = em_sample(ids, pairs, 10_000, seed=42)
    assert (np.diff(rows) > 0).all()
    assert len(em_sample(ids, pairs, 100_000, seed=42)) == len(pairs)


def test_the_em_sample_is_the_pairs_with_the_lowest_hashes():
    ids = pl.Series([f"r{i:06d}" for i in range(3_000)])
    pairs = candidate_pairs(ids, 5_000, seed=4)
    hashes = pair_hashes(ids.hash(seed=42).to_numpy(), pairs["l_idx"].to_numpy(), pairs["r_idx"].to_numpy())
    for size in (1, 50, 2_500, 4_999):
        expected = np.sort(np.argsort(hashes)[:size])
        assert (em_sample(ids, pairs, size, seed=42, chunk=700) == expected).all()
        # a threshold under the cut (what the margin makes all but impossible) ranks every pair
        assert (em_sample(ids, pairs, size, seed=42, margin_sigmas=-50) == expected).all()


def test_a_release_that_builds_features_differently_rebuilds_every_saved_record(monkeypatch):
    """Saved features are taken over by input hash; a release whose feature code reads the same
    input differently bumps FEATURES_VERSION, and the next daily run builds every record again
    (without it, a fixed name reading reached only records whose export changed)."""
    from identity_resolution import engine

    yesterday, everything = febrl_days()
    settings = fast_settings()
    saved = run(yesterday, settings)
    monkeypatch.setattr(engine, "FEATURES_VERSION", engine.FEATURES_VERSION + 1)
    daily = run(everything, settings, saved.graph, run_id="r2")
    assert daily.stats["features_built"] == len(everything)
    assert daily.stats["mode"] == "incremental"
