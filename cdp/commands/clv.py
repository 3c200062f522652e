"""`cdp clv fit` and `cdp clv predict`: customer lifetime value from transaction-level data."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import click

from cdp.context import CliContext, pass_cli

TIME_UNITS = ("week", "day")


def _transaction_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options both subcommands share: which file, which columns, as of which day."""
    options = [
        click.option(
            "--transactions",
            "transactions_path",
            required=True,
            type=click.Path(dir_okay=True),
            help="Transactions Parquet file (or folder of Parquet files): one row per order or line.",
        ),
        click.option("--customer-col", default="customer_id", show_default=True, help="Customer id column."),
        click.option(
            "--date-col",
            default="order_date",
            show_default=True,
            help="Purchase date column (date, timestamp or YYYY-MM-DD text).",
        ),
        click.option("--amount-col", default="amount", show_default=True, help="Amount column (numeric)."),
        click.option(
            "--observation-end",
            required=True,
            type=click.DateTime(formats=["%Y-%m-%d"]),
            help="Last day of history (YYYY-MM-DD); later rows are ignored.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@click.group()
def clv() -> None:
    """Customer lifetime value: BG/NBD (purchases, probability alive) and Gamma-Gamma (spend).

    `fit` estimates both models from transactions and writes their parameters as JSON; `predict`
    turns parameters and transactions into per-customer predictions for the customer_clv mart.
    """


@clv.command()
@_transaction_options
@click.option(
    "--time-unit",
    type=click.Choice(TIME_UNITS),
    default=None,
    help="Unit of recency, tenure and the fitted rates (default: clv.time_unit in cdp.yaml, week).",
)
@click.option(
    "--output", "output_path", required=True, type=click.Path(dir_okay=False), help="Parameter JSON to write."
)
@pass_cli
def fit(
    cli: CliContext,
    transactions_path: str,
    customer_col: str,
    date_col: str,
    amount_col: str,
    observation_end: datetime,
    time_unit: str | None,
    output_path: str,
) -> None:
    """Fit BG/NBD and Gamma-Gamma by maximum likelihood and write their parameters.

    Several rows on one day count as one purchase (amounts summed); Gamma-Gamma uses the mean of
    each customer's repeat purchases. Output: {"bgnbd": {r, alpha, a, b}, "gamma_gamma": {p, q, v},
    "customers": N, "time_unit": ...}. Nothing is written when the fit fails.
    """
    from analytics.clv import TransactionColumns, fit_transactions_file, load_settings, save_params

    settings = load_settings(cli.config)
    params = fit_transactions_file(
        transactions_path,
        TransactionColumns(customer_col, date_col, amount_col),
        observation_end.date(),
        time_unit or settings.time_unit,
        settings.fit,
    )
    save_params(params, output_path)
    if not cli.quiet:
        click.echo(json.dumps(params.to_dict(), indent=2))
        click.echo(f"wrote {output_path}", err=True)


@clv.command()
@_transaction_options
@click.option(
    "--params",
    "params_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="Parameter JSON from `cdp clv fit` (its time unit is used).",
)
@click.option(
    "--horizon-months",
    type=click.IntRange(min=1),
    default=None,
    help="Prediction horizon (default: clv.predict.horizon_months, 12).",
)
@click.option(
    "--discount-rate",
    type=click.FloatRange(min=0.0),
    default=None,
    help="Monthly discount rate for CLV (default: clv.predict.monthly_discount_rate, 0).",
)
@click.option(
    "--output",
    "output_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="Parquet file to write: one row per customer.",
)
@pass_cli
def predict(
    cli: CliContext,
    transactions_path: str,
    customer_col: str,
    date_col: str,
    amount_col: str,
    observation_end: datetime,
    params_path: str,
    horizon_months: int | None,
    discount_rate: float | None,
    output_path: str,
) -> None:
    """Predict purchases, probability alive, order value and CLV per customer over a horizon.

    Writes the customer summary (frequency, recency, tenure, monetary_value, total_amount, first
    and last purchase date) plus probability_alive, predicted_purchases, expected_order_value and
    predicted_clv.
    """
    from analytics.clv import (
        TransactionColumns,
        load_params,
        load_settings,
        predict_transactions_file,
        write_parquet,
    )

    defaults = load_settings(cli.config).predict
    overrides = {"horizon_months": horizon_months, "monthly_discount_rate": discount_rate}
    settings = defaults.model_copy(update={k: v for k, v in overrides.items() if v is not None})
    predictions = predict_transactions_file(
        transactions_path,
        TransactionColumns(customer_col, date_col, amount_col),
        observation_end.date(),
        load_params(params_path),
        settings,
    )
    write_parquet(predictions, output_path)
    if not cli.quiet:
        click.echo(f"wrote {predictions.height:,} customers to {output_path}", err=True)
