"""The web shop: customer accounts, orders with nested line items and status history, browse events.

Orders follow the platform's life cycle (created -> shipped -> settled, cancelled before shipping,
or returned after it), with a small share of impossible paths for the pipeline to flag. Every order
is preceded by a browsing session, and people browse without buying too; some events are delivered
twice, as trackers do.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from datagen.baskets import build_lines
from datagen.calendar import DAY, Calendar
from datagen.noise import format_phone, pick_weighted
from datagen.purchases import within_group_position
from datagen.random_streams import random_hex
from datagen.settings import GeneratorSettings
from datagen.vocabulary import Vocabulary
from datagen.vocabulary import load as load_vocabulary

HOUR = 3600
STATUS = ["created", "shipped", "settled", "cancelled"]
CREATED, SHIPPED, SETTLED, CANCELLED = range(len(STATUS))
STEPS = 4  # the longest status path (an illegal one); spooled flat as status_<i>, at_<i> (-1: no step)
# impossible paths a buggy integration produces
ILLEGAL_PATHS = [
    ["created", "settled"],
    ["shipped", "settled"],
    ["created", "shipped", "settled", "shipped"],
    ["created", "cancelled", "shipped"],
]


def simulate_orders(
    purchases: pl.DataFrame,
    people: pl.DataFrame,
    accounts: pl.DataFrame,
    settings: GeneratorSettings,
    vocabulary: Vocabulary,
    rng: np.random.Generator,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Web orders for the spool (status path and shipping address flat) and their lines."""
    web = purchases.filter(pl.col("online"))
    n = web.height
    lines = build_lines(
        web["okey"].to_numpy(), web["value_cents"].to_numpy(), web["lines"].to_numpy(), vocabulary, rng
    )
    at = web["at"].to_numpy()
    kind = rng.random(n)
    cancel_share, return_share = vocabulary.share("order_cancelled"), vocabulary.share("order_returned")
    cancelled = kind < cancel_share
    returned = (kind >= cancel_share) & (kind < cancel_share + return_share)
    shipped_at = at + rng.integers(2 * HOUR, 48 * HOUR, n)
    settled_at = shipped_at + rng.integers(3 * DAY, 12 * DAY, n)
    cancelled_at = np.where(
        cancelled, at + rng.integers(600, DAY, n), shipped_at + rng.integers(5 * DAY, 15 * DAY, n)
    )
    status = np.full((n, STEPS), -1, dtype=np.int8)
    times = np.zeros((n, STEPS), dtype=np.int64)
    status[:, 0], times[:, 0] = CREATED, at
    status[:, 1] = np.where(cancelled, CANCELLED, SHIPPED)
    times[:, 1] = np.where(cancelled, cancelled_at, shipped_at)
    status[:, 2] = np.where(cancelled, -1, np.where(returned, CANCELLED, SETTLED))
    times[:, 2] = np.where(cancelled, 0, np.where(returned, cancelled_at, settled_at))
    illegal = rng.random(n) < settings.noise.illegal_status_path
    _illegal_paths(status, times, illegal, at, rng)
    history = pl.DataFrame(
        {
            **{f"status_{i}": status[:, i] for i in range(STEPS)},
            **{f"at_{i}": times[:, i] for i in range(STEPS)},
        }
    )
    person = web.select("person_idx").join(
        people.select(
            "person_idx", "culture", "family_name", "given_name", "given_latin", "family_latin", "phone_cc",
            "phone", "email_1", "email_2", "moved_at", "district", "street_line", "unit_line", "city", "province",
            "postcode", "new_district", "new_street_line", "new_unit_line", "new_city", "new_province", "new_postcode",
        ),
        on="person_idx", how="left", maintain_order="left",
    )  # fmt: skip
    account_email = web.select("account_rkey").join(
        accounts.select(pl.col("rkey").alias("account_rkey"), "email"),
        on="account_rkey",
        how="left",
        maintain_order="left",
    )["email"]
    moved = person["moved_at"].is_not_null() & (web["at"] >= person["moved_at"].fill_null(0))

    def part(name: str) -> pl.Expr:
        return pl.when(pl.lit(moved)).then(pl.col(f"new_{name}")).otherwise(pl.col(name))

    recipient = (
        pl.when(pl.col("culture") == "zh")
        .then(pl.concat_str(["family_name", "given_name"]))
        .otherwise(pl.concat_str(["given_name", "family_name"], separator=" "))
    )
    shipping = person.select(
        ship_name=recipient,
        ship_address1=pl.concat_str([part("district"), part("street_line")]),
        ship_address2=part("unit_line"),
        ship_city=part("city"),
        ship_province=part("province"),
        ship_zip=part("postcode"),
        ship_phone=format_phone(pl.col("phone_cc"), pl.col("phone"), pl.lit("national")),
        order_phone=format_phone(pl.col("phone_cc"), pl.col("phone"), pl.lit("e164")),
        other_email=pl.coalesce("email_2", "email_1"),
    )
    other = rng.random(n) < vocabulary.share("order_other_email")
    # lines come grouped by order, in order: each order's total is a sum over its run of lines
    starts = np.cumsum(web["lines"].to_numpy()) - web["lines"].to_numpy()
    total = np.add.reduceat(lines["line_amount_cents"].to_numpy(), starts) if n else np.zeros(0, np.int64)
    orders = (
        pl.concat(
            [
                web.select("okey", "person_idx", "account_rkey", created_at="at"),
                history,
                shipping,
            ],
            how="horizontal",
        )
        .with_columns(
            email=pl.when(pl.lit(pl.Series(other)) | pl.lit(account_email).is_null())
            .then("other_email")
            .otherwise(pl.lit(account_email)),
            phone=pl.when(pl.lit(pl.Series(rng.random(n) < vocabulary.share("order_phone_given"))))
            .then("order_phone")
            .otherwise(None),
            payment_gateway=pick_weighted(rng, vocabulary.habits["payment"]["online"], n),
            illegal_path=pl.Series(illegal),
            total_cents=pl.Series(total, dtype=pl.Int64),
        )
        .drop("other_email", "order_phone")
    )
    return orders, lines.with_columns(created_at=pl.Series(np.repeat(at, web["lines"].to_numpy())))


