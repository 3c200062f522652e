"""`cdp backup` and `cdp restore`: backups with manifests and checksums, and proven restores."""

from __future__ import annotations

from pathlib import Path

import click

from cdp.context import CliContext, pass_cli


@click.command()
@click.option("--full", "kind", flag_value="full", help="Store every file.")
@click.option(
    "--incremental",
    "kind",
    flag_value="incremental",
    default=True,
    help="Store files changed since the last backup (default; full if there is none).",
)
@click.option("--prune", is_flag=True, help="Afterwards delete backups past their retention.")
@click.option("--list", "list_only", is_flag=True, help="List the backups and exit.")
@pass_cli
def backup(cli: CliContext, kind: str, prune: bool, list_only: bool) -> None:
    """Back up the data root to privacy.backup.root (encrypted, with a manifest of sha256 checksums)."""
    from privacy import backup as backups

    if list_only:
        root = backups.backup_root(cli.config)
        for backup_id in backups.list_backups(root):
            click.echo(backup_id)
        return
    result = backups.backup(cli.config, kind)  # type: ignore[arg-type]
    click.echo(
        f"{result.kind} backup {result.backup_id}: {result.files} files, {result.files_stored} stored "
        f"({result.bytes_stored:,} bytes) at {result.path}"
    )
    if prune:
        removed = backups.prune(cli.config)
        click.echo(f"retention: {len(removed)} expired backup(s) deleted")


@click.command()
@click.option("--backup", "backup_id", default=None, help="Backup id (default: the latest).")
@click.option(
    "--target",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Restore into this new or empty folder.",
)
@click.option(
    "--verify", is_flag=True, help="Restore drill: restore into a scratch folder, check, remove it."
)
@pass_cli
def restore(cli: CliContext, backup_id: str | None, target: Path | None, verify: bool) -> None:
    """Restore a backup, proving every file's sha256 and every table's row count on the way.

    `--verify` alone is the restore drill; `--target DIR` restores for real (always verified). The
    target must be new or empty: a restore never overwrites data. A real restore then erases again
    everyone erased since the backup was taken (the newest suppression list: the data root's, else
    the latest backup's); their certificates go to the target's audit log.
    """
    from privacy import backup as backups

    if target is None and not verify:
        raise click.UsageError("give --target DIR to restore, or --verify for a restore drill")
    result = (
        backups.restore(cli.config, target, backup_id)
        if target
        else backups.verify_backup(cli.config, backup_id)
    )
    where = f"into {result.target}" if target else "(drill: scratch folder removed)"
    click.echo(
        f"restored {result.backup_id} {where}: {result.files} files with matching sha256, "
        f"{len(result.tables_checked)} Delta tables and {len(result.marts_checked)} marts with matching row counts"
    )
    if result.erasures:
        click.echo(
            f"erased again {len(result.erasures)} person(s) erased since the backup was taken "
            f"(requests {', '.join(sorted(result.erasures))}; certificates in the target's audit log)"
        )
