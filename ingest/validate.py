"""Row checks between reading and bronze: which rows land and which go to quarantine, and why.

A row is quarantined for the first problem found, in this order: bytes that did not decode, a
missing primary key, a value that does not parse as its declared type, a primary key already used
by a *different* row earlier in the same file (exact repeats land: silver removes them and counts
them in `dedup_log`). Everything is vectorised over the batch; only the few bad rows are formatted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import duckdb
import polars as pl

from ingest.config import EntityConfig
from ingest.encoding import UNDECODABLE_MARK
from ingest.errors import FileFailed
from ingest.parsing import REASON_FOR_TYPE, clean_text, parse_as
from ingest.readers.base import RawBatch
from ingest.tables import QUARANTINE_SCHEMA

FIRST_SEEN_SCHEMA = {"_key": pl.UInt64, "_first_hash": pl.String, "_first_row": pl.Int64}
SAMPLE_VALUES = 3


@dataclass
class FileCheck:
    """Everything the checks need to know about one file being loaded, and state across its batches."""

    source: str
    entity_name: str
    entity: EntityConfig
    file: str
    batch_id: str
    ingested_at: datetime
    date_formats: list[str]
    timestamp_formats: list[str]
    timezone: str
    first_seen: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=FIRST_SEEN_SCHEMA))

    @property
    def raw_is_json(self) -> bool:
        return self.entity.format in ("jsonl", "parquet")


def row_hash(frame: pl.DataFrame) -> pl.Series:
    """Stable md5 of a row's non-null values keyed by column name.

    Independent of column order and of columns that are null, so the same row exported by two files
    (one with an extra empty column) hashes the same; md5 rather than Polars' hash, which may change
    between Polars versions while bronze keeps the value for years.
    """
    if frame.is_empty() or not frame.columns:
        return pl.Series("_row_hash", [None] * frame.height, dtype=pl.String)
    parts = ", ".join(f"'{_sql_text(c)}=' || {_sql_ident(c)}" for c in sorted(frame.columns))
    con = duckdb.connect()
    try:
        con.register("batch", frame)
        hashed = con.sql(f"select md5(concat_ws(chr(31), {parts})) as _row_hash from batch").pl()
    finally:
        con.close()
    return hashed.to_series()


def _sql_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_text(value: str) -> str:
    return value.replace("'", "''")


def check_batch(batch: RawBatch, check: FileCheck) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split a batch into bronze rows (with lineage) and quarantine rows (with raw text and reason)."""
    frame = batch.frame.with_columns(_row_number=pl.Series(batch.row_numbers, dtype=pl.Int64))
    data_columns = batch.frame.columns
    frame = frame.with_columns(_row_hash=row_hash(batch.frame))
    typed = [c for c, t in check.entity.types.items() if t != "string" and c in data_columns]
    frame = frame.with_columns(
        [unparseable_mask(frame[c], check.entity.types[c], check).alias(f"_bad_{c}") for c in typed]
    )
    reasons, details = _problems(check, data_columns)
    frame = frame.with_columns(_reason=pl.coalesce(reasons), _detail=pl.coalesce(details))
    frame = frame.drop([f"_bad_{c}" for c in typed])
    frame = _duplicate_keys(frame, check)
    good = frame.filter(pl.col("_reason").is_null()).drop("_reason", "_detail")
    bad = frame.filter(pl.col("_reason").is_not_null())
    landed = good.with_columns(
        _source=pl.lit(check.source),
        _file=pl.lit(check.file),
        _batch_id=pl.lit(check.batch_id),
        _ingested_at=pl.lit(check.ingested_at, dtype=QUARANTINE_SCHEMA["quarantined_at"]),
    ).select(*data_columns, "_source", "_file", "_row_number", "_batch_id", "_ingested_at", "_row_hash")
    rejected = bad.select(
        pl.col("_row_number").alias("row_number"),
        _raw_text(data_columns, check).alias("raw"),
        pl.col("_reason").alias("reason"),
        pl.col("_detail").alias("detail"),
    )
    return landed, quarantine_rows(pl.concat([rejected, batch.rejects], how="vertical_relaxed"), check)


