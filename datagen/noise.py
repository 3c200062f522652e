"""Vectorised identity noise: typos, homophones, phone formats, email variants, blanked fields.

Each function takes whole columns plus the random draws it needs (so callers decide the stream) and
returns whole columns. The same operations serve every source; the sources only choose rates and
formats.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from datagen.random_streams import choice_index
from datagen.vocabulary import Vocabulary
from datagen.vocabulary import load as load_vocabulary

LETTERS = np.array(list("abcdefghijklmnopqrstuvwxyz"), dtype=object)


def pick_weighted(rng: np.random.Generator, weights: dict[str, float], size: int) -> pl.Series:
    """Labels drawn with the given weights."""
    labels = np.array(list(weights), dtype=object)
    return pl.Series(
        labels[choice_index(rng, np.array(list(weights.values()), dtype=float), size)], dtype=pl.String
    )


def pick_uniform(rng: np.random.Generator, values: list[str], size: int) -> pl.Series:
    """Values drawn uniformly."""
    return pl.Series(values, dtype=pl.String).gather(
        pl.Series(rng.integers(0, len(values), size), dtype=pl.UInt32)
    )


def latin_typo(text: pl.Expr, op: pl.Expr, u: pl.Expr, letter: pl.Expr) -> pl.Expr:
    """One keyboard slip: swap two neighbours (0), drop (1), double (2) or replace (3) a letter.

    Strings shorter than two characters are left alone.
    """
    length = text.str.len_chars()
    i = (u * (length - 1)).floor().cast(pl.Int64).clip(0, None)
    head = text.str.slice(0, i)
    swapped = pl.concat_str([head, text.str.slice(i + 1, 1), text.str.slice(i, 1), text.str.slice(i + 2)])
    dropped = pl.concat_str([head, text.str.slice(i + 1)])
    doubled = pl.concat_str([text.str.slice(0, i + 1), text.str.slice(i, 1), text.str.slice(i + 1)])
    replaced = pl.concat_str([head, letter, text.str.slice(i + 1)])
    typo = (
        pl.when(op == 0)
        .then(swapped)
        .when(op == 1)
        .then(dropped)
        .when(op == 2)
        .then(doubled)
        .otherwise(replaced)
    )
    return pl.when(length >= 2).then(typo).otherwise(text)


def typo_inputs(rng: np.random.Generator, size: int) -> dict[str, pl.Series]:
    return {
        "_op": pl.Series(rng.integers(0, 4, size)),
        "_u": pl.Series(rng.random(size)),
        "_letter": pl.Series(LETTERS[rng.integers(0, 26, size)], dtype=pl.String),
    }


def apply_latin_typo(
    frame: pl.DataFrame, column: str, mask: np.ndarray, rng: np.random.Generator
) -> pl.DataFrame:
    """`column` with a keyboard slip where `mask`."""
    inputs = typo_inputs(rng, frame.height)
    with_inputs = frame.with_columns(_mask=pl.Series(mask), **inputs)
    typo = latin_typo(pl.col(column), pl.col("_op"), pl.col("_u"), pl.col("_letter"))
    return with_inputs.with_columns(pl.when("_mask").then(typo).otherwise(pl.col(column)).alias(column)).drop(
        "_mask", *inputs
    )


def homophone_typo(
    frame: pl.DataFrame, column: str, mask: np.ndarray, rng: np.random.Generator, vocabulary: Vocabulary
) -> pl.DataFrame:
    """Replace the last character of Chinese `column` with a same-sounding one where `mask`.

    What cashiers do when the customer says their name aloud: 王静 becomes 王晶. Names whose last
    character has no common homophone are left alone (so the typo flag must be read off the result).
    """
    table = vocabulary.homophones.group_by("char").agg(pl.col("alternative").sort()).sort("char")
    work = frame.with_row_index("_row").with_columns(
        _mask=pl.Series(mask), _u=pl.Series(rng.random(frame.height)), _last=pl.col(column).str.slice(-1)
    )
    work = work.join(table, left_on="_last", right_on="char", how="left", maintain_order="left")
    pick = pl.col("alternative").list.get(
        (pl.col("_u") * pl.col("alternative").list.len()).floor().cast(pl.Int64), null_on_oob=True
    )
    replaced = pl.concat_str([pl.col(column).str.slice(0, pl.col(column).str.len_chars() - 1), pick])
    work = work.with_columns(
        pl.when(pl.col("_mask") & pick.is_not_null()).then(replaced).otherwise(pl.col(column)).alias(column)
    )
    return work.sort("_row").drop("_row", "_mask", "_u", "_last", "alternative")


def digit_typo(frame: pl.DataFrame, column: str, mask: np.ndarray, rng: np.random.Generator) -> pl.DataFrame:
    """Mistype one digit of a phone number (replace or swap), away from the operator prefix."""
    n = frame.height
    work = frame.with_columns(
        _mask=pl.Series(mask),
        _swap=pl.Series(rng.random(n) < load_vocabulary().share("digit_typo_swap")),
        _i=pl.Series(rng.integers(3, 9, n)),
        _digit=pl.Series(rng.integers(0, 10, n)).cast(pl.String),
    )
    text = pl.col(column)
    i = pl.min_horizontal(pl.col("_i"), text.str.len_chars() - 2).clip(0, None)
    swapped = pl.concat_str(
        [text.str.slice(0, i), text.str.slice(i + 1, 1), text.str.slice(i, 1), text.str.slice(i + 2)]
    )
    replaced = pl.concat_str([text.str.slice(0, i), pl.col("_digit"), text.str.slice(i + 1)])
    typo = pl.when("_swap").then(swapped).otherwise(replaced)
    # A typo that lands on the same digit is no typo: nudge it by one.
    nudged = pl.concat_str(
        [
            text.str.slice(0, i),
            ((text.str.slice(i, 1).cast(pl.Int64, strict=False).fill_null(0) + 1) % 10).cast(pl.String),
            text.str.slice(i + 1),
        ]
    )
    work = work.with_columns(_typo=typo).with_columns(
        _typo=pl.when(pl.col("_typo") == text).then(nudged).otherwise("_typo")
    )
    return work.with_columns(pl.when("_mask").then("_typo").otherwise(text).alias(column)).drop(
        "_mask", "_swap", "_i", "_digit", "_typo"
    )


def format_phone(cc: pl.Expr, national: pl.Expr, style: pl.Expr) -> pl.Expr:
    """Write a phone the way a system or person does; see `phone_formats` in habits.yaml.

    Chinese mobiles get every style; foreign numbers keep their country code except in the bare
    'national' style (which is ambiguous on purpose: it reads as an invalid Chinese number).
    """
    a, b, c = national.str.slice(0, 3), national.str.slice(3, 4), national.str.slice(7)
    cn = cc == "86"
    cn_text = (
        pl.when(style == "e164")
        .then(pl.concat_str([pl.lit("+86"), national]))
        .when(style == "spaced")
        .then(pl.concat_str([pl.lit("+86 "), a, pl.lit(" "), b, pl.lit(" "), c]))
        .when(style == "intl00")
        .then(pl.concat_str([pl.lit("0086-"), a, pl.lit("-"), b, pl.lit("-"), c]))
        .when(style == "dashed")
        .then(pl.concat_str([a, pl.lit("-"), b, pl.lit("-"), c]))
        .when(style == "blocks")
        .then(pl.concat_str([a, pl.lit(" "), b, pl.lit(" "), c]))
        .when(style == "cc_space")
        .then(pl.concat_str([pl.lit("86 "), national]))
        .otherwise(national)
    )
    foreign_text = (
        pl.when(style == "national")
        .then(national)
        .when(style == "intl00")
        .then(pl.concat_str([pl.lit("00"), cc, pl.lit("-"), national]))
        .when(style.is_in(["spaced", "blocks", "cc_space"]))
        .then(pl.concat_str([pl.lit("+"), cc, pl.lit(" "), national]))
        .otherwise(pl.concat_str([pl.lit("+"), cc, national]))
    )
    return pl.when(national.is_null()).then(None).when(cn).then(cn_text).otherwise(foreign_text)


def email_variant(email: pl.Expr, kind: pl.Expr, tag: pl.Expr, u: pl.Expr, vocabulary: Vocabulary) -> pl.Expr:
    """The same mailbox written differently: Title.Case, dots moved (gmail), or a +tag.

    kind: "case", "dots", "plus" or anything else for unchanged. Dots and tags are only used where the
    provider delivers them to the same mailbox, so the truth stays true.
    """
    habits = vocabulary.habits
    local = email.str.split_exact("@", 1).struct.field("field_0")
    domain = email.str.split_exact("@", 1).struct.field("field_1")
    titled = pl.concat_str(
        [
            local.str.to_titlecase(),
            pl.lit("@"),
            domain.str.slice(0, 1).str.to_uppercase(),
            domain.str.slice(1),
        ]
    )
    length = local.str.len_chars()
    cut = (u * (length - 1)).floor().cast(pl.Int64).clip(1, None)
    has_dot = local.str.contains(".", literal=True)
    dotted = (
        pl.when(has_dot)
        .then(local.str.replace_all(".", "", literal=True))
        .otherwise(pl.concat_str([local.str.slice(0, cut), pl.lit("."), local.str.slice(cut)]))
    )
    dots = pl.concat_str([dotted, pl.lit("@"), domain])
    plus = pl.concat_str([local, pl.lit("+"), tag, pl.lit("@"), domain])
    return (
        pl.when(kind == "case")
        .then(titled)
        .when((kind == "dots") & domain.is_in(habits["dot_insensitive_domains"]) & (length >= 3))
        .then(dots)
        .when((kind == "plus") & domain.is_in(habits["plus_tag_domains"]))
        .then(plus)
        .otherwise(email)
    )


def email_typo(
    email: pl.Expr, op: pl.Expr, u: pl.Expr, letter: pl.Expr, in_domain: pl.Expr, vocabulary: Vocabulary
) -> pl.Expr:
    """Mistyped address: a misspelt provider (qq.con, gmial.com) or a slip in the local part."""
    typos = vocabulary.habits["email_typo_domains"]
    local = email.str.split_exact("@", 1).struct.field("field_0")
    domain = email.str.split_exact("@", 1).struct.field("field_1")
    bad_domain = domain.replace_strict(list(typos), list(typos.values()), default=None)
    domain_typo = pl.concat_str([local, pl.lit("@"), bad_domain])
    local_typo = pl.concat_str([latin_typo(local, op, u, letter), pl.lit("@"), domain])
    return pl.when(in_domain & bad_domain.is_not_null()).then(domain_typo).otherwise(local_typo)
