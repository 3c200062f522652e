"""Store tills: member cards and ticket lines, as modern (UTF-8) and legacy (GBK) tills export them.

Simulation turns store purchases into tickets at the store of the day (people shop near home, and
near the new home after a move), adds walk-in tickets nobody can be linked to, and marks the ~18% of
tickets the till exports twice (the copy lands in the same or the next month's file).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from datagen.baskets import build_lines
from datagen.calendar import Calendar
from datagen.noise import pick_weighted
from datagen.purchases import within_group_position
from datagen.random_streams import choice_index
from datagen.settings import GeneratorSettings
from datagen.vocabulary import Vocabulary

DAY = 86_400


def month_label(seconds: pl.Expr) -> pl.Expr:
    return pl.from_epoch(seconds, time_unit="s").dt.strftime("%Y-%m")


def simulate_tickets(
    purchases: pl.DataFrame,
    people: pl.DataFrame,
    stores: pl.DataFrame,
    settings: GeneratorSettings,
    calendar: Calendar,
    vocabulary: Vocabulary,
    rng: np.random.Generator,
    first_okey: int,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Ticket lines for the spool (one row per line per exported copy) and one row per ticket.

    `first_okey` is where this chunk's walk-in tickets start numbering (after its own purchases).
    """
    store = purchases.filter(~pl.col("online"))
    n = store.height
    homes = store.join(
        people.select("person_idx", "home_store", "new_home_store", "moved_at"), on="person_idx", how="left",
        maintain_order="left",
    )  # fmt: skip
    moved = (homes["moved_at"].is_not_null() & (homes["at"] >= homes["moved_at"])).to_numpy()
    home = np.where(moved, homes["new_home_store"].to_numpy(), homes["home_store"].to_numpy())
    elsewhere = rng.random(n) < vocabulary.share("shop_away_from_home")
    traffic = stores["traffic"].to_numpy()
    store_idx = np.where(elsewhere, choice_index(rng, traffic, n), home)
    tickets = store.select("okey", "at", "card_rkey", "member_rkey", "value_cents", "lines").with_columns(
        store_idx=pl.Series(store_idx, dtype=pl.Int64)
    )
    tickets = pl.concat([tickets, _walk_ins(store, settings, calendar, traffic, rng, first_okey)])
    tickets = tickets.with_columns(
        payment=pick_weighted(rng, vocabulary.habits["payment"]["store"], tickets.height)
    ).rename({"at": "sold_at"})
    lines = build_lines(
        tickets["okey"].to_numpy(),
        tickets["value_cents"].to_numpy(),
        tickets["lines"].to_numpy(),
        vocabulary,
        rng,
    )
    copies = _export_copies(tickets, settings, calendar, rng)
    spool = (
        copies.join(tickets.select("okey", "store_idx", "sold_at", "card_rkey", "payment"), on="okey")
        .join(lines, on="okey")
        .sort("okey", "copy", "line_no")
    )
    return spool, tickets


def _walk_ins(
    store: pl.DataFrame,
    settings: GeneratorSettings,
    calendar: Calendar,
    traffic: np.ndarray,
    rng: np.random.Generator,
    first_okey: int,
) -> pl.DataFrame:
    """Tickets of shoppers without a card: same days and basket sizes as everyone's, any store."""
    share = settings.channels.anonymous_ticket_share
    count = round(store.height * share / (1 - share)) if store.height else 0
    template = rng.integers(0, max(store.height, 1), count)
    day = (
        (store["at"].to_numpy()[template] - calendar.start_s) // DAY if count else np.zeros(0, dtype=np.int64)
    )
    return pl.DataFrame(
        {
            "okey": np.arange(first_okey, first_okey + count, dtype=np.int64),
            "at": calendar.timestamps(rng, day.astype(float), "store"),
            "card_rkey": np.full(count, -1, dtype=np.int64),
            "member_rkey": np.full(count, -1, dtype=np.int64),
            "value_cents": (store["value_cents"].to_numpy()[template] * rng.lognormal(0, 0.3, count)).astype(
                np.int64
            )
            if count
            else np.zeros(0, dtype=np.int64),
            "lines": 1 + rng.poisson(settings.behaviour.store_lines_mean - 1, count),
            "store_idx": choice_index(rng, traffic, count).astype(np.int64),
        }
    )


def _export_copies(
    tickets: pl.DataFrame, settings: GeneratorSettings, calendar: Calendar, rng: np.random.Generator
) -> pl.DataFrame:
    """One row per exported copy of each ticket: copy number, export time and file month.

    A duplicated ticket is exported again a little later: in the same month's file, or at the start
    of the next month's (the till re-sent an earlier batch). The last exported month keeps its copies.
    """
    noise = settings.noise
    n = tickets.height
    duplicated = rng.random(n) < noise.duplicate_ticket
    copies = 1 + duplicated + (duplicated & (rng.random(n) < noise.duplicate_ticket_triple))
    owner = np.repeat(np.arange(n), copies)
    copy = within_group_position(copies)
    sold = tickets["sold_at"].to_numpy()[owner]
    next_month = (copy > 0) & (rng.random(owner.size) < noise.duplicate_ticket_next_month)
    delay = rng.integers(3600, 5 * DAY, owner.size)
    frame = pl.DataFrame(
        {
            "okey": tickets["okey"].to_numpy()[owner],
            "copy": copy.astype(np.int8),
            "copies": copies[owner].astype(np.int8),
            "sold_at": sold,
        }
    )
    sold_dt = pl.from_epoch("sold_at", time_unit="s")
    month_start_next = sold_dt.dt.month_start().dt.offset_by("1mo")
    next_export = month_start_next.dt.epoch("s") + pl.lit(pl.Series(delay // 2))
    same_export = pl.min_horizontal(
        pl.col("sold_at") + pl.when(pl.col("copy") > 0).then(pl.lit(pl.Series(delay))).otherwise(0),
        month_start_next.dt.epoch("s") - 1,
    )
    last_month_start = calendar.end_s  # copies may not spill past the exported window's last file
    frame = frame.with_columns(
        export_at=pl.when(pl.lit(pl.Series(next_month)) & (next_export < last_month_start))
        .then(next_export)
        .otherwise(same_export)
    )
    return frame.with_columns(file_month=month_label(pl.col("export_at"))).select(
        "okey", "copy", "copies", "export_at", "file_month"
    )
