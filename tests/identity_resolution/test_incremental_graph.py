"""The saved graph followed through the lake: merges and splits reach the id history table, and
the graph health names the largest customers."""

from __future__ import annotations

import json
from datetime import datetime

import polars as pl

from identity_resolution import service, store
from warehouse import delta
from warehouse.paths import LakePaths

from .conftest import records, run, with_identity


def silver(rows: list[dict[str, str]]) -> pl.DataFrame:
    """Silver customer_records (the columns resolve reads) for pos records `pos:<id>`."""
    return pl.DataFrame(
        [
            {
                "record_id": f"pos:{row['id']}",
                "source": "pos",
                "source_record_id": row["id"],
                "full_name": row.get("name", "Li Na"),
                "email": row.get("email"),
                "phone": row.get("phone"),
                "updated_at": datetime(2025, 1, 1),
            }
            for row in rows
        ],
        schema_overrides={"email": pl.String, "phone": pl.String},
    )


def history_of(paths: LakePaths, batch_id: str) -> set[tuple[str, str, str | None]]:
    history = delta.read(paths.identity(store.HISTORY)).filter(pl.col("run_id") == batch_id)
    return set(history.select("event", "customer_id", "related_customer_id").iter_rows())


def ids_in_lake(paths: LakePaths) -> dict[str, str]:
    return dict(delta.read(paths.identity(store.LINKS), ["record_id", "customer_id"]).iter_rows())


def test_a_new_record_bridging_two_customers_merges_them_in_the_lakes_id_history(config):
    config = with_identity(config)
    paths = LakePaths.at(config.data_root)
    day1 = silver([{"id": "1", "email": "lina@qq.com"}, {"id": "2", "phone": "+8613700137000"}])
    delta.write(day1, paths.silver("customer_records"), "overwrite")
    assert service.resolve_lake(config, "b1")["customers"] == 2
    before = ids_in_lake(paths)

    bridge = silver([{"id": "3", "email": "lina@qq.com", "phone": "+8613700137000"}])
    delta.write(pl.concat([day1, bridge]), paths.silver("customer_records"), "overwrite")
    summary = service.resolve_lake(config, "b2")
    assert (summary["mode"], summary["customers"]) == ("incremental", 1)
    after = ids_in_lake(paths)
    survivor = after["pos:1"]
    assert survivor in set(before.values())  # one of the two ids lives on
    absorbed = (set(before.values()) - {survivor}).pop()
    assert history_of(paths, "b2") == {("merged", survivor, absorbed), ("retired", absorbed, survivor)}


def test_a_blocklist_entry_on_a_full_run_splits_an_earlier_merge_and_records_the_split(config):
    paths = LakePaths.at(config.data_root)
    shared_phone = "+8613561728394"
    day = silver([{"id": "1", "phone": shared_phone}, {"id": "2", "phone": shared_phone}])
    delta.write(day, paths.silver("customer_records"), "overwrite")
    service.resolve_lake(with_identity(config, cardinality_limits=[]), "b1")
    merged = ids_in_lake(paths)
    assert merged["pos:1"] == merged["pos:2"]

    stricter = with_identity(config, cardinality_limits=[], blocklist={"exact": {"phone": [shared_phone]}})
    summary = service.resolve_lake(stricter, "b2", full=True)
    assert (summary["mode"], summary["customers"]) == ("full", 2)
    split = ids_in_lake(paths)
    assert split["pos:1"] == merged["pos:1"] != split["pos:2"]  # the id stays with the first record
    assert history_of(paths, "b2") == {("split", split["pos:2"], merged["pos:1"])}


def test_the_graph_health_names_the_largest_customers_with_their_sources():
    day = records(
        [
            {"record_id": "pos:1", "source": "pos", "full_name": "王芳", "phone": "13822761354"},
            {"record_id": "ecom:1", "source": "ecom", "full_name": "Wang Fang", "phone": "+8613822761354"},
            {"record_id": "pos:2", "source": "pos", "full_name": "李娜", "phone": "13955501822"},
        ]
    )
    health = run(day).health
    largest = health.filter(pl.col("metric") == "largest_clusters")
    assert largest["value"].to_list() == [2.0]
    top = json.loads(largest["detail"][0])
    assert [(c["records"], c["sources"]) for c in top] == [(2, "ecom,pos"), (1, "pos")]
    assert list(top[0]) == ["customer_id", "records", "sources"]
