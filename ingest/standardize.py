"""The `standardize` stage: bronze -> silver, one Delta table per silver entity.

Each silver entity is rebuilt from all bronze tables that feed it (correctness first: dedup across
files needs the whole picture). A silver entity whose bronze inputs have not changed since its last
build (same Delta versions) is skipped, so a re-run without new landings costs next to nothing.
A large bronze table is built in key pieces (`ingest.silver.pieces`), so memory follows
`standardize.piece_rows`, not the size of the data set; each silver table is still written in one
commit (a daily, incremental build commits only the rows of the keys it rebuilt). Targets write
disjoint silver tables, so `ingest.workers` processes build them side by
side, largest first (`ingest.parallel`); the dedup log and the build state are written here, once.

The summary counts, per silver entity, the rows read from bronze (`rows_in`), the rows written
(`rows`) and what deduplication removed: `exact_copies_removed` (the same row delivered again, such
as a POS ticket exported twice), `superseded_removed` (older versions of a key) and
`duplicate_rate` (removed / read): the figures a data-quality check compares run to run. In an
incremental build they count what was rebuilt (and `keys_rebuilt` how many keys).
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import polars as pl
from deltalake import DeltaTable

from ingest import parallel
from ingest.config import ingest_settings, sources_config, standardize_settings
from ingest.silver.activity import activity_plan, build_activity
from ingest.silver.customers import build_customer_records, customer_plan
from ingest.silver.orders import build_orders, order_plan
from ingest.silver.parts import Part, Piece, Plan, Rules
from ingest.silver.pieces import SilverSink, pieces
from ingest.silver.registry import check_registry
from ingest.silver.schema import DEDUP_LOG, ENTITY_KEYS, SCHEMAS
from ingest.tables import compact, now, replace_keys
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
    # A mapping mistake (an unknown silver column, a typed one fed by an untyped source column)
    # would drop or null values without a record: refused before anything is built.
    check_registry(sources_config(config))
    paths = LakePaths.at(config.data_root)
    settings = standardize_settings(config)
    parts, versions = _inputs(config, paths)
    state_path = paths.meta("silver_state")
    previous = _previous_state(state_path)
    summary: dict[str, Any] = {"stage": "standardize", "batch_id": batch_id, "entities": {}}
    logs: dict[str, tuple[pl.DataFrame, pl.DataFrame | None]] = {}
    built: set[str] = set()
    jobs: list[TargetJob] = []
    for target, members in TARGETS.items():
        inputs = json.dumps(versions.get(target, {}), sort_keys=True)
        built_before = all(_holds_its_columns(paths.silver(m), SCHEMAS[m]) for m in members)
        if previous.get(target) == inputs and built_before:
            summary["entities"][target] = {"status": "unchanged"}
            continue
        since = previous.get(target) if built_before and settings.incremental else None
        jobs.append(TargetJob(config, target, batch_id, inputs, since))
    # The largest builds first, so the workers finish together (sizes: the bronze rows feeding each).
    jobs.sort(key=lambda job: -sum(part.rows for m in TARGETS[job.target] for part in parts[m]))
    parallel.release()  # the ingest stage's workers, if this process ran it, would keep its memory
    for job, (mode, dedup, stats, rebuilt) in zip(
        jobs, parallel.Pool(ingest_settings(config).workers).map_ordered(build_target, jobs), strict=True
    ):
        logs[job.target] = dedup, rebuilt
        summary["entities"][job.target] = {"status": mode, **_summarize(stats, dedup)}
        built.add(job.target)
    summary["entities"] = {t: summary["entities"][t] for t in TARGETS if t in summary["entities"]}
    _write_dedup_log(paths, logs, batch_id)
    written = [m for t in built for m in TARGETS[t]]
    moved = _compact(
        config,
        paths,
        [*map(paths.silver, written)],
        sorted({k for v in versions.values() for k in v}),
        batch_id,
    )
    state = []
    for target in TARGETS:
        inputs = {k: moved.get((k, v), v) for k, v in versions.get(target, {}).items()}
        if target in built or inputs != versions.get(target, {}):
            state.append(
                {
                    "target": target,
                    "inputs": json.dumps(inputs, sort_keys=True),
                    "batch_id": batch_id,
                    "built_at": now(),
                }
            )
    if state:
        delta.merge_upsert(
            pl.DataFrame(state, schema=STATE_SCHEMA), state_path, keys=["target"], batch_id=batch_id
        )
    summary["status"] = "ok"
    return summary


def _holds_its_columns(path: Path, schema: dict[str, pl.DataType]) -> bool:
    """Whether the silver table exists with every column of its schema. One written before a
    column was added (silver orders before `order_number`) is rebuilt in full, not skipped nor
    continued, so its old rows get the column too, not only the keys rebuilt from then on."""
    if not delta.exists(path):
        return False
    return set(schema) <= {field.name for field in delta.open_table(path).schema().fields}


def _compact(
    config: CdpConfig, paths: LakePaths, silver: list[Path], bronze: list[str], batch_id: str
) -> dict[tuple[str, int], int]:
    """Small-file hygiene after a build (`ingest.tables.compact`): the silver tables written, the
    dedup log, quarantine and ingestion meta tables, and the bronze tables read (every ingest of the
    run is done by now). A bronze compaction changes no row, so silver built from the version before
    it is also built from the one after: returned as {(bronze table, version before): version after}
    and recorded as the build's inputs, so the next daily diff sees only the next day's files.
    """
    settings = ingest_settings(config)

    def run(path: Path) -> tuple[int, int] | None:
        return compact(path, settings.compaction, batch_id=batch_id, row_group_rows=settings.row_group_rows)

    for path in [*silver, paths.silver("dedup_log"), paths.quarantine, *map(paths.meta, META_TABLES)]:
        run(path)
    moved = {}
    for table in bronze:
        versions = run(paths.bronze(*table.split("__", 1)))
        if versions is not None:
            moved[table, versions[0]] = versions[1]
    return moved


@dataclass(frozen=True)
class TargetJob:
    """One silver target to rebuild (in a worker process when several are due)."""

    config: CdpConfig
    target: str
    batch_id: str
    inputs: str  # the bronze versions it is built from, recorded in silver_state
    since: str | None = None  # the versions of the last build: only what changed since is rebuilt


def build_target(job: TargetJob) -> tuple[str, pl.DataFrame, Counter[str], pl.DataFrame | None]:
    """Build one silver target and commit its tables: "built" (from all bronze) or "incremental".

    Returns the mode, the dedup log rows of what was built, the counts of the rows built and, for
    an incremental build, the keys rebuilt (`source`, `key`; None: the whole target). Targets write
    disjoint silver tables, so several build side by side (`ingest.workers`); the dedup log and
    the build state are written by the caller, once, after all of them.
    """
    config = job.config
    paths = LakePaths.at(config.data_root)
    settings = standardize_settings(config)
    rules = Rules(
        settings=settings,
        phone_region=config.default_phone_region,
        currency=config.default_currency,
        timezone=config.timezone,
        batch_id=job.batch_id,
    )
    parts, versions = _inputs(config, paths)
    members = TARGETS[job.target]
    log.info("standardize %s from %d bronze table(s)", job.target, len(versions.get(job.target, {})))
    keys = _changed_keys(job.target, parts, paths, json.loads(job.since)) if job.since else None
    rebuilt = None if keys is None else _rebuilt(keys)
    with tempfile.TemporaryDirectory(prefix="cdp-standardize-") as scratch:
        sinks = {
            name: SilverSink(
                paths.silver(name),
                SCHEMAS[name],
                Path(scratch),
                settings.piece_rows,
                replaces=None if rebuilt is None else _silver_keys(rebuilt, SILVER_KEYS[name]),
                row_group_rows=ingest_settings(config).row_group_rows,
            )
            for name in members
        }
        dedup, stats = _build(job.target, parts, rules, sinks, settings.piece_rows, Path(scratch), keys)
        if rebuilt is not None:
            stats["keys_rebuilt"] = rebuilt.height
        for sink in sinks.values():
            sink.commit(job.batch_id)
    return ("built" if rebuilt is None else "incremental"), dedup, stats, rebuilt


# --- incremental silver -------------------------------------------------------------------------
# Every silver row depends only on the bronze rows of its own key (see `ingest.silver.pieces`). So
# after a daily load only the keys whose bronze rows changed are rebuilt, from *all* bronze rows of
# those keys (a copy of an old ticket in today's file is still an exact duplicate), and replace
# those keys' silver rows and dedup log rows (`ingest.tables.replace_keys`: a new key is appended,
# an existing one merged, so only the data files holding it are rewritten); the rest stays as is.
# What changed is read from the Delta data files a bronze table gained or lost since the last
# build: rows in only one of the two sides (by file, row number and row hash) are new, corrected
# or gone. A full export delivered again (members.csv,
# customers.jsonl) replaces all its bronze rows, but its unchanged rows change nothing; they matter
# only where their key has other bronze rows, whose delivery order they may now win, so those keys
# are rebuilt too. A table that cannot be diffed (a new input, history vacuumed) is rebuilt in full.
SILVER_KEYS = {
    "customer_records": "record_id",
    "orders": "order_id",
    "order_lines": "order_id",
    **ENTITY_KEYS,
}
ROW_IDENTITY = ["_file", "_row_number", "_row_hash"]
META_TABLES = ("load_manifest", "schema_registry", "silver_state")
REBUILT = {"source": pl.String, "key": pl.String}


def _changed_keys(
    target: str, parts: dict[str, list[Part]], paths: LakePaths, since: dict[str, int]
) -> dict[tuple[str, str], pl.Series] | None:
    """Per bronze table feeding `target`, the canonical keys to rebuild; None: rebuild everything."""
    changed: dict[str, list[Part]] = defaultdict(list)
    delivered_again: dict[str, list[Part]] = defaultdict(list)
    for member in TARGETS[target]:
        for part in parts[member]:
            version = since.get(f"{part.source}__{part.entity_name}")
            diff = (
                None
                if version is None
                else _bronze_diff(paths.bronze(part.source, part.entity_name), version)
            )
            if diff is None:
                return None
            changed[member].append(replace(part, bronze=diff[0]))
            delivered_again[member].append(replace(part, bronze=diff[1]))
    keys = _plan_keys(target, changed)
    again = _plan_keys(target, delivered_again)
    for part, plan, _ in _plans(target, parts):
        table = part.source, part.entity_name
        if again[table].is_empty():
            continue
        shared = (  # keys of unchanged re-delivered rows that have other bronze rows
            plan.rows.select(pl.col(plan.key))
            .filter(pl.col(plan.key).is_in(again[table].implode()))
            .group_by(plan.key)
            .len()
            .filter(pl.col("len") > 1)
            .collect()
            .to_series()
        )
        keys[table] = pl.concat([keys[table], shared]).unique()
    return keys


def _plan_keys(target: str, parts: dict[str, list[Part]]) -> dict[tuple[str, str], pl.Series]:
    """The distinct canonical keys of each part's rows."""
    return {
        (part.source, part.entity_name): plan.rows.select(pl.col(plan.key))
        .drop_nulls()
        .unique()
        .collect()
        .to_series()
        for part, plan, _ in _plans(target, parts)
    }


