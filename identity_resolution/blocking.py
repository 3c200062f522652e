"""Candidate pairs from blocking rules, pushed down to DuckDB SQL.

A rule is a list of feature columns that must be equal (and present). Blocks larger than
`max_block_size` are skipped (and logged): such a value says little about who is who and would
explode the pair count. The SQL is plain joins and group-bys so that it ports to Spark unchanged.
With `changed`, only pairs touching a new or changed record are generated (incremental runs).
"""

from __future__ import annotations

import logging
import tempfile

import duckdb
import numpy as np
import polars as pl

log = logging.getLogger(__name__)


def _rule_sql(rule: list[str], max_block_size: int, incremental: bool) -> str:
    keys = ", ".join(f'"{c}"' for c in rule)
    present = " and ".join(f'"{c}" is not null' for c in rule)
    join = " and ".join(f'l."{c}" = r."{c}"' for c in rule)
    touching = "and (l.changed or r.changed)" if incremental else ""
    # Incremental: only blocks with a changed record are joined at all (the others yield nothing).
    touched = "and bool_or(changed)" if incremental else ""
    return f"""
        with keyed as (
            select idx, changed, {keys} from features where {present}
        ),
        small_blocks as (
            select {keys} from keyed group by {keys}
            having count(*) between 2 and {max_block_size} {touched}
        ),
        blocked as (
            select keyed.* from keyed join small_blocks using ({keys})
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


def candidate_pairs(
    features: pl.DataFrame,
    rules: list[list[str]],
    max_block_size: int,
    changed: np.ndarray | None = None,
    memory_limit: str | None = None,
) -> pl.DataFrame:
    """Distinct (l_idx, r_idx) pairs with l_idx < r_idx, where idx is the row of `features`.

    `changed` (bool per row) restricts the output to pairs with at least one changed row;
    `memory_limit` caps DuckDB's memory (it spills to a temporary folder beyond it).
    """
    columns = sorted({c for rule in rules for c in rule})
    table = features.select(columns).with_columns(
        pl.int_range(pl.len(), dtype=pl.Int32).alias("idx"),
        pl.Series("changed", changed if changed is not None else np.ones(len(features), dtype=bool)),
    )
    if not rules or table.is_empty():
        return pl.DataFrame(schema={"l_idx": pl.Int32, "r_idx": pl.Int32})
    union = "\nunion\n".join(
        f"select * from ({_rule_sql(rule, max_block_size, changed is not None)})" for rule in rules
    )
    with tempfile.TemporaryDirectory(prefix="cdp-blocking-") as spill, duckdb.connect() as con:
        if memory_limit:
            con.execute(f"set memory_limit = '{memory_limit}'")
            con.execute(f"set temp_directory = '{spill}'")
        con.register("features", table.to_arrow())
        for rule in rules:
            blocks, records = con.sql(_oversized_sql(rule, max_block_size)).fetchall()[0]
            if blocks:
                log.info(
                    "blocking on %s: skipped %d blocks over %d records (%d records)",
                    rule,
                    blocks,
                    max_block_size,
                    records,
                )
        pairs = con.sql(f"select * from ({union}) order by l_idx, r_idx").pl()
    log.info("blocking: %d candidate pairs", len(pairs))
    return pairs.cast({"l_idx": pl.Int32, "r_idx": pl.Int32})  # type: ignore[union-attr]
