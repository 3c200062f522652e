"""Generating the demo's sample data only when it is missing or was made with other settings."""

from __future__ import annotations

import json
import logging

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