def _bronze_diff(path: Path, version: int) -> tuple[pl.LazyFrame, pl.LazyFrame] | None:
    """(rows new, corrected or gone since `version`; rows delivered again unchanged); None: cannot tell.

    Read from the data files added and removed since `version` (None when that version or its
    files are gone).
    """
    try:
        before = set(DeltaTable(str(path), version=version).file_uris())
    except Exception:  # deltalake raises several types for a version that is gone
        return None
    now = set(delta.open_table(path).file_uris())
    added, removed = (_read_files(sorted(files)) for files in (now - before, before - now))
    if added is None or removed is None:
        return None
    if added.is_empty() and removed.is_empty():
        empty = delta.scan(path).head(0)
        return empty, empty
    if added.is_empty() or removed.is_empty():
        return pl.concat([added, removed], how="diagonal_relaxed").lazy(), added.head(0).lazy()
    identity = [c for c in ROW_IDENTITY if c in added.columns and c in removed.columns]
    changed = pl.concat(
        [
            added.join(removed.select(identity), on=identity, how="anti"),
            removed.join(added.select(identity), on=identity, how="anti"),
        ],
        how="diagonal_relaxed",
    )
    again = added.join(removed.select(identity), on=identity, how="semi")
    return changed.lazy(), again.lazy()


