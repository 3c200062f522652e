"""Stable customer ids across runs, and the history of merges and splits.

Rules, applied with group-bys (no loop per customer):
- every previous id follows the new cluster that holds most of its records (ties: the cluster
  with the smallest record id);
- a cluster keeps the previous id that brought it most records (ties: the smallest id); the
  other previous ids that followed it are `merged` into it (and `retired`);
- a cluster that received no previous id gets a new one: `split` when some of its records had an
  id that went elsewhere, else `created`;
- a previous id whose records are all gone is `retired`.
New ids are a hash of the cluster's smallest record id, so a rebuild from scratch of the same data
gives the same ids, and a new record joining an existing customer never changes its id.
"""

from __future__ import annotations

import polars as pl

from warehouse.duckdb_connections import connect

ID_PREFIX = "C"
ID_HASH_CHARS = 16
HISTORY_SCHEMA = {
    "customer_id": pl.String,
    "event": pl.String,
    "related_customer_id": pl.String,
    "record_id": pl.String,
}


def _md5(values: pl.Series) -> pl.Series:
    """MD5 hex digests (DuckDB, vectorised): stable across library versions, unlike frame hashes."""
    with connect() as con:
        con.register("ids", pl.DataFrame({"v": values}).to_arrow())
        digests = con.sql("select md5(v) as d from ids").pl()["d"]
    return digests.alias(values.name)


def with_new_ids(frame: pl.DataFrame, taken: pl.Series | None = None) -> pl.DataFrame:
    """Add `new_id` from `first_record_id`, re-salted where the plain hash is an id already taken."""
    ids = frame.with_columns(
        (ID_PREFIX + _md5(frame["first_record_id"]).str.slice(0, ID_HASH_CHARS)).alias("new_id")
    )
    if taken is not None and len(taken):
        salted = ID_PREFIX + _md5(frame["first_record_id"] + "|split").str.slice(0, ID_HASH_CHARS)
        ids = ids.with_columns(
            pl.when(pl.col("new_id").is_in(taken.implode()))
            .then(salted)
            .otherwise(pl.col("new_id"))
            .alias("new_id")
        )
    return ids


