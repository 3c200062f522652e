"""End to end: generated exports through the real Airflow DAG (`airflow dags test cdp_daily`).

One DAG run on a small generated data set feeds every assertion here; the run is the expensive
part (a few minutes), the checks are cheap. Each stage's own behaviour is specified by its package's
tests; this file specifies that the stages fit together the way `make demo` runs them.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest

from cdp.airflow_runner import DagTestResult, dags_test
from datagen import generate_dataset
from tests.marts.test_mart_invariants import CONTRACT_MARTS  # the names in CONTRACTS.md
from warehouse import delta
from warehouse.config import REPO_ROOT, CdpConfig, load_config
from warehouse.paths import LakePaths

PEOPLE = 400
LOGICAL_DATE = date(2026, 11, 1)


class DagRun:
    def __init__(self, config: CdpConfig, result: DagTestResult, weekly: DagTestResult):
        self.config = config
        self.result = result
        self.weekly = weekly
        self.paths = LakePaths.at(config.data_root)
        self.log = result.log_file.read_text(encoding="utf-8")

    def summary(self) -> dict:
        return json.loads((self.paths.runs / "latest.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def dag_run(tmp_path_factory) -> DagRun:
    root = tmp_path_factory.mktemp("e2e") / "data"
    config = load_config(REPO_ROOT / "cdp.yaml", data_root=root)
    generate_dataset(out_dir=root, customers=PEOPLE, seed=7, config=config)
    airflow_home = root.parent / "airflow"
    result = dags_test(config, "cdp_daily", LOGICAL_DATE, airflow_home=airflow_home, stream=False)
    weekly = dags_test(config, "cdp_weekly_report", LOGICAL_DATE, airflow_home=airflow_home, stream=False)
    return DagRun(config, result, weekly)


@pytest.mark.slow
def test_the_dag_run_succeeds_with_every_stage_in_order(dag_run: DagRun):
    assert dag_run.result.ok, dag_run.log[-5000:]
    for task in ("list_sources", "standardize", "resolve", "quality_gate_silver", "publish", "summary"):
        assert f"end task task_id={task} " in dag_run.log
    assert dag_run.log.count("end task task_id=ingest map_index=") == 6  # one mapped task per source
    assert "task_id=build_marts.dbt.dbt_producer_watcher" in dag_run.log  # dbt through Cosmos


@pytest.mark.slow
def test_every_layer_is_filled_and_reconciles(dag_run: DagRun):
    summary = dag_run.summary()
    assert summary["batch_id"] == "b20261101T000000"  # derived from the logical date
    assert {"bronze", "silver", "identity"} <= set(summary["layers"])
    manifest = delta.read(dag_run.paths.meta("load_manifest"))
    loaded = manifest.filter(pl.col("status") != "skipped")
    assert (loaded["rows_read"] == loaded["rows_landed"] + loaded["rows_quarantined"]).all()
    assert 0 < summary["customers"] < summary["tables"]["silver"]["customer_records"]
    assert summary["quality"]["score"] > 0.9


@pytest.mark.slow
def test_contract_marts_are_published_as_parquet_and_duckdb_tables(dag_run: DagRun):
    with duckdb.connect(str(dag_run.paths.duckdb), read_only=True) as con:
        tables = {row[0] for row in con.execute("select table_name from duckdb_tables()").fetchall()}
        customers = con.execute("select count(*), count(distinct customer_id) from dim_customer").fetchone()
        links = con.execute("select count(*) from identity_links").fetchone()[0]
    for mart in CONTRACT_MARTS:
        assert mart in tables
        assert dag_run.paths.mart(mart).exists()
    assert customers[0] == customers[1] == dag_run.summary()["customers"]
    records = delta.row_count(dag_run.paths.silver("customer_records"))
    assert links == records  # one identity link per source record


@pytest.mark.slow
def test_published_marts_carry_no_email_in_clear(dag_run: DagRun):
    emails = set(delta.read(dag_run.paths.silver("customer_records"))["email"].drop_nulls().to_list())
    dim = pl.read_parquet(dag_run.paths.mart("dim_customer"))
    assert not emails & set(dim["email"].drop_nulls().to_list())


@pytest.mark.slow
def test_the_weekly_report_dag_exports_csv_excel_and_pdf(dag_run: DagRun):
    assert dag_run.weekly.ok, dag_run.weekly.log_file.read_text(encoding="utf-8")[-3000:]
    suffixes = {p.suffix for p in dag_run.paths.reports.glob("weekly_kpis_*")}
    assert {".csv", ".xlsx", ".pdf"} <= suffixes


def test_runner_reports_a_missing_dag_as_a_failure(tmp_path: Path):
    config = load_config(REPO_ROOT / "cdp.yaml", data_root=tmp_path / "data")
    result = dags_test(config, "no_such_dag", LOGICAL_DATE, airflow_home=tmp_path / "airflow", stream=False)
    assert not result.ok
