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
from datagen.spool import month_spans
from datagen.vocabulary import Vocabulary

DAY = 86_400


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
    copies, owner = _export_copies(tickets, settings, calendar, rng)
    # one spool row per line of each exported copy: lines are grouped by ticket, tickets by okey
    count = tickets["lines"].to_numpy()[owner]
    copy_row = np.repeat(np.arange(owner.size), count)
    first_line = (np.cumsum(tickets["lines"].to_numpy()) - tickets["lines"].to_numpy())[owner]
    line_row = np.repeat(first_line, count) + within_group_position(count)
    spool = pl.concat(
        [
            copies[copy_row],
            tickets.select("store_idx", "sold_at", "card_rkey", "payment")[owner[copy_row]],
            lines.drop("okey")[line_row],
        ],
        how="horizontal",
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
) -> tuple[pl.DataFrame, np.ndarray]:
    """One row per exported copy of each ticket (okey, copy, copies, export_at) and its ticket row.

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
    month_start_next = _next_month_start(sold)
    next_export = month_start_next + delay // 2
    same_export = np.minimum(sold + np.where(copy > 0, delay, 0), month_start_next - 1)
    last_month_start = calendar.end_s  # copies may not spill past the exported window's last file
    frame = pl.DataFrame(
        {
            "okey": tickets["okey"].to_numpy()[owner],
            "copy": copy.astype(np.int8),
            "copies": copies[owner].astype(np.int8),
            "export_at": np.where(next_month & (next_export < last_month_start), next_export, same_export),
        }
    )
    return frame, owner


def _next_month_start(seconds: np.ndarray) -> np.ndarray:
    """First second of the month after the one each time falls in."""
    if seconds.size == 0:
        return seconds.copy()
    spans = month_spans(int(seconds.min()), int(seconds.max()))
    starts = np.array([first for _, first, _ in spans] + [spans[-1][2]], dtype=np.int64)
    return starts[np.searchsorted(starts, seconds, side="right")]
