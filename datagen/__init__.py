"""Seeded, realistic sample exports for every source, with the ground truth of who is who.

`generate_dataset` simulates one retailer's people over about two years and writes what each of its
systems recorded (tills, web shop, social, service desk, loyalty, surveys) under `landing/`, with
realistic identity noise, and the truth under `truth/` (never read by the pipeline).
`generate_increment` writes one more day next to an existing data set. Same seed, same bytes.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from warehouse.config import CdpConfig


def generate_dataset(out_dir: Path, customers: int, seed: int, config: CdpConfig) -> dict[str, Any]:
    """Write landing/ and truth/ under `out_dir`; returns counts per file group."""
    from datagen.dataset import build
    from datagen.settings import load_settings

    settings = load_settings(config, customers=customers, seed=seed)
    return build(Path(out_dir), settings)


def generate_increment(out_dir: Path, day: date) -> dict[str, Any]:
    """Write one extra day (new customer records, that day's orders and events) next to a data set."""
    from datagen.increment import apply_increment

    return apply_increment(Path(out_dir), day)
