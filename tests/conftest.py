"""Shared fixtures: a fresh data root per test and the project's configuration pointed at it."""

from __future__ import annotations

from pathlib import Path

import pytest

from warehouse.config import REPO_ROOT, CdpConfig, load_config


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    root.mkdir()
    return root


@pytest.fixture
def config(data_root: Path) -> CdpConfig:
    """The repository's cdp.yaml with the data root moved into the test's temporary directory."""
    return load_config(REPO_ROOT / "cdp.yaml", data_root=data_root)
