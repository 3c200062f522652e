"""Shared fixtures: a fresh data root per test and the project's configuration pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.shared import run_keys
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
    of missing keys remove them with monkeypatch. The keys are the same on every xdist worker of a
    run (`run_keys`), because a fixture published by one worker is read by the other.
    """
    import os

    # a key the environment already holds is kept
    values = {name: os.environ.get(name, key) for name, key in run_keys().items()}
    with environment(values):
        yield


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Modules holding `slow` tests (a DAG run, a pipeline run, a dbt build) run first.

    `make test` hands whole modules to two workers (`--dist loadscope --no-loadscope-reorder`, so in
    this order). Started first, each long module runs beside the many short ones, which the other
    worker takes as it gets free; left to the end, a long module would keep one worker busy while
    the other has nothing left to do. The sort is stable: otherwise the collection order holds.
    """
    slow = {item.nodeid.split("::")[0] for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.nodeid.split("::")[0] not in slow)