def quarantine_rows(rejects: pl.DataFrame, check: FileCheck) -> pl.DataFrame:
    return rejects.select(
        source=pl.lit(check.source),
        entity=pl.lit(check.entity_name),
        file=pl.lit(check.file),
        row_number=pl.col("row_number"),
        raw=pl.col("raw"),
        reason=pl.col("reason"),
        detail=pl.col("detail"),
        batch_id=pl.lit(check.batch_id),
        quarantined_at=pl.lit(check.ingested_at, dtype=QUARANTINE_SCHEMA["quarantined_at"]),
    ).cast(QUARANTINE_SCHEMA)


def _raw_text(columns: list[str], check: FileCheck) -> pl.Expr:
    """The row's text as delivered: a JSON object for JSON sources, delimited fields otherwise."""
    if not columns:
        return pl.lit("")
    if check.raw_is_json:
        return pl.struct(columns).struct.json_encode()
    return pl.concat_str([pl.col(c).fill_null("") for c in columns], separator=check.entity.delimiter)


def _problems(check: FileCheck, columns: list[str]) -> tuple[list[pl.Expr], list[pl.Expr]]:
    """One (reason, detail) expression pair per check, in priority order; null where the row is fine."""
    reasons: list[pl.Expr] = [pl.lit(None, dtype=pl.String)]
    details: list[pl.Expr] = [pl.lit(None, dtype=pl.String)]
    if columns:
        undecodable = pl.any_horizontal(
            [pl.col(c).str.contains(UNDECODABLE_MARK, literal=True).fill_null(False) for c in columns]
        )
        reasons.append(pl.when(undecodable).then(pl.lit("undecodable_bytes")))
        details.append(
            pl.when(undecodable).then(
                pl.lit(f"bytes that do not decode as {check.entity.encoding_for(check.file)}")
            )
        )
    for key in check.entity.primary_key:
        missing = clean_text(pl.col(key)).is_null()
        reasons.append(pl.when(missing).then(pl.lit("missing_primary_key")))
        details.append(pl.when(missing).then(pl.lit(f"primary key field '{key}' is empty")))
    for column, column_type in check.entity.types.items():
        if column_type == "string" or column not in columns:
            continue
        bad = pl.col(f"_bad_{column}")
        reasons.append(pl.when(bad).then(pl.lit(REASON_FOR_TYPE[column_type])))
        details.append(
            pl.when(bad).then(
                pl.format(f"field '{column}': '{{}}' is not a valid {column_type}", pl.col(column))
            )
        )
    return reasons, details


def unparseable_mask(values: pl.Series, column_type: str, check: FileCheck) -> pl.Series:
    """True where a present value parses in none of the formats.

    Formats are tried one after another on the values still unparsed only, so the common format
    costs one pass and the rare ones touch only the few rows that need them.
    """
    text = values.to_frame("v").select(clean_text(pl.col("v"))).to_series()
    if column_type in ("date", "timestamp"):
        formats = check.date_formats if column_type == "date" else check.timestamp_formats
        pending = text.is_not_null()
        for fmt in formats:
            if not pending.any():
                break
            subset = text.filter(pending).to_frame("v")
            parsed = subset.select(
                parse_as(
                    pl.col("v"),
                    column_type,
                    date_formats=[fmt],
                    timestamp_formats=[fmt],
                    timezone=check.timezone,
                )
            ).to_series()
            still = pending.clone()
            still = still.scatter(pending.arg_true(), parsed.is_null())
            pending = still
        return pending
    frame = text.to_frame("v")
    return frame.select(_unparseable(pl.col("v"), column_type, check)).to_series()


def _unparseable(column: pl.Expr, column_type: str, check: FileCheck) -> pl.Expr:
    parsed = parse_as(
        column,
        column_type,  # type: ignore[arg-type]
        date_formats=check.date_formats,
        timestamp_formats=check.timestamp_formats,
        timezone=check.timezone,
    )
    return clean_text(column).is_not_null() & parsed.is_null()


