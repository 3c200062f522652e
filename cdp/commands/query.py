"""`cdp query --role R "SQL"`: an analyst's query, as a role, against that role's database only."""

from __future__ import annotations

from pathlib import Path

import click

from cdp.context import CliContext, pass_cli


@click.command()
@click.option("--role", required=True, help="The role to query as (privacy.roles in cdp.yaml).")
@click.option("--user", "actor", default=None, help="Who is asking (default: $CDP_USER, else the OS user).")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Export the rows to a .csv or .parquet file (audited as an export).",
)
@click.option(
    "--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True
)
@click.argument("sql")
@pass_cli
def query(cli: CliContext, role: str, actor: str | None, output: Path | None, fmt: str, sql: str) -> None:
    """Run one SELECT as ROLE; refused (exit 3) if it touches a table or column the role may not read.

    Every query, allowed or refused, is written to the audit log. Example:
    cdp query --role market_analyst "select rfm_segment, count(*) from customer_rfm group by 1"
    """
    import polars as pl

    from privacy.query import run_query

    result = run_query(cli.config, role, sql, actor=actor, output=output)
    if output is not None:
        click.echo(f"{result.frame.height} rows written to {output}")
        return
    if fmt == "csv":
        click.echo(result.frame.write_csv(), nl=False)
    elif fmt == "json":
        click.echo(result.frame.write_json())
    else:
        with pl.Config(tbl_rows=100, tbl_width_chars=160):
            click.echo(result.frame)
