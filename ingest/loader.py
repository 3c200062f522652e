"""Landing one source in bronze: discover files, skip what is loaded, read, check, write, record.

For each entity of the source: every matching file is fingerprinted (sha256 plus the reading rules);
a file already loaded with the same fingerprint is skipped, a new one is loaded, a changed one
replaces its earlier rows. Rows that fail a check go to quarantine with their raw text. Every file
gets a manifest row and reconciles: rows read = rows landed + rows quarantined. A file that cannot
be loaded at all (empty, a required column gone) fails alone: the others land, and the source then
raises `SourceFailed` naming each file and why.
"""

from __future__ import annotations

import logging
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from ingest import schema_registry
from ingest.config import (
    EntityConfig,
    IngestSettings,
    ingest_settings,
    sources_config,
    standardize_settings,
)
from ingest.errors import FileFailed, IngestError, SourceFailed
from ingest.landing import LandedItem, landed_file, matching_files
from ingest.readers import READERS, ReadNotes, ReadRequest
from ingest.readers.database import postgres_item
from ingest.tables import (
    MANIFEST_SCHEMA,
    ReplacingWriter,
    latest_loads,
    manifest_rows_of_batch,
    now,
)
from ingest.validate import FileCheck, check_batch, check_columns
from warehouse import delta
from warehouse.config import CdpConfig
from warehouse.delta import sql_string
from warehouse.paths import LakePaths

log = logging.getLogger("cdp.ingest")


@dataclass
class FileResult:
    rows_read: int = 0
    rows_landed: int = 0
    rows_quarantined: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    messages: list[str] = field(default_factory=list)


@dataclass
class EntityLoad:
    """The shared context of loading one entity's files in one batch."""

    source: str
    name: str
    entity: EntityConfig
    paths: LakePaths
    settings: IngestSettings
    batch_id: str
    started_at: datetime
    check_template: dict[str, Any]
    bronze: ReplacingWriter
    quarantine: ReplacingWriter
    observed: schema_registry.ObservedSchema = field(default_factory=schema_registry.ObservedSchema)
    previous_schema: pl.DataFrame | None = None


def load_source(config: CdpConfig, source: str, batch_id: str) -> dict[str, Any]:
    """Land every entity of `source`; raises `SourceFailed` (after landing the rest) if any file failed."""
    source_config = sources_config(config).get(source)
    summary: dict[str, Any] = {"source": source, "batch_id": batch_id, "entities": {}}
    problems: list[str] = []
    for name, entity in source_config.entities.items():
        entity_summary, entity_problems = load_entity(config, source, name, entity, batch_id)
        summary["entities"][name] = entity_summary
        problems += [f"{name}: {p}" for p in entity_problems]
    totals = Counter()
    for entity_summary in summary["entities"].values():
        for key in ("rows_read", "rows_landed", "rows_quarantined"):
            totals[key] += entity_summary[key]
    summary.update(totals)
    summary["status"] = "failed" if problems else "ok"
    log.info(
        "%s: %s rows read, %s landed, %s quarantined%s",
        source,
        f"{totals['rows_read']:,}",
        f"{totals['rows_landed']:,}",
        f"{totals['rows_quarantined']:,}",
        f"; {len(problems)} problem(s)" if problems else "",
    )
    if problems:
        error = SourceFailed(source, problems)
        error.summary = summary  # type: ignore[attr-defined]
        raise error
    return summary


def discover(landing: Path, entity: EntityConfig) -> list[LandedItem]:
    if entity.format == "postgres":
        return [postgres_item(entity)]
    return [landed_file(landing, path) for path in matching_files(landing, entity)]


def load_entity(
    config: CdpConfig, source: str, name: str, entity: EntityConfig, batch_id: str
) -> tuple[dict[str, Any], list[str]]:
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
        paths=paths,
        settings=settings,
        batch_id=batch_id,
        started_at=started_at,
        check_template={
            "date_formats": entity.date_formats or rules.date_formats,
            "timestamp_formats": entity.timestamp_formats or rules.timestamp_formats,
            "timezone": config.timezone,
        },
        bronze=ReplacingWriter(paths.bronze(source, name), settings.commit_rows, batch_id),
        quarantine=ReplacingWriter(
            paths.quarantine, settings.commit_rows, batch_id, "file", "row_number", scope=scope
        ),
        previous_schema=schema_registry.recorded(paths.meta("schema_registry"), source, name),
    )
    items = discover(paths.landing, entity)
    loaded_before = {
        row["file"]: (row["sha256"], row["config_hash"])
        for row in latest_loads(manifest_path, source, name).iter_rows(named=True)
    }
    seen_in_batch = set(manifest_rows_of_batch(manifest_path, source, name, batch_id)["file"].to_list())
    fingerprint = entity.fingerprint()
    manifest: list[dict[str, Any]] = []
    problems: list[str] = []
    reasons: Counter[str] = Counter()
    with tempfile.TemporaryDirectory(prefix="cdp-ingest-") as scratch:
        for item in items:
            before = loaded_before.get(item.name)
            if before == (item.sha256, fingerprint):
                if item.name not in seen_in_batch:
                    manifest.append(
                        _manifest_row(load, item, "skipped", FileResult(), fingerprint, started_at)
                    )
                continue
            file_started = now()
            try:
                result = load_item(load, item, Path(scratch))
            except FileFailed as exc:
                load.bronze.discard(item.name)
                load.quarantine.discard(item.name)
                problems.append(f"{item.name}: {exc}")
                log.error("%s/%s: %s: %s", source, name, item.name, exc)
                failed = FileResult(messages=[str(exc)])
                manifest.append(_manifest_row(load, item, "failed", failed, fingerprint, file_started))
                continue
            status = "replaced" if before else "loaded"
            reasons.update(result.reasons)
            manifest.append(_manifest_row(load, item, status, result, fingerprint, file_started))
        load.bronze.flush()
        load.quarantine.flush()
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
    return _entity_summary(manifest, reasons, added, load), problems


