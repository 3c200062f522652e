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
from rapidfuzz.distance import OSA, Indel, JaroWinkler, Levenshtein
from rapidfuzz.fuzz import token_sort_ratio

from identity_resolution.settings import GIVEN_NAME_AGREES, Comparison

NULL_LEVEL = -1
CHUNK_PAIRS = 1_000_000
MAX_NAME_TOKENS = 4  # further tokens stay joined to the fourth
TYPO_SIMILARITY = 0.92  # Jaro-Winkler from which one name token is a typo of another
WORKERS = -1  # rapidfuzz: all cores
CUTOFF_SLACK = 1e-6  # a score cutoff sits this far below the level it serves (float rounding)

_SIMILARITY = {
    "jaro_winkler": (JaroWinkler.normalized_similarity, 1.0),
    "levenshtein": (Levenshtein.normalized_similarity, 1.0),
    "token_sort": (token_sort_ratio, 100.0),
    "indel": (Indel.normalized_similarity, 1.0),
}


def gamma_column(comparison: Comparison) -> str:
    return f"gamma_{comparison.name}"


def _bulk_similarity(
    left: pl.Series, right: pl.Series, scorer: str, cutoff: float | None = None
) -> np.ndarray:
    """Similarity in [0, 1] per pair; with `cutoff`, anything below it comes back as 0, which lets
    rapidfuzz stop early (most pairs, e.g. the random pairs behind u, are far below every level)."""
    if scorer == "token_sort_compact":
        # Addresses: words moved around (token sort) or split and joined ("cre scent", pinyin
        # syllables): whichever view finds them closer.
        compact_left, compact_right = left.str.replace_all(" ", ""), right.str.replace_all(" ", "")
        return np.maximum(
            _bulk_similarity(left, right, "token_sort", cutoff),
            _bulk_similarity(compact_left, compact_right, "indel", cutoff),
        )
    function, scale = _SIMILARITY[scorer]
    score_cutoff = None if cutoff is None else max(cutoff - CUTOFF_SLACK, 0.0) * scale
    out = np.empty(len(left), dtype=np.float32)
    for start in range(0, len(left), CHUNK_PAIRS):
        stop = start + CHUNK_PAIRS
        out[start:stop] = process.cpdist(
            left[start:stop].to_list(),
            right[start:stop].to_list(),
            scorer=function,
            workers=WORKERS,
            dtype=np.float32,
            score_cutoff=score_cutoff,
        ) / np.float32(scale)
    return out


def _bulk_edits(left: pl.Series, right: pl.Series, cutoff: int | None = None) -> np.ndarray:
    """Edit distance (OSA) per pair; with `cutoff`, anything above it comes back as cutoff + 1
    (rapidfuzz then stops early)."""
    out = np.empty(len(left), dtype=np.int32)
    for start in range(0, len(left), CHUNK_PAIRS):
        stop = start + CHUNK_PAIRS
        out[start:stop] = process.cpdist(
            left[start:stop].to_list(),
            right[start:stop].to_list(),
            scorer=OSA.distance,
            workers=WORKERS,
            dtype=np.int32,
            score_cutoff=cutoff,
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
    subset |= _one_token_inside(frame["l"], frame["r"]) | _one_token_inside(frame["r"], frame["l"])
    return frame["l"], frame["r"], subset


def _one_token_inside(single: pl.Series, several: pl.Series) -> np.ndarray:
    """`single` is one token that is a typo away from one of the two or more tokens of `several`
    ("glaws" against "charlotte glass": a family name alone, mistyped)."""
    candidates = (~single.str.contains(" ") & several.str.contains(" ")).fill_null(False).to_numpy()
    inside = np.zeros(len(single), dtype=bool)
    if not candidates.any():
        return inside
    mask = pl.Series(candidates)
    one = single.filter(mask)
    parts = _token_columns(several.filter(mask), "t")
    best = np.zeros(len(one), dtype=bool)
    for column in parts.columns:
        other = parts[column].fill_null("")
        similar = _bulk_similarity(one, other, "jaro_winkler", TYPO_SIMILARITY) >= np.float32(TYPO_SIMILARITY)
        best |= similar | (_bulk_edits(one, other, 1) <= 1) & (other != "").to_numpy()
    inside[candidates] = best
    return inside


def _similarity_codes(comparison: Comparison) -> list[int]:
    """The level code of each similarity band (the typo and given-name levels sit in between)."""
    labels = comparison.level_labels()
    return [labels.index(f"{comparison.scorer}>={s:g}") for s in comparison.similarity_levels]


def _edit_level(comparison: Comparison, edits: int) -> int:
    """The level code of "edits<=N" (strings: the typo level; identifiers: each edit band)."""
    return comparison.level_labels().index(f"edits<={edits}")


def _string_levels(comparison: Comparison, left: pl.Series, right: pl.Series) -> np.ndarray:
    """Level codes for pairs whose values are both present and not equal."""
    else_level = len(comparison.level_labels()) - 1
    levels = np.full(len(left), else_level, dtype=np.int8)
    if not len(left) or not comparison.similarity_levels:
        return levels
    subset = np.zeros(len(left), dtype=bool)
    if comparison.differing_tokens_only:
        left, right, subset = _name_residuals(left, right)
    similarity = _bulk_similarity(left, right, comparison.scorer, min(comparison.similarity_levels))
    codes = _similarity_codes(comparison)
    for code, threshold in reversed(list(zip(codes, comparison.similarity_levels, strict=True))):
        levels[similarity >= np.float32(threshold) - np.float32(1e-6)] = code
    if comparison.typo_edits:
        typo_code = _edit_level(comparison, comparison.typo_edits)
        close = _bulk_edits(left, right, comparison.typo_edits) <= comparison.typo_edits
        levels[close & (levels > typo_code)] = typo_code
    # One name inside the other ("Ms Wang" for "Wang Fang") is its own, weak level: neither a
    # typo nor a contradiction.
    levels[subset] = else_level - 1
    return levels


def _date_levels(left: pl.Series, right: pl.Series) -> np.ndarray:
    """1 = a typo (one digit changed or two neighbouring digits swapped in YYYYMMDD, or day and
    month swapped), 2 = one of year/month/day differs, 3 = else."""
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
        pl.col("l").dt.strftime("%Y%m%d").alias("l_text"),
        pl.col("r").dt.strftime("%Y%m%d").alias("r_text"),
    )
    edits = _bulk_edits(frame["l_text"], frame["r_text"], 1)
    typo = (edits <= 1) | frame["swapped"].to_numpy()
    one_part = frame["same_parts"].to_numpy() >= 2
    return np.where(typo, 1, np.where(one_part, 2, 3)).astype(np.int8)


