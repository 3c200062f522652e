"""One local SparkSession and one small generated lake per test session (both are slow to make).

The lake is built by the real commands (`cdp generate`, `cdp ingest --standardize`, `cdp resolve`)
so Spark reads exactly what the pipeline writes. Every test here is marked `spark`: `make test`
skips them (`-m "not spark"`), `make test-spark` runs them.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from warehouse.spark import LocalSparkSettings, local_session

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

SMALL_LAKE_CUSTOMERS = 300


def cdp(data_root: Path, *args: str) -> None:
    """Run the real console command; a failure shows its output."""
    command = [sys.executable, "-m", "cdp.cli", "-q", "--data-root", str(data_root), *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}"


@pytest.fixture(scope="session")
def small_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Data root with bronze, silver and identity tables for SMALL_LAKE_CUSTOMERS people."""
    root = tmp_path_factory.mktemp("spark_lake") / "data"
    cdp(root, "generate", "--customers", str(SMALL_LAKE_CUSTOMERS))
    cdp(root, "ingest", "--standardize")
    cdp(root, "resolve")
    return root


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkSession]:
    warehouse = tmp_path_factory.mktemp("spark_warehouse")
    session = local_session(LocalSparkSettings(warehouse_dir=str(warehouse), app_name="cdp-tests"))
    yield session
    session.stop()
