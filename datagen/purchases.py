"""When people buy, where, and how much: BG/NBD purchase times and Gamma-Gamma spend.

Each person buys at their own rate until they drop out (after each purchase they leave for good with
their own probability), so recency, frequency and monetary value carry real signal for RFM, lifecycle
and CLV. Gaps are drawn in seasonal operational time (see `calendar`), so 11.11 and the New Year rush
show up in every source. Everything is whole-array NumPy: one row per purchase, no loop over people.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from datagen.calendar import Calendar
from datagen.settings import GeneratorSettings


def _segment_starts(counts: np.ndarray) -> np.ndarray:
    """Index of each group's first row when rows are grouped by owner (`counts` rows each)."""
    return (np.cumsum(counts) - counts).astype(np.int64)


def within_group_position(counts: np.ndarray) -> np.ndarray:
    """0, 1, ... inside each run of `counts` consecutive rows (rows grouped by owner)."""
    total = int(counts.sum())
    return np.arange(total, dtype=np.int64) - np.repeat(_segment_starts(counts), counts)


def simulate_purchases(
    people: pl.DataFrame, settings: GeneratorSettings, calendar: Calendar, rng: np.random.Generator
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One row per purchase (person_idx, at, online, value_cents, lines) and per-person summary.

    New customers make their first purchase on the day they are acquired; customers from before the
    window who are still active make their next one after a regular gap. The summary says when each
    person's process stopped (`dropped_at`), which the CLV checks compare against.
    """
    b = settings.behaviour
    n = people.height
    rate = people["rate_per_day"].to_numpy()
    dropout = people["dropout_p"].to_numpy()
    start_day = np.maximum(people["acquisition_day"].to_numpy(), 0.0)
    preexisting = people["preexisting"].to_numpy()
    active = people["alive_at_start"].to_numpy() & ~people["never_buys"].to_numpy()

    remaining = np.maximum(calendar.days - start_day, 0)
    expected = rate * remaining
    cap = np.ceil(expected + 4 * np.sqrt(expected) + 3).astype(np.int64)
    count = np.where(active, np.minimum(rng.geometric(dropout), cap), 0)
    owner = np.repeat(np.arange(n), count)
    position = within_group_position(count)
    gaps = rng.exponential(1.0, owner.size) / rate[owner]
    gaps[(position == 0) & ~preexisting[owner]] = 0.0  # the acquisition purchase itself
    clock = np.cumsum(gaps)
    starts = _segment_starts(count)
    has_any = count > 0
    before = np.zeros(n)
    before[has_any] = clock[starts[has_any]] - gaps[starts[has_any]]
    clock -= np.repeat(before, count)
    operational = calendar.operational(start_day)[owner] + clock
    day = calendar.calendar_day(operational)
    inside = day < calendar.days
    last_index = starts + count - 1
    dropped = np.zeros(n, dtype=bool)
    dropped[has_any] = inside[last_index[has_any]] & (count[has_any] < cap[has_any])
    owner, day, position = owner[inside], day[inside], position[inside]

    store_share = people["store_share"].to_numpy()[owner]
    logit = np.log(np.clip(1 - store_share, 1e-9, 1) / np.clip(store_share, 1e-9, 1))
    boost = calendar.online_boost[np.minimum(np.floor(day).astype(int), calendar.days - 1)]
    p_online = np.where(
        (store_share > 0) & (store_share < 1), 1 / (1 + np.exp(-(logit + boost))), 1 - store_share
    )
    online = rng.random(owner.size) < p_online
    at = np.where(online, calendar.timestamps(rng, day, "online"), calendar.timestamps(rng, day, "store"))
    nu = b.spend_p / people["spend_mean"].to_numpy()[owner]
    value = rng.gamma(b.spend_p, 1 / nu)
    lines_mean = np.where(online, b.online_lines_mean, b.store_lines_mean)
    lines = 1 + rng.poisson(lines_mean - 1)
    purchases = pl.DataFrame(
        {
            "person_idx": people["person_idx"].to_numpy()[owner],
            "at": at.astype(np.int64),
            "online": online,
            "value_cents": np.maximum(np.round(value * 100), 100).astype(np.int64),
            "lines": lines.astype(np.int64),
        }
    ).sort("person_idx", "at", maintain_order=True)  # stable: ties keep draw order
    summary = pl.DataFrame({"person_idx": people["person_idx"], "dropped": dropped})
    last = purchases.group_by("person_idx").agg(
        purchases=pl.len(), first_purchase_at=pl.col("at").min(), last_purchase_at=pl.col("at").max()
    )
    summary = summary.join(last, on="person_idx", how="left").with_columns(
        pl.col("purchases").fill_null(0),
        dropped_at=pl.when("dropped").then("last_purchase_at").otherwise(None),
    )
    return purchases, summary.drop("dropped")
