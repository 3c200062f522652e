"""Fixtures for the CLV tests: the CDNOW data shipped with `lifetimes` (dev extra) as our inputs."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import polars as pl
import pytest

# Fader, Hardie & Lee (2005), BG/NBD on the CDNOW sample, 39-week calibration period, in weeks.
PUBLISHED_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
# Fader & Hardie (2013), Gamma-Gamma on the same customers' repeat-purchase mean spend.
PUBLISHED_GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "v": 15.44}
CDNOW_CALIBRATION_END = "1997-09-30"


def _lifetimes_datasets() -> Path:
    spec = importlib.util.find_spec("lifetimes")  # locate the data without importing the package
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("the dev extra `lifetimes` (CDNOW data) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets"


@pytest.fixture(scope="session")
def cdnow_transactions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """CDNOW_sample.txt (customer, sample id, yyyymmdd, CDs, dollars; space-aligned) as Parquet.

    2,357 customers who first bought in Q1 1997, every purchase until June 1998; 112 customer-days
    hold several rows, which the contract merges into one purchase.
    """
    lines = (_lifetimes_datasets() / "CDNOW_sample.txt").read_text().splitlines()
    raw = pl.DataFrame({"line": [line.split() for line in lines if line.strip()]})
    transactions = raw.select(
        pl.col("line").list.get(1).alias("customer_id"),
        pl.col("line").list.get(2).str.to_date("%Y%m%d").alias("order_date"),
        pl.col("line").list.get(4).cast(pl.Float64).alias("amount"),
    )
    path = tmp_path_factory.mktemp("cdnow") / "cdnow_transactions.parquet"
    transactions.write_parquet(path)
    return path


@pytest.fixture(scope="session")
def cdnow_published_summary() -> pl.DataFrame:
    """The calibration-period summary Hardie published (x, t_x, T, z-bar; 2 decimals), our names."""
    return pl.read_csv(_lifetimes_datasets() / "cdnow_customers_summary_with_transactions.csv").select(
        pl.col("ID").cast(pl.String).str.zfill(4).alias("customer_id"),
        pl.col("x").alias("frequency"),
        pl.col("t_x").alias("recency"),
        pl.col("T").alias("tenure"),
        pl.col("zbar").alias("monetary_value"),
    )


@pytest.fixture
def write_parquet(tmp_path: Path):
    """Write rows to a Parquet file in the test's directory and return its path."""

    def write(frame: pl.DataFrame, name: str = "transactions.parquet") -> Path:
        path = tmp_path / name
        frame.write_parquet(path)
        return path

    return write
