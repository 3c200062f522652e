"""Which systems know each person, under how many records, since when, and which record each purchase hits.

The share of people with more than one record is controlled directly: a person flagged single gets
exactly one record (in the source `sources.single_record_weights` picks, which also fixes how they
shop); everyone else gets the records their channels imply (till cards, web accounts, loyalty,
social, service, surveys, with within-source duplicates) and at least two. Records are created when
the person first meets the system: a till card at the first store purchase, a web account just
before the first web order, and so on; a card or account opened later is a within-source duplicate.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from datagen.calendar import DAY, Calendar
from datagen.people import Chunk
from datagen.random_streams import choice_index
from datagen.settings import GeneratorSettings
from datagen.vocabulary import load as load_vocabulary

SOURCES = ("pos", "ecom", "loyalty", "social", "service", "survey")
MAX_RECORDS = {"pos": 2, "ecom": 2, "loyalty": 2, "social": 2, "service": 2, "survey": 4}
SINGLE_SEGMENT = {
    "pos": "store",
    "ecom": "online",
    "loyalty": "store",
    "social": "store",
    "service": "store",
    "survey": "store",
}
_FALLBACK = {"loyalty": 0.35, "social": 0.25, "service": 0.15, "survey": 0.10, "duplicate": 0.15}
YEAR = 365 * DAY


def plan_records(people: pl.DataFrame, settings: GeneratorSettings, rng: np.random.Generator) -> pl.DataFrame:
    """Adds n_<source> (records per source) and fixes `segment` for single-record people."""
    n = people.height
    src = settings.sources
    multi = people["multi_record"].to_numpy()
    segment = people["segment"].to_numpy().astype(object)
    weights = np.array([src.single_record_weights.get(s, 0.0) for s in SOURCES])
    single_source = np.array(SOURCES, dtype=object)[choice_index(rng, weights, n)]
    segment = np.where(multi, segment, np.vectorize(SINGLE_SEGMENT.get, otypes=[object])(single_source))
    store = np.isin(segment, ["store", "omni"])
    online = np.isin(segment, ["online", "omni"])
    u = rng.random((n, 12))
    counts = {
        "pos": store * ((u[:, 0] < src.pos_card) * (1 + (u[:, 1] < src.pos_second_card))),
        "ecom": online * (1 + (u[:, 2] < src.ecom_second_account)),
        "loyalty": np.where(store, u[:, 3] < src.loyalty_store, u[:, 3] < src.loyalty_online)
        * (1 + (u[:, 4] < src.loyalty_second_enrolment)),
        "social": (u[:, 5] < src.social) * (1 + (u[:, 6] < src.social_second_platform)),
        "service": (u[:, 7] < src.service) * (1 + (u[:, 8] < src.service_second_requester)),
        "survey": (u[:, 9] < src.survey)
        * (1 + (u[:, 10] < src.survey_extra_response) + (u[:, 11] < src.survey_extra_response**2)),
    }
    counts = {s: c.astype(np.int64) for s, c in counts.items()}
    total = sum(counts.values())
    short = multi & (total < 2)
    for _ in range(2):  # at most two records are missing
        extra = np.array(list(_FALLBACK), dtype=object)[
            choice_index(rng, np.array(list(_FALLBACK.values())), n)
        ]
        duplicate_into = np.where(online & ~store, "ecom", "pos")
        extra = np.where(extra == "duplicate", duplicate_into, extra)
        for source in SOURCES:
            room = counts[source] < MAX_RECORDS[source]
            add = short & (extra == source) & room
            counts[source] = counts[source] + add
            short = short & ~add
        short = multi & (sum(counts.values()) < 2)
    counts["survey"] = np.where(short, counts["survey"] + 2 - sum(counts.values()), counts["survey"])
    for source in SOURCES:
        counts[source] = np.where(multi, counts[source], (single_source == source).astype(np.int64))
    return people.with_columns(
        segment=pl.Series(segment, dtype=pl.String),
        store_share=pl.when(pl.Series(segment) == "store")
        .then(1.0)
        .when(pl.Series(segment) == "online")
        .then(0.0)
        .otherwise(pl.col("store_share")),
        **{f"n_{s}": pl.Series(c) for s, c in counts.items()},
    )


def place_records(
    people: pl.DataFrame,
    purchases: pl.DataFrame,
    chunk: Chunk,
    calendar: Calendar,
    stores: pl.DataFrame,
    rng: np.random.Generator,
) -> pl.DataFrame:
    """One row per customer record: rkey, person_idx, source, ordinal, created_at, store_idx, platform."""
    n = people.height
    local = people["person_idx"].to_numpy() - chunk.first
    first_store = _first_at(purchases.filter(~pl.col("online")), chunk, n)
    first_online = _first_at(purchases.filter(pl.col("online")), chunk, n)
    acquired = people["acquired_at"].to_numpy()
    preexisting = people["preexisting"].to_numpy()
    hi = np.full(n, (calendar.horizon_s if chunk.future else calendar.end_s) - 1, dtype=np.int64)
    lo = np.maximum(acquired, calendar.start_s)

    def between(a: np.ndarray, b: np.ndarray, profile: str = "store") -> np.ndarray:
        """A moment in [a, b] on a day in that range, at an hour typical for `profile`."""
        moment = (a + rng.random(n) * np.maximum(b - a, 0)).astype(np.int64)
        return np.clip(calendar.retime(rng, moment, profile), a, np.maximum(a, b))

    created: dict[tuple[str, int], np.ndarray] = {}
    acquired = np.where(preexisting, calendar.retime(rng, acquired, "store"), acquired)
    card0 = np.where(
        preexisting,
        acquired,
        np.where(first_store >= 0, first_store - rng.integers(60, 600, n), between(acquired, hi)),
    )
    created["pos", 0] = card0
    created["pos", 1] = between(card0, hi)
    account0 = np.where(
        preexisting,
        acquired,
        np.where(first_online >= 0, first_online - rng.integers(300, DAY, n), between(acquired, hi)),
    )
    created["ecom", 0] = account0
    created["ecom", 1] = between(account0, hi, "online")
    enrol0 = between(acquired, (acquired + 0.3 * np.maximum(hi - acquired, 0)).astype(np.int64))
    created["loyalty", 0] = enrol0
    created["loyalty", 1] = between(enrol0, hi)
    for k in range(2):
        # profiles often predate the first purchase, but not the person's arrival in the region
        social_lo = np.full(n, calendar.start_s - 3 * YEAR) if not chunk.future else acquired
        created["social", k] = between(social_lo, hi, "online")
        created["service", k] = between(lo, hi, "office")
    for k in range(4):
        created["survey", k] = between(lo, hi, "online")
    if chunk.future:
        # A newcomer's records may not predate the day they arrive: a web account opened "a day
        # before the first order" would otherwise land in the exported window and leak the person
        # into the base data set instead of an increment day.
        arrival_day = np.maximum(
            calendar.start_s + (acquired - calendar.start_s) // DAY * DAY, calendar.end_s
        )
        created = {slot: np.maximum(at, arrival_day) for slot, at in created.items()}
    else:
        _first_record_in_window(created, people, np.maximum(acquired, calendar.start_s), calendar.end_s)

    parts = []
    for source in SOURCES:
        count = people[f"n_{source}"].to_numpy()
        for k in range(MAX_RECORDS[source]):
            has = count > k
            parts.append(
                pl.DataFrame(
                    {
                        "local": local[has],
                        "source": [source] * int(has.sum()),
                        "ordinal": np.full(int(has.sum()), k, dtype=np.int32),
                        "created_at": created[source, k][has],
                    },
                    schema={
                        "local": pl.Int64,
                        "source": pl.String,
                        "ordinal": pl.Int32,
                        "created_at": pl.Int64,
                    },
                )
            )
    records = pl.concat(parts).sort("local", "source", "ordinal")
    records = records.with_columns(
        rkey=(pl.lit(chunk.index, dtype=pl.Int64) * 2**32 + pl.int_range(pl.len(), dtype=pl.Int64)),
        person_idx=pl.col("local") + chunk.first,
    )
    return _card_stores(records, people, stores, rng).pipe(_platforms, rng)


def _first_record_in_window(
    created: dict[tuple[str, int], np.ndarray], people: pl.DataFrame, acquired: np.ndarray, end_s: int
) -> None:
    """Give every person of the window a record in it (in place), or the base truth would miss them.

    A record may follow a purchase made after `end_date` (an omni shopper's web account opened for
    their first web order), and rarely all of a person's records do. Their earliest record is then
    dated when they became a customer instead, which lies in the window.
    """
    slots = list(created)
    never = np.iinfo(np.int64).max
    times = np.stack(
        [np.where(people[f"n_{source}"].to_numpy() > k, created[source, k], never) for source, k in slots]
    )
    earliest = times.min(axis=0)
    late = (earliest >= end_s) & (earliest != never)
    if not late.any():
        return
    first_slot = times.argmin(axis=0)
    for i, slot in enumerate(slots):
        move = late & (first_slot == i)
        created[slot] = np.where(move, acquired, created[slot])


def _first_at(purchases: pl.DataFrame, chunk: Chunk, n: int) -> np.ndarray:
    first = np.full(n, -1, dtype=np.int64)
    grouped = purchases.group_by("person_idx").agg(pl.col("at").min())
    first[grouped["person_idx"].to_numpy() - chunk.first] = grouped["at"].to_numpy()
    return first


def _card_stores(
    records: pl.DataFrame, people: pl.DataFrame, stores: pl.DataFrame, rng: np.random.Generator
) -> pl.DataFrame:
    """A first card is issued at the home store of the day; a second one at another store half the time."""
    n = records.height
    other = pl.Series(choice_index(rng, stores["traffic"].to_numpy(), n))
    moves = people.select("home_store", "new_home_store", "moved_at").with_row_index("local")
    with_home = records.join(
        moves.with_columns(pl.col("local").cast(pl.Int64)), on="local", how="left", maintain_order="left"
    )
    moved = pl.col("moved_at").is_not_null() & (pl.col("created_at") >= pl.col("moved_at"))
    home = pl.when(moved).then("new_home_store").otherwise("home_store")
    second_elsewhere = pl.lit(pl.Series(rng.random(n) < load_vocabulary().share("second_card_elsewhere")))
    store = (
        pl.when(pl.col("source") != "pos")
        .then(None)
        .when((pl.col("ordinal") == 1) & second_elsewhere)
        .then(pl.lit(other))
        .otherwise(home)
    )
    return with_home.with_columns(store_idx=store.cast(pl.Int64)).drop(
        "home_store", "new_home_store", "moved_at"
    )


def _platforms(records: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """Social records live on one platform each; a person's second profile is on another platform."""
    platforms = load_vocabulary().habits["social_platforms"]
    names = np.array(list(platforms), dtype=object)
    n = records.height
    first = choice_index(rng, np.array(list(platforms.values()), dtype=float), n)
    shift = 1 + rng.integers(0, len(names) - 1, n)
    ordinal = records["ordinal"].to_numpy()
    # the person's first draw is reused for the second profile, shifted to another platform
    first_of_person = (
        records.with_columns(_first=pl.Series(first))
        .select(pl.col("_first").first().over("person_idx", "source"))["_first"]
        .to_numpy()
    )
    chosen = np.where(ordinal == 0, first, (first_of_person + shift) % len(names))
    platform = pl.Series(names[chosen], dtype=pl.String)
    return records.with_columns(
        platform=pl.when(pl.col("source") == "social").then(pl.lit(platform)).otherwise(None)
    )


