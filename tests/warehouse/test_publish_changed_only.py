"""A daily publish rewrites only the marts that changed, everywhere they are published.

Given a published data root, a new build whose marts are fingerprinted (rows, columns, treatment):
an unchanged mart keeps its Parquet file, its `cdp.duckdb` table and its role-database tables; a
changed one is rewritten in all of them; a failed publish leaves the last good marts in place.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import duckdb
import pytest

from cdp.pipeline import publish
from privacy.layout import PrivacyPaths
from privacy.roles import publish_roles
from tests.fixtures.tiny_lake import BATCH
from warehouse.config import CdpConfig
from warehouse.paths import LakePaths
from warehouse.publish import (
    PUBLISH_LOG_TABLE,
    finish_build,
    mart_fingerprints,
    swap_folder,
    sync_since_built,
    sync_table,
)
from warehouse.publish import publish as publish_marts

NEXT = "b20260701T000000"


def _rebuild(config: CdpConfig, batch: str, *statements: str) -> None:
    """A new successful build for `batch`: the last build's marts with `statements` applied."""
    with duckdb.connect(str(LakePaths.at(config.data_root).build_duckdb)) as con:
        for sql in statements:
            con.execute(sql)
    finish_build(config, batch)


def _files(root: Path) -> dict[str, tuple]:
    """Each published mart's identity: a rewritten file is a new inode with a new mtime (a folder
    mart: those of each of its monthly files)."""

    def identity(p: Path) -> tuple:
        return (p.stat().st_ino, p.stat().st_mtime_ns)

    marts = root / "marts"
    files: dict[str, tuple] = {p.stem: identity(p) for p in sorted(marts.glob("*.parquet"))}
    for folder in sorted(p for p in marts.iterdir() if p.is_dir()):
        files[folder.name] = tuple((f.name, *identity(f)) for f in sorted(folder.glob("*.parquet")))
    return files


def _count(database: Path, table: str) -> int:
    with duckdb.connect(str(database), read_only=True) as con:
        return con.execute(f'select count(*) from "{table}"').fetchall()[0][0]


def _published_orders(config: CdpConfig) -> int:
    return _count(LakePaths.at(config.data_root).duckdb, "fct_orders")


def test_publishing_an_unchanged_build_again_rewrites_no_mart(published):
    root = published.data_root
    before = _files(root)
    _rebuild(published, NEXT)

    summary = publish(published, NEXT)

    assert sorted(summary["unchanged_marts"]) == sorted(before)
    assert _files(root) == before
    with duckdb.connect(str(root / "cdp.duckdb"), read_only=True) as con:
        log = con.execute(
            f"select batch_id, bool_or(rewritten) from {PUBLISH_LOG_TABLE} group by 1"
        ).fetchall()
    assert log == [(NEXT, False)]


def test_only_the_changed_mart_is_rewritten_in_parquet_cdp_duckdb_and_every_role_database(published, caplog):
    root = published.data_root
    before = _files(root)
    orders = _published_orders(published)
    customers = _count(root / "cdp.duckdb", "dim_customer")
    _rebuild(
        published,
        NEXT,
        "delete from marts.fct_orders where order_id = (select min(order_id) from marts.fct_orders)",
    )

    with caplog.at_level(logging.INFO, logger="cdp.privacy.roles"):
        summary = publish(published, NEXT)

    assert "fct_orders" not in summary["unchanged_marts"]
    assert set(summary["unchanged_marts"]) == set(before) - {"fct_orders"}
    after = _files(root)
    assert {m for m in before if after[m] != before[m]} == {"fct_orders"}
    assert (
        duckdb.sql(f"select count(*) from {_source(LakePaths.at(root).mart('fct_orders'))}").fetchall()[0][0]
        == orders - 1
    )
    assert _published_orders(published) == orders - 1
    roles = PrivacyPaths.of(published).roles
    for role in ("data_admin", "market_analyst", "sales_rep", "customer_service_rep"):
        assert _count(roles / f"{role}.duckdb", "fct_orders") == orders - 1, role
    assert _count(roles / "market_analyst.duckdb", "dim_customer") == customers
    assert "market_analyst.duckdb: kept" in caplog.text


