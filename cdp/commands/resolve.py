"""`cdp resolve`: identity resolution of any identity table, or of the lake's silver records."""

from __future__ import annotations

from pathlib import Path

import click

from cdp.context import CliContext, pass_cli
from cdp.report import print_summary
from warehouse.batches import new_batch_id
from warehouse.config import ConfigError, load_config
from warehouse.locks import data_root_lock


@click.command()
@click.option(
    "--input",
    "input_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Identity records (Parquet; CSV also read): record_id and source required, every other "
    "canonical column optional. Without --input: resolve the data root's silver customer records.",
)
@click.option(
    "--output",
    "output_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Parquet written with one row per input record: record_id, customer_id and the evidence.",
)
@click.option(
    "--state",
    "state_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="With --input: folder keeping the identity graph between runs, so the next run is "
    "incremental and customer ids stay stable (default: none, every run is fresh).",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Configuration file whose `identity:` section is the model (same as `cdp --config`).",
)
@click.option(
    "--full",
    is_flag=True,
    help="Rebuild every match from scratch instead of continuing from the saved graph (after a "
    "blocklist or model change); customer ids stay stable.",
)
@pass_cli
def resolve(
    cli: CliContext,
    input_path: Path | None,
    output_path: Path | None,
    state_dir: Path | None,
    config_path: Path | None,
    full: bool,
) -> None:
    """Resolve identity records into customers with stable customer_ids.

    `cdp resolve --input IN.parquet --output OUT.parquet` resolves any table of identity records
    (no labels needed); `cdp resolve [--full]` without --input runs the pipeline's resolve stage
    on lake/silver/customer_records and writes lake/identity/*. The model (comparisons, blocking
    rules, thresholds, guards, blocklists) is the `identity:` section of cdp.yaml (--config).
    """
    from identity_resolution.service import resolve_file, resolve_lake

    config = cli.config
    if config_path is not None:
        # `--data-root` (on `cdp` or after `resolve`) still wins over the file's data_root.
        try:
            config = load_config(config_path, data_root=cli.data_root)
        except ConfigError as exc:
            raise click.UsageError(str(exc)) from exc
    if (input_path is None) != (output_path is None):
        raise click.UsageError("--input and --output go together")
    if input_path is None:
        if state_dir is not None:
            raise click.UsageError("--state needs --input (the pipeline keeps its graph in lake/identity)")
        with data_root_lock(config, "cdp resolve" + (" --full" if full else "")):
            summary = resolve_lake(config, new_batch_id(), full=full)
    else:
        assert output_path is not None
        summary = resolve_file(input_path, output_path, config, full=full, state_dir=state_dir)
        summary = {"stage": "resolve", "status": "ok", **summary}
    if not cli.quiet:
        print_summary({"stages": [summary]})