def assign_purchase_records(
    purchases: pl.DataFrame, records: pl.DataFrame, settings: GeneratorSettings, rng: np.random.Generator
) -> pl.DataFrame:
    """Which card, web account and loyalty membership each purchase is booked on (-1: none).

    A card or account only counts once it exists; a second one is used some of the time after it is
    opened; members sometimes forget their card, making the sale anonymous at the till.
    """
    slots = records.filter(pl.col("source").is_in(["pos", "ecom", "loyalty"]) & (pl.col("ordinal") < 2))
    wide = slots.with_columns(slot=pl.format("{}{}", "source", "ordinal")).pivot(
        on="slot", index="person_idx", values=["rkey", "created_at"], aggregate_function="first"
    )
    frame = purchases.join(wide, on="person_idx", how="left", maintain_order="left")
    n = frame.height
    u = rng.random((n, 4))

    def slot(source: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        key_col, at_col = f"rkey_{source}{k}", f"created_at_{source}{k}"
        if key_col not in frame.columns:
            return np.full(n, -1, dtype=np.int64), np.full(n, np.iinfo(np.int64).max)
        return (
            frame[key_col].fill_null(-1).to_numpy(),
            frame[at_col].fill_null(np.iinfo(np.int64).max).to_numpy(),
        )

    at = frame["at"].to_numpy()

    def choose(source: str, second_share: float, draw: np.ndarray) -> np.ndarray:
        key0, at0 = slot(source, 0)
        key1, at1 = slot(source, 1)
        ok0, ok1 = (key0 >= 0) & (at0 <= at), (key1 >= 0) & (at1 <= at)
        use1 = ok1 & ((draw < second_share) | ~ok0)
        return np.where(use1, key1, np.where(ok0, key0, -1))

    online = frame["online"].to_numpy()
    card = choose("pos", load_vocabulary().share("second_card_use"), u[:, 0])
    card = np.where(online | (u[:, 1] < settings.channels.unscanned_card_share), -1, card)
    account = np.where(online, choose("ecom", load_vocabulary().share("second_account_use"), u[:, 2]), -1)
    member = choose("loyalty", load_vocabulary().share("second_membership_use"), u[:, 3])
    return purchases.with_columns(
        card_rkey=pl.Series(card, dtype=pl.Int64),
        account_rkey=pl.Series(account, dtype=pl.Int64),
        member_rkey=pl.Series(member, dtype=pl.Int64),
    )
