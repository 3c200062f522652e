"""The `standardize` stage: bronze -> silver, one Delta table per silver entity.

Each silver entity is rebuilt from all bronze tables that feed it (correctness first: dedup across
files needs the whole picture). A silver entity whose bronze inputs have not changed since its last
build (same Delta versions) is skipped, so a re-run without new landings costs next to nothing.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from typing import Any

import polars as pl

from ingest.config import sources_config, standardize_settings
from ingest.silver.activity import build_activity
from ingest.silver.customers import build_customer_records
from ingest.silver.orders import build_orders
from ingest.silver.parts import Part, Rules
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


def standardize(config: CdpConfig, batch_id: str) -> dict[str, Any]:
    paths = LakePaths.at(config.data_root)
    rules = Rules(
        settings=standardize_settings(config),
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
            version = delta.open_table(bronze_path).version()
            for silver_entity, mapping in entity.silver.items():
                parts[silver_entity].append(
                    Part(source_name, entity_name, entity, mapping, delta.scan(bronze_path))
                )
                for target, members in TARGETS.items():
                    if silver_entity in members:
                        versions[target][f"{source_name}__{entity_name}"] = version
    state_path = paths.meta("silver_state")
    previous = _previous_state(state_path)
    summary: dict[str, Any] = {"stage": "standardize", "batch_id": batch_id, "entities": {}}
    logs: dict[str, pl.DataFrame] = {}
    built = []
    for target, members in TARGETS.items():
        inputs = json.dumps(versions.get(target, {}), sort_keys=True)
        if previous.get(target) == inputs and all(delta.exists(paths.silver(m)) for m in members):
            summary["entities"][target] = {"status": "unchanged"}
            continue
        log.info("standardize %s from %d bronze table(s)", target, len(versions.get(target, {})))
        tables, dedup, stats = _build(target, parts, rules)
        for name, frame in tables.items():
            delta.write(frame, paths.silver(name), "overwrite", batch_id=batch_id, operation="standardize")
        logs[target] = dedup
        summary["entities"][target] = {
            "status": "built",
            **stats,
            "duplicates_removed": int(dedup["copies_removed"].sum() or 0),
        }
        built.append({"target": target, "inputs": inputs, "batch_id": batch_id, "built_at": now()})
    _write_dedup_log(paths, logs, batch_id)
    if built:
        delta.merge_upsert(
            pl.DataFrame(built, schema=STATE_SCHEMA), state_path, keys=["target"], batch_id=batch_id
        )
    summary["status"] = "ok"
    return summary


def _build(target: str, parts: dict[str, list[Part]], rules: Rules):
    if target == "customer_records":
        frame, stats = build_customer_records(parts["customer_records"], rules)
        return {"customer_records": frame}, pl.DataFrame(schema=DEDUP_LOG), stats
    if target == "orders":
        orders, lines, dedup, stats = build_orders(parts["orders"], parts["order_lines"], rules)
        return {"orders": orders, "order_lines": lines}, dedup, stats
    frame, dedup, stats = build_activity(target, parts[target], rules)
    return {target: frame}, dedup, stats


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
