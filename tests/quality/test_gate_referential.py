"""Referential integrity is judged over whole tables on every gate, daily (changed scope) or not.

A parent that disappears leaves its children unchanged: a re-delivered customer export without
some customers orphans their orders, which no changed-rows view shows. So rules that relate a
child table to its parent (orders, events and ledger entries -> customer records, order lines ->
orders) judge the whole child table against the current parent, and say so (`scope` = `full`);
the row-level rules of the same suites still judge only the changed rows.
"""

from __future__ import annotations

import json

import duckdb
import polars as pl
import pytest

from ingest.loader import load_source
from ingest.standardize import standardize
from quality.gate import QualityGateError, run_gate
from quality.scope import CHANGED, FULL
from tests.quality.lake import CHECKED_AT, DAY_RUN, RUN_ID, Lake, clean_lake, generated_web_shop
from warehouse import delta

datagen = pytest.importorskip("datagen")

SILVER_GATE = ["bronze", "silver"]
REDELIVERY_RUN = "b20261101T020000"
DROPPED = 20  # web customers with orders left out of the re-delivered export


def results_of(root, run_id: str, suite: str) -> pl.DataFrame:
    results = delta.read(root / "lake" / "quality" / "dq_results")
    return results.filter((pl.col("run_id") == run_id) & (pl.col("suite") == suite))


@pytest.fixture(scope="module")
def redelivered(tmp_path_factory):
    """Web shop exports landed and gated (full), then customers.jsonl re-delivered without
    twenty customers who have orders, landed, standardized and gated again (a daily gate)."""
    root = tmp_path_factory.mktemp("redelivered") / "data"
    config = generated_web_shop(root)
    first = run_gate(config, SILVER_GATE, RUN_ID)
    orders = delta.read(root / "lake" / "silver" / "orders", ["record_id"])
    buyers = orders.get_column("record_id").drop_nulls().unique().sort().head(DROPPED)
    dropped = {record_id.split(":", 1)[1] for record_id in buyers}
    export = root / "landing" / "ecom" / "customers.jsonl"
    kept = [line for line in export.read_text(encoding="utf-8").splitlines() if line.strip()]
    kept = [line for line in kept if str(json.loads(line)["id"]) not in dropped]
    export.write_text("\n".join(kept) + "\n", encoding="utf-8")
    load_source(config, "ecom", REDELIVERY_RUN)
    standardize(config, REDELIVERY_RUN)
    with pytest.raises(QualityGateError) as raised:
        run_gate(config, SILVER_GATE, REDELIVERY_RUN)
    orphaned = orders.filter(pl.col("record_id").is_in(buyers.implode())).height
    return {"root": root, "first": first, "error": raised.value, "buyers": buyers, "orphaned": orphaned}


def test_customers_dropped_by_a_redelivered_export_fail_the_daily_gate_on_their_orders(redelivered):
    """The orders did not change, so no changed-rows rule sees them: the whole table is judged."""
    assert redelivered["first"].critical_failures == []
    error = redelivered["error"]
    assert error.report is not None and error.report.scope == CHANGED
    critical = {(o.suite, o.column, o.source) for o in error.report.critical_failures}
    assert ("silver_orders", "unknown_customer_share", "ecom") in critical
    message = str(error)
    assert "unknown_customer_share" in message
    [rule] = (
        results_of(redelivered["root"], REDELIVERY_RUN, "silver_orders")
        .filter(pl.col("column") == "unknown_customer_share")
        .iter_rows(named=True)
    )
    every_order = delta.read(redelivered["root"] / "lake" / "silver" / "orders").height
    assert (rule["checked"], rule["checked"] - rule["passed"]) == (every_order, redelivered["orphaned"])
    assert rule["scope"] == FULL and rule["severity"] == "critical"


