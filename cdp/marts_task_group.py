"""The `build_marts` task group of `cdp_daily`: the dbt project rendered by astronomer-cosmos.

Shape: `start` (forget the last build's success marker) -> Cosmos `dbt` group -> `finish` (record
success for publish). Inside the Cosmos group one producer task runs a single `dbt build` in
process (`ExecutionMode.WATCHER`, `InvocationMode.DBT_RUNNER`): DuckDB allows one writer per
file, and one build parses the project once instead of once per model. Cosmos adds one sensor
task per model (and one per model's tests) that reports that node's status from the producer,
so the Airflow UI still shows every model and a retried sensor re-runs just its model.

The sensors are put downstream of the producer so they only read its finished results; this keeps
`airflow dags test` (which runs tasks one at a time) from waiting on a build that has not started.

The dbt invocation is the one `warehouse.dbt` uses: same project, profile, environment (data root,
engine settings) and vars (cdp.yaml `marts:`), so `cdp run` and the DAG build identical marts.
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import TaskGroup, task

from warehouse.config import CdpConfig
from warehouse.dbt import DBT_PROJECT_DIR, PROFILE_NAME, TARGET_NAME, dbt_env
from warehouse.marts_settings import dbt_vars

# Nothing may need the internet at run time: Cosmos would otherwise report usage on every DAG run.
os.environ.setdefault("AIRFLOW__COSMOS__ENABLE_TELEMETRY", "False")

# dbt_project.yml `name:` (Cosmos would otherwise take the folder name and miss the producer's results).
PROJECT_NAME = "cdp"
DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt")
BUILD_TIMEOUT = timedelta(hours=1)


def marts_task_group(config: CdpConfig, batch_id: Any, group_id: str = "build_marts") -> TaskGroup:
    """Build the group; `batch_id` is a callable returning the run's batch id (evaluated in tasks)."""
    from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
    from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior

    env = dbt_env(config)
    with TaskGroup(group_id=group_id, tooltip="dbt build of every mart (Cosmos), into build/") as group:

        @task(task_id="start")
        def start(_: Any = None) -> str:
            from warehouse.publish import start_build

            batch = batch_id()
            start_build(config, batch)
            return batch

        dbt_group = DbtTaskGroup(
            group_id="dbt",
            project_config=ProjectConfig(
                dbt_project_path=DBT_PROJECT_DIR,
                project_name=PROJECT_NAME,
                install_dbt_deps=False,
                env_vars=env,
            ),
            profile_config=ProfileConfig(
                profile_name=PROFILE_NAME,
                target_name=TARGET_NAME,
                profiles_yml_filepath=DBT_PROJECT_DIR / "profiles.yml",
            ),
            execution_config=ExecutionConfig(
                execution_mode=ExecutionMode.WATCHER,
                invocation_mode=InvocationMode.DBT_RUNNER,
                dbt_executable_path=DBT_EXECUTABLE,
            ),
            render_config=RenderConfig(
                load_method=LoadMode.CUSTOM,
                invocation_mode=InvocationMode.SUBPROCESS,  # no dbt import while Airflow parses the DAG
                dbt_executable_path=DBT_EXECUTABLE,
                test_behavior=TestBehavior.AFTER_EACH,
                emit_datasets=False,
            ),
            operator_args={
                "install_deps": False,
                "vars": dbt_vars(config),
                "execution_timeout": BUILD_TIMEOUT,
            },
        )

        @task(task_id="finish")
        def finish(batch: str) -> dict[str, Any]:
            from warehouse.publish import finish_build

            return {"stage": "build_marts", "batch_id": batch, "status": "ok", **finish_build(config, batch)}

        started = start()
        done = finish(started)
        started >> dbt_group >> done
        _sensors_after_producer(dbt_group)
    return group


def _sensors_after_producer(dbt_group: Any) -> None:
    """Make every Cosmos sensor wait for the producer's single `dbt build` to finish."""
    producer = next(t for t in dbt_group.children.values() if t.task_id.endswith("dbt_producer_watcher"))
    for root in dbt_group.get_roots():
        if root is not producer and producer not in root.upstream_list:
            producer >> root
