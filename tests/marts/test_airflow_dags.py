"""The real Airflow runs `cdp_daily`'s dbt stage through Cosmos and publishes the marts.

`airflow dags test` runs every task in this machine's Airflow, on the tiny lake. The upstream
stages (ingest, standardize, resolve, the silver gate) belong to other packages and have no
landing files here, so they are marked successful and the lake stands in for their output. (The
weekly report's work is tested directly in test_kpi_report.py; its DAG file is parsed by the
foundation DAG tests.)
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import duckdb
import pytest
import yaml

from cdp.airflow_runner import _airflow_bin, airflow_env, ensure_metadata_db
from tests.fixtures.tiny_lake import write_tiny_lake
from tests.marts.conftest import TEST_CAMPAIGN
from warehouse.config import REPO_ROOT, load_config
from warehouse.paths import LakePaths
from warehouse.publish import built_batch

UPSTREAM = r"^(list_sources|ingest|standardize|resolve|quality_gate_silver)$"


def _dags_test(env: dict[str, str], dag_id: str, day: str, *extra: str) -> str:
    proc = subprocess.run(
        [_airflow_bin(), "dags", "test", dag_id, day, *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    log = proc.stdout + proc.stderr
    (Path(env["CDP_DATA_ROOT"]).parent / f"{dag_id}.log").write_text(log, encoding="utf-8")
    finished = [line for line in log.splitlines() if "DagRun Finished" in line]
    assert proc.returncode == 0 and finished and "state=success" in finished[-1], log[-6000:]
    return log


@pytest.mark.slow
def test_cdp_daily_builds_and_publishes_the_marts_through_cosmos(tmp_path: Path):
    root = tmp_path / "data"
    write_tiny_lake(root)
    settings = yaml.safe_load((REPO_ROOT / "cdp.yaml").read_text(encoding="utf-8"))
    settings["data_root"] = str(root)
    settings["marts"]["experiments"]["campaigns"] = [TEST_CAMPAIGN]
    config_file = tmp_path / "cdp.yaml"
    config_file.write_text(yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8")
    config = load_config(config_file, data_root=root)
    env = airflow_env(config, airflow_home=tmp_path / "airflow")
    env["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "INFO"  # the "DagRun Finished ... state=" line is INFO
    ensure_metadata_db(env)

    log = _dags_test(env, "cdp_daily", "2026-06-30", "--mark-success-pattern", UPSTREAM)

    assert "task_id=build_marts.dbt.dbt_producer_watcher" in log  # one dbt build, rendered by Cosmos
    assert "XCom not found" not in log  # every model's sensor found the producer's result
    assert built_batch(config) == "b20260630T000000"  # the batch id follows the logical date
    paths = LakePaths.at(root)
    with duckdb.connect(str(paths.duckdb), read_only=True) as con:
        assert con.execute("select count(*) from dim_customer").fetchall() == [(12,)]
        states = dict(con.execute("select customer_id, lifecycle_state from customer_lifecycle").fetchall())
        published = con.execute("select distinct batch_id from cdp_publish_log").fetchall()
    assert states["C04"] == "dormant" and states["C05"] == "churned"
    assert published == [("b20260630T000000",)]
    assert (paths.docs / "dbt" / "static_index.html").is_file()

    _dags_test(env, "cdp_weekly_report", "2026-06-30")

    assert sorted(p.suffix for p in paths.reports.glob("weekly_kpis_2026-06-29.*")) == [
        ".csv",
        ".pdf",
        ".xlsx",
    ]
