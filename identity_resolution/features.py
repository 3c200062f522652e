"""Comparison features from canonical identity records: one vectorised pass, any script.

Raw input (`cdp resolve`) and silver (already standardized) go through the same functions, which
are idempotent on standardized values, so both paths compare like with like:
- names: Unicode-folded, accents and emoji stripped, Chinese characters turned into pinyin (family
  name = first character or a known compound family name, given name = the rest joined: 王晓芳 ->
  `wang` + `xiaofang`, which is how the name is typed in Latin script; a name written given name
  first with a space, 雨涵 李, is read family name first, see `warehouse.text.han_family_given`:
  the order a name is written in is no evidence), variants folded (`Bob` -> `robert`, `Wong` ->
  `wang`, see `name_variants`), tokens sorted so that `FANG WANG` and `王芳` share a key;
- dates of birth from the formats found in the wild; implausible dates become null;
- emails lower-cased with plus-tags (and Gmail dots) removed; phones in E.164 using the default
  region for national numbers; ids without spaces, dashes or case; addresses as folded tokens;
- phones, emails, dates of birth, postcodes and ids compatibility-folded first (`compatible`), so
  full-width forms typed with a Chinese input method (`１３９…`, `Ｊｏｈｎ＠…`) match their ASCII forms.
Invalid values become null: they are missing evidence, never a match.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import phonenumbers
import polars as pl
from pypinyin import Style, lazy_pinyin

from identity_resolution.name_variants import name_variants
from identity_resolution.settings import FEATURE_COLUMNS, IdentitySettings
from warehouse.text import compatible, han_family_given

# What `build_features` computes from the same input, as a number: a saved record's features are
# taken over only when its input *and* this version are unchanged, so a release that reads names
# or phones differently (2: a Chinese name written given name first) reaches every saved record
# on its next daily run, not only records that change. Bump it with any such change.
FEATURES_VERSION = 2
DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%d.%m.%Y", "%Y.%m.%d", "%d/%m/%Y")
EARLIEST_BIRTH_YEAR = 1900
GMAIL_DOMAINS = ("gmail.com", "googlemail.com")
E164_MIN_DIGITS, E164_MAX_DIGITS = 8, 15
# Phone numbers and national ids are cut in three parts: the last 4 digits, the 4 before them,
# and the rest. One mistyped or swapped digit leaves two of the three intact, so blocking on every
# pair of parts (head = rest + middle, tail = middle + last, ends = rest + last) finds typo'd
# numbers while each key stays selective.
PHONE_PART_DIGITS = 4
# Emails are also blocked on the first characters of their local part, so that an address typed
# with digits cut off or appended ("liumei903859@163.com" / "liumei90385911@163.com") meets its
# match; shorter local parts get no such key (too unselective).
EMAIL_HEAD_CHARS = 8
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


def _by_distinct(
    frame: pl.DataFrame, keys: list[str], derive: Callable[[pl.DataFrame], pl.DataFrame]
) -> pl.DataFrame:
    """`derive` (a frame of `keys` in, new columns out, row for row) computed once per distinct
    combination of `keys`, one row per row of `frame`. Names, places and birthdays repeat (1M
    records: 132k distinct names, 21 cities, 21k birthdays), and folding, pinyin and date
    parsing are the costly part of the features."""
    distinct = frame.select(keys).unique()
    derived = pl.concat([distinct, derive(distinct)], how="horizontal")
    return (
        frame.select(keys)
        .join(derived, on=keys, how="left", nulls_equal=True, maintain_order="left")
        .drop(keys)
    )


def _place_key(column: str, max_length: int, words: bool) -> Callable[[pl.DataFrame], pl.DataFrame]:
    """`<column>_key`: an address part folded, in pinyin; as words (a street), or as one word
    with every space removed (a city or region name: 上海 -> `shanghai`)."""

    def derive(values: pl.DataFrame) -> pl.DataFrame:
        table = _han_pinyin_table(values, [column])
        key = _pinyin(fold_text(pl.col(column), max_length), table, " " if words else "")
        return values.select((key if words else key.str.replace_all(" ", "")).alias(f"{column}_key"))

    return derive


def _name_features(
    frame: pl.DataFrame, max_length: int, titles: list[str], variants: dict[str, str]
) -> pl.DataFrame:
    """given_key, family_key, name_key (sorted tokens) and name_initials of `frame`'s names.

    Built in materialised steps (each intermediate a column) so that no expression is evaluated
    more than once; name variants (nicknames, romanisations) are folded onto their canonical
    spelling token by token.
    """
    table = _han_pinyin_table(frame, ["given_name", "family_name", "full_name"])
    cleaned = frame.select(
        _without_titles(fold_text(pl.col("given_name"), max_length), titles).alias("_given"),
        _without_titles(fold_text(pl.col("family_name"), max_length), titles).alias("_family"),
        _without_titles(fold_text(pl.col("full_name"), max_length), titles).alias("_full"),
    ).with_columns(
        (pl.col("_given").is_not_null() | pl.col("_family").is_not_null()).alias("_split"),
        (
            pl.col("_full").str.contains(r"^\p{Han}+(?: \p{Han}+)*$")
            & (pl.col("_full").str.replace_all(" ", "").str.len_chars() >= 2)
        )
        .fill_null(False)
        .alias("_han_full"),
    )
    # A Chinese full name split family name first, whichever order it was written in (雨涵 李).
    han_family, han_given = han_family_given(pl.col("_full"))
    cleaned = cleaned.with_columns(
        pl.when("_han_full").then(han_family).alias("_han_family"),
        pl.when("_han_full").then(han_given).alias("_han_given"),
    )
    # Chinese given names are written as one Latin word (xiaofang), so join their syllables.
    keyed = cleaned.select(
        "_split",
        "_han_full",
        pl.when("_split")
        .then(_pinyin(pl.col("_given"), table, ""))
        .when("_han_full")
        .then(_pinyin(pl.col("_han_given"), table, ""))
        .alias("_given_key"),
        pl.when("_split")
        .then(_pinyin(pl.col("_family"), table, ""))
        .when("_han_full")
        .then(_pinyin(pl.col("_han_family"), table, ""))
        .alias("_family_key"),
        pl.when(pl.col("_split") | pl.col("_han_full"))
        .then(None)
        .otherwise(_pinyin(pl.col("_full"), table, " "))
        .alias("_full_pinyin"),
    )
    canonical = keyed.select(
        _canonical(pl.col("_given_key").str.replace_all(" ", ""), variants).alias("given_key"),
        _canonical(pl.col("_family_key").str.replace_all(" ", ""), variants).alias("family_key"),
        pl.when(pl.col("_split") | pl.col("_han_full"))
        .then(
            pl.concat_str(
                [pl.col("_given_key").fill_null(""), pl.col("_family_key").fill_null("")], separator=" "
            )
        )
        .otherwise("_full_pinyin")
        .str.split(" ")
        .list.eval(_canonical(pl.element(), variants))
        .alias("_tokens"),
    )
    names = canonical.select(
        "given_key", "family_key", _tokens_key(pl.col("_tokens")).alias("name_key")
    ).with_columns(
        _tokens_key(pl.col("name_key").str.split(" ").list.eval(pl.element().str.slice(0, 1)))
        .str.replace_all(" ", "")
        .alias("name_initials")
    )
    return names


def _canonical(expr: pl.Expr, variants: dict[str, str]) -> pl.Expr:
    """A name (token) in its canonical spelling: `bob` -> `robert`, `wong` -> `wang`."""
    return expr.replace(variants) if variants else expr


def parse_date_of_birth(expr: pl.Expr, today: date) -> pl.Expr:
    """The first format that parses; dates before 1900 or in the future are treated as missing."""
    text = compatible(expr).str.strip_chars().str.slice(0, 10)
    parsed = pl.coalesce([text.str.to_date(f, strict=False) for f in DATE_FORMATS])
    plausible = (parsed.dt.year() >= EARLIEST_BIRTH_YEAR) & (parsed <= pl.lit(today))
    return pl.when(plausible).then(parsed)


def normalize_email(expr: pl.Expr) -> pl.Expr:
    """Lower-case; drop a plus-tag; drop dots in Gmail local parts; null when not an address."""
    email = compatible(expr).str.strip_chars().str.to_lowercase()
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
    raw = compatible(expr).str.strip_chars()
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
    ident = compatible(expr).str.to_lowercase().str.replace_all(r"[\s\-_./@:]+", "").str.slice(0, max_length)
    return pl.when(ident == "").then(None).otherwise(ident)


def _id_parts(column: str) -> list[pl.Expr]:
    """`<column>_head`, `_tail`, `_ends`: an id without its last 4, middle 4 or the 4 before the
    last 4 characters (see PHONE_PART_DIGITS), so that an id with one mistyped or swapped digit
    still shares a blocking key with its match."""
    value = pl.col(column)
    length = value.str.len_chars().cast(pl.Int64)
    rest_length = (length - 2 * PHONE_PART_DIGITS).clip(lower_bound=0)
    last_start = (length - PHONE_PART_DIGITS).clip(lower_bound=0)
    rest = value.str.slice(0, rest_length)
    middle = value.str.slice(rest_length, last_start - rest_length)
    last = value.str.slice(last_start)
    return [
        pl.concat_str([rest, middle]).alias(f"{column}_head"),
        pl.concat_str([middle, last]).alias(f"{column}_tail"),
        pl.concat_str([rest, pl.lit("*"), last]).alias(f"{column}_ends"),
    ]


def _email_head() -> pl.Expr:
    """`email_head`: the first EMAIL_HEAD_CHARS characters of the (normalized) local part."""
    local = pl.col("email").str.extract(r"^([^@]+)@", 1)
    return (
        pl.when(local.str.len_chars() >= EMAIL_HEAD_CHARS)
        .then(local.str.slice(0, EMAIL_HEAD_CHARS))
        .alias("email_head")
    )


def build_features(
    records: pl.DataFrame,
    default_region: str,
    settings: IdentitySettings | None = None,
    today: date | None = None,
) -> pl.DataFrame:
    """One row per record: `record_id`, `source` and every column of FEATURE_COLUMNS.

    `settings` supplies the string length cap, honorifics, name variants and the sources whose
    names are display names (defaults when None).
    """
    settings = settings or IdentitySettings()
    max_length = settings.max_string_length
    today = today or date.today()
    variants = name_variants(settings.name_variants_file, settings.name_variants)
    derived = pl.concat(
        [
            _by_distinct(
                records,
                ["given_name", "family_name", "full_name"],
                lambda names: _name_features(names, max_length, settings.name_titles, variants),
            ),
            _by_distinct(
                records,
                ["date_of_birth"],
                lambda dates: dates.select(parse_date_of_birth(pl.col("date_of_birth"), today).alias("dob")),
            ),
            _by_distinct(records, ["street"], _place_key("street", max_length, words=True)),
            _by_distinct(records, ["city"], _place_key("city", max_length, words=False)),
            _by_distinct(records, ["region"], _place_key("region", max_length, words=False)),
        ],
        how="horizontal",
    )
    # An input column named like a feature (a raw table's own `name_key` or `dob`) gives way.
    inputs = records.drop(derived.columns, strict=False)
    features = pl.concat([inputs, derived], how="horizontal").select(
        "record_id",
        "source",
        "name_key",
        "given_key",
        "family_key",
        "name_initials",
        (pl.col("source").is_in(settings.display_name_sources) & pl.col("name_key").is_not_null()).alias(
            "name_is_display"
        ),
        "dob",
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
        "street_key",
        "city_key",
        compatible(pl.col("postcode")).str.to_uppercase().str.replace_all(r"[^0-9A-Z]", "").alias("postcode"),
        "region_key",
        pl.col("country").str.strip_chars().str.to_uppercase().str.slice(0, 2).alias("country"),
        *[
            normalize_identifier(pl.col(c), max_length).alias(c)
            for c in ("member_id", "device_id", "social_handle", "national_id")
        ],
    )
    features = features.with_columns(_email_head(), *_id_parts("phone"), *_id_parts("national_id"))
    empty_to_null = [
        pl.when(pl.col(c) == "").then(None).otherwise(pl.col(c)).alias(c)
        for c in FEATURE_COLUMNS
        if features.schema[c] == pl.String
    ]
    return features.with_columns(empty_to_null)
