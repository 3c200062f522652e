"""One tiny lake built and published the way the DAG's publish task does it (pseudonymised marts,
cdp.duckdb, role databases); tests that publish again work on a copy of its data root."""

from __future__ import annotations

import base64
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.tiny_lake import BATCH, write_tiny_lake
from tests.marts.conftest import tiny_config
from warehouse.config import CdpConfig
from warehouse.environment import environment
from warehouse.publish import build_marts

KEYS = {
    "CDP_HMAC_KEY": base64.b64encode(b"h" * 32).decode(),
    "CDP_ENCRYPTION_KEY": base64.b64encode(b"e" * 32).decode(),
}


def folder_config(root: Path) -> CdpConfig:
    """The tiny lake's configuration with `fct_orders` published as a folder of monthly files."""
    config = tiny_config(root)
    raw = {**config.raw, "publish": {"partition_by": {"fct_orders": "order_date"}}}
    return CdpConfig(path=config.path, raw=raw, data_root=config.data_root)


@pytest.fixture(scope="package", autouse=True)
def keys() -> Iterator[dict[str, str]]:
    """Fixed keys in the environment, as containers inject them (restored afterwards)."""
    with environment(KEYS):
        yield KEYS


@pytest.fixture(scope="package")
def published_root(tmp_path_factory, keys) -> Path:
    """Read-only: the tiny lake, built for BATCH and published by `cdp.pipeline.publish`."""
    from cdp.pipeline import publish

    root = tmp_path_factory.mktemp("publish") / "data"
    write_tiny_lake(root)
    config = folder_config(root)
    build_marts(config, BATCH)
    publish(config, BATCH)
    return root


@pytest.fixture
def published(published_root: Path, tmp_path: Path) -> CdpConfig:
    """A private copy of the published data root that a test may build and publish again."""
    root = tmp_path / "data"
    shutil.copytree(published_root, root, symlinks=True)
    return folder_config(root)
