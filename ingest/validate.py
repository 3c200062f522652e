"""Row checks between reading and bronze: which rows land and which go to quarantine, and why.

Checks run on a *group*: the rows of many files read one after another (same columns, same
encoding), each row carrying its `_file` and `_row_number`, so a thousand small monthly exports cost
one vectorised pass instead of a thousand. Every rule still applies per file:

- a file missing a required column fails before any of its rows is read (`check_required_columns`;
  a JSON-lines file names its columns in its first parsable record: the lines rejected before it, or
  all of them when there is none, are quarantined like any bad line, not taken for missing columns);
- a typed column whose values mostly do not parse in the file's first block fails that file: it was
  retyped upstream (`retyped_files`);
- a row is quarantined for the first problem found, in this order: bytes that did not decode, a
  missing primary key, an empty value in a `not_null` column (a ticket without its sale time), a
  value that does not parse as its declared type, a date or timestamp outside its plausible range
  (`ingest.plausible_dates`: a 9999-12-31 birthday, a ticket created in 2999), a `nested` JSON array
  silver cannot read, whose item holds a typed key that does not parse (a line quantity of "two") or
  lacks a key every item must fill (`nested_not_null`: a line without a price; ingest/nested.py), a
  primary key already used by a *different* row earlier in the same file (exact repeats land: silver
  removes them and counts them in `dedup_log`). Only the few bad rows are formatted;
- a value of a `null_if_invalid` column (an optional profile attribute: a birthday) that does not
  parse or lies outside its plausible range costs the value, not the row: the row lands with that
  field null and the value is recorded in quarantine as `invalid_value_nulled` (file, row, the row's
  text, and a detail naming the field, the value and the reason it would have had). A row that is
  rejected for another problem is recorded once, as rejected.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import duckdb
import polars as pl

from ingest.config import ColumnType, EntityConfig
from ingest.encoding import UNDECODABLE_MARK
from ingest.errors import FileFailed
from ingest.nested import nested_problems
from ingest.parsing import NUMBER_RANGES, REASON_FOR_TYPE, beyond_range, clean_text, parse_as
from ingest.tables import NULLED_REASON, QUARANTINE_SCHEMA

# The first row of each key of a file that continues in the next group: 24 bytes a key, so a 2 GB
# file's keys stay far smaller than the file (the row hash is kept as its 64-bit hash).
FIRST_SEEN_SCHEMA = {"_key": pl.UInt64, "_first_hash": pl.UInt64, "_first_row": pl.Int64}
READ_REJECT_SCHEMA = {
    "_file": pl.String,
    "row_number": pl.Int64,
    "raw": pl.String,
    "reason": pl.String,
    "detail": pl.String,
}
SAMPLE_VALUES = 3


@dataclass
class EntityCheck:
    """What the checks of one entity's load need, and the state of files that span several groups."""

    source: str
    entity_name: str
    entity: EntityConfig
    batch_id: str
    ingested_at: datetime
    date_formats: list[str]
    timestamp_formats: list[str]
    timezone: str
    con: duckdb.DuckDBPyConnection
    retyped_share: float = 0.9
    retyped_min_values: int = 20
    # Typed date/timestamp column -> (earliest, latest) plausible day; None: unbounded on that side.
    date_bounds: dict[str, tuple[date | None, date | None]] = field(default_factory=dict)
    # Per typed column, the format that parsed most values in the last group: tried first next time.
    lead_format: dict[str, str] = field(default_factory=dict)
    # First row of every key seen so far in files whose rows continue in a later group.
    carried: dict[str, pl.DataFrame] = field(default_factory=dict)
    # Files appended to: the first row of every key their earlier loads landed (`first_seen_keys`),
    # so an appended row repeating an old key is judged as in a whole-file load.
    kept: dict[str, pl.DataFrame] = field(default_factory=dict)

    @property
    def raw_is_json(self) -> bool:
        return self.entity.format in ("jsonl", "parquet")