def _read_files(uris: list[str]) -> pl.DataFrame | None:
    files = [Path(uri.removeprefix("file://")) for uri in uris]
    if not all(f.exists() for f in files):  # vacuumed (an erasure rewrites history)
        return None
    if not files:
        return pl.DataFrame()
    return pl.concat([pl.read_parquet(f) for f in files], how="diagonal_relaxed")


def _rebuilt(keys: dict[tuple[str, str], pl.Series]) -> pl.DataFrame:
    """The rebuilt keys as (`source`, `key`): a silver key is `<source>:<key>`."""
    # The schema keeps `source` a string for a source with no rebuilt keys (a scalar beside an
    # empty column would make both columns Null, which no longer stacks with the others).
    frames = [
        pl.DataFrame({"source": source, "key": k.cast(pl.String)}, schema=REBUILT)
        for (source, _), k in keys.items()
    ]
    return pl.concat(frames, how="vertical").unique() if frames else pl.DataFrame(schema=REBUILT)


def _silver_keys(rebuilt: pl.DataFrame, column: str) -> pl.DataFrame:
    """The rebuilt keys as a silver table names them (`source:key` in its key column)."""
    return rebuilt.select(pl.concat_str("source", pl.lit(":"), "key").alias(column))


def _inputs(config: CdpConfig, paths: LakePaths) -> tuple[dict[str, list[Part]], dict[str, dict[str, int]]]:
    """Per silver entity the bronze parts feeding it; per target the Delta version of each input."""
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
    return parts, versions


