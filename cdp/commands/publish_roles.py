"""`cdp publish-roles`: one DuckDB database per role, holding only what the role may read."""

from __future__ import annotations

import click

from cdp.context import CliContext, pass_cli


@click.command("publish-roles")
@pass_cli
def publish_roles(cli: CliContext) -> None:
    """Build roles/<role>.duckdb from the published (pseudonymised) marts, per privacy.roles.

    Run after each publish; `cdp query --role R` reads these databases only.
    """
    from privacy.roles import publish_roles as build

    for role, info in build(cli.config).items():
        skipped = f" (not published, skipped: {', '.join(info['skipped'])})" if info["skipped"] else ""
        restricted = f", restricted: {', '.join(info['restricted'])}" if info["restricted"] else ""
        click.echo(f"{role}: {len(info['tables'])} tables{restricted}{skipped}")
