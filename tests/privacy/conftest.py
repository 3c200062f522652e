"""Fixtures for the privacy tests: keys in the environment, and one small real lake per package.

The lake (real ingest, standardize and resolve of hand-written exports, then a published marts
database) is built once per run; tests that change it get their own copy of the data root.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fixtures.shared import once_per_run, run_keys
from tests.privacy.lake import build_lake, privacy_config, publish
from warehouse.config import CdpConfig
from warehouse.environment import environment


@pytest.fixture(scope="package", autouse=True)
def keys() -> Iterator[dict[str, str]]:
    """Random keys for the whole package, from the environment (as containers inject them).

    The same on every xdist worker of the run (`run_keys`): the published lake is built by one.
    """
    values = run_keys()
    with environment(values):
        yield values


@dataclass
class PublishedLake:
    config: CdpConfig

    @property
    def root(self) -> Path:
        return self.config.data_root


def _build_and_publish(directory: Path) -> PublishedLake:
    root = directory / "data"
    config = privacy_config(root)
    build_lake(root, config)
    publish(config)
    return PublishedLake(config)


@pytest.fixture(scope="package")
def published_lake(tmp_path_factory, keys) -> PublishedLake:
    """Read-only: the lake, published marts, restricted copy and role databases (one per run)."""
    return once_per_run(tmp_path_factory, "privacy_lake", _build_and_publish)


@pytest.fixture
def lake_copy(published_lake: PublishedLake, tmp_path: Path) -> PublishedLake:
    """A private copy of the published lake that a test may change."""
    root = tmp_path / "data"
    shutil.copytree(published_lake.root, root, symlinks=True)
    return PublishedLake(privacy_config(root, backups=tmp_path / "backups"))
