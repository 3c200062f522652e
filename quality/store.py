"""Writing `lake/quality/{dq_results,dq_metrics,repair_list,fill_profile}` (docs/data_model.md section 6).

Writes are idempotent per run: re-running a gate for the same run id replaces exactly the rows
it wrote before (its layers' results, its metrics), in one Delta commit, so history accumulates
one set of rows per run and the scorecard never double-counts a retried Airflow task.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import polars as pl

from quality.derived import FILL_PROFILE_SCHEMA
from quality.outcomes import Outcome
from quality.repair import REPAIR_SCHEMA
from warehouse import delta
from warehouse.delta import sql_string
from warehouse.paths import LakePaths

TIMESTAMP = pl.Datetime("us")  # naive UTC, like the dbt sources' declared `timestamp`

RESULTS_SCHEMA: dict[str, pl.DataType] = {
    "run_id": pl.String(),
    "checked_at": TIMESTAMP,
    "layer": pl.String(),
    "suite": pl.String(),
    "source": pl.String(),
    "entity": pl.String(),
    "dimension": pl.String(),
    "expectation": pl.String(),
    "column": pl.String(),
    "severity": pl.String(),
    "checked": pl.Int64(),
    "passed": pl.Int64(),
    "success": pl.Boolean(),
    "score": pl.Float64(),
    "details": pl.String(),
    "scope": pl.String(),  # optional extension: `full`, or `changed` (rows added since the last pass)
}
METRICS_TABLE_SCHEMA: dict[str, pl.DataType] = {
    "run_id": pl.String(),
    "measured_at": TIMESTAMP,
    "metric": pl.String(),
    "source": pl.String(),
    "entity": pl.String(),
    "value": pl.Float64(),
    "layer": pl.String(),  # optional extension of the documented shape: which gate measured it
}


def table_path(paths: LakePaths, name: str) -> Path:
    return paths.lake / "quality" / name


def _in(values: Iterable[str]) -> str:
    return ", ".join(sql_string(v) for v in sorted(set(values)))


def results_frame(outcomes: list[Outcome], run_id: str, checked_at: datetime) -> pl.DataFrame:
    """One row per outcome; `scope` per rule: `changed` rows or the `full` table (`Outcome.scope`)."""
    rows = [{"run_id": run_id, "checked_at": checked_at, "layer": o.layer, **o.as_row()} for o in outcomes]
    return pl.DataFrame(rows, schema=RESULTS_SCHEMA).select(list(RESULTS_SCHEMA))


def write_results(paths: LakePaths, frame: pl.DataFrame, run_id: str, layers: list[str]) -> None:
    predicate = f"run_id = {sql_string(run_id)} AND layer IN ({_in(layers)})"
    _replace(table_path(paths, "dq_results"), frame, predicate, run_id)


def write_metrics(
    paths: LakePaths, metrics: pl.DataFrame, run_id: str, measured_at: datetime, layers: list[str]
) -> None:
    """Replace this run's metrics of these layers (the other gate's metrics of the run stay)."""
    frame = (
        metrics.select(pl.lit(run_id).alias("run_id"), pl.lit(measured_at).alias("measured_at"), pl.all())
        .select(list(METRICS_TABLE_SCHEMA))
        .cast(METRICS_TABLE_SCHEMA)
    )  # type: ignore[arg-type]
    predicate = f"run_id = {sql_string(run_id)} AND layer IN ({_in(layers)})"
    _replace(table_path(paths, "dq_metrics"), frame, predicate, run_id)


def write_repair_list(paths: LakePaths, frame: pl.DataFrame, run_id: str) -> None:
    """The current list only: a record leaves it as soon as it is repaired."""
    path = table_path(paths, "repair_list")
    delta.write(frame.cast(REPAIR_SCHEMA), path, "overwrite", batch_id=run_id, operation="quality")  # type: ignore[arg-type]


def write_fill_profile(paths: LakePaths, profile: pl.DataFrame, run_id: str, profiled_at: datetime) -> None:
    """Store the fill counts a gate took from bronze, replacing earlier counts of the same runs.

    Keyed by (source, entity, batch_id): a retried run's counts replace its own, never another
    run's, so the history the fill-rate rule reads holds one profile per run and entity.
    """
    if profile.is_empty():
        return
    frame = profile.cast(FILL_PROFILE_SCHEMA).with_columns(  # type: ignore[arg-type]
        run_id=pl.lit(run_id), profiled_at=pl.lit(profiled_at, dtype=TIMESTAMP)
    )
    runs = frame.group_by("source", "entity", maintain_order=True).agg(pl.col("batch_id").unique().sort())
    predicate = " OR ".join(
        f"(source = {sql_string(source)} AND entity = {sql_string(entity)} AND batch_id IN ({_in(batches)}))"
        for source, entity, batches in runs.iter_rows()
    )
    _replace(table_path(paths, "fill_profile"), frame, predicate, run_id)


def _replace(path: Path, frame: pl.DataFrame, predicate: str, run_id: str) -> None:
    if not delta.exists(path):
        delta.write(frame, path, "append", batch_id=run_id, operation="quality")
        return
    present = set(delta.open_table(path).schema().to_arrow().names)
    if set(frame.columns) - present:
        # a table written before a column was added: evolve the schema first, so the predicate
        # can name the new column (older rows read it as null)
        delta.write(frame.head(0), path, "append", batch_id=run_id, operation="quality-schema")
    delta.write(frame, path, "overwrite", predicate=predicate, batch_id=run_id, operation="quality")
