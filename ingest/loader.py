"""Landing one source in bronze: discover files, skip what is loaded, read, check, write, record.

For each entity of the source: a file loaded before is fingerprinted (sha256 plus the reading
rules) and skipped when unchanged; a new or changed file is read once (its sha256 taken on the way)
and a changed one replaces its earlier rows. Rows that fail a check go to quarantine with their raw
text; an invalid value of a `null_if_invalid` column (a birthday) is nulled in a row that lands and
recorded in quarantine as `invalid_value_nulled`, counted per file as `fields_nulled`, not as a
quarantined row. Rows the caller's `RowFilter` names (an erased person's, re-delivered in an old
export) are neither landed nor quarantined, only counted. Every file gets a manifest row and reconciles: rows
read = rows landed + rows quarantined + rows suppressed. A file that cannot be loaded at all (empty, a required column gone) fails alone: the others land,
and the source then raises `SourceFailed` naming each file and why.

A re-delivery without a single record (0 bytes, or a header only) of a file whose last load had
records is held (`EmptyGuard`): such a file is far more often a broken export than a real deletion,
so it fails like an unreadable file and its earlier rows stay, until it comes again with rows or
the caller accepts the deletion (`FileChoices.accept_empty`, `cdp ingest --accept-empty FILE`).
Files the caller names in `FileChoices.reread` (`cdp ingest --reread GLOB`) are read again although
unchanged: the way to apply a fixed reader or a new check (one outside the files' fingerprint, like
the default plausible dates) to files loaded before it.

Per-file cost is what matters for the sources that drop a thousand small monthly exports, so files
are read into *groups* (`ingest.group_rows` rows of files with the same columns and encoding) that
are checked in one vectorised pass (`ingest.validate.check_group`) and share Delta commits; one
DuckDB connection serves the whole source run. A large file is streamed block by block and may span
several groups; memory stays at about one group plus one commit's buffer.

Both cores: when an entity's new files add up to several runs of `ingest.unit_bytes`, the runs are
read and checked in `ingest.workers` processes (`read_unit`, the same `EntityLoad` code) while this
process replays their checked groups, in landing order, into the one pair of writers (see
ingest/worker_reading.py); memory is then one group per worker plus the buffer. `EntityLoad`, the
groups and the per-file results are in ingest/entity_load.py, which both modules import.
"""

from __future__ import annotations

import contextlib
import fnmatch
import logging
from collections import Counter
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import polars as pl

from ingest import parallel, schema_registry
from ingest.config import (
    EntityConfig,
    IngestSettings,
    PlausibleDates,
    ingest_settings,
    sources_config,
    standardize_settings,
)
from ingest.entity_load import EmptyGuard, EntityLoad, FileResult, RowFilter
from ingest.errors import SourceFailed
from ingest.landing import LandedItem, appended, landed_file, matching_files, missing_folders
from ingest.readers.database import postgres_item
from ingest.silver.registry import check_registry
from ingest.tables import (
    MANIFEST_SCHEMA,
    NULLED_REASON,
    ReplacingWriter,
    latest_loads,
    manifest_rows_of_batch,
    now,
)
from ingest.validate import EntityCheck, first_seen_keys
from ingest.worker_reading import read_all
from warehouse import delta
from warehouse.batches import batch_day
from warehouse.config import CdpConfig
from warehouse.delta import sql_string
from warehouse.duckdb_connections import connect
from warehouse.paths import LakePaths

log = logging.getLogger("cdp.ingest")
# What every file's rows add up to: read = landed + quarantined + suppressed.
ROW_COUNTS = ("rows_read", "rows_landed", "rows_quarantined", "rows_suppressed")


@dataclass(frozen=True)
class FileChoices:
    """What the person running ingest decided about particular files (`cdp ingest` options)."""

    # `_file` names whose re-delivery without records really removes their rows
    accept_empty: frozenset[str] = frozenset()
    # globs of `_file` names (fnmatch: `*` crosses folders) read again although unchanged
    reread: tuple[str, ...] = ()

    def rereads(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.reread)


