"""Generating the demo's sample data only when it is missing or was made with other settings."""

from __future__ import annotations

import json
import logging
from datetime import date, timedelta

from warehouse.config import CdpConfig
from warehouse.paths import LakePaths

log = logging.getLogger("cdp.sample_data")

MARKER = "_generated.json"


def ensure_sample_data(config: CdpConfig, customers: int, seed: int) -> bool:
    """Generate into the data root unless the same customers/seed are already there; True if generated."""
    from datagen import generate_dataset

    paths = LakePaths.at(config.data_root)
    marker = paths.landing / MARKER
    wanted = {"customers": customers, "seed": seed}
    if marker.exists():
        try:
            if {k: v for k, v in json.loads(marker.read_text()).items() if k in wanted} == wanted:
                log.info("sample data for %s already in %s", wanted, paths.landing)
                return False
        except json.JSONDecodeError:
            pass
    generate_dataset(out_dir=paths.root, customers=customers, seed=seed, config=config)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps(wanted))
    return True


def day_after_sample(config: CdpConfig) -> date:
    """The demo's logical date: the day after the sample's last simulated day (`generator.end_date`).

    Run on today's date, every source's newest order, event and ticket would be weeks old and warn
    as stale data (`silver_data_freshness`); on this date the demo judges its data as the nightly
    run after the export would, and a re-run on another day gives the same run and summary."""
    from datagen.settings import load_settings

    return load_settings(config).end_date + timedelta(days=1)
