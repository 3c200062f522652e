"""Incremental runs against the saved graph: same customers as a full rebuild, ids that stay put."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from identity_resolution.evaluation import load_febrl
from identity_resolution.settings import IdentitySettings, ModelSettings

from .conftest import customer_of, fast_settings, partition, records, run


def febrl_days() -> tuple[pl.DataFrame, pl.DataFrame]:
    """FEBRL 1 split into what arrived yesterday and what arrived today."""
    frame, _ = load_febrl(1)
    frame = frame.sort("record_id")
    today = frame.filter(pl.int_range(pl.len()) % 5 == 0)
    return frame.join(today, on="record_id", how="anti"), frame


def daily_and_scratch(
    yesterday: pl.DataFrame, today: pl.DataFrame, settings: ModelSettings
) -> tuple[Any, Any]:
    """Today's records resolved twice: as a daily run on yesterday's graph and from an empty lake."""
    first = run(yesterday, settings, region="AU", run_id="d1")
    daily = run(today, settings, first.graph, region="AU", run_id="d2")
    return daily, run(today, settings, region="AU", run_id="d2")


def assert_same_model(daily: Any, scratch: Any, settings: ModelSettings) -> None:
    assert daily.graph.model is not None and scratch.graph.model is not None
    assert daily.graph.model.to_frame(settings.comparisons).equals(
        scratch.graph.model.to_frame(settings.comparisons)
    )


def assert_daily_as_rebuilt(day: pl.DataFrame, settings: IdentitySettings, previous: Any, pairs: int) -> None:
    """`day` resolved as a daily run on `previous` and from nothing: the same `pairs` candidate
    pairs, compared pairs and customers."""
    daily = run(day, settings, previous, run_id="d2")
    rebuilt = run(day, settings, run_id="d2")
    assert daily.stats["mode"] == "incremental"
    assert daily.stats["candidate_pairs"] == rebuilt.stats["candidate_pairs"] == pairs
    assert daily.graph.pairs.equals(rebuilt.graph.pairs)
    assert partition(daily) == partition(rebuilt)


def test_an_incremental_day_gives_the_same_customers_as_a_full_rebuild():
    yesterday, everything = febrl_days()
    settings = fast_settings()
    first = run(yesterday, settings, region="AU", run_id="d1")
    incremental = run(everything, settings, first.graph, region="AU", run_id="d2")
    assert incremental.stats["mode"] == "incremental"
    assert incremental.stats["changed_records"] == len(everything) - len(yesterday)
    rebuilt = run(everything, settings, first.graph, full=True, region="AU", run_id="d2")
    assert rebuilt.stats["mode"] == "full"
    assert partition(incremental) == partition(rebuilt)
    # and a full rebuild keeps the ids the customers already had
    assert customer_of(incremental) == customer_of(rebuilt)
    # only the customers a record joined were rebuilt, the others kept yesterday's golden record
    assert incremental.golden.equals(rebuilt.golden)


def test_a_daily_run_retrains_the_model_and_equals_a_rebuild_from_nothing():
    """The model is a function of the records: yesterday's saved graph changes the work, not the
    outcome, so a daily run agrees with a rebuild in an empty lake (ids aside)."""
    yesterday, everything = febrl_days()
    settings = fast_settings()
    daily, scratch = daily_and_scratch(yesterday, everything, settings)
    assert_same_model(daily, scratch, settings)
    assert daily.graph.pairs.equals(scratch.graph.pairs)
    assert partition(daily) == partition(scratch)


def test_a_day_without_changes_keeps_the_saved_model_and_customers():
    _, everything = febrl_days()
    settings = fast_settings()
    first = run(everything, settings, region="AU", run_id="d1")
    again = run(everything, settings, first.graph, region="AU", run_id="d2")
    assert (again.stats["mode"], again.stats["changed_records"]) == ("incremental", 0)
    assert again.graph.model is first.graph.model  # the same records: nothing to retrain
    assert customer_of(again) == customer_of(first)
    assert again.history.is_empty()


def test_saved_pairs_whose_block_grew_over_the_limit_go_as_in_a_full_run():
    """max_block_size 3 on name and birthday: three Li Na born on one day are compared; a fourth
    makes the block too big to say who is who, and a full run compares none of them."""
    settings = fast_settings(
        max_block_size=3, blocking_rules=[["name_key", "dob"]], deterministic_keys=[], cardinality_limits=[]
    )
    li_na = {"source": "pos", "full_name": "Li Na", "date_of_birth": "1990-01-01"}
    day1 = records([{"record_id": f"r{i}", **li_na, "city": "Shanghai"} for i in range(3)])
    first = run(day1, settings)
    assert first.stats["candidate_pairs"] == 3
    day2 = pl.concat([day1, records([{"record_id": "r9", **li_na}])], how="diagonal")
    assert_daily_as_rebuilt(day2, settings, first.graph, pairs=0)


def _leaves(day: pl.DataFrame) -> pl.DataFrame:
    return day.filter(pl.col("record_id") != "r3")


def _birthday_corrected(day: pl.DataFrame) -> pl.DataFrame:
    return day.with_columns(
        pl.when(pl.col("record_id") == "r3")
        .then(pl.lit("1979-06-30"))
        .otherwise(pl.col("date_of_birth"))
        .alias("date_of_birth")
    )


@pytest.mark.parametrize("leave_block", [_leaves, _birthday_corrected], ids=["removed", "corrected"])
def test_a_block_back_under_the_limit_is_compared_as_in_a_full_run(leave_block):
    """Four Li Na born on one day are too many to compare (max_block_size 3); once one of them is
    gone or has her birthday corrected, the other three are compared, as a full run compares them
    (for a correction the daily run finds the block through the record's saved features)."""
    settings = fast_settings(
        max_block_size=3, blocking_rules=[["name_key", "dob"]], deterministic_keys=[], cardinality_limits=[]
    )
    li_na = {"source": "pos", "full_name": "Li Na", "date_of_birth": "1990-01-01", "city": "Shanghai"}
    day1 = records([{"record_id": f"r{i}", **li_na} for i in range(4)])
    first = run(day1, settings)
    assert first.stats["candidate_pairs"] == 0
    assert_daily_as_rebuilt(leave_block(day1), settings, first.graph, pairs=3)


def _li_na(cities: list[str]) -> pl.DataFrame:
    born = {"source": "pos", "full_name": "Li Na", "date_of_birth": "1990-01-01"}
    return records([{"record_id": f"r{i}", **born, "city": city} for i, city in enumerate(cities)])


def test_a_rule_with_its_own_block_limit_skips_only_its_own_large_blocks():
    """Four Li Na born on one day: too many for name + birthday's own limit of 3, while name + city
    (the default limit) still pairs the two in each city. A limit for no configured rule is refused."""
    rules = [["name_key", "dob"], ["name_key", "city_key"]]
    plain = fast_settings(blocking_rules=rules, deterministic_keys=[], cardinality_limits=[])
    limited = plain.model_copy(update={"max_block_size_by_rule": {"name_key+dob": 3}})
    assert limited.block_limits() == [3, 300]
    day = _li_na(["Shanghai", "Shanghai", "Beijing", "Beijing"])
    assert run(day, plain).stats["candidate_pairs"] == 6
    assert run(day, limited).stats["candidate_pairs"] == 2
    with pytest.raises(ValueError, match="not a blocking rule"):
        fast_settings(blocking_rules=rules, max_block_size_by_rule={"dob+name_key": 3})


def test_saved_pairs_of_a_block_over_its_rules_own_limit_go_as_in_a_full_run():
    settings = fast_settings(
        blocking_rules=[["name_key", "dob"], ["name_key", "city_key"]],
        max_block_size_by_rule={"name_key+dob": 3},
        deterministic_keys=[],
        cardinality_limits=[],
    )
    day1 = _li_na(["Shanghai", "Shanghai", "Beijing"])
    first = run(day1, settings)
    assert first.stats["candidate_pairs"] == 3
    day2 = _li_na(["Shanghai", "Shanghai", "Beijing", "Beijing"])
    assert_daily_as_rebuilt(day2, settings, first.graph, pairs=2)


def test_a_new_record_joining_a_customer_keeps_the_customers_id():
    day1 = records(
        [
            {"record_id": "pos:1", "source": "pos", "full_name": "王芳", "phone": "13822761354"},
            {"record_id": "pos:2", "source": "pos", "full_name": "李娜", "phone": "13955501822"},
        ]
    )
    first = run(day1, run_id="d1")
    newcomer = {"record_id": "ecom:5", "source": "ecom", "full_name": "Wang Fang", "phone": "+8613822761354"}
    second = run(pl.concat([day1, records([newcomer])], how="diagonal"), previous=first.graph, run_id="d2")
    assert customer_of(second)["ecom:5"] == customer_of(first)["pos:1"]
    assert customer_of(second)["pos:2"] == customer_of(first)["pos:2"]
    assert second.history.is_empty()  # no customer was created, merged or split


def test_merges_and_splits_are_written_to_the_id_history():
    day1 = records(
        [
            {"record_id": "a", "source": "web", "full_name": "Li Na", "email": "lina@qq.com"},
            {"record_id": "b", "source": "web", "full_name": "Li Na", "phone": "13700137000"},
        ]
    )
    first = run(day1, run_id="d1")
    assert len(set(customer_of(first).values())) == 2
    bridge = {
        "record_id": "c",
        "source": "web",
        "full_name": "Li Na",
        "email": "lina@qq.com",
        "phone": "13700137000",
    }
    second = run(pl.concat([day1, records([bridge])], how="diagonal"), previous=first.graph, run_id="d2")
    assert len(set(customer_of(second).values())) == 1
    events = second.history.select("event", "customer_id", "related_customer_id").rows()
    survivor = customer_of(second)["a"]
    absorbed = ({customer_of(first)["a"], customer_of(first)["b"]} - {survivor}).pop()
    assert ("merged", survivor, absorbed) in events
    assert ("retired", absorbed, survivor) in events
    # the steward splits them again: the id stays with the larger part, the other part is new
    third = run(
        pl.concat([day1, records([bridge])], how="diagonal"),
        previous=second.graph,
        overrides=pl.DataFrame(
            {"record_id_a": ["a", "b"], "record_id_b": ["b", "c"], "action": ["cannot_link"] * 2}
        ),
        run_id="d3",
    )
    ids = customer_of(third)
    assert ids["b"] != ids["a"] == ids["c"] == survivor
    assert ("split", ids["b"], survivor) in third.history.select(
        "event", "customer_id", "related_customer_id"
    ).rows()


def test_a_new_blocklist_entry_splits_past_merges_on_rebuild():
    day = records(
        [
            {"record_id": "a", "source": "pos", "full_name": "Li Na", "phone": "13561728394"},
            {"record_id": "b", "source": "pos", "full_name": "Li Na", "phone": "13561728394"},
        ]
    )
    first = run(day, fast_settings(cardinality_limits=[]))
    assert customer_of(first)["a"] == customer_of(first)["b"]
    stricter = fast_settings(cardinality_limits=[], blocklist={"exact": {"phone": ["+8613561728394"]}})
    second = run(day, stricter, first.graph)
    assert second.stats["mode"] == "full"  # the model changed: the saved graph is stale
    assert customer_of(second)["a"] != customer_of(second)["b"]


def test_pairs_compared_and_decided_a_chunk_at_a_time_give_the_same_result():
    _, everything = febrl_days()
    # a force-link and a cannot-link among the blocked pairs: the manual rows decide them
    whole = run(everything, fast_settings(), region="AU")
    linked = whole.links.filter(pl.col("linked_to_record_id").is_not_null()).head(2)
    overrides = pl.DataFrame(
        {
            "record_id_a": linked["record_id"].to_list(),
            "record_id_b": [everything["record_id"][0], linked["linked_to_record_id"][1]],
            "action": ["link", "cannot_link"],
        }
    )
    at_once = run(everything, fast_settings(), overrides=overrides, region="AU")
    chunked = run(everything, fast_settings(pairs_per_chunk=200), overrides=overrides, region="AU")
    assert at_once.stats["candidate_pairs"] > 3 * 200  # several chunks
    assert chunked.links.equals(at_once.links)
    assert chunked.golden.equals(at_once.golden)
    assert chunked.health.sort("metric").equals(at_once.health.sort("metric"))
    assert chunked.graph.pairs.equals(at_once.graph.pairs)
