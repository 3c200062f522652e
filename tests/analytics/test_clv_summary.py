"""Transactions -> per-customer summary: the definitions of the `cdp clv fit` contract, by hand."""

from __future__ import annotations

from datetime import date, datetime

import polars as pl
import pytest

from analytics.clv import TransactionColumns, TransactionsError, summarize_file, summarize_transactions

END = date(2024, 3, 31)


def _tx(rows: list[tuple[str, str, float]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=["customer_id", "order_date", "amount"], orient="row").with_columns(
        pl.col("order_date").str.to_date()
    )


def _one(summary: pl.DataFrame, customer: str) -> dict:
    return summary.filter(pl.col("customer_id") == customer).row(0, named=True)


def test_same_day_rows_are_one_purchase_with_amounts_summed():
    summary = summarize_transactions(
        _tx(
            [
                ("A", "2024-01-01", 10.0),
                ("A", "2024-01-01", 5.0),  # same day as the first: first purchase = 15
                ("A", "2024-01-08", 20.0),
                ("A", "2024-01-15", 30.0),
                ("A", "2024-01-15", 10.0),  # repeat purchase of 40
            ]
        ),
        observation_end=END,
    )
    row = _one(summary, "A")
    assert row["frequency"] == 2  # three purchase days
    assert row["recency"] == pytest.approx(2.0)  # 14 days
    assert row["monetary_value"] == pytest.approx((20.0 + 40.0) / 2)  # the first purchase excluded
    assert row["total_amount"] == pytest.approx(75.0)


def test_rows_after_the_observation_end_are_ignored_and_the_end_day_counts():
    summary = summarize_transactions(
        _tx(
            [
                ("A", "2024-03-01", 10.0),
                ("A", "2024-03-31", 30.0),  # on the observation end: counted
                ("A", "2024-04-01", 99.0),  # the day after: ignored
                ("B", "2024-04-02", 50.0),  # only after the end: not a customer yet
            ]
        ),
        observation_end=END,
    )
    assert summary["customer_id"].to_list() == ["A"]
    row = _one(summary, "A")
    assert (row["frequency"], row["monetary_value"], row["total_amount"]) == (1, 30.0, 40.0)
    assert row["last_purchase_date"] == END
    assert row["recency"] == pytest.approx(row["tenure"])


def test_recency_and_tenure_are_fractional_in_the_chosen_unit():
    rows = [("A", "2024-03-01", 10.0), ("A", "2024-03-11", 20.0), ("B", "2024-03-30", 7.0)]
    weeks = summarize_transactions(_tx(rows), observation_end=END, time_unit="week")
    days = summarize_transactions(_tx(rows), observation_end=END, time_unit="day")
    assert _one(weeks, "A")["recency"] == pytest.approx(10 / 7)
    assert _one(weeks, "A")["tenure"] == pytest.approx(30 / 7)
    assert _one(days, "A")["recency"] == 10.0
    assert _one(days, "A")["tenure"] == 30.0
    single = _one(days, "B")  # one purchase: no repeats, nothing to average
    assert (single["frequency"], single["recency"], single["tenure"], single["monetary_value"]) == (
        0,
        0.0,
        1.0,
        0.0,
    )


def test_timestamps_text_dates_and_other_column_names_give_the_same_summary():
    as_dates = _tx([("A", "2024-03-01", 10.0), ("A", "2024-03-05", 20.0), ("A", "2024-03-05", 1.0)])
    as_timestamps = as_dates.with_columns(
        pl.Series(
            "order_date", [datetime(2024, 3, 1, 9), datetime(2024, 3, 5, 8), datetime(2024, 3, 5, 23, 59)]
        )
    )
    renamed = as_dates.select(
        pl.col("customer_id").alias("cust"),
        pl.col("order_date").dt.strftime("%Y-%m-%d").alias("day"),
        pl.col("amount").cast(pl.Decimal(18, 2)).alias("value"),
    )
    expected = summarize_transactions(as_dates, observation_end=END)
    assert summarize_transactions(as_timestamps, observation_end=END).equals(expected)
    other = summarize_transactions(
        renamed, observation_end=END, columns=TransactionColumns(customer="cust", date="day", amount="value")
    )
    assert other.rename({"cust": "customer_id"}).equals(expected)


def test_the_cdnow_sample_gives_the_published_calibration_summary(
    cdnow_transactions, cdnow_published_summary
):
    """Hardie's summary is reproduced by our definitions: same-day rows merged, weeks of 7 days."""
    ours = summarize_file(cdnow_transactions, TransactionColumns(), date(1997, 9, 30), "week")
    joined = cdnow_published_summary.join(ours, on="customer_id", suffix="_ours", how="full")
    assert joined.height == ours.height == 2357
    assert (joined["frequency"] == joined["frequency_ours"]).all()
    for column in ("recency", "tenure", "monetary_value"):  # published to 2 decimals
        assert (joined[column] - joined[f"{column}_ours"]).abs().max() <= 0.005 + 1e-9, column


@pytest.mark.parametrize(
    "frame, columns, message",
    [
        (
            _tx([("A", "2024-01-01", 1.0)]).drop("amount"),
            TransactionColumns(),
            "missing column 'amount' (amount)",
        ),
        (
            _tx([("A", "2024-01-01", 1.0)]).with_columns(pl.col("amount").cast(pl.String)),
            TransactionColumns(),
            "field 'amount' has type String; expected a number",
        ),
        (
            pl.DataFrame(
                {"customer_id": ["A", None], "order_date": [date(2024, 1, 1)] * 2, "amount": [1.0, 2.0]}
            ),
            TransactionColumns(),
            "row 2, field 'customer_id' (customer): empty",
        ),
        (
            pl.DataFrame(
                {
                    "customer_id": ["A", "B", "C"],
                    "order_date": ["2024-01-01", "2024-01-02", "01/03/2024"],
                    "amount": [1.0] * 3,
                }
            ),
            TransactionColumns(),
            "row 3, field 'order_date' (date): not a %Y-%m-%d date: '01/03/2024'",
        ),
        (
            pl.DataFrame(
                {
                    "customer_id": ["A", "B"],
                    "order_date": [date(2024, 1, 1)] * 2,
                    "amount": [1.0, float("nan")],
                }
            ),
            TransactionColumns(),
            "row 2, field 'amount' (amount): not a finite number: NaN",
        ),
    ],
    ids=["missing column", "text amount", "empty customer", "bad date", "NaN amount"],
)
def test_bad_input_names_the_source_row_and_field(frame, columns, message):
    with pytest.raises(TransactionsError) as error:
        summarize_transactions(frame, observation_end=END, columns=columns, source="orders.parquet")
    assert str(error.value).startswith("orders.parquet: ")
    assert message in str(error.value)
