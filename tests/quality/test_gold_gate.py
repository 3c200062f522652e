"""The gold gate judges dbt's build database; a critical failure stops the publish and the old marts stay."""

from __future__ import annotations

from datetime import timedelta

import duckdb
import polars as pl
import pytest

from cdp import pipeline
from quality.gate import QualityGateError, run_gate
from quality.scope import CHANGED, FULL
from tests.quality.lake import (
    CHECKED_AT,
    DAY_RUN,
    NEGATIVE_ORDER,
    NEW_ORDER,
    RUN_ID,
    append_day_orders,
    clean_lake,
    published_checksums,
    write_build_database,
)


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


def fct_orders_results(lake, run_id: str) -> pl.DataFrame:
    return lake.quality("dq_results").filter(
        (pl.col("run_id") == run_id) & (pl.col("suite") == "gold_fct_orders")
    )


def test_a_daily_gold_gate_judges_the_days_orders_and_stops_on_each_of_their_defects(tmp_path):
    """fct_orders is incremental: a day judges the orders dbt rebuilt, each defect still critical.

    The day adds two ecom orders (one negative) and re-delivers an old order id (a duplicate key
    across an old and a new row); the built mart points the new order to an unknown customer.
    """
    lake = clean_lake(tmp_path / "data")
    write_build_database(lake)
    first = run_gate(lake.config, ["gold"], RUN_ID, checked_at=CHECKED_AT)
    assert first.scope == FULL and first.status == "passed"
    reused = append_day_orders(lake, negative=True, reuse_old_id=True)
    write_build_database(lake, unknown_customer_order=NEW_ORDER)
    day = CHECKED_AT + timedelta(hours=1)
    with pytest.raises(QualityGateError) as raised:
        pipeline.quality_gate(lake.config, "gold", DAY_RUN)
    report = raised.value.report
    assert report is not None and report.suite_scopes["gold_fct_orders"] == CHANGED
    assert {(o.suite, o.column) for o in report.critical_failures} == {
        ("gold_fct_orders", "duplicated_orders"),
        ("gold_fct_orders", "negative_totals"),
        ("gold_fct_orders", "orders_of_unknown_customers"),
    }
    message = str(raised.value)
    assert NEGATIVE_ORDER in message and reused in message and f"{NEW_ORDER} -> GHOST" in message
    # judged: the day's three orders and the old row sharing the re-delivered key, all ecom; the
    # customers of every order of the mart, whole (dim_customer is rebuilt: old rows can orphan)
    daily = fct_orders_results(lake, DAY_RUN)
    ecom_orders = lake.silver("orders").filter(pl.col("source") == "ecom").height
    assert set(daily.select("column", "source", "checked", "passed", "scope").rows()) == {
        ("duplicated_orders", "ecom", 4, 3, CHANGED),
        ("negative_totals", "ecom", 4, 3, CHANGED),
        ("orders_of_unknown_customers", "ecom", ecom_orders, ecom_orders - 1, FULL),
        ("orders_of_unknown_customers", "pos", 9, 9, FULL),
        ("orders_of_vanished_records", "ecom", ecom_orders, ecom_orders, FULL),
        ("orders_of_vanished_records", "pos", 9, 9, FULL),
        ("vanished_record_share", "ecom", ecom_orders, ecom_orders, FULL),
        ("vanished_record_share", "pos", 9, 9, FULL),
    }
    # a full gate judges every order and fails the same way
    with pytest.raises(QualityGateError) as full:
        run_gate(lake.config, ["gold"], "b20261101T050000", checked_at=day, full=True)
    assert len(full.value.report.critical_failures) == 3
    whole = fct_orders_results(lake, "b20261101T050000")
    assert set(whole["scope"]) == {FULL} and whole["checked"].sum() > daily["checked"].sum()


def test_a_customer_gone_from_dim_customer_fails_the_daily_gold_gate_on_unchanged_orders(tmp_path):
    """No order changed, so no fact row was judged row by row; their customers still are."""
    lake = clean_lake(tmp_path / "data")
    write_build_database(lake)
    run_gate(lake.config, ["gold"], RUN_ID, checked_at=CHECKED_AT)
    with duckdb.connect(str(lake.paths.build_duckdb)) as built:
        [(gone,)] = built.execute(
            "select min(customer_id) from marts.fct_orders where source = 'ecom' and customer_id is not null"
        ).fetchall()
        built.execute("delete from marts.dim_customer where customer_id = ?", [gone])
    with pytest.raises(QualityGateError) as raised:
        run_gate(lake.config, ["gold"], DAY_RUN, checked_at=CHECKED_AT + timedelta(hours=1))
    report = raised.value.report
    assert report is not None and report.scope == CHANGED
    critical = {(o.suite, o.column, o.source) for o in report.critical_failures}
    assert ("gold_fct_orders", "orders_of_unknown_customers", "ecom") in critical  # with dim_customer's own
    assert f"-> {gone}" in str(raised.value)
    assert set(fct_orders_results(lake, DAY_RUN)["scope"]) == {FULL}
