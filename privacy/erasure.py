"""The right to erasure: remove one person from every layer, prove it, and keep them out.

`plan_erasure` works out everything before anything changes: who the person is (privacy.subject),
which rows of which Delta table are theirs (privacy.matching, driven by the catalogue), which
landing files, published marts, restricted copies and DuckDB databases hold them. A plan that cannot
be carried out whole (a landing file holding the person has not been loaded yet) is refused before
any change. `apply_erasure` then, in an order that keeps a failed run re-runnable:

1. adds the person's hashed identifiers to the suppression list (the next ingest drops them);
2. deletes the landing files holding them (each is loaded, so bronze keeps everyone else's rows);
3. filters the published marts, the restricted copies and `cdp.duckdb`, deletes the build database
   (dbt's scratch space, rebuilt by the next run);
4. deletes their rows from every Delta table (bronze, quarantine, silver, identity, quality ...),
   the identity tables last, so a run that fails half-way can be resumed with the same command;
5. redacts their identifiers quoted in free text (load messages, quality samples, the audit log);
6. purges every Delta table's history (privacy.history) and rebuilds the role databases;
7. sweeps every file under the data root for the erased values (privacy.sweep), bar the data
   generator's ground truth on a generated root (`NOT_SWEPT`, named in the certificate);
8. writes the certificate (hashes and counts, never the values) to the audit log.

A person is "already erased" only once an erasure of theirs has a complete certificate. Asking
again after one that stopped or was left incomplete (the sweep still found a value) continues it
under the same request id: the values it must still redact are found in the lake's free text by
their hashes on the suppression list, since the records that named them are gone.
"""

from __future__ import annotations

import io
import logging
import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow.parquet as pq

from privacy import audit, history, suppression
from privacy.catalogue import TableColumns, lake_tables
from privacy.encryption import read_encrypted, write_encrypted
from privacy.errors import ErasureError, UnknownSubjectError
from privacy.keys import Key, encryption_key, hmac_key
from privacy.landing import is_loaded, loaded_files
from privacy.layout import RESTRICTED_SUFFIX, PrivacyPaths
from privacy.matching import (
    CONTACT_KINDS,
    PLAIN_KINDS,
    Subject,
    Term,
    bronze_record_keys,
    match_expr,
    sql_in,
    table_terms,
    term_expr,
)
from privacy.pseudonymise import literal, pseudonyms, quote, redaction
from privacy.settings import PrivacySettings, load_settings
from privacy.subject import Request, resolve
from privacy.sweep import SweepResult, strong_values, sweep
from warehouse import delta
from warehouse.config import CdpConfig
from warehouse.duckdb_connections import connect
from warehouse.locks import data_root_lock
from warehouse.paths import LakePaths

log = logging.getLogger("cdp.privacy.erasure")

# Resolved last: while they still hold the person, a failed erasure can simply be run again.
IDENTITY_OF_RECORD = (
    "silver/customer_records",
    "identity/identity_links",
    "identity/customer_id_history",
    "identity/golden_customer",
)
VALUE_KINDS = {*PLAIN_KINDS, "email", "phone"}
SKIPPED_TABLES = ("audit/audit_log", "privacy/suppression")  # redacted / written by erasure itself
# `cdp generate` writes its answer key beside the exports it makes: the simulated people and the
# records their source systems will send later (`truth/future`). It stands for the world outside
# the platform, as a real root's source systems do (which an erasure does not reach either; the
# suppression list drops what they send again), the pipeline never reads it, and benchmarks and
# tests score against it whole. So it is neither erased nor swept, and the certificate says so.
NOT_SWEPT = (
    "the data generator's answer key, written by `cdp generate`: simulated people and their future "
    "source records, outside the platform and never read by the pipeline"
)


@dataclass
class TableStep:
    """One Delta table: the delete predicate and the free-text columns to redact."""

    name: str
    path: Path
    rows: int = 0
    predicate: str | None = None
    redact: dict[str, int] = field(default_factory=dict)  # column -> rows mentioning the person


