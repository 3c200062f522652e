"""`cdp quality`: run the data quality gates (Great Expectations checkpoints) on demand."""

from __future__ import annotations

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cdp.context import CliContext, pass_cli
from warehouse.batches import new_batch_id
from warehouse.locks import data_root_lock

LAYER_CHOICES = ("bronze", "silver", "gold")


@click.command()
@click.option(
    "--layer",
    "layers",
    type=click.Choice(LAYER_CHOICES),
    multiple=True,
    help="Layer(s) to check (repeatable; default: every layer whose tables exist).",
)
@click.option(
    "--run-id",
    default=None,
    help="Run id for lake/quality (default: a new id; the pipeline uses its batch id).",
)
@click.option(
    "--full",
    is_flag=True,
    help="Judge every row (default: with quality.incremental, row-level rules judge only the rows "
    "added since the last passing gate; table-level checks always cover whole tables).",
)
@pass_cli
def quality(cli: CliContext, layers: tuple[str, ...], run_id: str | None, full: bool) -> None:
    """Validate the lake (bronze, silver, identity) and dbt's build database (gold) against the
    expectation suites in quality/suites.

    Writes lake/quality/dq_results, dq_metrics and repair_list and the data docs under
    docs/quality/. Exits non-zero, listing suite, expectation, column and sample rows, when a
    critical expectation fails; warnings are listed and do not fail the command.
    """
    from quality.gate import run_gate

    with data_root_lock(cli.config, "cdp quality"):  # writes lake/quality and the gate state
        report = run_gate(cli.config, list(layers or LAYER_CHOICES), run_id or new_batch_id(), full=full)
    summary = report.summary()
    judged_nothing = not summary["expectations"]  # every suite skipped: such a gate did not pass
    if judged_nothing:
        summary["status"] = "nothing checked"
    if not cli.quiet:
        _print(summary)
    if judged_nothing:
        raise click.ClickException(
            f"nothing was checked: no table of the {', '.join(summary['layers'])} layer(s) exists under "
            f"{cli.config.data_root} yet (see 'skipped' above); run the pipeline first (cdp run) or "
            "check --data-root"
        )


def _print(summary: dict, console: Console | None = None) -> None:
    console = console or Console()
    scoped = ", changed rows" if summary.get("scope") == "changed" else ""
    title = f"Quality gate ({', '.join(summary['layers'])}{scoped}): {summary['status']}"
    table = Table(title=title)
    table.add_column("severity")
    table.add_column("failed expectation")
    # escaped: rich would read "[source ecom]" in a line as markup and drop it, hiding the source
    for line in summary["critical"]:
        table.add_row("critical", escape(line))
    for line in summary["warnings"]:
        table.add_row("warning", escape(line))
    if summary["critical"] or summary["warnings"]:
        console.print(table)
    else:
        console.print(f"[bold]{table.title}[/bold]")
    console.print(
        f"[bold]score[/bold]: {summary['score']}  [bold]expectations[/bold]: {summary['expectations']}  "
        f"[bold]repair list[/bold]: {summary['repair_list']}  [bold]seconds[/bold]: {summary['seconds']}"
    )
    for suite, reason in summary["skipped_suites"].items():
        console.print(f"[dim]skipped {suite}: {escape(reason)}[/dim]")
    console.print(f"[bold]quality_docs[/bold]: {summary['quality_docs']}")
