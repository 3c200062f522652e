"""Session fixtures: one small generated data set to inspect, and a second identical build.

See `helpers.build`: the repository's cdp.yaml with a few knobs turned down so a build takes seconds,
plus one increment day, so every check of the truth also covers increments.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.datagen.helpers import build
from tests.fixtures.shared import once_per_run


@pytest.fixture(scope="session")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Read-only; generated once per run and shared by the xdist workers."""
    return once_per_run(tmp_path_factory, "generated", build)


@pytest.fixture(scope="session")
def dataset_again(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("generated_again"))
