"""JSON arrays of objects kept as text in bronze (a web order's `line_items` and `status_history`),
checked on landing with the decoding and the parsers silver uses, so a row that lands always decodes
and types there.

An entity declares them under `nested:` in cdp.yaml: column -> {key: type} of the keys silver reads
from each object. A row is rejected whole (its first problem, like any bad value) when the column's text

- is not a JSON array of objects silver can decode (`bad_nested_json`): text that is not JSON (a
  plain `created` where a status history belongs), an object or a number instead of an array, an
  item that is no object, a key holding an object or an array where silver reads one value; or
- holds an item whose typed key does not parse as its type (the type's reason: `bad_number` for a
  quantity of `two` or a price of `abc`), the detail naming the column, the item's position
  (counted from 1), the key and the value; or
- holds an item without a key every item must fill (`nested_not_null`: a line's quantity or price
  missing, null or empty would make the line's amount null in silver without a record):
  `missing_value`, the detail naming the column, the item's position and the key.

Empty text or JSON null is a missing value, an empty array an order without lines: both land. An
item's first problem is that of its first key (in the declared order) that is missing or does not
parse. The common case costs one vectorised decode of the group's column; only when it fails are the
failing rows searched for (halving the rows), and only they are described.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import polars as pl

from ingest.config import ColumnType
from ingest.parsing import NUMBER_RANGES, REASON_FOR_TYPE, beyond_range, clean_text, decode_items

BAD_NESTED_JSON = "bad_nested_json"
MISSING_VALUE = "missing_value"  # as for an empty `not_null` column of the row itself
SHOWN_CHARS = 120  # of a value quoted in a detail; the row's whole text is in quarantine's `raw`

# A column type's parser: text expression -> typed expression, null where it does not parse.
Parser = Callable[[pl.Expr, ColumnType], pl.Expr]


def nested_problems(
    frame: pl.DataFrame,
    nested: dict[str, dict[str, ColumnType]],
    parse: Parser,
    required: dict[str, list[str]] | None = None,
) -> list[pl.Series]:
    """`_nested_reason_<column>` and `_nested_detail_<column>` per declared column present in `frame`:
    the row's first problem in that column (null where the value is fine). `required`: column ->
    the keys every item must fill (`nested_not_null`)."""
    out: list[pl.Series] = []
    for column, keys in nested.items():
        if column not in frame.columns:
            continue
        needed = (required or {}).get(column, [])
        reason, detail = column_problems(frame[column].cast(pl.String), column, keys, parse, needed)
        out += [reason.alias(f"_nested_reason_{column}"), detail.alias(f"_nested_detail_{column}")]
    return out


def column_problems(
    values: pl.Series,
    column: str,
    keys: dict[str, ColumnType],
    parse: Parser,
    required: list[str] | None = None,
) -> tuple[pl.Series, pl.Series]:
    """(reason, detail) per value of one nested column: a value silver cannot decode first, then the
    first item (by position) holding a typed key that does not parse or missing a `required` key."""
    reason = pl.repeat(None, len(values), dtype=pl.String, eager=True)
    detail = pl.repeat(None, len(values), dtype=pl.String, eager=True)
    items, broken = decoded(values, list(keys))
    if broken:
        rows = pl.Series(broken, dtype=pl.UInt32)
        texts = values.gather(rows).to_list()
        found = [
            f"field '{column}': {_shown(t)} is not a JSON array of objects ({why_undecodable(t, list(keys))})"
            for t in texts
        ]
        reason = reason.scatter(rows, BAD_NESTED_JSON)
        detail = detail.scatter(rows, pl.Series(found, dtype=pl.String))
    checked = {k: t for k, t in keys.items() if t != "string" or k in (required or [])}
    if not checked:
        return reason, detail
    bad = bad_items(items, column, checked, parse, required)
    if not bad.is_empty():
        rows = bad["_row"].cast(pl.UInt32)
        reason = reason.scatter(rows, bad["reason"])
        detail = detail.scatter(rows, bad["detail"])
    return reason, detail


def decoded(values: pl.Series, keys: list[str]) -> tuple[pl.Series, list[int]]:
    """(the values decoded as silver decodes them, the positions of those it refuses: null there).

    One decode when it refuses none (the common case); else the rows are halved until each refused
    value stands alone, and the others are decoded once more."""
    try:
        return _decode(values, keys), []
    except pl.exceptions.PolarsError:
        broken = _refused(values, keys)
    return _decode(values.clone().scatter(broken, None), keys), broken


def _refused(values: pl.Series, keys: list[str], offset: int = 0) -> list[int]:
    """Positions (from `offset`) of the values silver's decoding refuses: none when one decode passes."""
    try:
        _decode(values, keys)
        return []
    except pl.exceptions.PolarsError:
        if len(values) == 1:
            return [offset]
    half = len(values) // 2
    return _refused(values[:half], keys, offset) + _refused(values[half:], keys, offset + half)


