"""Fixtures for the privacy tests: keys in the environment, and one small real lake per package.

The lake (real ingest, standardize and resolve of hand-written exports, then a published marts
database) is built once; tests that change it get their own copy of the data root.
"""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.privacy.lake import build_lake, privacy_config, publish
from warehouse.config import CdpConfig
from warehouse.environment import environment

KEY_ENV = ("CDP_HMAC_KEY", "CDP_ENCRYPTION_KEY")


@pytest.fixture(scope="package", autouse=True)
def keys() -> Iterator[dict[str, str]]:
    """Random keys for the whole package, from the environment (as containers inject them)."""
    values = {name: base64.b64encode(os.urandom(32)).decode() for name in KEY_ENV}
    with environment(values):
        yield values


@dataclass
class PublishedLake:
    config: CdpConfig

    @property
    def root(self) -> Path:
        return self.config.data_root


@pytest.fixture(scope="package")
def published_lake(tmp_path_factory, keys) -> PublishedLake:
    """Read-only: the lake, published marts, restricted copy and role databases."""
    root = tmp_path_factory.mktemp("privacy_lake") / "data"
    config = privacy_config(root)
    build_lake(root, config)
    publish(config)
    return PublishedLake(config)


@pytest.fixture
def lake_copy(published_lake: PublishedLake, tmp_path: Path) -> PublishedLake:
    """A private copy of the published lake that a test may change."""
    root = tmp_path / "data"
    shutil.copytree(published_lake.root, root, symlinks=True)
    return PublishedLake(privacy_config(root, backups=tmp_path / "backups"))
