"""The spool: where chunks park what they simulated until it is numbered and exported.

One Parquet file per chunk and entity (`spool/<entity>/c<chunk>.parquet`). Entities that become
monthly files are sorted by the time that files them under a month and written in small row groups
with statistics, so reading one month skips every other month's row groups: memory holds one month,
and there are a handful of files per chunk instead of one per month.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

# entity -> the time column that files its rows under a month
MONTHLY = {
    "pos_lines": "export_at",
    "ecom_orders": "created_at",
    "ecom_events": "ts",
    "loyalty_points": "occurred_at",
    "service_tickets": "created_at",
    "social_posts": "created_at",
}
ROW_GROUP = 50_000


def write(spool: Path, entity: str, name: str, frame: pl.DataFrame) -> None:
    target = spool / entity / name
    target.parent.mkdir(parents=True, exist_ok=True)
    if entity in MONTHLY:
        frame = frame.sort(MONTHLY[entity], maintain_order=True)
    frame.write_parquet(target, compression="lz4", statistics=True, row_group_size=ROW_GROUP)


def scan(spool: Path, entity: str) -> pl.LazyFrame:
    return pl.scan_parquet(spool / entity / "*.parquet")


def has(spool: Path, entity: str) -> bool:
    return any((spool / entity).glob("*.parquet")) if (spool / entity).is_dir() else False


def months(spool: Path, entity: str) -> list[str]:
    """The months (YYYY-MM) that hold rows of a monthly entity, in order."""
    if not has(spool, entity):
        return []
    column = MONTHLY[entity]
    low, high = (
        scan(spool, entity).select(low=pl.col(column).min(), high=pl.col(column).max()).collect().row(0)
    )
    if low is None:
        return []
    span = pl.select(
        pl.datetime_range(
            pl.from_epoch(pl.lit(low), time_unit="s").dt.month_start(),
            pl.from_epoch(pl.lit(high), time_unit="s"),
            interval="1mo",
            eager=True,
        ).dt.strftime("%Y-%m")
    )
    return span.to_series().to_list()


def month_bounds(period: str) -> tuple[int, int]:
    """First second of the month and of the next one."""
    start = pl.select(pl.lit(f"{period}-01").str.to_datetime("%Y-%m-%d"))
    first = start.select(pl.all().dt.epoch("s")).item()
    after = start.select(pl.all().dt.offset_by("1mo").dt.epoch("s")).item()
    return first, after


def month_rows(spool: Path, entity: str, period: str) -> pl.LazyFrame:
    """The rows a monthly entity files under `period`."""
    first, after = month_bounds(period)
    column = pl.col(MONTHLY[entity])
    return scan(spool, entity).filter((column >= first) & (column < after))
