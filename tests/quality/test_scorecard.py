"""The dq_scorecard mart is built by dbt from what the gates wrote: three runs in, history out.

Two full silver gates on the same lake (the second after a source lost its e-mails) and a daily
one after a day of two ecom orders feed `lake/quality`; dbt builds `dq_scorecard` from it (the
staging models read the Delta tables through the lake source plugin), then the daily run's gold
gate judges the build database, as in a pipeline run. The scorecard must add up to the gates' own
results per run, source, dimension and scope (the gold gate's included: it rebuilds the scorecard
after writing them), score the day's rows apart from the rules that judged whole tables, keep
every run, and carry the duplicate rates measured before and after resolution.
"""

from __future__ import annotations

from datetime import timedelta

import duckdb
import polars as pl
import pytest

from quality.gate import run_gate
from quality.scope import CHANGED, FULL
from tests.quality.lake import (
    CHECKED_AT,
    DAY_RUN,
    RUN_ID,
    append_day_orders,
    clean_lake,
    drop_emails,
    write_build_database,
)
from warehouse import dbt
from warehouse.dbt import MARTS_SCHEMA

EARLIER_RUN = "b20260630T020000"
KEY = ["run_id", "layer", "source", "dimension", "scope"]
DAY = CHECKED_AT + timedelta(hours=1)


@pytest.fixture(scope="module")
def scorecard(tmp_path_factory):
    lake = clean_lake(tmp_path_factory.mktemp("scorecard") / "data")
    run_gate(lake.config, ["bronze", "silver"], EARLIER_RUN, checked_at=CHECKED_AT - timedelta(days=1))
    drop_emails(lake, "loyalty")
    run_gate(lake.config, ["bronze", "silver"], RUN_ID, checked_at=CHECKED_AT, full=True)
    append_day_orders(lake)
    run_gate(lake.config, ["bronze", "silver"], DAY_RUN, checked_at=DAY)  # judges the day's orders
    write_build_database(lake)  # the marts the gold suites judge
    dbt.build(lake.config, select="+dq_scorecard")
    with duckdb.connect(str(lake.paths.build_duckdb), read_only=True) as con:
        built = con.sql(f"select distinct run_id, layer from {MARTS_SCHEMA}.dq_scorecard").pl()
    assert "gold" not in set(built["layer"])  # dbt ran before the gold gate
    gold = run_gate(lake.config, ["gold"], DAY_RUN, checked_at=DAY)
    with duckdb.connect(str(lake.paths.build_duckdb), read_only=True) as con:
        card = con.sql(f"select * from {MARTS_SCHEMA}.dq_scorecard").pl()
    return lake, card, gold


def test_the_gold_gate_puts_its_own_results_on_the_scorecard_it_judged(scorecard):
    _, card, gold = scorecard
    assert gold.summary()["scorecard_refreshed"]
    gold_rows = card.filter(pl.col("layer") == "gold")
    assert set(gold_rows["run_id"]) == {DAY_RUN}
    assert gold_rows["expectations"].sum() == len(gold.outcomes)
    assert set(card.filter(pl.col("is_latest_run"))["layer"]) == {"bronze", "silver", "gold"}


def test_a_gold_gate_without_a_built_scorecard_leaves_the_build_database_alone(tmp_path):
    lake = clean_lake(tmp_path / "data")
    write_build_database(lake)  # marts, but no dbt build: nothing to refresh
    report = run_gate(lake.config, ["gold"], RUN_ID, checked_at=CHECKED_AT)
    assert not report.summary()["scorecard_refreshed"]
    with duckdb.connect(str(lake.paths.build_duckdb), read_only=True) as con:
        tables = {row[0] for row in con.sql("select table_name from information_schema.tables").fetchall()}
    assert "dq_scorecard" not in tables


def test_the_scorecard_adds_up_to_the_gates_results_per_run_source_and_dimension(scorecard):
    lake, card, _ = scorecard
    expected = (
        lake.quality("dq_results")
        .with_columns(pl.col("scope").fill_null(FULL))
        .group_by(KEY)
        .agg(
            pl.col("checked").sum().alias("checked_rows"),
            pl.col("passed").sum().alias("passed_rows"),
            (~pl.col("success")).sum().cast(pl.Int64).alias("failed_expectations"),
        )
        .sort(KEY)
    )
    got = card.select(*KEY, "checked_rows", "passed_rows", "failed_expectations").sort(KEY)
    assert got.cast(expected.schema).equals(expected)  # type: ignore[arg-type]
    scored = card.filter(pl.col("checked_rows") > 0).cast(
        {"checked_rows": pl.Float64, "passed_rows": pl.Float64}
    )
    assert (scored["score"] - scored["passed_rows"] / scored["checked_rows"]).abs().max() < 1e-9
    assert set(card["dimension"]) >= {"completeness", "validity", "uniqueness", "consistency", "timeliness"}


