"""`cdp ingest`: land sources in bronze (all, or `--source NAME`), or `--report` on what landed."""

from __future__ import annotations

import logging

import click
from rich.console import Console
from rich.table import Table

from cdp.context import CliContext, pass_cli
from cdp.report import print_summary
from warehouse.batches import new_batch_id
from warehouse.locks import DataRootBusy

log = logging.getLogger("cdp.ingest")


@click.command()
@click.option("--source", "sources", multiple=True, help="Only these sources (repeatable; default: all).")
@click.option(
    "--batch-id", default=None, help="Reuse a batch id (a re-run of the same batch changes nothing)."
)
@click.option(
    "--report", is_flag=True, help="Do not load: print per source what landed and why rows were rejected."
)
@click.option(
    "--standardize/--no-standardize", default=False, help="Also rebuild silver from bronze afterwards."
)
@click.option(
    "--accept-empty",
    "accept_empty",
    multiple=True,
    metavar="FILE",
    help="A file (path under landing/, as the manifest names it) whose re-delivery without records "
    "really removes its rows (repeatable); without it such a re-delivery fails and keeps them.",
)
@click.option(
    "--reread",
    multiple=True,
    metavar="GLOB",
    help="Read these landing files again although unchanged, replacing their rows (repeatable; a glob "
    "of paths under landing/ as the manifest names them, `*` crossing folders: 'pos/*', "
    "'ecom/orders/orders_2026-10.jsonl'). After an upgrade that fixed a reader or added a check, "
    "files loaded before it are otherwise kept as first read.",
)
@pass_cli
def ingest(
    cli: CliContext,
    sources: tuple[str, ...],
    batch_id: str | None,
    report: bool,
    standardize: bool,
    accept_empty: tuple[str, ...],
    reread: tuple[str, ...],
) -> None:
    """Land new and changed landing files in bronze; bad rows go to quarantine, nothing is lost.

    Files already loaded with the same sha256 are skipped; a corrected re-delivery replaces its
    earlier rows. A source whose file lost a required column fails with the file and column named,
    after every other file has landed. So does a re-delivery without a single record (0 bytes or
    a header only) of a file that had records: its earlier rows are kept unless the file is named
    with --accept-empty.
    """
    from cdp import pipeline
    from ingest.config import sources_config
    from ingest.errors import SourceFailed
    from ingest.loader import FileChoices
    from warehouse.config import ConfigError
    from warehouse.errors import CdpError

    if report:
        _print_report(cli, sources)
        return
    batch = batch_id or new_batch_id()
    names = list(sources) or sources_config(cli.config).names()
    stages, failures = [], []
    for name in names:
        try:
            # erased people stay out; an empty re-delivery empties its file only when accepted
            choices = FileChoices(accept_empty=frozenset(accept_empty), reread=reread)
            stages.append(pipeline.ingest(cli.config, name, batch, choices))
        except DataRootBusy:
            raise  # another process writes the root: the other sources would wait for it too
        except SourceFailed as exc:
            failures.append(str(exc))
            stages.append(
                {"stage": "ingest", "source": name, "status": "failed", "error": "; ".join(exc.problems)}
            )
        except Exception as exc:  # a failing source does not stop the others
            if isinstance(exc, CdpError | ConfigError):  # says what to fix: no traceback
                log.error("source %s failed: %s", name, exc)
            else:
                log.exception("source %s failed", name)
            failures.append(f"source {name}: {exc}")
            stages.append({"stage": "ingest", "source": name, "status": "failed", "error": str(exc)})
    if standardize:  # as the DAG does: silver from what landed, the failed files' earlier rows kept
        stages.append(pipeline.standardize(cli.config, batch))
    print_summary({"batch_id": batch, "stages": stages})
    if failures:
        raise click.ClickException("\n".join(failures))


def _print_report(cli: CliContext, sources: tuple[str, ...]) -> None:
    from ingest.report import load_report

    console = Console()
    for source in list(sources) or [None]:
        report = load_report(cli.paths, source)
        if not report:
            console.print(f"nothing loaded yet under {cli.paths.lake}")
            return
        for title, frame in report.items():
            if frame.is_empty():
                continue
            table = Table(title=f"{title}{f' ({source})' if source else ''}")
            for column in frame.columns:
                table.add_column(column)
            for row in frame.iter_rows():
                table.add_row(*["" if v is None else f"{v:,}" if isinstance(v, int) else str(v) for v in row])
            console.print(table)