def _repeat_failure(row: dict[str, Any], seen_in_batch: set[str]) -> bool:
    """A re-run of the same batch records a failing file once, so a re-run changes nothing."""
    return row["status"] == "failed" and row["file"] in seen_in_batch


def load_item(load: EntityLoad, item: LandedItem, scratch: Path) -> FileResult:
    """Read one item batch by batch into the writers; the first batch is checked before anything lands."""
    if item.path is not None and item.size_bytes == 0:
        raise FileFailed(
            "file is empty (0 bytes): no header and no rows; expected columns "
            + ", ".join(load.entity.required_columns())
        )
    notes = ReadNotes()
    request = ReadRequest(item, load.entity, scratch, load.settings.csv_block_bytes, notes)
    check = FileCheck(
        source=load.source,
        entity_name=load.name,
        entity=load.entity,
        file=item.name,
        batch_id=load.batch_id,
        ingested_at=load.started_at,
        **load.check_template,
    )
    result = FileResult()
    first = True
    try:
        for batch in READERS[load.entity.format](request):
            if first:
                check_columns(
                    batch.frame.columns,
                    check,
                    batch.frame,
                    load.settings.retyped_share,
                    load.settings.retyped_min_values,
                )
                if notes.physical_types and load.previous_schema is not None:
                    schema_registry.check_physical_types(
                        load.previous_schema, notes.physical_types, load.entity, item.name
                    )
                first = False
            load.observed.observe(batch.frame.columns, notes.physical_types, item.name)
            landed, rejected = check_batch(batch, check)
            read = batch.frame.height + batch.rejects.height
            if landed.height + rejected.height != read:
                raise IngestError(
                    f"{item.name}: reconciliation failed in a batch: {read} read, "
                    f"{landed.height} landed + {rejected.height} quarantined"
                )
            result.rows_read += read
            result.rows_landed += landed.height
            result.rows_quarantined += rejected.height
            result.reasons.update(rejected["reason"].to_list())
            load.bronze.add(landed)
            load.quarantine.add(rejected)
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise FileFailed(f"cannot be read as {load.entity.format}: {exc}") from exc
    if first:
        raise FileFailed(f"nothing to read in {item.name}")
    load.bronze.file_done(item.name)
    load.quarantine.file_done(item.name)
    result.messages = notes.messages
    if result.rows_read == 0:
        result.messages.append("header only: 0 rows")
    return result


def _manifest_row(
    load: EntityLoad, item: LandedItem, status: str, result: FileResult, fingerprint: str, started: datetime
) -> dict[str, Any]:
    reasons = ", ".join(f"{reason}: {count}" for reason, count in result.reasons.most_common())
    message = "; ".join([*result.messages, *([f"quarantined: {reasons}"] if reasons else [])])
    return {
        "source": load.source,
        "entity": load.name,
        "file": item.name,
        "size_bytes": item.size_bytes,
        "sha256": item.sha256,
        "rows_read": result.rows_read,
        "rows_landed": result.rows_landed,
        "rows_quarantined": result.rows_quarantined,
        "batch_id": load.batch_id,
        "status": status,
        "message": message or None,
        "started_at": started,
        "finished_at": now(),
        "config_hash": fingerprint,
    }


def _entity_summary(
    manifest: list[dict[str, Any]], reasons: Counter[str], added: list[str], load: EntityLoad
) -> dict[str, Any]:
    statuses = Counter(row["status"] for row in manifest)
    return {
        "files": dict(statuses),
        "rows_read": sum(row["rows_read"] for row in manifest),
        "rows_landed": sum(row["rows_landed"] for row in manifest),
        "rows_quarantined": sum(row["rows_quarantined"] for row in manifest),
        "quarantine_reasons": dict(reasons),
        "added_columns": added,
        "commits": load.bronze.commits + load.quarantine.commits,
    }
