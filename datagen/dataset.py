"""`cdp generate`: simulate in chunks, number across chunks, export, write the truth.

1. Simulate: people in chunks (in parallel processes), each spooled to Parquet (see `spool`). People
   acquired after `end_date` (for `--increment-day`) are simulated too, in their own chunks.
2. Number: final ids in time order across chunks (`keys`).
3. Export: every source's native files for the window, one month at a time (`exports`).
4. Truth: identity, people, record noise, duplicates, injected defects, and a manifest; the rows
   beyond `end_date` are kept under `truth/future/` for increments. The spool is then removed.
"""

from __future__ import annotations

import json
import logging
import math
import multiprocessing
import resource
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl

from datagen import spool
from datagen.calendar import build_calendar
from datagen.defects import Output
from datagen.exports import EARLIEST, Exporter, Scope
from datagen.keys import assign_record_keys, assign_sequence_keys, assign_ticket_numbers
from datagen.people import Chunk
from datagen.profiles import FLAG_COLUMNS
from datagen.settings import GeneratorSettings
from datagen.simulation import ChunkJob, simulate_chunk
from datagen.stores import build_stores
from datagen.vocabulary import load as load_vocabulary
from datagen.writers import write_parquet, write_text
from warehouse import progress
from warehouse.errors import CdpError
from warehouse.paths import GENERATOR_MANIFEST, LakePaths

log = logging.getLogger("cdp.generate")

SOURCE_DIRS = ("pos", "ecom", "social", "service", "loyalty", "survey")
MANIFEST = GENERATOR_MANIFEST
SEQUENCED = {"ecom_orders": "okey", "service_tickets": "tkey", "loyalty_points": "lkey"}  # entity -> key


class GeneratorError(CdpError):
    """The generator cannot write where it was asked to, or was asked for something impossible."""


def plan_chunks(settings: GeneratorSettings) -> list[Chunk]:
    """In-window people first, then the people who will arrive during the increment horizon."""
    size = settings.chunk_size
    chunks = [
        Chunk(index=i, first=i * size, count=min(size, settings.customers - i * size))
        for i in range(math.ceil(settings.customers / size))
    ]
    # People hold ~1.8 records each, so a day needs share * 1.8 * N new records; a newcomer shows
    # ~0.9 of a record on arrival day (the rest come later), hence ~2 * share * N newcomers a day.
    future = round(
        2.0 * settings.increment_new_record_share * settings.customers * settings.increment_horizon_days
    )
    start = settings.customers
    for j in range(math.ceil(future / size)):
        chunks.append(
            Chunk(index=len(chunks), first=start + j * size, count=min(size, future - j * size), future=True)
        )
    return chunks


@contextmanager
def _timed(step: str) -> Iterator[None]:
    """Log wall and CPU seconds of a step and this process's peak RSS so far (chunk workers log their own).

    The peak tells which step sets the memory high-water mark of a large run.
    """
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    log.info(
        "%s: %.1f s (%.1f s CPU here, peak RSS here %.0f MB)",
        step,
        time.perf_counter() - wall,
        time.process_time() - cpu,
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )


def build(out_dir: Path, settings: GeneratorSettings) -> dict[str, Any]:
    """Generate the whole data set under `out_dir`; returns counts per file group."""
    paths = LakePaths.at(out_dir)
    _clear_previous(paths)
    work = paths.truth / ".work"
    spool_dir, keys = work / "spool", work / "keys"
    chunks = plan_chunks(settings)
    with _timed(f"simulated {settings.customers:,} people in {len(chunks)} chunks"):
        _simulate(chunks, settings, spool_dir)
    vocabulary = load_vocabulary()
    stores = build_stores(settings, vocabulary)
    with _timed("numbered records, orders and tickets"):
        assign_record_keys(spool_dir, keys)
        assign_ticket_numbers(spool_dir, keys, stores)
        for entity, key in SEQUENCED.items():
            assign_sequence_keys(spool_dir, keys, entity, key)
    calendar = build_calendar(settings)
    scope = Scope(spool=spool_dir, keys=keys, lo=calendar.start_s, hi=calendar.end_s)
    output = Output(root=paths.root, seed=settings.seed, bad_row_share=settings.noise.bad_row)
    exporter = Exporter(scope, settings, vocabulary, stores, output)
    for source in progress.track(SOURCE_DIRS, "exporting sources"):
        with _timed(f"exported {source}"):
            getattr(exporter, source)()
    with _timed("wrote the truth"):
        summary = _write_truth(paths, spool_dir, keys, scope, output, settings)
        _keep_future(paths, spool_dir, keys, calendar.end_s)
        shutil.rmtree(work)
    return summary


def _simulate(chunks: list[Chunk], settings: GeneratorSettings, spool_dir: Path) -> dict[str, int]:
    jobs = [ChunkJob(chunk, settings, spool_dir) for chunk in chunks]
    totals: dict[str, int] = {}
    # Worker processes cost seconds to start: only worth it with more than one full chunk.
    workers = min(settings.workers, len(jobs)) if settings.customers > settings.chunk_size else 1
    if workers > 1:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            results = list(
                progress.track(pool.map(simulate_chunk, jobs), "simulating people", total=len(jobs))
            )
    else:
        results = [simulate_chunk(job) for job in progress.track(jobs, "simulating people", total=len(jobs))]
    for result in results:
        for entity, rows in result.items():
            totals[entity] = totals.get(entity, 0) + rows
    return totals


