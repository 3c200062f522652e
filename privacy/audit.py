"""The audit log: who did what to personal data, when, to which rows and columns, with what outcome.

One append-only Delta table (`lake/audit/audit_log`, table property `delta.appendOnly = true`, so
the Delta writer itself refuses updates and deletes). Every stage logs through `record(...)`: pipeline
runs, publishes, exports, role queries (allowed and refused), erasures (the certificate), backups and
restores. Two rewrites are sanctioned, each itself logged: erasure's redaction of an erased person's
identifiers that a logged query quoted (`redact`), and the one-off rewrite of events logged before
the shape rule below (`redact_history`).

SQL is logged through `record(..., sql=...)` only, as its shape (`privacy.statements`): the log is
read by roles that may see no customer (system_admin), and a query quotes the values it looks for
(`where email = 'li.na@qq.com'`), so literals and comments become `?` there and in the error or
refusal logged beside it.

Events logged before that rule keep the SQL as typed. `redact_history` rewrites them to their
shape once (`privacy.audit_history` runs it: `cdp privacy audit --redact-history`, and every
restore), then marks the log with the table property `cdp.audit.sqlShape` (the version of the
rule); a log this code creates carries the mark from its first event.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from privacy.layout import PrivacyPaths
from privacy.pseudonymise import redaction
from privacy.statements import mask_literals, redact_sql
from warehouse import delta
from warehouse.config import CdpConfig

ACTOR_ENV = "CDP_USER"
APPEND_ONLY = {"delta.appendOnly": "true"}
# Which rule the SQL in every event of the log follows (a table property): "1" = shape only
# (privacy.statements). A log without it may hold events that quote the values a query looked for.
SHAPE_PROPERTY = "cdp.audit.sqlShape"
SHAPE_VERSION = "1"

AUDIT_SCHEMA: dict[str, pl.DataType] = {
    "event_id": pl.String(),
    "occurred_at": pl.Datetime("us", "UTC"),
    "actor": pl.String(),  # OS user, --user, or $CDP_USER (Airflow sets it)
    "action": pl.String(),  # pipeline_run | publish | export | role_query | erasure | backup | restore ...
    "role": pl.String(),
    "target": pl.String(),  # what was touched: tables, files, a backup id
    "columns_read": pl.String(),  # comma list, for queries and exports
    "row_count": pl.Int64(),
    "outcome": pl.String(),  # ok | refused | failed | incomplete
    "detail": pl.String(),  # JSON text
    "batch_id": pl.String(),
    "host": pl.String(),
}


def current_actor(explicit: str | None = None) -> str:
    """Who is acting: the explicit --user, else $CDP_USER, else the operating-system user."""
    if explicit:
        return explicit
    if os.environ.get(ACTOR_ENV):
        return os.environ[ACTOR_ENV]
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return f"uid:{os.getuid()}"


def record(
    config: CdpConfig,
    action: str,
    *,
    target: str = "",
    outcome: str = "ok",
    actor: str | None = None,
    role: str | None = None,
    columns: Iterable[str] | None = None,
    row_count: int | None = None,
    detail: dict[str, Any] | None = None,
    batch_id: str | None = None,
    sql: str | None = None,
    names: Iterable[str] | None = None,
) -> str:
    """Append one event; returns its id. Callers log outcomes they know, including refusals.

    `sql`: the statement the event is about, logged as `detail.sql` with its literals redacted;
    the rest of `detail` (an error message quoting the statement) is masked of the same values.
    `names`: the tables and columns the statement may use; a double-quoted identifier naming none
    of them (a value DuckDB took for a column name) is redacted as a literal.
    """
    event_id = uuid.uuid4().hex
    if sql is not None:
        known = frozenset(name.lower() for name in names) if names is not None else None
        detail = {**_masked(detail or {}, sql, known), "sql": redact_sql(sql, known)}
    row = {
        "event_id": event_id,
        "occurred_at": datetime.now(UTC),
        "actor": current_actor(actor),
        "action": action,
        "role": role,
        "target": target,
        "columns_read": ",".join(columns) if columns is not None else None,
        "row_count": row_count,
        "outcome": outcome,
        "detail": json.dumps(detail, ensure_ascii=False, default=str, sort_keys=True) if detail else None,
        "batch_id": batch_id,
        "host": socket.gethostname(),
    }
    path = PrivacyPaths.of(config).audit_log
    created = not delta.exists(path)
    delta.write(
        pl.DataFrame([row], schema=AUDIT_SCHEMA), path, "append", batch_id=batch_id, operation="audit"
    )
    if created:  # a new log holds only shaped events: it never needs `redact_history`
        _set_properties(path, {**APPEND_ONLY, SHAPE_PROPERTY: SHAPE_VERSION})
    return event_id


def _set_properties(path: Path, properties: dict[str, str]) -> None:
    """Set table properties, ours (`cdp.*`) among them: Delta checks only its own keys."""
    delta.open_table(path).alter.set_table_properties(properties, raise_if_not_exists=False)


def _masked(value: Any, sql: str, names: frozenset[str] | None) -> Any:
    """Every text in `value` (nested dicts and lists too) without `sql`'s literal values."""
    if isinstance(value, str):
        return mask_literals(value, sql, names)
    if isinstance(value, dict):
        return {key: _masked(item, sql, names) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(item, sql, names) for item in value]
    return value


