"""Running our DAGs through the real Airflow (`airflow dags test`) with an embedded home.

`make demo` and the end-to-end tests use this: AIRFLOW_HOME lives inside the repository (ignored by
git) with SQLite metadata, migrated automatically the first time, and the DAG folder points at our
`dags/`. The data root and configuration reach the tasks through CDP_DATA_ROOT / CDP_CONFIG.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from warehouse.config import REPO_ROOT, CdpConfig
from warehouse.errors import CdpError

log = logging.getLogger("cdp.airflow")

DEFAULT_AIRFLOW_HOME = REPO_ROOT / ".airflow"
DAGS_FOLDER = REPO_ROOT / "dags"


class AirflowRunError(CdpError):
    pass


@dataclass(frozen=True)
class DagTestResult:
    dag_id: str
    logical_date: str
    returncode: int
    log_file: Path

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def airflow_env(config: CdpConfig, airflow_home: Path = DEFAULT_AIRFLOW_HOME) -> dict[str, str]:
    """Environment for an embedded Airflow that runs our DAGs against `config`'s data root."""
    env = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)
    env.update(
        {
            "AIRFLOW_HOME": str(airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home / 'airflow.db'}",
            # INFO: the run's own log file needs the "DagRun Finished ... state=" line (the console
            # only shows task progress, filtered by _is_progress_line).
            "AIRFLOW__LOGGING__LOGGING_LEVEL": env.get("AIRFLOW__LOGGING__LOGGING_LEVEL", "INFO"),
            # Nothing may need the internet at run time: no usage reporting from Airflow or Cosmos.
            "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
            "SCARF_ANALYTICS": "false",
            "DO_NOT_TRACK": "1",
            "CDP_DATA_ROOT": str(config.data_root),
            "PATH": bin_dir + os.pathsep + env.get("PATH", ""),
            "PYTHONWARNINGS": "ignore",
        }
    )
    if config.path:
        env["CDP_CONFIG"] = str(config.path)
    return env


def _airflow_bin() -> str:
    candidate = Path(sys.executable).parent / "airflow"
    return str(candidate) if candidate.exists() else "airflow"


def ensure_metadata_db(env: dict[str, str]) -> None:
    """Create or upgrade the SQLite metadata database; cheap when it is already current."""
    home = Path(env["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    stamp = home / ".migrated"
    version = _airflow_version(env)
    if stamp.exists() and stamp.read_text().strip() == version and (home / "airflow.db").exists():
        return
    log.info("migrating Airflow metadata database in %s", home)
    proc = subprocess.run([_airflow_bin(), "db", "migrate"], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise AirflowRunError(f"airflow db migrate failed:\n{proc.stderr[-4000:]}")
    stamp.write_text(version)


def _airflow_version(env: dict[str, str]) -> str:
    from importlib.metadata import version

    return version("apache-airflow-core")


def dags_test(
    config: CdpConfig,
    dag_id: str = "cdp_daily",
    logical_date: date | None = None,
    airflow_home: Path = DEFAULT_AIRFLOW_HOME,
    stream: bool = True,
) -> DagTestResult:
    """Run one DAG run in-process with `airflow dags test` and keep its full log."""
    env = airflow_env(config, airflow_home)
    ensure_metadata_db(env)
    day = (logical_date or date.today()).isoformat()
    log_dir = config.data_root / "runs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_file = log_dir / f"airflow_{dag_id}_{day}.log"
    cmd = [_airflow_bin(), "dags", "test", dag_id, day]
    log.info("running %s (log: %s)", " ".join(cmd), log_file)
    with log_file.open("w", encoding="utf-8") as sink:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            sink.write(line)
            if stream and _is_progress_line(line):
                print("  " + _short(line), flush=True)
        returncode = proc.wait()
    failed = _dag_failed(log_file)
    return DagTestResult(dag_id, day, 1 if failed and returncode == 0 else returncode, log_file)


def _is_progress_line(line: str) -> bool:
    return "[DAG TEST] end task" in line or "DagRun Finished" in line or "ERROR" in line.upper()[:60]


def _short(line: str) -> str:
    line = line.strip()
    if "[DAG TEST] end task" in line:
        task = line.split("task_id=")[-1].split(" ")[0]
        map_index = line.split("map_index=")[-1].split(" ")[0] if "map_index=" in line else "-1"
        return f"task done: {task}" + (f"[{map_index}]" if map_index not in ("-1", "") else "")
    if "DagRun Finished" in line:
        state = line.split("state=")[-1].split(",")[0]
        return f"DAG run finished: {state}"
    return line[:200]


def _dag_failed(log_file: Path) -> bool:
    """`airflow dags test` can exit 0 for a failed run; the final DagRun line tells the truth."""
    finished = [ln for ln in log_file.read_text(encoding="utf-8").splitlines() if "DagRun Finished" in ln]
    return bool(finished) and "state=failed" in finished[-1]
