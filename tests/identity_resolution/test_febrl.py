"""The public FEBRL benchmark sets: no labels, high precision, good recall."""

from __future__ import annotations

import pytest

from identity_resolution.evaluation import load_febrl, pairwise_scores

from .conftest import fast_settings, run


@pytest.mark.parametrize("number, min_recall", [(1, 0.9), (4, 0.9)])
def test_febrl_is_resolved_with_high_precision_without_labels(number, min_recall):
    records, truth = load_febrl(number)
    result = run(records, fast_settings(), region="AU")
    predicted = records.select("record_id").join(result.links, on="record_id", how="left")["customer_id"]
    scores = pairwise_scores(predicted, truth)
    assert scores["precision"] >= 0.99
    assert scores["recall"] >= min_recall
    assert scores["duplicate_rate_after"] < scores["duplicate_rate_before"] / 5


def test_every_link_explains_itself():
    records, _ = load_febrl(1)
    links = run(records, fast_settings(), region="AU").links
    joined = links.filter(links["link_rule"] != "singleton")
    assert joined["evidence"].null_count() == 0
    assert joined["linked_to_record_id"].null_count() == 0
    assert set(joined["link_rule"].unique()) <= {"probabilistic", "deterministic:national_id"}


def test_chunks_compared_side_by_side_decide_exactly_as_one_at_a_time():
    records, _ = load_febrl(1)
    small = {"pairs_per_chunk": 300, "model": {"u_sample_pairs": 3_000, "u_sample_min_pairs": 3_000}}
    one_by_one = run(records, fast_settings(**small, compare_threads=1), region="AU")
    side_by_side = run(records, fast_settings(**small, compare_threads=2), region="AU")
    assert one_by_one.stats["candidate_pairs"] > 3 * 300  # several chunks of blocked pairs
    assert side_by_side.graph.pairs.equals(one_by_one.graph.pairs)
    assert side_by_side.graph.u_sample.equals(one_by_one.graph.u_sample)
    assert side_by_side.links.equals(one_by_one.links)
    assert side_by_side.health.equals(one_by_one.health)
