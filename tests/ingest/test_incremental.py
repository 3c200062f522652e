"""The daily run rebuilds only what changed: incremental silver is the silver a full build gives.

Given the generator's small data set loaded and standardized, and then one more day of exports
(`datagen.generate_increment`: day files beside the monthly ones, new customer records appended to
the full-export files, whose appended records alone are read: `test_appends.py`), the daily
standardize rebuilds only the keys whose bronze rows changed and carries the rest over. A second
data root that loads both days at once and builds silver from scratch must hold the same silver.
A hand-written case pins a corrected re-delivery: its removed and changed rows leave silver.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal

import polars as pl
import pytest

from ingest.loader import load_source
from ingest.standardize import TARGETS, standardize
from ingest.tables import replace_keys
from tests.ingest import landing as exports
from tests.ingest.conftest import Lake
from warehouse import delta
from warehouse.config import REPO_ROOT, load_config
from warehouse.paths import LakePaths

datagen = pytest.importorskip("datagen")
from datagen.dataset import MANIFEST  # noqa: E402

SOURCES = ("pos", "ecom", "social", "service", "loyalty", "survey")
SILVER = [member for members in TARGETS.values() for member in members] + ["dedup_log"]


def _load(root, batch_id):
    config = load_config(REPO_ROOT / "cdp.yaml", data_root=root)
    for source in SOURCES:
        load_source(config, source, batch_id)
    return standardize(config, batch_id)


@pytest.fixture(scope="module")
def daily_and_full(tmp_path_factory):
    """(daily summary, silver built day by day, silver built from both days at once)."""
    generated = tmp_path_factory.mktemp("generated")
    datagen.generate_dataset(
        out_dir=generated, customers=150, seed=7, config=load_config(REPO_ROOT / "cdp.yaml")
    )
    daily = tmp_path_factory.mktemp("daily") / "data"
    daily.mkdir()
    (daily / "landing").symlink_to(generated / "landing")
    _load(daily, "day0")
    datagen.generate_increment(generated, _end_date(generated) + timedelta(days=1))
    summary = _load(daily, "day1")
    full = tmp_path_factory.mktemp("full") / "data"
    full.mkdir()
    (full / "landing").symlink_to(generated / "landing")
    _load(full, "day1")
    return summary, Lake(LakePaths.at(daily)), Lake(LakePaths.at(full))


def _end_date(generated) -> date:
    """The last day of the generated data set: the day after it is the first increment."""
    manifest = json.loads((generated / "truth" / MANIFEST).read_text(encoding="utf-8"))
    return date.fromisoformat(manifest["settings"]["end_date"])


def test_the_daily_run_rebuilds_only_the_changed_keys(daily_and_full):
    summary, daily, _ = daily_and_full
    entities = summary["entities"]
    for target in ("customer_records", "orders"):  # a 150-people day may bring no web events
        assert entities[target]["status"] == "incremental", entities
        assert 0 < entities[target]["keys_rebuilt"] < daily.silver(target).height / 2


@pytest.mark.parametrize("entity", SILVER)
def test_incremental_silver_is_the_silver_of_a_full_build(daily_and_full, entity):
    _, daily, full = daily_and_full
    step, once = daily.silver(entity), full.silver(entity)
    assert step.height == once.height
    columns = [c for c in once.columns if c not in ("_batch_id", "batch_id")]
    assert step.select(columns).sort(columns).equals(once.select(columns).sort(columns))


def test_a_corrected_redelivery_replaces_its_silver_rows_and_a_copy_next_month_stays_removed(
    config, landing, lake
):
    march = [exports.ticket_line("T1", 1), exports.ticket_line("T1", 2), exports.ticket_line("T2", 1)]
    exports.pos_tickets(landing, "2025-03", march)
    exports.pos_tickets(landing, "2025-04", [exports.ticket_line("T3", 1)])
    load_source(config, "pos", "day0")
    standardize(config, "day0")
    # Day 1: March re-delivered without T2 and with T1's second line corrected; T1's first line
    # exported again in May (an exact copy: still removed); T4 is new.
    exports.pos_tickets(
        landing, "2025-03", [exports.ticket_line("T1", 1), exports.ticket_line("T1", 2, amount="5.00")]
    )
    exports.pos_tickets(landing, "2025-05", [exports.ticket_line("T1", 1), exports.ticket_line("T4", 1)])
    load_source(config, "pos", "day1")
    summary = standardize(config, "day1")
    assert summary["entities"]["orders"]["status"] == "incremental"
    # T1, T2 (gone) and T4; T3 too when it shared a Delta data file with March (rewritten by the replace)
    assert 3 <= summary["entities"]["orders"]["keys_rebuilt"] <= 4
    orders = lake.silver("orders").sort("order_id")
    assert orders["order_id"].to_list() == ["pos:T1", "pos:T3", "pos:T4"]
    assert orders["total_amount"].to_list() == [Decimal("1304.00"), Decimal("1299.00"), Decimal("1299.00")]
    assert lake.silver("order_lines").height == 4
    log = lake.silver("dedup_log").select("source", "entity", "duplicate_key", "copies_removed", "kind")
    assert log.rows() == [("pos", "orders", "T1", 1, "exact")]


def test_a_ticket_from_the_far_future_never_reaches_silver_nor_wins_latest_by_daily_or_full(
    config, landing, lake, tmp_path
):
    """A requester's latest contact details win (`latest_by: created_at`): a ticket dated 2999 would
    win forever. It is quarantined on landing, so the daily build and a full build agree."""
    exports.service_tickets(landing)
    load_source(config, "service", "day0")
    standardize(config, "day0")
    april = [
        "T3,R1,王芳,typo@example.com,13800138000,chat,low,logged,question,,2999-01-01 09:00:00,,,1,",
        "T4,R1,王芳,fang.w@example.com,13800138000,chat,low,logged,question,,2025-04-02 09:00:00,,,1,",
    ]
    exports.service_tickets(landing, "2025-04", april)
    load_source(config, "service", "day1")
    summary = standardize(config, "day1")
    assert summary["entities"]["customer_records"]["status"] == "incremental"
    bad = lake.quarantine("service").row(0, named=True)
    assert (bad["file"], bad["row_number"], bad["reason"]) == (
        "service/tickets_2025-04.csv",
        1,
        "implausible_timestamp",
    )
    assert bad["detail"].startswith(
        "field 'created_at': '2999-01-01 09:00:00' is outside its plausible range"
    )
    assert lake.silver("tickets")["ticket_id"].sort().to_list() == ["service:T1", "service:T2", "service:T4"]
    daily = lake.silver("customer_records").filter(pl.col("record_id") == "service:R1")
    assert daily["email"].to_list() == ["fang.w@example.com"]  # the latest plausible ticket's
    full_root = tmp_path / "full"
    full_root.mkdir()
    (full_root / "landing").symlink_to(landing)
    full = load_config(REPO_ROOT / "cdp.yaml", data_root=full_root)
    load_source(full, "service", "day1")
    standardize(full, "day1")
    rebuilt = (
        Lake(LakePaths.at(full_root)).silver("customer_records").filter(pl.col("record_id") == "service:R1")
    )
    assert rebuilt.drop("_batch_id").rows() == daily.drop("_batch_id").rows()


def test_replacing_keys_rewrites_only_the_files_that_hold_them(tmp_path):
    path = tmp_path / "order_lines"
    lines = {"order_id": pl.String, "line_no": pl.Int64, "amount": pl.Int64}
    delta.write(pl.DataFrame({"order_id": ["a", "a", "b"], "line_no": [1, 2, 1], "amount": [1, 2, 3]}), path)
    delta.write(
        pl.DataFrame({"order_id": ["c"], "line_no": [1], "amount": [4]}, schema=lines), path, "append"
    )
    c_file = [f for f in delta.open_table(path).file_uris() if pl.read_parquet(f)["order_id"][0] == "c"]
    # a: one line now; b: gone; d: new
    rebuilt = pl.DataFrame(
        {"order_id": ["a", "a", "d"], "line_no": [1, 3, 1], "amount": [5, 6, 7]}, schema=lines
    )
    replace_keys(
        path, rebuilt.to_arrow(), pl.DataFrame({"order_id": ["a", "b", "d"]}), batch_id="b2", operation="t"
    )
    assert delta.read(path).sort("order_id", "line_no").rows() == [
        ("a", 1, 5),
        ("a", 3, 6),
        ("c", 1, 4),
        ("d", 1, 7),
    ]
    assert set(c_file) <= set(delta.open_table(path).file_uris())  # c's file was not rewritten
    assert delta.plain_parquet_files(path) is not None  # DuckDB readers still scan the files directly
    # only new keys: a plain append
    new = pl.DataFrame({"order_id": ["e"], "line_no": [1], "amount": [8]}, schema=lines)
    before = set(delta.open_table(path).file_uris())
    replace_keys(path, new.to_arrow(), pl.DataFrame({"order_id": ["e"]}), batch_id="b3", operation="t")
    assert before < set(delta.open_table(path).file_uris())
    assert delta.row_count(path) == 5


def test_a_day_where_one_source_of_an_entity_changes_no_key_still_builds_incrementally(config, landing, lake):
    members = exports.pos_members(landing)
    customers = exports.ecom_customers(landing)
    for source in ("pos", "ecom"):
        load_source(config, source, "day0")
    standardize(config, "day0")
    before = lake.silver("customer_records").height
    members.write_bytes(members.read_bytes().replace(b"\n", b"\r\n"))  # the same rows in new bytes
    new_customer = json.loads(customers.read_text(encoding="utf-8").splitlines()[1]) | {"id": 700000003}
    with customers.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(new_customer, ensure_ascii=False) + "\n")
    for source in ("pos", "ecom"):
        load_source(config, source, "day1")
    summary = standardize(config, "day1")  # the tills' keys: none, listed first
    assert summary["entities"]["customer_records"]["status"] == "incremental"
    assert lake.silver("customer_records").height == before + 1
