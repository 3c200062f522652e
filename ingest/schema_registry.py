"""The observed schema of every source entity (`lake/meta/schema_registry`) and what drifted.

Each load records the columns it saw. A column nobody configured is `added` (accepted, reported);
a column seen before but absent now is `missing` (reported; it fails the load only when required,
which `validate.check_columns` decides). For self-describing formats the physical type is kept,
and a required column whose type changed fails the file (unless a temporal type only widened: a
date column that became a timestamp).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from ingest.config import EntityConfig
from ingest.errors import FileFailed
from ingest.tables import SCHEMA_REGISTRY_SCHEMA, now
from warehouse import delta

# Arrow's names of the temporal types: date32[day], date64[ms], timestamp[us], timestamp[us, tz=UTC].
_TEMPORAL = re.compile(r"(?P<date>date(?:32|64))\[\w+\]|timestamp\[(?P<unit>s|ms|us|ns)(?P<tz>, tz=.+)?\]")
_UNITS = ["s", "ms", "us", "ns"]


@dataclass
class ObservedSchema:
    """Columns seen in this run's files of one entity, with the first and last file that had each."""

    columns: dict[str, dict[str, str | None]] = field(default_factory=dict)

    def observe(self, columns: list[str], physical_types: dict[str, str], file: str) -> None:
        for name in columns:
            entry = self.columns.setdefault(name, {"first": file, "type": None})
            entry["last"] = file
            entry["type"] = physical_types.get(name, entry.get("type"))

    def merge(self, later: ObservedSchema) -> None:
        """Add what a later run of files saw (read in another process), as if observed here after."""
        for name, seen in later.columns.items():
            entry = self.columns.setdefault(name, {"first": seen["first"], "type": None})
            entry["last"] = seen.get("last", seen["first"])
            entry["type"] = seen.get("type") or entry.get("type")


def recorded(path: Path, source: str, entity: str) -> pl.DataFrame:
    if not delta.exists(path):
        return pl.DataFrame(schema=SCHEMA_REGISTRY_SCHEMA)
    return delta.scan(path).filter((pl.col("source") == source) & (pl.col("entity") == entity)).collect()


def check_physical_types(
    previous: pl.DataFrame, physical_types: dict[str, str], entity: EntityConfig, file: str
) -> None:
    """A required column whose stored type changed (Parquet int64 -> string) fails the file.

    A temporal type widened (`widened`) is no retype: its values still read as the declared type.
    """
    known = dict(zip(previous["column"], previous["physical_type"], strict=True))
    required = set(entity.required_columns())
    for column, new_type in physical_types.items():
        old_type = known.get(column)
        if column in required and old_type and old_type != new_type and not widened(old_type, new_type):
            raise FileFailed(
                f"required column '{column}' in {file} changed type from {old_type} to {new_type}: "
                "retyped upstream? fix the export or the configuration"
            )


def widened(old_type: str, new_type: str) -> bool:
    """Whether a temporal type became one that holds every value it held, as exports change over time:
    a date that became a timestamp (a day export moved to a datetime column), date32 -> date64, a
    timestamp in finer units. A timestamp that gained or lost its zone is not: local wall time and
    instants are different values; a timestamp that became a date lost its time of day."""
    old, new = _TEMPORAL.fullmatch(old_type), _TEMPORAL.fullmatch(new_type)
    if old is None or new is None:
        return False
    if old["date"]:
        return new["unit"] is not None or (old["date"], new["date"]) == ("date32", "date64")
    return (
        new["unit"] is not None
        and _UNITS.index(new["unit"]) >= _UNITS.index(old["unit"])
        and (old["tz"] is None) == (new["tz"] is None)
    )


def update(
    path: Path,
    source: str,
    entity_name: str,
    entity: EntityConfig,
    observed: ObservedSchema,
    batch_id: str,
) -> list[str]:
    """Merge this run's observations into the registry; returns the columns new in this run.

    The first load is the baseline; after it, a column that is neither configured nor seen before
    is `added` and stays so, so the report can show when it appeared.
    """
    if not observed.columns:
        return []
    previous = recorded(path, source, entity_name)
    expected = set(entity.required_columns()) | set(entity.optional)
    first_seen = {
        row["column"]: (row["first_seen_file"], row["first_seen_batch"])
        for row in previous.iter_rows(named=True)
    }
    known_status = dict(zip(previous["column"], previous["status"], strict=True))
    rows = []
    newly_added = []
    for column, seen in observed.columns.items():
        first_file, first_batch = first_seen.get(column, (seen["first"], batch_id))
        if column in known_status:
            status = "expected" if known_status[column] == "missing" else known_status[column]
        elif previous.is_empty() or column in expected:
            status = "expected"  # the first load is the baseline
        else:
            status = "added"
            newly_added.append(column)
        rows.append(
            {
                "source": source,
                "entity": entity_name,
                "column": column,
                "physical_type": seen.get("type"),
                "status": status,
                "first_seen_file": first_file,
                "first_seen_batch": first_batch,
                "last_seen_file": seen["last"],
                "last_seen_batch": batch_id,
                "updated_at": now(),
            }
        )
    gone = previous.filter(~pl.col("column").is_in(list(observed.columns)) & (pl.col("status") != "missing"))
    rows += [{**row, "status": "missing", "updated_at": now()} for row in gone.iter_rows(named=True)]
    frame = pl.DataFrame(rows, schema=SCHEMA_REGISTRY_SCHEMA)
    delta.merge_upsert(frame, path, keys=["source", "entity", "column"], batch_id=batch_id)
    return newly_added
