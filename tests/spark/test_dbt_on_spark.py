"""(a) The dbt project runs unchanged on dbt-spark (session method) by switching the target."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from warehouse import dbt
from warehouse.config import REPO_ROOT, load_config
from warehouse.paths import LakePaths
from warehouse.spark import DBT_SPARK_UNSUPPORTED, dbt_build

pytestmark = pytest.mark.spark

# Marts that must build on both engines with the same rows (see docs/scaling.md for the rest).
COMPARED_MARTS = (
    "identity_links",
    "fct_orders",
    "customer_rfm",
    "customer_lifecycle",
    "service_kpis",
    "survey_nps",
    "coupon_redemption_rates",
)


def test_the_dbt_project_builds_on_spark_with_the_rows_of_the_duckdb_build(spark, small_lake: Path) -> None:
    config = load_config(REPO_ROOT / "cdp.yaml", data_root=small_lake)
    on_spark = dbt_build(spark, config)
    assert on_spark.failures == [], [f"{n.name}: {n.message}" for n in on_spark.failures]
    built = {n.name for n in on_spark.nodes if n.resource_type == "model" and n.status == "success"}
    assert set(COMPARED_MARTS) <= built
    assert sum(1 for n in on_spark.nodes if n.resource_type == "test" and n.status == "pass") > 50

    on_duckdb = dbt.invoke(config, ["build"], "--exclude", DBT_SPARK_UNSUPPORTED, check=False)
    assert on_duckdb.failures == []
    with duckdb.connect(str(LakePaths.at(small_lake).build_duckdb), read_only=True) as con:
        duckdb_rows = {
            m: con.execute(f"select count(*) from marts.{m}").fetchone()[0] for m in COMPARED_MARTS
        }  # type: ignore[index]
    spark_rows = {m: spark.table(f"marts.{m}").count() for m in COMPARED_MARTS}
    assert spark_rows == duckdb_rows
    assert spark_rows["fct_orders"] > 0