def read(config: CdpConfig) -> pl.DataFrame:
    """The whole log, oldest first (empty with the right columns before the first event)."""
    path = PrivacyPaths.of(config).audit_log
    return delta.read_or_empty(path, AUDIT_SCHEMA).sort("occurred_at")


def redact(config: CdpConfig, values: Iterable[str]) -> int:
    """Replace an erased person's identifiers quoted in logged events; returns rows changed.

    Append-only is lifted for this one update and restored at once; the erasure certificate that
    follows records that it happened.
    """
    path = PrivacyPaths.of(config).audit_log
    needles = sorted({v for v in values if v}, key=len, reverse=True)
    if not needles or not delta.exists(path):
        return 0
    text_columns = ["target", "detail"]
    frame = delta.read(path, ["event_id", *text_columns])
    hit = pl.any_horizontal(
        [pl.col(c).fill_null("").str.contains_any(needles, ascii_case_insensitive=True) for c in text_columns]
    )
    event_ids = frame.filter(hit)["event_id"].to_list()
    if not event_ids:
        return 0
    table = delta.open_table(path)
    table.alter.set_table_properties({"delta.appendOnly": "false"})
    try:
        predicate = f"event_id IN ({', '.join(delta.sql_string(e) for e in event_ids)})"
        updates = {column: redaction(column, needles)[0] for column in text_columns}
        delta.open_table(path).update(updates=updates, predicate=predicate)
    finally:
        delta.open_table(path).alter.set_table_properties(APPEND_ONLY)
    return len(event_ids)


def shape_version(config: CdpConfig) -> str | None:
    """The SQL rule the whole log follows (`SHAPE_PROPERTY`); None for a log written before it.

    No log yet counts as current: the first event creates it marked.
    """
    path = PrivacyPaths.of(config).audit_log
    if not delta.exists(path):
        return SHAPE_VERSION
    return delta.open_table(path).metadata().configuration.get(SHAPE_PROPERTY)


def history_unredacted(config: CdpConfig) -> bool:
    """Whether the log may still hold events quoting a query's literals (not yet `redact_history`)."""
    return shape_version(config) != SHAPE_VERSION


def reshaped(detail: str | None, names: frozenset[str] | None) -> str | None:
    """An event's `detail` JSON as `record(..., sql=...)` writes it today: `sql` as its shape and
    the texts beside it (reason, error) masked of its literals; unchanged without `sql`.

    Applying it to its own result changes nothing, so an event already in shape form stays as is.
    """
    if not detail:
        return detail
    parsed = json.loads(detail)
    if not isinstance(parsed, dict) or not isinstance(parsed.get("sql"), str):
        return detail
    sql = parsed["sql"]
    shaped = {
        **_masked({k: v for k, v in parsed.items() if k != "sql"}, sql, names),
        "sql": redact_sql(sql, names),
    }
    if shaped == parsed:
        return detail
    return json.dumps(shaped, ensure_ascii=False, default=str, sort_keys=True)


def redact_history(config: CdpConfig, names: frozenset[str] | None) -> tuple[int, int]:
    """Rewrite every event whose SQL is not in shape form to its shape; returns (events checked,
    events rewritten). Only `detail` changes: event ids, times, actors and order stay.

    The rewrite is one Delta merge: new data files, then one commit that swaps them in, so a crash
    leaves the log as it was. Append-only is lifted for it and restored at once. The caller purges
    the old versions, marks the log (`mark_shaped`) and logs what it did.
    """
    path = PrivacyPaths.of(config).audit_log
    if not delta.exists(path):
        return 0, 0
    frame = delta.read(path, ["event_id", "detail"])
    rewritten = (
        frame.filter(pl.col("detail").str.contains('"sql"', literal=True))
        .with_columns(
            pl.col("detail")
            .map_elements(lambda d: reshaped(d, names), return_dtype=pl.String, skip_nulls=True)
            .alias("shaped")
        )
        .filter(pl.col("shaped") != pl.col("detail"))
    )
    if rewritten.is_empty():
        return frame.height, 0
    source = rewritten.select("event_id", pl.col("shaped").alias("detail")).to_arrow()
    _set_properties(path, {"delta.appendOnly": "false"})
    try:
        (
            delta.open_table(path)
            .merge(source, predicate="t.event_id = s.event_id", source_alias="s", target_alias="t")
            .when_matched_update({"detail": "s.detail"})
            .execute()
        )
    finally:
        _set_properties(path, APPEND_ONLY)
    return frame.height, rewritten.height


def mark_shaped(config: CdpConfig) -> None:
    """Record on the log that every event in it follows the current SQL rule (append-only again too,
    should a run have stopped while it was lifted)."""
    _set_properties(PrivacyPaths.of(config).audit_log, {**APPEND_ONLY, SHAPE_PROPERTY: SHAPE_VERSION})