def _decode(values: pl.Series, keys: list[str]) -> pl.Series:
    return values.to_frame("v").select(decode_items(pl.col("v"), keys)).to_series()


def why_undecodable(text: str, keys: list[str]) -> str:
    """Why a value silver refused is no JSON array of objects, in words (a few rows only)."""
    try:
        value = json.loads(text)
    except ValueError:
        return "it is not JSON: a plain text value"
    if not isinstance(value, list):
        return f"it is a JSON {_kind(value)}, not an array"
    for position, item in enumerate(value, start=1):
        where = f"item {position} of {len(value)}"
        if item is not None and not isinstance(item, dict):
            return f"{where} is a JSON {_kind(item)}, not an object"
        for key in keys if isinstance(item, dict) else []:
            if isinstance(item.get(key), dict | list):
                return f"{where}, key '{key}', holds a JSON {_kind(item[key])} where one value belongs"
    return f"silver's JSON decoding refuses it: {_decode_error(text, keys)}"


def bad_items(
    items: pl.Series,
    column: str,
    checked: dict[str, ColumnType],
    parse: Parser,
    required: list[str] | None = None,
) -> pl.DataFrame:
    """Rows (`_row`) whose decoded `items` hold one with a problem, with the reason and detail of the
    first such item and key (in `checked`'s order): a typed key that does not parse with the parser
    silver types it with, or a `required` key that is missing, null or empty (`missing_value`)."""
    needed = [k for k in checked if k in (required or [])]
    count = pl.col("_items").list.len().fill_null(0)
    width = pl.max_horizontal(count, pl.lit(1, dtype=pl.UInt32))  # rows each value explodes into
    items = (
        items.to_frame("_items")
        .with_columns(
            _row=pl.int_range(pl.len(), dtype=pl.UInt32), _count=count, _start=width.cum_sum() - width
        )
        .explode("_items", empty_as_null=True, keep_nulls=True)  # so one row at least per value
        .with_columns(_item=pl.int_range(pl.len(), dtype=pl.UInt32) - pl.col("_start"))
        .filter(pl.col("_items").is_not_null())
        .select("_row", "_count", "_item", *[pl.col("_items").struct.field(k).alias(k) for k in checked])
    )
    missing = {k: clean_text(pl.col(k)).is_null() for k in needed}
    unparsed = {
        k: clean_text(pl.col(k)).is_not_null() & parse(pl.col(k), t).is_null()
        for k, t in checked.items()
        if t != "string"
    }
    flags = {k: pl.any_horizontal([f[k] for f in (missing, unparsed) if k in f]) for k in checked}
    bad = items.filter(pl.any_horizontal(flags.values()))
    if bad.is_empty():  # the common case: every item is complete and parses
        return pl.DataFrame(schema={"_row": pl.UInt32, "reason": pl.String, "detail": pl.String})
    first = bad.sort("_row", "_item").unique("_row", keep="first", maintain_order=True)
    key = pl.coalesce([pl.when(flag).then(pl.lit(k)) for k, flag in flags.items()])
    value = pl.coalesce([pl.when(flag).then(pl.col(k)) for k, flag in flags.items()])
    kind = pl.coalesce([pl.when(flags[k]).then(pl.lit(t)) for k, t in checked.items()])
    empty = pl.coalesce([pl.when(flags[k]).then(missing.get(k, pl.lit(False))) for k in checked])
    found = first.with_columns(_key=key, _value=value, _kind=kind, _empty=empty)
    place = pl.format(
        f"field '{column}', item {{}} of {{}}, key '{{}}'", pl.col("_item") + 1, "_count", "_key"
    )
    where = pl.format("{}: '{}'", place, "_value")
    beyond = pl.any_horizontal(
        [(pl.col("_kind") == t) & beyond_range(pl.col("_value"), t) for t in NUMBER_RANGES]  # type: ignore[arg-type]
    )
    range_of = pl.coalesce([pl.when(pl.col("_kind") == t).then(pl.lit(r)) for t, r in NUMBER_RANGES.items()])
    return found.select(
        "_row",
        reason=pl.when(pl.col("_empty"))
        .then(pl.lit(MISSING_VALUE))
        .otherwise(pl.col("_kind").replace_strict(REASON_FOR_TYPE, default=None, return_dtype=pl.String)),
        detail=pl.when(pl.col("_empty"))
        .then(pl.format("{} is missing or empty; every item must fill it", place))
        .when(beyond)
        .then(pl.format("{} is a number beyond the range of {}", where, range_of))
        .otherwise(pl.format("{} is not a valid {}", where, pl.col("_kind"))),
    )


def _decode_error(text: str, keys: list[str]) -> str:
    try:
        pl.Series([text]).to_frame("v").select(decode_items(pl.col("v"), keys))
    except pl.exceptions.PolarsError as exc:
        return str(exc).splitlines()[0]
    return "unknown"


def _kind(value: object) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"


def _shown(text: str) -> str:
    shown = text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "..."
    return f"'{shown}'"
