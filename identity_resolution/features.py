"""Comparison features from canonical identity records: one vectorised pass, any script.

Raw input (`cdp resolve`) and silver (already standardized) go through the same functions, which
are idempotent on standardized values, so both paths compare like with like:
- names: Unicode-folded, accents and emoji stripped, Chinese characters turned into pinyin (family
  name = first character, given name = the rest joined: 王晓芳 -> `wang` + `xiaofang`, which is how
  the name is typed in Latin script), tokens sorted so that `FANG WANG` and `王芳` share a key;
- dates of birth from the formats found in the wild; implausible dates become null;
- emails lower-cased with plus-tags (and Gmail dots) removed; phones in E.164 using the default
  region for national numbers; ids without spaces, dashes or case; addresses as folded tokens.
Invalid values become null: they are missing evidence, never a match.
"""

from __future__ import annotations

from datetime import date

import phonenumbers
import polars as pl
from pypinyin import Style, lazy_pinyin

from identity_resolution.settings import FEATURE_COLUMNS

DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%d.%m.%Y", "%Y.%m.%d", "%d/%m/%Y")
EARLIEST_BIRTH_YEAR = 1900
GMAIL_DOMAINS = ("gmail.com", "googlemail.com")
E164_MIN_DIGITS, E164_MAX_DIGITS = 8, 15
# Phone numbers are cut in three parts: the last 4 digits, the 4 before them, and the rest. One
# mistyped or swapped digit leaves two of the three intact, so blocking on every pair of parts
# (head = rest + middle, tail = middle + last, ends = rest + last) finds typo'd numbers while
# each key stays selective.
PHONE_PART_DIGITS = 4
HAN = r"\p{Han}"


def fold_text(expr: pl.Expr, max_length: int) -> pl.Expr:
    """Compatibility-fold, strip accents and symbols (emoji), lower-case, single spaces."""
    folded = (
        expr.str.slice(0, max_length * 2)
        .str.normalize("NFKD")
        .str.replace_all(r"\p{Mn}", "")
        .str.to_lowercase()
        .str.replace_all(r"[^\p{L}\p{N}]+", " ")
        .str.strip_chars()
        .str.slice(0, max_length)
    )
    return pl.when(folded == "").then(None).otherwise(folded)


def _han_pinyin_table(frame: pl.DataFrame, columns: list[str]) -> tuple[list[str], list[str]]:
    """Pinyin of every distinct Chinese character in `columns` (a few thousand, not per row)."""
    chars = (
        pl.concat([frame.get_column(c).str.extract_all(HAN).explode() for c in columns])
        .drop_nulls()
        .unique()
        .sort()
        .to_list()
    )
    return chars, [lazy_pinyin(ch, style=Style.NORMAL)[0] for ch in chars]


def _pinyin(expr: pl.Expr, table: tuple[list[str], list[str]], separator: str) -> pl.Expr:
    chars, readings = table
    if not chars:
        return expr
    return expr.str.replace_many(chars, [r + separator for r in readings]).str.strip_chars()


def _tokens_key(tokens: pl.Expr) -> pl.Expr:
    key = tokens.list.eval(pl.element().filter(pl.element() != "")).list.sort().list.join(" ")
    return pl.when(key == "").then(None).otherwise(key)


def _without_titles(text: pl.Expr, titles: list[str]) -> pl.Expr:
    """Drop honorifics: whole Latin words, or Chinese titles at the end of a name (王女士)."""
    latin = [t for t in titles if t.isascii()]
    han = [t for t in titles if not t.isascii()]
    if latin:
        text = text.str.replace_all(r"\b(?:" + "|".join(latin) + r")\b", "")
    if han:
        text = text.str.replace_all("(?:" + "|".join(han) + ")$", "")
    cleaned = text.str.replace_all(r"\s+", " ").str.strip_chars()
    return pl.when(cleaned == "").then(None).otherwise(cleaned)


