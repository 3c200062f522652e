"""The cdp_backup DAG parses and keeps its shape: backup, then retention and the quarterly drill."""

from __future__ import annotations

import json
import subprocess
import sys

from warehouse.config import REPO_ROOT

PARSE = """
import json, os, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=os.environ["DAG_FILE"])
dag = bag.dags.get("cdp_backup")
print(json.dumps({
    "errors": {k: str(v) for k, v in bag.import_errors.items()},
    "schedule": str(dag.schedule) if dag else None,
    "edges": sorted([t.task_id, d] for t in (dag.tasks if dag else []) for d in t.downstream_task_ids),
    "heavy": [m for m in ("polars", "duckdb", "deltalake", "privacy") if m in sys.modules],
}))
"""


def test_cdp_backup_backs_up_daily_then_prunes_and_drills(tmp_path):
    env = {
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "DAG_FILE": str(REPO_ROOT / "dags" / "cdp_backup.py"),
        "PATH": "/usr/bin:/bin",
    }
    proc = subprocess.run([sys.executable, "-c", PARSE], env=env, capture_output=True, text=True, check=True)
    parsed = json.loads(proc.stdout.strip().splitlines()[-1])
    assert parsed["errors"] == {}
    assert parsed["schedule"] == "@daily"
    assert parsed["heavy"] == []  # the scheduler parses DAG files often: our packages load inside tasks
    assert {tuple(e) for e in parsed["edges"]} == {
        ("take_backup", "prune"),
        ("take_backup", "drill_due"),
        ("take_backup", "restore_drill"),
        ("drill_due", "restore_drill"),
    }