def load_source(
    config: CdpConfig,
    source: str,
    batch_id: str,
    row_filter: RowFilter | None = None,
    choices: FileChoices = FileChoices(),
) -> dict[str, Any]:
    """Land every entity of `source`; raises `SourceFailed` (after landing the rest) if any file failed.

    `row_filter` drops rows that must not be kept at all (counted as `rows_suppressed`).
    `choices`: files whose re-delivery without records really removes their rows (any other such
    re-delivery of a file that had records fails and keeps them), files to read again.
    """
    registry = sources_config(config)
    source_config = registry.get(source)
    # Refused before landing: a column typed other than silver reads it would land unchecked.
    check_registry(registry, only=source)
    summary: dict[str, Any] = {"source": source, "batch_id": batch_id, "entities": {}}
    problems: list[str] = []
    warnings: list[str] = []
    workers = ingest_settings(config).workers
    pool = parallel.Pool(workers)
    landing = LakePaths.at(config.data_root).landing
    with contextlib.closing(connect()) as con:
        for name, entity in source_config.entities.items():
            if entity.format != "postgres":
                warnings += [
                    f"{name}: the landing folder {folder} does not exist (a share not mounted, an export "
                    "folder renamed?): nothing could be read from it"
                    for folder in missing_folders(landing, entity)
                ]
            entity_summary, entity_problems = load_entity(
                config, source, name, entity, batch_id, con, row_filter, pool, choices
            )
            summary["entities"][name] = entity_summary
            problems += [f"{name}: {p}" for p in entity_problems]
    for warning in warnings:
        log.warning("%s: %s", source, warning)
    if warnings:
        summary["warnings"] = warnings
    totals: Counter[str] = Counter()
    for entity_summary in summary["entities"].values():
        for key in (*ROW_COUNTS, "fields_nulled"):
            totals[key] += entity_summary[key]
    summary.update(totals)
    summary["status"] = "failed" if problems else "ok"
    log.info(
        "%s: %s rows read, %s landed, %s quarantined%s%s%s",
        source,
        f"{totals['rows_read']:,}",
        f"{totals['rows_landed']:,}",
        f"{totals['rows_quarantined']:,}",
        f", {totals['rows_suppressed']:,} suppressed" if totals["rows_suppressed"] else "",
        f" ({totals['fields_nulled']:,} invalid values nulled)" if totals["fields_nulled"] else "",
        f"; {len(problems)} problem(s)" if problems else "",
    )
    if problems:
        error = SourceFailed(source, problems)
        error.summary = summary  # type: ignore[attr-defined]
        raise error
    return summary


def discover(landing, entity: EntityConfig) -> list[LandedItem]:
    if entity.format == "postgres":
        return [postgres_item(entity)]
    return [landed_file(landing, path) for path in matching_files(landing, entity)]


