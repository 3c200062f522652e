"""The `build_marts` task group of `cdp_daily`: the dbt project rendered by astronomer-cosmos.

Shape: `start` (forget the last build's success marker) -> Cosmos `dbt` group -> `finish` (record
success for publish). Inside the Cosmos group one producer task runs a single `dbt build` in
process (`ExecutionMode.WATCHER`, `InvocationMode.DBT_RUNNER`): DuckDB allows one writer per
file, and one build parses the project once instead of once per model. Cosmos adds one sensor
task per model (and one per model's tests) that reports that node's status from the producer,
so the Airflow UI still shows every model and a retried sensor re-runs just its model.

The sensors are put downstream of the producer so they only read its finished results; this keeps
`airflow dags test` (which runs tasks one at a time) from waiting on a build that has not started.

Every task of the group that writes the data root holds its lock (`warehouse.locks`) while it runs:
`start` and `finish` in their bodies, the producer from its `pre_execute` hook to its
`post_execute` hook (or its failure callback; the process ending releases it in any case), so an
erasure, which deletes the build database, or a hand-run `cdp marts build` never runs inside it.
A busy root raises DataRootBusy from the hook, outside `fail_fast`: Airflow retries the producer.

The dbt invocation is the one `warehouse.dbt` uses: same project, profile, environment (data root,
engine settings) and vars (cdp.yaml `marts:`), so `cdp run` and the DAG build identical marts.
"""

from __future__ import annotations

import os
import sys
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import TaskGroup, task

from warehouse.config import CdpConfig
from warehouse.dbt import DBT_PROJECT_DIR, PROFILE_NAME, TARGET_NAME, dbt_env
from warehouse.locks import data_root_lock
from warehouse.marts_settings import dbt_vars

# Nothing may need the internet at run time: Cosmos would otherwise report usage on every DAG run.
os.environ.setdefault("AIRFLOW__COSMOS__ENABLE_TELEMETRY", "False")

# dbt_project.yml `name:` (Cosmos would otherwise take the folder name and miss the producer's results).
PROJECT_NAME = "cdp"
DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt")
BUILD_TIMEOUT = timedelta(hours=1)
PRODUCER_SUFFIX = "dbt_producer_watcher"

# The producer's hold on the data root, from its pre_execute hook to its post_execute hook.
_PRODUCER_LOCK = ExitStack()


def _lock_producer(config: CdpConfig) -> tuple[Any, Any, Any]:
    """pre_execute, post_execute and failure hooks holding the data root while the producer's
    `dbt build` runs; Cosmos gives the same hooks to its sensors, which only read, so they skip."""

    def take(context: Any, *_: Any) -> None:
        if context["task"].task_id.endswith(PRODUCER_SUFFIX):
            _PRODUCER_LOCK.enter_context(data_root_lock(config, "build marts (dbt producer)"))

    def give_back(context: Any, *_: Any) -> None:
        _PRODUCER_LOCK.close()

    return take, give_back, give_back


def marts_task_group(config: CdpConfig, batch_id: Any, group_id: str = "build_marts") -> TaskGroup:
    """Build the group; `batch_id` is a callable returning the run's batch id (evaluated in tasks)."""
    from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
    from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior

    env = dbt_env(config)
    take_lock, release_lock, release_on_failure = _lock_producer(config)
    with TaskGroup(group_id=group_id, tooltip="dbt build of every mart (Cosmos), into build/") as group:

        @task(task_id="start")
        def start(_: Any = None) -> str:
            from warehouse.publish import start_build

            batch = batch_id()
            with data_root_lock(config, "build marts (start)"):
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
                "pre_execute": take_lock,
                "post_execute": release_lock,
                "on_failure_callback": release_on_failure,
            },
        )

        @task(task_id="finish")
        def finish(batch: str) -> dict[str, Any]:
            from warehouse.publish import finish_build

            with data_root_lock(config, "build marts (finish)"):
                finished = finish_build(config, batch)
            return {"stage": "build_marts", "batch_id": batch, "status": "ok", **finished}

        started = start()
        done = finish(started)
        started >> dbt_group >> done
        _sensors_after_producer(dbt_group)
    return group


def _sensors_after_producer(dbt_group: Any) -> None:
    """Make every Cosmos sensor wait for the producer's single `dbt build` to finish."""
    producer = next(t for t in dbt_group.children.values() if t.task_id.endswith(PRODUCER_SUFFIX))
    for root in dbt_group.get_roots():
        if root is not producer and producer not in root.upstream_list:
            producer >> root
