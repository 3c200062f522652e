"""Shared fixtures: a fresh data root per test and the project's configuration pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from warehouse.config import REPO_ROOT, CdpConfig, load_config
from warehouse.environment import environment


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    root.mkdir()
    return root


@pytest.fixture
def config(data_root: Path) -> CdpConfig:
    """The repository's cdp.yaml with the data root moved into the test's temporary directory."""
    return load_config(REPO_ROOT / "cdp.yaml", data_root=data_root)


@pytest.fixture(scope="session", autouse=True)
def privacy_keys() -> Iterator[None]:
    """Random pseudonymisation/encryption keys in the environment, as a deployment injects them.

    Publishing pseudonymises marts with a keyed hash, so any test that publishes needs a key; tests
    of missing keys remove them with monkeypatch.
    """
    import base64
    import os

    names = ("CDP_HMAC_KEY", "CDP_ENCRYPTION_KEY")
    # a key the environment already holds is kept
    values = {name: os.environ.get(name, base64.b64encode(os.urandom(32)).decode("ascii")) for name in names}
    with environment(values):
        yield