def test_a_failed_publish_leaves_the_last_good_marts_and_the_next_one_publishes_the_change(published):
    root = published.data_root
    snapshot = {
        p: p.read_bytes() for p in [*sorted((root / "marts").rglob("*.parquet")), root / "cdp.duckdb"]
    }
    orders = _published_orders(published)
    _rebuild(
        published,
        NEXT,
        "delete from marts.fct_orders where order_id = (select min(order_id) from marts.fct_orders)",
    )

    def broken(build_db: Path, out_dir: Path, marts: list[str], parts: dict) -> dict:
        raise RuntimeError("disk full while staging")

    with pytest.raises(RuntimeError, match="disk full"):
        publish_marts(published, NEXT, stage_marts=broken)

    assert {p: p.read_bytes() for p in snapshot} == snapshot
    summary = publish(published, NEXT)
    assert "fct_orders" not in summary["unchanged_marts"]
    assert _published_orders(published) == orders - 1


def test_a_changed_treatment_rewrites_every_mart(published):
    raw = dict(published.raw)
    privacy = dict(raw["privacy"])
    privacy["masking"] = {**privacy["masking"], "email_keep_first": 2}
    raw["privacy"] = privacy
    changed = CdpConfig(path=published.path, raw=raw, data_root=published.data_root)
    _rebuild(changed, NEXT)

    summary = publish(changed, NEXT)

    assert summary["unchanged_marts"] == []


def test_role_databases_follow_a_mart_file_filtered_after_publishing(published):
    """Erasure filters the published Parquet in place; role tables built from it are built again."""
    root = published.data_root
    mart = sorted(LakePaths.at(root).mart("fct_orders").glob("*.parquet"))[0]  # one monthly file
    orders = _published_orders(published)
    filtered = mart.with_name(f".{mart.name}.partial")
    duckdb.sql(
        f"copy (select * from '{mart}' where order_id <> (select min(order_id) from '{mart}')) to '{filtered}' (format parquet)"
    )
    filtered.replace(mart)

    publish_roles(published, reuse=True)

    roles = PrivacyPaths.of(published).roles
    for role in ("market_analyst", "sales_rep", "customer_service_rep"):
        assert _count(roles / f"{role}.duckdb", "fct_orders") == orders - 1, role


def test_a_narrowed_grant_builds_the_role_database_from_nothing(published, caplog):
    raw = dict(published.raw)
    privacy = dict(raw["privacy"])
    roles = dict(privacy["roles"])
    analyst = dict(roles["market_analyst"])
    analyst["marts"] = {
        **analyst["marts"],
        "dim_customer": [c for c in analyst["marts"]["dim_customer"] if c != "city"],
    }
    roles["market_analyst"] = analyst
    privacy["roles"] = roles
    raw["privacy"] = privacy
    narrowed = CdpConfig(path=published.path, raw=raw, data_root=published.data_root)

    with caplog.at_level(logging.INFO, logger="cdp.privacy.roles"):
        publish_roles(narrowed, reuse=True)

    database = PrivacyPaths.of(narrowed).role_db("market_analyst")
    with duckdb.connect(str(database), read_only=True) as con:
        columns = {
            r[0]
            for r in con.execute(
                "select column_name from duckdb_columns() where table_name = 'dim_customer'"
            ).fetchall()
        }
    assert "city" not in columns and "customer_id" in columns
    assert "market_analyst.duckdb: kept" not in caplog.text


def _source(path: Path) -> str:
    """A published mart in SQL: one file, or every file of its folder."""
    return f"read_parquet('{path}/*.parquet')" if path.is_dir() else f"'{path}'"


def _differences(database: Path, table: str, parquet: Path) -> int:
    """Rows in one and not the other (both ways): 0 when the table holds exactly the Parquet's rows."""
    with duckdb.connect(str(database), read_only=True) as con:
        return con.execute(
            f'select count(*) from ((select * from "{table}" except all select * from {_source(parquet)}) '
            f'union all (select * from {_source(parquet)} except all select * from "{table}"))'
        ).fetchall()[0][0]


