"""Event-like entities (events, social posts, tickets, loyalty ledger, coupons, survey responses):
map, type, prefix keys, and remove repeated deliveries with a count."""

from __future__ import annotations

import polars as pl

from ingest.silver.dedup import keep_latest, log_rows, remove_exact
from ingest.silver.parts import Part, Rules, prefixed
from ingest.silver.schema import DEDUP_LOG, ENTITY_KEYS, SCHEMAS, conform

# Columns that reference another row of the same entity and so take the same source prefix.
SELF_REFERENCES = {"social_posts": ["parent_post_id"]}


def build_activity(
    entity: str, parts: list[Part], rules: Rules
) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, int]]:
    schema = SCHEMAS[entity]
    key = ENTITY_KEYS[entity]
    frames, logs = [], []
    for part in parts:
        frame = part.canonical(schema, rules).collect()
        frame = frame.with_columns(_source_key=pl.col(key), **{key: prefixed(key)})
        if "source_record_id" in frame.columns:
            frame = frame.with_columns(record_id=prefixed("source_record_id"))
        for column in SELF_REFERENCES.get(entity, []):
            if column in frame.columns:
                frame = frame.with_columns(prefixed(column).alias(column))
        frame, exact = remove_exact(frame.filter(pl.col(key).is_not_null()), key, "_source_key")
        frame, superseded = keep_latest(frame, key, "_source_key", part.mapping.latest_by)
        frames.append(conform(frame.lazy(), schema).collect())
        logs.append(log_rows(pl.concat([exact, superseded]), part.source, entity, rules.batch_id))
    if not frames:
        return pl.DataFrame(schema=schema), pl.DataFrame(schema=DEDUP_LOG), {"rows": 0}
    out = pl.concat(frames, how="vertical_relaxed")
    return out, pl.concat(logs, how="vertical_relaxed"), {"rows": out.height}
