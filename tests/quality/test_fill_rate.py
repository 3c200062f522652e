"""Fill-rate drift end to end: a web shop export that starts leaving a column mostly blank.

Generated web shop exports are landed run by run through the real loader (one month's orders
file per run), each run's bronze gate storing its fill counts (`lake/quality/fill_profile`).
An ordinary month passes; a month whose orders lost most e-mails lands without error, and the
gate's `bronze_fill_rate` rule names the column, this run's share and the history's median.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest

from ingest.loader import load_source
from quality.gate import run_gate
from warehouse import delta
from warehouse.config import REPO_ROOT, CdpConfig, load_config
from warehouse.paths import LakePaths

datagen = pytest.importorskip("datagen")

HISTORY_MONTHS = ("2026-05", "2026-06", "2026-07", "2026-08")  # one orders file per run
NORMAL_MONTH, BLANKED_MONTH = "2026-09", "2026-10"
# a small lake: monthly files of 25-35 orders count, three earlier runs are enough history
FILL_RULE = {"window": 30, "min_history": 3, "min_rows": 10, "min_drop": 0.2, "max_robust_z": 3.5}


def run_id(day: int) -> str:
    return f"b202611{day:02d}T020000"


def web_shop(root: Path) -> CdpConfig:
    """Generated web shop exports on `root`, only the ecom source configured, small-lake thresholds."""
    from tests.datagen.helpers import small_config

    base = small_config(root)
    quality = {**base.raw.get("quality", {}), "fill_rate": FILL_RULE}
    config = CdpConfig(
        path=base.path,
        raw={**base.raw, "sources": {"ecom": base.raw["sources"]["ecom"]}, "quality": quality},
        data_root=base.data_root,
    )
    datagen.generate_dataset(out_dir=root, customers=200, seed=7, config=config)
    return config


def blank_emails(export: Path, share: float) -> int:
    """Leave `share` of the file's orders without an e-mail: half blank text, half no key at all."""
    orders = [json.loads(line) for line in export.read_text(encoding="utf-8").splitlines() if line.strip()]
    blanked = round(len(orders) * share)
    for index, order in enumerate(orders[:blanked]):
        if index % 2:
            order["email"] = "  "
        else:
            del order["email"]
    export.write_text("".join(json.dumps(o, ensure_ascii=False) + "\n" for o in orders), encoding="utf-8")
    return blanked


def fill_rule(report, entity: str = "orders"):
    return [o for o in report.outcomes if o.suite == "bronze_fill_rate" and o.entity == entity]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """History runs (not gated: their counts are taken from bronze on the first gate), a gated
    ordinary month, then a gated month with 70% of its orders' e-mails missing."""
    root = tmp_path_factory.mktemp("fill") / "data"
    config = web_shop(root)
    orders = root / "landing" / "ecom" / "orders"
    held = root.parent / "held"
    held.mkdir()
    later = [*HISTORY_MONTHS, NORMAL_MONTH, BLANKED_MONTH]
    for month in later:
        shutil.move(orders / f"orders_{month}.jsonl", held)
    load_source(config, "ecom", run_id(1))  # everything before May, all customers and events
    for day, month in enumerate(HISTORY_MONTHS, start=2):
        shutil.move(held / f"orders_{month}.jsonl", orders)
        load_source(config, "ecom", run_id(day))
    shutil.move(held / f"orders_{NORMAL_MONTH}.jsonl", orders)
    load_source(config, "ecom", run_id(6))
    normal = run_gate(config, ["bronze"], run_id(6))
    blanked = blank_emails(held / f"orders_{BLANKED_MONTH}.jsonl", 0.7)
    shutil.move(held / f"orders_{BLANKED_MONTH}.jsonl", orders)
    load_source(config, "ecom", run_id(7))
    drifted = run_gate(config, ["bronze"], run_id(7))
    return {"root": root, "normal": normal, "drifted": drifted, "blanked": blanked}


def test_an_ordinary_run_passes_the_fill_rate_rule_for_every_column(runs):
    [orders] = fill_rule(runs["normal"])
    assert orders.success and orders.source == "ecom" and orders.checked > 10  # one per judged column
    assert orders.checked == orders.passed
    assert fill_rule(runs["normal"], "customers") == []  # landed nothing this run: not judged