def test_the_sample_names_the_landing_file_of_each_orphaned_order(redelivered):
    [failure] = [
        o for o in redelivered["error"].report.critical_failures if o.column == "unknown_customer_share"
    ]
    sample = failure.details["sample"][0]["sample_unknown_customers"]
    assert sample and all(" -> ecom:" in entry and "(ecom/orders/orders_" in entry for entry in sample)
    assert any(record_id in entry for record_id in redelivered["buyers"] for entry in sample)


def test_the_unchanged_orders_row_level_rules_judge_nothing_that_day(redelivered):
    orders = results_of(redelivered["root"], REDELIVERY_RUN, "silver_orders")
    assert set(orders["column"]) == {"unknown_customer_share"}  # the other rules had no changed order
    assert set(orders["scope"]) == {FULL}


# --- every child -> parent rule, on the small lake ------------------------------------------------
def drop_parents(lake: Lake) -> dict[str, str]:
    """Remove (as a new commit) one customer record with events and a ledger entry, and one order
    with lines: the children stay as they were."""
    events = lake.silver("events").filter(pl.col("record_id").is_not_null())
    ledger = lake.silver("loyalty_ledger")
    member = ledger.get_column("record_id").drop_nulls().sort()[0]
    visitor = events.get_column("record_id").sort()[0]
    order = lake.silver("order_lines").get_column("order_id").sort()[0]
    records = lake.silver("customer_records")
    lake.replace_silver("customer_records", records.filter(~pl.col("record_id").is_in([member, visitor])))
    lake.replace_silver("orders", lake.silver("orders").filter(pl.col("order_id") != order))
    return {"member": member, "visitor": visitor, "order": order}


@pytest.fixture(scope="module")
def parents_gone(tmp_path_factory):
    """A clean lake gated (full), its parents then removed, gated again (a daily gate)."""
    lake = clean_lake(tmp_path_factory.mktemp("parents") / "data")
    run_gate(lake.config, SILVER_GATE, RUN_ID, checked_at=CHECKED_AT)
    dropped = drop_parents(lake)
    with pytest.raises(QualityGateError) as raised:
        run_gate(lake.config, SILVER_GATE, DAY_RUN, checked_at=CHECKED_AT)
    return {"lake": lake, "dropped": dropped, "error": raised.value}


def test_lines_of_an_order_gone_from_silver_fail_the_daily_gate(parents_gone):
    error, order = parents_gone["error"], parents_gone["dropped"]["order"]
    assert error.report.scope == CHANGED
    critical = {(o.suite, o.column) for o in error.report.critical_failures}
    assert ("silver_order_lines", "orphan_lines") in critical
    assert order in str(error)
    source = order.split(":", 1)[0]
    lines = (
        parents_gone["lake"].silver("order_lines").filter(pl.col("order_id").str.starts_with(f"{source}:"))
    )
    judged = results_of(parents_gone["lake"].root, DAY_RUN, "silver_order_lines")
    # the lines did not change: only the referential rule judged them, every line of the source
    assert set(judged["column"]) == {"orphan_lines"} and set(judged["scope"]) == {FULL}
    [rule] = judged.filter(pl.col("source") == source).iter_rows(named=True)
    orphans = lines.filter(pl.col("order_id") == order).height
    assert (rule["checked"], rule["checked"] - rule["passed"]) == (lines.height, orphans)


def test_events_and_ledger_entries_of_a_customer_gone_are_warned_about(parents_gone):
    warned = {(o.suite, o.column): o for o in parents_gone["error"].report.warnings}
    dropped = parents_gone["dropped"]
    events = warned[("silver_events", "unknown_customer_share")]
    ledger = warned[("silver_loyalty_ledger", "unknown_member_share")]
    assert dropped["visitor"] in json.dumps(events.details) and dropped["member"] in json.dumps(
        ledger.details
    )
    for suite, column in (
        ("silver_events", "unknown_customer_share"),
        ("silver_loyalty_ledger", "unknown_member_share"),
    ):
        rows = results_of(parents_gone["lake"].root, DAY_RUN, suite)
        # the events and the ledger did not change: only their referential rule judged them
        assert set(rows["column"]) == {column} and set(rows["scope"]) == {FULL}, suite


