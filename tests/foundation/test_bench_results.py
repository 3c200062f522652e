"""Benchmark result files: a truncated file (a run killed by a full disk) must not break the report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import bench.measure
import bench.pipeline
from bench.measure import Measurement


def test_a_truncated_result_is_skipped_and_a_saved_one_is_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(bench.measure, "RESULTS_DIR", tmp_path)
    (tmp_path / "pipeline_customers100_modefull_20260101T000000.json").write_text("")
    step = Measurement(name="total (full run)", seconds=12.5, peak_rss_mb=100.0, rows=10)
    saved = bench.measure.save_results("pipeline", [step], {"customers": 100, "mode": "full"})

    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert json.loads(saved.read_text())["steps"][0]["seconds"] == 12.5
    latest = bench.pipeline.latest_results()
    assert list(latest) == [(100, "full")]
    assert latest[(100, "full")]["file"] == saved.name


def test_a_child_reaped_during_a_step_charges_it_only_with_what_it_spent_then() -> None:
    # The child burns half a CPU second, says so, and waits; the step starts; the child exits and
    # is reaped inside the step, having spent almost nothing more.
    burn = "import sys, time\nwhile time.process_time() < 0.5: pass\nprint(flush=True)\nsys.stdin.read()"
    child = subprocess.Popen([sys.executable, "-c", burn], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert child.stdout is not None
    child.stdout.readline()
    before = bench.measure.tree_cpu()
    assert before[child.pid] >= 0.4
    child.communicate(b"")  # exits and is reaped now
    assert bench.measure.cpu_since(before) < 0.3


def test_a_data_set_whose_generation_was_cut_short_is_refused_by_name(tmp_path: Path) -> None:
    """A killed `cdp bench pipeline` leaves landing/ and truth/ without the generator's manifest
    (written last): the next run said FileNotFoundError in a traceback; it now names the folder."""
    import click

    dataset = tmp_path / "d1m"
    (dataset / "landing" / "pos").mkdir(parents=True)
    (dataset / "truth").mkdir()
    with pytest.raises(click.ClickException, match=r"unfinished data set .*remove the folder"):
        bench.pipeline._ensure_dataset(dataset, 1000)
