"""Contact and name standardization: phones, emails, names, genders.

Phone and pinyin conversion need Python libraries, so they run once per *distinct* value and the
result is joined back: the work scales with the number of different values, not rows.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

import phonenumbers
import polars as pl

from warehouse.text import compatible, han_family_given

EMAIL_PATTERN = r"^[a-z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*\.[a-z]{2,}$"
PHONE_NOISE = r"[\s\-().·/]"
HAN = r"^[\p{Han}·•\s]+$"
LATIN = r"^[\p{Latin}\s'.\-]+$"


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


class MobilePattern(NamedTuple):
    """How to recognise the default region's mobile numbers without calling phonenumbers."""

    number: str  # cleaned input -> group 1: the national number (mobile pattern)
    country_code: str
    general: str  # the national number must also match the region's general pattern ...
    national_prefix: str | None  # ... and must not start with a prefix the library would strip


@lru_cache(maxsize=64)
def mobile_fast_path(region: str) -> MobilePattern | None:
    """The default region's mobile pattern, from phonenumbers' own metadata (None: no fast path).

    phonenumbers costs ~50 µs per number in Python; a million customers have a million numbers.
    Most are mobile numbers of the default region, written nationally or with `+cc`/`00cc`; for those
    the library's answer is known without calling it: the national number matches the region's
    mobile pattern, so it is valid, its E.164 form is `+cc` + the national number and its region is
    the default region. Only for regions that own their country code alone (not +1, shared by many),
    and never when the national number could start with a prefix the library would strip.
    Everything else goes through the library (tests compare both paths).
    """
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if metadata is None or metadata.mobile is None or not metadata.mobile.national_number_pattern:
        return None
    code = metadata.country_code
    if len(phonenumbers.region_codes_for_country_code(code)) != 1:
        return None
    international = [rf"\+{code}"]
    if re.fullmatch(metadata.international_prefix or "$^", "00"):  # the common `00` dialling prefix
        international.append(f"00{code}")
    return MobilePattern(
        number=rf"^(?:{'|'.join(international)})?((?:{metadata.mobile.national_number_pattern}))$",
        country_code=str(code),
        general=rf"^(?:{metadata.general_desc.national_number_pattern})$",
        national_prefix=rf"^(?:{metadata.national_prefix_for_parsing})"
        if metadata.national_prefix_for_parsing
        else None,
    )


def standardize_phones(frame: pl.DataFrame, column: str, region: str) -> pl.DataFrame:
    """`column` -> E.164 when parseable (else the cleaned input), `<column>_valid`, `_phone_region`.

    Full-width digits are folded to ASCII first (`compatible`): the fast path's `\\d` would take
    them as digits and keep them. Default-region mobile numbers are recognised vectorised
    (`mobile_fast_path`); the rest go through phonenumbers once per distinct value and are joined back.
    """
    cleaned = frame.select(compatible(pl.col(column)).str.strip_chars().str.replace_all(PHONE_NOISE, ""))
    cleaned = cleaned.to_series().replace("", None)
    fast = mobile_fast_path(region)
    national = pl.Series("national", [None] * len(cleaned), dtype=pl.String)
    if fast is not None:
        found = cleaned.str.extract(fast.number, 1)
        usable = found.str.contains(fast.general)
        if fast.national_prefix:
            usable = usable & ~found.str.contains(fast.national_prefix)
        national = found.zip_with(usable.fill_null(False), national)
    lookup = _distinct_map(
        cleaned.filter(national.is_null()),
        lambda v: _phone(v, region),
        {"e164": pl.String, "valid": pl.Boolean, "region": pl.String},
    )
    joined = pl.DataFrame({"value": cleaned, "national": national}).join(
        lookup, on="value", how="left", maintain_order="left"
    )
    is_fast = pl.col("national").is_not_null()
    code = fast.country_code if fast else ""
    out = joined.select(
        pl.when(is_fast).then(pl.lit("+" + code) + pl.col("national")).otherwise("e164").alias(column),
        pl.when(is_fast)
        .then(pl.lit(True))
        .when(pl.col("value").is_not_null())
        .then(pl.col("valid").fill_null(False))
        .alias(f"{column}_valid"),
        pl.when(is_fast).then(pl.lit(region)).otherwise("region").alias("_phone_region"),
    )
    return frame.with_columns(out.get_columns())


def standardize_email(column: str) -> list[pl.Expr]:
    """Trimmed, lower-cased, full-width letters and `＠` folded to ASCII; `<column>_valid`."""
    email = compatible(pl.col(column)).str.strip_chars().str.to_lowercase()
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
    """(family, given) of a Chinese full name: family name first, also when written given name
    first with a space (雨涵 李); see `warehouse.text.han_family_given`."""
    return han_family_given(pl.col(full).str.strip_chars().str.replace_all(r"\s+", " "))


def map_vocabulary(column: str, vocabulary: dict[str, str], default: pl.Expr) -> pl.Expr:
    """Lower-cased, trimmed lookup in a controlled vocabulary; values not in it take `default`."""
    key = pl.col(column).cast(pl.String).str.strip_chars().str.to_lowercase()
    lowered = {k.strip().lower(): v for k, v in vocabulary.items()}
    if not lowered:
        return default
    return key.replace_strict(lowered, default=default, return_dtype=pl.String)
