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
@click.version_option(package_name="cdp")
@click.pass_context
def cli(
    ctx: click.Context, config_path: str | None, data_root: str | None, verbose: int, quiet: bool
) -> None:
    """Customer Data Platform: ingest, resolve, check and publish a 360° view of every customer.

    Typical use: `cdp generate` sample data, `cdp run` the pipeline in-process, or `cdp demo` to run
    it through the real Airflow DAG. Every command takes --data-root.
    """
    logs.configure(verbosity=verbose, quiet=quiet)
    progress.set_enabled(not quiet)
    try:
        config = load_config(config_path, data_root=data_root)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from exc
    ctx.obj = CliContext(config=config, verbose=verbose, quiet=quiet)


def _register() -> None:
    for module_name, attribute in COMMANDS:
        module = importlib.import_module(module_name)
        cli.add_command(getattr(module, attribute))


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
