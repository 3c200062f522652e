"""The identity_links table: per record, its customer and why it was joined to it.

Each record of a multi-record customer points at its strongest link inside the customer (manual,
then deterministic, then highest match weight) and carries that link's evidence as JSON: the rule,
the probability and weight, and per comparison the level reached and its weight, so an analyst can
answer "why are these one person?" without re-running anything.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import polars as pl

from identity_resolution.comparisons import gamma_column
from identity_resolution.settings import Comparison

LINKS_COLUMNS = (
    "record_id",
    "source",
    "source_record_id",
    "customer_id",
    "link_rule",
    "match_probability",
    "match_weight",
    "linked_to_record_id",
    "evidence",
    "run_id",
    "resolved_at",
)


def _evidence_json(comparisons: list[Comparison]) -> pl.Expr:
    per_comparison = [
        pl.struct(
            pl.col(gamma_column(c))
            .replace_strict(dict(enumerate(c.level_labels())), default="missing", return_dtype=pl.String)
            .alias("level"),
            pl.col(f"weight_{c.name}").round(2).alias("weight"),
        ).alias(c.name)
        for c in comparisons
    ]
    return pl.struct(
        pl.col("link_rule").alias("rule"),
        pl.col("match_probability").round(6).alias("match_probability"),
        pl.col("match_weight").round(2).alias("match_weight"),
        pl.struct(per_comparison).alias("comparisons"),
    ).struct.json_encode()


def best_links(decided: pl.DataFrame, labels: np.ndarray, comparisons: list[Comparison]) -> pl.DataFrame:
    """Per record in a multi-record cluster: its strongest accepted link to a fellow member."""
    accepted = decided.filter(pl.col("accepted"))
    inside = labels[accepted["l_idx"].to_numpy()] == labels[accepted["r_idx"].to_numpy()]
    links = accepted.filter(pl.Series(inside)).with_row_index("_link")
    keep = ["link_rule", "match_probability", "match_weight", "priority", "_link"]
    both_ways = pl.concat(
        [
            links.select(pl.col("l_idx").alias("idx"), pl.col("r_idx").alias("other_idx"), *keep),
            links.select(pl.col("r_idx").alias("idx"), pl.col("l_idx").alias("other_idx"), *keep),
        ]
    )
    best = both_ways.sort(
        ["idx", "priority", "match_weight", "other_idx"], descending=[False, False, True, False]
    ).unique("idx", keep="first", maintain_order=True)
    # The evidence of the chosen links only, written once per link: built before the choice, the
    # JSON of every link was copied both ways and carried through the sort.
    chosen = links.filter(pl.col("_link").is_in(best.get_column("_link").implode()))
    evidence = chosen.select("_link", _evidence_json(comparisons).alias("evidence"))
    return best.join(evidence, on="_link", how="left", maintain_order="left").drop("priority", "_link")


def identity_links(
    records: pl.DataFrame,
    assignments: pl.DataFrame,
    best: pl.DataFrame,
    run_id: str,
    resolved_at: datetime,
) -> pl.DataFrame:
    """`records` (record_id, source, in idx order) + customer ids + best links -> identity_links."""
    indexed = (
        records.select("record_id", "source").with_row_index("idx").with_columns(pl.col("idx").cast(pl.Int64))
    )
    partner = indexed.select(
        pl.col("idx").alias("other_idx"), pl.col("record_id").alias("linked_to_record_id")
    )
    source_record_id = (
        pl.when(pl.col("record_id").str.starts_with(pl.col("source") + ":"))
        .then(pl.col("record_id").str.slice(pl.col("source").str.len_chars() + 1))
        .otherwise(pl.col("record_id"))
    )
    return (
        indexed.join(assignments, on="record_id", how="left")
        .join(
            best.with_columns(pl.col("idx").cast(pl.Int64), pl.col("other_idx").cast(pl.Int64)),
            on="idx",
            how="left",
        )
        .join(partner, on="other_idx", how="left")
        .with_columns(
            source_record_id.alias("source_record_id"),
            pl.col("link_rule").fill_null("singleton"),
            pl.lit(run_id).alias("run_id"),
            pl.lit(resolved_at).alias("resolved_at"),
        )
        .select(LINKS_COLUMNS)
    )
