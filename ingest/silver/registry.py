"""Checks of the source registry's silver mappings that need silver's own schemas.

A new source is configuration only (`sources:` in cdp.yaml), so a mapping mistake must stop the
load with its source, entity and column named, never cost values silently:
- a canonical column silver does not know (`mobile:` where silver's column is `phone`) would be
  dropped when the rows are cast to the silver schema;
- a source column feeding a typed silver column (a date, timestamp, boolean or number) that is not
  typed on landing with that very type is parsed only in silver, where a value that does not parse
  becomes null without a quarantine record (a registration date `15.03.2025` typed `date` but
  feeding the timestamp `created_at`: silver tries the timestamp formats and nulls every value).
Typed on landing, the value is checked first: its row is rejected, or (`null_if_invalid`) the value
is nulled and recorded.
"""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl

from ingest.config import EntityConfig, SourcesConfig
from ingest.errors import IngestError
from ingest.silver.activity import activity_plan
from ingest.silver.customers import customer_plan
from ingest.silver.mapping import column_kind
from ingest.silver.orders import ORDER_INPUT, order_plan
from ingest.silver.parts import Part, Plan
from ingest.silver.schema import EXTRA_INPUTS, SCHEMAS
from warehouse.config import ConfigError

# Canonical columns silver derives itself: a mapping giving one would be overwritten.
DERIVED = {"record_id", "source", "order_id"}
# Inputs beyond the silver entity's own columns: the customer key every entity links by (silver
# turns it into record_id) and an order's version time (ranks re-exported versions, latest wins).
INPUTS = {silver: {"source_record_id"} for silver in SCHEMAS} | {"orders": {"source_record_id", *ORDER_INPUT}}


class RegistryError(IngestError, ConfigError):
    """A silver mapping of the source registry that would drop or silently null values: a mistake in
    cdp.yaml, so `cdp run` stops at once (as for any configuration error) and Airflow does not retry."""


def entity_problems(source: str, name: str, entity: EntityConfig, *, paths: bool = False) -> list[str]:
    """Every mapping mistake of one registry entity, each naming the silver column and what to do.

    `paths`: also a JSON path or template feeding a typed silver column (a nested birthday). Nothing
    can type one on landing, so a load refusing it would leave such a source no way in; the shipped
    registry has none (its test passes `paths=True`), a new source's is parsed in silver only."""
    problems = [
        f"sources.{source}.entities.{name}.silver.{silver}: {column!r} is no {silver} column "
        f"(known: {', '.join(sorted(_known(silver)))}); its values would be dropped"
        for silver, mapping in entity.silver.items()
        for column in mapping.columns
        if column not in _known(silver)
    ]
    for plan in _plans(source, name, entity):
        for column, ref in plan.part.mapping.columns.items():
            kind = column_kind(plan.schema.get(column, pl.String()))
            if kind == "string":
                continue
            where = f"sources.{source}.entities.{name}: silver {column} ({kind})"
            if ref.column is None:
                if paths and ref.value is None:
                    problems.append(
                        f"{where} is fed by a JSON path or template, which cannot be typed on landing: "
                        "map it from a column"
                    )
                continue
            declared = entity.types.get(ref.column, "string")
            if declared != kind:
                problems.append(
                    f"{where} reads column {ref.column!r}, typed {declared} on landing: declare "
                    f"`types: {{{ref.column}: {kind}}}` (and its format in standardize.{kind}_formats "
                    "if needed), or a value silver cannot parse becomes null without a record"
                )
    return problems


def check_registry(sources: SourcesConfig, only: str | None = None) -> None:
    """Raise `RegistryError` listing every mapping mistake (of source `only`, when given)."""
    problems = [
        problem
        for source, registry in sources.root.items()
        if only is None or source == only
        for name, entity in registry.entities.items()
        for problem in entity_problems(source, name, entity)
    ]
    if problems:
        lines = "\n  - ".join(problems)
        raise RegistryError(f"the source registry (cdp.yaml sources:) cannot be standardized:\n  - {lines}")


def _known(silver: str) -> set[str]:
    return (set(SCHEMAS[silver]) | INPUTS[silver] | EXTRA_INPUTS.get(silver, set())) - DERIVED


def _plans(source: str, name: str, entity: EntityConfig) -> Iterator[Plan]:
    """How standardize reads the entity for each silver entity it feeds (the canonical columns and
    the types they are parsed into); a line-grain entity's lines are read with its orders."""
    parts = {
        silver: Part(source, name, entity, mapping, pl.LazyFrame())
        for silver, mapping in entity.silver.items()
    }
    for silver, part in parts.items():
        if silver == "customer_records":
            yield customer_plan(part)
        elif silver == "orders":
            yield order_plan(part, parts.get("order_lines"))
        elif silver != "order_lines":
            yield activity_plan(silver, part)
