"""`cdp run`: the whole pipeline in-process, stage by stage, for debugging without Airflow."""

from __future__ import annotations

import click

from cdp import pipeline
from cdp.context import CliContext, pass_cli
from cdp.report import print_summary
from warehouse.batches import new_batch_id


@click.command()
@click.option("--source", "sources", multiple=True, help="Ingest only these sources (repeatable).")
@click.option("--until", type=click.Choice(pipeline.STAGES), default=None, help="Stop after this stage.")
@click.option("--batch-id", default=None, help="Reuse a batch id (default: now, UTC).")
@pass_cli
def run(cli: CliContext, sources: tuple[str, ...], until: str | None, batch_id: str | None) -> None:
    """Run ingest -> standardize -> resolve -> quality gate -> marts -> publish in this process.

    Same stages and functions as the `cdp_daily` Airflow DAG, without a scheduler: the quickest way
    to debug one stage (`--until standardize`) or one source (`--source pos`).
    """
    result = pipeline.run_all(
        cli.config, batch_id or new_batch_id(), sources=list(sources) or None, until=until
    )
    print_summary(result)
    if result.get("failed_sources"):
        raise click.ClickException(f"sources failed: {', '.join(result['failed_sources'])}")