@dataclass
class FileStep:
    """A published mart, restricted copy or DuckDB table: rows to filter out with a SQL predicate."""

    name: str
    path: Path
    rows: int
    predicate: str
    table: str | None = None  # for DuckDB databases: schema.table


def _rows_by_name(steps: list[FileStep]) -> dict[str, int]:
    """Rows per mart (a folder mart has a step per file that holds the person)."""
    rows: dict[str, int] = {}
    for step in steps:
        rows[step.name] = rows.get(step.name, 0) + step.rows
    return rows


@dataclass(frozen=True)
class EarlierErasure:
    """The erasure that put the requested identifier on the suppression list."""

    request_id: str
    suppressed_at: datetime
    certified: bool  # its certificate says "ok": nothing of the person was left


@dataclass
class ErasurePlan:
    request: Request
    request_id: str
    subject: Subject
    earlier: EarlierErasure | None = None
    tables: list[TableStep] = field(default_factory=list)
    landing: list[Path] = field(default_factory=list)
    marts: list[FileStep] = field(default_factory=list)
    restricted: list[FileStep] = field(default_factory=list)
    databases: list[FileStep] = field(default_factory=list)
    build_db: Path | None = None
    redact_values: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)

    @property
    def continues(self) -> str | None:
        """The request id of an earlier erasure of the person that this one finishes."""
        return self.earlier.request_id if self.earlier and not self.earlier.certified else None

    @property
    def finds_anything(self) -> bool:
        return bool(
            any(t.rows or t.redact for t in self.tables)
            or self.landing
            or self.marts
            or self.restricted
            or self.databases
        )

    def summary(self) -> dict[str, Any]:
        """What will be / was removed: counts and paths only, never an erased value."""
        return {
            "request_id": self.request_id,
            "requested_by": self.request.by,
            "continues": self.continues,
            "tables": {t.name: t.rows for t in self.tables if t.rows},
            "redacted": {f"{t.name}.{c}": n for t in self.tables for c, n in t.redact.items()},
            "landing_files": [str(p) for p in self.landing],
            "marts": _rows_by_name(self.marts),
            "restricted": {s.name: s.rows for s in self.restricted},
            "databases": {f"{s.path.name}:{s.table}": s.rows for s in self.databases},
            "build_database": str(self.build_db) if self.build_db else None,
            "blocked": self.blocked,
        }


@dataclass
class ErasureOutcome:
    plan: ErasurePlan
    status: str  # erased | already_erased | incomplete
    sweep: SweepResult | None = None
    certificate_id: str | None = None
    done: list[str] = field(default_factory=list)
    files_purged: int = 0


# --- planning ---------------------------------------------------------------------------------
def plan_erasure(config: CdpConfig, request: Request) -> ErasurePlan:
    settings = load_settings(config)
    digits = settings.erasure.phone_match_digits
    paths = LakePaths.at(config.data_root)
    subject = resolve(paths, request, digits, settings.erasure.max_customers)
    plan = ErasurePlan(request, uuid.uuid4().hex[:16], subject, _earlier_erasure(config, request, settings))
    record_keys = bronze_record_keys(config)
    landing_files: set[str] = set()
    tables = sorted(_erasable_tables(paths), key=_table_order)
    if plan.continues:
        plan.request_id = plan.continues
        _recover_mentions(config, plan, tables, settings)
    for table in tables:
        step, files = _plan_table(table, subject, settings, record_keys, digits)
        plan.tables.append(step)
        landing_files |= files
    plan.redact_values = _redact_values(subject, settings)
    for step in plan.tables:
        step.redact = _count_redactions(step, settings, plan.redact_values)
    _plan_landing(plan, paths, landing_files, settings)
    key = hmac_key(config, settings)
    _plan_marts(plan, paths, subject, settings, key)
    _plan_restricted(plan, config, subject, settings, key)
    _plan_databases(plan, paths, subject, settings, key)
    if paths.build_duckdb.exists():
        plan.build_db = paths.build_duckdb
    return plan


