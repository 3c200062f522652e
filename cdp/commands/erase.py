"""`cdp erase`: the right to erasure, for one person, across every layer."""

from __future__ import annotations

import json

import click

from cdp.context import CliContext, pass_cli


@click.command()
@click.option("--customer-id", default=None, help="The person's customer id.")
@click.option("--email", default=None, help="An email the person used.")
@click.option("--phone", default=None, help="A phone number the person used (any format).")
@click.option("--dry-run", is_flag=True, help="Show what would be erased; change nothing.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--user", "actor", default=None, help="Who is erasing (default: $CDP_USER, else the OS user).")
@pass_cli
def erase(
    cli: CliContext,
    customer_id: str | None,
    email: str | None,
    phone: str | None,
    dry_run: bool,
    yes: bool,
    actor: str | None,
) -> None:
    """Erase one person from landing files, bronze, quarantine, silver, identity, marts and DuckDB.

    Plans first (nothing changes if the plan cannot be carried out whole), then deletes, purges old
    Delta versions, adds the person to the suppression list, sweeps every file for what remains and
    writes a certificate to the audit log. Erasing someone already erased is a no-op; after an
    erasure that stopped or was left incomplete, the same command continues it.
    """
    from privacy.erasure import erase as run_erasure
    from privacy.erasure import plan_erasure
    from privacy.errors import ErasureError
    from privacy.subject import Request

    given = {k: v for k, v in {"customer_id": customer_id, "email": email, "phone": phone}.items() if v}
    if len(given) != 1:
        raise click.UsageError("give exactly one of --customer-id, --email, --phone")
    ((by, value),) = given.items()
    request = Request(by, value)  # type: ignore[arg-type]
    if not (dry_run or yes):
        plan = plan_erasure(cli.config, request)
        click.echo(json.dumps(plan.summary(), indent=2, ensure_ascii=False))
        click.confirm("Erase this person irreversibly?", abort=True)
    outcome = run_erasure(cli.config, request, actor=actor, dry_run=dry_run)
    if outcome.status == "already_erased":
        click.echo(f"nothing to do: {outcome.done[0]}")
        return
    if outcome.plan.continues:
        click.echo(f"continuing erasure {outcome.plan.continues}: its certificate was not complete")
    click.echo(json.dumps(outcome.plan.summary(), indent=2, ensure_ascii=False))
    if dry_run:
        click.echo("dry run: nothing was changed")
        return
    for folder, reason in (outcome.sweep.skipped if outcome.sweep else {}).items():
        click.echo(f"not searched: {folder}/ ({reason})")
    if outcome.status == "incomplete" and outcome.sweep is not None:
        files = "\n  ".join(f"{f}: {', '.join(k)}" for f, k in outcome.sweep.residual.items())
        raise ErasureError(
            f"erasure {outcome.plan.request_id} deleted what it planned, but erased values remain in:\n  {files}\n"
            f"certificate {outcome.certificate_id} records this as incomplete"
        )
    names = len(outcome.sweep.name_hits) if outcome.sweep else 0
    click.echo(
        f"erased: request {outcome.plan.request_id}, certificate {outcome.certificate_id} in the audit log"
        + (f"; the name still appears in {names} file(s) (other people may share it)" if names else "")
    )
