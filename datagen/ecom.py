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
from datagen.people import keep_where
from datagen.purchases import within_group_position
from datagen.random_streams import random_hex
from datagen.settings import GeneratorSettings
from datagen.vocabulary import Vocabulary
from datagen.vocabulary import load as load_vocabulary

HOUR = 3600
STATUS = ["created", "shipped", "settled", "cancelled"]
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
    """Web orders for the spool (lines nested) and the flat lines (for totals)."""
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
    third = pl.Series(np.where(returned, "cancelled", "settled"), dtype=pl.String)
    history = pl.DataFrame(
        {
            "s0": pl.Series(["created"] * n, dtype=pl.String),
            "t0": at,
            "s1": pl.Series(np.where(cancelled, "cancelled", "shipped"), dtype=pl.String),
            "t1": np.where(cancelled, cancelled_at, shipped_at),
            "s2": keep_where(third, ~cancelled),
            "t2": np.where(cancelled, 0, np.where(returned, cancelled_at, settled_at)),
        }
    ).select(
        status_history=pl.concat_list(
            pl.struct(status="s0", at="t0"), pl.struct(status="s1", at="t1"), pl.struct(status="s2", at="t2")
        ).list.filter(pl.element().struct.field("status").is_not_null())
    )
    illegal = rng.random(n) < settings.noise.illegal_status_path
    history = _illegal_paths(history, illegal, at, rng)
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
        pl.struct(
            name=recipient,
            address1=pl.concat_str([part("district"), part("street_line")]),
            address2=part("unit_line"),
            city=part("city"),
            province=part("province"),
            zip=part("postcode"),
            country_code=pl.lit("CN"),
            phone=format_phone(pl.col("phone_cc"), pl.col("phone"), pl.lit("national")),
        ).alias("shipping_address"),
        order_phone=format_phone(pl.col("phone_cc"), pl.col("phone"), pl.lit("e164")),
        other_email=pl.coalesce("email_2", "email_1"),
    )
    other = rng.random(n) < vocabulary.share("order_other_email")
    nested = lines.group_by("okey", maintain_order=True).agg(
        line_items=pl.struct("line_no", "sku_idx", "qty", "unit_price_cents"),
        total_cents=pl.col("line_amount_cents").sum(),
    )
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
        )
        .drop("other_email", "order_phone")
    )
    orders = orders.join(nested, on="okey", how="left", maintain_order="left")
    return orders, lines


def _illegal_paths(
    history: pl.DataFrame, illegal: np.ndarray, at: np.ndarray, rng: np.random.Generator
) -> pl.DataFrame:
    n = len(illegal)
    pick = rng.integers(0, len(ILLEGAL_PATHS), n)
    steps = np.cumsum(rng.integers(HOUR, 3 * DAY, (n, 4)), axis=1)
    rows = []
    for k, path in enumerate(ILLEGAL_PATHS):
        mask = illegal & (pick == k)
        if not mask.any():
            continue
        idx = np.flatnonzero(mask)
        times = (
            np.column_stack([at[idx], at[idx, None] + steps[idx, : len(path) - 1]])
            if len(path) > 1
            else at[idx, None]
        )
        rows.append(
            pl.DataFrame({"row": idx, **{f"t{i}": times[:, i] for i in range(len(path))}}).select(
                "row",
                status_history=pl.concat_list(
                    [pl.struct(status=pl.lit(status), at=pl.col(f"t{i}")) for i, status in enumerate(path)]
                ),
            )
        )
    if not rows:
        return history
    replacement = pl.concat(rows)
    return (
        history.with_row_index("row")
        .join(
            replacement.with_columns(pl.col("row").cast(pl.UInt32)),
            on="row",
            how="left",
            suffix="_bad",
            maintain_order="left",
        )
        .select(status_history=pl.coalesce("status_history_bad", "status_history"))
    )


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


def _session_events(
    sessions: pl.DataFrame, views: pl.DataFrame, settings: GeneratorSettings, rng: np.random.Generator
) -> pl.DataFrame:
    """Expand sessions into events: page view, product views, cart adds (and a drop), checkout."""
    flags = sessions.select("sid", "cart_add", "cart_drop", "checkout")
    views = views.join(flags, on="sid")
    k = pl.col("k")  # position of the viewed item; steps below keep event kinds apart
    parts = [
        sessions.select(
            "sid",
            event_type=pl.lit("page_view"),
            step=pl.lit(0, dtype=pl.Int64),
            sku_idx=pl.lit(-1, dtype=pl.Int32),
        ),
        views.select("sid", event_type=pl.lit("product_view"), step=1_000 + k, sku_idx="sku_idx"),
        views.filter("cart_add").select(
            "sid", event_type=pl.lit("add_to_cart"), step=2_000 + k, sku_idx="sku_idx"
        ),
        views.filter(pl.col("cart_drop") & (pl.col("k") == 0)).select(
            "sid",
            event_type=pl.lit("remove_from_cart"),
            step=pl.lit(3_000, dtype=pl.Int64),
            sku_idx="sku_idx",
        ),
        sessions.filter("checkout").select(
            "sid",
            event_type=pl.lit("checkout"),
            step=pl.lit(4_000, dtype=pl.Int64),
            sku_idx=pl.lit(-1, dtype=pl.Int32),
        ),
    ]
    events = (
        pl.concat(parts)
        .join(
            sessions.select("sid", "start", "end", "account_rkey", "device", "session_id", "channel"),
            on="sid",
        )
        .sort("sid", "step", maintain_order=True)
        .with_columns(rank=pl.int_range(pl.len()).over("sid"), size=pl.len().over("sid"))
    )
    span = (pl.col("end") - pl.col("start")) * pl.col("rank") / pl.max_horizontal(pl.col("size") - 1, 1)
    n = events.height
    events = events.select(
        event_id=random_hex(rng, n, 20),
        event_type="event_type",
        account_rkey="account_rkey",
        device_id="device",
        session_id="session_id",
        sku_idx="sku_idx",
        channel="channel",
        ts=pl.col("start") + span.cast(pl.Int64),
    )
    duplicated = rng.random(n) < settings.noise.duplicate_event
    copies = 1 + duplicated.astype(np.int64)
    owner = np.repeat(np.arange(n), copies)
    return events[owner].with_columns(
        copy=pl.Series(within_group_position(copies).astype(np.int8)),
        copies=pl.Series(copies[owner].astype(np.int8)),
    )
