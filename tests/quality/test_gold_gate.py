"""The gold gate judges dbt's build database; a critical failure stops the publish and the old marts stay."""

from __future__ import annotations

import duckdb
import polars as pl
import pytest

from cdp import pipeline
from quality.gate import QualityGateError, run_gate
from tests.quality.lake import CHECKED_AT, RUN_ID, clean_lake, published_checksums, write_build_database


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    """A lake whose previous run published good marts."""
    lake = clean_lake(tmp_path_factory.mktemp("gold") / "data")
    write_build_database(lake)
    lake.paths.marts.mkdir(parents=True)
    with (
        duckdb.connect(str(lake.paths.duckdb)) as published,
        duckdb.connect(str(lake.paths.build_duckdb)) as built,
    ):
        dim = built.sql("select * from marts.dim_customer").pl()
        published.execute("create table dim_customer as select * from dim")
    dim.write_parquet(lake.paths.mart("dim_customer"))
    return lake


def test_a_good_build_passes_the_gold_gate(lake):
    report = run_gate(lake.config, ["gold"], RUN_ID, checked_at=CHECKED_AT)
    assert report.status == "passed", report.summary()
    suites = {o.suite for o in report.outcomes}
    assert suites == {
        "gold_dim_customer",
        "gold_segments",
        "gold_customer_clv",
        "gold_fct_orders",
        "gold_activation_lists",
    }
    row_counts = lake.quality("dq_metrics").filter(
        (pl.col("metric") == "row_count") & (pl.col("entity") == "dim_customer")
    )
    assert row_counts["value"].to_list() == [12.0]


def test_a_critical_gold_failure_stops_the_run_and_leaves_the_published_marts_untouched(lake):
    before = published_checksums(lake.root)
    write_build_database(lake, duplicate_customer=True, negative_clv=True)
    with pytest.raises(QualityGateError) as raised:
        pipeline.quality_gate(lake.config, "gold", RUN_ID)
    message = str(raised.value)
    assert "2 critical expectation(s) failed" in message
    assert (
        "suite gold_dim_customer, expectation expect_column_values_to_be_between on column duplicated_customers"
        in message
    )
    assert "suite gold_customer_clv" in message and "negative_values" in message
    assert published_checksums(lake.root) == before
    gold = lake.quality("dq_results").filter((pl.col("layer") == "gold") & ~pl.col("success"))
    assert sorted(gold["column"]) == ["duplicated_customers", "negative_values"]


def test_quality_tables_from_before_the_layer_column_are_extended_not_rewritten(tmp_path):
    lake = clean_lake(tmp_path / "data", with_quality=True)  # dq_metrics without the optional `layer`
    write_build_database(lake)
    run_gate(lake.config, ["gold"], RUN_ID, checked_at=CHECKED_AT)
    metrics = lake.quality("dq_metrics")
    assert metrics.filter(pl.col("run_id") == "r1").height == 2  # the earlier run's rows survive
    assert set(metrics.filter(pl.col("run_id") == RUN_ID)["layer"]) == {"gold"}