def _name_features(frame: pl.DataFrame, max_length: int, titles: list[str]) -> pl.DataFrame:
    """given_key, family_key, name_key (sorted tokens) and name_initials."""
    table = _han_pinyin_table(frame, ["given_name", "family_name", "full_name"])
    given = _without_titles(fold_text(pl.col("given_name"), max_length), titles)
    family = _without_titles(fold_text(pl.col("family_name"), max_length), titles)
    full = _without_titles(fold_text(pl.col("full_name"), max_length), titles)
    is_han_full = full.str.contains(r"^[\p{Han}]{2,}$")
    split_given = given.is_not_null() | family.is_not_null()
    # Chinese given names are written as one Latin word (xiaofang), so join their syllables.
    given_key = (
        pl.when(split_given)
        .then(_pinyin(given, table, ""))
        .when(is_han_full)
        .then(_pinyin(full.str.slice(1), table, ""))
    )
    family_key = (
        pl.when(split_given)
        .then(_pinyin(family, table, ""))
        .when(is_han_full)
        .then(_pinyin(full.str.slice(0, 1), table, ""))
    )
    tokens_from_parts = pl.concat_str(
        [given_key.fill_null(""), family_key.fill_null("")], separator=" "
    ).str.split(" ")
    tokens_from_full = _pinyin(full, table, " ").str.split(" ")
    tokens = pl.when(split_given | is_han_full).then(tokens_from_parts).otherwise(tokens_from_full)
    return frame.with_columns(
        given_key.str.replace_all(" ", "").alias("given_key"),
        family_key.str.replace_all(" ", "").alias("family_key"),
        _tokens_key(tokens).alias("name_key"),
    ).with_columns(
        _tokens_key(pl.col("name_key").str.split(" ").list.eval(pl.element().str.slice(0, 1)))
        .str.replace_all(" ", "")
        .alias("name_initials")
    )


def parse_date_of_birth(expr: pl.Expr, today: date) -> pl.Expr:
    """The first format that parses; dates before 1900 or in the future are treated as missing."""
    text = expr.str.strip_chars().str.slice(0, 10)
    parsed = pl.coalesce([text.str.to_date(f, strict=False) for f in DATE_FORMATS])
    plausible = (parsed.dt.year() >= EARLIEST_BIRTH_YEAR) & (parsed <= pl.lit(today))
    return pl.when(plausible).then(parsed)


