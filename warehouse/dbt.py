"""Running the dbt project (`dbt_project/`) in-process with our profile, data root and business rules.

One place decides how dbt is invoked, so `cdp run`, the Airflow DAG (through Cosmos), the tests and
the benchmark all build the same thing:

- the profile (`dbt_project/profiles.yml`) reads the data root and engine settings from
  environment variables that `dbt_env` sets from `cdp.yaml`;
- every business parameter travels as dbt vars (`warehouse.marts_settings.dbt_vars`);
- dbt's target and log folders live under the data root's `build/` (never in the repository), so
  runs against different data roots never share artefacts;
- dbt builds into `build/cdp_build.duckdb`; only `warehouse.publish` touches what readers see.
  That database persists from run to run (only an erasure deletes it), so the incremental facts
  of a daily build continue what the previous build wrote (`dbt_project/macros/incremental.sql`).
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from warehouse.config import REPO_ROOT, CdpConfig
from warehouse.environment import environment
from warehouse.errors import CdpError
from warehouse.marts_settings import dbt_vars, load_settings
from warehouse.paths import LakePaths

log = logging.getLogger("cdp.dbt")

DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
PROFILE_NAME = "cdp"
TARGET_NAME = "build"
# Schema of the build database that holds the marts (dbt_project.yml: models/marts -> +schema).
MARTS_SCHEMA = "marts"

# dbt's global flags and DuckDB's engine are process-wide: one invocation at a time per process.
_INVOCATION_LOCK = threading.Lock()


class DbtBuildError(CdpError):
    """dbt reported errors or failing tests; the message lists each failing node and why."""


@dataclass(frozen=True)
class NodeResult:
    unique_id: str
    status: str
    seconds: float
    message: str | None = None
    rows: int | None = None

    @property
    def name(self) -> str:
        return self.unique_id.split(".")[-1]

    @property
    def resource_type(self) -> str:
        return self.unique_id.split(".")[0]


@dataclass(frozen=True)
class DbtResult:
    command: list[str]
    success: bool
    seconds: float
    nodes: list[NodeResult] = field(default_factory=list)
    artifacts_dir: Path | None = None

    @property
    def failures(self) -> list[NodeResult]:
        return [n for n in self.nodes if n.status in {"error", "fail", "runtime error"}]

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for node in self.nodes:
            key = f"{node.resource_type}_{node.status}"
            counts[key] = counts.get(key, 0) + 1
        return counts

    def summary(self) -> dict[str, Any]:
        return {
            "dbt_command": " ".join(self.command),
            "dbt_seconds": round(self.seconds, 1),
            "dbt_nodes": self.counts(),
        }


def target_dir(config: CdpConfig) -> Path:
    return LakePaths.at(config.data_root).build / "dbt" / "target"


def log_dir(config: CdpConfig) -> Path:
    return LakePaths.at(config.data_root).build / "dbt" / "logs"


def dbt_env(config: CdpConfig) -> dict[str, str]:
    """Environment variables `profiles.yml` reads (data root and engine settings)."""
    engine = load_settings(config).engine
    return {
        "CDP_DATA_ROOT": str(LakePaths.at(config.data_root).root),
        "CDP_DBT_THREADS": str(engine.dbt_threads),
        "CDP_DUCKDB_THREADS": str(engine.duckdb_threads),
        "CDP_DUCKDB_MEMORY_LIMIT": engine.memory_limit,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
    }


def dbt_vars_json(config: CdpConfig) -> str:
    return json.dumps(dbt_vars(config), sort_keys=True)


def common_args(config: CdpConfig) -> list[str]:
    """Flags every invocation needs: where the project and profile are, where artefacts go, the vars."""
    return [
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(target_dir(config)),
        "--log-path",
        str(log_dir(config)),
        "--vars",
        dbt_vars_json(config),
    ]


def invoke(config: CdpConfig, command: list[str], *extra: str, check: bool = True) -> DbtResult:
    """Run one dbt command in this process (`dbtRunner`) and return its per-node results.

    With `check`, errors and failing tests raise `DbtBuildError` naming every failing node.
    """
    import time

    from dbt.cli.main import dbtRunner

    LakePaths.at(config.data_root).build.mkdir(parents=True, exist_ok=True)
    args = [*command, *common_args(config), "--quiet", *extra]
    started = time.perf_counter()
    with _INVOCATION_LOCK, environment(dbt_env(config)):
        outcome = dbtRunner().invoke(args)
        release_duckdb()
    seconds = time.perf_counter() - started
    result = DbtResult(
        command=["dbt", *command, *extra],
        success=bool(outcome.success),
        seconds=seconds,
        nodes=_node_results(outcome.result),
        artifacts_dir=target_dir(config),
    )
    log.info(
        "dbt %s: %s in %.1f s %s",
        " ".join(command),
        "ok" if result.success else "FAILED",
        seconds,
        result.counts(),
    )
    if check and not result.success:
        raise DbtBuildError(_failure_message(result, outcome.exception))
    return result


def build(config: CdpConfig, select: str | None = None, exclude: str | None = None) -> DbtResult:
    """`dbt build`: every model and its tests, into the build database (never the published one)."""
    extra = [*(["--select", select] if select else []), *(["--exclude", exclude] if exclude else [])]
    return invoke(config, ["build"], *extra)


DOCS_FILES = ("static_index.html", "index.html", "catalog.json", "manifest.json")
DOCS_FINGERPRINT = "project_fingerprint.txt"


def project_fingerprint(config: CdpConfig) -> str:
    """Hash of everything the docs depend on: the project's files, the vars and dbt's version.

    Row counts are not in dbt's docs, so two builds with the same fingerprint have the same docs.
    """
    import hashlib
    from importlib.metadata import version

    # The installed distribution's version, not `dbt.version`: importing dbt costs 5-8 s per publish.
    dbt_version = version("dbt-core")
    digest = hashlib.sha256(f"{dbt_version}\n{dbt_vars_json(config)}\n".encode())
    for path in sorted(DBT_PROJECT_DIR.rglob("*")):
        if path.is_file() and not {"target", "logs", "dbt_packages"} & set(path.parts):
            digest.update(str(path.relative_to(DBT_PROJECT_DIR)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def docs_generate(config: CdpConfig, out_dir: Path, reuse_from: Path | None = None) -> Path:
    """`dbt docs generate` as one self-contained `static_index.html` (plus the JSON artefacts) in `out_dir`.

    With `reuse_from` (the published docs folder), docs generated for the same project fingerprint
    are copied instead of regenerated: a daily run with an unchanged project saves a dbt invocation
    (parse, compile every node, catalog queries).
    """
    fingerprint = project_fingerprint(config)
    out_dir.mkdir(parents=True, exist_ok=True)
    previous = reuse_from / DOCS_FINGERPRINT if reuse_from is not None else None
    if previous is not None and previous.exists() and previous.read_text(encoding="utf-8") == fingerprint:
        source = previous.parent
        log.info("dbt docs unchanged (project fingerprint %s): reusing %s", fingerprint[:12], source)
    else:
        result = invoke(config, ["docs", "generate"], "--static")
        source = result.artifacts_dir or target_dir(config)
    for name in DOCS_FILES:
        if (source / name).exists():
            (out_dir / name).write_bytes((source / name).read_bytes())
    (out_dir / DOCS_FINGERPRINT).write_text(fingerprint, encoding="utf-8")
    return out_dir / "static_index.html"


def release_duckdb() -> None:
    """Close dbt-duckdb's process-wide connection so a publish in this process can open the file."""
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # pragma: no cover - dbt-duckdb is a dependency
        return
    with DuckDBConnectionManager._LOCK:
        env = DuckDBConnectionManager._ENV
        if env is not None:
            env.close()
        DuckDBConnectionManager._ENV = None


def _node_results(result: Any) -> list[NodeResult]:
    nodes: list[NodeResult] = []
    for item in getattr(result, "results", None) or []:
        node = getattr(item, "node", None)
        response = getattr(item, "adapter_response", None) or {}
        nodes.append(
            NodeResult(
                unique_id=getattr(node, "unique_id", "?"),
                status=str(getattr(item, "status", "?")).lower().split(".")[-1],
                seconds=float(getattr(item, "execution_time", 0.0) or 0.0),
                message=getattr(item, "message", None),
                rows=response.get("rows_affected") if isinstance(response, dict) else None,
            )
        )
    return nodes


def _failure_message(result: DbtResult, exception: BaseException | None) -> str:
    lines = [f"{' '.join(result.command)} failed"]
    for node in result.failures:
        lines.append(
            f"  {node.resource_type} {node.name}: {node.status}: {(node.message or '').strip()[:500]}"
        )
    if exception is not None:
        lines.append(f"  {type(exception).__name__}: {exception}")
    lines.append(
        f"  logs: {result.artifacts_dir.parent / 'logs' if result.artifacts_dir else 'build/dbt/logs'}"
    )
    return "\n".join(lines)
