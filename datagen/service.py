"""The customer service desk: tickets with realistic response and resolution times and CSAT.

Each service record is a requester; they open one or more tickets (about a product they bought, an
order, points, coupons) through phone, email, chat or WeChat. Most first responses come within a day
and most resolutions within two; some tickets stay open. Satisfied people rate higher and slow
resolutions rate lower.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from datagen.calendar import Calendar
from datagen.noise import pick_uniform, pick_weighted
from datagen.purchases import within_group_position
from datagen.settings import GeneratorSettings
from datagen.vocabulary import Vocabulary

HOUR = 3600


def simulate_tickets(
    requesters: pl.DataFrame,
    people: pl.DataFrame,
    settings: GeneratorSettings,
    calendar: Calendar,
    vocabulary: Vocabulary,
    rng: np.random.Generator,
    hi: int,
) -> pl.DataFrame:
    """One row per ticket: requester_rkey, contact details as given, channel, timings, csat."""
    svc = settings.service
    count = 1 + rng.poisson(svc.tickets_per_requester_mean - 1, requesters.height)
    owner = np.repeat(np.arange(requesters.height), count)
    order = within_group_position(count)
    created0 = requesters["created_at"].to_numpy()[owner]
    later = created0 + (rng.random(owner.size) * np.maximum(hi - created0, 0)).astype(np.int64)
    created = np.where(order == 0, created0, np.clip(calendar.retime(rng, later, "office"), created0, hi))
    n = owner.size
    base = (
        requesters[owner]
        .select(
            requester_rkey="rkey",
            person_idx="person_idx",
            name="name_full",
            email="email",
            phone="phone_text",
        )
        .with_columns(created_at=pl.Series(created), ticket_no=pl.Series(order))
    )
    base = base.join(
        people.select("person_idx", "satisfaction", "culture"),
        on="person_idx",
        how="left",
        maintain_order="left",
    )
    # the requester record shows the latest ticket's details; earlier ones sometimes differ
    is_last = (
        base.select(pl.col("created_at") == pl.col("created_at").max().over("requester_rkey"))
        .to_series()
        .to_numpy()
    )
    differs = ~is_last & (rng.random(n) < vocabulary.share("service_contact_changed"))
    base = base.with_columns(
        phone=pl.when(pl.lit(pl.Series(differs)))
        .then(pl.col("phone").str.replace_all(r"[^0-9+]", ""))
        .otherwise("phone"),
        email=pl.when(pl.lit(pl.Series(differs))).then(pl.col("email").str.to_lowercase()).otherwise("email"),
    )
    first_response = created + (
        svc.first_response_median_hours * HOUR * rng.lognormal(0, svc.first_response_spread, n)
    ).astype(np.int64)
    resolution = first_response + (
        svc.resolution_median_hours * HOUR * rng.lognormal(0, svc.resolution_spread, n)
    ).astype(np.int64)
    open_ticket = rng.random(n) < svc.unresolved_share
    never_answered = open_ticket & (rng.random(n) < vocabulary.share("service_open_unanswered"))
    hours = (resolution - created) / HOUR
    satisfaction = base["satisfaction"].to_numpy()
    csat = np.clip(np.round(3.7 + 0.8 * satisfaction - 0.6 * (hours > 48) + rng.normal(0, 0.6, n)), 1, 5)
    answered = ~open_ticket & (rng.random(n) < svc.csat_answered_share)
    texts = vocabulary.texts["service_subjects"]
    catalog = vocabulary.catalog
    product = rng.integers(0, catalog.height, n)
    english = (base["culture"] == "western").to_numpy() & (
        rng.random(n) < vocabulary.share("english_if_western")
    )
    subject_zh = pick_uniform(rng, texts["zh"], n)
    subject_en = pick_uniform(rng, texts["en"], n)
    subject = pl.Series(np.where(english, subject_en.to_numpy(), subject_zh.to_numpy()), dtype=pl.String)
    item = catalog["item_name"].gather(pl.Series(product, dtype=pl.UInt32))
    has_serial = rng.random(n) < vocabulary.share("service_product_serial")
    serial = pl.format(
        "SN{}{}",
        catalog["sku"].gather(pl.Series(product, dtype=pl.UInt32)).str.slice(4),
        pl.Series(rng.integers(100_000, 999_999, n)).cast(pl.String),
    )
    return base.select(
        "requester_rkey",
        requester_name="name",
        requester_email="email",
        requester_phone="phone",
        channel=pick_weighted(rng, vocabulary.habits["service"]["channels"], n),
        priority=pick_weighted(rng, vocabulary.habits["service"]["priorities"], n),
        subject=pl.lit(subject).str.replace("{product}", pl.lit(item), literal=True),
        product_serial=pl.when(pl.lit(pl.Series(has_serial)))
        .then(pl.lit(pl.select(serial).to_series()))
        .otherwise(None),
        created_at="created_at",
        first_response_at=pl.Series(np.where(never_answered, -1, first_response)),
        resolved_at=pl.Series(np.where(open_ticket, -1, resolution)),
        contacts=pl.Series(1 + rng.poisson(np.clip(hours / 24, 0, 6))),
        csat=pl.Series(np.where(answered, csat, -1).astype(np.int64)),
    )