def _earlier_erasure(config: CdpConfig, request: Request, settings: PrivacySettings) -> EarlierErasure | None:
    """Who suppressed the requested identifier, and whether that erasure was certified complete."""
    normalised = request.normalised(settings.erasure.phone_match_digits) or request.value
    rows = suppression.find(config, request.by, normalised)
    if rows.is_empty():
        return None
    request_id = rows["request_id"][0]
    certificates = audit.read(config).filter(
        (pl.col("action") == "erasure") & (pl.col("target") == request_id) & (pl.col("outcome") == "ok")
    )
    return EarlierErasure(request_id, rows["suppressed_at"].min(), not certificates.is_empty())


def _recover_mentions(
    config: CdpConfig, plan: ErasurePlan, tables: list[TableColumns], settings: PrivacySettings
) -> None:
    """Add to the subject the identifiers of the unfinished request still quoted in free text.

    The first run deleted the records that said what the person's emails and phones were; without
    them the redaction and the sweep would look for the requested value alone and certify a text
    that still quotes her email. The suppression list holds every one of them by hash.
    """
    suppressor = suppression.Suppressor(config)
    digits = settings.erasure.phone_match_digits
    for table in tables:
        for column in _text_columns(table.layer, table.table, table.columns, settings, ("text", "raw_row")):
            texts = delta.scan(Path(table.location)).select(pl.col(column).cast(pl.String)).unique().collect()
            for kind, values in suppressor.mentions(texts[column], plan.continues).items():
                plan.subject.add(kind, values, digits)
                if kind in ("email", "phone"):
                    plan.subject.raw_forms |= values


def _text_columns(
    layer: str,
    table: str,
    columns: Iterable[str],
    settings: PrivacySettings,
    kinds: tuple[str, ...] = ("text",),
) -> list[str]:
    """The columns the catalogue marks as holding free text (or a rejected row's text)."""
    return [
        c
        for c in columns
        if (spec := settings.catalogue.spec(layer, table, c)) is not None and spec.identifies in kinds
    ]


def _erasable_tables(paths: LakePaths) -> list[TableColumns]:
    """The lake's tables that may hold a person, bar those erasure keeps itself (`SKIPPED_TABLES`)."""
    return [t for t in lake_tables(paths) if t.name not in SKIPPED_TABLES]


def _table_order(table: TableColumns) -> tuple[int, str]:
    """Bronze first (its raw forms help find rejected rows), quarantine after, identity last."""
    rank = {"bronze": 0, "quarantine": 2}.get(table.layer, 1)
    if table.name in IDENTITY_OF_RECORD:
        rank = 3
    return rank, table.name


def _plan_table(
    table: TableColumns, subject: Subject, settings: PrivacySettings, record_keys: dict[str, str], digits: int
) -> tuple[TableStep, set[str]]:
    step = TableStep(table.name, Path(table.location))
    terms = table_terms(settings.catalogue, table.layer, table.table, table.columns, record_keys)
    expr = match_expr(terms, subject, digits)
    if expr is None:
        return step, set()
    scan = delta.scan(step.path)
    matched = scan.filter(expr)
    step.rows = int(matched.select(pl.len()).collect().item())
    if not step.rows:
        return step, set()
    clauses = [c for term in terms if (c := _term_clause(scan, term, subject, digits))]
    step.predicate = " OR ".join(f"({c})" for c in clauses)
    _collect_raw_forms(matched, terms, table, subject, settings)
    file_column = "_file" if "_file" in table.columns and table.layer == "bronze" else None
    if table.layer == "quarantine" and "file" in table.columns:
        file_column = "file"
    files: set[str] = set()
    if file_column:
        files = set(
            matched.select(pl.col(file_column).unique()).collect()[file_column].drop_nulls().to_list()
        )
    return step, files


