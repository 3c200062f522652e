"""Seeded, realistic sample exports for every source, with the ground truth of who is who."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from warehouse.config import CdpConfig


def generate_dataset(out_dir: Path, customers: int, seed: int, config: CdpConfig) -> dict[str, Any]:
    """Write landing/ and truth/ under `out_dir`; returns counts per file group."""
    raise NotImplementedError("the data generator lands with the foundation issue")
