"""`cdp generate --increment-day YYYY-MM-DD`: one more day of exports next to a generated data set.

The full run already simulated `increment_horizon_days` beyond `end_date` (same people, same
behaviour, newcomers arriving at `increment_new_record_share` of all records a day) and kept those
rows under `truth/future/`. An increment exports one of those days: day files (`tickets_<day>.csv`,
`orders_<day>.jsonl`, ...) beside the monthly ones, the day's new customer records appended to the
full-export files (till members, web customers, social profiles, the loyalty database), and the
truth extended to match. Applying a day twice is a no-op; the same day always gives the same bytes.
"""

from __future__ import annotations

import json
import logging
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from datagen import spool
from datagen.calendar import day_seconds
from datagen.dataset import MANIFEST, GeneratorError, write_manifest, write_truth_tables
from datagen.defects import Output
from datagen.exports import Exporter, Scope
from datagen.profiles import FLAG_COLUMNS
from datagen.settings import GeneratorSettings
from datagen.stores import build_stores
from datagen.vocabulary import load as load_vocabulary
from warehouse.paths import LakePaths

log = logging.getLogger("cdp.generate")

# Surveys arrive as quarterly workbooks and coupons as one campaign file: not part of a day's drop.
DAILY_SOURCES = ("pos", "ecom", "social", "service", "loyalty")


def apply_increment(out_dir: Path, day: date) -> dict[str, Any]:
    paths = LakePaths.at(out_dir)
    manifest_path = paths.truth / MANIFEST
    if not manifest_path.exists():
        raise GeneratorError(
            f"{manifest_path} not found: run `cdp generate --out {out_dir}` before adding days"
        )
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    settings = GeneratorSettings.model_validate(manifest["settings"])
    first = settings.end_date + timedelta(days=1)
    last = settings.end_date + timedelta(days=settings.increment_horizon_days)
    if not first <= day <= last:
        raise GeneratorError(
            f"--increment-day {day} is outside the simulated horizon {first}..{last} "
            "(set generator.increment_horizon_days and regenerate to go further)"
        )
    if day.isoformat() in manifest["increments"]:
        log.info("increment %s is already applied to %s; nothing to do", day, paths.root)
        return {"day": day.isoformat(), "status": "already applied"}
    future = paths.truth / "future"
    if not any((future / "spool").rglob(f"*{spool.SUFFIX}")):
        raise GeneratorError(
            f"{future / 'spool'} holds no rows kept for increments (written by an older generator?): "
            f"run `cdp generate --out {out_dir}` again before adding days"
        )
    lo, hi = day_seconds(day), day_seconds(day + timedelta(days=1))
    scope = Scope(
        spool=future / "spool",
        keys=future / "keys",
        lo=lo,
        hi=hi,
        record_lo=lo,
        day_label=day.isoformat(),
        append=True,
    )
    vocabulary = load_vocabulary()
    output = Output(root=paths.root, seed=settings.seed, bad_row_share=settings.noise.bad_row)
    exporter = Exporter(scope, settings, vocabulary, build_stores(settings, vocabulary), output)
    for source in DAILY_SOURCES:
        getattr(exporter, source)()
    records = _new_records(future, lo, hi)
    known = pl.read_parquet(paths.truth / "people.parquet", columns=["person_idx"])
    newcomers = pl.read_parquet(future / "people.parquet").join(
        records.select("person_idx").unique(), on="person_idx", how="semi"
    )
    newcomers = newcomers.join(known, on="person_idx", how="anti")
    write_truth_tables(paths, records, newcomers, output, append=True)
    manifest["increments"] = sorted([*manifest["increments"], day.isoformat()])
    manifest["files"] = sorted(set(manifest["files"]) | set(output.files))
    write_manifest(paths, manifest)
    return {
        "day": day.isoformat(),
        "new_customer_records": records.height,
        "new_people": newcomers.height,
        "rows_exported": dict(sorted(output.rows.items())),
        "files": len(set(output.files)),
    }


def _new_records(future: Path, lo: int, hi: int) -> pl.DataFrame:
    keyed = pl.read_parquet(future / "keys" / "records.parquet").select("rkey", "record_key")
    return (
        spool.scan(future / "spool", "records")
        .filter((pl.col("created_at") >= lo) & (pl.col("created_at") < hi))
        .select("rkey", "person_idx", "source", *FLAG_COLUMNS)
        .collect()
        .join(keyed, on="rkey")
    )
