"""Event-like entities (events, social posts, tickets, loyalty ledger, coupons, survey responses):
map, type, prefix keys, and remove repeated deliveries with a count."""

from __future__ import annotations

import polars as pl

from ingest.silver.dedup import keep_latest, log_rows, remove_exact
from ingest.silver.parts import Part, Piece, Plan, Rules, prefixed
from ingest.silver.schema import ENTITY_KEYS, SCHEMAS, conform

# Columns that reference another row of the same entity and so take the same source prefix.
SELF_REFERENCES = {"social_posts": ["parent_post_id"]}


def activity_plan(entity: str, part: Part) -> Plan:
    """The part's canonical rows, the key that keeps a piece self-contained, the types to parse."""
    return Plan(part, ENTITY_KEYS[entity], SCHEMAS[entity])


def build_activity(entity: str, frame: pl.DataFrame, part: Part, rules: Rules) -> Piece:
    """One piece of one bronze table -> silver rows, what dedup removed, counts."""
    schema = SCHEMAS[entity]
    key = ENTITY_KEYS[entity]
    frame = frame.with_columns(_source_key=pl.col(key), **{key: prefixed(key)})
    if "source_record_id" in frame.columns:
        frame = frame.with_columns(record_id=prefixed("source_record_id"))
    for column in SELF_REFERENCES.get(entity, []):
        if column in frame.columns:
            frame = frame.with_columns(prefixed(column).alias(column))
    frame = frame.filter(pl.col(key).is_not_null())
    rows_in = frame.height
    frame, exact = remove_exact(frame, key, "_source_key")
    after_exact = frame.height
    frame, superseded = keep_latest(frame, key, "_source_key", part.mapping.latest_by)
    out = conform(frame.lazy(), schema).collect()
    log = log_rows(pl.concat([exact, superseded]), part.source, entity, rules.batch_id)
    stats = {
        "rows_in": rows_in,
        "rows": out.height,
        "exact_copies_removed": rows_in - after_exact,
        "superseded_removed": after_exact - out.height,
    }
    return Piece({entity: out}, log, stats)