def _one_extends_other(left: pl.Series, right: pl.Series, min_length: int) -> np.ndarray:
    """One value, up to its "@" (the local part of an email), is the start of the other's and
    has at least `min_length` characters (an id cut short or with characters appended)."""
    frame = pl.DataFrame({"l": left, "r": right}).select(
        pl.col("l").str.replace(r"@.*$", "").alias("l"), pl.col("r").str.replace(r"@.*$", "").alias("r")
    )
    shorter_left = frame["l"].str.len_chars() <= frame["r"].str.len_chars()
    short = pl.select(pl.when(shorter_left).then(frame["l"]).otherwise(frame["r"])).to_series()
    long = pl.select(pl.when(shorter_left).then(frame["r"]).otherwise(frame["l"])).to_series()
    extends = long.str.starts_with(short) & (short.str.len_chars() >= min_length) & (short != long)
    return extends.fill_null(False).to_numpy()


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
    elif comparison.kind == "identifier" and (comparison.max_edits or comparison.extended_min_length):
        l_text, r_text = l_diff.cast(pl.String), r_diff.cast(pl.String)
        levels = np.full(len(l_text), else_level, dtype=np.int8)
        if comparison.extended_min_length:
            levels[_one_extends_other(l_text, r_text, comparison.extended_min_length)] = else_level - 1
        if comparison.max_edits:
            edits = _bulk_edits(l_text, r_text, comparison.max_edits)
            levels[edits <= comparison.max_edits] = _edit_level(comparison, comparison.max_edits)
            if 0 < comparison.typo_edits < comparison.max_edits:
                levels[edits <= comparison.typo_edits] = _edit_level(comparison, comparison.typo_edits)
        gammas[differ] = levels
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
    direct = _bulk_similarity(l_given, r_given, "jaro_winkler", threshold)
    swapped = np.minimum(
        _bulk_similarity(l_given, r_family, "jaro_winkler", threshold),
        _bulk_similarity(l_family, r_given, "jaro_winkler", threshold),
    )
    agree[present] = np.maximum(direct, swapped) >= np.float32(threshold)
    return agree


def _joined_names_agree(features: pl.DataFrame, left_rows: pl.Series, right_rows: pl.Series) -> np.ndarray:
    """One name without spaces equals the other's family + given name (or given + family)."""
    names = features.select(
        pl.col("name_key").str.replace_all(" ", "").alias("compact"),
        pl.concat_str(["family_key", "given_key"]).alias("family_first"),
        pl.concat_str(["given_key", "family_key"]).alias("given_first"),
    )
    left, right = names[left_rows], names[right_rows]

    def same(a: pl.Series, b: pl.Series) -> np.ndarray:
        return (a == b).fill_null(False).to_numpy()

    return (
        same(left["compact"], right["family_first"])
        | same(left["compact"], right["given_first"])
        | same(right["compact"], left["family_first"])
        | same(right["compact"], left["given_first"])
    )


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
            levels[rows[rescued]] = comparison.level_labels().index(GIVEN_NAME_AGREES)
            disagree = levels == else_level
        if comparison.given_name_decides and disagree.any():
            # One side written as one word ("liguiying", "zhanghui"): the same letters as the
            # other's family and given name in either order is the same name, not another one.
            rows = np.flatnonzero(disagree)
            joined = _joined_names_agree(
                features, left_rows.gather(pl.Series(rows)), right_rows.gather(pl.Series(rows))
            )
            levels[rows[joined]] = 1
            disagree = levels == else_level
        if comparison.display_names_neutral and disagree.any():
            display = features.get_column("name_is_display").to_numpy()
            levels[disagree & (display[left_idx] | display[right_idx])] = NULL_LEVEL
        columns[gamma_column(comparison)] = levels
    return pl.DataFrame(columns, schema={gamma_column(c): pl.Int8 for c in comparisons})
