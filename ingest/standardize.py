"""The `standardize` stage: bronze -> silver, one Delta table per silver entity.

Each silver entity is rebuilt from all bronze tables that feed it (correctness first: dedup across
files needs the whole picture). A silver entity whose bronze inputs have not changed since its last
build (same Delta versions) is skipped, so a re-run without new landings costs next to nothing.
A large bronze table is built in key pieces (`ingest.silver.pieces`), so memory follows
`standardize.piece_rows`, not the size of the data set; each silver table is still written in one
commit.

The summary counts, per silver entity, the rows read from bronze (`rows_in`), the rows written
(`rows`) and what deduplication removed: `exact_copies_removed` (the same row delivered again, such
as a POS ticket exported twice), `superseded_removed` (older versions of a key) and
`duplicate_rate` (removed / read): the figures a data-quality check compares run to run.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl

from ingest.config import sources_config, standardize_settings
from ingest.silver.activity import activity_plan, build_activity
from ingest.silver.customers import build_customer_records, customer_plan
from ingest.silver.orders import build_orders, order_plan
from ingest.silver.parts import Part, Piece, Plan, Rules
from ingest.silver.pieces import SilverSink, pieces
from ingest.silver.schema import DEDUP_LOG, ENTITY_KEYS, SCHEMAS
from ingest.tables import now
from warehouse import delta
from warehouse.config import CdpConfig
from warehouse.paths import LakePaths

log = logging.getLogger("cdp.standardize")

STATE_SCHEMA = {
    "target": pl.String,
    "inputs": pl.String,
    "batch_id": pl.String,
    "built_at": pl.Datetime("us", "UTC"),
}
# Silver tables built together, and the bronze mappings that feed them.
TARGETS: dict[str, list[str]] = {
    "customer_records": ["customer_records"],
    "orders": ["orders", "order_lines"],
    **{entity: [entity] for entity in ENTITY_KEYS},
}
# Counts that add up over pieces and bronze tables (the rest of a summary is derived from them).
SUMMED = ("rows_in", "rows", "lines", "exact_copies_removed", "superseded_removed")

Builder = Callable[[pl.DataFrame, Part, Rules], Piece]


def standardize(config: CdpConfig, batch_id: str) -> dict[str, Any]:
    paths = LakePaths.at(config.data_root)
    settings = standardize_settings(config)
    rules = Rules(
        settings=settings,
        phone_region=config.default_phone_region,
        currency=config.default_currency,
        timezone=config.timezone,
        batch_id=batch_id,
    )
    parts: dict[str, list[Part]] = defaultdict(list)
    versions: dict[str, dict[str, int]] = defaultdict(dict)
    for source_name, source in sources_config(config).root.items():
        for entity_name, entity in source.entities.items():
            bronze_path = paths.bronze(source_name, entity_name)
            if not delta.exists(bronze_path):
                continue
            table = delta.open_table(bronze_path)
            version, rows = table.version(), delta.row_count(bronze_path)
            for silver_entity, mapping in entity.silver.items():
                parts[silver_entity].append(
                    Part(source_name, entity_name, entity, mapping, delta.scan(bronze_path), rows)
                )
                for target, members in TARGETS.items():
                    if silver_entity in members:
                        versions[target][f"{source_name}__{entity_name}"] = version
    state_path = paths.meta("silver_state")
    previous = _previous_state(state_path)
    summary: dict[str, Any] = {"stage": "standardize", "batch_id": batch_id, "entities": {}}
    logs: dict[str, pl.DataFrame] = {}
    built = []
    with tempfile.TemporaryDirectory(prefix="cdp-standardize-") as scratch:
        for target, members in TARGETS.items():
            inputs = json.dumps(versions.get(target, {}), sort_keys=True)
            if previous.get(target) == inputs and all(delta.exists(paths.silver(m)) for m in members):
                summary["entities"][target] = {"status": "unchanged"}
                continue
            log.info("standardize %s from %d bronze table(s)", target, len(versions.get(target, {})))
            sinks = {
                name: SilverSink(paths.silver(name), SCHEMAS[name], Path(scratch), settings.piece_rows)
                for name in members
            }
            dedup, stats = _build(target, parts, rules, sinks, settings.piece_rows, Path(scratch))
            for sink in sinks.values():
                sink.commit(batch_id)
            logs[target] = dedup
            summary["entities"][target] = {"status": "built", **_summarize(stats, dedup)}
            built.append({"target": target, "inputs": inputs, "batch_id": batch_id, "built_at": now()})
    _write_dedup_log(paths, logs, batch_id)
    if built:
        delta.merge_upsert(
            pl.DataFrame(built, schema=STATE_SCHEMA), state_path, keys=["target"], batch_id=batch_id
        )
    summary["status"] = "ok"
    return summary


def _build(
    target: str,
    parts: dict[str, list[Part]],
    rules: Rules,
    sinks: dict[str, SilverSink],
    piece_rows: int,
    scratch: Path,
) -> tuple[pl.DataFrame, Counter[str]]:
    """Build one target from every bronze table feeding it, piece by piece, into its sinks."""
    logs: list[pl.DataFrame] = [pl.DataFrame(schema=DEDUP_LOG)]
    stats: Counter[str] = Counter()
    for part, plan, builder in _plans(target, parts):
        for rows in pieces(plan.rows, plan.key, part.rows, piece_rows, scratch):
            piece = builder(part.typed(rows, plan.schema, rules), part, rules)
            for name, rows in piece.tables.items():
                sinks[name].add(rows)
            logs.append(piece.dedup_log)
            stats.update(piece.stats)
    return pl.concat(logs, how="vertical_relaxed"), stats


def _plans(target: str, parts: dict[str, list[Part]]) -> Iterator[tuple[Part, Plan, Builder]]:
    """(part, (canonical plan, piece key), builder) for every bronze table feeding `target`."""
    if target == "customer_records":
        for part in parts["customer_records"]:
            yield part, customer_plan(part), build_customer_records
    elif target == "orders":
        lines_by_table = {(p.source, p.entity_name): p for p in parts["order_lines"]}
        for part in parts["orders"]:
            line_part = lines_by_table.get((part.source, part.entity_name))
            yield part, order_plan(part, line_part), build_orders
    else:
        for part in parts[target]:
            yield (
                part,
                activity_plan(target, part),
                lambda frame, p, r, entity=target: build_activity(entity, frame, p, r),
            )


def _summarize(stats: Counter[str], dedup: pl.DataFrame) -> dict[str, Any]:
    """The entity's counts for the run summary, with the duplicate rate the quality gate tracks."""
    out: dict[str, Any] = {k: int(v) for k, v in stats.items()}
    removed = stats["exact_copies_removed"] + stats["superseded_removed"]
    out["duplicates_removed"] = int(dedup["copies_removed"].sum() or 0)
    out["duplicate_rate"] = round(removed / stats["rows_in"], 6) if stats["rows_in"] else 0.0
    return out


def _previous_state(path) -> dict[str, str]:
    if not delta.exists(path):
        return {}
    state = delta.read(path)
    return dict(zip(state["target"], state["inputs"], strict=True))


def _write_dedup_log(paths: LakePaths, logs: dict[str, pl.DataFrame], batch_id: str) -> None:
    """The dedup log describes the current silver: a rebuilt entity replaces its own rows only."""
    path = paths.silver("dedup_log")
    for target, frame in logs.items():
        entities = ", ".join(f"'{m}'" for m in TARGETS[target])
        frame = frame.cast(DEDUP_LOG)
        if not delta.exists(path):
            delta.write(
                frame if not frame.is_empty() else pl.DataFrame(schema=DEDUP_LOG),
                path,
                "append",
                batch_id=batch_id,
            )
            continue
        delta.delete_where(path, f"entity IN ({entities})")
        if not frame.is_empty():
            delta.write(frame, path, "append", batch_id=batch_id, operation="standardize")
    if not delta.exists(path):
        delta.write(pl.DataFrame(schema=DEDUP_LOG), path, "append", batch_id=batch_id)


__all__ = ["SCHEMAS", "standardize"]