def _term_clause(scan: pl.LazyFrame, term: Term, subject: Subject, digits: int) -> str | None:
    """SQL for the rows this term matched, by their raw values (what Delta's predicate compares)."""
    expr = term_expr(term, subject, digits)
    if expr is None or term.kind in ("name", "text"):
        return None
    values = scan.filter(expr).select(list(term.columns)).unique().collect()
    if values.is_empty():
        return None
    if len(term.columns) == 1:
        column = term.columns[0]
        present = [v for v in values[column].to_list() if v is not None]
        return sql_in(column, [str(v) for v in present]) if present else None
    tuples = []
    for row in values.iter_rows():
        parts = [
            f"{quote(c)} IS NULL" if v is None else f"{quote(c)} = {literal(str(v))}"
            for c, v in zip(term.columns, row, strict=True)
        ]
        tuples.append("(" + " AND ".join(parts) + ")")
    return " OR ".join(tuples)


def _collect_raw_forms(
    matched: pl.LazyFrame, terms: list[Term], table: TableColumns, subject: Subject, settings: PrivacySettings
) -> None:
    """Emails, phones and names as this table wrote them on the person's rows (for sweep and redaction)."""
    wanted = {}
    for column in table.columns:
        spec = settings.catalogue.spec(table.layer, table.table, column)
        if spec is not None and spec.identifies in ("email", "phone", "name"):
            wanted[column] = spec.identifies
    if not wanted:
        return
    rows = matched.select(list(wanted)).collect()
    for column, kind in wanted.items():
        values = {str(v).strip() for v in rows[column].drop_nulls().to_list() if str(v).strip()}
        if kind == "name":
            subject.names |= values
        else:
            subject.raw_forms |= values


def _redact_values(subject: Subject, settings: PrivacySettings) -> list[str]:
    """Strings whose mention in free text is the person: ids, emails, phones (every form)."""
    strong = strong_values(subject, settings.erasure.min_sweep_chars)
    ids = {*subject.of("customer_id"), *subject.of("record_id")}
    return sorted({*ids, *strong["email"], *strong["phone"], *strong["national_id"]}, key=len, reverse=True)


def _count_redactions(step: TableStep, settings: PrivacySettings, values: list[str]) -> dict[str, int]:
    if not values:
        return {}
    layer, table = step.name.split("/", 1)
    fields = delta.open_table(step.path).schema().fields
    text_columns = _text_columns(layer, table, [f.name for f in fields], settings)
    counts = {}
    for column in text_columns:
        found = (
            delta.scan(step.path)
            .filter(pl.col(column).cast(pl.String).str.contains_any(values, ascii_case_insensitive=True))
            .select(pl.len())
            .collect()
            .item()
        )
        if found:
            counts[column] = int(found)
    return counts


def _plan_landing(plan: ErasurePlan, paths: LakePaths, files: set[str], settings: PrivacySettings) -> None:
    """Landing files holding the person: each must be loaded already, or the erasure cannot be whole."""
    if paths.landing.is_dir():  # also files the lake never tied to her (e.g. a guest order)
        found = sweep(paths.landing, plan.subject, settings.erasure.min_sweep_chars, names=False)
        files |= set(found.residual)
    loaded = loaded_files(paths)
    for name in sorted(files):
        path = paths.landing / name
        if not path.is_file():
            continue  # a database table, or a file already gone
        plan.landing.append(path)
        if not is_loaded(path, name, loaded):
            plan.blocked.append(
                f"landing/{name} holds the person but has not been loaded in its current version; "
                "run `cdp ingest` (or the pipeline) first, then erase again"
            )


