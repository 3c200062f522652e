"""One tiny lake, one `dbt build` and one publish per test run; the mart tests read the result.

The build is the slow part (dbt parses the project once), so every test that only reads marts
shares it. Tests that change the lake copy the published data root first.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.fixtures.shared import once_per_run
from tests.fixtures.tiny_lake import BATCH, TinyLake, write_tiny_lake
from warehouse.config import REPO_ROOT, CdpConfig, load_config
from warehouse.paths import LakePaths
from warehouse.publish import PublishResult, build_marts, publish

# A win-back test on the tiny lake: dormant on 2026-05-01 were C01, C03, C07 and C10.
TEST_CAMPAIGN = {
    "id": "spring_winback",
    "starts_on": "2026-05-01",
    "conversion_window_days": 30,
    "audience_states": ["dormant"],
}


def tiny_config(data_root: Path) -> CdpConfig:
    """The repository's cdp.yaml on `data_root`, with one campaign the tiny lake can answer."""
    base = load_config(REPO_ROOT / "cdp.yaml", data_root=data_root)
    raw = dict(base.raw)
    marts = dict(raw.get("marts") or {})
    marts["experiments"] = {**(marts.get("experiments") or {}), "campaigns": [TEST_CAMPAIGN]}
    raw["marts"] = marts
    return CdpConfig(path=base.path, raw=raw, data_root=base.data_root)


@dataclass
class BuiltMarts:
    lake: TinyLake
    config: CdpConfig
    build: dict[str, Any]
    published: PublishResult

    @property
    def paths(self) -> LakePaths:
        return LakePaths.at(self.config.data_root)

    def rows(self, sql: str) -> list[tuple]:
        """Run SQL on the published cdp.duckdb (read-only, as an analyst would)."""
        with duckdb.connect(str(self.paths.duckdb), read_only=True) as con:
            return con.execute(sql).fetchall()

    def by_key(self, sql: str) -> dict[Any, tuple]:
        """Rows keyed by their first column."""
        return {row[0]: row[1:] for row in self.rows(sql)}

    def copy_to(self, folder: Path) -> CdpConfig:
        """A copy of the built tiny lake (build database included) under `folder`/data, to change
        and build some models on again without touching the shared one."""
        root = folder / "data"
        shutil.copytree(self.config.data_root, root)
        return tiny_config(root)


def _build_and_publish(directory: Path) -> BuiltMarts:
    root = directory / "data"
    lake = write_tiny_lake(root)
    config = tiny_config(root)
    summary = build_marts(config, BATCH)
    published = publish(config, BATCH)
    return BuiltMarts(lake=lake, config=config, build=summary, published=published)


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> BuiltMarts:
    """Read-only; one build per run, shared by the xdist workers (tests/marts and tests/privacy)."""
    return once_per_run(tmp_path_factory, "marts", _build_and_publish)
