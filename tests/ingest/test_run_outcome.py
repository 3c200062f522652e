"""The end of a run: a landing file that failed to load fails the run's last step, naming the file and
what to do, although the other sources went on (README: a failing source does not stop the others).
Without it the `cdp_daily` run ended `success` while a source's new data was missing."""

from __future__ import annotations

import json
import subprocess
import sys

import polars as pl
import pytest
import yaml

from cdp import pipeline
from ingest.errors import SourceFailed
from tests.ingest import landing as exports
from warehouse import delta
from warehouse.config import REPO_ROOT, load_config


def test_a_file_that_failed_fails_the_run_until_a_rerun_of_the_day_loads_it(config, landing):
    exports.pos_members(landing, header=exports.MEMBERS_HEADER.replace("mobile", "mobile_no"))
    exports.service_tickets(landing)
    with pytest.raises(SourceFailed):
        pipeline.ingest(config, "pos", "b1")
    pipeline.ingest(config, "service", "b1")

    with pytest.raises(pipeline.RunIncomplete) as incomplete:
        pipeline.finish_run(config, "b1")
    message = str(incomplete.value)
    assert "pos/members: pos/stores/S001/members.csv: required column(s) 'mobile' missing" in message
    assert "clear the failed ingest task(s) of pos" in message and "cdp run --source pos" in message
    written = json.loads((config.data_root / "runs" / "latest.json").read_text(encoding="utf-8"))
    assert [f["file"] for f in written["failed_files"]] == ["pos/stores/S001/members.csv"]

    exports.pos_members(landing)  # the corrected re-delivery; the day is re-run (same batch)
    pipeline.ingest(config, "pos", "b1")
    assert pipeline.finish_run(config, "b1")["failed_files"] == []


def test_a_failed_file_removed_from_landing_no_longer_fails_the_run(config, landing):
    broken = exports.pos_members(landing, header=exports.MEMBERS_HEADER.replace("mobile", "mobile_no"))
    with pytest.raises(SourceFailed):
        pipeline.ingest(config, "pos", "b1")
    broken.unlink()  # given up on: the operator removed it
    assert pipeline.finish_run(config, "b1")["failed_files"] == []


def test_cdp_run_with_an_invalid_section_says_so_once_not_as_every_source_failing(tmp_path):
    raw = load_config(REPO_ROOT / "cdp.yaml").raw
    raw = {**raw, "data_root": str(tmp_path / "data"), "ingest": {**raw["ingest"], "workerz": 2}}
    cfg_file = tmp_path / "cdp.yaml"
    cfg_file.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "cdp.cli", "-q", "--config", str(cfg_file), "run"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("invalid section 'ingest'") == 1 and "workerz" in proc.stderr
    assert "sources failed" not in proc.stderr and "Traceback" not in proc.stderr


def test_the_summary_has_no_quality_score_before_a_gate_judged_anything(config):
    """An empty dq_results table (a gate that found no tables) is no score, not a score of 0.0."""
    results = config.data_root / "lake" / "quality" / "dq_results"
    empty = {
        "run_id": pl.String,
        "layer": pl.String,
        "passed": pl.Int64,
        "checked": pl.Int64,
        "success": pl.Boolean,
    }
    delta.write(pl.DataFrame(schema=empty), results, "overwrite")
    assert pipeline.summarize(config, "b1")["quality"] is None


def test_the_summary_scores_whole_tables_and_changed_rows_apart_and_says_what_each_covers(config):
    """A daily gate judges the day's changed rows of the big tables and the rest whole: pooled into
    one score, the 40 changed rows of the day (half of them bad) vanish among 10,000 whole-table rows."""
    from io import StringIO

    from rich.console import Console

    from cdp.report import print_summary

    results = config.data_root / "lake" / "quality" / "dq_results"
    rows = pl.DataFrame(
        {
            "run_id": ["b2", "b2", "b2", "b1"],
            "layer": ["silver", "silver", "silver", "silver"],
            "scope": ["full", "changed", None, "full"],  # null: written before `scope` existed = full
            "passed": [9_000, 20, 1_000, 5],
            "checked": [9_000, 40, 1_000, 10],
            "success": [True, False, True, False],
        }
    )
    delta.write(rows, results, "overwrite")
    quality = pipeline.summarize(config, "b2")["quality"]
    assert quality["run_id"] == "b2" and quality["failed_expectations"] == 1
    assert quality["by_scope"]["full"] == {
        "covers": "whole tables",
        "score": 1.0,
        "checked_rows": 10_000,
        "passed_rows": 10_000,
        "expectations": 2,
    }
    assert quality["by_scope"]["changed"]["score"] == 0.5
    assert quality["by_scope"]["changed"]["covers"] == "changed rows only"
    assert (
        quality["score"] == 0.998
        and quality["covers"] == "whole tables + changed rows only (pooled; see by_scope)"
    )
    out = StringIO()
    print_summary(pipeline.summarize(config, "b2"), Console(file=out, width=300))
    printed = out.getvalue()
    assert (
        "quality: run b2: whole tables 1.0 (10,000 of 10,000 rows passed); changed rows only 0.5 "
        "(20 of 40 rows passed); 1 failed expectation(s)"
    ) in printed
