"""Parsing raw text values into types, as Polars expressions.

One definition serves two stages: bronze uses them to decide which rows are quarantined (a value
that does not parse), silver uses the very same expressions to type the rows that landed, so a row
that reached bronze always types cleanly in silver.
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from ingest.config import ColumnType
from warehouse.text import compatible

# 1,299.00 / -1000.5 / 12: thousands separators only in groups of three.
PLAIN_NUMBER = r"[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?"
# 1e-05 / 1.5E+3: what Excel cells, JSON numbers and many CSV writers give for very small or large
# floats (Python's repr of an Excel cell holding 0.00001 is "1e-05"); no thousands separators.
SCIENTIFIC_NUMBER = r"[+-]?\d+(\.\d+)?[eE][+-]?\d+"
SCIENTIFIC_PATTERN = f"^{SCIENTIFIC_NUMBER}$"
NUMBER_PATTERN = f"^({PLAIN_NUMBER}|{SCIENTIFIC_NUMBER})$"
INTEGER_PATTERN = r"^[+-]?(\d{1,3}(,\d{3})+|\d+)(\.0+)?$"
# 1.299,00 / -1000,5 / 12: a decimal comma (`decimal_comma: true`, as exports from much of Europe
# write amounts), dots grouping thousands in threes; rewritten to the point form the parsers read.
COMMA_NUMBER_PATTERN = r"^[+-]?(\d{1,3}(\.\d{3})+|\d+)(,\d+)?$"
EXACT_FLOAT_INTEGERS = 2**53  # a float in scientific notation is an exact integer only below this
TRUE_VALUES = ["true", "t", "yes", "y", "1", "是"]
FALSE_VALUES = ["false", "f", "no", "n", "0", "否"]

# The machine-readable quarantine reason for a value that does not parse as each type.
REASON_FOR_TYPE: dict[str, str] = {
    "date": "unparseable_date",
    "timestamp": "unparseable_timestamp",
    "integer": "bad_number",
    "decimal": "bad_number",
    "boolean": "bad_boolean",
}

AMOUNT_DTYPE = pl.Decimal(18, 2)
# What a number column holds, for the quarantine detail of a value beyond it.
NUMBER_RANGES = {"integer": "a 64-bit integer", "decimal": "decimal(18,2) (16 digits before the point)"}


def clean_text(expr: pl.Expr) -> pl.Expr:
    """Trimmed text with empty strings as null: what 'missing' means for every check."""
    text = expr.cast(pl.String).str.strip_chars()
    return pl.when(text.str.len_chars() > 0).then(text)


def parse_date(expr: pl.Expr, formats: list[str]) -> pl.Expr:
    """The first format that parses; full-width digits read as digits (a typed date of birth)."""
    text = compatible(clean_text(expr))
    return pl.coalesce([text.str.to_date(fmt, strict=False) for fmt in formats])


def parse_timestamp(expr: pl.Expr, formats: list[str], timezone: str) -> pl.Expr:
    """Naive local timestamps; values with an offset are converted to the sources' local zone."""
    text = clean_text(expr)
    parsed: list[pl.Expr] = []
    for fmt in formats:
        if "%z" in fmt or "%:z" in fmt:
            aware = text.str.to_datetime(fmt, strict=False, time_unit="us", time_zone="UTC")
            parsed.append(aware.dt.convert_time_zone(timezone).dt.replace_time_zone(None))
        elif any(token in fmt for token in ("%H", "%M", "%S")):
            parsed.append(text.str.to_datetime(fmt, strict=False, time_unit="us"))
        else:
            parsed.append(text.str.to_date(fmt, strict=False).cast(pl.Datetime("us")))
    return pl.coalesce(parsed)


def point_decimal(expr: pl.Expr) -> pl.Expr:
    """A number written with a decimal comma (`1.299,00`) in point form (`1299.00`); any other text
    (`1,299.00`, which reads otherwise in each convention) -> null, so it never parses as a number."""
    text = clean_text(expr)
    point = text.str.replace_all(".", "", literal=True).str.replace(",", ".", literal=True)
    return pl.when(text.str.contains(COMMA_NUMBER_PATTERN)).then(point)


def _numbers(expr: pl.Expr, decimal_comma: bool) -> pl.Expr:
    return point_decimal(expr) if decimal_comma else expr


