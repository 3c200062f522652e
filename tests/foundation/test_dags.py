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
    "python_tasks": {
        f"{d.dag_id}.{t.task_id}": getattr(t.python_callable, "fails_fast", False)
        for d in bag.dags.values() for t in d.tasks if hasattr(t, "python_callable")
    },
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


# The marts group's own bookkeeping tasks (forget / record the build's success) raise nothing of ours.
BOOKKEEPING = {"cdp_daily.build_marts.start", "cdp_daily.build_marts.finish"}


def test_every_task_of_ours_fails_at_once_on_a_problem_a_person_must_fix(parsed):
    """A bad file, a failed quality gate or a config mistake fails the same way on a retry: the
    tasks are wrapped by `fail_fast`, so the run does not sit out the retry delay first."""
    tasks = parsed["python_tasks"]
    assert {"cdp_daily.ingest", "cdp_daily.quality_gate_silver", "cdp_backup.take_backup"} <= set(tasks)
    assert [name for name, wrapped in tasks.items() if not wrapped and name not in BOOKKEEPING] == []


def test_fail_fast_turns_our_errors_into_a_failure_airflow_does_not_retry():
    from airflow.sdk.exceptions import AirflowFailException

    from cdp.airflow_tasks import fail_fast
    from ingest.errors import SourceFailed

    @fail_fast
    def ingest() -> None:
        raise SourceFailed("pos", ["pos/members.csv: missing column 'card_no'"])

    @fail_fast
    def lost_mount() -> None:
        raise OSError("Stale file handle")

    with pytest.raises(AirflowFailException, match=r"(?s)source 'pos' failed.*card_no.*not retried"):
        ingest()
    with pytest.raises(OSError, match="Stale file handle"):  # may pass on a retry: Airflow retries it
        lost_mount()