def _illegal_paths(
    status: np.ndarray, times: np.ndarray, illegal: np.ndarray, at: np.ndarray, rng: np.random.Generator
) -> None:
    """Overwrite the rows flagged `illegal` (in place) with one of the impossible paths."""
    n = len(illegal)
    pick = rng.integers(0, len(ILLEGAL_PATHS), n)
    steps = np.cumsum(rng.integers(HOUR, 3 * DAY, (n, 4)), axis=1)
    for k, path in enumerate(ILLEGAL_PATHS):
        idx = np.flatnonzero(illegal & (pick == k))
        if idx.size == 0:
            continue
        status[idx] = -1
        status[idx, : len(path)] = [STATUS.index(name) for name in path]
        times[idx] = 0
        times[idx, 0] = at[idx]
        times[idx, 1 : len(path)] = at[idx, None] + steps[idx, : len(path) - 1]


def simulate_events(
    orders: pl.DataFrame,
    lines: pl.DataFrame,
    people: pl.DataFrame,
    accounts: pl.DataFrame,
    settings: GeneratorSettings,
    calendar: Calendar,
    rng: np.random.Generator,
    catalogue_size: int,
) -> pl.DataFrame:
    """Browse and cart events: a session before each order, sessions that buy nothing, strangers.

    One row per delivered event (duplicates included, `copy` > 0).
    """
    engagement = settings.engagement
    devices = people.select("person_idx", "device_1", "device_2")
    # sessions that end in an order, viewing what was bought
    nb = orders.height
    buy = orders.select("person_idx", "account_rkey", "okey", end=pl.col("created_at") - 30).with_columns(
        start=pl.col("end") - pl.lit(pl.Series(rng.integers(180, 2400, nb))),
        sid=pl.int_range(nb, dtype=pl.Int64),
        checkout=pl.lit(True),
    )
    buy_views = lines.join(buy.select("okey", "sid"), on="okey").select(
        "sid", k=pl.col("line_no") - 1, sku_idx="sku_idx"
    )
    # sessions without an order: account holders browse now and then
    holders = accounts.select("person_idx", pl.col("rkey").alias("account_rkey"), "created_at")
    per_holder = orders.group_by("account_rkey").len()
    holders = holders.join(per_holder, on="account_rkey", how="left", maintain_order="left")
    orders_held = holders["len"].fill_null(0).to_numpy()
    count = rng.poisson(
        engagement.browse_sessions_per_order * orders_held + engagement.browse_sessions_per_account
    )
    owner = np.repeat(np.arange(holders.height), count)
    nbr = owner.size
    first_day = np.maximum(holders["created_at"].to_numpy()[owner] - calendar.start_s, 0) / DAY
    day = first_day + rng.random(nbr) * np.maximum(calendar.days - first_day, 0)
    start = calendar.timestamps(rng, day, "online")
    browse = pl.DataFrame(
        {
            "person_idx": holders["person_idx"].to_numpy()[owner],
            "account_rkey": holders["account_rkey"].to_numpy()[owner],
            "okey": np.full(nbr, -1, dtype=np.int64),
            "end": start + rng.integers(60, 1800, nbr),
            "start": start,
            "sid": np.arange(nb, nb + nbr, dtype=np.int64),
            "checkout": np.zeros(nbr, dtype=bool),
        }
    )
    n_views = 1 + rng.poisson(1.2, nbr)
    view_owner = np.repeat(np.arange(nbr), n_views)
    browse_views = pl.DataFrame(
        {
            "sid": nb + view_owner.astype(np.int64),
            "k": within_group_position(n_views),
            "sku_idx": rng.integers(0, catalogue_size, view_owner.size).astype(np.int32),
        }
    )
    sessions = pl.concat([buy, browse.select(buy.columns)]).join(
        devices, on="person_idx", how="left", maintain_order="left"
    )
    ns = sessions.height
    logged_in = rng.random(ns) < engagement.logged_in_share
    stranger = rng.random(ns) < engagement.anonymous_session_share
    share = load_vocabulary().share
    second_device = (
        pl.lit(pl.Series(rng.random(ns) < share("session_second_device"))) & pl.col("device_2").is_not_null()
    )
    sessions = sessions.with_columns(
        account_rkey=pl.when(pl.lit(pl.Series(logged_in & ~stranger))).then("account_rkey").otherwise(-1),
        device=pl.when(pl.lit(pl.Series(stranger)))
        .then(pl.format("d-{}", random_hex(rng, ns, 16)))
        .when(second_device)
        .then("device_2")
        .otherwise("device_1"),
        session_id=random_hex(rng, ns, 16),
        channel=pl.when(pl.lit(pl.Series(rng.random(ns) < share("session_app"))))
        .then(pl.lit("app"))
        .otherwise(pl.lit("web")),
        cart_drop=pl.lit(pl.Series(rng.random(ns) < share("session_cart_drop"))) & ~pl.col("checkout"),
        cart_add=pl.col("checkout") | pl.lit(pl.Series(rng.random(ns) < share("session_cart_add"))),
    ).filter(pl.col("start") >= calendar.start_s)
    views = pl.concat([buy_views.with_columns(pl.col("k").cast(pl.Int64)), browse_views])
    return _session_events(sessions, views, settings, rng)


