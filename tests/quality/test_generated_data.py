"""The suites on the generator's noisy data: web shop exports generated, landed, standardized, gated.

The generator injects illegal order status paths (settled before shipped, ...) and broken rows
(missing keys, unparseable dates) that ingestion must quarantine. The gate should flag the first
as a consistency warning and find nothing critical: the second never reaches bronze or silver.
"""

from __future__ import annotations

import json

import polars as pl
import pytest

from quality.gate import run_gate
from tests.quality.lake import RUN_ID, generated_web_shop

datagen = pytest.importorskip("datagen")


@pytest.fixture(scope="module")
def gated(tmp_path_factory):
    root = tmp_path_factory.mktemp("generated") / "data"
    config = generated_web_shop(root)
    report = run_gate(config, ["bronze", "silver"], RUN_ID)
    return root, report


def test_generated_web_orders_pass_every_critical_rule(gated):
    _, report = gated
    assert report.critical_failures == []
    judged = {o.suite for o in report.outcomes}
    assert {
        "bronze_structure",
        "bronze_freshness",
        "silver_customer_records",
        "silver_orders",
        "silver_events",
    } <= judged


def test_injected_illegal_status_paths_are_a_consistency_warning_counted_like_silver_flags_them(gated):
    root, report = gated
    [illegal] = [
        o for o in report.outcomes if o.suite == "silver_orders" and o.column == "illegal_status_paths"
    ]
    assert (illegal.success, illegal.severity, illegal.dimension) == (False, "warning", "consistency")
    orders = pl.read_delta(str(root / "lake" / "silver" / "orders"))
    assert illegal.failed_rows == orders.filter(~pl.col("status_path_valid")).height > 0
    sample = illegal.details["sample"][0]["sample_illegal_status_paths"]
    assert all(order.startswith("ecom:") for order in sample)


def test_rows_the_generator_broke_were_quarantined_so_bronze_has_every_key(gated):
    root, report = gated
    keys = [o for o in report.outcomes if o.suite == "bronze_structure" and o.column == "rows_missing_key"]
    assert keys and all(o.success for o in keys)
    injected = pl.read_parquet(root / "truth" / "injected_errors.parquet").filter(
        (pl.col("source") == "ecom") & (pl.col("kind") == "missing_key")
    )
    assert injected.height > 0
    assert json.dumps([o.details for o in keys]) == json.dumps([{}] * len(keys))
