"""Simulating one chunk of people end to end and spooling the result as Parquet.

A chunk is independent of every other (own random streams, own provisional keys), so chunks can run
in parallel and memory stays flat however many people there are. Everything a chunk produces goes to
`spool/<entity>/c<chunk>.arrow` (see `spool`);
final ids and the native file formats are applied later, across chunks (see `keys` and `exports`).
Provisional keys are `chunk << 32 | n`, unique across the run.
"""

from __future__ import annotations

import logging
import resource
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from datagen import ecom, loyalty, pos, service, social, spool, survey
from datagen.calendar import build_calendar
from datagen.people import Chunk, simulate_people
from datagen.profiles import render_profiles
from datagen.purchases import simulate_purchases
from datagen.random_streams import stream
from datagen.records import assign_purchase_records, place_records, plan_records
from datagen.settings import GeneratorSettings
from datagen.stores import build_stores
from datagen.vocabulary import load as load_vocabulary

log = logging.getLogger("cdp.generate")

PERSON_TRUTH = [
    "person_id", "person_idx", "culture", "gender", "birth_date", "family_name", "given_name", "family_latin",
    "given_latin", "family_alt_latin", "nickname", "phone_cc", "phone", "old_phone", "phone_changed_at",
    "email_1", "email_2", "email_3", "city", "province", "district", "street_line", "unit_line", "postcode",
    "moved_at", "new_city", "new_district", "new_street_line", "new_postcode", "national_id", "household_id",
    "family_phone", "segment", "multi_record", "home_store", "new_home_store", "rate_per_day", "dropout_p",
    "spend_mean", "store_share", "preexisting", "acquired_at", "satisfaction", "device_1", "device_2",
    "n_pos", "n_ecom", "n_loyalty", "n_social", "n_service", "n_survey",
]  # fmt: skip


@dataclass(frozen=True)
class ChunkJob:
    chunk: Chunk
    settings: GeneratorSettings
    spool: Path


def key_base(chunk: Chunk) -> int:
    return chunk.index << 32


def simulate_chunk(job: ChunkJob) -> dict[str, int]:
    """Simulate and spool one chunk; returns row counts per spooled entity."""
    chunk, settings = job.chunk, job.settings
    cpu = time.process_time()
    vocabulary = load_vocabulary()
    calendar = build_calendar(settings)
    stores = build_stores(settings, vocabulary)

    def rng(label: str) -> np.random.Generator:
        return stream(settings.seed, "chunk", chunk.index, label)

    people = simulate_people(chunk, settings, calendar, vocabulary, stores, rng("people"))
    people = plan_records(people, settings, rng("plan"))
    purchases, summary = simulate_purchases(people, settings, calendar, rng("purchases"))
    purchases = purchases.with_columns(okey=pl.int_range(pl.len(), dtype=pl.Int64) + key_base(chunk))
    records = place_records(people, purchases, chunk, calendar, stores, rng("records"))
    purchases = assign_purchase_records(purchases, records, settings, rng("assign"))
    profiles = render_profiles(records, people, stores, settings, vocabulary, rng("profiles"))
    hi = calendar.horizon_s - 1

    pos_lines, tickets = pos.simulate_tickets(
        purchases,
        people,
        stores,
        settings,
        calendar,
        vocabulary,
        rng("pos"),
        key_base(chunk) + purchases.height,
    )
    accounts = profiles.filter(pl.col("source") == "ecom")
    orders, web_lines = ecom.simulate_orders(purchases, people, accounts, settings, vocabulary, rng("orders"))
    events = ecom.simulate_events(
        orders, web_lines, people, accounts, settings, calendar, rng("events"), vocabulary.catalog.height
    )
    member_orders = _member_orders(purchases, tickets, pos_lines, orders)
    ledger = loyalty.simulate_ledger(member_orders, settings, calendar, rng("ledger"))
    members = profiles.filter(pl.col("source") == "loyalty")
    coupons = loyalty.simulate_coupons(members, member_orders, people, settings, calendar, rng("coupons"))
    service_tickets = service.simulate_tickets(
        profiles.filter(pl.col("source") == "service"),
        people,
        settings,
        calendar,
        vocabulary,
        rng("service"),
        hi,
    )
    social_profiles = social.profile_details(
        profiles.filter(pl.col("source") == "social"), people, vocabulary, rng("social")
    )
    posts = social.simulate_posts(social_profiles, people, settings, calendar, vocabulary, rng("posts"), hi)
    responses = survey.response_details(
        profiles.filter(pl.col("source") == "survey"), people, vocabulary, rng("survey")
    )
    habits = vocabulary.habits
    members = loyalty.consent_flags(
        loyalty.tiers(members, member_orders, habits["tier_spend_yuan"], habits["tiers"]), rng("consent")
    )
    records_out = _records_table(profiles, members, social_profiles, responses, people, rng("accounts"))

    people_out = people.join(summary, on="person_idx", how="left").select(
        *PERSON_TRUTH, "purchases", "first_purchase_at", "last_purchase_at", "dropped_at"
    )
    ledger = ledger.with_columns(lkey=pl.int_range(pl.len(), dtype=pl.Int64) + key_base(chunk))
    coupons = coupons.with_columns(ckey=pl.int_range(pl.len(), dtype=pl.Int64) + key_base(chunk))
    service_tickets = service_tickets.with_columns(
        tkey=pl.int_range(pl.len(), dtype=pl.Int64) + key_base(chunk)
    )
    name = f"c{chunk.index:05d}"
    outputs = {
        "people": people_out,
        "records": records_out,
        "loyalty_coupons": coupons,
        "pos_lines": pos_lines,
        "ecom_orders": orders.drop("person_idx"),
        "ecom_lines": web_lines.select("okey", "created_at", "line_no", "sku_idx", "qty", "unit_price_cents"),
        "ecom_events": events,
        "loyalty_points": ledger,
        "service_tickets": service_tickets,
        "social_posts": posts,
    }
    for entity, frame in outputs.items():
        spool.write(job.spool, entity, name, frame)
    log.info(
        "chunk %d: %d people simulated in %.1f s CPU (peak RSS of this process %.0f MB)",
        chunk.index,
        chunk.count,
        time.process_time() - cpu,
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )
    return {entity: frame.height for entity, frame in outputs.items()}


