"""People behave plausibly: seasonality, heterogeneous spend, service timings, a consistent loyalty ledger."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from tests.datagen.helpers import read_csvs, read_jsonl

TIMESTAMP = "%Y-%m-%d %H:%M:%S"


def _parse(column: str) -> pl.Expr:
    return pl.col(column).str.to_datetime(TIMESTAMP, strict=False)


def test_web_orders_peak_on_11_11_and_follow_legal_status_paths(dataset: Path):
    orders = read_jsonl(dataset, "ecom/orders/orders_????-??.jsonl").filter(
        pl.col("created_at").str.len_chars() == 25
    )
    per_day = orders.group_by(pl.col("created_at").str.slice(0, 10).alias("day")).len()
    singles_day = per_day.filter(pl.col("day") == "2025-11-11")["len"].item()
    assert singles_day > 2 * per_day["len"].mean()
    paths = orders.select(
        pl.col("status_history").list.eval(pl.element().struct.field("status")).list.join(">")
    )
    legal = {
        "created",
        "created>shipped",
        "created>shipped>settled",
        "created>cancelled",
        "created>shipped>cancelled",
    }
    illegal_share = (~paths.to_series().is_in(list(legal))).mean()
    assert 0 < illegal_share < 0.02


def test_spend_and_frequency_differ_between_people_and_some_stop_buying(dataset: Path):
    orders = read_jsonl(dataset, "ecom/orders/orders_????-??.jsonl").filter(
        pl.col("customer_id").is_not_null()
    )
    per_customer = orders.group_by("customer_id").agg(
        n=pl.len(),
        spend=pl.col("total_price").cast(pl.Float64, strict=False).mean(),
        last=pl.col("created_at").max(),
    )
    assert per_customer["n"].var() > per_customer["n"].mean()  # over-dispersed, as in BG/NBD
    assert per_customer["spend"].quantile(0.9) > 2 * per_customer["spend"].quantile(0.1)
    assert (per_customer["last"] < "2026-04").mean() > 0.1  # dormant or churned for 6+ months
    people = pl.read_parquet(dataset / "truth/people.parquet")
    assert people["dropped_at"].is_not_null().mean() > 0.1


def test_service_tickets_mostly_answered_within_a_day_and_resolved_within_two(dataset: Path):
    tickets = (
        read_csvs(dataset, "service/tickets_????-??.csv")
        .with_columns(
            created=_parse("created_at"), first=_parse("first_response_at"), resolved=_parse("resolved_at")
        )
        .filter(pl.col("created").is_not_null())
    )
    answered = tickets.filter(pl.col("first").is_not_null())
    resolved = tickets.filter(pl.col("resolved").is_not_null())
    assert ((answered["first"] - answered["created"]).dt.total_hours() < 24).mean() > 0.8
    assert ((resolved["resolved"] - resolved["created"]).dt.total_hours() < 48).mean() > 0.65
    assert ((resolved["resolved"] - resolved["created"]).dt.total_hours() >= 48).any()
    assert set(tickets["status"].unique().to_list()) <= {"logged", "in_progress", "confirmed"}
    assert (tickets["status"] != "confirmed").any()
    csat = tickets["csat"].drop_nulls().cast(pl.Int64)
    assert csat.min() >= 1 and csat.max() <= 5 and tickets["csat"].is_null().any()


def test_points_are_earned_per_yuan_redeemed_in_thousands_and_never_overdrawn(dataset: Path):
    ledger = (
        read_csvs(dataset, "loyalty/points/points_????-??.csv")
        .with_columns(points=pl.col("points").cast(pl.Int64, strict=False), at=_parse("occurred_at"))
        .filter(
            pl.col("points").is_not_null() & pl.col("at").is_not_null() & pl.col("member_id").is_not_null()
        )
    )
    assert set(ledger["entry_type"].unique().to_list()) >= {"earn", "redeem"}
    assert (ledger.filter(pl.col("entry_type") == "redeem")["points"] == -1000).all()
    balance = ledger.sort("member_id", "at", "entry_type").with_columns(
        running=pl.col("points").cum_sum().over("member_id")
    )
    # a handful of bad rows were quarantine material; allow for the points they hid
    assert (balance["running"] >= -1000).all()
    orders = read_jsonl(dataset, "ecom/orders/orders_????-??.jsonl").select(
        "name", total=pl.col("total_price").cast(pl.Float64, strict=False)
    )
    earned = ledger.filter(pl.col("entry_type") == "earn").join(orders, left_on="order_ref", right_on="name")
    assert earned.height > 0
    assert (earned["points"] == earned["total"].floor().cast(pl.Int64)).mean() > 0.99


def test_social_text_carries_sentiment_in_chinese_and_english(dataset: Path):
    posts = read_jsonl(dataset, "social/posts/posts_*.jsonl")
    text = posts["text"].drop_nulls()
    assert text.str.contains(r"\p{Han}").mean() > 0.5 and text.str.contains(r"^[A-Za-z]").any()
    assert text.str.contains("推荐|好用|满分").any() and text.str.contains("失望|差评|退款").any()
    assert (posts["type"] == "comment").any() and posts.filter(pl.col("type") == "comment")[
        "parent_post_id"
    ].is_not_null().all()