def test_a_fact_that_changed_a_little_is_updated_row_by_row_everywhere(published, caplog):
    """dbt builds the facts incrementally: cdp.duckdb and the role databases apply only the rows that
    differ, found by the build time a rebuilt row carries (`_built_at`) and the keys the build dropped."""
    root = published.data_root
    orders = _published_orders(published)
    _rebuild(
        published,
        NEXT,
        "delete from marts.fct_orders where order_id = (select min(order_id) from marts.fct_orders)",
        # a rebuilt order, as dbt writes it: stamped with the new run's start
        "update marts.fct_orders set status = 'returned', _built_at = _built_at + interval 1 day "
        "where order_id = (select max(order_id) from marts.fct_orders)",
    )

    with caplog.at_level(logging.INFO):
        publish(published, NEXT)

    # by build time: cdp.duckdb (two of its eight months changed: too many to replace months) and
    # the role database without the month column; the two with it replace the two months
    assert caplog.text.count("fct_orders: 1 rows built since") == 2
    with duckdb.connect(str(root / "cdp.duckdb"), read_only=True) as con:
        log_rows = con.execute(f"select mart, delta_rows, sync_key from {PUBLISH_LOG_TABLE}").fetchall()
    delta = {mart: rows for mart, rows, _ in log_rows}
    assert delta["fct_orders"] == 3  # the changed order deleted and inserted, the dropped one deleted
    assert {mart: key for mart, _, key in log_rows}["fct_orders"] == "order_id"  # by build time
    assert delta["dim_customer"] is None  # not an incremental mart: kept or loaded whole
    parquet = LakePaths.at(root).mart("fct_orders")
    assert _differences(root / "cdp.duckdb", "fct_orders", parquet) == 0
    assert _published_orders(published) == orders - 1
    roles = PrivacyPaths.of(published).roles
    for role in ("market_analyst", "sales_rep", "customer_service_rep"):
        assert _count(roles / f"{role}.duckdb", "fct_orders") == orders - 1, role
    assert _differences(roles / "market_analyst.duckdb", "fct_orders", parquet) == 0
    assert "sales_rep.duckdb: kept 3 unchanged tables, updating 1 row by row" in caplog.text


def _parquet_differences(a: Path, b: Path) -> int:
    """Rows in one published mart (file or folder) and not the other (both ways)."""
    with duckdb.connect() as con:
        return con.execute(
            f"select count(*) from ((select * from {_source(a)} except all select * from {_source(b)}) "
            f"union all (select * from {_source(b)} except all select * from {_source(a)}))"
        ).fetchall()[0][0]


def _published_whole(
    config: CdpConfig, batch: str, tmp_path: Path, mart: str, cluster_by: dict | None = None
) -> Path:
    """The mart as a publish writes it from the whole build: published on a copy of the data root
    whose file of `mart` is gone (so nothing can be carried forward); with `cluster_by`, under
    that `publish.cluster_by`."""
    root = tmp_path / "whole"
    shutil.copytree(config.data_root, root, symlinks=True)
    published = LakePaths.at(root).mart(mart)
    shutil.rmtree(published) if published.is_dir() else published.unlink()
    copy = CdpConfig(path=config.path, raw=config.raw, data_root=root)
    if cluster_by is not None:
        raw = {**copy.raw, "publish": {**copy.raw["publish"], "cluster_by": cluster_by}}
        copy = CdpConfig(path=copy.path, raw=raw, data_root=root)
    publish(copy, batch)
    return LakePaths.at(root).mart(mart)


def _republished(config: CdpConfig, batch: str, scratch: Path, caplog, *statements: str) -> Path:
    """A new build for `batch` (the last one with `statements` applied) published, its log in
    `caplog`; returns fct_events as a publish of the whole build writes it (`_published_whole`)."""
    _rebuild(config, batch, *statements)
    whole = _published_whole(config, batch, scratch, "fct_events")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="cdp.publish"):
        publish(config, batch)
    return whole


