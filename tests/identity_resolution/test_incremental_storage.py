"""The identity tables are stored compact (Zstandard, no dictionary encoding: mostly unique ids
and hashes, rewritten on every run), and every reader still sees the same rows: the next daily run
continues from them, and DuckDB's own Parquet reader (dbt's path to the lake) reads what Polars
reads."""

from __future__ import annotations

import shutil
from datetime import datetime

import duckdb
import polars as pl
import pyarrow.parquet as pq

from identity_resolution import service, store
from warehouse import delta
from warehouse.paths import LakePaths

from .conftest import with_identity

TABLES = (
    store.LINKS,
    store.GOLDEN,
    store.HISTORY,
    store.HEALTH,
    store.FEATURES,
    store.PAIRS,
    store.U_SAMPLE,
    store.MODEL,
)


def silver(count: int) -> pl.DataFrame:
    """`count` pos records, every pair of them one person (same email, name and phone)."""
    return pl.DataFrame(
        {
            "record_id": [f"pos:{i:04d}" for i in range(count)],
            "source": "pos",
            "source_record_id": [f"{i:04d}" for i in range(count)],
            "full_name": [f"Wang Person{i // 2}" for i in range(count)],
            "email": [f"person{i // 2}@qq.com" for i in range(count)],
            "phone": [f"+86137{i // 2:08d}" for i in range(count)],
            "updated_at": datetime(2025, 1, 1),
        }
    )


def encodings_of(path) -> set[tuple[str, str]]:
    """(compression, encoding) of every column chunk of the table's current data files."""
    found = set()
    for uri in delta.open_table(path).file_uris():
        metadata = pq.ParquetFile(uri.removeprefix("file://")).metadata
        for group in range(metadata.num_row_groups):
            for column in range(metadata.num_columns):
                chunk = metadata.row_group(group).column(column)
                found |= {(chunk.compression, encoding) for encoding in chunk.encodings}
    return found


def test_identity_tables_are_written_zstd_without_dictionaries_and_read_alike_by_every_reader(config):
    config = with_identity(config)
    paths = LakePaths.at(config.data_root)
    delta.write(silver(200), paths.silver("customer_records"), "overwrite")
    assert service.resolve_lake(config, "b1")["customers"] == 100
    delta.write(silver(210), paths.silver("customer_records"), "overwrite")  # a day: 10 more
    summary = service.resolve_lake(config, "b2")
    assert (summary["mode"], summary["customers"], summary["features_built"]) == ("incremental", 105, 10)

    for table in TABLES:
        path = paths.identity(table)
        found = encodings_of(path)
        assert {compression for compression, _ in found} == {"ZSTD"}, table
        assert not {e for _, e in found} & {"PLAIN_DICTIONARY", "RLE_DICTIONARY"}, table
        files = delta.plain_parquet_files(path)
        assert files is not None, table  # dbt's lake plugin reads them with DuckDB directly
        by_duckdb = duckdb.sql(
            f"select * from read_parquet({[f.removeprefix('file://') for f in files]}, union_by_name = true)"
        ).pl()
        by_polars = delta.read(path)
        assert by_duckdb.sort(by_duckdb.columns).equals(
            by_polars.select(by_duckdb.columns).sort(by_duckdb.columns)
        ), table
    links = delta.read(paths.identity(store.LINKS))
    assert links.group_by("customer_id").len()["len"].to_list() == [2] * 105


def parquet_on_disk(path) -> set[str]:
    return {f.name for f in path.glob("*.parquet")}


def current_files(path) -> set[str]:
    return {uri.rsplit("/", 1)[-1] for uri in delta.open_table(path).file_uris()}


def test_the_copies_a_run_replaced_are_vacuumed_only_after_the_retention(config):
    config = with_identity(config)
    paths = LakePaths.at(config.data_root)
    delta.write(silver(40), paths.silver("customer_records"), "overwrite")
    service.resolve_lake(config, "b1", retain_hours=0)
    delta.write(silver(44), paths.silver("customer_records"), "overwrite")
    kept = service.resolve_lake(config, "b2", retain_hours=168)  # yesterday's copies are recent
    assert kept["vacuumed_files"] == 0
    for table in (store.LINKS, store.GOLDEN, store.FEATURES):
        assert parquet_on_disk(paths.identity(table)) > current_files(paths.identity(table)), table

    delta.write(silver(48), paths.silver("customer_records"), "overwrite")
    summary = service.resolve_lake(config, "b3", retain_hours=0)
    assert summary["vacuumed_files"] > 0 and summary["customers"] == 24
    for table in TABLES:
        path = paths.identity(table)
        assert parquet_on_disk(path) == current_files(path), table  # appended tables keep every file
    assert delta.read(paths.identity(store.LINKS)).height == 48


def test_a_daily_run_gives_the_same_graph_when_the_saved_pairs_come_back_out_of_order(config, tmp_path):
    """A daily run merges the fresh pairs into the saved ones, which come back in the order they
    were written (sorted); saved pairs read in any other order are sorted instead, to the same graph."""
    config = with_identity(config)
    paths = LakePaths.at(config.data_root)
    delta.write(silver(300), paths.silver("customer_records"), "overwrite")
    service.resolve_lake(config, "b1")
    saved = tmp_path / "saved"
    shutil.copytree(paths.identity(store.LINKS).parent, saved)
    delta.write(silver(320), paths.silver("customer_records"), "overwrite")  # a day: 20 more

    def daily() -> dict[str, pl.DataFrame]:
        assert service.resolve_lake(config, "b2")["mode"] == "incremental"
        tables = {t: delta.read(paths.identity(t)) for t in (store.PAIRS, store.LINKS, store.GOLDEN)}
        # The pairs are saved in order (one small file: read back as written), the others sorted here.
        assert tables[store.PAIRS].equals(tables[store.PAIRS].sort("l_idx", "r_idx"))
        tables[store.LINKS] = tables[store.LINKS].drop("run_id", "resolved_at").sort("record_id")
        tables[store.GOLDEN] = tables[store.GOLDEN].sort("customer_id")
        return tables

    in_order = daily()
    shutil.rmtree(paths.identity(store.LINKS).parent)
    shutil.copytree(saved, paths.identity(store.LINKS).parent)
    pairs = delta.read(paths.identity(store.PAIRS))
    delta.write(pairs.sample(fraction=1.0, shuffle=True, seed=7), paths.identity(store.PAIRS), "overwrite")
    assert not delta.read(paths.identity(store.PAIRS))["l_idx"].is_sorted()

    shuffled = daily()
    for table, frame in in_order.items():
        assert shuffled[table].equals(frame), table