def sql_predicate(
    table: str,
    columns: list[str],
    subject: Subject,
    settings: PrivacySettings,
    key: Key,
) -> str | None:
    """DuckDB SQL true on a mart's rows of the person, whether the mart holds ids in clear or hashed.

    A column whose treatment is a keyed hash is compared with the hashes of the person's values
    and with the values themselves (a mart published before pseudonymisation, or a restricted
    copy); every other identifying column with the normalised values (a masked value never matches).
    """
    digits = settings.erasure.phone_match_digits
    clauses = []
    for column in columns:
        spec = settings.catalogue.spec("marts", table, column)
        if spec is None or spec.identifies is None:
            continue
        col = quote(column)
        kinds = CONTACT_KINDS if spec.identifies == "identifier" else (spec.identifies,)
        for kind in kinds:
            values = sorted(subject.of(kind))
            if not values or kind not in VALUE_KINDS:
                continue
            clauses.append(
                f"{_normalised_sql(kind, col, digits)} IN ({', '.join(literal(v) for v in values)})"
            )
            if spec.published_treatment == "hmac":
                hashed = pseudonyms(values, key, settings.pseudonyms.hex_chars)
                clauses.append(f"{col} IN ({', '.join(literal(v) for v in hashed)})")
    return " OR ".join(f"({c})" for c in clauses) if clauses else None


def _normalised_sql(kind: str, col: str, digits: int) -> str:
    if kind == "email":
        return f"lower(trim(cast({col} as varchar)))"
    if kind == "phone":
        return f"right(regexp_replace(cast({col} as varchar), '[^0-9]', '', 'g'), {digits})"
    return f"trim(cast({col} as varchar))"


def _count(con: duckdb.DuckDBPyConnection, source: str, predicate: str) -> int:
    return int(con.execute(f"select count(*) from {source} where {predicate}").fetchall()[0][0])


def _plan_marts(
    plan: ErasurePlan, paths: LakePaths, subject: Subject, settings: PrivacySettings, key
) -> None:
    if not paths.marts.is_dir():
        return
    con = connect()
    try:
        for name in paths.published_marts():
            for item in paths.mart_files(name):
                source = f"read_parquet({literal(str(item))})"
                columns = [r[0] for r in con.execute(f"describe select * from {source}").fetchall()]
                predicate = sql_predicate(name, columns, subject, settings, key)
                if predicate and (rows := _count(con, source, predicate)):
                    plan.marts.append(FileStep(name, item, rows, predicate))
    finally:
        con.close()


def _plan_restricted(
    plan: ErasurePlan, config: CdpConfig, subject: Subject, settings: PrivacySettings, key
) -> None:
    folder = PrivacyPaths.of(config).restricted
    files = sorted(folder.glob(f"*{RESTRICTED_SUFFIX}")) if folder.is_dir() else []
    if not files:
        return
    secret = encryption_key(config, settings)
    con = connect()
    try:
        for path in files:
            name = path.name.removesuffix(RESTRICTED_SUFFIX)
            table = pq.read_table(io.BytesIO(read_encrypted(path, secret)))
            con.register("restricted_mart", table)
            predicate = sql_predicate(name, table.column_names, subject, settings, key)
            if predicate and (rows := _count(con, "restricted_mart", predicate)):
                plan.restricted.append(FileStep(name, path, rows, predicate))
            con.unregister("restricted_mart")
    finally:
        con.close()


def _plan_databases(
    plan: ErasurePlan, paths: LakePaths, subject: Subject, settings: PrivacySettings, key
) -> None:
    """cdp.duckdb: each table is a published mart by name."""
    if not paths.duckdb.is_file():
        return
    con = connect(paths.duckdb, read_only=True)
    try:
        for schema, table, columns in _duckdb_tables(con):
            predicate = sql_predicate(table, columns, subject, settings, key)
            source = f"{quote(schema)}.{quote(table)}"
            if predicate and (rows := _count(con, source, predicate)):
                plan.databases.append(
                    FileStep(table, paths.duckdb, rows, predicate, table=f"{schema}.{table}")
                )
    finally:
        con.close()


def _duckdb_tables(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, list[str]]]:
    rows = con.execute(
        "select schema_name, table_name, list(column_name order by column_index) from duckdb_columns() "
        "where database_name = current_database() and not internal "
        "and (schema_name, table_name) in (select schema_name, table_name from duckdb_tables()) "
        "group by schema_name, table_name order by 1, 2"
    ).fetchall()
    return [(s, t, list(c)) for s, t, c in rows]


