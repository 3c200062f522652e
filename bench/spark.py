"""`cdp bench spark`: the one-machine engines against their Spark ports on the same small input.

Generated data (`cdp generate`, `cdp ingest --standardize`, `cdp resolve`, not timed), then:
identity resolution by the DuckDB engine and by the Spark engine (blocking and scoring as Spark
jobs, `identity_resolution.spark`) with the check that both give the same customers; reading the
lake into Spark against `deltalake`; optionally (`--dbt`) `dbt build` on DuckDB against
`dbt build --target spark`. Spark runs locally (`local[2]`), so this measures the overhead of
the distributed path on one machine, not a cluster's speed: see docs/scaling.md.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import click
import polars as pl

from bench.measure import Measurement, markdown_table, measure, save_results, update_results_md
from identity_resolution import engine
from identity_resolution.records import validate_records
from identity_resolution.settings import load_settings
from warehouse import delta
from warehouse.config import REPO_ROOT, load_config
from warehouse.paths import LakePaths

SECTION = "Spark portability (`cdp bench spark`)"
RESOLVED_AT = datetime(2026, 1, 15, 3, 0, 0)


def _cdp(data_root: Path, *args: str) -> None:
    command = [sys.executable, "-m", "cdp.cli", "-q", "--data-root", str(data_root), *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise click.ClickException(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")


def same_customers(left: pl.DataFrame, right: pl.DataFrame) -> bool:
    """Do two record_id -> label tables group the records identically (labels aside)?"""
    joined = left.rename({left.columns[1]: "a"}).join(
        right.rename({right.columns[1]: "b"}), on="record_id", how="full", coalesce=True
    )
    if joined["a"].null_count() or joined["b"].null_count():
        return False
    return bool(
        joined.group_by("a").agg(pl.col("b").n_unique())["b"].max() == 1
        and joined.group_by("b").agg(pl.col("a").n_unique())["a"].max() == 1
    )


def _run(root: Path, with_dbt: bool) -> tuple[list[Measurement], dict[str, Any]]:
    from identity_resolution.spark.engine import resolve_clusters
    from warehouse import dbt
    from warehouse.spark import LocalSparkSettings, dbt_build, lake_tables, local_session, read_delta

    config = load_config(REPO_ROOT / "cdp.yaml", data_root=root)
    settings = load_settings(config)
    records = validate_records(delta.read(LakePaths.at(root).silver("customer_records")))
    region = config.default_phone_region
    steps: list[Measurement] = []
    with measure("resolve: DuckDB engine", rows=len(records)) as step:
        reference = engine.resolve(
            records, settings, default_region=region, run_id="b", resolved_at=RESOLVED_AT
        )
    steps.append(step)
    with measure("spark: start local session") as step:
        spark = local_session(LocalSparkSettings(warehouse_dir=str(root / "build" / "spark-warehouse")))
    steps.append(step)
    try:
        with measure("resolve: Spark engine (blocking + scoring on Spark)", rows=len(records)) as step:
            on_spark = resolve_clusters(
                spark, records, settings, default_region=region, resolved_at=RESOLVED_AT
            )
        steps.append(step)
        tables = lake_tables(root, ["bronze", "silver", "identity"])
        with measure("lake: deltalake row counts", rows=None) as step:
            expected = {k: delta.dataset(p).count_rows() for k, p in tables.items()}
        step.rows = sum(expected.values())
        steps.append(step)
        with measure("lake: Spark row counts (snapshot Parquet files)") as step:
            got = {k: read_delta(spark, p).count() for k, p in tables.items()}
        step.rows = sum(got.values())
        steps.append(step)
        checks: dict[str, Any] = {
            "records": len(records),
            "customers_duckdb": reference.stats["customers"],
            "customers_spark": on_spark.stats["customers"],
            "candidate_pairs_duckdb": reference.stats["candidate_pairs"],
            "candidate_pairs_spark": on_spark.stats["candidate_pairs"],
            "same_customers": same_customers(
                reference.links.select("record_id", "customer_id"), on_spark.clusters
            ),
            "lake_tables": len(tables),
            "lake_row_counts_equal": got == expected,
            # Other jobs share the machine: the load says how much of it Spark actually had.
            "load_average_1m": round(os.getloadavg()[0], 1),
        }
        if with_dbt:
            with measure("dbt build: DuckDB") as step:
                on_duckdb = dbt.invoke(config, ["build"], check=False)
            steps.append(step)
            with measure("dbt build: Spark (--target spark)") as step:
                on_spark_dbt = dbt_build(spark, config)
            steps.append(step)
            checks["dbt_duckdb"] = on_duckdb.counts()
            checks["dbt_spark"] = on_spark_dbt.counts()
    finally:
        spark.stop()
    return steps, checks


@click.command("spark")
@click.option("--customers", type=click.IntRange(min=50), default=300, show_default=True)
@click.option("--seed", type=int, default=42, show_default=True)
@click.option(
    "--dbt/--no-dbt", "with_dbt", default=False, help="Also build the marts on both engines (slow)."
)
@click.option(
    "--workdir", type=click.Path(file_okay=False), default=None, help="Scratch folder (default: temporary)."
)
def spark(customers: int, seed: int, with_dbt: bool, workdir: str | None) -> None:
    """DuckDB engine vs its Spark port (local Spark): same input, time and equal clusters."""
    with tempfile.TemporaryDirectory(prefix="cdp-bench-spark-", dir=workdir) as scratch:
        root = Path(scratch) / "data"
        _cdp(root, "generate", "--customers", str(customers), "--seed", str(seed))
        _cdp(root, "ingest", "--standardize")
        _cdp(root, "resolve")
        steps, checks = _run(root, with_dbt)
    saved = save_results("spark", steps, {"customers": customers, "seed": seed})
    click.echo(markdown_table(steps))
    click.echo(checks)
    facts = "\n".join(f"- {k}: {v}" for k, v in checks.items())
    body = "\n\n".join(
        [
            f"{customers:,} generated people (seed {seed}), {checks['records']:,} customer records; "
            f"`cdp bench spark --customers {customers}{' --dbt' if with_dbt else ''}`. Spark 4 in local "
            "mode (`local[2]`, no Delta jars) on the shared 2-core machine (other engineers' jobs "
            "running): these figures are the fixed overhead of the distributed path, not a cluster's speed.",
            markdown_table(steps),
            facts,
            f"Raw figures: `{saved.relative_to(saved.parents[2])}`.",
        ]
    )
    update_results_md(SECTION, body)
    if not checks["same_customers"] or not checks["lake_row_counts_equal"]:
        raise click.ClickException(f"the engines disagree: {checks}")