def test_an_incremental_fact_carries_its_published_file_forward_and_treats_only_the_rows_built_since(
    published, tmp_path, caplog
):
    """fct_events' device and session ids are pseudonymised: a day's publish treats only the rows
    dbt rebuilt (newer `_built_at`) and takes every other row from the published file, which gives
    the very file a publish of the whole build writes; a key the build dropped makes it write whole."""
    root = published.data_root
    events = LakePaths.at(root).mart("fct_events")
    before = events.stat().st_ino
    whole = _republished(
        published,
        NEXT,
        tmp_path,
        caplog,
        # a rebuilt event, as dbt writes it: a new session id (hashed when published), stamped later
        "update marts.fct_events set session_id = 'session-rebuilt', _built_at = _built_at + interval 1 day "
        "where event_id = (select max(event_id) from marts.fct_events)",
    )
    with duckdb.connect(str(LakePaths.at(root).build_duckdb), read_only=True) as con:
        built = con.execute("select count(*) from marts.fct_events").fetchall()[0][0]

    assert "fct_events: 1 rows built since" in caplog.text
    assert "the others carried forward from it" in caplog.text
    assert events.stat().st_ino != before
    assert _count_parquet(events) == built
    assert _parquet_differences(events, whole) == 0
    assert _differences(root / "cdp.duckdb", "fct_events", events) == 0

    # the next build dropped an event (gone upstream): its published row is left out too
    whole = _republished(
        published,
        "b20260702T000000",
        tmp_path / "later",
        caplog,
        "delete from marts.fct_events where event_id = (select min(event_id) from marts.fct_events)",
    )

    assert "fct_events: 0 rows built since" in caplog.text
    assert _count_parquet(events) == built - 1
    assert _parquet_differences(events, whole) == 0

    # a full rebuild (every row stamped anew): nothing to carry, the file is written whole
    whole = _republished(
        published,
        "b20260703T000000",
        tmp_path / "last",
        caplog,
        "update marts.fct_events set _built_at = _built_at + interval 2 day",
    )

    assert "carried forward" not in caplog.text
    assert _parquet_differences(events, whole) == 0


def _split_events(config: CdpConfig, rows: int) -> CdpConfig:
    """`config` with fct_events published as a folder of files of `rows` rows (`publish.file_rows`)."""
    raw = {**config.raw, "publish": {**config.raw["publish"], "file_rows": {"fct_events": rows}}}
    return CdpConfig(path=config.path, raw=raw, data_root=config.data_root)


def _inodes(folder: Path) -> dict[int, str]:
    return {f.stat().st_ino: f.name for f in folder.glob("*.parquet")}


def test_a_fact_published_as_files_rewrites_only_the_files_holding_the_rows_built_since(
    published, tmp_path, caplog
):
    """fct_events split into files of 2,048 rows (`publish.file_rows`): a day that rebuilt one event
    rewrites the one file holding it and adds a file of the rows built since; every other file is
    the published one (same inode). The folder holds the rows a publish of the whole build writes."""
    root = published.data_root
    config = _split_events(published, 2048)
    # 12,000+ events on 600 devices, stamped as a later build: too many to carry, written whole
    _rebuild(
        config,
        NEXT,
        "insert into marts.fct_events select e.* replace ('synthetic-' || r.n || '-' || e.event_id as event_id, "
        "'device-' || (r.n % 600) as device_id, e._built_at + interval 1 day as _built_at) "
        "from marts.fct_events as e, range((12000 // (select count(*) from marts.fct_events)) + 1) as r(n)",
    )
    publish(config, NEXT)
    events = LakePaths.at(root).mart("fct_events")
    before = _inodes(events)
    assert events.is_dir() and len(before) >= 6

    whole = _republished(
        config,
        "b20260702T000000",
        tmp_path / "whole",
        caplog,
        "update marts.fct_events set session_id = 'session-rebuilt', _built_at = _built_at + interval 2 day "
        "where event_id = (select max(event_id) from marts.fct_events where event_id like 'synthetic-%')",
    )

    after = _inodes(events)
    assert (
        f"fct_events: 1 of {len(before)} files held keys built since, their other rows written again as 1; 1 files added"
        in caplog.text
    )
    assert len(set(after) & set(before)) == len(before) - 1  # every other file is the published one
    assert len(after) == len(before) + 1
    assert _parquet_differences(events, whole) == 0
    assert _differences(root / "cdp.duckdb", "fct_events", events) == 0

    # the next build dropped an event (gone upstream): the file holding it is written again without it
    whole = _republished(
        config,
        "b20260703T000000",
        tmp_path / "last",
        caplog,
        "delete from marts.fct_events where event_id = (select min(event_id) from marts.fct_events)",
    )

    assert (
        f"fct_events: 1 of {len(after)} files held keys built since, their other rows written again as 1; 0 files added"
        in caplog.text
    )
    assert len(set(_inodes(events)) & set(after)) == len(after) - 1
    assert _parquet_differences(events, whole) == 0
    assert _differences(root / "cdp.duckdb", "fct_events", events) == 0


