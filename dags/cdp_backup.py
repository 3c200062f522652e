"""cdp_backup: daily backup of the data root, weekly full, and a quarterly restore drill.

choose_kind -> backup (full on `privacy.backup.full_weekday`, incremental otherwise) -> prune
(retention: full >= 3 months, incremental >= 6 months) -> restore drill (on the days of
`privacy.backup.drill_months` / `drill_day`: restore the new backup into a scratch folder, prove
checksums and row counts). Every step writes to the audit log as actor `airflow:cdp_backup`.

Thin on purpose: each task calls one function of `privacy.backup`, imported inside the task. Keyed
by the logical date: re-running a day reuses that day's backup instead of taking another.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import dag, get_current_context, task

from cdp.airflow_tasks import fail_fast

ACTOR = "airflow:cdp_backup"
DEFAULT_ARGS: dict[str, Any] = {
    "owner": "data-protection",
    "retries": 1,
    "retry_delay": timedelta(minutes=10),
    "execution_timeout": timedelta(hours=6),
}


def _config():
    from warehouse.config import load_config

    os.environ.setdefault("CDP_USER", ACTOR)
    return load_config()


def _logical_date() -> datetime:
    context = get_current_context()
    return context.get("logical_date") or context["dag_run"].run_after  # type: ignore[union-attr]


@dag(
    dag_id="cdp_backup",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["cdp", "privacy"],
    doc_md=__doc__,
)
def cdp_backup() -> None:
    @task
    @fail_fast
    def take_backup() -> dict[str, Any]:
        from privacy.backup import backup, scheduled_kind
        from privacy.settings import load_settings

        config = _config()
        day = _logical_date()
        result = backup(config, scheduled_kind(day, load_settings(config)), now=day, reuse_existing=True)
        return {"backup_id": result.backup_id, "kind": result.kind, "files_stored": result.files_stored}

    @task
    @fail_fast
    def prune(taken: dict[str, Any]) -> list[str]:
        from privacy.backup import prune as prune_backups

        return prune_backups(_config(), now=_logical_date())

    @task.short_circuit
    @fail_fast
    def drill_due(taken: dict[str, Any]) -> bool:
        from privacy.backup import drill_due as due
        from privacy.settings import load_settings

        return due(_logical_date(), load_settings(_config()))

    @task
    @fail_fast
    def restore_drill(taken: dict[str, Any]) -> dict[str, Any]:
        from privacy.backup import verify_backup

        result = verify_backup(_config(), taken["backup_id"])
        return {"backup_id": result.backup_id, "files": result.files, "tables": len(result.tables_checked)}

    taken = take_backup()
    prune(taken)
    drill_due(taken) >> restore_drill(taken)


cdp_backup()