def normalize_email(expr: pl.Expr) -> pl.Expr:
    """Lower-case; drop a plus-tag; drop dots in Gmail local parts; null when not an address."""
    email = expr.str.strip_chars().str.to_lowercase()
    valid = email.str.contains(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    local = email.str.extract(r"^([^@]+)@", 1).str.replace(r"\+.*$", "")
    domain = email.str.extract(r"@(.+)$", 1).str.replace(r"^googlemail\.com$", "gmail.com")
    local = pl.when(domain.is_in(list(GMAIL_DOMAINS))).then(local.str.replace_all(r"\.", "")).otherwise(local)
    return pl.when(valid & (local != "")).then(pl.concat_str([local, domain], separator="@"))


def normalize_phone(expr: pl.Expr, default_region: str) -> pl.Expr:
    """E.164 (`+8613800138000`); national numbers take the default region's country code.

    Vectorised string rules rather than a parse per value: `+` or `00` means international;
    a number longer than the region's longest national number that starts with the country
    code already carries it; otherwise the trunk prefix is dropped and the country code added.
    """
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(default_region.upper())
    country_code = str(phonenumbers.country_code_for_region(default_region.upper()))
    trunk = (metadata.national_prefix if metadata else None) or ""
    lengths = metadata.general_desc.possible_length if metadata and metadata.general_desc else ()
    longest_national = max(lengths) if lengths else E164_MAX_DIGITS - len(country_code)
    raw = expr.str.strip_chars()
    digits = raw.str.replace_all(r"\D", "")
    international = raw.str.starts_with("+") | digits.str.starts_with("00")
    intl_digits = pl.when(raw.str.starts_with("+")).then(digits).otherwise(digits.str.slice(2))
    has_country = digits.str.starts_with(country_code) & (digits.str.len_chars() > longest_national)
    national = (
        pl.when(pl.lit(trunk != "") & digits.str.starts_with(trunk or "\x00"))
        .then(digits.str.slice(len(trunk)))
        .otherwise(digits)
    )
    e164_digits = (
        pl.when(international)
        .then(intl_digits)
        .when(has_country)
        .then(digits)
        .otherwise(pl.concat_str([pl.lit(country_code), national]))
    )
    length = e164_digits.str.len_chars()
    valid = (length >= E164_MIN_DIGITS) & (length <= E164_MAX_DIGITS) & (digits.str.len_chars() >= 6)
    return pl.when(valid).then(pl.concat_str([pl.lit("+"), e164_digits]))


def normalize_identifier(expr: pl.Expr, max_length: int) -> pl.Expr:
    """Ids typed by people: no case, spaces, dashes, dots or a leading @."""
    ident = (
        expr.str.normalize("NFKC")
        .str.to_lowercase()
        .str.replace_all(r"[\s\-_./@:]+", "")
        .str.slice(0, max_length)
    )
    return pl.when(ident == "").then(None).otherwise(ident)


def build_features(
    records: pl.DataFrame,
    default_region: str,
    max_length: int,
    today: date | None = None,
    name_titles: list[str] | None = None,
) -> pl.DataFrame:
    """One row per record: `record_id`, `source` and every column of FEATURE_COLUMNS."""
    today = today or date.today()
    table = _han_pinyin_table(records, ["street", "city", "region"])
    named = _name_features(records, max_length, name_titles or [])
    features = named.select(
        "record_id",
        "source",
        "name_key",
        "given_key",
        "family_key",
        "name_initials",
        parse_date_of_birth(pl.col("date_of_birth"), today).alias("dob"),
        pl.col("gender")
        .str.strip_chars()
        .str.to_lowercase()
        .replace_strict(
            {"f": "F", "female": "F", "女": "F", "w": "F", "m": "M", "male": "M", "男": "M"},
            default=None,
            return_dtype=pl.String,
        )
        .alias("gender"),
        normalize_email(pl.col("email")).alias("email"),
        normalize_phone(pl.col("phone"), default_region).alias("phone"),
        _pinyin(fold_text(pl.col("street"), max_length), table, " ").alias("street_key"),
        _pinyin(fold_text(pl.col("city"), max_length), table, "").str.replace_all(" ", "").alias("city_key"),
        pl.col("postcode").str.to_uppercase().str.replace_all(r"[^0-9A-Z]", "").alias("postcode"),
        _pinyin(fold_text(pl.col("region"), max_length), table, "")
        .str.replace_all(" ", "")
        .alias("region_key"),
        pl.col("country").str.strip_chars().str.to_uppercase().str.slice(0, 2).alias("country"),
        *[
            normalize_identifier(pl.col(c), max_length).alias(c)
            for c in ("member_id", "device_id", "social_handle", "national_id")
        ],
    )
    phone = pl.col("phone")
    rest = phone.str.slice(0, phone.str.len_chars() - 2 * PHONE_PART_DIGITS)
    middle = phone.str.slice(-2 * PHONE_PART_DIGITS, PHONE_PART_DIGITS)
    last = phone.str.slice(-PHONE_PART_DIGITS)
    features = features.with_columns(
        pl.concat_str([rest, middle]).alias("phone_head"),
        pl.concat_str([middle, last]).alias("phone_tail"),
        pl.concat_str([rest, pl.lit("*"), last]).alias("phone_ends"),
    )
    empty_to_null = [
        pl.when(pl.col(c) == "").then(None).otherwise(pl.col(c)).alias(c)
        for c in FEATURE_COLUMNS
        if features.schema[c] == pl.String
    ]
    return features.with_columns(empty_to_null)
