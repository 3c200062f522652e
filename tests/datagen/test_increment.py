"""`cdp generate --increment-day`: one more day of files next to a data set, deterministic and idempotent."""

from __future__ import annotations

import json
import os
import shutil
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from datagen import generate_increment
from tests.datagen.helpers import INCREMENT_DAY, build, file_hashes, read_csvs, read_jsonl
from warehouse.errors import CdpError


def test_an_increment_writes_day_files_with_only_that_days_events(dataset: Path):
    day = INCREMENT_DAY.isoformat()
    orders = read_jsonl(dataset, f"ecom/orders/orders_{day}.jsonl")
    tickets = read_csvs(dataset, f"pos/*/*/tickets_{day}.csv")
    assert orders.height > 0 and tickets.height > 0
    assert orders["created_at"].drop_nulls().str.starts_with(day).mean() > 0.95
    assert tickets["sold_at"].drop_nulls().str.starts_with(day).mean() > 0.95
    assert (dataset / f"landing/loyalty/points/points_{day}.csv").exists()
    manifest = json.loads((dataset / "truth/generator_manifest.json").read_text())
    assert manifest["increments"] == [day]


def test_an_increment_adds_about_half_a_percent_new_customer_records(dataset: Path):
    identity = pl.read_parquet(dataset / "truth/identity.parquet")
    customers = read_jsonl(dataset, "ecom/customers.jsonl")
    new = customers.filter(pl.col("created_at").str.starts_with(INCREMENT_DAY.isoformat()))
    assert new.height > 0 and set(new["id"].cast(pl.String).to_list()) <= set(
        identity["source_record_id"].to_list()
    )
    day_records = identity.height * 0.005
    appended = (dataset / "landing/ecom/customers.jsonl").read_text().count(INCREMENT_DAY.isoformat() + "T")
    assert appended >= 1 and new.height <= 4 * day_records


def test_applying_the_same_day_again_changes_nothing(tmp_path: Path):
    root = build(tmp_path / "d", people=300)
    before = file_hashes(root)
    assert generate_increment(root, INCREMENT_DAY)["status"] == "already applied"
    assert file_hashes(root) == before


@pytest.mark.parametrize(
    "day, message", [(date(2026, 10, 31), "outside the simulated horizon"), (date(2027, 3, 1), "horizon")]
)
def test_days_outside_the_simulated_horizon_are_refused(dataset: Path, day: date, message: str):
    with pytest.raises(CdpError, match=message):
        generate_increment(dataset, day)


def test_an_increment_needs_a_generated_data_set(tmp_path: Path):
    with pytest.raises(CdpError, match="run `cdp generate"):
        generate_increment(tmp_path, INCREMENT_DAY)


def test_an_increment_on_a_hard_linked_copy_leaves_the_original_as_it_was(tmp_path: Path):
    """`cdp bench pipeline` links its scratch copy's landing files to the kept data set: the
    increment appends to the copy only, and the copy ends up as an increment applied directly."""
    from bench.pipeline import _copy_dataset

    original = build(tmp_path / "kept", people=300, increment=False)
    before = file_hashes(original)
    copy = tmp_path / "scratch"
    _copy_dataset(original, copy)
    linked = [p for p in (copy / "landing").rglob("*") if p.is_file() and p.stat().st_nlink > 1]
    assert linked, "the landing files should be hard links on one file system"
    generate_increment(copy, INCREMENT_DAY)
    assert file_hashes(original) == before
    assert file_hashes(copy) == file_hashes(build(tmp_path / "direct", people=300))


def test_an_increment_on_a_wholly_hard_linked_copy_leaves_the_original_as_it_was(tmp_path: Path):
    """A copy made with `cp -al` links the truth and the manifest too: the increment replaces
    those files instead of rewriting them in place, so the original keeps its day unapplied."""
    original = build(tmp_path / "kept", people=300, increment=False)
    before = file_hashes(original)
    copy = tmp_path / "linked"
    shutil.copytree(original, copy, copy_function=os.link)
    generate_increment(copy, INCREMENT_DAY)
    assert file_hashes(original) == before
    assert file_hashes(copy) == file_hashes(build(tmp_path / "direct", people=300))
