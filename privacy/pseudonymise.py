"""The treatments that turn a column into its analyst-facing form: keyed hash, masks, generalisation.

Pure functions that build DuckDB SQL expressions, plus a lookup table of keyed hashes, so a whole
mart is treated in one `SELECT` inside the engine. The keyed hash is HMAC-SHA256 computed by DuckDB once
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
from warehouse.sql import quote_identifier as quote

PSEUDONYM_TABLE = "cdp_pseudonyms"
SHA256_BLOCK = 64  # bytes: HMAC pads the key to the hash's block size


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
    """Create `cdp_pseudonyms(value, pseudonym)` for every distinct value of `columns` in `source`.

    One HMAC per distinct value, computed inside DuckDB (`hmac_sql`: vectorised, on every core, no
    round trip through Python); the mart's SELECT then looks pseudonyms up by a join. The key goes
    in as bound parameters, never into the SQL text (which may end up in an error message).
    """
    union = " union ".join(f"select cast({quote(c)} as varchar) as value from {source}" for c in columns)
    values = (
        f"select distinct value from ({union}) where value is not null"
        if columns
        else "select null::varchar as value where false"
    )
    inner, outer = hmac_pads(key)
    con.execute(
        f"create or replace temp table {PSEUDONYM_TABLE} as "
        f"select value, {hmac_sql('value', settings.pseudonyms.hex_chars)} as pseudonym from ({values})",
        [outer, inner],
    )


def hmac_pads(key: Key) -> tuple[bytes, bytes]:
    """HMAC-SHA256's inner and outer padded keys (RFC 2104: a key longer than the block is hashed first)."""
    block = key.material if len(key.material) <= SHA256_BLOCK else hashlib.sha256(key.material).digest()
    block = block.ljust(SHA256_BLOCK, b"\0")
    return bytes(b ^ 0x36 for b in block), bytes(b ^ 0x5C for b in block)


def hmac_sql(value: str, hex_chars: int) -> str:
    """DuckDB expression for `pseudonym(value)`: HMAC-SHA256 from two `sha256` calls, truncated.

    Takes two BLOB parameters, the outer then the inner pad (`hmac_pads`), so the key material
    is bound, not spelled out in the query.
    """
    return f"left(sha256(?::blob || unhex(sha256(?::blob || encode({value})))), {hex_chars})"


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
        # DuckDB sums integers into HUGEINT, which Parquet cannot hold and DuckDB writes as DOUBLE:
        # a count or a points balance would reach analysts and tools as 12.0. Counts fit a BIGINT
        # (an overflow would fail the publish, not round a value).
        return f"cast({col} as bigint) as {col}" if duckdb_type.upper() == "HUGEINT" else col
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