@dataclass
class GroupResult:
    """A checked group: bronze rows (with lineage), quarantine rows, and the files that failed."""

    landed: pl.DataFrame
    quarantined: pl.DataFrame
    failed: dict[str, str]


def row_hash_sql(columns: dict[str, str]) -> str:
    """DuckDB expression of the row hash: SQL column -> source column name it stands for.

    Stable md5 of a row's non-null values keyed by column name, independent of column order and of
    columns that are null, so the same row exported by two files (one with an extra empty column)
    hashes the same; md5 rather than Polars' hash, which may change between Polars versions while
    bronze keeps the value for years.
    """
    parts = ", ".join(
        f"'{_sql_text(name)}=' || {_sql_ident(column)}"
        for column, name in sorted(columns.items(), key=lambda c: c[1])
    )
    return f"md5(concat_ws(chr(31), {parts}))"


def row_hash(frame: pl.DataFrame, columns: list[str], con: duckdb.DuckDBPyConnection) -> pl.Series:
    """`_row_hash` of every row (`row_hash_sql`) over the data `columns`."""
    if frame.is_empty() or not columns:
        return pl.Series("_row_hash", [None] * frame.height, dtype=pl.String)
    con.register("hash_input", frame.select(columns).to_arrow())
    try:
        hashed = con.sql(f"select {row_hash_sql({c: c for c in columns})} as _row_hash from hash_input")
        table = hashed.to_arrow_table()
    finally:
        con.unregister("hash_input")
    series = pl.from_arrow(table.column("_row_hash"))
    assert isinstance(series, pl.Series)
    return series.alias("_row_hash")


def _sql_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_text(value: str) -> str:
    return value.replace("'", "''")


def check_required_columns(columns: list[str], check: EntityCheck, file: str) -> None:
    """Fail the file before loading anything when a required column is missing (names only)."""
    entity = check.entity
    missing = [c for c in entity.required_columns() if c not in columns]
    if not missing:
        return
    expected = set(entity.required_columns())
    added = [c for c in columns if c not in expected]
    hint = ""
    if len(columns) == 1 and any(d in columns[0] for d in ",;\t|" if d != entity.delimiter):
        found = next(d for d in ",;\t|" if d in columns[0] and d != entity.delimiter)
        hint = f"; the header is one field {columns[0][:80]!r}: wrong delimiter? it looks {found!r}-delimited, declared {entity.delimiter!r}"
    elif added:
        hint = f"; new column(s) {', '.join(repr(a) for a in added)}: renamed upstream? map it under sources.{check.source}.entities.{check.entity_name} in cdp.yaml"
    raise FileFailed(f"required column(s) {', '.join(repr(m) for m in missing)} missing from {file}{hint}")


