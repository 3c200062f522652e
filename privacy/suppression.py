"""The suppression list: erased people stay erased when an old export is loaded again.

Erasure records keyed hashes (HMAC, never the values) of the person's record keys, emails, phones,
national ids and customer ids in `lake/privacy/suppression`. Ingestion calls `drop_suppressed` on
every batch of rows before it lands them in bronze (and `suppressed_raw` on rows it quarantines), so
a re-delivered `customers.jsonl` that still lists the person lands without them.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import UTC, datetime

import polars as pl

from privacy.keys import Key, hmac_key
from privacy.layout import PrivacyPaths
from privacy.matching import (
    IDENTIFIER_KINDS,
    PHONE_PUNCTUATION,
    Subject,
    bronze_identifier_columns,
    bronze_record_keys,
    normalise,
    template_expr,
)
from privacy.settings import load_settings
from warehouse import delta
from warehouse.config import CdpConfig

SUPPRESSED_KINDS = ("record_id", "customer_id", "email", "phone", "national_id")
SCHEMA: dict[str, pl.DataType] = {
    "identifier_hash": pl.String(),
    "kind": pl.String(),
    "request_id": pl.String(),
    "suppressed_at": pl.Datetime("us", "UTC"),
}
EMAIL_PATTERN = r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}"
# How each kind can be written in free text. Phones twice: as written with separators
# (`+86 139 1111 2222`) and as bare digit runs (a number glued to another by a separator).
MENTION_PATTERNS: dict[str, tuple[str, ...]] = {
    "email": (EMAIL_PATTERN,),
    "phone": (r"\+?[0-9][0-9 \-().]{5,}[0-9]", r"[0-9]{7,}"),
    "national_id": (r"[0-9]{14,17}[0-9Xx]",),
}


def identifier_hash(key: Key, kind: str, normalised: str) -> str:
    """Domain-separated so an email never collides with a record key of the same text."""
    message = f"suppress:{kind}:{normalised}".encode()
    return hmac.new(key.material, message, hashlib.sha256).hexdigest()


def hash_expr(key: Key, kind: str, values: pl.Expr) -> pl.Expr:
    """Vectorised: the HMAC is computed once per distinct value of the column."""
    return values.map_batches(
        lambda series: _hash_series(key, kind, series), return_dtype=pl.String, is_elementwise=True
    )


def _hash_series(key: Key, kind: str, series: pl.Series) -> pl.Series:
    distinct = series.drop_nulls().unique()
    lookup = pl.DataFrame(
        {"value": distinct, "hash": [identifier_hash(key, kind, v) for v in distinct.to_list()]},
        schema={"value": pl.String, "hash": pl.String},
    )
    frame = pl.DataFrame({"value": series.cast(pl.String)})
    return frame.join(lookup, on="value", how="left", maintain_order="left")["hash"]


def add(config: CdpConfig, subject: Subject, request_id: str) -> int:
    """Record the subject's identifiers (hashed); idempotent for a repeated request."""
    key = hmac_key(config)
    rows = [
        {
            "identifier_hash": identifier_hash(key, kind, value),
            "kind": kind,
            "request_id": request_id,
            "suppressed_at": datetime.now(UTC),
        }
        for kind in SUPPRESSED_KINDS
        for value in sorted(subject.of(kind))
    ]
    if not rows:
        return 0
    frame = pl.DataFrame(rows, schema=SCHEMA)
    delta.merge_upsert(
        frame, PrivacyPaths.of(config).suppression, keys=["identifier_hash"], batch_id=request_id
    )
    return frame.height


def suppressed(config: CdpConfig) -> pl.DataFrame:
    return delta.read_or_empty(PrivacyPaths.of(config).suppression, SCHEMA)


def merge(config: CdpConfig, rows: pl.DataFrame, batch_id: str) -> int:
    """Add another list's rows (e.g. the live root's, after a restore) missing from this one; returns how many."""
    new = (
        rows.select(list(SCHEMA))
        .unique("identifier_hash")
        .join(suppressed(config).select("identifier_hash"), on="identifier_hash", how="anti")
    )
    if not new.is_empty():
        delta.merge_upsert(
            new, PrivacyPaths.of(config).suppression, keys=["identifier_hash"], batch_id=batch_id
        )
    return new.height


def find(config: CdpConfig, kind: str, normalised: str) -> pl.DataFrame:
    """The suppression rows for one identifier (empty if it was never erased)."""
    table = suppressed(config)
    if table.is_empty():
        return table
    return table.filter(pl.col("identifier_hash") == identifier_hash(hmac_key(config), kind, normalised))


