"""Transactions -> one row per customer in the shape BG/NBD and Gamma-Gamma are fitted on.

Definitions follow Fader, Hardie & Lee (2005) and the `cdp clv fit` contract: a *purchase* is a
customer's day with at least one transaction (several rows on one day are one purchase, amounts
summed), so intraday order splits do not inflate the repeat rate. For each customer, as of the
observation end (later rows ignored):

| column | paper | meaning |
|---|---|---|
| `frequency` | x | purchase days - 1: the number of *repeat* purchases |
| `recency` | t_x | first to last purchase, in time units (fractional) |
| `tenure` | T | first purchase to observation end, in time units (fractional) |
| `monetary_value` | z-bar | mean amount of the repeat purchases (first excluded); 0 without repeats |

plus `first_purchase_date`, `last_purchase_date` and `total_amount` (historical value, all
purchases). The first purchase is excluded from `monetary_value` because the Gamma-Gamma model
describes repeat spend, and first baskets are often atypical (welcome offers).
"""

from __future__ import annotations

from datetime import date

import polars as pl

from analytics.clv.errors import FitError
from analytics.clv.settings import DAYS_PER_UNIT, TimeUnit
from analytics.clv.transactions import TransactionColumns, validate_transactions

SUMMARY_COLUMNS = (
    "frequency",
    "recency",
    "tenure",
    "monetary_value",
    "total_amount",
    "first_purchase_date",
    "last_purchase_date",
)


def summarize_transactions(
    transactions: pl.LazyFrame | pl.DataFrame,
    *,
    observation_end: date,
    time_unit: TimeUnit = "week",
    columns: TransactionColumns | None = None,
    source: str = "transactions",
) -> pl.DataFrame:
    """One row per customer who bought on or before `observation_end`, sorted by customer.

    `columns` says which input columns hold customer, date and amount (default `customer_id`,
    `order_date`, `amount`); the customer column keeps its name in the output. `source` names the
    input in error messages. Runs on Polars' streaming engine, so 10M rows fit comfortably.
    """
    columns = columns or TransactionColumns()
    unit_days = DAYS_PER_UNIT[time_unit]
    customer, day, amount = columns.customer, columns.date, columns.amount
    end = pl.lit(observation_end, dtype=pl.Date)

    purchases = (
        validate_transactions(transactions, columns, source)
        .filter(pl.col(day) <= end)
        .group_by(customer, day)
        .agg(pl.col(amount).sum())
    )
    per_customer = purchases.group_by(customer).agg(
        pl.len().alias("purchase_days"),
        pl.col(day).min().alias("first_purchase_date"),
        pl.col(day).max().alias("last_purchase_date"),
        pl.col(amount).sum().alias("total_amount"),
        # One purchase per day here, so the first day's amount is one lookup (filtering every
        # group by its first day took twice as long on 7M purchases).
        pl.col(amount).get(pl.col(day).arg_min()).alias("first_amount"),
    )
    frequency = pl.col("purchase_days") - 1
    summary = per_customer.select(
        pl.col(customer),
        frequency.cast(pl.Int64).alias("frequency"),
        _elapsed("first_purchase_date", pl.col("last_purchase_date"), unit_days).alias("recency"),
        _elapsed("first_purchase_date", end, unit_days).alias("tenure"),
        pl.when(frequency > 0)
        .then((pl.col("total_amount") - pl.col("first_amount")) / frequency)
        .otherwise(0.0)
        .alias("monetary_value"),
        "total_amount",
        "first_purchase_date",
        "last_purchase_date",
    )
    return summary.sort(customer).collect(engine="streaming")


def _elapsed(start: str, end: pl.Expr, unit_days: int) -> pl.Expr:
    return (end - pl.col(start)).dt.total_days().cast(pl.Float64) / unit_days


def require_summary_columns(summary: pl.DataFrame, columns: list[str], model: str) -> None:
    """Models take the summary frame; say which columns are missing and how to build it."""
    missing = [name for name in columns if name not in summary.columns]
    if missing:
        raise FitError(
            f"{model}: summary is missing column(s) {', '.join(missing)}; "
            "build it with analytics.clv.summarize_transactions()"
        )
