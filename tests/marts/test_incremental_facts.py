"""Incremental facts: a daily run's incremental dbt build equals a full rebuild of the same lake.

Given a generated data set loaded in full (ingest, standardize, resolve, dbt build), then one
`--increment-day`, a web order delivered again with corrections (cancelled, one line fewer) and a
data steward's force-link that merges two customers, the daily build continues the order and
event facts and the incremental customer marts (purchase summary, lifecycle history, and the
per-customer fingerprints they follow) instead of rebuilding them. Their rows, and the churn scores
computed from them (`customer_clv` on the same CLV predictions), must then be exactly those of
`dbt run --full-refresh` on the same final lake (EXCEPT both ways, every column), and stay so when a
person is deleted from the lake (as an erasure does) with the build database kept.
"""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from datetime import date

import duckdb
import polars as pl
import pytest

from cdp import pipeline
from datagen import generate_dataset, generate_increment
from warehouse import dbt, delta
from warehouse.config import REPO_ROOT, CdpConfig, load_config
from warehouse.paths import LakePaths

PEOPLE = 300
INCREMENT_DAY = date(2026, 11, 1)
FACTS = {  # relation in the build database -> columns compared (all but lineage)
    "intermediate.int_orders__deduplicated": "* exclude (_built_at)",
    "marts.fct_orders": "* exclude (_built_at)",
    "marts.fct_order_lines": "* exclude (_built_at)",
    "marts.fct_events": "* exclude (_built_at)",
    "intermediate.int_customers__fingerprinted": "* exclude (_built_at)",
    "intermediate.int_customers__purchase_summary": "*",
    "marts.customer_lifecycle_history": "* exclude (_built_at)",
    # plain tables over the purchase summary: the churn score compares each one-time buyer with
    # every repeat buyer, so kept summary rows must give the values a full build gives
    "intermediate.int_customers__repeat_gap_survival": "*",
    "marts.customer_clv": "*",
}
# the facts and what they read; the churn score on the CLV predictions the daily build made
FACT_MODELS = (
    "+fct_orders +fct_events +customer_lifecycle_history int_customers__repeat_gap_survival customer_clv"
)


def _load(config: CdpConfig, batch_id: str) -> None:
    """The pipeline's stages up to the marts, as the DAG runs them (gates and publish aside)."""
    for source in pipeline.source_names(config):
        pipeline.ingest(config, source, batch_id)
    pipeline.standardize(config, batch_id)
    pipeline.resolve(config, batch_id)
    pipeline.build_marts(config, batch_id)


def _snapshot(config: CdpConfig) -> duckdb.DuckDBPyConnection:
    """An in-memory copy of every fact as the build database holds it now."""
    con = duckdb.connect()
    con.execute(f"attach '{LakePaths.at(config.data_root).build_duckdb}' as build (read_only)")
    for relation, columns in FACTS.items():
        con.execute(f'create table "{relation}" as select {columns} from build.{relation}')
    con.execute("detach build")
    return con


def _differences(config: CdpConfig, incremental: duckdb.DuckDBPyConnection) -> dict[str, tuple[int, int]]:
    """Rebuild the facts from scratch; per fact, rows only in the incremental / only in the full one."""
    dbt.invoke(config, ["run"], "--select", FACT_MODELS, "--full-refresh")
    incremental.execute(f"attach '{LakePaths.at(config.data_root).build_duckdb}' as build (read_only)")
    found = {}
    for relation, columns in FACTS.items():
        full = f"select {columns} from build.{relation}"
        mine = f'select * from "{relation}"'
        found[relation] = tuple(
            incremental.execute(f"select count(*) from ({a} except all {b})").fetchone()[0]
            for a, b in ((mine, full), (full, mine))
        )
    incremental.execute("detach build")
    return found


def _redeliver_corrected_order(paths: LakePaths) -> tuple[str, int]:
    """A web order with several lines delivered again: cancelled, its last line dropped, updated later.

    Returns the order's id and how many lines it has now.
    """
    for file in sorted((paths.landing / "ecom" / "orders").glob("orders_*.jsonl")):
        for line in file.read_text(encoding="utf-8").splitlines():
            order = json.loads(line)
            if len(order.get("line_items") or []) >= 3 and order.get("status") == "settled":
                order["status"] = "cancelled"
                order["line_items"] = order["line_items"][:-1]
                order["updated_at"] = "2026-11-01T09:00:00+08:00"
                corrected = paths.landing / "ecom" / "orders" / "orders_2026-11-01-corrections.jsonl"
                corrected.write_text(json.dumps(order, ensure_ascii=False) + "\n", encoding="utf-8")
                return f"ecom:{order['id']}", len(order["line_items"])
    raise AssertionError("no settled web order with three lines in the generated data")


