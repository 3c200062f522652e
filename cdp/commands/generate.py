"""`cdp generate`: seeded, realistic exports for every source plus the ground truth."""

from __future__ import annotations

from datetime import datetime
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
@click.option(
    "--increment-day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Instead of a new data set, add one day after end_date to the data set in OUT: that day's "
    "orders, tickets, events and ledger entries as day files (tickets_YYYY-MM-DD.csv, ...) and its new "
    "customer records (~0.5%) appended to the customer files; the truth is extended to match. "
    "Days must lie within generator.increment_horizon_days after end_date; re-applying a day does "
    "nothing. --customers and --seed are taken from the existing data set.",
)
@pass_cli
def generate(
    cli: CliContext,
    customers: int | None,
    seed: int | None,
    out_dir: str | None,
    increment_day: datetime | None,
) -> None:
    """Write sample exports for POS, web shop, social, service, loyalty and surveys.

    Every source in its native shape and quirks (GBK tills, nested shop JSON, Excel surveys, a
    SQLite loyalty database), with realistic identity noise. The truth of who is who goes to
    OUT/truth/identity.parquet and is never read by the pipeline. 1,000,000 people take minutes
    (chunks of generator.chunk_size people, generator.workers processes).
    """
    from datagen import generate_dataset, generate_increment

    if increment_day is not None:
        if customers is not None or seed is not None:
            raise click.UsageError("--increment-day extends an existing data set: drop --customers/--seed")
        summary = generate_increment(Path(out_dir) if out_dir else cli.config.data_root, increment_day.date())
        print_summary({"stages": [{"stage": "generate increment", "status": "ok", **summary}]})
        return
    settings = cli.config.section("generator") or {}
    summary = generate_dataset(
        out_dir=Path(out_dir) if out_dir else cli.config.data_root,
        customers=customers or int(settings.get("customers", 5000)),
        seed=seed if seed is not None else int(settings.get("seed", 42)),
        config=cli.config,
    )
    print_summary({"stages": [{"stage": "generate", "status": "ok", **summary}]})