# --- applying ---------------------------------------------------------------------------------
def erase(
    config: CdpConfig, request: Request, *, actor: str | None = None, dry_run: bool = False
) -> ErasureOutcome:
    """Plan, refuse if the plan is blocked or finds nobody, then apply (unless `dry_run`).

    An unfinished earlier erasure of the person is applied again even when no row is left to
    delete: its history purge, sweep and certificate are what it still owes. Planning and applying
    hold the data root exclusively: the history purge has zero retention, so a writer appending
    meanwhile would be corrupted (a dry run only reads).
    """
    if dry_run:
        return _erase(config, request, actor=actor, dry_run=True)
    with data_root_lock(config, "erase"):
        return _erase(config, request, actor=actor, dry_run=False)


def _erase(config: CdpConfig, request: Request, *, actor: str | None, dry_run: bool) -> ErasureOutcome:
    settings = load_settings(config)
    plan = plan_erasure(config, request)
    if plan.blocked:
        raise ErasureError("erasure refused before any change:\n  " + "\n  ".join(plan.blocked))
    if not plan.finds_anything and not plan.continues:
        if plan.earlier is not None:
            when, request_id = plan.earlier.suppressed_at, plan.earlier.request_id
            return ErasureOutcome(
                plan,
                "already_erased",
                done=[f"already erased on {when:%Y-%m-%d %H:%M} UTC (request {request_id})"],
            )
        raise UnknownSubjectError(
            f"no one with {request.by} {request.value!r} in {config.data_root} "
            "(silver customer records, identity links, bronze, marts); nothing was erased"
        )
    if dry_run:
        return ErasureOutcome(plan, "planned")
    return apply_erasure(config, plan, settings, actor=actor)


# --- after a restore ----------------------------------------------------------------------------
REQUEST_KINDS = ("customer_id", "email", "phone")  # what a Request can name, most complete first


def reapply(config: CdpConfig, *, actor: str | None = None) -> list[ErasureOutcome]:
    """Erase again everyone on this root's suppression list whom its lake still holds.

    For a restored backup taken before some erasures: the people are found by the hashes of the
    customer ids, emails and phones in the lake's identifying and free-text columns, one request
    per erasure on the list, each continued under its own request id (its certificate goes to
    this root's audit log).
    """
    suppressor = suppression.Suppressor(config)
    if suppressor.empty:
        return []
    settings = load_settings(config)
    found = _suppressed_values(LakePaths.at(config.data_root), suppressor, settings)
    outcomes = []
    for request_id in sorted(found["request_id"].unique()):
        rows = found.filter(pl.col("request_id") == request_id)
        kind = next(k for k in REQUEST_KINDS if k in rows["kind"].to_list())
        value = sorted(rows.filter(pl.col("kind") == kind)["value"].to_list())[0]
        outcomes.append(erase(config, Request(kind, value), actor=actor))  # type: ignore[arg-type]
    return outcomes


def _suppressed_values(
    paths: LakePaths, suppressor: suppression.Suppressor, settings: PrivacySettings
) -> pl.DataFrame:
    """`kind`, `value`, `request_id` of every suppressed customer id, email or phone the lake holds."""
    found = [pl.DataFrame(schema={"kind": pl.String, "value": pl.String, "request_id": pl.String})]
    for table in _erasable_tables(paths):
        scan = delta.scan(Path(table.location))
        for column in table.columns:
            spec = settings.catalogue.spec(table.layer, table.table, column)
            kind = spec.identifies if spec is not None else None
            if kind not in (*REQUEST_KINDS, "text", "raw_row"):
                continue
            values = scan.select(pl.col(column).cast(pl.String)).unique().collect()[column]
            if kind in REQUEST_KINDS:
                hits = suppressor.requests(kind, values).select(
                    pl.lit(kind).alias("kind"), "value", "request_id"
                )
            else:
                hits = suppressor.mentioned(values).filter(pl.col("kind").is_in(REQUEST_KINDS))
            found.append(hits)
    return pl.concat(found).unique()


