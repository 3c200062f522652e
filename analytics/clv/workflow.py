"""Whole jobs on top of the model functions: what `cdp clv fit` and `cdp clv predict` run."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl

from analytics.clv.bgnbd import fit_bgnbd
from analytics.clv.files import atomic_output
from analytics.clv.gamma_gamma import fit_gamma_gamma
from analytics.clv.params import ClvParams
from analytics.clv.predict import predict_clv
from analytics.clv.settings import FitSettings, PredictSettings, TimeUnit
from analytics.clv.summary import summarize_transactions
from analytics.clv.transactions import TransactionColumns, scan_transactions


def fit_clv(summary: pl.DataFrame, time_unit: TimeUnit, settings: FitSettings | None = None) -> ClvParams:
    """BG/NBD on every customer and Gamma-Gamma on the repeat buyers of one summary."""
    return ClvParams(
        bgnbd=fit_bgnbd(summary, settings),
        gamma_gamma=fit_gamma_gamma(summary, settings),
        customers=summary.height,
        time_unit=time_unit,
    )


def summarize_file(
    path: str | Path, columns: TransactionColumns, observation_end: date, time_unit: TimeUnit
) -> pl.DataFrame:
    """`summarize_transactions` on a Parquet file, with the file named in every error."""
    return summarize_transactions(
        scan_transactions(path),
        observation_end=observation_end,
        time_unit=time_unit,
        columns=columns,
        source=str(path),
    )


def fit_transactions_file(
    path: str | Path,
    columns: TransactionColumns,
    observation_end: date,
    time_unit: TimeUnit,
    settings: FitSettings | None = None,
) -> ClvParams:
    """Read a transactions Parquet file, summarise it as of `observation_end` and fit both models."""
    return fit_clv(summarize_file(path, columns, observation_end, time_unit), time_unit, settings)


def predict_transactions_file(
    path: str | Path,
    columns: TransactionColumns,
    observation_end: date,
    params: ClvParams,
    settings: PredictSettings | None = None,
) -> pl.DataFrame:
    """Per-customer summary and predictions for a transactions file, in the parameters' time unit."""
    return predict_clv(summarize_file(path, columns, observation_end, params.time_unit), params, settings)


def write_parquet(frame: pl.DataFrame, path: str | Path) -> Path:
    """Write a frame as Parquet atomically (no half-written file if the run dies)."""
    with atomic_output(path) as temporary:
        frame.write_parquet(temporary)
    return Path(path)