def load_entity(
    config: CdpConfig,
    source: str,
    name: str,
    entity: EntityConfig,
    batch_id: str,
    con: duckdb.DuckDBPyConnection | None = None,
    row_filter: RowFilter | None = None,
    pool: parallel.Pool | None = None,
    choices: FileChoices = FileChoices(),
) -> tuple[dict[str, Any], list[str]]:
    if con is None:
        with contextlib.closing(connect()) as own:
            return load_entity(config, source, name, entity, batch_id, own, row_filter, pool, choices)
    paths = LakePaths.at(config.data_root)
    settings = ingest_settings(config)
    rules = standardize_settings(config)
    started_at = now()
    manifest_path = paths.meta("load_manifest")
    scope = f"source = {sql_string(source)} AND entity = {sql_string(name)}"
    load = EntityLoad(
        source=source,
        name=name,
        entity=entity,
        settings=settings,
        check=EntityCheck(
            source=source,
            entity_name=name,
            entity=entity,
            batch_id=batch_id,
            ingested_at=started_at,
            date_formats=entity.date_formats or rules.date_formats,
            timestamp_formats=entity.timestamp_formats or rules.timestamp_formats,
            timezone=config.timezone,
            con=con,
            retyped_share=settings.retyped_share,
            retyped_min_values=settings.retyped_min_values,
            date_bounds=_date_bounds(entity, settings, started_at, config.timezone, batch_id),
        ),
        bronze=ReplacingWriter(
            paths.bronze(source, name), settings.commit_rows, batch_id, row_group_rows=settings.row_group_rows
        ),
        quarantine=ReplacingWriter(
            paths.quarantine,
            settings.commit_rows,
            batch_id,
            "file",
            scope=scope,
            row_column="row_number",
            row_group_rows=settings.row_group_rows,
        ),
        con=con,
        previous_schema=schema_registry.recorded(paths.meta("schema_registry"), source, name),
        row_filter=row_filter,
    )
    loaded_before = {
        row["file"]: row for row in latest_loads(manifest_path, source, name).iter_rows(named=True)
    }
    seen_in_batch = set(manifest_rows_of_batch(manifest_path, source, name, batch_id)["file"].to_list())
    fingerprint = entity.fingerprint(_changed_date_bounds(entity, settings))
    manifest: list[dict[str, Any]] = []
    to_load: list[tuple[LandedItem, bool]] = []
    for item in discover(paths.landing, entity):
        before = loaded_before.get(item.name)
        if before is not None:  # only a file loaded before needs its sha256 up front
            try:
                item = _fingerprinted(item, before, entity, settings, fingerprint)
            except OSError as exc:  # unreadable now: read it, so that it fails as a file, not the source
                log.debug("%s: cannot be fingerprinted (%s); reading it", item.name, exc)
            if choices.rereads(item.name):  # the whole file again, replacing its rows
                item = replace(item, tail_from=0, head_bytes=0, rows_before=0)
            elif (item.sha256, fingerprint) == (before["sha256"], before["config_hash"]):
                if item.name not in seen_in_batch:
                    manifest.append(
                        _manifest_row(load, item.name, item, "skipped", FileResult(), fingerprint)
                    )
                continue
        to_load.append((item, before is not None and not item.tail_from))
    load.empty_guard = EmptyGuard(
        earlier={
            item.name: loaded_before[item.name]["rows_total"] or 0 for item, replacing in to_load if replacing
        },
        accepted=choices.accept_empty,
    )
    _keep_earlier_rows(load, [item for item, _ in to_load if item.tail_from], paths.bronze(source, name))
    read_all(load, [item for item, _ in to_load], pool)
    load.finish()
    problems: list[str] = []
    for item, replacing in to_load:
        result = load.results[item.name]
        if item.name in load.failed:
            problems.append(f"{item.name}: {load.failed[item.name]}")
            failed = FileResult(
                messages=[load.failed[item.name]], sha256=result.sha256, started_at=result.started_at
            )
            manifest.append(_manifest_row(load, item.name, item, "failed", failed, fingerprint))
        else:
            status = "replaced" if replacing else "loaded"
            manifest.append(_manifest_row(load, item.name, item, status, result, fingerprint))
    if manifest:
        manifest = [row for row in manifest if not _repeat_failure(row, seen_in_batch)]
        delta.write(
            pl.DataFrame(manifest, schema=MANIFEST_SCHEMA),
            manifest_path,
            batch_id=batch_id,
            operation="manifest",
        )
    added = schema_registry.update(
        paths.meta("schema_registry"), source, name, entity, load.observed, batch_id
    )
    reasons: Counter[str] = Counter()
    for file, result in load.results.items():
        if file not in load.failed:
            reasons.update(result.reasons)
    return _entity_summary(manifest, reasons, added, load), problems


def _date_bounds(
    entity: EntityConfig, settings: IngestSettings, ingested_at: datetime, timezone: str, batch_id: str
) -> dict[str, tuple[date | None, date | None]]:
    """Each typed date/timestamp column's plausible (earliest, latest) day for rows ingested now.

    "Now" is the day in the sources' time zone (a birthday of today in Shanghai is still plausible
    at 01:00 there, when UTC is on the day before), or the batch's logical day when that is later:
    a run scheduled for a day ahead of the clock (a simulation, a generated increment) judges that
    day's rows by it. A backfill of a past day keeps today's bound, so late exports still land."""
    today = ingested_at.astimezone(ZoneInfo(timezone)).date()
    logical = batch_day(batch_id)
    if logical is not None and logical > today:
        today = logical
    return {column: rule.on(today) for column, rule in settings.plausible_dates.for_entity(entity).items()}


def _changed_date_bounds(entity: EntityConfig, settings: IngestSettings) -> dict[str, Any] | None:
    """The entity's date bounds for its fingerprint when they are not the defaults: changing them
    re-reads the files, while the defaults re-read nothing loaded before they existed."""
    rules = settings.plausible_dates.for_entity(entity)
    if rules == PlausibleDates().for_entity(entity):
        return None
    return {column: rule.model_dump(mode="json") for column, rule in rules.items()}


