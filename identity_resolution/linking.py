"""Which candidate pairs become links: deterministic keys, the match threshold and conflict guards.

A pair links when it shares a deterministic key exactly (the value survived the blocklist and the
cardinality limits) or its match probability reaches the threshold, and in both cases only if no
conflict guard fires: two present dates of birth or national ids that are more than a typo apart,
or names whose differing tokens are dissimilar, mean two people (a mother and her son sharing a
phone), whatever else agrees.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from identity_resolution.comparisons import gamma_column
from identity_resolution.settings import IdentitySettings

PRIORITY_MANUAL, PRIORITY_DETERMINISTIC, PRIORITY_PROBABILISTIC = 0, 1, 2


def conflict_expr(settings: IdentitySettings) -> pl.Expr:
    """True where a guarded comparison sits at its "else" level with both values present, unless
    the pair agrees exactly on every comparison of an overriding group (a shared personal id) or,
    with a single conflicting field, its match weight reaches `conflict_override_weight`."""
    guards = [
        pl.col(gamma_column(c)) == len(c.level_labels()) - 1
        for c in settings.comparisons
        if c.conflict_blocks_merge
    ]
    if not guards:
        return pl.lit(False)
    by_name = {c.name: c for c in settings.comparisons}
    overrides = [
        pl.all_horizontal([pl.col(gamma_column(by_name[name])) == 0 for name in group])
        for group in settings.guards.conflicts_overridden_by
    ]
    if settings.guards.conflict_override_weight is not None:
        # Only a single conflicting field can be a data error; two (another name *and* another
        # birthday) describe another person, however much the household shares.
        single = pl.sum_horizontal([g.fill_null(False).cast(pl.Int8) for g in guards]) == 1
        overrides.append(single & (pl.col("match_weight") >= settings.guards.conflict_override_weight))
    overridden = pl.any_horizontal(overrides) if overrides else pl.lit(False)
    return pl.any_horizontal(guards) & ~overridden


def deterministic_key_expr(settings: IdentitySettings) -> pl.Expr:
    """The first deterministic key (in configured order) on which the pair agrees exactly, on a
    value that is not shared by several people (`shared_<key>` columns, see hygiene) or that the
    pair's names corroborate (`shared_values_link_with`)."""
    by_column = {c.column: c for c in settings.comparisons}
    by_name = {c.name: c for c in settings.comparisons}
    corroborated = pl.all_horizontal(
        [
            pl.col(gamma_column(by_name[name])).is_between(0, len(by_name[name].level_labels()) - 2)
            for name in settings.shared_values_link_with
        ]
        or [pl.lit(False)]
    )
    expr: pl.Expr = pl.lit(None, dtype=pl.String)
    for key in reversed(settings.deterministic_keys):
        agrees = (pl.col(gamma_column(by_column[key])) == 0) & (~pl.col(f"shared_{key}") | corroborated)
        expr = pl.when(agrees).then(pl.lit(key)).otherwise(expr)
    return expr


def decide(scored: pl.DataFrame, shared: pl.DataFrame, settings: IdentitySettings) -> pl.DataFrame:
    """Add conflict, link_rule, priority and accepted to scored candidate pairs.

    `shared` has one row per record and a `shared_<key>` column per deterministic key.
    """
    left = scored["l_idx"]
    return (
        scored.with_columns([shared[c].gather(left) for c in shared.columns])
        .with_columns(
            conflict_expr(settings).alias("conflict"),
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
            pl.when(is_link).then(1.0).otherwise(pl.col("match_probability")).alias("match_probability"),
        )
    )


def effective_conflicts(decided: pl.DataFrame, n: int) -> pl.DataFrame:
    """Pairs that must never share a customer: guard conflicts and cannot-links.

    Guard conflicts inside a group of force-linked records are dropped (the steward has decided);
    cannot-links always stay.
    """
    forced = decided.filter(pl.col("manual") == "link")
    graph = coo_matrix(
        (np.ones(len(forced), dtype=np.int8), (forced["l_idx"].to_numpy(), forced["r_idx"].to_numpy())),
        shape=(n, n),
    )
    _, group = connected_components(graph, directed=False)
    conflicts = decided.filter(pl.col("conflict"))
    same_group = group[conflicts["l_idx"].to_numpy()] == group[conflicts["r_idx"].to_numpy()]
    keep = ~same_group | (conflicts["manual"] == "cannot_link").fill_null(False).to_numpy()
    return conflicts.filter(pl.Series(keep)).select("l_idx", "r_idx")
