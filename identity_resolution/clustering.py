"""Links -> customers: connected components with a guard against chains that join strangers.

1. Connected components of the accepted links (scipy, vectorised).
2. A component is *clean* when no two of its records conflict (every member pair is checked for
   components up to `full_conflict_check_max_size`, not only the linked pairs, so A-B-C cannot
   join an A and C who contradict each other) and it is within `max_cluster_size`. Clean
   components are customers as they are: almost all of them.
3. Dirty components are rebuilt link by link, strongest first (manual, deterministic, then by
   match weight): two clusters merge only if no record of one conflicts with a record of the
   other (including manual cannot-links) and the result stays within the size limit. This greedy
   merge runs in vectorised rounds over all dirty components at once (see `_guarded_merge`), no
   Python loop per edge. Refused links are reported as bridges in the graph health.
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


def _strength_order(edges: pl.DataFrame) -> pl.DataFrame:
    """Edges strongest first (manual, deterministic, then by match weight; ids break ties), with
    their rank: a strict total order, so the result never depends on the order edges arrive in."""
    return edges.sort(
        ["priority", "match_weight", "l_idx", "r_idx"], descending=[False, True, False, False]
    ).with_row_index("rank")


def _guarded_merge(
    n: int, edges: pl.DataFrame, conflicts: pl.DataFrame, max_size: int
) -> tuple[np.ndarray, pl.DataFrame]:
    """Greedy strongest-first merging with conflict and size guards, in vectorised rounds.

    Sequential Kruskal (take the strongest edge, merge unless the two clusters conflict or grow
    too big) gives the same result as merging, in every round and all at once, each pair of
    clusters whose strongest connecting edge is the strongest edge of both (a "locally dominant"
    edge): its decision only depends on the two clusters, which no stronger edge can change any
    more. Such edges form a matching, so a round is a handful of array operations over all dirty
    components together; rounds repeat until no edge joins two clusters. A refused pair of
    clusters stays refused (clusters only grow), so all its edges are dropped at once.

    Returns per record its cluster label and the refused edges (l_idx, r_idx, reason).
    """
    labels = np.arange(n, dtype=np.int64)
    sizes = np.ones(n, dtype=np.int64)
    ranked = _strength_order(edges).select(
        "rank", pl.col("l_idx").cast(pl.Int64), pl.col("r_idx").cast(pl.Int64)
    )
    rank = ranked["rank"].to_numpy().astype(np.int64)
    left, right = ranked["l_idx"].to_numpy(), ranked["r_idx"].to_numpy()
    c_left = conflicts["l_idx"].cast(pl.Int64).to_numpy()
    c_right = conflicts["r_idx"].cast(pl.Int64).to_numpy()
    refused: list[pl.DataFrame] = []
    alive = np.ones(len(rank), dtype=bool)
    while alive.any():
        la, lb = labels[left], labels[right]
        alive &= la != lb
        if not alive.any():
            break
        idx = np.flatnonzero(alive)
        a, b = np.minimum(la[idx], lb[idx]), np.maximum(la[idx], lb[idx])
        # Each cluster's strongest live edge (edges are in rank order, so the first one wins).
        best = np.full(n, -1, dtype=np.int64)
        order = np.argsort(np.concatenate([rank[idx], rank[idx]]), kind="stable")
        ends = np.concatenate([a, b])[order]
        first = np.unique(ends, return_index=True)[1]
        best[ends[first]] = np.concatenate([idx, idx])[order][first]
        dominant = idx[(best[a] == idx) & (best[b] == idx)]
        da, db = (
            np.minimum(labels[left[dominant]], labels[right[dominant]]),
            np.maximum(labels[left[dominant]], labels[right[dominant]]),
        )
        too_big = sizes[da] + sizes[db] > max_size
        conflicting = _clusters_conflict(labels, c_left, c_right, da, db)
        refuse = too_big | conflicting
        merge = ~refuse
        # Refused cluster pairs: every live edge between them goes.
        if refuse.any():
            refused_keys = da[refuse] * n + db[refuse]
            hit = np.isin(a * n + b, refused_keys)
            gone = idx[hit]
            by_size = np.isin((a * n + b)[hit], refused_keys[too_big[refuse]])
            refused.append(
                pl.DataFrame(
                    {
                        "l_idx": left[gone],
                        "r_idx": right[gone],
                        "reason": np.where(by_size, "cluster_size", "conflict"),
                    },
                    schema={"l_idx": pl.Int64, "r_idx": pl.Int64, "reason": pl.String},
                )
            )
            alive[gone] = False
        # Merge the matched cluster pairs: the larger label joins the smaller one.
        if merge.any():
            keep, join = da[merge], db[merge]
            sizes[keep] += sizes[join]
            relabel = np.arange(n, dtype=np.int64)
            relabel[join] = keep
            labels = relabel[labels]
    refused_frame = (
        pl.concat(refused)
        if refused
        else pl.DataFrame(schema={"l_idx": pl.Int64, "r_idx": pl.Int64, "reason": pl.String})
    )
    return labels, refused_frame


def _clusters_conflict(
    labels: np.ndarray, c_left: np.ndarray, c_right: np.ndarray, da: np.ndarray, db: np.ndarray
) -> np.ndarray:
    """For each candidate merge (da[i], db[i]): does any record of one conflict with the other?"""
    if not len(c_left) or not len(da):
        return np.zeros(len(da), dtype=bool)
    n = len(labels)
    ca, cb = labels[c_left], labels[c_right]
    conflict_keys = np.unique(np.minimum(ca, cb) * n + np.maximum(ca, cb))
    return np.isin(da * n + db, conflict_keys)


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
    dirty_edges = edges.filter(pl.Series(dirty[edges["l_idx"].to_numpy()]))
    merged, refused = _guarded_merge(n, dirty_edges, all_conflicts, max_cluster_size)
    new_labels = labels.copy()
    dirty_idx = np.flatnonzero(dirty)
    # Label each rebuilt cluster by its smallest member (merged labels are already that).
    new_labels[dirty_idx] = merged[dirty_idx]
    return Clusters(new_labels, refused)
