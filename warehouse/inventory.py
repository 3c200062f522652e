"""What is in the lake right now: row counts per layer and table, for run summaries and reports."""

from __future__ import annotations

from pathlib import Path

from warehouse import delta
from warehouse.paths import LakePaths

LAYERS = ("bronze", "silver", "identity", "quarantine", "quality")


def _tables(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and delta.exists(p))


def table_counts(paths: LakePaths, layer: str) -> dict[str, int]:
    """Rows per Delta table of one layer (the quarantine is a single table)."""
    if layer == "quarantine":
        return {"quarantine": delta.row_count(paths.quarantine)} if delta.exists(paths.quarantine) else {}
    return {table.name: delta.row_count(table) for table in _tables(paths.lake / layer)}


def layer_counts(paths: LakePaths) -> dict[str, dict[str, int]]:
    """Rows per table for every layer that exists."""
    return {layer: counts for layer in LAYERS if (counts := table_counts(paths, layer))}
