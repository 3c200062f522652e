"""The `cdp` command: help everywhere and clean errors for bad arguments."""

from __future__ import annotations

import subprocess
import sys

import click
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


def _commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        yield (*prefix, name), command
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))


def test_every_subcommand_takes_the_global_options_after_its_name():
    """README: every subcommand takes --data-root and -v/--quiet (`cdp run --data-root D`)."""
    for path, command in _commands(cli):
        opts = {opt for param in command.params for opt in param.opts}
        assert {"--data-root", "-v", "-q"} <= opts, f"cdp {' '.join(path)}: {sorted(opts)}"


def test_data_root_after_the_subcommand_moves_the_data_root(tmp_path):
    """`cdp ingest --report --data-root D` reads D, as `cdp --data-root D ingest --report` does."""
    elsewhere, wanted = tmp_path / "elsewhere", tmp_path / "wanted"
    runner = CliRunner()
    result = runner.invoke(
        cli, ["--data-root", str(elsewhere), "ingest", "--report", "--data-root", str(wanted)]
    )
    assert result.exit_code == 0, result.output
    assert f"nothing loaded yet under {wanted / 'lake'}" in result.output.replace("\n", "")


def test_data_root_after_resolve_wins_over_its_config_file(tmp_path):
    """`cdp resolve --config F --data-root D` resolves D's lake, not the one F names."""
    config_file = tmp_path / "cdp.yaml"
    config_file.write_text(f"data_root: {tmp_path / 'from_file'}\n")
    wanted = tmp_path / "wanted"
    result = CliRunner().invoke(cli, ["resolve", "--config", str(config_file), "--data-root", str(wanted)])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "from_file").exists()
