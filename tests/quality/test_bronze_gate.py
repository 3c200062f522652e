"""The bronze suites: structure of every bronze table, freshness against the SLA, volume anomalies."""

from __future__ import annotations

import json
from datetime import timedelta

import polars as pl
import pytest

from tests.quality.conftest import GateRun, gate
from tests.quality.lake import CHECKED_AT, bronze_rows_without_key, write_manifest

# cdp.yaml: ecom (hourly) warns after 3 hours and fails after 12; pos (daily) after 26 and 50.
STALE_ECOM = CHECKED_AT - timedelta(hours=6)
DEAD_POS = CHECKED_AT - timedelta(hours=80)


@pytest.fixture(scope="module")
def broken(tmp_path_factory) -> GateRun:
    """Two pos members landed without their key; ecom's newest file is stale, pos's is past its hard limit."""

    def late_files(lake):
        write_manifest(
            lake, [("pos", "members", 3, DEAD_POS), ("ecom", "orders", 2, STALE_ECOM)], mode="overwrite"
        )

    return gate(tmp_path_factory.mktemp("bronze"), ["bronze"], bronze_rows_without_key, late_files)


def test_rows_landed_without_their_key_fail_critically_naming_file_and_row(broken):
    failed = broken.failed("bronze_structure", "rows_missing_key", "pos").row(0, named=True)
    assert (failed["entity"], failed["severity"], failed["dimension"]) == (
        "members",
        "critical",
        "completeness",
    )
    assert (failed["checked"], failed["passed"]) == (3, 1)
    sample = json.loads(failed["details"])["sample"][0]
    assert sample["key_columns"] == "card_no"
    assert sample["sample_missing_key"] == "pos/stores/S001/members.csv:1, pos/stores/S001/members.csv:2"
    assert "bronze_structure" in str(broken.error) and "rows_missing_key" in str(broken.error)


def test_complete_bronze_tables_pass(broken):
    ecom = broken.results.filter((pl.col("suite") == "bronze_structure") & (pl.col("source") == "ecom"))
    assert ecom.height == 4 and ecom["success"].all()


def test_a_source_past_its_warn_hours_is_a_timeliness_warning(broken):
    failed = broken.failed("bronze_freshness", "warn_hours,freshness_hours", "ecom")
    assert failed["severity"].to_list() == ["warning"]
    assert broken.failed("bronze_freshness", "fail_hours,freshness_hours", "ecom").is_empty()


def test_a_source_past_its_hard_limit_fails_its_check(broken):
    failed = broken.failed("bronze_freshness", "fail_hours,freshness_hours", "pos").row(0, named=True)
    assert (failed["severity"], failed["dimension"]) == ("critical", "timeliness")
    assert json.loads(failed["details"])["sample"][0]["freshness_hours"] == 80
    metrics = broken.lake.quality("dq_metrics").filter(pl.col("metric") == "freshness_hours")
    assert dict(metrics.select("source", "value").iter_rows()) == {"pos": 80.0, "ecom": 6.0}


def test_volumes_are_not_judged_without_history(broken):
    volume = broken.results.filter(pl.col("suite") == "bronze_volume")
    assert volume["success"].all() and (volume["checked"] == 0).all()