def _fingerprinted(
    item: LandedItem, before: dict[str, Any], entity: EntityConfig, settings: IngestSettings, fingerprint: str
) -> LandedItem:
    """A file loaded before, with its sha256: taken from the manifest when its size and modification
    time are those of its last load (`ingest.trust_file_stat`), else hashed; a file that only grew
    since (same reading rules, earlier bytes unchanged) comes back marked as an append (`ingest.appends`)."""
    if before["config_hash"] != fingerprint:
        return item.hashed()
    if settings.trust_file_stat and (item.size_bytes, item.mtime_ns) == (
        before["size_bytes"],
        before["mtime_ns"],
    ):
        return replace(item, sha256=before["sha256"])
    appendable = entity.format in APPENDABLE_FORMATS and not _wide_encoding(entity.encoding_for(item.name))
    if not (settings.appends and appendable and before["size_bytes"] and before["rows_total"] is not None):
        return item.hashed()
    return appended(
        item, before["size_bytes"], before["sha256"], before["rows_total"], header=entity.format == "csv"
    )


# Line formats whose new lines can be read alone (a CSV's header is re-read in front of them).
APPENDABLE_FORMATS = ("csv", "jsonl")


def _wide_encoding(encoding: str) -> bool:
    """UTF-16/32: a newline byte may sit inside a character, so byte offsets are not line boundaries."""
    return any(width in encoding.lower().replace("-", "").replace("_", "") for width in ("utf16", "utf32"))


def _keep_earlier_rows(load: EntityLoad, items: list[LandedItem], bronze: Path) -> None:
    """Appends keep their earlier rows in bronze and quarantine; their keys still count as seen."""
    for item in items:
        load.bronze.keep_earlier(item.name, item.rows_before)
        load.quarantine.keep_earlier(item.name, item.rows_before)
    keys = load.entity.primary_key
    if items and keys and delta.exists(bronze):  # one scan for all of the entity's appends
        earlier = delta.scan(bronze).filter(pl.col("_file").is_in([item.name for item in items]))
        load.check.kept.update(first_seen_keys(earlier, keys))


def _repeat_failure(row: dict[str, Any], seen_in_batch: set[str]) -> bool:
    """A re-run of the same batch records a failing file once, so a re-run changes nothing."""
    return row["status"] == "failed" and row["file"] in seen_in_batch


def _manifest_row(
    load: EntityLoad, file: str, item: LandedItem, status: str, result: FileResult, fingerprint: str
) -> dict[str, Any]:
    reasons = ", ".join(f"{reason}: {count}" for reason, count in result.reasons.most_common())
    nulled = [f"{result.fields_nulled} invalid value(s) nulled, their rows landed ({NULLED_REASON})"]
    message = "; ".join(
        [
            *result.messages,
            *([f"quarantined: {reasons}"] if reasons else []),
            *(nulled if result.fields_nulled else []),
        ]
    )
    return {
        "source": load.source,
        "entity": load.name,
        "file": file,
        "size_bytes": item.size_bytes,
        "sha256": result.sha256 or item.sha256,
        "rows_read": result.rows_read,
        "rows_landed": result.rows_landed,
        "rows_quarantined": result.rows_quarantined,
        "rows_suppressed": result.rows_suppressed,
        "batch_id": load.check.batch_id,
        "status": status,
        "message": message or None,
        "started_at": result.started_at,
        "finished_at": result.finished_at or now(),
        "config_hash": fingerprint,
        "row_offset": item.rows_before,
        "mtime_ns": item.mtime_ns,
        "fields_nulled": result.fields_nulled,
    }


def _entity_summary(
    manifest: list[dict[str, Any]], reasons: Counter[str], added: list[str], load: EntityLoad
) -> dict[str, Any]:
    statuses = Counter(row["status"] for row in manifest)
    return {
        "files": dict(statuses),
        **{key: sum(row[key] for row in manifest) for key in ROW_COUNTS},
        "fields_nulled": sum(row["fields_nulled"] for row in manifest),
        "quarantine_reasons": dict(reasons),
        "added_columns": added,
        "commits": load.bronze.commits + load.quarantine.commits,
    }