def test_history_keeps_every_run_and_shows_the_trend(scorecard):
    _, card, _ = scorecard
    assert set(card["run_id"]) == {EARLIER_RUN, RUN_ID, DAY_RUN}
    assert set(card.filter(pl.col("is_latest_run"))["run_id"]) == {DAY_RUN}
    loyalty = card.filter(
        (pl.col("layer") == "silver")
        & (pl.col("source") == "loyalty")
        & (pl.col("dimension") == "completeness")
    )
    assert set(loyalty.filter(pl.col("run_id") != DAY_RUN)["scope"]) == {FULL}  # both judged everything
    score = dict(zip(loyalty["run_id"], loyalty["score"], strict=True))
    assert score[RUN_ID] < score[EARLIER_RUN]  # the lost e-mails show as a drop


def test_a_daily_run_scores_the_days_rows_apart_from_whole_tables(scorecard):
    """The day added two ecom orders: their score is the increment's, never the layer's."""
    lake, card, _ = scorecard
    day = card.filter((pl.col("run_id") == DAY_RUN) & (pl.col("layer") == "silver"))
    assert set(day["scope"]) == {FULL, CHANGED}
    changed = day.filter(pl.col("scope") == CHANGED)
    assert set(changed["source"]) == {"ecom"}  # only ecom's orders changed
    results = lake.quality("dq_results").filter((pl.col("run_id") == DAY_RUN) & (pl.col("scope") == CHANGED))
    assert set(results["suite"]) == {"silver_orders"}
    assert changed["checked_rows"].sum() == results["checked"].sum()
    assert results["checked"].max() <= 2  # each rule judged at most the day's two orders
    whole = day.filter((pl.col("scope") == FULL) & (pl.col("source") == "ecom"))
    assert whole["checked_rows"].sum() > changed["checked_rows"].sum()  # the rest judged whole


def test_duplicate_rates_before_and_after_resolution_are_on_the_scorecard(scorecard):
    lake, card, _ = scorecard
    metrics = lake.quality("dq_metrics").filter(pl.col("run_id") == RUN_ID)
    rate = {
        (row["metric"], row["source"]): row["value"]
        for row in metrics.filter(pl.col("metric").str.starts_with("duplicate_rate")).iter_rows(named=True)
    }
    latest = card.filter(pl.col("run_id") == RUN_ID)
    pos = latest.filter((pl.col("source") == "pos") & (pl.col("layer") == "silver"))
    assert pos["duplicate_rate_before"].unique().to_list() == [rate[("duplicate_rate_before", "pos")]]
    overall = latest.filter(pl.col("source") == "all")
    assert overall["duplicate_rate_before"].unique().to_list() == [pytest.approx(9 / 21)]
    assert overall["duplicate_rate_after"].unique().to_list() == [rate[("duplicate_rate_after", "all")]]


def test_row_count_is_the_rows_of_the_source_in_that_layer(scorecard):
    """Not every row_count of the run summed (silver tables, gold marts and the scorecard itself)."""
    lake, card, _ = scorecard
    measured = lake.quality("dq_metrics").filter(
        (pl.col("run_id") == DAY_RUN)
        & (pl.col("metric") == "row_count")
        & (pl.col("entity") != "dq_scorecard")
    )
    day = card.filter(pl.col("run_id") == DAY_RUN)
    for layer, source in (("silver", "ecom"), ("silver", "all"), ("gold", "all")):
        rows = measured.filter((pl.col("layer") == layer) & (pl.col("source") == source))["value"].sum()
        shown = day.filter((pl.col("layer") == layer) & (pl.col("source") == source))["row_count"]
        assert rows > 0 and shown.unique().to_list() == [rows], (layer, source)
    assert day.filter(pl.col("layer") == "bronze")["row_count"].is_null().all()


def test_results_written_before_the_scope_column_count_as_whole_table_scores(tmp_path):
    lake = clean_lake(tmp_path / "data", with_quality=True)  # dq_results without the optional `scope`
    assert "scope" not in lake.quality("dq_results").columns
    dbt.build(lake.config, select="+dq_scorecard")
    with duckdb.connect(str(lake.paths.build_duckdb), read_only=True) as con:
        card = con.sql(f"select source, scope, checked_rows from {MARTS_SCHEMA}.dq_scorecard").pl()
    assert sorted(card.rows()) == [("ecom", FULL, 100), ("pos", FULL, 50)]