def assign_customer_ids(
    clusters: pl.DataFrame, previous: pl.DataFrame | None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """`clusters` (record_id, cluster) -> (record_id, customer_id) and the history events.

    `previous` holds (record_id, customer_id) of the last run, or None on a first run.
    """
    if previous is None or previous.is_empty():
        first = clusters.group_by("cluster").agg(pl.col("record_id").min().alias("first_record_id"))
        assigned = clusters.join(with_new_ids(first).rename({"new_id": "customer_id"}), on="cluster")
        history = (
            assigned.group_by("customer_id")
            .agg(pl.col("first_record_id").first().alias("record_id"))
            .select(
                "customer_id",
                pl.lit("created").alias("event"),
                pl.lit(None, dtype=pl.String).alias("related_customer_id"),
                "record_id",
            )
        )
        return assigned.select("record_id", "customer_id"), history.sort("customer_id")

    prev = previous.select("record_id", pl.col("customer_id").alias("previous_id"))
    # Most customers are exactly as they were (a daily run changes a few): they keep their id and
    # make no event, so only the others go through the rules below.
    unchanged = _unchanged_customers(clusters, prev)
    moving, history = _follow_previous(
        clusters.join(unchanged, on="cluster", how="anti"),
        prev.join(unchanged.select(pl.col("customer_id").alias("previous_id")), on="previous_id", how="anti"),
        prev["previous_id"].unique(),
    )
    assigned = pl.concat([clusters.join(unchanged, on="cluster").select("record_id", "customer_id"), moving])
    return assigned, history


def _unchanged_customers(clusters: pl.DataFrame, prev: pl.DataFrame) -> pl.DataFrame:
    """cluster, customer_id of the clusters that hold exactly the records of one previous id."""
    per_cluster = (
        clusters.join(prev, on="record_id", how="left")
        .group_by("cluster")
        .agg(
            pl.len().alias("records"),
            pl.col("previous_id").count().alias("with_id"),
            pl.col("previous_id").min().alias("lowest"),
            pl.col("previous_id").max().alias("highest"),
        )
        .filter((pl.col("with_id") == pl.col("records")) & (pl.col("lowest") == pl.col("highest")))
    )
    per_id = prev.group_by("previous_id").agg(pl.len().alias("id_records"))
    return (
        per_cluster.join(per_id, left_on="lowest", right_on="previous_id")
        .filter(pl.col("id_records") == pl.col("records"))
        .select("cluster", pl.col("lowest").alias("customer_id"))
    )


def _follow_previous(
    clusters: pl.DataFrame, prev: pl.DataFrame, taken: pl.Series
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The rules of the module docstring for `clusters` whose records' previous ids (`prev`:
    record_id, previous_id) went nowhere else; `taken`: every previous id (never minted again)."""
    first = clusters.group_by("cluster").agg(pl.col("record_id").min().alias("first_record_id"))
    overlap = (
        clusters.join(prev, on="record_id")
        .group_by("previous_id", "cluster")
        .agg(pl.len().alias("records"))
        .join(first, on="cluster")
    )
    # Where each previous id goes: the cluster holding most of its records.
    follows = overlap.sort(
        ["previous_id", "records", "first_record_id"], descending=[False, True, False]
    ).unique("previous_id", keep="first", maintain_order=True)
    # Which previous id each cluster keeps: the one that brought it most records.
    kept = follows.sort(["cluster", "records", "previous_id"], descending=[False, True, False]).unique(
        "cluster", keep="first", maintain_order=True
    )
    ids = (
        with_new_ids(first, taken)
        .join(kept.select("cluster", pl.col("previous_id").alias("kept_id")), on="cluster", how="left")
        .with_columns(pl.coalesce(pl.col("kept_id"), pl.col("new_id")).alias("customer_id"))
    )
    assigned = clusters.join(ids.select("cluster", "customer_id"), on="cluster")

    merged = follows.join(
        kept.select("cluster", pl.col("previous_id").alias("survivor")), on="cluster"
    ).filter(pl.col("previous_id") != pl.col("survivor"))
    split_from = (
        overlap.join(
            ids.filter(pl.col("kept_id").is_null()).select("cluster", "customer_id", "first_record_id"),
            on="cluster",
        )
        .sort(["cluster", "records"], descending=[False, True])
        .unique("cluster", keep="first", maintain_order=True)
    )
    fresh = ids.filter(pl.col("kept_id").is_null()).join(
        split_from.select("cluster"), on="cluster", how="anti"
    )
    gone = (
        prev.select("previous_id")
        .unique()
        .join(overlap.select("previous_id").unique(), on="previous_id", how="anti")
    )
    null_text = pl.lit(None, dtype=pl.String)
    history = pl.concat(
        [
            fresh.select(
                "customer_id",
                pl.lit("created").alias("event"),
                null_text.alias("related_customer_id"),
                pl.col("first_record_id").alias("record_id"),
            ),
            split_from.select(
                "customer_id",
                pl.lit("split").alias("event"),
                pl.col("previous_id").alias("related_customer_id"),
                pl.col("first_record_id").alias("record_id"),
            ),
            merged.select(
                pl.col("survivor").alias("customer_id"),
                pl.lit("merged").alias("event"),
                pl.col("previous_id").alias("related_customer_id"),
                pl.col("first_record_id").alias("record_id"),
            ),
            merged.select(
                pl.col("previous_id").alias("customer_id"),
                pl.lit("retired").alias("event"),
                pl.col("survivor").alias("related_customer_id"),
                pl.col("first_record_id").alias("record_id"),
            ),
            gone.select(
                pl.col("previous_id").alias("customer_id"),
                pl.lit("retired").alias("event"),
                null_text.alias("related_customer_id"),
                null_text.alias("record_id"),
            ),
        ]
    ).cast(HISTORY_SCHEMA)  # type: ignore[arg-type]
    # A total order (an id can merge several others), so the table does not depend on the run.
    return assigned.select("record_id", "customer_id"), history.sort(pl.all(), nulls_last=True)
