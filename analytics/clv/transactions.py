"""Reading and checking transaction-level data before it is summarised.

Checks are on the whole column in one pass (null counts, date parsing) and only when something is
wrong does a second pass find the first offending row, so clean data costs one cheap scan. Row
numbers in messages are 1-based positions in the input (row 1 = the first data row).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from analytics.clv.errors import TransactionsError

DATE_FORMAT = "%Y-%m-%d"
_ROW = "__cdp_row"


@dataclass(frozen=True)
class TransactionColumns:
    """Which input columns hold the customer, the purchase date and the amount."""

    customer: str = "customer_id"
    date: str = "order_date"
    amount: str = "amount"

    def roles(self) -> dict[str, str]:
        return {self.customer: "customer", self.date: "date", self.amount: "amount"}


def scan_transactions(path: str | Path) -> pl.LazyFrame:
    """Lazily open a Parquet file (or folder/glob of them); unreadable input is a TransactionsError."""
    path = Path(path)
    if not path.exists() and not any(ch in str(path) for ch in "*?["):
        raise TransactionsError(f"{path}: transactions file not found")
    try:
        frame = pl.scan_parquet(path)
        frame.collect_schema()
    except Exception as exc:  # polars raises several types for corrupt or non-Parquet files
        raise TransactionsError(f"{path}: cannot read as Parquet: {exc}") from exc
    return frame


def validate_transactions(
    transactions: pl.LazyFrame | pl.DataFrame, columns: TransactionColumns, source: str = "transactions"
) -> pl.LazyFrame:
    """Return the three columns typed for modelling (date as Date, amount as Float64), or explain.

    `source` names the input in messages (the file path when reading a file). Accepts dates as
    Date, Datetime (its calendar day is used) or `YYYY-MM-DD` strings, and any numeric amount.
    """
    frame = transactions.lazy()
    schema = _checked_schema(frame, columns, source)
    date_type = schema[columns.date]
    date = pl.col(columns.date)
    if date_type == pl.String:
        date = date.str.to_date(DATE_FORMAT, strict=False)
    elif isinstance(date_type, pl.Datetime):
        date = date.dt.date()
    typed = frame.select(
        pl.col(columns.customer),
        date.alias(columns.date),
        _finite_or_null(pl.col(columns.amount).cast(pl.Float64)).alias(columns.amount),
    )
    _reject_nulls(frame, typed, columns, source)
    return typed


def _finite_or_null(amount: pl.Expr) -> pl.Expr:
    """NaN and infinite amounts would silently poison sums; turn them into nulls that get reported."""
    return pl.when(amount.is_finite()).then(amount)


def _checked_schema(frame: pl.LazyFrame, columns: TransactionColumns, source: str) -> pl.Schema:
    try:
        schema = frame.collect_schema()
    except Exception as exc:
        raise TransactionsError(f"{source}: cannot read: {exc}") from exc
    missing = [f"'{name}' ({role})" for name, role in columns.roles().items() if name not in schema]
    if missing:
        raise TransactionsError(
            f"{source}: missing column {', '.join(missing)}; columns present: {', '.join(schema.names())}"
        )
    date_type = schema[columns.date]
    if not (date_type in (pl.Date, pl.String) or isinstance(date_type, pl.Datetime)):
        raise TransactionsError(
            f"{source}: field '{columns.date}' has type {date_type}; expected a date, a timestamp "
            f"or a {DATE_FORMAT} string"
        )
    amount_type = schema[columns.amount]
    if not amount_type.is_numeric():
        raise TransactionsError(
            f"{source}: field '{columns.amount}' has type {amount_type}; expected a number"
        )
    return schema


def _reject_nulls(raw: pl.LazyFrame, typed: pl.LazyFrame, columns: TransactionColumns, source: str) -> None:
    """Empty fields and unparseable dates both show up as nulls in `typed`; find the first one."""
    nulls = typed.select(pl.all().null_count()).collect().row(0, named=True)
    for name, count in nulls.items():
        if not count:
            continue
        located = (
            pl.concat(
                [raw.select(pl.col(name).alias("raw")), typed.select(pl.col(name).alias("typed"))],
                how="horizontal",
            )
            .with_row_index(_ROW, offset=1)
            .filter(pl.col("typed").is_null())
            .select(_ROW, pl.col("raw").cast(pl.String))
            .head(1)
            .collect()
        )
        row, value = located.row(0)
        role = columns.roles()[name]
        if value is None:
            what = "empty"
        elif role == "date":
            what = f"not a {DATE_FORMAT} date: {value!r}"
        else:
            what = f"not a finite number: {value}"
        raise TransactionsError(
            f"{source}: row {row}, field '{name}' ({role}): {what} "
            f"({count:,} such rows); fix or drop them before fitting"
        )
