"""(c) The lake's Delta tables are readable by Spark, without the Delta jars."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from deltalake import DeltaTable, write_deltalake

from warehouse import delta
from warehouse.spark import SparkLakeError, lake_tables, read_delta, register_lake, snapshot_files

pytestmark = pytest.mark.spark


def test_spark_reads_every_bronze_silver_and_identity_table_with_the_row_counts_of_deltalake(
    spark, small_lake: Path
) -> None:
    tables = lake_tables(small_lake, ["bronze", "silver", "identity"])
    assert {layer for layer, _ in tables} == {"bronze", "silver", "identity"}
    assert {("silver", "customer_records"), ("identity", "identity_links")} <= set(tables)
    counts = {
        f"{layer}/{name}": (
            read_delta(spark, path).count(),
            DeltaTable(str(path)).to_pyarrow_dataset().count_rows(),
        )
        for (layer, name), path in tables.items()
    }
    assert {name: spark_rows for name, (spark_rows, _) in counts.items()} == {
        name: rows for name, (_, rows) in counts.items()
    }
    assert counts["silver/customer_records"][0] > 0


def test_spark_reads_the_same_values_and_types_as_deltalake(spark, small_lake: Path) -> None:
    path = small_lake / "lake" / "silver" / "customer_records"
    columns = ["record_id", "date_of_birth", "updated_at"]
    expected = delta.read(path, columns).sort("record_id")
    frame = read_delta(spark, path).select(*columns)
    got = pl.from_arrow(frame.toArrow()).sort("record_id")  # type: ignore[union-attr]
    assert dict(frame.dtypes)["updated_at"] == "timestamp_ntz"  # naive timestamps stay naive
    assert got.equals(expected.cast(got.schema))  # type: ignore[union-attr, arg-type]


def test_only_the_current_version_is_read_and_added_columns_are_null_in_older_files(
    spark, tmp_path: Path
) -> None:
    path = tmp_path / "table"
    delta.write(pl.DataFrame({"id": [1, 2, 3]}), path)
    delta.write(pl.DataFrame({"id": [10, 20]}), path, mode="overwrite")  # old files stay on disk
    delta.write(pl.DataFrame({"id": [30], "note": ["added later"]}), path)
    assert len(list(path.glob("*.parquet"))) == 3
    rows = sorted(tuple(r) for r in read_delta(spark, path).select("id", "note").collect())
    assert rows == [(10, None), (20, None), (30, "added later")]


def test_an_empty_table_reads_as_an_empty_frame_with_its_schema(spark, tmp_path: Path) -> None:
    path = tmp_path / "empty"
    delta.write(pl.DataFrame(schema={"id": pl.Int64, "name": pl.String}), path)
    frame = read_delta(spark, path)
    assert frame.count() == 0
    assert frame.columns == ["id", "name"]


def test_a_partitioned_table_is_refused_with_the_way_to_read_it(tmp_path: Path) -> None:
    path = tmp_path / "partitioned"
    write_deltalake(
        str(path), pl.DataFrame({"day": ["a", "b"], "n": [1, 2]}).to_arrow(), partition_by=["day"]
    )
    with pytest.raises(SparkLakeError, match=r"partition columns \['day'\].*Delta jars"):
        snapshot_files(path)


def test_register_lake_makes_the_dbt_source_schemas(spark, small_lake: Path) -> None:
    counts = register_lake(spark, small_lake)
    expected = (
        DeltaTable(str(small_lake / "lake" / "identity" / "identity_links")).to_pyarrow_dataset().count_rows()
    )
    assert counts["lake_identity.identity_links"] == expected
    assert spark.table("lake_silver.customer_records").count() == counts["lake_silver.customer_records"]