# --- gold: an orphaned order is not a guest checkout ---------------------------------------------
def test_an_order_whose_customer_record_vanished_fails_the_gold_gate_and_a_guest_order_passes(tmp_path):
    """A record left out of a re-delivered export loses its identity link, so its orders' rebuilt
    fact rows have a null customer_id, like guest checkouts. They still name the record, which
    makes them orphans: any of them warns, and over 1% of a source's orders (silver_orders' limit)
    stops the publish, naming order and record; orders naming no record (anonymous sales) pass."""
    from identity_resolution.service import resolve_lake
    from tests.quality.lake import write_build_database

    root = tmp_path / "data"
    config = generated_web_shop(root)
    resolve_lake(config, RUN_ID)
    lake = Lake(root, config)
    write_build_database(lake)
    orders = lake.silver("orders").filter(pl.col("source") == "ecom")
    assert run_gate(config, ["gold"], RUN_ID).critical_failures == []

    # the re-delivery: customers.jsonl without the first buyers (over 1% of the orders), and a
    # new guest checkout (no customer)
    per_buyer = orders.group_by("record_id").len().drop_nulls("record_id").sort("record_id")
    enough = per_buyer.filter(pl.col("len").cum_sum().shift(1, fill_value=0) <= 0.01 * orders.height)
    buyers = enough.get_column("record_id")
    export = root / "landing" / "ecom" / "customers.jsonl"
    lines = [line for line in export.read_text(encoding="utf-8").splitlines() if line.strip()]
    dropped = {buyer.split(":", 1)[1] for buyer in buyers}
    export.write_text(
        "\n".join(line for line in lines if str(json.loads(line)["id"]) not in dropped) + "\n",
        encoding="utf-8",
    )
    [order_file] = sorted((root / "landing" / "ecom" / "orders").glob("orders_*.jsonl"))[-1:]
    guest = json.loads(order_file.read_text(encoding="utf-8").splitlines()[0])
    guest = {**guest, "id": 990000001, "name": "#990000001", "customer_id": None}
    (order_file.parent / "orders_guest.jsonl").write_text(json.dumps(guest) + "\n", encoding="utf-8")
    load_source(config, "ecom", REDELIVERY_RUN)
    standardize(config, REDELIVERY_RUN)
    resolve_lake(config, REDELIVERY_RUN)
    write_build_database(lake)
    orphaned = orders.filter(pl.col("record_id").is_in(buyers.implode()))
    assert orphaned.height > 0.01 * (orders.height + 1)

    with pytest.raises(QualityGateError) as raised:
        run_gate(config, ["gold"], REDELIVERY_RUN)
    [failure] = raised.value.report.critical_failures
    assert (failure.suite, failure.column, failure.source) == (
        "gold_fct_orders",
        "vanished_record_share",
        "ecom",
    )
    first = orphaned.sort("order_id").row(0, named=True)
    assert f"{first['order_id']} -> record {first['record_id']} (no customer)" in str(raised.value)
    results = results_of(root, REDELIVERY_RUN, "gold_fct_orders")
    for column in ("orders_of_vanished_records", "vanished_record_share"):
        [rule] = results.filter(pl.col("column") == column).iter_rows(named=True)
        assert (rule["checked"], rule["checked"] - rule["passed"]) == (orders.height + 1, orphaned.height)
    [unknown] = results.filter(pl.col("column") == "orders_of_unknown_customers").iter_rows(named=True)
    assert unknown["checked"] == unknown["passed"]  # every customer_id set is in dim_customer
    fct = duckdb.connect(str(lake.paths.build_duckdb), read_only=True)
    with fct:
        [(guest_customer, guest_record)] = fct.execute(
            "select customer_id, record_id from marts.fct_orders where order_id = 'ecom:990000001'"
        ).fetchall()
    assert (guest_customer, guest_record) == (None, None)  # the guest order is in the mart...
    assert "ecom:990000001" not in json.dumps(failure.details)  # ...and is no orphan
