"""What a gate judges row by row: the whole lake, or only what changed since the last passing gate.

A daily run adds ~0.5% rows; judging every silver row again costs as much as the full run. So a
gate remembers, per lake table, the Delta version it last judged *and passed* (no critical
failure) in `lake/quality/gate_state`, and suites read two views of a table:

- `silver.orders`: the whole table, for table-level checks (key uniqueness, referential
  integrity targets, counts), which DuckDB answers cheaply on the few columns they name;
- `changed.orders`: the rows in the table's data files added since the judged version (new rows,
  merged rows and the rows that share a rewritten file with them: a superset of what changed),
  for the row-level rules. In a full-scope gate, or for a table without a judged version, it is
  the whole table.

The scope is `full` when `quality.incremental` is off, when asked (`cdp quality --full`), or when
the gate has no state yet (the first run); otherwise `changed`. A failed gate does not advance
the state, so the next run judges the failed rows again. A table that was rewritten (overwrite,
compaction) simply has all its files new, and one whose judged version can no longer be read
(history vacuumed) is judged whole: the view never misses a changed row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import polars as pl
from deltalake import DeltaTable

from warehouse import delta
from warehouse.delta import sql_string
from warehouse.paths import LakePaths

FULL = "full"
CHANGED = "changed"
STATE_TABLE = "gate_state"  # under lake/quality/
STATE_SCHEMA: dict[str, pl.DataType] = {
    "gate": pl.String(),  # the judged layers, e.g. "bronze,silver"
    "table_name": pl.String(),  # schema.table, e.g. "silver.orders"
    "version": pl.Int64(),
    "from_version": pl.Int64(),  # where that gate's own scope started (null: the whole table)
    "run_id": pl.String(),
    "judged_at": pl.Datetime("us"),
}


@dataclass
class GateScope:
    """`full`, or `changed` with the versions judged last; collects the versions read now."""

    gate: str
    judged: dict[str, int] = field(default_factory=dict)  # table -> version judged by the last pass
    full: bool = True
    read: dict[str, int] = field(default_factory=dict)  # table -> version this gate read

    @property
    def name(self) -> str:
        return FULL if self.full else CHANGED

    def since(self, table: str) -> int | None:
        """The version after which `changed.<table>` starts (None: the whole table)."""
        return None if self.full else self.judged.get(table)


def gate_key(layers: list[str]) -> str:
    return ",".join(layers)


def state_path(paths: LakePaths) -> Path:
    return paths.lake / "quality" / STATE_TABLE


def load_scope(paths: LakePaths, layers: list[str], run_id: str, *, incremental: bool) -> GateScope:
    """The scope of a gate over `layers`: `changed` when incremental and a passing gate is on record.

    A re-run of the run on record (an Airflow retry, a cleared DAG run) judges what that run judged:
    its scope starts where the recorded run's did, so its results are replaced like for like.
    """
    gate = gate_key(layers)
    path = state_path(paths)
    if not incremental or not delta.exists(path):
        return GateScope(gate=gate)
    state = delta.read(path).filter(pl.col("gate") == gate)
    rerun = state.height > 0 and (state.get_column("run_id") == run_id).all()
    start = "from_version" if rerun and "from_version" in state.columns else "version"
    state = state.filter(pl.col(start).is_not_null())
    judged = dict(zip(state.get_column("table_name"), state.get_column(start), strict=True))
    return GateScope(gate=gate, judged=judged, full=not judged)


def changed_files(path: Path, since: int, current: list[str]) -> list[str] | None:
    """Files of the current version that were not in version `since` (None: that version is gone)."""
    try:
        before = set(DeltaTable(str(path), version=since).file_uris())
    except Exception:  # log vacuumed or unreadable: judge the whole table
        return None
    return [f for f in current if f not in before]


def save_scope(paths: LakePaths, scope: GateScope, run_id: str, judged_at: datetime) -> None:
    """Record the versions this (passing) gate read; other gates' rows stay."""
    if not scope.read:
        return
    frame = pl.DataFrame(
        {
            "gate": scope.gate,
            "table_name": list(scope.read),
            "version": list(scope.read.values()),
            "from_version": [scope.since(table) for table in scope.read],
            "run_id": run_id,
            "judged_at": judged_at,
        },
        schema=STATE_SCHEMA,
    )
    path = state_path(paths)
    if not delta.exists(path):
        delta.write(frame, path, "append", batch_id=run_id, operation="quality-scope")
        return
    predicate = f"gate = {sql_string(scope.gate)}"
    delta.write(frame, path, "overwrite", predicate=predicate, batch_id=run_id, operation="quality-scope")