def test_a_column_left_mostly_blank_fails_the_rule_naming_column_share_and_history(runs):
    [orders] = fill_rule(runs["drifted"])
    assert (orders.success, orders.severity, orders.dimension) == (False, "warning", "completeness")
    assert orders.checked - orders.passed == 1
    [sample] = orders.details["sample"]
    landed = delta.read(runs["root"] / "lake" / "bronze" / "ecom__orders")
    rows = landed.filter(pl.col("_batch_id") == run_id(7)).height
    assert sample["column_name"] == "email" and sample["rows"] == rows
    assert sample["fill_share"] == pytest.approx(1 - runs["blanked"] / rows, abs=1e-4)
    assert sample["history_median_share"] == 1.0 and sample["history_runs"] == 6  # runs 1-6
    assert sample["fill_drop"] >= 0.6 and sample["robust_z"] <= -3.5
    warning = next(w for w in runs["drifted"].summary()["warnings"] if "bronze_fill_rate" in w)
    assert "[source ecom]" in warning and '"column_name": "email"' in warning


def test_the_result_and_the_stored_history_are_in_the_quality_tables(runs):
    quality = runs["root"] / "lake" / "quality"
    results = delta.read(quality / "dq_results").filter(
        (pl.col("suite") == "bronze_fill_rate") & (pl.col("run_id") == run_id(7))
    )
    assert results.select("entity", "success").rows() == [("orders", False)]
    profile = delta.read(quality / "fill_profile")
    # the first gate counted the earlier runs from bronze; each gate counted its own run
    orders = profile.filter(pl.col("entity") == "orders")
    assert sorted(orders.get_column("batch_id").unique()) == [run_id(day) for day in range(1, 8)]
    assert orders.group_by("batch_id", "column_name").len().get_column("len").max() == 1
    email = orders.filter((pl.col("batch_id") == run_id(7)) & (pl.col("column_name") == "email")).row(
        0, named=True
    )
    assert email["rows"] - email["filled"] == runs["blanked"]


def test_every_column_the_gates_stored_is_in_the_privacy_catalogue(runs):
    from privacy.catalogue import lake_tables, unclassified_columns

    config = load_config(REPO_ROOT / "cdp.yaml", data_root=runs["root"])
    tables = [t for t in lake_tables(LakePaths.at(runs["root"])) if t.layer == "quality"]
    assert "fill_profile" in {t.table for t in tables}
    assert unclassified_columns(config, tables) == []


def test_a_big_run_is_counted_on_at_most_max_rows_rows_and_a_vanished_run_is_marked(runs):
    """The initial load (run 1: every order before May) read whole, then capped at 50 rows."""
    from quality.catalog import Catalog
    from quality.derived import bronze_fill_counts

    landed = delta.read(runs["root"] / "lake" / "bronze" / "ecom__orders", ["_batch_id"])
    initial, last = (landed.filter(pl.col("_batch_id") == run_id(day)).height for day in (1, 7))
    with Catalog(LakePaths.at(runs["root"]), {"run_id": run_id(7)}) as catalog:
        assert catalog.ensure("bronze.ecom__orders")
        whole = bronze_fill_counts(catalog, "ecom__orders", [run_id(1), run_id(7)], 1_000_000)
        capped = bronze_fill_counts(catalog, "ecom__orders", [run_id(1)], 50)
        gone = bronze_fill_counts(catalog, "ecom__orders", [run_id(9), run_id(7)], 50)
    rows = dict(whole.select("batch_id", "rows").unique().iter_rows())
    assert rows == {run_id(1): initial, run_id(7): last} and initial > 50
    assert capped.get_column("rows").unique().to_list() == [50]
    assert set(capped.get_column("column_name")) == set(whole.get_column("column_name"))
    assert "_batch_id" not in set(whole.get_column("column_name"))  # lineage is not profiled
    # a run bronze does not hold (a file re-delivered since) is marked, so it is not looked for again
    marker = gone.filter(pl.col("batch_id") == run_id(9))
    assert marker.select("column_name", "rows", "filled").rows() == [(None, 0, 0)]