def _clear_previous(paths: LakePaths) -> None:
    """Replace an earlier generated data set; never touch exports the generator did not write."""
    manifest = paths.truth / MANIFEST
    landing_dirs = [paths.landing / source for source in SOURCE_DIRS]
    occupied = [d for d in landing_dirs if d.exists() and any(d.iterdir())]
    if occupied and not manifest.exists():
        raise GeneratorError(
            f"{occupied[0]} holds files that `cdp generate` did not write (no {manifest}); "
            "choose an empty --out directory or remove them first"
        )
    for directory in [*landing_dirs, paths.truth]:
        if directory.exists():
            shutil.rmtree(directory)


def _write_truth(
    paths: LakePaths,
    spool_dir: Path,
    keys: Path,
    scope: Scope,
    output: Output,
    settings: GeneratorSettings,
) -> dict[str, Any]:
    records = exported_records(spool_dir, keys, EARLIEST, scope.hi)
    people_ids = records.select("person_idx").unique()
    people = spool.scan(spool_dir, "people").join(people_ids.lazy(), on="person_idx", how="semi").collect()
    write_truth_tables(paths, records, people.sort("person_idx"), output, append=False)
    summary = {
        "people": people.height,
        "customer_records": records.height,
        "records_per_source": dict(sorted(records.group_by("source").len().iter_rows())),
        "rows_exported": dict(sorted(output.rows.items())),
        "files": len(output.files),
    }
    manifest = {
        # what the data depends on (how many processes made it does not change a byte)
        "settings": json.loads(settings.model_dump_json(exclude={"workers"})),
        "summary": summary,
        "files": sorted(output.files),
        "increments": [],
    }
    write_manifest(paths, manifest)
    return summary


def write_manifest(paths: LakePaths, manifest: dict[str, Any]) -> None:
    """`truth/generator_manifest.json`, replaced whole (never rewritten in place: hard links)."""
    write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", paths.truth / MANIFEST)


def exported_records(spool_dir: Path, keys: Path, lo: int, hi: int) -> pl.DataFrame:
    """Customer records created in [lo, hi) with their final keys and noise flags."""
    keyed = pl.read_parquet(keys / "records.parquet").select("rkey", "record_key")
    return (
        spool.scan(spool_dir, "records")
        .filter((pl.col("created_at") >= lo) & (pl.col("created_at") < hi))
        .select("rkey", "person_idx", "source", *FLAG_COLUMNS)
        .collect()
        .join(keyed, on="rkey")
    )


def write_truth_tables(
    paths: LakePaths, records: pl.DataFrame, people: pl.DataFrame, output: Output, append: bool
) -> None:
    """identity, people, record_noise, duplicate_events, injected_errors (appending for increments)."""
    person_id = pl.format("P{}", (pl.col("person_idx") + 1).cast(pl.String).str.zfill(8))
    keys = [pl.col("source"), pl.col("record_key").alias("source_record_id"), person_id.alias("person_id")]
    identity = records.select(keys)
    noise = records.select(*keys, *FLAG_COLUMNS)
    tables = {
        "identity": (identity, ["source", "source_record_id"]),
        "record_noise": (noise, ["source", "source_record_id"]),
        "people": (people, ["person_id"]),
        "duplicate_events": (output.duplicate_table(), ["source", "entity", "record_key"]),
        "injected_errors": (output.error_table(), ["file", "row_number"]),
    }
    paths.truth.mkdir(parents=True, exist_ok=True)
    for name, (frame, order) in tables.items():
        target = paths.truth / f"{name}.parquet"
        if append and target.exists():
            frame = pl.concat([pl.read_parquet(target), frame], how="diagonal_relaxed")
        if name == "duplicate_events":
            frame = frame.group_by("source", "entity", "record_key").agg(pl.col("copies").max())
        write_parquet(frame.sort(order), target)  # replaced, not rewritten in place (hard links)


def _keep_future(paths: LakePaths, spool_dir: Path, keys: Path, end_s: int) -> None:
    """Rows after the window (and the key maps they need) for `cdp generate --increment-day`."""
    future = paths.truth / "future"
    boundary = spool.month_spans(end_s, end_s)[0][0]
    for entity, month_column in spool.MONTHLY.items():
        periods = [p for p in spool.months(spool_dir, entity) if p >= boundary]
        if not periods:
            continue
        column = "sold_at" if entity == "pos_lines" else month_column  # a day's tickets keep their copies
        later = spool.scan_months(spool_dir, entity, periods).filter(pl.col(column) >= end_s).collect()
        spool.write(future / "spool", entity, "part", later, compress=True)
    later_records = spool.scan(spool_dir, "records").filter(pl.col("created_at") >= end_s).collect()
    spool.write(future / "spool", "records", "part", later_records, compress=True)
    exported = (
        spool.scan(spool_dir, "records").filter(pl.col("created_at") < end_s).select("person_idx").unique()
    )
    newcomers = spool.scan(spool_dir, "people").join(exported, on="person_idx", how="anti").collect()
    newcomers.write_parquet(future / "people.parquet")
    last_month = spool.month_spans(end_s - 1, end_s - 1)[0][0]
    shutil.copytree(keys, future / "keys", ignore=_old_key_months(last_month))


def _old_key_months(boundary: str):
    """Keep key maps of the boundary month, the month before it (late copies) and later."""
    year, mon = (int(x) for x in boundary.split("-"))
    previous = f"{year - (mon == 1)}-{12 if mon == 1 else mon - 1:02d}"

    def ignore(_directory: str, names: list[str]) -> list[str]:
        return [n for n in names if n.endswith(".parquet") and n[:7].count("-") == 1 and n[:7] < previous]

    return ignore