def apply_erasure(
    config: CdpConfig, plan: ErasurePlan, settings: PrivacySettings, *, actor: str | None = None
) -> ErasureOutcome:
    outcome = ErasureOutcome(plan, "erased")
    started = datetime.now(UTC)
    paths = LakePaths.at(config.data_root)
    steps = [
        ("suppression list", lambda: suppression.add(config, plan.subject, plan.request_id)),
        ("landing files", lambda: [p.unlink(missing_ok=True) for p in plan.landing]),
        ("published marts", lambda: [_filter_parquet(s) for s in plan.marts]),
        ("restricted marts", lambda: [_filter_restricted(config, s, settings) for s in plan.restricted]),
        ("cdp.duckdb", lambda: _rewrite_databases(plan.databases)),
        ("build database", lambda: _delete_database(plan.build_db)),
        *[
            (f"lake {t.name}", lambda t=t: _apply_table(t, plan.redact_values))
            for t in plan.tables
            if t.rows or t.redact
        ],
        ("audit log redaction", lambda: audit.redact(config, plan.redact_values)),
        ("table history", lambda: _purge_all(paths, outcome)),
        ("role databases", lambda: _rebuild_roles(config)),
    ]
    for name, step in steps:
        try:
            step()
        except Exception as exc:
            remaining = [n for n, _ in steps[steps.index((name, step)) :]]
            audit.record(
                config,
                "erasure",
                actor=actor,
                outcome="failed",
                target=plan.request_id,
                detail={**plan.summary(), "done": outcome.done, "failed_step": name, "error": str(exc)},
            )
            raise ErasureError(
                f"erasure {plan.request_id} stopped at step '{name}': {exc}\n  done: {', '.join(outcome.done) or 'nothing'}"
                f"\n  not done: {', '.join(remaining)}\n  run the same command again to finish "
                "(the person is still resolvable: identity tables are erased last)"
            ) from exc
        outcome.done.append(name)
        log.info("erasure %s: %s done", plan.request_id, name)
    if settings.erasure.sweep:
        outcome.sweep = sweep(
            paths.root, plan.subject, settings.erasure.min_sweep_chars, skip=not_swept(paths)
        )
        if not outcome.sweep.clean:
            outcome.status = "incomplete"
    outcome.certificate_id = audit.record(
        config,
        "erasure",
        actor=actor,
        outcome="ok" if outcome.status == "erased" else "incomplete",
        target=plan.request_id,
        row_count=sum(t.rows for t in plan.tables),
        detail=certificate(config, plan, outcome, started),
    )
    return outcome


def not_swept(paths: LakePaths) -> dict[Path, str]:
    """Folders of the data root the sweep leaves out, with why: the generator's truth, when it is one.

    Only a `truth/` holding the generator's manifest is left out; any other folder of that name is
    searched like the rest of the root.
    """
    return {paths.truth: NOT_SWEPT} if paths.generator_manifest.is_file() else {}


def certificate(
    config: CdpConfig, plan: ErasurePlan, outcome: ErasureOutcome, started: datetime
) -> dict[str, Any]:
    """The proof: what was removed where, hashed identifiers of whom, and the sweep's verdict."""
    key = hmac_key(config)
    hashed = {
        kind: sorted(suppression.identifier_hash(key, kind, v) for v in plan.subject.of(kind))
        for kind in suppression.SUPPRESSED_KINDS
        if plan.subject.of(kind)
    }
    sweep_result = outcome.sweep
    return {
        **plan.summary(),
        "subject_hashes": hashed,
        "steps": outcome.done,
        "history_files_purged": outcome.files_purged,
        "sweep": None
        if sweep_result is None
        else {
            "files_searched": sweep_result.files_searched,
            "clean": sweep_result.clean,
            "residual_files": sweep_result.residual,
            "files_mentioning_the_name": sweep_result.name_hits,
            "not_searched": sweep_result.skipped,
        },
        "started_at": started.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
    }


