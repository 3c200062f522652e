"""Benchmark result files: a truncated file (a run killed by a full disk) must not break the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import bench.measure
import bench.pipeline
from bench.measure import Measurement


def test_a_truncated_result_is_skipped_and_a_saved_one_is_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(bench.measure, "RESULTS_DIR", tmp_path)
    monkeypatch.setattr(bench.pipeline, "RESULTS_DIR", tmp_path)
    (tmp_path / "pipeline_customers100_modefull_20260101T000000.json").write_text("")
    step = Measurement(name="total (full run)", seconds=12.5, peak_rss_mb=100.0, rows=10)
    saved = bench.measure.save_results("pipeline", [step], {"customers": 100, "mode": "full"})

    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert json.loads(saved.read_text())["steps"][0]["seconds"] == 12.5
    latest = bench.pipeline.latest_results()
    assert list(latest) == [(100, "full")]
    assert latest[(100, "full")]["file"] == saved.name
