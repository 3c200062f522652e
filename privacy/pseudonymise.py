"""The treatments that turn a column into its analyst-facing form: keyed hash, masks, generalisation.

Pure functions that build DuckDB SQL expressions, plus a lookup table of keyed hashes, so a whole
mart is treated in one `SELECT` inside the engine. The keyed hash is HMAC-SHA256 computed once
per distinct value (not per row) and looked up by a join, truncated to `pseudonyms.hex_chars` hex digits:
the same value gives the same pseudonym in every mart (joins keep working), and nobody without the
key can recompute it from a guessed phone number.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Iterable

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from privacy.errors import CatalogueError
from privacy.keys import Key
from privacy.settings import GeneraliseSettings, MaskSettings, PrivacySettings, Treatment

PSEUDONYM_TABLE = "cdp_pseudonyms"


def pseudonym(value: str, key: Key, hex_chars: int) -> str:
    return hmac.new(key.material, value.encode("utf-8"), hashlib.sha256).hexdigest()[:hex_chars]


def pseudonyms(values: Iterable[str], key: Key, hex_chars: int) -> list[str]:
    """HMAC-SHA256 of each value (the keyed state is built once and copied per value)."""
    keyed = hmac.new(key.material, digestmod=hashlib.sha256)
    out = []
    for value in values:
        state = keyed.copy()
        state.update(value.encode("utf-8"))
        out.append(state.hexdigest()[:hex_chars])
    return out


def pseudonym_array(key: Key, hex_chars: int) -> Callable[[pa.Array], pa.Array]:
    """Arrow-vectorised keyed hash: hash the distinct values of the array, then gather."""

    def apply(values: pa.Array | pa.ChunkedArray) -> pa.Array:
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        values = values.cast(pa.string())
        distinct = pc.unique(values.drop_null())
        hashed = pa.array(pseudonyms(distinct.to_pylist(), key, hex_chars), type=pa.string())
        return pc.take(hashed, pc.index_in(values, value_set=distinct))

    return apply


def register_pseudonyms(
    con: duckdb.DuckDBPyConnection, source: str, columns: list[str], key: Key, settings: PrivacySettings
) -> None:
    """Register `cdp_pseudonyms(value, pseudonym)` for every distinct value of `columns` in `source`.

    One HMAC per distinct value, computed in Python; the mart's SELECT then looks pseudonyms up by
    a join inside DuckDB (a Python UDF would be called per vector and cost far more).
    """
    if columns:
        union = " union ".join(f"select cast({quote(c)} as varchar) as value from {source}" for c in columns)
        distinct = con.sql(f"select distinct value from ({union}) where value is not null").to_arrow_table()[
            "value"
        ]
    else:
        distinct = pa.array([], type=pa.string())
    hashed = pa.array(pseudonyms(distinct.to_pylist(), key, settings.pseudonyms.hex_chars), type=pa.string())
    con.register(PSEUDONYM_TABLE, pa.table({"value": distinct, "pseudonym": hashed}))


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def treated_column(
    column: str, duckdb_type: str, treatment: Treatment, settings: PrivacySettings, where: str
) -> str | None:
    """The SQL select item for one column under `treatment` (None: the column is dropped)."""
    col = quote(column)
    if treatment == "drop":
        return None
    if treatment == "keep":
        return col
    if treatment == "hmac":
        return f"(select pseudonym from {PSEUDONYM_TABLE} where value = cast({col} as varchar)) as {col}"
    if treatment == "mask_phone":
        return f"{mask_phone_sql(col, settings.masking)} as {col}"
    if treatment == "mask_email":
        return f"{mask_email_sql(col, settings.masking)} as {col}"
    if treatment == "mask_name":
        return f"{mask_name_sql(col, settings.masking)} as {col}"
    if treatment == "generalise":
        return f"{generalise_sql(col, duckdb_type, settings.generalise, where)} as {col}"
    raise CatalogueError(f"{where}: unknown treatment {treatment!r}")


def mask_phone_sql(col: str, masking: MaskSettings) -> str:
    """`+8613800138000` -> `138****8000`: first and last digits of the national number."""
    digits = (
        f"right(regexp_replace(cast({col} as varchar), '[^0-9]', '', 'g'), {masking.phone_national_digits})"
    )
    keep = masking.phone_keep_first + masking.phone_keep_last
    return (
        f"case when {col} is null then null "
        f"when length({digits}) > {keep} then left({digits}, {masking.phone_keep_first}) || "
        f"{literal(masking.phone_fill)} || right({digits}, {masking.phone_keep_last}) "
        f"else {literal(masking.phone_fill)} end"
    )


def mask_email_sql(col: str, masking: MaskSettings) -> str:
    """`jane.doe@example.com` -> `j***@example.com`: the domain stays, the mailbox goes."""
    at = f"strpos({col}, '@')"
    return (
        f"case when {col} is null then null "
        f"when {at} > 1 then left({col}, least({masking.email_keep_first}, {at} - 1)) || "
        f"{literal(masking.email_fill)} || substr({col}, {at}) "
        f"else {literal(masking.email_fill)} end"
    )


def mask_name_sql(col: str, masking: MaskSettings) -> str:
    """`王芳` -> `王**`, `Jane Doe` -> `J**`: enough for a service agent to greet, not to identify."""
    return (
        f"case when {col} is null then null "
        f"else left({col}, {masking.name_keep_first}) || {literal(masking.name_fill)} end"
    )


def generalise_sql(col: str, duckdb_type: str, rules: GeneraliseSettings, where: str) -> str:
    kind = duckdb_type.upper()
    if kind == "DATE":
        return f"cast(date_trunc('{rules.date}', {col}) as date)"
    if kind.startswith("TIMESTAMP"):
        return f"date_trunc('{rules.timestamp}', {col})"
    if kind == "VARCHAR":
        return f"case when {col} is null then null else left({col}, {rules.text_keep_chars}) || '***' end"
    raise CatalogueError(f"{where}: cannot generalise a column of type {duckdb_type}; use drop or keep")


REDACTED = "[erased]"


def regex_literal(value: str) -> str:
    """Escape regex metacharacters so a value matches itself only."""
    return re.sub(r"([.^$*+?()\[\]{}|\\/])", r"\\\1", value)


def redaction(column: str, values: list[str]) -> tuple[str, str]:
    """(update expression, predicate) replacing every mention of `values` in a text column.

    Written in the SQL both DuckDB and Delta's engine understand; case-insensitive.
    """
    pattern = literal("|".join(regex_literal(v) for v in sorted(values, key=len, reverse=True)))
    col = quote(column)
    return f"regexp_replace({col}, {pattern}, '{REDACTED}', 'gi')", f"regexp_like({col}, {pattern}, 'i')"
