"""How the source systems write times and money."""

from __future__ import annotations

import polars as pl


def local_time(seconds: pl.Expr, pattern: str = "%Y-%m-%d %H:%M:%S") -> pl.Expr:
    """Epoch seconds (naive local) as text; null stays null."""
    return pl.from_epoch(seconds, time_unit="s").dt.strftime(pattern)


def iso_local(seconds: pl.Expr) -> pl.Expr:
    """ISO 8601 with the +08:00 offset, as the shop platform writes it."""
    return local_time(seconds, "%Y-%m-%dT%H:%M:%S+08:00")


def ymd(seconds: pl.Expr) -> pl.Expr:
    return local_time(seconds, "%Y%m%d")


def month(seconds: pl.Expr) -> pl.Expr:
    return local_time(seconds, "%Y-%m")


def money(cents: pl.Expr, thousands: bool = False) -> pl.Expr:
    """Cents as "356.00", or "1,299.00" with a thousands separator (as tills print it)."""
    whole = (cents // 100).cast(pl.Int64)
    fraction = (cents % 100).cast(pl.String).str.zfill(2)
    if not thousands:
        return pl.format("{}.{}", whole.cast(pl.String), fraction)
    grouped = (
        pl.when(whole >= 1_000_000)
        .then(
            pl.format(
                "{},{},{}",
                (whole // 1_000_000).cast(pl.String),
                ((whole // 1000) % 1000).cast(pl.String).str.zfill(3),
                (whole % 1000).cast(pl.String).str.zfill(3),
            )
        )
        .when(whole >= 1000)
        .then(
            pl.format("{},{}", (whole // 1000).cast(pl.String), (whole % 1000).cast(pl.String).str.zfill(3))
        )
        .otherwise(whole.cast(pl.String))
    )
    return pl.format("{}.{}", grouped, fraction)
