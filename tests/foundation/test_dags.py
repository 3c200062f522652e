"""The DAG files parse cleanly, fast, and keep the pipeline's shape."""

from __future__ import annotations

import itertools
import subprocess
import sys

import pytest

from warehouse.config import REPO_ROOT

PARSE = """
import json, os
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=os.environ["DAGS"])
dag = bag.dags.get("cdp_daily")
print(json.dumps({
    "errors": {k: str(v) for k, v in bag.import_errors.items()},
    "dags": sorted(bag.dags),
    "edges": sorted([t.task_id, d] for t in (dag.tasks if dag else []) for d in t.downstream_task_ids),
}))
"""


@pytest.fixture(scope="module")
def parsed(tmp_path_factory) -> dict:
    import json

    home = tmp_path_factory.mktemp("airflow_home")
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "DAGS": str(REPO_ROOT / "dags"),
        "PATH": "/usr/bin:/bin",
    }
    proc = subprocess.run([sys.executable, "-c", PARSE], env=env, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_dags_import_without_errors(parsed):
    assert parsed["errors"] == {}
    assert "cdp_daily" in parsed["dags"]


def test_cdp_daily_runs_stages_in_order(parsed):
    edges = {tuple(e) for e in parsed["edges"]}
    chain = ["standardize", "resolve", "quality_gate_silver"]
    for upstream, downstream in itertools.pairwise(chain):
        assert (upstream, downstream) in edges
    assert ("list_sources", "ingest") in edges
    assert ("ingest", "standardize") in edges
    assert ("quality_gate_gold", "publish") in edges
    assert ("publish", "summary") in edges


def test_dag_module_has_no_heavy_top_level_imports():
    """The scheduler re-parses DAG files constantly: our packages load inside tasks only."""
    code = (
        "import sys, time; t = time.time(); import runpy; "
        f"runpy.run_path({str(REPO_ROOT / 'dags' / 'cdp_daily.py')!r}); "
        "heavy = [m for m in ('polars', 'duckdb', 'deltalake', 'great_expectations', 'dbt') if m in sys.modules]; "
        "print(heavy)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip().splitlines()[-1] == "[]", proc.stdout
