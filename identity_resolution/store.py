"""Reading and writing the identity tables (Delta) and the saved graph between runs.

Public tables (docs/data_model.md section 5), read by dbt: `identity_links`, `golden_customer`
(replaced each run), `customer_id_history`, `graph_health`, `cardinality_audit` (appended, one
batch per run; a re-run of a batch replaces that batch's rows). Internal tables, the saved graph an
incremental run continues from:
`record_features` (row number, record id, feature hash and each record's comparison features with
the hash of the input they came from: derived personal data, erased with the record by its
record_id), `compared_pairs` (comparison vectors of every blocked pair, by row number),
`u_sample_pairs` (the comparison vectors of the random pairs behind u, by slot and record ids),
`match_model` (m, u and prior) and `manual_overrides` (the steward's table, read only). The saved graph is written last, so a run that dies half way is simply redone in full.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
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

WRITES_SIDE_BY_SIDE = 2  # identity tables written at once (save_resolution)


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


def _write(frame: pl.DataFrame | pl.LazyFrame, path: Path, mode: delta.WriteMode, batch_id: str) -> None:
    """One identity table's commit. Compact Parquet (`delta.writer_properties`): these tables are
    mostly unique ids and hashes, and the whole tables are rewritten on every run."""
    data = frame.lazy().collect() if isinstance(frame, pl.LazyFrame) else frame
    predicate = None
    if mode == "append":  # the appended tables are histories of runs, each row with its run_id
        # A re-run of the batch (an Airflow retry, the day re-run) replaces its run's rows instead
        # of adding them a second time.
        mode, predicate = "overwrite", f"run_id = {delta.sql_string(batch_id)}"
    delta.write(data, path, mode, predicate=predicate, batch_id=batch_id, operation="resolve", compact=True)


def save_resolution(base: Path, resolution: Resolution, comparisons: list[Comparison], batch_id: str) -> None:
    """Write the public tables, then the saved graph for the next run.

    Each group's tables are independent commits, written two at a time (a Delta write is mostly
    Parquet encoding outside the GIL); the graph only after every public table, so a run that
    fails half-way never leaves a graph newer than the links it came with.
    """
    public: list[tuple[pl.DataFrame | pl.LazyFrame, str, delta.WriteMode]] = [
        (resolution.links, LINKS, "overwrite"),
        (resolution.golden, GOLDEN, "overwrite"),
        (resolution.health, HEALTH, "append"),
        (resolution.audit, AUDIT, "append"),
    ]
    if len(resolution.history):
        public.append((resolution.history, HISTORY, "append"))
    graph = resolution.graph
    saved: list[tuple[pl.DataFrame | pl.LazyFrame, str, delta.WriteMode]] = [
        (graph.pairs, PAIRS, "overwrite"),
        (graph.features, FEATURES, "overwrite"),
    ]
    if graph.u_sample is not None:
        saved.append((graph.u_sample, U_SAMPLE, "overwrite"))
    if graph.model is not None:
        saved.append((graph.model.to_frame(comparisons), MODEL, "overwrite"))
    for group in (public, saved):
        with ThreadPoolExecutor(max_workers=WRITES_SIDE_BY_SIDE, thread_name_prefix="identity-write") as pool:
            writes = [
                pool.submit(_write, frame, base / table, mode, batch_id) for frame, table, mode in group
            ]
            for write in writes:
                write.result()


def vacuum_replaced(base: Path, retain_hours: float) -> int:
    """Delete the copies of the identity tables that runs replaced more than `retain_hours` ago:
    every run rewrites them, so each day would otherwise leave a whole copy on disk."""
    tables = (LINKS, GOLDEN, HISTORY, HEALTH, AUDIT, FEATURES, PAIRS, U_SAMPLE, MODEL)
    deleted = sum(delta.vacuum_replaced(base / table, retain_hours) for table in tables)
    if deleted:
        log.info("%s: %d replaced data files vacuumed (older than %sh)", base, deleted, retain_hours)
    return deleted
