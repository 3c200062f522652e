"""Timeliness by the data's own dates, and a source that never delivers.

`bronze_freshness` judges when files arrived. A source re-delivering an old export every day lands
a file each day and passes it; the newest order in its data is what says it is stale
(`silver_data_freshness`). And a configured source that never delivered warned for ever: it
escalates once the pipeline has been loading for longer than the source's fail_hours.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from quality.gate import QualityGateError, run_gate
from tests.quality.lake import CHECKED_AT, RUN_ID, clean_lake, generated_web_shop, write_manifest
from warehouse import delta
from warehouse.batches import new_batch_id
from warehouse.config import CdpConfig

pytest.importorskip("datagen")

SILVER_GATE = ["bronze", "silver"]
STALE = ("silver_data_freshness", "fail_hours,data_age_hours", "ecom")


def with_quality(config: CdpConfig, **section: object) -> CdpConfig:
    raw = {**config.raw, "quality": {**(config.raw.get("quality") or {}), **section}}
    return CdpConfig(path=config.path, raw=raw, data_root=config.data_root)


def results_of(root, run_id: str, suite: str) -> pl.DataFrame:
    results = delta.read(root / "lake" / "quality" / "dq_results")
    return results.filter((pl.col("run_id") == run_id) & (pl.col("suite") == suite))


def test_files_that_arrive_today_with_old_data_fail_by_their_data_dates(tmp_path):
    """The web shop's exports (orders up to generator.end_date) land now: every file is minutes old,
    bronze_freshness passes; the newest order is weeks old at the run's logical moment."""
    root = tmp_path / "data"
    config = with_quality(generated_web_shop(root), data_freshness={"warn_hours": 24, "fail_hours": 72})
    run_id = new_batch_id(datetime.now(UTC))
    with pytest.raises(QualityGateError) as raised:
        run_gate(config, SILVER_GATE, run_id)
    critical = {(o.suite, o.column, o.source) for o in raised.value.report.critical_failures}
    assert STALE in critical
    assert not any(suite == "bronze_freshness" for suite, _, _ in critical)  # files: fresh
    [failure] = [o for o in raised.value.report.critical_failures if (o.suite, o.column, o.source) == STALE]
    judged = {row["entity"]: row for row in failure.details["sample"]}
    assert set(judged) == {"orders", "events"}
    newest = delta.read(root / "lake" / "silver" / "orders").get_column("ordered_at").max()
    assert judged["orders"]["data_column"] == "ordered_at"
    assert judged["orders"]["newest_data_at"].startswith(newest.isoformat()[:16])
    assert judged["orders"]["data_age_hours"] > 72


def test_a_daily_gate_reads_only_the_days_rows_and_remembers_the_newest_date(tmp_path):
    """Run 1 (logical day after the data's last day) judges the whole table and records each source's
    newest date; run 2, three days later with nothing new landed, has no changed rows to read and
    still knows how old the newest order is: a warning (fail_hours is null by default)."""
    root = tmp_path / "data"
    config = generated_web_shop(root)
    first = run_gate(config, SILVER_GATE, "b20261101T000000")
    assert not [o for o in first.warnings if o.suite == "silver_data_freshness"]
    later = run_gate(config, SILVER_GATE, "b20261104T000000")
    assert later.scope == "changed"
    warned = {(o.column, o.source): o for o in later.warnings if o.suite == "silver_data_freshness"}
    assert set(warned) == {("warn_hours,data_age_hours", "ecom")}
    sample = {row["entity"]: row for row in warned[("warn_hours,data_age_hours", "ecom")].details["sample"]}
    newest = delta.read(root / "lake" / "silver" / "orders").get_column("ordered_at").max()
    assert sample["orders"]["newest_data_at"].startswith(newest.isoformat()[:16])
    assert sample["orders"]["data_age_hours"] > 72  # 2026-11-04 08:00 local vs the evening of 10-31
    metrics = delta.read(root / "lake" / "quality" / "dq_metrics").filter(
        (pl.col("metric") == "data_freshness_hours") & (pl.col("run_id") == "b20261104T000000")
    )
    assert set(metrics["entity"]) == {"orders", "events"}


def test_a_source_that_never_delivered_escalates_once_the_pipeline_ran_longer_than_its_fail_hours(tmp_path):
    """survey is configured (default SLA: fail after 50 h) but never landed a file."""
    lake = clean_lake(tmp_path / "data")
    raw = dict(lake.config.raw)
    raw["sources"] = {**raw["sources"], "survey": {"entities": {}}}
    config = CdpConfig(path=lake.config.path, raw=raw, data_root=lake.config.data_root)
    fresh = CHECKED_AT - timedelta(hours=1)

    write_manifest(lake, [("pos", "members", 3, fresh), ("ecom", "orders", 2, fresh)], mode="overwrite")
    report = run_gate(config, ["bronze"], RUN_ID, checked_at=CHECKED_AT)  # new to the pipeline: a warning
    assert {(o.suite, o.column, o.source) for o in report.warnings} >= {
        ("bronze_freshness", "newest_landed_at", "survey")
    }

    # the pipeline has loaded files for 60 hours, survey never: critical
    first_load = [("pos", "members", 3, CHECKED_AT - timedelta(hours=60))]
    write_manifest(
        lake, [*first_load, ("pos", "members", 3, fresh), ("ecom", "orders", 2, fresh)], mode="overwrite"
    )
    with pytest.raises(QualityGateError) as raised:
        run_gate(config, ["bronze"], RUN_ID, checked_at=CHECKED_AT)
    critical = {(o.suite, o.column, o.source) for o in raised.value.report.critical_failures}
    assert critical == {("bronze_freshness", "fail_hours,hours_without_delivery", "survey")}
    [row] = (
        results_of(lake.root, RUN_ID, "bronze_freshness")
        .filter((pl.col("source") == "survey") & (pl.col("column") == "fail_hours,hours_without_delivery"))
        .iter_rows(named=True)
    )
    assert json.loads(row["details"])["sample"][0]["hours_without_delivery"] == 60.0