def _force_merge(paths: LakePaths) -> tuple[str, str]:
    """A data steward links two records of one person (the generator's truth) that the full load
    left in two customers, both with orders."""
    with duckdb.connect() as con:
        con.register(
            "links", delta.read(paths.identity("identity_links"), ["record_id", "customer_id"]).to_arrow()
        )
        con.register("orders", delta.read(paths.silver("orders"), ["record_id"]).to_arrow())
        a, b = con.execute(
            f"""
            with truth as (
                select source || ':' || source_record_id as record_id, person_id
                from read_parquet('{paths.truth / "identity.parquet"}')
            ),
            buyers as (
                select truth.person_id, links.record_id, links.customer_id
                from links
                inner join truth using (record_id)
                where links.record_id in (select record_id from orders)
            )
            select min(record_id), max(record_id)
            from buyers
            group by person_id
            having count(distinct customer_id) = 2
            order by person_id
            limit 1
            """
        ).fetchone()
    delta.write(
        pl.DataFrame({"record_id_a": [a], "record_id_b": [b], "action": ["link"], "reason": ["test"]}),
        paths.identity("manual_overrides"),
    )
    return a, b


@pytest.fixture(scope="module")
def daily(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("incremental_facts") / "data"
    config = load_config(REPO_ROOT / "cdp.yaml", data_root=root)
    generate_dataset(out_dir=root, customers=PEOPLE, seed=7, config=config)
    _load(config, "b20261031T000000")
    paths = LakePaths.at(root)
    generate_increment(root, INCREMENT_DAY)
    order_id, lines = _redeliver_corrected_order(paths)
    merged = _force_merge(paths)
    _load(config, "b20261101T000000")
    return {"config": config, "paths": paths, "order_id": order_id, "lines": lines, "merged": merged}


def _rows(paths: LakePaths, sql: str) -> list[tuple]:
    with duckdb.connect(str(paths.build_duckdb), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.mark.slow
def test_the_daily_build_continues_the_facts(daily):
    """Orders written by the full load are kept, the day's are added: two build times."""
    built = _rows(
        daily["paths"], "select count(distinct _built_at) from intermediate.int_orders__deduplicated"
    )
    assert built == [(2,)]
    new = _rows(daily["paths"], "select count(*) from marts.fct_orders where order_date >= date '2026-11-01'")
    assert new[0][0] > 0


def _tests_failing_after(daily: dict, relation: str, selected: str, sql: str) -> list[str]:
    """The data tests of `selected` that fail once `sql` has added rows to `relation` of the daily
    build (dbt's test names); the added rows are deleted again."""
    config, paths = daily["config"], daily["paths"]
    with duckdb.connect(str(paths.build_duckdb)) as con:
        last = con.execute(f"select max(rowid) from {relation}").fetchall()[0][0]
        con.execute(sql)
        assert con.execute(f"select max(rowid) from {relation}").fetchall()[0][0] > last, sql
    try:
        result = dbt.invoke(config, ["test"], "--select", selected, check=False)
        return sorted(node.unique_id.split(".")[2] for node in result.failures)
    finally:
        with duckdb.connect(str(paths.build_duckdb)) as con:
            con.execute(f"delete from {relation} where rowid > {last}")


@pytest.mark.slow
def test_a_daily_build_tests_the_keys_it_wrote_and_every_row_across_tables(daily):
    """Key tests of an incremental fact look at the latest build's rows, which are all a
    delete+insert by key can duplicate; `relationships` still looks at every row."""
    selected = (
        "unique_fct_events_event_id relationships_fct_events_customer_id__customer_id__ref_dim_customer_"
    )

    def failing_after(sql: str) -> list[str]:
        failing = _tests_failing_after(daily, "marts.fct_events", selected, sql)
        return [name.split("_customer_id")[0] for name in failing]

    latest = "(select max(_built_at) from marts.fct_events)"
    copy_of = "insert into marts.fct_events select * from marts.fct_events where _built_at {} limit 1"
    assert failing_after(copy_of.format(f"= {latest}")) == ["unique_fct_events_event_id"]
    assert failing_after(copy_of.format(f"< {latest}")) == []  # the full load's keys: not the day's
    orphan = (
        "insert into marts.fct_events select * replace ('no-such-customer' as customer_id) "
        f"from marts.fct_events where _built_at < {latest} limit 1"
    )
    assert failing_after(orphan) == ["relationships_fct_events"]


@pytest.mark.slow
def test_a_daily_build_orders_the_lifecycle_intervals_of_the_customers_it_rewrote(daily):
    """An overlapping interval (a copy of a past one) fails the lifecycle test for a customer the
    daily build rewrote; the full load's customers, rebuilt by customer only, are not ordered again."""
    test = "assert_every_customer_has_one_current_lifecycle_state"
    history = "marts.customer_lifecycle_history"
    latest = f"(select max(_built_at) from {history})"
    copy_of = (
        f"insert into {history} select * from {history} "
        "where not is_current and _built_at {} order by customer_id, valid_from limit 1"
    )
    assert _tests_failing_after(daily, history, test, copy_of.format(f"= {latest}")) == [test]
    assert _tests_failing_after(daily, history, test, copy_of.format(f"< {latest}")) == []


def _built_at(paths: LakePaths, relation: str) -> str:
    schema, table = relation.split(".")
    comment = _rows(
        paths,
        f"select comment from duckdb_tables() where schema_name = '{schema}' and table_name = '{table}'",
    )[0][0]
    return json.loads(comment)["built_at"]


@pytest.mark.slow
def test_the_daily_build_keeps_the_association_rules_until_enough_lines_arrived(daily):
    """A day adds far fewer purchase lines than `rebuild_min_growth` (5%): the rules of the full
    load stay; with the setting at 0 they are rebuilt, equal to a full refresh."""
    config, paths = daily["config"], daily["paths"]
    rules = "marts.association_rules"
    first, daily_build = _built_at(paths, rules), _built_at(paths, "intermediate.int_orders__deduplicated")
    assert first < daily_build

    raw = copy.deepcopy(config.raw)
    raw["marts"]["activation"]["cross_sell"]["rebuild_min_growth"] = 0
    every_run = replace(config, raw=raw)
    dbt.invoke(every_run, ["run"], "--select", "association_rules")
    assert _built_at(paths, rules) > daily_build
    rebuilt = _rows(paths, f"select * from {rules} order by rule_id")
    dbt.invoke(every_run, ["run"], "--select", "association_rules", "--full-refresh")
    assert rebuilt == _rows(paths, f"select * from {rules} order by rule_id")


@pytest.mark.slow
def test_the_corrected_order_and_the_merge_reach_the_facts(daily):
    paths, order_id = daily["paths"], daily["order_id"]
    status, lines = _rows(
        paths,
        "select o.status, count(l.line_no) from marts.fct_orders as o "
        f"left join marts.fct_order_lines as l using (order_id) where o.order_id = '{order_id}' group by all",
    )[0]
    assert (status, lines) == ("cancelled", daily["lines"])
    a, b = daily["merged"]
    owners = _rows(
        paths,
        f"select count(distinct customer_id) from marts.fct_orders where record_id in ('{a}', '{b}')",
    )
    assert owners == [(1,)]


@pytest.mark.slow
def test_a_silver_rewrite_is_rebuilt_only_where_rows_changed(daily):
    """Silver rewritten in new data files: events copied as they were cancel out; orders
    re-stamped with another `_batch_id` (the latest-delivery rule orders by it) are all rebuilt."""
    config, paths = daily["config"], daily["paths"]
    events = delta.read(paths.silver("events"))
    delta.write(events, paths.silver("events"), "overwrite")
    orders = delta.read(paths.silver("orders"))
    delta.write(
        orders.with_columns(pl.lit("b20261102T000000").alias("_batch_id")),
        paths.silver("orders"),
        "overwrite",
    )
    before = _rows(paths, "select max(_built_at) from intermediate.int_orders__deduplicated")[0][0]
    assert dbt.invoke(config, ["run"], "--select", FACT_MODELS).success
    rebuilt = _rows(
        paths, f"select count(*) from intermediate.int_orders__deduplicated where _built_at > '{before}'"
    )
    assert rebuilt == [(orders["order_id"].n_unique(),)]


@pytest.mark.slow
def test_incremental_facts_equal_a_full_rebuild(daily):
    config = daily["config"]
    differences = _differences(config, _snapshot(config))
    assert differences == dict.fromkeys(FACTS, (0, 0))


@pytest.mark.slow
def test_a_month_later_the_customer_marts_follow_the_as_of_date(daily):
    """A day a month later moves the as-of date 30 days: customers whose inputs did not change keep
    their rows, yet those whose last purchase now crosses a lifecycle threshold or leaves a tag
    window are rebuilt, and recency moves on for everyone: still equal to a full refresh."""
    config, paths = daily["config"], daily["paths"]
    before = _rows(paths, "select max(_built_at) from intermediate.int_customers__fingerprinted")[0][0]
    generate_increment(paths.root, date(2026, 12, 1))
    _load(config, "b20261201T000000")
    assert _rows(paths, "select distinct as_of_date from intermediate.int_customers__purchase_summary") == [
        (date(2026, 12, 1),)
    ]
    moved_by_time_only = _rows(
        paths,
        "select count(distinct history.customer_id) from marts.customer_lifecycle_history as history "
        "inner join intermediate.int_customers__fingerprinted as fingerprints using (customer_id) "
        f"where history.valid_from > date '2026-11-01' and fingerprints._built_at <= '{before}'",
    )
    assert moved_by_time_only[0][0] > 0
    assert _differences(config, _snapshot(config)) == dict.fromkeys(FACTS, (0, 0))


@pytest.mark.slow
def test_a_person_deleted_from_the_lake_leaves_the_facts(daily):
    """Erasure deletes the build database; even a kept one must not keep a deleted person's rows."""
    config, paths = daily["config"], daily["paths"]
    dbt.invoke(config, ["run"], "--select", FACT_MODELS)  # continue from the full refresh above
    record_id, customer_id = _rows(
        paths,
        "select record_id, any_value(customer_id) from marts.fct_orders where record_id is not null "
        "group by record_id order by count(*) desc, record_id limit 1",
    )[0]
    order_ids = [
        r[0] for r in _rows(paths, f"select order_id from marts.fct_orders where record_id = '{record_id}'")
    ]
    quoted = ", ".join(f"'{o}'" for o in order_ids)
    for table, predicate in (
        ("orders", f"record_id = '{record_id}'"),
        ("order_lines", f"order_id in ({quoted})"),
        ("events", f"record_id = '{record_id}'"),
        ("customer_records", f"record_id = '{record_id}'"),
    ):
        delta.delete_where(paths.silver(table), predicate)
    delta.delete_where(paths.identity("identity_links"), f"record_id = '{record_id}'")
    incremental = dbt.invoke(config, ["run"], "--select", FACT_MODELS)
    assert incremental.success
    left = _rows(
        paths,
        f"select (select count(*) from marts.fct_orders where record_id = '{record_id}' or order_id in ({quoted}))"
        f" + (select count(*) from marts.fct_order_lines where order_id in ({quoted}))"
        f" + (select count(*) from marts.fct_events where record_id = '{record_id}')"
        f" + (select count(*) from intermediate.int_orders__deduplicated where record_id = '{record_id}')",
    )
    assert left == [(0,)], customer_id
    assert _differences(config, _snapshot(config)) == dict.fromkeys(FACTS, (0, 0))


@pytest.mark.slow
def test_anonymous_events_lose_their_customer_when_their_device_is_seen_on_another(daily):
    """A shared family tablet: the device of a customer's anonymous events turns up on another
    customer's record, so it belongs to nobody and those events to no customer, as a full rebuild
    says."""
    config, paths = daily["config"], daily["paths"]
    assert dbt.invoke(config, ["run"], "--select", FACT_MODELS).success  # continue from the last build
    device, owner = _rows(
        paths,
        "select device_id, any_value(customer_id) from marts.fct_events "
        "where record_id is null and customer_id is not null "
        "group by device_id order by count(*) desc, device_id limit 1",
    )[0]
    records = delta.read(paths.silver("customer_records"))
    links = delta.read(paths.identity("identity_links"), ["record_id", "customer_id"])
    other = (
        records.join(links, on="record_id")
        .filter(pl.col("customer_id") != owner)
        .sort("record_id")
        .item(0, "record_id")
    )
    shared = pl.when(pl.col("record_id") == other).then(pl.lit(device)).otherwise(pl.col("device_id"))
    delta.write(
        records.with_columns(shared.alias("device_id")), paths.silver("customer_records"), "overwrite"
    )

    assert dbt.invoke(config, ["run"], "--select", FACT_MODELS).success

    owners = _rows(
        paths,
        f"select distinct customer_id from marts.fct_events where record_id is null and device_id = '{device}'",
    )
    assert owners == [(None,)]
    assert _differences(config, _snapshot(config)) == dict.fromkeys(FACTS, (0, 0))
