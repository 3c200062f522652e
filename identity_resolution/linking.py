"""Which candidate pairs become links: deterministic keys, the match threshold and conflict guards.

A pair links when it shares a deterministic key exactly (the value survived the blocklist and the
cardinality limits) or its match probability reaches the threshold, and in both cases only if no
conflict guard fires. The guard is graded: each who-you-are comparison (name, date of birth,
gender, national id) scores its level (+ for agreement, 0 for a typo-sized difference, - for a
contradiction), and a pair with a contradiction whose scores add up below zero is two people (a
mother and her son sharing a phone: another given name *and* another birthday), whatever else
agrees. A typo'd duplicate (similar name, birthday a swapped digit apart) never contradicts, and
a replaced given name next to the same birthday is left to the Fellegi-Sunter weights.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from identity_resolution.comparisons import gamma_column
from identity_resolution.settings import IdentitySettings

PRIORITY_MANUAL, PRIORITY_DETERMINISTIC, PRIORITY_PROBABILISTIC = 0, 1, 2


def identity_score_expr(settings: IdentitySettings) -> pl.Expr:
    """The pair's who-you-are score: the declared identity score of each guarded comparison's
    level, added up (missing values score 0), plus the score of every identity vouch whose
    comparisons all sit at their named level or a better one (`guards.identity_vouches`)."""
    scores = [
        _score_of_level(gamma_column(c), c.identity_scores)
        for c in settings.comparisons
        if c.identity_scores is not None
    ]
    by_name = {c.name: c for c in settings.comparisons}
    for levels, score in settings.vouch_levels():
        agree = pl.all_horizontal(
            pl.col(gamma_column(by_name[name])).is_between(0, weakest) for name, weakest in levels.items()
        )
        scores.append(pl.when(agree).then(score).otherwise(0.0))
    return pl.sum_horizontal(scores) if scores else pl.lit(0.0)


def _score_of_level(gamma: str, scores: list[float]) -> pl.Expr:
    """The score of the pair's level of one comparison, 0 for a missing value (or a level
    without a score). A chain of comparisons of the small level codes: a third of the time of a
    `replace_strict` mapping on the 26M candidate pairs of 1M people."""
    chosen: Any = pl
    for level, score in enumerate(scores):
        chosen = chosen.when(pl.col(gamma) == level).then(pl.lit(score, dtype=pl.Float64))
    return pl.lit(0.0) if chosen is pl else chosen.otherwise(pl.lit(0.0))


def _contradictions(settings: IdentitySettings) -> list[pl.Expr]:
    """Per guarded comparison: does the pair sit at a level with a negative identity score?"""
    return [
        pl.col(gamma_column(c)).is_in([k for k, score in enumerate(c.identity_scores) if score < 0])
        for c in settings.comparisons
        if c.identity_scores is not None and any(score < 0 for score in c.identity_scores)
    ]


def conflict_expr(settings: IdentitySettings, chain: bool = False) -> pl.Expr:
    """True where the pair is two people: a guarded comparison contradicts (a different given
    name, a birthday more than a typo apart, another national id) and the pair's identity score
    (needs the `identity_score` column) stays below `guards.min_identity_score` (`chain`: below
    `guards.chain_min_identity_score`, the bar for two records that are not linked to each other
    but would end up in one customer through others). Optionally a single contradiction gives
    way to a match weight of `guards.conflict_override_weight`."""
    contradictions = _contradictions(settings)
    if not contradictions:
        return pl.lit(False)
    bar = settings.guards.chain_min_identity_score if chain else settings.guards.min_identity_score
    conflict = pl.any_horizontal(contradictions) & (pl.col("identity_score") < bar)
    if settings.guards.conflict_override_weight is not None:
        single = pl.sum_horizontal([c.cast(pl.Int8) for c in contradictions]) == 1
        conflict = conflict & ~(single & (pl.col("match_weight") >= settings.guards.conflict_override_weight))
    return conflict


def deterministic_key_expr(settings: IdentitySettings) -> pl.Expr:
    """The first deterministic key (in configured order) on which the pair agrees exactly, on a
    value that is not shared by several people (`shared_<key>` columns, see hygiene) or that the
    pair's personal evidence vouches for (identity score of `shared_value_min_identity_score`)."""
    by_column = {c.column: c for c in settings.comparisons}
    vouched = pl.col("identity_score") >= settings.guards.shared_value_min_identity_score
    expr: pl.Expr = pl.lit(None, dtype=pl.String)
    for key in reversed(settings.deterministic_keys):
        agrees = (pl.col(gamma_column(by_column[key])) == 0) & (~pl.col(f"shared_{key}") | vouched)
        expr = pl.when(agrees).then(pl.lit(key)).otherwise(expr)
    return expr


