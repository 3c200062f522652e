"""Fixtures for ingestion tests: the landing folder of a fresh data root and lake readers."""

from __future__ import annotations

import copy
from pathlib import Path

import polars as pl
import pytest

from warehouse import delta
from warehouse.config import CdpConfig
from warehouse.paths import LakePaths


@pytest.fixture
def landing(data_root: Path) -> Path:
    path = data_root / "landing"
    path.mkdir()
    return path


@pytest.fixture
def lake(data_root: Path):
    return Lake(LakePaths.at(data_root))


class Lake:
    """Reads what a test needs to assert on: bronze, quarantine, manifest, silver."""

    def __init__(self, paths: LakePaths):
        self.paths = paths

    def bronze(self, source: str, entity: str) -> pl.DataFrame:
        return delta.read(self.paths.bronze(source, entity)).sort("_file", "_row_number")

    def quarantine(self, source: str | None = None) -> pl.DataFrame:
        if not delta.exists(self.paths.quarantine):
            return pl.DataFrame(schema={"source": pl.String, "reason": pl.String, "row_number": pl.Int64})
        frame = delta.read(self.paths.quarantine)
        return frame.filter(pl.col("source") == source) if source else frame

    def manifest(self) -> pl.DataFrame:
        return delta.read(self.paths.meta("load_manifest")).sort("finished_at")

    def silver(self, entity: str) -> pl.DataFrame:
        return delta.read(self.paths.silver(entity))

    def version(self, path: Path) -> int | None:
        return delta.open_table(path).version() if delta.exists(path) else None


def tuned(config: CdpConfig, section: str, **values: object) -> CdpConfig:
    """The same configuration with some keys of one section changed."""
    raw = copy.deepcopy(config.raw)
    raw.setdefault(section, {}).update(values)
    return CdpConfig(path=config.path, raw=raw, data_root=config.data_root)
