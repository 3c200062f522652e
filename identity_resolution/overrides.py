"""Manual force-link / cannot-link pairs: the data steward's word beats every rule.

A table of `record_id_a, record_id_b, action (link | cannot_link)[, reason]`, from a file named in
`identity.manual_overrides_file` or the lake's `identity/manual_overrides` table. A force-link joins
two records whatever the model and guards say; a cannot-link keeps them apart whatever links them
(and wins over a force-link that contradicts it). Record ids are kept exactly as written, spaces
included, as `validate_records` keeps the input's: trimming would tie " 42" to "42" or to nothing.
Pairs naming records that are not in the input are ignored (the record may have been erased) and
logged with the ids they name, quoted so a stray space shows.
"""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl

from identity_resolution.records import MAX_LISTED_ROWS, IdentityInputError

log = logging.getLogger(__name__)

ACTIONS = ("link", "cannot_link")
OVERRIDE_COLUMNS = ("record_id_a", "record_id_b", "action")
PAIRS_SCHEMA = {"l_idx": pl.Int32, "r_idx": pl.Int32, "manual": pl.String}


def read_overrides(path: Path) -> pl.DataFrame:
    """Read and check an overrides file (CSV or Parquet)."""
    try:
        frame = pl.read_parquet(path) if path.suffix == ".parquet" else pl.read_csv(path, infer_schema=False)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise IdentityInputError(f"{path}: cannot read the manual overrides: {exc}") from exc
    return check_overrides(frame, str(path))


def check_overrides(frame: pl.DataFrame, where: str) -> pl.DataFrame:
    missing = [c for c in OVERRIDE_COLUMNS if c not in frame.columns]
    if missing:
        raise IdentityInputError(
            f"{where}: manual overrides need columns {', '.join(OVERRIDE_COLUMNS)}; missing {', '.join(missing)}"
        )
    frame = frame.with_columns(
        pl.col("record_id_a", "record_id_b").cast(pl.String),  # exactly as given: ids are keys
        pl.col("action").cast(pl.String).str.strip_chars(),  # a keyword: " link" is still a link
    )
    bad = ~frame["action"].is_in(list(ACTIONS)).fill_null(False)
    if bad.any():
        row = int(bad.arg_true()[0]) + 1
        raise IdentityInputError(
            f"{where}: row {row}: action {frame['action'][row - 1]!r} is not one of {', '.join(ACTIONS)}"
        )
    return frame


def manual_pairs(overrides: pl.DataFrame | None, record_ids: pl.Series) -> pl.DataFrame:
    """Overrides as (l_idx, r_idx, manual) over the sorted `record_ids`; cannot-link wins a tie."""
    if overrides is None or overrides.is_empty():
        return pl.DataFrame(schema=PAIRS_SCHEMA)
    index = (
        pl.DataFrame({"record_id": record_ids})
        .with_row_index("idx")
        .with_columns(pl.col("idx").cast(pl.Int32))
    )
    pairs = overrides.join(
        index.rename({"record_id": "record_id_a", "idx": "a"}), on="record_id_a", how="left"
    ).join(index.rename({"record_id": "record_id_b", "idx": "b"}), on="record_id_b", how="left")
    _warn_unknown(pairs)
    return (
        pairs.filter(pl.col("a").is_not_null() & pl.col("b").is_not_null() & (pl.col("a") != pl.col("b")))
        .select(
            pl.min_horizontal("a", "b").alias("l_idx"),
            pl.max_horizontal("a", "b").alias("r_idx"),
            pl.col("action").alias("manual"),
        )
        .sort("l_idx", "r_idx", pl.col("manual") == "cannot_link", descending=[False, False, True])
        .unique(["l_idx", "r_idx"], keep="first", maintain_order=True)
        .cast(PAIRS_SCHEMA)  # type: ignore[arg-type]
    )


def _warn_unknown(pairs: pl.DataFrame) -> None:
    """Log the pairs naming an id that matches no record, with the first such ids quoted."""
    unknown = pairs.filter(pl.col("a").is_null() | pl.col("b").is_null())
    if unknown.is_empty():
        return
    ids = pl.concat(
        [
            unknown.filter(pl.col("a").is_null())["record_id_a"],
            unknown.filter(pl.col("b").is_null())["record_id_b"],
        ]
    ).unique(maintain_order=True)
    log.warning(
        "manual overrides: %d pair(s) name records not in the input; ignored (ids %s%s; "
        "ids are matched exactly, spaces and case included)",
        unknown.height,
        ", ".join(repr(i) for i in ids.head(MAX_LISTED_ROWS).to_list()),
        f" and {ids.len() - MAX_LISTED_ROWS} more" if ids.len() > MAX_LISTED_ROWS else "",
    )