def check_group(
    frame: pl.DataFrame,
    read_rejects: pl.DataFrame,
    columns: list[str],
    encoding: str,
    check: EntityCheck,
    continuing: set[str],
    marked: bool = True,
) -> GroupResult:
    """Split a group's rows into bronze and quarantine rows; files whose typed columns were retyped fail.

    `frame` holds the data `columns` plus `_file`, `_row_number` and `_first` (row of its file's first
    block); `read_rejects` the records the readers could not split; `continuing` the files whose
    rows go on in the next group (their keys are remembered for the duplicate-key rule); `marked`
    whether any value may carry the undecodable-bytes marker (the stream knows; skipping the scan
    of every text column when it cannot is the common case).
    """
    typed = [c for c, t in check.entity.types.items() if t != "string" and c in columns]
    soft = [c for c in typed if c in check.entity.null_if_invalid]
    frame = frame.with_columns(type_masks(frame, typed, check))
    nested = {c: keys for c, keys in check.entity.nested.items() if c in columns}
    frame = frame.with_columns(
        nested_problems(
            frame, nested, lambda value, kind: _parsed_any(value, kind, check), check.entity.nested_not_null
        )
    )
    failed = retyped_files(frame, typed, check)  # a retyped soft column fails its file all the same
    if failed:
        frame = frame.filter(~pl.col("_file").is_in(list(failed)))
        read_rejects = read_rejects.filter(~pl.col("_file").is_in(list(failed)))
    if "_row_hash" not in frame.columns:  # readers that hold the values in DuckDB hash on the way
        frame = frame.with_columns(_row_hash=row_hash(frame, columns, check.con))
    hard = [c for c in typed if c not in soft]
    frame = frame.with_columns(_first_problem(frame, check, columns, hard, encoding, marked))
    frame = frame.with_columns(_invalid_soft_values(frame, check, soft))
    frame = frame.drop(
        [f"_bad_{c}" for c in typed],
        [f"_implausible_{c}" for c in bounded(typed, check)],
        [f"_nested_{part}_{c}" for c in nested for part in ("reason", "detail")],
        "_first",
    )
    frame = _duplicate_keys(frame, check, continuing)
    good = frame.filter(pl.col("_reason").is_null())
    nulled, good = _null_invalid_soft_values(good, check, columns, soft)
    landed = good.with_columns(
        _source=pl.lit(check.source),
        _batch_id=pl.lit(check.batch_id),
        _ingested_at=pl.lit(check.ingested_at, dtype=QUARANTINE_SCHEMA["quarantined_at"]),
    ).select(*columns, "_source", "_file", "_row_number", "_batch_id", "_ingested_at", "_row_hash")
    rejected = frame.filter(pl.col("_reason").is_not_null()).select(
        "_file",
        pl.col("_row_number").alias("row_number"),
        _raw_text(columns, check).alias("raw"),
        pl.col("_reason").alias("reason"),
        pl.col("_detail").alias("detail"),
    )
    rejects = pl.concat([rejected, read_rejects.cast(READ_REJECT_SCHEMA), nulled], how="vertical_relaxed")
    return GroupResult(landed, quarantine_rows(rejects, check), failed)


def _invalid_soft_values(frame: pl.DataFrame, check: EntityCheck, soft: list[str]) -> list[pl.Series]:
    """`_nulled_<column>` per `null_if_invalid` column holding an invalid value in this group: the
    quarantine detail of the value (null where it is fine). None at all in the common case."""
    out: list[pl.Series] = []
    ranged = set(bounded(soft, check))
    for column in soft:
        checks = [_unparseable(check, column)]
        flags = [pl.col(f"_bad_{column}")]
        if column in ranged:
            checks.append(_implausible(check, column))
            flags.append(pl.col(f"_implausible_{column}"))
        rows = frame.select(pl.any_horizontal(flags)).to_series().arg_true()
        if rows.is_empty():
            continue
        reason = pl.coalesce([r for r, _ in checks])
        detail = pl.coalesce([d for _, d in checks])
        found = frame[rows].select(
            pl.format("{} ({}); the field was nulled and the row landed", detail, reason).alias("d")
        )["d"]
        empty = pl.repeat(None, frame.height, dtype=pl.String, eager=True)
        out.append(empty.scatter(rows, found).alias(f"_nulled_{column}"))
    return out