def may_link_or_conflict_expr(settings: IdentitySettings) -> pl.Expr:
    """True for every scored pair that `decide` may accept or find in conflict: its probability
    reaches the threshold, it agrees exactly on a deterministic key, or a guarded comparison
    contradicts. Every other pair is decided "no link, no conflict" whatever else it holds, so
    only these need deciding: about a quarter of the candidate pairs at 1M people."""
    by_column = {c.column: c for c in settings.comparisons}
    return pl.any_horizontal(
        pl.col("match_probability") >= settings.match_threshold,
        *[pl.col(gamma_column(by_column[key])) == 0 for key in settings.deterministic_keys],
        *_contradictions(settings),
    )


def decide(scored: pl.DataFrame, shared: pl.DataFrame, settings: IdentitySettings) -> pl.DataFrame:
    """Add conflict, link_rule, priority and accepted to scored candidate pairs.

    `shared` has one row per record and a `shared_<key>` column per deterministic key.
    """
    left = scored["l_idx"]
    return (
        scored.with_columns([shared[c].gather(left) for c in shared.columns])
        .with_columns(identity_score_expr(settings).alias("identity_score"))
        .with_columns(
            conflict_expr(settings).alias("conflict"),
            conflict_expr(settings, chain=True).alias("chain_conflict"),
            deterministic_key_expr(settings).alias("deterministic_key"),
        )
        .with_columns(
            pl.when(pl.col("deterministic_key").is_not_null())
            .then(pl.concat_str([pl.lit("deterministic:"), pl.col("deterministic_key")]))
            .when(pl.col("match_probability") >= settings.match_threshold)
            .then(pl.lit("probabilistic"))
            .alias("link_rule"),
            pl.when(pl.col("deterministic_key").is_not_null())
            .then(PRIORITY_DETERMINISTIC)
            .otherwise(PRIORITY_PROBABILISTIC)
            .cast(pl.Int8)
            .alias("priority"),
        )
        .with_columns((pl.col("link_rule").is_not_null() & ~pl.col("conflict")).alias("accepted"))
        .drop("deterministic_key", *shared.columns)
    )


def apply_overrides(decided: pl.DataFrame, manual: pl.DataFrame) -> pl.DataFrame:
    """Manual pairs beat every rule: force-links are accepted, cannot-links never are.

    A manual pair may also be a blocked pair; the manual row wins and the duplicate goes.
    """
    with_manual = decided.join(manual, on=["l_idx", "r_idx"], how="left")
    is_link = pl.col("manual") == "link"
    is_cannot = pl.col("manual") == "cannot_link"
    return (
        with_manual.sort("l_idx", "r_idx")
        .unique(["l_idx", "r_idx"], keep="last", maintain_order=True)
        .with_columns(
            pl.when(is_link)
            .then(pl.lit("manual"))
            .when(is_cannot)
            .then(None)
            .otherwise(pl.col("link_rule"))
            .alias("link_rule"),
            pl.when(is_link)
            .then(PRIORITY_MANUAL)
            .otherwise(pl.col("priority"))
            .cast(pl.Int8)
            .alias("priority"),
            pl.when(is_link)
            .then(True)
            .when(is_cannot)
            .then(False)
            .otherwise(pl.col("accepted"))
            .alias("accepted"),
            pl.when(is_link)
            .then(False)
            .when(is_cannot)
            .then(True)
            .otherwise(pl.col("conflict"))
            .alias("conflict"),
            pl.when(is_link)
            .then(False)
            .when(is_cannot)
            .then(True)
            .otherwise(pl.col("chain_conflict"))
            .alias("chain_conflict"),
            pl.when(is_link).then(1.0).otherwise(pl.col("match_probability")).alias("match_probability"),
        )
    )


def effective_conflicts(decided: pl.DataFrame, chain_conflicts: pl.DataFrame, n: int) -> pl.DataFrame:
    """Pairs that must never share a customer: chain-guard conflicts and cannot-links.

    `decided`: decided pairs including the force-links (`manual`); `chain_conflicts`: the pairs
    the chain guard keeps apart, cannot-links included (l_idx, r_idx, manual). Guard conflicts
    inside a group of force-linked records are dropped (the steward has decided); cannot-links
    always stay.
    """
    forced = decided.filter(pl.col("manual") == "link")
    graph = coo_matrix(
        (np.ones(len(forced), dtype=np.int8), (forced["l_idx"].to_numpy(), forced["r_idx"].to_numpy())),
        shape=(n, n),
    )
    _, group = connected_components(graph, directed=False)
    same_group = group[chain_conflicts["l_idx"].to_numpy()] == group[chain_conflicts["r_idx"].to_numpy()]
    keep = ~same_group | (chain_conflicts["manual"] == "cannot_link").fill_null(False).to_numpy()
    return chain_conflicts.filter(pl.Series(keep)).select("l_idx", "r_idx")
