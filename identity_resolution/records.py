"""The canonical identity record (CONTRACTS.md, "cdp resolve") and the checks every input passes.

Any table of identity records can be resolved, so the input is checked up front: a missing or
duplicate `record_id` or an unusable column stops the run with a message naming the row and field,
before anything is written. Everything else is forgiving: missing optional columns are added as
nulls, scalar columns of another type are read as text, and unknown extra columns are kept for
the caller but ignored by matching.
"""

from __future__ import annotations

import polars as pl

from warehouse.errors import CdpError

REQUIRED_COLUMNS = ("record_id", "source")
OPTIONAL_COLUMNS = (
    "given_name",
    "family_name",
    "full_name",
    "date_of_birth",
    "gender",
    "email",
    "phone",
    "street",
    "city",
    "postcode",
    "region",
    "country",
    "member_id",
    "device_id",
    "social_handle",
    "national_id",
)
CANONICAL_COLUMNS = (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS)
# Optional columns silver carries that survivorship uses when present (recency, validity).
RECENCY_COLUMNS = ("updated_at", "created_at")
MAX_LISTED_ROWS = 5


class IdentityInputError(CdpError):
    """The identity records cannot be resolved as given."""

    exit_code = 2


def _rows(mask: pl.Series) -> str:
    """1-based row numbers (as a person counts rows in the file) of the first offending rows."""
    rows = (mask.arg_true() + 1).head(MAX_LISTED_ROWS).to_list()
    more = int(mask.sum()) - len(rows)
    return ", ".join(map(str, rows)) + (f" and {more} more" if more > 0 else "")


def _as_text(frame: pl.DataFrame, column: str, where: str) -> pl.Expr:
    dtype = frame.schema[column]
    if dtype == pl.String:
        return pl.col(column)
    if dtype == pl.Null:
        return pl.col(column).cast(pl.String)
    if dtype.is_numeric() or dtype in (pl.Boolean, pl.Date, pl.Categorical) or isinstance(dtype, pl.Enum):
        # An id read as a number must not become "1.0": integers print as integers.
        if dtype.is_float():
            return (
                pl.when(pl.col(column) == pl.col(column).round(0))
                .then(pl.col(column).cast(pl.Int64, strict=False).cast(pl.String))
                .otherwise(pl.col(column).cast(pl.String))
            )
        return pl.col(column).cast(pl.String)
    if isinstance(dtype, pl.Datetime):
        return pl.col(column).dt.date().cast(pl.String)
    raise IdentityInputError(
        f"{where}: column {column!r} has type {dtype}, expected text (or a date / number); "
        "convert it to a string column"
    )


def validate_records(frame: pl.DataFrame, where: str = "input") -> pl.DataFrame:
    """Check the identity records and return them with every canonical column as text.

    `record_id` is kept exactly as given, spaces included: it is the key the output joins back to
    the input on (an id of spaces only is empty). `where` names the input (a file path) in errors.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise IdentityInputError(
            f"{where}: missing required column(s) {', '.join(missing)}; "
            f"an identity table needs at least {', '.join(REQUIRED_COLUMNS)} "
            f"(columns found: {', '.join(frame.columns) or 'none'})"
        )
    canonical = [c for c in CANONICAL_COLUMNS if c in frame.columns]
    cleaned = frame.with_columns([_as_text(frame, c, where).alias(c) for c in canonical]).with_columns(
        pl.col("source").str.strip_chars()
    )
    for column in REQUIRED_COLUMNS:
        empty = cleaned[column].is_null() | (cleaned[column].str.strip_chars() == "")
        if empty.any():
            raise IdentityInputError(
                f"{where}: {int(empty.sum())} row(s) have an empty {column!r} (rows {_rows(empty)}); "
                f"every record needs a {column}"
            )
    duplicated = cleaned["record_id"].is_duplicated()
    if duplicated.any():
        ids = cleaned.filter(duplicated)["record_id"].unique(maintain_order=True).head(MAX_LISTED_ROWS)
        raise IdentityInputError(
            f"{where}: record_id must be unique; {int(duplicated.sum())} rows share an id "
            f"(rows {_rows(duplicated)}; ids {', '.join(map(repr, ids.to_list()))})"
        )
    absent = [pl.lit(None, dtype=pl.String).alias(c) for c in OPTIONAL_COLUMNS if c not in cleaned.columns]
    return cleaned.with_columns(absent) if absent else cleaned