def _null_invalid_soft_values(
    good: pl.DataFrame, check: EntityCheck, columns: list[str], soft: list[str]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(quarantine records of the invalid soft values of rows that land, those rows with the values nulled).

    The record keeps the row's text as delivered (the value included); the landed row keeps its
    `_row_hash` of that text, so a repeat of the row is still the same row."""
    invalid = {c: f"_nulled_{c}" for c in soft if f"_nulled_{c}" in good.columns}
    if not invalid:
        return pl.DataFrame(schema=READ_REJECT_SCHEMA), good
    records = [
        good.filter(pl.col(mark).is_not_null()).select(
            "_file",
            pl.col("_row_number").alias("row_number"),
            _raw_text(columns, check).alias("raw"),
            pl.lit(NULLED_REASON).alias("reason"),
            pl.col(mark).alias("detail"),
        )
        for mark in invalid.values()
    ]
    nulled = good.with_columns(
        pl.when(pl.col(mark).is_null()).then(pl.col(column)).alias(column) for column, mark in invalid.items()
    ).drop(invalid.values())
    return pl.concat(records).sort("_file", "row_number"), nulled


def quarantine_rows(rejects: pl.DataFrame, check: EntityCheck) -> pl.DataFrame:
    return rejects.select(
        source=pl.lit(check.source),
        entity=pl.lit(check.entity_name),
        file=pl.col("_file"),
        row_number=pl.col("row_number"),
        raw=pl.col("raw"),
        reason=pl.col("reason"),
        detail=pl.col("detail"),
        batch_id=pl.lit(check.batch_id),
        quarantined_at=pl.lit(check.ingested_at, dtype=QUARANTINE_SCHEMA["quarantined_at"]),
    ).cast(QUARANTINE_SCHEMA)


def _raw_text(columns: list[str], check: EntityCheck) -> pl.Expr:
    """The row's text as delivered: a JSON object for JSON sources, delimited fields otherwise."""
    if not columns:
        return pl.lit("")
    if check.raw_is_json:
        return pl.struct(columns).struct.json_encode()
    return pl.concat_str([pl.col(c).fill_null("") for c in columns], separator=check.entity.delimiter)


def _first_problem(
    frame: pl.DataFrame, check: EntityCheck, columns: list[str], typed: list[str], encoding: str, marked: bool
) -> list[pl.Series]:
    """`_reason` and `_detail` of each row's first problem (null where the row is fine).

    Which rows have a problem is one cheap boolean pass; the messages are formatted for those rows only.
    """
    reason = pl.repeat(None, frame.height, dtype=pl.String, eager=True).alias("_reason")
    detail = pl.repeat(None, frame.height, dtype=pl.String, eager=True).alias("_detail")
    if frame.is_empty():  # e.g. a group of lines rejected while reading only: it may name no column
        return [reason, detail]
    reasons, details = _problems(check, columns, typed, encoding, marked)
    flags = [each.is_not_null() for each in reasons[1:]]
    problem = frame.select(pl.any_horizontal(flags) if flags else pl.lit(False)).to_series()
    rows = problem.arg_true()
    if rows.is_empty():
        return [reason, detail]
    found = frame[rows].select(_reason=pl.coalesce(reasons), _detail=pl.coalesce(details))
    return [reason.scatter(rows, found["_reason"]), detail.scatter(rows, found["_detail"])]


def _problems(
    check: EntityCheck, columns: list[str], typed: list[str], encoding: str, marked: bool
) -> tuple[list[pl.Expr], list[pl.Expr]]:
    """One (reason, detail) expression pair per check, in priority order; null where the row is fine."""
    reasons: list[pl.Expr] = [pl.lit(None, dtype=pl.String)]
    details: list[pl.Expr] = [pl.lit(None, dtype=pl.String)]
    if columns and marked:
        undecodable = pl.any_horizontal(
            [pl.col(c).str.contains(UNDECODABLE_MARK, literal=True).fill_null(False) for c in columns]
        )
        reasons.append(pl.when(undecodable).then(pl.lit("undecodable_bytes")))
        details.append(pl.when(undecodable).then(pl.lit(f"bytes that do not decode as {encoding}")))
    for key in check.entity.primary_key:
        missing = clean_text(pl.col(key)).is_null()
        reasons.append(pl.when(missing).then(pl.lit("missing_primary_key")))
        details.append(pl.when(missing).then(pl.lit(f"primary key field '{key}' is empty")))
    for column in [c for c in check.entity.not_null if c in columns]:
        empty = clean_text(pl.col(column)).is_null()
        reasons.append(pl.when(empty).then(pl.lit("missing_value")))
        details.append(pl.when(empty).then(pl.lit(f"field '{column}' is empty; every row must fill it")))
    nested = [c for c in check.entity.nested if c in columns]  # their problems: ingest/nested.py
    for reason, detail in [
        *(_unparseable(check, column) for column in typed),
        *(_implausible(check, column) for column in bounded(typed, check)),
        *((pl.col(f"_nested_reason_{c}"), pl.col(f"_nested_detail_{c}")) for c in nested),
    ]:
        reasons.append(reason)
        details.append(detail)
    return reasons, details


def _unparseable(check: EntityCheck, column: str) -> tuple[pl.Expr, pl.Expr]:
    """(reason, detail) of a value of a typed column that does not parse; null where it does."""
    column_type = check.entity.types[column]
    bad = pl.col(f"_bad_{column}")
    not_valid = pl.format(f"field '{column}': '{{}}' is not a valid {column_type}", pl.col(column))
    detail = pl.when(bad).then(not_valid)
    if column_type in NUMBER_RANGES:  # one chain: a nested when/then would end it null, not fall through
        beyond = pl.format(
            f"field '{column}': '{{}}' is a number beyond the range of {NUMBER_RANGES[column_type]}",
            pl.col(column),
        )
        detail = (
            pl.when(bad & beyond_range(pl.col(column), column_type, check.entity.decimal_comma))
            .then(beyond)
            .when(bad)
            .then(not_valid)
        )
    return pl.when(bad).then(pl.lit(REASON_FOR_TYPE[column_type])), detail


def _implausible(check: EntityCheck, column: str) -> tuple[pl.Expr, pl.Expr]:
    """(reason, detail) of a date/timestamp outside its plausible range; null where it is inside."""
    implausible = pl.col(f"_implausible_{column}")
    earliest, latest = (day.isoformat() if day else "any" for day in check.date_bounds[column])
    message = (
        f"field '{column}': '{{}}' is outside its plausible range {earliest} to {latest} "
        "(ingest.plausible_dates; the latest day follows the day the row is ingested, or the "
        "batch's logical day when later)"
    )
    return (
        pl.when(implausible).then(pl.lit(f"implausible_{check.entity.types[column]}")),
        pl.when(implausible).then(pl.format(message, pl.col(column))),
    )


def bounded(typed: list[str], check: EntityCheck) -> list[str]:
    """The typed columns with a plausible range: dates and timestamps bounded on at least one side."""
    return [c for c in typed if check.date_bounds.get(c, (None, None)) != (None, None)]


def implausible(values: pl.Series, bounds: tuple[date | None, date | None]) -> pl.Series:
    """True where a parsed date/timestamp lies outside `bounds` (a timestamp may fill its latest day)."""
    earliest, latest = bounds
    out = pl.repeat(False, len(values), dtype=pl.Boolean, eager=True)
    is_timestamp = values.dtype == pl.Datetime
    if earliest is not None:
        low = datetime.combine(earliest, datetime.min.time()) if is_timestamp else earliest
        out = out | (values < low).fill_null(False)
    if latest is not None:
        high = datetime.combine(latest + timedelta(days=1), datetime.min.time()) if is_timestamp else latest
        out = out | ((values >= high) if is_timestamp else (values > high)).fill_null(False)
    return out


def retyped_files(frame: pl.DataFrame, typed: list[str], check: EntityCheck) -> dict[str, str]:
    """Files whose first block holds mostly unparseable values in a typed column: retyped upstream.

    Judged per file on its first block only (what a streamed file has before anything lands), and
    only with enough values present to judge.
    """
    if not typed or frame.is_empty():
        return {}
    any_bad = pl.any_horizontal([pl.col(f"_bad_{c}") for c in typed]) & pl.col("_first")
    suspects = frame.filter(any_bad)["_file"].unique()
    if suspects.is_empty():  # the common case: every first block parses
        return {}
    first = frame.filter(pl.col("_first") & pl.col("_file").is_in(suspects.implode()))
    stats = first.group_by("_file").agg(
        [clean_text(pl.col(c)).is_not_null().sum().alias(f"present_{c}") for c in typed]
        + [pl.col(f"_bad_{c}").sum().alias(f"bad_{c}") for c in typed]
    )
    failed: dict[str, str] = {}
    for column in typed:  # a loop over a few typed columns; each filter is vectorised over files
        present, bad = pl.col(f"present_{column}"), pl.col(f"bad_{column}")
        hit = stats.filter(
            (present >= check.retyped_min_values) & (bad / present >= check.retyped_share)
        ).select("_file", present, bad)
        for file, n_present, n_bad in hit.iter_rows():  # failing files only: few
            if file in failed:
                continue
            examples = first.filter((pl.col("_file") == file) & pl.col(f"_bad_{column}"))[column].head(
                SAMPLE_VALUES
            )
            failed[file] = (
                f"column '{column}' in {file} no longer holds {check.entity.types[column]} values: "
                f"{n_bad:,} of {n_present:,} in the first block do not parse (e.g. "
                f"{', '.join(repr(v) for v in examples.to_list())}); "
                f"retyped upstream? fix the export or the column's type/formats in cdp.yaml"
            )
    return failed


def type_masks(frame: pl.DataFrame, typed: list[str], check: EntityCheck) -> list[pl.Series]:
    """`_bad_<column>`: True where a present value parses in none of the column's formats; and for
    the columns with plausible bounds, `_implausible_<column>`: True where the parsed value lies outside.

    All typed columns are judged in one query with one format each; the other formats are then
    tried one after another on the values still unparsed only, so the rare formats touch only the
    few rows that need them. Which format goes first is learnt: the one that parsed most values of
    the column in the previous group (a web shop's ISO timestamps with offsets are the fourth
    configured format; trying it first saves three passes). The order cannot change the outcome:
    a value is bad only when no format parses it.
    """
    if not typed:
        return []
    types = check.entity.types
    formats = {c: _formats(types[c], check) for c in typed}
    for column in typed:
        lead = check.lead_format.get(column)
        if lead in formats[column]:
            formats[column] = [lead, *[f for f in formats[column] if f != lead]]
    ranged = bounded(typed, check)
    first = frame.select(
        [
            (
                clean_text(pl.col(c)).is_not_null()
                & _parsed(pl.col(c), types[c], formats[c][:1], check).is_null()
            ).alias(f"_bad_{c}")
            for c in typed
        ]
        + [_parsed(pl.col(c), types[c], formats[c][:1], check).alias(f"_value_{c}") for c in ranged]
    )
    masks = []
    for column in typed:
        pending = first[f"_bad_{column}"]
        values = first[f"_value_{column}"] if column in ranged else None
        hits = {formats[column][0]: frame.height - int(pending.sum())}
        for fmt in formats[column][1:]:
            if not pending.any():
                break
            rows = pending.arg_true()
            parsed = (
                frame[column]
                .gather(rows)
                .to_frame("v")
                .select(_parsed(pl.col("v"), types[column], [fmt], check))
                .to_series()
            )
            hits[fmt] = int(parsed.is_not_null().sum())
            pending = pending.scatter(rows, parsed.is_null())
            if values is not None:
                values = values.scatter(rows, parsed)
        check.lead_format[column] = max(hits, key=lambda f: hits[f])
        masks.append(pending.alias(f"_bad_{column}"))
        if values is not None:  # judged on the parsed values: an unparseable one is not implausible
            masks.append(implausible(values, check.date_bounds[column]).alias(f"_implausible_{column}"))
    return masks


def _formats(column_type: str, check: EntityCheck) -> list[str]:
    if column_type == "date":
        return check.date_formats
    if column_type == "timestamp":
        return check.timestamp_formats
    return [""]  # numbers and booleans have one parser


def _parsed_any(column: pl.Expr, column_type: ColumnType, check: EntityCheck) -> pl.Expr:
    """The value parsed in any of its type's formats (a nested value: judged once, no format learnt)."""
    return _parsed(column, column_type, _formats(column_type, check), check)


def _parsed(column: pl.Expr, column_type: str, formats: list[str], check: EntityCheck) -> pl.Expr:
    return parse_as(
        column,
        column_type,  # type: ignore[arg-type]
        date_formats=formats,
        timestamp_formats=formats,
        timezone=check.timezone,
        decimal_comma=check.entity.decimal_comma,
    )


def _key_columns(keys: list[str]) -> dict[str, pl.Expr]:
    """A row's key (file and cleaned primary key, hashed) and its values' hash, as the rule compares them."""
    return {
        "_key": pl.struct(pl.col("_file"), *[clean_text(pl.col(k)) for k in keys]).hash(),
        "_hash64": pl.col("_row_hash").hash(),
    }


def first_seen_keys(landed: pl.LazyFrame, keys: list[str]) -> dict[str, pl.DataFrame]:
    """Per file, the first row of every key among rows landed earlier (bronze rows): `kept` state."""
    firsts = (
        landed.select("_file", "_row_number", "_row_hash", *keys)
        .with_columns(**_key_columns(keys))
        .sort("_file", "_row_number")
        .unique("_key", keep="first", maintain_order=True)
        .select("_file", "_key", _first_hash="_hash64", _first_row="_row_number")
        .collect()
    )
    return {file: part.drop("_file") for (file,), part in firsts.partition_by("_file", as_dict=True).items()}


def _duplicate_keys(frame: pl.DataFrame, check: EntityCheck, continuing: set[str]) -> pl.DataFrame:
    """Quarantine a row whose key an earlier, *different* row of the same file already used."""
    keys = check.entity.primary_key
    if not keys or frame.is_empty():
        return frame
    frame = frame.with_columns(**_key_columns(keys))
    files = frame["_file"].unique().to_list()
    carried = [check.carried[f] for f in files if f in check.carried]
    carried += [check.kept[f] for f in files if f in check.kept]
    prior = pl.concat(carried) if carried else pl.DataFrame(schema=FIRST_SEEN_SCHEMA)
    # Most keys are new: only rows whose key repeats (in this group or earlier) need the join.
    suspect = frame["_key"].is_in(prior["_key"].implode()) | frame["_key"].is_duplicated()
    # First rows are needed for the suspects' keys, and for every key of a file that continues.
    needed = suspect | frame["_file"].is_in(list(continuing))
    new_firsts = (
        frame.filter(needed)
        .filter(pl.col("_reason").is_null())
        .select("_file", "_key", _first_hash="_hash64", _first_row="_row_number")
        .sort("_first_row")
        .unique("_key", keep="first", maintain_order=True)
        .join(prior, on="_key", how="anti")
    )
    firsts = pl.concat([prior, new_firsts.drop("_file")])
    check.carried = {
        f: pl.concat(
            [check.carried.get(f, prior.clear()), new_firsts.filter(pl.col("_file") == f).drop("_file")]
        )
        for f in continuing
    }
    if not suspect.any():
        return frame.drop("_key", "_hash64")
    rows = suspect.arg_true()
    repeated = frame[rows].join(firsts, on="_key", how="left", maintain_order="left")
    conflict = pl.col("_reason").is_null() & (pl.col("_hash64") != pl.col("_first_hash"))
    key_text = pl.concat_str([pl.format(f"{k}={{}}", pl.col(k)) for k in keys], separator=", ")
    marked = repeated.select(
        _reason=pl.when(conflict).then(pl.lit("duplicate_primary_key")).otherwise(pl.col("_reason")),
        _detail=pl.when(conflict)
        .then(
            pl.format("key {} already used by row {} with different values", key_text, pl.col("_first_row"))
        )
        .otherwise(pl.col("_detail")),
    )
    return frame.with_columns(
        frame["_reason"].scatter(rows, marked["_reason"]),
        frame["_detail"].scatter(rows, marked["_detail"]),
    ).drop("_key", "_hash64")
