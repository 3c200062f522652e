"""A daily gate judges row by row only what changed since the last passing gate (quality/scope.py).

Given a clean lake gated once (full scope), a day's increment appended to silver orders is judged
on its own rows, while uniqueness still holds over the whole table and referential integrity is
judged over every row (scope `full`); a bad row of the day fails
exactly as it would in a full gate, a failed gate judges the same rows again next run, and
`full=True` judges everything.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest

from quality.gate import GateReport, QualityGateError, run_gate
from quality.scope import CHANGED, FULL, state_path
from tests.quality.lake import (
    CHECKED_AT,
    DAY_RUN,
    NEGATIVE_ORDER,
    RUN_ID,
    Lake,
    append_day_orders,
    clean_lake,
)
from warehouse import delta

SILVER_GATE = ["bronze", "silver"]
DAY = CHECKED_AT + timedelta(hours=1)  # the next run (still within every freshness SLA)
RETRY_RUN, FULL_RUN = "b20260701T040000", "b20260701T050000"


def gate_once(lake: Lake, run_id: str, **kwargs) -> tuple[GateReport | None, QualityGateError | None]:
    try:
        return run_gate(lake.config, SILVER_GATE, run_id, checked_at=DAY, **kwargs), None
    except QualityGateError as exc:
        return None, exc


def orders_rule(lake: Lake, run_id: str, column: str) -> pl.DataFrame:
    results = delta.read(lake.paths.lake / "quality" / "dq_results")
    return results.filter(
        (pl.col("run_id") == run_id) & (pl.col("suite") == "silver_orders") & (pl.col("column") == column)
    )


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    """Full gate, then a day with one negative order and one reused order id, gated twice, then --full."""
    lake = clean_lake(tmp_path_factory.mktemp("scope") / "data")
    first = run_gate(lake.config, SILVER_GATE, RUN_ID, checked_at=CHECKED_AT)
    reused = append_day_orders(lake, negative=True, reuse_old_id=True)
    _, daily_error = gate_once(lake, DAY_RUN)
    _, retry_error = gate_once(lake, RETRY_RUN)
    _, full_error = gate_once(lake, FULL_RUN, full=True)
    assert full_error is not None  # the reused id fails the full gate too
    return {
        "lake": lake,
        "first": first,
        "reused": reused,
        "daily_error": daily_error,
        "retry_error": retry_error,
        "full_error": full_error,
    }


def test_the_first_gate_judges_everything_and_records_what_it_read(day):
    lake, first = day["lake"], day["first"]
    assert first.scope == FULL
    state = delta.read(state_path(lake.paths))
    assert set(state["gate"]) == {"bronze,silver"}
    assert "silver.orders" in set(state["table_name"])
    first_results = delta.read(lake.paths.lake / "quality" / "dq_results").filter(pl.col("run_id") == RUN_ID)
    assert set(first_results["scope"]) == {FULL}


def test_a_bad_row_of_the_day_fails_the_daily_gate_judged_on_the_day_rows_only(day):
    error = day["daily_error"]
    assert error is not None and error.report is not None
    assert error.report.scope == CHANGED
    failed = {(o.suite, o.column) for o in error.report.critical_failures}
    assert ("silver_orders", "negative_totals") in failed
    assert NEGATIVE_ORDER in str(error)
    negative = orders_rule(day["lake"], DAY_RUN, "negative_totals")
    # the day's three ecom orders were judged, not the whole table (19 ecom orders before the day)
    assert negative.select("source", "checked", "passed", "scope").rows() == [("ecom", 3, 2, CHANGED)]


def test_uniqueness_still_covers_the_whole_table(day):
    """The day reused an old order id: the duplicate spans an old and a new data file."""
    error = day["daily_error"]
    assert ("silver_orders", "duplicated_orders") in {
        (o.suite, o.column) for o in error.report.critical_failures
    }
    duplicated = orders_rule(day["lake"], DAY_RUN, "duplicated_orders")
    assert duplicated.select("checked", "passed").rows() == [(3, 2)]
    assert day["reused"] in duplicated.item(0, "details")


def test_suites_without_changed_rows_judge_whole_tables_and_say_so(day):
    report = day["daily_error"].report
    scopes = report.suite_scopes
    assert scopes["silver_orders"] == CHANGED
    assert scopes["silver_golden_customer"] == FULL  # reads identity.* whole: not scoped
    results = delta.read(day["lake"].paths.lake / "quality" / "dq_results").filter(
        pl.col("run_id") == DAY_RUN
    )
    # order lines did not change: their row-level rules had nothing to judge, and only their
    # referential rule (every line against the current orders) was judged, over the whole table
    lines = results.filter(pl.col("suite") == "silver_order_lines")
    assert set(lines.select("column", "scope").rows()) == {("orphan_lines", FULL)}
    assert lines["checked"].sum() == day["lake"].silver("order_lines").height


def test_referential_integrity_judges_every_order_in_a_daily_gate(day):
    """A customer removed upstream orphans old orders: the rule reads the whole table, scope `full`,
    while the row-level rules of the same suite judged the day's three orders (`changed`)."""
    ecom = orders_rule(day["lake"], DAY_RUN, "unknown_customer_share").filter(pl.col("source") == "ecom")
    assert ecom.select("checked", "passed", "scope").rows() == [(19 + 3, 19 + 3, FULL)]
    pos = orders_rule(day["lake"], DAY_RUN, "unknown_customer_share").filter(pl.col("source") == "pos")
    assert pos.select("checked", "scope").rows() == [(9, FULL)]  # pos had no order that day
    assert orders_rule(day["lake"], DAY_RUN, "negative_totals")["source"].to_list() == ["ecom"]


