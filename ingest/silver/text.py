"""Contact and name standardization: phones, emails, names, genders.

Phone and pinyin conversion need Python libraries, so they run once per *distinct* value and the
result is joined back: the work scales with the number of different values, not rows.
"""

from __future__ import annotations

from functools import lru_cache

import phonenumbers
import polars as pl

EMAIL_PATTERN = r"^[a-z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*\.[a-z]{2,}$"
PHONE_NOISE = r"[\s\-().·/]"
HAN = r"^[\p{Han}·•\s]+$"
LATIN = r"^[\p{Latin}\s'.\-]+$"
# Two-character Chinese family names; any other Han name takes its first character as family name.
COMPOUND_SURNAMES = [
    "欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "慕容", "令狐", "尉迟", "长孙", "夏侯", "公孙",
    "轩辕", "端木", "宇文", "司徒", "司空", "申屠", "万俟", "独孤", "南宫", "西门", "呼延", "澹台",
]  # fmt: skip


def _distinct_map(values: pl.Series, function, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Apply a Python function to each distinct non-null value; a frame keyed by `value`."""
    distinct = values.drop_nulls().unique().to_list()
    rows = [(value, *function(value)) for value in distinct]
    return pl.DataFrame(rows, schema={"value": pl.String, **schema}, orient="row")


@lru_cache(maxsize=1_000_000)
def _phone(cleaned: str, region: str) -> tuple[str, bool, str | None]:
    try:
        number = phonenumbers.parse(cleaned, region)
    except phonenumbers.NumberParseException:
        return cleaned, False, None
    if not phonenumbers.is_valid_number(number):  # E.164 of an invalid number would only look right
        return cleaned, False, None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return e164, True, phonenumbers.region_code_for_number(number)


def standardize_phones(frame: pl.DataFrame, column: str, region: str) -> pl.DataFrame:
    """`column` -> E.164 when parseable (else the cleaned input), `<column>_valid`, `_phone_region`."""
    cleaned = frame[column].str.strip_chars().str.replace_all(PHONE_NOISE, "")
    cleaned = pl.Series(column, cleaned).replace("", None)
    lookup = _distinct_map(
        cleaned,
        lambda v: _phone(v, region),
        {"e164": pl.String, "valid": pl.Boolean, "region": pl.String},
    )
    joined = pl.DataFrame({"value": cleaned}).join(lookup, on="value", how="left", maintain_order="left")
    return frame.with_columns(
        joined["e164"].alias(column),
        pl.when(joined["value"].is_not_null())
        .then(joined["valid"].fill_null(False))
        .alias(f"{column}_valid"),
        joined["region"].alias("_phone_region"),
    )


def standardize_email(column: str) -> list[pl.Expr]:
    email = pl.col(column).str.strip_chars().str.to_lowercase()
    email = pl.when(email.str.len_chars() > 0).then(email)
    return [
        email.alias(column),
        pl.when(email.is_not_null()).then(email.str.contains(EMAIL_PATTERN)).alias(f"{column}_valid"),
    ]


def clean_name(column: str) -> pl.Expr:
    """NFKC (full-width letters, compatibility forms), trimmed, inner spaces collapsed."""
    text = pl.col(column).str.normalize("NFKC").str.strip_chars().str.replace_all(r"\s+", " ")
    return pl.when(text.str.len_chars() > 0).then(text).alias(column)


def name_script(column: str) -> pl.Expr:
    name = pl.col(column)
    return (
        pl.when(name.is_null())
        .then(pl.lit(None, dtype=pl.String))
        .when(name.str.contains(HAN))
        .then(pl.lit("han"))
        .when(name.str.contains(LATIN))
        .then(pl.lit("latin"))
        .otherwise(pl.lit("mixed"))
    )


def latin_case(column: str, script: pl.Expr) -> pl.Expr:
    """Latin names in Title Case (`FANG WANG` -> `Fang Wang`); Chinese characters untouched."""
    return pl.when(script == "latin").then(pl.col(column).str.to_titlecase()).otherwise(pl.col(column))


@lru_cache(maxsize=1_000_000)
def _pinyin(name: str) -> tuple[str]:
    from pypinyin import lazy_pinyin

    return (" ".join(part.strip() for part in lazy_pinyin(name.replace(" ", "")) if part.strip()).lower(),)


def add_pinyin(frame: pl.DataFrame, column: str, script_column: str, target: str) -> pl.DataFrame:
    """Pinyin for names with Chinese characters (once per distinct name), Latin names lower-cased."""
    has_han = frame[column].str.contains(r"\p{Han}").fill_null(False)
    han_names = frame[column].filter(has_han)
    lookup = _distinct_map(han_names, _pinyin, {"pinyin": pl.String})
    joined = frame.select(pl.col(column).alias("value")).join(
        lookup, on="value", how="left", maintain_order="left"
    )
    return frame.with_columns(
        pl.when(has_han).then(joined["pinyin"]).otherwise(frame[column].str.to_lowercase()).alias(target)
    )


def split_han_name(full: str) -> tuple[pl.Expr, pl.Expr]:
    """(family, given) of a Chinese full name: a known two-character surname, else the first character."""
    name = pl.col(full).str.replace_all(r"\s", "")
    compound = name.str.slice(0, 2).is_in(COMPOUND_SURNAMES)
    family = pl.when(compound).then(name.str.slice(0, 2)).otherwise(name.str.slice(0, 1))
    given = pl.when(compound).then(name.str.slice(2)).otherwise(name.str.slice(1))
    return family, pl.when(given.str.len_chars() > 0).then(given)


def map_vocabulary(column: str, vocabulary: dict[str, str], default: pl.Expr) -> pl.Expr:
    """Lower-cased, trimmed lookup in a controlled vocabulary; values not in it take `default`."""
    key = pl.col(column).cast(pl.String).str.strip_chars().str.to_lowercase()
    lowered = {k.strip().lower(): v for k, v in vocabulary.items()}
    if not lowered:
        return default
    return key.replace_strict(lowered, default=default, return_dtype=pl.String)
