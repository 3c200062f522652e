"""The spool: where chunks park what they simulated until it is numbered and exported.

One Arrow IPC file per chunk and entity (`spool/<entity>/c<chunk>.arrow`). Entities that become
monthly files are split by the month that files them (`spool/<entity>/<YYYY-MM>/c<chunk>.arrow`),
so reading one month opens only that month's files: memory holds one month, and nothing has to be
filtered or skipped by row-group statistics. The working spool lives for minutes and is read once
or twice, so it is written as uncompressed Arrow, which is a copy of the memory (about a quarter of
the CPU of even uncompressed Parquet, whose encoding showed as a tenth of the whole run). The rows
kept for increments (`truth/future/spool`) stay on disk, so they are compressed.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

# entity -> the time column that files its rows under a month
MONTHLY = {
    "pos_lines": "export_at",
    "ecom_orders": "created_at",
    "ecom_lines": "created_at",
    "ecom_events": "ts",
    "loyalty_points": "occurred_at",
    "service_tickets": "created_at",
    "social_posts": "created_at",
}
_EPOCH = datetime(1970, 1, 1)
SUFFIX = ".arrow"


def write(spool: Path, entity: str, name: str, frame: pl.DataFrame, compress: bool = False) -> None:
    """Spool one chunk's rows of `entity` as `<name>.arrow` (split by month for monthly entities)."""
    name += SUFFIX
    if entity not in MONTHLY:
        _write(spool / entity / name, frame, compress)
        return
    frame = frame.sort(MONTHLY[entity], maintain_order=True)
    times = frame[MONTHLY[entity]].to_numpy()
    if times.size == 0:
        return
    for period, first, after in month_spans(int(times[0]), int(times[-1])):
        lo, hi = np.searchsorted(times, [first, after])
        if hi > lo:
            _write(spool / entity / period / name, frame.slice(int(lo), int(hi - lo)), compress)


def _write(target: Path, frame: pl.DataFrame, compress: bool) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    frame.write_ipc(target, compression="zstd" if compress else "uncompressed")


def month_spans(low: int, high: int) -> list[tuple[str, int, int]]:
    """(YYYY-MM, first second, first second of the next month) for every month in [low, high]."""
    moment = _EPOCH + timedelta(seconds=low)
    year, month = moment.year, moment.month
    spans = []
    while True:
        first = _seconds(date(year, month, 1))
        if first > high:
            return spans
        year_after, month_after = (year + 1, 1) if month == 12 else (year, month + 1)
        spans.append((f"{year:04d}-{month:02d}", first, _seconds(date(year_after, month_after, 1))))
        year, month = year_after, month_after


def _seconds(day: date) -> int:
    return (day - _EPOCH.date()).days * 86_400


def scan(spool: Path, entity: str) -> pl.LazyFrame:
    """Every row of `entity` (all months of a monthly entity)."""
    pattern = f"*/*{SUFFIX}" if entity in MONTHLY else f"*{SUFFIX}"
    return pl.scan_ipc(spool / entity / pattern)


def months(spool: Path, entity: str) -> list[str]:
    """The months (YYYY-MM) that hold rows of a monthly entity, in order."""
    directory = spool / entity
    if not directory.is_dir():
        return []
    return sorted(p.name for p in directory.iterdir() if p.is_dir() and any(p.glob(f"*{SUFFIX}")))


def month_rows(spool: Path, entity: str, period: str) -> pl.LazyFrame:
    """The rows a monthly entity files under `period`."""
    return scan_months(spool, entity, [period])


def scan_months(spool: Path, entity: str, periods: list[str]) -> pl.LazyFrame:
    """The rows a monthly entity files under any of `periods` (which must hold rows)."""
    return pl.scan_ipc([spool / entity / period / f"*{SUFFIX}" for period in periods])
