"""A local SparkSession and the lake's Delta tables read into Spark: the path beyond one machine.

Everything else in the project runs on DuckDB, Polars and `deltalake` on one machine. This module is
the seam to Spark (docs/scaling.md): the identity engine's Spark port (`identity_resolution.spark`),
the dbt project's `spark` target and `cdp bench spark` all get their session and their tables here.

Reading Delta without Delta jars. Spark must not download jars at run time (no internet here), and
the Delta Lake jars are not shipped with PySpark. So `read_delta` asks `deltalake` for the current
snapshot's data files (`DeltaTable.file_uris()`, the add actions of the latest version) and reads
exactly those Parquet files; removed files of older versions that still sit in the folder are not
read. That is correct for the tables `warehouse.delta` writes (no partition columns, no deletion
vectors, no column mapping) and refused with a clear error otherwise. On a cluster with the Delta
jars (`io.delta:delta-spark`) the same tables are `spark.read.format("delta").load(path)` and
`create table ... using delta location '...'`: `read_delta(..., use_delta_jars=True)` takes that
path.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from deltalake import DeltaTable

from warehouse.errors import CdpError
from warehouse.paths import LakePaths

if TYPE_CHECKING:  # pyspark is a dev extra and slow to import: only where Spark is used
    from pyspark.sql import DataFrame, SparkSession

    from warehouse.config import CdpConfig
    from warehouse.dbt import DbtResult

# Lake layers as dbt sees them (warehouse/dbt_lake_source.py): `lake_<layer>.<table>`.
DBT_LAYERS = ("silver", "identity", "quality")
SCHEMA_PREFIX = "lake_"


class SparkLakeError(CdpError):
    """A lake table that Spark cannot read without the Delta jars, or a missing table."""


@dataclass(frozen=True)
class LocalSparkSettings:
    """Sane settings for Spark on one small machine (the defaults suit this project's 2 cores).

    - `cores`: `local[cores]`; shuffle partitions default to twice that (Spark's 200 would make
      hundreds of tiny tasks for a few thousand rows).
    - `driver_memory`: the JVM heap; in local mode the driver is the executor.
    - `warehouse_dir`: where `saveAsTable` and dbt's tables go (a temporary folder by default).
    The catalog is in memory (no Hive metastore folder in the working directory), the UI is off,
    the driver binds to localhost, the session time zone is UTC and no jars or packages are ever
    fetched (`spark.jars.packages` stays unset).
    """

    cores: int = 2
    driver_memory: str = "2g"
    shuffle_partitions: int | None = None
    warehouse_dir: str | None = None
    app_name: str = "cdp"


def local_session(settings: LocalSparkSettings | None = None) -> SparkSession:
    """The process's SparkSession, created with `settings` if none is running yet.

    dbt-spark's session method calls `SparkSession.builder.getOrCreate()`, so a session created here
    first is the one dbt builds in (and sees the lake tables registered in it).
    """
    from pyspark.sql import SparkSession

    settings = settings or LocalSparkSettings()
    # Python workers must run the same interpreter (the venv) as the driver.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    warehouse = settings.warehouse_dir or tempfile.mkdtemp(prefix="cdp-spark-warehouse-")
    partitions = settings.shuffle_partitions or 2 * settings.cores
    session = (
        SparkSession.builder.master(f"local[{settings.cores}]")
        .appName(settings.app_name)
        .config("spark.driver.memory", settings.driver_memory)
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.catalogImplementation", "in-memory")
        .config("spark.sql.warehouse.dir", str(Path(warehouse).resolve()))
        .config("spark.sql.shuffle.partitions", str(partitions))
        .config("spark.default.parallelism", str(partitions))
        .config("spark.sql.adaptive.enabled", "true")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.parquet.inferTimestampNTZ.enabled", "true")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return session


def snapshot_files(path: str | Path) -> list[str]:
    """The Parquet files that hold the Delta table's current version (refused if they alone do not)."""
    if not DeltaTable.is_deltatable(str(path)):
        raise SparkLakeError(f"{path}: not a Delta table (no _delta_log); has the stage that writes it run?")
    table = DeltaTable(str(path))
    features = set(table.protocol().reader_features or [])
    unsupported = sorted(features & {"deletionVectors", "columnMapping"})
    if table.metadata().partition_columns:
        unsupported.append(f"partition columns {table.metadata().partition_columns}")
    if unsupported:
        raise SparkLakeError(
            f"{path}: the table uses {', '.join(unsupported)}, which only the Delta reader applies; "
            "run Spark with the Delta jars (io.delta:delta-spark) and read_delta(..., use_delta_jars=True)"
        )
    return list(table.file_uris())


def read_delta(spark: SparkSession, path: str | Path, *, use_delta_jars: bool = False) -> DataFrame:
    """The Delta table's current version as a Spark DataFrame.

    Without Delta jars: the snapshot's Parquet files (`snapshot_files`), schemas merged so that
    columns added by later commits read as null in older files; an empty table keeps its schema.
    """
    if use_delta_jars:
        return spark.read.format("delta").load(str(path))
    files = snapshot_files(path)
    if not files:
        import pyarrow as pa
        from pyspark.sql.pandas.types import from_arrow_schema

        # deltalake hands out an arro3 schema; pyarrow takes it through the Arrow C interface.
        schema = pa.schema(DeltaTable(str(path)).schema().to_arrow())  # type: ignore[arg-type]
        return spark.createDataFrame([], from_arrow_schema(schema))
    return spark.read.option("mergeSchema", "true").parquet(*files)


def lake_tables(data_root: str | Path, layers: Iterable[str]) -> dict[tuple[str, str], Path]:
    """Every Delta table under lake/<layer>/ (and lake/quarantine as layer `quarantine`)."""
    lake = LakePaths.at(data_root).lake
    found: dict[tuple[str, str], Path] = {}
    for layer in layers:
        folder = lake / layer
        if layer == "quarantine":
            if DeltaTable.is_deltatable(str(folder)):
                found[(layer, "quarantine")] = folder
            continue
        if not folder.is_dir():
            continue
        for table in sorted(folder.iterdir()):
            if table.is_dir() and DeltaTable.is_deltatable(str(table)):
                found[(layer, table.name)] = table
    return found


def register_lake(
    spark: SparkSession,
    data_root: str | Path,
    layers: Iterable[str] = DBT_LAYERS,
    *,
    use_delta_jars: bool = False,
) -> dict[str, int]:
    """Make the lake's tables Spark catalog tables `lake_<layer>.<table>`, where dbt's sources
    (`models/staging/__sources.yml`, `schema: lake_<layer>`) look for them; returns table -> rows.

    With Delta jars the tables are external tables over the Delta folders (no copy). Without them
    the snapshot is copied into the session's warehouse as Parquet (`saveAsTable`): Spark SQL has
    no catalog table over an explicit list of files, and a folder-level Parquet table would also
    read the files that older Delta versions removed. The copy is what makes this path local-only.
    """
    counts: dict[str, int] = {}
    for (layer, table), path in lake_tables(data_root, layers).items():
        schema = f"{SCHEMA_PREFIX}{layer}"
        name = f"`{schema}`.`{table}`"
        spark.sql(f"create database if not exists `{schema}`")
        spark.sql(f"drop table if exists {name}")
        if use_delta_jars:
            location = str(path.resolve()).replace("'", "\\'")
            spark.sql(f"create table {name} using delta location '{location}'")
        else:
            read_delta(spark, path).write.mode("overwrite").format("parquet").saveAsTable(f"{schema}.{table}")
        counts[f"{schema}.{table}"] = spark.table(f"{schema}.{table}").count()
    return counts


DBT_TARGET = "spark"
# What the session method cannot build: dbt-spark runs Python models only on Databricks
# (`submission_method`), and the CLV models are Python models: int_customers__clv_summary, then
# the fit and the predictions downstream of it; the `+` takes the models and tests downstream of
# it too (docs/scaling.md lists them).
DBT_SPARK_UNSUPPORTED = "int_customers__clv_summary+"


def dbt_build(
    spark: SparkSession,
    config: CdpConfig,
    *,
    select: str | None = None,
    exclude: str | None = DBT_SPARK_UNSUPPORTED,
) -> DbtResult:
    """`dbt build --target spark`: the unchanged dbt project on this process's SparkSession.

    The lake's tables are registered first (`register_lake`), then dbt-spark's session method
    picks up `spark` (`SparkSession.builder.getOrCreate()`). Failing nodes do not raise: the
    result lists every node's status, which is what the portability check needs to report.
    """
    from warehouse import dbt

    register_lake(spark, config.data_root)
    extra = [*(["--select", select] if select else []), *(["--exclude", exclude] if exclude else [])]
    return dbt.invoke(config, ["build"], "--target", DBT_TARGET, *extra, check=False)
