"""Candidate pairs from blocking rules, pushed down to DuckDB SQL.

A rule is a list of feature columns that must be equal (and present). Blocks larger than the
rule's limit (`IdentitySettings.block_limits()`: `max_block_size`, or the rule's own) are skipped
(and logged): such a value says little about who is who and would explode the pair count. The
SQL is plain joins and group-bys so that it ports to Spark unchanged.
With `changed`, only pairs touching a new or changed record are generated (incremental runs), and
only the blocks such a record joined or left are grouped at all: a daily run's blocking follows
the day's change, not the size of the graph.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import polars as pl

from warehouse.duckdb_connections import capped_connection

log = logging.getLogger(__name__)


def _rule_sql(rule: list[str], max_block_size: int, incremental: bool, left_out: int) -> str:
    keys = ", ".join(f'"{c}"' for c in rule)
    present = " and ".join(f'"{c}" is not null' for c in rule)
    join = " and ".join(f'l."{c}" = r."{c}"' for c in rule)
    # Incremental: only blocks with a changed record are joined at all (the others yield nothing
    # new), and blocks that `left_out` departed records may have brought back under the limit.
    shrunk = f"count(*) > {max_block_size - left_out}" if left_out else "false"
    touching = f"and (l.changed or r.changed or l.n > {max_block_size - left_out})" if incremental else ""
    touched = f"and (bool_or(changed) or {shrunk})" if incremental else ""
    # Incremental: only the blocks a changed record is in or a departed one was in (`departed`)
    # can hold a pair not compared yet; every other block is as it was, so it is not grouped.
    scope = (
        f"""join (
                select distinct {keys} from features where changed and {present}
                union select distinct {keys} from departed where {present}
            ) as touched_blocks using ({keys})"""
        if incremental
        else ""
    )
    return f"""
        with keyed as (
            select idx, changed, {keys} from features {scope} where {present}
        ),
        small_blocks as (
            select {keys}, count(*) as n from keyed group by {keys}
            having count(*) between 2 and {max_block_size} {touched}
        ),
        blocked as (
            select keyed.*, small_blocks.n from keyed join small_blocks using ({keys})
        )
        select l.idx as l_idx, r.idx as r_idx
        from blocked as l
        join blocked as r on {join} and l.idx < r.idx {touching}
    """


def _oversized_sql(rule: list[str], max_block_size: int) -> str:
    keys = ", ".join(f'"{c}"' for c in rule)
    present = " and ".join(f'"{c}" is not null' for c in rule)
    return f"""
        select count(*) as blocks, coalesce(sum(n), 0) as records from (
            select count(*) as n from features where {present} group by {keys} having count(*) > {max_block_size}
        )
    """


def blocking_columns(rules: list[list[str]]) -> list[str]:
    """Every feature column some blocking rule reads."""
    return sorted({c for rule in rules for c in rule})


def candidate_pairs(
    features: pl.DataFrame,
    rules: list[list[str]],
    limits: Sequence[int],
    changed: np.ndarray | None = None,
    memory_limit: str | None = None,
    left_out: int = 0,
    departed: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Distinct (l_idx, r_idx) pairs with l_idx < r_idx, where idx is the row of `features`.

    `limits`: most records per block, one per rule. `changed` (bool per row) restricts the output to pairs with at least one changed row, plus
    the pairs of blocks that may have fallen back under their rule's limit because `left_out`
    records of the saved graph are gone or changed (blocks within `left_out` of the limit; some
    of those pairs may be known already). Only blocks holding a changed row or a row of
    `departed` (the blocking columns of the saved records that are gone or changed, as they
    were; a superset does no harm) are considered, so the other blocks are not even grouped.
    `memory_limit` caps DuckDB's memory (it spills to a temporary folder beyond it).
    """
    columns = blocking_columns(rules)
    table = features.select(columns).with_columns(
        pl.int_range(pl.len(), dtype=pl.Int32).alias("idx"),
        pl.Series("changed", changed if changed is not None else np.ones(len(features), dtype=bool)),
    )
    if not rules or table.is_empty():
        return pl.DataFrame(schema={"l_idx": pl.Int32, "r_idx": pl.Int32})
    incremental = changed is not None
    if departed is None or not set(columns) <= set(departed.columns):
        departed = table.clear().select(columns) if left_out == 0 else table.select(columns)
    union = "\nunion\n".join(
        f"select * from ({_rule_sql(rule, size, incremental, left_out)})"
        for rule, size in zip(rules, limits, strict=True)
    )
    with capped_connection(memory_limit, "blocking") as con:
        con.register("features", table.to_arrow())
        con.register("departed", departed.select(columns).cast(table.select(columns).schema).to_arrow())
        if not incremental:  # a full run reports the skipped blocks
            for rule, size in zip(rules, limits, strict=True):
                blocks, records = con.sql(_oversized_sql(rule, size)).fetchall()[0]
                if blocks:
                    log.info(
                        "blocking on %s: skipped %d blocks over %d records (%d records)",
                        rule,
                        blocks,
                        size,
                        records,
                    )
        pairs = con.sql(f"select * from ({union}) order by l_idx, r_idx").pl()
    log.info("blocking: %d candidate pairs", len(pairs))
    return pairs.cast({"l_idx": pl.Int32, "r_idx": pl.Int32})  # type: ignore[union-attr]


