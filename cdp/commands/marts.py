"""`cdp marts ...`: build, publish and report on the dbt marts without running the whole pipeline."""

from __future__ import annotations

import json

import click

from cdp.context import CliContext, pass_cli
from warehouse.batches import new_batch_id
from warehouse.locks import data_root_lock


@click.group()
def marts() -> None:
    """The dbt marts: `build` into build/, `publish` to marts/ and cdp.duckdb, weekly `report`."""


@marts.command()
@click.option("--batch-id", default=None, help="Batch id to record (default: now, UTC).")
@click.option("--select", default=None, help="dbt selection (default: everything), e.g. `+customer_rfm`.")
@pass_cli
def build(cli: CliContext, batch_id: str | None, select: str | None) -> None:
    """`dbt build` every model and test into build/cdp_build.duckdb (never what readers see)."""
    from warehouse import dbt
    from warehouse.publish import build_marts

    with data_root_lock(cli.config, "cdp marts build"):  # writes build/ (an erasure deletes it)
        if select:
            summary = dbt.build(cli.config, select=select).summary()
        else:
            summary = build_marts(cli.config, batch_id or new_batch_id())
    click.echo(json.dumps(summary, indent=2))


@marts.command()
@click.option("--batch-id", required=True, help="The batch whose successful build to publish.")
@click.option("--no-docs", is_flag=True, help="Skip `dbt docs generate`.")
@pass_cli
def publish(cli: CliContext, batch_id: str, no_docs: bool) -> None:
    """Swap the built marts in atomically (Parquet under marts/, tables in cdp.duckdb) and the dbt docs.

    Exactly the pipeline's publish step: direct identifiers pseudonymised, role databases rebuilt.
    """
    from cdp import pipeline

    click.echo(
        json.dumps(pipeline.publish(cli.config, batch_id, with_docs=not no_docs), indent=2, default=str)
    )


@marts.command()
@pass_cli
def report(cli: CliContext) -> None:
    """Export the weekly KPI report (CSV, Excel, PDF with charts) to reports/."""
    from warehouse.kpi_report import export_weekly_report

    click.echo(json.dumps(export_weekly_report(cli.config).summary(), indent=2))
