"""`cdp privacy ...`: the catalogue check, keys, consent, retention and the audit trail."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from cdp.context import CliContext, pass_cli


@click.group()
def privacy() -> None:
    """Personal-data protection: PII catalogue, keys, consent, retention, audit log (docs/privacy.md).

    Roles query with `cdp query`, are published with `cdp publish-roles`; people are erased with
    `cdp erase`; backups are `cdp backup` and `cdp restore`.
    """


@privacy.command()
@click.option(
    "--declared/--no-declared",
    default=True,
    show_default=True,
    help="Also check the columns the dbt project documents for its marts.",
)
@pass_cli
def check(cli: CliContext, declared: bool) -> None:
    """Fail (exit 1) when any column of any table in the data root has no PII classification, or
    when the audit log still holds queries logged with their values (before the shape rule)."""
    from privacy import audit
    from privacy.audit_history import COMMAND
    from privacy.catalogue import discover, unclassified_columns
    from privacy.layout import PrivacyPaths

    tables = discover(cli.config, include_declared=declared)
    missing = unclassified_columns(cli.config, tables)
    columns = sum(len(t.columns) for t in tables)
    problems = []
    if missing:
        lines = "\n  ".join(str(m) for m in missing)
        problems.append(
            f"{len(missing)} column(s) without a classification in cdp.yaml privacy.catalogue:\n  {lines}"
        )
    if audit.history_unredacted(cli.config):
        problems.append(
            f"the audit log {PrivacyPaths.of(cli.config).audit_log} may hold queries logged with "
            "the values they looked for (events written before queries were logged by shape), and "
            f"system_admin reads it: run `{COMMAND}` once (docs/privacy.md, section 4)"
        )
    if problems:
        raise click.ClickException("\n".join(problems))
    click.echo(f"every column is classified: {columns} columns in {len(tables)} tables")
    click.echo("audit log: every query is logged by its shape")


@privacy.command()
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the classification of every column to this CSV (the record of processing).",
)
@pass_cli
def catalogue(cli: CliContext, csv_path: Path | None) -> None:
    """Show every discovered column with its class, grade, published treatment and what it identifies."""
    import polars as pl

    from privacy.catalogue import catalogue_rows

    frame = pl.DataFrame(catalogue_rows(cli.config), infer_schema_length=None)
    if csv_path is not None:
        frame.write_csv(csv_path)
        click.echo(f"{frame.height} columns written to {csv_path}")
        return
    with pl.Config(tbl_rows=-1, tbl_width_chars=140, fmt_str_lengths=40):
        click.echo(frame)


@privacy.command("init-keys")
@pass_cli
def init_keys(cli: CliContext) -> None:
    """Create the HMAC and encryption key files that do not exist yet (random, mode 0600).

    Existing keys are never replaced. Keys live outside the data root and the repository
    (default ~/.config/cdp/); $CDP_HMAC_KEY / $CDP_ENCRYPTION_KEY take precedence over the files.
    """
    from privacy.keys import create_missing_keys

    for name, outcome in create_missing_keys(cli.config).items():
        click.echo(f"{name} key: {outcome}")


@privacy.command()
@click.option("--customer-id", default=None, help="Show one customer only.")
@pass_cli
def consent(cli: CliContext, customer_id: str | None) -> None:
    """Effective consent per customer and purpose: the latest statement across linked records wins."""
    import polars as pl

    from privacy.consent import effective_consent_from_lake

    frame = effective_consent_from_lake(cli.config)
    if customer_id:
        frame = frame.filter(pl.col("customer_id") == customer_id)
    with pl.Config(tbl_rows=50, tbl_width_chars=160):
        click.echo(frame)


@privacy.command()
@click.option("--dry-run", is_flag=True, help="List what would be deleted, delete nothing.")
@pass_cli
def retention(cli: CliContext, dry_run: bool) -> None:
    """Apply retention: loaded landing files past `landing_days`, backups past their policy."""
    from privacy.backup import prune
    from privacy.landing import expire_landing

    files = expire_landing(cli.config, dry_run=dry_run)
    backups = prune(cli.config, dry_run=dry_run)
    verb = "would delete" if dry_run else "deleted"
    click.echo(
        f"landing: {verb} {len(files)} loaded file(s); backups: {verb} {len(backups)} expired backup(s)"
    )
    for name in [*files, *backups]:
        click.echo(f"  {name}")


@privacy.command()
@click.option("--last", default=20, show_default=True, help="How many of the latest events to show.")
@click.option("--action", default=None, help="Only this action (role_query, erasure, export, backup, ...).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines instead of a table.")
@click.option(
    "--redact-history",
    is_flag=True,
    help="Rewrite events logged before queries were logged by shape to their shape (once; audited). "
    "Holds the data root's lock: waits for a running pipeline stage or backup (--lock-wait).",
)
@click.option("--user", default=None, help="Who runs --redact-history (default $CDP_USER or the OS user).")
@pass_cli
def audit(
    cli: CliContext, last: int, action: str | None, as_json: bool, redact_history: bool, user: str | None
) -> None:
    """The latest audit events: who, when, what, which rows/columns, outcome."""
    import polars as pl

    from privacy import audit as audit_log

    if redact_history:
        _redact_history(cli, user)
        return

    frame = audit_log.read(cli.config)
    if action:
        frame = frame.filter(pl.col("action") == action)
    frame = frame.tail(last)
    if as_json:
        for row in frame.iter_rows(named=True):
            click.echo(json.dumps(row, default=str, ensure_ascii=False))
        return
    table = Table(title=f"audit log ({frame.height} latest)")
    for column in ("occurred_at", "actor", "action", "role", "target", "row_count", "outcome"):
        table.add_column(column)
    for row in frame.iter_rows(named=True):
        table.add_row(
            *(
                str(row[c]) if row[c] is not None else ""
                for c in ("occurred_at", "actor", "action", "role", "target", "row_count", "outcome")
            )
        )
    Console().print(table)


def _redact_history(cli: CliContext, user: str | None) -> None:
    from privacy.audit_history import redact_history

    result = redact_history(cli.config, actor=user)
    if result.already:
        click.echo("audit log: already in shape form (every query logged without its values); nothing to do")
        return
    click.echo(
        f"audit log: {result.events_redacted} of {result.events_checked} event(s) rewritten to their "
        f"shape, {result.history_files_purged} old file(s) purged"
        + (", role databases rebuilt" if result.roles_rebuilt else "")
        + f"; logged as event {result.event_id}"
    )