def test_a_fact_split_into_more_files_than_a_whole_write_makes_is_written_whole_again(published, caplog):
    """Each carried day adds files: once a folder holds more than twice the files a whole write
    makes (`MAX_FILES_GROWTH`), the next publish writes it whole, back to the files of `file_rows`."""
    root = published.data_root
    _rebuild(
        _split_events(published, 2048),
        NEXT,
        "insert into marts.fct_events select e.* replace ('synthetic-' || r.n || '-' || e.event_id as event_id, "
        "e._built_at + interval 1 day as _built_at) "
        "from marts.fct_events as e, range((12000 // (select count(*) from marts.fct_events)) + 1) as r(n)",
    )
    publish(_split_events(published, 2048), NEXT)
    events = LakePaths.at(root).mart("fct_events")
    assert len(_inodes(events)) >= 6
    later = "b20260702T000000"
    _rebuild(
        published,
        later,
        "update marts.fct_events set session_id = 'session-rebuilt', _built_at = _built_at + interval 2 day "
        "where event_id = (select max(event_id) from marts.fct_events)",
    )

    with caplog.at_level(logging.INFO, logger="cdp.publish"):
        publish(_split_events(published, 1_000_000), later)  # a whole write makes one file: 3 at most

    assert "files, more than a whole write makes: written whole" in caplog.text
    assert len(_inodes(events)) == 1
    assert _differences(root / "cdp.duckdb", "fct_events", events) == 0


def _count_parquet(path: Path) -> int:
    with duckdb.connect() as con:
        return con.execute(f"select count(*) from {_source(path)}").fetchall()[0][0]


