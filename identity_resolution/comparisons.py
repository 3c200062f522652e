"""Comparison vectors for candidate pairs, computed in bulk.

For every declared comparison each pair gets a level code (gamma): 0 = exact, then the similarity
bands in order, the last code = "else"; -1 when either side is missing (neutral evidence). String
similarity is computed by rapidfuzz over whole pair arrays (`process.cpdist`, C++ with both
cores), chunked so that memory stays flat however many pairs there are; no Python loop per pair.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from rapidfuzz import process
from rapidfuzz.distance import OSA, JaroWinkler, Levenshtein
from rapidfuzz.fuzz import token_sort_ratio

from identity_resolution.settings import Comparison

NULL_LEVEL = -1
CHUNK_PAIRS = 1_000_000
MAX_NAME_TOKENS = 4  # further tokens stay joined to the fourth
WORKERS = -1  # rapidfuzz: all cores

_SIMILARITY = {
    "jaro_winkler": (JaroWinkler.normalized_similarity, 1.0),
    "levenshtein": (Levenshtein.normalized_similarity, 1.0),
    "token_sort": (token_sort_ratio, 100.0),
}


def gamma_column(comparison: Comparison) -> str:
    return f"gamma_{comparison.name}"


def _bulk_similarity(left: pl.Series, right: pl.Series, scorer: str) -> np.ndarray:
    function, scale = _SIMILARITY[scorer]
    out = np.empty(len(left), dtype=np.float32)
    for start in range(0, len(left), CHUNK_PAIRS):
        stop = start + CHUNK_PAIRS
        out[start:stop] = process.cpdist(
            left[start:stop].to_list(),
            right[start:stop].to_list(),
            scorer=function,
            workers=WORKERS,
            dtype=np.float32,
        ) / np.float32(scale)
    return out


def _bulk_edits(left: pl.Series, right: pl.Series) -> np.ndarray:
    out = np.empty(len(left), dtype=np.int32)
    for start in range(0, len(left), CHUNK_PAIRS):
        stop = start + CHUNK_PAIRS
        out[start:stop] = process.cpdist(
            left[start:stop].to_list(),
            right[start:stop].to_list(),
            scorer=OSA.distance,
            workers=WORKERS,
            dtype=np.int32,
        )
    return out


def _token_columns(values: pl.Series, prefix: str) -> pl.DataFrame:
    fields = [f"{prefix}{i}" for i in range(MAX_NAME_TOKENS)]
    return values.str.splitn(" ", MAX_NAME_TOKENS).struct.rename_fields(fields).struct.unnest()


def _residual(side: str, other: str) -> pl.Expr:
    """The tokens of `side` (already sorted) that `other` does not have, as one string."""
    kept = [
        pl.when(
            pl.any_horizontal(
                [
                    (pl.col(f"{side}{i}") == pl.col(f"{other}{j}")).fill_null(False)
                    for j in range(MAX_NAME_TOKENS)
                ]
            )
        )
        .then(None)
        .otherwise(pl.col(f"{side}{i}"))
        for i in range(MAX_NAME_TOKENS)
    ]
    return pl.concat_str(kept, separator=" ", ignore_nulls=True).alias(side)


def _name_residuals(left: pl.Series, right: pl.Series) -> tuple[pl.Series, pl.Series, np.ndarray]:
    """Name tokens that the two sides do not share, and whether one name contains the other.

    Comparing only what differs keeps a shared family name from making a mother and her son look
    alike ("fang wang" vs "lei wang" compares "fang" with "lei"). Fixed token columns instead of
    list set operations: several times faster on millions of pairs.
    """
    tokens = pl.concat([_token_columns(left, "l"), _token_columns(right, "r")], how="horizontal")
    frame = tokens.select(_residual("l", "r"), _residual("r", "l"))
    subset = ((frame["l"] == "") | (frame["r"] == "")).to_numpy()
    return frame["l"], frame["r"], subset


def _string_levels(comparison: Comparison, left: pl.Series, right: pl.Series) -> np.ndarray:
    """Level codes for pairs whose values are both present and not equal."""
    else_level = len(comparison.level_labels()) - 1
    levels = np.full(len(left), else_level, dtype=np.int8)
    if not len(left) or not comparison.similarity_levels:
        return levels
    if comparison.differing_tokens_only:
        left, right, subset = _name_residuals(left, right)
        similarity = _bulk_similarity(left, right, comparison.scorer)
        # One name inside the other (a missing given name) is weak evidence, not a contradiction.
        similarity[subset] = comparison.similarity_levels[-1]
    else:
        similarity = _bulk_similarity(left, right, comparison.scorer)
    for code, threshold in reversed(list(enumerate(comparison.similarity_levels, start=1))):
        levels[similarity >= np.float32(threshold) - np.float32(1e-6)] = code
    return levels


def _date_levels(left: pl.Series, right: pl.Series) -> np.ndarray:
    """1 when one of year/month/day differs or day and month are swapped (a typo), else 2."""
    frame = pl.DataFrame({"l": left, "r": right}).select(
        (
            (pl.col("l").dt.year() == pl.col("r").dt.year()).cast(pl.Int8)
            + (pl.col("l").dt.month() == pl.col("r").dt.month()).cast(pl.Int8)
            + (pl.col("l").dt.day() == pl.col("r").dt.day()).cast(pl.Int8)
        ).alias("same_parts"),
        (
            (pl.col("l").dt.year() == pl.col("r").dt.year())
            & (pl.col("l").dt.month() == pl.col("r").dt.day())
            & (pl.col("l").dt.day() == pl.col("r").dt.month())
        ).alias("swapped"),
    )
    typo = ((frame["same_parts"] >= 2) | frame["swapped"]).to_numpy()
    return np.where(typo, 1, 2).astype(np.int8)


def comparison_levels(comparison: Comparison, left: pl.Series, right: pl.Series) -> np.ndarray:
    """Gamma codes (int8) of one comparison for aligned left/right value arrays."""
    present = (left.is_not_null() & right.is_not_null()).to_numpy()
    equal = (left == right).fill_null(False).to_numpy()
    gammas = np.full(len(left), NULL_LEVEL, dtype=np.int8)
    gammas[equal] = 0
    differ = present & ~equal
    if not differ.any():
        return gammas
    mask = pl.Series(differ)
    l_diff, r_diff = left.filter(mask), right.filter(mask)
    else_level = len(comparison.level_labels()) - 1
    if comparison.kind == "string":
        gammas[differ] = _string_levels(comparison, l_diff, r_diff)
    elif comparison.kind == "date":
        gammas[differ] = _date_levels(l_diff, r_diff)
    elif comparison.kind == "identifier" and comparison.max_edits:
        edits = _bulk_edits(l_diff.cast(pl.String), r_diff.cast(pl.String))
        gammas[differ] = np.where(edits <= comparison.max_edits, 1, else_level).astype(np.int8)
    else:
        gammas[differ] = else_level
    return gammas


def _given_names_agree(
    features: pl.DataFrame, left_rows: pl.Series, right_rows: pl.Series, threshold: float
) -> np.ndarray:
    """Both given names present and similar, directly or with given and family name swapped."""
    given, family = features.get_column("given_key"), features.get_column("family_key")
    l_given, r_given = given.gather(left_rows), given.gather(right_rows)
    present = (l_given.is_not_null() & r_given.is_not_null()).to_numpy()
    agree = np.zeros(len(left_rows), dtype=bool)
    if not present.any():
        return agree
    mask = pl.Series(present)
    l_given, r_given = l_given.filter(mask), r_given.filter(mask)
    r_family = family.gather(right_rows).filter(mask).fill_null("")
    l_family = family.gather(left_rows).filter(mask).fill_null("")
    direct = _bulk_similarity(l_given, r_given, "jaro_winkler")
    swapped = np.minimum(
        _bulk_similarity(l_given, r_family, "jaro_winkler"),
        _bulk_similarity(l_family, r_given, "jaro_winkler"),
    )
    agree[present] = np.maximum(direct, swapped) >= np.float32(threshold)
    return agree


def comparison_vectors(
    features: pl.DataFrame, left_idx: np.ndarray, right_idx: np.ndarray, comparisons: list[Comparison]
) -> pl.DataFrame:
    """One gamma column per comparison for the pairs (left_idx[i], right_idx[i]) of `features` rows."""
    left_rows, right_rows = pl.Series(left_idx), pl.Series(right_idx)
    columns = {}
    for comparison in comparisons:
        values = features.get_column(comparison.column)
        levels = comparison_levels(comparison, values.gather(left_rows), values.gather(right_rows))
        else_level = len(comparison.level_labels()) - 1
        disagree = levels == else_level
        if comparison.given_name_decides and comparison.similarity_levels and disagree.any():
            weakest = comparison.similarity_levels[-1]
            rows = np.flatnonzero(disagree)
            rescued = _given_names_agree(
                features, left_rows.gather(pl.Series(rows)), right_rows.gather(pl.Series(rows)), weakest
            )
            levels[rows[rescued]] = else_level - 1
        columns[gamma_column(comparison)] = levels
    return pl.DataFrame(columns, schema={gamma_column(c): pl.Int8 for c in comparisons})
