"""The `cdp` console command: one front door for every job.

Each subcommand lives in `cdp/commands/<name>.py` and only parses arguments, calls one function
from the packages below and reports; the work itself never happens here.
"""

from __future__ import annotations

import importlib
import sys

import click

from cdp.context import CliContext
from warehouse import logs, progress
from warehouse.config import ConfigError, load_config
from warehouse.errors import CdpError

LOCK_WAIT_HELP = (
    "Seconds a command that writes the data root waits while another process writes it, then fails "
    "naming that process (default: locks.wait_seconds in cdp.yaml, 600; 0: do not wait)."
)

# (module, command attribute) pairs; a command's module is imported only when it is listed so a
# broken optional dependency cannot take the whole CLI down.
COMMANDS: list[tuple[str, str]] = [
    ("cdp.commands.generate", "generate"),
    ("cdp.commands.run", "run"),
    ("cdp.commands.demo", "demo"),
    ("cdp.commands.bench", "bench"),
    ("cdp.commands.ingest", "ingest"),
    ("cdp.commands.clv", "clv"),
    ("cdp.commands.resolve", "resolve"),
    ("cdp.commands.privacy", "privacy"),
    ("cdp.commands.query", "query"),
    ("cdp.commands.publish_roles", "publish_roles"),
    ("cdp.commands.erase", "erase"),
    ("cdp.commands.backup", "backup"),
    ("cdp.commands.backup", "restore"),
    ("cdp.commands.marts", "marts"),
    ("cdp.commands.quality", "quality"),
]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar="CDP_CONFIG",
    help="Configuration file (default: ./cdp.yaml, then the repository's cdp.yaml).",
)
@click.option(
    "--data-root",
    type=click.Path(file_okay=False),
    envvar="CDP_DATA_ROOT",
    help="Data root holding landing/, lake/, marts/ and cdp.duckdb (default from cdp.yaml: ./data).",
)
@click.option("-v", "--verbose", count=True, help="More detail in the logs (-v: debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors; no progress bars.")
@click.option(
    "--lock-wait",
    type=click.FloatRange(min=0),
    envvar="CDP_LOCK_WAIT",
    default=None,
    help=LOCK_WAIT_HELP,
)
@click.version_option(package_name="cdp")
@click.pass_context
def cli(
    ctx: click.Context,
    config_path: str | None,
    data_root: str | None,
    verbose: int,
    quiet: bool,
    lock_wait: float | None,
) -> None:
    """Customer Data Platform: ingest, resolve, check and publish a 360° view of every customer.

    Typical use: `cdp generate` sample data, `cdp run` the pipeline in-process, or `cdp demo` to run
    it through the real Airflow DAG. Every command takes --data-root.
    """
    _configure_output(verbose, quiet)
    try:
        config = load_config(config_path, data_root=data_root)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from exc
    if lock_wait is not None:
        config = config.with_setting("locks", "wait_seconds", lock_wait)
    ctx.obj = CliContext(config=config, verbose=verbose, quiet=quiet, data_root=data_root)


def _configure_output(verbose: int, quiet: bool) -> None:
    logs.configure(verbosity=verbose, quiet=quiet)
    progress.set_enabled(not quiet)


def _late_data_root(ctx: click.Context, _: click.Parameter, value: str | None) -> None:
    """`cdp run --data-root D` means `cdp --data-root D run`: the root is moved before the command runs."""
    state = ctx.find_object(CliContext)
    if value is not None and state is not None:
        state.config = state.config.with_data_root(value)
        state.data_root = value


def _late_lock_wait(ctx: click.Context, _: click.Parameter, value: float | None) -> None:
    """`cdp erase --lock-wait 0` means `cdp --lock-wait 0 erase`."""
    state = ctx.find_object(CliContext)
    if value is not None and state is not None:
        state.config = state.config.with_setting("locks", "wait_seconds", value)


def _late_output(ctx: click.Context, param: click.Parameter, value: int | bool) -> None:
    """`-v` / `-q` after the subcommand add to those given before it."""
    state = ctx.find_object(CliContext)
    if not value or state is None:
        return
    if param.name == "quiet":
        state.quiet = True
    else:
        state.verbose += int(value)
    _configure_output(state.verbose, state.quiet)


def _late_options() -> list[click.Option]:
    """The global options every subcommand also takes after its name (README: `cdp <command> --help`)."""
    return [
        click.Option(
            ["--data-root"],
            type=click.Path(file_okay=False),
            expose_value=False,
            callback=_late_data_root,
            help="Data root (same as `cdp --data-root`; wins over it).",
        ),
        click.Option(
            ["--lock-wait"],
            type=click.FloatRange(min=0),
            expose_value=False,
            callback=_late_lock_wait,
            help="Same as `cdp --lock-wait SECONDS`.",
        ),
        click.Option(
            ["-v", "--verbose"],
            count=True,
            expose_value=False,
            callback=_late_output,
            help="More detail in the logs (same as `cdp -v`).",
        ),
        click.Option(
            ["-q", "--quiet"],
            is_flag=True,
            expose_value=False,
            callback=_late_output,
            help="Only warnings and errors (same as `cdp -q`).",
        ),
    ]


def _accept_global_options(command: click.Command) -> None:
    """Give `command` (and every command under it) the global options it does not define itself.

    A command with its own `--data-root` (`cdp bench marts --data-root`: the lake to measure) keeps it.
    """
    taken = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
    for option in _late_options():
        if not taken & set(option.opts):
            command.params.append(option)
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _accept_global_options(sub)


def _register() -> None:
    for module_name, attribute in COMMANDS:
        module = importlib.import_module(module_name)
        command = getattr(module, attribute)
        _accept_global_options(command)
        cli.add_command(command)


_register()


def main() -> None:
    """Console entry point; turns our known error types into a clean message and exit code."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except ConfigError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    except CdpError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