def test_a_folder_mart_rewrites_only_the_months_whose_rows_changed(published, caplog):
    """fct_orders is a folder of monthly files (`publish.partition_by`): a changed order rewrites its
    month's file only, and cdp.duckdb and the role databases update only that month's rows."""
    root = published.data_root
    folder = LakePaths.at(root).mart("fct_orders")
    assert folder.is_dir() and not (root / "marts" / "fct_orders.parquet").exists()
    before = {f.name: f.stat().st_ino for f in folder.glob("*.parquet")}
    assert len(before) >= 2
    with duckdb.connect(str(LakePaths.at(root).build_duckdb), read_only=True) as con:
        month = con.execute("select strftime(max(order_date), '%Y-%m') from marts.fct_orders").fetchall()[0][
            0
        ]
        in_month = con.execute(
            f"select count(*) from marts.fct_orders where strftime(order_date, '%Y-%m') = '{month}'"
        ).fetchall()[0][0]
    _rebuild(
        published,
        NEXT,
        "update marts.fct_orders set status = 'returned' where order_id = "
        "(select max(order_id) from marts.fct_orders where order_date = (select max(order_date) from marts.fct_orders))",
    )

    with caplog.at_level(logging.INFO, logger="cdp.privacy.roles"):
        publish(published, NEXT)

    after = {f.name: f.stat().st_ino for f in folder.glob("*.parquet")}
    assert after.keys() == before.keys()
    assert {name for name in after if after[name] != before[name]} == {f"{month}.parquet"}
    with duckdb.connect(str(root / "cdp.duckdb"), read_only=True) as con:
        delta, parts = con.execute(
            f"select delta_rows, parts from {PUBLISH_LOG_TABLE} where mart = 'fct_orders'"
        ).fetchall()[0]
    assert 0 < delta <= 2 * in_month  # at most that month's rows deleted and inserted, no reload
    assert sorted(json.loads(parts)) == sorted(n.removesuffix(".parquet") for n in after)
    assert _differences(root / "cdp.duckdb", "fct_orders", folder) == 0
    roles = PrivacyPaths.of(published).roles
    # sales_rep reads order_date among some columns (months replaced); customer_service_rep does not (synced)
    for role in ("market_analyst", "sales_rep", "customer_service_rep"):
        with duckdb.connect(str(roles / f"{role}.duckdb"), read_only=True) as con:
            columns = [r[0] for r in con.execute("describe fct_orders").fetchall()]
        select = ", ".join(columns)
        with duckdb.connect(str(roles / f"{role}.duckdb"), read_only=True) as con:
            differ = con.execute(
                f"select count(*) from ((select {select} from fct_orders except all "
                f"select {select} from read_parquet('{folder}/*.parquet')) union all "
                f"(select {select} from read_parquet('{folder}/*.parquet') except all "
                f"select {select} from fct_orders))"
            ).fetchall()[0][0]
        assert differ == 0, role


def test_swap_folder_exchanges_the_whole_folder(tmp_path):
    """`swap_folder` exchanges whole folders: the published one is complete before and after."""
    published, staged = tmp_path / "marts" / "m", tmp_path / "staging" / "m"
    published.mkdir(parents=True)
    staged.mkdir(parents=True)
    (published / "2026-09.parquet").write_text("old")
    (staged / "2026-09.parquet").write_text("new")
    (staged / "2026-10.parquet").write_text("new")

    swap_folder(staged, published)

    assert sorted(p.name for p in published.iterdir()) == ["2026-09.parquet", "2026-10.parquet"]
    assert (published / "2026-09.parquet").read_text() == "new"
    assert not staged.exists()


