"""`cdp demo` runs its DAG on the day after the sample data's last day, not on today's date."""

from __future__ import annotations

import copy
from datetime import date

from cdp.sample_data import day_after_sample
from warehouse.config import REPO_ROOT, CdpConfig, load_config


def test_the_demo_judges_its_sample_on_the_day_after_its_last_simulated_day(tmp_path):
    """On today's date every source's newest order would be weeks old (a stale-data warning per
    source in every demo); the day after `generator.end_date` is the nightly run after the export."""
    config = load_config(REPO_ROOT / "cdp.yaml", data_root=tmp_path)
    assert day_after_sample(config) == date(2026, 11, 1)
    raw = copy.deepcopy(config.raw)
    raw["generator"] = {**raw["generator"], "end_date": "2026-06-30"}
    moved = CdpConfig(path=config.path, raw=raw, data_root=tmp_path)
    assert day_after_sample(moved) == date(2026, 7, 1)