def _apply_table(step: TableStep, redact_values: list[str]) -> None:
    if step.predicate:
        deleted = delta.delete_where(step.path, step.predicate)
        if deleted != step.rows:
            log.warning("%s: planned %d rows, deleted %d", step.name, step.rows, deleted)
    for column in step.redact:
        expression, condition = redaction(column, redact_values)
        delta.open_table(step.path).update(updates={column: expression}, predicate=condition)


def _purge_all(paths: LakePaths, outcome: ErasureOutcome) -> None:
    """Every table, touched or not: an old version of any of them may still hold the person."""
    for table in lake_tables(paths):
        outcome.files_purged += history.purge_history(Path(table.location))


def _filter_parquet(step: FileStep) -> None:
    partial = step.path.with_name(f".{step.path.name}.partial")
    con = connect()
    try:
        con.execute(
            f"copy (select * from read_parquet({literal(str(step.path))}) where not coalesce({step.predicate}, false)) "
            f"to {literal(str(partial))} (format parquet, compression zstd)"
        )
    finally:
        con.close()
    os.replace(partial, step.path)


def _filter_restricted(config: CdpConfig, step: FileStep, settings: PrivacySettings) -> None:
    secret = encryption_key(config, settings)
    table = pq.read_table(io.BytesIO(read_encrypted(step.path, secret)))
    con = connect()
    try:
        con.register("restricted_mart", table)
        kept = con.sql(
            f"select * from restricted_mart where not coalesce({step.predicate}, false)"
        ).to_arrow_table()
    finally:
        con.close()
    buffer = io.BytesIO()
    pq.write_table(kept, buffer, compression="zstd")
    write_encrypted(buffer.getvalue(), step.path, secret)


def _rewrite_databases(steps: list[FileStep]) -> None:
    """Copy each database into a fresh file without the person's rows and swap it in.

    Deleting rows in place would leave their bytes in the file's free blocks; a database that
    never received them cannot.
    """
    by_file: dict[Path, dict[str, str]] = {}
    for step in steps:
        by_file.setdefault(step.path, {})[step.table or step.name] = step.predicate
    for path, predicates in by_file.items():
        rewrite_duckdb(path, predicates)


def rewrite_duckdb(path: Path, predicates: dict[str, str]) -> None:
    """`path` rebuilt table by table (rows matching `predicates[schema.table]` left out), views kept."""
    partial = path.with_name(f".{path.name}.partial")
    partial.unlink(missing_ok=True)
    con = connect(partial)
    try:
        con.execute(f"attach {literal(str(path))} as old (read_only)")
        schemas = [
            r[0]
            for r in con.execute(
                "select schema_name from duckdb_schemas() where database_name = 'old' and not internal"
            ).fetchall()
        ]
        for schema in schemas:
            con.execute(f"create schema if not exists {quote(schema)}")
        tables = con.execute(
            "select schema_name, table_name from duckdb_tables() where database_name = 'old'"
        ).fetchall()
        for schema, table in tables:
            predicate = predicates.get(f"{schema}.{table}")
            where = f" where not coalesce({predicate}, false)" if predicate else ""
            con.execute(
                f"create table {quote(schema)}.{quote(table)} as select * from old.{quote(schema)}.{quote(table)}{where}"
            )
        views = con.execute(
            "select schema_name, sql from duckdb_views() where database_name = 'old' and not internal"
        ).fetchall()
        con.execute("detach old")
        for schema, sql in views:
            con.execute(f"use {quote(schema)}")
            con.execute(sql)
        con.execute("checkpoint")
    finally:
        con.close()
    os.replace(partial, path)
    Path(str(path) + ".wal").unlink(missing_ok=True)


def _delete_database(path: Path | None) -> None:
    if path is None:
        return
    path.unlink(missing_ok=True)
    Path(str(path) + ".wal").unlink(missing_ok=True)


def _rebuild_roles(config: CdpConfig) -> None:
    from privacy.roles import publish_roles

    paths = PrivacyPaths.of(config)
    if paths.roles.is_dir() and any(paths.roles.glob("*.duckdb")):
        publish_roles(config)