def _duplicate_keys(frame: pl.DataFrame, check: FileCheck) -> pl.DataFrame:
    """Quarantine a row whose key an earlier, *different* row of the same file already used."""
    keys = check.entity.primary_key
    if not keys or frame.is_empty():
        return frame
    frame = frame.with_columns(_key=pl.struct([clean_text(pl.col(k)) for k in keys]).hash())
    # Most keys are new: only rows whose key repeats (in this batch or earlier) need the join.
    suspect = frame["_key"].is_in(check.first_seen["_key"].implode()) | frame["_key"].is_duplicated()
    candidates = frame.filter(pl.col("_reason").is_null()).select(
        "_key", _first_hash="_row_hash", _first_row="_row_number"
    )
    new_firsts = (
        candidates.sort("_first_row")
        .unique("_key", keep="first", maintain_order=True)
        .join(check.first_seen, on="_key", how="anti")
    )
    check.first_seen = pl.concat([check.first_seen, new_firsts], rechunk=False)
    if not suspect.any():
        return frame.drop("_key")
    frame = frame.with_columns(_suspect=suspect)
    repeated = frame.filter("_suspect").join(check.first_seen, on="_key", how="left")
    frame = (
        pl.concat([frame.filter(~pl.col("_suspect")), repeated], how="diagonal_relaxed")
        .sort("_row_number")
        .drop("_suspect")
    )
    conflict = pl.col("_reason").is_null() & (pl.col("_row_hash") != pl.col("_first_hash"))
    key_text = pl.concat_str([pl.format(f"{k}={{}}", pl.col(k)) for k in keys], separator=", ")
    return frame.with_columns(
        _reason=pl.when(conflict).then(pl.lit("duplicate_primary_key")).otherwise(pl.col("_reason")),
        _detail=pl.when(conflict)
        .then(
            pl.format("key {} already used by row {} with different values", key_text, pl.col("_first_row"))
        )
        .otherwise(pl.col("_detail")),
    ).drop("_key", "_first_hash", "_first_row")


def check_columns(
    columns: list[str], check: FileCheck, sample: pl.DataFrame, settings_share: float, min_values: int
) -> None:
    """Fail the file before loading anything when a required column is missing or no longer typed."""
    entity = check.entity
    missing = [c for c in entity.required_columns() if c not in columns]
    if missing:
        expected = set(entity.required_columns())
        added = [c for c in columns if c not in expected]
        hint = ""
        if len(columns) == 1 and any(d in columns[0] for d in ",;\t|" if d != entity.delimiter):
            found = next(d for d in ",;\t|" if d in columns[0] and d != entity.delimiter)
            hint = f"; the header is one field {columns[0][:80]!r}: wrong delimiter? it looks {found!r}-delimited, declared {entity.delimiter!r}"
        elif added:
            hint = f"; new column(s) {', '.join(repr(a) for a in added)}: renamed upstream? map it under sources.{check.source}.entities.{check.entity_name} in cdp.yaml"
        raise FileFailed(
            f"required column(s) {', '.join(repr(m) for m in missing)} missing from {check.file}{hint}"
        )
    for column, column_type in entity.types.items():
        if column_type == "string" or column not in sample.columns:
            continue
        present = sample.select(clean_text(pl.col(column)).is_not_null().sum()).item()
        if present < min_values:
            continue
        bad = sample.filter(_unparseable(pl.col(column), column_type, check))
        if bad.height / present >= settings_share:
            examples = ", ".join(repr(v) for v in bad[column].head(SAMPLE_VALUES).to_list())
            raise FileFailed(
                f"column '{column}' in {check.file} no longer holds {column_type} values: "
                f"{bad.height:,} of {present:,} in the first block do not parse (e.g. {examples}); "
                f"retyped upstream? fix the export or the column's type/formats in cdp.yaml"
            )
