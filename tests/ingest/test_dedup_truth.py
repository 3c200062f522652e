"""Against the generator's truth: every event it exported twice is removed, every row it broke is
quarantined (or, for a broken birthday, lands with the field nulled and the value recorded), and
nothing else.

The generator (`cdp generate`) records in `truth/duplicate_events.parquet` every POS ticket and web
event it exported more than once, with the number of copies. After ingest and standardize, the
`dedup_log` must name exactly those keys with `copies - 1` removed. The one allowed difference is a
copy the generator also broke on purpose (`truth/injected_errors.parquet`): that copy was
quarantined in bronze, so fewer copies reached silver.
"""

from __future__ import annotations

import copy
from pathlib import Path

import polars as pl
import pytest

from ingest.loader import load_source
from ingest.standardize import standardize
from tests.ingest.conftest import Lake
from warehouse.config import REPO_ROOT, CdpConfig, load_config
from warehouse.paths import LakePaths

datagen = pytest.importorskip("datagen")

# Silver entity in dedup_log for each (source, entity) of the truth.
SILVER_ENTITY = {("pos", "tickets"): "orders", ("ecom", "events"): "events"}


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """A small generated data set, landed and standardized once for the module."""
    root = tmp_path_factory.mktemp("truth") / "data"
    config = load_config(REPO_ROOT / "cdp.yaml", data_root=root)
    raw = copy.deepcopy(config.raw)  # enough broken rows that a few are birthdays of a small set
    raw["generator"]["noise"]["bad_row"] = 0.05  # the most it allows
    config = CdpConfig(path=config.path, raw=raw, data_root=root)
    datagen.generate_dataset(out_dir=root, customers=150, seed=7, config=config)
    load_source(config, "pos", "b1")
    load_source(config, "ecom", "b1")
    summary = standardize(config, "b1")
    return root, Lake(LakePaths.at(root)), summary


def _truth(root: Path, source: str, entity: str) -> pl.DataFrame:
    duplicates = pl.read_parquet(root / "truth" / "duplicate_events.parquet")
    injected = pl.read_parquet(root / "truth" / "injected_errors.parquet")
    broken = injected.filter(
        (pl.col("source") == source) & (pl.col("entity") == entity) & (pl.col("outcome") == "row_quarantined")
    )["record_key"]
    return duplicates.filter((pl.col("source") == source) & (pl.col("entity") == entity)).with_columns(
        broken=pl.col("record_key").is_in(broken.implode())
    )


@pytest.mark.parametrize(("source", "entity"), list(SILVER_ENTITY))
def test_every_exported_twice_event_is_removed_once_and_nothing_else(generated, source, entity):
    root, lake, _ = generated
    truth = _truth(root, source, entity)
    assert truth.height > 0, "the generator should export some events twice"
    removed = lake.silver("dedup_log").filter(
        (pl.col("source") == source) & (pl.col("entity") == SILVER_ENTITY[source, entity])
    )
    assert removed["kind"].unique().to_list() == ["exact"]
    both = truth.join(
        removed.select(pl.col("duplicate_key").alias("record_key"), "copies_removed"),
        on="record_key",
        how="full",
        coalesce=True,
    )
    assert both.filter(pl.col("copies").is_null()).is_empty(), "removed something that was not a duplicate"
    clean = both.filter(~pl.col("broken"))
    assert (clean["copies_removed"] == clean["copies"] - 1).all()
    broken = both.filter(
        pl.col("broken")
    )  # a broken copy sits in quarantine: at most copies - 1 left to remove
    assert (broken["copies_removed"].fill_null(0) <= broken["copies"] - 1).all()


def test_silver_keeps_one_copy_of_each_ticket_line(generated):
    _, lake, _ = generated
    lines = lake.silver("order_lines").filter(pl.col("order_id").str.starts_with("pos:"))
    assert lines.select("order_id", "line_no").is_duplicated().sum() == 0


def test_the_standardize_summary_counts_what_dedup_removed(generated):
    _, lake, summary = generated
    events = summary["entities"]["events"]
    removed = lake.silver("dedup_log").filter(pl.col("entity") == "events")["copies_removed"].sum()
    assert events["exact_copies_removed"] == events["duplicates_removed"] == removed > 0
    assert events["rows"] == events["rows_in"] - events["exact_copies_removed"] - events["superseded_removed"]
    assert events["rows"] == lake.silver("events").height
    assert events["duplicate_rate"] == pytest.approx(removed / events["rows_in"], abs=1e-6)


def test_every_row_the_generator_broke_is_quarantined_and_nothing_else(generated):
    """`truth/injected_errors.parquet` lists each broken row (bad date, bad number, missing key) and
    its outcome: quarantined whole, or (a bad birthday) landed with the field nulled and recorded."""
    root, lake, _ = generated
    injected = (
        pl.read_parquet(root / "truth" / "injected_errors.parquet")
        .filter(pl.col("source").is_in(["pos", "ecom"]))
        .with_columns(file=pl.col("file").str.replace("^landing/", ""))
        .select("source", "entity", "file", "row_number", "column", "kind", "outcome")
    )
    quarantined = lake.quarantine().select("file", "row_number", "reason", "detail")
    assert injected.height > 0
    both = injected.join(quarantined, on=["file", "row_number"], how="full", coalesce=True)
    assert both.filter(pl.col("reason").is_null()).is_empty(), "a broken row landed unrecorded"
    assert both.filter(pl.col("kind").is_null()).is_empty(), "a sound row was quarantined"
    nulled = pl.col("reason") == "invalid_value_nulled"
    rejected = both.filter(pl.col("outcome") == "row_quarantined")
    assert rejected.height > 0 and rejected.filter(nulled).is_empty(), "a broken row landed"
    soft = both.filter(pl.col("outcome") == "field_nulled")
    assert set(soft["entity"]) == {"members", "customers"}  # POS members' and web customers' birthdays
    assert soft.filter(~nulled).is_empty(), "a member with a bad birthday was rejected whole"
    assert soft.filter(~pl.col("detail").str.starts_with(pl.format("field '{}': ", "column"))).is_empty()
    for (source, entity), part in soft.partition_by("source", "entity", as_dict=True).items():
        bronze = lake.bronze(str(source), str(entity)).select(
            file="_file", row_number="_row_number", value=pl.col(part["column"][0])
        )
        landed = part.join(bronze, on=["file", "row_number"], how="left")
        assert landed["value"].null_count() == landed.height == part.height
        assert landed.height == part.join(bronze, on=["file", "row_number"], how="semi").height
