"""The resolution engine: identity records in, customers with evidence out. No I/O here.

Both `cdp resolve` (any identity table) and the pipeline stage (silver customer records) call
`resolve`. The saved graph of the previous run (features, compared pairs, model, customer ids) makes
a run incremental: only pairs touching new or changed records are blocked and compared, while the
decisions, the clustering and the ids are recomputed over the whole graph from the saved
comparison vectors (cheap, vectorised). An incremental run and a full rebuild with the same model
therefore give the same customers on the same data. A change of the model settings makes the
saved graph stale and forces a full rebuild.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl

from identity_resolution import (
    blocking,
    clustering,
    comparisons,
    evidence,
    golden,
    health,
    hygiene,
    linking,
    model,
)
from identity_resolution.customer_ids import HISTORY_SCHEMA, assign_customer_ids
from identity_resolution.features import build_features
from identity_resolution.overrides import manual_pairs
from identity_resolution.settings import FEATURE_COLUMNS, IdentitySettings

log = logging.getLogger(__name__)

PAIR_KEYS = ("l_record_id", "r_record_id")


@dataclass
class SavedGraph:
    """What a run keeps for the next one."""

    features: pl.DataFrame  # record_id, feature_hash
    pairs: pl.DataFrame  # l_record_id, r_record_id, gamma_* (blocked pairs only)
    model: model.FellegiSunterModel | None
    assignments: pl.DataFrame  # record_id, customer_id


@dataclass
class Resolution:
    links: pl.DataFrame
    golden: pl.DataFrame
    history: pl.DataFrame
    health: pl.DataFrame
    audit: pl.DataFrame
    graph: SavedGraph
    stats: dict[str, Any] = field(default_factory=dict)


def _feature_hash(features: pl.DataFrame) -> pl.Expr:
    return (
        pl.struct([pl.col(c) for c in FEATURE_COLUMNS])
        .hash(seed=0)
        .reinterpret(signed=True)
        .alias("feature_hash")
    )


def _can_continue(previous: SavedGraph | None, settings: IdentitySettings, full: bool) -> bool:
    if full or previous is None or previous.model is None:
        return False
    if previous.model.fingerprint != settings.fingerprint() or not previous.model.matches(
        settings.comparisons
    ):
        log.info("identity model settings changed since the saved graph: full rebuild")
        return False
    return True


def _pairs_by_id(pairs: pl.DataFrame, ids: pl.Series) -> pl.DataFrame:
    return pairs.with_columns(
        ids.gather(pairs["l_idx"]).alias("l_record_id"), ids.gather(pairs["r_idx"]).alias("r_record_id")
    )


def _pairs_by_idx(pairs: pl.DataFrame, index: pl.DataFrame) -> pl.DataFrame:
    left = index.select(pl.col("record_id").alias("l_record_id"), pl.col("idx").alias("l_idx"))
    right = index.select(pl.col("record_id").alias("r_record_id"), pl.col("idx").alias("r_idx"))
    return pairs.join(left, on="l_record_id").join(right, on="r_record_id")


def _blocked_pairs(
    features: pl.DataFrame, settings: IdentitySettings, previous: SavedGraph | None
) -> tuple[pl.DataFrame, int]:
    """All blocked pairs with their comparison vectors; reuses the saved ones that are still valid."""
    index = features.select("record_id", pl.int_range(pl.len(), dtype=pl.Int32).alias("idx"), "feature_hash")
    changed = np.ones(len(features), dtype=bool)
    kept = pl.DataFrame()
    if previous is not None:
        unchanged = index.join(
            previous.features.select("record_id", "feature_hash"), on=["record_id", "feature_hash"]
        )
        changed[unchanged["idx"].to_numpy()] = False
        stable = unchanged.select("record_id", "idx")
        kept = _pairs_by_idx(previous.pairs, stable).drop(*PAIR_KEYS)
    new = blocking.candidate_pairs(
        features, settings.blocking_rules, settings.max_block_size, changed if previous is not None else None
    )
    vectors = comparisons.comparison_vectors(
        features, new["l_idx"].to_numpy(), new["r_idx"].to_numpy(), settings.comparisons
    )
    fresh = pl.concat([new, vectors], how="horizontal")
    pairs = pl.concat([kept.select(fresh.columns).cast(fresh.schema), fresh]) if len(kept) else fresh  # type: ignore[arg-type]
    log.info(
        "candidate pairs: %d compared now, %d reused (%d changed records)",
        len(fresh),
        len(kept),
        int(changed.sum()),
    )
    return pairs.sort("l_idx", "r_idx"), int(changed.sum())


def pair_conflicts(
    features: pl.DataFrame, settings: IdentitySettings, fs_model: model.FellegiSunterModel
) -> clustering.PairConflicts:
    """Conflicts of arbitrary record pairs (the clustering checks members that were never blocked)."""

    guarded = [c for c in settings.comparisons if c.identity_scores is not None]
    needs_weights = settings.guards.conflict_override_weight is not None

    def conflicts(left: np.ndarray, right: np.ndarray) -> np.ndarray:
        pairs = pl.DataFrame({"l_idx": left, "r_idx": right})
        # Only the guarded comparisons decide a conflict (plus the weight, when an override is set).
        used = settings.comparisons if needs_weights else guarded
        vectors = comparisons.comparison_vectors(features, left, right, used)
        frame = pl.concat([pairs, vectors], how="horizontal")
        if needs_weights:
            frame = model.score(features, frame, fs_model, used, settings.model.min_probability)
        return (
            frame.with_columns(linking.identity_score_expr(settings).alias("identity_score"))
            .select(linking.conflict_expr(settings, chain=True))[:, 0]
            .to_numpy()
        )

    return conflicts


def resolve(
    records: pl.DataFrame,
    settings: IdentitySettings,
    *,
    default_region: str,
    run_id: str,
    resolved_at: datetime,
    previous: SavedGraph | None = None,
    full: bool = False,
    overrides: pl.DataFrame | None = None,
    profile: pl.DataFrame | None = None,
) -> Resolution:
    """Resolve validated identity records (see `records.validate_records`).

    `profile`: the records with their typed profile columns for the golden record (silver rows);
    defaults to `records`. `overrides`: manual force-link / cannot-link pairs.
    """
    records = records.sort("record_id")
    features, audit = hygiene.apply_hygiene(
        build_features(records, default_region, settings, resolved_at.date()),
        settings,
    )
    features = features.with_columns(_feature_hash(features))
    incremental = _can_continue(previous, settings, full)
    blocked, changed = _blocked_pairs(features, settings, previous if incremental else None)
    if incremental and previous is not None and previous.model is not None:
        fs_model = previous.model
    else:
        fs_model = model.train(features, blocked, settings)
    manual = manual_pairs(overrides, records["record_id"])
    manual_vectors = comparisons.comparison_vectors(
        features, manual["l_idx"].to_numpy(), manual["r_idx"].to_numpy(), settings.comparisons
    )
    scored = model.score(
        features,
        pl.concat([blocked, pl.concat([manual.select("l_idx", "r_idx"), manual_vectors], how="horizontal")]),
        fs_model,
        settings.comparisons,
        settings.model.min_probability,
    )
    shared = hygiene.shared_values(features, settings.deterministic_keys, settings.max_people_to_link_alone)
    decided = linking.decide(scored, shared, settings)
    decided = linking.apply_overrides(decided, manual).sort("l_idx", "r_idx")
    edges = decided.filter(pl.col("accepted"))
    conflicts = linking.effective_conflicts(decided, len(records))
    result = clustering.cluster(
        len(records),
        edges,
        conflicts,
        pair_conflicts(features, settings, fs_model),
        settings.guards.max_cluster_size,
        settings.guards.full_conflict_check_max_size,
    )
    ids = records["record_id"]
    clusters = pl.DataFrame({"record_id": ids, "cluster": result.labels})
    assignments, history = assign_customer_ids(
        clusters, previous.assignments if previous is not None else None
    )
    best = evidence.best_links(decided, result.labels, settings.comparisons)
    links = evidence.identity_links(records, assignments, best, run_id, resolved_at)
    refused = _pairs_by_id(result.refused, ids).select(*PAIR_KEYS, "reason")
    graph_health = health.graph_health(links, decided, refused, audit, run_id, resolved_at)
    golden_customers = golden.golden_records(
        profile if profile is not None else records, assignments, settings.survivorship
    )
    saved = SavedGraph(
        features=features.select("record_id", "feature_hash"),
        pairs=_pairs_by_id(blocked, ids).select(
            *PAIR_KEYS, *[c for c in blocked.columns if c.startswith("gamma_")]
        ),
        model=fs_model,
        assignments=assignments,
    )
    stats = {
        "records": len(records),
        "customers": int(assignments["customer_id"].n_unique()),
        "mode": "incremental" if incremental else "full",
        "changed_records": changed,
        "candidate_pairs": len(blocked),
        "links": len(edges),
        "refused_links": len(result.refused),
    }
    log.info("resolved %(records)d records into %(customers)d customers (%(mode)s)", stats)
    return Resolution(
        links=links,
        golden=golden_customers,
        history=history.cast(HISTORY_SCHEMA).with_columns(  # type: ignore[arg-type]
            pl.lit(run_id).alias("run_id"), pl.lit(resolved_at).alias("at")
        ),
        health=graph_health,
        audit=audit.with_columns(pl.lit(run_id).alias("run_id"), pl.lit(resolved_at).alias("audited_at")),
        graph=saved,
        stats=stats,
    )
