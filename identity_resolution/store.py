"""Reading and writing the identity tables (Delta) and the saved graph between runs.

Public tables (docs/data_model.md section 5), read by dbt: `identity_links`, `golden_customer`
(replaced each run), `customer_id_history`, `graph_health`, `cardinality_audit` (appended, one
batch per run). Internal tables, the saved graph an incremental run continues from:
`record_features` (row number, record id, feature hash and each record's comparison features with
the hash of the input they came from: derived personal data, erased with the record by its
record_id), `compared_pairs` (comparison vectors of every blocked pair, by row number),
`u_sample_pairs` (the comparison vectors of the random pairs behind u, by slot and record ids),
`match_model` (m, u and prior) and `manual_overrides` (the steward's table, read only). The saved graph is written last, so a run that dies half way is simply redone in full.
"""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl

from identity_resolution.engine import Resolution, SavedGraph
from identity_resolution.model import FellegiSunterModel
from identity_resolution.overrides import check_overrides
from identity_resolution.settings import Comparison
from warehouse import delta

log = logging.getLogger(__name__)

LINKS = "identity_links"
GOLDEN = "golden_customer"
HISTORY = "customer_id_history"
HEALTH = "graph_health"
AUDIT = "cardinality_audit"
FEATURES = "record_features"
PAIRS = "compared_pairs"
MODEL = "match_model"
U_SAMPLE = "u_sample_pairs"
OVERRIDES = "manual_overrides"


def load_saved_graph(base: Path) -> SavedGraph | None:
    """The previous run's graph, or None when there is none (first run)."""
    if not all(delta.exists(base / t) for t in (FEATURES, PAIRS, MODEL, LINKS)):
        return None
    features, pairs = delta.read(base / FEATURES), delta.scan(base / PAIRS)
    if "idx" not in features.columns or "l_idx" not in pairs.collect_schema().names():
        log.info("%s: saved graph of an earlier version (pairs by record id): full rebuild", base)
        return None
    return SavedGraph(
        features=features,
        pairs=pairs,
        model=FellegiSunterModel.from_frame(delta.read(base / MODEL)),
        assignments=delta.read(base / LINKS, ["record_id", "customer_id"]),
        # Read when used (pairs at the start of a daily run, golden at its end), never held.
        golden=delta.scan(base / GOLDEN) if delta.exists(base / GOLDEN) else None,
        u_sample=delta.scan(base / U_SAMPLE) if delta.exists(base / U_SAMPLE) else None,
    )


def load_overrides(base: Path) -> pl.DataFrame | None:
    path = base / OVERRIDES
    return check_overrides(delta.read(path), str(path)) if delta.exists(path) else None


def save_resolution(base: Path, resolution: Resolution, comparisons: list[Comparison], batch_id: str) -> None:
    """Write the public tables, then the saved graph for the next run."""
    delta.write(resolution.links, base / LINKS, "overwrite", batch_id=batch_id, operation="resolve")
    delta.write(resolution.golden, base / GOLDEN, "overwrite", batch_id=batch_id, operation="resolve")
    if len(resolution.history):
        delta.write(resolution.history, base / HISTORY, "append", batch_id=batch_id, operation="resolve")
    delta.write(resolution.health, base / HEALTH, "append", batch_id=batch_id, operation="resolve")
    delta.write(resolution.audit, base / AUDIT, "append", batch_id=batch_id, operation="resolve")
    graph = resolution.graph
    delta.write(graph.features, base / FEATURES, "overwrite", batch_id=batch_id, operation="resolve")
    delta.write(
        graph.pairs.lazy().collect(), base / PAIRS, "overwrite", batch_id=batch_id, operation="resolve"
    )
    if graph.u_sample is not None:
        delta.write(
            graph.u_sample.lazy().collect(),
            base / U_SAMPLE,
            "overwrite",
            batch_id=batch_id,
            operation="resolve",
        )
    if graph.model is not None:
        delta.write(graph.model.to_frame(comparisons), base / MODEL, "overwrite", batch_id=batch_id)
