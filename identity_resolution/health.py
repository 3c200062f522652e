"""Graph health: is the identity graph still sane? One row per metric and run.

Cluster size distribution and the largest clusters (a sudden giant cluster is the classic sign of
a junk identifier), link counts per rule, the links the chain guard refused (bridges that would
have joined people who contradict each other) and the identifier values that were cut.
"""

from __future__ import annotations

import json
from datetime import datetime

import polars as pl

HEALTH_SCHEMA = {
    "run_id": pl.String,
    "measured_at": pl.Datetime("us"),
    "metric": pl.String,
    "value": pl.Float64,
    "detail": pl.String,
}
TOP_N = 10
SIZE_BANDS = ((1, 1), (2, 2), (3, 5), (6, 10), (11, None))


def graph_health(
    links: pl.DataFrame,
    decided: pl.DataFrame,
    candidate_pairs: int,
    conflicting_pairs: int,
    refused: pl.DataFrame,
    audit: pl.DataFrame,
    run_id: str,
    measured_at: datetime,
) -> pl.DataFrame:
    """Metrics of one run's identity graph.

    links: identity_links; decided: the decided candidate pairs (at least the accepted ones);
    candidate_pairs / conflicting_pairs: how many pairs were decided / kept apart by a guard; refused: the links the guard did not
    follow (l_record_id, r_record_id, reason); audit: the identifier values that were cut.
    """
    sizes = links.group_by("customer_id").agg(pl.len().alias("records"))
    rows: list[tuple[str, float, str | None]] = [
        ("records", len(links), None),
        ("customers", len(sizes), None),
        ("records_per_customer", len(links) / max(len(sizes), 1), None),
        (
            "duplicate_rate",
            1 - len(sizes) / max(len(links), 1),
            "share of records that are not a customer's first",
        ),
        ("cluster_size_max", float(sizes["records"].max() or 0), None),
        ("cluster_size_p99", float(sizes["records"].quantile(0.99) or 0), None),
    ]
    for low, high in SIZE_BANDS:
        band = (
            sizes.filter(pl.col("records") >= low)
            if high is None
            else sizes.filter(pl.col("records").is_between(low, high))
        )
        name = f"clusters_size_{low}" + ("_plus" if high is None else (f"_{high}" if high != low else ""))
        rows.append((name, len(band), None))
    accepted = decided.filter(pl.col("accepted"))
    rules = accepted.group_by(pl.col("link_rule").str.split(":").list.first()).len().sort("link_rule")
    for rule, count in rules.iter_rows():
        rows.append((f"links_{rule}", count, None))
    rows += [
        ("candidate_pairs", candidate_pairs, None),
        ("conflicting_pairs", conflicting_pairs, "pairs a conflict guard kept apart"),
    ]
    for reason in ("conflict", "cluster_size"):
        rows.append(
            (
                f"refused_links_{reason}",
                int((refused["reason"] == reason).sum()),
                "bridging links not followed",
            )
        )
    rows.append(
        ("bridging_links", len(refused), json.dumps(refused.head(TOP_N).to_dicts(), ensure_ascii=False))
    )
    for reason in ("blocklist", "cardinality"):
        cut = audit.filter(pl.col("reason") == reason)
        rows.append((f"identifier_values_cut_{reason}", len(cut), None))
    # Only the customers as large as the TOP_N-th largest are ordered (sorting all of them by
    # size and id was 1.4 s at 1M people); ties at that size still go by id.
    smallest_listed = sizes.get_column("records").top_k(TOP_N).min()
    largest = (
        sizes.filter(pl.col("records") >= smallest_listed)
        .sort(["records", "customer_id"], descending=[True, False])
        .head(TOP_N)
    )
    # The sources of the largest customers only: joining every customer's sources was most of
    # the cost of the report.
    sources = (
        links.filter(pl.col("customer_id").is_in(largest["customer_id"].implode()))
        .group_by("customer_id")
        .agg(pl.col("source").unique().sort().str.join(",").alias("sources"))
    )
    largest = largest.join(sources, on="customer_id", how="left", maintain_order="left")
    rows.append(
        (
            "largest_clusters",
            float(largest["records"].max() or 0),
            json.dumps(largest.to_dicts(), ensure_ascii=False),
        )
    )
    return pl.DataFrame(
        [
            {"run_id": run_id, "measured_at": measured_at, "metric": m, "value": float(v), "detail": d}
            for m, v, d in rows
        ],
        schema=HEALTH_SCHEMA,
    )
