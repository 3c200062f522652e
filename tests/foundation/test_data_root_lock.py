"""Every stage and command that writes the data root takes its lock; read-only ones do not; a busy
root is retried by Airflow, not failed at once. Another real process holds the root (`holder`)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from cdp import pipeline
from tests.warehouse.test_locks import holder
from warehouse.config import REPO_ROOT, CdpConfig
from warehouse.locks import DataRootBusy

BATCH = "20261128T020000Z"

STAGES: dict[str, Callable[[CdpConfig], Any]] = {
    "ingest pos": lambda config: pipeline.ingest(config, "pos", BATCH),
    "standardize": lambda config: pipeline.standardize(config, BATCH),
    "resolve": lambda config: pipeline.resolve(config, BATCH),
    "quality gate silver": lambda config: pipeline.quality_gate(config, "silver", BATCH),
    "build marts": lambda config: pipeline.build_marts(config, BATCH),
    "publish": lambda config: pipeline.publish(config, BATCH),
    "summary": lambda config: pipeline.finish_run(config, BATCH),
}


@pytest.mark.parametrize("stage", STAGES)
def test_every_pipeline_stage_waits_for_another_writer_then_fails_naming_it(stage, tmp_path):
    config = CdpConfig(path=None, raw={"locks": {"wait_seconds": 0.1}}, data_root=tmp_path / "data")
    with holder(config.data_root, "cdp erase"), pytest.raises(DataRootBusy) as refused:
        STAGES[stage](config)
    assert str(refused.value).startswith(f"{stage}: the data root {config.data_root} is busy")
    assert "cdp erase (exclusive)" in str(refused.value)


def cdp(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cdp.cli", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


WRITERS = {
    "erase": ["erase", "--email", "someone@example.com", "--yes"],
    "audit history rewrite": ["privacy", "audit", "--redact-history"],
    "restore": ["restore", "--target", "{tmp}/restored"],
    "cdp resolve --full": ["resolve", "--full"],
}


@pytest.mark.parametrize("what", WRITERS)
def test_operator_commands_refuse_while_the_dag_writes(what, tmp_path):
    root = tmp_path / "data"
    args = [a.replace("{tmp}", str(tmp_path)) for a in WRITERS[what]]
    with holder(root, "ingest pos"):
        result = cdp("--data-root", str(root), *args, "--lock-wait", "0.1")
    assert result.returncode == 1, result.stderr
    assert f"Error: {what}: the data root {root} is busy" in result.stderr
    assert "ingest pos (exclusive) by pid" in result.stderr


def test_a_backup_runs_beside_another_backup_but_not_beside_a_writer(tmp_path):
    from privacy.backup import backup

    raw = {
        "locks": {"wait_seconds": 0.1},
        "privacy": {"backup": {"root": str(tmp_path / "backups"), "encrypt": False}},
    }
    config = CdpConfig(path=None, raw=raw, data_root=tmp_path / "data")
    (config.data_root / "landing").mkdir(parents=True)
    (config.data_root / "landing" / "members.csv").write_text("id\n1\n", encoding="utf-8")
    with (
        holder(config.data_root, "standardize"),
        pytest.raises(DataRootBusy, match=r"standardize \(exclusive\)"),
    ):
        backup(config, "full")
    with holder(config.data_root, "backup (full)", mode="shared"):
        taken = backup(config, "full")
    assert taken.files == 1  # the data, not the lock file or its holder records


def test_read_only_commands_take_nothing(tmp_path):
    root = tmp_path / "data"
    with holder(root, "publish"):
        checked = cdp("--data-root", str(root), "--lock-wait", "0", "privacy", "check")
        reported = cdp("--data-root", str(root), "--lock-wait", "0", "ingest", "--report")
    for result in (checked, reported):
        assert "busy" not in result.stderr, result.stderr


def test_a_busy_root_is_retried_by_airflow_not_failed_at_once():
    from cdp.airflow_tasks import fail_fast

    @fail_fast
    def standardize() -> None:
        raise DataRootBusy("standardize: the data root /data is busy: held by backup (full) (shared)")

    with pytest.raises(DataRootBusy):  # not AirflowFailException: the task keeps its retries
        standardize()