def _present(rule: list[str]) -> pl.Expr:
    return pl.all_horizontal([pl.col(c).is_not_null() for c in rule])


def _block_ids(frame: pl.DataFrame, of: pl.DataFrame, rule: list[str], keep: pl.Expr) -> np.ndarray | None:
    """Per row of `frame`, the block (its first `_row`) that `rule` puts it in, when that block
    holds one of the rows `of` and its counts (`_n` rows, `_c` changed ones) pass `keep`; -1 for
    every other row. Only those blocks are grouped. None when no block passes."""
    keys = of.filter(_present(rule)).select(rule).unique()
    blocks = (
        frame.join(keys, on=rule, how="semi")
        .group_by(rule)
        .agg(pl.len().alias("_n"), pl.col("_changed").sum().alias("_c"), pl.col("_row").min().alias("_b"))
        .filter(keep)
    )
    if blocks.is_empty():
        return None
    members = frame.join(blocks.select(*rule, "_b"), on=rule)
    ids = np.full(len(frame), -1, dtype=np.int64)
    ids[members["_row"].to_numpy()] = members["_b"].to_numpy()
    return ids


def no_longer_blocked(
    features: pl.DataFrame,
    rules: list[list[str]],
    limits: Sequence[int],
    changed: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
) -> np.ndarray:
    """For saved pairs of unchanged records (`left[i]`, `right[i]`: rows of `features`): True
    where no rule pairs the two any more, because every block that held both has since crossed
    their rule's limit (a full run skips such blocks, so the pair goes).

    A block can only have crossed the limit if it is over it now while its unchanged records
    alone are not (those were all in it before); such blocks are rare, so on most days this is
    one group-by per rule. Pairs inside one are checked against every rule. (The reverse, a
    block back under the limit because records left it: `candidate_pairs` with `left_out`.)
    """
    suspect = np.zeros(len(left), dtype=bool)
    if not changed.any() or not len(left):
        return suspect
    frame = features.select(blocking_columns(rules)).with_columns(
        pl.int_range(pl.len(), dtype=pl.Int64).alias("_row"), pl.Series("_changed", changed)
    )
    changed_rows = frame.filter(pl.col("_changed"))

    def same_block(blocks: np.ndarray, rows: np.ndarray | slice) -> np.ndarray:
        l_block, r_block = blocks[left[rows]], blocks[right[rows]]
        return (l_block == r_block) & (l_block >= 0)

    for rule, size in zip(rules, limits, strict=True):
        # A block that crossed the limit holds a changed row: only those blocks are grouped.
        crossed = _block_ids(
            frame, changed_rows, rule, (pl.col("_n") > size) & (pl.col("_n") - pl.col("_c") <= size)
        )
        if crossed is not None:
            suspect |= same_block(crossed, slice(None))
    if not suspect.any():
        return suspect
    rows = np.flatnonzero(suspect)
    still = np.zeros(len(rows), dtype=bool)
    # Only the blocks of the suspect pairs' records are sized, not every block of every rule.
    involved = frame[np.unique(np.concatenate([left[rows], right[rows]]))]
    for rule, size in zip(rules, limits, strict=True):
        small = _block_ids(frame, involved, rule, pl.col("_n").is_between(2, size))
        if small is not None:
            still |= same_block(small, rows)
    log.info(
        "blocking: %d saved pairs only in blocks that crossed their size limit: dropped", int((~still).sum())
    )
    suspect[rows[still]] = False
    return suspect