def parse_decimal(expr: pl.Expr, decimal_comma: bool = False) -> pl.Expr:
    """Amounts such as `1,299.00` or `1.5e-05` -> decimal(18,2); anything else (or beyond it) -> null.
    With `decimal_comma`, amounts such as `1.299,00` or `140,15` instead."""
    text = clean_text(_numbers(expr, decimal_comma))
    return (
        pl.when(text.str.contains(NUMBER_PATTERN))
        .then(text.str.replace_all(",", "", literal=True))
        .cast(AMOUNT_DTYPE, strict=False)
    )


def parse_integer(expr: pl.Expr, decimal_comma: bool = False) -> pl.Expr:
    """`1,200` / `12.0` / `1.2e3` -> int64; a fraction (`1e-05`) or anything beyond int64 -> null.
    With `decimal_comma`, `1.200` / `12,0` instead."""
    text = clean_text(_numbers(expr, decimal_comma))
    digits = text.str.replace_all(",", "", literal=True).str.replace(r"\.0+$", "")
    plain = pl.when(text.str.contains(INTEGER_PATTERN)).then(digits).cast(pl.Int64, strict=False)
    number = pl.when(text.str.contains(SCIENTIFIC_PATTERN)).then(text.cast(pl.Float64, strict=False))
    whole = (number == number.floor()) & (number.abs() < EXACT_FLOAT_INTEGERS)
    return pl.coalesce(plain, pl.when(whole).then(number).cast(pl.Int64, strict=False))


def beyond_range(expr: pl.Expr, column_type: ColumnType, decimal_comma: bool = False) -> pl.Expr:
    """A value written as a number that the column's type cannot hold: 1e+20 in a decimal(18,2) or
    an int64 column. Only meaningful where the value did not parse (it names why in quarantine); a
    value that is not written as a number (`12,34.5`: separators out of place) is not one."""
    text = clean_text(_numbers(expr, decimal_comma))
    written = pl.when(text.str.contains(NUMBER_PATTERN)).then(text.str.replace_all(",", "", literal=True))
    number = written.cast(pl.Float64, strict=False)
    finite = number.is_finite().fill_null(False)
    if column_type == "integer":
        return finite & (number == number.floor())
    return finite


def parse_boolean(expr: pl.Expr) -> pl.Expr:
    text = clean_text(expr).str.to_lowercase()
    return (
        pl.when(text.is_in(TRUE_VALUES))
        .then(pl.lit(True))
        .when(text.is_in(FALSE_VALUES))
        .then(pl.lit(False))
        .otherwise(pl.lit(None, dtype=pl.Boolean))
    )


def items_dtype(keys: Iterable[str]) -> pl.List:
    """What a JSON array of objects decodes into: a list of structs holding each object's `keys` as
    text (a number, true/false as written; the value is then typed with the parsers above)."""
    return pl.List(pl.Struct(dict.fromkeys(keys, pl.String())))


def decode_items(expr: pl.Expr, keys: Iterable[str]) -> pl.Expr:
    """A JSON array of objects kept as text (a web order's line items) -> a list of structs of the
    `keys`' texts; empty text is missing (null), like every missing value.

    Raises on a value that is no such array (text, an object, an item that is no object, a key
    holding an object or an array): ingest checks every declared `nested` column with this very
    function before a row lands (ingest/nested.py), so silver never meets one.
    """
    return clean_text(expr).str.json_decode(dtype=items_dtype(keys))


def parse_as(
    expr: pl.Expr,
    column_type: ColumnType,
    *,
    date_formats: list[str],
    timestamp_formats: list[str],
    timezone: str,
    decimal_comma: bool = False,
) -> pl.Expr:
    """Dispatch to the parser of one declared column type (`decimal_comma`: the entity's numbers)."""
    if column_type == "date":
        return parse_date(expr, date_formats)
    if column_type == "timestamp":
        return parse_timestamp(expr, timestamp_formats, timezone)
    if column_type == "integer":
        return parse_integer(expr, decimal_comma)
    if column_type == "decimal":
        return parse_decimal(expr, decimal_comma)
    if column_type == "boolean":
        return parse_boolean(expr)
    return clean_text(expr)
