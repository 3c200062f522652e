"""`cdp generate`: seeded, realistic exports for every source plus the ground truth."""

from __future__ import annotations

from pathlib import Path

import click

from cdp.context import CliContext, pass_cli
from cdp.report import print_summary


@click.command()
@click.option(
    "--customers",
    type=click.IntRange(min=1),
    default=None,
    help="Number of simulated people (default: generator.customers in cdp.yaml, 5,000).",
)
@click.option(
    "--seed", type=int, default=None, help="Random seed; the same seed gives the same bytes (default 42)."
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Output directory; landing/ and truth/ are written under it (default: the data root).",
)
@pass_cli
def generate(cli: CliContext, customers: int | None, seed: int | None, out_dir: str | None) -> None:
    """Write sample exports for POS, web shop, social, service, loyalty and surveys.

    Every source in its native shape and quirks (GBK tills, nested shop JSON, Excel surveys, a
    SQLite loyalty database), with realistic identity noise. The truth of who is who goes to
    OUT/truth/identity.parquet and is never read by the pipeline.
    """
    from datagen import generate_dataset

    settings = cli.config.section("generator") or {}
    summary = generate_dataset(
        out_dir=Path(out_dir) if out_dir else cli.config.data_root,
        customers=customers or int(settings.get("customers", 5000)),
        seed=seed if seed is not None else int(settings.get("seed", 42)),
        config=cli.config,
    )
    print_summary({"stages": [{"stage": "generate", "status": "ok", **summary}]})
