"""Links -> customers: connected components with a guard against chains that join strangers.

1. Connected components of the accepted links (scipy, vectorised).
2. A component is *clean* when no two of its records conflict (every member pair is checked for
   components up to `full_conflict_check_max_size`, not only the linked pairs, so A-B-C cannot
   join an A and C who contradict each other) and it is within `max_cluster_size`. Clean
   components are customers as they are: almost all of them.
3. Dirty components are rebuilt link by link, strongest first (manual, deterministic, then by
   match weight): two clusters merge only if no record of one conflicts with a record of the
   other (including manual cannot-links) and the result stays within the size limit. Refused
   links are reported as bridges in the graph health.
The result depends only on the links and conflicts, not on their order of arrival, so an
incremental run and a full rebuild of the same data give the same customers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

PairConflicts = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass
class Clusters:
    labels: np.ndarray  # per record: the smallest record index of its cluster
    refused: pl.DataFrame  # l_idx, r_idx, reason: links the guard did not follow


def _components(n: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    graph = coo_matrix((np.ones(len(left), dtype=np.int8), (left, right)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    # Label each component by its smallest member so that labels do not depend on edge order.
    frame = pl.DataFrame({"c": labels, "idx": np.arange(n)})
    return frame.select(pl.col("idx").min().over("c"))["idx"].to_numpy()


def _intra_pairs(labels: np.ndarray, sizes: np.ndarray, low: int, high: int) -> tuple[np.ndarray, np.ndarray]:
    """Every member pair of components whose size is in [low, high]."""
    frame = pl.DataFrame({"idx": np.arange(len(labels)), "c": labels, "size": sizes[labels]}).filter(
        pl.col("size").is_between(low, high)
    )
    pairs = frame.join(frame, on="c", suffix="_r").filter(pl.col("idx") < pl.col("idx_r"))
    return pairs["idx"].to_numpy(), pairs["idx_r"].to_numpy()


def _guarded_merge(
    edges: pl.DataFrame, conflicts: pl.DataFrame, max_size: int
) -> tuple[dict[int, int], list[tuple[int, int, str]]]:
    """Kruskal-style merging with conflict and size guards over the edges of dirty components."""
    parent: dict[int, int] = {}
    members: dict[int, set[int]] = {}
    against: dict[int, set[int]] = {}
    for a, b in conflicts.select("l_idx", "r_idx").iter_rows():
        against.setdefault(a, set()).add(b)
        against.setdefault(b, set()).add(a)

    def root(x: int) -> int:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    refused: list[tuple[int, int, str]] = []
    for a, b in edges.select("l_idx", "r_idx").iter_rows():
        ra, rb = root(a), root(b)
        if ra == rb:
            continue
        set_a, set_b = members.setdefault(ra, {ra}), members.setdefault(rb, {rb})
        if len(set_a) + len(set_b) > max_size:
            refused.append((a, b, "cluster_size"))
            continue
        against_a, against_b = against.get(ra, set()), against.get(rb, set())
        if not (against_b.isdisjoint(set_a) if len(set_a) <= len(set_b) else against_a.isdisjoint(set_b)):
            refused.append((a, b, "conflict"))
            continue
        keep, gone = (ra, rb) if len(set_a) >= len(set_b) else (rb, ra)
        parent[gone] = keep
        members[keep] = set_a | set_b
        against[keep] = against_a | against_b
        members.pop(gone, None)
        against.pop(gone, None)
    return {x: root(x) for x in list(parent)}, refused


def cluster(
    n: int,
    edges: pl.DataFrame,
    conflicts: pl.DataFrame,
    pair_conflicts: PairConflicts,
    max_cluster_size: int,
    full_check_max_size: int,
) -> Clusters:
    """Cluster `n` records given accepted `edges` (l_idx, r_idx, priority, match_weight) and known
    conflicting pairs (l_idx, r_idx); `pair_conflicts(l, r)` says which other pairs conflict."""
    labels = _components(n, edges["l_idx"].to_numpy(), edges["r_idx"].to_numpy())
    sizes = np.bincount(labels, minlength=n)
    left, right = _intra_pairs(labels, sizes, 3, full_check_max_size)
    found = pair_conflicts(left, right) if len(left) else np.zeros(0, dtype=bool)
    all_conflicts = pl.concat(
        [
            conflicts.select(pl.col("l_idx").cast(pl.Int64), pl.col("r_idx").cast(pl.Int64)),
            pl.DataFrame(
                {"l_idx": left[found], "r_idx": right[found]}, schema={"l_idx": pl.Int64, "r_idx": pl.Int64}
            ),
        ]
    )
    all_conflicts = all_conflicts.filter(
        pl.Series(labels[all_conflicts["l_idx"].to_numpy()] == labels[all_conflicts["r_idx"].to_numpy()])
    ).unique()
    dirty = np.zeros(n, dtype=bool)
    dirty_labels = np.unique(
        np.concatenate([labels[all_conflicts["l_idx"].to_numpy()], np.flatnonzero(sizes > max_cluster_size)])
    )
    dirty[np.isin(labels, dirty_labels)] = True
    if not dirty_labels.size:
        return Clusters(
            labels, pl.DataFrame(schema={"l_idx": pl.Int64, "r_idx": pl.Int64, "reason": pl.String})
        )
    dirty_edges = edges.filter(pl.Series(dirty[edges["l_idx"].to_numpy()])).sort(
        ["priority", "match_weight", "l_idx", "r_idx"], descending=[False, True, False, False]
    )
    roots, refused = _guarded_merge(dirty_edges, all_conflicts, max_cluster_size)
    new_labels = labels.copy()
    dirty_idx = np.flatnonzero(dirty)
    new_labels[dirty_idx] = dirty_idx  # unmerged records of dirty components stand alone
    if roots:
        frame = pl.DataFrame({"idx": list(roots.keys()), "root": list(roots.values())}).with_columns(
            pl.col("idx").min().over("root").alias("label")
        )
        new_labels[frame["idx"].to_numpy()] = frame["label"].to_numpy()
    return Clusters(
        new_labels,
        pl.DataFrame(
            refused, schema={"l_idx": pl.Int64, "r_idx": pl.Int64, "reason": pl.String}, orient="row"
        ),
    )
