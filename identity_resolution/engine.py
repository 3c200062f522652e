"""The resolution engine: identity records in, customers with evidence out. No I/O here.

Both `cdp resolve` (any identity table) and the pipeline stage (silver customer records) call
`resolve`. The saved graph of the previous run (features, compared pairs, u sample, model,
customer ids) makes a run incremental: comparison features are built only for new and changed
records (the others' are saved), the random pairs behind u are drawn by consistent hashing so that
only the few slots a day's records moved are compared again, and only pairs touching new or
changed records are blocked and compared, grouping only the blocks such records joined or left
(saved pairs whose blocks grew over `max_block_size` go, as a full run skips such blocks, and
blocks that records left may come back under it), while the
model is retrained and the decisions, the clustering and the ids are recomputed over the whole
graph from the saved comparison vectors (cheap, vectorised). The model is thus a function of the
records, not of the history: an incremental run and a full rebuild (even in an empty lake) give
the same customers on the same data. A change of the model settings makes the saved graph stale
and forces a full rebuild.

Memory stays bounded however many candidate pairs there are: pairs are compared, scored and
decided `pairs_per_chunk` at a time, and only their gamma codes (a few bytes each) plus the pairs
that link or conflict are kept; the saved graph numbers records by row, not by id.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, TypeVar

import numpy as np
import polars as pl

from identity_resolution import (
    blocking,
    clustering,
    comparisons,
    evidence,
    golden,
    health,
    households,
    hygiene,
    linking,
    model,
)
from identity_resolution.customer_ids import HISTORY_SCHEMA, assign_customer_ids
from identity_resolution.features import FEATURES_VERSION, build_features
from identity_resolution.name_variants import name_variants
from identity_resolution.overrides import manual_pairs
from identity_resolution.records import CANONICAL_COLUMNS
from identity_resolution.settings import FEATURE_COLUMNS, IdentitySettings

T = TypeVar("T")
MIN_SPLIT_PAIRS = 50_000  # below this, a second thread costs more than it saves
log = logging.getLogger(__name__)

PAIR_KEYS = ("l_record_id", "r_record_id")
# Columns of the saved features that are not comparison features (see SavedGraph.features).
SAVED_ONLY_COLUMNS = ("idx", "feature_hash", "profile_hash")


@dataclass
class SavedGraph:
    """What a run keeps for the next one.

    `pairs`, `golden` and `u_sample` may be lazy (scans of the lake's tables, see `store`): the
    next run reads the pairs and the u sample once, to take over those still valid, and the
    golden table only in a daily run, at its end; none is held through the run.
    """

    # idx, record_id, feature_hash, profile_hash (idx: the record's row), and the comparison
    # features before hygiene with the hash of the input they were built from (input_hash)
    features: pl.DataFrame
    pairs: pl.DataFrame | pl.LazyFrame  # l_idx, r_idx (rows of `features`), gamma_* (blocked pairs only)
    model: model.FellegiSunterModel | None
    assignments: pl.DataFrame  # record_id, customer_id
    golden: pl.DataFrame | pl.LazyFrame | None = None  # golden_customer of that run
    u_sample: pl.DataFrame | pl.LazyFrame | None = None  # slot, l_record_id, r_record_id, gamma_*


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


def _input_hash(records: pl.DataFrame, settings: IdentitySettings, default_region: str) -> pl.Expr:
    """A hash of what a record's features are built from (its identity columns), of every
    setting that shapes them and of the code's `FEATURES_VERSION`: an unchanged hash lets a daily
    run take the saved features."""
    shaping = json.dumps(
        [
            FEATURES_VERSION,
            settings.fingerprint(),
            default_region,
            name_variants(settings.name_variants_file, settings.name_variants),
        ],
        sort_keys=True,
    )
    seed = int(hashlib.sha256(shaping.encode()).hexdigest()[:8], 16)
    columns = [c for c in CANONICAL_COLUMNS if c in records.columns]
    return pl.struct(columns).hash(seed=seed).reinterpret(signed=True).alias("input_hash")


def _features(
    records: pl.DataFrame,
    settings: IdentitySettings,
    default_region: str,
    today: date,
    previous: SavedGraph | None,
) -> tuple[pl.DataFrame, int]:
    """Comparison features of `records` (sorted by record_id) with their `input_hash`, before
    hygiene, and how many were built now: with a saved graph only new and changed records are
    built, the others' features are the saved ones. A saved record without a date of birth whose
    input has one is built again (a date in the future is missing until its day comes)."""
    keyed = records.select(pl.col("record_id"), _input_hash(records, settings, default_region))
    saved = previous.features if previous is not None else None
    if saved is None or "input_hash" not in saved.columns:
        return pl.concat(
            [build_features(records, default_region, settings, today), keyed.drop("record_id")],
            how="horizontal",
        ), len(records)
    columns = [c for c in saved.columns if c not in SAVED_ONLY_COLUMNS]
    cached = keyed.join(
        saved.select(columns).with_columns(pl.lit(True).alias("_cached")),
        on=["record_id", "input_hash"],
        how="left",
        maintain_order="left",
    )
    raw_dob = (
        records["date_of_birth"].is_not_null()
        if "date_of_birth" in records.columns
        else pl.Series([False] * len(records))
    )
    stale = (cached["_cached"].is_null() | (cached["dob"].is_null() & raw_dob)).fill_null(True)
    fresh = build_features(records.filter(stale), default_region, settings, today)
    fresh = pl.concat([fresh, keyed.filter(stale).drop("record_id")], how="horizontal")
    kept = cached.filter(~stale).select(fresh.columns).cast(fresh.schema)  # type: ignore[arg-type]
    log.info("comparison features: %d built now, %d saved taken over", len(fresh), len(kept))
    # Back in the records' order by position, not by a second sort of the record ids' strings.
    built = stale.to_numpy()
    position = np.empty(len(records), dtype=np.int64)
    position[~built] = np.arange(len(kept))
    position[built] = len(kept) + np.arange(len(fresh))
    return pl.concat([kept, fresh]).select(pl.all().gather(position)), len(fresh)


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


def _reusable_pairs(previous: SavedGraph, index: pl.DataFrame) -> tuple[pl.DataFrame, np.ndarray, bool]:
    """The saved pairs of records that are still there unchanged, renumbered to this run's rows
    (`index`: record_id, idx, feature_hash), which rows changed (new or other features), and
    whether the records are exactly those of the saved graph (none new, changed or gone).

    Records are numbered in record_id order in every run, so a pair keeps l_idx < r_idx and the
    pairs stay sorted. The saved pairs are read here and dropped on return.
    """
    unchanged = index.join(previous.features, on=["record_id", "feature_hash"], suffix="_saved")
    changed = np.ones(len(index), dtype=bool)
    changed[unchanged["idx"].to_numpy()] = False
    same_records = len(unchanged) == len(index) == len(previous.features)
    saved = previous.pairs.lazy().collect()
    # Sized by the highest row named, not by the saved records: an erasure deletes its person's
    # rows from the saved features (the rows left keep their numbers), and the saved pairs that
    # named them are dropped here.
    rows = 1 + max(_highest(unchanged["idx_saved"]), _highest(saved["l_idx"]), _highest(saved["r_idx"]))
    renumber = np.full(rows, -1, dtype=np.int32)
    renumber[unchanged["idx_saved"].to_numpy()] = unchanged["idx"].to_numpy()
    left = renumber[saved["l_idx"].to_numpy()]
    right = renumber[saved["r_idx"].to_numpy()]
    keep = pl.Series((left >= 0) & (right >= 0))
    pairs = saved.with_columns(pl.Series("l_idx", left), pl.Series("r_idx", right)).filter(keep)
    # A pair naming an erased record means the saved model was trained on records now gone.
    return pairs, changed, same_records and bool(keep.all())


def _highest(column: pl.Series) -> int:
    return int(column.max()) if len(column) else -1  # type: ignore[arg-type]


def _in_chunks(pairs: pl.DataFrame, settings: IdentitySettings, work: Callable[[pl.DataFrame], T]) -> list[T]:
    """`work` applied to `pairs` `pairs_per_chunk` rows at a time (at least one, maybe empty,
    chunk), `compare_threads` chunks side by side; the results in chunk order. Memory holds the
    strings of only those chunks at once, however many pairs there are. Fewer pairs than
    `compare_threads` chunks are still split (down to MIN_SPLIT_PAIRS) so every thread has one."""
    threads = settings.compare_threads
    size = min(settings.pairs_per_chunk, max(-(-len(pairs) // threads), MIN_SPLIT_PAIRS))
    chunks = [pairs.slice(start, size) for start in range(0, max(len(pairs), 1), size)]
    if threads == 1 or len(chunks) == 1:
        return [work(chunk) for chunk in chunks]
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(work, chunks))


def _compared(features: pl.DataFrame, pairs: pl.DataFrame, settings: IdentitySettings) -> pl.DataFrame:
    """`pairs` (l_idx, r_idx) with their comparison vectors, computed chunk by chunk."""

    def compared(chunk: pl.DataFrame) -> pl.DataFrame:
        vectors = comparisons.comparison_vectors(
            features, chunk["l_idx"].to_numpy(), chunk["r_idx"].to_numpy(), settings.comparisons
        )
        return pl.concat([chunk, vectors], how="horizontal")

    return pl.concat(_in_chunks(pairs, settings, compared))


def _departed(saved: pl.DataFrame, built: pl.DataFrame, settings: IdentitySettings) -> pl.DataFrame | None:
    """The blocking columns, as saved, of the saved records that are gone or whose input changed:
    with the changed records, the blocks that may have shrunk (None: not known, every block may)."""
    columns = blocking.blocking_columns(settings.blocking_rules)
    if "input_hash" not in saved.columns or not set(columns) <= set(saved.columns):
        return None
    return saved.join(
        built.select("record_id", "input_hash"), on=["record_id", "input_hash"], how="anti"
    ).select(columns)


def _blocked_pairs(
    features: pl.DataFrame,
    settings: IdentitySettings,
    previous: SavedGraph | None,
    departed: pl.DataFrame | None = None,
    built: pl.DataFrame | None = None,
) -> tuple[pl.DataFrame, np.ndarray, bool]:
    """All blocked pairs with their comparison vectors (sorted by l_idx, r_idx), reusing the saved
    ones that are still valid; which records (rows) changed, and whether the records are exactly
    the saved graph's (see `_reusable_pairs`).

    `departed` (see `_departed`) and the changed records' features before hygiene (`built`, in
    `features` order: a value a guard cuts today left its block) name the blocks a departed record
    was in, so that blocking groups only the blocks the day touched."""
    index = features.select("record_id", pl.int_range(pl.len(), dtype=pl.Int32).alias("idx"), "feature_hash")
    changed = np.ones(len(features), dtype=bool)
    kept, same_records, left_out = pl.DataFrame(), False, 0
    if previous is not None:
        kept, changed, same_records = _reusable_pairs(previous, index)
        left_out = len(previous.features) - int((~changed).sum())  # saved records gone or changed
        if departed is not None and built is not None:
            columns = departed.columns
            departed = pl.concat(
                [departed, built.filter(pl.Series(changed)).select(columns).cast(departed.schema)]  # type: ignore[arg-type]
            )
        else:
            departed = None
        gone = blocking.no_longer_blocked(
            features,
            settings.blocking_rules,
            settings.block_limits(),
            changed,
            kept["l_idx"].to_numpy(),
            kept["r_idx"].to_numpy(),
        )
        if gone.any():
            kept = kept.filter(pl.Series(~gone))
    new = blocking.candidate_pairs(
        features,
        settings.blocking_rules,
        settings.block_limits(),
        changed if previous is not None else None,
        settings.blocking_memory_limit,
        left_out,
        departed,
    )
    if left_out and len(kept):  # blocks back under the limit: only their pairs not yet compared
        new = new.join(kept.select("l_idx", "r_idx"), on=["l_idx", "r_idx"], how="anti")
    fresh = _compared(features, new, settings)
    log.info(
        "candidate pairs: %d compared now, %d reused (%d changed records)",
        len(fresh),
        len(kept),
        int(changed.sum()),
    )
    if not len(kept):
        return fresh.sort("l_idx", "r_idx"), changed, same_records
    # The saved pairs' frame is already gone (see _reusable_pairs).
    return _in_pair_order(kept.select(fresh.columns).cast(fresh.schema), fresh), changed, same_records  # type: ignore[arg-type]


def _in_pair_order(kept: pl.DataFrame, fresh: pl.DataFrame) -> pl.DataFrame:
    """The reused and the fresh pairs as one frame sorted by (l_idx, r_idx).

    The reused pairs come back in the order they were saved (sorted, renumbering keeps the order):
    the few fresh ones are merged into them instead of sorting every pair again (at 1M people
    1.4 s instead of 2.6 s for 26M pairs). Reused pairs found out of order are sorted with the
    fresh ones."""
    pair = (pl.col("l_idx").cast(pl.Int64) * 2**32 + pl.col("r_idx")).alias("_pair")
    kept = kept.with_columns(pair)
    if not kept.get_column("_pair").is_sorted():
        return pl.concat([kept.drop("_pair"), fresh], rechunk=False).sort("l_idx", "r_idx")
    return kept.merge_sorted(fresh.with_columns(pair).sort("_pair"), key="_pair").drop("_pair")


def _u_gammas(
    features: pl.DataFrame, settings: IdentitySettings, previous: SavedGraph | None, changed: np.ndarray
) -> tuple[pl.DataFrame, int]:
    """Comparison vectors of the u sample (`model.u_sample`): slot, l_record_id, r_record_id,
    gamma_*, and how many were compared now. Slots that still pair the same two unchanged records
    keep their saved vectors; only the others (about twice the changed records' share) are
    compared now."""
    ids = features.get_column("record_id")
    sample = model.u_sample(ids, settings.model)
    keyed = sample.with_columns(
        ids.gather(sample["l_idx"]).alias("l_record_id"), ids.gather(sample["r_idx"]).alias("r_record_id")
    )
    kept = pl.DataFrame()
    if previous is not None and previous.u_sample is not None:
        unchanged = pl.Series(~changed[sample["l_idx"].to_numpy()] & ~changed[sample["r_idx"].to_numpy()])
        # Joined on the slot (unique on both sides), then the pair checked: half the CPU of a
        # join on the two record ids' strings.
        kept = (
            keyed.filter(unchanged)
            .join(previous.u_sample.lazy().collect(), on="slot", how="inner", suffix="_saved")
            .filter(
                (pl.col("l_record_id") == pl.col("l_record_id_saved"))
                & (pl.col("r_record_id") == pl.col("r_record_id_saved"))
            )
            .drop("l_record_id_saved", "r_record_id_saved")
        )
        keyed = keyed.join(kept.select("slot"), on="slot", how="anti")
    fresh = _compared(features, keyed, settings)
    log.info("u sample: %d pairs compared now, %d reused", len(fresh), len(kept))
    compared = len(fresh)
    if len(kept):
        fresh = pl.concat([kept.select(fresh.columns).cast(fresh.schema), fresh])  # type: ignore[arg-type]
    return fresh.sort("slot").select("slot", "l_record_id", "r_record_id", pl.col("^gamma_.*$")), compared


@dataclass
class Decisions:
    """The decided pairs that matter afterwards (links, conflicts, manual pairs) and the counts."""

    pairs: pl.DataFrame  # accepted or manual, with weights and link rule
    # l_idx, r_idx, manual of the pairs the chain guard keeps apart: at 1M these are millions
    # (relatives blocked together), held without their weight columns (715 MB of them at 1M)
    chain_conflicts: pl.DataFrame
    candidates: int  # every decided pair: blocked and manual
    conflicting: int  # of which a conflict guard kept apart


def _decide(
    features: pl.DataFrame,
    blocked: pl.DataFrame,
    manual: pl.DataFrame,
    fs_model: model.FellegiSunterModel,
    settings: IdentitySettings,
) -> Decisions:
    """Score and decide the blocked pairs `pairs_per_chunk` at a time, keeping only the pairs
    that clustering, evidence and health need (the weights of millions of pairs that neither
    link nor conflict are counted, then dropped); manual pairs override every rule."""
    shared = hygiene.shared_values(features, settings.deterministic_keys, settings.max_people_to_link_alone)
    frequencies = model.term_frequency_table(features, settings.comparisons)

    def decided(pairs: pl.DataFrame, all_pairs: bool = True) -> pl.DataFrame:
        """The pairs scored and decided; without `all_pairs`, only those that may link or
        conflict (`linking.may_link_or_conflict_expr`): the others would be dropped anyway."""
        scored = model.score(
            features, pairs, fs_model, settings.comparisons, settings.model.min_probability, frequencies
        )
        if not all_pairs:
            scored = scored.filter(linking.may_link_or_conflict_expr(settings))
        return linking.decide(scored, shared, settings)

    forced = linking.apply_overrides(
        decided(_compared(features, manual.select("l_idx", "r_idx"), settings)), manual
    )
    chain_columns = ["l_idx", "r_idx", "manual"]

    def chunk_decisions(chunk: pl.DataFrame) -> Decisions:
        """The chunk's links and chain conflicts (unsorted), and its counts."""
        if len(manual):  # a manual pair is decided by its manual row alone
            chunk = chunk.join(manual.select("l_idx", "r_idx"), on=["l_idx", "r_idx"], how="anti")
        part = decided(chunk, all_pairs=False)
        part = part.with_columns(pl.lit(None, dtype=forced.schema["manual"]).alias("manual"))
        return Decisions(
            part.filter(pl.col("accepted")),
            part.filter(pl.col("chain_conflict")).select(chain_columns),
            len(chunk),
            int(part["conflict"].sum()),
        )

    parts = _in_chunks(blocked, settings, chunk_decisions)
    pairs = pl.concat([*(part.pairs for part in parts), forced.select(parts[0].pairs.columns)])
    chains = [
        forced.filter(pl.col("chain_conflict")).select(chain_columns),
        *(part.chain_conflicts for part in parts),
    ]
    return Decisions(
        pairs.sort("l_idx", "r_idx"),
        pl.concat(chains).sort("l_idx", "r_idx"),
        len(forced) + sum(part.candidates for part in parts),
        int(forced["conflict"].sum()) + sum(part.conflicting for part in parts),
    )


def _profile_hashes(profile: pl.DataFrame, settings: IdentitySettings) -> pl.DataFrame:
    """record_id and a hash of the record's profile row (lineage columns `_*` aside) and of the
    survivorship rules (the configured ones and the built-in defaults, so that a release changing
    a default rebuilds the golden records it chose): what decides whether its customer's golden
    record must be rebuilt."""
    shaping = settings.survivorship.model_dump_json() + json.dumps(golden.DEFAULT_RULES, sort_keys=True)
    rules = hashlib.sha256(shaping.encode()).hexdigest()
    columns = [c for c in profile.columns if not c.startswith("_")]
    return profile.select(
        "record_id",
        pl.struct(columns).hash(seed=int(rules[:8], 16)).reinterpret(signed=True).alias("profile_hash"),
    )


def _golden(
    profile: pl.DataFrame,
    hashes: pl.DataFrame,
    assignments: pl.DataFrame,
    settings: IdentitySettings,
    previous: SavedGraph | None,
) -> pl.DataFrame:
    """Golden records; with a saved graph only those of customers a record joined, left or
    changed in are rebuilt (the golden record is most of the fixed cost of a daily run)."""
    if previous is None or previous.golden is None or "profile_hash" not in previous.features.columns:
        return golden.golden_records(profile, assignments, settings.survivorship)
    before = previous.assignments.join(
        previous.features.select("record_id", "profile_hash"), on="record_id", how="left"
    )
    now = assignments.join(hashes, on="record_id", how="left")
    both = now.join(before, on="record_id", how="full", suffix="_before", coalesce=True)
    moved = both.filter(
        pl.col("customer_id").ne_missing(pl.col("customer_id_before"))
        | pl.col("profile_hash").ne_missing(pl.col("profile_hash_before"))
    )
    affected = pl.concat([moved["customer_id"], moved["customer_id_before"]]).drop_nulls().unique()
    log.info("golden records: %d customers changed", len(affected))
    return golden.refresh_golden_records(
        profile, assignments, settings.survivorship, previous.golden.lazy(), affected
    )


def pair_conflicts(
    features: pl.DataFrame, settings: IdentitySettings, fs_model: model.FellegiSunterModel
) -> clustering.PairConflicts:
    """Conflicts of arbitrary record pairs (the clustering checks members that were never blocked)."""

    guarded = settings.guard_comparisons()
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
    if profile is None:
        profile = records  # golden choices end on record_id: they do not depend on row order
    # Only the identity columns are sorted: gathering a wide silver frame (35 columns) in
    # record_id order was 1.3 of the sort's 1.8 s at 1M people.
    records = records.select([c for c in records.columns if c in CANONICAL_COLUMNS]).sort("record_id")
    incremental = _can_continue(previous, settings, full)
    built, built_now = _features(
        records, settings, default_region, resolved_at.date(), previous if incremental else None
    )
    departed = None
    if previous is not None:  # the saved features are taken over: only their keys are needed now
        departed = _departed(previous.features, built, settings) if incremental else None
        keys = [c for c in ("record_id", *SAVED_ONLY_COLUMNS) if c in previous.features.columns]
        previous = replace(previous, features=previous.features.select(keys))
    features, audit = hygiene.apply_hygiene(built.drop("input_hash"), settings)
    features = features.with_columns(_feature_hash(features))
    blocked, changed, same_records = _blocked_pairs(
        features, settings, previous if incremental else None, departed, built
    )
    u_gammas, u_compared = _u_gammas(features, settings, previous if incremental else None, changed)
    # The model is a function of the data, trained on every run as a full rebuild trains it, so
    # a daily run and a full rebuild of the same records decide every pair alike; only when the
    # records are exactly the saved graph's is the saved model (trained on them) taken as it is.
    if incremental and previous is not None and previous.model is not None and same_records:
        fs_model = previous.model
    else:
        fs_model = model.train(features, blocked, settings, u_gammas.select(pl.col("^gamma_.*$")))
    manual = manual_pairs(overrides, records["record_id"])
    deciding = households.applicable_settings(features, settings)
    decisions = _decide(features, blocked, manual, fs_model, deciding)
    decided = decisions.pairs
    edges = decided.filter(pl.col("accepted"))
    conflicts = linking.effective_conflicts(decided, decisions.chain_conflicts, len(records))
    result = clustering.cluster(
        len(records),
        edges,
        conflicts,
        pair_conflicts(features, deciding, fs_model),
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
    graph_health = health.graph_health(
        links, decided, decisions.candidates, decisions.conflicting, refused, audit, run_id, resolved_at
    )
    # Frees the decided pairs and the features before the golden records (the peak at 1M).
    saved_features = pl.concat(
        [
            features.select(pl.int_range(pl.len(), dtype=pl.Int32).alias("idx"), "feature_hash"),
            built,
        ],
        how="horizontal",
    )
    links_count, refused_count, records_count = len(edges), len(result.refused), len(records)
    del decided, decisions, edges, conflicts, best, result, features, built, records
    profile = hygiene.without_junk_values(profile, settings)
    hashes = _profile_hashes(profile, settings)
    golden_customers = _golden(profile, hashes, assignments, settings, previous if incremental else None)
    saved = SavedGraph(
        features=saved_features.join(hashes, on="record_id", how="left", maintain_order="left"),
        pairs=blocked.select("l_idx", "r_idx", *[c for c in blocked.columns if c.startswith("gamma_")]),
        model=fs_model,
        assignments=assignments,
        golden=golden_customers,
        u_sample=u_gammas,
    )
    stats = {
        "records": records_count,
        "customers": int(assignments["customer_id"].n_unique()),
        "mode": "incremental" if incremental else "full",
        "changed_records": int(changed.sum()),
        "features_built": built_now,
        "u_pairs_compared": u_compared,
        "candidate_pairs": len(blocked),
        "links": links_count,
        "refused_links": refused_count,
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