def _build(
    target: str,
    parts: dict[str, list[Part]],
    rules: Rules,
    sinks: dict[str, SilverSink],
    piece_rows: int,
    scratch: Path,
    keys: dict[tuple[str, str], pl.Series] | None = None,
) -> tuple[pl.DataFrame, Counter[str]]:
    """Build one target from every bronze table feeding it, piece by piece, into its sinks.

    With `keys`, only the rows of those keys (per bronze table) are built.
    """
    logs: list[pl.DataFrame] = [pl.DataFrame(schema=DEDUP_LOG)]
    stats: Counter[str] = Counter()
    for part, plan, builder in _plans(target, parts):
        rows_plan, size = plan.rows, part.rows
        if keys is not None:
            wanted = keys.get((part.source, part.entity_name))
            if wanted is None or wanted.is_empty():
                continue
            rows_plan, size = plan.rows_of(wanted), len(wanted)
        for rows in pieces(rows_plan, plan.key, size, piece_rows, scratch):
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


def _write_dedup_log(
    paths: LakePaths, logs: dict[str, tuple[pl.DataFrame, pl.DataFrame | None]], batch_id: str
) -> None:
    """The dedup log describes the current silver: a target built in full replaces its entities'
    rows, an incremental one the rows of the keys it rebuilt (`source`, `duplicate_key`)."""
    path = paths.silver("dedup_log")
    for target, (frame, rebuilt) in logs.items():
        frame = frame.cast(DEDUP_LOG)
        if not delta.exists(path):
            delta.write(
                frame if not frame.is_empty() else pl.DataFrame(schema=DEDUP_LOG),
                path,
                "append",
                batch_id=batch_id,
            )
        elif rebuilt is not None:
            keys = pl.DataFrame({"entity": TARGETS[target]}).join(
                rebuilt.rename({"key": "duplicate_key"}), how="cross"
            )
            replace_keys(path, frame.to_arrow(), keys, batch_id=batch_id, operation="standardize")
        else:
            entities = ", ".join(f"'{m}'" for m in TARGETS[target])
            delta.delete_where(path, f"entity IN ({entities})")
            if not frame.is_empty():
                delta.write(frame, path, "append", batch_id=batch_id, operation="standardize")
    if not delta.exists(path):
        delta.write(pl.DataFrame(schema=DEDUP_LOG), path, "append", batch_id=batch_id)


__all__ = ["SCHEMAS", "standardize"]