def _member_orders(
    purchases: pl.DataFrame, tickets: pl.DataFrame, pos_lines: pl.DataFrame, orders: pl.DataFrame
) -> pl.DataFrame:
    """Purchases booked on a loyalty membership, with their real totals (till and web)."""
    ticket_totals = (
        pos_lines.filter(pl.col("copy") == 0)
        .group_by("okey")
        .agg(total_cents=pl.col("line_amount_cents").sum())
    )
    till = (
        tickets.filter(pl.col("member_rkey") >= 0)
        .join(ticket_totals, on="okey")
        .select(
            "member_rkey",
            "okey",
            at="sold_at",
            total_cents="total_cents",
            store_idx="store_idx",
            kind=pl.lit("pos"),
        )
    )
    web = (
        orders.select("okey", "total_cents", at="created_at")
        .join(purchases.select("okey", "member_rkey"), on="okey")
        .filter(pl.col("member_rkey") >= 0)
        .select(
            "member_rkey",
            "okey",
            "at",
            "total_cents",
            store_idx=pl.lit(-1, dtype=pl.Int64),
            kind=pl.lit("ecom"),
        )
    )
    return pl.concat([till, web]).sort("member_rkey", "at", "okey")


def _records_table(
    profiles: pl.DataFrame,
    members: pl.DataFrame,
    social_profiles: pl.DataFrame,
    responses: pl.DataFrame,
    people: pl.DataFrame,
    rng: np.random.Generator,
) -> pl.DataFrame:
    """Every customer record with what its source exports about it (source-specific columns null elsewhere)."""
    n = profiles.height
    member_of = profiles.filter((pl.col("source") == "loyalty") & (pl.col("ordinal") == 0)).select(
        "person_idx", linked_member_rkey="rkey"
    )
    accounts = profiles.select("rkey").with_columns(
        accepts_marketing=pl.Series(rng.random(n) < load_vocabulary().share("accepts_marketing")),
        marketing_changed_after=pl.Series(
            np.where(
                rng.random(n) < load_vocabulary().share("marketing_changed_later"),
                rng.integers(86_400, 200 * 86_400, n),
                0,
            )
        ),
        updated_after=pl.Series(rng.integers(0, 400 * 86_400, n)),
    )
    extras = [
        members.select(
            "rkey",
            "tier",
            "consent_email",
            "consent_sms",
            "consent_wechat",
            "consent_profiling",
            "consent_updated_at",
        ),
        social_profiles.select("rkey", "handle", "display_name", "bio", "followers"),
        responses.select("rkey", "nps", "csat", "touchpoint", "comment"),
    ]
    table = profiles.join(member_of, on="person_idx", how="left", maintain_order="left").join(
        people.select("person_idx", "device_1"), on="person_idx", how="left", maintain_order="left"
    )
    table = table.join(accounts, on="rkey", how="left", maintain_order="left")
    for extra in extras:
        table = table.join(extra, on="rkey", how="left", maintain_order="left")
    return table
