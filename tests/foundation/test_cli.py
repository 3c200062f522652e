"""The `cdp` command: help everywhere and clean errors for bad arguments."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from cdp.cli import cli


def test_every_subcommand_has_help():
    runner = CliRunner()
    top = runner.invoke(cli, ["--help"])
    assert top.exit_code == 0, top.output
    for name, command in cli.commands.items():
        result = runner.invoke(cli, [name, "--help"])
        assert result.exit_code == 0, f"{name}: {result.output}"
        assert command.help, f"{name} has no help text"


@pytest.mark.parametrize(
    "args, message",
    [
        (["generate", "--customers", "0"], "--customers"),
        (["generate", "--customers", "abc"], "--customers"),
        (["nonsense"], "No such command"),
    ],
)
def test_bad_arguments_exit_non_zero_with_a_message(args, message):
    proc = subprocess.run([sys.executable, "-m", "cdp.cli", *args], capture_output=True, text=True)
    assert proc.returncode != 0
    assert message in proc.stderr


def test_missing_config_file_is_a_clean_error(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "cdp.cli", "--config", str(tmp_path / "missing.yaml"), "run", "--help"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "missing.yaml" in proc.stderr
    assert "Traceback" not in proc.stderr
