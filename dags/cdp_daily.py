"""cdp_daily: the nightly Customer Data Platform run.

ingest (one mapped task per source) -> standardize -> resolve -> quality gate -> dbt marts
-> quality gate (gold) -> publish -> summary (fails the run if a landing file of this run did not load)

The file stays thin: every task calls one function of `cdp.pipeline`, imported inside the task so
that the scheduler parses this file fast. Tasks are idempotent for a logical date: the batch id is
derived from it, and every stage skips or replaces what it already did for that batch.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import dag, get_current_context, task

from cdp.airflow_tasks import fail_fast
from cdp.marts_task_group import marts_task_group

DEFAULT_ARGS: dict[str, Any] = {
    "owner": "data-engineering",
    "retries": 1,  # for what may pass on a retry; a problem a person must fix fails at once (fail_fast)
    "retry_delay": timedelta(minutes=5),
    "execution_timeout": timedelta(hours=2),
}


def _config():
    from warehouse.config import load_config

    return load_config()


def _batch_id() -> str:
    """A batch id derived from the logical date, so a re-run of the same day reuses it."""
    from warehouse.batches import new_batch_id

    context = get_current_context()
    logical = context.get("logical_date") or context.get("dag_run").run_after  # type: ignore[union-attr]
    return new_batch_id(logical)


@dag(
    dag_id="cdp_daily",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["cdp"],
    doc_md=__doc__,
)
def cdp_daily() -> None:
    @task
    @fail_fast
    def list_sources() -> list[str]:
        from cdp import pipeline

        return pipeline.source_names(_config())

    @task(max_active_tis_per_dag=2)
    @fail_fast
    def ingest(source: str) -> dict[str, Any]:
        from cdp import pipeline

        return pipeline.ingest(_config(), source, _batch_id())

    @task(trigger_rule="all_done")
    @fail_fast
    def standardize(ingested: list[dict[str, Any]]) -> dict[str, Any]:
        """Runs even when a source failed: the other sources' data still moves on."""
        from cdp import pipeline

        return pipeline.standardize(_config(), _batch_id())

    @task
    @fail_fast
    def resolve(_: dict[str, Any]) -> dict[str, Any]:
        from cdp import pipeline

        return pipeline.resolve(_config(), _batch_id())

    @task
    @fail_fast
    def quality_gate_silver(_: dict[str, Any]) -> dict[str, Any]:
        from cdp import pipeline

        return pipeline.quality_gate(_config(), "silver", _batch_id())

    @task
    @fail_fast
    def quality_gate_gold(_: dict[str, Any]) -> dict[str, Any]:
        from cdp import pipeline

        return pipeline.quality_gate(_config(), "gold", _batch_id())

    @task
    @fail_fast
    def publish(_: dict[str, Any]) -> dict[str, Any]:
        from cdp import pipeline

        return pipeline.publish(_config(), _batch_id())

    @task(retries=0)
    @fail_fast
    def summary(_: dict[str, Any]) -> dict[str, Any]:
        """Fails the run (after writing its summary) when a landing file of this run did not load."""
        from cdp import pipeline

        return pipeline.finish_run(_config(), _batch_id())

    ingested = ingest.expand(source=list_sources())
    silver = standardize(ingested)
    resolved = resolve(silver)
    checked = quality_gate_silver(resolved)
    # dbt through astronomer-cosmos: start -> one `dbt build` (Cosmos watcher) + a task per model -> finish
    built = marts_task_group(_config(), _batch_id)
    checked >> built
    gold_checked = quality_gate_gold(built.get_child_by_label("finish").output)
    published = publish(gold_checked)
    summary(published)


cdp_daily()