class Suppressor:
    """The list loaded once per ingestion batch; every test is a vectorised lookup of hashes."""

    def __init__(self, config: CdpConfig):
        self.config = config
        self.table = suppressed(config)
        self.settings = load_settings(config)
        self.record_keys = bronze_record_keys(config)
        self.identifier_columns = bronze_identifier_columns(config)
        self._key: Key | None = None

    @property
    def empty(self) -> bool:
        return self.table.is_empty()

    @property
    def key(self) -> Key:
        if self._key is None:
            self._key = hmac_key(self.config, self.settings)
        return self._key

    def _hashes(self, kind: str) -> list[str]:
        return self.table.filter(pl.col("kind") == kind)["identifier_hash"].to_list()

    def is_suppressed(self, kind: str, values: pl.Expr) -> pl.Expr:
        digits = self.settings.erasure.phone_match_digits
        return (
            hash_expr(self.key, kind, normalise(kind, values, digits))
            .is_in(self._hashes(kind))
            .fill_null(False)
        )

    def requests(self, kind: str, values: pl.Series) -> pl.DataFrame:
        """`value`, `request_id`: the values on the list (as given) and the erasure that put them there."""
        digits = self.settings.erasure.phone_match_digits
        frame = pl.DataFrame({"value": values.cast(pl.String)}).drop_nulls().unique()
        hashed = frame.with_columns(
            identifier_hash=hash_expr(self.key, kind, normalise(kind, pl.col("value"), digits))
        )
        listed = self.table.filter(pl.col("kind") == kind).select("identifier_hash", "request_id")
        return hashed.join(listed, on="identifier_hash").select("value", "request_id")

    def mentioned(self, texts: pl.Series) -> pl.DataFrame:
        """`kind`, `value`, `request_id`: erased emails, phones and national ids quoted in `texts`, as written."""
        frame = pl.DataFrame({"text": texts.cast(pl.String).drop_nulls().unique()})
        found = []
        for kind, patterns in MENTION_PATTERNS.items():
            tokens = pl.concat(
                [frame.select(token=pl.col("text").str.extract_all(p)).explode("token") for p in patterns]
            )["token"].str.strip_chars()
            found.append(
                self.requests(kind, tokens).select(pl.lit(kind).alias("kind"), "value", "request_id")
            )
        return pl.concat(found)

    def mentions(self, texts: pl.Series, request_id: str | None = None) -> dict[str, set[str]]:
        """Erased emails, phones and national ids quoted in `texts`, as written there, by kind.

        How an erasure that did not finish learns what it still has to redact: the person's records
        are gone by then and the list holds only hashes, but the text still holds the values.
        """
        if self.empty or texts.is_empty():
            return {}
        hits = self.mentioned(texts)
        if request_id is not None:
            hits = hits.filter(pl.col("request_id") == request_id)
        return {kind: set(rows["value"].to_list()) for (kind,), rows in hits.group_by("kind")}

    def row_mask(self, source: str, entity: str, frame: pl.DataFrame) -> pl.Series:
        """True for rows of a bronze-shaped frame (the source's own columns) that belong to an erased person."""
        if self.empty or frame.is_empty():
            return pl.Series([False] * frame.height, dtype=pl.Boolean)
        table = f"{source}__{entity}"
        tests: list[pl.Expr] = []
        template = self.record_keys.get(table)
        if template and all(f in frame.columns for f in re.findall(r"\{([^{}]+)\}", template)):
            record_key = pl.concat_str([pl.lit(f"{source}:"), template_expr(template)])
            tests.append(self.is_suppressed("record_id", record_key))
        mapped = self.identifier_columns.get(table, {})
        for column in frame.columns:
            spec = self.settings.catalogue.spec("bronze", table, column)
            # The catalogue's mark, else the registry's: a column silver reads as an email is one.
            kind = spec.identifies if spec is not None else None
            kind = kind if kind in IDENTIFIER_KINDS else mapped.get(column)
            if kind is not None:
                tests.append(self.is_suppressed(kind, pl.col(column)))
        if not tests:
            return pl.Series([False] * frame.height, dtype=pl.Boolean)
        return frame.select(pl.any_horizontal(tests).alias("suppressed"))["suppressed"]

    def raw_mask(self, source: str, raw: pl.Series) -> pl.Series:
        """True for rejected rows whose text carries an erased person's email, phone or record key."""
        if self.empty or raw.is_empty():
            return pl.Series([False] * raw.len(), dtype=pl.Boolean)
        frame = pl.DataFrame({"raw": raw.cast(pl.String).fill_null("")}).with_row_index("row")
        digits = self.settings.erasure.phone_match_digits
        emails = frame.select("row", token=pl.col("raw").str.extract_all(EMAIL_PATTERN)).explode("token")
        phones = frame.select(
            "row", token=pl.col("raw").str.replace_all(PHONE_PUNCTUATION, "").str.extract_all(r"[0-9]{7,}")
        ).explode("token")
        keys = (
            frame.select("row", token=pl.col("raw").str.extract_all(r"[0-9A-Za-z_.:\-]+"))
            .explode("token")
            .with_columns(token=pl.lit(f"{source}:") + pl.col("token"))
        )
        hits = pl.concat(
            [
                emails.filter(self.is_suppressed("email", pl.col("token"))),
                phones.filter(self.is_suppressed("phone", pl.col("token").str.slice(-digits))),
                keys.filter(self.is_suppressed("record_id", pl.col("token"))),
            ]
        )["row"].unique()
        return frame["row"].is_in(hits.implode())


def drop_suppressed(
    config: CdpConfig, source: str, entity: str, frame: pl.DataFrame, suppressor: Suppressor | None = None
) -> tuple[pl.DataFrame, int]:
    """The frame without the rows of erased people, and how many were dropped.

    For ingestion: call on each batch of landed rows before they are written to bronze (pass one
    `Suppressor(config)` per batch to load the list once).
    """
    suppressor = suppressor or Suppressor(config)
    if suppressor.empty:
        return frame, 0
    mask = suppressor.row_mask(source, entity, frame)
    return frame.filter(~mask), int(mask.sum())


def is_suppressed(config: CdpConfig, kind: str, values: pl.Series) -> pl.Series:
    """For each value (an email, phone, `source:source_record_id`, ...), whether its person was erased."""
    suppressor = Suppressor(config)
    if suppressor.empty:
        return pl.Series([False] * values.len(), dtype=pl.Boolean)
    frame = pl.DataFrame({"value": values})
    return frame.select(suppressor.is_suppressed(kind, pl.col("value")).alias("suppressed"))["suppressed"]