def _table(rows: list[tuple[int, str]]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("create table t (id integer, v varchar)")
    con.executemany("insert into t values (?, ?)", rows)
    return con


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    return sorted(con.execute(sql).fetchall())


def test_sync_table_deletes_and_inserts_only_the_rows_that_differ():
    con = _table([(i, f"v{i}") for i in range(100)])
    source = "select i::integer as id, 'v' || i as v from range(1, 101) r(i) where i <> 50 union all select 50, 'new'"

    assert sync_table(con, "t", source) == 4  # 0 and the old 50 deleted, 100 and the new 50 inserted
    assert _rows(con, "select * from t") == _rows(con, source)


def test_sync_table_loads_anew_when_most_rows_differ_or_duplicates_hide_a_difference():
    con = _table([(i, "a") for i in range(10)])
    everything_new = "select i::integer as id, 'b' as v from range(10) r(i)"
    assert sync_table(con, "t", everything_new) is None
    assert _rows(con, "select * from t") == _rows(con, everything_new)

    rows = [(i, "x") for i in range(3, 40)]
    con = _table([(1, "a"), (1, "a"), (2, "b"), *rows])  # the same set of rows as the source, other counts
    source = "select * from (values (1, 'a'), (2, 'b'), (2, 'b')) v(id, v) union all select i, 'x' from range(3, 40) r(i)"
    assert sync_table(con, "t", source) is None
    assert _rows(con, "select * from t") == _rows(con, source)


def _built_table(rows: list[tuple]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("create table t (id integer, v varchar, _built_at timestamp)")
    con.executemany("insert into t values (?, ?, ?)", rows)
    return con


OLD, NEW = "2026-01-01 00:00:00", "2026-01-02 00:00:00"


def test_sync_since_built_applies_the_keys_built_since_and_drops_the_keys_gone():
    con = _built_table([(i, f"v{i}", OLD) for i in range(20)])
    con.execute("insert into t values (5, 'second row of key 5', ?)", [OLD])
    con.execute(  # the new build, frozen apart from `t`: 3 gone, 5 and 7 rebuilt
        f"create table src as select * from t where id not in (3, 5, 7) "
        f"union all select 5, 'rebuilt', timestamp '{NEW}' union all select 7, 'rebuilt', timestamp '{NEW}'"
    )

    changed = sync_since_built(con, "t", "select * from src", "id")

    assert changed == 3 + 2 + 1  # key 5's two rows and key 7's row deleted, two inserted, key 3 dropped
    assert _rows(con, "select * from t") == _rows(con, "select * from src")


def test_sync_since_built_does_not_apply_and_leaves_the_table_untouched():
    cases = {
        "most rows rebuilt": f"select id::integer as id, 'b' as v, timestamp '{NEW}' as _built_at from range(10) r(id)",
        "other columns": "select i::integer as id, 'a' as v from range(10) r(i)",
        # a row added without a newer build time: the count cannot match, so nothing is assumed
        "a row stamped old": f"select i::integer as id, 'a' as v, timestamp '{OLD}' as _built_at from range(11) r(i)",
    }
    for case, source in cases.items():
        con = _built_table([(i, "a", OLD) for i in range(10)])
        before = _rows(con, "select * from t")
        assert sync_since_built(con, "t", source, "id") is None, case
        assert _rows(con, "select * from t") == before, case


def test_an_incremental_mart_is_fingerprinted_by_its_row_count_and_latest_build():
    """dbt stamps every row it rewrites: a rebuilt key raises the latest `_built_at`, a dropped key
    lowers the count; anything else is the same build (the rows are not hashed)."""
    con = _built_table([(i, "a", OLD) for i in range(10)])

    def fingerprint() -> str:
        return mart_fingerprints(con, "main", ["t"], by_build=["t"])["t"].fingerprint

    first = fingerprint()
    assert fingerprint() == first
    con.execute("update t set v = 'b', _built_at = ? where id = 3", [NEW])
    rebuilt = fingerprint()
    assert rebuilt != first
    con.execute("delete from t where id = 4")
    assert fingerprint() not in (first, rebuilt)
    assert mart_fingerprints(con, "main", ["t"])["t"].fingerprint != fingerprint()  # by hash: another kind


def _device_runs(path: Path) -> tuple[int, int]:
    """Runs of equal device ids in the file's row order, and distinct device ids: equal when each
    device's events sit side by side."""
    with duckdb.connect() as con:
        return con.execute(
            "select count(*) filter (where device_id is distinct from previous), count(distinct device_id) "
            "from (select device_id, lag(device_id) over (order by file_row_number) as previous "
            f"from read_parquet('{path}', file_row_number = true)) where device_id is not null"
        ).fetchall()[0]


def test_a_clustered_mart_is_published_with_the_rows_of_each_device_side_by_side(published, tmp_path):
    """`publish.cluster_by` (fct_events by customer and device by default) groups the rows in the
    file; clustered by another column (event type: the tiny lake's two events of device d-007 are
    a product view and an add to cart) the same rows are spread, and written as built, or with a
    column the mart lacks, they are the same rows too."""
    events = LakePaths.at(published.data_root).mart("fct_events")
    runs, devices = _device_runs(events)
    assert runs == devices

    by_type = _published_whole(
        published, BATCH, tmp_path / "by_type", "fct_events", {"fct_events": ["event_type"]}
    )
    assert _device_runs(by_type)[0] > devices
    assert _parquet_differences(by_type, events) == 0
    as_built = _published_whole(published, BATCH, tmp_path / "as_built", "fct_events", {})
    assert _parquet_differences(as_built, events) == 0

    unknown = _published_whole(
        published, BATCH, tmp_path / "unknown", "fct_events", {"fct_events": ["no_such_column"]}
    )
    assert _parquet_differences(unknown, events) == 0
