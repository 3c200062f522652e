"""Fellegi-Sunter: per-level m and u probabilities estimated without labels, and match weights.

- u (how often a level occurs between two *different* people) comes from random record pairs,
  which are almost all non-matches.
- m (how often it occurs between two records of the *same* person) comes from expectation
  maximisation with u held fixed, in training sessions per blocking rule that leave out the
  comparisons the rule blocks on (the approach of Splink); the share of matches among candidate
  pairs from EM over all of them with m and u fixed.
- The prior (share of matches among all pairs) from the pairs a deterministic key links, over
  their declared recall (Splink's estimate from deterministic rules), or from EM.
- The weight of a pair is log2 of the prior odds plus, per comparison, log2(m/u) of its level;
  missing values add nothing. Exact agreement on a comparison marked `term_frequency` uses the
  value's own frequency for u, so agreeing on a rare name counts more than on "Wang Fang".
Everything is numpy over whole gamma matrices; the model is saved as a small table.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import polars as pl

from identity_resolution.comparisons import NULL_LEVEL, comparison_vectors, gamma_column
from identity_resolution.settings import Comparison, IdentitySettings, ModelSettings

log = logging.getLogger(__name__)

# Points per record on the ring that draws the u sample (see `u_sample`): with one, a record's
# chance of being drawn varies with the gap before its point (as much as the chance itself);
# with k points it varies by about 1/sqrt(k).
RING_POINTS_PER_RECORD = 8

MODEL_SCHEMA = {
    "comparison": pl.String,
    "level": pl.Int8,
    "label": pl.String,
    "m": pl.Float64,
    "u": pl.Float64,
    "prior": pl.Float64,
    "fingerprint": pl.String,
}


@dataclass
class FellegiSunterModel:
    """m and u per comparison level (arrays indexed by gamma code) and the prior match share."""

    m: dict[str, np.ndarray]
    u: dict[str, np.ndarray]
    prior: float
    fingerprint: str

    def to_frame(self, comparisons: list[Comparison]) -> pl.DataFrame:
        rows = [
            {
                "comparison": c.name,
                "level": level,
                "label": label,
                "m": float(self.m[c.name][level]),
                "u": float(self.u[c.name][level]),
                "prior": self.prior,
                "fingerprint": self.fingerprint,
            }
            for c in comparisons
            for level, label in enumerate(c.level_labels())
        ]
        return pl.DataFrame(rows, schema=MODEL_SCHEMA)

    @classmethod
    def from_frame(cls, frame: pl.DataFrame) -> FellegiSunterModel:
        m, u = {}, {}
        for (name,), part in frame.sort("level").group_by(["comparison"], maintain_order=True):
            m[str(name)] = part["m"].to_numpy()
            u[str(name)] = part["u"].to_numpy()
        return cls(m=m, u=u, prior=float(frame["prior"][0]), fingerprint=str(frame["fingerprint"][0]))

    def matches(self, comparisons: list[Comparison]) -> bool:
        """True when the saved model has exactly the levels the settings declare."""
        return all(c.name in self.m and len(self.m[c.name]) == len(c.level_labels()) for c in comparisons)


def _level_shares(codes: np.ndarray, levels: int, floor: float) -> np.ndarray:
    present = codes[codes != NULL_LEVEL]
    counts = np.bincount(present.astype(np.int64), minlength=levels).astype(np.float64)
    shares = (counts + floor) / (counts.sum() + floor * levels)
    return np.clip(shares, floor, 1.0)


def u_sample_size(records: int, settings: ModelSettings) -> int:
    """How many random pairs estimate u for `records` records: proportionate to the records,
    within [u_sample_min_pairs, u_sample_pairs]. A function of the record count alone, so a
    daily run and a full rebuild of the same records draw the same sample; a day's new records
    raise it by a few slots (the first slots' random points do not depend on the size)."""
    proportionate = int(settings.u_sample_pairs_per_record * records)
    return max(
        min(proportionate, settings.u_sample_pairs), min(settings.u_sample_min_pairs, settings.u_sample_pairs)
    )


def u_sample(record_ids: pl.Series, settings: ModelSettings) -> pl.DataFrame:
    """The random record pairs behind u: `slot`, `l_idx`, `r_idx` (rows of `record_ids`, distinct).

    Consistent hashing keeps the sample stable from day to day: every record holds
    RING_POINTS_PER_RECORD points on a ring of 64-bit hashes of its record_id, each slot two fixed
    random points, and a slot pairs the records owning the ring points that follow them. A new or
    departed record only moves the slots that land next to its points (about twice its share of
    the sample), so a daily run compares only those again and still draws exactly the sample a
    full rebuild of the same records draws (with no more possible pairs than the sample's size,
    the sample is every pair). Which record a point picks does not depend on its
    values, so the levels' frequencies stay those of random pairs (several points per record keep
    the records' chances close to equal).
    """
    n = len(record_ids)
    size = u_sample_size(n, settings)
    if n * (n - 1) // 2 <= size:  # few records: every pair, once
        left, right = np.triu_indices(n, 1)
        return pl.DataFrame(
            {"slot": np.arange(len(left)), "l_idx": left, "r_idx": right},
            schema={"slot": pl.Int32, "l_idx": pl.Int32, "r_idx": pl.Int32},
        )
    ring = np.concatenate(
        [record_ids.hash(seed=settings.seed + k).to_numpy() for k in range(RING_POINTS_PER_RECORD)]
    )
    owner = np.tile(np.arange(n, dtype=np.int32), RING_POINTS_PER_RECORD)
    # Polars' sort runs on every core (numpy's argsort on one: 2.2 s of 14M points at 1M people);
    # ties, if two points ever hash alike, stay in point order as a stable sort keeps them.
    order = (
        pl.DataFrame({"point": ring, "at": np.arange(len(ring), dtype=np.int64)})
        .sort("point", "at")
        .get_column("at")
        .to_numpy()
    )
    ring, owner = ring[order], owner[order]
    points = np.random.default_rng(settings.seed).integers(
        0, np.iinfo(np.uint64).max, size=(size, 2), dtype=np.uint64, endpoint=True
    )
    flat = points.ravel()
    by_point = np.argsort(flat)  # sorted needles: searchsorted walks the ring once, not at random
    found = np.empty(len(flat), dtype=np.int64)
    found[by_point] = np.searchsorted(ring, flat[by_point])
    rows = owner[found % len(ring)].reshape(-1, 2)
    distinct = rows[:, 0] != rows[:, 1]
    return pl.DataFrame(
        {
            "slot": np.flatnonzero(distinct).astype(np.int32),
            "l_idx": rows[distinct, 0],
            "r_idx": rows[distinct, 1],
        }
    )


def u_from_gammas(
    gammas: pl.DataFrame, comparisons: list[Comparison], settings: ModelSettings
) -> dict[str, np.ndarray]:
    """Level frequencies (u) among the compared random pairs `gammas` (see `u_sample`)."""
    floor = settings.min_probability
    return {
        c.name: _level_shares(gammas[gamma_column(c)].to_numpy(), len(c.level_labels()), floor)
        for c in comparisons
    }


def estimate_u(
    features: pl.DataFrame, comparisons: list[Comparison], settings: ModelSettings
) -> dict[str, np.ndarray]:
    """Level frequencies among random pairs of distinct records (`u_sample`), all compared now."""
    sample = u_sample(features.get_column("record_id"), settings)
    gammas = comparison_vectors(features, sample["l_idx"].to_numpy(), sample["r_idx"].to_numpy(), comparisons)
    return u_from_gammas(gammas, comparisons, settings)


def _gamma_matrix(gammas: pl.DataFrame, comparisons: list[Comparison]) -> np.ndarray:
    return (
        np.column_stack([gammas[gamma_column(c)].to_numpy() for c in comparisons])
        if comparisons
        else np.empty((len(gammas), 0))
    )


def _log_likelihoods(matrix: np.ndarray, table: list[np.ndarray]) -> np.ndarray:
    total = np.zeros(matrix.shape[0], dtype=np.float64)
    for j, probabilities in enumerate(table):
        codes = matrix[:, j]
        logp = np.log(np.append(probabilities, 1.0))  # index -1 (missing) -> log(1) = 0
        total += logp[codes]
    return total


def _em(
    matrix: np.ndarray,
    log_u: np.ndarray,
    levels: list[int],
    start: list[np.ndarray],
    prior: float,
    settings: ModelSettings,
    update_m: bool = True,
) -> tuple[list[np.ndarray], float]:
    """Expectation maximisation of m (per column of `matrix`) and the match share, u fixed."""
    floor = settings.min_probability
    m_table = list(start)
    for iteration in range(settings.em_max_iterations):
        log_m = _log_likelihoods(matrix, m_table)
        log_odds = np.log(prior) - np.log1p(-prior) + log_m - log_u
        posterior = 1.0 / (1.0 + np.exp(-np.clip(log_odds, -700, 700)))
        new_table = m_table
        if update_m:
            new_table = []
            for j, count in enumerate(levels):
                codes = matrix[:, j]
                present = codes != NULL_LEVEL
                weights = np.bincount(
                    codes[present].astype(np.int64), weights=posterior[present], minlength=count
                )
                total = weights.sum()
                shares = (weights + floor) / (total + floor * count) if total > 0 else m_table[j]
                new_table.append(np.clip(shares, floor, 1.0))
        new_prior = float(np.clip(posterior.mean(), floor, 1 - floor))
        change = max(
            [abs(new_prior - prior)]
            + [float(np.abs(a - b).max()) for a, b in zip(new_table, m_table, strict=True)]
        )
        m_table, prior = new_table, new_prior
        if change < settings.em_tolerance:
            log.debug("EM converged after %d iterations", iteration + 1)
            break
    return m_table, prior


def _starting_m(comparison: Comparison) -> np.ndarray:
    """Matches mostly agree exactly, then fall off level by level."""
    levels = len(comparison.level_labels())
    start = np.array([0.5**k for k in range(levels)], dtype=np.float64)
    start[-1] = 0.05
    return start / start.sum()


# splitmix64's multipliers: mixing two record hashes into one well-spread pair hash.
_MIX_A, _MIX_B, _MIX_C = (
    np.uint64(0x9E3779B97F4A7C15),
    np.uint64(0xBF58476D1CE4E5B9),
    np.uint64(0x94D049BB133111EB),
)
# Extra share of pairs taken under the sample's hash threshold, so that (but for a chance of about
# one in a million) at least `size` pairs fall under it and the sample is exactly the lowest `size`.
_THRESHOLD_MARGIN_SIGMAS = 5.0


def pair_hashes(record_hashes: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each pair (left[i], right[i]), from its two records' hashes."""
    with np.errstate(over="ignore"):
        mixed = record_hashes[left] * _MIX_A + record_hashes[right]
        mixed ^= mixed >> np.uint64(30)
        mixed *= _MIX_B
        mixed ^= mixed >> np.uint64(27)
        mixed *= _MIX_C
        mixed ^= mixed >> np.uint64(31)
    return mixed


def em_sample(
    record_ids: pl.Series,
    pairs: pl.DataFrame,
    size: int,
    seed: int,
    *,
    chunk: int = 2_000_000,
    margin_sigmas: float = _THRESHOLD_MARGIN_SIGMAS,
) -> np.ndarray:
    """Rows of `pairs` (l_idx, r_idx: rows of `record_ids`) that EM trains on: the `size` pairs
    with the lowest hash of their two record ids, in their order.

    A function of which pairs there are, not of where they sit: a day's new records add a few
    candidate pairs, which displace about as few from the sample, so the model trained on it
    moves with the data, not with a redrawn sample. (A sample drawn by row position was a new
    sample every day: at 1M people, weights moved ~0.1 bit overnight and ~600 old records changed
    customer with no new record near them.) A daily run and a full rebuild of the same records
    still draw the same sample. Hashes are computed `chunk` pairs at a time; only the pairs under
    a threshold slightly above the sample's expected cut are kept for the final selection.
    """
    n = len(pairs)
    if n <= size:
        return np.arange(n)
    record_hashes = record_ids.hash(seed=seed).to_numpy()
    share = size / n
    share = min(1.0, max(0.0, share + margin_sigmas * np.sqrt(share / n)))
    threshold = np.uint64(min(int(share * 2.0**64), 2**64 - 1))
    left, right = pairs.get_column("l_idx").to_numpy(), pairs.get_column("r_idx").to_numpy()
    rows, hashes = [], []
    for start in range(0, n, chunk):
        h = pair_hashes(record_hashes, left[start : start + chunk], right[start : start + chunk])
        under = np.flatnonzero(h <= threshold)
        rows.append(under + start)
        hashes.append(h[under])
    candidates, candidate_hashes = np.concatenate(rows), np.concatenate(hashes)
    if len(candidates) < size:  # the one-in-a-million shortfall: rank every pair
        log.debug("EM sample: %d pairs under the threshold for %d; ranking all %d", len(candidates), size, n)
        candidates = np.arange(n)
        candidate_hashes = pair_hashes(record_hashes, left, right)
    lowest = np.argpartition(candidate_hashes, size - 1)[:size]
    return np.sort(candidates[lowest])


def _rule_agrees(features: pl.DataFrame, pairs: pl.DataFrame, rule: list[str]) -> np.ndarray:
    """Which pairs are equal (and present) on every column of a blocking rule."""
    left, right = pairs["l_idx"], pairs["r_idx"]
    agrees = np.ones(len(pairs), dtype=bool)
    for column in rule:
        values = features.get_column(column)
        agrees &= (values.gather(left) == values.gather(right)).fill_null(False).to_numpy()
    return agrees


def estimate_m(
    features: pl.DataFrame,
    pairs: pl.DataFrame,
    comparisons: list[Comparison],
    u: dict[str, np.ndarray],
    settings: ModelSettings,
) -> tuple[dict[str, np.ndarray], float]:
    """m per comparison by EM in training sessions, Splink style, and the match share.

    Each session takes the candidate pairs that agree on one training rule (`em_blocking_rules`)
    and leaves out the comparisons on that rule's columns (being blocked on them, their pairs
    agree there by construction, which would teach EM that agreement is universal); a
    comparison's m is the mean over the sessions it took part in (over all candidate pairs for
    one that none covers). The match share among all candidate pairs is then estimated with m
    and u fixed.
    """
    if len(pairs) > settings.em_sample_pairs:
        pairs = pairs[
            em_sample(features.get_column("record_id"), pairs, settings.em_sample_pairs, settings.seed)
        ]
    matrix = _gamma_matrix(pairs, comparisons)
    levels = [len(c.level_labels()) for c in comparisons]
    u_table = [u[c.name] for c in comparisons]
    start = [_starting_m(c) for c in comparisons]
    prior = settings.initial_match_share
    if not len(matrix):
        return {c.name: m for c, m in zip(comparisons, start, strict=True)}, prior
    estimates: list[list[np.ndarray]] = [[] for _ in comparisons]
    for rule in settings.em_blocking_rules:
        rows = _rule_agrees(features, pairs, rule)
        active = [j for j, c in enumerate(comparisons) if c.column not in rule]
        if rows.sum() < settings.em_min_session_pairs or not active:
            log.info("EM session on %s skipped: %d pairs", rule, int(rows.sum()))
            continue
        session = matrix[np.ix_(rows, active)]
        log_u = _log_likelihoods(session, [u_table[j] for j in active])
        m_session, share = _em(
            session, log_u, [levels[j] for j in active], [start[j] for j in active], prior, settings
        )
        log.info("EM session on %s: %d pairs, match share %.3f", rule, int(rows.sum()), share)
        for j, m in zip(active, m_session, strict=True):
            estimates[j].append(m)
    log_u_all = _log_likelihoods(matrix, u_table)
    uncovered = [j for j, found in enumerate(estimates) if not found]
    if uncovered:
        m_all, _ = _em(matrix, log_u_all, levels, start, prior, settings)
        for j in uncovered:
            estimates[j].append(m_all[j])
    m_table = [np.mean(found, axis=0) for found in estimates]
    _, prior = _em(matrix, log_u_all, levels, m_table, prior, settings, update_m=False)
    return {c.name: m for c, m in zip(comparisons, m_table, strict=True)}, prior


def train(
    features: pl.DataFrame,
    gammas: pl.DataFrame,
    settings: IdentitySettings,
    u_gammas: pl.DataFrame | None = None,
) -> FellegiSunterModel:
    """m, u and the prior from the candidate pairs' `gammas`; `u_gammas`: the comparison vectors
    of `u_sample` when already at hand (a daily run keeps most of them), else compared here."""
    u = (
        u_from_gammas(u_gammas, settings.comparisons, settings.model)
        if u_gammas is not None
        else estimate_u(features, settings.comparisons, settings.model)
    )
    m, blocked_share = estimate_m(features, gammas, settings.comparisons, u, settings.model)
    prior = match_prior(len(features), gammas, blocked_share, settings)
    for c in settings.comparisons:
        log.info(
            "model %s: %s",
            c.name,
            ", ".join(
                f"{label} {np.log2(m[c.name][k] / u[c.name][k]):+.1f}"
                for k, label in enumerate(c.level_labels())
            ),
        )
    log.info(
        "model: EM's match share %.4f among candidate pairs; prior (%s) %.2e among all pairs",
        blocked_share,
        settings.model.prior,
        prior,
    )
    return FellegiSunterModel(m=m, u=u, prior=prior, fingerprint=settings.fingerprint())


def deterministic_pairs(gammas: pl.DataFrame, settings: IdentitySettings) -> int:
    """Candidate pairs equal on at least one deterministic key (exact level of its comparison)."""
    by_column = {c.column: c for c in settings.comparisons}
    keys = [gamma_column(by_column[key]) for key in settings.deterministic_keys]
    if not keys or not len(gammas):
        return 0
    return int(gammas.select(pl.any_horizontal([pl.col(k) == 0 for k in keys]).sum()).item())


def match_prior(
    records: int, gammas: pl.DataFrame, blocked_share: float, settings: IdentitySettings
) -> float:
    """The share of matches among all pairs of `records` records, which scoring starts from.

    Scoring uses the share among *all* pairs (expected matches over every possible pair), as
    Splink does, so that being blocked together is not itself counted as evidence. With
    `model.prior: deterministic` the expected matches are the candidate pairs equal on a
    deterministic key over `deterministic_recall` (Splink's estimate from deterministic rules):
    a number of pairs per record, so the prior falls as 1/records, and evidence that a namesake
    born on the same day also has (name + birthday) counts for less in a larger population. EM's
    share among candidate pairs (`prior: em`, and the fallback when no pair shares a key) counts
    the blocked-on agreement as evidence again and over-states the prior as records grow; it
    still caps the deterministic estimate, which over-states it on a handful of records (three
    records sharing a phone: the key's pairs are all the pairs there are).
    """
    all_pairs = max(records * (records - 1) / 2, 1.0)
    floor = settings.model.min_probability
    expected = blocked_share * len(gammas)
    if settings.model.prior == "deterministic":
        found = deterministic_pairs(gammas, settings)
        if found:
            expected = min(found / settings.model.deterministic_recall, expected)
        else:
            log.info("no candidate pair shares a deterministic key: the prior is EM's")
    return float(np.clip(expected / all_pairs, floor**2, 1 - floor))


def term_frequencies(features: pl.DataFrame, comparison: Comparison) -> pl.Series:
    """Each row's share of records (with a value) carrying the same value; null when missing."""
    column = pl.col(comparison.column)
    share = (pl.len().over(column) / column.count()).cast(pl.Float64)
    return features.select(pl.when(column.is_not_null()).then(share).alias("tf"))["tf"]


def term_frequency_table(features: pl.DataFrame, comparisons: list[Comparison]) -> dict[str, np.ndarray]:
    """Per comparison marked `term_frequency`: each record's term frequency (NaN when missing),
    computed once for scoring many chunks of pairs."""
    return {c.name: term_frequencies(features, c).to_numpy() for c in comparisons if c.term_frequency}


def partial_weights(
    features: pl.DataFrame,
    pairs: pl.DataFrame,
    model: FellegiSunterModel,
    comparisons: list[Comparison],
    min_probability: float,
    frequencies: dict[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """log2(m/u) per comparison and pair (0 when missing), term-frequency adjusted where declared
    (`frequencies`: see `term_frequency_table`; computed here when not given)."""
    frequencies = frequencies if frequencies is not None else term_frequency_table(features, comparisons)
    out = {}
    left = pairs["l_idx"].to_numpy()
    for c in comparisons:
        codes = pairs[gamma_column(c)].to_numpy()
        table = np.append(np.log2(model.m[c.name] / model.u[c.name]), 0.0)
        weights = table[codes]
        if c.term_frequency:
            tf = frequencies[c.name][left]
            exact = codes == 0
            tf_u = np.maximum(np.nan_to_num(tf[exact], nan=1.0), min_probability)
            weights[exact] = np.log2(model.m[c.name][0] / tf_u)
        out[c.name] = weights
    return out


def score(
    features: pl.DataFrame,
    pairs: pl.DataFrame,
    model: FellegiSunterModel,
    comparisons: list[Comparison],
    min_probability: float,
    frequencies: dict[str, np.ndarray] | None = None,
) -> pl.DataFrame:
    """`pairs` plus match_weight (log2 odds), match_probability and one weight column per comparison."""
    partial = partial_weights(features, pairs, model, comparisons, min_probability, frequencies)
    prior_weight = np.log2(model.prior / (1 - model.prior))
    # Added in place, comparison after comparison (the order np.sum(axis=0) adds them in):
    # stacking the weights into one array first was most of the scoring's time.
    summed = np.zeros(len(pairs))
    for weights in partial.values():
        summed += weights
    total = prior_weight + summed
    probability = 1.0 / (1.0 + np.exp2(-np.clip(total, -1000, 1000)))
    return pairs.with_columns(
        pl.Series("match_weight", total),
        pl.Series("match_probability", probability),
        *[pl.Series(f"weight_{name}", values) for name, values in partial.items()],
    )