def test_a_failed_gate_does_not_advance_so_the_next_run_judges_the_same_rows(day):
    error = day["retry_error"]
    assert error is not None and error.report.scope == CHANGED
    assert ("silver_orders", "negative_totals") in {
        (o.suite, o.column) for o in error.report.critical_failures
    }
    assert orders_rule(day["lake"], RETRY_RUN, "negative_totals")["checked"].to_list() == [3]


def test_full_scope_judges_every_row(day):
    error = day["full_error"]
    assert error is not None and error.report.scope == FULL
    negative = orders_rule(day["lake"], FULL_RUN, "negative_totals")
    assert sorted(negative.select("source", "checked", "passed", "scope").rows()) == [
        ("ecom", 19 + 3, 19 + 2, FULL),
        ("pos", 9, 9, FULL),
    ]


def test_a_clean_day_passes_and_advances_the_state(tmp_path):
    lake = clean_lake(tmp_path / "data")
    run_gate(lake.config, SILVER_GATE, RUN_ID, checked_at=CHECKED_AT)
    before = dict(delta.read(state_path(lake.paths)).select("table_name", "version").iter_rows())
    append_day_orders(lake, negative=False, reuse_old_id=False)
    report = run_gate(lake.config, SILVER_GATE, DAY_RUN, checked_at=DAY)
    assert report.scope == CHANGED and not report.critical_failures
    assert orders_rule(lake, DAY_RUN, "negative_totals")["checked"].to_list() == [2]
    after = dict(delta.read(state_path(lake.paths)).select("table_name", "version").iter_rows())
    assert after["silver.orders"] == before["silver.orders"] + 1
    # a retry of the same run (Airflow) judges what that run judged: its results are replaced like for like
    run_gate(lake.config, SILVER_GATE, DAY_RUN, checked_at=DAY)
    assert orders_rule(lake, DAY_RUN, "negative_totals")["checked"].to_list() == [2]
    # nothing changed since: the next gate has no order rows to judge
    again = run_gate(lake.config, SILVER_GATE, RETRY_RUN, checked_at=DAY)
    assert orders_rule(lake, RETRY_RUN, "negative_totals").is_empty()
    assert again.suite_scopes["silver_orders"] == CHANGED


def test_a_daily_gate_judges_the_day_coupons_and_finds_an_id_reused_from_an_earlier_day(tmp_path):
    lake = clean_lake(tmp_path / "data")
    run_gate(lake.config, SILVER_GATE, RUN_ID, checked_at=CHECKED_AT)
    coupons = lake.silver("coupons")
    old_id = coupons.sort("coupon_id").item(0, "coupon_id")
    day = coupons.sort("coupon_id").head(2).with_columns(coupon_id=pl.Series(["CP-DAY-1", old_id]))
    delta.write(day, lake.paths.silver("coupons"), "append")

    _, error = gate_once(lake, DAY_RUN)

    assert error is not None
    assert ("silver_coupons", "id_copies") in {(o.suite, o.column) for o in error.report.critical_failures}
    results = delta.read(lake.paths.lake / "quality" / "dq_results")
    rule = results.filter(
        (pl.col("run_id") == DAY_RUN)
        & (pl.col("suite") == "silver_coupons")
        & (pl.col("column") == "id_copies")
    )
    # the day's two coupons were judged, not the whole table; the reused id failed
    assert rule.select("checked", "passed", "scope").rows() == [(2, 1, CHANGED)]
    assert old_id in rule.item(0, "details")
    _, full_error = gate_once(lake, FULL_RUN, full=True)
    assert full_error is not None  # the reused id fails the full gate too
    full = delta.read(lake.paths.lake / "quality" / "dq_results").filter(
        (pl.col("run_id") == FULL_RUN)
        & (pl.col("suite") == "silver_coupons")
        & (pl.col("column") == "id_copies")
    )
    assert full.select("checked", "passed", "scope").rows() == [
        (len(coupons) + 2, len(coupons) + 2 - 2, FULL)
    ]
