"""`cdp demo`: sample data through the real Airflow DAG, then a summary of what came out."""

from __future__ import annotations

import json

import click

from cdp.context import CliContext, pass_cli
from cdp.report import print_summary


@click.command()
@click.option(
    "--customers",
    type=click.IntRange(min=1),
    default=None,
    help="Simulated people (default: generator.customers in cdp.yaml, 5,000).",
)
@click.option("--seed", type=int, default=None, help="Generator seed (default 42).")
@click.option(
    "--logical-date",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Logical date of the DAG run (default: the day after the sample data's last day, generator.end_date).",
)
@pass_cli
def demo(cli: CliContext, customers: int | None, seed: int | None, logical_date) -> None:
    """Generate seeded sample data (once) and run `cdp_daily` with `airflow dags test`.

    Safe to re-run: the same seed writes the same files, which ingestion recognises by checksum, so
    nothing is duplicated. Prints rows per layer, customers resolved, the quality score and where
    the marts and cdp.duckdb are.
    """
    from cdp.airflow_runner import dags_test
    from cdp.sample_data import day_after_sample, ensure_sample_data
    from privacy.keys import create_missing_keys

    # Pseudonymisation and encryption keys live outside the repository and the data root.
    for what, outcome in create_missing_keys(cli.config).items():
        if outcome.startswith("created"):
            click.echo(f"{what} key: {outcome} (keep it safe; it never goes in the repository)")
    settings = cli.config.section("generator") or {}
    ensure_sample_data(
        cli.config,
        customers=customers or int(settings.get("customers", 5000)),
        seed=seed if seed is not None else int(settings.get("seed", 42)),
    )
    click.echo("Running the cdp_daily DAG through Airflow (airflow dags test)...")
    day = logical_date.date() if logical_date else day_after_sample(cli.config)
    result = dags_test(cli.config, logical_date=day)
    latest = cli.paths.runs / "latest.json"
    if latest.exists():
        print_summary(json.loads(latest.read_text(encoding="utf-8")))
    click.echo(f"Airflow log: {result.log_file}")
    if not result.ok:
        raise click.ClickException(f"the DAG run failed; see {result.log_file}")
