"""cdp_weekly_report: every Monday, the weekly KPI report (CSV, Excel, PDF with charts) to reports/.

Reads the published marts (`cdp.duckdb`, read-only), never the build database, so it can run while
`cdp_daily` rebuilds. Re-running a week rewrites the same files. The work is in
`warehouse.kpi_report`; this file only schedules it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import dag, task

from cdp.airflow_tasks import fail_fast

DEFAULT_ARGS: dict[str, Any] = {
    "owner": "data-engineering",
    "retries": 2,
    "retry_delay": timedelta(minutes=10),
    "execution_timeout": timedelta(minutes=30),
}


@dag(
    dag_id="cdp_weekly_report",
    schedule="0 6 * * 1",
    start_date=datetime(2026, 1, 5),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["cdp", "report"],
    doc_md=__doc__,
)
def cdp_weekly_report() -> None:
    @task
    @fail_fast
    def export_report() -> dict[str, Any]:
        from warehouse.config import load_config
        from warehouse.kpi_report import export_weekly_report

        return export_weekly_report(load_config()).summary()

    export_report()


cdp_weekly_report()