EVENT_TYPES = ["page_view", "product_view", "add_to_cart", "remove_from_cart", "checkout"]


def _session_events(
    sessions: pl.DataFrame, views: pl.DataFrame, settings: GeneratorSettings, rng: np.random.Generator
) -> pl.DataFrame:
    """Expand sessions into events: page view, product views, cart adds (and a drop), checkout.

    Each session's events are laid out by index arithmetic (no join or sort over events): the page
    view, the viewed items in order, the same items added to the cart, the first one removed again,
    and the checkout, spread evenly over the session.
    """
    sid = sessions["sid"].to_numpy()
    by_sid = np.argsort(sid, kind="stable")  # sessions in sid order
    ns = sid.size
    view_sid = views["sid"].to_numpy()
    place = np.minimum(np.searchsorted(sid, view_sid, sorter=by_sid), max(ns - 1, 0))
    known = sid[by_sid[place]] == view_sid if ns else np.zeros(view_sid.size, dtype=bool)
    place = place[known]  # each view's session, as a position in sid order
    ranked = np.lexsort((views["k"].to_numpy()[known], place))
    view_sku = views["sku_idx"].to_numpy()[known][ranked]
    # per session (in sid order): how many events of each kind
    viewed = np.bincount(place, minlength=ns)
    first_view = np.cumsum(viewed) - viewed
    added = np.where(sessions["cart_add"].to_numpy()[by_sid], viewed, 0)
    dropped = sessions["cart_drop"].to_numpy()[by_sid] & (viewed > 0)
    size = 1 + viewed + added + dropped + sessions["checkout"].to_numpy()[by_sid]
    session = np.repeat(by_sid, size)  # each event's session row
    rank = within_group_position(size)
    v, a = np.repeat(viewed, size), np.repeat(added, size)
    kind = np.select(
        [rank == 0, rank <= v, rank <= v + a, (rank == v + a + 1) & np.repeat(dropped, size)],
        [0, 1, 2, 3],
        default=4,
    )
    has_sku = (kind >= 1) & (kind <= 3)
    view_index = np.where(kind == 1, rank - 1, np.where(kind == 2, rank - 1 - v, 0))
    slot = np.minimum(np.repeat(first_view, size) + view_index, max(view_sku.size - 1, 0))
    sku = np.where(has_sku, view_sku[slot] if view_sku.size else -1, -1)
    start = sessions["start"].to_numpy()[session]
    end = sessions["end"].to_numpy()[session]
    span = ((end - start) * rank / np.maximum(np.repeat(size, size) - 1, 1)).astype(np.int64)
    n = session.size
    events = sessions.select("account_rkey", "device", "session_id", "channel")[session].select(
        event_id=random_hex(rng, n, 20),
        event_type=pl.Series(EVENT_TYPES, dtype=pl.String).gather(pl.Series(kind, dtype=pl.UInt32)),
        account_rkey="account_rkey",
        device_id="device",
        session_id="session_id",
        sku_idx=pl.Series(sku, dtype=pl.Int32),
        channel="channel",
        ts=pl.Series(start + span),
    )
    duplicated = rng.random(n) < settings.noise.duplicate_event
    copies = 1 + duplicated.astype(np.int64)
    owner = np.repeat(np.arange(n), copies)
    return events[owner].with_columns(
        copy=pl.Series(within_group_position(copies).astype(np.int8)),
        copies=pl.Series(copies[owner].astype(np.int8)),
    )
