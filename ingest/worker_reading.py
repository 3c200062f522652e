"""Reading and checking an entity's files in worker processes, replayed into the loader's writers.

Reading and checking (parsing, type masks, row hashes, duplicate keys) is the CPU-heavy part of
a load and is per file; writing bronze and quarantine is not, and must stay in one process (a
file's first commit replaces its earlier rows). So the files to load are cut into runs of about
`ingest.unit_bytes` (whole files, landing order), each run is read and checked in a worker with the
very same `EntityLoad` code (ingest/entity_load.py), its checked groups spilled as Arrow IPC, and the
loading process replays the runs in order into the one pair of writers: same rows, same counts, same
manifest as one process.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from ingest import parallel, schema_registry
from ingest.config import EntityConfig, IngestSettings
from ingest.entity_load import EmptyGuard, EntityLoad, FileResult
from ingest.landing import LandedItem
from ingest.validate import EntityCheck
from warehouse.duckdb_connections import connect

log = logging.getLogger("cdp.ingest")


@dataclass(frozen=True)
class UnitJob:
    """One run of files for a worker: everything `EntityLoad` needs except the writers and connection."""

    source: str
    name: str
    entity: EntityConfig
    settings: IngestSettings
    check: EntityCheck  # with con=None: the worker opens its own
    previous_schema: pl.DataFrame | None
    items: list[LandedItem]
    scratch: Path
    index: int  # the run's place in the load: names its spill files
    empty_guard: EmptyGuard = field(
        default_factory=EmptyGuard
    )  # judges 0-byte files (header-only: on replay)


@dataclass
class UnitOutput:
    """What a worker learnt about its files, and its checked groups as spill files, in order.

    `events` are ("group", landed IPC, quarantined IPC) and ("done", files): replayed in order they
    drive the writers exactly as the groups and finished files of a one-process run do.
    """

    results: dict[str, FileResult]
    failed: dict[str, str]
    observed: schema_registry.ObservedSchema
    events: list[tuple[Any, ...]]


@dataclass
class _UnitLoad(EntityLoad):
    """`EntityLoad` in a worker: checked groups go to spill files instead of writers."""

    scratch: Path = Path()
    prefix: str = "run"
    events: list[tuple[Any, ...]] = field(default_factory=list)

    def fail(self, file: str, message: str) -> None:
        self.failed[file] = message  # rows already spilled are dropped when replayed
        self.group.discard(file)

    def hand_over(self, landed: pl.DataFrame, quarantined: pl.DataFrame) -> None:
        if landed.is_empty() and quarantined.is_empty():
            return
        stem = self.scratch / f"{self.prefix}-{len(self.events):05d}"
        paths = (stem.with_suffix(".landed.arrow"), stem.with_suffix(".quarantined.arrow"))
        landed.write_ipc(paths[0], compression="uncompressed")
        quarantined.write_ipc(paths[1], compression="uncompressed")
        self.events.append(("group", *paths))

    def finish_files(self, files: list[str]) -> None:
        self.events.append(("done", [f for f in files if f not in self.failed]))


_WORKER_CON: duckdb.DuckDBPyConnection | None = None


def read_unit(job: UnitJob) -> UnitOutput:
    """Read and check one run of files (in a worker process); rows go to spill files."""
    global _WORKER_CON  # one connection per worker process: opening one costs ~0.1 s
    if _WORKER_CON is None:
        _WORKER_CON = connect()
    load = _UnitLoad(
        source=job.source,
        name=job.name,
        entity=job.entity,
        settings=job.settings,
        check=replace(job.check, con=_WORKER_CON),
        bronze=None,  # type: ignore[arg-type]  # never used: hand_over spills instead
        quarantine=None,  # type: ignore[arg-type]
        con=_WORKER_CON,
        previous_schema=job.previous_schema,
        empty_guard=job.empty_guard,
        scratch=job.scratch,
        prefix=f"run{job.index:05d}",
    )
    for item in job.items:
        load.read(item)
    load.process_group()
    return UnitOutput(load.results, load.failed, load.observed, load.events)


def read_all(load: EntityLoad, items: list[LandedItem], pool: parallel.Pool | None) -> None:
    """Read every item into `load`: here, or in the pool's workers when the files make several runs."""
    runs = parallel.runs(items, lambda item: item.size_bytes, load.settings.unit_bytes)
    if pool is None or pool.workers <= 1 or len(runs) <= 1:
        for item in items:
            load.read(item)
        return
    with tempfile.TemporaryDirectory(prefix="cdp-ingest-") as scratch:
        check = replace(load.check, con=None, lead_format={}, carried={})
        jobs = [
            UnitJob(
                load.source,
                load.name,
                load.entity,
                load.settings,
                check,
                load.previous_schema,
                run,
                Path(scratch),
                index,
                load.empty_guard,
            )
            for index, run in enumerate(runs)
        ]
        for output in pool.map_ordered(read_unit, jobs):
            _replay(load, output)


def _replay(load: EntityLoad, output: UnitOutput) -> None:
    """A worker's run into this process's writers, in the order the worker produced it."""
    for file, message in output.failed.items():
        load.failed[file] = message
        log.error("%s/%s: %s: %s", load.source, load.name, file, message)
    load.results.update(output.results)
    load.observed.merge(output.observed)
    failed = list(output.failed)
    for event in output.events:
        if event[0] == "done":
            load.finish_files(event[1])
            continue
        landed, quarantined = (pl.read_ipc(path) for path in event[1:])
        for path in event[1:]:
            path.unlink()
        if failed:
            landed = landed.filter(~pl.col("_file").is_in(failed))
            quarantined = quarantined.filter(~pl.col("file").is_in(failed))
        load.hand_over(landed, quarantined)
